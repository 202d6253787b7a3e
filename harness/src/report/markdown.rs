//! The Markdown summary (`summary.md`), fit for a GitHub Actions step summary: outcome, a table
//! of stages, every failed and flaky check with its message and diagnostics, and leftovers.

use super::record::{ApiOutage, CheckResult, Outcome, RunRecord, SweepState};

/// Environment variable GitHub Actions sets to the file a step appends its summary to.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

/// Renders the summary.
pub fn markdown_summary(record: &RunRecord) -> String {
    let outcome = match record.outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "FAILED",
        Outcome::Leftovers => "LEFTOVERS",
        Outcome::Interrupted => "INTERRUPTED",
    };
    let mut text = format!(
        "## seatrial `{}`: {outcome}\n\nRun `{}` on provider `{}` in {:.1} s (exit {}): {}; {} watches.\n\n",
        record.deployment, record.run_id, record.provider, record.seconds, record.exit_code, record.counts_line(), record.watches
    );
    text.push_str("| stage | status | objects | apply s | wait s | checks s | checks |\n");
    text.push_str("|---|---|---:|---:|---:|---:|---|\n");
    for stage in &record.stages {
        text.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} |\n",
            stage.name,
            stage.status_word(),
            stage.objects.len(),
            stage.apply_seconds,
            stage.wait_seconds,
            stage.checks_seconds,
            stage.check_summary()
        ));
    }
    for stage in &record.stages {
        if let Some(error) = &stage.error {
            text.push_str(&format!(
                "\n### `{}` did not deploy\n\n```text\n{}\n```\n",
                stage.name,
                fence(error)
            ));
        }
    }
    let notable: Vec<_> = record
        .stages
        .iter()
        .flat_map(|stage| stage.checks.iter().map(move |check| (stage, check)))
        .filter(|(_, check)| matches!(check.result, CheckResult::Failed | CheckResult::Flaky))
        .collect();
    for (stage, check) in notable {
        text.push_str(&format!(
            "\n### {} `{}::{}` ({}, {:.1} s, {} attempt{})\n\n```text\n{}\n```\n",
            if check.result == CheckResult::Failed {
                "Failed"
            } else {
                "Flaky"
            },
            stage.name,
            check.name,
            check.kind,
            check.seconds,
            check.attempts,
            if check.attempts == 1 { "" } else { "s" },
            fence(&check.message)
        ));
        if let Some(dir) = &check.diagnostics {
            text.push_str(&format!(
                "\nDiagnostics: `{dir}/` (events.txt, objects.yaml, logs/, nodes.txt)\n"
            ));
        }
    }
    text.push_str(&scenarios::report::markdown(&record.scenarios));
    if let Some(bundle) = &record.scenario_diagnostics {
        text.push_str(&format!(
            "\nDiagnostics of the failed scenarios: `{}/` (pods.yaml, events.txt, logs/, nodes.txt)\n\n",
            bundle.dir
        ));
        for line in bundle.pods.iter().map(|pod| format!("pod {pod}")).chain(
            bundle
                .warnings
                .iter()
                .map(|warning| format!("warning event: {warning}")),
        ) {
            text.push_str(&format!("- {}\n", line.replace('`', "'")));
        }
    }
    if let Some(outage) = &record.api_outage {
        text.push_str(&api_outage_section(outage));
    }
    text.push_str(&sweep_section(record));
    if !record.docker_leftovers.is_empty() {
        text.push_str(&format!(
            "\n### {} Docker leftovers after `kind delete cluster`\n\n",
            record.docker_leftovers.len()
        ));
        for leftover in &record.docker_leftovers {
            text.push_str(&format!("- {} `{}`\n", leftover.kind, leftover.name));
        }
    }
    if !record.host_leftovers.is_empty() {
        text.push_str(&format!(
            "\n### {} host leftovers after `local down`\n\n",
            record.host_leftovers.len()
        ));
        for leftover in &record.host_leftovers {
            text.push_str(&format!("- {leftover}\n"));
        }
    }
    if record.kept {
        text.push_str(&format!(
            "\nThe deployment was kept. Remove it with `cargo xtask teardown --run {}`.\n",
            record.run_id
        ));
    }
    text
}

/// The outage: when it started and was noticed, whether and when the server returned.
fn api_outage_section(outage: &ApiOutage) -> String {
    let returned = match outage.returned_seconds {
        Some(at) => format!("it answered again at {at:.1} s"),
        None => "it did not answer again while the run waited".to_owned(),
    };
    format!(
        "\n### The API server stopped answering during the {}\n\nFrom {:.1} s into the run (noticed at {:.1} s: {}); {returned}.\n",
        outage.during,
        outage.started_seconds,
        outage.noticed_seconds,
        fence(&outage.reason)
    )
}

/// The sweep section every summary has: done (what it deleted, what remains, where it could
/// not look), failed with why, not possible with why, or not run.
fn sweep_section(record: &RunRecord) -> String {
    let finish = format!(
        "Finish it with `cargo xtask teardown --run {}`.",
        record.run_id
    );
    let sweep = match (&record.sweep_state, &record.sweep) {
        (SweepState::Done, Some(sweep)) => sweep,
        (SweepState::Failed { reason }, _) => {
            return format!(
                "\n### Sweep: FAILED\n\n```text\n{}\n```\n\n{finish}\n",
                fence(reason)
            )
        }
        (SweepState::NotPossible { reason }, _) => {
            return format!("\n### Sweep: not possible\n\n{reason}. {finish}\n")
        }
        (SweepState::NotRun { reason }, _) => {
            return format!("\n### Sweep: not run\n\n{reason}.\n")
        }
        (SweepState::Done, None) => return "\n### Sweep: done\n".to_owned(),
    };
    let mut text = "\n### Sweep: done\n".to_owned();
    if !sweep.deleted.is_empty() {
        text.push_str(&format!(
            "\nThe sweep deleted {} objects the teardown had not:\n\n",
            sweep.deleted.len()
        ));
        for deleted in &sweep.deleted {
            text.push_str(&format!("- `{deleted}`\n"));
        }
    }
    if sweep.leftovers.is_empty() {
        text.push_str("\nTeardown and sweep: 0 leftovers.\n");
    } else {
        text.push_str(&format!("\n#### {} leftovers\n\n", sweep.leftovers.len()));
        for leftover in &sweep.leftovers {
            text.push_str(&format!("- `{}`: {}\n", leftover.id, leftover.reason));
        }
    }
    if !sweep.unchecked.is_empty() {
        text.push_str(&format!(
            "\nThe sweep could not look in {} places; leftovers there would not be seen:\n\n",
            sweep.unchecked.len()
        ));
        for place in &sweep.unchecked {
            text.push_str(&format!("- `{}`: {}\n", place.what, place.reason));
        }
    }
    text
}

/// Keeps a message from closing its code fence.
fn fence(text: &str) -> String {
    text.replace("```", "ʼʼʼ")
}

/// Writes `summary.md` and, when `$GITHUB_STEP_SUMMARY` names a file, appends to it.
///
/// Errors: either file cannot be written.
pub fn write_markdown(record: &RunRecord, path: &std::path::Path) -> std::io::Result<()> {
    let text = markdown_summary(record);
    std::fs::write(path, &text)?;
    if let Some(summary) = std::env::var_os(GITHUB_STEP_SUMMARY).filter(|value| !value.is_empty()) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(summary)?;
        file.write_all(text.as_bytes())?;
    }
    Ok(())
}
