//! Helpers: running the xtask binary, temporary configs and platforms, a cluster client.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::{
    APIService, APIServiceSpec, ServiceReference,
};
use kube::api::{Api, DynamicObject, ListParams, ObjectMeta, PostParams};
use kube::Client;

/// What one xtask run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertion messages.
    pub fn output(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the xtask binary with `args`.
pub fn xtask(args: &[&str]) -> Run {
    xtask_with(args, &[])
}

/// Runs the xtask binary with `args` and extra environment variables.
pub fn xtask_with(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args).env("SEATRIAL_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the xtask binary runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs the xtask binary with `args`, the variables `set` set and those in `remove` unset
/// (so the caller's environment cannot change the outcome).
pub fn xtask_env(args: &[&str], set: &[(&str, &str)], remove: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args).env("SEATRIAL_LOG", "warn");
    for key in remove {
        command.env_remove(key);
    }
    for (key, value) in set {
        command.env(key, value);
    }
    let output = command.output().expect("the xtask binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Writes a config for `project` (also its namespace) plus `extra` YAML lines; returns its path.
pub fn write_config(dir: &Path, project: &str, extra: &str) -> PathBuf {
    let path = dir.join(format!("{project}.yaml"));
    let text = format!(
        "project_name: {project}\nnamespace: {project}\ndomain: {project}.seatrial.test\n{extra}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Copies the repository's platform into `dir/platform`, pointing it at the repository's pins.
pub fn copy_platform(dir: &Path) -> PathBuf {
    copy_platform_on(dir, &repo_root().join("pins/pins.toml"))
}

/// [`copy_platform`] on a copy of the pin set (at `dir/pins.toml`) that `edit` changed; the
/// edit must change the text (a pin the repository no longer has is a test's mistake).
pub fn copy_platform_with_pins(dir: &Path, edit: impl FnOnce(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("pins/pins.toml")).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the pin set edit changed nothing");
    let pins = dir.join("pins.toml");
    std::fs::write(&pins, edited).unwrap();
    copy_platform_on(dir, &pins)
}

/// The repository's platform copied to `dir/platform`, its `platform.yaml` naming `pins`.
fn copy_platform_on(dir: &Path, pins: &Path) -> PathBuf {
    let source = repo_root().join("deployer/stages");
    let target = dir.join("platform");
    copy_dir(&source, &target);
    let platform_yaml = target.join("platform.yaml");
    let text = std::fs::read_to_string(&platform_yaml).unwrap();
    let text = text.replace(
        "pins: ../../pins/pins.toml",
        &format!("pins: {}", pins.display()),
    );
    std::fs::write(&platform_yaml, text).unwrap();
    target
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Appends `text` to a file.
pub fn append(path: &Path, text: &str) {
    let mut contents = std::fs::read_to_string(path).unwrap();
    contents.push_str(text);
    std::fs::write(path, contents).unwrap();
}

/// The hollow cluster's kubeconfig, from `SEATRIAL_KUBECONFIG` (set by `cargo xtask test`).
pub fn kubeconfig() -> PathBuf {
    std::env::var_os("SEATRIAL_KUBECONFIG").map(PathBuf::from).expect(
        "SEATRIAL_KUBECONFIG is not set: this test needs the hollow cluster; run it with `cargo xtask test`",
    )
}

/// A client for the hollow cluster.
pub async fn client() -> Client {
    deployer::providers::connect(&kubeconfig(), None, "run the tests with `cargo xtask test`")
        .await
        .unwrap()
        .client
}

/// Every object in the cluster labelled with `deployment`, as `Kind namespace/name`, found
/// through discovery of every served type. Tests create and delete CRDs side by side, so a
/// type that vanishes between discovery and its list (404) is skipped. Unavailable group
/// versions are skipped too: the only one is the sweep test's deliberately broken aggregated
/// API, which serves nothing. Any other failure to list panics.
pub async fn labelled_objects(client: &Client, deployment: &str) -> Vec<String> {
    let served = deployer::discovery::served_types(client).await.unwrap();
    let selector = deployer::inventory::deployment_selector(deployment);
    let mut found = Vec::new();
    for (resource, capabilities) in served.resources {
        if !capabilities.supports_operation(kube::discovery::verbs::LIST) {
            continue;
        }
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => {
                for object in list.items {
                    found.push(format!(
                        "{} {}/{}",
                        resource.kind,
                        object.metadata.namespace.unwrap_or_default(),
                        object.metadata.name.unwrap_or_default()
                    ));
                }
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => panic!("cannot list {}: {error}", resource.plural),
        }
    }
    found
}

/// Registers the APIService `v1.<group>` that breaks discovery on purpose: with `service`, an
/// aggregated API behind that Service; without, "local", which the API server itself does not
/// serve. It is labelled `seatrial.dev/broken-on-purpose=true`, so `cargo xtask test` deletes it
/// if this run is killed before the test does; one an earlier killed run left is taken over.
/// Returns the APIService API and its name.
pub async fn register_broken_api_service(
    client: &Client,
    group: &str,
    service: Option<ServiceReference>,
) -> (Api<APIService>, String) {
    let api_services: Api<APIService> = Api::all(client.clone());
    let name = format!("v1.{group}");
    let registered = api_services
        .create(
            &PostParams::default(),
            &APIService {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(
                        [(
                            "seatrial.dev/broken-on-purpose".to_owned(),
                            "true".to_owned(),
                        )]
                        .into(),
                    ),
                    ..ObjectMeta::default()
                },
                spec: Some(APIServiceSpec {
                    group: Some(group.to_owned()),
                    version: Some("v1".to_owned()),
                    group_priority_minimum: 1000,
                    version_priority: 15,
                    insecure_skip_tls_verify: service.is_some().then_some(true),
                    service,
                    ..APIServiceSpec::default()
                }),
                ..APIService::default()
            },
        )
        .await;
    match registered {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => panic!("register {name}: {error}"),
    }
    (api_services, name)
}

/// Reads `report.json` from a report dir.
pub fn read_report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json exists");
    serde_json::from_str(&text).unwrap()
}

/// Asserts that a run's sweep reported no leftovers, and that the cluster agrees: no object
/// of any type carries the deployment's labels.
pub async fn assert_nothing_left(report: &serde_json::Value, deployment: &str) {
    assert_eq!(
        report["sweep"]["leftovers"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    assert_eq!(
        labelled_objects(&client().await, deployment).await,
        Vec::<String>::new()
    );
}

/// A ConfigMap `held` in the config's namespace that the finalizer `seatrial.dev/held-by-test`
/// keeps from being deleted until [`release_held`] removes it.
pub const HELD_CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: \"{{ namespace }}\"\n  finalizers: [seatrial.dev/held-by-test]\ndata: {}\n";

/// Removes the finalizers of the ConfigMap `held` in `namespace` ([`HELD_CONFIGMAP`]).
pub async fn release_held(namespace: &str) {
    let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client().await, namespace);
    let patch = serde_json::json!({"metadata": {"finalizers": null}});
    configmaps
        .patch(
            "held",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
}
