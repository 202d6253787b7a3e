//! The local cluster: the control plane of the hollow cluster plus a real node on this
//! machine — containerd, runc, the CNI bridge, kubelet and kube-proxy — and CoreDNS, all of
//! the pinned releases built from the Go module proxy ([`LOCAL_RECIPES`]).
//!
//! - [`config`]: the components' configuration files, as text.
//! - [`host`]: what the cluster changes on the host (bridge, sysctls, isolation chain,
//!   cgroups) and the scan for what a stopped cluster left.
//!
//! Everything listens on loopback or on the cluster's own bridge (`seatrial0`, node IP
//! 10.213.0.1); pods get no route out (an iptables chain drops pod traffic leaving by any
//! other interface, and nothing is masqueraded); NodePorts are on loopback only. containerd's
//! socket, root, state, network namespaces and CNI configuration are under the state dir,
//! never `/run/containerd` or `/etc/cni`. `down` leaves nothing: no process, mount, network
//! namespace, link, iptables chain, cgroup or state directory (see [`host::remains`]); `up`
//! after a killed `up` or run removes the remains first.

pub mod config;
pub mod host;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::images::BuiltImage;
use crate::providers::binaries::ClusterBinaries;
use crate::providers::control_plane::{self, ControlPlaneOptions};
use crate::providers::hollow::xdg_dir;
use crate::providers::processes::{
    cluster_io, free_port, openssl, read_state, spawn, stop_components, wait_nodes_ready, wait_tcp,
    write_kubeconfig, write_state,
};
pub use crate::providers::processes::{ClusterState, Component, Up};
use crate::providers::{connect, Connection};

pub use crate::providers::binaries::recipes::LOCAL as LOCAL_RECIPES;
use config::NodeLayout;

/// Environment variable overriding the state directory.
pub const STATE_ENV: &str = "SEATRIAL_LOCAL_STATE";
/// The node's name.
pub const NODE_NAME: &str = "node-0";
/// The node IP: the bridge's gateway address.
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);
/// The pod subnet on the bridge.
pub const POD_CIDR: &str = "10.213.0.0/24";
/// The Service cluster IP range.
pub const SERVICE_CIDR: &str = "10.213.128.0/24";
/// The hint local errors end with.
pub const UP_HINT: &str =
    "run `cargo xtask local up` (or `cargo xtask local status` to see what runs)";
/// How long `up` waits for containerd's socket and CoreDNS.
/// The variable naming where the patched hostPath provisioner makes volumes.
const HOSTPATH_ENV: &str = "SEATRIAL_HOSTPATH_DIR";
/// The default StorageClass `up` creates (in-tree `kubernetes.io/host-path` provisioner).
pub const STORAGE_CLASS: &str = "seatrial-hostpath";
const COMPONENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the local cluster's state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPaths {
    /// State: pids, logs, certificates, kubeconfigs, etcd, containerd, kubelet, CNI.
    pub state_dir: PathBuf,
}

impl LocalPaths {
    /// [`STATE_ENV`], else `$XDG_STATE_HOME/seatrial/local` (default `~/.local/state`).
    pub fn from_env() -> LocalPaths {
        let state_dir = match std::env::var_os(STATE_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => xdg_dir("XDG_STATE_HOME", ".local/state")
                .join("seatrial")
                .join("local"),
        };
        LocalPaths { state_dir }
    }

    /// The admin kubeconfig `up` writes.
    pub fn kubeconfig(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }

    fn host_record(&self) -> PathBuf {
        // Beside the state dir, so that a half-removed state dir still restores the host.
        self.state_dir.with_extension("host.json")
    }
}

/// What `up` changed on the host besides its processes (`<state>.host.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostRecord {
    /// The sysctls set and their previous values.
    pub sysctls: host::SysctlRecord,
    /// The node's binaries (containerd, its shim, runc, kubelet, kube-proxy, CoreDNS,
    /// crictl): processes still running one after `down` are killed and reported.
    pub node_binaries: Vec<PathBuf>,
}

