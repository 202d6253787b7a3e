//! Pruning an upgraded deployment: what an earlier run applied and the upgrading run no longer
//! renders is deleted, as `helm upgrade` deletes the objects of the old release manifest that
//! the new one lacks (Helm docs, "helm upgrade"; objects annotated
//! `helm.sh/resource-policy: keep` stay there too).
//!
//! The candidates come from the earlier run's ledger entry; an object is pruned only while it
//! still carries that run's `seatrial.dev/run` label (the upgrading run's apply relabels every
//! object it renders) and a stage label the caller names.

use std::time::Duration;

use kube::api::DynamicObject;

use crate::apply::{api_for, Applier};
use crate::deletion::{delete_all, wait_all_gone, Deleted, Target};
use crate::inventory::{ObjectId, RUN_LABEL, STAGE_LABEL};

/// What [`prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Deleted and gone, each with the stage label it carried.
    pub deleted: Vec<(String, ObjectId)>,
    /// Left in place because they carry `helm.sh/resource-policy: keep`.
    pub kept: Vec<ObjectId>,
    /// What could not be pruned, a sentence each naming the object.
    pub problems: Vec<String>,
}

/// Deletes each of `candidates` that still carries `previous_run`'s run label and a stage
/// label for which `of_stage` is true, then waits up to `timeout` until they are gone. A
/// candidate whose type is no longer served, or that is already gone, is skipped: there is
/// nothing left to prune.
pub async fn prune(
    applier: &mut Applier,
    previous_run: &str,
    of_stage: impl Fn(&str) -> bool,
    candidates: &[ObjectId],
    timeout: Duration,
) -> Pruned {
    let mut pruned = Pruned::default();
    let mut targets = Vec::new();
    let mut stages = Vec::new();
    for id in candidates {
        let Ok((resource, _)) = applier.resolve(&id.api_version, &id.kind).await else {
            continue;
        };
        let api = api_for(applier.client(), &resource, id.namespace.as_deref());
        let live: DynamicObject = match api.get_opt(&id.name).await {
            Ok(Some(live)) => live,
            Ok(None) => continue,
            Err(error) => {
                pruned
                    .problems
                    .push(format!("failed to read {id}: {error}"));
                continue;
            }
        };
        let labels = live.metadata.labels.clone().unwrap_or_default();
        let stage = labels.get(STAGE_LABEL).cloned().unwrap_or_default();
        if labels.get(RUN_LABEL).map(String::as_str) != Some(previous_run) || !of_stage(&stage) {
            continue;
        }
        if crate::charts::hooks::object_keeps(&live) {
            pruned.kept.push(id.clone());
            continue;
        }
        targets.push(Target {
            id: id.clone(),
            resource,
            uid: live.metadata.uid.clone(),
        });
        stages.push(stage);
    }
    let client = applier.client().clone();
    let deleted = delete_all(&client, &targets, None).await;
    let gone = wait_all_gone(&client, &targets, None, timeout).await;
    for ((target, stage), (deleted, gone)) in targets
        .into_iter()
        .zip(stages)
        .zip(deleted.into_iter().zip(gone))
    {
        match (deleted, gone) {
            (Deleted::Failed(error), _) => pruned
                .problems
                .push(format!("failed to delete {}: {error}", target.id)),
            (_, Err(error)) => pruned.problems.push(host::error_chain(&error)),
            (_, Ok(())) => pruned.deleted.push((stage, target.id)),
        }
    }
    pruned
}
