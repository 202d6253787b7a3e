//! Chart stages: charts this test writes (never copies of upstream ones), packaged with the
//! pinned Helm, served from a chart repository over HTTP on loopback and from Debian's
//! docker-registry as an OCI registry, deployed by `cargo xtask integration`.
//!
//! On hollow: CRDs and custom resources, a subchart, `.Capabilities` from the real cluster,
//! `--helm-compare`; and the refusals that stop a run before anything is applied (a digest
//! mismatch, a version the repository lacks, a `kubeVersion` the cluster does not meet, a
//! values schema violation). The hooks, chart tests and claims that need real pods run on
//! the local cluster (`local::on_local_chart_hooks_tests_and_claims_…`).

use std::path::{Path, PathBuf};

use deployer::charts::fetch::sha256_file;
use deployer::charts::helm::{Helm, HelmMajor};
use pins::testbed::http::FileServer;
use pins::testbed::registry::Registry;

use crate::support::{labelled_objects, read_report, repo_root, write_config, xtask, Run};

/// A chart repository and an OCI registry on loopback, the pinned Helms, and a pin set (a copy
/// of the shipped one) that the test's chart pins are appended to.
pub struct ChartWorld {
    pub dir: tempfile::TempDir,
    pub server: FileServer,
    pub registry: Registry,
    pub helm: Helm,
    pub helm4: Helm,
    pub pins: PathBuf,
}

impl ChartWorld {
    pub async fn start() -> ChartWorld {
        let dir = tempfile::tempdir().unwrap();
        let pins = dir.path().join("pins.toml");
        std::fs::copy(repo_root().join("pins/pins.toml"), &pins).unwrap();
        let ensure = |major| {
            Helm::ensure(&pins, major, &mut |_| {}).unwrap_or_else(|e| panic!("{major}: {e}"))
        };
        let (helm, helm4) = (ensure(HelmMajor::Helm3), ensure(HelmMajor::Helm4));
        let registry = Registry::start(
            &dir.path().join("registry-storage"),
            &dir.path().join("registry"),
            None,
        )
        .unwrap();
        let server = FileServer::start().await.unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        ChartWorld {
            dir,
            server,
            registry,
            helm,
            helm4,
            pins,
        }
    }

    /// Writes a chart directory from `(path, text)` files; returns it.
    pub fn write_chart(&self, name: &str, files: &[(&str, String)]) -> PathBuf {
        let chart = self.dir.path().join("charts-src").join(name);
        for (path, text) in files {
            let path = chart.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        chart
    }

    /// `helm package` into the repository, `helm repo index`, everything served; the
    /// tarball's digest.
    pub fn publish_http(&self, chart: &Path) -> String {
        let repo = self.dir.path().join("repo");
        let tarball = self.helm.package(chart, &repo).unwrap();
        let index = self.helm.run(
            "repo index",
            &[
                "repo".as_ref(),
                "index".as_ref(),
                repo.as_os_str(),
                "--url".as_ref(),
                self.server.url.as_ref(),
            ],
        );
        index.unwrap();
        for entry in std::fs::read_dir(&repo).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            self.server.put(
                &format!("/{name}"),
                "application/octet-stream",
                std::fs::read(&path).unwrap(),
            );
        }
        sha256_file(&tarball).unwrap()
    }

    /// `helm push` to `oci://<registry>/charts`; the manifest digest.
    pub fn publish_oci(&self, chart: &Path) -> String {
        let out = self.dir.path().join("oci-out");
        std::fs::create_dir_all(&out).unwrap();
        let tarball = self.helm.package(chart, &out).unwrap();
        self.helm
            .push(
                &tarball,
                &format!("oci://{}/charts", self.registry.host),
                true,
            )
            .unwrap()
    }

    /// Appends a chart pin to the pin set.
    pub fn pin(&self, name: &str, repository: &str, version: &str, digest: &str) {
        crate::support::append(
            &self.pins,
            &format!("\n[charts.{name}]\nrepository = \"{repository}\"\nversion = \"{version}\"\ndigest = \"{digest}\"\n"),
        );
    }

