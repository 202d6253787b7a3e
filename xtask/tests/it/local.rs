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

/// `cargo xtask integration --report-dir <report> <args>` against the local cluster in `state`.
fn integration(state: &Path, report: &Path, args: &[&str]) -> Run {
    let mut full = vec!["integration", "--report-dir", report.to_str().unwrap()];
    full.extend_from_slice(args);
    xtask_with(&full, &[("SEATRIAL_LOCAL_STATE", state)])
}

/// The xtask binary running `args` against the local cluster in `state`, in the background,
/// its output captured.
fn spawn(args: &[&std::ffi::OsStr], state: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("SEATRIAL_LOCAL_STATE", state)
        .env("SEATRIAL_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `child` SIGINT (as Ctrl-C does) and waits for it: its exit code and stderr.
fn interrupt(child: std::process::Child) -> (Option<i32>, String) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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
#[ignore = "needs root, the local cluster's binaries, the built images and Chromium: `cargo xtask test` runs it"]
fn integration_on_local_runs_the_hub_for_real_and_the_scenarios_pass_in_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("local");
    let paths = LocalPaths {
        state_dir: state.clone(),
    };
    let _down = DownOnDrop(&state);
    let report_dir = dir.path().join("report");
    let run = integration(&state, &report_dir, &["--provider", "local"]);
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
    // Every stage ran for real: Traefik and Keycloak from the images built here too.
    for name in ["kubernetes-initialize", "ingress", "keycloak", "jupyterhub"] {
        let stage = status(name);
        assert_eq!(stage["status"], "passed", "{stage}");
        assert!(!stage["checks"].as_array().unwrap().is_empty());
    }
    // The endpoint checks went through the ingress, over TLS with the run's certificate, to
    // Keycloak's realm and the real hub.
    let passed = |stage: &str, name: &str| {
        let checks = status(stage)["checks"].as_array().unwrap().clone();
        let check = checks.iter().find(|check| check["name"] == name).cloned();
        assert!(
            check
                .as_ref()
                .is_some_and(|check| check["result"] == "passed"),
            "{stage}::{name}: {check:?}"
        );
    };
    for name in [
        "platform_certificate",
        "realm_discovery",
        "http_redirects_to_https",
    ] {
        passed("keycloak", name);
    }
    for name in [
        "hub_api_answers",
        "home_redirects_to_login",
        "hub_data_bound",
    ] {
        passed("jupyterhub", name);
    }
    // The browser logged in through Keycloak, spawned a server on the real node, ran 1 + 5,
    // logged out, used a token, and the analyst was refused what the admin saw: passed.
    let scenarios = report["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .map(|scenario| scenario["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "login",
            "spawn_and_run_notebook",
            "logout",
            "hub_api_token",
            "roles"
        ]
    );
    for scenario in scenarios {
        assert_eq!(scenario["outcome"], "passed", "{scenario}");
    }
    // The trial users' passwords are nowhere in the report dir.
    assert_no_secret_in(&report_dir, &run.output());
    assert_eq!(report["sweep"]["leftovers"].as_array().unwrap().len(), 0);
    assert_eq!(report["host_leftovers"].as_array().unwrap().len(), 0);
    assert!(
        run.stdout
            .contains("0 skipped; scenarios: 5 passed, 0 failed, 0 skipped"),
        "{}",
        run.output()
    );
    // The run started the cluster, so it stopped it: nothing remains on the host.
    let found = binaries::ensure(&default_pins_file(), &LOCAL_RECIPES, &mut |_| {}).unwrap();
    assert_nothing_left(&paths, &found);
}

