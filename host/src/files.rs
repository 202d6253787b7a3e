//! Files only their owner may read.

use std::path::Path;

/// Writes `text` to `path` with mode 0600 (for kubeconfigs and tokens), replacing it.
///
/// Errors: the operating system's.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}
