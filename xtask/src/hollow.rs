//! `cargo xtask hollow build|up|down|status`.

use clap::Subcommand;
use deployer::providers::hollow::build::{ensure_binaries, BuildOutcome};
use deployer::providers::hollow::cluster::{self, DEFAULT_NODES};
use deployer::providers::hollow::HollowPaths;

use crate::exit;

/// The `hollow` subcommands (the group's help text is on `Command` in main.rs).
#[derive(Subcommand)]
pub enum Hollow {
    /// Build the Kubernetes binaries from Debian's source package (once; about 10 minutes).
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
            Hollow::Build => match ensure_binaries(&paths) {
                Ok(BuildOutcome::Present) => {
                    println!("hollow binaries present in {}", paths.bin_dir.display());
                    exit::SUCCESS
                }
                Ok(BuildOutcome::Built { seconds }) => {
                    println!(
                        "built the hollow binaries into {} in {seconds:.0} s",
                        paths.bin_dir.display()
                    );
                    exit::SUCCESS
                }
                Err(error) => exit::report(&error),
            },
            Hollow::Up { nodes } => match cluster::up(&paths, nodes).await {
                Ok(up) => {
                    let verb = if up.reused {
                        "reused the running"
                    } else {
                        "started a"
                    };
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
            },
            Hollow::Down => match cluster::down(&paths) {
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
            },
            Hollow::Status => status(&paths),
        }
    }
}

fn status(paths: &HollowPaths) -> u8 {
    println!(
        "binaries: {}{}",
        paths.bin_dir.display(),
        if paths.prebuilt {
            " (SEATRIAL_HOLLOW_BIN)"
        } else {
            ""
        }
    );
    let missing = deployer::providers::hollow::build::missing_binaries(&paths.bin_dir);
    if !missing.is_empty() {
        println!(
            "  missing: {} (run `cargo xtask hollow build`)",
            missing.join(", ")
        );
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
    println!("kubeconfig: {}", state.kubeconfig.display());
    for component in &state.components {
        let running = if component.is_running() {
            "running"
        } else {
            "NOT RUNNING"
        };
        let port = component
            .port
            .map(|port| format!(" 127.0.0.1:{port}"))
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
        println!("some components stopped: run `cargo xtask hollow down`, then `up`");
        exit::ENVIRONMENT_MISSING
    }
}
