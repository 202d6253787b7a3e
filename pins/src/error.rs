//! Errors of the pin set tooling.

use std::path::PathBuf;

use host::{Classify, ErrorClass};

/// A failure to read, validate, resolve or deliver the pin set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The pin set is malformed: `file:line: key: message`.
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        /// The pin set file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// The dotted key at fault, e.g. `images.traefik.policy.range`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `--group` names no group of the pin set.
    #[error("unknown group `{group}`; the pin set's groups are: {}", valid.join(", "))]
    UnknownGroup {
        /// The group asked for.
        group: String,
        /// The groups the pin set defines.
        valid: Vec<String>,
    },
    /// `--only` names no pin of the pin set.
    #[error("unknown pin `{name}`; pins are named like `images.traefik` or `traefik`; the pin set has: {}", valid.join(", "))]
    UnknownPin {
        /// The name asked for.
        name: String,
        /// Every pin's dotted name.
        valid: Vec<String>,
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
    #[error("{0}")]
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

impl From<deployer::pinset::Error> for Error {
    fn from(error: deployer::pinset::Error) -> Self {
        use deployer::pinset::Error as PinSet;
        match error {
            PinSet::Io { path, source } => Error::Io { path, source },
            PinSet::Invalid {
                path,
                line,
                key,
                message,
            } => Error::Invalid {
                path,
                line,
                key,
                message,
            },
            PinSet::UnknownGroup { group, valid } => Error::UnknownGroup { group, valid },
            PinSet::UnknownPin { name, valid } => Error::UnknownPin { name, valid },
        }
    }
}

/// The user's input (the pin set, arguments, a missing token) is [`ErrorClass::BadInput`];
/// what the network or GitHub did is [`ErrorClass::Runtime`].
impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Invalid { .. }
            | Error::UnknownGroup { .. }
            | Error::UnknownPin { .. }
            | Error::MissingToken { .. }
            | Error::Io { .. } => ErrorClass::BadInput,
            Error::Fetch(_) | Error::GitHub(_) | Error::Resolve { .. } => ErrorClass::Runtime,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
