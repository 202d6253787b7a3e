//! How a failure is reported to the person who ran the command: the one classification every
//! library error type of the workspace reports, through [`Classify`]. xtask's exit-code table
//! maps each class to a code; libraries never pick codes themselves.

/// The kind of a failure, independent of the crate it came from (`"bad_input"`,
/// `"environment_missing"`, `"runtime"` in reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The input (config, platform, manifests, pin set, arguments) is wrong: fix it and retry.
    BadInput,
    /// A tool, package, browser or cluster that should be there is not, or cannot be reached.
    EnvironmentMissing,
    /// The cluster or the platform misbehaved, or a wait expired.
    Runtime,
}

/// An error that knows its [`ErrorClass`].
pub trait Classify {
    /// The class of this error; decided by the variant, never by the message text.
    fn class(&self) -> ErrorClass;
}
