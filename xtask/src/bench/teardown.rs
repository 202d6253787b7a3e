//! `cargo xtask bench teardown`: how long removing N inventory-labelled objects of 28 types
//! takes, at what API cost, and what is left, for our teardown + sweep, the real chainsaw's
//! cleanup and `kubectl delete -l`. See docs/benchmarks.md for the method and the numbers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use deployer::apply::{AppliedObject, Applier};
use deployer::inventory::{Inventory, ObjectId};
use deployer::providers::hollow::HOLLOW_RECIPES;
use deployer::providers::Connection;
use futures::stream::{self, StreamExt};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::discovery::Scope;
use kube::Client;
use tokio::io::AsyncBufReadExt;

use super::teardown_objects::{self as objects, CLUSTER_ITEM_CRD, ITEM_CRD};
use crate::exit;

/// The deployment id the objects are labelled with.
const DEPLOYMENT: &str = "seatrial-bench-teardown";
/// How many creates are in flight while the objects are made.
const CREATE_CONCURRENCY: usize = 16;
/// The compass: 10,000 objects swept in under this many seconds, none left.
const TARGET_SECONDS: f64 = 30.0;

/// Arguments of `bench teardown` (its help text is on `Bench::Teardown`).
#[derive(Args)]
pub struct TeardownBench {
    /// Objects to create for each method.
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// Namespaces the namespaced objects are spread over.
    #[arg(long, default_value_t = 10)]
    namespaces: usize,
    /// The methods to run, in this order: seatrial, kubectl, chainsaw.
    #[arg(long, value_delimiter = ',', default_values_t = [MethodName::Seatrial, MethodName::Kubectl, MethodName::Chainsaw])]
    methods: Vec<MethodName>,
    /// Seconds a method may take; one still running then is stopped and what it left counted.
    #[arg(long, default_value_t = 900)]
    method_timeout_seconds: u64,
    /// A kubeconfig of another cluster [default: the hollow cluster, started if needed].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Where to write teardown.json [default: target/seatrial/bench].
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
}

/// A method as `--methods` names it.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum MethodName {
    Seatrial,
    Kubectl,
    Chainsaw,
}

impl std::fmt::Display for MethodName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum;
        f.write_str(
            self.to_possible_value()
                .expect("no skipped values")
                .get_name(),
        )
    }
}

/// A way of removing the objects.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    /// `deployer::teardown::destroy` from the inventory, then `deployer::sweep::sweep`.
    Seatrial,
    /// `kubectl delete <the 28 types> -l <selector> --all-namespaces` (it waits by default).
    KubectlDelete,
    /// The real chainsaw: a test whose one step applies the objects; its cleanup deletes them.
    Chainsaw,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Seatrial => "seatrial teardown + sweep",
            Method::KubectlDelete => "kubectl delete -l",
            Method::Chainsaw => "chainsaw cleanup",
        }
    }
}

/// One method's measurement.
#[derive(Debug, Clone, serde::Serialize)]
struct Measurement {
    method: String,
    objects: usize,
    /// Seconds from the first delete to the method's end.
    seconds: f64,
    /// `apiserver_request_total` over every resource and verb, all clients (the controllers'
    /// garbage collection and namespace deletion included), in that window.
    requests: f64,
    /// Labelled objects a sweep found afterwards (then removed, before the next method).
    left: usize,
    /// The first few of them.
    left_examples: Vec<String>,
    /// Whether the method ended by itself (not stopped at --method-timeout-seconds) with
    /// exit status 0.
    finished: bool,
}

