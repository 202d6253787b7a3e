//! `cargo xtask bench readiness`: how fast, and at what API cost, each wait method sees N
//! objects become ready. See docs/benchmarks.md for the method and the latest numbers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use deployer::providers::hollow::HOLLOW_RECIPES;
use deployer::providers::Connection;
use deployer::wait::condition_status;
use deployer::watches::Watches;
use harness::checks::{run_checks, Assertion, Check, CheckRunner, ObjectSelector, Resolver};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::wait::{await_condition, conditions};
use kube::Client;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use super::metrics::request_total;
use crate::exit;

pub(super) const GROUP: &str = "bench.seatrial.dev";
pub(super) const PLURAL: &str = "benchtargets";
const CRD_NAME: &str = "benchtargets.bench.seatrial.dev";
const FIELD_MANAGER: &str = "seatrial-bench";
/// The verbs a wait method uses; the benchmark's own writes (POST, PATCH) are not counted.
const READ_VERBS: [&str; 3] = ["GET", "LIST", "WATCH"];

/// Arguments of `bench readiness` (its help text is on `Bench::Readiness`).
#[derive(Args)]
pub struct Readiness {
    /// Object counts to run with, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [20usize, 100, 1000])]
    objects: Vec<usize>,
    /// Seconds over which the status writes are spread.
    #[arg(long, default_value_t = 3.0)]
    spread_seconds: f64,
    /// A kubeconfig of another cluster [default: the hollow cluster, started if needed].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Where to write readiness.json [default: target/seatrial/bench].
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// The kubectl `kubectl wait` runs: the one built with the cluster, at the same version.
    #[arg(skip)]
    kubectl: PathBuf,
    /// The chainsaw built at the pin set's `[tools.chainsaw]`, and its version.
    #[arg(skip)]
    chainsaw: (PathBuf, String),
}

/// A wait method under test.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    /// Our harness: `condition` checks on a shared watch.
    Harness,
    /// `kubectl wait --for=condition=Ready --all`.
    KubectlWait,
    /// A GET per object every interval until it is ready.
    Poll(Duration),
    /// The real chainsaw: one test whose step asserts each object's Ready condition.
    Chainsaw,
}

impl Method {
    fn name(self) -> String {
        match self {
            Method::Harness => "seatrial (watch)".to_owned(),
            Method::KubectlWait => "kubectl wait".to_owned(),
            Method::Poll(interval) if interval >= Duration::from_secs(1) => {
                format!("poll {} s (kuttl)", interval.as_secs())
            }
            Method::Poll(interval) => format!("poll {} ms (chainsaw-like)", interval.as_millis()),
            Method::Chainsaw => "chainsaw (real)".to_owned(),
        }
    }
}

/// One method's measurement at one N.
#[derive(Debug, Clone, serde::Serialize)]
struct Measurement {
    objects: usize,
    method: String,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    seen: usize,
    requests: f64,
}

impl Readiness {
    pub async fn run(mut self) -> u8 {
        // kubectl comes with the cluster binaries (the same Kubernetes release).
        let binaries = match harness::cluster_build::ensure(
            &HOLLOW_RECIPES,
            &crate::terminal::Terminal::new(),
        ) {
            Ok(binaries) => binaries,
            Err(error) => return exit::report(&error),
        };
        self.kubectl = binaries.path("kubectl");
        // The peers, built from the Go module proxy at their pins.
        let peers = match harness::cluster_build::ensure(
            &deployer::providers::binaries::recipes::BENCH_PEERS,
            &crate::terminal::Terminal::new(),
        ) {
            Ok(peers) => peers,
            Err(error) => return exit::report(&error),
        };
        self.chainsaw = (
            peers.path("chainsaw"),
            peers.versions.get("chainsaw").cloned().unwrap_or_default(),
        );
        let cluster = match super::BenchCluster::start(self.kubeconfig.as_deref(), &binaries).await
        {
            Ok(cluster) => cluster,
            Err(code) => return code,
        };
        let connection = &cluster.connection;
        let result = self.measure_all(connection).await;
        let cleaned = cleanup(&connection.client).await;
        cluster.finish();
        let measurements = match super::measured(cleaned.and(result)) {
            Ok(measurements) => measurements,
            Err(code) => return code,
        };
        println!("peers: chainsaw {} (github.com/kyverno/chainsaw, built here); kubectl {} (the cluster's release)", self.chainsaw.1, binaries.kubernetes_version());
        print!("{}", table(&measurements, self.spread_seconds));
        super::write_results(self.report_dir, "readiness.json", &measurements);
        if targets_met(&measurements) {
            exit::SUCCESS
        } else {
            exit::CHECKS_FAILED
        }
    }