/// Brings the local cluster up (or reuses a healthy running one): checks the host, removes
/// the remains of a cluster whose processes are gone, makes the bridge, sysctls, isolation
/// chain and cgroups, starts the control plane, containerd (importing `images`, the pause
/// image first), CoreDNS, the kubelet and kube-proxy, and waits for the node to be Ready.
///
/// Errors: [`Error::EnvironmentMissing`] naming what the host lacks; [`Error::Cluster`]
/// naming the process that exited and its log, a host step that failed, or a recorded
/// cluster that is partly running (run `down`). What a failed start started is stopped and
/// removed again.
pub async fn up(
    paths: &LocalPaths,
    binaries: &ClusterBinaries,
    pause: &BuiltImage,
    images: &[BuiltImage],
) -> Result<Up> {
    let started = Instant::now();
    host::check_host()?;
    if let Some(state) = read_state(&paths.state_dir)? {
        let stopped = state.stopped_components();
        if stopped.is_empty() {
            let connection = connect(&state.kubeconfig, None, UP_HINT).await?;
            wait_nodes_ready(&connection, &[NODE_NAME.to_owned()]).await?;
            import_images(paths, binaries, images)?;
            return Ok(Up {
                state,
                connection,
                reused: true,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        if stopped.len() != state.components.len() {
            let component = stopped[0];
            return Err(Error::Cluster {
                message: format!(
                    "a local cluster is recorded in {} but {} (pid {}) is not running; its log: {}\n  hint: run `cargo xtask local down`, then `up` again",
                    paths.state_dir.display(),
                    component.name,
                    component.pid,
                    component.log.display()
                ),
            });
        }
        tracing::info!("the recorded local cluster's processes are all gone; removing its remains");
    }
    // Whatever a killed `up` or run left (processes of our binaries, mounts, links, chains).
    down(paths)?;
    let mut state = ClusterState::new(binaries, paths.kubeconfig(), 1);
    match start(paths, binaries, pause, images, &mut state).await {
        Ok(connection) => Ok(Up {
            state,
            connection,
            reused: false,
            seconds: started.elapsed().as_secs_f64(),
        }),
        Err(error) => {
            let kept = keep_logs_of_failed_start(paths);
            let _ = down(paths);
            Err(Error::Cluster {
                message: format!(
                    "{}\n  the logs and configuration are kept in {}",
                    ::host::error_chain(&error),
                    kept.display()
                ),
            })
        }
    }
}

/// Copies the logs and configuration of a start that failed to `<state dir>.failed` (replacing
/// an earlier copy), to be read after `down` removed everything else; returns that directory.
/// Best effort: a file that cannot be copied is skipped.
fn keep_logs_of_failed_start(paths: &LocalPaths) -> PathBuf {
    let kept = paths.state_dir.with_extension("failed");
    let _ = fs::remove_dir_all(&kept);
    let _ = fs::create_dir_all(&kept);
    for name in [
        "logs",
        "containerd/config.toml",
        "kubelet.yaml",
        "kube-proxy.yaml",
        "Corefile",
        "cni/net.d",
    ] {
        let from = paths.state_dir.join(name);
        let to = kept.join(name.replace('/', "-"));
        let _ = Command::new("cp").arg("-r").arg(&from).arg(&to).status();
    }
    kept
}

/// Starts the whole cluster into the empty state dir: host, certificates, control plane, the
/// node's configuration, then the node's processes; returns the admin connection once the
/// node is Ready, the default service account exists and the default StorageClass is made.
async fn start(
    paths: &LocalPaths,
    binaries: &ClusterBinaries,
    pause: &BuiltImage,
    images: &[BuiltImage],
    state: &mut ClusterState,
) -> Result<Connection> {
    let state_dir = &paths.state_dir;
    prepare_host(paths, binaries)?;
    let certs = state_dir.join("certs");
    make_kubelet_client_certificate(&certs)?;
    let options = control_plane_options(state_dir, &certs);
    let mut plane = control_plane::start(state_dir, binaries, state, &options).await?;
    let layout = node_layout(state_dir, binaries, pause, &mut plane.taken_ports)?;
    let files = write_node_files(&layout, state, &plane)?;
    start_node(paths, binaries, pause, images, state, &layout, &files).await?;
    write_state(state_dir, state)?;
    wait_nodes_ready(&plane.connection, &[NODE_NAME.to_owned()])
        .await
        .map_err(|error| Error::Cluster {
            message: format!(
                "{}; kubelet log: {}",
                ::host::error_chain(&error),
                state_dir.join("logs/kubelet.log").display()
            ),
        })?;
    wait_default_service_account(&plane.connection).await?;
    create_storage_class(&plane.connection).await?;
    Ok(plane.connection)
}

/// Refuses a host whose routes already hold the cluster's subnet, makes the state dir's
/// directories, then the host changes (bridge, sysctls, pod isolation chain, cgroups), each
/// recorded in the host record before it is made so `down` can undo a partial start.
fn prepare_host(paths: &LocalPaths, binaries: &ClusterBinaries) -> Result<()> {
    let state_dir = &paths.state_dir;
    if let Some(route) = host::subnet_taken(NODE_IP)? {
        return Err(Error::EnvironmentMissing {
            what: format!(
                "the local cluster's subnet {POD_CIDR} is already routed on this machine: {route}"
            ),
            hint: "remove that route or interface, or use --provider hollow".into(),
        });
    }
    for dir in [
        "logs",
        "certs",
        "tmp",
        "cni/net.d",
        "cni/ipam",
        "kubelet",
        "pod-logs",
    ] {
        let dir = state_dir.join(dir);
        fs::create_dir_all(&dir).map_err(|error| cluster_io(&dir, error))?;
    }
    // Record the host changes before making them, so `down` can undo a partial start.
    let mut record = HostRecord {
        sysctls: host::SysctlRecord::default(),
        node_binaries: node_binaries(binaries),
    };
    write_host_record(paths, &record)?;
    host::create_bridge(NODE_IP, 24)?;
    record.sysctls = host::set_sysctls()?;
    write_host_record(paths, &record)?;
    host::isolate_pods(POD_CIDR)?;
    host::create_cgroups()?;

    Ok(())
}

/// Makes the CA the kubelet trusts for the API server's client certificate (`ca.crt`) and
/// that client certificate (`kubelet-client.crt`, group `system:masters`) in `certs`, with
/// `openssl` (30 days).
fn make_kubelet_client_certificate(certs: &Path) -> Result<()> {
    let file = |name: &str| certs.join(name).display().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=seatrial-local-ca",
        "-keyout",
        &file("ca.key"),
        "-out",
        &file("ca.crt"),
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        "-keyout",
        &file("kubelet-client.key"),
        "-out",
        &file("kubelet-client.csr"),
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &file("kubelet-client.csr"),
        "-CA",
        &file("ca.crt"),
        "-CAkey",
        &file("ca.key"),
        "-CAcreateserial",
        "-days",
        "30",
        "-out",
        &file("kubelet-client.crt"),
    ])?;

    Ok(())
}

/// The control plane's flags for one real node: Node and RBAC authorization, the kubelet
/// client certificate from `certs`, no node IPAM, the host-path provisioner under
/// `<state>/volumes`, and static tokens for the kubelet and kube-proxy (in that order).
fn control_plane_options(state_dir: &Path, certs: &Path) -> ControlPlaneOptions {
    let file = |name: &str| certs.join(name).display().to_string();
    ControlPlaneOptions {
        address: IpAddr::V4(NODE_IP),
        service_cidr: SERVICE_CIDR.to_owned(),
        apiserver_flags: vec![
            "--authorization-mode=Node,RBAC".to_owned(),
            "--kubelet-preferred-address-types=InternalIP".to_owned(),
            format!(
                "--kubelet-client-certificate={}",
                file("kubelet-client.crt")
            ),
            format!("--kubelet-client-key={}", file("kubelet-client.key")),
        ],
        controller_flags: vec![
            "--controllers=*,-nodeipam".to_owned(),
            "--node-monitor-grace-period=5m".to_owned(),
            // PersistentVolumeClaims of the default StorageClass bind to directories under
            // the state dir (the patched in-tree provisioner: binaries::recipes).
            "--enable-hostpath-provisioner".to_owned(),
        ],
        controller_env: vec![(
            HOSTPATH_ENV,
            state_dir.join("volumes").display().to_string(),
        )],
        users: vec![
            (
                format!("system:node:{NODE_NAME}"),
                "system:nodes".to_owned(),
            ),
            (
                "system:kube-proxy".to_owned(),
                "system:authenticated".to_owned(),
            ),
        ],
        hint: UP_HINT.to_owned(),
    }
}

/// Where the node's parts live and listen: its name, bridge, addresses, CNI and runtime
/// binaries, the pause image as the sandbox image, and free loopback ports (not in `taken`).
fn node_layout(
    state_dir: &Path,
    binaries: &ClusterBinaries,
    pause: &BuiltImage,
    taken: &mut Vec<u16>,
) -> Result<NodeLayout> {
    Ok(NodeLayout {
        state_dir: state_dir.to_path_buf(),
        node_name: NODE_NAME.to_owned(),
        bridge: host::BRIDGE.to_owned(),
        node_ip: NODE_IP,
        pod_cidr: POD_CIDR.to_owned(),
        service_cidr: SERVICE_CIDR.to_owned(),
        dns_ip: NODE_IP,
        cni_bin_dir: dir_of(&binaries.path("bridge")),
        runc: binaries.path("runc"),
        shim: binaries.path("containerd-shim-runc-v2"),
        sandbox_image: pause.reference.clone(),
        kubelet_port: free_port(taken)?,
        kubelet_healthz_port: free_port(taken)?,
        proxy_healthz_port: free_port(taken)?,
        proxy_metrics_port: free_port(taken)?,
        dns_ready_port: free_port(taken)?,
        cgroup_root: host::CGROUP_ROOT.to_owned(),
    })
}

/// The files the node's processes start from.
struct NodeFiles {
    kubelet_kubeconfig: PathBuf,
    containerd_config: PathBuf,
    kubelet_config: PathBuf,
    proxy_config: PathBuf,
    corefile: PathBuf,
}

/// Writes the kubelet's and kube-proxy's kubeconfigs (with their static tokens from the
/// control plane) and the configuration of containerd, the CNI network, the kubelet,
/// kube-proxy and CoreDNS (see [`config`]).
fn write_node_files(
    layout: &NodeLayout,
    state: &ClusterState,
    plane: &control_plane::ControlPlane,
) -> Result<NodeFiles> {
    let state_dir = &layout.state_dir;
    let kubeconfig = |name: &str, token: &str| -> Result<PathBuf> {
        let path = state_dir.join(name);
        write_kubeconfig(&path, &state.api_server_url, &plane.api_cert, token)?;
        Ok(path)
    };
    let kubelet_kubeconfig = kubeconfig("kubelet.kubeconfig", &plane.user_tokens[0])?;
    let proxy_kubeconfig = kubeconfig("kube-proxy.kubeconfig", &plane.user_tokens[1])?;

    let write = |path: PathBuf, text: String| -> Result<PathBuf> {
        fs::write(&path, text).map_err(|error| cluster_io(&path, error))?;
        Ok(path)
    };
    fs::create_dir_all(layout.containerd_dir())
        .map_err(|error| cluster_io(&layout.containerd_dir(), error))?;
    let containerd_config = write(
        layout.containerd_dir().join("config.toml"),
        config::containerd(layout),
    )?;
    write(
        layout.cni_conf_dir().join("10-seatrial.conflist"),
        config::cni_conflist(layout),
    )?;
    let resolv = write(
        state_dir.join("resolv.conf"),
        format!("nameserver {NODE_IP}\n"),
    )?;
    let kubelet_config = write(
        state_dir.join("kubelet.yaml"),
        config::kubelet(layout, &state_dir.join("certs/ca.crt"), &resolv),
    )?;
    let proxy_config = write(
        state_dir.join("kube-proxy.yaml"),
        config::kube_proxy(layout, &proxy_kubeconfig),
    )?;
    let corefile = write(
        state_dir.join("Corefile"),
        config::corefile(layout, &state.kubeconfig),
    )?;

    Ok(NodeFiles {
        kubelet_kubeconfig,
        containerd_config,
        kubelet_config,
        proxy_config,
        corefile,
    })
}

/// Starts the node's processes in order, each awaited before the next: containerd (then
/// imports the pause image and `images`), CoreDNS (its ready port), the kubelet and
/// kube-proxy.
async fn start_node(
    paths: &LocalPaths,
    binaries: &ClusterBinaries,
    pause: &BuiltImage,
    images: &[BuiltImage],
    state: &mut ClusterState,
    layout: &NodeLayout,
    files: &NodeFiles,
) -> Result<()> {
    let state_dir = &paths.state_dir;
    let NodeFiles {
        kubelet_kubeconfig,
        containerd_config,
        kubelet_config,
        proxy_config,
        corefile,
    } = files;
    let path_env = [("PATH", search_path(binaries))];
    spawn(
        state_dir,
        state,
        "containerd",
        &binaries.path("containerd"),
        None,
        &[format!("--config={}", containerd_config.display())],
        &path_env,
    )?;
    wait_for_file(state, "containerd", &layout.containerd_socket()).await?;
    let mut all = vec![pause.clone()];
    all.extend(images.iter().cloned());
    import_images(paths, binaries, &all)?;

    spawn(
        state_dir,
        state,
        "coredns",
        &binaries.path("coredns"),
        None,
        &[format!("-conf={}", corefile.display())],
        &path_env,
    )?;
    wait_tcp(
        state,
        "coredns",
        IpAddr::from([127, 0, 0, 1]),
        layout.dns_ready_port,
        COMPONENT_TIMEOUT,
    )
    .await?;

    spawn(
        state_dir,
        state,
        "kubelet",
        &binaries.path("kubelet"),
        Some(layout.kubelet_port),
        &[
            format!("--config={}", kubelet_config.display()),
            format!("--kubeconfig={}", kubelet_kubeconfig.display()),
            format!("--root-dir={}", layout.kubelet_dir().display()),
            format!("--cert-dir={}", state_dir.join("certs/kubelet").display()),
            format!("--hostname-override={NODE_NAME}"),
            format!("--node-ip={NODE_IP}"),
        ],
        &path_env,
    )?;
    spawn(
        state_dir,
        state,
        "kube-proxy",
        &binaries.path("kube-proxy"),
        None,
        &[format!("--config={}", proxy_config.display())],
        &path_env,
    )?;
    Ok(())
}

/// The node's binaries, whose processes `down` makes sure are gone.
pub fn node_binaries(binaries: &ClusterBinaries) -> Vec<PathBuf> {
    [
        "containerd",
        "containerd-shim-runc-v2",
        "runc",
        "kubelet",
        "kube-proxy",
        "coredns",
        "crictl",
    ]
    .iter()
    .map(|name| binaries.path(name))
    .collect()
}

/// Waits until a pod can be created in `default`: the controller manager must have made the
/// namespace's ServiceAccount and the API server's admission must see it (its informer lags
/// the write). Asked by creating a probe pod bound to a node that does not exist (no kubelet
/// ever runs it) and deleting it at once, every 250 ms: a server-side dry run is admitted
/// before the ServiceAccount exists, and the admission cache offers nothing to watch.
async fn wait_default_service_account(connection: &Connection) -> Result<()> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: kube::Api<Pod> = kube::Api::namespaced(connection.client.clone(), "default");
    let probe: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "seatrial-admission-probe"},
        "spec": {"containers": [{"name": "probe", "image": "probe"}]},
    }))
    .expect("a valid pod");
    let params = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    let deadline = Instant::now() + COMPONENT_TIMEOUT;
    loop {
        let last = match pods.create(&params, &probe).await {
            Ok(_) => {
                let _ = pods
                    .delete(
                        "seatrial-admission-probe",
                        &kube::api::DeleteParams::default().grace_period(0),
                    )
                    .await;
                return Ok(());
            }
            Err(error) => error.to_string(),
        };
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                object: "ServiceAccount default/default".into(),
                condition: "be created and admitted".into(),
                seconds: COMPONENT_TIMEOUT.as_secs(),
                last_observed: last,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_owned).unwrap_or_default()
}

