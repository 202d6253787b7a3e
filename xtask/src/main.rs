//! `cargo xtask`: the one command maintainers type.
//!
//! Each subcommand is a struct with a `run` method; the logic lives in the library crates
//! (`deployer`, `harness`). Exit codes are shared by every subcommand (see [`exit`]).

mod bench;
mod exit;
mod helm;
mod hollow;
mod images;
mod integration;
mod kind;
mod lint_tools;
mod local;
mod pins;
mod pins_trial;
mod scenarios;
mod teardown;
mod terminal;
mod test;
mod upgrade;

use clap::{Parser, Subcommand};

/// Put a Kubernetes data-science platform through its sea trial.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy the platform stage by stage, check every stage, tear it down and sweep leftovers.
    ///
    /// Writes report.json, junit.xml, summary.md (also appended to $GITHUB_STEP_SUMMARY when
    /// set), timeline.svg and a diagnostics bundle per failed check to the report directory.
    /// Exit codes: 0 passed, 1 a check failed or a stage did not become ready, 2 bad input
    /// (also a manifest the API server refuses, or a deployment another run owns),
    /// 3 leftovers remain after teardown and sweep (Kubernetes objects, or Docker objects of the
    /// run's kind cluster), 4 environment missing (package, hollow binaries, `kind` or a Docker
    /// engine, unreachable API server, a cluster binary that cannot be built); a run a stop
    /// signal ended (after its teardown) 130 SIGINT, 143 SIGTERM, 129 SIGHUP. Providers: local (the default config's: a real node on this machine, root), hollow, existing, kind, k3s. See
    /// docs/integration.md, docs/providers.md and docs/checks.md.
    Integration(integration::Integration),
    /// Upgrade trial: deploy --from, seed user data, upgrade the same deployment in place to
    /// --to, verify the data, tear down and sweep.
    ///
    /// --from and --to each name a git revision of this repository (its deployer/stages and
    /// pins/pins.toml as committed), a pin set file (the working tree's platform at its
    /// versions) or a platform directory; --to defaults to the working tree. The first
    /// deployment is checked and browsed like `integration`, then seeded (`seed::*` checks)
    /// and kept; the second applies the new platform over it with server-side apply, prunes
    /// and lists what the new version no longer has, checks and browses again, verifies the
    /// seeded data (`upgrade::*` checks) and tears everything down. A first deployment that
    /// fails is torn down and the upgrade is not tried. Writes upgrade.json, upgrade.md and
    /// each deployment's reports (from/, to/). Exit codes: those of `integration`, from the
    /// first deployment that did not pass. See docs/upgrade.md.
    Upgrade(upgrade::Upgrade),
    /// Manage the local hollow cluster (a real control plane with fake kubelets).
    ///
    /// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubemark hollow nodes
    /// on loopback, of the pinned releases built from the Go module proxy (cached in
    /// ~/.cache/seatrial/cluster, or SEATRIAL_CLUSTER_BIN); state, logs and the kubeconfig live in
    /// ~/.local/state/seatrial/hollow (or SEATRIAL_HOLLOW_STATE). See docs/hollow-cluster.md.
    #[command(subcommand)]
    Hollow(hollow::Hollow),
    /// Manage the local cluster: the hollow control plane plus a real node on this machine.
    ///
    /// containerd, runc, the CNI bridge `seatrial0`, kubelet, kube-proxy and CoreDNS, of the
    /// pinned releases built from the Go module proxy (cached in ~/.cache/seatrial/cluster,
    /// or SEATRIAL_CLUSTER_BIN). Needs root. Everything listens on loopback or the bridge;
    /// pods get no route out. State and logs: ~/.local/state/seatrial/local (or
    /// SEATRIAL_LOCAL_STATE). `down` leaves nothing on the host. See docs/local-cluster.md.
    #[command(subcommand)]
    Local(local::Local),
    /// Manage kind clusters a run left running (`integration --provider kind --keep`).
    ///
    /// `down` deletes one and undoes what its creating run changed on the host (on podman:
    /// kind's network, podman's CNI chains, an empty /lib/modules), then lists what of it
    /// remains. See docs/providers.md.
    #[command(subcommand)]
    Kind(kind::Kind),
    /// Build the platform's images from the pin set's recipes (docs/images.md).
    ///
    /// Each `[recipes.*]` names a pinned Debian suite, Debian packages and pinned PyPI or npm
    /// packages; mmdebstrap makes the root, pip and npm install the packages, and the result
    /// is an OCI archive in ~/.cache/seatrial/images, cached by a hash of the recipe.
    /// `--provider local` imports them and uses them in place of the upstream images; on kind,
    /// `kind load image-archive` takes them. `build` also assembles kind's node image (Debian
    /// with systemd, containerd, runc, kubeadm, kubelet and the control plane's images
    /// preloaded), which kind on podman runs. Needs root. Exit codes: 0 built, 2 a package
    /// version the registry does not list (nothing is built), 4 a registry or Debian mirror
    /// unreachable, mmdebstrap or a package install failed.
    #[command(subcommand)]
    Images(images::Images),
    /// Tear down and sweep a deployment kept with `integration --keep`, or what a killed run
    /// left (from the run ledger: `--run`, `--deployment`, `--stale`).
    ///
    /// Deletes every object carrying the deployment's inventory labels, in every served
    /// resource type, lists what it deleted and what remains, and forgets the runs in the
    /// ledger (~/.local/state/seatrial/runs). A run that still runs is not touched. Exit
    /// codes: 0 nothing left, 2 bad input (no such run, or it still runs), 3 leftovers
    /// remain, 4 the cluster is unreachable. See docs/integration.md.
    Teardown(teardown::Teardown),
    /// Run the test suite against the hollow cluster (the README's test command).
    ///
    /// Starts or reuses the hollow cluster, deploys the platform once for the stage-check
    /// trials, runs `cargo nextest run --workspace --run-ignored all`, then removes that
    /// deployment and stops the cluster if it started it. See docs/testing.md.
    Test(test::Test),
    /// Drive a JupyterHub in headless Chromium: log in, run a notebook, log out, use a token,
    /// check who may open the admin page.
    ///
    /// Runs the scenarios login, spawn_and_run_notebook, logout, hub_api_token and roles
    /// (or those named with --only; roles needs --admin-user and --analyst-user), each in a fresh browser, with every step timed. A failure leaves
    /// screenshot.png, page.html, console.log and url.txt in <report-dir>/scenarios/<name>/;
    /// scenarios.json and junit.xml go to the report dir. Needs Debian's chromium and
    /// chromium-driver. Exit codes: 0 passed, 1 a scenario failed, 2 bad input (unknown
    /// scenario, unset password variable, unreachable hub), 4 chromium or chromedriver
    /// missing. See docs/scenarios.md.
    Scenarios(scenarios::Scenarios),
    /// The pin set (pins/pins.toml): list, check, outdated, lock, bump, pr.
    ///
    /// Every chart, image, tool and manifest bundle the platform is built from is pinned in
    /// one file. `check` proves each still resolves (exit 1 naming broken pins, their URL and
    /// HTTP status, and where a relocation rule found them); `bump` and `pr` move pins to the
    /// newest version their policy allows. Exit codes: 0 fine, 1 a pin needs attention, 2 bad
    /// input (file, line and key), 4 no TLS trust store. See docs/pins.md.
    Pins(pins::Pins),
    /// Run the pinned Helm 3 (or, with --major 4, Helm 4) with the arguments after `--`.
    ///
    /// The Helm that renders chart stages: built from the Go module proxy at `[tools.helm]` /
    /// `[tools.helm4]` (cached in ~/.cache/seatrial/cluster), or your own `helm` when its
    /// version is the pinned one; Helm's cache, config and data homes are seatrial's own
    /// (~/.cache/seatrial/helm). Exits with Helm's exit code; 4 when it cannot be built.
    /// See docs/charts.md.
    Helm(helm::HelmCommand),
    /// Benchmarks that print ratios against the peers (not timed tests). See docs/benchmarks.md.
    #[command(subcommand)]
    Bench(bench::Bench),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEATRIAL_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "warn,kube_client=off,deployer=info,harness=info,xtask=info",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(async {
        match cli.command {
            Command::Integration(command) => command.run().await,
            Command::Upgrade(command) => command.run().await,
            Command::Hollow(command) => command.run().await,
            Command::Local(command) => command.run().await,
            Command::Kind(command) => command.run().await,
            Command::Images(command) => command.run().await,
            Command::Teardown(command) => command.run().await,
            Command::Test(command) => command.run().await,
            Command::Scenarios(command) => command.run().await,
            Command::Pins(command) => command.run().await,
            Command::Helm(command) => command.run().await,
            Command::Bench(command) => command.run().await,
        }
    });
    std::process::ExitCode::from(code)
}
