//! Every object and RBAC assertion against the hollow cluster (run by `cargo xtask test`,
//! which sets SEATRIAL_KUBECONFIG): each kind passes when it should and fails when it should,
//! with a message naming what was wrong.

use std::sync::Arc;
use std::time::Duration;

use deployer::watches::Watches;
use harness::checks::{
    parse_checks, run_checks, Assertion, Check, CheckDefaults, CheckRunner, ObjectSelector,
    Resolver, Verdict,
};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::discovery::pinned_kind;
use kube::Client;
use serde_json::json;

async fn client() -> Client {
    let kubeconfig = std::env::var_os("SEATRIAL_KUBECONFIG").expect(
        "SEATRIAL_KUBECONFIG is not set: this test needs the hollow cluster; run it with `cargo xtask test`",
    );
    deployer::providers::connect(kubeconfig.as_ref(), None, "run `cargo xtask test`")
        .await
        .unwrap()
        .client
}

/// Server-side applies `object` (JSON) with field manager `seatrial-test`.
async fn apply(client: &Client, object: serde_json::Value) {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    let types = object.types.clone().unwrap();
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", &types.api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
    let (resource, _) = pinned_kind(client, &gvk).await.unwrap();
    let api = deployer::apply::api_for(client, &resource, object.metadata.namespace.as_deref());
    api.patch(
        object.metadata.name.as_deref().unwrap(),
        &PatchParams::apply("seatrial-test").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap();
}

/// A fresh namespace with a ConfigMap `settings`, a one-replica Deployment `web`, and RBAC
/// letting group `analyst` read (not delete) pods. Deleted on drop.
struct Fixture {
    client: Client,
    namespace: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A client of its own: the test's client lives on the test's runtime, which this
        // thread blocks.
        let namespace = self.namespace.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client().await);
                let _ = api.delete(&namespace, &DeleteParams::default()).await;
            })
        })
        .join();
    }
}

async fn fixture(name: &str) -> Fixture {
    let client = client().await;
    let namespace = format!("assert-{name}-{}", host::random::hex_token(3).unwrap());
    apply(
        &client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .await;
    apply(&client, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace, "labels": {"tier": "web"}}, "data": {"mode": "strict", "replicas": "2"}})).await;
    apply(&client, json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"tier": "web"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "web", "image": "registry.test/web:1.0", "ports": [{"containerPort": 8080, "protocol": "TCP"}]},
                {"name": "sidecar", "image": "registry.test/sidecar:2.0"}
            ]}}}
    })).await;
    apply(&client, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "read-pods", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]})).await;
    apply(&client, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "analysts-read-pods", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-pods"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "analyst"}]})).await;
    Fixture { client, namespace }
}

/// Parses checks from YAML (the way stage files declare them), each with a 2 s timeout.
fn checks(text: &str) -> Vec<Check> {
    let defaults = CheckDefaults {
        timeout: Duration::from_secs(2),
        retries: 0,
    };
    parse_checks(
        "assertions",
        std::path::Path::new("checks.yaml"),
        text,
        defaults,
    )
    .unwrap()
}

fn runner(client: &Client) -> CheckRunner {
    CheckRunner::with(Arc::new(Watches::new(client.clone())), Resolver::new())
}