/// `PATH` for the node's processes: the binaries' directories first (containerd starts its
/// shim from there, the kubelet finds nothing else it needs), then the host's.
fn search_path(binaries: &ClusterBinaries) -> String {
    let mut dirs = binaries.dirs();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs)
        .map(|joined| joined.to_string_lossy().into_owned())
        .unwrap_or_default()
}

async fn wait_for_file(state: &ClusterState, name: &str, file: &Path) -> Result<()> {
    // A process that is starting offers nothing to watch; look for its socket briefly.
    let deadline = Instant::now() + COMPONENT_TIMEOUT;
    while !file.exists() {
        if let Some(error) = crate::providers::processes::died(state, name) {
            return Err(error);
        }
        if Instant::now() > deadline {
            return Err(Error::Cluster {
                message: format!(
                    "{name} did not create {} within {} s",
                    file.display(),
                    COMPONENT_TIMEOUT.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Creates the default StorageClass: PersistentVolumeClaims without a class bind at once to
/// a new directory under `<state>/volumes` (deleted with the claim: reclaim policy Delete).
/// The default-class annotation is the one the DefaultStorageClass admission plugin reads
/// (Kubernetes docs, "Change the default StorageClass").
async fn create_storage_class(connection: &Connection) -> Result<()> {
    use k8s_openapi::api::storage::v1::StorageClass;
    let class: StorageClass = serde_json::from_value(serde_json::json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kubernetes.io/host-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }))
    .expect("a StorageClass deserializes");
    let api: kube::Api<StorageClass> = kube::Api::all(connection.client.clone());
    api.patch(
        STORAGE_CLASS,
        &kube::api::PatchParams::apply("seatrial-local").force(),
        &kube::api::Patch::Apply(&class),
    )
    .await
    .map_err(|error| Error::Cluster {
        message: format!("failed to create the StorageClass {STORAGE_CLASS}: {error}"),
    })?;
    Ok(())
}

/// Imports image archives into containerd's `k8s.io` namespace (`ctr images import`).
///
/// Errors: [`Error::Cluster`] naming the archive and ctr's answer.
pub fn import_images(
    paths: &LocalPaths,
    binaries: &ClusterBinaries,
    images: &[BuiltImage],
) -> Result<()> {
    let socket = paths.state_dir.join("containerd/containerd.sock");
    // A reference names its recipe's fingerprint, so one containerd already has is the same
    // image: a reused cluster imports only what is new.
    let present: Vec<String> = Command::new(binaries.path("ctr"))
        .arg(format!("--address={}", socket.display()))
        .args(["--namespace=k8s.io", "images", "ls", "-q"])
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for image in images {
        if present
            .iter()
            .any(|reference| reference == &image.reference)
        {
            tracing::info!(image = %image.reference, "already imported");
            continue;
        }
        let output = Command::new(binaries.path("ctr"))
            .arg(format!("--address={}", socket.display()))
            .args(["--namespace=k8s.io", "images", "import", "--local"])
            .arg(&image.archive)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| Error::Cluster {
                message: format!("failed to run ctr: {error}"),
            })?;
        if !output.status.success() {
            return Err(Error::Cluster {
                message: format!(
                    "importing {} ({}) into containerd failed: {}",
                    image.reference,
                    image.archive.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        tracing::info!(image = %image.reference, "imported");
    }
    Ok(())
}

fn write_host_record(paths: &LocalPaths, record: &HostRecord) -> Result<()> {
    let file = paths.host_record();
    if let Some(parent) = file.parent() {
        fs::create_dir_all(parent).map_err(|error| cluster_io(parent, error))?;
    }
    fs::write(
        &file,
        serde_json::to_string_pretty(record).expect("serializes"),
    )
    .map_err(|error| cluster_io(&file, error))
}

fn read_host_record(paths: &LocalPaths) -> Option<HostRecord> {
    fs::read_to_string(paths.host_record())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
}

/// [`up`], unless Ctrl-C (SIGINT) or SIGTERM comes first: then what was started is stopped
/// and removed as by [`down`], and [`Error::EnvironmentMissing`] says the start was
/// interrupted (the recorded pids are what `down` stops, so nothing started is lost).
pub async fn up_interruptible(
    paths: &LocalPaths,
    binaries: &ClusterBinaries,
    pause: &BuiltImage,
    images: &[BuiltImage],
) -> Result<Up> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).map_err(|error| Error::Cluster {
        message: format!("failed to listen for SIGTERM: {error}"),
    })?;
    let interrupted = tokio::select! {
        up = up(paths, binaries, pause, images) => return up,
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = terminate.recv() => "SIGTERM",
    };
    tracing::warn!("{interrupted} while the local cluster was starting: stopping what was started");
    let paths = paths.clone();
    let removed = tokio::task::spawn_blocking(move || down(&paths)).await;
    let outcome = match removed {
        Ok(Ok(_)) => "everything started was stopped and removed".to_owned(),
        Ok(Err(error)) => format!(
            "removing what was started failed: {}",
            ::host::error_chain(&error)
        ),
        Err(error) => format!("removing what was started panicked: {error}"),
    };
    Err(Error::EnvironmentMissing {
        what: format!(
            "interrupted ({interrupted}) while the local cluster was starting; {outcome}"
        ),
        hint: "run `cargo xtask local up` again".into(),
    })
}

/// Stops the local cluster and removes everything it made on the host.
///
/// The order matters: the kubelet stops first, then every pod sandbox is removed through the
/// CRI (`crictl rmp --all --force`: each CNI DEL removes its veth, address and network
/// namespace), then kube-proxy and `kube-proxy --cleanup`, then the other processes (clients
/// first, etcd last), then any process of the cluster's binaries still alive (containerd's
/// shims outlive it), then mounts, links, iptables chains, cgroups, the sysctls and the state
/// directory. Returns the names of the components stopped.
///
/// Errors: [`Error::Cluster`] listing what could not be removed.
pub fn down(paths: &LocalPaths) -> Result<Vec<String>> {
    let state = read_state(&paths.state_dir).ok().flatten();
    let record = read_host_record(paths);
    let mut stopped = Vec::new();
    if let Some(state) = &state {
        let subset = |names: &[&str]| ClusterState {
            components: state
                .components
                .iter()
                .filter(|c| names.contains(&c.name.as_str()))
                .cloned()
                .collect(),
            ..state.clone()
        };
        stopped.extend(stop_components(&subset(&["kubelet"])));
        let containerd_runs = state
            .components
            .iter()
            .any(|c| c.name == "containerd" && c.is_running());
        if let (true, Some(record)) = (containerd_runs, &record) {
            let crictl = record
                .node_binaries
                .iter()
                .find(|path| path.ends_with("crictl"));
            if let Some(crictl) = crictl {
                let endpoint = format!(
                    "unix://{}",
                    paths.state_dir.join("containerd/containerd.sock").display()
                );
                let removed = Command::new(crictl)
                    .args([
                        "--runtime-endpoint",
                        &endpoint,
                        "--timeout",
                        "60s",
                        "rmp",
                        "--all",
                        "--force",
                    ])
                    .stdin(Stdio::null())
                    .output();
                if let Ok(output) = removed {
                    tracing::info!(output = %String::from_utf8_lossy(&output.stdout).trim(), "removed the pod sandboxes");
                }
            }
        }
        stopped.extend(stop_components(&subset(&["kube-proxy"])));
        if let Some(proxy) = state.components.iter().find(|c| c.name == "kube-proxy") {
            let _ = Command::new(&proxy.binary)
                .arg("--cleanup")
                .stdin(Stdio::null())
                .output();
        }
        stopped.extend(stop_components(state));
    }
    let mut failed = Vec::new();
    if let Some(record) = &record {
        kill_leftover_processes(&record.node_binaries);
    }
    failed.extend(host::remove_remains(&paths.state_dir));
    if let Some(record) = &record {
        host::restore_sysctls(&record.sysctls);
        let _ = fs::remove_file(paths.host_record());
    }
    if failed.is_empty() {
        Ok(stopped)
    } else {
        Err(Error::Cluster {
            message: format!(
                "the local cluster's remains could not all be removed:\n  {}",
                failed.join("\n  ")
            ),
        })
    }
}

/// Kills, by pid, the node's processes still alive (containerd-shim-runc-v2 outlives
/// containerd; after a SIGKILLed run the containers' processes outlive everything).
fn kill_leftover_processes(node_binaries: &[PathBuf]) {
    use rustix::process::{kill_process, Pid, Signal};
    for _ in 0..50 {
        let left = host::node_processes(node_binaries);
        if left.is_empty() {
            return;
        }
        for (pid, what) in left {
            tracing::warn!(pid, what = %what, "a process of the local cluster outlived it; killing it");
            if let Some(pid) = Pid::from_raw(pid) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the last local cluster left on this host (see [`host::remains`]); empty when
/// nothing. `binaries` are the cluster's (see [`node_binaries`]).
pub fn remains(paths: &LocalPaths, binaries: &ClusterBinaries) -> Vec<String> {
    let mut found = host::remains(&paths.state_dir, &node_binaries(binaries));
    if paths.host_record().exists() {
        found.push(format!("host record {}", paths.host_record().display()));
    }
    found
}
