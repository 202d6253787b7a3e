//! The pin set's shape: pins of four kinds, groups, policies, relocation rules.
//!
//! The file format is documented in docs/pins.md; [`super::load`] reads it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::policy::Policy;

/// The four kinds of pin, named as the pin set's top-level tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `[charts.<name>]`: a Helm chart in an HTTP repository or an OCI registry.
    Chart,
    /// `[images.<name>]`: a container image in an OCI registry.
    Image,
    /// `[tools.<name>]`: a command-line tool released on GitHub.
    Tool,
    /// `[bundles.<name>]`: a manifest bundle fetched by URL.
    Bundle,
    /// `[packages.<name>]`: a PyPI, npm or Maven package an image recipe installs.
    Package,
}

impl Kind {
    /// Every kind, in the order the pin set lists them.
    pub const ALL: [Kind; 5] = [
        Kind::Chart,
        Kind::Image,
        Kind::Tool,
        Kind::Bundle,
        Kind::Package,
    ];

    /// The top-level table: `charts`, `images`, `tools`, `bundles`.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Chart => "charts",
            Kind::Image => "images",
            Kind::Tool => "tools",
            Kind::Bundle => "bundles",
            Kind::Package => "packages",
        }
    }

    /// The key holding the pinned version: `tag` for images and tools, `version` otherwise.
    pub fn version_key(self) -> &'static str {
        match self {
            Kind::Image | Kind::Tool => "tag",
            Kind::Chart | Kind::Bundle | Kind::Package => "version",
        }
    }
}

/// A pin's name: its kind and its key, written `images.traefik`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PinId {
    /// The table it lives in.
    pub kind: Kind,
    /// The key under that table.
    pub name: String,
}

impl fmt::Display for PinId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind.table(), self.name)
    }
}

impl Serialize for PinId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where a chart lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartRepository {
    /// A classic repository: `<url>/index.yaml` lists versions, digests and tarball URLs.
    Http(String),
    /// An OCI registry: `oci://<registry>/<path>`; the chart is `<path>/<chart>:<version>`.
    Oci(ImageName),
}

impl fmt::Display for ChartRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChartRepository::Http(url) => f.write_str(url),
            ChartRepository::Oci(name) => write!(f, "oci://{name}"),
        }
    }
}

/// An image repository split into its registry host and path, e.g. `docker.io` and
/// `library/traefik`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName {
    /// The registry as written (`docker.io`, `quay.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path within the registry.
    pub path: String,
}

