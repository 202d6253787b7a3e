//! `cargo xtask upgrade`: the upgrade trial (deploy `--from`, seed, upgrade in place to `--to`,
//! verify, tear down; `harness::upgrade`).

use std::path::{Path, PathBuf};

use clap::Args;
use deployer::config::{Config, ProviderKind};
use deployer::inventory::new_run_id;
use deployer::platform::{default_platform_dir, Platform};
use deployer::providers::hollow::cluster::DEFAULT_NODES;
use harness::events::SharedReporter;
use harness::integration::IntegrationOptions;
use harness::report::{CheckResult, RunRecord};
use harness::upgrade::seeds::{SEED_STAGE, VERIFY_STAGE};
use harness::upgrade::{PlatformSource, TrialRecord, UpgradeOptions};

use crate::exit;
use crate::integration::{DiagnosticsArg, ProviderArg};

/// Arguments of the subcommand (its help text is on `Command` in main.rs).
#[derive(Args)]
pub struct Upgrade {
    /// What to deploy first: a git revision of this repository (its deployer/stages and
    /// pins/pins.toml as committed), a pin set file (.toml: the working tree's platform at
    /// that file's versions) or a platform directory (with platform.yaml).
    #[arg(long, value_name = "REVISION|PINS|DIR")]
    from: String,
    /// What to upgrade it to, in the same forms [default: the working tree's platform and pin set].
    #[arg(long, value_name = "REVISION|PINS|DIR")]
    to: Option<String>,
    /// Where to deploy; overrides the config's `provider`.
    #[arg(long, value_enum)]
    provider: Option<ProviderArg>,
    /// Configuration file (YAML); the embedded default when absent.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where to write upgrade.json, upgrade.md and each deployment's reports (from/, to/)
    /// [default: target/seatrial/upgrade-<run-id>].
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// When to write a diagnostics bundle per check.
    #[arg(long, value_enum, default_value_t = DiagnosticsArg::OnFailure)]
    diagnostics: DiagnosticsArg,
    /// Hollow nodes, when the trial starts the hollow cluster.
    #[arg(long, default_value_t = DEFAULT_NODES)]
    nodes: usize,
}

/// One side of the trial, loaded.
struct Side {
    source: PlatformSource,
    platform: Platform,
    config: Config,
}

/// A trial to run: what `cargo xtask upgrade` was given, or what `pins pr` asks for.
pub struct TrialRequest {
    /// `--from`: a revision, pin set file or platform directory.
    pub from: String,
    /// `--to` [default: the working tree's platform].
    pub to: Option<String>,
    /// The provider [default: the config's].
    pub provider: Option<ProviderArg>,
    /// The config file [default: the embedded one].
    pub config: Option<PathBuf>,
    /// Where the trial's reports go.
    pub report_dir: PathBuf,
    /// When to write diagnostics bundles.
    pub diagnostics: DiagnosticsArg,
    /// Hollow nodes, when the trial starts the hollow cluster.
    pub nodes: usize,
}

impl Upgrade {
    pub async fn run(self) -> u8 {
        let report_dir = self
            .report_dir
            .unwrap_or_else(|| exit::reports_root().join(format!("upgrade-{}", new_run_id())));
        let request = TrialRequest {
            from: self.from,
            to: self.to,
            provider: self.provider,
            config: self.config,
            report_dir,
            diagnostics: self.diagnostics,
            nodes: self.nodes,
        };
        run_trial(&request).await.0
    }
}

