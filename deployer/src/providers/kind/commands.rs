//! The command lines the kind provider runs, as data (so they can be shown, logged and
//! tested without Docker).

use std::fmt;
use std::path::Path;

/// A program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The program (`kind`, `docker`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl CommandLine {
    fn new(program: &str, args: &[&str]) -> CommandLine {
        CommandLine {
            program: program.to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        }
    }

    /// A `std::process::Command` for it.
    pub fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args);
        command
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

/// `kind get clusters`: one name per line.
pub fn get_clusters() -> CommandLine {
    CommandLine::new("kind", &["get", "clusters"])
}

/// `kind version`, to compare with the pinned release.
pub fn version() -> CommandLine {
    CommandLine::new("kind", &["version"])
}

/// `docker info`: whether the engine answers.
pub fn docker_info() -> CommandLine {
    CommandLine::new("docker", &["info", "--format", "{{.ServerVersion}}"])
}

/// `kind create cluster` with the generated config, the pinned node image (by digest) and a
/// kubeconfig of its own (the user's `~/.kube/config` is left alone).
pub fn create(name: &str, config: &Path, node_image: &str, kubeconfig: &Path) -> CommandLine {
    CommandLine::new(
        "kind",
        &[
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
        ],
    )
}

/// `kind export kubeconfig` for a reused cluster.
pub fn export_kubeconfig(name: &str, kubeconfig: &Path) -> CommandLine {
    CommandLine::new(
        "kind",
        &[
            "export",
            "kubeconfig",
            "--name",
            name,
            "--kubeconfig",
            &kubeconfig.display().to_string(),
        ],
    )
}

/// `kind load docker-image` of a locally built image into every node.
pub fn load_image(name: &str, image: &str) -> CommandLine {
    CommandLine::new("kind", &["load", "docker-image", image, "--name", name])
}

/// `kind delete cluster`.
pub fn delete(name: &str, kubeconfig: &Path) -> CommandLine {
    CommandLine::new(
        "kind",
        &[
            "delete",
            "cluster",
            "--name",
            name,
            "--kubeconfig",
            &kubeconfig.display().to_string(),
        ],
    )
}

/// The Docker listings that find a cluster's leftovers: containers, volumes and networks
/// carrying kind's cluster label, one name per line.
pub fn leftover_listings(name: &str) -> Vec<(&'static str, CommandLine)> {
    let filter = format!("label={CLUSTER_LABEL}={name}");
    vec![
        (
            "container",
            CommandLine::new(
                "docker",
                &["ps", "--all", "--filter", &filter, "--format", "{{.Names}}"],
            ),
        ),
        (
            "volume",
            CommandLine::new(
                "docker",
                &["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"],
            ),
        ),
        (
            "network",
            CommandLine::new(
                "docker",
                &[
                    "network",
                    "ls",
                    "--filter",
                    &filter,
                    "--format",
                    "{{.Name}}",
                ],
            ),
        ),
    ]
}

/// What teardown runs: nothing for a reused cluster (it is left running); else `kind delete
/// cluster` and the leftover listings.
pub fn teardown_plan(name: &str, kubeconfig: &Path, reused: bool) -> Vec<CommandLine> {
    if reused {
        return Vec::new();
    }
    std::iter::once(delete(name, kubeconfig))
        .chain(
            leftover_listings(name)
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
        assert_eq!(
            create("seatrial", Path::new("/report/kind-config.yaml"), "registry.example.test/node:v9.9.9@sha256:0123", kubeconfig).to_string(),
            "kind create cluster --name seatrial --config /report/kind-config.yaml --image registry.example.test/node:v9.9.9@sha256:0123 --kubeconfig /state/kind/seatrial/kubeconfig --wait 180s"
        );
        assert_eq!(
            load_image("seatrial", "localhost/jupyterlab:dev").to_string(),
            "kind load docker-image localhost/jupyterlab:dev --name seatrial"
        );
        assert_eq!(
            docker_info().to_string(),
            "docker info --format '{{.ServerVersion}}'"
        );
    }

    #[test]
    fn teardown_plans() {
        let kubeconfig = Path::new("/k");
        assert_eq!(
            lines(&teardown_plan("seatrial", kubeconfig, false)),
            [
                "kind delete cluster --name seatrial --kubeconfig /k",
                "docker ps --all --filter label=io.x-k8s.kind.cluster=seatrial --format '{{.Names}}'",
                "docker volume ls --filter label=io.x-k8s.kind.cluster=seatrial --format '{{.Name}}'",
                "docker network ls --filter label=io.x-k8s.kind.cluster=seatrial --format '{{.Name}}'",
            ]
        );
        assert!(
            teardown_plan("seatrial", kubeconfig, true).is_empty(),
            "a reused cluster is left running"
        );
    }
}
