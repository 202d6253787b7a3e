//! Running scenarios: a fresh browser per scenario, timed steps, artifacts on failure.

use std::time::Instant;

use crate::artifacts;
use crate::browser::Browser;
use crate::catalog::Scenario;
use crate::driver::BrowserBinaries;
use crate::error::{Error, Result};
use crate::options::ScenarioOptions;
use crate::record::{ScenarioOutcome, ScenarioRecord, StepRecord};
use crate::step_error::StepError;
use crate::steps::Steps;

/// Checks that `<base>/hub/api` answers at all (any HTTP status counts: the hub may sit
/// behind a login). Errors: [`Error::Unreachable`] with the URL and the connection error.
pub async fn check_reachable(options: &ScenarioOptions) -> Result<()> {
    let url = options.url("/hub/api");
    if url::Url::parse(&url).is_err() {
        return Err(Error::Unreachable {
            url: options.base_url.clone(),
            reason: "not an absolute http(s) URL".into(),
        });
    }
    match options.http.get(&url).send().await {
        Ok(_) => Ok(()),
        Err(error) => Err(Error::Unreachable {
            url: options.base_url.clone(),
            reason: host::error_chain(&error),
        }),
    }
}

/// The host name of the base URL (what `--host-resolver-rules` maps).
pub fn base_host(options: &ScenarioOptions) -> String {
    url::Url::parse(&options.base_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Runs one scenario in a fresh browser and returns its record; never errors: a browser that
/// does not start is a failed first step. On failure the page's artifacts are written to
/// `<options.artifacts_dir>/<name>/`.
pub async fn run_scenario(
    scenario: Scenario,
    options: &ScenarioOptions,
    binaries: &BrowserBinaries,
) -> ScenarioRecord {
    let start = Instant::now();
    let dir = options.artifacts_dir.join(scenario.name());
    let mut steps = Steps::new();
    let launched = steps
        .run("start the browser", async {
            Browser::launch(binaries, &base_host(options), &options.network, &dir)
                .await
                .map_err(|error| StepError::Browser(Box::new(error)))
        })
        .await;
    let browser = match launched {
        Ok(browser) => browser,
        Err(failure) => {
            return finish(
                scenario,
                start,
                steps.records,
                Some(failure.to_string()),
                None,
            );
        }
    };
    let result = scenario.steps(&browser.client, options, &mut steps).await;
    let (message, artifacts) = match result {
        Ok(()) => (None, None),
        Err(failure) => {
            let mut secrets: Vec<&str> = steps.secrets.iter().map(String::as_str).collect();
            secrets.push(options.password.expose());
            let artifacts = artifacts::capture(&browser, &dir, &secrets).await;
            (Some(failure.to_string()), Some(artifacts))
        }
    };
    browser.close().await;
    finish(scenario, start, steps.records, message, artifacts)
}

fn finish(
    scenario: Scenario,
    start: Instant,
    steps: Vec<StepRecord>,
    message: Option<String>,
    artifacts: Option<crate::record::Artifacts>,
) -> ScenarioRecord {
    ScenarioRecord {
        name: scenario.name().to_owned(),
        outcome: if message.is_some() {
            ScenarioOutcome::Failed
        } else {
            ScenarioOutcome::Passed
        },
        message,
        seconds: start.elapsed().as_secs_f64(),
        steps,
        artifacts,
    }
}

/// Runs `scenarios` one after another (each in its own browser) and returns their records.
/// Errors before any scenario starts: the browser's binaries are missing
/// ([`Error::BrowserMissing`]) or the hub is unreachable ([`Error::Unreachable`]).
pub async fn run_scenarios(
    scenarios: &[Scenario],
    options: &ScenarioOptions,
) -> Result<Vec<ScenarioRecord>> {
    let binaries = BrowserBinaries::locate()?;
    check_reachable(options).await?;
    let mut records = Vec::new();
    for scenario in scenarios {
        tracing::info!(scenario = scenario.name(), "scenario starts");
        records.push(run_scenario(*scenario, options, &binaries).await);
    }
    Ok(records)
}

/// Records for `scenarios` that were not run, all with `reason`.
pub fn skip_all(scenarios: &[Scenario], reason: &str) -> Vec<ScenarioRecord> {
    scenarios
        .iter()
        .map(|scenario| ScenarioRecord::skipped(scenario.name(), reason))
        .collect()
}
