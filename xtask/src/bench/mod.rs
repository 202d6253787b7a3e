//! `cargo xtask bench …`: benchmarks that print ratios (never timed tests).

mod metrics;
mod pins;
mod readiness;

use clap::Subcommand;

/// The `bench` subcommands (the group's help text is on `Command` in main.rs).
#[derive(Subcommand)]
pub enum Bench {
    /// Readiness-wait latency and API cost: our harness waits vs `kubectl wait`, a 1 s poll
    /// loop (kuttl-style) and a 50 ms poll loop (chainsaw-style), on the hollow cluster.
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
}

impl Bench {
    pub async fn run(self) -> u8 {
        match self {
            Bench::Readiness(command) => command.run().await,
            Bench::Pins(command) => command.run().await,
        }
    }
}
