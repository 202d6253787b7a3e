//! Teardown: deleting what a run applied, stage by stage in reverse order.
//!
//! Within a stage objects go in reverse apply order (workloads, then RBAC, then Namespaces,
//! then CRDs). Each stage's deletions are awaited through watches before the previous stage
//! is torn down, so a Namespace is gone before the CRDs and cluster roles it depended on.
//! Failures do not stop the teardown: they are collected, and the sweep that follows reports
//! whatever is still there.
//!
//! Two things charts leave are handled here: an object annotated `helm.sh/resource-policy:
//! keep` is not deleted but listed in [`TeardownReport::kept`]; a StatefulSet's
//! PersistentVolumeClaims ([`crate::claims`]) are deleted once the StatefulSet is gone.

use std::time::{Duration, Instant};

use kube::api::DeleteParams;
use kube::Client;

use crate::apply::AppliedObject;
use crate::deletion::{delete_all, wait_all_gone, Deleted, Target};
use crate::wait::wait_deleted;

/// What a teardown did.
#[derive(Debug, Clone, Default)]
pub struct TeardownReport {
    /// Objects deleted (or already gone).
    pub deleted: usize,
    /// Deletions that failed or did not finish, as messages naming the object.
    pub problems: Vec<String>,
    /// Objects left on purpose (`helm.sh/resource-policy: keep`).
    pub kept: Vec<crate::inventory::ObjectId>,
    /// StatefulSet claims deleted (they carry no inventory label).
    pub claims_deleted: Vec<crate::inventory::ObjectId>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Deletes the objects of each stage, last stage first, waiting up to `timeout` for each
/// stage's objects to go (one watch per resource type and namespace, [`crate::deletion`]).
///
/// `stages` holds, in deploy order, each stage's name and the objects it applied (in apply
/// order). With the run's `inventory`, a stage's objects of one type and namespace go in one
/// `deletecollection` under the stage's labels where that removes nothing else
/// ([`crate::deletion::delete_all`]); without it, one DELETE each. Never fails: problems are
/// reported in [`TeardownReport::problems`].
pub async fn destroy(
    client: &Client,
    inventory: Option<&crate::inventory::Inventory>,
    stages: &[(String, Vec<AppliedObject>)],
    timeout: Duration,
) -> TeardownReport {
    let started = Instant::now();
    let mut report = TeardownReport::default();
    for (stage, objects) in stages.iter().rev() {
        tracing::info!(stage = %stage, objects = objects.len(), "tearing down");
        let mut targets = Vec::new();
        for object in objects.iter().rev() {
            if object.keep {
                report.kept.push(object.id.clone());
                continue;
            }
            targets.push(Target {
                id: object.id.clone(),
                resource: object.resource.clone(),
                uid: object.uid.clone(),
            });
        }
        // Last applied, first deleted: workloads, then RBAC and Namespaces, then CRDs, each
        // rank's deletes concurrent, and the next rank started once they are sent.
        targets.sort_by_key(|target| std::cmp::Reverse(crate::apply::apply_rank(&target.id.kind)));
        let selector = inventory.map(|inventory| inventory.stage_selector(stage));
        let mut to_await = Vec::new();
        for rank in targets.chunk_by(|a, b| {
            crate::apply::apply_rank(&a.id.kind) == crate::apply::apply_rank(&b.id.kind)
        }) {
            for (target, deleted) in rank
                .iter()
                .zip(delete_all(client, rank, selector.as_deref()).await)
            {
                match deleted {
                    Deleted::Requested => to_await.push(target.clone()),
                    Deleted::AlreadyGone => report.deleted += 1,
                    Deleted::Failed(error) => report
                        .problems
                        .push(format!("delete {}: {error}", target.id)),
                }
            }
        }
        tracing::info!(stage = %stage, requested = to_await.len(), seconds = started.elapsed().as_secs_f64(), "deletions requested");
        for result in wait_all_gone(client, &to_await, None, timeout).await {
            match result {
                Ok(()) => report.deleted += 1,
                Err(error) => report.problems.push(host::error_chain(&error)),
            }
        }
        for object in objects.iter().filter(|object| !object.keep) {
            let (Some(claims), Some(namespace)) = (&object.claims, &object.id.namespace) else {
                continue;
            };
            delete_claims(client, claims, namespace, timeout, &mut report).await;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Deletes the PersistentVolumeClaims of a (deleted) StatefulSet and waits for them.
pub async fn delete_claims(
    client: &Client,
    claims: &crate::claims::ClaimTemplates,
    namespace: &str,
    timeout: Duration,
    report: &mut TeardownReport,
) {
    let found = match claims.find(client, namespace).await {
        Ok(found) => found,
        Err(error) => {
            report.problems.push(format!(
                "list the claims of StatefulSet {namespace}/{}: {error}",
                claims.statefulset
            ));
            return;
        }
    };
    let resource =
        kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::PersistentVolumeClaim>(&());
    for id in found {
        let api = crate::apply::api_for(client, &resource, Some(namespace));
        match api.delete(&id.name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                report.problems.push(format!("delete {id}: {error}"));
                continue;
            }
        }
        match wait_deleted(api, &id, None, timeout).await {
            Ok(()) => report.claims_deleted.push(id),
            Err(error) => report.problems.push(host::error_chain(&error)),
        }
    }
}