impl TeardownBench {
    pub async fn run(self) -> u8 {
        let terminal = crate::terminal::Terminal::new();
        let binaries = match harness::cluster_build::ensure(&HOLLOW_RECIPES, &terminal) {
            Ok(binaries) => binaries,
            Err(error) => return exit::report(&error),
        };
        let peers = match harness::cluster_build::ensure(
            &deployer::providers::binaries::recipes::BENCH_PEERS,
            &terminal,
        ) {
            Ok(peers) => peers,
            Err(error) => return exit::report(&error),
        };
        let peer = Peers {
            kubectl: binaries.path("kubectl"),
            chainsaw: peers.path("chainsaw"),
        };
        let inventory = Inventory {
            deployment: DEPLOYMENT.to_owned(),
            run_id: deployer::inventory::new_run_id(),
        };
        let labels = inventory
            .labels("bench")
            .into_iter()
            .map(|(key, value)| (key, serde_json::Value::String(value)))
            .collect();
        let objects = match objects::objects(self.objects, self.namespaces, &labels) {
            Ok(objects) => objects,
            Err(error) => {
                eprintln!("error: {error}");
                return exit::BAD_INPUT;
            }
        };
        let cluster = match super::BenchCluster::start(self.kubeconfig.as_deref(), &binaries).await
        {
            Ok(cluster) => cluster,
            Err(code) => return code,
        };
        let connection = &cluster.connection;
        let result = self
            .measure_all(connection, &peer, &inventory, &objects)
            .await;
        let cleaned = remove_crds(&connection.client).await;
        cluster.finish();
        let measurements = match super::measured(cleaned.and(result)) {
            Ok(measurements) => measurements,
            Err(code) => return code,
        };
        println!(
            "peers: chainsaw {} (github.com/kyverno/chainsaw, built here); kubectl {} (the cluster's release)",
            peers.versions.get("chainsaw").cloned().unwrap_or_default(),
            binaries.kubernetes_version()
        );
        print!("{}", table(&measurements, self.namespaces));
        super::write_results(self.report_dir, "teardown.json", &measurements);
        let Some(ours) = measurements
            .iter()
            .find(|m| m.method == Method::Seatrial.name())
        else {
            return exit::SUCCESS;
        };
        if ours.left == 0 && ours.finished && ours.seconds < TARGET_SECONDS {
            exit::SUCCESS
        } else {
            eprintln!(
                "target missed: {} took {:.1} s (target < {TARGET_SECONDS} s) and left {} (target 0)",
                ours.method, ours.seconds, ours.left
            );
            exit::CHECKS_FAILED
        }
    }

    async fn measure_all(
        &self,
        connection: &Connection,
        peers: &Peers,
        inventory: &Inventory,
        objects: &[serde_json::Value],
    ) -> Result<Vec<Measurement>, String> {
        let client = &connection.client;
        install_crds(client).await?;
        // Whatever an earlier, interrupted run left.
        sweep(client).await?;
        let timeout = Duration::from_secs(self.method_timeout_seconds);
        let mut measurements = Vec::new();
        let methods = self.methods.iter().map(|name| match name {
            MethodName::Seatrial => Method::Seatrial,
            MethodName::Kubectl => Method::KubectlDelete,
            MethodName::Chainsaw => Method::Chainsaw,
        });
        for method in methods {
            eprintln!("bench: {} objects, {}", objects.len(), method.name());
            let (seconds, finished, requests) = match method {
                Method::Seatrial => {
                    let applied = create(client, objects).await?;
                    measure(client, || {
                        remove_with_seatrial(client, inventory, applied, timeout)
                    })
                    .await?
                }
                Method::KubectlDelete => {
                    create(client, objects).await?;
                    measure(client, || peers.kubectl_delete(connection, timeout)).await?
                }
                Method::Chainsaw => {
                    let run = peers.chainsaw_apply(connection, objects, timeout).await?;
                    measure(client, || run.cleanup(timeout)).await?
                }
            };
            let left = sweep(client).await?;
            measurements.push(Measurement {
                method: method.name().to_owned(),
                objects: objects.len(),
                seconds,
                requests,
                left_examples: left.iter().take(5).map(ToString::to_string).collect(),
                left: left.len(),
                finished,
            });
        }
        Ok(measurements)
    }
}

/// Times `method` (seconds, whether it finished) and counts the API requests made meanwhile.
async fn measure<F, Fut>(client: &Client, method: F) -> Result<(f64, bool, f64), String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let before = super::metrics::all_requests(&super::metrics::read(client).await?);
    let started = Instant::now();
    let finished = method().await?;
    let seconds = started.elapsed().as_secs_f64();
    // A watch request is counted when it ends; give the API server a moment to record it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = super::metrics::all_requests(&super::metrics::read(client).await?);
    Ok((seconds, finished, after - before))
}

