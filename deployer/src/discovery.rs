//! API discovery that survives the cluster changing under it.
//!
//! [`kube::Discovery::run`] lists the groups under `/apis` and then asks each group for its
//! resources; one failed request fails the whole discovery. Two ordinary events cause one:
//! a CRD deleted between the two steps (the group's resource list answers 404 — tests and
//! sweeps running side by side do exactly this), and an aggregated API whose backing
//! Service is down (the group answers 503, as `metrics.k8s.io` does while metrics-server
//! starts). `kubectl api-resources` prints such groups as "unable to retrieve the complete
//! list of server APIs" and carries on; so does [`served_types`].
//!
//! Aggregated discovery (`/apis` answering `APIGroupDiscoveryList`, GA in Kubernetes 1.30)
//! is not used: kube's `Discovery::run_aggregated` sends `application/json` as a fallback
//! media type, so a server without it (the hollow cluster runs 1.20) answers a plain
//! `APIGroupList` that parses as an empty list of groups — an empty discovery, not an error.

use futures::stream::{self, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroup;
use kube::api::ApiResource;
use kube::core::gvk::GroupVersion;
use kube::discovery::{pinned_group, ApiCapabilities};
use kube::Client;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How many group-version resource lists discovery has in flight at once.
pub const DISCOVERY_CONCURRENCY: usize = 8;

/// A group version whose resources could not be read, or a resource type that could not
/// be listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unavailable {
    /// `group/version` (`v1` for the core group), or `group/version/plural` for a type.
    pub what: String,
    /// The API server's answer or the connection error.
    pub reason: String,
}

/// Every served resource type, one version per kind, and what could not be discovered.
#[derive(Debug, Default)]
pub struct ServedTypes {
    /// For each group, the kinds of its preferred version, then kinds that only other
    /// versions serve (`ApiGroup::recommended_resources` stops at the preferred version and
    /// would miss a kind that only an older version still serves).
    pub resources: Vec<(ApiResource, ApiCapabilities)>,
    /// Group versions that answered neither a resource list nor 404.
    pub unavailable: Vec<Unavailable>,
}

/// Discovers every served resource type, one request per group version, at most
/// [`DISCOVERY_CONCURRENCY`] at a time.
///
/// A group version that answers 404 is gone (its CRD was deleted since `/apis` was read) and
/// is left out silently: nothing of it can remain. Any other failure of one group version
/// goes to [`ServedTypes::unavailable`].
///
/// Errors: [`Error::Api`] when `/api` or `/apis` themselves cannot be read.
pub async fn served_types(client: &Client) -> Result<ServedTypes> {
    let discover_error = |source| Error::Api {
        action: "discover",
        object: "the served API groups (/api, /apis)".to_owned(),
        source,
    };
    let core = client
        .list_core_api_versions()
        .await
        .map_err(discover_error)?;
    let groups = client.list_api_groups().await.map_err(discover_error)?;
    let mut group_versions: Vec<GroupVersion> = core
        .versions
        .iter()
        .map(|version| GroupVersion::gv("", version))
        .collect();
    for group in &groups.groups {
        group_versions.extend(in_preference_order(group));
    }
    let answers = stream::iter(group_versions.into_iter().map(|gv| async move {
        let answer = pinned_group(client, &gv).await;
        (gv, answer)
    }))
    .buffered(DISCOVERY_CONCURRENCY)
    .collect::<Vec<_>>()
    .await;

    let mut served = ServedTypes::default();
    for (gv, answer) in answers {
        match answer {
            Ok(group) => {
                for (resource, capabilities) in group.versioned_resources(&gv.version) {
                    let known = served.resources.iter().any(|(seen, _)| {
                        seen.group == resource.group && seen.kind == resource.kind
                    });
                    if !known {
                        served.resources.push((resource, capabilities));
                    }
                }
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                tracing::debug!(group_version = %gv.api_version(), "gone since /apis was read");
            }
            Err(error) => {
                tracing::warn!(group_version = %gv.api_version(), %error, "failed to discover");
                served.unavailable.push(Unavailable {
                    what: gv.api_version(),
                    reason: reason(&error),
                });
            }
        }
    }
    Ok(served)
}

/// Why a request failed, in one line: `HTTP 503: service unavailable` for an API answer (kube's
/// own text repeats the whole `Status`), else the client error.
pub fn reason(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("HTTP {}: {}", status.code, status.message),
        other => other.to_string(),
    }
}

/// A group's versions, the server's preferred one first, then the rest in the server's order.
fn in_preference_order(group: &APIGroup) -> Vec<GroupVersion> {
    let preferred = group
        .preferred_version
        .as_ref()
        .map(|version| version.version.clone());
    let mut versions: Vec<&str> = group
        .versions
        .iter()
        .map(|version| version.version.as_str())
        .collect();
    if let Some(preferred) = &preferred {
        versions.sort_by_key(|version| version != preferred);
    }
    versions
        .into_iter()
        .map(|version| GroupVersion::gv(&group.name, version))
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::GroupVersionForDiscovery;

    use super::*;

    fn version(name: &str) -> GroupVersionForDiscovery {
        GroupVersionForDiscovery {
            group_version: format!("autoscaling/{name}"),
            version: name.to_owned(),
        }
    }

    #[test]
    fn the_preferred_version_comes_first_and_the_rest_keep_the_server_order() {
        let group = APIGroup {
            name: "autoscaling".to_owned(),
            preferred_version: Some(version("v2")),
            versions: vec![version("v1"), version("v2beta2"), version("v2")],
            ..APIGroup::default()
        };
        let order: Vec<String> = in_preference_order(&group)
            .iter()
            .map(GroupVersion::api_version)
            .collect();
        assert_eq!(
            order,
            ["autoscaling/v2", "autoscaling/v1", "autoscaling/v2beta2"]
        );
    }
}
