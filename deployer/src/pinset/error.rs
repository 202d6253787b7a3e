//! Errors of reading and selecting from a pin set.

use std::path::PathBuf;

/// A pin set that cannot be read, or a selection it cannot satisfy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("failed to read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
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
    /// `--only` (or a chart stage) names no pin of the pin set.
    #[error("unknown pin `{name}`; pins are named like `images.traefik` or `traefik`; the pin set has: {}", valid.join(", "))]
    UnknownPin {
        /// The name asked for.
        name: String,
        /// Every pin's dotted name.
        valid: Vec<String>,
    },
}

/// The result type of [`super::load`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
