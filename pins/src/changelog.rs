//! The pin changelog (`pins/CHANGELOG.md`): one dated section per bump, newest first, a
//! table of old → new versions with release-notes links.

use serde::Serialize;

use crate::model::PinId;

/// The file's head, written when it does not exist yet.
pub const HEADER: &str = "# Pin changes\n\nWritten by `cargo xtask pins bump` and `cargo xtask pins pr`, newest first.\n";

/// One pin's move.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The pin.
    pub pin: PinId,
    /// Its group.
    pub group: Option<String>,
    /// The version before.
    pub old: String,
    /// The version after.
    pub new: String,
    /// The digest before, if locked.
    pub old_digest: Option<String>,
    /// The digest after (re-resolved when the pin was locked).
    pub new_digest: Option<String>,
    /// Release notes for the new version.
    pub release_notes: Option<String>,
    /// The new version's age in days, when known.
    pub age_days: Option<u64>,
}

/// The Markdown table of `changes` (also the pull request's body).
pub fn table(changes: &[Change]) -> String {
    let mut text =
        String::from("| Pin | Group | Old | New | Release notes |\n|---|---|---|---|---|\n");
    for change in changes {
        let notes = change
            .release_notes
            .as_ref()
            .map_or_else(|| "—".to_owned(), |url| format!("[{}]({url})", change.new));
        text.push_str(&format!(
            "| `{}` | {} | {} | {} | {notes} |\n",
            change.pin,
            change.group.as_deref().unwrap_or("—"),
            change.old,
            change.new
        ));
    }
    text
}

/// `existing` (or [`HEADER`] when empty) with a section for `date` (`YYYY-MM-DD`) inserted
/// above the newest section.
pub fn prepend(existing: &str, date: &str, changes: &[Change]) -> String {
    let existing = if existing.trim().is_empty() {
        HEADER
    } else {
        existing
    };
    let section = format!("## {date}\n\n{}\n", table(changes));
    match existing.find("\n## ") {
        Some(index) => format!(
            "{}\n{section}{}",
            &existing[..index + 1],
            &existing[index + 1..]
        ),
        None => format!(
            "{}\n{section}",
            existing.trim_end_matches('\n').to_owned() + "\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    #[test]
    fn sections_go_newest_first() {
        let change = |new: &str| Change {
            pin: PinId {
                kind: Kind::Image,
                name: "a".into(),
            },
            group: None,
            old: "1.0.0".into(),
            new: new.into(),
            old_digest: None,
            new_digest: None,
            release_notes: Some(format!("https://example.test/{new}")),
            age_days: None,
        };
        let first = prepend("", "2026-01-01", &[change("1.1.0")]);
        let second = prepend(&first, "2026-02-01", &[change("1.2.0")]);
        assert!(second.starts_with(HEADER), "{second}");
        let newer = second.find("## 2026-02-01").unwrap();
        let older = second.find("## 2026-01-01").unwrap();
        assert!(newer < older, "{second}");
        assert!(second
            .contains("| `images.a` | — | 1.0.0 | 1.2.0 | [1.2.0](https://example.test/1.2.0) |"));
    }
}
