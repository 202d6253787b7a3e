//! `cargo xtask bench …`: benchmarks that print ratios (never timed tests).

mod charts;
mod footprint;
mod footprint_run;
mod metrics;
mod pins;
mod readiness;
mod teardown;
mod teardown_objects;

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
    /// Removing N objects with the inventory labels (default 10,000, of 28 types: 21
    /// namespaced spread over --namespaces namespaces, 6 cluster-scoped, the Namespaces; two
    /// custom resources) on the hollow cluster: our teardown from the inventory + sweep,
    /// against the real chainsaw's cleanup (a test that applied them) and `kubectl delete -l`
    /// over the same types. Prints seconds, API requests (`apiserver_request_total`, every
    /// client) and what a sweep found left afterwards, with ratios to seatrial; exits 1 when
    /// ours takes 30 s or more or leaves anything. See docs/benchmarks.md.
    Teardown(teardown::TeardownBench),
    /// Peak RSS and CPU seconds of a seatrial run that applies N objects (default 1,000) of a
    /// benchmark CRD, waits for each with a `condition` check and watches them through a soak
    /// (default 600 s) of steady status updates (default 20/s), beside `kubectl get --watch`
    /// of the same objects; and the harness's share of the run's wall time beside the
    /// cluster's (first apply to the last Ready the API server accepted). Exits 1 when the
    /// run's peak RSS is 100 MiB or more, its overhead 2 % or more, or a soak check failed.
    /// See docs/benchmarks.md.
    Footprint(footprint::Footprint),
    /// The run `bench footprint` measures, in a process of its own (not for direct use).
    #[command(hide = true)]
    FootprintRun(footprint_run::FootprintRun),
}

impl Bench {
    pub async fn run(self) -> u8 {
        match self {
            Bench::Readiness(command) => command.run().await,
            Bench::Pins(command) => command.run().await,
            Bench::Charts(command) => command.run().await,
            Bench::Teardown(command) => command.run().await,
            Bench::Footprint(command) => command.run().await,
            Bench::FootprintRun(command) => command.run().await,
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
/// running, and then stopped again by [`BenchCluster::finish`]).
struct BenchCluster {
    connection: deployer::providers::Connection,
    /// The hollow cluster's paths, when this benchmark started it.
    started: Option<deployer::providers::hollow::HollowPaths>,
}

impl BenchCluster {
    /// Connects, or starts the hollow cluster. Errors: the exit code, reported.
    async fn start(
        kubeconfig: Option<&std::path::Path>,
        binaries: &deployer::providers::binaries::ClusterBinaries,
    ) -> Result<Self, u8> {
        use deployer::providers::hollow::cluster::{self, DEFAULT_NODES};
        use deployer::providers::hollow::HollowPaths;
        match kubeconfig {
            Some(kubeconfig) => {
                deployer::providers::connect(kubeconfig, None, "check --kubeconfig")
                    .await
                    .map(|connection| BenchCluster {
                        connection,
                        started: None,
                    })
                    .map_err(|error| crate::exit::report(&error))
            }
            None => {
                let paths = HollowPaths::from_env();
                cluster::up(&paths, DEFAULT_NODES, binaries)
                    .await
                    .map(|up| BenchCluster {
                        connection: up.connection,
                        started: (!up.reused).then_some(paths),
                    })
                    .map_err(|error| crate::exit::report(&error))
            }
        }
    }

    /// Stops the hollow cluster if this benchmark started it (a failure is a warning).
    fn finish(self) {
        if let Some(paths) = self.started {
            if let Err(error) = deployer::providers::hollow::cluster::down(&paths) {
                eprintln!(
                    "warning: failed to stop the hollow cluster: {}",
                    host::error_chain(&error)
                );
            }
        }
    }
}

/// A benchmark's measurements, or the exit code of its failure (the error printed).
fn measured<T>(result: Result<T, String>) -> Result<T, u8> {
    result.map_err(|error| {
        eprintln!("error: {error}");
        crate::exit::CHECKS_FAILED
    })
}
