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
    /// Stopped by a signal (SIGINT, SIGTERM, SIGHUP; [`RunRecord::signal`]); torn down all the
    /// same unless a second signal stopped the wait ([`RunRecord::teardown_abandoned`]).
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
    /// Not deployed on this provider, for the reason in the stage's `error` (its images
    /// cannot be had there yet). Never counted as passed.
    Skipped,
}

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    /// The assertion held on the first attempt.
    Passed,
    /// It did not hold on any attempt.
    Failed,
    /// It held after a failed attempt (counts as passed, reported as flaky).
    Flaky,
    /// Not run: a check it runs `after` did not pass.
    Skipped,
}

impl From<crate::checks::Verdict> for CheckResult {
    fn from(verdict: crate::checks::Verdict) -> Self {
        match verdict {
            crate::checks::Verdict::Passed => CheckResult::Passed,
            crate::checks::Verdict::Failed => CheckResult::Failed,
            crate::checks::Verdict::Flaky => CheckResult::Flaky,
            crate::checks::Verdict::Skipped => CheckResult::Skipped,
        }
    }
}

impl CheckResult {
    /// The word used in reports: `passed`, `FAILED`, `flaky`, `skipped`.
    pub fn word(self) -> &'static str {
        match self {
            CheckResult::Passed => "passed",
            CheckResult::Failed => "FAILED",
            CheckResult::Flaky => "flaky",
            CheckResult::Skipped => "skipped",
        }
    }
}

/// One check's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// Check name (the trial is `<stage>::<name>`).
    pub name: String,
    /// The assertion kind (`condition`, `match`, `http`, …).
    #[serde(default)]
    pub kind: String,
    /// Passed, failed, flaky or skipped.
    pub result: CheckResult,
    /// What was observed; on failure, what was awaited and what was last seen.
    pub message: String,
    /// Seconds from the start of the run to the start of the check.
    #[serde(default)]
    pub started_seconds: f64,
    /// Seconds the check took, all attempts together.
    pub seconds: f64,
    /// Attempts made (0 when skipped).
    #[serde(default)]
    pub attempts: u32,
    /// Messages of the failed attempts (for a flaky check, why it failed first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The diagnostics bundle's directory, relative to the report dir, when one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
}

#[cfg(test)]
impl RunRecord {
    /// A passed run on `provider` that started at `started_at` and did nothing, for a test
    /// to fill in.
    pub(crate) fn empty(provider: &str, started_at: &str) -> RunRecord {
        RunRecord {
            run_id: String::new(),
            deployment: "demo".into(),
            provider: provider.into(),
            server_url: String::new(),
            config: String::new(),
            started_at: started_at.into(),
            seconds: 0.0,
            provider_seconds: 0.0,
            provider_reused: false,
            stages: Vec::new(),
            teardown: None,
            sweep: None,
            kept: false,
            watches: 0,
            scenarios: Vec::new(),
            scenario_diagnostics: None,
            host_leftovers: Vec::new(),
            docker_leftovers: Vec::new(),
            signal: None,
            teardown_abandoned: false,
            ledger: None,
            sweep_state: SweepState::Done,
            upgrade: None,
            api_outage: None,
            outcome: Outcome::Passed,
            exit_code: 0,
        }
    }
}

impl CheckRecord {
    /// The record of `check`'s `outcome`, its start counted from `since` (the run's start),
    /// without a diagnostics bundle.
    pub fn of(
        check: &crate::checks::Check,
        outcome: crate::checks::Outcome,
        since: std::time::Instant,
    ) -> CheckRecord {
        CheckRecord {
            name: check.name.clone(),
            kind: check.assertion.kind().to_owned(),
            result: CheckResult::from(outcome.verdict),
            message: outcome.message,
            started_seconds: outcome
                .started
                .saturating_duration_since(since)
                .as_secs_f64(),
            seconds: outcome.seconds,
            attempts: outcome.attempts,
            failures: outcome.failures,
            diagnostics: None,
        }
    }
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
    /// Seconds from the start of the run to the start of the stage's apply.
    #[serde(default)]
    pub started_seconds: f64,
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
    /// The class of that failure (`bad_input` when the API server refused our manifest as
    /// malformed or too large; the run then exits 2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_class: Option<host::ErrorClass>,
}

