//! What the cluster was doing when browser scenarios failed: one bundle for the platform's
//! namespace, written to `<report dir>/diagnostics/scenarios/` once the scenarios end, and a
//! short account of it (each pod's state, the namespace's warning events) for the terminal.
//!
//! A scenario fails in the browser ("no login form after 30 s"), but its cause is usually in
//! the cluster: a pod that restarted, a readiness probe that failed, an OOM kill. The bundle
//! has the files of a check's bundle ([`crate::diagnostics`]): `pods.yaml`, `events.txt`,
//! `logs/<pod>.<container>.log` (and `….previous.log`), `nodes.txt`.

use std::path::Path;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DynamicObject, ListParams};
use serde::{Deserialize, Serialize};

use crate::diagnostics::{self, MAX_PODS};

/// The bundle's directory, relative to the report dir.
pub const DIR: &str = "diagnostics/scenarios";

/// At most this many warning events are summarized (the newest).
pub const MAX_WARNINGS: usize = 8;

/// What [`collect`] wrote and found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioBundle {
    /// The bundle's directory, relative to the report dir ([`DIR`]).
    pub dir: String,
    /// One line per pod of the namespace (the first [`MAX_PODS`], those whose logs are in
    /// the bundle), see [`pod_state`]; or why the pods cannot be listed.
    pub pods: Vec<String>,
    /// The newest warning events of the namespace, oldest first, see [`warning_lines`].
    pub warnings: Vec<String>,
}

/// Writes the bundle of `namespace` into `<report_dir>/`[`DIR`] and returns its account.
///
/// Listing problems are written into the bundle and the account, never raised; the only error
/// is a directory or file that cannot be written.
pub async fn collect(
    client: &kube::Client,
    namespace: &str,
    report_dir: &Path,
) -> std::io::Result<ScenarioBundle> {
    let dir = report_dir.join(DIR);
    std::fs::create_dir_all(dir.join("logs"))?;
    let mut bundle = ScenarioBundle {
        dir: DIR.to_owned(),
        ..ScenarioBundle::default()
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = match pods.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(error) => {
            let problem = format!("cannot list the pods of {namespace}: {error}");
            diagnostics::write(&dir, "pods.yaml", &format!("# {problem}\n"))?;
            bundle.pods.push(problem);
            Vec::new()
        }
    };
    if !pods.is_empty() {
        let mut yaml = String::new();
        for pod in &pods {
            let object =
                serde_json::to_value(pod).and_then(serde_json::from_value::<DynamicObject>);
            yaml.push_str("---\n");
            match object {
                Ok(object) => yaml.push_str(
                    &serde_yaml_ng::to_string(&diagnostics::clean(&object)).unwrap_or_default(),
                ),
                Err(error) => yaml.push_str(&format!("# {}: {error}\n", pod_state(pod))),
            }
        }
        diagnostics::write(&dir, "pods.yaml", &yaml)?;
    }
    for pod in pods.iter().take(MAX_PODS) {
        diagnostics::write_pod_logs(client, namespace, pod, &dir).await?;
        bundle.pods.push(pod_state(pod));
    }
    let events = diagnostics::list_events(client, namespace).await;
    diagnostics::write(
        &dir,
        "events.txt",
        &diagnostics::events_listing(namespace, &events),
    )?;
    bundle.warnings = match &events {
        Ok(events) => warning_lines(events),
        Err(problem) => vec![problem.clone()],
    };
    diagnostics::write(&dir, "nodes.txt", &diagnostics::nodes_text(client).await)?;
    Ok(bundle)
}

