//! The sweep: find every object that still carries a deployment's inventory labels, in every
//! served resource type, delete it, and report what remains.
//!
//! Resource types come from API discovery (`/api` and `/apis`, see [`crate::discovery`]),
//! namespaced and cluster-scoped alike, restricted to those that support `list` and `delete`.
//! Each is listed cluster-wide with the deployment's label selector, at most
//! [`LIST_CONCURRENCY`] lists at a time. A group version that cannot be discovered, or a type
//! that cannot be listed, is reported in [`SweepReport::unchecked`]: the sweep says where it
//! could not look instead of claiming nothing is there.
//!
//! An object annotated `helm.sh/resource-policy: keep` is left and listed in
//! [`SweepReport::kept`], never deleted silently nor left silently; the PersistentVolumeClaims
//! of a swept StatefulSet ([`crate::claims`]), which carry no inventory label, are deleted
//! with it.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::discovery::{verbs, ApiCapabilities, Scope};
use kube::Client;
use serde::{Deserialize, Serialize};

use crate::deletion::{delete_all, wait_all_gone, Deleted, Target};
use crate::discovery::{reason, served_types, Unavailable};
use crate::error::Result;
use crate::inventory::{deployment_selector, ObjectId};
use crate::wait::deletion_status;

/// How many list requests the sweep has in flight at once.
pub const LIST_CONCURRENCY: usize = 8;

/// An object that is still there after the sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// Which object.
    #[serde(flatten)]
    pub id: ObjectId,
    /// Why it remains: pending finalizers, a failed delete, a deletion still in progress.
    pub reason: String,
}

/// What a sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Resource types listed.
    pub resource_types_listed: usize,
    /// Objects found with the deployment's labels and deleted.
    pub deleted: Vec<ObjectId>,
    /// Objects still present at the end.
    pub leftovers: Vec<Leftover>,
    /// Objects left on purpose: they carry `helm.sh/resource-policy: keep`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<ObjectId>,
    /// Group versions that could not be discovered and resource types that could not be
    /// listed (an aggregated API that is down answers 503): the sweep could not look there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<Unavailable>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

struct Found {
    id: ObjectId,
    uid: Option<String>,
    resource: ApiResource,
    status: String,
    keep: bool,
    claims: Option<crate::claims::ClaimTemplates>,
}

