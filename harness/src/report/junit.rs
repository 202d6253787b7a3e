//! JUnit XML (`junit.xml`) with quick-junit: one test suite per stage, a `deploy` test case
//! for its apply and readiness, one test case per check (a flaky check passes with its failed
//! attempts as `<flakyFailure>`; a skipped one is `<skipped>`; a check with a diagnostics
//! bundle lists its files as `[[ATTACHMENT|path]]` lines in `<system-out>`), and a `teardown`
//! suite whose `sweep` case fails when objects remain.

use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::record::{CheckResult, RunRecord, StageStatus, SweepState};

/// Writes the run as JUnit XML to `path`.
///
/// Errors: the file cannot be written.
pub fn write_junit(record: &RunRecord, path: &Path) -> std::io::Result<()> {
    let report_dir = path.parent().unwrap_or(Path::new("."));
    let mut report = Report::new(format!("seatrial {}", record.deployment));
    for stage in &record.stages {
        let mut suite = TestSuite::new(stage.name.clone());
        let deploy_status = match (&stage.status, &stage.error) {
            (StageStatus::NotRun, _) => TestCaseStatus::skipped(),
            (StageStatus::Skipped, reason) => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.clone().unwrap_or_default());
                status
            }
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
                CheckResult::Flaky => {
                    let mut status = TestCaseStatus::success();
                    for message in &check.failures {
                        let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                        rerun.set_message(message.clone());
                        status.add_rerun(rerun);
                    }
                    status
                }
                CheckResult::Skipped => {
                    let mut status = TestCaseStatus::skipped();
                    status.set_message(check.message.clone());
                    status
                }
            };
            let mut case = TestCase::new(format!("{}::{}", stage.name, check.name), status);
            case.set_time(seconds(check.seconds));
            let mut out = check.message.clone();
            if let Some(dir) = &check.diagnostics {
                // The attachment lines follow the Jenkins JUnit Attachments / GitLab convention.
                out.push_str(&format!("\n\ndiagnostics: {dir}/\n"));
                let absolute = report_dir.join(dir);
                for file in bundle_files(&absolute) {
                    out.push_str(&format!("[[ATTACHMENT|{}]]\n", file.display()));
                }
            }
            case.set_system_out(out);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if !record.scenarios.is_empty() {
        report.add_test_suite(scenarios::report::junit_suite(&record.scenarios));
    }
    if let Some(sweep) = &record.sweep {
        let mut suite = TestSuite::new("teardown");
        let leftovers = sweep
            .leftovers
            .iter()
            .map(|l| format!("{}: {}", l.id, l.reason));
        let mut case = TestCase::new("teardown::sweep", leftovers_status("leftovers", leftovers));
        let teardown_seconds = record
            .teardown
            .as_ref()
            .map_or(0.0, |teardown| teardown.seconds);
        case.set_time(seconds(teardown_seconds + sweep.seconds));
        if !sweep.unchecked.is_empty() {
            let lines: Vec<String> = sweep
                .unchecked
                .iter()
                .map(|place| format!("could not check {}: {}", place.what, place.reason))
                .collect();
            case.set_system_out(lines.join("\n"));
        }
        suite.add_test_case(case);
        if matches!(record.provider.as_str(), "kind" | "k3s") {
            let leftovers = record
                .docker_leftovers
                .iter()
                .map(|leftover| format!("{} {}", leftover.kind, leftover.name));
            suite.add_test_case(TestCase::new(
                "teardown::docker",
                leftovers_status("Docker leftovers", leftovers),
            ));
        }
        report.add_test_suite(suite);
    } else if let SweepState::Failed { reason } | SweepState::NotPossible { reason } =
        &record.sweep_state
    {
        // No sweep report, yet the run should have swept: a failed case says why.
        let mut suite = TestSuite::new("teardown");
        suite.add_test_case(TestCase::new("teardown::sweep", failure(reason)));
        report.add_test_suite(suite);
    }
    let xml = report.to_string().map_err(std::io::Error::other)?;
    std::fs::write(path, xml)
}

/// Every file under `dir`, sorted (a bundle is two levels deep at most).
fn bundle_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Success when `lines` is empty, else a failure reading `<count> <noun>:` and one line each.
fn leftovers_status(noun: &str, lines: impl Iterator<Item = String>) -> TestCaseStatus {
    let lines: Vec<String> = lines.collect();
    if lines.is_empty() {
        TestCaseStatus::success()
    } else {
        failure(&format!("{} {noun}:\n{}", lines.len(), lines.join("\n")))
    }
}

fn failure(message: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_message(message.to_owned());
    status
}

fn seconds(value: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(value.max(0.0))
}
