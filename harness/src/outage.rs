//! What a run does when its API server stops answering: the probe of
//! [`deployer::api_health`] says so within seconds; the stage or scenario that was running
//! fails naming the outage (an environment error: the run exits 4); the run waits
//! `api_return_timeout_seconds` for the server to answer again, then tears down as usual — or,
//! when it did not return, ends without a teardown, leaving its ledger entry and the command
//! that finishes the work.

use std::time::{Duration, Instant};

use deployer::api_health::{ApiHealth, Health, Outage};
use host::ErrorClass;

use crate::events::{Event, Reporter};
use crate::report::{ApiOutage, StageRecord, StageStatus};

/// The event of an outage noticed while the run was doing `during`.
pub(crate) fn lost_event(during: &str, outage: &Outage, wait: Duration) -> Event {
    Event::ApiServerLost {
        during: during.to_owned(),
        reason: outage.reason.clone(),
        after_seconds: outage.noticed.duration_since(outage.since).as_secs_f64(),
        waiting_seconds: wait.as_secs(),
    }
}

/// Fails the stage that was running when the outage stopped the deploy (the last one that
/// started, `records[started - 1]`, if it had not finished): its error names the outage and
/// its class is an environment error.
pub(crate) fn fail_running_stage(records: &mut [StageRecord], started: usize, outage: &Outage) {
    let Some(record) = started
        .checked_sub(1)
        .and_then(|index| records.get_mut(index))
    else {
        return;
    };
    if record.status == StageStatus::NotRun {
        record.status = StageStatus::DeployFailed;
        record.error = Some(describe(outage));
        record.error_class = Some(ErrorClass::EnvironmentMissing);
    }
}

/// `the API server stopped answering (<reason>)`.
pub(crate) fn describe(outage: &Outage) -> String {
    format!("the API server stopped answering ({})", outage.reason)
}

/// When the server is lost now: waits up to `wait` for it to answer again and says whether it
/// did (reported either way). Returns why the teardown is not possible when it did not, `None`
/// when the server answers.
pub(crate) async fn still_gone(
    health: &ApiHealth,
    wait: Duration,
    reporter: &dyn Reporter,
) -> Option<String> {
    let Health::Lost(outage) = health.current() else {
        return None;
    };
    if health.returned(wait).await {
        reporter.report(Event::ApiServerReturned {
            gone_seconds: outage.since.elapsed().as_secs_f64(),
        });
        None
    } else {
        Some(not_returned(&outage, wait))
    }
}

/// Resolves only when an outage that starts while this is polled (during the teardown) lasts
/// longer than `wait`, with why the teardown was given up; outages that end in time are
/// reported and the teardown goes on.
pub(crate) async fn gives_up(
    health: &ApiHealth,
    wait: Duration,
    reporter: &dyn Reporter,
) -> String {
    loop {
        let outage = health.lost().await;
        reporter.report(lost_event("teardown", &outage, wait));
        if !health.returned(wait).await {
            return not_returned(&outage, wait);
        }
        reporter.report(Event::ApiServerReturned {
            gone_seconds: outage.since.elapsed().as_secs_f64(),
        });
    }
}

fn not_returned(outage: &Outage, wait: Duration) -> String {
    format!(
        "{} and did not answer again within {} s",
        describe(outage),
        wait.as_secs()
    )
}

/// The phases' ends, to say what an outage interrupted.
pub(crate) struct Phases {
    /// When the run started.
    pub started: Instant,
    /// When the deploy phase ended.
    pub deploy_ended: Instant,
    /// When the scenarios ended.
    pub scenarios_ended: Instant,
}

/// The report's record of the first outage, if there was one.
pub(crate) fn record(outage: Option<Outage>, phases: &Phases) -> Option<ApiOutage> {
    let outage = outage?;
    let seconds = |at: Instant| at.saturating_duration_since(phases.started).as_secs_f64();
    let during = if outage.noticed < phases.deploy_ended {
        "deploy"
    } else if outage.noticed < phases.scenarios_ended {
        "scenarios"
    } else {
        "teardown"
    };
    Some(ApiOutage {
        started_seconds: seconds(outage.since),
        noticed_seconds: seconds(outage.noticed),
        returned_seconds: outage.returned.map(seconds),
        reason: outage.reason,
        during: during.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(since: Instant, noticed: Instant) -> Outage {
        Outage {
            since,
            noticed,
            reason: "connection refused".to_owned(),
            returned: None,
        }
    }

    #[test]
    fn the_running_stage_fails_as_an_environment_error_and_finished_ones_keep_their_status() {
        let now = Instant::now();
        let mut records = vec![
            StageRecord::not_run("namespaces"),
            StageRecord::not_run("ingress"),
            StageRecord::not_run("keycloak"),
        ];
        records[0].status = StageStatus::Passed;
        fail_running_stage(&mut records, 2, &outage(now, now));
        assert_eq!(records[0].status, StageStatus::Passed);
        assert_eq!(records[1].status, StageStatus::DeployFailed);
        assert_eq!(
            records[1].error.as_deref(),
            Some("the API server stopped answering (connection refused)")
        );
        assert_eq!(records[1].error_class, Some(ErrorClass::EnvironmentMissing));
        assert_eq!(records[2].status, StageStatus::NotRun);
        // Before any stage started there is nothing to fail.
        fail_running_stage(&mut records, 0, &outage(now, now));
        assert_eq!(records[2].status, StageStatus::NotRun);
    }

    #[test]
    fn the_record_says_which_phase_the_outage_stopped() {
        let started = Instant::now();
        let at = |seconds: u64| started + Duration::from_secs(seconds);
        let phases = Phases {
            started,
            deploy_ended: at(10),
            scenarios_ended: at(20),
        };
        let during = |noticed: u64| record(Some(outage(at(1), at(noticed))), &phases).unwrap();
        assert_eq!(during(5).during, "deploy");
        assert_eq!(during(15).during, "scenarios");
        let teardown = during(25);
        assert_eq!(teardown.during, "teardown");
        assert_eq!(teardown.started_seconds, 1.0);
        assert_eq!(teardown.noticed_seconds, 25.0);
        assert_eq!(teardown.returned_seconds, None);
        assert!(record(None, &phases).is_none());
    }
}
