//! The home directory and the project's cache under it.

use std::path::PathBuf;

/// `$HOME`, or `/root` when unset.
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from)
}

/// `~/.cache/seatrial`: built binaries, images, charts and tool installs, kept between runs.
pub fn cache_dir() -> PathBuf {
    home_dir().join(".cache/seatrial")
}