/// Runs `text`'s checks; asserts which pass and which fail, and returns the messages by name.
async fn expect(runner: &CheckRunner, text: &str) -> std::collections::BTreeMap<String, String> {
    let checks = checks(text);
    let outcomes = run_checks(runner, &checks).await;
    let mut messages = std::collections::BTreeMap::new();
    for (check, outcome) in checks.iter().zip(outcomes) {
        let should_pass = check.name.starts_with("pass_");
        let expected = if should_pass {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        assert_eq!(
            outcome.verdict, expected,
            "{}: {}",
            check.name, outcome.message
        );
        messages.insert(check.name.clone(), outcome.message);
    }
    messages
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn object_assertions_pass_and_fail_with_what_was_wrong() {
    let fixture = fixture("objects").await;
    let ns = &fixture.namespace;
    let runner = runner(&fixture.client);
    let deployment =
        format!("{{apiVersion: apps/v1, kind: Deployment, namespace: {ns}, name: web}}");
    let configmap = format!("{{apiVersion: v1, kind: ConfigMap, namespace: {ns}, name: settings}}");
    let missing = format!("{{apiVersion: v1, kind: ConfigMap, namespace: {ns}, name: missing}}");
    let text = format!(
        r#"checks:
  - name: pass_exists
    exists: {{object: {configmap}}}
  - name: fail_exists
    exists: {{object: {missing}}}
  - name: pass_absent
    absent: {{object: {missing}}}
  - name: fail_absent
    absent: {{object: {configmap}}}
  - name: pass_condition
    condition: {{object: {deployment}, type: Available, status: "True", reason: MinimumReplicasAvailable}}
  - name: fail_condition
    condition: {{object: {deployment}, type: Available, status: "True", reason: NewReplicaSetAvailable}}
  - name: pass_field
    field_equals: {{object: {configmap}, path: data.mode, value: strict}}
  - name: fail_field
    field_equals: {{object: {configmap}, path: data.mode, value: lenient}}
  - name: pass_match
    match:
      object: {deployment}
      expect:
        spec:
          replicas: 1
          template: {{spec: {{containers: {{$some: [{{name: sidecar, image: "registry.test/sidecar:2.0"}}]}}}}}}
  - name: fail_match
    match:
      object: {deployment}
      expect:
        spec:
          replicas: 3
          template: {{spec: {{containers: [{{name: web}}]}}}}
  - name: pass_cel
    cel: {{object: {deployment}, expr: "object.spec.replicas == 1 && object.spec.template.spec.containers.exists(c, c.image.endsWith(':1.0'))"}}
  - name: fail_cel
    cel: {{object: {configmap}, expr: "int(object.data.replicas) > 2"}}
  - name: pass_cel_list
    cel: {{resource: {{apiVersion: v1, kind: Pod, namespace: {ns}}}, selector: app=web, expr: "objects.size() == 1 && objects.all(p, p.spec.containers.size() == 2)"}}
  - name: pass_count
    count: {{resource: {{apiVersion: v1, kind: ConfigMap, namespace: {ns}}}, selector: "tier in (web, api)", equals: 1}}
  - name: fail_count
    count: {{resource: {{apiVersion: v1, kind: Pod, namespace: {ns}}}, selector: app=web, min: 2}}
"#
    );
    let messages = expect(&runner, &text).await;
    let contains = |name: &str, fragment: &str| {
        let message = &messages[name];
        assert!(
            message.contains(fragment),
            "{name}: `{fragment}` not in:\n{message}"
        );
    };
    contains("fail_exists", &format!("timed out after 2 s waiting for ConfigMap {ns}/missing to exist; last observed: ConfigMap {ns}/missing does not exist"));
    contains("fail_absent", &format!("ConfigMap {ns}/settings to be absent; last observed: ConfigMap {ns}/settings exists (uid "));
    contains("fail_condition", "expected Available=True (NewReplicaSetAvailable), found Available=True (MinimumReplicasAvailable)");
    contains(
        "fail_field",
        "data.mode is \"strict\", expected \"lenient\"",
    );
    contains("fail_match", "at spec.replicas: expected 3, found 1");
    contains(
        "fail_match",
        "at spec.template.spec.containers: expected 1 elements, found 2",
    );
    contains("fail_match", "-  replicas: 3\n+  replicas: 1");
    contains(
        "fail_cel",
        &format!("`int(object.data.replicas) > 2` is false on ConfigMap {ns}/settings"),
    );
    contains("fail_count", &format!("1 Pod in {ns} matching `app=web`"));
    contains("fail_count", "expected at least 2");
    // Every check above looked at 3 (type, namespace) pairs: one watch each, not one per check.
    let mut keys: Vec<String> = runner
        .watches()
        .keys()
        .iter()
        .map(ToString::to_string)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("ConfigMap v1 in {ns}"),
            format!("Deployment apps/v1 in {ns}"),
            format!("Pod v1 in {ns}")
        ],
    );
    assert_eq!(runner.watches().started(), 3);
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn waits_follow_the_watch_appear_and_disappear() {
    let fixture = fixture("waits").await;
    let ns = fixture.namespace.clone();
    let runner = runner(&fixture.client);
    let object = |name: &str| ObjectSelector {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some(ns.clone()),
        name: name.into(),
    };
    let mut appears = Check::new("waits", "appears", Assertion::Exists(object("late")));
    appears.timeout = Duration::from_secs(20);
    let mut disappears = Check::new("waits", "disappears", Assertion::Absent(object("settings")));
    disappears.timeout = Duration::from_secs(20);
    let client = fixture.client.clone();
    let namespace = ns.clone();
    let change = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        apply(&client, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": namespace}})).await;
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, &namespace);
        api.delete("settings", &DeleteParams::default())
            .await
            .unwrap();
    });
    let outcomes = run_checks(&runner, &[appears, disappears]).await;
    change.await.unwrap();
    for outcome in &outcomes {
        assert_eq!(outcome.verdict, Verdict::Passed, "{}", outcome.message);
        // They waited for the change (≥ 0.5 s) and saw it long before the 20 s timeout.
        assert!(
            outcome.seconds >= 0.4 && outcome.seconds < 19.0,
            "{outcome:?}"
        );
    }
    assert_eq!(
        outcomes[1].message,
        format!("ConfigMap {ns}/settings is absent")
    );
    assert_eq!(runner.watches().started(), 1);
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn rbac_checks_ask_subject_access_reviews() {
    let fixture = fixture("rbac").await;
    let ns = &fixture.namespace;
    let runner = runner(&fixture.client);
    let text = format!(
        r#"checks:
  - name: pass_analyst_reads_pods
    access: {{user: bob, groups: [analyst], verb: get, resource: pods, namespace: {ns}, allowed: true}}
  - name: pass_analyst_cannot_delete_pods
    access: {{user: bob, groups: [analyst], verb: delete, resource: pods, namespace: {ns}, allowed: false}}
  - name: fail_analyst_deletes_pods
    access: {{user: bob, groups: [analyst], verb: delete, resource: pods, namespace: {ns}, allowed: true}}
  - name: fail_stranger_reads_pods
    access: {{user: eve, verb: get, resource: pods, namespace: {ns}, allowed: true}}
"#
    );
    let messages = expect(&runner, &text).await;
    let message = &messages["fail_analyst_deletes_pods"];
    assert!(
        message.contains(&format!(
            "user bob (groups analyst) delete pods in namespace {ns}: denied"
        )) && message.contains("expected allowed"),
        "{message}"
    );
    assert!(
        messages["pass_analyst_reads_pods"].contains("allowed"),
        "{messages:?}"
    );
    assert!(
        messages["fail_stranger_reads_pods"].contains("user eve get pods"),
        "{messages:?}"
    );
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn dependent_checks_wait_and_are_skipped_after_a_failure() {
    let fixture = fixture("after").await;
    let ns = &fixture.namespace;
    let runner = runner(&fixture.client);
    let text = format!(
        r#"checks:
  - name: base
    exists: {{object: {{apiVersion: v1, kind: ConfigMap, namespace: {ns}, name: settings}}}}
  - name: broken
    exists: {{object: {{apiVersion: v1, kind: ConfigMap, namespace: {ns}, name: missing}}}}
    timeout_seconds: 1
  - name: on_base
    after: [base]
    exists: {{object: {{apiVersion: apps/v1, kind: Deployment, namespace: {ns}, name: web}}}}
  - name: on_broken
    after: [broken]
    exists: {{object: {{apiVersion: apps/v1, kind: Deployment, namespace: {ns}, name: web}}}}
"#
    );
    let checks = checks(&text);
    let outcomes = run_checks(&runner, &checks).await;
    let verdicts: Vec<Verdict> = outcomes.iter().map(|o| o.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Passed,
            Verdict::Failed,
            Verdict::Passed,
            Verdict::Skipped
        ]
    );
    assert_eq!(outcomes[3].message, "not run: `broken` did not pass");
    assert!(outcomes[2].started >= outcomes[0].started, "{outcomes:?}");
}
