//! The user data an upgrade trial seeds before the upgrade and verifies after it, each as a
//! check: `seed::<what>` in the first deployment's report, `upgrade::<what>` in the second's.
//!
//! - `userprofile`: a `UserProfile` of the platform's own CRD
//!   (`userprofiles.<project>.seatrial.dev`, the kubernetes-initialize stage), created at the
//!   CRD's storage version; afterwards it must be readable at that version and at the new
//!   storage version, with the same spec. A CRD upgrade that drops the served version
//!   without migrating stored objects fails it (Kubernetes docs, "Versions in
//!   CustomResourceDefinitions": stored objects keep the version they were written at until
//!   rewritten).
//! - `generated_secrets`: every `Opaque` Secret the platform applied (its passwords, tokens and
//!   client secrets, generated at render time), recorded as a SHA-256 digest per key — the
//!   values themselves are never kept or reported. Afterwards each key must still be there with
//!   the same value: an upgrade that generates them anew changes what users and services hold.
//! - `hub_user`, `hub_token`, `notebook`: a hub user, their API token, named server and a
//!   notebook in their home ([`super::hub_data`]).
//! - `identity_user`: a Keycloak user with a password and a group ([`super::identity_data`]).
//! - `<stage>::<step>`: what stages declare in their `checks.yaml` (`upgrade.seed`,
//!   `upgrade.verify`; [`super::declared`]).
//!
//! A platform without the hub's trial service or without Keycloak has those checks skipped,
//! saying why.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::Client;
use serde_json::{json, Value};

use super::{hub_data, identity_data};
use crate::integration::{DataContext, DataSteps, IntegrationOptions};
use crate::report::{CheckRecord, CheckResult};

/// The stage the seed steps' checks report under (`seed::<what>`).
pub const SEED_STAGE: &str = "seed";
/// The stage the verify steps' checks report under (`upgrade::<what>`).
pub const VERIFY_STAGE: &str = "upgrade";

/// The seeded UserProfile's name.
pub const SEED_NAME: &str = "upgrade-seed";

/// What was seeded, for the verification after the upgrade. Holds no secret value, only
/// digests.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    /// The UserProfile, when the platform has the CRD.
    pub user_profile: Option<SeededObject>,
    /// The platform's Opaque Secrets: `namespace/name` → key → SHA-256 of the value
    /// (`sha256:<hex>`).
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// The hub's user, token and notebook, when seeded.
    pub hub: Option<super::hub_data::HubSeed>,
    /// The Keycloak user, when seeded.
    pub identity: Option<super::identity_data::IdentitySeed>,
    /// The verify steps the first deployment's stages declared, for the stages whose seed
    /// steps passed (they are checked as declared before the upgrade).
    pub declared: Vec<crate::checks::Check>,
}

/// An object written before the upgrade.
#[derive(Debug, Clone)]
pub struct SeededObject {
    /// `apiVersion` it was written at.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its plural resource name.
    pub plural: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its `spec` as read back after the write.
    pub spec: Value,
}

/// Seeds the data (the `seed` stage of the first deployment); [`Seeder::seeded`] says what.
#[derive(Default)]
pub struct Seeder {
    seeded: Mutex<Seeded>,
}

impl Seeder {
    /// What the seed steps wrote.
    pub fn seeded(&self) -> Seeded {
        self.seeded.lock().expect("not poisoned").clone()
    }
}

/// Verifies seeded data after the upgrade (the `upgrade` stage of the second deployment).
pub struct Verifier {
    /// What was seeded.
    pub seeded: Seeded,
}

impl DataSteps for Seeder {
    fn stage(&self) -> &str {
        SEED_STAGE
    }

