//! `cargo xtask local build|up|down|status`: the local cluster with a real node.

use clap::Subcommand;
use deployer::providers::binaries::ClusterBinaries;
use deployer::providers::local::{self, LocalPaths, LOCAL_RECIPES};

use crate::exit;

/// The `local` subcommands (the group's help text is on `Command` in main.rs).
#[derive(Subcommand)]
pub enum Local {
    /// Build the binaries (Kubernetes, etcd, containerd, runc, CNI plugins, crictl, CoreDNS
    /// at their pins, from the Go module proxy) and the pause image; once, then cached.
    Build,
    /// Start the cluster, or reuse a healthy running one; prints the kubeconfig path.
    Up,
    /// Stop the cluster and remove everything it made: processes, pods, mounts, network
    /// namespaces, the bridge, iptables chains, cgroups, sysctls and the state directory.
    Down,
    /// Tell what runs, where, each component's log, and what a stopped cluster left.
    Status,
}

/// The binaries and the pause image a local cluster needs, built when missing.
pub fn ensure_built() -> Result<(ClusterBinaries, deployer::images::BuiltImage), u8> {
    let binaries =
        harness::cluster_build::ensure(&LOCAL_RECIPES, &crate::terminal::Terminal::new())
            .map_err(|error| exit::report(&error))?;
    let version = binaries.kubernetes_version();
    let pause = deployer::images::pause::ensure(&version).map_err(|error| exit::report(&error))?;
    if pause.built {
        eprintln!(
            "built the pause image {} ({})",
            pause.reference,
            pause.archive.display()
        );
    }
    Ok((binaries, pause))
}

impl Local {
    pub async fn run(self) -> u8 {
        let paths = LocalPaths::from_env();
        match self {
            Local::Build => match ensure_built() {
                Ok((binaries, pause)) => {
                    crate::hollow::print_binaries(&binaries);
                    println!(
                        "pause image: {} ({})",
                        pause.reference,
                        pause.archive.display()
                    );
                    exit::SUCCESS
                }
                Err(code) => code,
            },
            Local::Up => {
                let (binaries, pause) = match ensure_built() {
                    Ok(built) => built,
                    Err(code) => return code,
                };
                match local::up_interruptible(&paths, &binaries, &pause, &[]).await {
                    Ok(up) => {
                        let verb = crate::hollow::up_verb(up.reused);
                        println!(
                            "{verb} local cluster (Kubernetes {}, node {}) in {:.1} s\n  API server: {}\n  kubeconfig: {}\n  try: kubectl --kubeconfig {} get pods -A",
                            up.state.version,
                            local::NODE_NAME,
                            up.seconds,
                            up.state.api_server_url,
                            up.state.kubeconfig.display(),
                            up.state.kubeconfig.display()
                        );
                        exit::SUCCESS
                    }
                    Err(error) => exit::report(&error),
                }
            }
            Local::Down => match local::down(&paths) {
                Ok(stopped) if stopped.is_empty() => {
                    println!("no local cluster was running; nothing of one remains");
                    exit::SUCCESS
                }
                Ok(stopped) => {
                    println!(
                        "stopped {} and removed everything the cluster made",
                        stopped.join(", ")
                    );
                    exit::SUCCESS
                }
                Err(error) => exit::report(&error),
            },
            Local::Status => status(&paths),
        }
    }
}

fn status(paths: &LocalPaths) -> u8 {
    let state = match deployer::providers::processes::read_state(&paths.state_dir) {
        Ok(state) => state,
        Err(error) => return exit::report(&error),
    };
    let Some(state) = state else {
        println!(
            "cluster: not running (no state in {})",
            paths.state_dir.display()
        );
        return exit::SUCCESS;
    };
    println!(
        "cluster: {} (Kubernetes {}), node {}",
        state.api_server_url,
        state.version,
        local::NODE_NAME
    );
    crate::hollow::print_components(&state, "local")
}
