//! `cargo xtask upgrade` on the hollow cluster: the first deployment is seeded and kept, the
//! second upgrades it in place, prunes what the new platform dropped and verifies the seeded
//! UserProfile and the jupyterhub stage's declared steps (a user's ConfigMap); a CRD version
//! change without a storage migration fails `upgrade::userprofile` naming the profile and the
//! version it can no longer be read at, and a release that overwrites the user's ConfigMap
//! fails `upgrade::jupyterhub::analyst_notes_kept`. Each test has its own state dir, and ends
//! with nothing of its deployment left.

use std::path::{Path, PathBuf};

use crate::ledger::entries;
use crate::support::{client, copy_platform, labelled_objects, write_config, xtask_with, Run};

/// `xtask upgrade --from <from> --to <to>` with the test's config, report and state dirs.
fn upgrade(dir: &Path, from: &Path, to: &Path, config: &Path) -> (Run, serde_json::Value) {
    let reports = dir.join("reports");
    let args = [
        "upgrade",
        "--from",
        &from.display().to_string(),
        "--to",
        &to.display().to_string(),
        "--config",
        &config.display().to_string(),
        "--report-dir",
        &reports.display().to_string(),
    ]
    .map(|arg| arg.to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = xtask_with(&args, &[("SEATRIAL_STATE_DIR", &dir.join("state"))]);
    let trial = std::fs::read_to_string(reports.join("upgrade.json"))
        .unwrap_or_else(|error| panic!("no upgrade.json ({error}): {}", run.output()));
    (run, serde_json::from_str(&trial).unwrap())
}

/// The platform copied into `dir/<name>`.
fn platform(dir: &Path, name: &str) -> PathBuf {
    let target = dir.join(name);
    std::fs::create_dir_all(&target).unwrap();
    copy_platform(&target)
}

/// The check `stage::name` of a run record.
fn check<'a>(run: &'a serde_json::Value, stage: &str, name: &str) -> &'a serde_json::Value {
    run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["name"] == stage)
        .and_then(|record| {
            record["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|check| check["name"] == name)
        })
        .unwrap_or_else(|| panic!("no check {stage}::{name} in {run}"))
}

