//! Installing a rendered release with our applier: `pre-install` hooks, the release's
//! objects, `post-install` hooks, each hook awaited and deleted as its policy says.
//!
//! A hook is applied like any object (server-side, field manager `seatrial`, inventory
//! labels), then awaited: a Job until `Complete` (or `Failed`), a Pod until it `Succeeded`
//! (or `Failed`), a kind with a readiness rule until ready; anything else counts as done
//! once applied, as Helm treats it. A failed hook ends the stage with its pods' logs.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PropagationPolicy};
use kube::Client;

use crate::apply::{AppliedObject, Applier, StageTimings};
use crate::charts::hooks::{DeletePolicy, Hook, Release};
use crate::error::{Error, Result};
use crate::wait::{has_readiness_rule, wait_deleted, wait_ready};

/// Lines of each hook pod's log quoted when a hook fails.
pub const HOOK_LOG_LINES: i64 = 20;

/// Installs `release` for `stage` into `namespace` (the default for namespaced objects that
/// name none): pre-install hooks, objects (with [`Applier::apply_stage`]: order, CRDs first,
/// readiness), post-install hooks. `extra` are the stage's own manifests, applied with the
/// release's objects.
///
/// Objects are pushed to `applied` as they are applied (hooks their policy deletes are taken
/// out again), so a failed or interrupted install is still torn down. Errors: those of
/// [`Applier::apply_stage`]; [`Error::HookFailed`] with the hook's logs.
pub async fn install(
    applier: &mut Applier,
    stage: &str,
    namespace: &str,
    release: &Release,
    extra: &[crate::manifest::Manifest],
    applied: &mut Vec<AppliedObject>,
    timings: &mut StageTimings,
) -> Result<()> {
    let previous = std::mem::replace(&mut applier.default_namespace, namespace.to_owned());
    let result = async {
        for hook in &release.pre_install {
            run_hook(applier, stage, "pre-install", hook, applied, timings).await?;
        }
        let mut objects = release.objects.clone();
        objects.extend_from_slice(extra);
        applier
            .apply_stage(stage, &objects, applied, timings)
            .await?;
        for hook in &release.post_install {
            run_hook(applier, stage, "post-install", hook, applied, timings).await?;
        }
        Ok(())
    }
    .await;
    applier.default_namespace = previous;
    result
}

/// Deletes `object` (foreground: a Job's pods go first) and waits until it is gone.
async fn delete_and_wait(client: &Client, object: &AppliedObject, timeout: Duration) -> Result<()> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..DeleteParams::default()
    };
    match object.api(client).delete(&object.id.name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(source) => {
            return Err(Error::Api {
                action: "delete hook",
                object: object.id.to_string(),
                source,
            })
        }
    }
    wait_deleted(object.api(client), &object.id, None, timeout).await
}

