//! The `k3s` provider: one k3s server in a container, started with testcontainers
//! (testcontainers-modules' `K3s`), privileged, with k3s's own Traefik disabled (the platform
//! brings its own) and the ingress stage's NodePorts published on the host ports of
//! `host_ingress`. The image comes from the pin set (`images.k3s`). The kubeconfig is read
//! from the container's mounted `/etc/rancher/k3s/`, pointed at the mapped API port and kept
//! (mode 0600) under `~/.local/state/seatrial/k3s/<project>/`.
//!
//! The container is removed by [`down`]; should the process die first, testcontainers'
//! reaper (Ryuk) removes it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::k3s::{K3s, KUBE_SECURE_PORT};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::pins::ImagePins;
use crate::providers::kind::NodePorts;
use crate::providers::DOCKER_HINT;
use host::files::write_private;

/// The pin naming the k3s image.
pub const IMAGE_PIN: &str = "k3s";

/// A running k3s container.
pub struct K3sCluster {
    /// The container; dropping it stops and removes it.
    pub container: ContainerAsync<K3s>,
    /// The kubeconfig pointing at the mapped API port.
    pub kubeconfig: PathBuf,
}

impl std::fmt::Debug for K3sCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K3sCluster")
            .field("container", &self.container.id())
            .field("kubeconfig", &self.kubeconfig)
            .finish()
    }
}

/// Whether a Docker engine can be asked for: `DOCKER_HOST` is set or the default socket
/// exists. Errors: [`Error::EnvironmentMissing`] saying what to install.
pub fn check_environment() -> Result<()> {
    let missing = |what: String| {
        Err(Error::EnvironmentMissing {
            what: format!("the k3s provider needs a Docker engine: {what}"),
            hint: DOCKER_HINT.into(),
        })
    };
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => match host.strip_prefix("unix://") {
            Some(socket) if !Path::new(socket).exists() => {
                missing(format!("the socket {socket} (DOCKER_HOST) does not exist"))
            }
            _ => Ok(()),
        },
        _ if Path::new("/var/run/docker.sock").exists() => Ok(()),
        _ => missing("/var/run/docker.sock does not exist and DOCKER_HOST is unset".into()),
    }
}

/// The container command: k3s's server without its bundled Traefik.
pub fn server_command() -> Vec<&'static str> {
    vec!["server", "--snapshotter=native", "--disable=traefik"]
}

/// Starts the k3s container for `config`.
///
/// Errors: [`Error::EnvironmentMissing`] without Docker, when the pin is missing, or when
/// the container does not start (testcontainers' error chain).
pub async fn up(config: &Config, images: &ImagePins, ports: NodePorts) -> Result<K3sCluster> {
    check_environment()?;
    let pin = images
        .get(IMAGE_PIN)
        .ok_or_else(|| Error::EnvironmentMissing {
            what: format!("the pin set has no `images.{IMAGE_PIN}` (the k3s image)"),
            hint: "pin rancher/k3s in pins/pins.toml".into(),
        })?;
    let state = crate::providers::hollow::xdg_dir("XDG_STATE_HOME", ".local/state")
        .join("seatrial")
        .join("k3s")
        .join(&config.project_name);
    std::fs::create_dir_all(&state).map_err(|source| Error::Read {
        path: state.clone(),
        source,
    })?;
    let image = K3s::default().with_conf_mount(&state);
    let failed = |what: String| Error::EnvironmentMissing {
        what,
        hint: DOCKER_HINT.into(),
    };
    let container = image
        .clone()
        .with_name(pin.repository.clone())
        .with_tag(pin.tag.clone())
        .with_privileged(true)
        .with_cmd(server_command())
        .with_mapped_port(
            config.host_ingress.http_port,
            ContainerPort::Tcp(ports.http),
        )
        .with_mapped_port(
            config.host_ingress.https_port,
            ContainerPort::Tcp(ports.https),
        )
        .with_startup_timeout(Duration::from_secs(300))
        .start()
        .await
        .map_err(|error| {
            failed(format!(
                "failed to start the k3s container {}: {}",
                pin.reference(),
                host::error_chain(&error)
            ))
        })?;
    let port = container
        .get_host_port_ipv4(KUBE_SECURE_PORT)
        .await
        .map_err(|error| failed(format!("the k3s container publishes no API port: {error}")))?;
    let text = image.read_kube_config().map_err(|error| {
        failed(format!(
            "failed to read k3s's kubeconfig in {}: {error}",
            state.display()
        ))
    })?;
    let kubeconfig = state.join("kubeconfig");
    write_private(&kubeconfig, &point_at_port(&text, port)).map_err(|source| Error::Read {
        path: kubeconfig.clone(),
        source,
    })?;
    Ok(K3sCluster {
        container,
        kubeconfig,
    })
}

/// `kubeconfig` text with the server `https://127.0.0.1:6443` moved to the mapped `port`.
pub fn point_at_port(kubeconfig: &str, port: u16) -> String {
    kubeconfig.replace(
        "https://127.0.0.1:6443",
        &format!("https://127.0.0.1:{port}"),
    )
}

/// Stops and removes the container. Errors: testcontainers' message.
pub async fn down(cluster: K3sCluster) -> Result<()> {
    cluster
        .container
        .rm()
        .await
        .map_err(|error| Error::EnvironmentMissing {
            what: format!("failed to remove the k3s container: {error}"),
            hint: "remove it by hand: docker ps --filter ancestor=rancher/k3s".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_points_at_the_mapped_port_and_traefik_is_disabled() {
        let text = "clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n";
        assert_eq!(
            point_at_port(text, 49153),
            "clusters:\n- cluster:\n    server: https://127.0.0.1:49153\n  name: default\n"
        );
        assert_eq!(
            server_command(),
            ["server", "--snapshotter=native", "--disable=traefik"]
        );
    }
}
