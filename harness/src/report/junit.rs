//! JUnit XML (`junit.xml`) with quick-junit: one test suite per stage, a `deploy` test case
//! for its apply and readiness, one test case per check, and a `teardown` suite whose `sweep`
//! case fails when objects remain.

use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::record::{CheckResult, RunRecord, StageStatus};

/// Writes the run as JUnit XML to `path`.
///
/// Errors: the file cannot be written.
pub fn write_junit(record: &RunRecord, path: &Path) -> std::io::Result<()> {
    let mut report = Report::new(format!("seatrial {}", record.deployment));
    for stage in &record.stages {
        let mut suite = TestSuite::new(stage.name.clone());
        let deploy_status = match (&stage.status, &stage.error) {
            (StageStatus::NotRun, _) => TestCaseStatus::skipped(),
            (StageStatus::DeployFailed, error) => {
                failure(error.as_deref().unwrap_or("deploy failed"))
            }
            _ => TestCaseStatus::success(),
        };
        let mut deploy = TestCase::new(format!("{}::deploy", stage.name), deploy_status);
        deploy.set_time(seconds(stage.apply_seconds + stage.wait_seconds));
        deploy.set_system_out(format!("{} objects applied", stage.objects.len()));
        suite.add_test_case(deploy);
        for check in &stage.checks {
            let status = match check.result {
                CheckResult::Passed => TestCaseStatus::success(),
                CheckResult::Failed => failure(&check.message),
            };
            let mut case = TestCase::new(format!("{}::{}", stage.name, check.name), status);
            case.set_time(seconds(check.seconds));
            case.set_system_out(check.message.clone());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if let Some(sweep) = &record.sweep {
        let mut suite = TestSuite::new("teardown");
        let status = if sweep.leftovers.is_empty() {
            TestCaseStatus::success()
        } else {
            let lines: Vec<String> = sweep
                .leftovers
                .iter()
                .map(|l| format!("{}: {}", l.id, l.reason))
                .collect();
            failure(&format!(
                "{} leftovers:\n{}",
                sweep.leftovers.len(),
                lines.join("\n")
            ))
        };
        let mut case = TestCase::new("teardown::sweep", status);
        let teardown_seconds = record
            .teardown
            .as_ref()
            .map_or(0.0, |teardown| teardown.seconds);
        case.set_time(seconds(teardown_seconds + sweep.seconds));
        suite.add_test_case(case);
        report.add_test_suite(suite);
    }
    let xml = report.to_string().map_err(std::io::Error::other)?;
    std::fs::write(path, xml)
}

fn failure(message: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_message(message.to_owned());
    status
}

fn seconds(value: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(value.max(0.0))
}
