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

use std::collections::{HashMap, HashSet};
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
    // Jobs in order of their first target: a collection (one type and namespace), or one
    // object.
    let groups = match selector {
        Some(_) => groups_of(targets, true),
        None => (0..targets.len()).map(|index| vec![index]).collect(),
    };
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
    let done: Vec<Vec<(usize, Deleted)>> = stream::iter(jobs)
        .buffered(DELETE_CONCURRENCY)
        .collect()
        .await;
    in_target_order(targets.len(), done.into_iter().flatten())
}

/// The indices of `targets` grouped by resource type (and namespace, with `by_namespace`),
/// groups in order of their first target.
fn groups_of(targets: &[Target], by_namespace: bool) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<(&str, &str, Option<&str>), usize> = HashMap::new();
    for (index, target) in targets.iter().enumerate() {
        let namespace = target.id.namespace.as_deref().filter(|_| by_namespace);
        let key = (
            target.resource.api_version.as_str(),
            target.resource.plural.as_str(),
            namespace,
        );
        match group_of.get(&key) {
            Some(&group) => groups[group].push(index),
            None => {
                group_of.insert(key, groups.len());
                groups.push(vec![index]);
            }
        }
    }
    groups
}

/// Puts per-target outcomes, given as (target index, outcome) with every index once, back in
/// target order.
fn in_target_order<T>(count: usize, outcomes: impl IntoIterator<Item = (usize, T)>) -> Vec<T> {
    let mut ordered: Vec<Option<T>> = (0..count).map(|_| None).collect();
    for (index, outcome) in outcomes {
        ordered[index] = Some(outcome);
    }
    ordered
        .into_iter()
        .map(|outcome| outcome.expect("every target has one outcome"))
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
            && !crate::charts::hooks::object_keeps(object)
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
    let waits = groups_of(targets, selector.is_none())
        .into_iter()
        .map(|indices| {
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
    let done = futures::future::join_all(waits).await;
    in_target_order(
        targets.len(),
        done.into_iter()
            .flat_map(|(indices, outcomes)| indices.into_iter().zip(outcomes)),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(plural: &str, namespace: Option<&str>, name: &str) -> Target {
        let mut resource = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        resource.plural = plural.to_owned();
        Target {
            id: ObjectId {
                api_version: "v1".to_owned(),
                kind: "ConfigMap".to_owned(),
                namespace: namespace.map(str::to_owned),
                name: name.to_owned(),
            },
            resource,
            uid: None,
        }
    }

    #[test]
    fn groups_follow_first_appearance_by_type_and_optionally_namespace() {
        let targets = [
            target("configmaps", Some("a"), "1"),
            target("secrets", Some("a"), "2"),
            target("configmaps", Some("b"), "3"),
            target("configmaps", Some("a"), "4"),
        ];
        assert_eq!(
            groups_of(&targets, true),
            vec![vec![0, 3], vec![1], vec![2]]
        );
        assert_eq!(groups_of(&targets, false), vec![vec![0, 2, 3], vec![1]]);
        assert_eq!(
            in_target_order(3, [(2, "c"), (0, "a"), (1, "b")]),
            vec!["a", "b", "c"]
        );
    }
}
