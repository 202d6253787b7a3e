//! The ground floor of the workspace: small host utilities that every other crate may use and
//! that depend on nothing of ours.
//!
//! - [`class`]: the one classification of failures ([`ErrorClass`], [`Classify`]) every
//!   library error reports and xtask turns into exit codes;
//! - [`chain`]: an error and its sources as one line;
//! - [`dirs`]: `$HOME` and the project's cache directory;
//! - [`files`]: writing private (mode 0600) files;
//! - [`logs`]: the tail of a log file;
//! - [`packages`]: Debian packages and pinned tool sets installed on demand;
//! - [`path`]: finding a program on `PATH`;
//! - [`ports`]: free loopback ports;
//! - [`process`]: stopping processes and process groups by pid;
//! - [`random`]: bytes from `/dev/urandom`;
//! - [`signals`]: SIGINT, SIGTERM and SIGHUP watched for a whole run.
//!
//! Like every library of the workspace it prints nothing; it logs through `tracing`.

pub mod chain;
pub mod class;
pub mod dirs;
pub mod files;
pub mod logs;
pub mod packages;
pub mod path;
pub mod ports;
pub mod process;
pub mod random;
pub mod signals;

pub use chain::error_chain;
pub use class::{Classify, ErrorClass};
