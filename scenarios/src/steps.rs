//! Timed steps and explicit waits: every wait names its condition and has a time limit; none
//! sleeps for a fixed time or waits for "network idle".

use std::future::Future;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};

use crate::record::StepRecord;

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

    /// Runs `step`, records its duration and outcome, and turns its error (as text) into a
    /// [`StepFailure`] named `name`.
    pub async fn run<T, E: Into<String>>(
        &mut self,
        name: &str,
        step: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StepFailure> {
        let started = Instant::now();
        let started_seconds = started.duration_since(self.start).as_secs_f64();
        let result = step.await.map_err(Into::into);
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

/// What one evaluation of a condition found; `E` is what a condition that can no longer
/// hold says (text, or a typed error such as a refused login).
pub enum Poll<T, E = String> {
    /// The condition holds.
    Ready(T),
    /// Not yet; the text describes what was seen, for the timeout message.
    Pending(String),
    /// It can no longer hold (an error page, a refused login): stop waiting.
    Fail(E),
}

/// Re-evaluates `condition` every [`POLL`] until it is ready, fails, or `timeout` passes.
/// Errors: `no <what> after <n> s; last seen: <observation>`, or the failure's text.
pub async fn until<T, F, Fut>(timeout: Duration, what: &str, condition: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Poll<T>>,
{
    wait_for(timeout, what, condition).await
}

/// [`until`] for conditions that fail with a typed error `E`; the timeout becomes an `E` from
/// its message.
pub async fn wait_for<T, E, F, Fut>(timeout: Duration, what: &str, mut condition: F) -> Result<T, E>
where
    E: From<String>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Poll<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match condition().await {
            Poll::Ready(value) => return Ok(value),
            Poll::Fail(error) => return Err(error),
            Poll::Pending(seen) => seen,
        };
        if Instant::now() >= deadline {
            return Err(E::from(format!(
                "no {what} after {} s; last seen: {last}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for an element matching the CSS `selector` (fantoccini's `wait().for_element`).
/// Errors: the selector, the time limit and the URL the browser is on.
pub async fn element(
    client: &Client,
    selector: &str,
    timeout: Duration,
) -> Result<Element, String> {
    match client
        .wait()
        .at_most(timeout)
        .every(POLL)
        .for_element(Locator::Css(selector))
        .await
    {
        Ok(element) => Ok(element),
        Err(error) => Err(format!(
            "no element `{selector}` after {} s on {} ({error})",
            timeout.as_secs(),
            current_url(client).await
        )),
    }
}

/// Navigates to `url`. Errors: `open <url>: <WebDriver error>`.
pub async fn open(client: &Client, url: &str) -> Result<(), String> {
    client
        .goto(url)
        .await
        .map_err(webdriver(&format!("open {url}")))
}

/// Waits for an element matching `selector` (see [`element`]) and clicks it. Errors: the
/// wait's, or `<action>: <WebDriver error>`.
pub async fn click(
    client: &Client,
    selector: &str,
    timeout: Duration,
    action: &str,
) -> Result<(), String> {
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

/// Maps a WebDriver error to a step message naming the action.
pub fn webdriver(action: &str) -> impl Fn(fantoccini::error::CmdError) -> String + '_ {
    move |error| format!("{action}: {error}")
}
