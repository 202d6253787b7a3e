//! The upgrade trial (`cargo xtask upgrade`): the platform deployed as one pin set describes,
//! user data seeded, the same deployment upgraded in place to another pin set, the data
//! verified, then torn down and swept.
//!
//! It is two integration runs on one cluster:
//! 1. **from**: every stage deployed, checked and browsed as usual, then the seed steps
//!    ([`seeds::Seeder`], stage `seed`); kept only when all of it passed
//!    ([`IntegrationOptions::keep_on_success`]), otherwise torn down like any failed run;
//! 2. **to**: the newer platform applied over the kept deployment
//!    ([`IntegrationOptions::upgrade_of`]: server-side apply of every object, then what the
//!    new version no longer has pruned per stage and listed), readiness, checks and scenarios
//!    again, the verify steps ([`seeds::Verifier`], stage `upgrade`), then teardown, sweep,
//!    and the cluster stopped if the first run started it.

pub mod changes;
pub mod declared;
pub mod hub_data;
pub mod identity_data;
pub mod platform_http;
pub mod seeds;
pub mod source;
pub mod timeline;

use serde::Serialize;

use crate::error::Result;
use crate::events::{Event, Reporter, SharedReporter};
use crate::integration::{run_with, IntegrationOptions};
use crate::report::{Outcome, RunRecord};

pub use changes::{pin_changes, PinChange};
pub use source::PlatformSource;

/// The two deployments of a trial, as the caller prepared them (each with its platform, report
/// dir and run id; the keep and upgrade options are set here).
#[derive(Debug, Clone)]
pub struct UpgradeOptions {
    /// The deployment before the upgrade.
    pub from: IntegrationOptions,
    /// The deployment it is upgraded to.
    pub to: IntegrationOptions,
}

/// What a trial did: its two runs (the second absent when the first failed), and the pins whose
/// versions it changed.
#[derive(Debug, Clone, Serialize)]
pub struct TrialRecord {
    /// Where the first deployment came from.
    pub from_source: String,
    /// Where the upgrade came from.
    pub to_source: String,
    /// Pins whose versions differ, old → new.
    pub changes: Vec<PinChange>,
    /// The first deployment's run (`seed::*` checks among its stages).
    pub from: RunRecord,
    /// The upgrade's run (`upgrade::*` checks, the pruned objects); `None` when the first
    /// deployment failed and was torn down.
    pub to: Option<RunRecord>,
    /// How the trial ended: the first failing run's outcome, or passed.
    pub outcome: Outcome,
}

impl TrialRecord {
    /// Its runs in order: the first deployment, then the upgrade when it ran.
    pub fn runs(&self) -> impl Iterator<Item = &RunRecord> + Clone {
        std::iter::once(&self.from).chain(self.to.as_ref())
    }
}

/// Runs the trial: the first deployment, seeded and kept; the upgrade over it, verified and
/// torn down. Sources are named in the record only (`from_source`, `to_source`).
///
/// Errors: those of [`run_with`] for either run, before it applied anything (the first run's
/// kept deployment is then left for `cargo xtask teardown --run <id>`, which the error's
/// caller prints).
pub async fn run(
    options: &UpgradeOptions,
    sources: (String, String),
    changes: Vec<PinChange>,
    reporter: SharedReporter,
) -> Result<TrialRecord> {
    // The upgrade's input is validated before anything is deployed: a platform that cannot
    // render must not leave the first deployment behind.
    validate(&options.to)?;
    let mut from = options.from.clone();
    from.keep = false;
    from.keep_on_failure = false;
    from.keep_on_success = true;
    let seeder = seeds::Seeder::default();
    let first = run_with(&from, reporter.clone(), Some(&seeder)).await?;
    let mut record = TrialRecord {
        from_source: sources.0,
        to_source: sources.1,
        changes,
        outcome: first.outcome,
        from: first,
        to: None,
    };
    if !record.from.kept {
        return Ok(record);
    }
    let mut to = options.to.clone();
    to.upgrade_of = Some(record.from.run_id.clone());
    // kind refuses a running cluster of the same name unless told to reuse it: the first
    // deployment's cluster is the one to upgrade in (other providers reuse theirs anyway).
    to.config.kind.reuse = true;
    to.stop_found_provider = !record.from.provider_reused;
    to.keep_on_success = false;
    let verifier = seeds::Verifier {
        seeded: seeder.seeded(),
    };
    let second = match run_with(&to, reporter.clone(), Some(&verifier)).await {
        Ok(second) => second,
        Err(error) => {
            // Refused before it applied anything: the first deployment does not stay behind.
            remove_first(&record.from, &options.from, &*reporter).await;
            return Err(error);
        }
    };
    record.outcome = second.outcome;
    record.to = Some(second);
    Ok(record)
}

/// Renders and validates `options`' platform as its run would, before the cluster is touched.
///
/// Errors: those of [`crate::integration::prepare`].
fn validate(options: &IntegrationOptions) -> Result<()> {
    let mut tls = deployer::tls::PlatformTls::for_domain(
        &options.config.project_name,
        &options.config.domain,
    )?;
    // Checks name the CA file; the run writes its own over it.
    std::fs::create_dir_all(&options.report_dir).map_err(|source| crate::Error::ReportDir {
        path: options.report_dir.clone(),
        source,
    })?;
    tls.write_ca(
        &options
            .report_dir
            .join(crate::integration::PLATFORM_CA_FILE),
    )?;
    crate::integration::prepare(
        &options.platform,
        &options.config,
        options.stop_at.as_deref(),
        options.provider.runs_workloads(),
        options.config.uses_built_images(options.provider),
        &tls,
    )?;
    Ok(())
}

/// Sweeps the kept first deployment (`first`) when the upgrade could not start, reporting
/// what was deleted; the cluster the first deployment started stays up (said in a warning).
async fn remove_first(first: &RunRecord, options: &IntegrationOptions, reporter: &dyn Reporter) {
    let found =
        crate::earlier_runs::kept_run(&options.ledger_dir, &first.deployment, &first.run_id);
    let removed = match found {
        Ok((path, entry)) => {
            let timeout = std::time::Duration::from_secs(options.config.deletion_timeout_seconds);
            crate::earlier_runs::remove_run(&path, &entry, None, timeout).await
        }
        Err(error) => Err(error),
    };
    match removed {
        Ok(report) => reporter.report(crate::earlier_runs::removed_event(
            &first.run_id,
            &first.started_at,
            &report,
        )),
        Err(error) => reporter.report(Event::Warning {
            message: format!(
                "failed to remove the first deployment (run {}): {}; remove it with `cargo xtask teardown --run {}`",
                first.run_id,
                host::error_chain(&error),
                first.run_id
            ),
        }),
    }
    if !first.provider_reused {
        reporter.report(Event::Warning {
            message: format!(
                "the {} cluster the trial started is still up; stop it with `cargo xtask {} down`",
                options.provider, options.provider
            ),
        });
    }
}
