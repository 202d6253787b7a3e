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
use deployer::error::{Error as DeployError, Result as DeployResult};

use crate::error::{Error, Result};
use deployer::inventory::Inventory;
use deployer::lease::HeldLease;
use deployer::ledger::Ledger;
use deployer::manifest::{parse_documents, Manifest};
use deployer::platform::{Platform, Stage};
use deployer::providers::lifecycle::{self, Prebuilt, ProviderHandle, ProviderRequest};
use deployer::providers::Connection;
use deployer::render::{render_file, RenderContext};
use deployer::tls::PlatformTls;
use deployer::{sweep, teardown};
use host::signals::{StopSignal, StopSignals};

use crate::earlier_runs;
use crate::outage;
use deployer::api_health::{ApiHealth, Probe};

use std::sync::Arc;

use deployer::watches::Watches;

use crate::checks::{load_checks, run_checks, Check, CheckDefaults, CheckRunner, Resolver};
use crate::diagnostics::{self, DiagnosticsMode};
use crate::events::{Event, Reporter, SharedReporter};
use crate::report::{
    CheckRecord, CheckResult, Outcome, PrunedObject, RunRecord, StageRecord, StageStatus,
    SweepState, TeardownRecord, UpgradeRecord,
};
use crate::target::Target;

/// How long `cargo xtask teardown` and `test` wait for one object to be gone (an integration
/// run uses the config's `deletion_timeout_seconds`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(180);

/// What `cargo xtask integration` was asked to do.
#[derive(Debug, Clone)]
pub struct IntegrationOptions {
    /// The platform directory (`deployer/stages` by default).
    pub platform_dir: PathBuf,
    /// The platform loaded from it (once, by the caller, who also applied
    /// [`lifecycle::apply_defaults`] with it).
    pub platform: Platform,
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
    /// Leave it running only when something failed; tear down when everything passed.
    pub keep_on_failure: bool,
    /// When diagnostics bundles are written.
    pub diagnostics: DiagnosticsMode,
    /// Where `report.json`, `junit.xml` and `target.json` go; created if missing.
    pub report_dir: PathBuf,
    /// The run id (see `deployer::inventory::new_run_id`).
    pub run_id: String,
    /// Hollow nodes, when this run starts the hollow cluster.
    pub hollow_nodes: usize,
    /// Render every chart stage with Helm 3 and Helm 4 and report what differs
    /// (`helm-compare.json`) before deploying with the configured one.
    pub helm_compare: bool,
    /// The ledger's directory (`deployer::ledger::runs_dir()` for maintainers' runs).
    pub ledger_dir: PathBuf,
    /// Keep the deployment only when everything passed (the first deployment of an upgrade
    /// trial, which the second then upgrades in place); tear down after a failure.
    pub keep_on_success: bool,
    /// The kept run whose deployment this run upgrades in place (`cargo xtask upgrade`): this
    /// run takes over its lease and ledger entry instead of being refused, and after each
    /// stage's apply deletes what that run applied there and this one no longer renders
    /// ([`deployer::prune`]); after the last stage, what it applied in stages this platform
    /// no longer has.
    pub upgrade_of: Option<String>,
    /// Stop the hollow or local cluster at the end even when this run found it running (the
    /// second deployment of an upgrade trial, on the cluster its first one started).
    pub stop_found_provider: bool,
}

/// Work a caller adds to a run once every stage and scenario passed, before the teardown or
/// the keep: an upgrade trial seeds user data there, and verifies it after the upgrade. Its
/// checks are reported as the checks of a stage of their own ([`DataSteps::stage`], e.g.
/// `upgrade::userprofile`), and a failed one fails the run.
pub trait DataSteps: Send + Sync {
    /// The name the checks' stage record has (`seed`, `upgrade`).
    fn stage(&self) -> &str;
    /// Runs the steps against the deployment, one record per step.
    fn run<'a>(
        &'a self,
        context: DataContext<'a>,
    ) -> futures::future::BoxFuture<'a, Vec<CheckRecord>>;
}

/// What [`DataSteps`] run against: the deployment and the stages that were deployed.
#[derive(Clone, Copy)]
pub struct DataContext<'a> {
    /// The cluster.
    pub client: &'a kube::Client,
    /// The run's options (configuration, platform, report dir).
    pub options: &'a IntegrationOptions,
    /// The stages this run deployed and checked (not those skipped on the provider), in
    /// order, with their declared seed and verify steps.
    pub stages: &'a [&'a PreparedStage],
    /// The run's check runner (its watches and resolver), for declared steps.
    pub runner: &'a CheckRunner,
}

/// A stage ready to deploy: its objects and checks, rendered and validated.
#[derive(Debug, Clone)]
pub struct PreparedStage {
    /// The stage.
    pub stage: Stage,
    /// Its objects, in file order.
    pub manifests: Vec<Manifest>,
    /// Its checks, in declaration order (a chart's test hooks are added once it is rendered).
    pub checks: Vec<Check>,
    /// What an upgrade trial writes before the upgrade (`upgrade.seed` of its `checks.yaml`).
    pub seed: Vec<crate::checks::SeedStep>,
    /// What an upgrade trial checks after it (`upgrade.verify`).
    pub verify: Vec<Check>,
    /// For a chart stage: its values, tarball and (once rendered) release.
    pub chart: Option<crate::chart_stages::PreparedChart>,
}

impl PreparedStage {
    /// How many objects the stage applies (for a chart stage not yet rendered, its manifests).
    pub fn object_count(&self) -> usize {
        self.manifests.len()
            + self
                .chart
                .as_ref()
                .and_then(|chart| chart.release.as_ref())
                .map_or(0, |release| release.applied_count())
    }

    /// Every object it applies, manifests and rendered chart objects (hooks included).
    pub fn all_objects(&self) -> impl Iterator<Item = &Manifest> {
        let release = self.chart.as_ref().and_then(|chart| chart.release.as_ref());
        self.manifests
            .iter()
            .chain(release.into_iter().flat_map(|release| {
                release
                    .pre_install
                    .iter()
                    .map(|hook| &hook.manifest)
                    .chain(release.objects.iter())
                    .chain(release.post_install.iter().map(|hook| &hook.manifest))
                    .chain(release.tests.iter().map(|hook| &hook.manifest))
            }))
    }
}

/// The file a run writes its platform CA certificate to, in the report dir.
pub const PLATFORM_CA_FILE: &str = "platform-ca.crt";