impl StageRecord {
    /// The record of a stage that has not run yet.
    pub fn not_run(name: &str) -> StageRecord {
        StageRecord {
            name: name.to_owned(),
            status: StageStatus::NotRun,
            objects: Vec::new(),
            started_seconds: 0.0,
            apply_seconds: 0.0,
            wait_seconds: 0.0,
            checks_seconds: 0.0,
            checks: Vec::new(),
            error_class: None,
            error: None,
        }
    }

    /// The stage's checks in words: `3 passed, 1 failed` plus `, N flaky` and `, N skipped`
    /// when there are any.
    pub fn check_summary(&self) -> String {
        let count = |result| self.checks.iter().filter(|c| c.result == result).count();
        let mut text = format!(
            "{} passed, {} failed",
            count(CheckResult::Passed),
            count(CheckResult::Failed)
        );
        for (result, word) in [
            (CheckResult::Flaky, "flaky"),
            (CheckResult::Skipped, "skipped"),
        ] {
            let n = count(result);
            if n > 0 {
                text.push_str(&format!(", {n} {word}"));
            }
        }
        text
    }

    /// The status in words: `passed`, `DEPLOY FAILED`, `CHECKS FAILED`, `not run`.
    pub fn status_word(&self) -> &'static str {
        match self.status {
            StageStatus::Passed => "passed",
            StageStatus::DeployFailed => "DEPLOY FAILED",
            StageStatus::ChecksFailed => "CHECKS FAILED",
            StageStatus::NotRun => "not run",
            StageStatus::Skipped => "skipped",
        }
    }
}

/// What the teardown did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeardownRecord {
    /// Objects deleted.
    pub deleted: usize,
    /// Deletions that failed or did not finish.
    pub problems: Vec<String>,
    /// Objects left on purpose (`helm.sh/resource-policy: keep`), by teardown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<deployer::inventory::ObjectId>,
    /// StatefulSet claims deleted (they carry no inventory label).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_deleted: Vec<deployer::inventory::ObjectId>,
    /// Seconds.
    pub seconds: f64,
}

/// What became of a run's sweep (`sweep_state` in `report.json`: `{"state": "done"}`,
/// `{"state": "failed", "reason": …}`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SweepState {
    /// It ran to its end; `sweep` says what it deleted and what remains.
    Done,
    /// It started and failed.
    Failed {
        /// Its error.
        reason: String,
    },
    /// It could not be run: the API server was gone, or a second stop signal ended the run.
    NotPossible {
        /// Why, and what finishes the work.
        reason: String,
    },
    /// It was not run on purpose: the deployment was kept.
    NotRun {
        /// Why.
        reason: String,
    },
}

impl Default for SweepState {
    /// What a record written before `sweep_state` existed says.
    fn default() -> Self {
        SweepState::NotRun {
            reason: "not recorded".to_owned(),
        }
    }
}

/// An outage of the API server during a run. Times are seconds from the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiOutage {
    /// When the first of the failed probes in a row started.
    pub started_seconds: f64,
    /// When the probe declared the server lost.
    pub noticed_seconds: f64,
    /// When it answered again; `None` when it did not within `api_return_timeout_seconds`.
    pub returned_seconds: Option<f64>,
    /// The last failure the probe saw (a connection error, `no answer within N s`).
    pub reason: String,
    /// What the run was doing: `deploy`, `scenarios` or `teardown`.
    pub during: String,
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
    /// What became of the sweep: done, failed (with why), not possible (with why), or not run
    /// because the deployment was kept. Every report says one of these.
    #[serde(default)]
    pub sweep_state: SweepState,
    /// The API server stopped answering during the run (noticed by the probe of
    /// [`deployer::api_health`]); the run then exits 4.
    #[serde(default)]
    pub api_outage: Option<ApiOutage>,
    /// Whether the deployment was kept (`--keep`, or `--keep-on-failure` after a failure).
    pub kept: bool,
    /// Watches the checks opened: one per (type, namespace) they looked at.
    #[serde(default)]
    pub watches: usize,
    /// The browser scenarios run after the `jupyterhub` stage (skipped on the hollow
    /// provider), in order; empty when that stage was not reached.
    #[serde(default)]
    pub scenarios: Vec<scenarios::ScenarioRecord>,
    /// The platform namespace's pods, warning events and logs, collected once when a
    /// scenario failed (see [`crate::scenario_diagnostics`]); `None` when none failed or
    /// diagnostics are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_diagnostics: Option<crate::scenario_diagnostics::ScenarioBundle>,
    /// Docker objects still labelled for the run's kind cluster after `kind delete cluster`
    /// (kind provider only); any makes the run end with leftovers.
    #[serde(default)]
    pub docker_leftovers: Vec<deployer::providers::kind::DockerLeftover>,
    /// What the local cluster this run started left on the host after `local down`
    /// (processes, mounts, links, iptables chains, cgroups; local provider only); any makes
    /// the run end with leftovers.
    #[serde(default)]
    pub host_leftovers: Vec<String>,
    /// The first stop signal the run received (`"SIGINT"`, `"SIGTERM"`, `"SIGHUP"`), if any.
    #[serde(default)]
    pub signal: Option<host::signals::StopSignal>,
    /// True when a second stop signal ended the run before its teardown finished; the report
    /// dir then holds a `target.json` for `cargo xtask teardown --run <id>`.
    #[serde(default)]
    pub teardown_abandoned: bool,
    /// The run's ledger entry when it stays for a later `cargo xtask teardown` (kept, the
    /// teardown abandoned, the sweep failed or left objects); `null` when it was removed.
    #[serde(default)]
    pub ledger: Option<std::path::PathBuf>,
    /// For a run that upgraded a kept deployment in place (`cargo xtask upgrade`): that run,
    /// and what of it was pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeRecord>,
    /// How the run ended.
    pub outcome: Outcome,
    /// The process exit code.
    pub exit_code: u8,
}

