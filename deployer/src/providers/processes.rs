//! The processes of a cluster this project runs (hollow or local): starting each in its own
//! process group with its log, recording its pid in `<state>/state.json` as soon as it is
//! spawned, waiting for its port, and stopping exactly the recorded pids.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::wait::await_condition;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::providers::{connect, Connection};
use host::logs::tail as log_tail;

/// How long `up` waits for the API server to answer `/readyz`.
const API_SERVER_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `up` waits for the nodes to be Ready.
const NODES_READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long `down` waits for a process to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// One process of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Component {
    /// `etcd`, `kube-apiserver`, …, `hollow-node-0`, `kubelet`.
    pub name: String,
    /// Its pid.
    pub pid: i32,
    /// The binary it runs (canonical path).
    pub binary: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// The loopback port it serves on, when it serves one.
    pub port: Option<u16>,
}

impl Component {
    /// Whether the pid is alive (not a zombie) and still runs [`Component::binary`].
    pub fn is_running(&self) -> bool {
        host::process::runs(self.pid, &self.binary)
    }
}

/// The outcome of a cluster's `up` (hollow or local).
#[derive(Debug)]
pub struct Up {
    /// The cluster's state.
    pub state: ClusterState,
    /// A connected admin client.
    pub connection: Connection,
    /// True when a healthy cluster was already running and was reused.
    pub reused: bool,
    /// Seconds `up` took (builds excluded).
    pub seconds: f64,
}

/// What `up` recorded about a running cluster (`<state>/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterState {
    /// Kubernetes version of the binaries.
    pub version: String,
    /// `https://127.0.0.1:<port>`.
    pub api_server_url: String,
    /// The kubeconfig `up` wrote (token auth; the file is mode 0600).
    pub kubeconfig: PathBuf,
    /// Number of hollow nodes.
    pub nodes: usize,
    /// Processes in start order.
    pub components: Vec<Component>,
}

impl ClusterState {
    /// The state of a cluster about to start: the Kubernetes version of `binaries`, no
    /// components yet.
    pub fn new(
        binaries: &crate::providers::binaries::ClusterBinaries,
        kubeconfig: PathBuf,
        nodes: usize,
    ) -> ClusterState {
        ClusterState {
            version: binaries.kubernetes_version(),
            api_server_url: String::new(),
            kubeconfig,
            nodes,
            components: Vec::new(),
        }
    }

    /// The components whose process is not running.
    pub fn stopped_components(&self) -> Vec<&Component> {
        self.components
            .iter()
            .filter(|component| !component.is_running())
            .collect()
    }
}

/// Reads `<state>/state.json`, if there is one.
pub fn read_state(state_dir: &Path) -> Result<Option<ClusterState>> {
    let file = state_dir.join("state.json");
    match fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| Error::Cluster {
                message: format!(
                    "{} is corrupt ({error}); run the cluster's `down` command",
                    file.display()
                ),
            }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path: file, source }),
    }
}

pub(crate) fn write_state(state_dir: &Path, state: &ClusterState) -> Result<()> {
    let file = state_dir.join("state.json");
    let text = serde_json::to_string_pretty(state).expect("the state serializes");
    fs::write(&file, text).map_err(|error| cluster_io(&file, error))
}

pub(crate) fn spawn(
    state_dir: &Path,
    state: &mut ClusterState,
    name: &str,
    binary: &Path,
    port: Option<u16>,
    args: &[String],
    env: &[(&str, String)],
) -> Result<()> {
    let binary = binary
        .canonicalize()
        .map_err(|error| cluster_io(binary, error))?;
    let log = state_dir.join("logs").join(format!("{name}.log"));
    let out = fs::File::create(&log).map_err(|error| cluster_io(&log, error))?;
    let err = out.try_clone().map_err(|error| cluster_io(&log, error))?;
    let child = Command::new(&binary)
        .args(args)
        // kubemark makes its kubelet's root directory under TMPDIR; keep it in the state dir.
        .env("TMPDIR", state_dir.join("tmp"))
        .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|error| Error::Cluster {
            message: format!("failed to start {name} ({}): {error}", binary.display()),
        })?;
    let pid = i32::try_from(child.id()).expect("pids fit in i32");
    tracing::info!(component = name, pid, "started");
    state.components.push(Component {
        name: name.to_owned(),
        pid,
        binary,
        log,
        port,
    });
    write_state(state_dir, state)
}

pub(crate) fn died(state: &ClusterState, name: &str) -> Option<Error> {
    let component = state
        .components
        .iter()
        .find(|component| component.name == name)?;
    (!component.is_running()).then(|| Error::Cluster {
        message: format!(
            "{name} exited while starting; its log: {}\n{}",
            component.log.display(),
            log_tail(&component.log, 5)
        ),
    })
}