/// Renders and validates every stage of `platform` up to `stop_at`; with `built_images`, the
/// pin set's image recipes stand in for the upstream images they name; `tls` is the run's
/// platform certificate (the templates' `tls`).
///
/// Errors (all bad input): unknown stage, invalid settings, template errors, manifests that
/// are not objects, malformed checks, malformed recipes — each naming file and line or
/// document.
pub fn prepare(
    platform: &Platform,
    config: &Config,
    stop_at: Option<&str>,
    probes: bool,
    built_images: bool,
    tls: &PlatformTls,
) -> DeployResult<Vec<PreparedStage>> {
    let mut platform = platform.clone();
    if built_images {
        // Where images are built here, the pin set's recipes stand in for upstream images.
        platform
            .images
            .extend(deployer::images::recipe::stand_ins(&platform.pins_file)?);
    }
    platform.validate_config_stages(config)?;
    let stages = platform.stages_until(stop_at)?.to_vec();
    let mut prepared = Vec::with_capacity(stages.len());
    for stage in stages {
        let context = RenderContext::new(&platform, config, &stage, probes, tls)?;
        let mut manifests = Vec::new();
        for path in &stage.manifests {
            manifests.extend(parse_documents(path, &render_file(path, &context)?)?);
        }
        deployer::config_rollout::stamp(&mut manifests)?;
        let declared = load_checks(&stage, &context, check_defaults(config))?;
        let chart = match &stage.chart {
            Some(chart) => Some(crate::chart_stages::PreparedChart::new(
                chart,
                config,
                render_file(&chart.values, &context)?,
            )?),
            None => None,
        };
        prepared.push(PreparedStage {
            stage,
            manifests,
            checks: declared.checks,
            seed: declared.seed,
            verify: declared.verify,
            chart,
        });
    }
    Ok(prepared)
}

/// The per-check defaults a configuration sets.
pub fn check_defaults(config: &Config) -> CheckDefaults {
    CheckDefaults {
        timeout: Duration::from_secs(config.check_timeout_seconds),
        retries: config.check_retries,
    }
}

/// The resolver endpoint checks use: the platform domain → `endpoint_address`, when set.
pub fn resolver(config: &Config) -> Resolver {
    match config.endpoint_address {
        Some(address) => Resolver::new().with(&config.domain, address),
        None => Resolver::new(),
    }
}

/// Builds what the provider needs (cluster binaries, the pause image and the platform's
/// images, each reported while it builds), then brings it up ([`lifecycle::up`]) with the
/// built images the `prepared` stages use ([`crate::image_use`]).
async fn provider_up(
    options: &IntegrationOptions,
    reporter: &SharedReporter,
    prepared: &[PreparedStage],
) -> Result<(Connection, ProviderHandle)> {
    let kind = options.provider;
    let built_images = options.config.uses_built_images(kind);
    let mut prebuilt = Prebuilt::default();
    let pins_file = options.platform.pins_file.clone();
    let panicked = |source| Error::Panicked {
        step: "building the provider's binaries and images",
        source,
    };
    if kind == ProviderKind::Kind && built_images {
        // kind on podman: kind itself, the node image and the platform's images, built here.
        let reporter = reporter.clone();
        let built = tokio::task::spawn_blocking(move || {
            let (binaries, node) =
                crate::cluster_build::ensure_kind_and_node_image(&pins_file, &*reporter)?;
            let images = crate::cluster_build::ensure_images(&pins_file, &*reporter)?;
            Ok::<_, DeployError>(Prebuilt {
                binaries: Some(binaries),
                images,
                node_image: Some(node),
                ..Prebuilt::default()
            })
        })
        .await
        .map_err(panicked)?;
        prebuilt = built?;
    } else if let Some(recipes) = lifecycle::binaries_needed(kind) {
        let reporter = reporter.clone();
        let built = tokio::task::spawn_blocking(move || {
            let binaries = crate::cluster_build::ensure(recipes, &*reporter)?;
            if !built_images {
                return Ok::<_, DeployError>(Prebuilt {
                    binaries: Some(binaries),
                    ..Prebuilt::default()
                });
            }
            let version = binaries.kubernetes_version();
            let pause = deployer::images::pause::ensure(&version)?;
            let images = crate::cluster_build::ensure_images(&pins_file, &*reporter)?;
            Ok(Prebuilt {
                binaries: Some(binaries),
                pause: Some(pause),
                images,
                node_image: None,
            })
        })
        .await
        .map_err(panicked)?;
        prebuilt = built?;
    }
    let built = prebuilt.images.len();
    prebuilt.images = crate::image_use::used_images(prepared, prebuilt.images);
    tracing::info!(
        used = prebuilt.images.len(),
        built,
        "images built here that the run's stages use"
    );
    let request = ProviderRequest {
        kind,
        config: options.config.clone(),
        kubeconfig: options.kubeconfig.clone(),
        context: options.context.clone(),
        report_dir: options.report_dir.clone(),
        hollow_nodes: options.hollow_nodes,
    };
    Ok(lifecycle::up(&request, &options.platform, prebuilt).await?)
}

/// Renders the chart stages against the connected cluster (and, with `--helm-compare`,
/// compares Helm 3 with Helm 4, reporting the differences and writing `helm-compare.json`).
async fn render_charts(
    options: &IntegrationOptions,
    reporter: &dyn Reporter,
    connection: &Connection,
    helms: &Helms,
    inventory: &Inventory,
    prepared: &mut [PreparedStage],
) -> DeployResult<()> {
    let capabilities = deployer::charts::render::Capabilities::discover(&connection.client).await?;
    if options.helm_compare {
        let comparisons = crate::chart_stages::compare_all(prepared, helms, &capabilities)?;
        let path = options.report_dir.join("helm-compare.json");
        let json = serde_json::to_string_pretty(&comparisons).expect("a comparison serializes");
        if let Err(error) = std::fs::write(&path, json) {
            reporter.report(cannot_write(&path, &error));
        }
        reporter.report(Event::HelmCompared { comparisons });
    }
    let timeout = Duration::from_secs(options.config.check_timeout_seconds);
    crate::chart_stages::render_all(prepared, helms, &capabilities, inventory, timeout)?;
    for stage in prepared.iter() {
        let release = stage
            .chart
            .as_ref()
            .and_then(|chart| chart.release.as_ref());
        for (object, events) in release.map_or(&[][..], |release| &release.not_run[..]) {
            reporter.report(Event::HookNotRun {
                stage: stage.stage.name.clone(),
                object: object.clone(),
                events: events.clone(),
            });
        }
    }
    Ok(())
}

/// The Helms chart stages need, built or found, and every chart stage's tarball fetched (see
/// [`crate::chart_stages::fetch_all`]); nothing when no stage is a chart.
async fn fetch_charts(
    options: &IntegrationOptions,
    mut prepared: Vec<PreparedStage>,
    reporter: &SharedReporter,
) -> Result<(Helms, Vec<PreparedStage>)> {
    if prepared.iter().all(|stage| stage.chart.is_none()) {
        return Ok((Helms::new(), prepared));
    }
    let pins_file = options.platform.pins_file.clone();
    let both = options.helm_compare;
    let reporter = reporter.clone();
    let fetched = tokio::task::spawn_blocking(move || {
        let helms = crate::chart_stages::ensure_helms(&prepared, &pins_file, both, &*reporter)?;
        crate::chart_stages::fetch_all(&mut prepared, &helms)?;
        Ok::<_, DeployError>((helms, prepared))
    })
    .await
    .map_err(|source| Error::Panicked {
        step: "fetching the charts",
        source,
    })??;
    Ok(fetched)
}