/// Runs a trial, prints its versions, phases and data checks, writes upgrade.json and
/// upgrade.md; returns its exit code and record (none when it could not start: bad input, or
/// an error before the first apply, already printed).
pub async fn run_trial(request: &TrialRequest) -> (u8, Option<TrialRecord>) {
    let config = match &request.config {
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(error) => return (exit::report(&error), None),
        },
        None => Config::embedded_default(),
    };
    let provider = request.provider.map_or(config.provider, ProviderKind::from);
    let report_dir = &request.report_dir;
    let repository = harness::upgrade::source::repository_root();
    let work_dir = report_dir.join("platforms");
    let to = request
        .to
        .clone()
        .unwrap_or_else(|| default_platform_dir().display().to_string());
    let (from, to) = match (
        side(&request.from, &repository, &work_dir, &config, provider),
        side(&to, &repository, &work_dir, &config, provider),
    ) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(error), _) | (_, Err(error)) => return (exit::report(&error), None),
    };
    if from.config.uses_built_images(provider) {
        for side in [&from, &to] {
            if let Err(code) = crate::pins::check_packages(&side.platform.pins_file).await {
                return (code, None);
            }
        }
    }
    let changes = match (
        deployer::pinset::load::load(&from.platform.pins_file),
        deployer::pinset::load::load(&to.platform.pins_file),
    ) {
        (Ok(old), Ok(new)) => harness::upgrade::pin_changes(&old, &new),
        (Err(error), _) | (_, Err(error)) => {
            return (exit::report(&pins::Error::from(error)), None)
        }
    };
    eprintln!(
        "upgrade: {} → {}",
        from.source.describe(),
        to.source.describe()
    );
    for change in &changes {
        eprintln!("  {change}");
    }
    if changes.is_empty() {
        eprintln!("  (no pinned version differs)");
    }
    let sources = (from.source.describe(), to.source.describe());
    let options = UpgradeOptions {
        from: integration_options(request, from, provider, report_dir.join("from")),
        to: integration_options(request, to, provider, report_dir.join("to")),
    };
    let reporter: SharedReporter = std::sync::Arc::new(crate::terminal::Terminal::new());
    let mut trial = match harness::upgrade::run(&options, sources, changes, reporter.clone()).await
    {
        Ok(trial) => trial,
        Err(error) => return (exit::report(&error), None),
    };
    finish(&mut trial.from, &options.from.report_dir, &reporter);
    if let Some(to) = trial.to.as_mut() {
        finish(to, &options.to.report_dir, &reporter);
    }
    let code = match &trial.to {
        Some(to) if trial.from.exit_code == exit::SUCCESS => to.exit_code,
        _ => trial.from.exit_code,
    };
    write_trial(&trial, report_dir);
    print_trial(&trial, report_dir);
    (code, Some(trial))
}

/// One deployment's options: `side`'s platform and config on `provider`, a run id of its own.
fn integration_options(
    request: &TrialRequest,
    side: Side,
    provider: ProviderKind,
    report_dir: PathBuf,
) -> IntegrationOptions {
    IntegrationOptions {
        platform_dir: side.platform.root.clone(),
        platform: side.platform,
        kubeconfig: side.config.existing.kubeconfig.clone(),
        context: side.config.existing.context.clone(),
        config: side.config,
        provider,
        stop_at: None,
        keep: false,
        keep_on_failure: false,
        diagnostics: request.diagnostics.into(),
        report_dir,
        run_id: new_run_id(),
        hollow_nodes: request.nodes,
        helm_compare: false,
        ledger_dir: deployer::ledger::runs_dir(),
        keep_on_success: false,
        upgrade_of: None,
        stop_found_provider: false,
    }
}

/// Reads one `--from` / `--to` and loads its platform, with the provider's defaults applied to
/// a copy of the config.
fn side(
    text: &str,
    repository: &Path,
    work_dir: &Path,
    config: &Config,
    provider: ProviderKind,
) -> Result<Side, deployer::Error> {
    let source = PlatformSource::parse(text, repository)?;
    let platform = source.load(repository, work_dir)?;
    let mut config = config.clone();
    deployer::providers::lifecycle::apply_defaults(&mut config, provider, &platform);
    Ok(Side {
        source,
        platform,
        config,
    })
}

/// Sets a deployment's exit code and writes its reports (a report that cannot be written is a
/// warning).
fn finish(record: &mut RunRecord, dir: &Path, reporter: &SharedReporter) {
    record.exit_code = exit::of_run(record);
    for (path, error) in harness::report::write_all(record, dir) {
        reporter.report(harness::events::Event::Warning {
            message: format!("failed to write {}: {error}", path.display()),
        });
    }
}

