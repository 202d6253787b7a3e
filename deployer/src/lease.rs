//! One owner per deployment, kept in the cluster itself: a `coordination.k8s.io/v1` Lease
//! `seatrial-<deployment>` in [`LEASE_NAMESPACE`], whose `holderIdentity` is the owning run's
//! id (Kubernetes API reference, "Lease v1 coordination.k8s.io"; the object leader election
//! uses).
//!
//! A run takes the lease before it applies anything and renews `renewTime` every
//! [`RENEW_EVERY`] while it lives; the lease counts as held while `renewTime +
//! leaseDurationSeconds` has not passed. A run that finds it held by another live run, or by a
//! kept deployment (annotation [`KEPT_ANNOTATION`], never expiring), is refused
//! ([`Error::Owned`]); a lease whose holder stopped renewing (a killed run) is taken over, with
//! the lease's `resourceVersion` so that of two runs racing for it one wins. The ledger
//! ([`crate::ledger`]) tells runs of one machine apart; the lease does the same for runs on
//! different machines that share a cluster.
//!
//! The lease carries no inventory labels: a sweep never deletes it; the run releases it at its
//! end, and `cargo xtask teardown` when it removes a kept or killed run.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;

use crate::error::{Error, Result};

/// Where the leases live: a namespace every cluster has.
pub const LEASE_NAMESPACE: &str = "default";
/// How long a lease holds without renewal, in seconds (`leaseDurationSeconds`).
pub const LEASE_DURATION_SECONDS: i32 = 30;
/// How often a run renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Set to `"true"` on the lease of a kept deployment: held until it is torn down.
pub const KEPT_ANNOTATION: &str = "seatrial.dev/kept";
/// When the holder run started, RFC 3339.
pub const STARTED_ANNOTATION: &str = "seatrial.dev/started-at";
/// The host the holder runs on.
pub const HOST_ANNOTATION: &str = "seatrial.dev/host";

/// The lease's name for `deployment`.
pub fn lease_name(deployment: &str) -> String {
    format!("seatrial-{deployment}")
}

/// Who holds a lease, as its fields say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's run id (`holderIdentity`).
    pub run_id: String,
    /// When it started, RFC 3339 (annotation).
    pub started_at: String,
    /// Its host (annotation).
    pub host: String,
    /// Whether its deployment was kept.
    pub kept: bool,
    /// Whether the lease still holds at the time asked: kept, or renewed within its duration.
    pub live: bool,
}

/// Reads the holder of `lease` at `now`.
pub fn holder_of(lease: &Lease, now: Timestamp) -> Option<Holder> {
    let spec = lease.spec.as_ref()?;
    let run_id = spec.holder_identity.clone()?;
    let annotations = lease.metadata.annotations.clone().unwrap_or_default();
    let kept = annotations.get(KEPT_ANNOTATION).map(String::as_str) == Some("true");
    let duration = i64::from(
        spec.lease_duration_seconds
            .unwrap_or(LEASE_DURATION_SECONDS),
    );
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|time| time.0);
    let fresh = renewed.is_some_and(|renewed| now.as_second() - renewed.as_second() < duration);
    Some(Holder {
        run_id,
        started_at: annotations
            .get(STARTED_ANNOTATION)
            .cloned()
            .unwrap_or_default(),
        host: annotations
            .get(HOST_ANNOTATION)
            .cloned()
            .unwrap_or_default(),
        kept,
        live: kept || fresh,
    })
}

/// The refusal for a run while `holder` owns `deployment`.
fn owned_by(deployment: &str, holder: &Holder) -> Error {
    let (state, hint) = if holder.kept {
        (
            "kept (its lease in the cluster says so)".to_owned(),
            format!(
                "remove it with `cargo xtask teardown --run {}`, or use another project_name",
                holder.run_id
            ),
        )
    } else {
        (
            format!(
                "running on {} (it renews its lease {LEASE_NAMESPACE}/{} in the cluster)",
                holder.host,
                lease_name(deployment)
            ),
            format!(
                "wait for it to end (its lease lapses {LEASE_DURATION_SECONDS} s after it stops renewing), or use another project_name"
            ),
        )
    };
    Error::Owned {
        deployment: deployment.to_owned(),
        run_id: holder.run_id.clone(),
        state,
        started_at: holder.started_at.clone(),
        hint,
    }
}

