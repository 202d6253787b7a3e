//! Package registries of the image recipes' packages:
//!
//! - PyPI's simple repository API in its JSON form (PEP 691: `GET <index>/<project>/` with
//!   `Accept: application/vnd.pypi.simple.v1+json`), whose `versions` (PEP 700) lists every
//!   release and whose `files[].upload-time` (PEP 700) dates them. Project names are
//!   normalized as PEP 503 says (runs of `-`, `_`, `.` become `-`, lower case).
//! - The npm registry's package document (`GET <registry>/<package>`): `versions` is an
//!   object keyed by version, `time` maps each version to its publication time.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::fetch::{FetchError, Network};
use crate::policy::Policy;
use crate::resolve::{Broken, Resolved};

/// PyPI's simple index: `$PIP_INDEX_URL`, else `https://pypi.org/simple`.
pub fn default_pypi_index() -> String {
    std::env::var("PIP_INDEX_URL")
        .ok()
        .filter(|url| url.starts_with("http"))
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "https://pypi.org/simple".to_owned())
}

/// The npm registry: `$npm_config_registry`, else `https://registry.npmjs.org`.
pub fn default_npm_registry() -> String {
    std::env::var("npm_config_registry")
        .or_else(|_| std::env::var("NPM_CONFIG_REGISTRY"))
        .ok()
        .filter(|url| url.starts_with("http"))
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "https://registry.npmjs.org".to_owned())
}

/// A project name normalized as PEP 503 asks (`Jupyterhub_KubeSpawner` → `jupyterhub-kubespawner`).
pub fn normalize(project: &str) -> String {
    let mut normalized = String::with_capacity(project.len());
    let mut separator = false;
    for c in project.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !normalized.is_empty() {
                normalized.push('-');
            }
            separator = false;
            normalized.push(c.to_ascii_lowercase());
        }
    }
    normalized
}

/// A package's releases: version → the earliest upload or publication time (RFC 3339), when
/// the registry says.
pub type Releases = BTreeMap<String, Option<String>>;

#[derive(Deserialize)]
struct SimpleProject {
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    files: Vec<SimpleFile>,
}

#[derive(Deserialize)]
struct SimpleFile {
    filename: String,
    #[serde(rename = "upload-time")]
    upload_time: Option<String>,
}

/// The URL of a project's page on the simple index.
pub fn pypi_url(network: &Network, project: &str) -> String {
    format!(
        "{}/{}/",
        network.options.pypi_index.trim_end_matches('/'),
        normalize(project)
    )
}

/// Every release of a PyPI project, dated by its first uploaded file.
///
/// Errors: the request failed or answered non-200 (404: no such project), or the JSON does
/// not parse.
pub async fn pypi_releases(network: &Network, project: &str) -> Result<Releases, FetchError> {
    let url = pypi_url(network, project);
    let response = network
        .get(
            &url,
            &[(
                reqwest::header::ACCEPT,
                "application/vnd.pypi.simple.v1+json".to_owned(),
            )],
        )
        .await?;
    if response.status.as_u16() != 200 {
        return Err(FetchError::unexpected_status(&url, response.status));
    }
    let page: SimpleProject = serde_json::from_slice(&response.body)
        .map_err(|error| FetchError::unexpected_body(&url, "PEP 691 JSON", error))?;
    let mut releases: Releases = page
        .versions
        .iter()
        .map(|version| (version.clone(), None))
        .collect();
    let prefix = normalize(project).replace('-', "_");
    for file in &page.files {
        let Some(time) = &file.upload_time else {
            continue;
        };
        // Wheels and sdists are named `<project>-<version>[-…].whl|.tar.gz`.
        let name = file.filename.to_ascii_lowercase().replace('-', "_");
        let Some(rest) = name.strip_prefix(&format!("{prefix}_")) else {
            continue;
        };
        for (version, released) in releases.iter_mut() {
            let version_part = version.to_ascii_lowercase().replace('-', "_");
            let follows = rest.strip_prefix(&version_part).is_some_and(|after| {
                after.starts_with('_') || after.starts_with(".tar") || after.starts_with(".zip")
            });
            if follows && released.as_ref().is_none_or(|known| time < known) {
                *released = Some(time.clone());
            }
        }
    }
    Ok(releases)
}

#[derive(Deserialize)]
struct NpmDocument {
    #[serde(default)]
    versions: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    time: BTreeMap<String, String>,
}

/// The URL of an npm package's document (a scoped name keeps its `@`, its `/` is escaped).
pub fn npm_url(network: &Network, package: &str) -> String {
    format!(
        "{}/{}",
        network.options.npm_registry.trim_end_matches('/'),
        package.replace('/', "%2f")
    )
}

/// Every version of an npm package, with its publication time.
///
/// Errors: the request failed or answered non-200 (404: no such package), or the JSON does
/// not parse.
pub async fn npm_releases(network: &Network, package: &str) -> Result<Releases, FetchError> {
    let url = npm_url(network, package);
    let response = network.get(&url, &[]).await?;
    if response.status.as_u16() != 200 {
        return Err(FetchError::unexpected_status(&url, response.status));
    }
    let document: NpmDocument = serde_json::from_slice(&response.body)
        .map_err(|error| FetchError::unexpected_body(&url, "JSON", error))?;
    Ok(document
        .versions
        .keys()
        .map(|version| (version.clone(), document.time.get(version).cloned()))
        .collect())
}

/// Resolves a package pin from the `releases` its registry answered at `url`: `version` must
/// be one of them. Registries of packages publish no single digest for a release (a PyPI
/// release is many files), so the result carries none. A missing version is reported with
/// the newest releases listed, newest first as `policy` orders versions.
pub fn resolve(
    url: String,
    releases: Result<Releases, FetchError>,
    name: &str,
    version: &str,
    policy: &Policy,
) -> Result<Resolved, Broken> {
    let releases = releases?;
    if releases.contains_key(version) {
        return Ok(Resolved { digest: None, url });
    }
    // Newest first by version (`9.10.0` after `9.9.0`), not by text; what the policy cannot
    // read as a version comes last.
    let mut newest: Vec<&String> = releases.keys().collect();
    newest.sort_by_key(|version| std::cmp::Reverse(policy.parse_tag(version)));
    newest.truncate(5);
    Err(Broken {
        message: format!(
            "{url} lists no version {version} of {name} (of {} listed, the newest: {})",
            releases.len(),
            newest
                .iter()
                .map(|version| version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        url,
        status: Some(200),
        gone: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_normalized_as_pep_503_says() {
        assert_eq!(
            normalize("Jupyterhub_KubeSpawner"),
            "jupyterhub-kubespawner"
        );
        assert_eq!(normalize("zope..interface"), "zope-interface");
        assert_eq!(normalize("a-_.b"), "a-b");
    }
}
