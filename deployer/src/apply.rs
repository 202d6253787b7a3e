//! Server-side apply of a stage's objects, in dependency order, with inventory labels.
//!
//! Order within a stage: CustomResourceDefinitions, then Namespaces, then RBAC
//! (ServiceAccount, Role, ClusterRole, RoleBinding, ClusterRoleBinding), then everything
//! else; file order is kept within each group. CRDs are awaited `Established` before any other
//! object is applied, so custom resources of a CRD in the same stage resolve.
//!
//! Applies use `PATCH` with `application/apply-patch+yaml`, field manager
//! [`FIELD_MANAGER`], and `force` (Kubernetes docs, "Server-Side Apply": conflicts with other
//! managers are taken over, as a deploy tool should).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{pinned_kind, ApiCapabilities, Scope};
use kube::Client;

use crate::error::{Error, Result};
use crate::inventory::{Inventory, ObjectId, FIELD_MANAGER};
use crate::manifest::Manifest;
use crate::wait::{has_readiness_rule, wait_ready};

/// One object the applier applied.
#[derive(Debug, Clone)]
pub struct AppliedObject {
    /// Which object.
    pub id: ObjectId,
    /// The object's uid after the apply.
    pub uid: Option<String>,
    /// Its API resource (for later watches and deletes).
    pub resource: ApiResource,
    /// Whether the resource is namespaced.
    pub namespaced: bool,
    /// Whether it carries `helm.sh/resource-policy: keep`: teardown and sweep leave it and
    /// report it as kept on purpose.
    pub keep: bool,
    /// For a StatefulSet, the PersistentVolumeClaims its `volumeClaimTemplates` create.
    pub claims: Option<crate::claims::ClaimTemplates>,
}

impl AppliedObject {
    /// A dynamic API handle scoped to the object's namespace (or cluster-wide).
    pub fn api(&self, client: &Client) -> Api<DynamicObject> {
        api_for(client, &self.resource, self.id.namespace.as_deref())
    }
}

