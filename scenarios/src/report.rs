//! Scenario records in the run's reports: a JUnit test suite and a Markdown section.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::record::{ScenarioOutcome, ScenarioRecord};

/// A JUnit suite named `scenarios`: one test case per scenario (`scenarios::<name>`), failed
/// with the failing step's message, or skipped with the reason. `<system-out>` lists each
/// step's duration and, on failure, the artifacts as `[[ATTACHMENT|path]]` lines (the
/// Jenkins JUnit Attachments / GitLab convention).
pub fn junit_suite(records: &[ScenarioRecord]) -> TestSuite {
    let mut suite = TestSuite::new("scenarios");
    for record in records {
        let message = record.message.clone().unwrap_or_default();
        let status = match record.outcome {
            ScenarioOutcome::Passed => TestCaseStatus::success(),
            ScenarioOutcome::Failed => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(message);
                status
            }
            ScenarioOutcome::Skipped => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(message);
                status
            }
        };
        let mut case = TestCase::new(record.trial_name(), status);
        case.set_time(std::time::Duration::from_secs_f64(record.seconds.max(0.0)));
        let mut out = step_lines(record);
        if let Some(artifacts) = &record.artifacts {
            if let Some(url) = &artifacts.url {
                out.push_str(&format!("\nurl: {url}\n"));
            }
            for file in artifacts.files() {
                out.push_str(&format!("[[ATTACHMENT|{}]]\n", file.display()));
            }
        }
        case.set_system_out(out);
        suite.add_test_case(case);
    }
    suite
}

/// One line per step: `  1.23 s  <step>[ -- <failure>]`.
pub fn step_lines(record: &ScenarioRecord) -> String {
    let mut text = String::new();
    for step in &record.steps {
        text.push_str(&format!("{:>7.2} s  {}", step.seconds, step.name));
        if let Some(message) = &step.message {
            text.push_str(&format!(" -- {message}"));
        }
        text.push('\n');
    }
    text
}

/// A Markdown section: a table of scenarios, then for each failure its message and
/// artifacts.
pub fn markdown(records: &[ScenarioRecord]) -> String {
    if records.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "\n## Browser scenarios\n\n| scenario | outcome | seconds | steps |\n|---|---|---:|---|\n",
    );
    for record in records {
        let outcome = match record.outcome {
            ScenarioOutcome::Passed => "passed".to_owned(),
            ScenarioOutcome::Failed => "**FAILED**".to_owned(),
            ScenarioOutcome::Skipped => {
                format!("skipped: {}", record.message.as_deref().unwrap_or_default())
            }
        };
        let steps: Vec<String> = record
            .steps
            .iter()
            .map(|step| format!("{} {:.1} s", step.name, step.seconds))
            .collect();
        text.push_str(&format!(
            "| `{}` | {outcome} | {:.1} | {} |\n",
            record.trial_name(),
            record.seconds,
            steps.join("; ").replace('|', "\\|")
        ));
    }
    for record in records
        .iter()
        .filter(|record| record.outcome == ScenarioOutcome::Failed)
    {
        text.push_str(&format!(
            "\n### `{}` failed\n\n{}\n",
            record.trial_name(),
            record.message.as_deref().unwrap_or_default()
        ));
        if let Some(artifacts) = &record.artifacts {
            for file in artifacts.files() {
                text.push_str(&format!("- `{}`\n", file.display()));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Artifacts, StepRecord};

    fn failed() -> ScenarioRecord {
        ScenarioRecord {
            name: "login".into(),
            outcome: ScenarioOutcome::Failed,
            message: Some("step `log in`: login refused: Invalid username or password".into()),
            seconds: 2.5,
            steps: vec![StepRecord {
                name: "log in".into(),
                started_seconds: 0.5,
                seconds: 1.25,
                passed: false,
                message: Some("login refused: Invalid username or password".into()),
            }],
            artifacts: Some(Artifacts {
                screenshot: Some("/r/scenarios/login/screenshot.png".into()),
                html: Some("/r/scenarios/login/page.html".into()),
                console: Some("/r/scenarios/login/console.log".into()),
                url: Some("http://hub/hub/login".into()),
                missing: Vec::new(),
            }),
        }
    }

    #[test]
    fn junit_fails_skips_and_attaches() {
        let records = [failed(), ScenarioRecord::skipped("logout", "no workloads")];
        let mut report = quick_junit::Report::new("t");
        report.add_test_suite(junit_suite(&records));
        let xml = report.to_string().unwrap();
        assert!(xml.contains("<testcase name=\"scenarios::login\""), "{xml}");
        assert!(
            xml.contains("message=\"step `log in`: login refused: Invalid username or password\""),
            "{xml}"
        );
        assert!(
            xml.contains("[[ATTACHMENT|/r/scenarios/login/screenshot.png]]"),
            "{xml}"
        );
        assert!(xml.contains("1.25 s  log in -- login refused"), "{xml}");
        assert!(xml.contains("<skipped message=\"no workloads\""), "{xml}");
    }

    #[test]
    fn markdown_lists_outcomes_and_artifacts() {
        let text = markdown(&[failed(), ScenarioRecord::skipped("logout", "no workloads")]);
        assert!(
            text.contains("| `scenarios::login` | **FAILED** | 2.5 | log in 1.2 s |"),
            "{text}"
        );
        assert!(
            text.contains("| `scenarios::logout` | skipped: no workloads | 0.0 |  |"),
            "{text}"
        );
        assert!(text.contains("- `/r/scenarios/login/page.html`"), "{text}");
        assert_eq!(markdown(&[]), "");
    }
}
