//! The `kind` provider: a kind cluster driven through the `kind` CLI and a container engine,
//! Docker or podman ([`podman`]: rootful, with a configuration of seatrial's own).
//!
//! `up` checks the environment (the `kind` command, the engine's command, an engine that
//! answers), writes the generated cluster config ([`cluster_config`]) beside the run's report,
//! creates the cluster — with the pinned node image (by digest, `images.kind_node` in the pin
//! set), or with the node image built here ([`crate::images::kind_node`], loaded into the
//! engine first) — or reuses a running one of the same name when asked, and loads the
//! config's local images and the platform's built image archives into the nodes. `down`
//! deletes a cluster it created and lists every container, volume and network still carrying
//! kind's label for it: those are reported as leftovers; on podman it also removes kind's
//! network and the empty `/lib/modules` when `up` made them.
//!
//! The kubeconfig (it holds credentials) goes to `~/.local/state/seatrial/kind/<name>/`, mode
//! 0600, never to the report directory.

pub mod cluster_config;
pub mod commands;
pub mod podman;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, KindEngine};
use crate::error::{Error, Result};
use crate::images::BuiltImage;
use crate::pins::ImagePins;
use crate::providers::DOCKER_HINT;
use commands::{CommandLine, Tools};
use host::path::on_path;

pub use cluster_config::{cluster_config, BuiltNode, NodePorts};

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
    /// The log of the kind and engine commands.
    pub log: PathBuf,
    /// The programs and environment it was made with.
    pub tools: Tools,
    /// Host changes `up` made for podman, undone by `down`.
    pub made: HostChanges,
}

/// What `up` changed outside the engine's own state, for `down` to undo. Recorded in the
/// cluster's state dir ([`HOST_CHANGES_FILE`]) while the cluster exists, so that the run
/// that deletes a kept cluster (a later `--reuse` run's teardown in an upgrade trial, or
/// [`delete_kept`]) undoes what the run that created it made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostChanges {
    /// `/lib/modules` did not exist (kind's podman provider bind-mounts it read-only into
    /// every node, and podman refuses a missing source): `up` made it, empty.
    pub lib_modules: bool,
    /// kind's network did not exist before this cluster: `down` removes it.
    pub network: bool,
}

/// The file in a cluster's [`state_dir`] that records its [`HostChanges`] (JSON).
pub const HOST_CHANGES_FILE: &str = "host-changes.json";

impl HostChanges {
    /// What the run that created the cluster whose [`state_dir`] is `state` recorded there;
    /// none when it recorded nothing (it made no change, or seatrial did not create it).
    pub fn recorded(state: &Path) -> HostChanges {
        std::fs::read_to_string(state.join(HOST_CHANGES_FILE))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Records these changes in the cluster's state dir `state` (nothing is written when
    /// there are none).
    ///
    /// Errors: [`Error::Read`] naming the file that cannot be written.
    pub fn record(&self, state: &Path) -> Result<()> {
        if *self == HostChanges::default() {
            return Ok(());
        }
        let path = state.join(HOST_CHANGES_FILE);
        let text = serde_json::to_string(self).expect("host changes serialize");
        std::fs::write(&path, text).map_err(|source| Error::Read { path, source })
    }
}

/// The node image a cluster is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeImage {
    /// The pin set's `images.kind_node`, pulled by the engine.
    Pinned,
    /// The node image built here: its archive (loaded into the engine when missing) and what
    /// kubeadm must be told about its preloaded images.
    Built {
        /// The image and its archive.
        image: BuiltImage,
        /// The kubeadm patches' facts.
        kubeadm: BuiltNode,
    },
}

/// What `up` needs besides the config.
#[derive(Debug, Clone)]
pub struct KindInputs {
    /// The programs and environment.
    pub tools: Tools,
    /// The node image.
    pub node_image: NodeImage,
    /// Image archives built here to load into the nodes (`kind load image-archive`).
    pub archives: Vec<BuiltImage>,
}

/// A container-engine object left behind after `kind delete cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerLeftover {
    /// `container`, `volume` or `network`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// The engine kind uses when the config names none: podman when