    async fn measure_all(&self, connection: &Connection) -> Result<Vec<Measurement>, String> {
        let client = &connection.client;
        install_crd(client).await?;
        let methods = [
            Method::Harness,
            Method::KubectlWait,
            Method::Poll(Duration::from_secs(1)),
            Method::Poll(Duration::from_millis(50)),
            Method::Chainsaw,
        ];
        let mut measurements = Vec::new();
        for &objects in &self.objects {
            for (index, method) in methods.iter().enumerate() {
                let namespace = format!("seatrial-bench-{objects}-{index}");
                eprintln!("bench: {objects} objects, {}", method.name());
                let measurement = self
                    .measure(connection, *method, objects, &namespace)
                    .await?;
                measurements.push(measurement);
            }
        }
        Ok(measurements)
    }

    async fn measure(
        &self,
        connection: &Connection,
        method: Method,
        objects: usize,
        namespace: &str,
    ) -> Result<Measurement, String> {
        let client = &connection.client;
        let api = create_objects(client, namespace, objects).await?;
        let names: Vec<String> = (0..objects).map(|i| format!("t-{i:03}")).collect();
        let spread = Duration::from_secs_f64(self.spread_seconds);
        // Methods that wait object after object (kubectl wait, chainsaw) need longer at large N.
        let timeout =
            spread + Duration::from_secs(60) + Duration::from_millis(200) * objects as u32;
        let before = request_total(&super::metrics::read(client).await?, PLURAL, &READ_VERBS);

        let watches = Arc::new(Watches::new(client.clone()));
        let seen = match method {
            Method::Harness => observe_with_checks(&watches, &names, namespace, timeout),
            Method::KubectlWait => {
                self.observe_with_kubectl(connection, &names, namespace, timeout)?
            }
            Method::Poll(interval) => observe_by_polling(&api, &names, interval, timeout),
            Method::Chainsaw => {
                self.observe_with_chainsaw(connection, &names, namespace, timeout)
                    .await?
            }
        };

        // Let the method start (kubectl's process start, the first list) before any write.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let written = write_statuses(&api, &names, spread).await?;
        let seen = tokio::time::timeout(timeout + Duration::from_secs(5), seen)
            .await
            .map_err(|_| format!("{} did not finish", method.name()))?
            .map_err(|error| format!("{} failed: {error}", method.name()))?;
        watches.stop_all();
        drop(watches);
        // A watch request is counted when it ends; give the API server a moment to record it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = request_total(&super::metrics::read(client).await?, PLURAL, &READ_VERBS);

        let latencies = latencies_ms(&seen, &written);
        Ok(Measurement {
            objects,
            method: method.name(),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: latencies.last().copied().unwrap_or(f64::NAN),
            seen: latencies.len(),
            requests: after - before,
        })
    }

