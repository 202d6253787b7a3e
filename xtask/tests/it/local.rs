//! `cargo xtask local up|down`: a real node on this machine. Real containers start, Service
//! names resolve, and `down` — also after every process of the cluster was SIGKILLed —
//! leaves nothing on the host (processes, mounts, network namespaces, links, iptables
//! chains, cgroups, the state directory).

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use deployer::pins::{default_pins_file, load_go_module};
use deployer::providers::binaries;
use deployer::providers::local::{self, LocalPaths, LOCAL_RECIPES};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;

use crate::support::{xtask_with, Run};

fn local(args: &[&str], state: &Path) -> Run {
    let mut full = vec!["local"];
    full.extend_from_slice(args);
    xtask_with(&full, &[("SEATRIAL_LOCAL_STATE", state)])
}

/// A pod of the pause image (built from the pinned Kubernetes' `pause.c`), Running on the
/// real node with an address on the bridge.
async fn run_pause_pod(kubeconfig: &Path) -> Pod {
    let client = deployer::providers::connect(kubeconfig, None, "local up")
        .await
        .unwrap()
        .client;
    let version = load_go_module(&default_pins_file(), "kubernetes")
        .unwrap()
        .tag;
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "real-container", "namespace": "default"},
        "spec": {"containers": [{
            "name": "pause",
            "image": deployer::images::pause::reference(&version),
            "imagePullPolicy": "Never",
        }]},
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let running = await_condition(pods.clone(), "real-container", |pod: Option<&Pod>| {
        pod.and_then(|pod| pod.status.as_ref())
            .is_some_and(|status| status.phase.as_deref() == Some("Running"))
    });
    tokio::time::timeout(Duration::from_secs(120), running)
        .await
        .expect("the pod runs within 120 s")
        .unwrap()
        .unwrap()
}

/// One DNS query for `name`'s A record to the cluster DNS (RFC 1035 message format); the
/// addresses answered.
fn resolve(name: &str) -> Vec<Ipv4Addr> {
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let socket = UdpSocket::bind((local::NODE_IP, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(&query, (local::NODE_IP, 53)).unwrap();
    let mut answer = [0u8; 512];
    let length = socket.recv(&mut answer).expect("CoreDNS answers");
    let answer = &answer[..length];
    // Each A record of the answer ends with type 1, class 1, a ttl, length 4, the address.
    (12..answer.len().saturating_sub(13))
        .filter(|&at| answer[at..at + 4] == [0, 1, 0, 1] && answer[at + 8..at + 10] == [0, 4])
        .map(|at| {
            Ipv4Addr::new(
                answer[at + 10],
                answer[at + 11],
                answer[at + 12],
                answer[at + 13],
            )
        })
        .collect()
}

/// Runs `local down` when dropped, so a failed assertion leaves no cluster behind.
struct DownOnDrop<'a>(&'a Path);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        let down = local(&["down"], self.0);
        if down.code != 0 {
            eprintln!("local down after the test: {}", down.output());
        }
    }
}

fn assert_nothing_left(paths: &LocalPaths, found: &binaries::ClusterBinaries) {
    let remains = local::remains(paths, found);
    assert!(
        remains.is_empty(),
        "the local cluster left on the host:\n{}",
        remains.join("\n")
    );
}

#[test]
#[ignore = "needs root and the local cluster's binaries: `cargo xtask test` runs it"]
fn a_real_container_runs_names_resolve_and_down_leaves_nothing_even_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("local");
    let paths = LocalPaths {
        state_dir: state.clone(),
    };
    let found = binaries::ensure(&default_pins_file(), &LOCAL_RECIPES, &mut |_| {}).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let _down = DownOnDrop(&state);
    let up = local(&["up"], &state);
    assert_eq!(up.code, 0, "{}", up.output());
    let kubeconfig = state.join("kubeconfig");
    let pod = runtime.block_on(run_pause_pod(&kubeconfig));
    let ip = pod.status.unwrap().pod_ip.unwrap();
    assert!(
        ip.starts_with("10.213.0."),
        "the pod's address is on the bridge: {ip}"
    );
    // The `kubernetes` Service's name resolves through the cluster DNS, to its cluster IP.
    let addresses = resolve("kubernetes.default.svc.cluster.local");
    assert_eq!(
        addresses,
        [Ipv4Addr::new(10, 213, 128, 1)],
        "DNS answered {addresses:?}"
    );

    // Every recorded process SIGKILLed: the pod's shim, its mounts, veth and namespace and
    // the chains stay behind; they are the remains the next `up` must remove.
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("state.json")).unwrap()).unwrap();
    for component in recorded["components"].as_array().unwrap() {
        let pid = component["pid"].as_i64().unwrap() as i32;
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let remains = local::remains(&paths, &found);
    assert!(
        remains.iter().any(|line| line.starts_with("link "))
            && remains.iter().any(|line| line.contains("chain")),
        "a killed cluster leaves its bridge and chains: {remains:?}"
    );
    let again = local(&["up"], &state);
    assert_eq!(
        again.code,
        0,
        "up after a SIGKILLed cluster: {}",
        again.output()
    );
    let status = local(&["status"], &state);
    assert_eq!(status.code, 0, "{}", status.output());
    assert!(status.stdout.contains("kubelet"), "{}", status.output());

    let down = local(&["down"], &state);
    assert_eq!(down.code, 0, "{}", down.output());
    assert_nothing_left(&paths, &found);
    // A second down finds nothing and says so.
    let down = local(&["down"], &state);
    assert_eq!(down.code, 0, "{}", down.output());
    assert!(
        down.stdout.contains("nothing of one remains"),
        "{}",
        down.output()
    );
}