    fn run<'a>(&'a self, context: DataContext<'a>) -> BoxFuture<'a, Vec<CheckRecord>> {
        Box::pin(async move {
            let (client, options) = (context.client, context.options);
            let steps_started = Instant::now();
            let started = steps_started;
            let (result, message) = match seed_user_profile(client, options).await {
                Ok(Some(seeded)) => {
                    let message = format!(
                        "created UserProfile {}/{} at {}",
                        seeded.namespace, seeded.name, seeded.api_version
                    );
                    self.seeded.lock().expect("not poisoned").user_profile = Some(seeded);
                    (CheckResult::Passed, message)
                }
                Ok(None) => (
                    CheckResult::Skipped,
                    format!(
                        "the platform has no UserProfile CRD ({})",
                        crd_name(options)
                    ),
                ),
                Err(message) => (CheckResult::Failed, message),
            };
            let mut records = vec![record("userprofile", result, message, started)];
            let started = Instant::now();
            records.push(match secret_digests(client, options).await {
                Ok(secrets) => {
                    let keys: usize = secrets.values().map(BTreeMap::len).sum();
                    let message = format!(
                        "recorded {keys} keys of {} Secrets ({})",
                        secrets.len(),
                        secrets.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                    self.seeded.lock().expect("not poisoned").secrets = secrets;
                    record("generated_secrets", CheckResult::Passed, message, started)
                }
                Err(message) => record("generated_secrets", CheckResult::Failed, message, started),
            });
            records.extend(self.seed_hub(client, options).await);
            records.extend(self.seed_identity(client, options).await);
            let (declared, verify) = super::declared::seed(context, steps_started).await;
            records.extend(declared);
            self.seeded.lock().expect("not poisoned").declared = verify;
            records
        })
    }
}

impl Seeder {
    async fn seed_hub(&self, client: &Client, options: &IntegrationOptions) -> Vec<CheckRecord> {
        let started = Instant::now();
        if !options.provider.runs_workloads() {
            let why = crate::scenarios::NO_WORKLOADS.to_owned();
            return skipped(&["hub_user", "notebook"], &why, started);
        }
        let hub = match hub_data::HubApi::connect(client, options).await {
            Err(message) => return vec![record("hub_user", CheckResult::Failed, message, started)],
            Ok(None) => {
                let why = hub_data::HubApi::missing(options);
                return skipped(&["hub_user", "notebook"], &why, started);
            }
            Ok(Some(hub)) => hub,
        };
        let outcome = hub_data::seed(&hub).await;
        self.seeded.lock().expect("not poisoned").hub = outcome.seed;
        vec![
            result_record("hub_user", outcome.user, started),
            result_record("notebook", outcome.notebook, started),
        ]
    }

    async fn seed_identity(
        &self,
        client: &Client,
        options: &IntegrationOptions,
    ) -> Vec<CheckRecord> {
        let started = Instant::now();
        if !options.provider.runs_workloads() {
            let why = crate::scenarios::NO_WORKLOADS.to_owned();
            return skipped(&["identity_user"], &why, started);
        }
        let keycloak = match identity_data::Keycloak::connect(client, options).await {
            Err(message) => {
                return vec![record(
                    "identity_user",
                    CheckResult::Failed,
                    message,
                    started,
                )]
            }
            Ok(None) => {
                let why = identity_data::Keycloak::missing(options);
                return vec![record("identity_user", CheckResult::Skipped, why, started)];
            }
            Ok(Some(keycloak)) => keycloak,
        };
        let outcome = identity_data::seed(&keycloak).await.map(|(seed, message)| {
            self.seeded.lock().expect("not poisoned").identity = Some(seed);
            message
        });
        vec![result_record("identity_user", outcome, started)]
    }
}

impl Verifier {
    async fn verify_hub(&self, client: &Client, options: &IntegrationOptions) -> Vec<CheckRecord> {
        let started = Instant::now();
        let names = ["hub_token", "hub_user", "notebook"];
        let Some(seed) = &self.seeded.hub else {
            return skipped(&names, "no hub data was seeded before the upgrade", started);
        };
        let failed = |why: &str| {
            names
                .iter()
                .map(|name| record(name, CheckResult::Failed, why.to_owned(), started))
                .collect()
        };
        let hub = match hub_data::HubApi::connect(client, options).await {
            Ok(Some(hub)) => hub,
            Ok(None) => {
                return failed(&format!(
                    "{} after the upgrade",
                    hub_data::HubApi::missing(options)
                ))
            }
            Err(message) => return failed(&message),
        };
        let outcome = hub_data::verify(&hub, seed, client, options).await;
        vec![
            result_record("hub_token", outcome.token, started),
            result_record("hub_user", outcome.user, started),
            result_record("notebook", outcome.notebook, started),
        ]
    }

