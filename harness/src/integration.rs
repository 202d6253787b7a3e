//! The integration run: provider up → per stage render, apply, wait, check → teardown in
//! reverse → sweep → report.
//!
//! Everything that can be wrong with the input (config, platform, manifests, checks,
//! `--stop-at`) is found by [`prepare`], before the cluster is touched. Once anything has been
//! applied, the run always tears down and sweeps — after a failed check, a failed stage or
//! Ctrl-C — unless it was asked to keep the deployment.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use deployer::apply::{AppliedObject, Applier, StageTimings};
use deployer::config::{Config, ProviderKind};
use deployer::error::{Error, Result};
use deployer::inventory::Inventory;
use deployer::manifest::{parse_documents, Manifest};
use deployer::platform::{Platform, Stage};
use deployer::providers::hollow::cluster;
use deployer::providers::hollow::HollowPaths;
use deployer::providers::{connect, default_kubeconfig, Connection};
use deployer::render::{render_file, RenderContext};
use deployer::{sweep, teardown};
use indicatif::{ProgressBar, ProgressStyle};

use crate::checks::{load_checks, Check, CheckRunner};
use crate::report::{
    write_junit, CheckRecord, CheckResult, Outcome, RunRecord, StageRecord, StageStatus,
    TeardownRecord,
};
use crate::target::Target;

/// Exit code: everything passed.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit code: a check failed or a stage did not become ready.
pub const EXIT_CHECKS_FAILED: u8 = 1;
/// Exit code: bad input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: objects remain after teardown and sweep.
pub const EXIT_LEFTOVERS: u8 = 3;
/// Exit code: a tool, package or cluster is missing or unreachable.
pub const EXIT_ENVIRONMENT_MISSING: u8 = 4;

/// How long `cargo xtask teardown` and `test` wait for one object to be gone (an integration
/// run uses the config's `deletion_timeout_seconds`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(180);

/// What `cargo xtask integration` was asked to do.
#[derive(Debug, Clone)]
pub struct IntegrationOptions {
    /// The platform directory (`deployer/stages` by default).
    pub platform_dir: PathBuf,
    /// The validated configuration.
    pub config: Config,
    /// The provider (the config's, unless overridden on the command line).
    pub provider: ProviderKind,
    /// For `existing`: the kubeconfig (the config's, `$KUBECONFIG` or `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// For `existing`: the context.
    pub context: Option<String>,
    /// Deploy and check up to this stage only.
    pub stop_at: Option<String>,
    /// Leave the deployment running (and the hollow cluster, if this run started it).
    pub keep: bool,
    /// Where `report.json`, `junit.xml` and `target.json` go; created if missing.
    pub report_dir: PathBuf,
    /// The run id (see `deployer::inventory::new_run_id`).
    pub run_id: String,
    /// Hollow nodes, when this run starts the hollow cluster.
    pub hollow_nodes: usize,
}

/// A stage ready to deploy: its objects and checks, rendered and validated.
#[derive(Debug, Clone)]
pub struct PreparedStage {
    /// The stage.
    pub stage: Stage,
    /// Its objects, in file order.
    pub manifests: Vec<Manifest>,
    /// Its checks, in declaration order.
    pub checks: Vec<Check>,
}

/// Whether containers really run on a provider (readiness probes can pass).
pub fn provider_runs_containers(provider: ProviderKind) -> bool {
    provider != ProviderKind::Hollow
}

/// Loads the platform and renders and validates every stage up to `stop_at`.
///
/// Errors (all bad input): unknown stage, invalid settings, template errors, manifests that
/// are not objects, malformed checks — each naming file and line or document.
pub fn prepare(
    platform_dir: &std::path::Path,
    config: &Config,
    stop_at: Option<&str>,
    probes: bool,
) -> Result<Vec<PreparedStage>> {
    let platform = Platform::load(platform_dir)?;
    platform.validate_config_stages(config)?;
    let stages = platform.stages_until(stop_at)?.to_vec();
    let mut prepared = Vec::with_capacity(stages.len());
    for stage in stages {
        let context = RenderContext::new(&platform, config, &stage, probes)?;
        let mut manifests = Vec::new();
        for path in &stage.manifests {
            manifests.extend(parse_documents(path, &render_file(path, &context)?)?);
        }
        let checks = load_checks(&stage, &context)?;
        prepared.push(PreparedStage {
            stage,
            manifests,
            checks,
        });
    }
    Ok(prepared)
}

/// Connects to the provider's cluster; for `hollow`, builds and starts it if needed.
///
/// Returns the connection and whether this call started the hollow cluster.
pub async fn provider_up(options: &IntegrationOptions) -> Result<(Connection, bool)> {
    match options.provider {
        ProviderKind::Hollow => {
            let up = cluster::up(&HollowPaths::from_env(), options.hollow_nodes).await?;
            Ok((up.connection, !up.reused))
        }
        ProviderKind::Existing => {
            let kubeconfig = options
                .kubeconfig
                .clone()
                .unwrap_or_else(default_kubeconfig);
            let hint = "check the kubeconfig's server and that the cluster runs; for the local hollow cluster run `cargo xtask hollow up` and use --provider hollow";
            Ok((
                connect(&kubeconfig, options.context.as_deref(), hint).await?,
                false,
            ))
        }
    }
}

