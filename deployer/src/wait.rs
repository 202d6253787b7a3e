//! Readiness and deletion waits, driven by watches.
//!
//! Every wait opens a watch on the one object (`kube_runtime::watcher::watch_object`, a list
//! and a watch filtered by `metadata.name`) and decides on each event; nothing sleeps and
//! re-lists. A wait that expires reports the object, what was awaited and the last status the
//! watch delivered.
//!
//! What "ready" means per kind (Kubernetes API docs, the `status` of each type):
//!
//! | kind                       | ready when                                                     |
//! |----------------------------|----------------------------------------------------------------|
//! | Deployment                 | observedGeneration ≥ generation, condition `Available=True`, updated and available replicas ≥ spec.replicas |
//! | StatefulSet                | observedGeneration ≥ generation, readyReplicas ≥ spec.replicas  |
//! | DaemonSet                  | observedGeneration ≥ generation, numberReady ≥ desiredNumberScheduled |
//! | Job                        | condition `Complete=True` (`Failed=True` ends the wait with an error) |
//! | CustomResourceDefinition   | condition `Established=True`                                   |
//! | Namespace                  | `status.phase` is `Active`                                     |
//!
//! Other kinds are ready once they exist.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, watch_object};
use kube::runtime::WatchStreamExt;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::inventory::ObjectId;

/// What one observation of an object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Ready; stop waiting.
    Ready,
    /// Not yet; the text describes the observed status.
    Pending(String),
    /// Will never become ready (e.g. a Job whose `Failed` condition is true).
    Failed(String),
}

/// Whether `kind` has a readiness rule in the table above (otherwise existing is enough).
pub fn has_readiness_rule(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "CustomResourceDefinition"
            | "Namespace"
    )
}

/// Judges one observation of an object of `kind` (see the module docs for the rules).
pub fn readiness(kind: &str, object: &DynamicObject) -> Readiness {
    let data = &object.data;
    let status = &data["status"];
    let generation = object.metadata.generation.unwrap_or(0);
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    let int = |value: &Value| value.as_i64().unwrap_or(0);
    let desired = data["spec"]["replicas"].as_i64().unwrap_or(1);
    match kind {
        "Deployment" => {
            let available = condition_status(status, "Available");
            let summary = format!(
                "observedGeneration {observed}/{generation}, updated {}/{desired}, available {}/{desired}, Available={}",
                int(&status["updatedReplicas"]),
                int(&status["availableReplicas"]),
                describe_condition(status, "Available"),
            );
            let ready = observed >= generation
                && available == Some("True")
                && int(&status["updatedReplicas"]) >= desired
                && int(&status["availableReplicas"]) >= desired;
            if ready {
                Readiness::Ready
            } else {
                Readiness::Pending(summary)
            }
        }
        "StatefulSet" => {
            let ready_replicas = int(&status["readyReplicas"]);
            if observed >= generation && ready_replicas >= desired {
                Readiness::Ready
            } else {
                Readiness::Pending(format!(
                    "observedGeneration {observed}/{generation}, ready {ready_replicas}/{desired}"
                ))
            }
        }
        "DaemonSet" => {
            let scheduled = int(&status["desiredNumberScheduled"]);
            let ready_number = int(&status["numberReady"]);
            if observed >= generation
                && ready_number >= scheduled
                && status.get("desiredNumberScheduled").is_some()
            {
                Readiness::Ready
            } else {
                Readiness::Pending(format!(
                    "observedGeneration {observed}/{generation}, ready {ready_number}/{scheduled}"
                ))
            }
        }
        "Job" => {
            if condition_status(status, "Complete") == Some("True") {
                Readiness::Ready
            } else if condition_status(status, "Failed") == Some("True") {
                Readiness::Failed(format!(
                    "the Job failed: {}",
                    describe_condition(status, "Failed")
                ))
            } else {
                Readiness::Pending(format!(
                    "active {}, succeeded {}, failed {}",
                    int(&status["active"]),
                    int(&status["succeeded"]),
                    int(&status["failed"])
                ))
            }
        }
        "CustomResourceDefinition" => match condition_status(status, "Established") {
            Some("True") => Readiness::Ready,
            _ => Readiness::Pending(format!(
                "Established={}",
                describe_condition(status, "Established")
            )),
        },
        "Namespace" => match status["phase"].as_str() {
            Some("Active") => Readiness::Ready,
            other => Readiness::Pending(format!("phase {}", other.unwrap_or("unset"))),
        },
        _ => Readiness::Ready,
    }
}