fn api_error(action: &'static str, deployment: &str, source: kube::Error) -> Error {
    Error::Api {
        action,
        object: format!("Lease {LEASE_NAMESPACE}/{}", lease_name(deployment)),
        source,
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "an unknown host".to_owned())
}

fn lease_for(deployment: &str, run_id: &str, started_at: &str, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(lease_name(deployment)),
            namespace: Some(LEASE_NAMESPACE.to_owned()),
            annotations: Some(
                [
                    (STARTED_ANNOTATION.to_owned(), started_at.to_owned()),
                    (HOST_ANNOTATION.to_owned(), host_name()),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(run_id.to_owned()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

/// A lease this run holds; renewed by a task until [`HeldLease::keep`], [`HeldLease::release`]
/// or drop (a dropped lease lapses after [`LEASE_DURATION_SECONDS`]).
pub struct HeldLease {
    api: Api<Lease>,
    deployment: String,
    run_id: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// Takes the lease of `deployment` for `run_id` (which started at `started_at`, RFC 3339), and
/// starts renewing it. `dead` are runs known to have ended without a teardown (this
/// machine's ledger saw their processes gone): a lease they hold is taken over at once rather
/// than after it lapses.
///
/// Errors: [`Error::Owned`] naming the holder when another live run holds it or its
/// deployment was kept; [`Error::Api`] when the lease cannot be read or written.
pub async fn take(
    client: &Client,
    deployment: &str,
    run_id: &str,
    started_at: &str,
    dead: &[String],
) -> Result<HeldLease> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let name = lease_name(deployment);
    // Two runs racing for one lease: the loser's create or replace conflicts (409), and it
    // reads the lease again to learn who won.
    for _ in 0..3 {
        let now = Timestamp::now();
        let wanted = lease_for(deployment, run_id, started_at, now);
        let written = match api
            .get_opt(&name)
            .await
            .map_err(|error| api_error("get", deployment, error))?
        {
            None => api.create(&PostParams::default(), &wanted).await,
            Some(found) => {
                if let Some(holder) = holder_of(&found, now) {
                    let other = holder.run_id != run_id && !dead.contains(&holder.run_id);
                    if holder.live && other {
                        return Err(owned_by(deployment, &holder));
                    }
                }
                // Lapsed (its holder stopped renewing) or ours: replace it, at the version
                // read.
                let mut replacement = wanted;
                replacement.metadata.resource_version = found.metadata.resource_version;
                api.replace(&name, &PostParams::default(), &replacement)
                    .await
            }
        };
        match written {
            Ok(_) => {
                return Ok(HeldLease {
                    renewal: tokio::spawn(renew(api.clone(), name, run_id.to_owned())),
                    api,
                    deployment: deployment.to_owned(),
                    run_id: run_id.to_owned(),
                })
            }
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(error) => return Err(api_error("write", deployment, error)),
        }
    }
    Err(Error::Owned {
        deployment: deployment.to_owned(),
        run_id: "(another run)".to_owned(),
        state: "taking its lease at the same moment as this run".to_owned(),
        started_at: String::new(),
        hint: "try again".to_owned(),
    })
}

/// Renews `renewTime` every [`RENEW_EVERY`] while `run_id` holds the lease; a failed renewal
/// is tried again at the next tick (the lease holds for three of them).
async fn renew(api: Api<Lease>, name: String, run_id: String) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let Ok(Some(mut lease)) = api.get_opt(&name).await else {
            continue;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(run_id.as_str()) {
            return;
        }
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        let _ = api.replace(&name, &PostParams::default(), &lease).await;
    }
}

impl HeldLease {
    /// Stops renewing and marks the lease kept: the deployment stays owned until `cargo
    /// xtask teardown` removes it.
    ///
    /// Errors: [`Error::Api`] when the lease cannot be read or written.
    pub async fn keep(self) -> Result<()> {
        self.renewal.abort();
        let name = lease_name(&self.deployment);
        let mut lease = self
            .api
            .get(&name)
            .await
            .map_err(|error| api_error("get", &self.deployment, error))?;
        lease
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(KEPT_ANNOTATION.to_owned(), "true".to_owned());
        self.api
            .replace(&name, &PostParams::default(), &lease)
            .await
            .map_err(|error| api_error("write", &self.deployment, error))?;
        Ok(())
    }

    /// Stops renewing and deletes the lease (when it is still this run's).
    ///
    /// Errors: [`Error::Api`] when it cannot be read or deleted.
    pub async fn release(self) -> Result<()> {
        self.renewal.abort();
        release_if_held_by(&self.api, &self.deployment, Some(&self.run_id)).await
    }
}

/// Deletes the lease of `deployment` if `holder` holds it (any holder with `None`); gone
/// already is fine.
async fn release_if_held_by(
    api: &Api<Lease>,
    deployment: &str,
    holder: Option<&str>,
) -> Result<()> {
    let name = lease_name(deployment);
    let Some(lease) = api
        .get_opt(&name)
        .await
        .map_err(|error| api_error("get", deployment, error))?
    else {
        return Ok(());
    };
    let held_by = lease
        .spec
        .as_ref()
        .and_then(|spec| spec.holder_identity.as_deref());
    if holder.is_some() && held_by != holder {
        return Ok(());
    }
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(api_error("delete", deployment, error)),
    }
}

/// Before a sweep of `deployment` from outside a run (`cargo xtask teardown`) or of a killed
/// run (the next run's): refuses while a live run other than those in `allowed` (the run
/// being removed, the run sweeping) renews the lease. A kept or lapsed lease does not refuse.
///
/// Errors: [`Error::Owned`] naming the live holder; [`Error::Api`].
pub async fn refuse_other_owner(client: &Client, deployment: &str, allowed: &[&str]) -> Result<()> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let found = api
        .get_opt(&lease_name(deployment))
        .await
        .map_err(|error| api_error("get", deployment, error))?;
    match found.and_then(|lease| holder_of(&lease, Timestamp::now())) {
        Some(holder)
            if holder.live && !holder.kept && !allowed.contains(&holder.run_id.as_str()) =>
        {
            Err(owned_by(deployment, &holder))
        }
        _ => Ok(()),
    }
}

/// Deletes the lease of `deployment` once its objects are gone (`cargo xtask teardown`).
///
/// Errors: [`Error::Api`].
pub async fn free(client: &Client, deployment: &str) -> Result<()> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    release_if_held_by(&api, deployment, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(renewed_seconds_ago: i64, kept: bool) -> (Lease, Timestamp) {
        let now = Timestamp::now();
        let renewed = Timestamp::from_second(now.as_second() - renewed_seconds_ago).unwrap();
        let mut lease = lease_for("demo", "run-1", "2026-12-02T00:00:00Z", renewed);
        if kept {
            lease
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(KEPT_ANNOTATION.to_owned(), "true".to_owned());
        }
        (lease, now)
    }

    #[test]
    fn a_lease_holds_while_renewed_within_its_duration_or_kept() {
        let (fresh, now) = lease(5, false);
        let holder = holder_of(&fresh, now).unwrap();
        assert!(holder.live && !holder.kept);
        assert_eq!(holder.run_id, "run-1");
        assert_eq!(holder.started_at, "2026-12-02T00:00:00Z");

        let (lapsed, now) = lease(i64::from(LEASE_DURATION_SECONDS) + 1, false);
        assert!(!holder_of(&lapsed, now).unwrap().live);

        let (kept, now) = lease(3600, true);
        let holder = holder_of(&kept, now).unwrap();
        assert!(holder.live && holder.kept);
    }

    #[test]
    fn the_refusal_names_the_holder_and_what_frees_the_deployment() {
        let (kept, now) = lease(3600, true);
        let message = owned_by("demo", &holder_of(&kept, now).unwrap()).to_string();
        assert!(message.contains("run-1"), "{message}");
        assert!(
            message.contains("cargo xtask teardown --run run-1"),
            "{message}"
        );
        let (fresh, now) = lease(1, false);
        let message = owned_by("demo", &holder_of(&fresh, now).unwrap()).to_string();
        assert!(message.contains("default/seatrial-demo"), "{message}");
    }
}