/// The Helm of each major a run uses.
type Helms =
    std::collections::BTreeMap<deployer::charts::helm::HelmMajor, deployer::charts::helm::Helm>;

/// Runs the whole integration, reporting each step to `reporter`, and returns its record
/// (the caller sets [`RunRecord::exit_code`] from its exit-code table and writes the reports
/// with [`crate::report::write_all`]).
///
/// Errors: what [`prepare`] finds, and a provider that cannot be reached or started — all
/// before anything is applied. After that it returns a [`RunRecord`], whatever failed.
pub async fn run(options: &IntegrationOptions, reporter: SharedReporter) -> Result<RunRecord> {
    run_with(options, reporter, None).await
}

/// [`run`], with `data` run once the stages and scenarios passed (see [`DataSteps`]).
///
/// Errors: those of [`run`]; with [`IntegrationOptions::upgrade_of`], a run the ledger does
/// not hold as a kept deployment of the same project is bad input.
pub async fn run_with(
    options: &IntegrationOptions,
    reporter: SharedReporter,
    data: Option<&dyn DataSteps>,
) -> Result<RunRecord> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats");
    let probes = options.provider.runs_workloads();
    std::fs::create_dir_all(&options.report_dir).map_err(|source| Error::ReportDir {
        path: options.report_dir.clone(),
        source,
    })?;
    let mut tls = PlatformTls::for_domain(&options.config.project_name, &options.config.domain)?;
    tls.write_ca(&options.report_dir.join(PLATFORM_CA_FILE))?;
    let prepared = prepare(
        &options.platform,
        &options.config,
        options.stop_at.as_deref(),
        probes,
        options.config.uses_built_images(options.provider),
        &tls,
    )?;
    // Chart stages: Helm built or found, every pinned tarball fetched and its digest checked,
    // before the provider starts.
    let (helms, mut prepared) = fetch_charts(options, prepared, &reporter).await?;

    let inventory = Inventory {
        deployment: options.config.project_name.clone(),
        run_id: options.run_id.clone(),
    };
    // A run that still runs or was kept owns the deployment: refused before anything starts
    // (unless it is the kept run this one upgrades).
    let upgrade_of = options.upgrade_of.as_deref();
    earlier_runs::unowned_runs(&options.ledger_dir, &inventory.deployment, upgrade_of)?;
    if let Some(run_id) = upgrade_of {
        earlier_runs::kept_run(&options.ledger_dir, &inventory.deployment, run_id)?;
    }
    let (connection, handle, provider_seconds) =
        bring_up(options, &reporter, &helms, &inventory, &mut prepared).await?;
    let provider_reused = handle.reused();
    let handle = if options.stop_found_provider {
        handle.stopped_at_the_end()
    } else {
        handle
    };
    // The deployment's lease is taken, killed runs of it are swept, and this run's ledger
    // entry is written, before the first apply; a failure here takes the provider down again.
    let claimed = claim(options, &*reporter, &connection, &inventory, &started_at).await;
    let (mut lease, ledger, previous) = match claimed {
        Ok((lease, ledger, previous)) => (Some(lease), ledger, previous),
        Err(error) => {
            let down = handle.down().await;
            for problem in down.problems {
                reporter.report(Event::ProviderProblem { problem });
            }
            return Err(error);
        }
    };
    let mut applier = Applier::new(
        connection.client.clone(),
        inventory.clone(),
        options.config.namespace.clone(),
        Duration::from_secs(options.config.readiness_timeout_seconds),
    )
    .with_ledger(ledger.clone());
    if let Some(previous) = &previous {
        // What the run before generated (passwords, tokens, client secrets) stays.
        applier = applier.keeping_secrets_of(&previous.run_id);
    }
    // From here on SIGINT, SIGTERM and SIGHUP no longer end the process: the run acts on
    // each (a first one tears down, a second one stops waiting for the teardown).
    let signals = StopSignals::watch();
    // An API server that stops answering is known within seconds, not at a wait's timeout.
    let health = ApiHealth::watch(connection.client.clone(), Probe::default());
    let outage_wait = Duration::from_secs(options.config.api_return_timeout_seconds);
    let stops = Stops {
        signals: &signals,
        health: &health,
        outage_wait,
    };
    let Deployed {
        stages: stage_records,
        applied,
        interrupted,
        watches,
        upgrade,
    } = deploy(
        options, &*reporter, applier, &prepared, started, &stops, previous,
    )
    .await;
    let deploy_ended = Instant::now();
    let mut stage_records = stage_records;
    let deploy_passed = stage_records
        .iter()
        .all(|stage| matches!(stage.status, StageStatus::Passed | StageStatus::Skipped))
        && upgrade
            .as_ref()
            .is_none_or(|upgrade| upgrade.problems.is_empty());
    let (scenario_records, scenario_diagnostics) =
        run_scenarios(options, &*reporter, &connection, &stage_records, &stops).await;
    let scenarios_passed = scenario_records
        .iter()
        .all(|scenario| scenario.outcome != scenarios::ScenarioOutcome::Failed);
    let mut data_passed = true;
    if let Some(data) = data.filter(|_| deploy_passed && scenarios_passed) {
        let deployed: Vec<&PreparedStage> = prepared
            .iter()
            .zip(&stage_records)
            .filter(|(_, record)| record.status == StageStatus::Passed)
            .map(|(stage, _)| stage)
            .collect();
        let runner = CheckRunner::with(watches.clone(), resolver(&options.config));
        let context = DataContext {
            client: &connection.client,
            options,
            stages: &deployed,
            runner: &runner,
        };
        if let Some(record) = run_data_steps(&*reporter, context, data, started, &stops).await {
            data_passed = record.status == StageStatus::Passed;
            stage_records.push(record);
        }
    }
    let phases = outage::Phases {
        started,
        deploy_ended,
        scenarios_ended: Instant::now(),
    };
    let deploy_passed = deploy_passed && scenarios_passed && data_passed;

    let mut record = RunRecord {
        run_id: options.run_id.clone(),
        deployment: inventory.deployment.clone(),
        provider: options.provider.to_string(),
        server_url: connection.server_url.clone(),
        config: options.config.source.display().to_string(),
        started_at,
        seconds: 0.0,
        provider_seconds,
        provider_reused,
        stages: stage_records,
        teardown: None,
        sweep: None,
        kept: options.keep
            || (options.keep_on_failure && !deploy_passed)
            || (options.keep_on_success && deploy_passed),
        watches: watches.started(),
        scenarios: scenario_records,
        scenario_diagnostics,
        docker_leftovers: Vec::new(),
        host_leftovers: Vec::new(),
        signal: None,
        teardown_abandoned: false,
        ledger: None,
        sweep_state: SweepState::default(),
        api_outage: None,
        upgrade,
        outcome: Outcome::Passed,
        exit_code: 0,
    };

    watches.stop_all();
    if let Some(reason) = outage::still_gone(&health, outage_wait, &*reporter).await {
        teardown_not_possible(
            options,
            &*reporter,
            &connection,
            probes,
            &mut record,
            reason,
        );
    } else if record.kept {
        record.sweep_state = SweepState::NotRun {
            reason: "the deployment was kept".to_owned(),
        };
        keep(options, &*reporter, &connection, probes, &record);
        let kept = match lease.take() {
            Some(lease) => lease.keep().await,
            None => Ok(()),
        };
        if let Err(error) = kept {
            reporter.report(Event::Warning {
                message: host::error_chain(&error),
            });
        }
        if let Err(error) = ledger.mark_kept() {
            reporter.report(Event::Warning {
                message: host::error_chain(&error),
            });
        }
        if let ProviderHandle::Kind(cluster) = &handle {
            reporter.report(Event::KindClusterKept {
                name: cluster.name.clone(),
                kubeconfig: cluster.kubeconfig.clone(),
            });
        }
    } else {
        let work = async {
            tear_down(options, &*reporter, &connection, &applied, &mut record).await;
            // The deployment is gone: its lease is freed while the cluster still answers, and
            // the probe stops before the provider takes the cluster (and its API server) down
            // on purpose.
            if let Some(lease) = lease.take() {
                release(&*reporter, lease, &record).await;
            }
            health.stop();
            provider_down(&*reporter, handle, &mut record).await;
        };
        match unless_stopped(work, &*reporter, &stops).await {
            None => {}
            Some(Abandoned::Signal(signal)) => {
                let target = write_target(options, &*reporter, &connection, probes);
                reporter.report(Event::TeardownAbandoned {
                    signal,
                    run_id: options.run_id.clone(),
                    target,
                });
                record.teardown_abandoned = true;
                record.sweep_state = SweepState::NotPossible {
                    reason: format!("{} stopped the teardown", signal.describe()),
                };
            }
            Some(Abandoned::Outage(reason)) => {
                teardown_not_possible(
                    options,
                    &*reporter,
                    &connection,
                    probes,
                    &mut record,
                    reason,
                );
            }
        }
    }

    record.api_outage = outage::record(health.first_outage(), &phases);
    // A lease still held here belongs to a teardown that was abandoned or not possible: it is
    // dropped and lapses (the next run of the deployment takes it over).
    drop(lease);
    record.ledger = settle_ledger(&*reporter, &ledger, &record);
    record.signal = signals.first();
    let interrupted = interrupted || record.signal.is_some();
    record.outcome = outcome_of(&record, interrupted, deploy_passed);
    record.seconds = started.elapsed().as_secs_f64();
    Ok(record)
}

