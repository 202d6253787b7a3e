//! `cargo xtask test`: the README's test command.
//!
//! Installs Chromium, ChromeDriver and the local JupyterHub for the browser scenario tests and
//! Debian's docker-registry for the pins tests,
//! builds the test binaries, brings the hollow cluster up (or reuses it), deploys the platform once and keeps it so the
//! stage-check trials have something to check, runs `cargo nextest run --workspace
//! --run-ignored all` with `SEATRIAL_KUBECONFIG` and `SEATRIAL_TARGET` set, then sweeps that
//! deployment and stops the cluster if it started it — whatever the tests did. Without a
//! Docker engine the kind tests run on podman (kind and its node image built first) and the
//! `needs docker` test (k3s) is filtered out; without either engine, both; a line says so.

use std::process::Stdio;

use clap::Args;
use deployer::config::{Config, ProviderKind};
use deployer::inventory::new_run_id;
use deployer::platform::default_platform_dir;
use deployer::providers::hollow::cluster::{self, DEFAULT_NODES};
use deployer::providers::hollow::HollowPaths;
use deployer::sweep::sweep;
use harness::integration::{IntegrationOptions, DELETION_TIMEOUT};
use harness::target::TARGET_ENV;

use crate::exit;

/// Environment variable the cluster tests read: the hollow cluster's kubeconfig.
pub const KUBECONFIG_ENV: &str = "SEATRIAL_KUBECONFIG";

/// The label the discovery tests put on the APIServices they break discovery with (a group
/// answering 503, one answering 404). While one exists no namespace can finish deleting, so a
/// test run killed before it deleted its own is cleaned up before the next run deploys.
pub const BROKEN_ON_PURPOSE: &str = "seatrial.dev/broken-on-purpose=true";

/// The deployment the stage-check trials run against.
const TRIALS_CONFIG: &str =
    "project_name: trials\nnamespace: trials\ndomain: trials.seatrial.test\nprovider: hollow\n";

/// Arguments of the subcommand (its help text is on `Command` in main.rs).
#[derive(Args)]
pub struct Test {
    /// Extra arguments for `cargo nextest run` (e.g. `-- -E 'test(sweep)'`).
    #[arg(last = true)]
    nextest_args: Vec<String>,
}

/// Debian packages the tests run for real: Chromium and ChromeDriver (browser scenarios),
/// and the CNCF Distribution registry (the pins tests' OCI registry).
const TEST_PACKAGES: [&str; 3] = [
    "chromium",
    "chromium-driver",
    pins::testbed::registry::PACKAGE,
];

/// Installs what the tests need when it is missing: Chromium, ChromeDriver and
/// docker-registry (apt, as root) and the local JupyterHub (a venv from PyPI and
/// configurable-http-proxy from npm, pinned in scenarios/local-hub/).
async fn ensure_test_fixtures() -> Result<(), u8> {
    let installed = tokio::task::spawn_blocking(|| {
        let missing: Vec<String> = [
            scenarios::driver::CHROMIUM,
            scenarios::driver::CHROMEDRIVER,
            pins::testbed::registry::BINARY,
        ]
            .into_iter()
            .filter(|path| !std::path::Path::new(path).exists())
            .map(str::to_owned)
            .collect();
        host::packages::ensure_debian_packages(&TEST_PACKAGES, &missing)
            .map_err(|error| error.to_string())?;
        let dir = scenarios::local_hub::default_install_dir();
        let started = std::time::Instant::now();
        let install = scenarios::local_hub::LocalHubInstall::ensure(&dir).map_err(|error| error.to_string())?;
        tracing::info!(dir = %install.dir.display(), seconds = started.elapsed().as_secs_f64(), "local JupyterHub ready");
        let lint = crate::lint_tools::ensure()?;
        tracing::info!(dir = %lint.display(), "workflow linters ready (actionlint, zizmor)");
        Ok::<(), String>(())
    })
    .await;
    match installed {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            Err(exit::ENVIRONMENT_MISSING)
        }
        Err(error) => {
            eprintln!("error: installing the test fixtures panicked: {error}");
            Err(exit::ENVIRONMENT_MISSING)
        }
    }
}