/// `KIND_EXPERIMENTAL_PROVIDER=podman` (kind's own switch), else Docker when `docker info`
/// answers, else podman when `podman` is installed or can be (root on Debian), else Docker
/// (whose absence the run then reports).
pub fn detect_engine() -> KindEngine {
    if std::env::var("KIND_EXPERIMENTAL_PROVIDER").is_ok_and(|value| value == "podman") {
        return KindEngine::Podman;
    }
    let docker_answers = on_path("docker").is_some()
        && commands::engine_info(&Tools::docker())
            .command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
    if docker_answers {
        KindEngine::Docker
    } else if on_path("podman").is_some()
        || (rustix::process::getuid().is_root() && on_path("apt-get").is_some())
    {
        KindEngine::Podman
    } else {
        KindEngine::Docker
    }
}

/// The hint for a missing or silent podman.
pub const PODMAN_HINT: &str =
    "install podman and runc (as root: apt-get install podman runc); seatrial configures podman itself";

fn engine_hint(engine: KindEngine) -> String {
    match engine {
        KindEngine::Docker => DOCKER_HINT.into(),
        KindEngine::Podman => PODMAN_HINT.into(),
    }
}

/// Checks that `kind` and the engine's command are there (on podman, as root, installs
/// Debian's podman and runc when missing) and that the engine answers; returns the installed
/// kind version line.
///
/// Errors: [`Error::EnvironmentMissing`] with one line saying what to install.
pub fn check_environment(tools: &Tools, pinned_kind: &str) -> Result<String> {
    let engine = tools.engine.to_string();
    if on_path(&engine).is_none() {
        if tools.engine == KindEngine::Podman && rustix::process::getuid().is_root() {
            host::packages::ensure_debian_packages(&podman::PACKAGES, &["podman".to_owned()])?;
        } else {
            let name = match tools.engine {
                KindEngine::Docker => "Docker",
                KindEngine::Podman => "podman",
            };
            return Err(Error::EnvironmentMissing {
                what: format!(
                    "the kind provider needs {name}: the `{engine}` command is not on PATH"
                ),
                hint: engine_hint(tools.engine),
            });
        }
    }
    if tools.engine == KindEngine::Podman
        && on_path("runc").is_none()
        && rustix::process::getuid().is_root()
    {
        host::packages::ensure_debian_packages(&podman::PACKAGES, &["runc".to_owned()])?;
    }
    if on_path(&tools.kind).is_none() && !Path::new(&tools.kind).is_file() {
        return Err(Error::EnvironmentMissing {
            what: "the kind provider needs the `kind` command: it is not on PATH".into(),
            hint: format!(
                "install kind {pinned_kind} (the pinned release, tools.kind in pins/pins.toml): ci/install-tools.sh kind"
            ),
        });
    }
    let info = commands::engine_info(tools).command().output();
    match info {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(Error::EnvironmentMissing {
                what: format!(
                    "the {engine} engine does not answer (`{engine} info`: {})",
                    stderr
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("no output")
                        .trim()
                ),
                hint: engine_hint(tools.engine),
            });
        }
        Err(error) => {
            return Err(Error::EnvironmentMissing {
                what: format!("failed to run `{engine} info`: {error}"),
                hint: engine_hint(tools.engine),
            })
        }
    }
    let version = run(&commands::version(tools), None)?;
    if !version.contains(pinned_kind) {
        tracing::warn!(installed = %version.trim(), pinned = pinned_kind, "kind differs from the pinned release");
    }
    Ok(version.trim().to_owned())
}