/// Takes the deployment's lease in the cluster ([`deployer::lease`]), sweeps every killed run
/// of the deployment the ledger knows (through the cluster just brought up, or the one it
/// recorded), then writes this run's ledger entry. With [`IntegrationOptions::upgrade_of`], the
/// kept run's lease is taken over and its ledger entry becomes part of this run's (its objects
/// recorded here, its file removed); returns its id and objects, the candidates for pruning.
///
/// Errors: [`deployer::Error::Owned`] when another live run or a kept deployment holds the
/// lease; those of [`earlier_runs::settle`] and of writing the entry.
async fn claim(
    options: &IntegrationOptions,
    reporter: &dyn Reporter,
    connection: &Connection,
    inventory: &Inventory,
    started_at: &str,
) -> Result<(HeldLease, Arc<Ledger>, Option<Previous>)> {
    // Runs of this machine that were killed hold a lease that has not lapsed yet: theirs is
    // taken over at once (their objects are swept just below), as is the lease of the kept
    // run this one upgrades.
    let earlier = deployer::ledger::list(&options.ledger_dir)?;
    let upgraded = options.upgrade_of.as_deref();
    let takeover: Vec<String> = earlier
        .iter()
        .filter(|(_, entry)| {
            entry.deployment == inventory.deployment
                && (entry.liveness() == deployer::ledger::Liveness::Stale
                    || Some(entry.run_id.as_str()) == upgraded)
        })
        .map(|(_, entry)| entry.run_id.clone())
        .collect();
    let lease = deployer::lease::take(
        &connection.client,
        &inventory.deployment,
        &inventory.run_id,
        started_at,
        &takeover,
    )
    .await?;
    let deletion_timeout = Duration::from_secs(options.config.deletion_timeout_seconds);
    earlier_runs::settle(
        &options.ledger_dir,
        &inventory.deployment,
        &inventory.run_id,
        upgraded,
        deletion_timeout,
        reporter,
    )
    .await?;
    let entry = deployer::ledger::Entry::for_this_process(
        &inventory.run_id,
        &inventory.deployment,
        &options.provider.to_string(),
        &connection.kubeconfig,
        connection.context.as_deref(),
    );
    let ledger = Arc::new(Ledger::create(&options.ledger_dir, entry)?);
    let mut previous = None;
    if let Some((path, entry)) = earlier
        .into_iter()
        .find(|(_, entry)| Some(entry.run_id.as_str()) == upgraded)
    {
        for object in &entry.objects {
            ledger.record(object)?;
        }
        deployer::ledger::remove(&path)?;
        previous = Some(Previous {
            run_id: entry.run_id,
            objects: entry.objects,
        });
    }
    Ok((lease, ledger, previous))
}

/// The kept run an upgrading run took over: its id and the objects it applied.
struct Previous {
    run_id: String,
    objects: Vec<deployer::inventory::ObjectId>,
}

/// Ends a run without its teardown because the API server does not answer: nothing can be
/// deleted through it, so `target.json` is written, the ledger entry stays, and the event
/// names the command that finishes the work once the server is back.
fn teardown_not_possible(
    options: &IntegrationOptions,
    reporter: &dyn Reporter,
    connection: &Connection,
    probes: bool,
    record: &mut RunRecord,
    reason: String,
) {
    let target = write_target(options, reporter, connection, probes);
    reporter.report(Event::TeardownNotPossible {
        run_id: options.run_id.clone(),
        target,
        reason: reason.clone(),
    });
    record.teardown_abandoned = true;
    record.sweep_state = SweepState::NotPossible { reason };
}

