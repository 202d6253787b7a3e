//! The run ledger on the hollow cluster: a SIGKILLed run is found and removed (by
//! `teardown --stale` or by the next run of its deployment, each listing what it deleted), and a
//! deployment has one owner (a second run beside a running or kept one is refused, exit 2 —
//! from this machine by the ledger, from another one by the deployment's Lease in the cluster).
//! Each test has its own state dir (`SEATRIAL_STATE_DIR`), so `--stale` sees its runs only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::Signal;

use crate::signals::{platform_that_waits, Running};
use crate::support::{client, labelled_objects, xtask_with, Run};

const STATE_ENV: &str = "SEATRIAL_STATE_DIR";

/// Nothing of `project` is left in the cluster (its lease included), and the ledger in
/// `state` is empty.
async fn assert_cleared(state: &Path, project: &str) {
    assert_eq!(
        labelled_objects(&client().await, project).await,
        Vec::<String>::new()
    );
    assert_eq!(entries(state), Vec::<serde_json::Value>::new());
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(client().await, deployer::lease::LEASE_NAMESPACE);
    let lease = leases
        .get_opt(&deployer::lease::lease_name(project))
        .await
        .unwrap();
    assert!(lease.is_none(), "the lease remains: {lease:?}");
}

/// A run of `project` from another machine (a ledger of its own, which knows no run of it) is
/// refused by the lease in the cluster, naming `owner` and `state_words`; nothing changes.
async fn refused_from_another_machine(
    dir: &Path,
    platform: &Path,
    config: &Path,
    project: &str,
    owner: &str,
    state_words: &str,
) {
    let before = labelled_objects(&client().await, project).await;
    let elsewhere = dir.join("elsewhere");
    let run = first_stage_run(platform, config, &dir.join("other"), &elsewhere, &[]);
    assert_eq!(run.code, 2, "{}", run.output());
    let expected = format!("error: deployment `{project}` is owned by run {owner} ({state_words}");
    assert!(run.stderr.contains(&expected), "{}", run.output());
    assert_eq!(labelled_objects(&client().await, project).await, before);
    assert_eq!(entries(&elsewhere), Vec::<serde_json::Value>::new());
}

/// The ledger entries in `state`, parsed.
pub fn entries(state: &Path) -> Vec<serde_json::Value> {
    let Ok(listing) = std::fs::read_dir(state.join("runs")) else {
        return Vec::new();
    };
    listing
        .flatten()
        .filter(|file| file.path().extension().is_some_and(|e| e == "json"))
        .map(|file| serde_json::from_str(&std::fs::read_to_string(file.path()).unwrap()).unwrap())
        .collect()
}

/// Runs until the ingress stage waits, then SIGKILLs the run: nothing tears down.
fn killed_mid_deploy(platform: &Path, config: &Path, reports: &Path, state: &Path) {
    let mut run = Running::start_with(platform, config, reports, &[], &[(STATE_ENV, state)]);
    run.until(|event| event["event"] == "stage_applying" && event["stage"] == "ingress");
    std::thread::sleep(Duration::from_secs(2));
    run.signal(Signal::KILL);
    let (code, _) = run.finish();
    assert_eq!(code, None, "SIGKILL leaves no exit code");
    assert!(
        !reports.join("report.json").exists(),
        "a killed run wrote no report"
    );
}

/// `xtask integration --stop-at kubernetes-initialize` with the test's state dir.
fn first_stage_run(
    platform: &Path,
    config: &Path,
    reports: &Path,
    state: &Path,
    extra: &[&str],
) -> Run {
    let (platform, config, reports) = (
        platform.display().to_string(),
        config.display().to_string(),
        reports.display().to_string(),
    );
    let mut args = vec![
        "integration",
        "--config",
        &config,
        "--report-dir",
        &reports,
        "--platform",
        &platform,
        "--stop-at",
        "kubernetes-initialize",
    ];
    args.extend_from_slice(extra);
    xtask_with(&args, &[(STATE_ENV, state)])
}