/// An upgrade trial on the real node between two JupyterHub releases: the first platform
/// (JupyterHub 6.0.1 in the hub and single-user images, and a ConfigMap the second drops) is
/// deployed, browsed and seeded, then upgraded in place to the repository's pins (6.1.1). The
/// hub, Keycloak and the ingress keep running on the Secrets the first render generated, so
/// the browser scenarios (Keycloak logins with the trial users' passwords) pass again after
/// the upgrade; the seeded data (a UserProfile, the generated Secrets, a hub user, their API
/// token and named server, a notebook in their home, a Keycloak user in a group) is verified,
/// the dropped ConfigMap is pruned, and the cluster the trial started is stopped.
#[test]
#[ignore = "needs root, the local cluster's binaries, the built images and Chromium: `cargo xtask test` runs it"]
fn an_upgrade_trial_on_local_from_jupyterhub_6_0_to_6_1_keeps_every_seeded_byte_and_prunes_what_was_dropped(
) {
    let dir = tempfile::tempdir().unwrap();
    let from_dir = dir.path().join("from");
    std::fs::create_dir_all(&from_dir).unwrap();
    let from = crate::support::copy_platform_with_pins(&from_dir, |pins| {
        pins.replace(
            "pypi = \"jupyterhub\"\nversion = \"6.1.1\"",
            "pypi = \"jupyterhub\"\nversion = \"6.0.1\"",
        )
    });
    std::fs::write(
        from.join("jupyterhub/manifests/90-retired.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: retired-hub-settings\ndata:\n  mode: old\n",
    )
    .unwrap();
    let to = crate::support::repo_root().join("deployer/stages");
    let (run, trial) = upgrade_trial(dir.path(), &from, &to);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(trial["outcome"], "passed", "{trial}");
    let changes: Vec<String> = trial["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| format!("{} {} → {}", change["pin"], change["from"], change["to"]))
        .collect();
    assert_eq!(
        changes,
        [r#""packages.jupyterhub" "6.0.1" → "6.1.1""#],
        "{trial}"
    );
    for phase in ["from", "to"] {
        let record = &trial[phase];
        assert_eq!(record["provider"], "local", "{record}");
        let scenarios = record["scenarios"].as_array().unwrap();
        assert_eq!(scenarios.len(), 5, "{phase}: {record}");
        for scenario in scenarios {
            assert_eq!(scenario["outcome"], "passed", "{phase}: {scenario}");
        }
    }
    let seeded = data_checks(&trial, "from", "seed");
    assert_eq!(
        seeded
            .iter()
            .map(|(name, result, _)| (name.as_str(), result.as_str()))
            .collect::<Vec<_>>(),
        [
            ("userprofile", "passed"),
            ("generated_secrets", "passed"),
            ("hub_user", "passed"),
            ("notebook", "passed"),
            ("identity_user", "passed"),
            ("jupyterhub::analyst_notes", "passed"),
        ],
        "{trial}"
    );
    let verified = data_checks(&trial, "to", "upgrade");
    assert_eq!(
        verified
            .iter()
            .map(|(name, result, _)| (name.as_str(), result.as_str()))
            .collect::<Vec<_>>(),
        [
            ("userprofile", "passed"),
            ("generated_secrets", "passed"),
            ("hub_token", "passed"),
            ("hub_user", "passed"),
            ("notebook", "passed"),
            ("identity_user", "passed"),
            ("jupyterhub::analyst_notes_kept", "passed"),
        ],
        "{trial}"
    );
    let pruned = &trial["to"]["upgrade"]["pruned"];
    assert_eq!(
        pruned[0]["object"]["name"], "retired-hub-settings",
        "{pruned}"
    );
    assert_eq!(trial["to"]["sweep"]["leftovers"], serde_json::json!([]));
    assert_eq!(trial["to"]["host_leftovers"], serde_json::json!([]));
    // The first deployment started the cluster; the upgrade stopped it.
    assert_eq!(trial["from"]["provider_reused"], false);
}

/// The two ways an upgrade loses what users own, each failing the trial with a message that
/// names what was lost: a new hub config that drops the home volume claim (the changed
/// hub-config rolls the hub, and the notebook is gone from the server it starts), and a hub database on an emptyDir (the hub pod
/// the upgrade replaces starts with an empty database: the user, their server and their
/// token are gone). The deployment is still torn down.
#[test]
#[ignore = "needs root, the local cluster's binaries, the built images and Chromium: `cargo xtask test` runs it"]
fn on_local_an_upgrade_that_drops_the_home_claim_or_keeps_the_hub_database_on_an_emptydir_fails_naming_what_was_lost(
) {
    let dir = tempfile::tempdir().unwrap();
    // The home claim: the first platform mounts it, the new one no longer does.
    let home = dir.path().join("home");
    let from = crate::support::copy_platform(&home.join("from"));
    let to = crate::support::copy_platform(&home.join("to"));
    edit(&to.join("jupyterhub/manifests/10-config.yaml"), |text| {
        text.lines()
            .filter(|line| !line.contains("c.KubeSpawner.volume"))
            .map(|line| format!("{line}\n"))
            .collect()
    });
    let (run, trial) = upgrade_trial(&home, &from, &to);
    assert_eq!(run.code, 1, "{}", run.output());
    assert_eq!(trial["outcome"], "failed", "{trial}");
    let verified = data_checks(&trial, "to", "upgrade");
    let failed: Vec<_> = verified
        .iter()
        .filter(|(_, result, _)| result == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{verified:?}");
    let (name, _, message) = failed[0];
    assert_eq!(name, "notebook", "{verified:?}");
    assert!(message.contains("upgrade-seed.ipynb"), "{message}");
    assert!(message.contains("/home/jovyan"), "{message}");
    assert!(
        run.output().contains("upgrade::notebook"),
        "{}",
        run.output()
    );

    // The hub database: on an emptyDir in both platforms; the upgrade's new hub image
    // replaces the hub pod.
    let hub_db = dir.path().join("hub-db");
    let from = crate::support::copy_platform(&hub_db.join("from"));
    let to = crate::support::copy_platform(&hub_db.join("to"));
    for platform in [&from, &to] {
        edit(
            &platform.join("jupyterhub/manifests/20-deployments.yaml"),
            |text| {
                text.replace(
                    "persistentVolumeClaim: {claimName: hub-data}",
                    "emptyDir: {}",
                )
            },
        );
    }
    edit(
        &to.join("jupyterhub/manifests/20-deployments.yaml"),
        |text| {
            text.replacen(
                "      labels:",
                "      annotations: {seatrial.dev/replaced: \"yes\"}\n      labels:",
                1,
            )
        },
    );
    let (run, trial) = upgrade_trial(&hub_db, &from, &to);
    assert_eq!(run.code, 1, "{}", run.output());
    let verified = data_checks(&trial, "to", "upgrade");
    let failed: Vec<&str> = verified
        .iter()
        .filter(|(_, result, _)| result == "failed")
        .map(|(name, _, _)| name.as_str())
        .collect();
    assert_eq!(
        failed,
        ["hub_token", "hub_user", "notebook"],
        "{verified:?}"
    );
    let message = |name: &str| {
        &verified
            .iter()
            .find(|(check, _, _)| check == name)
            .unwrap()
            .2
    };
    assert!(
        message("hub_token").contains("403") || message("hub_token").contains("401"),
        "{}",
        message("hub_token")
    );
    assert!(
        message("hub_user").contains("upgrade-seed"),
        "{}",
        message("hub_user")
    );
    for phase in ["from", "to"] {
        assert_eq!(
            trial[phase]["host_leftovers"],
            serde_json::json!([]),
            "{phase}"
        );
    }
    assert_eq!(trial["to"]["sweep"]["leftovers"], serde_json::json!([]));
}

/// Rewrites the file at `path` with `change`, which must change it.
fn edit(path: &Path, change: impl FnOnce(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let changed = change(&text);
    assert_ne!(changed, text, "{} was not changed", path.display());
    std::fs::write(path, changed).unwrap();
}

/// `cargo xtask upgrade --provider local --from <from> --to <to>` with its state, ledger and
/// reports under `dir`: the run and the trial record (`upgrade.json`). Asserts that the
/// cluster the trial started was stopped, leaving nothing on the host.
fn upgrade_trial(dir: &Path, from: &Path, to: &Path) -> (Run, serde_json::Value) {
    let state = dir.join("local");
    let paths = LocalPaths {
        state_dir: state.clone(),
    };
    let _down = DownOnDrop(&state);
    let reports = dir.join("reports");
    let run = xtask_with(
        &[
            "upgrade",
            "--provider",
            "local",
            "--from",
            from.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[
            ("SEATRIAL_LOCAL_STATE", &state),
            ("SEATRIAL_STATE_DIR", &dir.join("ledger")),
        ],
    );
    let trial = match std::fs::read_to_string(reports.join("upgrade.json")) {
        Ok(text) => serde_json::from_str(&text).unwrap(),
        Err(error) => panic!("no upgrade.json ({error}): {}", run.output()),
    };
    let found = binaries::ensure(&default_pins_file(), &LOCAL_RECIPES, &mut |_| {}).unwrap();
    assert_nothing_left(&paths, &found);
    (run, trial)
}

/// The checks of stage `stage` in the trial's `phase` run: name, result and message.
fn data_checks(
    trial: &serde_json::Value,
    phase: &str,
    stage: &str,
) -> Vec<(String, String, String)> {
    trial[phase]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["name"] == stage)
        .flat_map(|record| record["checks"].as_array().unwrap().clone())
        .map(|check| {
            let text = |key: &str| check[key].as_str().unwrap_or_default().to_owned();
            (text("name"), text("result"), text("message"))
        })
        .collect()
}

/// Asserts that no file under `dir`, and not `output`, holds a private key (the platform
/// certificate's is in a Secret only).
fn assert_no_secret_in(dir: &Path, output: &str) {
    let mut stack = vec![dir.to_owned()];
    let mut texts = vec![output.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .map(|entry| entry.unwrap().path()),
            );
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            texts.push(text);
        }
    }
    for text in texts {
        assert!(
            !text.contains("PRIVATE KEY-----"),
            "a private key was written"
        );
    }
}

/// A Deployment of the built hub image whose container fails once (writing `first`) and
/// then runs (writing `second`), or, with `always_fail`, exits every time (after a second, so
/// it is never ready).
fn faulty_deployment(name: &str, always_fail: bool) -> String {
    let script = if always_fail {
        "echo crash-marker; sleep 1; exit 1".to_owned()
    } else {
        "if [ -e /scratch/ran ]; then echo second-run-marker; exec sleep 3600; fi; touch /scratch/ran; echo first-run-marker; exit 1".to_owned()
    };
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {{{{ namespace }}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: {name}
          image: {{{{ images.hub }}}}
          command: ["sh", "-c", "{script}"]
          volumeMounts: [{{name: scratch, mountPath: /scratch}}]
          # Ready only once it has run 5 s: a container that exits first never is.
          readinessProbe: {{exec: {{command: ["true"]}}, initialDelaySeconds: 5, periodSeconds: 2}}
      volumes: [{{name: scratch, emptyDir: {{}}}}]
"#
    )
}

#[test]
#[ignore = "needs root, the local cluster's binaries, the built images and Chromium: `cargo xtask test` runs it"]
fn on_local_a_wrong_certificate_a_broken_role_mapping_and_a_refused_realm_fail_naming_what_was_wrong(
) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("local");
    let paths = LocalPaths {
        state_dir: state.clone(),
    };
    let _down = DownOnDrop(&state);
    let up = local(&["up"], &state);
    assert_eq!(up.code, 0, "{}", up.output());

    // 1. The ingress serves a certificate for another name, from another CA.
    let platform = crate::support::copy_platform(&dir.path().join("a"));
    let wrong = deployer::tls::PlatformTls::for_domain("elsewhere", "wrong.test").unwrap();
    let indent = |pem: &str| {
        pem.lines()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    };
    std::fs::write(
        platform.join("ingress/manifests/05-tls.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: platform-tls\n  namespace: {{{{ namespace }}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
            indent(&wrong.cert),
            indent(&wrong.key)
        ),
    )
    .unwrap();
    // A faulty copy of the platform, deployed up to the keycloak stage as `project`.
    let up_to_keycloak = |platform: &Path, project: &str, report: &Path| {
        let config = crate::support::write_config(dir.path(), project, "provider: local\n");
        integration(
            &state,
            report,
            &[
                "--config",
                config.to_str().unwrap(),
                "--platform",
                platform.to_str().unwrap(),
                "--stop-at",
                "keycloak",
            ],
        )
    };
    let report = dir.path().join("report-a");
    let run = up_to_keycloak(&platform, "local-wrong-cert", &report);
    assert_eq!(run.code, 1, "{}", run.output());
    // Traefik finds no certificate for the name asked and serves its own default one: the
    // check names the chain that does not verify, the missing name and the issuer.
    assert!(
        run.stderr
            .contains("keycloak::platform_certificate: FAILED")
            && run.stderr.contains("does not verify against the CA in")
            && run
                .stderr
                .contains("subjectAltName lacks local-wrong-cert.seatrial.test (it has ")
            && run
                .stderr
                .contains("does not contain `seatrial platform CA local-wrong-cert`"),
        "{}",
        run.output()
    );
    assert_no_secret_in(&report, &run.output());
    let record = crate::support::read_report(&report);
    assert_eq!(record["sweep"]["leftovers"].as_array().unwrap().len(), 0);

    // 2. The hub's role mapping is broken on purpose: analysts are admins too.
    let config = crate::support::write_config(
        dir.path(),
        "local-broken-roles",
        "provider: local\nstages:\n  jupyterhub:\n    admin_groups: [admin, analyst]\n",
    );
    let report = dir.path().join("report-b");
    let run = integration(&state, &report, &["--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.output());
    let record = crate::support::read_report(&report);
    let roles = record["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|scenario| scenario["name"] == "roles")
        .cloned()
        .unwrap();
    assert_eq!(roles["outcome"], "failed", "{roles}");
    assert_eq!(
        roles["message"],
        "step `the analyst is refused /hub/admin (403)`: `trial-analyst` was shown the admin page and the user list: a user outside the admin group has admin rights",
        "{roles}"
    );
    let screenshot = report.join("scenarios/roles/screenshot.png");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 1000);
    if let Ok(keep) = std::env::var("SEATRIAL_KEEP_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }
    // The failed scenario's cluster side: every pod's state and the namespace's logs.
    let bundle = &record["scenario_diagnostics"];
    assert_eq!(bundle["dir"], "diagnostics/scenarios", "{record}");
    let pods: Vec<&str> = bundle["pods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|pod| pod.as_str())
        .collect();
    for name in ["hub-", "keycloak-", "proxy-", "traefik-"] {
        assert!(
            pods.iter()
                .any(|pod| pod.starts_with(name) && pod.contains(" Running, ready 1/1, ")),
            "no running {name} pod in {pods:?}"
        );
    }
    assert!(
        run.stderr.contains("diagnostics of the failed scenarios: ")
            && run.stderr.contains("\n  pod hub-"),
        "{}",
        run.output()
    );
    let logs = std::fs::read_dir(report.join("diagnostics/scenarios/logs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    let hub_log = logs
        .iter()
        .find(|name| name.starts_with("hub-") && name.ends_with(".hub.log"))
        .unwrap_or_else(|| panic!("no hub log in {logs:?}"));
    let hub_log =
        std::fs::read_to_string(report.join("diagnostics/scenarios/logs").join(hub_log)).unwrap();
    assert!(hub_log.contains("JupyterHub"), "{hub_log}");
    assert_no_secret_in(&report, &run.output());
    assert_eq!(record["sweep"]["leftovers"].as_array().unwrap().len(), 0);

    // 3. A realm file Keycloak refuses: the stage fails as a crash loop, naming the ConfigMap
    //    the file comes from and quoting Keycloak's own error.
    let platform = crate::support::copy_platform(&dir.path().join("c"));
    let realm = platform.join("keycloak/manifests/10-realm.yaml");
    let text = std::fs::read_to_string(&realm).unwrap();
    std::fs::write(
        &realm,
        text.replacen("\"enabled\": true,", "\"enabled\": \"maybe\",", 1),
    )
    .unwrap();
    let report = dir.path().join("report-c");
    let run = up_to_keycloak(&platform, "local-bad-realm", &report);
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stderr.contains("keycloak: deploy FAILED: Deployment local-bad-realm/keycloak will not become ready: pod keycloak-")
            && run.stderr.contains("it reads ConfigMap keycloak-realm at /opt/keycloak/data/import")
            && run.stderr.contains("Cannot deserialize value of type `java.lang.Boolean` from String \"maybe\""),
        "{}",
        run.output()
    );
    let record = crate::support::read_report(&report);
    assert_eq!(record["sweep"]["leftovers"].as_array().unwrap().len(), 0);

    let down = local(&["down"], &state);
    assert_eq!(down.code, 0, "{}", down.output());
    let found = binaries::ensure(&default_pins_file(), &LOCAL_RECIPES, &mut |_| {}).unwrap();
    assert_nothing_left(&paths, &found);
}

/// A copy of the platform whose first stage also runs `manifest` (and, optionally, a check).
fn faulty_platform(dir: &Path, manifest: &str, check: &str) -> std::path::PathBuf {
    let platform = crate::support::copy_platform(dir);
    let stage = platform.join("kubernetes-initialize");
    std::fs::write(stage.join("manifests/90-faulty.yaml"), manifest).unwrap();
    crate::support::append(&stage.join("checks.yaml"), check);
    platform
}

#[test]
#[ignore = "needs root, the local cluster's binaries and the built images: `cargo xtask test` runs it"]
fn on_local_a_failed_check_bundles_real_container_logs_a_crash_loop_is_named_and_ctrl_c_tears_down()
{
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("local");
    let paths = LocalPaths {
        state_dir: state.clone(),
    };
    let _down = DownOnDrop(&state);
    let up = local(&["up"], &state);
    assert_eq!(up.code, 0, "{}", up.output());
    let integration = |platform: &Path, project: &str, report: &Path| {
        let config = crate::support::write_config(dir.path(), project, "provider: local\n");
        integration(
            &state,
            report,
            &[
                "--config",
                config.to_str().unwrap(),
                "--platform",
                platform.to_str().unwrap(),
                "--stop-at",
                "kubernetes-initialize",
            ],
        )
    };

    // 1. A check fails: its bundle holds the real container's log and the previous one's.
    let restarter = faulty_platform(
        &dir.path().join("a"),
        &faulty_deployment("restarter", false),
        "  - name: restarter_has_two_replicas\n    timeout_seconds: 2\n    field_equals:\n      object: {apiVersion: apps/v1, kind: Deployment, namespace: \"{{ namespace }}\", name: restarter}\n      path: spec.replicas\n      value: 2\n",
    );
    let report = dir.path().join("report-a");
    let run = integration(&restarter, "local-faults-a", &report);
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stderr
            .contains("kubernetes-initialize::restarter_has_two_replicas: FAILED"),
        "{}",
        run.output()
    );
    let logs = report.join("diagnostics/kubernetes-initialize/restarter_has_two_replicas/logs");
    let read = |suffix: &str| -> String {
        std::fs::read_dir(&logs)
            .unwrap_or_else(|error| panic!("{}: {error}", logs.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().ends_with(suffix))
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect()
    };
    assert!(
        read(".restarter.log").contains("second-run-marker"),
        "{}",
        read(".restarter.log")
    );
    assert!(
        read(".restarter.previous.log").contains("first-run-marker"),
        "{}",
        read(".restarter.previous.log")
    );
    let record = crate::support::read_report(&report);
    assert_eq!(record["sweep"]["leftovers"].as_array().unwrap().len(), 0);

    // 2. A crash loop fails the stage early, naming the pod, its restarts and its last words.
    let crasher = faulty_platform(
        &dir.path().join("b"),
        &faulty_deployment("crasher", true),
        "",
    );
    let run = integration(&crasher, "local-faults-b", &dir.path().join("report-b"));
    assert_eq!(run.code, 1, "{}", run.output());
    let stderr = &run.stderr;
    assert!(
        stderr.contains("pod crasher-")
            && stderr.contains("is crash-looping: container crasher restarted 3 times")
            && stderr.contains("exited with code 1")
            && stderr.contains("| crash-marker"),
        "{}",
        run.output()
    );

    // 3. Ctrl-C while the stage waits: what was applied is torn down and swept.
    let config = crate::support::write_config(dir.path(), "local-faults-c", "provider: local\n");
    let report = dir.path().join("report-c");
    let child = spawn(
        &[
            "integration".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--platform".as_ref(),
            crasher.as_os_str(),
            "--stop-at".as_ref(),
            "kubernetes-initialize".as_ref(),
            "--report-dir".as_ref(),
            report.as_os_str(),
        ],
        &state,
    );
    let kubeconfig = paths.kubeconfig();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = deployer::providers::connect(&kubeconfig, None, "local up")
            .await
            .unwrap()
            .client;
        let pods: Api<Pod> = Api::namespaced(client, "local-faults-c");
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        // Interrupt once the crasher's pod exists: mid-stage.
        while pods
            .list(&kube::api::ListParams::default().labels("app=crasher"))
            .await
            .map_or(true, |list| list.items.is_empty())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no crasher pod appeared"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let (code, stderr) = interrupt(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: tearing down what was applied (Ctrl-C"),
        "{stderr}"
    );
    let record = crate::support::read_report(&report);
    assert_eq!(record["outcome"], "interrupted", "{record}");
    assert_eq!(record["sweep"]["leftovers"].as_array().unwrap().len(), 0);

    let down = local(&["down"], &state);
    assert_eq!(down.code, 0, "{}", down.output());
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
    let child = spawn(&["local".as_ref(), "up".as_ref()], &state);
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
    let (code, stderr) = interrupt(child);
    assert_eq!(code, Some(4), "{stderr}");
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

/// Chart stages on the real node: hooks run in weight order and are deleted as their policies
/// say, a test hook runs as a check with its log in the report, a StatefulSet's claim is
/// deleted at teardown though it carries no inventory label, a `keep` object is left and
/// reported; then a failing hook Job and a failing test hook each fail their run, naming the
/// hook and quoting its log.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root, the local cluster's binaries, the built images, Helm 3 and 4 and Debian's docker-registry: `cargo xtask test` runs it"]
async fn on_local_chart_hooks_tests_and_claims_run_on_real_pods_and_failing_hooks_name_their_logs()
{
    use crate::charts::{
        broken_hook_chart, chart_stage, failing_test_chart, namespace_stage, rollout_chart,
        rollout_checks, ChartWorld,
    };
    let world = ChartWorld::start().await;
    for (name, files) in [
        ("rollout", rollout_chart()),
        ("migrate", broken_hook_chart()),
        ("probe", failing_test_chart()),
    ] {
        let chart = world.write_chart(name, &files);
        let digest = world.publish_http(&chart);
        let version = files[0]
            .1
            .lines()
            .find_map(|l| l.strip_prefix("version: "))
            .unwrap();
        world.pin(name, &world.server.url, version, &digest);
    }
    let state = world.dir.path().join("local");
    let _down = DownOnDrop(&state);
    let started = std::time::Instant::now();
    let up = local(&["up"], &state);
    assert_eq!(up.code, 0, "{}", up.output());
    eprintln!("local up: {:.1} s", started.elapsed().as_secs_f64());
    let values = "image: \"{{ images.hub }}\"\n";
    let run_platform = |name: &str, chart: &str, checks: &str| {
        let platform = world.platform(
            name,
            &[
                ("namespace", namespace_stage()),
                (chart, chart_stage(chart, chart, "", values, checks)),
            ],
        );
        let config = crate::support::write_config(world.dir.path(), name, "provider: local\n");
        let report = world.dir.path().join(format!("report-{name}"));
        let started = std::time::Instant::now();
        let run = integration(
            &state,
            &report,
            &[
                "--config",
                config.to_str().unwrap(),
                "--platform",
                platform.to_str().unwrap(),
            ],
        );
        eprintln!(
            "{name}: {:.1} s\n{}",
            started.elapsed().as_secs_f64(),
            run.output()
        );
        (run, crate::support::read_report(&report))
    };

    // 1. Everything passes.
    let (run, report) = run_platform("chart-rollout", "rollout", &rollout_checks());
    assert_eq!(run.code, 0, "{}", run.output());
    let stage = &report["stages"][1];
    let checks: Vec<&str> = stage["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "pre_install_hooks_ran_in_weight_order",
            "succeeded_hook_deleted",
            "post_install_hook_completed",
            "claim_bound",
            "helm_test::rollout-smoke"
        ]
    );
    let smoke = &stage["checks"][4];
    assert_eq!(smoke["result"], "passed", "{smoke:#}");
    assert!(
        smoke["message"]
            .as_str()
            .unwrap()
            .contains("smoke test: the release answers"),
        "{smoke:#}"
    );
    let teardown = &report["teardown"];
    assert_eq!(
        teardown["claims_deleted"][0]["name"], "data-rollout-db-0",
        "{teardown:#}"
    );
    let kept = "rollout-chart-rollout-kept";
    assert_eq!(teardown["kept"][0]["name"], kept, "{teardown:#}");
    assert_eq!(report["sweep"]["kept"][0]["name"], kept, "{report:#}");
    assert!(report["sweep"]["leftovers"].as_array().unwrap().is_empty());
    assert!(
        run.stderr.contains(&format!(
            "kept on purpose (helm.sh/resource-policy: keep): ClusterRole {kept}"
        )),
        "{}",
        run.output()
    );
    // The kept ClusterRole is really there (and removed here); the claim is really gone.
    let kubeconfig = state.join("kubeconfig");
    let client = deployer::providers::connect(&kubeconfig, None, "local up")
        .await
        .unwrap()
        .client;
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    assert!(roles.get_opt(kept).await.unwrap().is_some());
    roles.delete(kept, &Default::default()).await.unwrap();
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(client.clone(), "chart-rollout");
    assert!(claims.get_opt("data-rollout-db-0").await.unwrap().is_none());

    // 2. Kept, then removed by `cargo xtask teardown`: the sweep finds the StatefulSet's claim
    //    through its selector and name (the namespace is not the deployment's, so nothing
    //    else would delete the claim).
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "chart-swept"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let platform = world.platform(
        "chart-swept",
        &[(
            "rollout",
            chart_stage("rollout", "rollout", "", values, "  []\n"),
        )],
    );
    let config = crate::support::write_config(world.dir.path(), "chart-swept", "provider: local\n");
    let report = world.dir.path().join("report-chart-swept");
    let run = integration(
        &state,
        &report,
        &[
            "--config",
            config.to_str().unwrap(),
            "--platform",
            platform.to_str().unwrap(),
            "--keep",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(client.clone(), "chart-swept");
    assert!(claims.get_opt("data-rollout-db-0").await.unwrap().is_some());
    let teardown = crate::support::xtask(&[
        "teardown",
        "--target",
        report.join("target.json").to_str().unwrap(),
    ]);
    assert_eq!(teardown.code, 0, "{}", teardown.output());
    assert!(
        claims.get_opt("data-rollout-db-0").await.unwrap().is_none(),
        "{}",
        teardown.output()
    );
    let kept = "rollout-chart-swept-kept";
    assert!(
        teardown.stderr.contains(&format!(
            "kept on purpose (helm.sh/resource-policy: keep): ClusterRole {kept}"
        )),
        "{}",
        teardown.output()
    );
    roles.delete(kept, &Default::default()).await.unwrap();
    namespaces
        .delete("chart-swept", &Default::default())
        .await
        .unwrap();

    // 3. A pre-install hook Job fails: the stage fails with its log; `hook-failed` deletes it.
    let (run, report) = run_platform("chart-migrate", "migrate", "  []\n");
    assert_eq!(run.code, 1, "{}", run.output());
    let stage = &report["stages"][1];
    assert_eq!(stage["status"], "deploy_failed", "{stage:#}");
    let error = stage["error"].as_str().unwrap();
    assert!(
        error.contains("hook Job chart-migrate/migrate-schema (pre-install, weight 0) failed")
            && error.contains("migration failed: table widgets is missing"),
        "{error}"
    );
    assert!(
        !stage["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "Job"),
        "{stage:#}"
    );

    // 4. A test hook fails: its check fails, quoting the pod's exit and log.
    let (run, report) = run_platform("chart-probe", "probe", "  []\n");
    assert_eq!(run.code, 1, "{}", run.output());
    let check = &report["stages"][1]["checks"][0];
    assert_eq!(check["name"], "helm_test::probe-health");
    assert_eq!(check["result"], "failed");
    let message = check["message"].as_str().unwrap();
    assert!(
        message.contains(
            "test pod chart-probe/probe-health ended in phase Failed: container health exited 1"
        ) && message.contains("smoke test: /healthz answered 503"),
        "{message}"
    );
}
