//! Finding programs on `PATH`.

/// Whether `command` is a file in one of `PATH`'s directories; its path if so.
pub fn on_path(command: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}
