//! Diagnostics bundles: what a maintainer needs to understand a failed check without the
//! cluster, written to `<report dir>/diagnostics/<stage>/<check>/`:
//!
//! - `events.txt`: the events of the namespaces the check looked at, oldest first;
//! - `objects.yaml`: the objects the check was about, `managedFields` stripped and Secret data
//!   redacted;
//! - `logs/<pod>.<container>.log` and `….previous.log`: logs of the pods behind those objects
//!   (the previous container's too); when the kubelet cannot serve them, the file says why;
//! - `nodes.txt`: every node's conditions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use serde_json::Value;

use crate::checks::{Assertion, Check, ExpressionTarget, LabelSelector};
use deployer::watches::Watches;

/// When bundles are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiagnosticsMode {
    /// For failed checks only.
    #[default]
    OnFailure,
    /// For every check.
    Always,
    /// Never.
    Never,
}

/// At most this many pods get their logs collected per check.
pub const MAX_PODS: usize = 10;
/// At most this many lines of each container log are kept (the newest).
pub const LOG_TAIL_LINES: i64 = 2000;

/// Writes the bundle of `check` into `dir` (created) and returns the files written.
///
/// `default_namespace` is used when the check names none. Collection problems (an API
/// error, logs the kubelet cannot serve) are written into the bundle, never raised; the only
/// error is a directory that cannot be written.
pub async fn collect(
    watches: &Watches,
    check: &Check,
    default_namespace: &str,
    dir: &Path,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir.join("logs"))?;
    let client = watches.client();
    let mut written = Vec::new();
    let mut namespaces = check.assertion.namespaces();
    if namespaces.is_empty() {
        namespaces.push(default_namespace.to_owned());
    }

    let objects = involved_objects(watches, &check.assertion).await;
    let mut yaml = String::new();
    for object in &objects {
        match object {
            Ok(object) => {
                yaml.push_str("---\n");
                yaml.push_str(&serde_yaml_ng::to_string(&clean(object)).unwrap_or_default());
            }
            Err(error) => yaml.push_str(&format!("# {error}\n")),
        }
    }
    if yaml.is_empty() {
        yaml.push_str(&format!(
            "# a `{}` check is not about cluster objects\n",
            check.assertion.kind()
        ));
    }
    written.push(write(dir, "objects.yaml", &yaml)?);

    let mut events = String::new();
    for namespace in &namespaces {
        events.push_str(&events_text(client, namespace).await);
    }
    written.push(write(dir, "events.txt", &events)?);

    let pods = involved_pods(client, &objects, &namespaces).await;
    for (namespace, pod) in pods.iter().take(MAX_PODS) {
        written.extend(write_pod_logs(client, namespace, pod, dir).await?);
    }
    if pods.is_empty() {
        written.push(write(
            dir,
            "logs/README.txt",
            "no pods are behind the objects this check is about (for an endpoint check: none in its namespace)\n",
        )?);
    }

    written.push(write(dir, "nodes.txt", &nodes_text(client).await)?);
    Ok(written)
}

