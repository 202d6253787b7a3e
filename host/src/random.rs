//! Random bytes from the operating system (`/dev/urandom`), for secrets, tokens and port picks.

use std::io::Read;

/// Fills `buffer` from `/dev/urandom`. Errors: the device cannot be opened or read.
pub fn fill(buffer: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buffer)
}

/// `bytes` random bytes as lowercase hex (twice as many characters).
/// Errors: those of [`fill`].
pub fn hex_token(bytes: usize) -> std::io::Result<String> {
    let mut buffer = vec![0u8; bytes];
    fill(&mut buffer)?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}
