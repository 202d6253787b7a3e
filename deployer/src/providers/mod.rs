//! Providers: where the platform is deployed, and how to get a client for it.
//!
//! - `hollow`: the local hollow control plane ([`hollow`]), brought up on demand.
//! - `existing`: any cluster reached through a kubeconfig and context.
//! - `kind`: a kind cluster through the `kind` CLI and Docker ([`kind`]).
//! - `k3s`: a k3s container started with testcontainers ([`k3s`]).
//! - `local`: the hollow control plane plus a real node on this machine ([`local`]).
//!
//! [`lifecycle`] brings any of them up and down for a run.

pub mod binaries;
pub(crate) mod control_plane;
pub mod hollow;
pub mod k3s;
pub mod kind;
pub mod lifecycle;
pub mod local;
pub mod processes;

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;

use crate::error::{Error, Result};

/// A client connected to a reachable API server.
#[derive(Clone)]
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The API server URL.
    pub server_url: String,
    /// The kubeconfig the client was built from.
    pub kubeconfig: PathBuf,
    /// The context used, when one was named.
    pub context: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server_url", &self.server_url)
            .field("kubeconfig", &self.kubeconfig)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// Connects through `kubeconfig` (and `context`) and proves the server answers `/version`.
///
/// `hint` tells the user what to do when it does not. Errors: [`Error::EnvironmentMissing`]
/// for an unreadable kubeconfig or unknown context; [`Error::Unreachable`] with the server URL
/// and the connection error when the server does not answer.
///
/// The client does not retry failed requests (kube's default retry layer is off): a 429, 503
/// or 504 is returned to the caller at once.
pub async fn connect(kubeconfig: &Path, context: Option<&str>, hint: &str) -> Result<Connection> {
    let file = Kubeconfig::read_from(kubeconfig).map_err(|error| Error::EnvironmentMissing {
        what: format!(
            "failed to read the kubeconfig {}: {error}",
            kubeconfig.display()
        ),
        hint: hint.to_owned(),
    })?;
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|error| Error::EnvironmentMissing {
            what: format!(
                "failed to use the kubeconfig {}: {error}",
                kubeconfig.display()
            ),
            hint: hint.to_owned(),
        })?;
    // kube's default retry layer retries 429, 503 and 504 up to 15 times, from 5 ms doubling
    // to at most 1000 s: one aggregated API answering 503 (metrics-server down) held every
    // discovery, and so every sweep, for about five minutes. Without it a 503 surfaces at
    // once and the caller decides (the sweep names the group as unchecked; watches have
    // their own backoff).
    let mut config = config;
    config.default_retry = false;
    let server_url = config.cluster_url.to_string();
    let unreachable = |reason: String| Error::Unreachable {
        url: server_url.clone(),
        reason,
        hint: hint.to_owned(),
    };
    let client = Client::try_from(config).map_err(|error| unreachable(error.to_string()))?;
    let version = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        client.apiserver_version(),
    )
    .await;
    match version {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => return Err(unreachable(host::error_chain(&error))),
        Err(_) => {
            return Err(unreachable(
                "no answer to GET /version within 15 s".to_owned(),
            ))
        }
    }
    Ok(Connection {
        client,
        server_url,
        kubeconfig: kubeconfig.to_owned(),
        context: context.map(str::to_owned),
    })
}

/// The kubeconfig `existing` uses when none is named: `$KUBECONFIG` (first entry), else
/// `~/.kube/config`.
pub fn default_kubeconfig() -> PathBuf {
    if let Some(paths) = std::env::var_os("KUBECONFIG") {
        if let Some(first) = std::env::split_paths(&paths).next() {
            return first;
        }
    }
    host::dirs::home_dir().join(".kube").join("config")
}

/// What to do without a Docker engine (the kind and k3s providers say it).
pub(crate) const DOCKER_HINT: &str = "install Docker Engine (https://docs.docker.com/engine/install/debian/) and start it, or set DOCKER_HOST";