    /// A platform of `stages`, each `(name, files)` relative to its directory, reading the
    /// pin set; returns its directory.
    pub fn platform(&self, name: &str, stages: &[(&str, Vec<(&str, String)>)]) -> PathBuf {
        let root = self.dir.path().join(name);
        let names: Vec<&str> = stages.iter().map(|(stage, _)| *stage).collect();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("platform.yaml"),
            format!(
                "stages: [{}]\npins: {}\n",
                names.join(", "),
                self.pins.display()
            ),
        )
        .unwrap();
        for (stage, files) in stages {
            for (path, text) in files {
                let path = root.join(stage).join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
        }
        root
    }
}

/// A stage that makes the platform's namespace.
pub fn namespace_stage() -> Vec<(&'static str, String)> {
    vec![
        ("stage.yaml", "description: The namespace.\n".into()),
        (
            "manifests/namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: \"{{ namespace }}\"\n".into(),
        ),
    ]
}

/// A chart stage: `stage.yaml` naming `pin` (and `release`), its values template and checks.
pub fn chart_stage(
    pin: &str,
    release: &str,
    settings: &str,
    values: &str,
    checks: &str,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "stage.yaml",
            format!("description: The {pin} chart.\nsettings:\n{settings}chart:\n  pin: charts.{pin}\n  release: {release}\n"),
        ),
        ("values.yaml", values.to_owned()),
        ("checks.yaml", format!("checks:\n{checks}")),
    ]
}

/// The `widgets` chart: a CRD and a custom resource, a subchart (`greeter`), templates that
/// branch on `.Capabilities`, a values schema, a `kubeVersion` constraint.
pub fn widgets_chart(version: &str, kube_version: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "Chart.yaml",
            format!("apiVersion: v2\nname: widgets\nversion: {version}\nkubeVersion: \"{kube_version}\"\ndependencies:\n  - name: greeter\n    version: 0.2.5\n"),
        ),
        (
            "values.yaml",
            "size: 1\ngreeter:\n  greeting: hi\nnested: {a: 1, unset: null}\n".into(),
        ),
        (
            "values.schema.json",
            r#"{"type": "object", "required": ["size"], "properties": {"size": {"type": "integer", "minimum": 1}}}"#.into(),
        ),
        (
            "crds/widgets.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.trial.seatrial.dev\nspec:\n  group: trial.seatrial.dev\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n".into(),
        ),
        (
            "templates/widget.yaml",
            "apiVersion: trial.seatrial.dev/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}-main\n  labels:\n    helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}\nspec:\n  size: {{ .Values.size }}\n".into(),
        ),
        (
            "templates/capabilities.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-capabilities\ndata:\n  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}\n  hasPodDisruptionBudget: {{ .Capabilities.APIVersions.Has \"policy/v1/PodDisruptionBudget\" | quote }}\n{{- if .Capabilities.APIVersions.Has \"nothing.seatrial.dev/v9\" }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-impossible\n{{- end }}\n".into(),
        ),
        (
            "templates/renderer.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-renderer\ndata:\n  helm: {{ .Capabilities.HelmVersion.Version | quote }}\n  nested: {{ toJson .Values.nested | quote }}\n".into(),
        ),
        (
            "templates/hooks.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-prepared\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-weight: \"-1\"\ndata:\n  fresh: \"yes\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-transient\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: hook-succeeded\n".into(),
        ),
        ("charts/greeter/Chart.yaml", "apiVersion: v2\nname: greeter\nversion: 0.2.5\n".into()),
        ("charts/greeter/values.yaml", "greeting: hello\n".into()),
        (
            "charts/greeter/templates/greeting.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  greeting: {{ .Values.greeting | quote }}\n".into(),
        ),
    ]
}

fn kubernetes_version() -> String {
    deployer::pins::load_go_module(&deployer::pins::default_pins_file(), "kubernetes")
        .unwrap()
        .tag
}

