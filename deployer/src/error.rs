//! The deployer's error type and its [`host::ErrorClass`], which xtask turns into exit codes.

use std::path::PathBuf;

use host::ErrorClass;

/// Everything the deployer can fail at.
///
/// Messages are lowercase fragments that name the file, line, object or URL involved; a cause
/// (an I/O or client error) is the error's `source`, never repeated in the message, so show
/// an error with [`host::error_chain`]. Its [`host::Classify`] impl tells bad input from a missing
/// environment from a failure of the cluster itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration, platform or pin file is malformed or fails validation.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending text (0 when the whole file is at fault).
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A manifest template did not render, or rendered into something that is not an object.
    #[error("{path}:{line} (document {document}): {message}")]
    Manifest {
        /// The template file.
        path: PathBuf,
        /// 1-based line in the rendered text where the document (or the problem) is.
        line: usize,
        /// 0-based index of the YAML document inside the file.
        document: usize,
        /// What is wrong.
        message: String,
    },
    /// A Helm command failed: what it was doing, which Helm, and Helm's own message.
    #[error("helm {what} ({helm}): {message}")]
    Helm {
        /// The command, e.g. `template hub …/hub-9.9.1.tgz with values …`.
        what: String,
        /// `Helm 3 v3.22.0`, or the binary when it could not be started.
        helm: String,
        /// Helm's standard error.
        message: String,
    },
    /// A chart pin could not be fetched as pinned.
    #[error("{pin}: {message}")]
    Chart {
        /// `charts.<name> (<pin set file>:<line>)`.
        pin: String,
        /// What is wrong: no digest, a version the repository lacks, a digest mismatch.
        message: String,
    },
    /// A chart hook failed: the stage stops, with the hook's logs.
    #[error("{stage}: hook {hook} failed: {message}{}", if logs.is_empty() { String::new() } else { format!("\n{logs}") })]
    HookFailed {
        /// The stage.
        stage: String,
        /// `Job/<name>` and its `helm.sh/hook` event.
        hook: String,
        /// Why (the Job's Failed condition).
        message: String,
        /// The last lines of its pods' logs.
        logs: String,
    },
    /// A stage name that the platform does not define.
    #[error("unknown stage `{name}`; valid stages: {}", valid.join(", "))]
    UnknownStage {
        /// The name given.
        name: String,
        /// The platform's stages, in order.
        valid: Vec<String>,
    },
    /// The API server could not be reached at all.
    #[error("failed to reach the Kubernetes API server at {url}: {reason}\n  hint: {hint}")]
    Unreachable {
        /// The server URL from the kubeconfig.
        url: String,
        /// The connection error.
        reason: String,
        /// What to run or check.
        hint: String,
    },
    /// A tool or file the environment should provide is missing.
    #[error("{what}\n  hint: {hint}")]
    EnvironmentMissing {
        /// What is missing.
        what: String,
        /// How to provide it.
        hint: String,
    },
    /// A readiness or deletion wait expired.
    #[error("timed out after {seconds} s waiting for {object} to {condition}; last observed: {last_observed}")]
    Timeout {
        /// `Kind namespace/name`.
        object: String,
        /// What was awaited, e.g. `become Available`.
        condition: String,
        /// The wait's limit in seconds.
        seconds: u64,
        /// The last status seen through the watch.
        last_observed: String,
    },
    /// An object will never become ready (a failed Job), or its watch ended.
    #[error("{object} will not become ready: {reason}")]
    NotReady {
        /// `Kind namespace/name`.
        object: String,
        /// What was observed.
        reason: String,
    },
    /// The API server rejected a request about an object.
    #[error("{action} {object}")]
    Api {
        /// What was being done (`apply`, `delete`, `list`, …).
        action: &'static str,
        /// `Kind namespace/name`, or the resource type for lists.
        object: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A process of a cluster this project runs (hollow or local), or a host step of it,
    /// failed.
    #[error("{message}")]
    Cluster {
        /// What failed, including the log file to read.
        message: String,
    },
    /// The run's ledger entry (or the ledger directory) could not be written or removed.
    #[error("failed to write the run ledger {}", path.display())]
    Ledger {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another run owns the deployment: it is running, or it was kept, or it was killed and
    /// its objects could not be removed.
    #[error("deployment `{deployment}` is owned by run {run_id} ({state}, started {started_at})\n  hint: {hint}")]
    Owned {
        /// The deployment.
        deployment: String,
        /// The owning run.
        run_id: String,
        /// `running as pid 123`, `kept`, or `killed; its cluster does not answer`.
        state: String,
        /// When it started, RFC 3339.
        started_at: String,
        /// The command that frees the deployment.
        hint: String,
    },
    /// Building cluster binaries or an image failed, or what it needs (a module version, a
    /// package) is not to be had.
    #[error("{message}")]
    Build {
        /// The step that failed, the pin or package, and the log file to read.
        message: String,
    },
}

impl host::Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Invalid { .. } | Error::Manifest { .. } | Error::UnknownStage { .. } => {
                ErrorClass::BadInput
            }
            Error::Read { .. } => ErrorClass::BadInput,
            // A deployment someone else owns is the wrong input for this run: another
            // project name, or remove the owner first.
            Error::Owned { .. } => ErrorClass::BadInput,
            Error::Ledger { .. } => ErrorClass::EnvironmentMissing,
            // A chart that cannot be fetched as pinned, or that Helm refuses to render with
            // these values on this cluster, is the platform's input.
            Error::Helm { .. } | Error::Chart { .. } => ErrorClass::BadInput,
            Error::HookFailed { .. } => ErrorClass::Runtime,
            // A hollow cluster that cannot be built or started is the environment's trouble.
            Error::Unreachable { .. }
            | Error::EnvironmentMissing { .. }
            | Error::Cluster { .. }
            | Error::Build { .. } => ErrorClass::EnvironmentMissing,
            // The API server refusing what we sent it (400 Bad Request, 413 Request Entity Too
            // Large, 422 Unprocessable Entity: Kubernetes API conventions, "HTTP Status codes")
            // is our input's fault: the manifest, not the cluster.
            Error::Api {
                action: "apply",
                source: kube::Error::Api(status),
                ..
            } if matches!(status.code, 400 | 413 | 422) => ErrorClass::BadInput,
            Error::Timeout { .. } | Error::NotReady { .. } | Error::Api { .. } => {
                ErrorClass::Runtime
            }
        }
    }
}

