//! What a run reports while it happens, as events a [`Reporter`] renders — the way nextest's
//! runner emits events that its reporter draws. The harness prints nothing: xtask's reporter
//! turns these into spinners and lines on the terminal, or into JSON lines (`--json`).
//!
//! Events arrive in the order things happen. A `…Started` event opens a step (a build, the
//! provider, a stage's apply and wait, its checks, the teardown, the sweep) that the next event
//! closes.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::chart_stages::StageComparison;
use crate::report::CheckResult;

/// One thing that happened during a run. Serialized (for `--json`) with an `event` tag in
/// snake case, e.g. `{"event":"stage_finished","stage":"ingress",…}`; durations in seconds.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A cluster binary, a Helm or an image is being built (or its cache checked); its output
    /// goes to `log`. Minutes for Kubernetes, seconds for a cached image.
    BuildStarted {
        /// What is built: `kubernetes <version> from the Go module proxy`, `image hub …`.
        what: String,
        /// Its build log.
        log: PathBuf,
    },
    /// The build [`Event::BuildStarted`] opened is done (`built` is false when it came from
    /// the cache).
    BuildFinished {
        /// What was built, as a short name (`helm4`, `seatrial/hub:…`).
        what: String,
        /// Whether anything was built (false: the cache had it).
        built: bool,
        /// How long it took, in seconds.
        seconds: f64,
    },
    /// The provider is being started or reused.
    ProviderStarting {
        /// `hollow`, `local`, `kind`, `k3s`, `existing`.
        provider: String,
    },
    /// The provider answers.
    ProviderReady {
        /// The provider.
        provider: String,
        /// Its API server.
        server_url: String,
        /// How long getting it took, in seconds.
        seconds: f64,
    },
    /// A problem bringing the provider down (a process that would not stop, a cluster that
    /// could not be deleted).
    ProviderProblem {
        /// What went wrong.
        problem: String,
    },
    /// `--helm-compare`'s findings, one entry per chart stage.
    HelmCompared {
        /// What differs between Helm 3 and Helm 4, per stage.
        comparisons: Vec<StageComparison>,
    },
    /// A chart hook that does not run on an install (upgrade, rollback, delete hooks) and so
    /// is not applied.
    HookNotRun {
        /// The stage.
        stage: String,
        /// `Kind name` of the hook.
        object: String,
        /// Its `helm.sh/hook` events.
        events: String,
    },
    /// A stage is not deployed on this provider.
    StageSkipped {
        /// The stage.
        stage: String,
        /// Why.
        reason: String,
    },
    /// A stage's objects are being applied and awaited.
    StageApplying {
        /// The stage.
        stage: String,
        /// How many objects it applies.
        objects: usize,
    },
    /// A stage could not be deployed; the run stops deploying.
    StageDeployFailed {
        /// The stage.
        stage: String,
        /// The deployer's error, with its causes.
        error: String,
    },
    /// A stage's checks are running.
    ChecksStarted {
        /// The stage.
        stage: String,
        /// How many.
        checks: usize,
    },
    /// One check finished.
    CheckFinished {
        /// `<stage>::<check>`.
        trial: String,
        /// How it ended.
        result: CheckResult,
        /// What it saw.
        message: String,
    },
    /// A stage was deployed and checked.
    StageFinished {
        /// The stage.
        stage: String,
        /// Objects applied.
        objects: usize,
        /// Apply plus readiness wait, in seconds.
        ready_seconds: f64,
        /// `3 passed, 1 failed`.
        checks: String,
        /// Whether every check passed (or was flaky).
        passed: bool,
    },
    /// One browser scenario finished (or was skipped).
    ScenarioFinished {
        /// Its record.
        record: scenarios::ScenarioRecord,
    },
    /// A scenario failed: the platform namespace's pods, warning events and logs were
    /// collected (`<report dir>/diagnostics/scenarios/`) right after the scenarios.
    ScenarioDiagnostics {
        /// The bundle's directory.
        dir: PathBuf,
        /// One line per pod: `hub-7c9 Running, ready 1/1, 0 restarts`.
        pods: Vec<String>,
        /// The namespace's newest warning events: `Unhealthy pod/hub-7c9: Readiness probe
        /// failed: … (x4)`.
        warnings: Vec<String>,
    },
    /// A stop signal (SIGINT, SIGTERM or SIGHUP): the run stops what it was doing and tears
    /// down.
    Interrupted {
        /// What was interrupted: `deploy` or `scenarios`.
        during: String,
        /// The signal.
        signal: host::signals::StopSignal,
    },
    /// An upgrading run deleted an object the run before it applied and this one no longer
    /// renders.
    Pruned {
        /// The stage whose label it carried.
        stage: String,
        /// `Kind namespace/name`.
        object: String,
    },
    /// A run of the deployment that ended without a teardown (killed) was found in the ledger
    /// and swept before this run applied anything.
    EarlierRunRemoved {
        /// Its run id.
        run_id: String,
        /// When it started, RFC 3339.
        started_at: String,
        /// What the sweep deleted, `Kind namespace/name` each.
        deleted: Vec<String>,
        /// What remained, with why.
        leftovers: Vec<String>,
    },
    /// The run's ledger entry stays for a later `cargo xtask teardown` (the deployment was
    /// kept, or objects remain).
    LedgerKept {
        /// The entry's file.
        path: PathBuf,
        /// Why it stays.
        reason: String,
    },
    /// A first stop signal arrived while the teardown ran: it goes on; a second one stops
    /// waiting for it.
    SignalDuringTeardown {
        /// The signal.
        signal: host::signals::StopSignal,
    },
    /// A second stop signal: the run stopped waiting for its teardown and ends now, leaving
    /// `target` (a `target.json`) so `cargo xtask teardown --run <run_id>` can finish it.
    TeardownAbandoned {
        /// The second signal.
        signal: host::signals::StopSignal,
        /// The run id.
        run_id: String,
        /// The `target.json` written for the teardown command.
        target: PathBuf,
    },
    /// The API server stopped answering ([`deployer::api_health`]: probes of `/livez` failed
    /// in a row): what the run was doing stops.
    ApiServerLost {
        /// What the run was doing: `deploy`, `scenarios` or `teardown`.
        during: String,
        /// The last failure the probe saw.
        reason: String,
        /// Seconds from the first failed probe to this event.
        after_seconds: f64,
        /// How long the run waits for it to answer again, in seconds.
        waiting_seconds: u64,
    },
    /// The API server answers again after an outage; the run tears down.
    ApiServerReturned {
        /// Seconds it was gone.
        gone_seconds: f64,
    },
    /// The teardown cannot be done (the API server did not return within the wait): the run
    /// ends without it, leaving its ledger entry and `target` for `cargo xtask teardown`.
    TeardownNotPossible {
        /// The run id.
        run_id: String,
        /// The `target.json` written for the teardown command.
        target: PathBuf,
        /// Why.
        reason: String,
    },
    /// `--keep`, or `--keep-on-failure` after a failure: the deployment stays.
    DeploymentKept {
        /// The deployment (project name).
        deployment: String,
        /// The run id.
        run_id: String,
        /// The `target.json` that describes it (checks and teardown use it).
        target: PathBuf,
        /// True when `--keep-on-failure` kept it because the run failed.
        because_failed: bool,
        /// For each stage that applied objects: its name and the objects.
        stages: Vec<(String, Vec<String>)>,
    },
    /// The kind cluster the run created stays (`--keep`).
    KindClusterKept {
        /// The cluster's name.
        name: String,
        /// Its kubeconfig.
        kubeconfig: PathBuf,
    },
    /// The stages are being deleted in reverse order.
    TeardownStarted,
    /// An object the teardown or sweep left on purpose (`helm.sh/resource-policy: keep`).
    KeptOnPurpose {
        /// `Kind namespace/name`.
        object: String,
    },
    /// The sweep is looking for anything labelled with the deployment.
    SweepStarted {
        /// The label selector.
        selector: String,
    },
    /// The sweep could not run.
    SweepFailed {
        /// Why, with causes.
        error: String,
    },
    /// Something the provider left behind after it went down (a Docker container, a host
    /// network device).
    Leftover {
        /// What, and where.
        what: String,
    },
    /// A file the run meant to write (a report, a bundle) could not be written; the run goes
    /// on.
    Warning {
        /// What could not be done, and why.
        message: String,
    },
}

/// Renders events. Implementations must be cheap and must not fail: a run never stops
/// because its output could not be drawn.
pub trait Reporter: Send + Sync {
    /// Called once per event, in order, from any thread of the run.
    fn report(&self, event: Event);
}

/// How a run holds its reporter: shared with the blocking build threads.
pub type SharedReporter = Arc<dyn Reporter>;