/// The `status` of condition `type_` in `status.conditions`, if present.
pub fn condition_status<'a>(status: &'a Value, type_: &str) -> Option<&'a str> {
    find_condition(status, type_).and_then(|condition| condition["status"].as_str())
}

fn find_condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == type_)
}

fn describe_condition(status: &Value, type_: &str) -> String {
    match find_condition(status, type_) {
        None => "unset".to_owned(),
        Some(condition) => {
            let mut text = condition["status"].as_str().unwrap_or("?").to_owned();
            if let Some(reason) = condition["reason"].as_str() {
                text.push_str(&format!(" ({reason}"));
                if let Some(message) = condition["message"].as_str() {
                    text.push_str(&format!(": {message}"));
                }
                text.push(')');
            }
            text
        }
    }
}

/// Watches `id` through `api` until [`readiness`] says ready, or `timeout` passes.
///
/// Errors: [`Error::Timeout`] with the last observed status; [`Error::NotReady`] when the
/// object fails for good (a failed Job), or a pod of a workload crash-loops
/// ([`crate::crash_loop`]: the pod, its restart count and the tail of its last ended container's log).
pub async fn wait_ready(api: Api<DynamicObject>, id: &ObjectId, timeout: Duration) -> Result<()> {
    let mut last_observed = "no event received yet".to_owned();
    let workload = api.clone();
    let crash_loop = async move {
        if crate::crash_loop::watches_pods(&id.kind) {
            let client = workload.clone().into_client();
            crate::crash_loop::first_crash_loop(client, workload, &id.name).await
        } else {
            std::future::pending().await
        }
    };
    let watch = async {
        // Backoff on errors: a watch that fails (say, its type was just deleted) must not spin.
        let mut stream = watch_object(api, &id.name).default_backoff().boxed();
        loop {
            match stream.try_next().await {
                Ok(Some(Some(object))) => match readiness(&id.kind, &object) {
                    Readiness::Ready => return Ok(()),
                    Readiness::Pending(status) => last_observed = status,
                    Readiness::Failed(status) => {
                        return Err(Error::NotReady {
                            object: id.to_string(),
                            reason: status,
                        })
                    }
                },
                Ok(Some(None)) => last_observed = "the object does not exist".to_owned(),
                Ok(None) => {
                    return Err(Error::NotReady {
                        object: id.to_string(),
                        reason: "the watch ended".to_owned(),
                    })
                }
                // The watcher recovers from errors itself on the next poll; remember the error.
                Err(error) => last_observed = format!("watch error: {error}"),
            }
        }
    };
    let watch_or_crash = async {
        tokio::select! {
            result = watch => result,
            message = crash_loop => Err(Error::NotReady {
                object: id.to_string(),
                reason: message,
            }),
        }
    };
    match tokio::time::timeout(timeout, watch_or_crash).await {
        Ok(result) => result,
        Err(_) => Err(Error::Timeout {
            object: id.to_string(),
            condition: "become ready".to_owned(),
            seconds: timeout.as_secs(),
            last_observed,
        }),
    }
}

