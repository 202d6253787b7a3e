//! The `kind` provider: a kind cluster driven through the `kind` CLI and the Docker engine.
//!
//! `up` checks the environment (the `kind` and `docker` commands, an engine that answers),
//! writes the generated cluster config ([`cluster_config`]) beside the run's report, creates
//! the cluster with the pinned node image (by digest, `images.kind_node` in the pin set) — or
//! reuses a running one of the same name when asked — and loads the config's local images.
//! `down` deletes a cluster it created and lists every Docker container, volume and network
//! still carrying kind's label for it: those are reported as leftovers.
//!
//! The kubeconfig (it holds credentials) goes to `~/.local/state/seatrial/kind/<name>/`, mode
//! 0600, never to the report directory.

pub mod cluster_config;
pub mod commands;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::pins::ImagePins;
use crate::providers::DOCKER_HINT;
use commands::CommandLine;
use host::path::on_path;

pub use cluster_config::{cluster_config, NodePorts};

/// The pin naming the kind node image.
pub const NODE_IMAGE_PIN: &str = "kind_node";

/// A kind cluster this run uses.
#[derive(Debug, Clone)]
pub struct KindCluster {
    /// Its name.
    pub name: String,
    /// Its kubeconfig (mode 0600, outside the report directory).
    pub kubeconfig: PathBuf,
    /// Whether it was already running (then teardown leaves it running).
    pub reused: bool,
    /// The log of the kind and docker commands.
    pub log: PathBuf,
}

/// A Docker object left behind after `kind delete cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerLeftover {
    /// `container`, `volume` or `network`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// Checks that `kind` and `docker` are on PATH and that the Docker engine answers; returns
/// the installed kind version line.
///
/// Errors: [`Error::EnvironmentMissing`] with one line saying what to install.
pub fn check_environment(pinned_kind: &str) -> Result<String> {
    if on_path("docker").is_none() {
        return Err(Error::EnvironmentMissing {
            what: "the kind provider needs Docker: the `docker` command is not on PATH".into(),
            hint: DOCKER_HINT.into(),
        });
    }
    if on_path("kind").is_none() {
        return Err(Error::EnvironmentMissing {
            what: "the kind provider needs the `kind` command: it is not on PATH".into(),
            hint: format!(
                "install kind {pinned_kind} (the pinned release, tools.kind in pins/pins.toml): https://github.com/kubernetes-sigs/kind/releases/tag/{pinned_kind}"
            ),
        });
    }
    let info = commands::docker_info().command().output();
    match info {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(Error::EnvironmentMissing {
                what: format!(
                    "the Docker engine does not answer (`docker info`: {})",
                    stderr
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("no output")
                        .trim()
                ),
                hint: DOCKER_HINT.into(),
            });
        }
        Err(error) => {
            return Err(Error::EnvironmentMissing {
                what: format!("failed to run `docker info`: {error}"),
                hint: DOCKER_HINT.into(),
            })
        }
    }
    let version = run(&commands::version(), None)?;
    if !version.contains(pinned_kind) {
        tracing::warn!(installed = %version.trim(), pinned = pinned_kind, "kind differs from the pinned release");
    }
    Ok(version.trim().to_owned())
}

