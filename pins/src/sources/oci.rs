//! OCI registries, read anonymously through the Distribution API
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>): manifest `HEAD`
//! for existence and digest, the tag list, and an image's config for its `created` time.
//!
//! Registries that require a token (Docker Hub, ghcr.io, quay.io) answer 401 with
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the anonymous token is fetched from
//! the realm once per repository and run (the Docker token protocol,
//! <https://distribution.github.io/distribution/spec/auth/token/>).

use std::sync::Arc;

use reqwest::header::{HeaderName, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use serde::Deserialize;

use crate::fetch::{sha256_hex, FetchError, Fetched, Network};
use crate::model::ImageName;

/// The manifest media types asked for: OCI and Docker v2, image and index.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// `<api base>/v2/<path>/manifests/<reference>`.
pub fn manifest_url(name: &ImageName, reference: &str) -> String {
    format!("{}/v2/{}/manifests/{reference}", name.api_base(), name.path)
}

/// `GET`/`HEAD` with the repository's anonymous bearer token when the registry asks for one.
async fn fetch(
    network: &Network,
    name: &ImageName,
    head: bool,
    url: &str,
    accept: &str,
) -> Result<Fetched, FetchError> {
    let key = name.to_string();
    let send = |token: Option<String>| async move {
        let mut headers: Vec<(HeaderName, String)> = vec![(ACCEPT, accept.to_owned())];
        if let Some(token) = token {
            headers.push((AUTHORIZATION, format!("Bearer {token}")));
        }
        if head {
            network.head(url, &headers).await
        } else {
            network.get(url, &headers).await
        }
    };
    let cached = network.cache.tokens.peek(&key).flatten();
    let had_token = cached.is_some();
    let response = send(cached).await?;
    if response.status.as_u16() != 401 {
        return Ok(response);
    }
    let Some(challenge) = response
        .header(WWW_AUTHENTICATE.as_str())
        .map(str::to_owned)
    else {
        return Ok(response);
    };
    if had_token {
        // The token expired: fetch a fresh one.
        network.cache.tokens.forget(&key);
    }
    let token = network
        .cache
        .tokens
        .get_or_fetch(&key, || anonymous_token(network, name, &challenge))
        .await?;
    match token {
        Some(token) => send(Some(token)).await,
        None => Ok(response),
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
}

/// Fetches an anonymous pull token for `name` from the challenge's realm; `None` when the
/// challenge is not `Bearer` (e.g. Basic: credentials would be needed).
async fn anonymous_token(
    network: &Network,
    name: &ImageName,
    challenge: &str,
) -> Result<Option<String>, FetchError> {
    let Some(parameters) = challenge
        .strip_prefix("Bearer ")
        .or_else(|| challenge.strip_prefix("bearer "))
    else {
        return Ok(None);
    };
    let parameters = parse_challenge(parameters);
    let get = |key: &str| {
        parameters
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    let Some(realm) = get("realm") else {
        return Ok(None);
    };
    let mut url = url::Url::parse(realm).map_err(|error| FetchError {
        method: "GET".into(),
        url: realm.to_owned(),
        status: None,
        message: format!("the registry's token realm is not a URL: {error}"),
    })?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = get("service") {
            query.append_pair("service", service);
        }
        let scope =
            get("scope").map_or_else(|| format!("repository:{}:pull", name.path), str::to_owned);
        query.append_pair("scope", &scope);
    }
    let url = String::from(url);
    let response = network.get(&url, &[]).await?;
    if !response.status.is_success() {
        return Err(FetchError {
            method: "GET".into(),
            url,
            status: Some(response.status.as_u16()),
            message: format!("anonymous token refused: HTTP {}", response.status),
        });
    }
    let token: TokenResponse = serde_json::from_slice(&response.body)
        .map_err(|error| FetchError::unexpected_body(&url, "token response", error))?;
    Ok(token.token.or(token.access_token))
}

/// `key="value",key2="value2"` (RFC 9110 §11.4 auth-params).
fn parse_challenge(text: &str) -> Vec<(String, String)> {
    let mut parameters = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_owned(), &quoted[end + 1..]),
                None => (quoted.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_owned(), &after[end..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        parameters.push((key, value));
        rest = remaining.trim_start_matches([',', ' ']);
    }
    parameters
}

/// The manifest digest of `name:reference`, `None` when the registry answers 404.
///
/// The digest is `Docker-Content-Digest` from a `HEAD`; registries that omit it get a `GET`
/// whose body is hashed. Errors: any other status (in the error), or a failed request.
pub async fn manifest_digest(
    network: &Network,
    name: &ImageName,
    reference: &str,
) -> Result<Option<String>, FetchError> {
    let url = manifest_url(name, reference);
    let response = fetch(network, name, true, &url, MANIFEST_TYPES).await?;
    match response.status.as_u16() {
        200 => {}
        404 => return Ok(None),
        status => {
            return Err(FetchError {
                method: "HEAD".into(),
                url,
                status: Some(status),
                message: format!("HTTP {}", response.status),
            })
        }
    }
    if let Some(digest) = response.header("docker-content-digest") {
        return Ok(Some(digest.to_owned()));
    }
    let response = fetch(network, name, false, &url, MANIFEST_TYPES).await?;
    Ok(Some(format!("sha256:{}", sha256_hex(&response.body))))
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Every tag of `name` (following `Link: <…>; rel="next"` pages), fetched once per run.
///
/// Errors: a non-200 answer or unparseable JSON (naming the URL and status).
pub async fn tags(network: &Network, name: &ImageName) -> Result<Arc<Vec<String>>, FetchError> {
    let key = name.to_string();
    network
        .cache
        .tags
        .get_or_fetch(&key, || async {
            let mut all = Vec::new();
            let mut url = format!("{}/v2/{}/tags/list?n=1000", name.api_base(), name.path);
            loop {
                let response = fetch(network, name, false, &url, "application/json").await?;
                if response.status.as_u16() != 200 {
                    return Err(FetchError::unexpected_status(&url, response.status));
                }
                let page: TagList = serde_json::from_slice(&response.body)
                    .map_err(|error| FetchError::unexpected_body(&url, "tag list", error))?;
                all.extend(page.tags.unwrap_or_default());
                let next = response
                    .header("link")
                    .and_then(|link| link.split_once('<'))
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(path, _)| path.to_owned());
                match next {
                    Some(path) if path.starts_with('/') => {
                        url = format!("{}{path}", name.api_base())
                    }
                    Some(path) => url = path,
                    None => break,
                }
            }
            Ok(Arc::new(all))
        })
        .await
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    manifests: Vec<Descriptor>,
    config: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
struct Config {
    created: Option<String>,
}

/// The image config's `created` time (RFC 3339) of `name:reference`, following an index to
/// its linux/amd64 manifest. `None` when any piece is missing.
pub async fn created(network: &Network, name: &ImageName, reference: &str) -> Option<String> {
    let mut url = manifest_url(name, reference);
    for _ in 0..2 {
        let response = fetch(network, name, false, &url, MANIFEST_TYPES)
            .await
            .ok()?;
        let manifest: Manifest = serde_json::from_slice(&response.body).ok()?;
        if let Some(config) = manifest.config {
            let blob = format!(
                "{}/v2/{}/blobs/{}",
                name.api_base(),
                name.path,
                config.digest
            );
            let response = fetch(network, name, false, &blob, "*/*").await.ok()?;
            let config: Config = serde_json::from_slice(&response.body).ok()?;
            return config.created;
        }
        let amd64 = manifest.manifests.iter().find(|descriptor| {
            descriptor
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })?;
        url = manifest_url(name, &amd64.digest);
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn challenges_parse() {
        let parameters = super::parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/traefik:pull""#,
        );
        assert_eq!(
            parameters,
            vec![
                (
                    "realm".to_owned(),
                    "https://auth.docker.io/token".to_owned()
                ),
                ("service".to_owned(), "registry.docker.io".to_owned()),
                (
                    "scope".to_owned(),
                    "repository:library/traefik:pull".to_owned()
                ),
            ]
        );
    }
}
