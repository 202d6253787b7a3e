//! Deleting many objects at once: bounded concurrent DELETE requests, then one watch per
//! resource type (not one per object) until every object is gone.
//!
//! Teardown and the sweep delete every object of a deployment, thousands of them in a big
//! platform. Where a label selector names exactly the objects of one type and namespace, one
//! `deletecollection` request removes them all (the API server deletes each in-process); else
//! one DELETE each. One watch per object, as [`crate::wait::wait_deleted`] opens, means one LIST and
//! one long-lived WATCH request per object; here each resource type (per namespace when no
//! label selector narrows it) has one watch (`kube_runtime::watcher`, a paginated LIST then a
//! WATCH from its resourceVersion), and an object counts as gone when its watch delivers its
//! `DELETED` event, when a fresh list no longer holds it, or when the name comes back with
//! another uid (it was deleted and made again). A watch that answers 404 means the type
//! itself went (its CRD was deleted): its objects are gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PropagationPolicy};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::Client;

use crate::apply::api_for;
use crate::error::{Error, Result};
use crate::inventory::ObjectId;
use crate::wait::{deletion_status, is_not_found};

/// How many DELETE requests are in flight at once.
pub const DELETE_CONCURRENCY: usize = 16;

/// An object to delete: its identity, its API resource and, when known, the uid it had (so
/// that a namesake made after the delete is not waited for).
#[derive(Debug, Clone)]
pub struct Target {
    /// Which object.
    pub id: ObjectId,
    /// Its API resource.
    pub resource: ApiResource,
    /// Its uid when it was applied or listed.
    pub uid: Option<String>,
}

/// What one DELETE request did.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The API server accepted the deletion; the object may still be finalizing.
    Requested,
    /// The object was already gone (404).
    AlreadyGone,
    /// The request failed: the error's text.
    Failed(String),
}

/// A group this small is deleted object by object; larger ones by collection when they can be.
pub const MIN_COLLECTION: usize = 4;

/// Deletes `targets` (background propagation, Kubernetes API docs "Garbage Collection"),
/// at most [`DELETE_CONCURRENCY`] requests in flight, started in the order given. Returns one
/// [`Deleted`] per target, in the same order. Never fails as a whole.
///
/// With `selector` (a label selector every target matches), the targets of one resource type
/// and namespace, [`MIN_COLLECTION`] or more, are removed with one `deletecollection`
/// request (`DELETE` on the collection with `labelSelector`, Kubernetes API concepts) — but
/// only when a list of that collection under `selector` holds nothing but targets, none of
/// them annotated `helm.sh/resource-policy: keep`; otherwise, or when the type does not
/// serve `deletecollection` (405), object by object.
pub async fn delete_all(
    client: &Client,
    targets: &[Target],
    selector: Option<&str>,
) -> Vec<Deleted> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    // Jobs in order of their first target: a collection, or one object.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<(String, String, Option<String>), usize> = HashMap::new();
    for (index, target) in targets.iter().enumerate() {
        let key = (
            target.resource.api_version.clone(),
            target.resource.plural.clone(),
            target.id.namespace.clone(),
        );
        match (selector, group_of.get(&key)) {
            (Some(_), Some(&group)) => groups[group].push(index),
            (Some(_), None) => {
                group_of.insert(key, groups.len());
                groups.push(vec![index]);
            }
            (None, _) => groups.push(vec![index]),
        }
    }
    let jobs = groups.into_iter().map(|indices| {
        let params = params.clone();
        async move {
            let group: Vec<&Target> = indices.iter().map(|&index| &targets[index]).collect();
            let outcomes = match selector {
                Some(selector) if group.len() >= MIN_COLLECTION => {
                    match delete_collection(client, &group, selector, &params).await {
                        Some(outcome) => group.iter().map(|_| outcome.clone()).collect(),
                        None => delete_each(client, &group, &params).await,
                    }
                }
                _ => delete_each(client, &group, &params).await,
            };
            indices.into_iter().zip(outcomes).collect::<Vec<_>>()
        }
    });
    let mut results: Vec<Option<Deleted>> = targets.iter().map(|_| None).collect();
    let done: Vec<Vec<(usize, Deleted)>> = stream::iter(jobs)
        .buffered(DELETE_CONCURRENCY)
        .collect()
        .await;
    for (index, outcome) in done.into_iter().flatten() {
        results[index] = Some(outcome);
    }
    results
        .into_iter()
        .map(|result| result.expect("every target is in one job"))
        .collect()
}

/// One DELETE per object of `group`, one after another.
async fn delete_each(client: &Client, group: &[&Target], params: &DeleteParams) -> Vec<Deleted> {
    let mut outcomes = Vec::with_capacity(group.len());
    for target in group {
        let api = api_for(client, &target.resource, target.id.namespace.as_deref());
        outcomes.push(match api.delete(&target.id.name, params).await {
            Ok(_) => Deleted::Requested,
            Err(kube::Error::Api(status)) if status.code == 404 => Deleted::AlreadyGone,
            Err(error) => Deleted::Failed(error.to_string()),
        });
    }
    outcomes
}