/// Runs `command`, appending its command line and output to `log` when given; returns stdout.
///
/// Errors: [`Error::EnvironmentMissing`] naming the command, its exit status and the last
/// lines of its stderr.
pub fn run(command: &CommandLine, log: Option<&Path>) -> Result<String> {
    tracing::info!(command = %command, "running");
    let output = command
        .command()
        .output()
        .map_err(|error| Error::EnvironmentMissing {
            what: format!("failed to run `{command}`: {error}"),
            hint: DOCKER_HINT.into(),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if let Some(log) = log {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(file, "$ {command}\n{stdout}{stderr}");
        }
    }
    if output.status.success() {
        Ok(stdout)
    } else {
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        Err(Error::EnvironmentMissing {
            what: format!(
                "`{command}` failed ({}):\n{}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
            hint: log.map_or_else(
                || "see the output above".to_owned(),
                |log| format!("the full output is in {}", log.display()),
            ),
        })
    }
}

/// `~/.local/state/seatrial/kind/<name>` (or under `XDG_STATE_HOME`).
pub fn state_dir(name: &str) -> PathBuf {
    crate::providers::hollow::xdg_dir("XDG_STATE_HOME", ".local/state")
        .join("seatrial")
        .join("kind")
        .join(name)
}

/// Creates (or, with `kind.reuse`, reuses) the cluster for `config`, writing the generated
/// cluster config to `report_dir/kind-config.yaml`.
///
/// Errors: [`Error::EnvironmentMissing`] for a missing environment or a failed kind command;
/// [`Error::Invalid`]-like messages for a missing `images.kind_node` pin or an existing
/// cluster without `reuse`.
pub fn up(
    config: &Config,
    images: &ImagePins,
    pinned_kind: &str,
    ports: NodePorts,
    report_dir: &Path,
) -> Result<KindCluster> {
    check_environment(pinned_kind)?;
    let name = config.kind_cluster_name().to_owned();
    let node_image = images
        .get(NODE_IMAGE_PIN)
        .ok_or_else(|| Error::EnvironmentMissing {
            what: format!("the pin set has no `images.{NODE_IMAGE_PIN}` (the kind node image)"),
            hint: "pin kindest/node with its digest in pins/pins.toml".into(),
        })?;
    let state = state_dir(&name);
    std::fs::create_dir_all(&state).map_err(|source| Error::Read {
        path: state.clone(),
        source,
    })?;
    let kubeconfig = state.join("kubeconfig");
    let log = report_dir.join("kind.log");
    let existing = run(&commands::get_clusters(), Some(&log))?;
    let running = existing.lines().any(|line| line.trim() == name);
    let reused = match (running, config.kind.reuse) {
        (true, true) => {
            run(&commands::export_kubeconfig(&name, &kubeconfig), Some(&log))?;
            true
        }
        (true, false) => {
            return Err(Error::EnvironmentMissing {
                what: format!("a kind cluster named `{name}` already runs"),
                hint: format!(
                "pass --reuse to deploy into it, or delete it: kind delete cluster --name {name}"
            ),
            })
        }
        (false, _) => {
            let config_path = report_dir.join("kind-config.yaml");
            let text = cluster_config(&name, &config.kind, &config.host_ingress, ports);
            std::fs::write(&config_path, text).map_err(|source| Error::Read {
                path: config_path.clone(),
                source,
            })?;
            run(
                &commands::create(&name, &config_path, &node_image.reference(), &kubeconfig),
                Some(&log),
            )?;
            false
        }
    };
    restrict(&kubeconfig);
    for image in &config.kind.load_images {
        run(&commands::load_image(&name, image), Some(&log))?;
    }
    Ok(KindCluster {
        name,
        kubeconfig,
        reused,
        log,
    })
}

fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// Deletes the cluster unless it was reused, then lists Docker objects still labelled for it.
///
/// Errors: a failed `kind delete cluster` or Docker listing ([`Error::EnvironmentMissing`]).
pub fn down(cluster: &KindCluster) -> Result<Vec<DockerLeftover>> {
    if cluster.reused {
        return Ok(Vec::new());
    }
    run(
        &commands::delete(&cluster.name, &cluster.kubeconfig),
        Some(&cluster.log),
    )?;
    let mut leftovers = Vec::new();
    for (kind, listing) in commands::leftover_listings(&cluster.name) {
        for name in run(&listing, Some(&cluster.log))?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            leftovers.push(DockerLeftover {
                kind: kind.to_owned(),
                name: name.trim().to_owned(),
            });
        }
    }
    Ok(leftovers)
}
