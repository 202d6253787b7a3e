//! Resolving one pin at one version: does it exist where the pin says, and what is its digest.
//!
//! - charts (HTTP): the version is in `index.yaml`, the tarball downloads, and its SHA-256
//!   equals the index `digest` and the pinned digest;
//! - charts (OCI) and images: `HEAD /v2/<name>/manifests/<tag>` answers 200, and the
//!   manifest digest equals the pinned one;
//! - tools: the GitHub release exists and has the linux/amd64 asset (or the download URL
//!   answers 200); the asset digest GitHub reports equals the pinned one;
//! - bundles: the URL downloads and its SHA-256 equals the pinned digest.

use serde::Serialize;

use crate::fetch::{sha256_hex, FetchError, Network};
use crate::model::{fill, ChartRepository, ImageName, Pin, Source};
use crate::sources::{chart_repo, github, go_proxy, oci, package_index};

/// A pin that resolves: the digest found and the URL that proved it.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// `sha256:<hex>` when the source publishes one (or the download was hashed).
    pub digest: Option<String>,
    /// The URL whose answer proved the pin.
    pub url: String,
}

/// Why a pin does not resolve.
#[derive(Debug, Clone, Serialize)]
pub struct Broken {
    /// The URL that failed.
    pub url: String,
    /// Its HTTP status, when a response came.
    pub status: Option<u16>,
    /// What is wrong.
    pub message: String,
    /// Whether the thing is gone (404, or missing from an index): relocation rules apply.
    pub gone: bool,
}

/// A failed request as a broken pin: gone on 404 Not Found and 410 Gone (RFC 9110 §15.5.5,
/// §15.5.11; the Go module proxy answers either for a version it does not serve).
impl From<FetchError> for Broken {
    fn from(error: FetchError) -> Self {
        Broken {
            gone: matches!(error.status, Some(404 | 410)),
            message: error.to_string(),
            url: error.url,
            status: error.status,
        }
    }
}

/// Helm stores `+` in OCI tags as `_` (OCI tags cannot hold `+`).
pub fn oci_chart_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// The image name of an OCI chart.
pub fn oci_chart_name(registry: &ImageName, chart: &str) -> ImageName {
    ImageName {
        registry: registry.registry.clone(),
        path: format!("{}/{chart}", registry.path),
    }
}

/// Resolves `pin` at `version`, comparing against `pinned` (the digest the pin set holds for
/// that version, if any). `hash_downloads` also downloads and hashes tools fetched by URL
/// (for `lock`).
pub async fn resolve(
    network: &Network,
    pin: &Pin,
    version: &str,
    pinned: Option<&str>,
    hash_downloads: bool,
) -> Result<Resolved, Broken> {
    let resolved = match &pin.source {
        Source::Chart {
            repository: ChartRepository::Http(repository),
            chart,
        } => resolve_http_chart(network, repository, chart, version).await?,
        Source::Chart {
            repository: ChartRepository::Oci(registry),
            chart,
        } => {
            let name = oci_chart_name(registry, chart);
            resolve_manifest(network, &name, &oci_chart_tag(version)).await?
        }
        Source::Image(name) => resolve_manifest(network, name, version).await?,
        Source::Tool { github, asset, url } => {
            resolve_tool(
                network,
                github,
                asset.as_deref(),
                url.as_deref(),
                version,
                hash_downloads,
            )
            .await?
        }
        Source::GoModule { module } => go_proxy::resolve(network, module, version).await?,
        Source::PyPi { project } => {
            let releases = package_index::pypi_releases(network, project).await;
            let url = package_index::pypi_url(network, project);
            package_index::resolve(url, releases, project, version, &pin.policy)?
        }
        Source::Npm { package } => {
            let releases = package_index::npm_releases(network, package).await;
            let url = package_index::npm_url(network, package);
            package_index::resolve(url, releases, package, version, &pin.policy)?
        }
        Source::Maven { coordinate } => {
            let releases = package_index::maven_releases(network, coordinate).await;
            let url = package_index::maven_url(network, coordinate);
            package_index::resolve(url, releases, coordinate, version, &pin.policy)?
        }
        Source::Bundle { url, .. } => {
            let url = fill(url, version);
            let body = download(network, &url).await?;
            Resolved {
                digest: Some(format!("sha256:{}", sha256_hex(&body))),
                url,
            }
        }
    };
    if let (Some(pinned), Some(found)) = (pinned, &resolved.digest) {
        if pinned != found {
            return Err(Broken {
                url: resolved.url,
                status: Some(200),
                message: format!("digest {found} differs from the pinned digest {pinned}"),
                gone: false,
            });
        }
    }
    Ok(resolved)
}