/// Writes `logs/<pod>.<container>.log` and `….previous.log` (the newest [`LOG_TAIL_LINES`]
/// lines) for every container of `pod`, init containers first; a log the kubelet cannot
/// serve gets a file saying why. Errors: a file that cannot be written.
pub(crate) async fn write_pod_logs(
    client: &kube::Client,
    namespace: &str,
    pod: &Pod,
    dir: &Path,
) -> std::io::Result<Vec<PathBuf>> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let spec = pod.spec.clone().unwrap_or_default();
    let containers = spec
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .chain(spec.containers)
        .map(|container| container.name);
    let mut written = Vec::new();
    for container in containers {
        for previous in [false, true] {
            let params = LogParams {
                container: Some(container.clone()),
                previous,
                tail_lines: Some(LOG_TAIL_LINES),
                ..LogParams::default()
            };
            let text = match api.logs(&name, &params).await {
                Ok(text) if text.is_empty() => "(the log is empty)\n".to_owned(),
                Ok(text) => text,
                Err(error) => format!(
                    "logs unavailable for pod {namespace}/{name} container {container}{}: {error}\n",
                    if previous { " (previous)" } else { "" }
                ),
            };
            let file = format!(
                "logs/{name}.{container}{}.log",
                if previous { ".previous" } else { "" }
            );
            written.push(write(dir, &file, &text)?);
        }
    }
    Ok(written)
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The objects the check is about, as the API server has them now.
async fn involved_objects(
    watches: &Watches,
    assertion: &Assertion,
) -> Vec<Result<DynamicObject, String>> {
    let client = watches.client();
    if let Some(object) = assertion.object() {
        let located = watches
            .locate(
                &object.api_version,
                &object.kind,
                object.namespace.as_deref(),
            )
            .await;
        let found = match located {
            Ok((resource, namespace)) => {
                deployer::apply::api_for(client, &resource, namespace.as_deref())
                    .get_opt(&object.name)
                    .await
                    .map_err(|error| format!("failed to get {object}: {error}"))
                    .and_then(|found| found.ok_or_else(|| format!("{object} does not exist")))
            }
            Err(error) => Err(error),
        };
        return vec![found];
    }
    let (resource, selector) = match assertion {
        Assertion::Count {
            resource, selector, ..
        }
        | Assertion::Cel {
            target: ExpressionTarget::Objects { resource, selector },
            ..
        } => (resource, selector),
        _ => return Vec::new(),
    };
    match watches.resolve(&resource.api_version, &resource.kind).await {
        Ok((api_resource, _)) => {
            let mut params = ListParams::default();
            if let Some(selector) = selector {
                params = params.labels(selector.as_str());
            }
            match deployer::apply::api_for(client, &api_resource, resource.namespace.as_deref())
                .list(&params)
                .await
            {
                Ok(list) if list.items.is_empty() => {
                    vec![Err(format!("no {resource} objects{}", matching(selector)))]
                }
                Ok(list) => list.items.into_iter().map(Ok).collect(),
                Err(error) => vec![Err(format!("failed to list {resource}: {error}"))],
            }
        }
        Err(error) => vec![Err(error)],
    }
}

fn matching(selector: &Option<LabelSelector>) -> String {
    selector
        .as_ref()
        .map(|selector| format!(" matching `{selector}`"))
        .unwrap_or_default()
}

/// The object as YAML-ready JSON: `managedFields` stripped, Secret values redacted.
pub fn clean(object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            // kubectl's last-applied annotation repeats the object, Secret data included.
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    if value["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(map) = value.get_mut(field).and_then(Value::as_object_mut) {
                for entry in map.values_mut() {
                    *entry = Value::String("<redacted>".to_owned());
                }
            }
        }
    }
    value
}

/// Pods behind the objects: the pod itself, the pods a workload's `spec.selector.matchLabels`
/// selects, or the pods a count looked at.
async fn involved_pods(
    client: &kube::Client,
    objects: &[Result<DynamicObject, String>],
    namespaces: &[String],
) -> Vec<(String, Pod)> {
    let mut pods: BTreeMap<(String, String), Pod> = BTreeMap::new();
    if objects.is_empty() {
        // An endpoint check (http, tls, oidc, tcp) names no objects: what serves it are the
        // pods of its namespace, so their logs are what explains a failure.
        for namespace in namespaces {
            let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
            if let Ok(list) = api.list(&ListParams::default()).await {
                for pod in list.items {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    pods.insert((namespace.clone(), name), pod);
                }
            }
        }
    }
    for object in objects.iter().flatten() {
        let namespace = object
            .metadata
            .namespace
            .clone()
            .or_else(|| namespaces.first().cloned())
            .unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let kind = object.types.as_ref().map(|types| types.kind.as_str());
        if kind == Some("Pod") {
            if let Ok(pod) =
                serde_json::from_value::<Pod>(serde_json::to_value(object).unwrap_or_default())
            {
                pods.insert(
                    (namespace, pod.metadata.name.clone().unwrap_or_default()),
                    pod,
                );
            }
            continue;
        }
        let Some(labels) = object.data["spec"]["selector"]["matchLabels"].as_object() else {
            continue;
        };
        let selector: Vec<String> = labels
            .iter()
            .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
            .collect();
        if let Ok(list) = api
            .list(&ListParams::default().labels(&selector.join(",")))
            .await
        {
            for pod in list.items {
                pods.insert(
                    (
                        namespace.clone(),
                        pod.metadata.name.clone().unwrap_or_default(),
                    ),
                    pod,
                );
            }
        }
    }
    pods.into_iter()
        .map(|((namespace, _), pod)| (namespace, pod))
        .collect()
}