/// Releases the lease of a run whose teardown has just finished; one whose sweep failed or
/// left objects lets it lapse: the next run of the deployment takes it over then.
async fn release(reporter: &dyn Reporter, lease: HeldLease, record: &RunRecord) {
    let swept_clean = matches!(&record.sweep, Some(sweep) if sweep.leftovers.is_empty());
    if !swept_clean {
        return;
    }
    if let Err(error) = lease.release().await {
        reporter.report(Event::Warning {
            message: host::error_chain(&error),
        });
    }
}

/// What becomes of the run's ledger entry at its end: removed when the sweep left nothing;
/// kept (and said) when the deployment was kept, the teardown was abandoned, the sweep
/// failed or objects remain. Returns the entry's path when it stays.
fn settle_ledger(reporter: &dyn Reporter, ledger: &Ledger, record: &RunRecord) -> Option<PathBuf> {
    let reason = if record.kept {
        "the deployment was kept".to_owned()
    } else if record.teardown_abandoned {
        match &record.sweep_state {
            SweepState::NotPossible { reason } => reason.clone(),
            _ => "the teardown was abandoned".to_owned(),
        }
    } else {
        match &record.sweep {
            None => "the sweep failed".to_owned(),
            Some(sweep) if !sweep.leftovers.is_empty() => {
                format!("{} objects remain after the sweep", sweep.leftovers.len())
            }
            Some(_) => {
                return match deployer::ledger::remove(ledger.path()) {
                    Ok(()) => None,
                    Err(error) => {
                        reporter.report(Event::Warning {
                            message: host::error_chain(&error),
                        });
                        Some(ledger.path().to_owned())
                    }
                };
            }
        }
    };
    if !record.kept {
        reporter.report(Event::LedgerKept {
            path: ledger.path().to_owned(),
            reason,
        });
    }
    Some(ledger.path().to_owned())
}

/// Starts (or reuses) the provider and renders the chart stages against it; when Helm refuses
/// a chart the provider goes down again, before anything was applied. Returns the connection,
/// the provider's handle and the seconds bringing it up took.
async fn bring_up(
    options: &IntegrationOptions,
    reporter: &SharedReporter,
    helms: &Helms,
    inventory: &Inventory,
    prepared: &mut [PreparedStage],
) -> Result<(Connection, ProviderHandle, f64)> {
    let provider_started = Instant::now();
    reporter.report(Event::ProviderStarting {
        provider: options.provider.to_string(),
    });
    let (connection, handle) = provider_up(options, reporter, prepared).await?;
    let provider_seconds = provider_started.elapsed().as_secs_f64();
    reporter.report(Event::ProviderReady {
        provider: options.provider.to_string(),
        server_url: connection.server_url.clone(),
        seconds: provider_seconds,
    });

    if !helms.is_empty() {
        // Rendered against the cluster, before anything is applied; a chart Helm refuses
        // (a kubeVersion the cluster does not meet, a values schema violation) stops here,
        // and the provider goes down again.
        let rendered = render_charts(
            options,
            &**reporter,
            &connection,
            helms,
            inventory,
            prepared,
        )
        .await;
        if let Err(error) = rendered {
            let down = handle.down().await;
            for problem in down.problems {
                reporter.report(Event::ProviderProblem { problem });
            }
            return Err(error.into());
        }
    }
    Ok((connection, handle, provider_seconds))
}

/// What the deploy phase leaves for the rest of the run.
struct Deployed {
    /// One record per prepared stage.
    stages: Vec<StageRecord>,
    /// What each stage applied (the teardown deletes it in reverse).
    applied: Vec<(String, Vec<AppliedObject>)>,
    /// Whether a stop signal stopped it.
    interrupted: bool,
    /// The watches the checks used (stopped before the teardown).
    watches: Arc<Watches>,
    /// For a run that upgraded a kept deployment: what it pruned.
    upgrade: Option<UpgradeRecord>,
}

/// An upgrading run's pruning as it goes: the run before, what of it may be pruned, and the
/// record so far.
struct Upgrading {
    previous_run: String,
    /// What the run before applied and this run renders in none of its stages (an object a
    /// later stage applies again is never pruned by an earlier one).
    candidates: Vec<deployer::inventory::ObjectId>,
    record: UpgradeRecord,
    timeout: Duration,
}

impl Upgrading {
    /// The pruning of `previous` by a run that renders `prepared`.
    fn new(previous: Previous, prepared: &[PreparedStage], timeout: Duration) -> Upgrading {
        let rendered: Vec<&Manifest> = prepared
            .iter()
            .flat_map(|stage| stage.all_objects())
            .collect();
        // A manifest without a namespace matches the object in any.
        let renders = |id: &deployer::inventory::ObjectId| {
            rendered.iter().any(|manifest| {
                manifest.kind() == id.kind
                    && manifest.name() == id.name
                    && manifest
                        .object
                        .metadata
                        .namespace
                        .as_ref()
                        .is_none_or(|namespace| Some(namespace) == id.namespace.as_ref())
            })
        };
        Upgrading {
            candidates: previous
                .objects
                .into_iter()
                .filter(|id| !renders(id))
                .collect(),
            record: UpgradeRecord {
                from_run: previous.run_id.clone(),
                ..UpgradeRecord::default()
            },
            previous_run: previous.run_id,
            timeout,
        }
    }

    /// Prunes the candidates the previous run applied in stages `of_stage` accepts, reporting
    /// each deletion; returns the problems.
    async fn prune(
        &mut self,
        applier: &mut Applier,
        of_stage: impl Fn(&str) -> bool,
        reporter: &dyn Reporter,
    ) -> Vec<String> {
        let pruned = deployer::prune::prune(
            applier,
            &self.previous_run,
            of_stage,
            &self.candidates,
            self.timeout,
        )
        .await;
        for (stage, object) in &pruned.deleted {
            reporter.report(Event::Pruned {
                stage: stage.clone(),
                object: object.to_string(),
            });
        }
        self.record.pruned.extend(
            pruned
                .deleted
                .into_iter()
                .map(|(stage, object)| PrunedObject { stage, object }),
        );
        self.record.kept.extend(pruned.kept);
        self.record.problems.extend(pruned.problems.iter().cloned());
        pruned.problems
    }
}