async fn resolve_http_chart(
    network: &Network,
    repository: &str,
    chart: &str,
    version: &str,
) -> Result<Resolved, Broken> {
    let index_url = chart_repo::index_url(repository);
    let index = chart_repo::index(network, repository).await?;
    let missing = |message: String| Broken {
        url: index_url.clone(),
        status: Some(200),
        message,
        gone: true,
    };
    let entries = index
        .entries
        .get(chart)
        .ok_or_else(|| missing(format!("chart `{chart}` is not in the index")))?;
    let entry = entries
        .iter()
        .find(|entry| entry.version == version)
        .ok_or_else(|| {
            missing(format!(
                "version {version} of chart `{chart}` is not in the index ({} versions listed)",
                entries.len()
            ))
        })?;
    let tarball = chart_repo::tarball_url(repository, entry).ok_or_else(|| Broken {
        url: index_url.clone(),
        status: Some(200),
        message: format!("version {version} of chart `{chart}` lists no usable tarball URL"),
        gone: false,
    })?;
    let body = download(network, &tarball).await?;
    let found = sha256_hex(&body);
    match &entry.digest {
        Some(indexed) if !indexed.eq_ignore_ascii_case(&found) => Err(Broken {
            url: tarball,
            status: Some(200),
            message: format!("tarball sha256 {found} differs from the index digest {indexed}"),
            gone: false,
        }),
        _ => Ok(Resolved {
            digest: Some(format!("sha256:{found}")),
            url: tarball,
        }),
    }
}

async fn resolve_manifest(
    network: &Network,
    name: &ImageName,
    tag: &str,
) -> Result<Resolved, Broken> {
    let url = oci::manifest_url(name, tag);
    match oci::manifest_digest(network, name, tag).await? {
        Some(digest) => Ok(Resolved {
            digest: Some(digest),
            url,
        }),
        None => Err(Broken {
            url,
            status: Some(404),
            message: format!("manifest {name}:{tag} not found (HTTP 404)"),
            gone: true,
        }),
    }
}

async fn resolve_tool(
    network: &Network,
    repo: &str,
    asset: Option<&str>,
    url: Option<&str>,
    tag: &str,
    hash_downloads: bool,
) -> Result<Resolved, Broken> {
    let release_url = format!(
        "{}/repos/{repo}/releases/tags/{tag}",
        network.options.github_api.trim_end_matches('/')
    );
    let release = github::release_by_tag(network, repo, tag)
        .await?
        .ok_or_else(|| Broken {
            url: release_url.clone(),
            status: Some(404),
            message: format!("release {tag} of {repo} not found (HTTP 404)"),
            gone: true,
        })?;
    let mut resolved = Resolved {
        digest: None,
        url: release_url.clone(),
    };
    if let Some(asset) = asset {
        let wanted = fill(asset, tag);
        let found = release
            .assets
            .iter()
            .find(|a| a.name == wanted)
            .ok_or_else(|| Broken {
                url: release_url.clone(),
                status: Some(200),
                message: format!(
                    "release {tag} of {repo} has no asset `{wanted}` (assets: {})",
                    release
                        .assets
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                gone: false,
            })?;
        resolved.digest = found.digest.clone();
    }
    if let Some(url) = url {
        let url = fill(url, tag);
        if hash_downloads && resolved.digest.is_none() {
            let body = download(network, &url).await?;
            resolved.digest = Some(format!("sha256:{}", sha256_hex(&body)));
        } else {
            let response = network.head(&url, &[]).await?;
            if !response.status.is_success() {
                return Err(Broken {
                    url,
                    status: Some(response.status.as_u16()),
                    message: format!("download answered HTTP {}", response.status),
                    gone: response.status.as_u16() == 404,
                });
            }
        }
        resolved.url = url;
    }
    Ok(resolved)
}

/// `GET url`, expecting 200. Errors: a [`Broken`] naming the URL and status.
async fn download(network: &Network, url: &str) -> Result<bytes::Bytes, Broken> {
    let response = network.get(url, &[]).await?;
    if response.status.is_success() {
        Ok(response.body)
    } else {
        Err(Broken {
            url: url.to_owned(),
            status: Some(response.status.as_u16()),
            message: format!("download answered HTTP {}", response.status),
            gone: response.status.as_u16() == 404,
        })
    }
}
