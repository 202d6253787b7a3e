//! `cargo xtask bench charts`: rendering and applying a chart of N objects — seatrial (the
//! pinned Helm 4's `helm template`, then our server-side apply and watch-based readiness)
//! against `helm install --wait=watcher` of the same chart with the same Helm, on the same
//! cluster, in the same run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use deployer::apply::{Applier, StageTimings};
use deployer::charts::helm::{Helm, HelmMajor};
use deployer::charts::render::{self, Capabilities, TemplateRequest};
use deployer::inventory::Inventory;
use deployer::providers::hollow::HOLLOW_RECIPES;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;

use crate::exit;

/// The label on the benchmark's namespaces (removed at the end).
const BENCH_LABEL: &str = "seatrial.dev/bench";
/// The kinds whose requests are counted: what the chart holds.
const RESOURCES: [&str; 3] = ["configmaps", "services", "deployments"];
/// Every verb a client uses to create, read or watch them. PUT is left out: neither method
/// updates, and the controllers' status writes are PUTs.
const VERBS: [&str; 6] = ["POST", "APPLY", "PATCH", "GET", "LIST", "WATCH"];

/// Arguments of `bench charts` (its help text is on `Bench::Charts`).
#[derive(Args)]
pub struct ChartsBench {
    /// Objects in the generated chart (80 % ConfigMaps, 10 % Services, 10 % Deployments).
    #[arg(long, default_value_t = 500)]
    objects: usize,
    /// A kubeconfig of another cluster [default: the hollow cluster, started if needed].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Where to write charts.json [default: target/seatrial/bench].
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Measurement {
    method: String,
    objects: usize,
    render_seconds: Option<f64>,
    apply_seconds: Option<f64>,
    total_seconds: f64,
    requests: f64,
}

impl ChartsBench {
    pub async fn run(self) -> u8 {
        let pins = deployer::pins::default_pins_file();
        let built = tokio::task::spawn_blocking(move || {
            let binaries =
                harness::cluster_build::ensure(&HOLLOW_RECIPES, &crate::terminal::Terminal::new())?;
            let helm = harness::cluster_build::with_events(
                &crate::terminal::Terminal::new(),
                |on_event| Helm::ensure(&pins, HelmMajor::Helm4, on_event),
            )?;
            Ok::<_, deployer::Error>((binaries, helm))
        })
        .await;
        let (binaries, helm) = match built {
            Ok(Ok(built)) => built,
            Ok(Err(error)) => return exit::report(&error),
            Err(error) => {
                eprintln!("error: the build panicked: {error}");
                return exit::ENVIRONMENT_MISSING;
            }
        };
        let cluster = match super::BenchCluster::start(self.kubeconfig.as_deref(), &binaries).await
        {
            Ok(cluster) => cluster,
            Err(code) => return code,
        };
        let work =
            std::env::temp_dir().join(format!("seatrial-bench-charts-{}", std::process::id()));
        let result = measure(&helm, &cluster.connection, self.objects, &work).await;
        cleanup(&cluster.connection.client).await;
        let _ = std::fs::remove_dir_all(&work);
        cluster.finish();
        let measurements = match super::measured(result) {
            Ok(measurements) => measurements,
            Err(code) => return code,
        };
        print!("{}", table(&measurements, &helm));
        super::write_results(self.report_dir, "charts.json", &measurements);
        exit::SUCCESS
    }
}

/// Writes the benchmark chart: `objects` objects, of which a tenth are Deployments (one
/// replica each, awaited by both methods), a tenth Services, the rest ConfigMaps.
fn write_chart(dir: &Path, objects: usize) -> std::io::Result<PathBuf> {
    let chart = dir.join("bench");
    std::fs::create_dir_all(chart.join("templates"))?;
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: bench\nversion: 0.0.1\n",
    )?;
    let workloads = objects / 10;
    let services = objects / 10;
    let config_maps = objects - workloads - services;
    std::fs::write(
        chart.join("values.yaml"),
        format!("configMaps: {config_maps}\nservices: {services}\ndeployments: {workloads}\n"),
    )?;
    std::fs::write(
        chart.join("templates/objects.yaml"),
        r#"{{- range $i := until (int .Values.configMaps) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.Release.Name }}-config-{{ $i }}
data:
  index: {{ $i | quote }}
{{- end }}
{{- range $i := until (int .Values.services) }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $.Release.Name }}-svc-{{ $i }}
spec:
  selector: {app: {{ $.Release.Name }}-web-{{ $i }}}
  ports: [{port: 80}]
{{- end }}
{{- range $i := until (int .Values.deployments) }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}-web-{{ $i }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ $.Release.Name }}-web-{{ $i }}}
  template:
    metadata:
      labels: {app: {{ $.Release.Name }}-web-{{ $i }}}
    spec:
      containers: [{name: web, image: registry.invalid/bench:1}]
{{- end }}
"#,
    )?;
    std::fs::write(dir.join("values.yaml"), "{}\n")?;
    Ok(chart)
}

async fn namespace(client: &Client, name: &str) -> Result<(), String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {BENCH_LABEL: "charts"}}
    }))
    .expect("a namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .map(|_| ())
        .map_err(|error| format!("failed to create namespace {name}: {error}"))
}

