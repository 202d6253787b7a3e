//! The control plane every cluster this project runs shares: etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler, started as recorded processes
//! ([`crate::providers::processes`]) with token authentication and a self-signed serving
//! certificate.
//!
//! The hollow cluster puts the API server on 127.0.0.1 (nothing in it routes to it); a local
//! cluster puts it on its bridge's gateway address, which pods reach through the
//! `kubernetes` Service and kubelets by their InternalIP.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;
use crate::providers::binaries::ClusterBinaries;
use crate::providers::processes::{
    cluster_io, free_port, openssl, spawn, urandom_error, wait_api_server, wait_tcp, write_private,
    write_state, ClusterState,
};
use crate::providers::Connection;

/// How the control plane is started.
#[derive(Debug, Clone)]
pub(crate) struct ControlPlaneOptions {
    /// The API server's bind and advertise address.
    pub address: IpAddr,
    /// The Service cluster IP range (`--service-cluster-ip-range`).
    pub service_cidr: String,
    /// Extra API server flags.
    pub apiserver_flags: Vec<String>,
    /// Extra kube-controller-manager flags.
    pub controller_flags: Vec<String>,
    /// Extra kube-controller-manager environment (`NAME`, value).
    pub controller_env: Vec<(&'static str, String)>,
    /// Static tokens besides the admin's: (user, groups) → a token is made for each.
    pub users: Vec<(String, String)>,
    /// What the user should do when the API server does not answer.
    pub hint: String,
}

/// A started control plane.
pub(crate) struct ControlPlane {
    /// A client with the admin token.
    pub connection: Connection,
    /// The API server's self-signed serving certificate (the CA clients trust).
    pub api_cert: PathBuf,
    /// The tokens of [`ControlPlaneOptions::users`], in order.
    pub user_tokens: Vec<String>,
    /// Ports handed out so far (more components may take others).
    pub taken_ports: Vec<u16>,
}

/// Starts etcd, the API server, the controller manager and the scheduler into `state`
/// (recorded in `<state_dir>/state.json` as each starts) and waits for `/readyz`.
///
/// Errors: [`crate::Error::Cluster`] naming the process that exited and its log, or the wait
/// that expired.
pub(crate) async fn start(
    state_dir: &Path,
    binaries: &ClusterBinaries,
    state: &mut ClusterState,
    options: &ControlPlaneOptions,
) -> Result<ControlPlane> {
    for dir in ["logs", "certs", "etcd", "tmp"] {
        let dir = state_dir.join(dir);
        fs::create_dir_all(&dir).map_err(|error| cluster_io(&dir, error))?;
    }
    let none: [(&str, String); 0] = [];
    let mut taken = Vec::new();
    let (etcd_port, etcd_peer_port, api_port) = (
        free_port(&mut taken)?,
        free_port(&mut taken)?,
        free_port(&mut taken)?,
    );
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    spawn(
        state_dir,
        state,
        "etcd",
        &binaries.path("etcd"),
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
        &none,
    )?;
    wait_tcp(
        state,
        "etcd",
        IpAddr::from([127, 0, 0, 1]),
        etcd_port,
        Duration::from_secs(30),
    )
    .await?;

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
    let admin_token = host::random::hex_token(24).map_err(urandom_error)?;
    let mut token_file = format!("{admin_token},admin,admin,\"system:masters\"\n");
    let mut user_tokens = Vec::new();
    for (user, groups) in &options.users {
        let token = host::random::hex_token(24).map_err(urandom_error)?;
        token_file.push_str(&format!("{token},{user},{user},\"{groups}\"\n"));
        user_tokens.push(token);
    }
    write_private(&tokens, &token_file)?;
    let address = options.address;
    let mut apiserver_flags = vec![
        format!("--etcd-servers={etcd_url}"),
        format!("--secure-port={api_port}"),
        format!("--bind-address={address}"),
        format!("--advertise-address={address}"),
        format!("--cert-dir={}", certs.display()),
        format!("--token-auth-file={}", tokens.display()),
        "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
        format!("--service-account-key-file={}", sa_pub.display()),
        format!("--service-account-signing-key-file={}", sa_key.display()),
        format!("--service-cluster-ip-range={}", options.service_cidr),
        "--allow-privileged=true".to_owned(),
    ];
    apiserver_flags.extend(options.apiserver_flags.iter().cloned());
    spawn(
        state_dir,
        state,
        "kube-apiserver",
        &binaries.path("kube-apiserver"),
        Some(api_port),
        &apiserver_flags,
        &none,
    )?;
    state.api_server_url = format!("https://{address}:{api_port}");
    write_state(state_dir, state)?;
    let api_cert = certs.join("apiserver.crt");
    let connection = wait_api_server(state, &api_cert, &admin_token, &options.hint).await?;

    let kubeconfig = state.kubeconfig.display().to_string();
    let common = [
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--leader-elect=false".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
    ];
    let controller_port = free_port(&mut taken)?;
    let mut controller_flags = common.to_vec();
    controller_flags.extend([
        format!("--secure-port={controller_port}"),
        format!("--service-account-private-key-file={}", sa_key.display()),
        format!("--root-ca-file={}", api_cert.display()),
        "--use-service-account-credentials=true".to_owned(),
    ]);
    controller_flags.extend(options.controller_flags.iter().cloned());
    spawn(
        state_dir,
        state,
        "kube-controller-manager",
        &binaries.path("kube-controller-manager"),
        Some(controller_port),
        &controller_flags,
        &options.controller_env,
    )?;
    let scheduler_port = free_port(&mut taken)?;
    let mut scheduler_flags = common.to_vec();
    scheduler_flags.push(format!("--secure-port={scheduler_port}"));
    spawn(
        state_dir,
        state,
        "kube-scheduler",
        &binaries.path("kube-scheduler"),
        Some(scheduler_port),
        &scheduler_flags,
        &none,
    )?;
    Ok(ControlPlane {
        connection,
        api_cert,
        user_tokens,
        taken_ports: taken,
    })
}
