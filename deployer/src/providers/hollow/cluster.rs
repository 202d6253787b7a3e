//! Starting, checking and stopping the hollow cluster's processes.
//!
//! `up` picks free loopback ports, starts etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and N kubemark hollow nodes in their own process groups (so Ctrl-C in the
//! terminal does not reach them), records each pid in `state.json` as soon as it is spawned,
//! writes a kubeconfig, and waits for `/readyz` and for the nodes to be Ready. `down` signals
//! exactly the recorded pids, after checking that each still runs the recorded binary (a pid
//! can be reused), and removes the state directory. Logs go to `<state>/logs/<component>.log`.

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::wait::await_condition;
use serde::{Deserialize, Serialize};

use super::build::{ensure_binaries, on_path};
use super::{log_tail, HollowPaths, KUBERNETES_VERSION};
use crate::error::{Error, Result};
use crate::providers::{connect, Connection};

/// Default number of hollow nodes.
pub const DEFAULT_NODES: usize = 2;
/// How long `up` waits for the API server to answer `/readyz`.
const API_SERVER_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `up` waits for the nodes to be Ready.
const NODES_READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long `down` waits for a process to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// One process of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Component {
    /// `etcd`, `kube-apiserver`, …, `hollow-node-0`.
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
        let proc_dir = PathBuf::from(format!("/proc/{}", self.pid));
        let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
            return false;
        };
        // The state is the first field after the parenthesised command name.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if matches!(state, Some("Z") | Some("X") | None) {
            return false;
        }
        fs::read_link(proc_dir.join("exe")).is_ok_and(|exe| exe == self.binary)
    }
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
    /// The components whose process is not running.
    pub fn stopped_components(&self) -> Vec<&Component> {
        self.components
            .iter()
            .filter(|component| !component.is_running())
            .collect()
    }
}

/// The outcome of [`up`].
#[derive(Debug)]
pub struct Up {
    /// The cluster's state.
    pub state: ClusterState,
    /// A connected client.
    pub connection: Connection,
    /// True when a healthy cluster was already running and was reused.
    pub reused: bool,
    /// Seconds `up` took (the build excluded).
    pub seconds: f64,
}

/// Reads `<state>/state.json`, if there is one.
pub fn read_state(paths: &HollowPaths) -> Result<Option<ClusterState>> {
    let file = paths.state_dir.join("state.json");
    match fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| Error::Hollow {
                message: format!(
                    "{} is corrupt ({error}); run `cargo xtask hollow down`",
                    file.display()
                ),
            }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path: file, source }),
    }
}

fn write_state(paths: &HollowPaths, state: &ClusterState) -> Result<()> {
    let file = paths.state_dir.join("state.json");
    let text = serde_json::to_string_pretty(state).expect("the state serializes");
    fs::write(&file, text).map_err(|error| hollow_io(&file, error))
}

/// The hint every hollow error ends with.
pub const UP_HINT: &str =
    "run `cargo xtask hollow up` (or `cargo xtask hollow status` to see what runs)";

