//! `cargo xtask integration`: deploy, check, tear down, sweep, report.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use deployer::config::{Config, ProviderKind};
use deployer::inventory::new_run_id;
use deployer::platform::default_platform_dir;
use deployer::providers::hollow::cluster::DEFAULT_NODES;
use harness::diagnostics::DiagnosticsMode;
use harness::events::{Event, SharedReporter};
use harness::integration::IntegrationOptions;
use harness::report::{stage_table, RunRecord};

use crate::exit;

/// Where to deploy.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProviderArg {
    /// The local hollow cluster (built and started if needed, stopped again if this run started it).
    Hollow,
    /// A running cluster reached through --kubeconfig / --context (or the config's `existing`).
    Existing,
    /// A kind cluster: created (or reused with --reuse), deleted at teardown; on Docker with
    /// the pinned node image and `kind` from PATH, on podman (root) with kind and the node
    /// image built here (see --kind-engine).
    Kind,
    /// A k3s container started with testcontainers, removed at teardown; needs a Docker engine.
    K3s,
    /// The local cluster with a real node (containerd, kubelet, CNI; root): real containers.
    /// Started if needed, stopped again (leaving nothing on the host) if this run started it.
    /// Stages whose images are not built here yet are reported skipped.
    Local,
}

/// When to write diagnostics bundles.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DiagnosticsArg {
    /// For failed checks only.
    OnFailure,
    /// For every check.
    Always,
    /// Never.
    Never,
}

impl From<ProviderArg> for ProviderKind {
    fn from(provider: ProviderArg) -> ProviderKind {
        match provider {
            ProviderArg::Hollow => ProviderKind::Hollow,
            ProviderArg::Existing => ProviderKind::Existing,
            ProviderArg::Kind => ProviderKind::Kind,
            ProviderArg::K3s => ProviderKind::K3s,
            ProviderArg::Local => ProviderKind::Local,
        }
    }
}

impl From<DiagnosticsArg> for DiagnosticsMode {
    fn from(diagnostics: DiagnosticsArg) -> DiagnosticsMode {
        match diagnostics {
            DiagnosticsArg::OnFailure => DiagnosticsMode::OnFailure,
            DiagnosticsArg::Always => DiagnosticsMode::Always,
            DiagnosticsArg::Never => DiagnosticsMode::Never,
        }
    }
}