/// Installs cargo-nextest at the pin set's `tools.nextest` version from crates.io
/// (`cargo install cargo-nextest --locked --version X`), as a fresh machine lacks it.
async fn install_nextest() -> Result<(), u8> {
    let tag = match deployer::pins::load_tool_tag(&deployer::pins::default_pins_file(), "nextest") {
        Ok(tag) => tag,
        Err(error) => return Err(exit::report(&error)),
    };
    let version = tag.trim_start_matches("cargo-nextest-").to_owned();
    eprintln!("cargo-nextest is not installed: installing {version} from crates.io (cargo install --locked; a few minutes, once)");
    let status = tokio::process::Command::new("cargo")
        .args([
            "install",
            "cargo-nextest",
            "--locked",
            "--version",
            &version,
        ])
        .status()
        .await;
    if status.is_ok_and(|status| status.success()) {
        Ok(())
    } else {
        eprintln!("error: installing cargo-nextest {version} failed\n  hint: cargo install cargo-nextest --locked");
        Err(exit::ENVIRONMENT_MISSING)
    }
}

/// The container-engine tests: `#[ignore = "needs a container engine"]` (kind, on Docker or
/// podman) and `#[ignore = "needs docker"]` (k3s through testcontainers), in one binary.
const ENGINE_TESTS: &str = "binary_id(xtask::docker)";
/// Those of them that need Docker itself: k3s (testcontainers talks to Docker's API).
const DOCKER_ONLY_TESTS: &str = "(binary_id(xtask::docker) and test(/k3s/))";

/// Which container engine the engine tests get here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engines {
    /// None: every engine test is left out.
    None,
    /// Podman (installed by the kind provider, as root, when missing): the kind tests run on
    /// it, with the node image built here.
    Podman,
    /// A Docker engine answers: all of them run.
    Docker,
}

