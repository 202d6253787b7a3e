//! An error and its sources as one line.

/// `error`'s message followed by each of its sources (`std::error::Error::source`), joined
/// with `: `. A source whose text the line already contains is skipped: foreign errors (hyper,
/// reqwest, kube) often repeat their cause in their own message, while the bare display of a
/// client error often hides it (e.g. "connection refused").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to read the config")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn sources_follow_the_message_once() {
        let error = Outer(std::io::Error::other("permission denied"));
        assert_eq!(
            error_chain(&error),
            "failed to read the config: permission denied"
        );
    }
}