async fn run_hook(
    applier: &mut Applier,
    stage: &str,
    event: &str,
    hook: &Hook,
    applied: &mut Vec<AppliedObject>,
    timings: &mut StageTimings,
) -> Result<()> {
    let client = applier.client().clone();
    let timeout = applier.readiness_timeout;
    let started = Instant::now();
    if hook.deletes(DeletePolicy::BeforeHookCreation) {
        // An object of this name from an earlier install (or a kept run) goes first.
        let (resource, capabilities) = applier
            .resolve(hook.manifest.api_version(), hook.manifest.kind())
            .await?;
        let namespace = (capabilities.scope == kube::discovery::Scope::Namespaced).then(|| {
            hook.manifest
                .object
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| applier.default_namespace.clone())
        });
        let existing = AppliedObject {
            id: crate::inventory::ObjectId {
                api_version: hook.manifest.api_version().to_owned(),
                kind: hook.manifest.kind().to_owned(),
                namespace,
                name: hook.manifest.name().to_owned(),
            },
            uid: None,
            resource,
            namespaced: capabilities.scope == kube::discovery::Scope::Namespaced,
            keep: false,
            claims: None,
        };
        delete_and_wait(&client, &existing, timeout).await?;
    }
    let object = applier.apply_one(stage, &hook.manifest).await?;
    // Recorded at once, so an interrupted wait still tears it down; forgotten again when its
    // policy deletes it.
    applied.push(object.clone());
    let forget = |applied: &mut Vec<AppliedObject>| applied.retain(|o| o.id != object.id);
    timings.apply_seconds += started.elapsed().as_secs_f64();
    let started = Instant::now();
    let outcome = await_hook(&client, &object, timeout).await;
    timings.wait_seconds += started.elapsed().as_secs_f64();
    let hook_name = format!("{} ({event}, weight {})", object.id, hook.weight);
    match outcome {
        Ok(()) => {
            if hook.deletes(DeletePolicy::HookSucceeded) {
                delete_and_wait(&client, &object, timeout).await?;
                forget(applied);
            }
            Ok(())
        }
        Err(error) => {
            let logs = hook_logs(&client, &object).await;
            if hook.deletes(DeletePolicy::HookFailed)
                && delete_and_wait(&client, &object, timeout).await.is_ok()
            {
                forget(applied);
            }
            Err(Error::HookFailed {
                stage: stage.to_owned(),
                hook: hook_name,
                message: host::error_chain(&error),
                logs,
            })
        }
    }
}

/// Waits for a hook to be done (see the module docs).
async fn await_hook(client: &Client, object: &AppliedObject, timeout: Duration) -> Result<()> {
    if object.id.kind == "Pod" {
        let namespace = object.id.namespace.clone().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let name = object.id.name.clone();
        let done = kube::runtime::wait::await_condition(pods, &name, |pod: Option<&Pod>| {
            pod.and_then(|pod| pod.status.as_ref())
                .and_then(|status| status.phase.as_deref())
                .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
        });
        let pod = tokio::time::timeout(timeout, done)
            .await
            .map_err(|_| Error::Timeout {
                object: object.id.to_string(),
                condition: "finish (phase Succeeded or Failed)".into(),
                seconds: timeout.as_secs(),
                last_observed: "the hook Pod did not finish".into(),
            })?
            .map_err(|error| Error::NotReady {
                object: object.id.to_string(),
                reason: error.to_string(),
            })?;
        let phase = pod
            .and_then(|pod| pod.status)
            .and_then(|status| status.phase)
            .unwrap_or_default();
        return if phase == "Succeeded" {
            Ok(())
        } else {
            Err(Error::NotReady {
                object: object.id.to_string(),
                reason: format!("the hook Pod ended in phase {phase}"),
            })
        };
    }
    if has_readiness_rule(&object.id.kind) {
        return wait_ready(object.api(client), &object.id, timeout).await;
    }
    Ok(())
}

/// The last lines of the logs of a hook's pods (the Pod itself, or a Job's pods by the
/// `batch.kubernetes.io/job-name` label), each headed by `pod/container:`.
pub async fn hook_logs(client: &Client, object: &AppliedObject) -> String {
    let Some(namespace) = object.id.namespace.as_deref() else {
        return String::new();
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = match object.id.kind.as_str() {
        "Pod" => pods.get(&object.id.name).await.map(|pod| vec![pod]),
        "Job" => pods
            .list(
                &ListParams::default()
                    .labels(&format!("batch.kubernetes.io/job-name={}", object.id.name)),
            )
            .await
            .map(|list| list.items),
        _ => Ok(Vec::new()),
    };
    let mut text = String::new();
    for pod in list.unwrap_or_default() {
        let name = pod.metadata.name.clone().unwrap_or_default();
        for (container, log) in crate::pod_logs::container_tails(&pods, &pod, HOOK_LOG_LINES).await
        {
            text.push_str(&format!("--- {name}/{container}:\n{log}\n"));
        }
    }
    text.trim_end().to_owned()
}
