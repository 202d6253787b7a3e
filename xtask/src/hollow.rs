//! `cargo xtask hollow build|up|down|status`.

use clap::Subcommand;
use deployer::providers::binaries::{self, BIN_ENV};
use deployer::providers::hollow::cluster::{self, DEFAULT_NODES};
use deployer::providers::hollow::{HollowPaths, HOLLOW_RECIPES};

use crate::exit;

/// The `hollow` subcommands (the group's help text is on `Command` in main.rs).
#[derive(Subcommand)]
pub enum Hollow {
    /// Build the binaries (Kubernetes and etcd at their pins, from the Go module proxy; once).
    Build,
    /// Start the cluster, or reuse a healthy running one; prints the kubeconfig path.
    Up {
        /// Number of hollow nodes.
        #[arg(long, default_value_t = DEFAULT_NODES)]
        nodes: usize,
    },
    /// Stop exactly the processes `up` started and remove the state directory.
    Down,
    /// Tell what runs, where, and the kubeconfig to use.
    Status,
}

impl Hollow {
    pub async fn run(self) -> u8 {
        let paths = HollowPaths::from_env();
        match self {
            Hollow::Build => match harness::cluster_build::ensure(
                &HOLLOW_RECIPES,
                &crate::terminal::Terminal::new(),
            ) {
                Ok(found) => {
                    print_binaries(&found);
                    exit::SUCCESS
                }
                Err(error) => exit::report(&error),
            },
            Hollow::Up { nodes } => {
                let found = match harness::cluster_build::ensure(
                    &HOLLOW_RECIPES,
                    &crate::terminal::Terminal::new(),
                ) {
                    Ok(found) => found,
                    Err(error) => return exit::report(&error),
                };
                up(&paths, nodes, &found).await
            }
            Hollow::Down => down(&paths),
            Hollow::Status => status(&paths),
        }
    }
}

/// Prints where the binaries are and their versions.
pub fn print_binaries(found: &binaries::ClusterBinaries) {
    let versions: Vec<String> = found
        .versions
        .iter()
        .map(|(name, version)| format!("{name} {version}"))
        .collect();
    println!("binaries: {}", versions.join(", "));
    for dir in found.dirs() {
        println!("  {}", dir.display());
    }
}

async fn up(paths: &HollowPaths, nodes: usize, found: &binaries::ClusterBinaries) -> u8 {
    match cluster::up(paths, nodes, found).await {
        Ok(up) => {
            let verb = up_verb(up.reused);
            println!(
                        "{verb} hollow cluster with {} nodes in {:.1} s\n  API server: {}\n  kubeconfig: {}\n  try: kubectl --kubeconfig {} get nodes",
                        up.state.nodes,
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

fn down(paths: &HollowPaths) -> u8 {
    match cluster::down(paths) {
        Ok(stopped) if stopped.is_empty() => {
            println!(
                "no hollow cluster was running (state: {})",
                paths.state_dir.display()
            );
            exit::SUCCESS
        }
        Ok(stopped) => {
            println!(
                "stopped {} and removed {}",
                stopped.join(", "),
                paths.state_dir.display()
            );
            exit::SUCCESS
        }
        Err(error) => exit::report(&error),
    }
}

fn status(paths: &HollowPaths) -> u8 {
    match std::env::var_os(BIN_ENV) {
        Some(dir) if !dir.is_empty() => {
            println!(
                "binaries: {} ({BIN_ENV})",
                std::path::Path::new(&dir).display()
            )
        }
        _ => println!(
            "binaries: cached under {} (`cargo xtask hollow build` builds what is missing)",
            binaries::cache_root().display()
        ),
    }
    let state = match cluster::read_state(paths) {
        Ok(Some(state)) => state,
        Ok(None) => {
            println!(
                "cluster: not running (no state in {})",
                paths.state_dir.display()
            );
            return exit::SUCCESS;
        }
        Err(error) => return exit::report(&error),
    };
    println!(
        "cluster: {} with {} hollow nodes",
        state.api_server_url, state.nodes
    );
    print_components(&state, "hollow")
}

/// Prints a recorded cluster's kubeconfig and components (pid, running, port, log); exit 0
/// when all run, else 4 with the hint to run `cargo xtask <command> down`.
pub fn print_components(state: &cluster::ClusterState, command: &str) -> u8 {
    println!("kubeconfig: {}", state.kubeconfig.display());
    for component in &state.components {
        let running = if component.is_running() {
            "running"
        } else {
            "NOT RUNNING"
        };
        let port = component
            .port
            .map(|port| format!(" port {port}"))
            .unwrap_or_default();
        println!(
            "  {:<24} pid {:<8} {running}{port}  log: {}",
            component.name,
            component.pid,
            component.log.display()
        );
    }
    if state.stopped_components().is_empty() {
        exit::SUCCESS
    } else {
        println!("some components stopped: run `cargo xtask {command} down`, then `up`");
        exit::ENVIRONMENT_MISSING
    }
}

/// "reused the running" or "started a", for `up`'s first line.
pub fn up_verb(reused: bool) -> &'static str {
    if reused {
        "reused the running"
    } else {
        "started a"
    }
}
