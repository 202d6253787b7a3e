//! The user's configuration file: what to deploy, where, and with which per-stage settings.
//!
//! The file is YAML. Unknown fields are rejected, and every error names the file, the line and
//! the field. Per-stage settings are checked against the defaults the stage declares in its
//! `stage.yaml` (see [`crate::platform`]): an unknown key, or a value of another type than the
//! default, is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{line_of_key, parse_yaml, Error, Result};

/// The configuration used when none is given: the whole platform on the hollow cluster.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.yaml");

/// Which cluster to deploy to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The local hollow control plane managed by `cargo xtask hollow`.
    #[default]
    Hollow,
    /// Any running cluster reached through a kubeconfig.
    Existing,
    /// A kind cluster (the `kind` CLI and a Docker engine), created or reused.
    Kind,
    /// A k3s container started with testcontainers (a Docker engine).
    K3s,
    /// The local cluster with a real node, managed by `cargo xtask local` (root).
    Local,
}

impl ProviderKind {
    /// Whether containers really run on the provider's nodes (readiness probes can pass,
    /// endpoints answer, browsers can log in): all but `hollow`, whose kubemark nodes run none.
    pub fn runs_workloads(self) -> bool {
        self != ProviderKind::Hollow
    }
}

/// The container engine kind runs its nodes in (kind's own choice, `docker` or `podman`;
/// kind reads `KIND_EXPERIMENTAL_PROVIDER=podman` to pick podman).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KindEngine {
    /// A Docker engine (the `docker` command).
    Docker,
    /// Rootful podman, with a configuration of seatrial's own (see `providers::kind::podman`).
    Podman,
}

impl std::fmt::Display for KindEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KindEngine::Docker => "docker",
            KindEngine::Podman => "podman",
        })
    }
}

/// Where kind's node image and the platform's images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeImageSource {
    /// The pin set's `images.kind_node` (kindest/node by digest) and the platform's upstream
    /// images, pulled from their registries.
    Pinned,
    /// The node image assembled here (`cargo xtask images build --only kind-node`) and the
    /// platform's images built here, loaded with `kind load image-archive`: no registry.
    Built,
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProviderKind::Hollow => "hollow",
            ProviderKind::Existing => "existing",
            ProviderKind::Kind => "kind",
            ProviderKind::K3s => "k3s",
            ProviderKind::Local => "local",
        })
    }
}

/// Settings of the `existing` provider.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExistingCluster {
    /// Path of the kubeconfig; `$KUBECONFIG` or `~/.kube/config` when absent.
    pub kubeconfig: Option<PathBuf>,
    /// Context to use; the kubeconfig's current context when absent.
    pub context: Option<String>,
}

/// Settings of the `kind` provider.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KindSettings {
    /// The kind cluster's name; `project_name` when absent.
    pub cluster_name: Option<String>,
    /// Worker nodes besides the control plane; 0 when absent.
    pub workers: u32,
    /// The platform's node groups: every node is labelled `node-group.seatrial.dev/<group>:
    /// "true"` for the groups it serves (all of them on the control plane without workers;
    /// one per worker, round robin, with workers). `[general, user, worker]` when absent.
    pub node_groups: Vec<String>,
    /// Locally built images to load into the nodes with `kind load docker-image`.
    pub load_images: Vec<String>,
    /// Reuse a running cluster of the same name (and leave it running at teardown).
    pub reuse: bool,
    /// The container engine; when absent, Docker if its engine answers, else podman if it is
    /// installed (or podman when `KIND_EXPERIMENTAL_PROVIDER=podman`).
    pub engine: Option<KindEngine>,
    /// The node image; when absent, `built` on podman and `pinned` on Docker.
    pub node_image: Option<NodeImageSource>,
}

impl Default for KindSettings {
    fn default() -> Self {
        KindSettings {
            cluster_name: None,
            workers: 0,
            node_groups: vec!["general".into(), "user".into(), "worker".into()],
            load_images: Vec::new(),
            reuse: false,
            engine: None,
            node_image: None,
        }
    }
}