/// Deploys and checks the stages in order (skipping those this provider cannot run) until one
/// fails or a stop signal arrives; an interrupted stage's applied objects are recorded for the
/// teardown.
async fn deploy(
    options: &IntegrationOptions,
    reporter: &dyn Reporter,
    mut applier: Applier,
    prepared: &[PreparedStage],
    run_started: Instant,
    stops: &Stops<'_>,
    previous: Option<Previous>,
) -> Deployed {
    let mut stage_records: Vec<StageRecord> = prepared
        .iter()
        .map(|stage| StageRecord::not_run(&stage.stage.name))
        .collect();
    let mut applied: Vec<(String, Vec<AppliedObject>)> = Vec::new();
    let watches = Arc::new(Watches::new(applier.client().clone()));
    let runner = CheckRunner::with(watches.clone(), resolver(&options.config));

    let stage_context = StageContext {
        reporter,
        run_started,
        report_dir: &options.report_dir,
        diagnostics: options.diagnostics,
        namespace: &options.config.namespace,
    };
    for (stage, record) in prepared.iter().zip(stage_records.iter_mut()) {
        if let Some(reason) = skip_reason(options.config.uses_built_images(options.provider), stage)
        {
            record.status = StageStatus::Skipped;
            record.error = Some(reason);
        }
    }
    let deletion_timeout = Duration::from_secs(options.config.deletion_timeout_seconds);
    let mut upgrading =
        previous.map(|previous| Upgrading::new(previous, prepared, deletion_timeout));
    let removed_stages = options
        .stop_at
        .is_none()
        .then(|| options.platform.stage_names());
    let deploy = async {
        let passed = deploy_stages(
            prepared,
            &mut applier,
            &runner,
            &mut stage_records,
            &mut applied,
            &stage_context,
            &mut upgrading,
        )
        .await;
        // After the last stage: what the run before applied in stages this platform no
        // longer has (not with --stop-at: the later stages were not deployed at all).
        if let (true, Some(upgrading), Some(stages)) = (passed, upgrading.as_mut(), &removed_stages)
        {
            let of_removed = |stage: &str| !stages.iter().any(|name| name == stage);
            upgrading.prune(&mut applier, of_removed, reporter).await;
        }
    };
    let stopped = tokio::select! {
        () = deploy => None,
        signal = stops.signals.nth(1) => {
            reporter.report(Event::Interrupted { during: "deploy".to_owned(), signal });
            Some(None)
        }
        lost = stops.health.lost() => {
            reporter.report(outage::lost_event("deploy", &lost, stops.outage_wait));
            Some(Some(lost))
        }
    };
    let interrupted = matches!(stopped, Some(None));
    if let Some(Some(lost)) = &stopped {
        outage::fail_running_stage(&mut stage_records, applied.len(), lost);
    }
    if stopped.is_some() {
        // The interrupted stage never recorded its objects; the teardown below deletes them.
        for (record, (_, objects)) in stage_records.iter_mut().zip(&applied) {
            if record.objects.is_empty() {
                record.objects = objects.iter().map(|object| object.id.clone()).collect();
            }
        }
    }
    Deployed {
        stages: stage_records,
        applied,
        interrupted,
        watches,
        upgrade: upgrading.map(|upgrading| upgrading.record),
    }
}