    /// `kubectl wait --for=condition=Ready --all`: when each object's `condition met` line
    /// arrives on its stdout.
    fn observe_with_kubectl(
        &self,
        connection: &Connection,
        names: &[String],
        namespace: &str,
        timeout: Duration,
    ) -> Result<Observer, String> {
        let mut child = tokio::process::Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&connection.kubeconfig)
            .args([
                "wait",
                "--for=condition=Ready",
                CRD_NAME,
                "--all",
                "-n",
                namespace,
            ])
            .arg(format!("--timeout={}s", timeout.as_secs()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("failed to run kubectl: {error}"))?;
        let stdout = child.stdout.take().expect("piped");
        let names = names.to_vec();
        let observer = tokio::spawn(async move {
            let mut seen = vec![None; names.len()];
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            // `benchtarget.bench.seatrial.dev/t-007 condition met`
            while let Ok(Some(line)) = lines.next_line().await {
                let now = Instant::now();
                let name = line
                    .split_once('/')
                    .and_then(|(_, rest)| rest.split_whitespace().next());
                if let Some(index) = name.and_then(|n| names.iter().position(|x| x == n)) {
                    seen[index] = Some(now);
                }
            }
            let _ = child.wait().await;
            seen
        });
        Ok(observer)
    }
}

impl Readiness {
    /// The real chainsaw: a test of one step that asserts, object by object, the `Ready`
    /// condition (`(conditions[?type == 'Ready'])`, chainsaw's JMESPath assertion trees), run
    /// with `--report-format JSON`. T1 of each object is its assert operation's `endTime`
    /// in chainsaw's own report (pkg/report/json.go of its release), mapped onto this clock.
    /// Returns once chainsaw has started its first assert, so that every status write comes
    /// after it began waiting.
    async fn observe_with_chainsaw(
        &self,
        connection: &Connection,
        names: &[String],
        namespace: &str,
        timeout: Duration,
    ) -> Result<Observer, String> {
        let dir =
            tempfile::tempdir().map_err(|error| format!("failed to make a directory: {error}"))?;
        let test_dir = dir.path().join("readiness");
        std::fs::create_dir_all(&test_dir).map_err(|error| error.to_string())?;
        std::fs::write(
            test_dir.join("chainsaw-test.yaml"),
            chainsaw_test(names, namespace, timeout),
        )
        .map_err(|error| format!("failed to write the chainsaw test: {error}"))?;
        let mut child = tokio::process::Command::new(&self.chainsaw.0)
            .args([
                "test",
                "--no-color",
                "--parallel",
                "1",
                "--report-format",
                "JSON",
            ])
            .arg("--test-dir")
            .arg(dir.path())
            .arg("--report-path")
            .arg(dir.path())
            .args(["--report-name", "report"])
            .env("KUBECONFIG", &connection.kubeconfig)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("failed to run {}: {error}", self.chainsaw.0.display()))?;
        // Chainsaw logs each operation as it starts (`| ASSERT | RUN |`).
        let stdout = child.stdout.take().expect("piped");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let started = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("ASSERT") {
                    return true;
                }
            }
            false
        };
        match tokio::time::timeout(Duration::from_secs(60), started).await {
            Ok(true) => {}
            _ => return Err("chainsaw did not start its asserts within 60 s".to_owned()),
        }
        let anchor = (std::time::SystemTime::now(), Instant::now());
        let count = names.len();
        Ok(tokio::spawn(async move {
            // Drain the rest of its log so that it never blocks on a full pipe.
            while let Ok(Some(_)) = lines.next_line().await {}
            let _ = child.wait().await;
            let report =
                std::fs::read_to_string(dir.path().join("report.json")).unwrap_or_default();
            chainsaw_assert_ends(&report, count, anchor)
        }))
    }
}

/// The chainsaw test: one step, one assert per object, in `names` order.
fn chainsaw_test(names: &[String], namespace: &str, timeout: Duration) -> String {
    let mut text = format!(
        "apiVersion: chainsaw.kyverno.io/v1alpha1\nkind: Test\nmetadata:\n  name: readiness\nspec:\n  namespace: {namespace}\n  timeouts:\n    assert: {}s\n  steps:\n  - name: ready\n    try:\n",
        timeout.as_secs()
    );
    for name in names {
        text.push_str(&format!(
            "    - assert:\n        resource:\n          apiVersion: {GROUP}/v1\n          kind: BenchTarget\n          metadata:\n            name: {name}\n          status:\n            (conditions[?type == 'Ready']):\n            - status: 'True'\n"
        ));
    }
    text
}

