//! Stage checks as libtest-mimic trials named `<stage>::<check>`, so that `cargo test` and
//! `cargo nextest run` list and run them like any test.
//!
//! Listing needs no cluster: the checks are rendered from the platform and config. Running
//! needs a deployment to check, described by a `target.json` (see [`crate::target`]); without
//! one every trial is marked ignored, so a plain `cargo nextest run` lists them and skips them.

use std::path::Path;
use std::sync::Arc;

use deployer::config::Config;
use deployer::providers::connect;
use libtest_mimic::{Failed, Trial};

use crate::checks::CheckRunner;
use crate::integration::prepare;
use crate::target::Target;

/// Builds one trial per declared check of every stage.
///
/// With `target`, each trial connects to the kept deployment and runs its check (one Tokio
/// runtime per trial, since nextest runs each trial in its own process). Without it, trials
/// are ignored. Errors: what [`prepare`] finds in the platform, config and check files.
pub fn stage_check_trials(
    platform_dir: &Path,
    config: &Config,
    target: Option<Target>,
    probes: bool,
) -> Result<Vec<Trial>, deployer::Error> {
    let platform = deployer::platform::Platform::load(platform_dir)?;
    // Checks render as the run rendered them; only the CA file matters to them (the kept
    // deployment's, when there is one), not this certificate.
    let mut tls = deployer::tls::PlatformTls::for_domain(&config.project_name, &config.domain)?;
    match target
        .as_ref()
        .and_then(|target| target.platform_ca.as_ref())
    {
        Some(ca) => tls.ca_file = ca.display().to_string(),
        // No deployment: the trials are ignored, but their `ca:` must still name a file. One
        // fixed file, rewritten by each trial process, not one left behind per process.
        None => tls.write_ca(&std::env::temp_dir().join("seatrial-trials-ca.crt"))?,
    }
    let stages = prepare(&platform, config, None, probes, false, &tls)?;
    let target = target.map(Arc::new);
    let mut trials = Vec::new();
    for stage in stages {
        for check in stage.checks {
            let name = check.trial_name();
            let trial = match &target {
                None => Trial::test(name, || Err(Failed::from("no deployment to check: set SEATRIAL_TARGET to a target.json written by `cargo xtask integration --keep`"))).with_ignored_flag(true),
                Some(target) => {
                    let target = Arc::clone(target);
                    let resolver = crate::integration::resolver(config);
                    Trial::test(name, move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(|error| Failed::from(format!("failed to start a runtime: {error}")))?;
                        runtime.block_on(async {
                            let hint = "the kept deployment's cluster must be running";
                            let connection = connect(&target.kubeconfig, target.context.as_deref(), hint)
                                .await
                                .map_err(|error| Failed::from(host::error_chain(&error)))?;
                            let runner = CheckRunner::with(
                                std::sync::Arc::new(deployer::watches::Watches::new(connection.client)),
                                resolver.clone(),
                            );
                            let outcome = runner.run(&check).await;
                            if outcome.passed() {
                                Ok(())
                            } else {
                                Err(Failed::from(outcome.message))
                            }
                        })
                    })
                }
            };
            trials.push(trial);
        }
    }
    Ok(trials)
}

/// What the `scenarios::<name>` trials do for `target`: ignored without one (listed, with how
/// to give one); skipped with [`crate::scenarios::NO_WORKLOADS`] when its provider runs no
/// containers; otherwise run against the platform's hub, prepared only when a scenario trial
/// runs (trial user from its Secret, artifacts under `artifacts_dir/<name>/`). A target whose
/// hub cannot be prepared (no trial user Secret, TLS failure) fails the trials with that
/// message.
pub fn scenario_plan(
    target: Option<&Target>,
    artifacts_dir: &Path,
) -> scenarios::trials::TrialPlan {
    use scenarios::trials::TrialPlan;
    let Some(target) = target else {
        return TrialPlan::NoTarget(
            "no hub to drive: set SEATRIAL_TARGET to a target.json written by `cargo xtask integration --keep`, or use `cargo xtask scenarios --base-url URL`".into(),
        );
    };
    if !target.probes {
        return TrialPlan::Skip(crate::scenarios::NO_WORKLOADS.into());
    }
    let target = Arc::new(target.clone());
    let artifacts_dir = artifacts_dir.to_owned();
    TrialPlan::Prepare(Arc::new(move || {
        let target = Arc::clone(&target);
        let artifacts_dir = artifacts_dir.clone();
        Box::pin(async move {
            let config = target.config().map_err(|error| host::error_chain(&error))?;
            let hint = "the kept deployment's cluster must be running";
            let connection = connect(&target.kubeconfig, target.context.as_deref(), hint)
                .await
                .map_err(|error| host::error_chain(&error))?;
            let platform_ca = target.platform_ca.clone().ok_or_else(|| {
                "the target.json names no platform CA (written by an older seatrial): deploy again with --keep".to_owned()
            })?;
            let hub = crate::scenarios::platform_target(&config, &connection.client, &platform_ca)
                .await?;
            crate::scenarios::hub_options(&hub, &artifacts_dir).await
        })
    }))
}
