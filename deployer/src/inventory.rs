//! Inventory: the labels that mark every object a deployment applies, and object identities.
//!
//! Every applied object carries four labels, so that teardown and the sweep can find
//! everything a deployment left behind by label selector, whatever its type:
//!
//! | label                           | value                         |
//! |---------------------------------|-------------------------------|
//! | `app.kubernetes.io/managed-by`  | `seatrial`                    |
//! | `seatrial.dev/deployment`       | the deployment id (project)   |
//! | `seatrial.dev/stage`            | the stage that applied it     |
//! | `seatrial.dev/run`              | the run id                    |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// `app.kubernetes.io/managed-by`, the recommended label (Kubernetes docs, "Recommended Labels").
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`] on our objects.
pub const MANAGED_BY: &str = "seatrial";
/// Label carrying the deployment id.
pub const DEPLOYMENT_LABEL: &str = "seatrial.dev/deployment";
/// Label carrying the stage name.
pub const STAGE_LABEL: &str = "seatrial.dev/stage";
/// Label carrying the run id.
pub const RUN_LABEL: &str = "seatrial.dev/run";
/// Field manager of our server-side applies (Kubernetes docs, "Server-Side Apply").
pub const FIELD_MANAGER: &str = "seatrial";

/// The identity of one deployment run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The deployment id: the config's project name. Stable across runs.
    pub deployment: String,
    /// This run's id, unique per run (see [`new_run_id`]).
    pub run_id: String,
}

impl Inventory {
    /// The labels an object applied by `stage` gets.
    pub fn labels(&self, stage: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
            (DEPLOYMENT_LABEL.to_owned(), self.deployment.clone()),
            (STAGE_LABEL.to_owned(), stage.to_owned()),
            (RUN_LABEL.to_owned(), self.run_id.clone()),
        ])
    }

    /// Label selector matching exactly the objects `stage` applied in this run (all four
    /// labels).
    pub fn stage_selector(&self, stage: &str) -> String {
        self.labels(stage)
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Label selector matching every object of this deployment, whatever the run.
    pub fn deployment_selector(&self) -> String {
        deployment_selector(&self.deployment)
    }
}

/// Label selector matching every object of `deployment`, whatever the run.
pub fn deployment_selector(deployment: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{DEPLOYMENT_LABEL}={deployment}")
}

/// A new run id: UTC time to the second and 4 random hex digits, e.g. `20261122t004512-3fa9`.
/// It is a valid label value (at most 63 characters of `[a-z0-9-]`).
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = time::OffsetDateTime::now_utc();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now.unix_timestamp_nanos() as u128);
    hasher.write_u32(std::process::id());
    format!(
        "{:04}{:02}{:02}t{:02}{:02}{:02}-{:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        hasher.finish() & 0xffff
    )
}

/// Which object: enough to find it again and to name it in messages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectId {
    /// `apiVersion`, e.g. `apps/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl fmt::Display for ObjectId {
    /// `Kind namespace/name`, or `Kind name` when cluster-scoped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_label_values_and_differ() {
        let first = new_run_id();
        let second = new_run_id();
        assert_ne!(first, second);
        assert!(crate::config::is_dns_label(&first, 63), "{first}");
    }
}
