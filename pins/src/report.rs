//! Plain-text tables for the commands' human output (JSON comes from serde).

use crate::check::{CheckResult, Status};
use crate::model::{Pin, Source};
use crate::outdated::{Candidate, Outdated};

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            widths[index] = widths[index].max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        for (index, cell) in cells.iter().enumerate() {
            if index == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[index]));
            }
        }
        text.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    text
}

/// The first 12 hex digits of a digest, `sha256:0123456789ab`, or `-`.
pub fn short_digest(digest: Option<&str>) -> String {
    digest.map_or_else(|| "-".to_owned(), |d| d.chars().take(19).collect())
}

/// `list`'s table.
pub fn list(pins: &[&Pin]) -> String {
    let rows: Vec<Vec<String>> = pins
        .iter()
        .map(|pin| {
            let source = match &pin.source {
                Source::Chart { repository, chart } => format!("{chart} @ {repository}"),
                Source::Image(name) => name.to_string(),
                Source::Tool { github, .. } => format!("github.com/{github}"),
                Source::GoModule { module } => format!("go module {module}"),
                Source::PyPi { project } => format!("pypi {project}"),
                Source::Npm { package } => format!("npm {package}"),
                Source::Maven { coordinate } => format!("maven {coordinate}"),
                Source::Bundle { url, .. } => url.clone(),
            };
            vec![
                pin.id.to_string(),
                source,
                pin.version.clone(),
                short_digest(pin.digest.as_deref()),
                pin.group.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["PIN", "SOURCE", "VERSION", "DIGEST", "GROUP"], &rows)
}

/// `check`'s table.
pub fn check(results: &[CheckResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|result| {
            let status = match result.status {
                Status::Ok => "ok",
                Status::OutsidePolicy => "OUTSIDE POLICY",
                Status::Broken => "BROKEN",
                Status::Moved => "MOVED",
                Status::Unchecked => "unchecked",
            };
            let mut detail = result.message.clone();
            if result.failed() {
                if let Some(url) = &result.url {
                    if !detail.contains(url.as_str()) {
                        detail.push_str(&format!(" [{url}]"));
                    }
                }
                if let Some(code) = result.http_status {
                    if !detail.contains(&format!("HTTP {code}")) {
                        detail.push_str(&format!(" (HTTP {code})"));
                    }
                }
            }
            vec![result.pin.to_string(), status.to_owned(), detail]
        })
        .collect();
    table(&["PIN", "STATUS", "DETAIL"], &rows)
}

fn cell(candidate: Option<&Candidate>) -> String {
    match candidate {
        None => "-".to_owned(),
        Some(candidate) => match candidate.age_days {
            Some(days) => format!("{} ({days}d)", candidate.version),
            None => candidate.version.clone(),
        },
    }
}

/// `outdated`'s table.
pub fn outdated(answers: &[Outdated]) -> String {
    let rows: Vec<Vec<String>> = answers
        .iter()
        .map(|answer| {
            vec![
                answer.pin.to_string(),
                answer.group.clone().unwrap_or_else(|| "-".into()),
                cell(Some(&answer.current)),
                cell(answer.newest_allowed.as_ref()),
                cell(answer.newest.as_ref()),
                answer.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &["PIN", "GROUP", "CURRENT", "ALLOWED", "NEWEST", "NOTE"],
        &rows,
    )
}

/// `list --json`: one object per pin.
pub fn list_json(pins: &[&Pin]) -> serde_json::Value {
    serde_json::Value::Array(
        pins.iter()
            .map(|pin| {
                let (kind_fields, source) = match &pin.source {
                    Source::Chart { repository, chart } => (
                        serde_json::json!({"chart": chart}),
                        repository.to_string(),
                    ),
                    Source::Image(name) => (serde_json::json!({}), name.to_string()),
                    Source::Tool { github, asset, url } => (
                        serde_json::json!({"asset": asset, "url": url}),
                        format!("github.com/{github}"),
                    ),
                    Source::GoModule { module } => (serde_json::json!({"go_module": module}), module.clone()),
                    Source::PyPi { project } => (serde_json::json!({"pypi": project}), project.clone()),
                    Source::Npm { package } => (serde_json::json!({"npm": package}), package.clone()),
                    Source::Maven { coordinate } => (serde_json::json!({"maven": coordinate}), coordinate.clone()),
                    Source::Bundle { url, github } => (serde_json::json!({"github": github}), url.clone()),
                };
                let mut value = serde_json::json!({
                    "pin": pin.id,
                    "kind": pin.id.kind,
                    "source": source,
                    "version": pin.version,
                    "digest": pin.digest,
                    "group": pin.group,
                    "reference": pin.reference(),
                    "policy": {
                        "range": pin.policy.range.as_ref().map(|(_, text)| text),
                        "allow_major": pin.policy.allow_major,
                        "min_release_age_seconds": pin.policy.min_release_age.map(|age| age.as_secs()),
                        "prerelease": pin.policy.prerelease,
                        "tag_pattern": pin.policy.tag_pattern.as_ref().map(|pattern| pattern.0.as_str()),
                    },
                });
                if let (Some(object), Some(extra)) = (value.as_object_mut(), kind_fields.as_object()) {
                    object.extend(extra.clone());
                }
                value
            })
            .collect(),
    )
}