/// When an event happened, RFC 3339, for sorting: its `eventTime`, else `lastTimestamp`,
/// `firstTimestamp` or its creation (events.k8s.io and core events fill different fields).
pub(crate) fn event_time(event: &Event) -> String {
    [
        event.event_time.as_ref().map(|time| time.0.to_string()),
        event.last_timestamp.as_ref().map(|time| time.0.to_string()),
        event
            .first_timestamp
            .as_ref()
            .map(|time| time.0.to_string()),
        event
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|time| time.0.to_string()),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or_default()
}

/// ` (xN)` for an event seen N > 1 times, else nothing.
pub(crate) fn repeated(event: &Event) -> String {
    event
        .count
        .filter(|count| *count > 1)
        .map(|count| format!(" (x{count})"))
        .unwrap_or_default()
}

/// The namespace's events, oldest first: `time  type  reason  kind/name  message`.
async fn events_text(client: &kube::Client, namespace: &str) -> String {
    events_listing(namespace, &list_events(client, namespace).await)
}

/// The events of `namespace`, or why they cannot be listed.
pub(crate) async fn list_events(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<Event>, String> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default())
        .await
        .map(|list| list.items)
        .map_err(|error| format!("cannot list the events of {namespace}: {error}"))
}

/// `events.txt` of `namespace`'s `events` (see [`events_text`]), or the listing's problem
/// as a comment.
pub(crate) fn events_listing(namespace: &str, events: &Result<Vec<Event>, String>) -> String {
    let events = match events {
        Ok(events) => events,
        Err(problem) => return format!("# {problem}\n"),
    };
    let mut lines: Vec<(String, String)> = events
        .iter()
        .map(|event| {
            let time = event_time(event);
            let count = repeated(event);
            let object = format!(
                "{}/{}",
                event.involved_object.kind.as_deref().unwrap_or_default(),
                event.involved_object.name.as_deref().unwrap_or_default()
            );
            let line = format!(
                "{time}  {:<7}  {:<24}  {object}: {}{count}\n",
                event.type_.as_deref().unwrap_or_default(),
                event.reason.as_deref().unwrap_or_default(),
                event.message.as_deref().unwrap_or_default().trim_end()
            );
            (time, line)
        })
        .collect();
    lines.sort();
    let mut text = format!("# events in namespace {namespace}, oldest first\n");
    if lines.is_empty() {
        text.push_str("(none)\n");
    }
    text.extend(lines.into_iter().map(|(_, line)| line));
    text
}

/// Each node's conditions: `node  type=status (reason: message)`.
pub(crate) async fn nodes_text(client: &kube::Client) -> String {
    let api: Api<Node> = Api::all(client.clone());
    let nodes = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(error) => return format!("# cannot list nodes: {error}\n"),
    };
    let mut text = String::new();
    for node in nodes {
        let name = node.metadata.name.unwrap_or_default();
        let conditions = node
            .status
            .and_then(|status| status.conditions)
            .unwrap_or_default();
        for condition in conditions {
            text.push_str(&format!(
                "{name}  {}={} ({}: {})\n",
                condition.type_,
                condition.status,
                condition.reason.unwrap_or_default(),
                condition.message.unwrap_or_default()
            ));
        }
    }
    text
}
