//! The command lines the kind provider runs, as data (so they can be shown, logged and
//! tested without Docker).

use std::fmt;
use std::path::Path;

use crate::config::KindEngine;

/// A program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The program (`kind`, `docker`, `podman`, or a path to one).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment it runs with besides the inherited one (podman's configuration files; no
    /// secrets), not shown by `Display`.
    pub env: Vec<(String, String)>,
}

impl CommandLine {
    fn new(program: &str, args: &[&str]) -> CommandLine {
        CommandLine {
            program: program.to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            env: Vec::new(),
        }
    }

    /// A `std::process::Command` for it.
    pub fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args);
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        command
    }
}

/// What the kind provider runs: the `kind` program, the container engine and the
/// environment both run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// The `kind` program (a path, or `kind` from PATH).
    pub kind: String,
    /// The container engine.
    pub engine: KindEngine,
    /// The environment of every command (podman's configuration, `KIND_EXPERIMENTAL_PROVIDER`).
    pub env: Vec<(String, String)>,
}

impl Tools {
    /// `kind` from PATH with Docker.
    pub fn docker() -> Tools {
        Tools {
            kind: "kind".into(),
            engine: KindEngine::Docker,
            env: Vec::new(),
        }
    }

    fn kind(&self, args: &[&str]) -> CommandLine {
        CommandLine {
            env: self.env.clone(),
            ..CommandLine::new(&self.kind, args)
        }
    }

    fn engine(&self, args: &[&str]) -> CommandLine {
        CommandLine {
            env: self.env.clone(),
            ..CommandLine::new(&self.engine.to_string(), args)
        }
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for arg in &self.args {
            if arg.contains([' ', '\'', '"', '{', '}']) {
                write!(f, " '{}'", arg.replace('\'', r"'\''"))?;
            } else {
                write!(f, " {arg}")?;
            }
        }
        Ok(())
    }
}

/// The Docker label kind puts on every container, volume and network of a cluster.
pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";

/// The network kind attaches every node to (kind's own name; shared by its clusters and not
/// removed by `kind delete cluster`).
pub const KIND_NETWORK: &str = "kind";

/// `kind get clusters`: one name per line.
pub fn get_clusters(tools: &Tools) -> CommandLine {
    tools.kind(&["get", "clusters"])
}

/// `kind version`, to compare with the pinned release.
pub fn version(tools: &Tools) -> CommandLine {
    tools.kind(&["version"])
}

/// `docker info` / `podman info`: whether the engine answers.
pub fn engine_info(tools: &Tools) -> CommandLine {
    match tools.engine {
        KindEngine::Docker => tools.engine(&["info", "--format", "{{.ServerVersion}}"]),
        KindEngine::Podman => tools.engine(&["info", "--format", "{{.Version.Version}}"]),
    }
}

/// `<engine> image inspect <reference>`: succeeds when the engine has the image.
pub fn image_present(tools: &Tools, reference: &str) -> CommandLine {
    tools.engine(&["image", "inspect", "--format", "{{.Id}}", reference])
}

/// `<engine> load --input <archive>`: an image archive (OCI layout or Docker) into the engine.
pub fn engine_load(tools: &Tools, archive: &Path) -> CommandLine {
    tools.engine(&["load", "--input", &archive.display().to_string()])
}

/// `<engine> network ls` of kind's network: its name when it exists.
pub fn kind_network(tools: &Tools) -> CommandLine {
    let filter = format!("name=^{KIND_NETWORK}$");
    tools.engine(&[
        "network",
        "ls",
        "--filter",
        &filter,
        "--format",
        "{{.Name}}",
    ])
}

/// `<engine> exec <container> <command…>`: a command in a node's container (kind names a
/// cluster's one node `<cluster>-control-plane`).
pub fn node_exec(tools: &Tools, container: &str, command: &[&str]) -> CommandLine {
    let mut args = vec!["exec", container];
    args.extend_from_slice(command);
    tools.engine(&args)
}

/// `<engine> network rm kind`.
pub fn remove_kind_network(tools: &Tools) -> CommandLine {
    tools.engine(&["network", "rm", KIND_NETWORK])
}

/// `kind create cluster` with the generated config, the pinned node image (by digest) and a
/// kubeconfig of its own (the user's `~/.kube/config` is left alone).
pub fn create(
    tools: &Tools,
    name: &str,
    config: &Path,
    node_image: &str,
    kubeconfig: &Path,
) -> CommandLine {
    tools.kind(&[
        "create",
        "cluster",
        "--name",
        name,
        "--config",
        &config.display().to_string(),
        "--image",
        node_image,
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--wait",
        "180s",
    ])
}

/// `kind export kubeconfig` for a reused cluster.
pub fn export_kubeconfig(tools: &Tools, name: &str, kubeconfig: &Path) -> CommandLine {
    tools.kind(&[
        "export",
        "kubeconfig",
        "--name",
        name,
        "--kubeconfig",
        &kubeconfig.display().to_string(),
    ])
}

