//! Package registries of the image recipes' packages:
//!
//! - PyPI's simple repository API in its JSON form (PEP 691: `GET <index>/<project>/` with
//!   `Accept: application/vnd.pypi.simple.v1+json`), whose `versions` (PEP 700) lists every
//!   release and whose `files[].upload-time` (PEP 700) dates them. Project names are
//!   normalized as PEP 503 says (runs of `-`, `_`, `.` become `-`, lower case).
//! - The npm registry's package document (`GET <registry>/<package>`): `versions` is an
//!   object keyed by version, `time` maps each version to its publication time.
//! - A Maven repository's `maven-metadata.xml` of an artifact (`GET <repository>/<group with
//!   `/` for `.`>/<artifact>/maven-metadata.xml`; Maven's repository layout): its
//!   `<versioning><versions><version>` elements list the releases. It dates none of them.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::fetch::{FetchError, Network};
use crate::policy::Policy;
use crate::resolve::{Broken, Resolved};

/// The URL of an artifact's `maven-metadata.xml` (`group:artifact`).
pub fn maven_url(network: &Network, coordinate: &str) -> String {
    let (group, artifact) = coordinate.split_once(':').unwrap_or((coordinate, ""));
    format!(
        "{}/{}/{artifact}/maven-metadata.xml",
        network.options.maven_repository.trim_end_matches('/'),
        group.replace('.', "/")
    )
}

/// Every version a Maven repository lists for `group:artifact`, undated.
///
/// Errors: the request failed or answered non-200 (404: no such artifact), or the body
/// lists no `<version>`.
pub async fn maven_releases(network: &Network, coordinate: &str) -> Result<Releases, FetchError> {
    let url = maven_url(network, coordinate);
    let response = network.get_ok(&url, &[]).await?;
    let text = String::from_utf8_lossy(&response.body);
    let releases = maven_versions(&text);
    if releases.is_empty() {
        return Err(FetchError::unexpected_body(
            &url,
            "maven-metadata.xml",
            "it lists no <version>",
        ));
    }
    Ok(releases)
}

/// The `<version>` elements inside `<versions>` of a `maven-metadata.xml` text.
fn maven_versions(text: &str) -> Releases {
    let versions = text
        .split_once("<versions>")
        .and_then(|(_, rest)| rest.split_once("</versions>"))
        .map_or("", |(inside, _)| inside);
    versions
        .split("<version>")
        .skip(1)
        .filter_map(|part| part.split_once("</version>"))
        .map(|(version, _)| (version.trim().to_owned(), None))
        .collect()
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
        .get_ok(
            &url,
            &[(
                reqwest::header::ACCEPT,
                "application/vnd.pypi.simple.v1+json".to_owned(),
            )],
        )
        .await?;
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
    let response = network.get_ok(&url, &[]).await?;
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
    fn maven_metadata_lists_its_versions() {
        let text = "<metadata><groupId>org.keycloak</groupId><versioning><latest>9.9.2</latest><release>9.9.2</release><versions>\n<version>9.9.1</version>\n<version> 9.9.2 </version></versions><lastUpdated>1</lastUpdated></versioning></metadata>";
        let versions: Vec<String> = maven_versions(text).into_keys().collect();
        assert_eq!(versions, ["9.9.1", "9.9.2"]);
        assert!(maven_versions("<metadata><version>9.9.1</version></metadata>").is_empty());
    }

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
