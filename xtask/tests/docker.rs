//! `cargo xtask integration --provider kind` and `--provider k3s` against a real container
//! engine. The kind tests (`needs a container engine`) run on Docker where its engine
//! answers (the nightly workflow, with the pinned `kindest/node`) and on podman elsewhere
//! (`cargo xtask test` here: rootful podman configured by seatrial, the node image and the
//! platform's images built here). The k3s test (`needs docker`: testcontainers talks to the
//! Docker API) runs only where Docker does; `cargo xtask test` leaves out what the machine
//! cannot run and says so.

use std::path::Path;
use std::process::Command;

use deployer::config::{Config, KindEngine};
use deployer::providers::kind::{self, commands};

/// `cargo xtask <args> --report-dir <report>`: its exit code and output.
fn xtask(args: &[&str], report: &Path) -> (i32, String) {
    let report = report.display().to_string();
    let mut all = args.to_vec();
    all.extend(["--report-dir", report.as_str()]);
    xtask_command(&all)
}

/// `cargo xtask <args>`: its exit code and its stdout and stderr.
fn xtask_command(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("SEATRIAL_LOG", "info")
        .output()
        .expect("the xtask binary runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// A test's temporary directory that outlives a failed test: on a panic it is kept and its
/// path printed (the run's report, diagnostics bundles and kind.log are in it).
struct TestDir(Option<tempfile::TempDir>);

impl TestDir {
    fn new() -> TestDir {
        TestDir(Some(tempfile::tempdir().unwrap()))
    }

    fn path(&self) -> &Path {
        self.0.as_ref().unwrap().path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(dir) = self.0.take() {
                eprintln!(
                    "the test failed: its reports stay in {}",
                    dir.keep().display()
                );
            }
        }
    }
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

/// What the runs use: the engine the provider picks here, and `kind` (built from the Go
/// module proxy on podman, from PATH on Docker), with the provider's podman configuration.
fn tools() -> commands::Tools {
    let mut config = Config::embedded_default();
    let engine = kind::detect_engine();
    config.kind.engine = Some(engine);
    let binaries = (engine == KindEngine::Podman).then(|| {
        deployer::providers::binaries::ensure(
            &deployer::pins::default_pins_file(),
            &["kind"],
            &mut |_| {},
        )
        .expect("kind builds")
    });
    deployer::providers::lifecycle::kind_tools(&config, binaries.as_ref()).unwrap()
}

/// Whether `kind get clusters` lists `name`, and the engine's containers labelled for it.
fn kind_cluster_exists(name: &str) -> bool {
    let tools = tools();
    let clusters = kind::run(&commands::get_clusters(&tools), None).unwrap();
    let (_, containers) = commands::leftover_listings(&tools, name).remove(0);
    let containers = kind::run(&containers, None).unwrap();
    clusters.lines().any(|line| line == name) || !containers.trim().is_empty()
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("seatrial.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The headline: the whole platform on a fresh kind cluster, checked, browsed, torn down,
/// with no Kubernetes or container-engine leftovers and the cluster gone.
#[test]
#[ignore = "needs a container engine"]
fn kind_runs_the_whole_platform_and_leaves_nothing() {
    let dir = TestDir::new();
    let config = write_config(
        dir.path(),
        "project_name: trialkind\nnamespace: trial\ndomain: trial.seatrial.test\nprovider: kind\n",
    );
    let reports = dir.path().join("report");
    let (code, output) = xtask(&["integration", "--config", &config], &reports);
    assert_eq!(code, 0, "{output}");
    let record = report(&reports);
    assert_eq!(record["outcome"], "passed", "{record:#}");
    assert_eq!(record["docker_leftovers"], serde_json::json!([]));
    // Every stage deployed and checked, Keycloak and the hub among them; the browser
    // scenarios ran in the run and passed.
    let stages = record["stages"].as_array().unwrap();
    for name in ["kubernetes-initialize", "ingress", "keycloak", "jupyterhub"] {
        let stage = stages
            .iter()
            .find(|stage| stage["name"] == name)
            .unwrap_or_else(|| panic!("no stage {name}: {record:#}"));
        assert_eq!(stage["status"], "passed", "{stage:#}");
        assert!(!stage["checks"].as_array().unwrap().is_empty(), "{stage:#}");
    }
    let scenarios = record["scenarios"].as_array().unwrap();
    assert!(
        scenarios.len() >= 4,
        "the browser scenarios did not run: {record:#}"
    );
    for scenario in scenarios {
        assert_eq!(scenario["outcome"], "passed", "{scenario:#}");
    }
    assert!(record["sweep"]["leftovers"].as_array().unwrap().is_empty());
    assert!(reports.join("kind-config.yaml").exists());
    assert!(
        !kind_cluster_exists("trialkind"),
        "the cluster outlived the run"
    );
    let text = std::fs::read_to_string(reports.join("report.json")).unwrap();
    assert!(
        !text.contains("client-key-data"),
        "kubeconfig credentials leaked into the report"
    );
}

/// A failing check still tears the kind cluster down.
#[test]
#[ignore = "needs a container engine"]
fn a_failed_kind_run_still_deletes_its_cluster() {
    let dir = TestDir::new();
    let config = write_config(
        dir.path(),
        "project_name: failkind\nnamespace: trial\ndomain: trial.seatrial.test\nprovider: kind\ncheck_timeout_seconds: 5\nstages:\n  ingress:\n    replicas: 0\n",
    );
    let reports = dir.path().join("report");
    let (code, output) = xtask(
        &["integration", "--config", &config, "--stop-at", "ingress"],
        &reports,
    );
    assert_eq!(code, 1, "{output}");
    assert_eq!(report(&reports)["docker_leftovers"], serde_json::json!([]));
    assert!(
        !kind_cluster_exists("failkind"),
        "the cluster outlived a failed run"
    );
}

/// `--keep` leaves the cluster running after its deployment is torn down; `--reuse` deploys
/// into it and leaves it running; `kind down` deletes it and what its first run changed on
/// the host.
#[test]
#[ignore = "needs a container engine"]
fn kind_reuse_leaves_the_cluster_running() {
    let dir = TestDir::new();
    let config = write_config(
        dir.path(),
        "project_name: reusekind\nnamespace: trial\ndomain: trial.seatrial.test\nprovider: kind\n",
    );
    let first = dir.path().join("first");
    let (code, output) = xtask(
        &[
            "integration",
            "--config",
            &config,
            "--stop-at",
            "ingress",
            "--keep",
        ],
        &first,
    );
    assert_eq!(code, 0, "{output}");
    // The kept deployment owns its name until it is torn down; the cluster stays.
    let (code, output) = xtask_command(&["teardown", "--deployment", "reusekind"]);
    assert_eq!(code, 0, "{output}");
    assert!(kind_cluster_exists("reusekind"));
    let second = dir.path().join("second");
    let (code, output) = xtask(
        &[
            "integration",
            "--config",
            &config,
            "--stop-at",
            "ingress",
            "--reuse",
        ],
        &second,
    );
    assert_eq!(code, 0, "{output}");
    assert_eq!(report(&second)["provider_reused"], true);
    assert!(kind_cluster_exists("reusekind"));
    let tools = tools();
    if tools.engine == KindEngine::Podman {
        // seatrial's node image refuses connections to ClusterIPs kube-proxy has not
        // translated (they would otherwise reach whatever answers beyond the node).
        let rules = kind::run(
            &commands::node_exec(
                &tools,
                "reusekind-control-plane",
                &["iptables", "-S", "FORWARD"],
            ),
            None,
        )
        .unwrap();
        assert!(
            rules.contains("-d 10.96.0.0/16 -m conntrack ! --ctstate DNAT -m comment --comment seatrial-untranslated-service-ip -j REJECT"),
            "{rules}"
        );
    }
    // The kept cluster goes with `kind down`, which also undoes what the first run changed on
    // the host (on podman: kind's network and its CNI chains) and exits 3 if anything remains.
    let (code, output) = xtask_command(&["kind", "down", "--name", "reusekind"]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("nothing of it remains"), "{output}");
    assert!(!kind_cluster_exists("reusekind"));
}

/// The platform on a k3s container; the container is gone afterwards.
#[test]
#[ignore = "needs docker"]
fn k3s_runs_the_platform_and_removes_its_container() {
    let dir = TestDir::new();
    let config = write_config(
        dir.path(),
        "project_name: trialk3s\nnamespace: trial\ndomain: trial.seatrial.test\nprovider: k3s\n",
    );
    let reports = dir.path().join("report");
    let (code, output) = xtask(&["integration", "--config", &config], &reports);
    assert_eq!(code, 0, "{output}");
    let containers = Command::new("docker")
        .args([
            "ps",
            "--all",
            "--filter",
            "ancestor=docker.io/rancher/k3s",
            "--format",
            "{{.ID}}",
        ])
        .output()
        .unwrap();
    assert!(
        containers.stdout.is_empty(),
        "a k3s container remains: {}",
        String::from_utf8_lossy(&containers.stdout)
    );
}
