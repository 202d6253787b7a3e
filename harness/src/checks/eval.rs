//! Running checks against the cluster.

use std::collections::HashMap;
use std::time::Instant;

use deployer::apply::api_for;
use deployer::wait::condition_status;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::discovery::{pinned_kind, ApiCapabilities, Scope};
use kube::Client;
use tokio::sync::Mutex;

use super::spec::{Assertion, Check, ObjectSelector};

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether the assertion held.
    pub passed: bool,
    /// What was observed, in words; on failure, what was expected and what was found.
    pub message: String,
    /// Wall-clock seconds the check took.
    pub seconds: f64,
}

/// Runs checks with one client, resolving each API type once.
pub struct CheckRunner {
    client: Client,
    resources: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

impl CheckRunner {
    /// A runner using `client`.
    pub fn new(client: Client) -> CheckRunner {
        CheckRunner {
            client,
            resources: Mutex::new(HashMap::new()),
        }
    }

    /// Runs one check. Never fails: API errors become a failed [`Outcome`] naming them.
    pub async fn run(&self, check: &Check) -> Outcome {
        let started = Instant::now();
        let (passed, message) = match self.evaluate(&check.assertion).await {
            Ok(result) => result,
            Err(message) => (false, message),
        };
        Outcome {
            passed,
            message,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), String> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let mut resources = self.resources.lock().await;
        if let Some(found) = resources.get(&gvk) {
            return Ok(found.clone());
        }
        let found = pinned_kind(&self.client, &gvk).await.map_err(|error| {
            format!("the server does not serve {kind} in {api_version}: {error}")
        })?;
        resources.insert(gvk, found.clone());
        Ok(found)
    }

    async fn get(&self, object: &ObjectSelector) -> Result<Option<DynamicObject>, String> {
        let (resource, capabilities) = self.resolve(&object.api_version, &object.kind).await?;
        let namespace = match capabilities.scope {
            Scope::Namespaced => Some(object.namespace.as_deref().ok_or_else(|| {
                format!(
                    "{} is namespaced: the check must name its namespace",
                    object.kind
                )
            })?),
            Scope::Cluster => None,
        };
        api_for(&self.client, &resource, namespace)
            .get_opt(&object.name)
            .await
            .map_err(|error| format!("cannot get {object}: {error}"))
    }

    async fn get_existing(&self, object: &ObjectSelector) -> Result<DynamicObject, String> {
        self.get(object)
            .await?
            .ok_or_else(|| format!("{object} does not exist"))
    }

    async fn evaluate(&self, assertion: &Assertion) -> Result<(bool, String), String> {
        Ok(match assertion {
            Assertion::Exists(object) => match self.get(object).await? {
                Some(_) => (true, format!("{object} exists")),
                None => (false, format!("{object} does not exist")),
            },
            Assertion::Absent(object) => match self.get(object).await? {
                None => (true, format!("{object} is absent")),
                Some(live) => (
                    false,
                    format!(
                        "{object} exists but must not (uid {})",
                        live.metadata.uid.unwrap_or_default()
                    ),
                ),
            },
            Assertion::Condition {
                object,
                type_,
                status,
                reason,
            } => {
                let live = self.get_existing(object).await?;
                let live_status = &live.data["status"];
                let actual = condition_status(live_status, type_);
                let actual_reason = live_status["conditions"]
                    .as_array()
                    .and_then(|conditions| conditions.iter().find(|c| c["type"] == type_.as_str()))
                    .and_then(|condition| condition["reason"].as_str());
                let status_ok = actual == Some(status.as_str());
                let reason_ok = reason
                    .as_deref()
                    .is_none_or(|reason| actual_reason == Some(reason));
                let expected = match reason {
                    Some(reason) => format!("{type_}={status} ({reason})"),
                    None => format!("{type_}={status}"),
                };
                let observed = match (actual, actual_reason) {
                    (None, _) => format!("no {type_} condition"),
                    (Some(actual), Some(actual_reason)) => {
                        format!("{type_}={actual} ({actual_reason})")
                    }
                    (Some(actual), None) => format!("{type_}={actual}"),
                };
                if status_ok && reason_ok {
                    (true, format!("{object} has {observed}"))
                } else {
                    (
                        false,
                        format!("{object}: expected {expected}, found {observed}"),
                    )
                }
            }
            Assertion::FieldEquals {
                object,
                path,
                value,
            } => {
                let live = self.get_existing(object).await?;
                let whole = serde_json::to_value(&live).map_err(|error| error.to_string())?;
                match path.lookup(&whole) {
                    Some(actual) if actual == value => {
                        (true, format!("{object}: {path} is {actual}"))
                    }
                    Some(actual) => (
                        false,
                        format!("{object}: {path} is {actual}, expected {value}"),
                    ),
                    None => (
                        false,
                        format!("{object}: {path} is not set, expected {value}"),
                    ),
                }
            }
            Assertion::Count {
                resource,
                selector,
                min,
                max,
            } => {
                let (api_resource, _) = self.resolve(&resource.api_version, &resource.kind).await?;
                let mut params = ListParams::default();
                if let Some(selector) = selector {
                    params = params.labels(selector);
                }
                let list = api_for(&self.client, &api_resource, resource.namespace.as_deref())
                    .list(&params)
                    .await
                    .map_err(|error| format!("cannot list {}: {error}", resource.kind))?;
                let count = list.items.len() as u64;
                let bounds = match (min, max) {
                    (min, max) if min == max => format!("exactly {min}"),
                    (0, max) => format!("at most {max}"),
                    (min, &u64::MAX) => format!("at least {min}"),
                    (min, max) => format!("{min} to {max}"),
                };
                let scope = match &resource.namespace {
                    Some(namespace) => format!(" in {namespace}"),
                    None => String::new(),
                };
                let matching = selector
                    .as_ref()
                    .map(|s| format!(" matching `{s}`"))
                    .unwrap_or_default();
                let text = format!(
                    "{count} {}{scope}{matching}, expected {bounds}",
                    resource.kind
                );
                ((*min..=*max).contains(&count), text)
            }
        })
    }
}