#[test]
#[ignore = "needs root and the local cluster's binaries: `cargo xtask test` runs it"]
fn integration_on_local_deploys_on_the_real_node_and_reports_stages_without_images_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("local");
    let paths = LocalPaths {
        state_dir: state.clone(),
    };
    let _down = DownOnDrop(&state);
    let report_dir = dir.path().join("report");
    let run = xtask_with(
        &[
            "integration",
            "--provider",
            "local",
            "--report-dir",
            report_dir.to_str().unwrap(),
        ],
        &[("SEATRIAL_LOCAL_STATE", &state)],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let report = crate::support::read_report(&report_dir);
    assert_eq!(report["provider"], "local");
    let stages = report["stages"].as_array().unwrap();
    let status = |name: &str| {
        stages
            .iter()
            .find(|stage| stage["name"] == name)
            .unwrap_or_else(|| panic!("no stage {name}"))
    };
    let first = status("kubernetes-initialize");
    assert_eq!(first["status"], "passed", "{first}");
    assert!(!first["checks"].as_array().unwrap().is_empty());
    for name in ["ingress", "keycloak", "jupyterhub"] {
        let stage = status(name);
        // Skipped, never passed, and the reason names the images that are missing.
        assert_eq!(stage["status"], "skipped", "{stage}");
        let reason = stage["error"].as_str().unwrap();
        assert!(reason.contains("not built on this machine"), "{reason}");
    }
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 4, "{scenarios:?}");
    assert!(scenarios.iter().all(|s| s["outcome"] == "skipped"
        && s["message"]
            .as_str()
            .unwrap()
            .contains("jupyterhub stage was skipped on local")));
    assert_eq!(report["sweep"]["leftovers"].as_array().unwrap().len(), 0);
    assert_eq!(report["host_leftovers"].as_array().unwrap().len(), 0);
    assert!(
        run.stdout
            .contains("3 stages skipped; scenarios: 0 passed, 0 failed, 4 skipped"),
        "{}",
        run.output()
    );
    // The run started the cluster, so it stopped it: nothing remains on the host.
    let found = binaries::ensure(&default_pins_file(), &LOCAL_RECIPES, &mut |_| {}).unwrap();
    assert_nothing_left(&paths, &found);
}

#[test]
#[ignore = "needs root and the local cluster's binaries: `cargo xtask test` runs it"]
fn ctrl_c_during_local_up_stops_and_removes_what_was_started() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("local");
    let paths = LocalPaths {
        state_dir: state.clone(),
    };
    let _down = DownOnDrop(&state);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["local", "up"])
        .env("SEATRIAL_LOCAL_STATE", &state)
        .env("SEATRIAL_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the control plane runs (state.json names the API server): mid-start.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let recorded = loop {
        let recorded = std::fs::read_to_string(state.join("state.json")).unwrap_or_default();
        if recorded.contains("kube-apiserver") {
            break recorded;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "local up never started the API server"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let recorded: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("interrupted (Ctrl-C) while the local cluster was starting; everything started was stopped and removed"),
        "{stderr}"
    );
    // The control plane's processes (etcd, the API server) were stopped too.
    for component in recorded["components"].as_array().unwrap() {
        let (pid, binary) = (
            component["pid"].as_i64().unwrap(),
            component["binary"].as_str().unwrap(),
        );
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"));
        assert!(
            !exe.is_ok_and(|exe| exe == Path::new(binary)),
            "{} (pid {pid}) still runs",
            component["name"]
        );
    }
    let found = binaries::ensure(&default_pins_file(), &LOCAL_RECIPES, &mut |_| {}).unwrap();
    assert_nothing_left(&paths, &found);
}
