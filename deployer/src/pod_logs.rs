//! The last lines of a pod's container logs, to show beside a failure (a hook Job, a chart test).

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};

/// The last `lines` lines of the log of each of `pod`'s containers, in spec order, as
/// `(container, log)` with trailing whitespace trimmed; a log that cannot be read is
/// `(no log: <error>)`. One `GET …/log?container=…&tailLines=…` per container.
pub async fn container_tails(pods: &Api<Pod>, pod: &Pod, lines: i64) -> Vec<(String, String)> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let containers = pod
        .spec
        .as_ref()
        .map(|spec| spec.containers.as_slice())
        .unwrap_or_default();
    let mut tails = Vec::with_capacity(containers.len());
    for container in containers {
        let params = LogParams {
            container: Some(container.name.clone()),
            tail_lines: Some(lines),
            ..LogParams::default()
        };
        let log = pods
            .logs(&name, &params)
            .await
            .unwrap_or_else(|error| format!("(no log: {error})"));
        tails.push((container.name.clone(), log.trim_end().to_owned()));
    }
    tails
}