/// The checks of a `widgets` release named `release` with `size` and `greeting`.
fn widgets_checks(release: &str, size: u32, greeting: &str) -> String {
    format!(
        r#"  - name: widget_applied
    field_equals:
      object: {{apiVersion: trial.seatrial.dev/v1, kind: Widget, namespace: "{{{{ namespace }}}}", name: {release}-main}}
      path: spec.size
      value: {size}
  - name: capabilities_are_the_clusters
    match:
      object: {{apiVersion: v1, kind: ConfigMap, namespace: "{{{{ namespace }}}}", name: {release}-capabilities}}
      expect: {{data: {{kubeVersion: "{version}", hasPodDisruptionBudget: "true"}}}}
  - name: unserved_api_not_rendered
    absent: {{object: {{apiVersion: v1, kind: ConfigMap, namespace: "{{{{ namespace }}}}", name: {release}-impossible}}}}
  - name: subchart_rendered
    field_equals:
      object: {{apiVersion: v1, kind: ConfigMap, namespace: "{{{{ namespace }}}}", name: {release}-greeting}}
      path: data.greeting
      value: "{greeting}"
  - name: earlier_hook_object_replaced
    cel:
      object: {{apiVersion: v1, kind: ConfigMap, namespace: "{{{{ namespace }}}}", name: {release}-prepared}}
      expr: "object.data.fresh == 'yes' && !has(object.data.stale)"
  - name: succeeded_hook_deleted
    absent: {{object: {{apiVersion: v1, kind: ConfigMap, namespace: "{{{{ namespace }}}}", name: {release}-transient}}}}
"#,
        version = kubernetes_version()
    )
}

fn integration(platform: &Path, config: &Path, report: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "integration",
        "--platform",
        platform.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--report-dir",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    xtask(&args)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the hollow cluster, the built Helm 3 and 4, and Debian's docker-registry: run by `cargo xtask test`"]