impl Error {
    pub(crate) fn invalid(
        path: impl Into<PathBuf>,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

/// An install the deployer needed (a Debian package, a pinned tool set) failed: the
/// environment is missing something.
impl From<host::packages::Error> for Error {
    fn from(error: host::packages::Error) -> Self {
        match error {
            host::packages::Error::NotRoot { missing, install } => Error::EnvironmentMissing {
                what: format!("missing: {}", missing.join(", ")),
                hint: format!("run as root: apt-get update && {install}"),
            },
            other => Error::EnvironmentMissing {
                what: host::error_chain(&other),
                hint: "install what the log names by hand, or run as root".to_owned(),
            },
        }
    }
}

/// The deployer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Finds the 1-based line of the first line in `text` whose trimmed start begins with
/// `key:` (optionally behind a `- ` list marker). Used to point validation errors, which serde
/// cannot locate, at the field they concern. Returns 0 when the key is not found.
pub fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            let trimmed = line.trim_start().trim_start_matches("- ");
            trimmed
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .map_or(0, |index| index + 1)
}

/// Deserializes the YAML file `path` holding `text` ([`crate::yaml::from_str`]: duplicate
/// keys and alias bombs found at their line first).
///
/// Errors: [`Error::Invalid`] with the problem's line.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    text: &str,
) -> Result<T> {
    crate::yaml::from_str(text)
        .map_err(|problem| Error::invalid(path, problem.line, problem.message))
}