/// The browser scenarios, once the hub stage passed (records of skipped scenarios when it was
/// skipped on this provider, none when it did not pass or a stop signal came); a stop signal
/// during them stops them. When one failed (and diagnostics are not off), the platform
/// namespace's bundle is collected right after them ([`crate::scenario_diagnostics`]).
async fn run_scenarios(
    options: &IntegrationOptions,
    reporter: &dyn Reporter,
    connection: &Connection,
    stages: &[StageRecord],
    stops: &Stops<'_>,
) -> (
    Vec<scenarios::ScenarioRecord>,
    Option<crate::scenario_diagnostics::ScenarioBundle>,
) {
    let Some(hub) = stages
        .iter()
        .find(|stage| stage.name == crate::scenarios::HUB_STAGE)
    else {
        return (Vec::new(), None);
    };
    let records = match hub.status {
        StageStatus::Skipped => {
            let reason = format!(
                "the {} stage was skipped on {}: {}",
                hub.name,
                options.provider,
                hub.error.as_deref().unwrap_or("")
            );
            scenarios::run::skip_all(&scenarios::Scenario::ALL, &reason)
        }
        StageStatus::Passed if stops.signals.first().is_none() => {
            let scenarios = crate::scenarios::run_platform_scenarios(
                &options.config,
                options.provider,
                &connection.client,
                &options.report_dir,
            );
            tokio::select! {
                records = scenarios => records,
                signal = stops.signals.nth(1) => {
                    reporter.report(Event::Interrupted { during: "scenarios".to_owned(), signal });
                    Vec::new()
                }
                lost = stops.health.lost() => {
                    reporter.report(outage::lost_event("scenarios", &lost, stops.outage_wait));
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    report_scenarios(reporter, &records);
    let failed = records
        .iter()
        .any(|record| record.outcome == scenarios::ScenarioOutcome::Failed);
    if !failed || options.diagnostics == DiagnosticsMode::Never {
        return (records, None);
    }
    let namespace = &options.config.namespace;
    match crate::scenario_diagnostics::collect(&connection.client, namespace, &options.report_dir)
        .await
    {
        Ok(bundle) => {
            reporter.report(Event::ScenarioDiagnostics {
                dir: options.report_dir.join(&bundle.dir),
                pods: bundle.pods.clone(),
                warnings: bundle.warnings.clone(),
            });
            (records, Some(bundle))
        }
        Err(error) => {
            reporter.report(Event::Warning {
                message: format!(
                    "failed to write the diagnostics of the failed scenarios to {}: {error}",
                    options
                        .report_dir
                        .join(crate::scenario_diagnostics::DIR)
                        .display()
                ),
            });
            (records, None)
        }
    }
}

/// Runs the caller's [`DataSteps`] and reports them as the checks of a stage of their own;
/// `None` when a stop signal or an outage stopped them (the run then tears down as usual).
async fn run_data_steps(
    reporter: &dyn Reporter,
    context: DataContext<'_>,
    data: &dyn DataSteps,
    run_started: Instant,
    stops: &Stops<'_>,
) -> Option<StageRecord> {
    let stage = data.stage().to_owned();
    let mut record = StageRecord::not_run(&stage);
    record.started_seconds = run_started.elapsed().as_secs_f64();
    reporter.report(Event::ChecksStarted {
        stage: stage.clone(),
        checks: 0,
    });
    let started = Instant::now();
    let mut checks = tokio::select! {
        checks = data.run(context) => checks,
        signal = stops.signals.nth(1) => {
            reporter.report(Event::Interrupted { during: stage, signal });
            return None;
        }
        lost = stops.health.lost() => {
            reporter.report(outage::lost_event(&stage, &lost, stops.outage_wait));
            return None;
        }
    };
    record.checks_seconds = started.elapsed().as_secs_f64();
    for check in &mut checks {
        check.started_seconds += record.started_seconds;
        reporter.report(Event::CheckFinished {
            trial: format!("{stage}::{}", check.name),
            result: check.result,
            message: check.message.clone(),
        });
    }
    record.checks = checks;
    let passed = record
        .checks
        .iter()
        .all(|check| check.result != CheckResult::Failed);
    reporter.report(Event::StageFinished {
        stage: stage.clone(),
        objects: 0,
        ready_seconds: 0.0,
        checks: record.check_summary(),
        passed,
    });
    record.status = if passed {
        StageStatus::Passed
    } else {
        StageStatus::ChecksFailed
    };
    Some(record)
}

/// What stops a run's phases: stop signals, and an API server that stopped answering.
struct Stops<'a> {
    signals: &'a StopSignals,
    health: &'a ApiHealth,
    /// How long the run waits for a lost API server to answer again.
    outage_wait: Duration,
}

/// Why the teardown was given up.
enum Abandoned {
    /// A second stop signal.
    Signal(StopSignal),
    /// The API server stopped answering and did not return in time; why.
    Outage(String),
}

/// Runs `work` (the teardown) to its end, unless a second stop signal arrives first, or the
/// API server stops answering for longer than the wait: then says which and drops `work`
/// where it was. A first signal during `work` is reported and does not stop it, nor does an
/// outage that ends in time.
async fn unless_stopped(
    work: impl std::future::Future<Output = ()>,
    reporter: &dyn Reporter,
    stops: &Stops<'_>,
) -> Option<Abandoned> {
    let signals = stops.signals;
    let before = signals.count();
    let stop = async {
        if before == 0 {
            let signal = signals.nth(1).await;
            reporter.report(Event::SignalDuringTeardown { signal });
        }
        signals.nth(2).await
    };
    tokio::select! {
        () = work => None,
        signal = stop => Some(Abandoned::Signal(signal)),
        reason = outage::gives_up(stops.health, stops.outage_wait, reporter) => {
            Some(Abandoned::Outage(reason))
        }
    }
}

/// Brings the provider down and records (and reports) what it left behind.
async fn provider_down(reporter: &dyn Reporter, handle: ProviderHandle, record: &mut RunRecord) {
    let down = handle.down().await;
    for problem in &down.problems {
        reporter.report(Event::ProviderProblem {
            problem: problem.clone(),
        });
    }
    for leftover in &down.docker_leftovers {
        reporter.report(Event::Leftover {
            what: format!(
                "docker {} {} (labelled for the run's cluster)",
                leftover.kind, leftover.name
            ),
        });
    }
    for leftover in &down.host_leftovers {
        reporter.report(Event::Leftover {
            what: format!("on the host: {leftover}"),
        });
    }
    record.docker_leftovers = down.docker_leftovers;
    record.host_leftovers = down.host_leftovers;
}

/// How the run ended: interrupted, failed (a stage, check or scenario), leftovers (anything
/// the sweep or the provider left; a kept run without a sweep is not a leftover), or passed.
fn outcome_of(record: &RunRecord, interrupted: bool, deploy_passed: bool) -> Outcome {
    let leftovers = match &record.sweep {
        Some(sweep) => !sweep.leftovers.is_empty(),
        None => !record.kept,
    } || !record.docker_leftovers.is_empty()
        || !record.host_leftovers.is_empty();
    if interrupted {
        Outcome::Interrupted
    } else if !deploy_passed {
        Outcome::Failed
    } else if leftovers {
        Outcome::Leftovers
    } else {
        Outcome::Passed
    }
}

/// One event per scenario record.
fn report_scenarios(reporter: &dyn Reporter, records: &[scenarios::ScenarioRecord]) {
    for record in records {
        reporter.report(Event::ScenarioFinished {
            record: record.clone(),
        });
    }
}

/// The warning for a file the run could not write.
fn cannot_write(path: &std::path::Path, error: &std::io::Error) -> Event {
    Event::Warning {
        message: format!("failed to write {}: {error}", path.display()),
    }
}

/// Leaves the deployment running: writes `target.json` and reports what was kept.
fn keep(
    options: &IntegrationOptions,
    reporter: &dyn Reporter,
    connection: &Connection,
    probes: bool,
    record: &RunRecord,
) {
    let path = write_target(options, reporter, connection, probes);
    reporter.report(Event::DeploymentKept {
        deployment: options.config.project_name.clone(),
        run_id: options.run_id.clone(),
        target: path,
        because_failed: !options.keep && !options.keep_on_success,
        stages: record
            .stages
            .iter()
            .filter(|stage| !stage.objects.is_empty())
            .map(|stage| {
                let objects = stage.objects.iter().map(ToString::to_string).collect();
                (stage.name.clone(), objects)
            })
            .collect(),
    });
}

/// Writes `<report dir>/target.json`, what `cargo xtask teardown` and `check` need to find the
/// deployment again, and returns its path; a file that cannot be written is a warning event.
fn write_target(
    options: &IntegrationOptions,
    reporter: &dyn Reporter,
    connection: &Connection,
    probes: bool,
) -> PathBuf {
    let target = Target {
        deployment: options.config.project_name.clone(),
        run_id: options.run_id.clone(),
        kubeconfig: connection.kubeconfig.clone(),
        context: connection.context.clone(),
        platform_dir: options.platform_dir.clone(),
        config_source: options.config.source.clone(),
        config_text: options.config.text.clone(),
        probes,
        provider: options.provider,
        platform_ca: Some(options.report_dir.join(PLATFORM_CA_FILE)),
    };
    let path = options.report_dir.join("target.json");
    if let Err(error) = target.save(&path) {
        reporter.report(cannot_write(&path, &error));
    }
    path
}

/// Deletes the applied stages in reverse order, then sweeps; records both in `record`.
async fn tear_down(
    options: &IntegrationOptions,
    reporter: &dyn Reporter,
    connection: &Connection,
    applied: &[(String, Vec<AppliedObject>)],
    record: &mut RunRecord,
) {
    let deletion_timeout = Duration::from_secs(options.config.deletion_timeout_seconds);
    reporter.report(Event::TeardownStarted);
    // The labels this run applied with (see `run`): each stage's objects by collection.
    let inventory = Inventory {
        deployment: options.config.project_name.clone(),
        run_id: options.run_id.clone(),
    };
    let report = teardown::destroy(
        &connection.client,
        Some(&inventory),
        applied,
        deletion_timeout,
    )
    .await;
    for kept in &report.kept {
        reporter.report(Event::KeptOnPurpose {
            object: kept.to_string(),
        });
    }
    record.teardown = Some(TeardownRecord {
        deleted: report.deleted,
        problems: report.problems,
        kept: report.kept,
        claims_deleted: report.claims_deleted,
        seconds: report.seconds,
    });
    let selector = deployer::inventory::deployment_selector(&record.deployment);
    reporter.report(Event::SweepStarted { selector });
    match sweep::sweep(&connection.client, &record.deployment, deletion_timeout).await {
        Ok(report) => {
            record.sweep = Some(report);
            record.sweep_state = SweepState::Done;
        }
        Err(error) => {
            let reason = host::error_chain(&error);
            reporter.report(Event::SweepFailed {
                error: reason.clone(),
            });
            record.sweep_state = SweepState::Failed { reason };
        }
    }
}

/// Why `stage` is not deployed on `provider`, if it is not: on `local`, a stage whose pods
/// run images that are not built on this machine (no registry can be reached here, so a
/// pod of an upstream image could never start; the pin set's recipes say which are built).
pub fn skip_reason(built_images: bool, stage: &PreparedStage) -> Option<String> {
    if !built_images {
        return None;
    }
    let mut images: Vec<String> = stage
        .all_objects()
        .flat_map(|manifest| container_images(&manifest.object.data))
        .filter(|image| !image.starts_with(deployer::images::recipe::REPOSITORY_PREFIX))
        .collect();
    images.sort();
    images.dedup();
    (!images.is_empty()).then(|| {
        format!(
            "its images are not built on this machine yet ({}); `--provider local` and kind's built node image run only images built here",
            images.join(", ")
        )
    })
}

/// The `image` of every container and init container in an object (a pod template at any
/// depth: Deployments, StatefulSets, Jobs, CronJobs, Pods).
fn container_images(value: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                if matches!(key.as_str(), "containers" | "initContainers") {
                    if let Some(containers) = child.as_array() {
                        found.extend(containers.iter().filter_map(|container| {
                            container
                                .get("image")
                                .and_then(|image| image.as_str())
                                .map(str::to_owned)
                        }));
                    }
                } else {
                    found.extend(container_images(child));
                }
            }
        }
        serde_json::Value::Array(items) => found.extend(items.iter().flat_map(container_images)),
        _ => {}
    }
    found
}