    async fn verify_identity(
        &self,
        client: &Client,
        options: &IntegrationOptions,
    ) -> Vec<CheckRecord> {
        let started = Instant::now();
        let Some(seed) = &self.seeded.identity else {
            let why = "no Keycloak user was seeded before the upgrade".to_owned();
            return vec![record("identity_user", CheckResult::Skipped, why, started)];
        };
        let outcome = match identity_data::Keycloak::connect(client, options).await {
            Ok(Some(keycloak)) => identity_data::verify(&keycloak, seed).await,
            Ok(None) => Err(format!(
                "{} after the upgrade",
                identity_data::Keycloak::missing(options)
            )),
            Err(message) => Err(message),
        };
        vec![result_record("identity_user", outcome, started)]
    }
}

impl DataSteps for Verifier {
    fn stage(&self) -> &str {
        VERIFY_STAGE
    }

    fn run<'a>(&'a self, context: DataContext<'a>) -> BoxFuture<'a, Vec<CheckRecord>> {
        Box::pin(async move {
            let (client, options) = (context.client, context.options);
            let steps_started = Instant::now();
            let started = steps_started;
            let (result, message) = match &self.seeded.user_profile {
                None => (
                    CheckResult::Skipped,
                    "no UserProfile was seeded before the upgrade".to_owned(),
                ),
                Some(seeded) => match verify_user_profile(client, options, seeded).await {
                    Ok(message) => (CheckResult::Passed, message),
                    Err(message) => (CheckResult::Failed, message),
                },
            };
            let mut records = vec![record("userprofile", result, message, started)];
            let started = Instant::now();
            let (result, message) = match secret_digests(client, options).await {
                Err(message) => (CheckResult::Failed, message),
                Ok(now) => match secret_changes(&self.seeded.secrets, &now) {
                    changes if changes.is_empty() => (
                        CheckResult::Passed,
                        format!(
                            "{} Secrets kept every value across the upgrade",
                            self.seeded.secrets.len()
                        ),
                    ),
                    changes => (
                        CheckResult::Failed,
                        format!(
                            "{}: what users and services hold no longer matches",
                            changes.join("; ")
                        ),
                    ),
                },
            };
            records.push(record("generated_secrets", result, message, started));
            records.extend(self.verify_hub(client, options).await);
            records.extend(self.verify_identity(client, options).await);
            records.extend(
                super::declared::verify(context, &self.seeded.declared, steps_started).await,
            );
            records
        })
    }
}

/// A data check's record; `started_seconds` counts from the steps' start (the run adds its
/// own offset).
fn record(name: &str, result: CheckResult, message: String, started: Instant) -> CheckRecord {
    CheckRecord {
        name: name.to_owned(),
        kind: "data".to_owned(),
        result,
        message,
        started_seconds: 0.0,
        seconds: started.elapsed().as_secs_f64(),
        attempts: 1,
        failures: Vec::new(),
        diagnostics: None,
    }
}

/// A skipped record for each of `names`, saying `why`.
fn skipped(names: &[&str], why: &str, started: Instant) -> Vec<CheckRecord> {
    names
        .iter()
        .map(|name| record(name, CheckResult::Skipped, why.to_owned(), started))
        .collect()
}

/// A data check's record from a step's message (passed) or error (failed).
fn result_record(name: &str, outcome: Result<String, String>, started: Instant) -> CheckRecord {
    match outcome {
        Ok(message) => record(name, CheckResult::Passed, message, started),
        Err(message) => record(name, CheckResult::Failed, message, started),
    }
}

/// `userprofiles.<project>.seatrial.dev`.
fn crd_name(options: &IntegrationOptions) -> String {
    format!("userprofiles.{}.seatrial.dev", options.config.project_name)
}

/// The CRD's served versions, its storage version and `status.storedVersions`.
struct CrdVersions {
    group: String,
    plural: String,
    kind: String,
    served: Vec<String>,
    storage: Option<String>,
    stored: Vec<String>,
}

async fn crd_versions(
    client: &Client,
    options: &IntegrationOptions,
) -> Result<Option<CrdVersions>, String> {
    let name = crd_name(options);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds
        .get_opt(&name)
        .await
        .map_err(|error| format!("failed to read CustomResourceDefinition {name}: {error}"))?;
    Ok(crd.map(|crd| CrdVersions {
        group: crd.spec.group.clone(),
        plural: crd.spec.names.plural.clone(),
        kind: crd.spec.names.kind.clone(),
        served: crd
            .spec
            .versions
            .iter()
            .filter(|version| version.served)
            .map(|version| version.name.clone())
            .collect(),
        storage: crd
            .spec
            .versions
            .iter()
            .find(|version| version.storage)
            .map(|version| version.name.clone()),
        stored: crd
            .status
            .and_then(|status| status.stored_versions)
            .unwrap_or_default(),
    }))
}

fn api(
    client: &Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    namespace: &str,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Creates the seed UserProfile at the CRD's storage version, labelled as the run's (so the
/// sweep removes it), and reads it back; `None` when the platform has no such CRD.
async fn seed_user_profile(
    client: &Client,
    options: &IntegrationOptions,
) -> Result<Option<SeededObject>, String> {
    let Some(crd) = crd_versions(client, options).await? else {
        return Ok(None);
    };
    let Some(version) = crd.storage.clone() else {
        return Err(format!(
            "CustomResourceDefinition {} has no storage version",
            crd_name(options)
        ));
    };
    let api_version = format!("{}/{version}", crd.group);
    let namespace = options.config.namespace.clone();
    let inventory = deployer::inventory::Inventory {
        deployment: options.config.project_name.clone(),
        run_id: options.run_id.clone(),
    };
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": api_version,
        "kind": crd.kind,
        "metadata": {
            "name": SEED_NAME,
            "namespace": namespace,
            "labels": inventory.labels("seed"),
        },
        "spec": {
            "displayName": "Seeded before the upgrade (3 CPU, 5Gi)",
            "cpu": "3",
            "memory": "5Gi",
            "default": false,
        },
    }))
    .map_err(|error| format!("failed to build the seed UserProfile: {error}"))?;
    let api = api(client, &api_version, &crd.kind, &crd.plural, &namespace);
    let written = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(|error| {
            format!("failed to create UserProfile {namespace}/{SEED_NAME}: {error}")
        })?;
    Ok(Some(SeededObject {
        api_version,
        kind: crd.kind,
        plural: crd.plural,
        namespace,
        name: SEED_NAME.to_owned(),
        spec: written.data.get("spec").cloned().unwrap_or(Value::Null),
    }))
}