/// Runs `command`, appending its command line, its wall-clock seconds and its output to `log`
/// when given; returns stdout.
///
/// Errors: [`Error::EnvironmentMissing`] naming the command, its exit status and the last
/// lines of its stderr.
pub fn run(command: &CommandLine, log: Option<&Path>) -> Result<String> {
    tracing::info!(command = %command, "running");
    let started = std::time::Instant::now();
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
            let seconds = started.elapsed().as_secs_f64();
            let _ = writeln!(file, "$ {command}  # {seconds:.1} s\n{stdout}{stderr}");
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
/// [`Error::Invalid`]-like messages for a missing `images.kind_node` pin, workers with the
/// built node image, or an existing cluster without `reuse`.
pub fn up(
    config: &Config,
    images: &ImagePins,
    inputs: &KindInputs,
    pinned_kind: &str,
    ports: NodePorts,
    report_dir: &Path,
) -> Result<KindCluster> {
    let tools = &inputs.tools;
    check_environment(tools, pinned_kind)?;
    let name = config.kind_cluster_name().to_owned();
    let (node_reference, built) = match &inputs.node_image {
        NodeImage::Pinned => {
            let pin = images
                .get(NODE_IMAGE_PIN)
                .ok_or_else(|| Error::EnvironmentMissing {
                    what: format!(
                        "the pin set has no `images.{NODE_IMAGE_PIN}` (the kind node image)"
                    ),
                    hint: "pin kindest/node with its digest in pins/pins.toml".into(),
                })?;
            (pin.reference(), None)
        }
        NodeImage::Built { image, kubeadm } => {
            if config.kind.workers > 0 {
                return Err(Error::EnvironmentMissing {
                    what: format!(
                        "kind.workers is {}, but the node image built here has a one-node pod network (a bridge on every node handing out the same addresses)",
                        config.kind.workers
                    ),
                    hint: "set kind.workers to 0, or use the pinned node image on Docker (kind.node_image: pinned)".into(),
                });
            }
            (image.reference.clone(), Some(kubeadm))
        }
    };
    let state = state_dir(&name);
    std::fs::create_dir_all(&state).map_err(|source| Error::Read {
        path: state.clone(),
        source,
    })?;
    let kubeconfig = state.join("kubeconfig");
    let log = report_dir.join("kind.log");
    let mut made = HostChanges::default();
    if let NodeImage::Built { image, .. } = &inputs.node_image {
        if run(
            &commands::image_present(tools, &image.reference),
            Some(&log),
        )
        .is_err()
        {
            run(&commands::engine_load(tools, &image.archive), Some(&log))?;
        }
    }
    let existing = run(&commands::get_clusters(tools), Some(&log))?;
    let running = existing.lines().any(|line| line.trim() == name);
    let reused = match (running, config.kind.reuse) {
        (true, true) => {
            run(
                &commands::export_kubeconfig(tools, &name, &kubeconfig),
                Some(&log),
            )?;
            // Undone by whichever run deletes the cluster (see `ProviderHandle`).
            made = HostChanges::recorded(&state);
            true
        }
        (true, false) => {
            return Err(Error::EnvironmentMissing {
                what: format!("a kind cluster named `{name}` already runs"),
                hint: format!(
                "pass --reuse to deploy into it, or delete it: cargo xtask kind down --name {name}"
            ),
            })
        }
        (false, _) => {
            let config_path = report_dir.join("kind-config.yaml");
            let text = cluster_config(&name, &config.kind, &config.host_ingress, ports, built);
            std::fs::write(&config_path, text).map_err(|source| Error::Read {
                path: config_path.clone(),
                source,
            })?;
            if tools.engine == KindEngine::Podman {
                made.network = run(&commands::kind_network(tools), Some(&log))?
                    .trim()
                    .is_empty();
                let modules = Path::new(LIB_MODULES);
                if !modules.exists() {
                    std::fs::create_dir_all(modules).map_err(|source| Error::Read {
                        path: modules.to_owned(),
                        source,
                    })?;
                    made.lib_modules = true;
                }
            }
            let created = run(
                &commands::create(tools, &name, &config_path, &node_reference, &kubeconfig),
                Some(&log),
            );
            if let Err(error) = created {
                // kind removes the nodes of a failed create itself; undo what we made.
                undo(tools, &made, &log);
                return Err(error);
            }
            if let Err(error) = made.record(&state) {
                // This run still undoes them; a later `kind down` of a kept cluster cannot.
                tracing::warn!(error = %host::error_chain(&error), "the kind cluster's host changes are not recorded");
            }
            false
        }
    };
    restrict(&kubeconfig);
    let cluster = KindCluster {
        name,
        kubeconfig,
        reused,
        log,
        tools: tools.clone(),
        made,
    };
    let loads = config
        .kind
        .load_images
        .iter()
        .map(|image| commands::load_image(tools, &cluster.name, image))
        .chain(
            inputs
                .archives
                .iter()
                .map(|image| commands::load_image_archive(tools, &cluster.name, &image.archive)),
        );
    for load in loads {
        if let Err(error) = run(&load, Some(&cluster.log)) {
            if !cluster.reused {
                let _ = down(&cluster);
            }
            return Err(error);
        }
    }
    Ok(cluster)
}

/// The prefix of the iptables chains podman's CNI plugins make on the host.
const CNI_CHAIN_PREFIX: &str = "CNI-";

/// The directory kind's podman provider bind-mounts into every node.
const LIB_MODULES: &str = "/lib/modules";

/// Removes kind's network and `/lib/modules` when `made` says `up` made them (the network
/// only once no container uses it: `podman network rm` refuses one in use).
fn undo(tools: &Tools, made: &HostChanges, log: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if made.network {
        // `podman network rm` removes the network's bridge; the CNI plugins podman ran (its
        // firewall and portmap) leave their base chains (CNI-FORWARD, CNI-ADMIN,
        // CNI-HOSTPORT-*) on the host, which nothing else here makes while no local cluster
        // runs: removed too.
        match run(&commands::remove_kind_network(tools), Some(log)) {
            Ok(_) => problems.extend(crate::providers::local::host::remove_chains_named(&[
                CNI_CHAIN_PREFIX,
            ])),
            Err(error) => problems.push(host::error_chain(&error)),
        }
    }
    if made.lib_modules {
        if let Err(error) = std::fs::remove_dir(LIB_MODULES) {
            problems.push(format!("{LIB_MODULES}: {error}"));
        }
    }
    problems
}

fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// Deletes the cluster unless it was reused, undoes the host changes `up` made, then lists
/// the engine's objects still labelled for it (and kind's network, when `up` made it).
///
/// Errors: a failed `kind delete cluster` or engine listing ([`Error::EnvironmentMissing`]).
pub fn down(cluster: &KindCluster) -> Result<Vec<DockerLeftover>> {
    if cluster.reused {
        return Ok(Vec::new());
    }
    let tools = &cluster.tools;
    run(
        &commands::delete(tools, &cluster.name, &cluster.kubeconfig),
        Some(&cluster.log),
    )?;
    let problems = undo(tools, &cluster.made, &cluster.log);
    if problems.is_empty() {
        let _ = std::fs::remove_file(state_dir(&cluster.name).join(HOST_CHANGES_FILE));
    }
    let mut leftovers = Vec::new();
    for (kind, listing) in commands::leftover_listings(tools, &cluster.name) {
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
    if cluster.made.network {
        for name in run(&commands::kind_network(tools), Some(&cluster.log))?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            leftovers.push(DockerLeftover {
                kind: "network".into(),
                name: format!("{} ({})", name.trim(), problems.join("; ")),
            });
        }
    }
    if cluster.made.network {
        for (save, chain) in crate::providers::local::host::chains_named(&[CNI_CHAIN_PREFIX]) {
            leftovers.push(DockerLeftover {
                kind: "iptables chain".into(),
                name: format!("{save}: {chain}"),
            });
        }
    }
    if cluster.made.lib_modules && Path::new(LIB_MODULES).exists() {
        leftovers.push(DockerLeftover {
            kind: "directory".into(),
            name: format!(
                "{LIB_MODULES} (made for podman's bind mount; {})",
                problems.join("; ")
            ),
        });
    }
    Ok(leftovers)
}

/// Deletes the kind cluster `name` that a run kept (`--keep`) or left running, as a run's own
/// teardown would: `kind delete cluster`, then the host changes its creating run recorded
/// ([`HostChanges::recorded`]) are undone and the engine's objects still labelled for it are
/// listed (the leftovers; empty when all is gone). A cluster that no longer exists is not an
/// error: what its run recorded is still undone. The commands and their output go to `log`.
///
/// Errors: those of [`check_environment`] (`pinned_kind` is the pin set's `tools.kind`) and
/// of [`down`].
pub fn delete_kept(
    tools: &Tools,
    name: &str,
    pinned_kind: &str,
    log: &Path,
) -> Result<Vec<DockerLeftover>> {
    check_environment(tools, pinned_kind)?;
    let cluster = KindCluster {
        name: name.to_owned(),
        kubeconfig: state_dir(name).join("kubeconfig"),
        reused: false,
        log: log.to_owned(),
        tools: tools.clone(),
        made: HostChanges::recorded(&state_dir(name)),
    };
    down(&cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a creating run records is what a later deleting run reads back; no changes, no
    /// file; a missing or unreadable file reads as no changes.
    #[test]
    fn host_changes_outlive_the_run_that_made_them() {
        let state = tempfile::tempdir().unwrap();
        HostChanges::default().record(state.path()).unwrap();
        assert!(!state.path().join(HOST_CHANGES_FILE).exists());
        let made = HostChanges {
            lib_modules: false,
            network: true,
        };
        made.record(state.path()).unwrap();
        assert_eq!(HostChanges::recorded(state.path()), made);
        std::fs::write(state.path().join(HOST_CHANGES_FILE), "not json").unwrap();
        assert_eq!(HostChanges::recorded(state.path()), HostChanges::default());
        let error = made.record(&state.path().join("missing")).unwrap_err();
        assert!(
            error.to_string().contains("missing/host-changes.json"),
            "{error}"
        );
    }
}
