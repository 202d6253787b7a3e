//! Reading the end of a log file, to show beside a failure that names the log.

/// The last `lines` lines of the file at `path`, joined by newlines (empty when it cannot be
/// read).
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut tail: Vec<&str> = text.lines().rev().take(lines).collect();
    tail.reverse();
    tail.join("\n")
}
