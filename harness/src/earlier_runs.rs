//! Earlier runs of a deployment, as the ledger ([`deployer::ledger`]) knows them: one that
//! still runs or was kept owns the deployment and a new run is refused; one that was killed is
//! removed (swept by its labels through the kubeconfig it recorded) before anything new is
//! applied, and what that deleted is listed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use deployer::ledger::{self, Entry, Liveness};
use deployer::providers::connect;
use deployer::sweep::{sweep, SweepReport};

use crate::error::{Error, Result};
use crate::events::{Event, Reporter};

/// The refusal for a run of `entry.deployment` while `entry` owns it, naming the owner, its
/// state and the command that frees the deployment; `None` when `entry` does not own it (a
/// killed run, or one of this very process that has ended).
pub fn owner_refusal(entry: &Entry) -> Option<deployer::Error> {
    let (state, hint) = match entry.liveness() {
        Liveness::Running if entry.pid != std::process::id() => (
            format!("running as pid {}", entry.pid),
            format!(
                "wait for it to end, or stop it (kill -TERM {}; it tears down), or use another project_name",
                entry.pid
            ),
        ),
        Liveness::Kept => (
            "kept".to_owned(),
            format!(
                "remove it with `cargo xtask teardown --run {}`, or use another project_name",
                entry.run_id
            ),
        ),
        _ => return None,
    };
    Some(deployer::Error::Owned {
        deployment: entry.deployment.clone(),
        run_id: entry.run_id.clone(),
        state,
        started_at: entry.started_at.clone(),
        hint,
    })
}

/// Sweeps the deployment of the killed run `entry` (ledger file `path`) through its recorded
/// kubeconfig and removes the ledger file when nothing is left — and the deployment's lease
/// ([`deployer::lease`]) unless `this_run` (the run sweeping, which holds it) is given; returns
/// the sweep (empty when the cluster itself is gone: a provider's kubeconfig that no longer
/// exists).
///
/// Errors: [`deployer::Error::Owned`] when its cluster does not answer (nothing can be
/// removed, so the deployment stays owned) or a live run other than `entry`'s and `this_run`
/// holds the lease, and the sweep's own errors.
pub async fn remove_run(
    path: &Path,
    entry: &Entry,
    this_run: Option<&str>,
    timeout: Duration,
) -> Result<SweepReport> {
    let unreachable = |reason: String| {
        deployer::Error::Owned {
        deployment: entry.deployment.clone(),
        run_id: entry.run_id.clone(),
        state: format!("ended without a teardown; its cluster does not answer: {reason}"),
        started_at: entry.started_at.clone(),
        hint: format!(
            "bring that cluster up again (e.g. `cargo xtask {} up`) and run `cargo xtask teardown --stale`; if the cluster is gone for good, so are the objects: remove {}",
            entry.provider,
            path.display()
        ),
    }
    };
    // The providers that run their own cluster write its kubeconfig into their state dir and
    // remove it with the cluster (`local down`, `hollow down`, `kind delete cluster`): when
    // it is gone, so is every object the run applied there.
    if entry.provider != "existing" && !entry.kubeconfig.exists() {
        ledger::remove(path)?;
        return Ok(SweepReport::default());
    }
    let connection = connect(&entry.kubeconfig, entry.context.as_deref(), "")
        .await
        .map_err(|error| unreachable(host::error_chain(&error)))?;
    // A run on another machine that renews the deployment's lease owns it: hands off.
    let allowed: Vec<&str> = std::iter::once(entry.run_id.as_str())
        .chain(this_run)
        .collect();
    deployer::lease::refuse_other_owner(&connection.client, &entry.deployment, &allowed).await?;
    let report = sweep(&connection.client, &entry.deployment, timeout).await?;
    if report.leftovers.is_empty() {
        ledger::remove(path)?;
        // Freed for the next run, unless the run sweeping holds the lease itself.
        if this_run.is_none() {
            deployer::lease::free(&connection.client, &entry.deployment).await?;
        }
    }
    Ok(report)
}