/// One pod's state in a line: `hub-7c9 Running, ready 1/1, 0 restarts`, with the reason a
/// container waits (`CrashLoopBackOff`) and how its previous run ended (`last: OOMKilled,
/// exit 137`) when there is one. The fields are the Pod API's `status.phase` and
/// `status.containerStatuses` (Kubernetes API reference, Pod v1).
pub fn pod_state(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or("<unnamed>");
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or("Unknown");
    let containers = status.container_statuses.unwrap_or_default();
    let ready = containers
        .iter()
        .filter(|container| container.ready)
        .count();
    let restarts: i32 = containers
        .iter()
        .map(|container| container.restart_count)
        .sum();
    let mut line = format!(
        "{name} {phase}, ready {ready}/{}, {restarts} restart{}",
        containers.len(),
        if restarts == 1 { "" } else { "s" }
    );
    for container in &containers {
        let state = container.state.clone().unwrap_or_default();
        if let Some(reason) = state.waiting.and_then(|waiting| waiting.reason) {
            line.push_str(&format!("; {} waiting: {reason}", container.name));
        }
        let last = container
            .last_state
            .clone()
            .and_then(|state| state.terminated);
        if let Some(terminated) = last {
            line.push_str(&format!(
                "; {} last: {}, exit {}",
                container.name,
                terminated.reason.as_deref().unwrap_or("terminated"),
                terminated.exit_code
            ));
        }
    }
    line
}

/// The newest [`MAX_WARNINGS`] events of type `Warning`, oldest first:
/// `Unhealthy pod/hub-7c9: Readiness probe failed: … (x4)`.
pub fn warning_lines(events: &[Event]) -> Vec<String> {
    let mut warnings: Vec<(String, String)> = events
        .iter()
        .filter(|event| event.type_.as_deref() == Some("Warning"))
        .map(|event| {
            let time = diagnostics::event_time(event);
            let count = diagnostics::repeated(event);
            let line = format!(
                "{} {}/{}: {}{count}",
                event.reason.as_deref().unwrap_or(""),
                event
                    .involved_object
                    .kind
                    .as_deref()
                    .unwrap_or("")
                    .to_lowercase(),
                event.involved_object.name.as_deref().unwrap_or(""),
                event.message.as_deref().unwrap_or("").trim_end()
            );
            (time, line)
        })
        .collect();
    warnings.sort();
    let skip = warnings.len().saturating_sub(MAX_WARNINGS);
    warnings
        .into_iter()
        .skip(skip)
        .map(|(_, line)| line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_healthy_pod_is_one_short_line() {
        let pod = pod(serde_json::json!({
            "metadata": {"name": "hub-7c9"},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "hub", "ready": true, "restartCount": 0, "image": "i", "imageID": ""}
            ]}
        }));
        assert_eq!(pod_state(&pod), "hub-7c9 Running, ready 1/1, 0 restarts");
    }

    #[test]
    fn a_restarted_pod_says_how_its_last_run_ended_and_why_it_waits() {
        let pod = pod(serde_json::json!({
            "metadata": {"name": "keycloak-5f"},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "keycloak", "ready": false, "restartCount": 1, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
            }]}
        }));
        assert_eq!(
            pod_state(&pod),
            "keycloak-5f Running, ready 0/1, 1 restart; keycloak waiting: CrashLoopBackOff; keycloak last: OOMKilled, exit 137"
        );
    }

    #[test]
    fn only_the_newest_warnings_are_kept_oldest_first() {
        let mut events = Vec::new();
        for second in 0..12 {
            events.push(
                serde_json::from_value::<Event>(serde_json::json!({
                    "metadata": {"name": format!("e{second}")},
                    "involvedObject": {"kind": "Pod", "name": "hub-7c9"},
                    "type": if second == 11 { "Normal" } else { "Warning" },
                    "reason": "Unhealthy",
                    "message": format!("Readiness probe failed: {second}\n"),
                    "count": if second == 10 { 4 } else { 1 },
                    "lastTimestamp": format!("2026-12-03T18:16:{second:02}Z")
                }))
                .unwrap(),
            );
        }
        let lines = warning_lines(&events);
        assert_eq!(lines.len(), MAX_WARNINGS);
        assert_eq!(lines[0], "Unhealthy pod/hub-7c9: Readiness probe failed: 3");
        assert_eq!(
            lines.last().unwrap(),
            "Unhealthy pod/hub-7c9: Readiness probe failed: 10 (x4)"
        );
    }
}
