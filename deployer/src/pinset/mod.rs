//! The pin set (`pins/pins.toml`): one model that the deployer (images, charts, the Go tools
//! it builds) and the `pins` crate's tooling (check, outdated, lock, bump) both read.
//!
//! - [`model`] — `PinSet`, `Pin`, `Source` by kind, groups, relocations, `Selection`.
//! - [`policy`] — update policies (semver ranges, majors, release age, tag patterns).
//! - [`load`] — the file → `PinSet`, offline, every error naming file, line and dotted key.
//! - [`error`] — what [`load`] and [`model::PinSet::select`] return.

pub mod error;
pub mod load;
pub mod model;
pub mod policy;

pub use error::{Error, Result};