/// `kind load docker-image` of a locally built image into every node.
pub fn load_image(tools: &Tools, name: &str, image: &str) -> CommandLine {
    tools.kind(&["load", "docker-image", image, "--name", name])
}

/// `kind load image-archive` of an image archive (OCI layout) into every node.
pub fn load_image_archive(tools: &Tools, name: &str, archive: &Path) -> CommandLine {
    tools.kind(&[
        "load",
        "image-archive",
        &archive.display().to_string(),
        "--name",
        name,
    ])
}

/// `kind delete cluster`.
pub fn delete(tools: &Tools, name: &str, kubeconfig: &Path) -> CommandLine {
    tools.kind(&[
        "delete",
        "cluster",
        "--name",
        name,
        "--kubeconfig",
        &kubeconfig.display().to_string(),
    ])
}

/// The engine listings that find a cluster's leftovers: containers, volumes and networks
/// carrying kind's cluster label, one name per line (the same flags on Docker and podman).
pub fn leftover_listings(tools: &Tools, name: &str) -> Vec<(&'static str, CommandLine)> {
    let filter = format!("label={CLUSTER_LABEL}={name}");
    vec![
        (
            "container",
            tools.engine(&["ps", "--all", "--filter", &filter, "--format", "{{.Names}}"]),
        ),
        (
            "volume",
            tools.engine(&["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"]),
        ),
        (
            "network",
            tools.engine(&[
                "network",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Name}}",
            ]),
        ),
    ]
}

/// What teardown runs: nothing for a reused cluster (it is left running); else `kind delete
/// cluster` and the leftover listings.
pub fn teardown_plan(
    tools: &Tools,
    name: &str,
    kubeconfig: &Path,
    reused: bool,
) -> Vec<CommandLine> {
    if reused {
        return Vec::new();
    }
    std::iter::once(delete(tools, name, kubeconfig))
        .chain(
            leftover_listings(tools, name)
                .into_iter()
                .map(|(_, command)| command),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(commands: &[CommandLine]) -> Vec<String> {
        commands.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn command_lines() {
        let kubeconfig = Path::new("/state/kind/seatrial/kubeconfig");
        let tools = Tools::docker();
        assert_eq!(
            create(&tools, "seatrial", Path::new("/report/kind-config.yaml"), "registry.example.test/node:v9.9.9@sha256:0123", kubeconfig).to_string(),
            "kind create cluster --name seatrial --config /report/kind-config.yaml --image registry.example.test/node:v9.9.9@sha256:0123 --kubeconfig /state/kind/seatrial/kubeconfig --wait 180s"
        );
        assert_eq!(
            load_image(&tools, "seatrial", "localhost/jupyterlab:dev").to_string(),
            "kind load docker-image localhost/jupyterlab:dev --name seatrial"
        );
        assert_eq!(
            engine_info(&tools).to_string(),
            "docker info --format '{{.ServerVersion}}'"
        );
        let podman = Tools {
            kind: "/cache/kind".into(),
            engine: KindEngine::Podman,
            env: vec![(
                "CONTAINERS_CONF".into(),
                "/state/podman/containers.conf".into(),
            )],
        };
        assert_eq!(
            load_image_archive(&podman, "seatrial", Path::new("/images/hub.tar")).to_string(),
            "/cache/kind load image-archive /images/hub.tar --name seatrial"
        );
        let load = engine_load(&podman, Path::new("/images/node.tar"));
        assert_eq!(load.to_string(), "podman load --input /images/node.tar");
        assert_eq!(
            load.env, podman.env,
            "podman runs with the provider's configuration"
        );
        let exec = node_exec(&podman, "seatrial-control-plane", &["iptables", "-S"]);
        assert_eq!(
            exec.to_string(),
            "podman exec seatrial-control-plane iptables -S"
        );
        assert_eq!(exec.env, podman.env);
    }

    #[test]
    fn teardown_plans() {
        let kubeconfig = Path::new("/k");
        assert_eq!(
            lines(&teardown_plan(&Tools::docker(), "seatrial", kubeconfig, false)),
            [
                "kind delete cluster --name seatrial --kubeconfig /k",
                "docker ps --all --filter label=io.x-k8s.kind.cluster=seatrial --format '{{.Names}}'",
                "docker volume ls --filter label=io.x-k8s.kind.cluster=seatrial --format '{{.Name}}'",
                "docker network ls --filter label=io.x-k8s.kind.cluster=seatrial --format '{{.Name}}'",
            ]
        );
        assert!(
            teardown_plan(&Tools::docker(), "seatrial", kubeconfig, true).is_empty(),
            "a reused cluster is left running"
        );
    }
}