/// An `Api` for `resource` in `namespace`, or cluster-wide when `None`.
pub fn api_for(
    client: &Client,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// Timings of one stage's apply, in seconds.
#[derive(Debug, Clone, Default)]
pub struct StageTimings {
    /// Seconds spent in apply requests.
    pub apply_seconds: f64,
    /// Seconds spent waiting for readiness.
    pub wait_seconds: f64,
}

/// Applies objects and waits for them, remembering API resources it has resolved.
pub struct Applier {
    client: Client,
    inventory: Inventory,
    pub(crate) default_namespace: String,
    pub(crate) readiness_timeout: Duration,
    resources: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
    ledger: Option<std::sync::Arc<crate::ledger::Ledger>>,
    keep_secrets_of: Option<String>,
}

/// Rank of a kind in the apply order (lower first).
pub fn apply_rank(kind: &str) -> u8 {
    match kind {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "ServiceAccount" | "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => 2,
        _ => 3,
    }
}

impl Applier {
    /// An applier for one run. Namespaced objects without a namespace go to
    /// `default_namespace`; each readiness wait may take up to `readiness_timeout`.
    pub fn new(
        client: Client,
        inventory: Inventory,
        default_namespace: String,
        readiness_timeout: Duration,
    ) -> Self {
        Applier {
            client,
            inventory,
            default_namespace,
            readiness_timeout,
            resources: HashMap::new(),
            ledger: None,
            keep_secrets_of: None,
        }
    }

    /// An upgrade of the deployment `previous_run` applied: the Secrets that run generated
    /// keep their values ([`keep_generated_values`]).
    pub fn keeping_secrets_of(mut self, previous_run: &str) -> Self {
        self.keep_secrets_of = Some(previous_run.to_owned());
        self
    }

    /// Records every object in `ledger` before it is applied (see [`crate::ledger`]).
    pub fn with_ledger(mut self, ledger: std::sync::Arc<crate::ledger::Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Resolves the API resource of `apiVersion`/`kind` through discovery (cached).
    ///
    /// Errors: [`Error::Api`] when the server does not serve the kind.
    pub async fn resolve(
        &mut self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities)> {
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(found) = self.resources.get(&gvk) {
            return Ok(found.clone());
        }
        let found = pinned_kind(&self.client, &gvk)
            .await
            .map_err(|source| Error::Api {
                action: "find the API resource of",
                object: format!("{kind} ({api_version})"),
                source,
            })?;
        self.resources.insert(gvk, found.clone());
        Ok(found)
    }

    /// Applies `manifests` for `stage` in dependency order and waits until each is ready.
    ///
    /// Objects applied before a failure are pushed to `applied` all the same, so the caller
    /// can tear them down. Errors: [`Error::Api`] for rejected applies, [`Error::Timeout`] /
    /// [`Error::NotReady`] for waits.
    pub async fn apply_stage(
        &mut self,
        stage: &str,
        manifests: &[Manifest],
        applied: &mut Vec<AppliedObject>,
        timings: &mut StageTimings,
    ) -> Result<()> {
        let mut ordered: Vec<&Manifest> = manifests.iter().collect();
        ordered.sort_by_key(|manifest| apply_rank(manifest.kind()));
        let (crds, rest): (Vec<&Manifest>, Vec<&Manifest>) = ordered
            .into_iter()
            .partition(|manifest| apply_rank(manifest.kind()) == 0);
        for batch in [crds, rest] {
            let first_new = applied.len();
            let started = Instant::now();
            for manifest in batch {
                let object = self.apply_one(stage, manifest).await?;
                applied.push(object);
            }
            timings.apply_seconds += started.elapsed().as_secs_f64();
            let started = Instant::now();
            let waits = applied[first_new..]
                .iter()
                .filter(|object| has_readiness_rule(&object.id.kind))
                .map(|object| {
                    wait_ready(object.api(&self.client), &object.id, self.readiness_timeout)
                });
            // The first failure ends the stage; the other waits are dropped with it.
            let result = futures::future::try_join_all(waits).await;
            timings.wait_seconds += started.elapsed().as_secs_f64();
            result?;
        }
        Ok(())
    }

    /// The client it applies with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The inventory its objects are labelled with.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Applies one object (no wait): server-side, inventory-labelled, namespaced objects
    /// without a namespace put in the default namespace.
    ///
    /// Errors: [`Error::Api`] naming the object, its template and document;
    /// [`Error::Ledger`] when the run's ledger cannot record it (then it is not applied).
    pub async fn apply_one(&mut self, stage: &str, manifest: &Manifest) -> Result<AppliedObject> {
        let (resource, capabilities) = self
            .resolve(manifest.api_version(), manifest.kind())
            .await?;
        let namespaced = capabilities.scope == Scope::Namespaced;
        let mut object = manifest.object.clone();
        let namespace = if namespaced {
            Some(
                object
                    .metadata
                    .namespace
                    .get_or_insert_with(|| self.default_namespace.clone())
                    .clone(),
            )
        } else {
            object.metadata.namespace = None;
            None
        };
        object
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .extend(self.inventory.labels(stage));
        let id = ObjectId {
            api_version: manifest.api_version().to_owned(),
            kind: manifest.kind().to_owned(),
            namespace: namespace.clone(),
            name: manifest.name().to_owned(),
        };
        let api = api_for(&self.client, &resource, namespace.as_deref());
        if let (Some(previous), "Secret") = (&self.keep_secrets_of, manifest.kind()) {
            keep_generated_values(&api, &mut object, previous)
                .await
                .map_err(|source| Error::Api {
                    action: "read the Secret before upgrading",
                    object: id.to_string(),
                    source,
                })?;
        }
        if let Some(ledger) = &self.ledger {
            ledger.record(&id)?;
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let live = api
            .patch(&id.name, &params, &Patch::Apply(&object))
            .await
            .map_err(|source| Error::Api {
                action: "apply",
                object: format!(
                    "{id} (from {}:{} document {})",
                    manifest.path.display(),
                    manifest.line,
                    manifest.document
                ),
                source,
            })?;
        tracing::debug!(object = %id, "applied");
        Ok(AppliedObject {
            id,
            uid: live.metadata.uid,
            resource,
            namespaced,
            keep: crate::charts::hooks::keeps(manifest),
            claims: crate::claims::ClaimTemplates::of(manifest.kind(), &manifest.object),
        })
    }
}

/// An upgrade keeps what the run before it generated. For an `Opaque` Secret that
/// `previous_run` applied, each key that both the cluster's Secret and `object` (its new render)
/// have keeps the cluster's value, in `stringData` and `data` alike. Charts keep their
/// generated passwords the same way with Helm's `lookup` (Helm docs, "Template Functions:
/// lookup"), so that the passwords, tokens and client secrets users and services hold do not
/// change under them. Keys only the new render has get its values. Other types
/// (`kubernetes.io/tls`, whose certificate comes from this run's CA) are rendered anew.
///
/// Errors: the API server's, reading the Secret.
pub async fn keep_generated_values(
    api: &Api<DynamicObject>,
    object: &mut DynamicObject,
    previous_run: &str,
) -> std::result::Result<(), kube::Error> {
    use base64::Engine;
    let kind_type = object.data.get("type").and_then(|value| value.as_str());
    if kind_type.is_some_and(|kind_type| kind_type != "Opaque") {
        return Ok(());
    }
    let Some(name) = object.metadata.name.clone() else {
        return Ok(());
    };
    let Some(live) = api.get_opt(&name).await? else {
        return Ok(());
    };
    let labels = live.metadata.labels.unwrap_or_default();
    if labels.get(crate::inventory::RUN_LABEL).map(String::as_str) != Some(previous_run) {
        return Ok(());
    }
    let Some(live_data) = live.data.get("data").and_then(|data| data.as_object()) else {
        return Ok(());
    };
    let engine = base64::engine::general_purpose::STANDARD;
    if let Some(string_data) = object
        .data
        .get_mut("stringData")
        .and_then(|data| data.as_object_mut())
    {
        for (key, value) in string_data.iter_mut() {
            let kept = live_data
                .get(key)
                .and_then(|encoded| encoded.as_str())
                .and_then(|encoded| engine.decode(encoded).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok());
            if let Some(kept) = kept {
                *value = serde_json::Value::String(kept);
            }
        }
    }
    if let Some(data) = object
        .data
        .get_mut("data")
        .and_then(|data| data.as_object_mut())
    {
        for (key, value) in data.iter_mut() {
            if let Some(kept) = live_data.get(key) {
                *value = kept.clone();
            }
        }
    }
    Ok(())
}
