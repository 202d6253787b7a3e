//! The world the pins tests resolve against: a Helm chart repository served over HTTP, two
//! Debian `docker-registry` processes sharing one storage (one anonymous, one behind the
//! Docker token protocol), and GitHub's releases API on wiremock (the only mock).
//!
//! Panics when a server cannot start: it is a test fixture.
#![allow(missing_docs, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fetch::{sha256_hex, Network, NetworkOptions};
use crate::testbed::chart;
use crate::testbed::http::FileServer;
use crate::testbed::registry::{Registry, TokenAuth};
use crate::testbed::token::TokenIssuer;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub struct World {
    pub files: FileServer,
    pub registry: Registry,
    pub token_registry: Registry,
    pub issuer: Arc<TokenIssuer>,
    pub github: MockServer,
    pub digests: std::collections::HashMap<String, String>,
    pub dir: tempfile::TempDir,
}

/// A release-time `days` days before now (RFC 3339).
pub fn days_ago(days: i64) -> String {
    let when = time::OffsetDateTime::now_utc() - time::Duration::days(days);
    when.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub const BUNDLE: &str = "apiVersion: v1\nkind: List\nitems: []\n";

impl World {
    pub async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let files = FileServer::start().await.unwrap();
        let issuer = Arc::new(TokenIssuer::new().unwrap());
        files.issue_tokens(issuer.clone());
        let storage = dir.path().join("storage");
        let registry = Registry::start(&storage, dir.path(), None).unwrap();
        let token_registry = Registry::start(
            &storage,
            dir.path(),
            Some(&TokenAuth {
                realm: format!("{}/token", files.url),
                certificate_pem: issuer.certificate_pem.clone(),
            }),
        )
        .unwrap();
        let mut digests = std::collections::HashMap::new();
        let images: &[(&str, &str, i64)] = &[
            ("library/traefik", "v3.3.4", 400),
            ("library/traefik", "v3.4.0", 30),
            ("library/traefik", "v3.4.1", 1),
            ("library/traefik", "v3.4", 1),
            ("library/traefik", "3.4.1", 1),
            ("library/traefik", "v4.0.0", 20),
            ("bitnamilegacy/postgresql", "16.4.0-debian-12-r5", 300),
            ("bitnami/redis", "7.4.0-debian-12-r1", 200),
            ("bitnami/redis", "7.4.0-debian-12-r3", 100),
            ("bitnami/redis", "7.4.1-debian-12-r0", 50),
            ("bitnami/redis", "7.4.1-debian-11-r9", 50),
        ];
        for (repository, tag, age) in images {
            let digest = registry
                .push(repository, tag, &days_ago(*age))
                .await
                .unwrap();
            digests.insert(format!("{repository}:{tag}"), digest);
        }

        let charts: Vec<(String, String, String)> = [
            ("jupyterhub", "4.0.0", 400),
            ("jupyterhub", "4.1.0", 200),
            ("jupyterhub", "4.2.0", 20),
            ("jupyterhub", "5.0.0", 10),
            ("tampered", "1.0.0", 100),
        ]
        .iter()
        .map(|(name, version, age)| (name.to_string(), version.to_string(), days_ago(*age)))
        .collect();
        let mut indexed = chart::publish(&files, "/charts", &charts);
        for entry in &mut indexed {
            digests.insert(
                format!("{}-{}.tgz", entry.name, entry.version),
                format!("sha256:{}", entry.digest),
            );
            if entry.name == "tampered" {
                // The index lists the digest of another build than the one served.
                entry.digest = sha256_hex(b"another build");
            }
        }
        files.put(
            "/charts/index.yaml",
            "application/yaml",
            chart::index(&indexed),
        );
        files.put("/bundles/v1.3.0/install.yaml", "application/yaml", BUNDLE);
        digests.insert(
            "bundle-v1.3.0".into(),
            format!("sha256:{}", sha256_hex(BUNDLE.as_bytes())),
        );

        let github = MockServer::start().await;
        let kind_digest = format!("sha256:{}", "1".repeat(64));
        let release = |tag: &str, days: i64, digest: &str| {
            serde_json::json!({
                "tag_name": tag, "draft": false, "prerelease": false,
                "published_at": days_ago(days),
                "html_url": format!("https://github.com/kubernetes-sigs/kind/releases/tag/{tag}"),
                "assets": [{"name": "kind-linux-amd64", "digest": digest,
                            "browser_download_url": format!("https://github.com/kubernetes-sigs/kind/releases/download/{tag}/kind-linux-amd64")}]
            })
        };
        Mock::given(method("GET"))
            .and(path("/repos/kubernetes-sigs/kind/releases/tags/v0.29.0"))
            .respond_with(ResponseTemplate::new(200).set_body_json(release(
                "v0.29.0",
                200,
                &kind_digest,
            )))
            .mount(&github)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/kubernetes-sigs/kind/releases/tags/v0.30.0"))
            .respond_with(ResponseTemplate::new(200).set_body_json(release(
                "v0.30.0",
                40,
                &format!("sha256:{}", "2".repeat(64)),
            )))
            .mount(&github)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/kubernetes-sigs/kind/releases"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
                release("v0.31.0-rc.1", 2, "sha256:0"),
                release("v0.30.0", 40, &format!("sha256:{}", "2".repeat(64))),
                release("v0.29.0", 200, &kind_digest),
            ])))
            .mount(&github)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/kubernetes-sigs/gateway-api/releases"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
                {"tag_name": "v1.3.0", "draft": false, "prerelease": false, "published_at": days_ago(90), "assets": []}
            ])))
            .mount(&github)
            .await;
        digests.insert("kind-v0.29.0".into(), kind_digest);

        World {
            files,
            registry,
            token_registry,
            issuer,
            github,
            digests,
            dir,
        }
    }

    pub fn digest(&self, key: &str) -> &str {
        self.digests
            .get(key)
            .unwrap_or_else(|| panic!("no digest recorded for {key}"))
    }

    pub fn network(&self) -> Network {
        Network::new(NetworkOptions {
            github_api: self.github.uri(),
            backoff: std::time::Duration::from_millis(10),
            ..NetworkOptions::default()
        })
        .unwrap()
    }

    /// Writes a pin set file into the world's directory.
    pub fn pins_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The standard pin set: one of every kind, all locked and resolving.
    pub fn good_pins(&self) -> String {
        format!(
            r#"# The world's pin set.
[groups.hub]
description = "JupyterHub"
[groups.ingress]
policy = {{ min_release_age = "7d" }}
[groups.tools]

[[relocations]]
from = "{registry}/bitnami/*"
to = "{registry}/bitnamilegacy/*"
reason = "Bitnami moved its images to bitnamilegacy"

[charts.jupyterhub]
repository = "{files}/charts"
version = "4.1.0"
digest = "{chart}"
group = "hub"
policy = {{ range = ">=4.0.0, <5" }}

[images.traefik]
repository = "{token_registry}/library/traefik"
tag = "v3.3.4"
digest = "{traefik}"
group = "ingress"

[images.redis]
repository = "{registry}/bitnami/redis"
tag = "7.4.0-debian-12-r1"
policy = {{ tag_pattern = '(?<version>\d+\.\d+\.\d+)-debian-12-r(?<revision>\d+)' }}

[tools.kind]
github = "kubernetes-sigs/kind"
tag = "v0.29.0"
asset = "kind-linux-amd64"
digest = "{kind}"
group = "tools"

[bundles.gateway_api]
url = "{files}/bundles/{{tag}}/install.yaml"
version = "v1.3.0"
digest = "{bundle}"
github = "kubernetes-sigs/gateway-api"
"#,
            registry = self.registry.host,
            token_registry = self.token_registry.host,
            files = self.files.url,
            chart = self.digest("jupyterhub-4.1.0.tgz"),
            traefik = self.digest("library/traefik:v3.3.4"),
            kind = self.digest("kind-v0.29.0"),
            bundle = self.digest("bundle-v1.3.0"),
        )
    }
}

pub fn load(path: &Path) -> crate::model::PinSet {
    crate::load::load(path).unwrap()
}
