//! The data steps stages declare for an upgrade trial (the `upgrade:` section of their
//! `checks.yaml`, docs/upgrade.md): seed steps run before the upgrade, in order, each an
//! object applied or a check (an HTTP call that writes); verify steps are checks run after it.
//! Records are named `<stage>::<step>` inside the trial's `seed` and `upgrade` stages.

use std::time::Instant;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use crate::checks::{run_checks, Check, SeedStep};
use crate::integration::DataContext;
use crate::report::{CheckRecord, CheckResult};

/// The field manager seed objects are applied with: not the platform's, as a user's write is
/// not the platform's.
pub const SEED_FIELD_MANAGER: &str = "seatrial-seed";

/// Runs every deployed stage's seed steps, in order; after a failed step the stage's later
/// steps are skipped. Returns the records (started seconds counted from `started`) and the
/// verify checks to run after the upgrade: those of every stage whose seed steps all passed
/// (a stage with verify steps and no seed steps verifies what its deployment made).
pub async fn seed(context: DataContext<'_>, started: Instant) -> (Vec<CheckRecord>, Vec<Check>) {
    let mut records = Vec::new();
    let mut verify = Vec::new();
    for stage in context.stages {
        let mut failed: Option<String> = None;
        for step in &stage.seed {
            let name = format!("{}::{}", step.stage(), step.name());
            if let Some(earlier) = &failed {
                records.push(step_record(
                    name,
                    step,
                    Err(format!("not run: seed step {earlier} failed")),
                    Instant::now(),
                    started,
                ));
                continue;
            }
            let record = match step {
                SeedStep::Apply { object, .. } => {
                    let step_started = Instant::now();
                    let outcome = apply(context, object).await;
                    step_record(name, step, Ok(outcome), step_started, started)
                }
                SeedStep::Check(check) => {
                    let outcome = context.runner.run(check).await;
                    CheckRecord {
                        name,
                        ..CheckRecord::of(check, outcome, started)
                    }
                }
            };
            if record.result == CheckResult::Failed {
                failed = Some(record.name.clone());
            }
            records.push(record);
        }
        if failed.is_none() {
            verify.extend(stage.verify.iter().cloned());
        }
    }
    (records, verify)
}

/// Runs the verify `checks` (as stage checks run: `after` orders them within their stage),
/// one record each, named `<stage>::<check>`.
pub async fn verify(
    context: DataContext<'_>,
    checks: &[Check],
    started: Instant,
) -> Vec<CheckRecord> {
    let mut stages: Vec<&str> = checks.iter().map(|check| check.stage.as_str()).collect();
    stages.dedup();
    let mut records = Vec::new();
    for stage in stages {
        let of_stage: Vec<Check> = checks
            .iter()
            .filter(|check| check.stage == stage)
            .cloned()
            .collect();
        let outcomes = run_checks(context.runner, &of_stage).await;
        for (check, outcome) in of_stage.iter().zip(outcomes) {
            records.push(CheckRecord {
                name: check.trial_name(),
                ..CheckRecord::of(check, outcome, started)
            });
        }
    }
    records
}

/// A seed step's record (an apply, or one skipped): passed with the message of `outcome`'s `Ok(Ok(…))`, failed with
/// its `Ok(Err(…))`, skipped with its `Err(…)`; started seconds counted from `started`.
fn step_record(
    name: String,
    step: &SeedStep,
    outcome: Result<Result<String, String>, String>,
    step_started: Instant,
    started: Instant,
) -> CheckRecord {
    let (result, message, attempts) = match outcome {
        Ok(Ok(message)) => (CheckResult::Passed, message, 1),
        Ok(Err(message)) => (CheckResult::Failed, message, 1),
        Err(why) => (CheckResult::Skipped, why, 0),
    };
    CheckRecord {
        name,
        kind: kind(step).to_owned(),
        result,
        message,
        started_seconds: step_started
            .saturating_duration_since(started)
            .as_secs_f64(),
        seconds: step_started.elapsed().as_secs_f64(),
        attempts,
        failures: Vec::new(),
        diagnostics: None,
    }
}

/// The kind of a seed step's record: `apply`, or its check's assertion kind.
fn kind(step: &SeedStep) -> &'static str {
    match step {
        SeedStep::Apply { .. } => "apply",
        SeedStep::Check(check) => check.assertion.kind(),
    }
}

/// Applies a seed object (server-side apply, [`SEED_FIELD_MANAGER`]), labelled as the run's
/// `seed` objects are so the teardown's sweep removes it; a namespaced object without a
/// namespace goes to the platform's. The message names the object and its resourceVersion.
async fn apply(context: DataContext<'_>, object: &Value) -> Result<String, String> {
    let options = context.options;
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(&options.config.namespace);
    let (resource, namespace) = context
        .runner
        .watches()
        .locate(api_version, kind, Some(namespace))
        .await?;
    let described = match &namespace {
        Some(namespace) => format!("{kind} {namespace}/{name}"),
        None => format!("{kind} {name}"),
    };
    let inventory = deployer::inventory::Inventory {
        deployment: options.config.project_name.clone(),
        run_id: options.run_id.clone(),
    };
    let mut object = object.clone();
    let metadata = object
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .expect("validated: the object has metadata");
    if let Some(namespace) = &namespace {
        metadata.insert("namespace".into(), Value::String(namespace.clone()));
    }
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(labels) = labels.as_object_mut() {
        for (key, value) in inventory.labels(super::seeds::SEED_STAGE) {
            labels.insert(key, Value::String(value));
        }
    }
    let api: Api<DynamicObject> = match &namespace {
        Some(namespace) => Api::namespaced_with(context.client.clone(), namespace, &resource),
        None => Api::all_with(context.client.clone(), &resource),
    };
    let params = PatchParams::apply(SEED_FIELD_MANAGER).force();
    let written = api
        .patch(name, &params, &Patch::Apply(&object))
        .await
        .map_err(|error| format!("applying {described} failed: {error}"))?;
    Ok(format!(
        "applied {described} (resourceVersion {})",
        written.metadata.resource_version.unwrap_or_default()
    ))
}