/// Runs the whole integration and writes `report.json` and `junit.xml` to the report dir.
///
/// Errors: what [`prepare`] finds, and a provider that cannot be reached or started — all
/// before anything is applied. After that it returns a [`RunRecord`], whatever failed.
pub async fn run(options: &IntegrationOptions) -> Result<RunRecord> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats");
    let probes = provider_runs_containers(options.provider);
    let prepared = prepare(
        &options.platform_dir,
        &options.config,
        options.stop_at.as_deref(),
        probes,
    )?;
    std::fs::create_dir_all(&options.report_dir).map_err(|error| Error::EnvironmentMissing {
        what: format!(
            "cannot create the report dir {}: {error}",
            options.report_dir.display()
        ),
        hint: "pass a writable --report-dir".to_owned(),
    })?;

    let provider_started = Instant::now();
    let progress = spinner(format!(
        "provider {}: starting or reusing the cluster",
        options.provider
    ));
    let provider = provider_up(options).await;
    progress.finish_and_clear();
    let (connection, started_cluster) = provider?;
    let provider_seconds = provider_started.elapsed().as_secs_f64();
    eprintln!(
        "provider {}: {} ({:.1} s)",
        options.provider, connection.server_url, provider_seconds
    );

    let inventory = Inventory {
        deployment: options.config.project_name.clone(),
        run_id: options.run_id.clone(),
    };
    let mut stage_records: Vec<StageRecord> = prepared
        .iter()
        .map(|stage| StageRecord {
            name: stage.stage.name.clone(),
            status: StageStatus::NotRun,
            objects: Vec::new(),
            apply_seconds: 0.0,
            wait_seconds: 0.0,
            checks_seconds: 0.0,
            checks: Vec::new(),
            error: None,
        })
        .collect();
    let mut applied: Vec<(String, Vec<AppliedObject>)> = Vec::new();
    let readiness_timeout = Duration::from_secs(options.config.readiness_timeout_seconds);
    let mut applier = Applier::new(
        connection.client.clone(),
        inventory.clone(),
        options.config.namespace.clone(),
        readiness_timeout,
    );
    let runner = CheckRunner::new(connection.client.clone());

    let deploy = deploy_stages(
        &prepared,
        &mut applier,
        &runner,
        &mut stage_records,
        &mut applied,
    );
    let interrupted = tokio::select! {
        () = deploy => false,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: tearing down what was applied");
            true
        }
    };
    if interrupted {
        // The interrupted stage never recorded its objects; the teardown below deletes them.
        for (record, (_, objects)) in stage_records.iter_mut().zip(&applied) {
            if record.objects.is_empty() {
                record.objects = objects.iter().map(|object| object.id.clone()).collect();
            }
        }
    }
    let deploy_passed = stage_records
        .iter()
        .all(|stage| stage.status == StageStatus::Passed);

    let mut record = RunRecord {
        run_id: options.run_id.clone(),
        deployment: inventory.deployment.clone(),
        provider: options.provider.to_string(),
        server_url: connection.server_url.clone(),
        config: options.config.source.display().to_string(),
        started_at,
        seconds: 0.0,
        provider_seconds,
        provider_reused: !started_cluster,
        stages: stage_records,
        teardown: None,
        sweep: None,
        kept: options.keep,
        outcome: Outcome::Passed,
        exit_code: EXIT_SUCCESS,
    };

    if options.keep {
        keep(options, &connection, probes);
    } else {
        tear_down(options, &connection, &applied, &mut record).await;
        if started_cluster && options.provider == ProviderKind::Hollow {
            if let Err(error) = cluster::down(&HollowPaths::from_env()) {
                eprintln!("warning: cannot stop the hollow cluster this run started: {error}");
            }
        }
    }

    let leftovers = match &record.sweep {
        Some(sweep) => !sweep.leftovers.is_empty(),
        None => !options.keep,
    };
    (record.outcome, record.exit_code) = if interrupted {
        (Outcome::Interrupted, EXIT_CHECKS_FAILED)
    } else if !deploy_passed {
        (Outcome::Failed, EXIT_CHECKS_FAILED)
    } else if leftovers {
        (Outcome::Leftovers, EXIT_LEFTOVERS)
    } else {
        (Outcome::Passed, EXIT_SUCCESS)
    };
    record.seconds = started.elapsed().as_secs_f64();
    write_reports(&record, &options.report_dir);
    Ok(record)
}

