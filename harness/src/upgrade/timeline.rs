//! The trial's combined timeline: both deployments on one time axis (`timeline.svg` at the
//! top of the trial's report dir), drawn by the run timeline ([`crate::report::timeline_svg`]).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::report::RunRecord;

/// One run record holding both deployments: the first's stages as `from: <stage>`, the
/// upgrade's as `to: <stage>`, shifted by the seconds between the two runs' starts (their
/// `started_at`; the first run's length when either does not parse), with the first run's
/// provider start-up and the upgrade's teardown and sweep. Its run id is `<from> → <to>`.
pub fn combined(from: &RunRecord, to: &RunRecord) -> RunRecord {
    let started = |record: &RunRecord| OffsetDateTime::parse(&record.started_at, &Rfc3339).ok();
    let offset = match (started(from), started(to)) {
        (Some(first), Some(second)) if second >= first => (second - first).as_seconds_f64(),
        _ => from.seconds,
    };
    let mut record = to.clone();
    record.run_id = format!("{} → {}", from.run_id, to.run_id);
    record.started_at = from.started_at.clone();
    record.provider_seconds = from.provider_seconds;
    record.provider_reused = from.provider_reused;
    record.seconds = offset + to.seconds;
    record.stages = from
        .stages
        .iter()
        .map(|stage| ("from", stage.clone(), 0.0))
        .chain(to.stages.iter().map(|stage| ("to", stage.clone(), offset)))
        .map(|(phase, mut stage, shift)| {
            stage.name = format!("{phase}: {}", stage.name);
            stage.started_seconds += shift;
            for check in &mut stage.checks {
                check.started_seconds += shift;
            }
            stage
        })
        .collect();
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{StageRecord, StageStatus};

    fn run(id: &str, started_at: &str, seconds: f64, stage_at: f64) -> RunRecord {
        let mut stage = StageRecord::not_run("ingress");
        stage.status = StageStatus::Passed;
        stage.started_seconds = stage_at;
        let mut record = RunRecord {
            run_id: id.into(),
            seconds,
            provider_seconds: 40.0,
            ..RunRecord::empty("local", started_at)
        };
        record.stages = vec![stage];
        record
    }

    #[test]
    fn the_upgrade_s_stages_follow_the_first_deployment_s_on_one_axis() {
        let from = run("a", "2026-12-02T10:00:00Z", 200.0, 50.0);
        let to = run("b", "2026-12-02T10:03:30Z", 100.0, 5.0);
        let both = combined(&from, &to);
        let rows: Vec<(String, f64)> = both
            .stages
            .iter()
            .map(|stage| (stage.name.clone(), stage.started_seconds))
            .collect();
        assert_eq!(
            rows,
            [
                ("from: ingress".to_owned(), 50.0),
                ("to: ingress".to_owned(), 215.0)
            ]
        );
        assert_eq!(both.seconds, 310.0);
        assert_eq!(both.run_id, "a → b");
        assert!(crate::report::timeline_svg(&both).contains("to: ingress"));
    }
}
