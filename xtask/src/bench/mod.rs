//! `cargo xtask bench …`: benchmarks that print ratios (never timed tests).

mod charts;
mod metrics;
mod pins;
mod readiness;

use clap::Subcommand;

/// The `bench` subcommands (the group's help text is on `Command` in main.rs).
#[derive(Subcommand)]
pub enum Bench {
    /// Readiness-wait latency and API cost: our harness waits vs `kubectl wait`, the real
    /// chainsaw (built at the pin set's `[tools.chainsaw]`), a 1 s poll loop (kuttl-like) and
    /// a 50 ms poll loop (chainsaw-like), on the hollow cluster; ratios to seatrial.
    ///
    /// Creates N custom resources of a benchmark CRD (with a status subresource), then writes
    /// `status.conditions[type=Ready]=True` on each at a recorded instant T0, spread over
    /// --spread-seconds; each method reports the instant T1 it saw each object ready, on the
    /// same clock. Requests are counted from the API server's `apiserver_request_total`
    /// (GET/LIST/WATCH on the benchmark resource), read before and after each method, one
    /// method at a time. See docs/benchmarks.md.
    Readiness(readiness::Readiness),
    /// `pins check` of N generated pins (half charts, half images) against a chart
    /// repository served over HTTP and Debian's docker-registry on loopback: total time and
    /// requests with bounded concurrency and one request at a time, and their ratio. Needs
    /// /usr/bin/docker-registry (`cargo xtask test` installs it). See docs/benchmarks.md.
    Pins(pins::PinsBench),
    /// Render and apply a generated chart of N objects (ConfigMaps, Services, Deployments):
    /// seatrial (the pinned Helm 4's `helm template`, then server-side apply and watch-based
    /// readiness) against `helm install --wait=watcher` of the same chart with the same Helm,
    /// on the hollow cluster (started if needed). Prints render, apply and total seconds, the
    /// API requests each made (`apiserver_request_total` on the chart's resources) and their
    /// ratios to Helm's. See docs/benchmarks.md.
    Charts(charts::ChartsBench),
}

impl Bench {
    pub async fn run(self) -> u8 {
        match self {
            Bench::Readiness(command) => command.run().await,
            Bench::Pins(command) => command.run().await,
            Bench::Charts(command) => command.run().await,
        }
    }
}

/// Writes `value` as JSON to `<report_dir>/<file>` (default dir `target/seatrial/bench`) and
/// says where; a file that cannot be written is a warning.
fn write_results<T: serde::Serialize>(
    report_dir: Option<std::path::PathBuf>,
    file: &str,
    value: &T,
) {
    let dir = report_dir.unwrap_or_else(|| crate::exit::reports_root().join("bench"));
    let path = dir.join(file);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(value).expect("measurements serialize"),
        )
    });
    match written {
        Ok(()) => println!("written to {}", path.display()),
        Err(error) => eprintln!("warning: failed to write {}: {error}", path.display()),
    }
}

/// The cluster a benchmark runs on: `kubeconfig`'s, or the hollow cluster (started when not
/// running; then the bool is true and the caller stops it). Errors: the exit code, reported.
async fn bench_cluster(
    kubeconfig: Option<&std::path::Path>,
    binaries: &deployer::providers::binaries::ClusterBinaries,
) -> Result<(deployer::providers::Connection, bool), u8> {
    use deployer::providers::hollow::cluster::{self, DEFAULT_NODES};
    match kubeconfig {
        Some(kubeconfig) => deployer::providers::connect(kubeconfig, None, "check --kubeconfig")
            .await
            .map(|connection| (connection, false))
            .map_err(|error| crate::exit::report(&error)),
        None => cluster::up(
            &deployer::providers::hollow::HollowPaths::from_env(),
            DEFAULT_NODES,
            binaries,
        )
        .await
        .map(|up| (up.connection, !up.reused))
        .map_err(|error| crate::exit::report(&error)),
    }
}
