//! What can stop a scenario run before any scenario starts.

use std::path::PathBuf;

use host::{Classify, ErrorClass};

/// Errors of the scenario runner itself (a failing scenario is a [`crate::ScenarioRecord`]
/// with outcome `failed`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary the browser needs is not installed. `package` is the Debian package that
    /// provides it (`chromium` or `chromium-driver`).
    #[error("{binary} is not installed (looked for {path})\n  hint: apt-get install -y {package}")]
    BrowserMissing {
        /// The executable's name.
        binary: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// The Debian package to install.
        package: &'static str,
    },
    /// `--only` named a scenario that does not exist.
    #[error("unknown scenario `{name}`; the scenarios are: {}", valid.join(", "))]
    UnknownScenario {
        /// What was asked for.
        name: String,
        /// Every valid name.
        valid: Vec<&'static str>,
    },
    /// The base URL is not a URL, or the hub behind it does not answer.
    #[error("the hub at {url} is not reachable: {reason}")]
    Unreachable {
        /// The base URL given.
        url: String,
        /// The connection error, with its causes.
        reason: String,
    },
    /// chromedriver did not start or did not accept a session.
    #[error("the browser did not start: {0}")]
    Browser(String),
    /// The local JupyterHub fixture could not be installed or started.
    #[error("the local JupyterHub: {0}")]
    LocalHub(String),
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A browser or local hub that is not installed is [`ErrorClass::EnvironmentMissing`];
/// everything else is about what the runner was given (a scenario name, a base URL, a
/// file) and is [`ErrorClass::BadInput`].
impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::BrowserMissing { .. } | Error::LocalHub(_) => ErrorClass::EnvironmentMissing,
            Error::UnknownScenario { .. }
            | Error::Unreachable { .. }
            | Error::Browser(_)
            | Error::Io { .. } => ErrorClass::BadInput,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
