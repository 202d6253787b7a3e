//! What a scenario run leaves for the report: outcome, per-step timings, failure artifacts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a scenario ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioOutcome {
    /// Every step passed.
    Passed,
    /// A step failed; the record's `message` says which and why.
    Failed,
    /// Not run; `message` says why (e.g. the provider runs no workloads).
    Skipped,
}

/// One step of a scenario, timed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// What the step does, e.g. `submit the login form`.
    pub name: String,
    /// Seconds from the scenario's start to the step's start.
    pub started_seconds: f64,
    /// How long the step took, in seconds.
    pub seconds: f64,
    /// Whether it passed.
    pub passed: bool,
    /// On failure, what was awaited and what was seen last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Files written when a scenario fails, each relative to the report directory when the
/// record is written under one, or absolute otherwise.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Artifacts {
    /// The page as a PNG screenshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<PathBuf>,
    /// The page's HTML (the DOM as serialized by the browser).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<PathBuf>,
    /// The browser console log, one entry per line: `<timestamp ms> <level> <message>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<PathBuf>,
    /// The URL the browser was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Artifacts that could not be captured, and why (the browser may be gone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl Artifacts {
    /// The captured files, for JUnit attachments.
    pub fn files(&self) -> Vec<&PathBuf> {
        [&self.screenshot, &self.html, &self.console]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// One scenario's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    /// The scenario's name, e.g. `login`; its trial is `scenarios::<name>`.
    pub name: String,
    /// How it ended.
    pub outcome: ScenarioOutcome,
    /// Failure or skip reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Total seconds, browser start and close included.
    pub seconds: f64,
    /// Steps in order; a failed scenario ends with its failed step.
    pub steps: Vec<StepRecord>,
    /// Written on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Artifacts>,
}

/// The trial name of the scenario called `name`: `scenarios::<name>`.
pub fn trial_name(name: &str) -> String {
    format!("scenarios::{name}")
}

impl ScenarioRecord {
    /// The trial name, `scenarios::<name>`.
    pub fn trial_name(&self) -> String {
        trial_name(&self.name)
    }

    /// A record for a scenario that did not run.
    pub fn skipped(name: &str, reason: &str) -> ScenarioRecord {
        ScenarioRecord {
            name: name.to_owned(),
            outcome: ScenarioOutcome::Skipped,
            message: Some(reason.to_owned()),
            seconds: 0.0,
            steps: Vec::new(),
            artifacts: None,
        }
    }
}