/// Waits until `address:port` accepts a connection, failing early if `name` exits.
pub(crate) async fn wait_tcp(
    state: &ClusterState,
    name: &str,
    address: std::net::IpAddr,
    port: u16,
    timeout: Duration,
) -> Result<()> {
    // A process that is starting offers nothing to watch; retry a loopback connect briefly.
    let deadline = Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect((address, port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(error) = died(state, name) {
            return Err(error);
        }
        if Instant::now() > deadline {
            return Err(Error::Cluster {
                message: format!(
                    "{name} did not listen on {address}:{port} within {} s",
                    timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn wait_api_server(
    state: &ClusterState,
    api_cert: &Path,
    token: &str,
    hint: &str,
) -> Result<Connection> {
    let deadline = Instant::now() + API_SERVER_READY_TIMEOUT;
    let mut last = String::from("not started");
    loop {
        if let Some(error) = died(state, "kube-apiserver") {
            return Err(error);
        }
        if api_cert.is_file() {
            write_kubeconfig(&state.kubeconfig, &state.api_server_url, api_cert, token)?;
            match connect(&state.kubeconfig, None, hint).await {
                Ok(connection) => {
                    let request = http::Request::get("/readyz")
                        .body(Vec::new())
                        .expect("a valid request");
                    match connection.client.request_text(request).await {
                        Ok(body) if body.trim() == "ok" => return Ok(connection),
                        Ok(body) => last = body,
                        Err(error) => last = error.to_string(),
                    }
                }
                Err(error) => last = host::error_chain(&error),
            }
        }
        if Instant::now() > deadline {
            let log = state
                .components
                .iter()
                .find(|c| c.name == "kube-apiserver")
                .map(|c| c.log.display().to_string());
            return Err(Error::Cluster {
                message: format!(
                    "kube-apiserver was not ready within {} s (last: {last}); its log: {}",
                    API_SERVER_READY_TIMEOUT.as_secs(),
                    log.unwrap_or_default()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits, through a watch per node, until every node in `names` is Ready.
pub(crate) async fn wait_nodes_ready(connection: &Connection, names: &[String]) -> Result<()> {
    let api: Api<Node> = Api::all(connection.client.clone());
    let waits = names.iter().map(|name| {
        let api = api.clone();
        async move {
            let name = name.clone();
            let ready = await_condition(api, &name, |node: Option<&Node>| {
                node.and_then(|node| node.status.as_ref())
                    .and_then(|status| status.conditions.as_ref())
                    .is_some_and(|conditions| {
                        conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                    })
            });
            match tokio::time::timeout(NODES_READY_TIMEOUT, ready).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(Error::Cluster {
                    message: format!("watching node {name}: {error}"),
                }),
                Err(_) => Err(Error::Timeout {
                    object: format!("Node {name}"),
                    condition: "become Ready".to_owned(),
                    seconds: NODES_READY_TIMEOUT.as_secs(),
                    last_observed: "not Ready".to_owned(),
                }),
            }
        }
    });
    futures::future::try_join_all(waits).await.map(drop)
}

pub(crate) fn stop_components(state: &ClusterState) -> Vec<String> {
    // Clients first, etcd last: each component is stopped before the one it depends on, so
    // the API server can drain its watches while etcd still answers.
    let mut stopped = Vec::new();
    for component in state.components.iter().rev().filter(|c| c.is_running()) {
        let target = host::process::Target::Process(component.pid);
        if host::process::terminate(target, STOP_GRACE, || component.is_running()) {
            tracing::warn!(component = %component.name, pid = component.pid, "needed SIGKILL");
        }
        stopped.push(component.name.clone());
    }
    stopped
}

/// A loopback port outside the ephemeral range, not in `taken` ([`host::ports::free_port`]).
pub(crate) fn free_port(taken: &mut Vec<u16>) -> Result<u16> {
    host::ports::free_port(taken).map_err(|error| Error::Cluster {
        message: format!("failed to pick a loopback port: {error}"),
    })
}

pub(crate) fn openssl(args: &[&str]) -> Result<()> {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| Error::EnvironmentMissing {
            what: format!("failed to run openssl: {error}"),
            hint: "apt-get install openssl".to_owned(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Cluster {
            message: format!(
                "openssl {} failed: {}",
                args[0],
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    host::files::write_private(path, text).map_err(|error| cluster_io(path, error))
}

pub(crate) fn write_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str) -> Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: hollow\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: hollow\n  context:\n    cluster: hollow\n    user: admin\ncurrent-context: hollow\n",
        ca = ca.display()
    );
    write_private(path, &text)
}

pub(crate) fn urandom_error(error: std::io::Error) -> Error {
    Error::Cluster {
        message: format!("failed to read /dev/urandom: {error}"),
    }
}

pub(crate) fn cluster_io(path: &Path, error: std::io::Error) -> Error {
    Error::Cluster {
        message: format!("{}: {error}", path.display()),
    }
}