/// What a run that upgraded a kept deployment in place did with the objects of the run
/// before it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpgradeRecord {
    /// The kept run it upgraded.
    pub from_run: String,
    /// Objects that run applied and this one no longer renders: deleted, as `helm upgrade`
    /// deletes what the new release manifest lacks.
    pub pruned: Vec<PrunedObject>,
    /// Such objects left in place because they carry `helm.sh/resource-policy: keep`.
    #[serde(default)]
    pub kept: Vec<ObjectId>,
    /// What could not be pruned (a failed upgrade), a sentence each naming the object.
    #[serde(default)]
    pub problems: Vec<String>,
}

/// One pruned object and the stage whose label it carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedObject {
    /// The stage of the run before that applied it.
    pub stage: String,
    /// The object.
    pub object: ObjectId,
}

impl RunRecord {
    /// Number of checks per result over all stages: (passed, failed, flaky, skipped).
    pub fn check_counts(&self) -> (usize, usize, usize, usize) {
        let mut counts = (0, 0, 0, 0);
        for check in self.stages.iter().flat_map(|stage| &stage.checks) {
            match check.result {
                CheckResult::Passed => counts.0 += 1,
                CheckResult::Failed => counts.1 += 1,
                CheckResult::Flaky => counts.2 += 1,
                CheckResult::Skipped => counts.3 += 1,
            }
        }
        counts
    }

    /// One line counting checks, skipped stages and scenarios: `8 checks passed, 0 failed,
    /// 0 flaky, 0 skipped; 3 stages skipped; scenarios: 0 passed, 0 failed, 4 skipped`.
    pub fn counts_line(&self) -> String {
        let (passed, failed, flaky, skipped) = self.check_counts();
        let mut line =
            format!("{passed} checks passed, {failed} failed, {flaky} flaky, {skipped} skipped");
        let stages_skipped = self
            .stages
            .iter()
            .filter(|stage| stage.status == StageStatus::Skipped)
            .count();
        if stages_skipped > 0 {
            line.push_str(&format!("; {stages_skipped} stages skipped"));
        }
        if !self.scenarios.is_empty() {
            let count = |outcome: scenarios::ScenarioOutcome| {
                self.scenarios
                    .iter()
                    .filter(|s| s.outcome == outcome)
                    .count()
            };
            line.push_str(&format!(
                "; scenarios: {} passed, {} failed, {} skipped",
                count(scenarios::ScenarioOutcome::Passed),
                count(scenarios::ScenarioOutcome::Failed),
                count(scenarios::ScenarioOutcome::Skipped)
            ));
        }
        line
    }

    /// Seconds from the start of the run to the start of teardown (the end of the last stage).
    pub fn deploy_end_seconds(&self) -> f64 {
        self.stages
            .iter()
            .filter(|stage| !matches!(stage.status, StageStatus::NotRun | StageStatus::Skipped))
            .map(|stage| {
                let checks_end = stage
                    .checks
                    .iter()
                    .map(|check| check.started_seconds + check.seconds)
                    .fold(0.0, f64::max);
                (stage.started_seconds + stage.apply_seconds + stage.wait_seconds).max(checks_end)
            })
            .fold(self.provider_seconds, f64::max)
    }
}