/// When each assert of chainsaw's JSON report ended (`tests[0].steps[0].operations[i].endTime`,
/// RFC 3339), on this process's clock through `anchor` (a wall-clock time and the instant it
/// was read); `None` for an assert that failed or is missing.
fn chainsaw_assert_ends(
    report: &str,
    count: usize,
    anchor: (std::time::SystemTime, Instant),
) -> Vec<Option<Instant>> {
    let report: serde_json::Value = serde_json::from_str(report).unwrap_or_default();
    let operations = report["tests"][0]["steps"][0]["operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let anchor_wall = time::OffsetDateTime::from(anchor.0);
    (0..count)
        .map(|index| {
            let operation = operations.get(index)?;
            if operation.get("failure").is_some() {
                return None;
            }
            let end = time::OffsetDateTime::parse(
                operation["endTime"].as_str()?,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            let offset = end - anchor_wall;
            let offset = Duration::try_from(offset).ok()?;
            Some(anchor.1 + offset)
        })
        .collect()
}

/// When each object was seen Ready, in `names` order (`None`: never).
pub(super) type Observer = tokio::task::JoinHandle<Vec<Option<Instant>>>;

/// Our checks: a `condition` check per object on the shared watches; each passes when the
/// watch shows it Ready.
pub(super) fn observe_with_checks(
    watches: &Arc<Watches>,
    names: &[String],
    namespace: &str,
    timeout: Duration,
) -> Observer {
    let runner = CheckRunner::with(watches.clone(), Resolver::new());
    let checks: Vec<Check> = names
        .iter()
        .map(|name| {
            let mut check = Check::new(
                "bench",
                name,
                Assertion::Condition {
                    object: ObjectSelector {
                        api_version: format!("{GROUP}/v1"),
                        kind: "BenchTarget".to_owned(),
                        namespace: Some(namespace.to_owned()),
                        name: name.clone(),
                    },
                    type_: "Ready".to_owned(),
                    status: "True".to_owned(),
                    reason: None,
                },
            );
            check.timeout = timeout;
            check
        })
        .collect();
    tokio::spawn(async move {
        run_checks(&runner, &checks)
            .await
            .into_iter()
            .map(|outcome| {
                outcome
                    .passed()
                    .then(|| outcome.started + Duration::from_secs_f64(outcome.seconds))
            })
            .collect()
    })
}

/// A poll loop per object (`GET` every `interval`), the way kuttl (1 s) and chainsaw (50 ms)
/// poll.
fn observe_by_polling(
    api: &Api<DynamicObject>,
    names: &[String],
    interval: Duration,
    timeout: Duration,
) -> Observer {
    let pollers: Vec<_> = names
        .iter()
        .map(|name| {
            let api = api.clone();
            let name = name.clone();
            tokio::spawn(async move {
                let deadline = Instant::now() + timeout;
                while Instant::now() < deadline {
                    if let Ok(object) = api.get(&name).await {
                        if condition_status(&object.data["status"], "Ready") == Some("True") {
                            return Some(Instant::now());
                        }
                    }
                    tokio::time::sleep(interval).await;
                }
                None
            })
        })
        .collect();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        for poller in pollers {
            seen.push(poller.await.ok().flatten());
        }
        seen
    })
}

/// Writes each object's Ready condition, spread evenly over `spread`; returns when each was
/// written.
async fn write_statuses(
    api: &Api<DynamicObject>,
    names: &[String],
    spread: Duration,
) -> Result<Vec<Instant>, String> {
    let mut written = Vec::with_capacity(names.len());
    let start = Instant::now();
    for (index, name) in names.iter().enumerate() {
        tokio::time::sleep_until(
            (start + spread.mul_f64(index as f64 / names.len() as f64)).into(),
        )
        .await;
        let at = Instant::now();
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [{
                "type": "Ready", "status": "True", "reason": "Benchmark",
                "lastTransitionTime": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("formats"),
            }]}})),
        )
        .await
        .map_err(|error| format!("failed to write the status of {name}: {error}"))?;
        written.push(at);
    }
    Ok(written)
}