/// The one ledger entry of `state`, once it names `deployment` and lists the object
/// `applied` (within 30 s: a running run records each object just before applying it).
fn the_entry(state: &Path, deployment: &str, applied: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let entries = entries(state);
        assert_eq!(entries.len(), 1, "{entries:?}");
        let entry = entries[0].clone();
        assert_eq!(entry["deployment"], deployment, "{entry}");
        let listed = entry["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|object| object["name"] == applied);
        if listed {
            return entry;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the ledger does not list {applied}: {entry}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn a_sigkilled_run_is_in_the_ledger_and_teardown_stale_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let project = "e2e-killed";
    let (platform, config, reports) = platform_that_waits(dir.path(), project, "");
    killed_mid_deploy(&platform, &config, &reports, &state);
    let entry = the_entry(&state, project, "never-ready");
    assert!(!labelled_objects(&client().await, project).await.is_empty());

    let teardown = xtask_with(&["teardown", "--stale"], &[(STATE_ENV, &state)]);
    assert_eq!(teardown.code, 0, "{}", teardown.output());
    assert!(
        teardown
            .stderr
            .contains(&format!("swept: Deployment {project}/never-ready")),
        "{}",
        teardown.output()
    );
    assert!(
        teardown.stdout.contains(&format!(
            "run {} (deployment `{project}`): deleted",
            entry["run_id"].as_str().unwrap()
        )),
        "{}",
        teardown.output()
    );
    assert_cleared(&state, project).await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn the_next_run_sweeps_a_killed_run_of_its_deployment_first_and_lists_what_it_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let project = "e2e-next-run";
    let (platform, config, reports) = platform_that_waits(dir.path(), project, "");
    killed_mid_deploy(&platform, &config, &reports, &state);
    let killed = the_entry(&state, project, "never-ready");

    let next_reports = dir.path().join("next");
    let next = first_stage_run(&platform, &config, &next_reports, &state, &["--json"]);
    assert_eq!(next.code, 0, "{}", next.output());
    let removed: serde_json::Value = next
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["event"] == "earlier_run_removed")
        .unwrap_or_else(|| panic!("no earlier_run_removed event:\n{}", next.stdout));
    assert_eq!(removed["run_id"], killed["run_id"], "{removed}");
    let deleted: Vec<&str> = removed["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object.as_str().unwrap())
        .collect();
    assert!(
        deleted.contains(&format!("Deployment {project}/never-ready").as_str()),
        "{removed}"
    );
    assert_cleared(&state, project).await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn a_second_run_beside_a_running_one_is_refused_naming_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let project = "e2e-owner";
    let (platform, config, reports) = platform_that_waits(dir.path(), project, "");
    let mut owner = Running::start_with(&platform, &config, &reports, &[], &[(STATE_ENV, &state)]);
    owner.until(|event| event["event"] == "stage_applying" && event["stage"] == "ingress");
    let entry = the_entry(&state, project, "never-ready");
    let before = labelled_objects(&client().await, project).await;

    let second = first_stage_run(&platform, &config, &dir.path().join("second"), &state, &[]);
    assert_eq!(second.code, 2, "{}", second.output());
    let expected = format!(
        "error: deployment `{project}` is owned by run {} (running as pid {}, started {})",
        entry["run_id"].as_str().unwrap(),
        owner.pid(),
        entry["started_at"].as_str().unwrap()
    );
    assert!(second.stderr.contains(&expected), "{}", second.output());
    assert!(
        second
            .stderr
            .contains(&format!("kill -TERM {}", owner.pid())),
        "{}",
        second.output()
    );
    // Nothing of the owner's was touched.
    assert_eq!(labelled_objects(&client().await, project).await, before);
    refused_from_another_machine(
        dir.path(),
        &platform,
        &config,
        project,
        entry["run_id"].as_str().unwrap(),
        "running on ",
    )
    .await;

    owner.signal(Signal::TERM);
    let (code, events) = owner.finish();
    assert_eq!(code, Some(143), "{events:?}");
    assert_cleared(&state, project).await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn a_run_beside_a_kept_deployment_is_refused_and_the_kept_one_stays_removable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let project = "e2e-kept-owner";
    let (platform, config, reports) = platform_that_waits(dir.path(), project, "");
    let kept = first_stage_run(&platform, &config, &reports, &state, &["--keep"]);
    assert_eq!(kept.code, 0, "{}", kept.output());
    let entry = the_entry(&state, project, project);
    assert_eq!(entry["kept"], true, "{entry}");
    let run_id = entry["run_id"].as_str().unwrap().to_owned();
    let objects = labelled_objects(&client().await, project).await;
    assert!(!objects.is_empty());

    let beside = first_stage_run(&platform, &config, &dir.path().join("beside"), &state, &[]);
    assert_eq!(beside.code, 2, "{}", beside.output());
    assert!(
        beside.stderr.contains(&format!(
            "error: deployment `{project}` is owned by run {run_id} (kept"
        )),
        "{}",
        beside.output()
    );
    assert!(
        beside
            .stderr
            .contains(&format!("cargo xtask teardown --run {run_id}")),
        "{}",
        beside.output()
    );
    assert_eq!(labelled_objects(&client().await, project).await, objects);
    refused_from_another_machine(
        dir.path(),
        &platform,
        &config,
        project,
        &run_id,
        "kept (its lease in the cluster says so)",
    )
    .await;

    let target: PathBuf = reports.join("target.json");
    let teardown = xtask_with(
        &["teardown", "--target", target.to_str().unwrap()],
        &[(STATE_ENV, &state)],
    );
    assert_eq!(teardown.code, 0, "{}", teardown.output());
    assert_cleared(&state, project).await;
}
