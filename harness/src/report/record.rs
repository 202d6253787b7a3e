//! The JSON run record (`report.json`): everything a run did, with durations in seconds.

use deployer::inventory::ObjectId;
use deployer::sweep::SweepReport;
use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every stage deployed and every check passed; nothing left over.
    Passed,
    /// A check failed or a stage did not become ready.
    Failed,
    /// Everything passed but objects remain after teardown and sweep.
    Leftovers,
    /// Interrupted (Ctrl-C) before the deploy finished; torn down all the same.
    Interrupted,
}

/// How a stage fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Applied, ready, and every check passed.
    Passed,
    /// Apply or readiness failed.
    DeployFailed,
    /// Deployed, but a check failed.
    ChecksFailed,
    /// Not reached (an earlier stage failed, or the run was interrupted).
    NotRun,
}

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    /// The assertion held.
    Passed,
    /// It did not.
    Failed,
}

/// One check's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// Check name (the trial is `<stage>::<name>`).
    pub name: String,
    /// Passed or failed.
    pub result: CheckResult,
    /// What was observed.
    pub message: String,
    /// Seconds the check took.
    pub seconds: f64,
}

/// One stage's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Stage name.
    pub name: String,
    /// How it fared.
    pub status: StageStatus,
    /// Objects applied, in apply order.
    pub objects: Vec<ObjectId>,
    /// Seconds spent in apply requests.
    pub apply_seconds: f64,
    /// Seconds spent waiting for readiness.
    pub wait_seconds: f64,
    /// Seconds spent in checks.
    pub checks_seconds: f64,
    /// Checks in declaration order.
    pub checks: Vec<CheckRecord>,
    /// Why the deploy failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// What the teardown did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeardownRecord {
    /// Objects deleted.
    pub deleted: usize,
    /// Deletions that failed or did not finish.
    pub problems: Vec<String>,
    /// Seconds.
    pub seconds: f64,
}

/// The whole run (`report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id (also the `seatrial.dev/run` label value).
    pub run_id: String,
    /// The deployment id (the config's project name).
    pub deployment: String,
    /// `hollow` or `existing`.
    pub provider: String,
    /// The API server URL.
    pub server_url: String,
    /// The config file (or `<embedded default config>`).
    pub config: String,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// Seconds from start to the end of the sweep.
    pub seconds: f64,
    /// Seconds the provider took to be ready (the hollow cluster's `up`).
    pub provider_seconds: f64,
    /// Whether the provider reused a running cluster.
    pub provider_reused: bool,
    /// Stages up to `--stop-at`, in deploy order.
    pub stages: Vec<StageRecord>,
    /// The teardown, unless the deployment was kept.
    pub teardown: Option<TeardownRecord>,
    /// The sweep, unless the deployment was kept.
    pub sweep: Option<SweepReport>,
    /// Whether the deployment was kept (`--keep`).
    pub kept: bool,
    /// How the run ended.
    pub outcome: Outcome,
    /// The process exit code.
    pub exit_code: u8,
}

impl RunRecord {
    /// Number of checks that passed and failed, over all stages.
    pub fn check_counts(&self) -> (usize, usize) {
        let all = self.stages.iter().flat_map(|stage| &stage.checks);
        let passed = all
            .clone()
            .filter(|check| check.result == CheckResult::Passed)
            .count();
        (passed, all.count() - passed)
    }
}