/// Milliseconds from each write to its sighting, sorted (objects never seen are left out).
fn latencies_ms(seen: &[Option<Instant>], written: &[Instant]) -> Vec<f64> {
    let mut latencies: Vec<f64> = seen
        .iter()
        .zip(written)
        .filter_map(|(seen, written)| {
            seen.map(|seen| seen.saturating_duration_since(*written).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// Nearest-rank percentile of sorted values (NaN when empty).
fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(super) fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", "BenchTarget"), PLURAL)
}

pub(super) async fn install_crd(client: &Client) -> Result<(), String> {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {"kind": "BenchTarget", "plural": PLURAL, "singular": "benchtarget", "listKind": "BenchTargetList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }}}
            }]
        }
    }))
    .expect("a valid CRD");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        CRD_NAME,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .map_err(|error| format!("failed to create the benchmark CRD: {error}"))?;
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(api, CRD_NAME, conditions::is_crd_established()),
    )
    .await
    .map_err(|_| "the benchmark CRD was not established within 60 s".to_owned())?
    .map_err(|error| format!("waiting for the benchmark CRD: {error}"))?;
    Ok(())
}

pub(super) async fn create_objects(
    client: &Client,
    namespace: &str,
    objects: usize,
) -> Result<Api<DynamicObject>, String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let body: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"seatrial.dev/bench": "readiness"}}
    }))
    .expect("a valid namespace");
    namespaces
        .patch(
            namespace,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|error| format!("failed to create namespace {namespace}: {error}"))?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource());
    for index in 0..objects {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "BenchTarget",
            "metadata": {"name": format!("t-{index:03}"), "namespace": namespace},
            "spec": {}
        }))
        .expect("a valid object");
        api.create(&PostParams::default(), &object)
            .await
            .map_err(|error| format!("failed to create benchmark object {index}: {error}"))?;
    }
    Ok(api)
}

/// Deletes the benchmark namespaces and the CRD.
pub(super) async fn cleanup(client: &Client) -> Result<(), String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let list = namespaces
        .list(&kube::api::ListParams::default().labels("seatrial.dev/bench=readiness"))
        .await
        .map_err(|error| format!("failed to list benchmark namespaces: {error}"))?;
    for namespace in list.items {
        let name = namespace.metadata.name.unwrap_or_default();
        let _ = namespaces.delete(&name, &DeleteParams::background()).await;
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let _ = crds.delete(CRD_NAME, &DeleteParams::background()).await;
    Ok(())
}

fn table(measurements: &[Measurement], spread_seconds: f64) -> String {
    let mut text = format!(
        "\nreadiness wait: status written over {spread_seconds:.1} s; latency = T1 (method saw Ready) − T0 (before the status write), one clock\nrequests = apiserver_request_total GET/LIST/WATCH on {PLURAL}, read before and after each method; ratios are method / seatrial\n\n"
    );
    text.push_str(&format!(
        "{:>5}  {:<24} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "N", "method", "p50 ms", "p99 ms", "max ms", "seen", "requests", "p50 ×", "p99 ×", "req ×"
    ));
    for measurement in measurements {
        let ours = harness_at(measurements, measurement.objects);
        let ratio = |theirs: f64, ours: Option<f64>| match ours {
            Some(ours) if ours > 0.0 => format!("{:.2}", theirs / ours),
            _ => "-".to_owned(),
        };
        text.push_str(&format!(
            "{:>5}  {:<24} {:>8.1} {:>8.1} {:>8.1} {:>9} {:>9.0} {:>9} {:>9} {:>9}\n",
            measurement.objects,
            measurement.method,
            measurement.p50_ms,
            measurement.p99_ms,
            measurement.max_ms,
            format!("{}/{}", measurement.seen, measurement.objects),
            measurement.requests,
            ratio(measurement.p50_ms, ours.map(|o| o.p50_ms)),
            ratio(measurement.p99_ms, ours.map(|o| o.p99_ms)),
            ratio(measurement.requests, ours.map(|o| o.requests)),
        ));
    }
    for measurement in measurements
        .iter()
        .filter(|m| m.method == Method::Harness.name())
    {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        let (best_p50, best_requests) = best_peer(measurements, measurement.objects);
        text.push_str(&format!(
            "targets at N={}: p50 < 50 ms {}, p99 < 250 ms {}, all seen {}, no worse than the best peer (kubectl wait, chainsaw) at p50 {} and requests {}\n",
            measurement.objects,
            verdict(measurement.p50_ms < 50.0),
            verdict(measurement.p99_ms < 250.0),
            verdict(measurement.seen == measurement.objects),
            verdict(measurement.p50_ms <= best_p50),
            verdict(measurement.requests <= best_requests),
        ));
    }
    text
}