/// Creates `objects` by server-side apply, [`CREATE_CONCURRENCY`] at a time (the Namespaces
/// first), and returns them as a run's inventory would hold them.
async fn create(
    client: &Client,
    objects: &[serde_json::Value],
) -> Result<Vec<AppliedObject>, String> {
    let mut applier = Applier::new(
        client.clone(),
        Inventory {
            deployment: DEPLOYMENT.to_owned(),
            run_id: String::new(),
        },
        "default".to_owned(),
        Duration::from_secs(60),
    );
    let mut resolved = Vec::with_capacity(objects.len());
    for object in objects {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let (resource, capabilities) = applier
            .resolve(api_version, kind)
            .await
            .map_err(|error| host::error_chain(&error))?;
        let namespaced = capabilities.scope == Scope::Namespaced;
        resolved.push((object, resource, namespaced));
    }
    let (namespaces, rest): (Vec<_>, Vec<_>) = resolved
        .into_iter()
        .partition(|(object, _, _)| object["kind"] == "Namespace");
    let params = PatchParams::apply(deployer::inventory::FIELD_MANAGER).force();
    let mut applied = Vec::with_capacity(objects.len());
    for batch in [namespaces, rest] {
        let results: Vec<Result<AppliedObject, String>> =
            stream::iter(batch.into_iter().map(|(object, resource, namespaced)| {
                let params = params.clone();
                async move {
                    let id = ObjectId {
                        api_version: resource.api_version.clone(),
                        kind: resource.kind.clone(),
                        namespace: object["metadata"]["namespace"].as_str().map(str::to_owned),
                        name: object["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    };
                    let api = deployer::apply::api_for(client, &resource, id.namespace.as_deref());
                    let live = api
                        .patch(&id.name, &params, &Patch::Apply(object))
                        .await
                        .map_err(|error| format!("failed to create {id}: {error}"))?;
                    Ok(AppliedObject {
                        id,
                        uid: live.metadata.uid,
                        resource,
                        namespaced,
                        keep: false,
                        claims: None,
                    })
                }
            }))
            .buffered(CREATE_CONCURRENCY)
            .collect()
            .await;
        for result in results {
            applied.push(result?);
        }
    }
    Ok(applied)
}

/// Our teardown from the inventory (one stage), then the sweep by labels; finished when both
/// report no problem.
async fn remove_with_seatrial(
    client: &Client,
    inventory: &Inventory,
    applied: Vec<AppliedObject>,
    timeout: Duration,
) -> Result<bool, String> {
    let report = deployer::teardown::destroy(
        client,
        Some(inventory),
        &[("bench".to_owned(), applied)],
        timeout,
    )
    .await;
    let sweep = deployer::sweep::sweep(client, DEPLOYMENT, timeout)
        .await
        .map_err(|error| host::error_chain(&error))?;
    eprintln!(
        "bench: teardown {:.1} s ({} deleted, {} problems), sweep {:.1} s ({} types listed, {} found and deleted)",
        report.seconds,
        report.deleted,
        report.problems.len(),
        sweep.seconds,
        sweep.resource_types_listed,
        sweep.deleted.len()
    );
    for problem in report.problems.iter().take(3) {
        eprintln!("bench: teardown problem: {problem}");
    }
    Ok(report.problems.is_empty() && sweep.leftovers.is_empty())
}

/// Sweeps the benchmark's deployment and returns what it found (deleted or left).
async fn sweep(client: &Client) -> Result<Vec<ObjectId>, String> {
    let report = deployer::sweep::sweep(client, DEPLOYMENT, Duration::from_secs(300))
        .await
        .map_err(|error| host::error_chain(&error))?;
    if let Some(leftover) = report.leftovers.first() {
        return Err(format!(
            "the benchmark's objects could not be removed between methods: {} ({})",
            leftover.id, leftover.reason
        ));
    }
    Ok(report.deleted)
}

/// The peer programs, built here.
struct Peers {
    kubectl: PathBuf,
    chainsaw: PathBuf,
}

impl Peers {
    /// `kubectl delete` over every type with the deployment's selector, in all namespaces;
    /// it waits for each object to be gone (its default `--wait=true`).
    async fn kubectl_delete(
        &self,
        connection: &Connection,
        timeout: Duration,
    ) -> Result<bool, String> {
        let mut child = tokio::process::Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&connection.kubeconfig)
            .arg("delete")
            .arg(objects::resource_names().join(","))
            .args(["-l", &deployer::inventory::deployment_selector(DEPLOYMENT)])
            .args(["--all-namespaces", "--wait=true"])
            .arg(format!("--timeout={}s", timeout.as_secs()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("failed to run {}: {error}", self.kubectl.display()))?;
        match tokio::time::timeout(timeout + Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) => Ok(status.success()),
            Ok(Err(error)) => Err(format!("kubectl delete: {error}")),
            Err(_) => Ok(false),
        }
    }

    /// Starts chainsaw on a test whose one step applies every object (one `apply` per object,
    /// in order, Namespaces first), and returns once its cleanup has begun (the first log line
    /// of its cleanup section), so that only the cleanup is timed.
    async fn chainsaw_apply(
        &self,
        connection: &Connection,
        objects: &[serde_json::Value],
        timeout: Duration,
    ) -> Result<ChainsawRun, String> {
        let dir =
            tempfile::tempdir().map_err(|error| format!("failed to make a directory: {error}"))?;
        let test_dir = dir.path().join("teardown");
        std::fs::create_dir_all(&test_dir).map_err(|error| error.to_string())?;
        let documents: Vec<String> = objects.iter().map(ToString::to_string).collect();
        std::fs::write(test_dir.join("objects.yaml"), documents.join("\n---\n"))
            .map_err(|error| format!("failed to write the chainsaw objects: {error}"))?;
        std::fs::write(test_dir.join("chainsaw-test.yaml"), chainsaw_test(timeout))
            .map_err(|error| format!("failed to write the chainsaw test: {error}"))?;
        let mut child = tokio::process::Command::new(&self.chainsaw)
            .args(["test", "--no-color", "--parallel", "1"])
            .arg("--test-dir")
            .arg(dir.path())
            .env("KUBECONFIG", &connection.kubeconfig)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("failed to run {}: {error}", self.chainsaw.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut log = Vec::new();
        let cleanup_started = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("CLEANUP") {
                    return true;
                }
                if log.len() < 20 {
                    log.push(line);
                }
            }
            false
        };
        match tokio::time::timeout(timeout, cleanup_started).await {
            Ok(true) => Ok(ChainsawRun {
                child,
                lines,
                _dir: dir,
            }),
            _ => Err(format!(
                "chainsaw did not reach its cleanup within {} s; its log began:\n{}",
                timeout.as_secs(),
                log.join("\n")
            )),
        }
    }
}