/// Reads the seeded UserProfile at the version it was written at and at the CRD's storage
/// version now; each read must find the same spec.
async fn verify_user_profile(
    client: &Client,
    options: &IntegrationOptions,
    seeded: &SeededObject,
) -> Result<String, String> {
    let id = format!("{} {}/{}", seeded.kind, seeded.namespace, seeded.name);
    let Some(crd) = crd_versions(client, options).await? else {
        return Err(format!(
            "{id} is gone: CustomResourceDefinition {} no longer exists after the upgrade",
            crd_name(options)
        ));
    };
    let mut versions = vec![seeded.api_version.clone()];
    if let Some(storage) = &crd.storage {
        let now = format!("{}/{storage}", crd.group);
        if !versions.contains(&now) {
            versions.push(now);
        }
    }
    let crd_state = format!(
        "the CRD serves [{}], stores new objects at {}, and its stored versions are [{}]",
        crd.served.join(", "),
        crd.storage.as_deref().unwrap_or("(none)"),
        crd.stored.join(", ")
    );
    let mut problems = Vec::new();
    for api_version in &versions {
        let version = api_version.rsplit('/').next().unwrap_or_default();
        if !crd.served.iter().any(|served| served == version) {
            let unmigrated = if crd.stored.iter().any(|stored| stored == version) {
                format!(", and objects stored at {version} were not migrated (status.storedVersions still lists it)")
            } else {
                String::new()
            };
            problems.push(format!(
                "{id} cannot be read as {api_version}: the CRD no longer serves {version}{unmigrated}"
            ));
            continue;
        }
        let api = api(
            client,
            api_version,
            &crd.kind,
            &crd.plural,
            &seeded.namespace,
        );
        match api.get_opt(&seeded.name).await {
            Err(error) => problems.push(format!("{id} cannot be read as {api_version}: {error}")),
            Ok(None) => problems.push(format!("{id} is gone (not found as {api_version})")),
            Ok(Some(found)) => {
                let spec = found.data.get("spec").cloned().unwrap_or(Value::Null);
                let differences = differences(&seeded.spec, &spec);
                if !differences.is_empty() {
                    problems.push(format!(
                        "{id} read as {api_version} differs from what was seeded: {}",
                        differences.join("; ")
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "{} after the upgrade; {crd_state}",
            problems.join("; ")
        ));
    }
    Ok(format!(
        "{id} unchanged, read as {}",
        versions.join(" and ")
    ))
}

/// The platform's `Opaque` Secrets in its namespace (those carrying the deployment's label and
/// a stage label other than `seed`), each key's value as a SHA-256 digest.
async fn secret_digests(
    client: &Client,
    options: &IntegrationOptions,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    use k8s_openapi::api::core::v1::Secret;
    let namespace = &options.config.namespace;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let selector = deployer::inventory::deployment_selector(&options.config.project_name);
    let listed = secrets
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .map_err(|error| format!("failed to list the Secrets of {namespace}: {error}"))?;
    let mut digests = BTreeMap::new();
    for secret in listed {
        let opaque = secret.type_.as_deref().is_none_or(|kind| kind == "Opaque");
        if !opaque {
            continue;
        }
        let name = secret.metadata.name.clone().unwrap_or_default();
        let keys = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| (key, deployer::charts::fetch::sha256_bytes(&value.0)))
            .collect();
        digests.insert(format!("{namespace}/{name}"), keys);
    }
    Ok(digests)
}

/// Each Secret or key of `before` that is gone or whose value changed in `after`, a sentence
/// each (names and keys only).
fn secret_changes(
    before: &BTreeMap<String, BTreeMap<String, String>>,
    after: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<String> {
    let mut changes = Vec::new();
    for (secret, keys) in before {
        let Some(now) = after.get(secret) else {
            changes.push(format!("Secret {secret} is gone after the upgrade"));
            continue;
        };
        for (key, digest) in keys {
            match now.get(key) {
                None => changes.push(format!(
                    "Secret {secret}: key {key} is gone after the upgrade"
                )),
                Some(new) if new != digest => changes.push(format!(
                    "Secret {secret}: key {key} has a new value after the upgrade"
                )),
                Some(_) => {}
            }
        }
    }
    changes
}

/// The top-level fields of two specs that differ: `cpu: "3" → "4"`, `memory: "5Gi" → (none)`.
fn differences(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |value: Option<&Value>| value.map_or("(none)".to_owned(), Value::to_string);
    keys.into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| {
            format!(
                "{key}: {} → {}",
                show(before.get(key)),
                show(after.get(key))
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_changed_added_and_removed_field() {
        let before = json!({"cpu": "3", "memory": "5Gi", "displayName": "x"});
        let after = json!({"cpu": "4", "displayName": "x", "gpu": 1});
        assert_eq!(
            differences(&before, &after),
            [
                "cpu: \"3\" → \"4\"",
                "gpu: (none) → 1",
                "memory: \"5Gi\" → (none)"
            ]
        );
        assert!(differences(&before, &before).is_empty());
    }

    #[test]
    fn secret_changes_name_gone_secrets_gone_keys_and_new_values_but_never_a_value() {
        let map =
            |entries: &[(&str, &[(&str, &str)])]| -> BTreeMap<String, BTreeMap<String, String>> {
                entries
                    .iter()
                    .map(|(secret, keys)| {
                        let keys = keys
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        (secret.to_string(), keys)
                    })
                    .collect()
            };
        let before = map(&[
            ("ns/hub-secret", &[("proxy-token", "aa"), ("other", "bb")]),
            ("ns/keycloak-admin", &[("password", "cc")]),
        ]);
        let after = map(&[("ns/hub-secret", &[("proxy-token", "ab"), ("new", "dd")])]);
        assert_eq!(
            secret_changes(&before, &after),
            [
                "Secret ns/hub-secret: key other is gone after the upgrade",
                "Secret ns/hub-secret: key proxy-token has a new value after the upgrade",
                "Secret ns/keycloak-admin is gone after the upgrade",
            ]
        );
        assert!(secret_changes(&before, &before).is_empty());
    }
}
