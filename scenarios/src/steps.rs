//! Timed steps and explicit waits: every wait names its condition and has a time limit; none
//! sleeps for a fixed time or waits for "network idle".

use std::future::Future;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};

use crate::record::StepRecord;
use crate::step_error::{webdriver, StepError};

/// How often a condition is re-evaluated while it is false.
pub const POLL: Duration = Duration::from_millis(100);

/// A step that failed: which, and why.
#[derive(Clone, Debug)]
pub struct StepFailure {
    /// The step's name.
    pub step: String,
    /// What was awaited and what was seen last.
    pub message: String,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step `{}`: {}", self.step, self.message)
    }
}

/// The steps of one scenario, timed from the scenario's start.
pub struct Steps {
    start: Instant,
    /// Steps so far.
    pub records: Vec<StepRecord>,
    /// Secrets the scenario obtained (API tokens), kept out of its failure artifacts.
    pub secrets: Vec<String>,
}

impl Default for Steps {
    fn default() -> Steps {
        Steps::new()
    }
}

impl Steps {
    /// Starts the scenario's clock.
    pub fn new() -> Steps {
        Steps {
            start: Instant::now(),
            records: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Seconds since the scenario started.
    pub fn elapsed_seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Runs `step`, records its duration and outcome, and turns its error (as one line, with
    /// its causes) into a [`StepFailure`] named `name`.
    pub async fn run<T>(
        &mut self,
        name: &str,
        step: impl Future<Output = Result<T, StepError>>,
    ) -> Result<T, StepFailure> {
        let started = Instant::now();
        let started_seconds = started.duration_since(self.start).as_secs_f64();
        let result = step.await.map_err(|error| host::error_chain(&error));
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            step = name,
            seconds,
            passed = result.is_ok(),
            "scenario step"
        );
        self.records.push(StepRecord {
            name: name.to_owned(),
            started_seconds,
            seconds,
            passed: result.is_ok(),
            message: result.as_ref().err().cloned(),
        });
        result.map_err(|message| StepFailure {
            step: name.to_owned(),
            message,
        })
    }
}

/// What one evaluation of a condition found.
pub enum Poll<T> {
    /// The condition holds.
    Ready(T),
    /// Not yet; the text describes what was seen, for the timeout message.
    Pending(String),
    /// It can no longer hold (an error page, a refused login): stop waiting.
    Fail(StepError),
}

/// Re-evaluates `condition` every [`POLL`] until it is ready, fails, or `timeout` passes.
/// Errors: [`StepError::TimedOut`] naming `what` and the last observation, or the
/// condition's own failure.
pub async fn until<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut condition: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Poll<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last_seen = match condition().await {
            Poll::Ready(value) => return Ok(value),
            Poll::Fail(error) => return Err(error),
            Poll::Pending(seen) => seen,
        };
        if Instant::now() >= deadline {
            return Err(StepError::TimedOut {
                what: what.to_owned(),
                seconds: timeout.as_secs(),
                last_seen,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for an element matching the CSS `selector` (fantoccini's `wait().for_element`).
/// Errors: [`StepError::NoElement`] with the selector, the time limit and the URL the
/// browser is on.
pub async fn element(
    client: &Client,
    selector: &str,
    timeout: Duration,
) -> Result<Element, StepError> {
    match client
        .wait()
        .at_most(timeout)
        .every(POLL)
        .for_element(Locator::Css(selector))
        .await
    {
        Ok(element) => Ok(element),
        Err(source) => Err(StepError::NoElement {
            selector: selector.to_owned(),
            seconds: timeout.as_secs(),
            url: current_url(client).await,
            source,
        }),
    }
}

/// Navigates to `url`. Errors: [`StepError::WebDriver`] for `open <url>`.
pub async fn open(client: &Client, url: &str) -> Result<(), StepError> {
    client
        .goto(url)
        .await
        .map_err(webdriver(&format!("open {url}")))
}

/// Waits for an element matching `selector` (see [`element`]) and clicks it. Errors: the
/// wait's, or [`StepError::WebDriver`] for `action`.
pub async fn click(
    client: &Client,
    selector: &str,
    timeout: Duration,
    action: &str,
) -> Result<(), StepError> {
    element(client, selector, timeout)
        .await?
        .click()
        .await
        .map_err(webdriver(action))
}

/// The first displayed element matching `selector`, if any (no waiting).
pub async fn visible(client: &Client, selector: &str) -> Option<Element> {
    for element in client.find_all(Locator::Css(selector)).await.ok()? {
        if element.is_displayed().await.unwrap_or(false) {
            return Some(element);
        }
    }
    None
}

/// The browser's URL, or why it is unknown.
pub async fn current_url(client: &Client) -> String {
    match client.current_url().await {
        Ok(url) => url.to_string(),
        Err(error) => format!("<unknown URL: {error}>"),
    }
}