/// A chainsaw run whose cleanup has begun.
struct ChainsawRun {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    _dir: tempfile::TempDir,
}

impl ChainsawRun {
    /// Waits for chainsaw to end (its cleanup waits for each deletion); finished when it
    /// exits 0 within `timeout`.
    async fn cleanup(mut self, timeout: Duration) -> Result<bool, String> {
        let ended = async {
            while let Ok(Some(_)) = self.lines.next_line().await {}
            self.child.wait().await
        };
        match tokio::time::timeout(timeout, ended).await {
            Ok(Ok(status)) => Ok(status.success()),
            Ok(Err(error)) => Err(format!("chainsaw: {error}")),
            Err(_) => Ok(false),
        }
    }
}

/// The chainsaw test: one step that applies objects.yaml; chainsaw deletes what it created,
/// in reverse order, when the step ends.
fn chainsaw_test(timeout: Duration) -> String {
    let seconds = timeout.as_secs();
    format!(
        "apiVersion: chainsaw.kyverno.io/v1alpha1\nkind: Test\nmetadata:\n  name: teardown\nspec:\n  timeouts:\n    apply: {seconds}s\n    cleanup: {seconds}s\n    delete: {seconds}s\n  steps:\n  - name: objects\n    try:\n    - apply:\n        file: objects.yaml\n"
    )
}

