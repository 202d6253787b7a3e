//! GitHub releases, read through the REST API (<https://docs.github.com/en/rest/releases>):
//! `GET /repos/{owner}/{repo}/releases/tags/{tag}` and `GET /repos/{owner}/{repo}/releases`.

use std::sync::Arc;

use reqwest::header::{HeaderName, ACCEPT, AUTHORIZATION};
use serde::Deserialize;

use crate::fetch::{FetchError, Network};

/// A release, as the REST API returns it (the fields read here).
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    /// The tag, e.g. `v0.29.0`.
    pub tag_name: String,
    /// RFC 3339 publication time (absent for drafts).
    pub published_at: Option<String>,
    /// Whether it is a draft.
    #[serde(default)]
    pub draft: bool,
    /// Whether GitHub marks it a pre-release.
    #[serde(default)]
    pub prerelease: bool,
    /// The release page.
    pub html_url: Option<String>,
    /// Its assets.
    #[serde(default)]
    pub assets: Vec<Asset>,
}

/// A release asset.
#[derive(Debug, Clone, Deserialize)]
pub struct Asset {
    /// The file name, e.g. `kind-linux-amd64`.
    pub name: String,
    /// `sha256:<hex>`, which GitHub computes for assets uploaded since mid-2025.
    pub digest: Option<String>,
    /// The download URL.
    pub browser_download_url: Option<String>,
}

fn headers(network: &Network) -> Vec<(HeaderName, String)> {
    let mut headers = vec![
        (ACCEPT, "application/vnd.github+json".to_owned()),
        (
            HeaderName::from_static("x-github-api-version"),
            "2022-11-28".to_owned(),
        ),
    ];
    if let Some(token) = &network.options.github_token {
        headers.push((AUTHORIZATION, format!("Bearer {token}")));
    }
    headers
}

fn api(network: &Network, path: &str) -> String {
    format!("{}{path}", network.options.github_api.trim_end_matches('/'))
}

/// The release tagged `tag` in `repo` (`owner/name`), or `None` when GitHub answers 404.
///
/// Errors: the request failed or answered another non-200 status, or the JSON does not parse.
pub async fn release_by_tag(
    network: &Network,
    repo: &str,
    tag: &str,
) -> Result<Option<Release>, FetchError> {
    let url = api(network, &format!("/repos/{repo}/releases/tags/{tag}"));
    let response = network.get(&url, &headers(network)).await?;
    match response.status.as_u16() {
        200 => serde_json::from_slice(&response.body)
            .map(Some)
            .map_err(|error| parse_error(&url, error)),
        404 => Ok(None),
        _ => Err(FetchError::unexpected_status(&url, response.status)),
    }
}

/// The newest 100 releases of `repo` (drafts excluded), fetched once per run.
///
/// Errors: the request failed or answered non-200, or the JSON does not parse.
pub async fn releases(network: &Network, repo: &str) -> Result<Arc<Vec<Release>>, FetchError> {
    let url = api(network, &format!("/repos/{repo}/releases?per_page=100"));
    network
        .cache
        .releases
        .get_or_fetch(&url, || async {
            let response = network.get_ok(&url, &headers(network)).await?;
            let releases: Vec<Release> =
                serde_json::from_slice(&response.body).map_err(|error| parse_error(&url, error))?;
            Ok(Arc::new(
                releases
                    .into_iter()
                    .filter(|release| !release.draft)
                    .collect(),
            ))
        })
        .await
}

fn parse_error(url: &str, error: serde_json::Error) -> FetchError {
    FetchError::unexpected_body(url, "JSON", error)
}
