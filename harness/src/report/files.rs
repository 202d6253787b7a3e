//! Writing every report of a run to its report directory.

use std::path::{Path, PathBuf};

use super::{timeline_svg, write_junit, write_markdown, RunRecord};

/// Writes `report.json`, `junit.xml`, `summary.md` (and `$GITHUB_STEP_SUMMARY`) and
/// `timeline.svg` to `report_dir`. A file that cannot be written does not stop the others; the
/// files that failed come back with their errors, for the caller to warn about.
pub fn write_all(record: &RunRecord, report_dir: &Path) -> Vec<(PathBuf, std::io::Error)> {
    let mut failed = Vec::new();
    let mut attempt = |path: PathBuf, result: std::io::Result<()>| {
        if let Err(error) = result {
            failed.push((path, error));
        }
    };
    let json = report_dir.join("report.json");
    let text = serde_json::to_string_pretty(record).expect("a record serializes");
    attempt(json.clone(), std::fs::write(&json, text));
    let junit = report_dir.join("junit.xml");
    attempt(junit.clone(), write_junit(record, &junit));
    let markdown = report_dir.join("summary.md");
    attempt(markdown.clone(), write_markdown(record, &markdown));
    let svg = report_dir.join("timeline.svg");
    attempt(svg.clone(), std::fs::write(&svg, timeline_svg(record)));
    failed
}
