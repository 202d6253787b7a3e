//! `cargo xtask integration --provider kind` and `--provider k3s` against a real Docker
//! engine. They cannot run where there is no Docker engine (the machines `cargo xtask test`
//! runs on here): `cargo xtask test` leaves this binary out when `docker info` fails, and
//! `.github/workflows/nightly.yml` runs it with `--run-ignored all` on a runner with Docker.

use std::path::Path;
use std::process::Command;

fn xtask(args: &[&str], report: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .arg("--report-dir")
        .arg(report)
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

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

/// Whether `kind get clusters` lists `name`.
fn kind_cluster_exists(name: &str) -> bool {
    let output = Command::new("kind")
        .args(["get", "clusters"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line == name)
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("seatrial.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The headline: the whole platform on a fresh kind cluster, checked, browsed, torn down,
/// with no Kubernetes or Docker leftovers and the cluster gone.
#[test]
#[ignore = "needs docker"]
fn kind_runs_the_whole_platform_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
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
#[ignore = "needs docker"]
fn a_failed_kind_run_still_deletes_its_cluster() {
    let dir = tempfile::tempdir().unwrap();
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

/// `--reuse` deploys into a running cluster and leaves it running.
#[test]
#[ignore = "needs docker"]
fn kind_reuse_leaves_the_cluster_running() {
    let dir = tempfile::tempdir().unwrap();
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
    let deleted = Command::new("kind")
        .args(["delete", "cluster", "--name", "reusekind"])
        .status()
        .unwrap();
    assert!(deleted.success());
}

/// The platform on a k3s container; the container is gone afterwards.
#[test]
#[ignore = "needs docker"]
fn k3s_runs_the_platform_and_removes_its_container() {
    let dir = tempfile::tempdir().unwrap();
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
