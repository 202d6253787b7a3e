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

/// At most this many characters of a page's text go into a timeout message.
pub const PAGE_TEXT_CHARS: usize = 160;

/// The browser's URL, the page's title and the start of its visible text:
/// `https://…/hub/login (title `503 Service Unavailable`; text `…`)`, so that a timeout
/// says what the page showed instead of what it lacked. Only for pages that show no secrets
/// (login and error pages), as the text goes into messages and reports.
pub async fn page_seen(client: &Client) -> String {
    let url = current_url(client).await;
    let title = client.title().await.unwrap_or_default();
    let text = match client.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    format!("{url} ({})", page_summary(&title, &text))
}

/// `title `T`; text `…``: the title and the first [`PAGE_TEXT_CHARS`] characters of the
/// text with its whitespace collapsed; `an empty page` when both are empty.
pub fn page_summary(title: &str, text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut shown: String = text.chars().take(PAGE_TEXT_CHARS).collect();
    if text.chars().count() > PAGE_TEXT_CHARS {
        shown.push('…');
    }
    match (title.trim(), shown.as_str()) {
        ("", "") => "an empty page".to_owned(),
        (title, "") => format!("title `{title}`; no text"),
        ("", text) => format!("no title; text `{text}`"),
        (title, text) => format!("title `{title}`; text `{text}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_summary_collapses_whitespace_and_cuts_long_text() {
        assert_eq!(
            page_summary(
                "503 Service Unavailable",
                "  503 :\n Service   Unavailable \n"
            ),
            "title `503 Service Unavailable`; text `503 : Service Unavailable`"
        );
        let long = "word ".repeat(100);
        let summary = page_summary("", &long);
        assert!(
            summary.starts_with("no title; text `word word"),
            "{summary}"
        );
        assert!(summary.ends_with("…`"), "{summary}");
        assert_eq!(page_summary(" ", "\n"), "an empty page");
    }
}
