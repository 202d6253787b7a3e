//! `cargo xtask integration` against the hollow cluster: deploy, check, tear down, sweep.

use std::path::Path;

use crate::support::{
    append, assert_nothing_left, client, copy_platform, labelled_objects, read_report,
    write_config, xtask, xtask_with,
};

fn integration(config: &Path, report_dir: &Path, extra: &[&str]) -> crate::support::Run {
    integration_with(config, report_dir, extra, &[])
}

/// [`integration`] with extra environment variables.
fn integration_with(
    config: &Path,
    report_dir: &Path,
    extra: &[&str],
    env: &[(&str, &Path)],
) -> crate::support::Run {
    let (config, report_dir) = (
        config.display().to_string(),
        report_dir.display().to_string(),
    );
    let mut args = vec![
        "integration",
        "--config",
        &config,
        "--report-dir",
        &report_dir,
    ];
    args.extend_from_slice(extra);
    xtask_with(&args, env)
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn full_run_deploys_checks_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "e2e-full", "");
    let reports = dir.path().join("reports");
    let run = integration(&config, &reports, &[]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(run.stdout.contains("0 leftovers"), "{}", run.output());

    let report = read_report(&reports);
    assert_eq!(report["outcome"], "passed");
    assert_eq!(report["exit_code"], 0);
    let stages: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["kubernetes-initialize", "ingress", "keycloak", "jupyterhub"]
    );
    for stage in report["stages"].as_array().unwrap() {
        assert_eq!(stage["status"], "passed", "{stage}");
        assert!(!stage["objects"].as_array().unwrap().is_empty(), "{stage}");
        assert!(!stage["checks"].as_array().unwrap().is_empty(), "{stage}");
        for check in stage["checks"].as_array().unwrap() {
            assert_eq!(check["result"], "passed", "{check}");
        }
    }
    assert!(
        report["teardown"]["problems"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{report}"
    );
    assert_nothing_left(&report, "e2e-full").await;

    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"jupyterhub::hub_available\""),
        "{junit}"
    );
    assert!(junit.contains("name=\"teardown::sweep\""), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");

    // No workload runs on the hollow cluster: the browser scenarios are skipped, saying why.
    let names: Vec<&str> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|scenario| {
            assert_eq!(scenario["outcome"], "skipped", "{scenario}");
            assert!(
                scenario["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("the hollow provider runs no workloads"),
                "{scenario}"
            );
            scenario["name"].as_str().unwrap()
        })
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
    assert!(junit.contains("name=\"scenarios::login\""), "{junit}");
    assert!(
        junit.contains("<skipped message=\"the hollow provider runs no workloads"),
        "{junit}"
    );
    let summary = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(summary.contains("| `scenarios::spawn_and_run_notebook` | skipped: the hollow provider runs no workloads"), "{summary}");
}

