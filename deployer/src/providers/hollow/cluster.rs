//! Starting, checking and stopping the hollow cluster's processes.
//!
//! `up` picks free loopback ports, starts etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and N kubemark hollow nodes in their own process groups (so Ctrl-C in the
//! terminal does not reach them), records each pid in `state.json` as soon as it is spawned,
//! writes a kubeconfig, and waits for `/readyz` and for the nodes to be Ready. `down` signals
//! exactly the recorded pids, after checking that each still runs the recorded binary (a pid
//! can be reused), and removes the state directory. Logs go to `<state>/logs/<component>.log`.

use std::fs;
use std::net::IpAddr;
use std::time::Instant;

use super::HollowPaths;
use crate::error::{Error, Result};
use crate::providers::binaries::ClusterBinaries;
use crate::providers::control_plane::{self, ControlPlaneOptions};
use crate::providers::processes::{
    cluster_io, free_port, spawn, stop_components, wait_nodes_ready,
};
pub use crate::providers::processes::{ClusterState, Component, Up};
use crate::providers::{connect, Connection};

/// Default number of hollow nodes.
pub const DEFAULT_NODES: usize = 2;

/// Reads `<state>/state.json`, if there is one.
pub fn read_state(paths: &HollowPaths) -> Result<Option<ClusterState>> {
    crate::providers::processes::read_state(&paths.state_dir)
}

/// The hint every hollow error ends with.
pub const UP_HINT: &str =
    "run `cargo xtask hollow up` (or `cargo xtask hollow status` to see what runs)";

/// Brings the cluster up with `nodes` hollow nodes, or reuses a healthy running one.
///
/// `binaries` are those of [`super::HOLLOW_RECIPES`] (see
/// [`crate::providers::binaries::ensure`]). A recorded cluster
/// whose processes are all gone is forgotten. Errors: a recorded cluster that is partly
/// running or has another node count ([`Error::Cluster`], saying which
/// process and which log, and to run `down`); a process that exits or a wait that expires
/// while starting ([`Error::Cluster`] with the log file; what was started is stopped again).
pub async fn up(paths: &HollowPaths, nodes: usize, binaries: &ClusterBinaries) -> Result<Up> {
    let started = Instant::now();
    let recorded = read_state(paths)?;
    let recorded = match recorded {
        // Every process is gone (a reboot, an ended session): nothing to reuse or to stop.
        Some(state) if state.stopped_components().len() == state.components.len() => {
            tracing::info!(state = %paths.state_dir.display(), "the recorded hollow cluster's processes are all gone; starting afresh");
            None
        }
        other => other,
    };
    if let Some(state) = recorded {
        let stopped = state.stopped_components();
        if let Some(component) = stopped.first() {
            return Err(Error::Cluster {
                message: format!(
                    "a hollow cluster is recorded in {} but {} (pid {}) is not running; its log: {}\n  hint: run `cargo xtask hollow down`, then `up` again",
                    paths.state_dir.display(),
                    component.name,
                    component.pid,
                    component.log.display()
                ),
            });
        }
        if state.nodes != nodes {
            return Err(Error::Cluster {
                message: format!(
                    "a hollow cluster with {} nodes is running; {nodes} were asked for\n  hint: run `cargo xtask hollow down` first",
                    state.nodes
                ),
            });
        }
        let connection = connect(&state.kubeconfig, None, UP_HINT).await?;
        let names: Vec<String> = (0..nodes)
            .map(|index| format!("hollow-node-{index}"))
            .collect();
        wait_nodes_ready(&connection, &names).await?;
        return Ok(Up {
            state,
            connection,
            reused: true,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let mut state = ClusterState::new(binaries, paths.kubeconfig(), nodes);
    match start(paths, binaries, &mut state).await {
        Ok(connection) => Ok(Up {
            state,
            connection,
            reused: false,
            seconds: started.elapsed().as_secs_f64(),
        }),
        Err(error) => {
            // Leave nothing running behind a failed start, but keep the logs to read.
            stop_components(&state);
            let _ = fs::remove_file(paths.state_dir.join("state.json"));
            Err(error)
        }
    }
}

async fn start(
    paths: &HollowPaths,
    binaries: &ClusterBinaries,
    state: &mut ClusterState,
) -> Result<Connection> {
    let state_dir = &paths.state_dir;
    if state_dir.exists() {
        // No state.json but a directory: leftovers of a failed start; keep nothing of it.
        fs::remove_dir_all(state_dir).map_err(|error| cluster_io(state_dir, error))?;
    }
    let options = ControlPlaneOptions {
        address: IpAddr::from([127, 0, 0, 1]),
        service_cidr: "10.0.0.0/24".to_owned(),
        apiserver_flags: vec![
            // Since 1.3x the endpoint reconciler refuses a loopback address; nothing in a
            // hollow cluster reaches the API server through the `kubernetes` Service.
            "--endpoint-reconciler-type=none".to_owned(),
            "--authorization-mode=RBAC".to_owned(),
        ],
        controller_flags: vec![
            "--controllers=*,-nodeipam".to_owned(),
            // Hollow kubelets share two cores with compilers and tests; a late heartbeat must
            // not turn nodes NotReady (and every pod unready) as the default 40 s grace would.
            "--node-monitor-grace-period=5m".to_owned(),
        ],
        controller_env: Vec::new(),
        users: Vec::new(),
        hint: UP_HINT.to_owned(),
    };
    let mut control_plane = control_plane::start(state_dir, binaries, state, &options).await?;
    let kubeconfig = state.kubeconfig.display().to_string();
    // The patched kubelet code in kubemark then leaves the host's iptables alone.
    let hollow_env = [("SEATRIAL_HOLLOW_NODE", "1".to_owned())];
    let mut names = Vec::new();
    for index in 0..state.nodes {
        let kubelet_port = free_port(&mut control_plane.taken_ports)?;
        let name = format!("hollow-node-{index}");
        spawn(
            state_dir,
            state,
            &name,
            &binaries.path("kubemark"),
            Some(kubelet_port),
            &[
                "--morph=kubelet".to_owned(),
                format!("--name={name}"),
                format!("--kubeconfig={kubeconfig}"),
                format!("--kubelet-port={kubelet_port}"),
                "--kubelet-read-only-port=0".to_owned(),
                // The fake runtime's image service, not a real containerd's socket.
                "--use-host-image-service=false".to_owned(),
                format!("--cert-dir={}", state_dir.join("tmp").display()),
            ],
            &hollow_env,
        )?;
        names.push(name);
    }
    wait_nodes_ready(&control_plane.connection, &names)
        .await
        .map_err(|error| Error::Cluster {
            message: format!(
                "{}; node logs: {}",
                host::error_chain(&error),
                state_dir.join("logs").display()
            ),
        })?;
    Ok(control_plane.connection)
}

/// Stops the recorded cluster and removes its state directory.
///
/// Returns the names of the components that were stopped (an empty list when nothing was
/// recorded). Only pids recorded in `state.json` that still run their recorded binary are
/// signalled: SIGTERM, then SIGKILL after 15 s.
pub fn down(paths: &HollowPaths) -> Result<Vec<String>> {
    let stopped = match read_state(paths)? {
        Some(state) => stop_components(&state),
        None => Vec::new(),
    };
    if paths.state_dir.exists() {
        fs::remove_dir_all(&paths.state_dir)
            .map_err(|error| cluster_io(&paths.state_dir, error))?;
    }
    Ok(stopped)
}
