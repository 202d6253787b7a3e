//! `cargo xtask teardown`: remove a deployment kept with `integration --keep`, or what a
//! killed run left, found through its `target.json` or the run ledger
//! (`deployer::ledger`).

use std::path::PathBuf;

use clap::{ArgGroup, Args};
use deployer::ledger::{self, Entry, Liveness};
use deployer::providers::connect;
use deployer::sweep::{sweep, SweepReport};
use harness::earlier_runs;
use harness::integration::DELETION_TIMEOUT;
use harness::target::Target;

use crate::exit;

/// Arguments of the subcommand (its help text is on `Command` in main.rs).
#[derive(Args)]
#[command(group(ArgGroup::new("which").required(true)))]
pub struct Teardown {
    /// The run id `integration` printed: its target/seatrial/<run>/target.json when the run
    /// kept its deployment, else its ledger entry.
    #[arg(long, value_name = "RUN_ID", group = "which")]
    run: Option<String>,
    /// The target.json `integration --keep` (or an abandoned teardown) wrote.
    #[arg(long, value_name = "FILE", group = "which")]
    target: Option<PathBuf>,
    /// Every run of this deployment (project name) the ledger knows, kept or killed; refused
    /// while one of them still runs.
    #[arg(long, value_name = "NAME", group = "which")]
    deployment: Option<String>,
    /// Every run whose process is gone without a teardown (killed, crashed), whatever its
    /// deployment; kept deployments are left alone.
    #[arg(long, group = "which")]
    stale: bool,
}

impl Teardown {
    pub async fn run(self) -> u8 {
        let runs_dir = ledger::runs_dir();
        let entries = match ledger::list(&runs_dir) {
            Ok(entries) => entries,
            Err(error) => return exit::report(&error),
        };
        if let Some(path) = self.target_file() {
            return tear_down_target(&path, &entries).await;
        }
        let chosen: Vec<(PathBuf, Entry)> = entries
            .iter()
            .filter(|(_, entry)| match (&self.run, &self.deployment) {
                (Some(run), _) => entry.run_id == *run,
                (_, Some(deployment)) => entry.deployment == *deployment,
                _ => entry.liveness() == Liveness::Stale,
            })
            .cloned()
            .collect();
        if chosen.is_empty() {
            let which = match (&self.run, &self.deployment) {
                (Some(run), _) => format!("run {run} has no target.json and no ledger entry"),
                (_, Some(deployment)) => format!("no run of deployment `{deployment}`"),
                _ => "no stale run".to_owned(),
            };
            if self.stale {
                println!("{which} in {}: nothing to do", runs_dir.display());
                return exit::SUCCESS;
            }
            eprintln!(
                "error: {which} in {}\n  hint: `--target <target.json>` names a kept deployment directly",
                runs_dir.display()
            );
            return exit::BAD_INPUT;
        }
        if let Some(code) = refuse_running(&chosen) {
            return code;
        }
        let mut code = exit::SUCCESS;
        for (path, entry) in &chosen {
            match earlier_runs::remove_run(path, entry, None, DELETION_TIMEOUT).await {
                Ok(report) => {
                    let label = format!("run {} (deployment `{}`)", entry.run_id, entry.deployment);
                    code = code.max(print_sweep(&label, &report));
                }
                Err(error) => code = code.max(exit::report(&error)),
            }
        }
        code
    }

    /// The `target.json` to work from: `--target`, or that of `--run` when it exists.
    fn target_file(&self) -> Option<PathBuf> {
        match (&self.target, &self.run) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(run)) => {
                let path = exit::reports_root().join(run).join("target.json");
                path.exists().then_some(path)
            }
            _ => None,
        }
    }
}

/// A running run owns its deployment: tearing it down from outside is refused (exit 2).
fn refuse_running(entries: &[(PathBuf, Entry)]) -> Option<u8> {
    let (_, running) = entries
        .iter()
        .find(|(_, entry)| entry.liveness() == Liveness::Running)?;
    eprintln!(
        "error: run {} of deployment `{}` still runs (pid {}, started {})\n  hint: stop it with kill -TERM {} (it tears down itself)",
        running.run_id, running.deployment, running.pid, running.started_at, running.pid
    );
    Some(exit::BAD_INPUT)
}

/// Sweeps the deployment `target.json` names, then forgets its runs in the ledger.
async fn tear_down_target(path: &std::path::Path, entries: &[(PathBuf, Entry)]) -> u8 {
    let target = match Target::load(path) {
        Ok(target) => target,
        Err(error) => return exit::report(&error),
    };
    let runs: Vec<(PathBuf, Entry)> = entries
        .iter()
        .filter(|(_, entry)| entry.deployment == target.deployment)
        .cloned()
        .collect();
    if let Some(code) = refuse_running(&runs) {
        return code;
    }
    let hint = "the kept deployment's cluster must be running (for the hollow cluster: cargo xtask hollow up)";
    let connection = match connect(&target.kubeconfig, target.context.as_deref(), hint).await {
        Ok(connection) => connection,
        Err(error) => return exit::report(&error),
    };
    let allowed = [target.run_id.as_str()];
    let lease =
        deployer::lease::refuse_other_owner(&connection.client, &target.deployment, &allowed);
    if let Err(error) = lease.await {
        return exit::report(&error);
    }
    match sweep(&connection.client, &target.deployment, DELETION_TIMEOUT).await {
        Ok(report) => {
            if report.leftovers.is_empty() {
                for (file, _) in &runs {
                    if let Err(error) = ledger::remove(file) {
                        return exit::report(&error);
                    }
                }
                if let Err(error) =
                    deployer::lease::free(&connection.client, &target.deployment).await
                {
                    return exit::report(&error);
                }
            }
            print_sweep(&format!("deployment `{}`", target.deployment), &report)
        }
        Err(error) => exit::report(&error),
    }
}

/// Prints every object a sweep deleted, its leftovers ([`exit::print_leftovers`]) and a summary line; returns the exit
/// code (3 when something is left).
fn print_sweep(label: &str, report: &SweepReport) -> u8 {
    exit::print_leftovers(report, &[]);
    println!(
        "{label}: deleted {} objects in {:.1} s, {} leftovers",
        report.deleted.len(),
        report.seconds,
        report.leftovers.len()
    );
    if report.leftovers.is_empty() {
        exit::SUCCESS
    } else {
        exit::LEFTOVERS
    }
}