/// Brings the cluster up with `nodes` hollow nodes, or reuses a healthy running one.
///
/// Builds the binaries first if they are missing (see [`super::build`]). A recorded cluster
/// whose processes are all gone is forgotten. Errors: a recorded cluster that is partly
/// running or has another node count ([`Error::Hollow`], saying which
/// process and which log, and to run `down`); a process that exits or a wait that expires
/// while starting ([`Error::Hollow`] with the log file; what was started is stopped again).
pub async fn up(paths: &HollowPaths, nodes: usize) -> Result<Up> {
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
            return Err(Error::Hollow {
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
            return Err(Error::Hollow {
                message: format!(
                    "a hollow cluster with {} nodes is running; {nodes} were asked for\n  hint: run `cargo xtask hollow down` first",
                    state.nodes
                ),
            });
        }
        let connection = connect(&state.kubeconfig, None, UP_HINT).await?;
        wait_nodes_ready(&connection, nodes).await?;
        return Ok(Up {
            state,
            connection,
            reused: true,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    ensure_binaries(paths)?;
    let mut state = ClusterState {
        version: KUBERNETES_VERSION.to_owned(),
        api_server_url: String::new(),
        kubeconfig: paths.kubeconfig(),
        nodes,
        components: Vec::new(),
    };
    match start(paths, &mut state).await {
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

async fn start(paths: &HollowPaths, state: &mut ClusterState) -> Result<Connection> {
    let state_dir = &paths.state_dir;
    if state_dir.exists() {
        // No state.json but a directory: leftovers of a failed start; keep nothing of it.
        fs::remove_dir_all(state_dir).map_err(|error| hollow_io(state_dir, error))?;
    }
    for dir in ["logs", "certs", "etcd", "tmp"] {
        let dir = state_dir.join(dir);
        fs::create_dir_all(&dir).map_err(|error| hollow_io(&dir, error))?;
    }
    let etcd = which_etcd(paths)?;
    let bin = |name: &str| paths.bin_dir.join(name);

    let mut taken = Vec::new();
    let (etcd_port, etcd_peer_port, api_port) = (
        free_port(&mut taken)?,
        free_port(&mut taken)?,
        free_port(&mut taken)?,
    );
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    spawn(
        paths,
        state,
        "etcd",
        &etcd,
        Some(etcd_port),
        &[
            format!("--data-dir={}", state_dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}"),
            format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer_port}"),
            "--name=default".to_owned(),
        ],
    )?;
    wait_tcp(state, "etcd", etcd_port, Duration::from_secs(30)).await?;

    let certs = state_dir.join("certs");
    let (sa_key, sa_pub, tokens) = (
        certs.join("sa.key"),
        certs.join("sa.pub"),
        certs.join("tokens.csv"),
    );
    openssl(&["genrsa", "-out", &sa_key.to_string_lossy(), "2048"])?;
    openssl(&[
        "rsa",
        "-in",
        &sa_key.to_string_lossy(),
        "-pubout",
        "-out",
        &sa_pub.to_string_lossy(),
    ])?;
    let token = crate::random::hex_token(24).map_err(urandom_error)?;
    write_private(
        &tokens,
        &format!("{token},admin,admin,\"system:masters\"\n"),
    )?;
    spawn(
        paths,
        state,
        "kube-apiserver",
        &bin("kube-apiserver"),
        Some(api_port),
        &[
            format!("--etcd-servers={etcd_url}"),
            format!("--secure-port={api_port}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--cert-dir={}", certs.display()),
            format!("--token-auth-file={}", tokens.display()),
            "--authorization-mode=RBAC".to_owned(),
            "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
            format!("--service-account-key-file={}", sa_pub.display()),
            format!("--service-account-signing-key-file={}", sa_key.display()),
            "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
            "--allow-privileged=true".to_owned(),
        ],
    )?;
    state.api_server_url = format!("https://127.0.0.1:{api_port}");
    write_state(paths, state)?;
    let api_cert = certs.join("apiserver.crt");
    let connection = wait_api_server(state, &api_cert, &token).await?;

    let kubeconfig = state.kubeconfig.display().to_string();
    let common = [
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--leader-elect=false".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        // No insecure HTTP port: in 1.20 it defaults to every interface.
        "--port=0".to_owned(),
    ];
    let controller_port = free_port(&mut taken)?;
    let mut controller_args = common.to_vec();
    controller_args.extend([
        format!("--secure-port={controller_port}"),
        format!("--service-account-private-key-file={}", sa_key.display()),
        format!("--root-ca-file={}", api_cert.display()),
        "--use-service-account-credentials=true".to_owned(),
        "--controllers=*,-nodeipam".to_owned(),
        // Hollow kubelets share two cores with compilers and tests; a late heartbeat must not
        // turn nodes NotReady (and every pod unready) as the default 40 s grace would.
        "--node-monitor-grace-period=5m".to_owned(),
    ]);
    spawn(
        paths,
        state,
        "kube-controller-manager",
        &bin("kube-controller-manager"),
        Some(controller_port),
        &controller_args,
    )?;
    let scheduler_port = free_port(&mut taken)?;
    let mut scheduler_args = common.to_vec();
    scheduler_args.push(format!("--secure-port={scheduler_port}"));
    spawn(
        paths,
        state,
        "kube-scheduler",
        &bin("kube-scheduler"),
        Some(scheduler_port),
        &scheduler_args,
    )?;
    for index in 0..state.nodes {
        let kubelet_port = free_port(&mut taken)?;
        spawn(
            paths,
            state,
            &format!("hollow-node-{index}"),
            &bin("kubemark"),
            Some(kubelet_port),
            &[
                "--morph=kubelet".to_owned(),
                format!("--name=hollow-node-{index}"),
                format!("--kubeconfig={kubeconfig}"),
                format!("--kubelet-port={kubelet_port}"),
                "--kubelet-read-only-port=0".to_owned(),
            ],
        )?;
    }
    wait_nodes_ready(&connection, state.nodes)
        .await
        .map_err(|error| Error::Hollow {
            message: format!("{error}; node logs: {}", state_dir.join("logs").display()),
        })?;
    Ok(connection)
}

fn which_etcd(paths: &HollowPaths) -> Result<PathBuf> {
    let candidate = paths.bin_dir.join("etcd");
    if candidate.is_file() {
        return Ok(candidate);
    }
    on_path("etcd").ok_or_else(|| Error::EnvironmentMissing {
        what: "etcd is not installed".to_owned(),
        hint: "apt-get install etcd-server (or put an etcd binary in SEATRIAL_HOLLOW_BIN)"
            .to_owned(),
    })
}

fn spawn(
    paths: &HollowPaths,
    state: &mut ClusterState,
    name: &str,
    binary: &Path,
    port: Option<u16>,
    args: &[String],
) -> Result<()> {
    let binary = binary
        .canonicalize()
        .map_err(|error| hollow_io(binary, error))?;
    let log = paths.state_dir.join("logs").join(format!("{name}.log"));
    let out = fs::File::create(&log).map_err(|error| hollow_io(&log, error))?;
    let err = out.try_clone().map_err(|error| hollow_io(&log, error))?;
    let child = Command::new(&binary)
        .args(args)
        // kubemark makes its kubelet's root directory under TMPDIR; keep it in the state dir.
        .env("TMPDIR", paths.state_dir.join("tmp"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|error| Error::Hollow {
            message: format!("cannot start {name} ({}): {error}", binary.display()),
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
    write_state(paths, state)
}

fn died(state: &ClusterState, name: &str) -> Option<Error> {
    let component = state
        .components
        .iter()
        .find(|component| component.name == name)?;
    (!component.is_running()).then(|| Error::Hollow {
        message: format!(
            "{name} exited while starting; its log: {}\n{}",
            component.log.display(),
            log_tail(&component.log, 5)
        ),
    })
}

async fn wait_tcp(state: &ClusterState, name: &str, port: u16, timeout: Duration) -> Result<()> {
    // A process that is starting offers nothing to watch; retry a loopback connect briefly.
    let deadline = Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(error) = died(state, name) {
            return Err(error);
        }
        if Instant::now() > deadline {
            return Err(Error::Hollow {
                message: format!(
                    "{name} did not listen on 127.0.0.1:{port} within {} s",
                    timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_api_server(state: &ClusterState, api_cert: &Path, token: &str) -> Result<Connection> {
    let deadline = Instant::now() + API_SERVER_READY_TIMEOUT;
    let mut last = String::from("not started");
    loop {
        if let Some(error) = died(state, "kube-apiserver") {
            return Err(error);
        }
        if api_cert.is_file() {
            write_kubeconfig(&state.kubeconfig, &state.api_server_url, api_cert, token)?;
            match connect(&state.kubeconfig, None, UP_HINT).await {
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
                Err(error) => last = error.to_string(),
            }
        }
        if Instant::now() > deadline {
            let log = state
                .components
                .iter()
                .find(|c| c.name == "kube-apiserver")
                .map(|c| c.log.display().to_string());
            return Err(Error::Hollow {
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

/// Waits, through a watch per node, until `hollow-node-0 … hollow-node-{n-1}` are Ready.
async fn wait_nodes_ready(connection: &Connection, nodes: usize) -> Result<()> {
    let api: Api<Node> = Api::all(connection.client.clone());
    let waits = (0..nodes).map(|index| {
        let api = api.clone();
        async move {
            let name = format!("hollow-node-{index}");
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
                Ok(Err(error)) => Err(Error::Hollow {
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
        fs::remove_dir_all(&paths.state_dir).map_err(|error| hollow_io(&paths.state_dir, error))?;
    }
    Ok(stopped)
}

fn stop_components(state: &ClusterState) -> Vec<String> {
    use rustix::process::{kill_process, Pid, Signal};
    // Clients first, etcd last: each component is stopped before the one it depends on, so
    // the API server can drain its watches while etcd still answers.
    let mut stopped = Vec::new();
    for component in state.components.iter().rev().filter(|c| c.is_running()) {
        let Some(pid) = Pid::from_raw(component.pid) else {
            continue;
        };
        let _ = kill_process(pid, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        while component.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if component.is_running() {
            tracing::warn!(component = %component.name, pid = component.pid, "did not exit after SIGTERM; sending SIGKILL");
            let _ = kill_process(pid, Signal::KILL);
        }
        stopped.push(component.name.clone());
    }
    stopped
}

/// A loopback port that is free now and outside the kernel's ephemeral range, so that no
/// outgoing connection can take it between this probe and the component's own bind. Ports in
/// `taken` (chosen earlier for this cluster, not bound yet) are skipped; the new one is added.
fn free_port(taken: &mut Vec<u16>) -> Result<u16> {
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .next()
                .and_then(|low| low.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    let (low, high) = (10000u16, ephemeral_low.max(10001));
    let mut seed = [0u8; 2];
    crate::random::fill(&mut seed).map_err(urandom_error)?;
    let span = u32::from(high - low);
    let start = u32::from(u16::from_le_bytes(seed)) % span;
    for offset in 0..span {
        let port = low + ((start + offset) % span) as u16;
        if !taken.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            taken.push(port);
            return Ok(port);
        }
    }
    Err(Error::Hollow {
        message: format!("no free loopback port between {low} and {high}"),
    })
}

fn openssl(args: &[&str]) -> Result<()> {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| Error::EnvironmentMissing {
            what: format!("cannot run openssl: {error}"),
            hint: "apt-get install openssl".to_owned(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Hollow {
            message: format!(
                "openssl {} failed: {}",
                args[0],
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    crate::providers::write_private(path, text).map_err(|error| hollow_io(path, error))
}

fn write_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str) -> Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: hollow\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: hollow\n  context:\n    cluster: hollow\n    user: admin\ncurrent-context: hollow\n",
        ca = ca.display()
    );
    write_private(path, &text)
}

fn urandom_error(error: std::io::Error) -> Error {
    Error::Hollow {
        message: format!("cannot read /dev/urandom: {error}"),
    }
}

fn hollow_io(path: &Path, error: std::io::Error) -> Error {
    Error::Hollow {
        message: format!("{}: {error}", path.display()),
    }
}