/// `deletecollection` of `group` (one type, one namespace) under `selector`, when a list shows
/// the collection holds only `group`'s objects and none is kept. `None`: not possible here
/// (then the caller deletes object by object).
async fn delete_collection(
    client: &Client,
    group: &[&Target],
    selector: &str,
    params: &DeleteParams,
) -> Option<Deleted> {
    let first = group[0];
    let api = api_for(client, &first.resource, first.id.namespace.as_deref());
    let list_params = kube::api::ListParams::default().labels(selector);
    let listed = api.list(&list_params).await.ok()?;
    let names: HashSet<&str> = group.iter().map(|target| target.id.name.as_str()).collect();
    let only_targets = listed.items.iter().all(|object| {
        names.contains(object.metadata.name.as_deref().unwrap_or_default())
            && object
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(crate::charts::hooks::RESOURCE_POLICY_ANNOTATION))
                .is_none_or(|policy| policy.trim() != "keep")
    });
    if !only_targets {
        return None;
    }
    match api.delete_collection(params, &list_params).await {
        Ok(_) => Some(Deleted::Requested),
        // Not served for this type (405), or the type went meanwhile (404): one by one.
        Err(kube::Error::Api(status)) if status.code == 405 || status.code == 404 => None,
        Err(error) => Some(Deleted::Failed(error.to_string())),
    }
}

/// Waits up to `timeout` until every one of `targets` is gone, with one watch per resource
/// type: cluster-wide and narrowed by `selector` (a label selector every target matches) when
/// given, otherwise one per type and namespace.
///
/// Returns one result per target, in the order given: `Ok(())` once it is gone, or
/// [`Error::Timeout`] naming it with the last status its watch delivered (its deletion
/// timestamp and the finalizers holding it).
pub async fn wait_all_gone(
    client: &Client,
    targets: &[Target],
    selector: Option<&str>,
    timeout: Duration,
) -> Vec<Result<()>> {
    let mut groups: BTreeMap<(String, String, Option<String>), Vec<usize>> = BTreeMap::new();
    for (index, target) in targets.iter().enumerate() {
        let namespace = match selector {
            Some(_) => None,
            None => target.id.namespace.clone(),
        };
        groups
            .entry((
                target.resource.api_version.clone(),
                target.resource.plural.clone(),
                namespace,
            ))
            .or_default()
            .push(index);
    }
    let waits = groups.into_values().map(|indices| {
        let first = &targets[indices[0]];
        let api: Api<DynamicObject> = match (selector, &first.id.namespace) {
            (None, Some(namespace)) => {
                Api::namespaced_with(client.clone(), namespace, &first.resource)
            }
            _ => Api::all_with(client.clone(), &first.resource),
        };
        let group: Vec<&Target> = indices.iter().map(|&index| &targets[index]).collect();
        async move { (indices, wait_group(api, &group, selector, timeout).await) }
    });
    let mut results: Vec<Option<Result<()>>> = targets.iter().map(|_| None).collect();
    for (indices, outcomes) in futures::future::join_all(waits).await {
        for (index, outcome) in indices.into_iter().zip(outcomes) {
            results[index] = Some(outcome);
        }
    }
    results
        .into_iter()
        .map(|result| result.expect("every target is in one group"))
        .collect()
}

/// The key an object is known by within one watch: its namespace and name.
type Key = (Option<String>, String);

fn key_of(object: &DynamicObject) -> Key {
    (
        object.metadata.namespace.clone(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

/// One watch for `group` (objects of one type); one result per object, in order.
async fn wait_group(
    api: Api<DynamicObject>,
    group: &[&Target],
    selector: Option<&str>,
    timeout: Duration,
) -> Vec<Result<()>> {
    // Pending objects by key: the uid awaited and the last status seen.
    let mut pending: HashMap<Key, (Option<&str>, String)> = group
        .iter()
        .map(|target| {
            (
                (target.id.namespace.clone(), target.id.name.clone()),
                (target.uid.as_deref(), "no event received yet".to_owned()),
            )
        })
        .collect();
    let config = match selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let watch = async {
        let mut stream = watcher(api, config).default_backoff().boxed();
        let mut listed: HashSet<Key> = HashSet::new();
        while !pending.is_empty() {
            match stream.next().await {
                None => return,
                Some(Ok(watcher::Event::Init)) => listed.clear(),
                Some(Ok(watcher::Event::InitApply(object))) => {
                    let key = key_of(&object);
                    if observe(&mut pending, &key, &object) {
                        listed.insert(key);
                    }
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    // What a fresh list did not hold is gone.
                    pending.retain(|key, _| listed.contains(key));
                }
                Some(Ok(watcher::Event::Apply(object))) => {
                    let key = key_of(&object);
                    observe(&mut pending, &key, &object);
                }
                Some(Ok(watcher::Event::Delete(object))) => {
                    pending.remove(&key_of(&object));
                }
                // The type itself is gone (its CRD was deleted): so are its objects.
                Some(Err(error)) if is_not_found(&error) => pending.clear(),
                Some(Err(error)) => {
                    for (_, last) in pending.values_mut() {
                        *last = format!("watch error: {error}");
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(timeout, watch).await;
    group
        .iter()
        .map(|target| {
            let key = (target.id.namespace.clone(), target.id.name.clone());
            match pending.get(&key) {
                None => Ok(()),
                Some((_, last)) => Err(Error::Timeout {
                    object: target.id.to_string(),
                    condition: "be deleted".to_owned(),
                    seconds: timeout.as_secs(),
                    last_observed: last.clone(),
                }),
            }
        })
        .collect()
}

/// Records what an event says of a pending object; an object with another uid than the one
/// awaited is a namesake, so the awaited one is gone. Returns whether it is still pending.
fn observe(
    pending: &mut HashMap<Key, (Option<&str>, String)>,
    key: &Key,
    object: &DynamicObject,
) -> bool {
    let Some((uid, last)) = pending.get_mut(key) else {
        return false;
    };
    if uid.is_some() && object.metadata.uid.as_deref() != *uid {
        pending.remove(key);
        return false;
    }
    *last = deletion_status(object);
    true
}