async fn charts_from_http_and_oci_deploy_on_hollow_with_crds_a_subchart_and_the_clusters_capabilities(
) {
    let world = ChartWorld::start().await;
    let chart = world.write_chart("widgets", &widgets_chart("0.7.3", ">=1.20.0-0"));
    let http_digest = world.publish_http(&chart);
    world.pin("widgets", &world.server.url, "0.7.3", &http_digest);
    let oci_digest = world.publish_oci(&chart);
    world.pin(
        "widgets_oci",
        &format!("oci://{}/charts", world.registry.host),
        "0.7.3",
        &oci_digest,
    );
    crate::support::append(&world.pins, "chart = \"widgets\"\n");
    let platform = world.platform(
        "hollow-platform",
        &[
            ("namespace", namespace_stage()),
            (
                "widgets",
                chart_stage(
                    "widgets",
                    "http",
                    "  size: 3\n",
                    "size: {{ settings.size }}\ngreeter:\n  greeting: \"hello from {{ project }}\"\n",
                    &widgets_checks("http", 3, "hello from chart-hollow"),
                ),
            ),
            (
                "widgets-oci",
                chart_stage(
                    "widgets_oci",
                    "oci",
                    "",
                    "size: 2\n",
                    &widgets_checks("oci", 2, "hi"),
                ),
            ),
        ],
    );
    // Helm 4 renders the OCI stage.
    crate::support::append(&platform.join("widgets-oci/stage.yaml"), "  helm: 4\n");
    // An object of the pre-install hook's name left by an earlier install: the default
    // `before-hook-creation` policy replaces it.
    let client = crate::support::client().await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client.clone());
    let _ = namespaces
        .create(
            &Default::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "chart-hollow"}}))
                .unwrap(),
        )
        .await;
    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), "chart-hollow");
    config_maps
        .create(
            &Default::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "http-prepared"},
                "data": {"stale": "from an earlier install"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let config = write_config(world.dir.path(), "chart-hollow", "");
    let report_dir = world.dir.path().join("report");
    let run = integration(&platform, &config, &report_dir, &["--helm-compare"]);
    assert_eq!(run.code, 0, "{}", run.output());
    let report = read_report(&report_dir);
    for stage in &report["stages"].as_array().unwrap()[1..] {
        assert_eq!(stage["status"], "passed", "{stage:#}");
        assert_eq!(stage["checks"].as_array().unwrap().len(), 6, "{stage:#}");
        let objects: Vec<String> = stage["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["kind"].as_str().unwrap().to_owned())
            .collect();
        for kind in ["CustomResourceDefinition", "Widget", "ConfigMap"] {
            assert!(objects.iter().any(|k| k == kind), "{objects:?}");
        }
    }
    // --helm-compare: the renderer ConfigMap differs (Helm's own version), per stage.
    assert!(
        run.stderr.contains(&format!(
            "objects differ between Helm {} (left) and Helm {} (right)",
            world.helm.version, world.helm4.version
        )),
        "{}",
        run.output()
    );
    let compare: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report_dir.join("helm-compare.json")).unwrap(),
    )
    .unwrap();
    let widgets = &compare[0];
    assert_eq!(widgets["stage"], "widgets");
    let renderer = widgets["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["object"] == "ConfigMap http-renderer")
        .unwrap_or_else(|| panic!("{compare:#}"));
    // Helm's own version, and a real difference: Helm 4 drops a chart's null values.
    assert_eq!(renderer["fields"][0]["path"], "data.helm");
    assert_eq!(renderer["fields"][0]["left"], world.helm.version);
    assert_eq!(renderer["fields"][0]["right"], world.helm4.version);
    assert_eq!(renderer["fields"][1]["path"], "data.nested");
    assert_eq!(renderer["fields"][1]["left"], r#"{"a":1,"unset":null}"#);
    assert_eq!(renderer["fields"][1]["right"], r#"{"a":1}"#);
    assert!(labelled_objects(&client, "chart-hollow").await.is_empty());
}

/// A `helm` on the PATH is used only when its version is the pinned one.
#[test]
#[ignore = "needs the built Helm 3 and 4: run by `cargo xtask test`"]
fn a_users_helm_is_taken_only_at_the_pinned_version() {
    let pins = deployer::pins::default_pins_file();
    let built = |major| Helm::ensure(&pins, major, &mut |_| {}).unwrap();
    let (helm, helm4) = (built(HelmMajor::Helm3), built(HelmMajor::Helm4));
    let bin = tempfile::tempdir().unwrap();
    let on_path = bin.path().join("helm");
    // The user's `helm` is a Helm 4: right for Helm 4, wrong for Helm 3.
    std::fs::copy(&helm4.path, &on_path).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let found = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["helm", "--major", "4", "--", "env", "HELM_CACHE_HOME"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(found.status.success(), "{found:?}");
    // `cargo xtask helm` runs it with seatrial's own Helm homes.
    let home = String::from_utf8_lossy(&found.stdout);
    assert!(home.trim().ends_with("seatrial/helm/cache"), "{home}");
    // In-process, with that PATH: Helm 4 resolves to the user's binary, Helm 3 does not.
    let with_path = |major| {
        let saved = std::env::var_os("PATH");
        // nextest runs each test in a process of its own: no other thread reads PATH.
        std::env::set_var("PATH", &path);
        let helm = Helm::ensure(&pins, major, &mut |_| {}).unwrap();
        if let Some(saved) = saved {
            std::env::set_var("PATH", saved);
        }
        helm
    };
    assert_eq!(with_path(HelmMajor::Helm4).path, on_path);
    let helm3 = with_path(HelmMajor::Helm3);
    assert_eq!((helm3.path, helm3.version), (helm.path, helm.version));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the hollow cluster, the built Helm 3 and 4, and Debian's docker-registry: run by `cargo xtask test`"]
async fn a_wrong_digest_a_missing_version_an_unmet_kube_version_and_a_schema_violation_stop_before_anything_is_applied(
) {
    let world = ChartWorld::start().await;
    let good = world.write_chart("widgets", &widgets_chart("0.7.3", ">=1.20.0-0"));
    let digest = world.publish_http(&good);
    let future = world.write_chart("future", &{
        let mut files = widgets_chart("0.8.0", ">=1.99.0-0");
        files[0].1 = files[0].1.replace("name: widgets", "name: future");
        files
    });
    let future_digest = world.publish_http(&future);
    let wrong = format!("sha256:{}", "0".repeat(64));
    world.pin("wrong_digest", &world.server.url, "0.7.3", &wrong);
    crate::support::append(&world.pins, "chart = \"widgets\"\n");
    world.pin("missing_version", &world.server.url, "0.9.9", &digest);
    crate::support::append(&world.pins, "chart = \"widgets\"\n");
    world.pin("future", &world.server.url, "0.8.0", &future_digest);
    world.pin("widgets", &world.server.url, "0.7.3", &digest);
    let config = write_config(world.dir.path(), "chart-refused", "");
    let cluster_version = kubernetes_version();
    let cases = [
        (
            "wrong_digest",
            "size: 1\n",
            vec![
                "charts.wrong_digest",
                &digest,
                "but the pin's digest is",
                &wrong,
            ],
        ),
        (
            "missing_version",
            "size: 1\n",
            vec![
                "charts.missing_version",
                "0.9.9",
                "not found",
                &world.server.url,
            ],
        ),
        (
            "future",
            "size: 1\n",
            vec!["stage future", ">=1.99.0-0", &cluster_version],
        ),
        (
            "widgets",
            "size: big\n",
            vec!["stage widgets", "values.yaml", "size", "integer"],
        ),
    ];
    for (pin, values, wanted) in cases {
        let platform = world.platform(
            &format!("refused-{pin}"),
            &[
                ("namespace", namespace_stage()),
                (
                    pin.replace('_', "-").as_str(),
                    chart_stage(pin, "r", "", values, "  []\n"),
                ),
            ],
        );
        let report_dir = world.dir.path().join(format!("report-{pin}"));
        let run = integration(&platform, &config, &report_dir, &[]);
        assert_eq!(run.code, 2, "{pin}: {}", run.output());
        eprintln!("{pin} is refused: {}", run.stderr.trim());
        for text in wanted {
            assert!(
                run.stderr.contains(text),
                "{pin}: no `{text}` in {}",
                run.output()
            );
        }
        assert!(
            !report_dir.join("report.json").exists(),
            "{pin}: a run started"
        );
    }
    assert!(
        labelled_objects(&crate::support::client().await, "chart-refused")
            .await
            .is_empty()
    );
}

/// A Job hook template: `name` runs `script` in `{{ .Values.image }}`.
fn hook_job(name: &str, events: &str, weight: i32, policy: Option<&str>, script: &str) -> String {
    let policy = policy
        .map(|policy| format!("\n    helm.sh/hook-delete-policy: {policy}"))
        .unwrap_or_default();
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n  annotations:\n    helm.sh/hook: {events}\n    helm.sh/hook-weight: \"{weight}\"{policy}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      terminationGracePeriodSeconds: 1\n      containers:\n        - name: step\n          image: {{{{ .Values.image }}}}\n          command: [\"sh\", \"-c\", {script:?}]\n---\n"
    )
}

/// A test hook Pod that runs `script`.
fn test_pod(name: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n  annotations:\n    helm.sh/hook: test\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: {name}\n      image: {{{{ .Values.image }}}}\n      command: [\"sh\", \"-c\", {script:?}]\n"
    )
}

/// The `rollout` chart: pre-install hooks of three weights (one deleted when it succeeds), a
/// StatefulSet with a claim template, a ConfigMap kept on uninstall, a post-install hook and
/// a test hook that passes.
pub fn rollout_chart() -> Vec<(&'static str, String)> {
    vec![
        ("Chart.yaml", "apiVersion: v2\nname: rollout\nversion: 0.4.1\n".into()),
        ("values.yaml", "image: missing\n".into()),
        (
            "templates/hooks.yaml",
            [
                hook_job("first", "pre-install", -5, None, "echo first hook; sleep 1"),
                hook_job("cleanup", "pre-install", 0, Some("hook-succeeded"), "echo cleanup"),
                hook_job("second", "pre-install", 5, Some("before-hook-creation"), "echo second hook"),
                hook_job("after", "post-install", 0, None, "echo after the release"),
            ]
            .concat(),
        ),
        (
            "templates/db.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-db\nspec:\n  clusterIP: None\n  selector: {app: {{ .Release.Name }}-db}\n  ports: [{port: 5432}]\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{ .Release.Name }}-db\nspec:\n  serviceName: {{ .Release.Name }}-db\n  replicas: 1\n  selector:\n    matchLabels: {app: {{ .Release.Name }}-db}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}-db}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n        - name: db\n          image: {{ .Values.image }}\n          command: [\"sh\", \"-c\", \"echo ready > /data/ready && exec sleep 3600\"]\n          volumeMounts: [{name: data, mountPath: /data}]\n  volumeClaimTemplates:\n    - metadata: {name: data}\n      spec:\n        accessModes: [ReadWriteOnce]\n        resources: {requests: {storage: 1Mi}}\n".into(),
        ),
        (
            "templates/kept.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {{ .Release.Name }}-{{ .Release.Namespace }}-kept\n  annotations:\n    helm.sh/resource-policy: keep\nrules: []\n".into(),
        ),
        ("templates/tests/smoke.yaml", test_pod("smoke", "echo smoke test: the release answers")),
    ]
}

/// A chart whose pre-install hook fails (and is deleted, `hook-failed`).
pub fn broken_hook_chart() -> Vec<(&'static str, String)> {
    vec![
        (
            "Chart.yaml",
            "apiVersion: v2\nname: migrate\nversion: 0.3.2\n".into(),
        ),
        ("values.yaml", "image: missing\n".into()),
        (
            "templates/hooks.yaml",
            hook_job(
                "schema",
                "pre-install",
                0,
                Some("hook-failed"),
                "echo migration failed: table widgets is missing; exit 3",
            ),
        ),
        (
            "templates/config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
                .into(),
        ),
    ]
}

/// A chart whose test hook fails.
pub fn failing_test_chart() -> Vec<(&'static str, String)> {
    vec![
        (
            "Chart.yaml",
            "apiVersion: v2\nname: probe\nversion: 0.5.4\n".into(),
        ),
        ("values.yaml", "image: missing\n".into()),
        (
            "templates/config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
                .into(),
        ),
        (
            "templates/tests/health.yaml",
            test_pod("health", "echo smoke test: /healthz answered 503; exit 1"),
        ),
    ]
}

/// The checks of the `rollout` release.
pub fn rollout_checks() -> String {
    r#"  - name: pre_install_hooks_ran_in_weight_order
    cel:
      resource: {apiVersion: batch/v1, kind: Job, namespace: "{{ namespace }}"}
      expr: "objects.exists(a, a.metadata.name == 'rollout-first' && objects.exists(b, b.metadata.name == 'rollout-second' && b.status.startTime >= a.status.completionTime))"
  - name: succeeded_hook_deleted
    absent: {object: {apiVersion: batch/v1, kind: Job, namespace: "{{ namespace }}", name: rollout-cleanup}}
  - name: post_install_hook_completed
    condition:
      object: {apiVersion: batch/v1, kind: Job, namespace: "{{ namespace }}", name: rollout-after}
      type: Complete
      status: "True"
  - name: claim_bound
    field_equals:
      object: {apiVersion: v1, kind: PersistentVolumeClaim, namespace: "{{ namespace }}", name: data-rollout-db-0}
      path: status.phase
      value: Bound
"#
    .to_owned()
}

/// The `upstream` platform (the pin set's upstream charts as chart stages) loads, and its
/// values templates render offline into the values the nightly kind run deploys.
#[test]
fn the_upstream_platform_loads_and_its_values_templates_render_offline() {
    use deployer::config::{Config, ProviderKind};
    let platform =
        deployer::platform::Platform::load(&repo_root().join("deployer/platforms/upstream"))
            .unwrap();
    let mut config = Config::parse(
        Path::new("upstream.yaml"),
        "project_name: up\nnamespace: up\ndomain: up.seatrial.test\nprovider: kind\n",
    )
    .unwrap();
    deployer::providers::lifecycle::apply_defaults(&mut config, ProviderKind::Kind, &platform);
    let mut tls = deployer::tls::PlatformTls::for_domain("up", "up.seatrial.test").unwrap();
    let dir = tempfile::tempdir().unwrap();
    tls.write_ca(&dir.path().join("ca.crt")).unwrap();
    let prepared =
        harness::integration::prepare(&platform, &config, None, true, false, &tls).unwrap();
    let values = |stage: &str| -> serde_json::Value {
        let chart = prepared
            .iter()
            .find(|prepared| prepared.stage.name == stage)
            .and_then(|prepared| prepared.chart.as_ref())
            .unwrap_or_else(|| panic!("{stage} is not a chart stage"));
        serde_yaml_ng::from_str(&chart.values).unwrap()
    };
    let pins = deployer::pins::load_images(&repo_root().join("pins/pins.toml")).unwrap();
    let charts: Vec<String> = prepared
        .iter()
        .filter_map(|p| p.chart.as_ref().map(|c| c.chart.pin.name.clone()))
        .collect();
    assert_eq!(charts, ["traefik", "keycloakx", "jupyterhub"]);

    let ingress = values("ingress");
    assert_eq!(ingress["image"]["registry"], "docker.io");
    assert_eq!(ingress["image"]["repository"], "library/traefik");
    assert_eq!(ingress["image"]["tag"], pins["traefik"].tag.as_str());
    assert_eq!(ingress["service"]["type"], "NodePort");
    assert_eq!(ingress["ports"]["websecure"]["nodePort"], 30443);
    assert_eq!(
        ingress["tlsStore"]["default"]["defaultCertificate"]["secretName"],
        "platform-tls"
    );
    assert_eq!(ingress["ingressClass"]["name"], "up-traefik");

    let keycloak = values("keycloak");
    assert_eq!(
        keycloak["image"]["repository"],
        pins["keycloak"].repository.as_str()
    );
    assert_eq!(keycloak["http"]["relativePath"], "/auth");
    assert!(keycloak["extraEnv"]
        .as_str()
        .unwrap()
        .contains("https://up.seatrial.test/auth"));
    assert_eq!(keycloak["ingress"]["rules"][0]["host"], "up.seatrial.test");

    let hub = values("jupyterhub");
    let oauth = &hub["hub"]["config"]["GenericOAuthenticator"];
    assert_eq!(
        oauth["oauth_callback_url"],
        "https://up.seatrial.test/hub/oauth_callback"
    );
    assert_eq!(
        oauth["token_url"],
        "http://keycloak-http.up.svc/auth/realms/seatrial/protocol/openid-connect/token"
    );
    assert_eq!(
        oauth["allowed_groups"],
        serde_json::json!(["admin", "developer", "analyst"])
    );
    assert_eq!(hub["singleuser"]["profileList"][0]["default"], true);
    assert_eq!(hub["ingress"]["tls"][0]["secretName"], "platform-tls");
    // The shipped stage's certificate, realm and secrets are the linked manifests.
    let keycloak_stage = prepared
        .iter()
        .find(|p| p.stage.name == "keycloak")
        .unwrap();
    let names: Vec<&str> = keycloak_stage.manifests.iter().map(|m| m.name()).collect();
    assert!(
        names.contains(&"keycloak-realm") && names.contains(&"jupyterhub-oidc"),
        "{names:?}"
    );
}
