//! The upgrade trial `pins pr` runs before it opens or updates its pull request: the pin set as
//! it is (the base branch's) deployed, then upgraded in place to the bumped pins
//! (`crate::upgrade`), and the pull request body's section that says how it went.

use std::path::PathBuf;

use deployer::pinset::model::PinSet;
use harness::report::RunRecord;
use harness::upgrade::TrialRecord;

use crate::exit;
use crate::integration::{DiagnosticsArg, ProviderArg};
use crate::upgrade::{data_checks, run_trial, TrialRequest};

/// The body's section when `--no-trial` was given.
pub fn not_run() -> String {
    "\n## Upgrade trial\n\nNo upgrade trial ran (`--no-trial`): nothing has deployed these pins over the previous ones.\n".to_owned()
}

/// Writes the bumped pin set (the new text of `set`'s file among `files`) beside the trial's
/// reports, runs the trial from `set` to it on `provider`, and returns the trial's exit code
/// with the body's section.
pub async fn run(
    set: &PinSet,
    files: &[(PathBuf, String)],
    provider: Option<ProviderArg>,
) -> (u8, String) {
    let report_dir =
        exit::reports_root().join(format!("pins-trial-{}", deployer::inventory::new_run_id()));
    let Some((_, bumped)) = files.iter().find(|(path, _)| path == &set.path) else {
        // Only digests were locked: the versions deployed do not change.
        return (
            exit::SUCCESS,
            "\n## Upgrade trial\n\nNo upgrade trial ran: no pinned version changes (digests only).\n"
                .to_owned(),
        );
    };
    let to = report_dir.join("pins.toml");
    if let Err(error) =
        std::fs::create_dir_all(&report_dir).and_then(|()| std::fs::write(&to, bumped))
    {
        eprintln!("error: failed to write {}: {error}", to.display());
        return (
            exit::ENVIRONMENT_MISSING,
            format!("\n## Upgrade trial\n\nThe upgrade trial could not start: failed to write {}: {error}\n", to.display()),
        );
    }
    let request = TrialRequest {
        from: set.path.display().to_string(),
        to: Some(to.display().to_string()),
        provider,
        config: None,
        report_dir: report_dir.clone(),
        diagnostics: DiagnosticsArg::OnFailure,
        nodes: deployer::providers::hollow::cluster::DEFAULT_NODES,
    };
    let (code, trial) = run_trial(&request).await;
    (code, section(code, trial.as_ref(), &report_dir))
}

/// The body's section for a trial that ended with `code`: its outcome, each phase's run and
/// duration, the data checks, what was pruned, and where the reports are (the workflow run's
/// artifacts on GitHub Actions, the directory elsewhere).
pub fn section(code: u8, trial: Option<&TrialRecord>, report_dir: &std::path::Path) -> String {
    let mut text = String::from("\n## Upgrade trial\n\n");
    let Some(trial) = trial else {
        text.push_str(&format!(
            "The upgrade trial could not start (exit {code}); see the workflow's log.\n"
        ));
        return text;
    };
    text.push_str(&format!(
        "**{}** (exit {code}): {} deployed, seeded, upgraded in place to these pins, verified.\n\n",
        if code == exit::SUCCESS {
            "Passed"
        } else {
            "FAILED"
        },
        trial.from_source
    ));
    text.push_str("| phase | run | outcome | seconds |\n|---|---|---|---|\n");
    let phases = ["before the upgrade", "the upgrade"]
        .into_iter()
        .zip(trial.runs());
    for (phase, record) in phases.clone() {
        text.push_str(&format!(
            "| {phase} | `{}` | {:?} | {:.1} |\n",
            record.run_id, record.outcome, record.seconds
        ));
    }
    text.push_str("\nData checks:\n\n");
    for (_, record) in phases {
        for line in data_checks(record) {
            text.push_str(&format!("- {line}\n"));
        }
    }
    if let Some(pruned) = trial.to.as_ref().and_then(pruned_line) {
        text.push_str(&format!("\n{pruned}\n"));
    }
    let reports = match (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        (Ok(server), Ok(repository), Ok(run)) => {
            format!("the artifacts of {server}/{repository}/actions/runs/{run}")
        }
        _ => format!("`{}`", report_dir.display()),
    };
    text.push_str(&format!(
        "\nReports (upgrade.json, upgrade.md, from/, to/): {reports}\n"
    ));
    text
}

/// `Pruned by the upgrade: ConfigMap ns/a (stage ingress), …`, when anything was.
fn pruned_line(record: &RunRecord) -> Option<String> {
    let upgrade = record.upgrade.as_ref()?;
    if upgrade.pruned.is_empty() {
        return None;
    }
    let objects: Vec<String> = upgrade
        .pruned
        .iter()
        .map(|pruned| format!("{} (stage {})", pruned.object, pruned.stage))
        .collect();
    Some(format!("Pruned by the upgrade: {}", objects.join(", ")))
}
