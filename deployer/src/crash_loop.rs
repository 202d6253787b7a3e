//! Crash loops: while a workload (Deployment, StatefulSet, DaemonSet) is awaited, its pods
//! are looked at every few seconds; a container that keeps restarting fails the wait at once
//! instead of after the readiness timeout, naming the pod, the container, its restart count,
//! why it last ended and the tail of the last ended container's log (the kubelet's
//! `GET /api/v1/namespaces/<ns>/pods/<pod>/log?previous=true`, or without `previous` once
//! the newest container has ended too).

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, LogParams};

/// Restarts after which a container counts as crash-looping (the kubelet's back-off is then
/// 40 s and growing: CrashLoopBackOff).
pub const RESTARTS: i32 = 3;
/// How often the pods are looked at.
pub const PERIOD: Duration = Duration::from_secs(3);
/// Lines of the previous container's log quoted.
pub const LOG_LINES: i64 = 15;

/// The kinds whose pods are looked at.
pub fn watches_pods(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet")
}

/// Looks at the pods of `workload` (by its `spec.selector.matchLabels`) until one has a
/// container restarted [`RESTARTS`] times; then returns what to say about it. Never returns
/// while no pod crash-loops (errors reading pods are retried on the next period).
pub async fn first_crash_loop(
    client: kube::Client,
    workload: Api<DynamicObject>,
    name: &str,
) -> String {
    loop {
        tokio::time::sleep(PERIOD).await;
        let Ok(object) = workload.get(name).await else {
            continue;
        };
        let Some(selector) = match_labels(&object) else {
            continue;
        };
        let Some(namespace) = object.metadata.namespace.clone() else {
            continue;
        };
        let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await else {
            continue;
        };
        for pod in list {
            if let Some(message) = describe(&pods, &pod).await {
                return message;
            }
        }
    }
}

/// `a=1,b=2` from `spec.selector.matchLabels`.
fn match_labels(object: &DynamicObject) -> Option<String> {
    let labels = object
        .data
        .pointer("/spec/selector/matchLabels")?
        .as_object()?;
    let selector: Vec<String> = labels
        .iter()
        .filter_map(|(key, value)| value.as_str().map(|value| format!("{key}={value}")))
        .collect();
    (!selector.is_empty()).then(|| selector.join(","))
}

/// The message for a crash-looping container of `pod`, if it has one.
async fn describe(pods: &Api<Pod>, pod: &Pod) -> Option<String> {
    let name = pod.metadata.name.clone()?;
    let status = pod.status.as_ref()?;
    let container = status
        .container_statuses
        .iter()
        .flatten()
        .find(|container| container.restart_count >= RESTARTS)?;
    let ended = container
        .last_state
        .as_ref()
        .and_then(|state| state.terminated.as_ref())
        .map(|terminated| {
            format!(
                "; it last exited with code {}{}",
                terminated.exit_code,
                terminated
                    .reason
                    .as_deref()
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    // The last run that ended: `previous` while a new container runs; when the newest has
    // ended too and the kubelet has collected the one before (it keeps one dead container per
    // container), the log without `previous` is that of the newest, ended run.
    let mut log = String::new();
    for previous in [true, false] {
        let params = LogParams {
            container: Some(container.name.clone()),
            previous,
            tail_lines: Some(LOG_LINES),
            ..LogParams::default()
        };
        match pods.logs(&name, &params).await {
            Ok(text) if readable(&text) => {
                log = indent(&text);
                break;
            }
            Ok(_) => log = "  (the ended container wrote nothing)".to_owned(),
            Err(error) => log = format!("  (its log cannot be read: {error})"),
        }
    }
    let files = mounted_files(pod, &container.name);
    Some(format!(
        "pod {name} is crash-looping: container {} restarted {} times{ended}{files}; the end of its last log:\n{log}",
        container.name, container.restart_count
    ))
}

/// `; it reads ConfigMap x at /path, Secret y at /other` for the ConfigMaps and Secrets the
/// container mounts (where a configuration file it refused comes from), or nothing.
fn mounted_files(pod: &Pod, container: &str) -> String {
    let Some(spec) = pod.spec.as_ref() else {
        return String::new();
    };
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let mounts = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|candidate| candidate.name == container)
        .and_then(|container| container.volume_mounts.as_deref())
        .unwrap_or_default();
    let described: Vec<String> = mounts
        .iter()
        .filter_map(|mount| {
            let volume = volumes.iter().find(|volume| volume.name == mount.name)?;
            let source = match (&volume.config_map, &volume.secret) {
                (Some(config_map), _) => format!("ConfigMap {}", config_map.name),
                (None, Some(secret)) => {
                    format!("Secret {}", secret.secret_name.as_deref().unwrap_or("?"))
                }
                _ => return None,
            };
            Some(format!("{source} at {}", mount.mount_path))
        })
        .collect();
    if described.is_empty() {
        String::new()
    } else {
        format!("; it reads {}", described.join(", "))
    }
}

/// Whether the kubelet answered a log, not its note that the container's log is gone.
fn readable(text: &str) -> bool {
    !text.trim().is_empty() && !text.starts_with("unable to retrieve container logs")
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|line| format!("  | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_config_maps_and_secrets_a_container_reads_are_named() {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "keycloak-1"},
            "spec": {
                "containers": [{"name": "keycloak", "volumeMounts": [
                    {"name": "realm", "mountPath": "/opt/keycloak/data/import"},
                    {"name": "tls", "mountPath": "/tls"},
                    {"name": "scratch", "mountPath": "/tmp"}
                ]}],
                "volumes": [
                    {"name": "realm", "configMap": {"name": "keycloak-realm"}},
                    {"name": "tls", "secret": {"secretName": "platform-tls"}},
                    {"name": "scratch", "emptyDir": {}}
                ]
            }
        }))
        .unwrap();
        assert_eq!(
            super::mounted_files(&pod, "keycloak"),
            "; it reads ConfigMap keycloak-realm at /opt/keycloak/data/import, Secret platform-tls at /tls"
        );
        assert_eq!(super::mounted_files(&pod, "other"), "");
    }

    use super::*;

    #[test]
    fn selectors_come_from_match_labels() {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "hub", "namespace": "dev"},
            "spec": {"selector": {"matchLabels": {"app": "jupyterhub", "component": "hub"}}},
        }))
        .unwrap();
        assert_eq!(
            match_labels(&object).as_deref(),
            Some("app=jupyterhub,component=hub")
        );
        assert!(watches_pods("Deployment") && !watches_pods("Job"));
        assert_eq!(indent("a\nb\n"), "  | a\n  | b");
        assert!(readable("crash-marker\n"));
        assert!(!readable(
            "unable to retrieve container logs for containerd://0a1b"
        ));
        assert!(!readable("\n"));
    }
}