/// Writes upgrade.json, upgrade.md and (when the upgrade ran) timeline.svg, both deployments
/// on one axis, into the trial's report dir.
fn write_trial(trial: &TrialRecord, dir: &Path) {
    if let Some(to) = &trial.to {
        let combined = harness::upgrade::timeline::combined(&trial.from, to);
        let path = dir.join("timeline.svg");
        if let Err(error) = std::fs::write(&path, harness::report::timeline_svg(&combined)) {
            eprintln!("warning: failed to write {}: {error}", path.display());
        }
    }
    let json = serde_json::to_string_pretty(trial).expect("a trial record serializes");
    if let Err(error) = std::fs::write(dir.join("upgrade.json"), json) {
        eprintln!(
            "warning: failed to write {}: {error}",
            dir.join("upgrade.json").display()
        );
    }
    if let Err(error) = std::fs::write(dir.join("upgrade.md"), trial_markdown(trial)) {
        eprintln!(
            "warning: failed to write {}: {error}",
            dir.join("upgrade.md").display()
        );
    }
}

/// The trial as Markdown: the versions that changed, then each phase with its duration, its
/// data checks and (for the upgrade) what it pruned.
fn trial_markdown(trial: &TrialRecord) -> String {
    let mut text = format!(
        "# Upgrade trial: {:?}\n\n{} → {}\n\n## Versions changed\n\n",
        trial.outcome, trial.from_source, trial.to_source
    );
    if trial.changes.is_empty() {
        text.push_str("No pinned version differs.\n");
    }
    for change in &trial.changes {
        text.push_str(&format!("- {change}\n"));
    }
    if trial.to.is_some() {
        text.push_str("\n![Both deployments on one time axis](timeline.svg)\n");
    }
    for (phase, record) in ["Before the upgrade (from/)", "The upgrade (to/)"]
        .into_iter()
        .zip(trial.runs())
    {
        text.push_str(&format!(
            "\n## {phase}\n\nrun {}: {:?} in {:.1} s; {}\n\n",
            record.run_id,
            record.outcome,
            record.seconds,
            record.counts_line()
        ));
        for stage in &record.stages {
            text.push_str(&format!("- stage {}: {:?}\n", stage.name, stage.status));
        }
        for check in data_checks(record) {
            text.push_str(&format!("- {check}\n"));
        }
        if let Some(upgrade) = &record.upgrade {
            for pruned in &upgrade.pruned {
                text.push_str(&format!(
                    "- pruned {} (stage {})\n",
                    pruned.object, pruned.stage
                ));
            }
            for problem in &upgrade.problems {
                text.push_str(&format!("- prune FAILED: {problem}\n"));
            }
        }
    }
    text
}

/// The `seed::*` and `upgrade::*` checks of a run, a line each.
pub fn data_checks(record: &RunRecord) -> Vec<String> {
    record
        .stages
        .iter()
        .filter(|stage| [SEED_STAGE, VERIFY_STAGE].contains(&stage.name.as_str()))
        .flat_map(|stage| {
            stage.checks.iter().map(move |check| {
                format!(
                    "{}::{} {}: {}",
                    stage.name,
                    check.name,
                    check.result.word(),
                    check.message
                )
            })
        })
        .collect()
}

/// Prints the trial's phases and data checks.
fn print_trial(trial: &TrialRecord, dir: &Path) {
    println!();
    for (phase, record) in ["from", "to"].into_iter().zip(trial.runs()) {
        println!(
            "{phase:>4}: run {} {:?} in {:.1} s (exit {}); {}",
            record.run_id,
            record.outcome,
            record.seconds,
            record.exit_code,
            record.counts_line()
        );
        for check in data_checks(record) {
            println!("      {check}");
        }
        if let Some(upgrade) = &record.upgrade {
            println!("      pruned {} objects", upgrade.pruned.len());
        }
    }
    let failed = trial
        .runs()
        .flat_map(|record| &record.stages)
        .flat_map(|stage| &stage.checks)
        .filter(|check| check.result == CheckResult::Failed)
        .count();
    println!(
        "upgrade trial: {:?}; {failed} checks failed; reports in {}",
        trial.outcome,
        dir.display()
    );
}