/// Where a container-based cluster (kind, k3s) publishes the ingress on the host: the
/// ingress stage's NodePorts are mapped to these host ports, so no load balancer (MetalLB)
/// and no public DNS are needed.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostIngress {
    /// The host address to listen on; `127.0.0.1` when absent.
    pub address: std::net::IpAddr,
    /// The host port for HTTP; 80 when absent.
    pub http_port: u16,
    /// The host port for HTTPS; 443 when absent.
    pub https_port: u16,
}

impl Default for HostIngress {
    fn default() -> Self {
        HostIngress {
            address: std::net::IpAddr::from([127, 0, 0, 1]),
            http_port: 80,
            https_port: 443,
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Project name: a DNS label (RFC 1123, at most 40 characters). It is the deployment id in
    /// inventory labels and prefixes cluster-scoped object names.
    pub project_name: String,
    /// Namespace the platform's namespaced objects live in (a DNS label).
    pub namespace: String,
    /// DNS domain the platform's ingress serves (e.g. `seatrial.test`).
    pub domain: String,
    /// Which cluster to deploy to; `hollow` when absent.
    #[serde(default)]
    pub provider: ProviderKind,
    /// Settings of the `existing` provider.
    #[serde(default)]
    pub existing: ExistingCluster,
    /// Settings of the `kind` provider.
    #[serde(default)]
    pub kind: KindSettings,
    /// Host ports of the ingress for the `kind` and `k3s` providers.
    #[serde(default)]
    pub host_ingress: HostIngress,
    /// How long one object may take to become ready, in seconds; 180 when absent.
    #[serde(default = "default_readiness_timeout")]
    pub readiness_timeout_seconds: u64,
    /// How long teardown and sweep wait for one object to be deleted, in seconds; 180 when absent.
    #[serde(default = "default_deletion_timeout")]
    pub deletion_timeout_seconds: u64,
    /// How long a run waits for an API server that stopped answering to answer again before
    /// it leaves the deployment (and its ledger entry) to `cargo xtask teardown`, in seconds;
    /// 60 when absent.
    #[serde(default = "default_api_return_timeout")]
    pub api_return_timeout_seconds: u64,
    /// How long one attempt of a check may wait for its assertion to hold, in seconds; 60 when
    /// absent. A check's own `timeout_seconds` overrides it.
    #[serde(default = "default_check_timeout")]
    pub check_timeout_seconds: u64,
    /// How many times a failed check is tried again; 0 when absent. A pass after a failure is
    /// reported as flaky. A check's own `retries` overrides it.
    #[serde(default)]
    pub check_retries: u32,
    /// The address the platform `domain` resolves to for endpoint checks (the ingress's
    /// address, e.g. `127.0.0.1` for kind with port mappings); the system resolver when absent.
    #[serde(default)]
    pub endpoint_address: Option<std::net::IpAddr>,
    /// Which Helm renders chart stages that do not choose one in their `stage.yaml`: `3`
    /// (`[tools.helm]`) or `4` (`[tools.helm4]`); 3 when absent.
    #[serde(default)]
    pub helm: Option<crate::charts::helm::HelmMajor>,
    /// Per-stage settings, keyed by stage name; each value overrides the stage's default.
    #[serde(default)]
    pub stages: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// Where the file came from (`<embedded default>` for [`DEFAULT_CONFIG`]).
    #[serde(skip)]
    pub source: PathBuf,
    /// The file's text, kept to locate validation errors.
    #[serde(skip)]
    pub text: String,
}

fn default_readiness_timeout() -> u64 {
    180
}

fn default_deletion_timeout() -> u64 {
    180
}

fn default_api_return_timeout() -> u64 {
    60
}

fn default_check_timeout() -> u64 {
    60
}

impl Config {
    /// Where a browser on this machine reaches the platform: `https://<domain>`, with
    /// `:<host_ingress.https_port>` when that is not 443 (on `local`, the ingress's HTTPS
    /// NodePort on loopback). No trailing slash.
    pub fn origin(&self) -> String {
        match self.host_ingress.https_port {
            443 => format!("https://{}", self.domain),
            port => format!("https://{}:{port}", self.domain),
        }
    }

    /// Reads and validates a configuration file.
    ///
    /// Errors: [`Error::Read`] when the file cannot be read, [`Error::Invalid`] with the line
    /// for malformed YAML, unknown fields and invalid values.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// The embedded default configuration ([`DEFAULT_CONFIG`]).
    pub fn embedded_default() -> Config {
        Config::parse(Path::new("<embedded default config>"), DEFAULT_CONFIG)
            .expect("the embedded default config is valid")
    }

    /// Parses and validates configuration text; `path` is used in error messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        if text.trim().is_empty() {
            return Err(Error::invalid(path, 1, "the configuration file is empty"));
        }
        let mut config: Config = parse_yaml(path, text)?;
        config.source = path.to_owned();
        config.text = text.to_owned();
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        self.check_dns_label("project_name", &self.project_name, 40)?;
        self.check_dns_label("namespace", &self.namespace, 63)?;
        let domain_ok = !self.domain.is_empty()
            && self.domain.len() <= 253
            && self.domain.split('.').all(|label| is_dns_label(label, 63));
        if !domain_ok {
            return Err(self.field_error(
                "domain",
                format!(
                    "`domain: {}` is not a DNS name (RFC 1123 labels joined by dots)",
                    self.domain
                ),
            ));
        }
        for (field, value) in [
            ("readiness_timeout_seconds", self.readiness_timeout_seconds),
            ("deletion_timeout_seconds", self.deletion_timeout_seconds),
            ("check_timeout_seconds", self.check_timeout_seconds),
            (
                "api_return_timeout_seconds",
                self.api_return_timeout_seconds,
            ),
        ] {
            if value == 0 {
                return Err(self.field_error(field, format!("`{field}` must be at least 1 second")));
            }
        }
        if self.provider != ProviderKind::Existing && self.existing != ExistingCluster::default() {
            return Err(self.field_error(
                "existing",
                "settings for the `existing` provider are given but `provider` is not `existing`",
            ));
        }
        if self.provider != ProviderKind::Kind && self.kind != KindSettings::default() {
            return Err(self.field_error(
                "kind",
                "settings for the `kind` provider are given but `provider` is not `kind`",
            ));
        }
        if let Some(name) = &self.kind.cluster_name {
            self.check_dns_label("cluster_name", name, 40)?;
        }
        if self.kind.node_groups.is_empty() {
            return Err(self.field_error("node_groups", "`node_groups` needs at least one group"));
        }
        for group in &self.kind.node_groups {
            self.check_dns_label("node_groups", group, 40)?;
        }
        Ok(())
    }

