//! The harness's error type: what stops an integration run before anything is applied.

use std::path::PathBuf;

use host::{Classify, ErrorClass};

/// What can stop a run before its first apply (after that a run always ends with a
/// [`crate::report::RunRecord`], whatever failed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The deployer refused the input (config, platform, manifests, checks, a chart pin) or
    /// could not reach, build or start the provider.
    #[error(transparent)]
    Deploy(#[from] deployer::Error),
    /// The report directory could not be created.
    #[error("failed to create the report dir {}\n  hint: pass a writable --report-dir", path.display())]
    ReportDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A blocking step (building binaries or images, fetching charts) panicked.
    #[error("{step} panicked")]
    Panicked {
        /// The step.
        step: &'static str,
        /// The task's join error.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// A deployer error keeps its class; a report dir that cannot be made is the environment's;
/// a panic is a runtime failure.
impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Deploy(error) => error.class(),
            Error::ReportDir { .. } => ErrorClass::EnvironmentMissing,
            Error::Panicked { .. } => ErrorClass::Runtime,
        }
    }
}

/// Result with the harness's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
