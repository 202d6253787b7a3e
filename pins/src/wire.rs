//! The documents the sources fetch, in the shapes they are parsed into and cached as: a Helm
//! chart repository's `index.yaml` (<https://helm.sh/docs/topics/chart_repository/>) and a
//! GitHub release (<https://docs.github.com/en/rest/releases>). Plain data: the transport
//! ([`crate::fetch`]) caches them, the protocols ([`crate::sources`]) read them.

use std::collections::BTreeMap;

use serde::Deserialize;

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
