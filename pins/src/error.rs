//! Errors of the pin set tooling.

use std::path::PathBuf;

use host::{Classify, ErrorClass};

/// A failure to read, validate, resolve or deliver the pin set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pin set could not be read or is malformed, or a selection (`--group`, `--only`)
    /// names what it lacks: the pin set model's own error.
    #[error(transparent)]
    PinSet(#[from] deployer::pinset::Error),
    /// A file other than the pin set (the changelog, an output) could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A command needs a credential from the environment.
    #[error("{what} needs a GitHub token in the environment variable {variable} ({hint}); `--dry-run` works without it")]
    MissingToken {
        /// The command.
        what: String,
        /// The variable to set.
        variable: String,
        /// The permissions the token needs.
        hint: String,
    },
    /// A network request failed for good (after retries).
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    /// The GitHub API refused a write (`pr`).
    #[error("GitHub API: {0}")]
    GitHub(String),
    /// A pin could not be resolved to the data a command needs (`lock`, `bump`).
    #[error("{pin}: {message}")]
    Resolve {
        /// The pin's dotted name.
        pin: String,
        /// What went wrong.
        message: String,
    },
}

/// The user's input (the pin set, arguments, a missing token) is [`ErrorClass::BadInput`];
/// what the network or GitHub did is [`ErrorClass::Runtime`].
impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::PinSet(_) | Error::MissingToken { .. } | Error::Io { .. } => {
                ErrorClass::BadInput
            }
            Error::Fetch(_) | Error::GitHub(_) | Error::Resolve { .. } => ErrorClass::Runtime,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