/// What [`deploy_stages`] needs besides the stages: the run's clock, where bundles go.
struct StageContext<'a> {
    reporter: &'a dyn Reporter,
    run_started: Instant,
    report_dir: &'a std::path::Path,
    diagnostics: DiagnosticsMode,
    namespace: &'a str,
}

async fn deploy_stages(
    prepared: &[PreparedStage],
    applier: &mut Applier,
    runner: &CheckRunner,
    records: &mut [StageRecord],
    applied: &mut Vec<(String, Vec<AppliedObject>)>,
    context: &StageContext<'_>,
    upgrading: &mut Option<Upgrading>,
) -> bool {
    for (stage, record) in prepared.iter().zip(records.iter_mut()) {
        let name = &stage.stage.name;
        record.started_seconds = context.run_started.elapsed().as_secs_f64();
        applied.push((name.clone(), Vec::new()));
        if record.status == StageStatus::Skipped {
            context.reporter.report(Event::StageSkipped {
                stage: name.clone(),
                reason: record.error.clone().unwrap_or_default(),
            });
            continue;
        }
        let objects = &mut applied.last_mut().expect("just pushed").1;
        context.reporter.report(Event::StageApplying {
            stage: name.clone(),
            objects: stage.object_count(),
        });
        let mut timings = StageTimings::default();
        let release = stage.chart.as_ref().and_then(|chart| {
            chart
                .release
                .as_ref()
                .map(|release| (chart.namespace.as_str(), release))
        });
        let result = match release {
            Some((namespace, release)) => {
                deployer::charts::install::install(
                    applier,
                    name,
                    namespace,
                    release,
                    &stage.manifests,
                    objects,
                    &mut timings,
                )
                .await
            }
            None => {
                applier
                    .apply_stage(name, &stage.manifests, objects, &mut timings)
                    .await
            }
        };
        record.objects = objects.iter().map(|object| object.id.clone()).collect();
        record.apply_seconds = timings.apply_seconds;
        record.wait_seconds = timings.wait_seconds;
        if let Err(error) = result {
            context.reporter.report(Event::StageDeployFailed {
                stage: name.clone(),
                error: host::error_chain(&error),
            });
            record.status = StageStatus::DeployFailed;
            record.error = Some(host::error_chain(&error));
            record.error_class = Some(host::Classify::class(&error));
            return false;
        }
        // An upgrade: what the run before applied in this stage and this one no longer
        // renders goes before the checks judge the stage.
        if let Some(upgrading) = upgrading.as_mut() {
            let problems = upgrading
                .prune(applier, |label| label == name, context.reporter)
                .await;
            if !problems.is_empty() {
                let error = format!(
                    "failed to prune the upgraded stage: {}",
                    problems.join("; ")
                );
                context.reporter.report(Event::StageDeployFailed {
                    stage: name.clone(),
                    error: error.clone(),
                });
                record.status = StageStatus::DeployFailed;
                record.error = Some(error);
                return false;
            }
        }
        context.reporter.report(Event::ChecksStarted {
            stage: name.clone(),
            checks: stage.checks.len(),
        });
        let checks_started = Instant::now();
        let outcomes = run_checks(runner, &stage.checks).await;
        record.checks_seconds = checks_started.elapsed().as_secs_f64();
        let mut checks = Vec::with_capacity(outcomes.len());
        for (check, outcome) in stage.checks.iter().zip(outcomes) {
            let result = CheckResult::from(outcome.verdict);
            context.reporter.report(Event::CheckFinished {
                trial: check.trial_name(),
                result,
                message: outcome.message.clone(),
            });
            let wanted = match context.diagnostics {
                DiagnosticsMode::Always => true,
                DiagnosticsMode::OnFailure => result == CheckResult::Failed,
                DiagnosticsMode::Never => false,
            };
            let diagnostics = if wanted {
                bundle(runner, check, context).await
            } else {
                None
            };
            checks.push(CheckRecord {
                diagnostics,
                ..CheckRecord::of(check, outcome, context.run_started)
            });
        }
        record.checks = checks;
        let passed = record
            .checks
            .iter()
            .all(|check| matches!(check.result, CheckResult::Passed | CheckResult::Flaky));
        context.reporter.report(Event::StageFinished {
            stage: name.clone(),
            objects: record.objects.len(),
            ready_seconds: timings.apply_seconds + timings.wait_seconds,
            checks: record.check_summary(),
            passed,
        });
        if !passed {
            record.status = StageStatus::ChecksFailed;
            return false;
        }
        record.status = StageStatus::Passed;
    }
    true
}

/// Writes one check's diagnostics bundle; returns its directory relative to the report dir.
async fn bundle(runner: &CheckRunner, check: &Check, context: &StageContext<'_>) -> Option<String> {
    let relative = format!("diagnostics/{}/{}", check.stage, check.name);
    let dir = context.report_dir.join(&relative);
    match diagnostics::collect(runner.watches(), check, context.namespace, &dir).await {
        Ok(_) => Some(relative),
        Err(error) => {
            context.reporter.report(Event::Warning {
                message: format!(
                    "failed to write the diagnostics of {} to {}: {error}",
                    check.trial_name(),
                    dir.display()
                ),
            });
            None
        }
    }
}