/// Seatrial's measurement at `objects`.
fn harness_at(measurements: &[Measurement], objects: usize) -> Option<&Measurement> {
    measurements
        .iter()
        .find(|m| m.objects == objects && m.method == Method::Harness.name())
}

/// The best p50 and the fewest requests of the real peers (kubectl wait, chainsaw) at
/// `objects`, each over the peers that saw every object; infinity when none did. The poll
/// loops are our imitations, not peers.
fn best_peer(measurements: &[Measurement], objects: usize) -> (f64, f64) {
    let peers = [Method::KubectlWait.name(), Method::Chainsaw.name()];
    measurements
        .iter()
        .filter(|m| m.objects == objects && peers.contains(&m.method) && m.seen == m.objects)
        .fold((f64::INFINITY, f64::INFINITY), |(p50, requests), m| {
            (p50.min(m.p50_ms), requests.min(m.requests))
        })
}

fn targets_met(measurements: &[Measurement]) -> bool {
    measurements
        .iter()
        .filter(|m| m.method == Method::Harness.name())
        .all(|m| {
            let (best_p50, best_requests) = best_peer(measurements, m.objects);
            m.p50_ms < 50.0
                && m.p99_ms < 250.0
                && m.seen == m.objects
                && m.p50_ms <= best_p50
                && m.requests <= best_requests
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn chainsaw_assert_ends_are_read_from_its_report_onto_this_clock() {
        let anchor_wall = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_640_000);
        let anchor = (anchor_wall, Instant::now());
        // 2025-12-02T01:46:40Z is the anchor; the asserts end 250 ms and 1.5 s after it.
        let report = r#"{"tests": [{"steps": [{"operations": [
            {"type": "assert", "startTime": "2025-12-02T01:46:39Z", "endTime": "2025-12-02T01:46:40.25Z"},
            {"type": "assert", "startTime": "2025-12-02T01:46:40Z", "endTime": "2025-12-02T02:46:41.5+01:00"},
            {"type": "assert", "startTime": "2025-12-02T01:46:41Z", "endTime": "2025-12-02T01:46:42Z", "failure": {"error": "timeout"}}
        ]}]}]}"#;
        let ends = chainsaw_assert_ends(report, 4, anchor);
        assert_eq!(ends[0], Some(anchor.1 + Duration::from_millis(250)));
        assert_eq!(ends[1], Some(anchor.1 + Duration::from_millis(1500)));
        assert_eq!(ends[2], None, "a failed assert saw nothing");
        assert_eq!(ends[3], None, "a missing assert saw nothing");
    }

    #[test]
    fn the_chainsaw_test_asserts_each_ready_condition_in_order() {
        let names = vec!["t-000".to_owned(), "t-001".to_owned()];
        let test = chainsaw_test(&names, "ns", Duration::from_secs(63));
        let parsed: serde_json::Value = serde_yaml_ng::from_str(&test).unwrap();
        assert_eq!(parsed["spec"]["namespace"], "ns");
        assert_eq!(parsed["spec"]["timeouts"]["assert"], "63s");
        let operations = parsed["spec"]["steps"][0]["try"].as_array().unwrap();
        assert_eq!(operations.len(), 2);
        let resource = &operations[1]["assert"]["resource"];
        assert_eq!(resource["metadata"]["name"], "t-001");
        assert_eq!(
            resource["status"]["(conditions[?type == 'Ready'])"][0]["status"],
            "True"
        );
    }
}