/// Sweeps `deployment`: deletes every labelled object and waits up to `timeout` for each to go.
///
/// Errors: [`crate::Error::Api`] when `/api` or `/apis` cannot be read. A group version
/// that cannot be discovered or a type that cannot be listed does not fail the sweep; it is
/// named in [`SweepReport::unchecked`].
pub async fn sweep(client: &Client, deployment: &str, timeout: Duration) -> Result<SweepReport> {
    let started = Instant::now();
    let (resources, mut unchecked) = discover_sweepable(client).await?;
    let selector = deployment_selector(deployment);
    let found = list_labelled(client, &resources, &selector, &mut unchecked).await;
    let mut problems = Vec::new();
    let mut deleted = Vec::new();
    let mut kept = Vec::new();
    let mut targets = Vec::new();
    for object in &found {
        if object.keep {
            kept.push(object.id.clone());
            continue;
        }
        targets.push(Target {
            id: object.id.clone(),
            resource: object.resource.clone(),
            uid: object.uid.clone(),
        });
    }
    let mut to_await = Vec::new();
    for (target, outcome) in targets
        .iter()
        .zip(delete_all(client, &targets, Some(&selector)).await)
    {
        match outcome {
            Deleted::Requested => to_await.push(target.clone()),
            Deleted::AlreadyGone => deleted.push(target.id.clone()),
            Deleted::Failed(error) => problems.push(Leftover {
                id: target.id.clone(),
                reason: format!("delete failed: {error}"),
            }),
        }
    }
    let gone = wait_all_gone(client, &to_await, Some(&selector), timeout).await;
    for (target, result) in to_await.iter().zip(gone) {
        match result {
            Ok(()) => deleted.push(target.id.clone()),
            Err(error) => {
                tracing::warn!(object = %target.id, %error, "not deleted in time")
            }
        }
    }
    for object in found.iter().filter(|object| !object.keep) {
        let (Some(claims), Some(namespace)) = (&object.claims, &object.id.namespace) else {
            continue;
        };
        let mut report = crate::teardown::TeardownReport::default();
        crate::teardown::delete_claims(client, claims, namespace, timeout, &mut report).await;
        deleted.extend(report.claims_deleted);
        for problem in report.problems {
            tracing::warn!(statefulset = %object.id, %problem, "claims not swept");
        }
    }
    // Whatever the deletes did, the truth is what a fresh list says.
    let remaining: Vec<Found> = list_labelled(client, &resources, &selector, &mut unchecked)
        .await
        .into_iter()
        .filter(|object| !object.keep)
        .collect();
    let mut leftovers: Vec<Leftover> = remaining
        .into_iter()
        .map(|object| {
            let reason = problems
                .iter()
                .find(|problem| problem.id == object.id)
                .map_or(object.status.clone(), |problem| problem.reason.clone());
            Leftover {
                id: object.id,
                reason,
            }
        })
        .collect();
    leftovers.sort_by(|a, b| a.id.cmp(&b.id));
    deleted.retain(|id| !leftovers.iter().any(|leftover| &leftover.id == id));
    deleted.sort();
    unchecked.sort_by(|a, b| a.what.cmp(&b.what));
    unchecked.dedup_by(|a, b| a.what == b.what);
    Ok(SweepReport {
        resource_types_listed: resources.len(),
        deleted,
        leftovers,
        kept,
        unchecked,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Every served resource type that supports `list` and `delete`, one version per kind, and
/// the group versions that could not be discovered.
pub async fn discover_sweepable(
    client: &Client,
) -> Result<(Vec<(ApiResource, ApiCapabilities)>, Vec<Unavailable>)> {
    let served = served_types(client).await?;
    let resources = served
        .resources
        .into_iter()
        .filter(|(resource, capabilities)| {
            capabilities.supports_operation(verbs::LIST)
                && capabilities.supports_operation(verbs::DELETE)
                // Events are never labelled by us, and are the most numerous objects.
                && resource.kind != "Event"
        })
        .collect();
    Ok((resources, served.unavailable))
}

async fn list_labelled(
    client: &Client,
    resources: &[(ApiResource, ApiCapabilities)],
    selector: &str,
    unchecked: &mut Vec<Unavailable>,
) -> Vec<Found> {
    let params = ListParams::default().labels(selector);
    let lists = stream::iter(resources.iter().map(|(resource, capabilities)| {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
        let params = params.clone();
        async move { (resource, capabilities, api.list(&params).await) }
    }))
    .buffer_unordered(LIST_CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    let mut found = Vec::new();
    for (resource, capabilities, result) in lists {
        match result {
            Ok(list) => {
                for object in list.items {
                    let namespace = match capabilities.scope {
                        Scope::Namespaced => object.metadata.namespace.clone(),
                        Scope::Cluster => None,
                    };
                    found.push(Found {
                        id: ObjectId {
                            api_version: resource.api_version.clone(),
                            kind: resource.kind.clone(),
                            namespace,
                            name: object.metadata.name.clone().unwrap_or_default(),
                        },
                        uid: object.metadata.uid.clone(),
                        resource: resource.clone(),
                        status: deletion_status(&object),
                        keep: crate::charts::hooks::object_keeps(&object),
                        claims: crate::claims::ClaimTemplates::of(&resource.kind, &object),
                    });
                }
            }
            // The type was removed since discovery (its CRD was swept): nothing of it remains.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                tracing::warn!(resource = %resource.plural, %error, "failed to list for the sweep");
                unchecked.push(Unavailable {
                    what: format!("{}/{}", resource.api_version, resource.plural),
                    reason: reason(&error),
                });
            }
        }
    }
    found
}
