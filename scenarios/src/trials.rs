//! Scenarios as libtest-mimic trials named `scenarios::<name>`, run by the same runner as the
//! stage checks, so `cargo test` and `cargo nextest run` list, filter and run them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use libtest_mimic::{Completion, Failed, Trial};

use crate::catalog::Scenario;
use crate::driver::BrowserBinaries;
use crate::options::ScenarioOptions;
use crate::record::trial_name;
use crate::record::{ScenarioOutcome, ScenarioRecord};

/// Makes a trial's [`ScenarioOptions`] when the trial runs, on the trial's runtime: preparing
/// may connect to a cluster and a hub, which listing must not, and which a process that runs
/// some other trial need not. Errors fail the trial with their text.
pub type Prepare = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<ScenarioOptions, String>> + Send>> + Send + Sync,
>;

/// What the trials do when run.
#[derive(Clone)]
pub enum TrialPlan {
    /// Nothing to run against: the trials are listed but marked ignored (like the stage
    /// checks without `SEATRIAL_TARGET`). The text says how to give them a target.
    NoTarget(String),
    /// The target runs no workloads (the hollow provider): the trials are listed as ignored,
    /// and when run anyway (`--include-ignored`) each reports itself ignored with this reason:
    /// not passed, not failed.
    Skip(String),
    /// Run against this hub.
    Run(Box<ScenarioOptions>),
    /// Run against the hub these options, made when the trial runs, point at.
    Prepare(Prepare),
}

/// Collects the records of trials that ran, for a report written after
/// `libtest_mimic::run`.
pub type RecordSink = Arc<Mutex<Vec<ScenarioRecord>>>;

/// One trial per scenario in `scenarios`. Each trial runs its scenario on its own Tokio
/// runtime (nextest runs each trial in its own process) and pushes its record into `sink`.
/// A failed trial's message is the failed step's and lists the artifacts written.
pub fn scenario_trials(plan: &TrialPlan, scenarios: &[Scenario], sink: &RecordSink) -> Vec<Trial> {
    scenarios
        .iter()
        .map(|scenario| {
            let name = trial_name(scenario.name());
            let scenario = *scenario;
            let sink = Arc::clone(sink);
            match plan.clone() {
                TrialPlan::NoTarget(hint) => {
                    Trial::test(name, move || Err(Failed::from(hint))).with_ignored_flag(true)
                }
                // Marked ignored at list time too: nextest decides skips when listing, and
                // counts a trial that ignores itself at run time as passed.
                TrialPlan::Skip(reason) => Trial::ignorable_test(name, move || {
                    push(&sink, ScenarioRecord::skipped(scenario.name(), &reason));
                    Ok(Completion::ignored_with(reason))
                })
                .with_ignored_flag(true),
                TrialPlan::Run(options) => run_trial(
                    name,
                    scenario,
                    sink,
                    Arc::new(move || {
                        let options = (*options).clone();
                        Box::pin(async move { Ok(options) })
                    }),
                ),
                TrialPlan::Prepare(prepare) => run_trial(name, scenario, sink, prepare),
            }
        })
        .collect()
}

/// A trial that prepares its options, runs `scenario` on its own runtime and records it.
fn run_trial(name: String, scenario: Scenario, sink: RecordSink, prepare: Prepare) -> Trial {
    Trial::ignorable_test(name, move || {
        let binaries =
            BrowserBinaries::locate().map_err(|error| Failed::from(error.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| Failed::from(format!("failed to start a runtime: {error}")))?;
        let record = runtime.block_on(async {
            let options = prepare().await?;
            Ok::<_, String>(crate::run::run_scenario(scenario, &options, &binaries).await)
        });
        let record = record.map_err(Failed::from)?;
        let verdict = verdict(&record);
        push(&sink, record);
        verdict.map(|()| Completion::Completed)
    })
}

fn push(sink: &RecordSink, record: ScenarioRecord) {
    if let Ok(mut records) = sink.lock() {
        records.push(record);
    }
}

/// A record as a trial result: the failure message plus where its artifacts are.
pub fn verdict(record: &ScenarioRecord) -> Result<(), Failed> {
    if record.outcome != ScenarioOutcome::Failed {
        return Ok(());
    }
    let mut message = record.message.clone().unwrap_or_default();
    if let Some(artifacts) = &record.artifacts {
        for file in artifacts.files() {
            message.push_str(&format!("\n  artifact: {}", file.display()));
        }
        for missing in &artifacts.missing {
            message.push_str(&format!("\n  not captured: {missing}"));
        }
    }
    Err(Failed::from(message))
}