/// Leaves the deployment running: writes `target.json` and says how to check and remove it.
fn keep(options: &IntegrationOptions, connection: &Connection, probes: bool) {
    let target = Target {
        deployment: options.config.project_name.clone(),
        run_id: options.run_id.clone(),
        kubeconfig: connection.kubeconfig.clone(),
        context: connection.context.clone(),
        platform_dir: options.platform_dir.clone(),
        config_source: options.config.source.clone(),
        config_text: options.config.text.clone(),
        probes,
    };
    let path = options.report_dir.join("target.json");
    if let Err(error) = target.save(&path) {
        eprintln!("warning: cannot write {}: {error}", path.display());
    }
    eprintln!(
        "kept deployment `{}` (run {}).\n  re-run its checks: SEATRIAL_TARGET={} cargo nextest run -p harness --test stage_checks --run-ignored all\n  remove it:         cargo xtask teardown --target {}",
        target.deployment,
        target.run_id,
        path.display(),
        path.display()
    );
}

/// Deletes the applied stages in reverse order, then sweeps; records both in `record`.
async fn tear_down(
    options: &IntegrationOptions,
    connection: &Connection,
    applied: &[(String, Vec<AppliedObject>)],
    record: &mut RunRecord,
) {
    let deletion_timeout = Duration::from_secs(options.config.deletion_timeout_seconds);
    let progress = spinner("teardown: deleting stages in reverse order".to_owned());
    let report = teardown::destroy(&connection.client, applied, deletion_timeout).await;
    progress.finish_and_clear();
    record.teardown = Some(TeardownRecord {
        deleted: report.deleted,
        problems: report.problems,
        seconds: report.seconds,
    });
    let selector = deployer::inventory::deployment_selector(&record.deployment);
    let progress = spinner(format!("sweep: looking for anything labelled {selector}"));
    let swept = sweep::sweep(&connection.client, &record.deployment, deletion_timeout).await;
    progress.finish_and_clear();
    match swept {
        Ok(report) => record.sweep = Some(report),
        Err(error) => eprintln!("error: the sweep failed: {error}"),
    }
}

async fn deploy_stages(
    prepared: &[PreparedStage],
    applier: &mut Applier,
    runner: &CheckRunner,
    records: &mut [StageRecord],
    applied: &mut Vec<(String, Vec<AppliedObject>)>,
) {
    for (stage, record) in prepared.iter().zip(records.iter_mut()) {
        let name = &stage.stage.name;
        applied.push((name.clone(), Vec::new()));
        let objects = &mut applied.last_mut().expect("just pushed").1;
        let progress = spinner(format!(
            "{name}: applying {} objects and waiting for readiness",
            stage.manifests.len()
        ));
        let mut timings = StageTimings::default();
        let result = applier
            .apply_stage(name, &stage.manifests, objects, &mut timings)
            .await;
        progress.finish_and_clear();
        record.objects = objects.iter().map(|object| object.id.clone()).collect();
        record.apply_seconds = timings.apply_seconds;
        record.wait_seconds = timings.wait_seconds;
        if let Err(error) = result {
            eprintln!("{name}: deploy FAILED: {error}");
            record.status = StageStatus::DeployFailed;
            record.error = Some(error.to_string());
            return;
        }
        let checks_started = Instant::now();
        let outcomes =
            futures::future::join_all(stage.checks.iter().map(|check| runner.run(check))).await;
        record.checks_seconds = checks_started.elapsed().as_secs_f64();
        record.checks = stage
            .checks
            .iter()
            .zip(outcomes)
            .map(|(check, outcome)| {
                let result = if outcome.passed {
                    CheckResult::Passed
                } else {
                    CheckResult::Failed
                };
                if !outcome.passed {
                    eprintln!("{}: FAILED: {}", check.trial_name(), outcome.message);
                }
                CheckRecord {
                    name: check.name.clone(),
                    result,
                    message: outcome.message,
                    seconds: outcome.seconds,
                }
            })
            .collect();
        let failed = record
            .checks
            .iter()
            .filter(|check| check.result == CheckResult::Failed)
            .count();
        eprintln!(
            "{name}: {} objects ready in {:.1} s; {} checks passed, {failed} failed",
            record.objects.len(),
            timings.apply_seconds + timings.wait_seconds,
            record.checks.len() - failed
        );
        if failed > 0 {
            record.status = StageStatus::ChecksFailed;
            return;
        }
        record.status = StageStatus::Passed;
    }
}

fn write_reports(record: &RunRecord, report_dir: &std::path::Path) {
    let json = report_dir.join("report.json");
    if let Err(error) = std::fs::write(
        &json,
        serde_json::to_string_pretty(record).expect("a record serializes"),
    ) {
        eprintln!("warning: cannot write {}: {error}", json.display());
    }
    let junit = report_dir.join("junit.xml");
    if let Err(error) = write_junit(record, &junit) {
        eprintln!("warning: cannot write {}: {error}", junit.display());
    }
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
