//! GitHub releases, read through the REST API (<https://docs.github.com/en/rest/releases>):
//! `GET /repos/{owner}/{repo}/releases/tags/{tag}` and `GET /repos/{owner}/{repo}/releases`.

use std::sync::Arc;

use reqwest::header::{HeaderName, ACCEPT, AUTHORIZATION};

use crate::fetch::{FetchError, Network};

pub use crate::wire::{Asset, Release};

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