    /// Whether `provider` runs only images built on this machine (`cargo xtask images build`),
    /// because no registry can be reached from it: `local`, and `kind` with the built node
    /// image.
    pub fn uses_built_images(&self, provider: ProviderKind) -> bool {
        match provider {
            ProviderKind::Local => true,
            ProviderKind::Kind => self.kind.node_image == Some(NodeImageSource::Built),
            _ => false,
        }
    }

    /// The kind cluster's name: `kind.cluster_name`, else `project_name`.
    pub fn kind_cluster_name(&self) -> &str {
        self.kind
            .cluster_name
            .as_deref()
            .unwrap_or(&self.project_name)
    }

    fn check_dns_label(&self, field: &str, value: &str, max: usize) -> Result<()> {
        if is_dns_label(value, max) && reads_as_another_type(value) {
            Err(self.field_error(
                field,
                format!(
                    "`{field}: {value}` would be read as a number or a YAML keyword, not a name, where the manifests use it; start it with a letter"
                ),
            ))
        } else if is_dns_label(value, max) {
            Ok(())
        } else {
            Err(self.field_error(
                field,
                format!(
                    "`{field}: {value}` must be a DNS label: 1 to {max} lowercase letters, digits or '-', starting and ending with a letter or digit"
                ),
            ))
        }
    }

    /// An [`Error::Invalid`] pointing at the line where `field` is set in this file.
    pub fn field_error(&self, field: &str, message: impl Into<String>) -> Error {
        Error::invalid(&self.source, line_of_key(&self.text, field), message)
    }

    /// The 1-based line of the key at `path` in the config's text (e.g. `["stages",
    /// "ingress", "replicas"]`, [`crate::yaml::line_of_path`]), if the config sets it.
    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        crate::yaml::line_of_path(&self.text, path)
    }

    /// An [`Error::Invalid`] at the line of the key at `path`, or of the nearest enclosing key
    /// the text has (line 1 when it has none of them).
    pub fn path_error(&self, path: &[&str], message: impl Into<String>) -> Error {
        let line = (1..=path.len())
            .rev()
            .find_map(|length| self.line_of(&path[..length]))
            .unwrap_or(1);
        Error::invalid(&self.source, line, message)
    }
}

