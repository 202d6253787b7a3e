//! Classic Helm chart repositories: `<repository>/index.yaml` lists every chart version with
//! its tarball URLs, its `digest` (the tarball's SHA-256, hex) and its `created` time
//! (Helm's repository format, <https://helm.sh/docs/topics/chart_repository/>).

use std::sync::Arc;

use crate::fetch::{FetchError, Network};

pub use crate::wire::{Index, IndexEntry};

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