/// A copy of the shipped platform whose ingress stage checks for five Traefik replicas (it
/// runs one), with a 2 s limit.
fn platform_with_impossible_check(dir: &Path) -> std::path::PathBuf {
    let platform = copy_platform(dir);
    append(
        &platform.join("ingress/checks.yaml"),
        "  - name: five_traefik_replicas\n    timeout_seconds: 2\n    field_equals:\n      object: {apiVersion: apps/v1, kind: Deployment, namespace: \"{{ namespace }}\", name: traefik}\n      path: spec.replicas\n      value: 5\n",
    );
    platform
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn failing_check_exits_1_tears_down_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with_impossible_check(dir.path());
    let config = write_config(dir.path(), "e2e-failing", "");
    let reports = dir.path().join("reports");
    let step_summary = dir.path().join("step-summary.md");
    let run = integration_with(
        &config,
        &reports,
        &["--platform", &platform.display().to_string()],
        &[("GITHUB_STEP_SUMMARY", &step_summary)],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stderr
            .contains("ingress::five_traefik_replicas: FAILED"),
        "{}",
        run.output()
    );

    let report = read_report(&reports);
    assert_eq!(report["outcome"], "failed");
    let statuses: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passed", "checks_failed", "not_run", "not_run"]);
    let failed = report["stages"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "five_traefik_replicas")
        .unwrap();
    assert_eq!(failed["result"], "failed");
    assert_eq!(failed["kind"], "field_equals");
    assert_eq!(
        failed["message"],
        "timed out after 2 s waiting for Deployment e2e-failing/traefik to have spec.replicas = 5; last observed: Deployment e2e-failing/traefik: spec.replicas is 1, expected 5"
    );
    assert!(
        report["teardown"]["deleted"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_nothing_left(&report, "e2e-failing").await;

    // The diagnostics bundle, for the failed check only.
    assert_eq!(
        failed["diagnostics"],
        "diagnostics/ingress/five_traefik_replicas"
    );
    let bundle = reports.join("diagnostics/ingress/five_traefik_replicas");
    let events = std::fs::read_to_string(bundle.join("events.txt")).unwrap();
    assert!(
        events.starts_with("# events in namespace e2e-failing, oldest first"),
        "{events}"
    );
    assert!(
        events.contains("Deployment/traefik") || events.contains("Pod/traefik"),
        "{events}"
    );
    let times: Vec<&str> = events
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "events are not sorted by time:\n{events}"
    );
    let objects = std::fs::read_to_string(bundle.join("objects.yaml")).unwrap();
    assert!(
        objects.contains("kind: Deployment") && objects.contains("name: traefik"),
        "{objects}"
    );
    assert!(!objects.contains("managedFields"), "{objects}");
    let logs: Vec<String> = std::fs::read_dir(bundle.join("logs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.iter()
            .any(|name| name.starts_with("traefik-") && name.ends_with(".traefik.log")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|name| name.ends_with(".traefik.previous.log")),
        "{logs:?}"
    );
    let nodes = std::fs::read_to_string(bundle.join("nodes.txt")).unwrap();
    assert!(nodes.contains("Ready=True"), "{nodes}");
    assert!(
        !reports
            .join("diagnostics/ingress/traefik_available")
            .exists(),
        "a passing check got a bundle"
    );

    // JUnit: the failure, per-check time, and the bundle as attachments.
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("spec.replicas is 1, expected 5"), "{junit}");
    assert!(
        junit.contains("diagnostics: diagnostics/ingress/five_traefik_replicas/"),
        "{junit}"
    );
    assert!(
        junit.contains(&format!(
            "[[ATTACHMENT|{}]]",
            bundle.join("events.txt").display()
        )),
        "{junit}"
    );
    assert!(
        junit.contains("name=\"ingress::five_traefik_replicas\"") && junit.contains("time=\"2."),
        "{junit}"
    );

    // Markdown, also appended to $GITHUB_STEP_SUMMARY.
    let summary = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(
        summary.starts_with("## seatrial `e2e-failing`: FAILED"),
        "{summary}"
    );
    assert!(summary.contains("| ingress | CHECKS FAILED |"), "{summary}");
    assert!(
        summary.contains("### Failed `ingress::five_traefik_replicas` (field_equals"),
        "{summary}"
    );
    assert!(
        summary.contains("Diagnostics: `diagnostics/ingress/five_traefik_replicas/`"),
        "{summary}"
    );
    assert!(
        summary.contains("Teardown and sweep: 0 leftovers."),
        "{summary}"
    );
    assert_eq!(std::fs::read_to_string(&step_summary).unwrap(), summary);

    // The SVG timeline: one row per stage, the failure in red.
    let svg = std::fs::read_to_string(reports.join("timeline.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    for stage in [
        "kubernetes-initialize",
        "ingress",
        "keycloak",
        "jupyterhub",
        "teardown + sweep",
    ] {
        // The svg crate writes a text element's content on its own line.
        assert!(
            svg.contains(&format!("\n{stage}\n</text>")),
            "{stage} row missing:\n{svg}"
        );
    }
    assert!(
        svg.contains("ingress::five_traefik_replicas FAILED in 2."),
        "{svg}"
    );
    assert!(svg.contains("#d62728"), "no red in:\n{svg}");
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn keep_on_failure_keeps_what_failed_and_teardown_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let platform = copy_platform(dir.path());
    append(
        &platform.join("kubernetes-initialize/checks.yaml"),
        "  - name: missing_configmap\n    timeout_seconds: 1\n    exists: {object: {apiVersion: v1, kind: ConfigMap, namespace: \"{{ namespace }}\", name: missing}}\n",
    );
    let config = write_config(dir.path(), "e2e-keepfail", "");
    let reports = dir.path().join("reports");
    let run = integration(
        &config,
        &reports,
        &[
            "--platform",
            &platform.display().to_string(),
            "--stop-at",
            "kubernetes-initialize",
            "--keep-on-failure",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let report = read_report(&reports);
    assert_eq!(report["kept"], true, "{report}");
    assert!(report["teardown"].is_null(), "{report}");
    let run_id = report["run_id"].as_str().unwrap().to_owned();
    assert!(
        run.stderr
            .contains("--keep-on-failure: the run failed, so nothing was torn down"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("Namespace e2e-keepfail"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr
            .contains(&format!("cargo xtask teardown --run {run_id}")),
        "{}",
        run.output()
    );
    let kept = labelled_objects(&client().await, "e2e-keepfail").await;
    assert!(
        kept.iter().any(|object| object.starts_with("Namespace")),
        "{kept:?}"
    );

    let teardown = xtask(&["teardown", "--run", &run_id]);
    assert_eq!(teardown.code, 0, "{}", teardown.output());
    assert!(labelled_objects(&client().await, "e2e-keepfail")
        .await
        .is_empty());
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn stop_at_keep_teardown_and_no_secret_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "e2e-kept", "");
    let reports = dir.path().join("reports");
    let deploy = integration(&config, &reports, &["--stop-at", "keycloak", "--keep"]);
    assert_eq!(deploy.code, 0, "{}", deploy.output());
    let report = read_report(&reports);
    assert_eq!(report["stages"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["kept"], true);
    assert!(report["sweep"].is_null(), "{report}");

    let client = client().await;
    let kept = labelled_objects(&client, "e2e-kept").await;
    for expected in [
        "Deployment e2e-kept/traefik",
        "IngressClass /e2e-kept-traefik",
        "Secret e2e-kept/keycloak-admin",
    ] {
        assert!(
            kept.contains(&expected.to_owned()),
            "{expected} not in {kept:?}"
        );
    }
    assert!(
        !kept.iter().any(|object| object.contains("e2e-kept/hub")),
        "{kept:?}"
    );
    // The secrets a run handles: the generated Keycloak admin password and the cluster token.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), "e2e-kept");
    let admin = secrets.get("keycloak-admin").await.unwrap();
    let password = String::from_utf8(admin.data.unwrap()["password"].0.clone()).unwrap();
    assert_eq!(password.len(), 48, "random_token(24) renders 48 hex digits");
    let kubeconfig = std::fs::read_to_string(crate::support::kubeconfig()).unwrap();
    let token = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix("token: "))
        .unwrap()
        .to_owned();

    let target = reports.join("target.json");
    let teardown = xtask(&["teardown", "--target", &target.display().to_string()]);
    assert_eq!(teardown.code, 0, "{}", teardown.output());
    assert!(
        teardown.stdout.contains(", 0 leftovers"),
        "{}",
        teardown.output()
    );
    assert_eq!(
        labelled_objects(&client, "e2e-kept").await,
        Vec::<String>::new()
    );

    let mut outputs = vec![deploy.output(), teardown.output()];
    for file in ["report.json", "junit.xml", "target.json"] {
        outputs.push(std::fs::read_to_string(reports.join(file)).unwrap());
    }
    for output in outputs {
        assert!(
            !output.contains(&password),
            "the admin password leaked:\n{output}"
        );
        assert!(
            !output.contains(&token),
            "the cluster token leaked:\n{output}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn readiness_timeout_names_the_object_and_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with(
        dir.path(),
        "ingress/manifests/90-unschedulable.yaml",
        &unschedulable_deployment("unschedulable"),
    );
    let config = write_config(dir.path(), "e2e-timeout", "readiness_timeout_seconds: 8\n");
    let reports = dir.path().join("reports");
    let run = integration(
        &config,
        &reports,
        &["--platform", &platform.display().to_string()],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let report = read_report(&reports);
    let error = report["stages"][1]["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "timed out after 8 s waiting for Deployment e2e-timeout/unschedulable to become ready"
        ),
        "{error}"
    );
    assert!(error.contains("available 0/1"), "{error}");
    assert_eq!(report["stages"][1]["status"], "deploy_failed");
    assert_nothing_left(&report, "e2e-timeout").await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn object_held_by_a_finalizer_is_a_leftover_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with(
        dir.path(),
        "kubernetes-initialize/manifests/90-held.yaml",
        crate::support::HELD_CONFIGMAP,
    );
    let config = write_config(dir.path(), "e2e-held", "deletion_timeout_seconds: 5\n");
    let reports = dir.path().join("reports");
    let run = integration(
        &config,
        &reports,
        &[
            "--platform",
            &platform.display().to_string(),
            "--stop-at",
            "kubernetes-initialize",
        ],
    );
    let report = read_report(&reports);

    // Release the finalizer before asserting, so a failure leaves nothing behind.
    crate::support::release_held("e2e-held").await;
    let client = client().await;

    assert_eq!(run.code, 3, "{}", run.output());
    assert_eq!(report["outcome"], "leftovers");
    let leftovers = report["sweep"]["leftovers"].as_array().unwrap();
    let held = leftovers
        .iter()
        .find(|l| l["kind"] == "ConfigMap")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(held["name"], "held");
    assert!(
        held["reason"]
            .as_str()
            .unwrap()
            .contains("finalizers: seatrial.dev/held-by-test"),
        "{held}"
    );
    assert!(
        run.stderr.contains("leftover: ConfigMap e2e-held/held"),
        "{}",
        run.output()
    );

    // With the finalizer gone the namespace finishes terminating; a second sweep finds nothing.
    let swept = deployer::sweep::sweep(&client, "e2e-held", std::time::Duration::from_secs(120))
        .await
        .unwrap();
    assert!(swept.leftovers.is_empty(), "{swept:?}");
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn existing_provider_deploys_through_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "e2e-existing", "");
    let reports = dir.path().join("reports");
    let kubeconfig = crate::support::kubeconfig().display().to_string();
    let run = integration(
        &config,
        &reports,
        &[
            "--provider",
            "existing",
            "--kubeconfig",
            &kubeconfig,
            "--stop-at",
            "kubernetes-initialize",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let report = read_report(&reports);
    assert_eq!(report["provider"], "existing");
    assert_eq!(report["provider_reused"], true);
    assert_eq!(report["stages"].as_array().unwrap().len(), 1);
    assert_nothing_left(&report, "e2e-existing").await;
}

/// A copy of the platform in `dir` with one more file (a manifest, say) at `relative`.
pub fn platform_with(dir: &Path, relative: &str, text: &str) -> std::path::PathBuf {
    let platform = copy_platform(dir);
    std::fs::write(platform.join(relative), text).unwrap();
    platform
}

/// A Deployment no node can take (its node selector matches none), so it never becomes ready.
pub fn unschedulable_deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: \"{{{{ namespace }}}}\"}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      nodeSelector: {{seatrial.dev/no-such-node: \"true\"}}\n      containers: [{{name: c, image: \"{{{{ images.traefik }}}}\"}}]\n"
    )
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn json_lines_report_every_step_in_order_and_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with_impossible_check(dir.path());
    let config = write_config(dir.path(), "e2e-json", "");
    let reports = dir.path().join("reports");
    let platform = platform.display().to_string();
    let run = integration(
        &config,
        &reports,
        &["--platform", &platform, "--stop-at", "ingress", "--json"],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"))
        })
        .collect();
    let tags: Vec<&str> = events
        .iter()
        .map(|event| event["event"].as_str().unwrap())
        .filter(|tag| !matches!(*tag, "build_started" | "build_finished" | "check_finished"))
        .collect();
    assert_eq!(
        tags,
        [
            "provider_starting",
            "provider_ready",
            "stage_applying",
            "checks_started",
            "stage_finished",
            "stage_applying",
            "checks_started",
            "stage_finished",
            "teardown_started",
            "sweep_started",
            "run_finished"
        ],
        "{}",
        run.output()
    );
    let failed = events
        .iter()
        .find(|event| event["event"] == "check_finished" && event["result"] == "failed")
        .unwrap_or_else(|| panic!("no failed check event:\n{}", run.stdout));
    assert_eq!(failed["trial"], "ingress::five_traefik_replicas");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("spec.replicas is 1, expected 5"),
        "{failed}"
    );
    let ingress = events
        .iter()
        .rfind(|event| event["event"] == "stage_finished")
        .unwrap();
    assert_eq!(
        (&ingress["stage"], &ingress["passed"]),
        (&"ingress".into(), &false.into())
    );
    let finished = events.last().unwrap();
    assert_eq!(finished["outcome"], "failed");
    assert_eq!(finished["exit_code"], 1);
    // Nothing for people on stderr: no spinner lines, no per-stage lines.
    assert!(
        !run.stderr.contains("objects ready in") && !run.stderr.contains("FAILED"),
        "{}",
        run.stderr
    );
    let report = read_report(&reports);
    assert_eq!(report["exit_code"], 1);
    assert_nothing_left(&report, "e2e-json").await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn a_manifest_the_api_server_refuses_as_too_large_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    // 4 MiB of data: over the API server's 3 MiB request body limit (413).
    let huge = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: huge, namespace: \"{{{{ namespace }}}}\"}}\ndata:\n  blob: \"{}\"\n",
        "x".repeat(4 << 20)
    );
    let platform = platform_with(
        dir.path(),
        "kubernetes-initialize/manifests/90-huge.yaml",
        &huge,
    );
    let config = write_config(dir.path(), "e2e-huge", "");
    let reports = dir.path().join("reports");
    let platform = platform.display().to_string();
    let run = integration(
        &config,
        &reports,
        &[
            "--platform",
            &platform,
            "--stop-at",
            "kubernetes-initialize",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr.contains("apply ConfigMap e2e-huge/huge (from ")
            && run.stderr.contains("90-huge.yaml:1 document 0)"),
        "{}",
        run.output()
    );
    let report = read_report(&reports);
    assert_eq!(report["stages"][0]["error_class"], "bad_input", "{report}");
    assert_nothing_left(&report, "e2e-huge").await;
}