/// Whether `value` is an RFC 1123 DNS label of at most `max` characters.
pub fn is_dns_label(value: &str, max: usize) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Whether `value`, written unquoted into YAML, would be read as something other than a string:
/// a number (`123`, `1e3`, `0x1f`, `0o7`), `null`/`~`, a boolean, or one of YAML 1.1's
/// booleans (`yes`, `no`, `on`, `off`, `y`, `n`), which Go YAML readers still take as such.
pub fn reads_as_another_type(value: &str) -> bool {
    const YAML_1_1_BOOLEANS: [&str; 6] = ["yes", "no", "on", "off", "y", "n"];
    YAML_1_1_BOOLEANS.contains(&value)
        || value.parse::<f64>().is_ok()
        || !matches!(
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(value),
            Ok(serde_yaml_ng::Value::String(_))
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_yaml_reads_as_numbers_or_keywords_are_refused() {
        for name in ["123", "1e3", "0x1f", "null", "true", "no", "on"] {
            let text = format!("project_name: \"{name}\"\nnamespace: dev\ndomain: x.test\n");
            let error = Config::parse(Path::new("c.yaml"), &text)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("c.yaml:1: `project_name: ")
                    && error.contains("would be read as a number or a YAML keyword"),
                "{name}: {error}"
            );
        }
        let text = "project_name: demo\nnamespace: \"null\"\ndomain: x.test\n";
        let error = Config::parse(Path::new("c.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("c.yaml:2: `namespace: null`"), "{error}");
        assert!(!reads_as_another_type("demo-1"));
        assert!(!reads_as_another_type("1-a"));
    }

    #[track_caller]
    fn check_error(text: &str, expected_line: usize, expected_fragment: &str) {
        let error = Config::parse(Path::new("c.yaml"), text).unwrap_err();
        let message = error.to_string();
        match &error {
            Error::Invalid { line, .. } => assert_eq!(*line, expected_line, "{message}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert!(message.contains(expected_fragment), "{message}");
        assert!(message.starts_with("c.yaml:"), "{message}");
    }

    #[test]
    fn kind_settings_belong_to_the_kind_provider() {
        check_error(
            "project_name: demo\nnamespace: dev\ndomain: x.test\nkind:\n  workers: 2\n",
            4,
            "settings for the `kind` provider are given but `provider` is not `kind`",
        );
        check_error(
            "project_name: demo\nnamespace: dev\ndomain: x.test\nprovider: kind\nkind:\n  node_groups: [General]\n",
            6,
            "`node_groups: General` must be a DNS label",
        );
        let config = Config::parse(
            Path::new("c.yaml"),
            "project_name: demo\nnamespace: dev\ndomain: x.test\nprovider: kind\nkind:\n  workers: 2\nhost_ingress:\n  https_port: 8443\n",
        )
        .unwrap();
        assert_eq!(
            (config.kind.workers, config.kind_cluster_name()),
            (2, "demo")
        );
        assert_eq!(config.host_ingress.https_port, 8443);
        assert_eq!(config.host_ingress.http_port, 80);
    }

    #[test]
    fn embedded_default_is_valid() {
        let config = Config::embedded_default();
        assert_eq!(config.provider, ProviderKind::Local);
        assert!(is_dns_label(&config.project_name, 40));
    }

    #[test]
    fn errors_name_line_and_field() {
        check_error(
            "project_name: demo\nnamespace: dev\ndomain: x.test\nprovder: hollow\n",
            4,
            "provder",
        );
        check_error(
            "project_name: Demo_1\nnamespace: dev\ndomain: x.test\n",
            1,
            "project_name",
        );
        check_error("project_name: demo\nnamespace: dev\n", 1, "domain");
        check_error(
            "project_name: demo\nnamespace: dev\ndomain: x.test\nprovider: gke\n",
            4,
            "gke",
        );
        check_error("project_name: demo\nnamespace: dev\ndomain: [x\n", 3, "");
        check_error(
            "project_name: demo\nnamespace: dev\ndomain: bad..test\n",
            3,
            "domain",
        );
        check_error("", 1, "empty");
    }
}
