//! Chart test hooks (`helm.sh/hook: test`) as checks: what `helm test` does, run by us.
//!
//! Helm docs, "Chart Tests": a test is a Pod whose containers exit 0 when the release works.
//! The check deletes an earlier pod of that name (the default `before-hook-creation`
//! policy), creates the pod with server-side apply and the run's inventory labels, waits for
//! it to end, and passes when it `Succeeded`. Either way its log is in the message (and so in
//! the report); a pod whose policy says `hook-succeeded` is deleted after passing.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::Client;

/// Lines of each container's log quoted.
pub const LOG_LINES: i64 = 20;

/// One test hook to run.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmTestSpec {
    /// The Pod as rendered, with the run's inventory labels and its namespace set.
    pub pod: serde_json::Value,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Whether it is deleted after it passed (`hook-succeeded`).
    pub delete_on_success: bool,
}

/// Runs the test pod once; `Ok` with what it printed when it succeeded, `Err` naming how it
/// ended and its log otherwise. `last` is kept up to date with its phase for timeouts.
pub async fn run_helm_test(
    client: &Client,
    spec: &HelmTestSpec,
    last: &std::sync::Mutex<String>,
) -> Result<String, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
    let what = format!("test pod {}/{}", spec.namespace, spec.name);
    match pods.delete(&spec.name, &DeleteParams::default()).await {
        Ok(deleting) => {
            if let Some(uid) = deleting.left().and_then(|pod| pod.metadata.uid) {
                await_condition(pods.clone(), &spec.name, conditions::is_deleted(&uid))
                    .await
                    .map_err(|error| {
                        format!("failed to watch the deletion of the earlier {what}: {error}")
                    })?;
            }
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(error) => return Err(format!("failed to delete the earlier {what}: {error}")),
    }
    let params = PatchParams::apply(deployer::inventory::FIELD_MANAGER).force();
    pods.patch(&spec.name, &params, &Patch::Apply(&spec.pod))
        .await
        .map_err(|error| format!("failed to create {what}: {error}"))?;
    *last.lock().expect("not poisoned") = format!("{what} created");
    let ended = await_condition(pods.clone(), &spec.name, |pod: Option<&Pod>| {
        let phase = pod
            .and_then(|pod| pod.status.as_ref())
            .and_then(|status| status.phase.as_deref())
            .unwrap_or("");
        phase == "Succeeded" || phase == "Failed"
    });
    let pod = ended
        .await
        .map_err(|error| format!("failed to watch {what}: {error}"))?
        .ok_or_else(|| format!("{what} was deleted before it ended"))?;
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.clone().unwrap_or_default();
    let log = logs(&pods, &pod).await;
    if phase == "Succeeded" {
        if spec.delete_on_success {
            let _ = pods.delete(&spec.name, &DeleteParams::default()).await;
        }
        return Ok(format!("{what} succeeded; its log:\n{log}"));
    }
    let exits: Vec<String> = status
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .filter_map(|container| {
            let terminated = container.state?.terminated?;
            Some(format!(
                "container {} exited {}{}",
                container.name,
                terminated.exit_code,
                terminated
                    .reason
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ))
        })
        .collect();
    Err(format!(
        "{what} ended in phase {phase}: {}; its log:\n{log}",
        if exits.is_empty() {
            "no container status".to_owned()
        } else {
            exits.join(", ")
        }
    ))
}

async fn logs(pods: &Api<Pod>, pod: &Pod) -> String {
    let mut text = String::new();
    for (container, log) in deployer::pod_logs::container_tails(pods, pod, LOG_LINES).await {
        text.push_str(&format!("--- {container}:\n{log}\n"));
    }
    text.trim_end().to_owned()
}
