//! Reports of a run: the JSON run record, JUnit XML, a Markdown summary, an SVG timeline, and
//! the per-stage table printed at the end.

mod junit;
mod markdown;
mod record;
mod table;
mod timeline;

pub use junit::write_junit;
pub use markdown::{markdown_summary, write_markdown, GITHUB_STEP_SUMMARY};
pub use record::{
    CheckRecord, CheckResult, Outcome, RunRecord, StageRecord, StageStatus, TeardownRecord,
};
pub use table::stage_table;
pub use timeline::timeline_svg;