/// The ledger's earlier runs of `deployment`, each with its file, unless one of them owns it;
/// `upgraded` (the kept run an upgrading run takes over) neither refuses nor is listed.
///
/// Errors: [`deployer::Error::Owned`] naming the owner ([`owner_refusal`]); the ledger's
/// errors.
pub fn unowned_runs(
    ledger_dir: &Path,
    deployment: &str,
    upgraded: Option<&str>,
) -> Result<Vec<(PathBuf, Entry)>> {
    let earlier: Vec<(PathBuf, Entry)> = ledger::list(ledger_dir)?
        .into_iter()
        .filter(|(_, entry)| {
            entry.deployment == deployment && Some(entry.run_id.as_str()) != upgraded
        })
        .collect();
    match earlier.iter().find_map(|(_, entry)| owner_refusal(entry)) {
        Some(refusal) => Err(refusal.into()),
        None => Ok(earlier),
    }
}

/// The ledger entry of `run_id`, a kept deployment of `deployment`: what an upgrade takes over.
///
/// Errors: bad input when the ledger holds no such run, or holds it for another deployment
/// or not kept; the ledger's errors.
pub fn kept_run(ledger_dir: &Path, deployment: &str, run_id: &str) -> Result<(PathBuf, Entry)> {
    let found = ledger::list(ledger_dir)?
        .into_iter()
        .find(|(_, entry)| entry.run_id == run_id);
    let refuse = |why: String| -> Error {
        deployer::Error::Invalid {
            path: ledger_dir.to_owned(),
            line: 0,
            message: format!("cannot upgrade run {run_id}: {why}"),
        }
        .into()
    };
    match found {
        None => Err(refuse("the ledger holds no such run".to_owned())),
        Some((_, entry)) if entry.deployment != deployment => Err(refuse(format!(
            "it deployed `{}`, not `{deployment}`",
            entry.deployment
        ))),
        // Kept by its flag: the run that kept it may be this very process (an upgrade trial
        // runs both deployments in one).
        Some((_, entry)) if !entry.kept => Err(refuse("its deployment was not kept".to_owned())),
        Some(found) => Ok(found),
    }
}

/// Before a run of `deployment` applies anything: refuses it while another run owns the
/// deployment ([`unowned_runs`], asked again: an owner may have started meanwhile), and
/// removes every killed run of it (reporting what each sweep deleted).
///
/// Errors: [`deployer::Error::Owned`] naming the owner (or the killed run that could not be
/// removed, or left objects behind) and the command that frees the deployment; the ledger's
/// errors.
pub async fn settle(
    ledger_dir: &Path,
    deployment: &str,
    this_run: &str,
    upgraded: Option<&str>,
    timeout: Duration,
    reporter: &dyn Reporter,
) -> Result<()> {
    for (path, entry) in &unowned_runs(ledger_dir, deployment, upgraded)? {
        let report = remove_run(path, entry, Some(this_run), timeout).await?;
        reporter.report(removed_event(&entry.run_id, &entry.started_at, &report));
        if !report.leftovers.is_empty() {
            return Err(Error::Deploy(deployer::Error::Owned {
                deployment: deployment.to_owned(),
                run_id: entry.run_id.clone(),
                state: format!(
                    "ended without a teardown, and {} of its objects remain after a sweep",
                    report.leftovers.len()
                ),
                started_at: entry.started_at.clone(),
                hint: format!(
                    "see what holds them (finalizers), then `cargo xtask teardown --run {}`",
                    entry.run_id
                ),
            }));
        }
    }
    Ok(())
}

/// The event saying that the earlier run `run_id` (started at `started_at`) was swept, with
/// what `report` deleted and left.
pub fn removed_event(run_id: &str, started_at: &str, report: &SweepReport) -> Event {
    Event::EarlierRunRemoved {
        run_id: run_id.to_owned(),
        started_at: started_at.to_owned(),
        deleted: report.deleted.iter().map(ToString::to_string).collect(),
        leftovers: report
            .leftovers
            .iter()
            .map(|left| format!("{} ({})", left.id, left.reason))
            .collect(),
    }
}
