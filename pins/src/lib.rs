//! The pin set and its tooling: one file (`pins/pins.toml`) pins every chart, image, tool
//! and manifest bundle the platform is built from; this crate reads it, proves every pin
//! resolves, finds updates allowed by each pin's policy, edits the file in place, and
//! delivers bumps as pull requests. `cargo xtask pins …` is its command line; docs/pins.md
//! is the user guide.
//!
//! Offline: [`load`] (validation), [`edit`], [`changelog`], [`report`]. Online, over one
//! [`fetch::Network`] (bounded concurrency, timeouts, retries): [`check`], [`outdated`],
//! [`update`] (`lock`, `bump`), and [`pr`] (octocrab).

pub mod changelog;
pub mod check;
pub mod edit;
pub mod error;
pub mod fetch;
pub mod outdated;
pub mod pr;
pub mod report;
pub mod resolve;
pub mod sources;
#[cfg(feature = "testbed")]
pub mod testbed;
pub mod update;
pub mod wire;

pub use deployer::pins::{load_images, parse_images, ImagePin, ImagePins};
/// The pin set's model and reader live in the deployer, which deploys from the same file.
pub use deployer::pinset::{load, model, policy};
pub use error::{Error, Result};

/// The pin set shipped in this repository.
pub fn default_pins_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pins.toml")
}

/// The changelog beside the shipped pin set.
pub fn default_changelog() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("CHANGELOG.md")
}
