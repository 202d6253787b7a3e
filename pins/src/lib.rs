//! Tooling over the pin set (`pins/pins.toml`).
//!
//! Today the deployer reads the set's images itself (`deployer::pins`); the commands that
//! check, bump and deliver pins arrive with the issue "Pins". Until then this crate only
//! re-exports the reader so that callers already depend on the right crate.

pub use deployer::pins::{load_images, parse_images, ImagePin, ImagePins};

/// The pin set shipped in this repository.
pub fn default_pins_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pins.toml")
}
