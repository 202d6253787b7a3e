//! Why a scenario step failed: one typed error for every page-model step, so callers decide
//! by variant (a refused login) and never by message text.

use fantoccini::error::CmdError;

/// A failed scenario step. Its one-line form (with [`host::error_chain`]) is what the step's
/// record, the JUnit message and the terminal show.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A WebDriver command failed (W3C WebDriver; fantoccini's [`CmdError`] is the cause);
    /// `action` says what the step was doing, e.g. "click Logout".
    #[error("{action}")]
    WebDriver {
        /// What the step was doing.
        action: String,
        /// The WebDriver error.
        #[source]
        source: CmdError,
    },
    /// An element matching the CSS `selector` did not appear within `seconds` (whole
    /// seconds); `url` is where the browser was then.
    #[error("no element `{selector}` after {seconds} s on {url}")]
    NoElement {
        /// The CSS selector waited for.
        selector: String,
        /// The time limit, in seconds.
        seconds: u64,
        /// The browser's URL when the wait ended.
        url: String,
        /// fantoccini's wait error.
        #[source]
        source: CmdError,
    },
    /// A condition did not hold within `seconds` (whole seconds); `last_seen` is what its last
    /// evaluation observed.
    #[error("no {what} after {seconds} s; last seen: {last_seen}")]
    TimedOut {
        /// The awaited condition ("login form", "idle kernel").
        what: String,
        /// The time limit, in seconds.
        seconds: u64,
        /// What was seen last.
        last_seen: String,
    },
    /// The login form showed an error: the credentials were refused. The text is the form's
    /// own ("Invalid username or password").
    #[error("login refused: {0}")]
    LoginRefused(String),
    /// A wrong password did not make the login form show an error; the cause is where the
    /// login attempt ended instead.
    #[error("a wrong password showed no error")]
    WrongPasswordNotRefused(#[source] Box<StepError>),
    /// The browser did not start (chromedriver, Chromium or the WebDriver session).
    #[error(transparent)]
    Browser(Box<crate::Error>),
    /// The page or the hub showed what the step must not see (a spawn failure, a 403 for an
    /// admin, a cell's traceback, another output than expected); the text says what.
    #[error("{0}")]
    Unexpected(String),
    /// An HTTP request to the hub got no answer (reqwest's error is the cause).
    #[error("{method} {url}")]
    Http {
        /// The request method.
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
}

impl From<String> for StepError {
    /// What a step saw that it must not: [`StepError::Unexpected`].
    fn from(message: String) -> Self {
        StepError::Unexpected(message)
    }
}

impl From<&str> for StepError {
    /// What a step saw that it must not: [`StepError::Unexpected`].
    fn from(message: &str) -> Self {
        StepError::Unexpected(message.to_owned())
    }
}

/// Maps a WebDriver error to a [`StepError::WebDriver`] naming `action`.
pub fn webdriver(action: &str) -> impl Fn(CmdError) -> StepError + '_ {
    move |source| StepError::WebDriver {
        action: action.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_password_that_logged_nowhere_names_where_it_ended() {
        let error = StepError::WrongPasswordNotRefused(Box::new(StepError::TimedOut {
            what: "hub home page after login".into(),
            seconds: 30,
            last_seen: "http://127.0.0.1/hub/login".into(),
        }));
        assert_eq!(
            host::error_chain(&error),
            "a wrong password showed no error: no hub home page after login after 30 s; last seen: http://127.0.0.1/hub/login"
        );
    }

    #[test]
    fn a_webdriver_failure_names_the_action_then_the_cause() {
        let error = webdriver("click Logout")(CmdError::NotJson("<html>".into()));
        let line = host::error_chain(&error);
        assert!(line.starts_with("click Logout: "), "{line}");
        assert!(line.contains("<html>"), "{line}");
    }
}
