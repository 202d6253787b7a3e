//! Classic Helm chart repositories: `<repository>/index.yaml` lists every chart version with
//! its tarball URLs, its `digest` (the tarball's SHA-256, hex) and its `created` time
//! (Helm's repository format, <https://helm.sh/docs/topics/chart_repository/>).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::fetch::{FetchError, Network};

/// The parts of `index.yaml` the pins tooling reads.
#[derive(Debug, Deserialize)]
pub struct Index {
    /// Chart versions by chart name.
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<IndexEntry>>,
}

/// One chart version in an index.
#[derive(Debug, Clone, Deserialize)]
pub struct IndexEntry {
    /// The chart version.
    pub version: String,
    /// The tarball's SHA-256 (hex, no prefix).
    pub digest: Option<String>,
    /// Tarball URLs, absolute or relative to the repository.
    #[serde(default)]
    pub urls: Vec<String>,
    /// When the version was packaged (RFC 3339).
    pub created: Option<String>,
}

/// `<repository>/index.yaml`.
pub fn index_url(repository: &str) -> String {
    format!("{}/index.yaml", repository.trim_end_matches('/'))
}

/// The repository's index, fetched once per run.
///
/// Errors: the request failed, the status was not 200, or the YAML does not parse (the
/// message names the URL).
pub async fn index(network: &Network, repository: &str) -> Result<Arc<Index>, FetchError> {
    let url = index_url(repository);
    network
        .cache
        .indexes
        .get_or_fetch(&url, || async {
            let response = network.get(&url, &[]).await?;
            if !response.status.is_success() {
                return Err(FetchError::unexpected_status(&url, response.status));
            }
            let index: Index = serde_yaml_ng::from_slice(&response.body).map_err(|error| {
                FetchError::unexpected_body(&url, "Helm repository index", error)
            })?;
            Ok(Arc::new(index))
        })
        .await
}

/// The tarball URL of `entry`, resolved against the repository (Helm allows relative URLs).
pub fn tarball_url(repository: &str, entry: &IndexEntry) -> Option<String> {
    let first = entry.urls.first()?;
    let base = url::Url::parse(&format!("{}/", repository.trim_end_matches('/'))).ok()?;
    base.join(first).ok().map(String::from)
}