async fn requests(client: &Client) -> Result<f64, String> {
    let text = super::metrics::read(client).await?;
    Ok(RESOURCES
        .iter()
        .map(|resource| super::metrics::request_total(&text, resource, &VERBS))
        .sum())
}

async fn measure(
    helm: &Helm,
    connection: &deployer::providers::Connection,
    objects: usize,
    work: &Path,
) -> Result<Vec<Measurement>, String> {
    let client = &connection.client;
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let chart = write_chart(work, objects).map_err(|e| format!("writing the chart: {e}"))?;
    let tarball = helm
        .package(&chart, work)
        .map_err(|e| host::error_chain(&e))?;
    let mut measurements = Vec::new();
    // Namespaces of their own per run: an earlier run's may still be being deleted.
    let suffix = host::random::hex_token(3).map_err(|e| e.to_string())?;
    let (ours, theirs) = (
        format!("bench-seatrial-{suffix}"),
        format!("bench-helm-{suffix}"),
    );

    // seatrial: helm template against the cluster's capabilities, then our apply and waits.
    namespace(client, &ours).await?;
    let before = requests(client).await?;
    let started = Instant::now();
    let capabilities = Capabilities::discover(client)
        .await
        .map_err(|e| host::error_chain(&e))?;
    let rendered = render::template(
        helm,
        &TemplateRequest {
            release: "bench",
            namespace: &ours,
            chart: &tarball,
            values: &work.join("values.yaml"),
            capabilities: &capabilities,
        },
    )
    .map_err(|e| host::error_chain(&e))?;
    let render_seconds = started.elapsed().as_secs_f64();
    let mut applier = Applier::new(
        client.clone(),
        Inventory {
            deployment: "bench-charts".into(),
            run_id: deployer::inventory::new_run_id(),
        },
        ours.clone(),
        Duration::from_secs(300),
    );
    let mut applied = Vec::new();
    let mut timings = StageTimings::default();
    applier
        .apply_stage("bench", &rendered, &mut applied, &mut timings)
        .await
        .map_err(|e| host::error_chain(&e))?;
    let total = started.elapsed().as_secs_f64();
    let after = requests(client).await?;
    measurements.push(Measurement {
        method: "seatrial (helm template + server-side apply + watches)".into(),
        objects: rendered.len(),
        render_seconds: Some(render_seconds),
        apply_seconds: Some(timings.apply_seconds + timings.wait_seconds),
        total_seconds: total,
        requests: after - before,
    });

    // Helm 4 itself: install and wait on its kstatus watchers.
    namespace(client, &theirs).await?;
    let before = requests(client).await?;
    let started = Instant::now();
    let args: Vec<String> = [
        "install",
        "bench",
        &tarball.display().to_string(),
        "--namespace",
        &theirs,
        "--wait=watcher",
        "--timeout",
        "5m",
        "--kubeconfig",
        &connection.kubeconfig.display().to_string(),
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    let helm = helm.clone();
    tokio::task::spawn_blocking(move || helm.run("install --wait=watcher", &args).map(|_| ()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| host::error_chain(&e))?;
    let total = started.elapsed().as_secs_f64();
    let after = requests(client).await?;
    measurements.push(Measurement {
        method: "helm install --wait=watcher".into(),
        objects: rendered.len(),
        render_seconds: None,
        apply_seconds: None,
        total_seconds: total,
        requests: after - before,
    });
    Ok(measurements)
}

async fn cleanup(client: &Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if let Ok(list) = namespaces
        .list(&kube::api::ListParams::default().labels(&format!("{BENCH_LABEL}=charts")))
        .await
    {
        for namespace in list.items {
            let name = namespace.metadata.name.unwrap_or_default();
            let _ = namespaces.delete(&name, &DeleteParams::background()).await;
        }
    }
}

fn table(measurements: &[Measurement], helm: &Helm) -> String {
    let helm_total = measurements
        .iter()
        .find(|m| m.method.starts_with("helm"))
        .map_or(f64::NAN, |m| m.total_seconds);
    let helm_requests = measurements
        .iter()
        .find(|m| m.method.starts_with("helm"))
        .map_or(f64::NAN, |m| m.requests);
    let mut text = format!(
        "\nchart of {} objects, Helm {}; requests = apiserver_request_total on {} ({}), read before and after each method\n\n",
        measurements.first().map_or(0, |m| m.objects),
        helm.version,
        RESOURCES.join(", "),
        VERBS.join(", ")
    );
    text.push_str(&format!(
        "{:<56} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11}\n",
        "method", "render s", "apply s", "total s", "requests", "time/helm", "req/helm"
    ));
    let seconds = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.2}"));
    for m in measurements {
        text.push_str(&format!(
            "{:<56} {:>9} {:>9} {:>9.2} {:>9.0} {:>11.2} {:>11.2}\n",
            m.method,
            seconds(m.render_seconds),
            seconds(m.apply_seconds),
            m.total_seconds,
            m.requests,
            m.total_seconds / helm_total,
            m.requests / helm_requests
        ));
    }
    text
}