/// Watches `id` until it no longer exists (or exists with another uid), or `timeout` passes.
///
/// Errors: [`Error::Timeout`] naming the finalizers or deletion timestamp last observed.
pub async fn wait_deleted(
    api: Api<DynamicObject>,
    id: &ObjectId,
    uid: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    let mut last_observed = "no event received yet".to_owned();
    let watch = async {
        // Backoff on errors: a watch that fails (say, its type was just deleted) must not spin.
        let mut stream = watch_object(api, &id.name).default_backoff().boxed();
        loop {
            match stream.try_next().await {
                Ok(Some(None)) | Ok(None) => return,
                Ok(Some(Some(object))) => {
                    if uid.is_some() && object.metadata.uid.as_deref() != uid {
                        return;
                    }
                    last_observed = deletion_status(&object);
                }
                // A 404 here means the resource type itself is gone (its CRD was deleted).
                Err(error) if is_not_found(&error) => return,
                Err(error) => last_observed = format!("watch error: {error}"),
            }
        }
    };
    tokio::time::timeout(timeout, watch)
        .await
        .map_err(|_| Error::Timeout {
            object: id.to_string(),
            condition: "be deleted".to_owned(),
            seconds: timeout.as_secs(),
            last_observed: last_observed.clone(),
        })
}

/// Whether a watch failed because its resource type is not served (404): its CRD was deleted.
pub(crate) fn is_not_found(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 404,
        watcher::Error::WatchError(status) => status.code == 404,
        _ => false,
    }
}

/// Why an object that was asked to go is still there: its deletion timestamp and finalizers.
pub fn deletion_status(object: &DynamicObject) -> String {
    let finalizers = object.metadata.finalizers.clone().unwrap_or_default();
    let mut text = match &object.metadata.deletion_timestamp {
        Some(timestamp) => format!("deletion requested at {}", timestamp.0),
        None => "no deletion requested".to_owned(),
    };
    if !finalizers.is_empty() {
        text.push_str(&format!(", finalizers: {}", finalizers.join(", ")));
    }
    if let Some(phase) = object.data["status"]["phase"].as_str() {
        text.push_str(&format!(", phase {phase}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(kind: &str, generation: i64, body: Value) -> DynamicObject {
        let mut value = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "generation": generation}});
        value
            .as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        serde_json::from_value(value).unwrap()
    }

    #[track_caller]
    fn check(kind: &str, generation: i64, body: Value, expected: Readiness) {
        assert_eq!(readiness(kind, &object(kind, generation, body)), expected);
    }

    #[test]
    fn deployment_needs_current_generation_and_available_replicas() {
        let available = json!({"type": "Available", "status": "True"});
        check(
            "Deployment",
            2,
            json!({"spec": {"replicas": 2}, "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2, "conditions": [available]}}),
            Readiness::Ready,
        );
        check(
            "Deployment",
            3,
            json!({"spec": {"replicas": 2}, "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2, "conditions": [available]}}),
            Readiness::Pending(
                "observedGeneration 2/3, updated 2/2, available 2/2, Available=True".into(),
            ),
        );
        check(
            "Deployment",
            1,
            json!({"spec": {"replicas": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "no"}]}}),
            Readiness::Pending("observedGeneration 1/1, updated 0/1, available 0/1, Available=False (MinimumReplicasUnavailable: no)".into()),
        );
    }

    #[test]
    fn other_kinds() {
        check(
            "Namespace",
            0,
            json!({"status": {"phase": "Terminating"}}),
            Readiness::Pending("phase Terminating".into()),
        );
        check(
            "Namespace",
            0,
            json!({"status": {"phase": "Active"}}),
            Readiness::Ready,
        );
        check(
            "Job",
            1,
            json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}),
            Readiness::Failed("the Job failed: True (BackoffLimitExceeded)".into()),
        );
        check(
            "CustomResourceDefinition",
            1,
            json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}}),
            Readiness::Ready,
        );
        check(
            "StatefulSet",
            1,
            json!({"spec": {"replicas": 3}, "status": {"observedGeneration": 1, "readyReplicas": 2}}),
            Readiness::Pending("observedGeneration 1/1, ready 2/3".into()),
        );
        check("ConfigMap", 0, json!({}), Readiness::Ready);
    }
}
