//! Reports of a run: the JSON run record, JUnit XML, and the per-stage table printed at the end.

mod junit;
mod record;
mod table;

pub use junit::write_junit;
pub use record::{
    CheckRecord, CheckResult, Outcome, RunRecord, StageRecord, StageStatus, TeardownRecord,
};
pub use table::stage_table;