/// Whether `docker info` succeeds (a Docker engine answers).
fn docker_engine_answers() -> bool {
    std::process::Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Set (non-empty) to leave the container-engine tests out even where an engine runs (the PR
/// workflow's container; the nightly workflow runs them on Docker).
pub const SKIP_DOCKER_ENV: &str = "SEATRIAL_SKIP_DOCKER_TESTS";

fn engines_here() -> Engines {
    let skipped = std::env::var_os(SKIP_DOCKER_ENV).is_some_and(|value| !value.is_empty());
    if skipped {
        eprintln!("{SKIP_DOCKER_ENV} is set: the container-engine tests are left out");
        return Engines::None;
    }
    if docker_engine_answers() {
        return Engines::Docker;
    }
    if deployer::providers::kind::detect_engine() == deployer::config::KindEngine::Podman {
        Engines::Podman
    } else {
        Engines::None
    }
}

/// The nextest arguments: the engine tests this machine cannot run are filtered out (every
/// `-E` filter gets `and not` them, or one is added), and a line says so.
fn engine_filter(args: &[String], engines: Engines) -> Vec<String> {
    let excluded = match engines {
        Engines::Docker => return args.to_vec(),
        Engines::Podman => {
            eprintln!("no Docker engine (`docker info` fails): the kind tests run on podman; the `needs docker` tests ({DOCKER_ONLY_TESTS}) are left out, the nightly workflow runs them");
            DOCKER_ONLY_TESTS
        }
        Engines::None => {
            eprintln!("no container engine: the engine tests ({ENGINE_TESTS}) are left out; the nightly workflow runs them");
            ENGINE_TESTS
        }
    };
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut filtered = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if matches!(arg.as_str(), "-E" | "--filterset" | "--filter-expr") {
            if let Some(expression) = iter.next() {
                out.push(arg.clone());
                out.push(format!("({expression}) and not {excluded}"));
                filtered = true;
                continue;
            }
        }
        out.push(arg.clone());
    }
    if !filtered {
        out.push("-E".into());
        out.push(format!("not {excluded}"));
    }
    out
}

/// On podman, what the kind tests deploy is built before they run (once, not per test):
/// kind from the Go module proxy and the node image.
async fn ensure_kind_on_podman() -> Result<(), u8> {
    let built = tokio::task::spawn_blocking(|| {
        let pins = deployer::pins::default_pins_file();
        harness::cluster_build::ensure_kind_and_node_image(&pins, &crate::terminal::Terminal::new())
            .map(|_| ())
    })
    .await;
    match built {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(exit::report(&error)),
        Err(error) => {
            eprintln!("error: building kind's node image panicked: {error}");
            Err(exit::ENVIRONMENT_MISSING)
        }
    }
}

impl Test {
    pub async fn run(self) -> u8 {
        let nextest = std::process::Command::new("cargo")
            .args(["nextest", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !nextest.is_ok_and(|status| status.success()) {
            if let Err(code) = install_nextest().await {
                return code;
            }
        }
        if let Err(code) = ensure_test_fixtures().await {
            return code;
        }
        // Build every test binary before the cluster starts: two cores compiling starve the
        // hollow kubelets' heartbeats, and a compile error should fail fast.
        let build = tokio::process::Command::new("cargo")
            .args(["nextest", "list", "--workspace", "--run-ignored", "all"])
            .stdout(Stdio::null())
            .status()
            .await;
        if !build.is_ok_and(|status| status.success()) {
            eprintln!("error: building the tests failed");
            return exit::CHECKS_FAILED;
        }
        // The local cluster's binaries and pause image too: its tests start real nodes.
        let binaries = match crate::local::ensure_built() {
            Ok((binaries, _pause)) => binaries,
            Err(code) => return code,
        };
        // And the platform's images (cargo xtask images build), which the local runs deploy.
        let pins_file = deployer::pins::default_pins_file();
        if let Err(code) = crate::pins::check_packages(&pins_file).await {
            return code;
        }
        let images = tokio::task::spawn_blocking(move || {
            harness::cluster_build::ensure_images(&pins_file, &crate::terminal::Terminal::new())
        })
        .await;
        match images {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return exit::report(&error),
            Err(error) => {
                eprintln!("error: the image build panicked: {error}");
                return exit::ENVIRONMENT_MISSING;
            }
        }
        // And Helm 3 and 4 (chart stages): built once here, not by two tests at a time.
        let helms = tokio::task::spawn_blocking(|| {
            let pins = deployer::pins::default_pins_file();
            deployer::charts::helm::HelmMajor::ALL
                .into_iter()
                .try_for_each(|major| {
                    harness::cluster_build::with_events(
                        &crate::terminal::Terminal::new(),
                        |on_event| deployer::charts::helm::Helm::ensure(&pins, major, on_event),
                    )
                    .map(|_| ())
                })
        })
        .await;
        match helms {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return exit::report(&error),
            Err(error) => {
                eprintln!("error: the Helm build panicked: {error}");
                return exit::ENVIRONMENT_MISSING;
            }
        }
        let paths = HollowPaths::from_env();
        let up = match cluster::up(&paths, DEFAULT_NODES, &binaries).await {
            Ok(up) => up,
            Err(error) => return exit::report(&error),
        };
        eprintln!(
            "hollow cluster {} ({} in {:.1} s)",
            up.state.api_server_url,
            if up.reused { "reused" } else { "started" },
            up.seconds
        );
        let code = self.deploy_and_test(&up.state.kubeconfig).await;
        if !up.reused {
            if let Err(error) = cluster::down(&paths) {
                eprintln!(
                    "warning: failed to stop the hollow cluster: {}",
                    host::error_chain(&error)
                );
            }
        }
        code
    }

    async fn deploy_and_test(&self, kubeconfig: &std::path::Path) -> u8 {
        remove_broken_on_purpose(kubeconfig).await;
        let mut config = Config::parse(std::path::Path::new("<xtask test config>"), TRIALS_CONFIG)
            .expect("the trials config is valid");
        let platform = match deployer::platform::Platform::load(&default_platform_dir()) {
            Ok(platform) => platform,
            Err(error) => return exit::report(&error),
        };
        deployer::providers::lifecycle::apply_defaults(
            &mut config,
            ProviderKind::Hollow,
            &platform,
        );
        let report_dir = exit::reports_root().join("xtask-test-target");
        // The suite's runs keep their ledger apart from the maintainer's, and start from an
        // empty one: an earlier, killed suite's entries name deployments of that suite only.
        let state_dir = exit::reports_root().join("xtask-test-state");
        let _ = std::fs::remove_dir_all(&state_dir);
        let ledger_dir = state_dir.join("runs");
        let options = IntegrationOptions {
            platform_dir: default_platform_dir(),
            platform,
            config,
            provider: ProviderKind::Hollow,
            kubeconfig: None,
            context: None,
            stop_at: None,
            keep: true,
            keep_on_failure: false,
            diagnostics: harness::diagnostics::DiagnosticsMode::OnFailure,
            report_dir: report_dir.clone(),
            run_id: new_run_id(),
            hollow_nodes: DEFAULT_NODES,
            helm_compare: false,
            ledger_dir: ledger_dir.clone(),
            keep_on_success: false,
            upgrade_of: None,
            stop_found_provider: false,
        };
        let kept = crate::integration::run_and_report(
            &options,
            std::sync::Arc::new(crate::terminal::Terminal::new()),
        )
        .await;
        let deploy_code = match &kept {
            Ok(record) => record.exit_code,
            Err(error) => exit::report(error),
        };
        let engines = engines_here();
        if engines == Engines::Podman {
            if let Err(code) = ensure_kind_on_podman().await {
                return code;
            }
        }
        let mut command = tokio::process::Command::new("cargo");
        command
            .args(["nextest", "run", "--workspace", "--run-ignored", "all"])
            .args(engine_filter(&self.nextest_args, engines))
            .env(KUBECONFIG_ENV, kubeconfig)
            .env(TARGET_ENV, report_dir.join("target.json"))
            .env(deployer::ledger::STATE_ENV, &state_dir)
            .kill_on_drop(true);
        let status = match command.status().await {
            Ok(status) => status,
            Err(error) => {
                eprintln!("error: failed to run cargo nextest: {error}");
                return exit::ENVIRONMENT_MISSING;
            }
        };
        // The kept deployment goes whatever happened above.
        if let Ok(connection) =
            deployer::providers::connect(kubeconfig, None, cluster::UP_HINT).await
        {
            match sweep(
                &connection.client,
                &options.config.project_name,
                DELETION_TIMEOUT,
            )
            .await
            {
                Ok(report) => {
                    exit::print_leftovers(&report, &[]);
                    if !report.leftovers.is_empty() {
                        return exit::LEFTOVERS;
                    }
                    let entry = ledger_dir.join(format!("{}.json", options.run_id));
                    if let Err(error) = deployer::ledger::remove(&entry) {
                        eprintln!("warning: {}", host::error_chain(&error));
                    }
                }
                Err(error) => {
                    eprintln!(
                        "warning: the sweep of the trials deployment failed: {}",
                        host::error_chain(&error)
                    )
                }
            }
        }
        if deploy_code != exit::SUCCESS {
            eprintln!(
                "error: deploying the trials deployment failed (exit {deploy_code}); see {}",
                report_dir.display()
            );
            return deploy_code;
        }
        match status.code() {
            Some(0) => exit::SUCCESS,
            _ => exit::CHECKS_FAILED,
        }
    }
}

/// Deletes APIServices labelled [`BROKEN_ON_PURPOSE`] that an earlier, killed test run left.
async fn remove_broken_on_purpose(kubeconfig: &std::path::Path) {
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
    use kube::api::{Api, DeleteParams, ListParams};

    let Ok(connection) = deployer::providers::connect(kubeconfig, None, cluster::UP_HINT).await
    else {
        return;
    };
    let api: Api<APIService> = Api::all(connection.client);
    let left = match api
        .list(&ListParams::default().labels(BROKEN_ON_PURPOSE))
        .await
    {
        Ok(list) => list.items,
        Err(error) => {
            eprintln!("warning: failed to list APIServices left by a killed test run: {error}");
            return;
        }
    };
    for service in left {
        let name = service.metadata.name.unwrap_or_default();
        eprintln!("removing APIService {name}, left broken on purpose by a killed test run");
        if let Err(error) = api.delete(&name, &DeleteParams::default()).await {
            eprintln!("warning: failed to delete APIService {name}: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_tests_are_filtered_out_only_where_no_engine_runs_them() {
        let user = vec![
            "-E".to_owned(),
            "test(sweep)".to_owned(),
            "--no-capture".to_owned(),
        ];
        assert_eq!(engine_filter(&user, Engines::Docker), user);
        assert_eq!(
            engine_filter(&user, Engines::None),
            [
                "-E",
                "(test(sweep)) and not binary_id(xtask::docker)",
                "--no-capture"
            ]
        );
        assert_eq!(
            engine_filter(&[], Engines::None),
            ["-E", "not binary_id(xtask::docker)"]
        );
        assert_eq!(
            engine_filter(&[], Engines::Podman),
            ["-E", "not (binary_id(xtask::docker) and test(/k3s/))"]
        );
    }
}