async fn install_crds(client: &Client) -> Result<(), String> {
    let mut applier = Applier::new(
        client.clone(),
        Inventory {
            deployment: String::new(),
            run_id: String::new(),
        },
        "default".to_owned(),
        Duration::from_secs(60),
    );
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &applier
            .resolve("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            .await
            .map_err(|error| host::error_chain(&error))?
            .0,
    );
    for crd in objects::crds() {
        let name = crd["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        api.patch(
            &name,
            &PatchParams::apply("seatrial-bench").force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(|error| format!("failed to create CRD {name}: {error}"))?;
    }
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for name in [ITEM_CRD, CLUSTER_ITEM_CRD] {
        tokio::time::timeout(
            Duration::from_secs(60),
            kube::runtime::wait::await_condition(
                crds.clone(),
                name,
                kube::runtime::wait::conditions::is_crd_established(),
            ),
        )
        .await
        .map_err(|_| format!("CRD {name} was not established within 60 s"))?
        .map_err(|error| format!("waiting for CRD {name}: {error}"))?;
    }
    // An established CRD's storage may still answer 429 ("storage is (re)initializing") for a
    // moment: wait until both types list.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (api_version, kind) in [
        (format!("{}/v1", objects::GROUP), "BenchItem"),
        (format!("{}/v1", objects::GROUP), "BenchClusterItem"),
    ] {
        let (resource, _) = applier
            .resolve(&api_version, kind)
            .await
            .map_err(|error| host::error_chain(&error))?;
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        while let Err(error) = api.list(&kube::api::ListParams::default().limit(1)).await {
            if Instant::now() > deadline {
                return Err(format!(
                    "{kind} cannot be listed 30 s after its CRD was established: {error}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

async fn remove_crds(client: &Client) -> Result<(), String> {
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for name in [ITEM_CRD, CLUSTER_ITEM_CRD] {
        match crds.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(format!("failed to delete CRD {name}: {error}")),
        }
    }
    Ok(())
}

fn table(measurements: &[Measurement], namespaces: usize) -> String {
    let objects = measurements.first().map_or(0, |m| m.objects);
    let mut text = format!(
        "\nteardown: {objects} objects with the inventory labels of deployment {DEPLOYMENT}, of {} types (namespaced ones in {namespaces} namespaces; 6 cluster-scoped; two custom resources)\nseconds = first delete to the method's end; requests = apiserver_request_total, every resource and verb, all clients (garbage collector and namespace controller included); left = labelled objects a sweep found afterwards; ratios are method / seatrial\n\n",
        objects::TYPES
    );
    text.push_str(&format!(
        "{:<28} {:>9} {:>9} {:>6} {:>9} {:>9} {:>9}\n",
        "method", "seconds", "requests", "left", "finished", "s ×", "req ×"
    ));
    let ours = measurements
        .iter()
        .find(|m| m.method == Method::Seatrial.name());
    for m in measurements {
        let ratio = |theirs: f64, ours: f64| {
            if ours > 0.0 {
                format!("{:.2}", theirs / ours)
            } else {
                "-".to_owned()
            }
        };
        text.push_str(&format!(
            "{:<28} {:>9.1} {:>9.0} {:>6} {:>9} {:>9} {:>9}\n",
            m.method,
            m.seconds,
            m.requests,
            m.left,
            if m.finished { "yes" } else { "no" },
            ratio(m.seconds, ours.map_or(0.0, |o| o.seconds)),
            ratio(m.requests, ours.map_or(0.0, |o| o.requests)),
        ));
        if !m.left_examples.is_empty() {
            text.push_str(&format!("    left, e.g.: {}\n", m.left_examples.join(", ")));
        }
    }
    text
}
