//! The sweep: find every object that still carries a deployment's inventory labels, in every
//! served resource type, delete it, and report what remains.
//!
//! Resource types come from API discovery (`/api` and `/apis`), namespaced and cluster-scoped
//! alike, restricted to those that support `list` and `delete`. Each is listed cluster-wide
//! with the deployment's label selector, at most [`LIST_CONCURRENCY`] lists at a time.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PropagationPolicy};
use kube::discovery::{verbs, ApiCapabilities, Discovery, Scope};
use kube::Client;
use serde::{Deserialize, Serialize};

use crate::apply::api_for;
use crate::error::{Error, Result};
use crate::inventory::{deployment_selector, ObjectId};
use crate::wait::{deletion_status, wait_deleted};

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
    /// Wall-clock seconds.
    pub seconds: f64,
}

struct Found {
    id: ObjectId,
    uid: Option<String>,
    resource: ApiResource,
    status: String,
}

/// Sweeps `deployment`: deletes every labelled object and waits up to `timeout` for each to go.
///
/// Errors: [`Error::Api`] when discovery fails; a failed list of one resource type is logged
/// and skipped (some aggregated APIs are unavailable) unless every list fails.
pub async fn sweep(client: &Client, deployment: &str, timeout: Duration) -> Result<SweepReport> {
    let started = Instant::now();
    let resources = discover_sweepable(client).await?;
    let selector = deployment_selector(deployment);
    let found = list_labelled(client, &resources, &selector).await;
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    let mut problems = Vec::new();
    let mut deleted = Vec::new();
    let mut to_await = Vec::new();
    for object in &found {
        let api = api_for(client, &object.resource, object.id.namespace.as_deref());
        match api.delete(&object.id.name, &params).await {
            Ok(_) => to_await.push((object, api)),
            Err(kube::Error::Api(status)) if status.code == 404 => deleted.push(object.id.clone()),
            Err(error) => problems.push(Leftover {
                id: object.id.clone(),
                reason: format!("delete failed: {error}"),
            }),
        }
    }
    let waits = to_await.into_iter().map(|(object, api)| async move {
        (
            object,
            wait_deleted(api, &object.id, object.uid.as_deref(), timeout).await,
        )
    });
    for (object, result) in futures::future::join_all(waits).await {
        match result {
            Ok(()) => deleted.push(object.id.clone()),
            Err(_) => {
                tracing::warn!(object = %object.id, status = %object.status, "not deleted in time")
            }
        }
    }
    // Whatever the deletes did, the truth is what a fresh list says.
    let remaining = list_labelled(client, &resources, &selector).await;
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
    Ok(SweepReport {
        resource_types_listed: resources.len(),
        deleted,
        leftovers,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Every served resource type that supports `list` and `delete`, one version per group.
pub async fn discover_sweepable(client: &Client) -> Result<Vec<(ApiResource, ApiCapabilities)>> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(|source| Error::Api {
            action: "discover",
            object: "the served API resources".to_owned(),
            source,
        })?;
    let mut resources = Vec::new();
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            let sweepable = capabilities.supports_operation(verbs::LIST)
                && capabilities.supports_operation(verbs::DELETE)
                // Events are never labelled by us, and are the most numerous objects.
                && resource.kind != "Event";
            if sweepable {
                resources.push((resource, capabilities));
            }
        }
    }
    Ok(resources)
}

async fn list_labelled(
    client: &Client,
    resources: &[(ApiResource, ApiCapabilities)],
    selector: &str,
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
                    });
                }
            }
            // The type was removed since discovery (its CRD was swept): nothing of it remains.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                tracing::warn!(resource = %resource.plural, %error, "cannot list for the sweep")
            }
        }
    }
    found
}