/// Arguments of the subcommand (its help text is on `Command` in main.rs).
#[derive(Args)]
pub struct Integration {
    /// Where to deploy; overrides the config's `provider`.
    #[arg(long, value_enum)]
    provider: Option<ProviderArg>,
    /// Configuration file (YAML); the embedded default (everything on the hollow cluster) when absent.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Platform directory (platform.yaml and one directory per stage).
    #[arg(long, value_name = "DIR", default_value_os_t = default_platform_dir())]
    platform: PathBuf,
    /// Deploy and check the stages up to and including this one only.
    #[arg(long, value_name = "STAGE")]
    stop_at: Option<String>,
    /// Keep the deployment (and a hollow cluster this run started) instead of tearing down.
    #[arg(long, conflicts_with = "keep_on_failure")]
    keep: bool,
    /// Tear down only when everything passed; after a failure keep the deployment, print what
    /// was kept and how to remove it (`cargo xtask teardown --run <id>`).
    #[arg(long)]
    keep_on_failure: bool,
    /// When to write a diagnostics bundle (events, logs, objects, node conditions) per check.
    #[arg(long, value_enum, default_value_t = DiagnosticsArg::OnFailure)]
    diagnostics: DiagnosticsArg,
    /// Where to write report.json, junit.xml, summary.md, timeline.svg, diagnostics/ (and target.json when kept) [default: target/seatrial/<run-id>, linked from target/seatrial/latest].
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Kubeconfig for --provider existing [default: the config's, $KUBECONFIG, ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context for --provider existing [default: its current context].
    #[arg(long)]
    context: Option<String>,
    /// With --provider kind: deploy into a running kind cluster of the same name and leave it
    /// running afterwards (the config's `kind.reuse`).
    #[arg(long)]
    reuse: bool,
    /// With --provider kind: the container engine kind runs its nodes in (the config's
    /// `kind.engine`) [default: Docker if its engine answers, else podman]. On podman the
    /// node image and the platform's images are built here (`images build`), no registry.
    #[arg(long, value_name = "docker|podman", value_parser = crate::kind::engine_parser())]
    kind_engine: Option<deployer::config::KindEngine>,
    /// Hollow nodes, when this run starts the hollow cluster.
    #[arg(long, default_value_t = DEFAULT_NODES)]
    nodes: usize,
    /// Render every chart stage with Helm 3 and with Helm 4 against the cluster, print the
    /// objects and field paths that differ and write helm-compare.json, then deploy with the
    /// configured Helm (docs/charts.md).
    #[arg(long)]
    helm_compare: bool,
    /// Which Helm renders chart stages that do not choose one: 3 or 4 (the config's `helm`).
    #[arg(long, value_name = "3|4", value_parser = ["3", "4"])]
    helm: Option<String>,
    /// Print the run's events as JSON lines on stdout (`{"event":"stage_finished",…}`, then one
    /// `run_finished` line) instead of spinners, lines and the stage table (docs/integration.md).
    #[arg(long)]
    json: bool,
}

/// Runs the integration with `reporter`, sets the record's exit code from the table in
/// [`exit`] and writes its reports (a report that cannot be written is a warning event).
///
/// Errors: those of [`harness::integration::run`], all before anything is applied.
pub async fn run_and_report(
    options: &IntegrationOptions,
    reporter: SharedReporter,
) -> Result<RunRecord, harness::Error> {
    let mut record = harness::integration::run(options, reporter.clone()).await?;
    record.exit_code = exit::of_run(&record);
    for (path, error) in harness::report::write_all(&record, &options.report_dir) {
        reporter.report(Event::Warning {
            message: format!("failed to write {}: {error}", path.display()),
        });
    }
    Ok(record)
}

impl Integration {
    pub async fn run(self) -> u8 {
        let mut config = match &self.config {
            Some(path) => match Config::load(path) {
                Ok(config) => config,
                Err(error) => return exit::report(&error),
            },
            None => Config::embedded_default(),
        };
        let provider = self.provider.map_or(config.provider, ProviderKind::from);
        if self.reuse {
            if provider != ProviderKind::Kind {
                eprintln!(
                    "error: --reuse applies to --provider kind only (the provider is {provider})"
                );
                return exit::BAD_INPUT;
            }
            config.kind.reuse = true;
        }
        if let Some(engine) = self.kind_engine {
            if provider != ProviderKind::Kind {
                eprintln!(
                    "error: --kind-engine applies to --provider kind only (the provider is {provider})"
                );
                return exit::BAD_INPUT;
            }
            config.kind.engine = Some(engine);
        }
        if provider == ProviderKind::K3s && (self.keep || self.keep_on_failure) {
            eprintln!("error: --keep and --keep-on-failure need a cluster that outlives the run; the k3s container is removed when the run ends (use --provider kind --keep)");
            return exit::BAD_INPUT;
        }
        match self.helm.as_deref() {
            Some("3") => config.helm = Some(deployer::charts::helm::HelmMajor::Helm3),
            Some("4") => config.helm = Some(deployer::charts::helm::HelmMajor::Helm4),
            _ => {}
        }
        // The platform, loaded once for the whole run.
        let platform = match deployer::platform::Platform::load(&self.platform) {
            Ok(platform) => platform,
            Err(error) => return exit::report(&error),
        };
        deployer::providers::lifecycle::apply_defaults(&mut config, provider, &platform);
        if config.uses_built_images(provider) {
            // A package version its registry does not list stops the run before any build.
            if let Err(code) = crate::pins::check_packages(&platform.pins_file).await {
                return code;
            }
        }
        let run_id = new_run_id();
        let default_report_dir = self.report_dir.is_none();
        let report_dir = self
            .report_dir
            .unwrap_or_else(|| exit::reports_root().join(&run_id));
        let options = IntegrationOptions {
            platform_dir: self.platform,
            platform,
            kubeconfig: self
                .kubeconfig
                .or_else(|| config.existing.kubeconfig.clone()),
            context: self.context.or_else(|| config.existing.context.clone()),
            config,
            provider,
            stop_at: self.stop_at,
            keep: self.keep,
            keep_on_failure: self.keep_on_failure,
            diagnostics: self.diagnostics.into(),
            report_dir: report_dir.clone(),
            run_id,
            hollow_nodes: self.nodes,
            helm_compare: self.helm_compare,
            ledger_dir: deployer::ledger::runs_dir(),
            keep_on_success: false,
            upgrade_of: None,
            stop_found_provider: false,
        };
        let reporter: SharedReporter = if self.json {
            std::sync::Arc::new(crate::terminal::JsonLines)
        } else {
            std::sync::Arc::new(crate::terminal::Terminal::new())
        };
        let record = match run_and_report(&options, reporter.clone()).await {
            Ok(record) => record,
            Err(error) => {
                let code = exit::report(&error);
                if self.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "event": "run_failed",
                            "error": host::error_chain(&error),
                            "exit_code": code,
                        })
                    );
                }
                return code;
            }
        };
        if (record.kept || record.teardown_abandoned) && !default_report_dir {
            // `cargo xtask teardown --run <id>` looks under target/seatrial/<id>/.
            let by_run = exit::reports_root().join(&record.run_id);
            let copied = std::fs::create_dir_all(&by_run).and_then(|()| {
                std::fs::copy(report_dir.join("target.json"), by_run.join("target.json"))
            });
            if let Err(error) = copied {
                reporter.report(Event::Warning {
                    message: format!(
                        "failed to copy target.json to {}: {error}",
                        by_run.display()
                    ),
                });
            }
        }
        if default_report_dir {
            // target/seatrial/latest always points at the newest run's reports.
            let latest = exit::reports_root().join("latest");
            let _ = std::fs::remove_file(&latest);
            if let Err(error) = std::os::unix::fs::symlink(&report_dir, &latest) {
                reporter.report(Event::Warning {
                    message: format!("failed to link {}: {error}", latest.display()),
                });
            }
        }
        if self.json {
            println!(
                "{}",
                serde_json::json!({
                    "event": "run_finished",
                    "run_id": record.run_id,
                    "outcome": record.outcome,
                    "exit_code": record.exit_code,
                    "seconds": record.seconds,
                    "report_dir": report_dir,
                })
            );
            return record.exit_code;
        }
        println!("\n{}", stage_table(&record));
        if let Some(sweep) = &record.sweep {
            let reported = record.teardown.as_ref().map_or(&[][..], |t| &t.kept[..]);
            exit::print_leftovers(sweep, reported);
        }
        println!(
            "run {}: {:?} in {:.1} s; {}; reports in {}",
            record.run_id,
            record.outcome,
            record.seconds,
            record.counts_line(),
            report_dir.display()
        );
        record.exit_code
    }
}