impl ImageName {
    /// Splits `registry/path`. The first component must look like a host (contain `.` or `:`,
    /// or be `localhost`), as Docker's reference grammar requires for an explicit registry.
    pub fn parse(text: &str) -> Option<ImageName> {
        let (registry, path) = text.split_once('/')?;
        let host_like = registry.contains('.') || registry.contains(':') || registry == "localhost";
        if !host_like || path.is_empty() || text.contains(char::is_whitespace) {
            return None;
        }
        Some(ImageName {
            registry: registry.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The host that serves the registry API: Docker Hub's `docker.io` is served at
    /// `registry-1.docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// The API base, `https://<host>`, or `http://` for loopback registries (as Docker
    /// treats `localhost` and `127.0.0.0/8` as insecure registries).
    pub fn api_base(&self) -> String {
        let host = self.api_host();
        let loopback =
            host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
        let scheme = if loopback { "http" } else { "https" };
        format!("{scheme}://{host}")
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

/// What a pin points at, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A chart: its repository and its name there.
    Chart {
        /// The repository.
        repository: ChartRepository,
        /// The chart's name in the repository (defaults to the pin's name).
        chart: String,
    },
    /// An image repository.
    Image(ImageName),
    /// A tool's GitHub repository (`owner/name`) and how its linux/amd64 build is found.
    Tool {
        /// `owner/name`.
        github: String,
        /// The release asset's name, with `{tag}` and `{version}` placeholders.
        asset: Option<String>,
        /// A download URL outside GitHub (e.g. `https://dl.k8s.io/...`), with placeholders.
        url: Option<String>,
    },
    /// A Go module built from source through the Go module proxy (the cluster's binaries):
    /// its versions are the proxy's `@v/list`, its release times the `.info` files'.
    GoModule {
        /// The module path, e.g. `k8s.io/kubernetes`.
        module: String,
    },
    /// A package on the Python Package Index: its versions come from the simple repository
    /// API's JSON form (PEP 691, with PEP 700's `versions` and `upload-time`).
    PyPi {
        /// The project name as written (`jupyterhub-kubespawner`).
        project: String,
    },
    /// A package on the npm registry: its versions and release times come from the
    /// package document (`versions`, `time`).
    Npm {
        /// The package name (`configurable-http-proxy`, `@scope/name`).
        package: String,
    },
    /// An artifact in a Maven repository (`group:artifact`): its versions come from the
    /// artifact's `maven-metadata.xml`.
    Maven {
        /// `group:artifact` (`org.keycloak:keycloak-quarkus-dist`).
        coordinate: String,
    },
    /// A bundle's download URL (with `{tag}`/`{version}` placeholders) and, optionally, the
    /// GitHub repository whose releases list its versions.
    Bundle {
        /// The URL template.
        url: String,
        /// `owner/name`, for `outdated` and `bump`.
        github: Option<String>,
    },
}

/// One pin.
#[derive(Debug, Clone)]
pub struct Pin {
    /// Its name.
    pub id: PinId,
    /// The line of its table header in the pin set file (1-based).
    pub line: usize,
    /// What it points at.
    pub source: Source,
    /// The pinned version or tag, as written.
    pub version: String,
    /// The pinned digest (`sha256:<hex>`), when locked.
    pub digest: Option<String>,
    /// Its group, when it names one.
    pub group: Option<String>,
    /// Its effective policy: the group's policy overlaid with its own.
    pub policy: Policy,
    /// A release-notes URL template (`{version}`, `{tag}`), for the changelog and PRs.
    pub release_notes: Option<String>,
}

impl Pin {
    /// The human-readable reference: `repo:tag`, `chart@repo version`, `owner/repo tag`.
    pub fn reference(&self) -> String {
        self.reference_at(&self.version)
    }

    /// [`Pin::reference`] for another version of the same pin.
    pub fn reference_at(&self, version: &str) -> String {
        match &self.source {
            Source::Chart { repository, chart } => format!("{chart} {version} from {repository}"),
            Source::Image(name) => format!("{name}:{version}"),
            Source::Tool { github, .. } => format!("{github} {version}"),
            Source::GoModule { module } => format!("{module}@{version}"),
            Source::PyPi { project } => format!("{project}=={version} (PyPI)"),
            Source::Npm { package } => format!("{package}@{version} (npm)"),
            Source::Maven { coordinate } => format!("{coordinate}:{version} (Maven)"),
            Source::Bundle { url, .. } => fill(url, version),
        }
    }

    /// The release-notes link for `version`: the pin's template, else the GitHub release
    /// page for tools and bundles with a `github` repository.
    pub fn release_link(&self, version: &str) -> Option<String> {
        if let Some(template) = &self.release_notes {
            return Some(fill(template, version));
        }
        match &self.source {
            Source::Tool { github, .. }
            | Source::Bundle {
                github: Some(github),
                ..
            } => Some(format!(
                "https://github.com/{github}/releases/tag/{version}"
            )),
            _ => None,
        }
    }
}

/// Fills `{tag}` (the version as written) and `{version}` (without a leading `v`).
pub fn fill(template: &str, tag: &str) -> String {
    template
        .replace("{tag}", tag)
        .replace("{version}", tag.strip_prefix('v').unwrap_or(tag))
}

/// A named group of pins with a default policy.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// What the group covers.
    pub description: Option<String>,
    /// The line of its table header (1-based).
    #[serde(skip)]
    pub line: usize,
}

/// A relocation rule: a pin whose source starts with `from` and no longer resolves is tried
/// at `to` plus the rest, e.g. `docker.io/bitnami/` → `docker.io/bitnamilegacy/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relocation {
    /// The source prefix, written with a trailing `*` in the file.
    pub from: String,
    /// The replacement prefix.
    pub to: String,
    /// Why (shown when a pin is found moved).
    pub reason: Option<String>,
}

impl Relocation {
    /// `source` moved by this rule, if it matches.
    pub fn apply(&self, source: &str) -> Option<String> {
        source
            .strip_prefix(&self.from)
            .map(|rest| format!("{}{rest}", self.to))
    }
}

/// A whole pin set.
#[derive(Debug, Clone)]
pub struct PinSet {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its text, as read (for format-preserving edits).
    pub text: String,
    /// Every pin, by kind then name.
    pub pins: Vec<Pin>,
    /// Groups by name.
    pub groups: BTreeMap<String, Group>,
    /// Relocation rules, in file order (the first match wins).
    pub relocations: Vec<Relocation>,
}

impl PinSet {
    /// The pins `selection` picks.
    ///
    /// Errors: [`super::Error::UnknownGroup`] listing the valid groups;
    /// [`super::Error::UnknownPin`] listing every pin.
    pub fn select(&self, selection: &Selection) -> super::Result<Vec<&Pin>> {
        if let Some(group) = &selection.group {
            if !self.groups.contains_key(group) {
                return Err(super::Error::UnknownGroup {
                    group: group.clone(),
                    valid: self.groups.keys().cloned().collect(),
                });
            }
        }
        for name in &selection.only {
            if !self.pins.iter().any(|pin| matches_name(pin, name)) {
                return Err(super::Error::UnknownPin {
                    name: name.clone(),
                    valid: self.pins.iter().map(|pin| pin.id.to_string()).collect(),
                });
            }
        }
        Ok(self
            .pins
            .iter()
            .filter(|pin| {
                selection
                    .group
                    .as_ref()
                    .is_none_or(|group| pin.group.as_ref() == Some(group))
            })
            .filter(|pin| {
                selection.only.is_empty() || selection.only.iter().any(|n| matches_name(pin, n))
            })
            .collect())
    }
}

fn matches_name(pin: &Pin, name: &str) -> bool {
    pin.id.to_string() == name || pin.id.name == name
}

/// Which pins a command covers: all, one group, or named pins (`images.traefik` or
/// `traefik`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--group`.
    pub group: Option<String>,
    /// `--only`, repeatable.
    pub only: Vec<String>,
}