async fn assert_cleared(dir: &Path, project: &str) {
    assert_eq!(
        labelled_objects(&client().await, project).await,
        Vec::<String>::new()
    );
    assert_eq!(entries(&dir.join("state")), Vec::<serde_json::Value>::new());
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn an_upgrade_keeps_the_seeded_profile_and_prunes_what_the_new_platform_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let project = "e2e-upgrade";
    let config = write_config(dir.path(), project, "");
    let from = platform(dir.path(), "from");
    std::fs::write(
        from.join("ingress/manifests/90-retired.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: retired-settings\ndata:\n  mode: old\n",
    )
    .unwrap();
    let to = platform(dir.path(), "to");
    // A ConfigMap the new platform moves from the ingress stage to the jupyterhub stage: the
    // ingress stage's prune must not delete what a later stage applies again.
    let moved =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: moved-settings\ndata:\n  mode: kept\n";
    std::fs::write(from.join("ingress/manifests/91-moved.yaml"), moved).unwrap();
    std::fs::write(to.join("jupyterhub/manifests/91-moved.yaml"), moved).unwrap();

    let (run, trial) = upgrade(dir.path(), &from, &to, &config);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(trial["outcome"], "passed", "{trial}");
    let seeded = check(&trial["from"], "seed", "userprofile");
    assert_eq!(seeded["result"], "passed", "{seeded}");
    assert_eq!(trial["from"]["kept"], true, "{trial}");
    let second = &trial["to"];
    assert_eq!(
        second["upgrade"]["from_run"], trial["from"]["run_id"],
        "{second}"
    );
    let verified = check(second, "upgrade", "userprofile");
    assert_eq!(verified["result"], "passed", "{verified}");
    let message = verified["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("UserProfile {project}/upgrade-seed unchanged")),
        "{message}"
    );
    // The jupyterhub stage's declared steps (its checks.yaml's `upgrade:`): a user's object
    // applied before, still as written after.
    let declared = check(&trial["from"], "seed", "jupyterhub::analyst_notes");
    assert_eq!(declared["result"], "passed", "{declared}");
    assert_eq!(declared["kind"], "apply", "{declared}");
    let kept = check(second, "upgrade", "jupyterhub::analyst_notes_kept");
    assert_eq!(kept["result"], "passed", "{kept}");
    assert_eq!(kept["kind"], "match", "{kept}");
    // One timeline of both deployments: the first one's stages, then the upgrade's.
    let timeline = std::fs::read_to_string(dir.path().join("reports/timeline.svg")).unwrap();
    let first = timeline
        .find("from: seed")
        .expect("the first deployment's seed row");
    let upgrade = timeline
        .find("to: upgrade")
        .expect("the upgrade's verify row");
    assert!(
        first < upgrade && timeline.contains("to: ingress"),
        "{timeline}"
    );
    let pruned: Vec<String> = second["upgrade"]["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pruned| {
            format!(
                "{} {} {}",
                pruned["stage"], pruned["object"]["kind"], pruned["object"]["name"]
            )
        })
        .collect();
    assert_eq!(
        pruned,
        ["\"ingress\" \"ConfigMap\" \"retired-settings\""],
        "{second}"
    );
    assert!(
        run.stderr
            .contains("pruned: ConfigMap e2e-upgrade/retired-settings"),
        "{}",
        run.output()
    );
    // The second run relabelled everything it applied: nothing of the first run's id is left
    // for its teardown to miss, and the sweep found nothing.
    assert_eq!(
        second["sweep"]["leftovers"],
        serde_json::json!([]),
        "{second}"
    );
    assert_cleared(dir.path(), project).await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn a_crd_version_change_without_a_storage_migration_fails_the_profile_check() {
    let dir = tempfile::tempdir().unwrap();
    let project = "e2e-upgrade-crd";
    let config = write_config(dir.path(), project, "");
    let from = platform(dir.path(), "from");
    let to = platform(dir.path(), "to");
    // v2 becomes the storage version and v1 is no longer served; nothing rewrites the objects
    // stored at v1.
    let crd = to.join("kubernetes-initialize/manifests/30-userprofile-crd.yaml");
    let text = std::fs::read_to_string(&crd).unwrap();
    let v1_start = text.find("    - name: v1").unwrap();
    let v1 = &text[v1_start..];
    let v2 = v1.replace("name: v1", "name: v2");
    let v1_retired = v1
        .replace("served: true", "served: false")
        .replace("storage: true", "storage: false");
    std::fs::write(&crd, format!("{}{v1_retired}{v2}", &text[..v1_start])).unwrap();
    let profiles = to.join("kubernetes-initialize/manifests/40-userprofiles.yaml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    std::fs::write(
        &profiles,
        text.replace(".seatrial.dev/v1", ".seatrial.dev/v2"),
    )
    .unwrap();
    // And the hub's Secret gets another name: the new one is generated afresh, and the old one
    // (with the token the running proxy holds) is pruned.
    for file in ["10-config.yaml", "20-deployments.yaml"] {
        let path = to.join("jupyterhub/manifests").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("hub-secret", "hub-credentials")).unwrap();
    }
    // And the new release ships an object of the name a user's has, overwriting it.
    std::fs::write(
        to.join("jupyterhub/manifests/95-notes.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: analyst-notes\ndata:\n  note: the platform's default\n",
    )
    .unwrap();
    let checks = to.join("kubernetes-initialize/checks.yaml");
    let text = std::fs::read_to_string(&checks).unwrap();
    std::fs::write(
        &checks,
        text.replace(".seatrial.dev/v1", ".seatrial.dev/v2"),
    )
    .unwrap();

    let (run, trial) = upgrade(dir.path(), &from, &to, &config);
    assert_eq!(run.code, 1, "{}", run.output());
    assert_eq!(trial["outcome"], "failed", "{trial}");
    let verified = check(&trial["to"], "upgrade", "userprofile");
    assert_eq!(verified["result"], "failed", "{verified}");
    let message = verified["message"].as_str().unwrap();
    let expected = format!(
        "UserProfile {project}/upgrade-seed cannot be read as {project}.seatrial.dev/v1: the CRD no longer serves v1, and objects stored at v1 were not migrated"
    );
    assert!(message.contains(&expected), "{message}");
    assert!(
        run.stdout.contains("upgrade::userprofile FAILED"),
        "{}",
        run.output()
    );
    let overwritten = check(&trial["to"], "upgrade", "jupyterhub::analyst_notes_kept");
    assert_eq!(overwritten["result"], "failed", "{overwritten}");
    let message = overwritten["message"].as_str().unwrap();
    assert!(message.contains("data.note"), "{message}");
    assert!(message.contains("the platform's default"), "{message}");
    assert_cleared(dir.path(), project).await;
}

#[test]
fn an_unknown_from_is_refused_naming_it() {
    let run = xtask_with(&["upgrade", "--from", "no-such-revision-1234"], &[]);
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr
            .contains("`no-such-revision-1234` is neither a platform directory"),
        "{}",
        run.output()
    );
}
