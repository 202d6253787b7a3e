//! `cargo xtask bench footprint`: the memory and CPU of a seatrial run that watches N objects
//! through a soak of steady status updates, beside `kubectl get --watch` of the same objects,
//! and the harness's share of the run's wall time beside the cluster's. See
//! docs/benchmarks.md for the method and the numbers.
//!
//! This process plays the cluster's controller: it watches the benchmark objects and writes
//! `Ready=True` on each as soon as it appears, recording when the API server accepted each
//! write (the instant the object's readiness is recorded). The run (`bench footprint-run`, a
//! process of its own) applies the objects and waits for them with checks; its wall time from
//! the first apply to the last check passed, less the cluster's (first apply to the last
//! readiness write), is the harness's overhead. Then, for --soak-seconds, this process
//! writes --updates-per-second status updates round-robin over the objects while the run's
//! checks and a `kubectl get -w` keep watching, and reads each process's peak RSS
//! (`VmHWM`, proc(5) `/proc/<pid>/status`) and CPU time (`utime + stime`, proc(5)
//! `/proc/<pid>/stat`, in clock ticks of `getconf CLK_TCK`) before stopping them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use deployer::providers::hollow::HOLLOW_RECIPES;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use super::footprint_run::{names, unix_ms};
use super::readiness::{cleanup, create_objects, install_crd, PLURAL};
use crate::exit;

/// The namespace of the benchmark objects (labelled like `bench readiness`'s, so its cleanup
/// removes it).
const NAMESPACE: &str = "seatrial-bench-footprint";
/// The compass: peak RSS under this many MiB at 1,000 watched objects.
const TARGET_RSS_MIB: f64 = 100.0;
/// The compass: harness overhead under this share of the run's wall time.
const TARGET_OVERHEAD: f64 = 0.02;

/// Arguments of `bench footprint` (its help text is on `Bench::Footprint`).
#[derive(Args)]
pub struct Footprint {
    /// Objects the run applies and watches.
    #[arg(long, default_value_t = 1000)]
    objects: usize,
    /// Seconds of the soak.
    #[arg(long, default_value_t = 600)]
    soak_seconds: u64,
    /// Status updates per second during the soak, round-robin over the objects.
    #[arg(long, default_value_t = 20.0)]
    updates_per_second: f64,
    /// A kubeconfig of another cluster [default: the hollow cluster, started if needed].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Where to write footprint.json [default: target/seatrial/bench].
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
}

/// One process's usage at the end of the soak.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct Usage {
    process: String,
    /// Peak resident set size, MiB (`VmHWM`).
    peak_rss_mib: f64,
    /// User + system CPU seconds over its whole life.
    cpu_seconds: f64,
}

/// What `bench footprint` measured.
#[derive(Debug, Clone, serde::Serialize)]
struct Measurements {
    objects: usize,
    soak_seconds: u64,
    updates_written: usize,
    /// First apply to the last check passed, seconds (the run's clock).
    run_seconds: f64,
    /// First apply to the last readiness write the API server accepted, seconds.
    cluster_seconds: f64,
    /// (run − cluster) / run.
    overhead_share: f64,
    soak_rounds: usize,
    soak_failed_checks: usize,
    usage: Vec<Usage>,
}

impl Footprint {
    pub async fn run(self) -> u8 {
        let binaries = match harness::cluster_build::ensure(
            &HOLLOW_RECIPES,
            &crate::terminal::Terminal::new(),
        ) {
            Ok(binaries) => binaries,
            Err(error) => return exit::report(&error),
        };
        let kubectl = binaries.path("kubectl");
        let cluster = match super::BenchCluster::start(self.kubeconfig.as_deref(), &binaries).await
        {
            Ok(cluster) => cluster,
            Err(code) => return code,
        };
        let connection = &cluster.connection;
        let result = self.measure(connection, &kubectl).await;
        let cleaned = cleanup(&connection.client).await;
        cluster.finish();
        let measurements = match super::measured(cleaned.and(result)) {
            Ok(measurements) => measurements,
            Err(code) => return code,
        };
        println!(
            "peer: kubectl {} (the cluster's release)",
            binaries.kubernetes_version()
        );
        print!("{}", table(&measurements, self.updates_per_second));
        super::write_results(self.report_dir, "footprint.json", &measurements);
        let ours = &measurements.usage[0];
        let mut missed = Vec::new();
        if ours.peak_rss_mib >= TARGET_RSS_MIB {
            missed.push(format!(
                "peak RSS {:.1} MiB (target < {TARGET_RSS_MIB} MiB)",
                ours.peak_rss_mib
            ));
        }
        if measurements.overhead_share >= TARGET_OVERHEAD {
            missed.push(format!(
                "harness overhead {:.2} % (target < {:.0} %)",
                measurements.overhead_share * 100.0,
                TARGET_OVERHEAD * 100.0
            ));
        }
        if measurements.soak_failed_checks > 0 {
            missed.push(format!(
                "{} checks failed during the soak",
                measurements.soak_failed_checks
            ));
        }
        if missed.is_empty() {
            exit::SUCCESS
        } else {
            eprintln!("target missed: {}", missed.join("; "));
            exit::CHECKS_FAILED
        }
    }

    async fn measure(
        &self,
        connection: &deployer::providers::Connection,
        kubectl: &std::path::Path,
    ) -> Result<Measurements, String> {
        let client = &connection.client;
        install_crd(client).await?;
        let api = create_objects(client, NAMESPACE, 0).await?;
        let names = names(self.objects);

        // The controller: Ready=True on each object as soon as it appears.
        let readiness_written: Arc<Mutex<HashMap<String, SystemTime>>> = Arc::default();
        let controller = tokio::spawn(mark_ready(api.clone(), readiness_written.clone()));

        let mut run = tokio::process::Command::new(
            std::env::current_exe().map_err(|error| format!("cannot find xtask: {error}"))?,
        )
        .args(["bench", "footprint-run", "--namespace", NAMESPACE])
        .arg("--objects")
        .arg(self.objects.to_string())
        .arg("--kubeconfig")
        .arg(&connection.kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("failed to start the run: {error}"))?;
        let run_pid = run.id().unwrap_or_default();
        let mut lines = tokio::io::BufReader::new(run.stdout.take().expect("piped")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(600), next_event(&mut lines, "ready"))
            .await
            .map_err(|_| "the run did not report its checks passed within 600 s".to_owned())??;
        controller.abort();
        let run_started = ready["run_started_unix_ms"].as_f64().unwrap_or_default();
        let run_seconds =
            (ready["ready_unix_ms"].as_f64().unwrap_or_default() - run_started) / 1000.0;
        let last_ready = {
            let written = readiness_written.lock().expect("not poisoned");
            if written.len() < self.objects {
                return Err(format!(
                    "the controller marked {} of {} objects ready",
                    written.len(),
                    self.objects
                ));
            }
            written.values().map(|at| unix_ms(*at)).fold(0.0, f64::max)
        };
        let cluster_seconds = (last_ready - run_started) / 1000.0;
        if ready["passed"].as_u64() != Some(self.objects as u64) {
            return Err(format!(
                "the run's checks passed for {} of {} objects",
                ready["passed"], self.objects
            ));
        }

        // The soak, with kubectl watching the same objects.
        let mut peer = tokio::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&connection.kubeconfig)
            .args(["get", PLURAL, "-n", NAMESPACE, "--watch", "-o", "name"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("failed to run kubectl: {error}"))?;
        let peer_pid = peer.id().unwrap_or_default();
        let updates_written = soak(
            &api,
            &names,
            self.updates_per_second,
            Duration::from_secs(self.soak_seconds),
        )
        .await?;
        let usage = vec![
            usage_of("seatrial run (harness)", run_pid)?,
            usage_of("kubectl get --watch", peer_pid)?,
        ];
        let _ = peer.kill().await;

        // Stop the run's soak; it tears down and reports.
        drop(run.stdin.take());
        let soak = tokio::time::timeout(Duration::from_secs(300), next_event(&mut lines, "soak"))
            .await
            .map_err(|_| "the run did not end its soak within 300 s".to_owned())??;
        let done = tokio::time::timeout(Duration::from_secs(300), next_event(&mut lines, "done"))
            .await
            .map_err(|_| "the run did not tear down within 300 s".to_owned())??;
        let status = run
            .wait()
            .await
            .map_err(|error| format!("the run: {error}"))?;
        if !status.success()
            || done["teardown_problems"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        {
            return Err(format!(
                "the run ended with {status}: {}",
                done["teardown_problems"]
            ));
        }
        Ok(Measurements {
            objects: self.objects,
            soak_seconds: self.soak_seconds,
            updates_written,
            run_seconds,
            cluster_seconds,
            overhead_share: ((run_seconds - cluster_seconds) / run_seconds).max(0.0),
            soak_rounds: soak["rounds"].as_u64().unwrap_or_default() as usize,
            soak_failed_checks: soak["failed"].as_u64().unwrap_or_default() as usize,
            usage,
        })
    }
}

/// The next JSON line on the run's stdout whose `event` is `event`.
async fn next_event(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    event: &str,
) -> Result<serde_json::Value, String> {
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
            if value["event"] == event {
                return Ok(value);
            }
        }
    }
    Err(format!("the run ended before it reported {event:?}"))
}

/// The controller's loop: each benchmark object not yet marked gets `Ready=True`; records
/// when the API server accepted each write.
async fn mark_ready(api: Api<DynamicObject>, written: Arc<Mutex<HashMap<String, SystemTime>>>) {
    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    while let Some(event) = events.next().await {
        let object = match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => object,
            _ => continue,
        };
        let name = object.metadata.name.clone().unwrap_or_default();
        if written.lock().expect("not poisoned").contains_key(&name) {
            continue;
        }
        if api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(status(0)))
            .await
            .is_ok()
        {
            written
                .lock()
                .expect("not poisoned")
                .insert(name, SystemTime::now());
        }
    }
}

/// A status with `Ready=True` and the update counter `updates`.
fn status(updates: usize) -> serde_json::Value {
    json!({"status": {"updates": updates, "conditions": [{
        "type": "Ready", "status": "True", "reason": "Benchmark",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }]}})
}

/// Writes `rate` status updates a second, round-robin over `names`, for `length`; returns how
/// many were written.
async fn soak(
    api: &Api<DynamicObject>,
    names: &[String],
    rate: f64,
    length: Duration,
) -> Result<usize, String> {
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut written = 0;
    while started.elapsed() < length {
        tokio::time::sleep_until((started + interval.mul_f64(written as f64)).into()).await;
        let name = &names[written % names.len()];
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(status(written + 1)),
        )
        .await
        .map_err(|error| format!("failed to update the status of {name}: {error}"))?;
        written += 1;
    }
    Ok(written)
}

/// `pid`'s peak RSS and CPU seconds so far, from proc(5).
fn usage_of(process: &str, pid: u32) -> Result<Usage, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|error| format!("{process} (pid {pid}) is not running: {error}"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|error| format!("{process} (pid {pid}) is not running: {error}"))?;
    let hwm_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .ok_or_else(|| format!("no VmHWM in /proc/{pid}/status"))?;
    Ok(Usage {
        process: process.to_owned(),
        peak_rss_mib: hwm_kib / 1024.0,
        cpu_seconds: cpu_ticks(&stat).ok_or_else(|| format!("cannot read /proc/{pid}/stat"))?
            / clock_ticks_per_second(),
    })
}

/// utime + stime (fields 14 and 15 of proc(5) `/proc/<pid>/stat`; the command name in field
/// 2 may hold spaces, so fields are counted after its closing parenthesis).
fn cpu_ticks(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is index 0, so field 14 is index 11.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `getconf CLK_TCK` (100 where it cannot be read: the value on every Linux architecture
/// seatrial runs on).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

fn table(m: &Measurements, rate: f64) -> String {
    let mut text = format!(
        "\nfootprint: {} objects applied, awaited and watched through a {} s soak of {rate} status updates/s ({} written)\npeak RSS = VmHWM, CPU = utime + stime over the process's life (the run's apply and waits included); ratios are peer / seatrial\n\n",
        m.objects, m.soak_seconds, m.updates_written
    );
    text.push_str(&format!(
        "{:<26} {:>13} {:>8} {:>7} {:>7}\n",
        "process", "peak RSS MiB", "CPU s", "RSS ×", "CPU ×"
    ));
    let ours = &m.usage[0];
    for usage in &m.usage {
        text.push_str(&format!(
            "{:<26} {:>13.1} {:>8.2} {:>7.2} {:>7.2}\n",
            usage.process,
            usage.peak_rss_mib,
            usage.cpu_seconds,
            usage.peak_rss_mib / ours.peak_rss_mib,
            usage.cpu_seconds / ours.cpu_seconds.max(0.01),
        ));
    }
    text.push_str(&format!(
        "\nrun: {:.2} s from the first apply to the last check passed; cluster: {:.2} s from the first apply to the last Ready the API server accepted; harness overhead {:.3} s = {:.2} % of the run\nsoak: the run's {} check rounds (every {} s, {} checks each) failed {} checks\n",
        m.run_seconds,
        m.cluster_seconds,
        m.run_seconds - m.cluster_seconds,
        m.overhead_share * 100.0,
        m.soak_rounds,
        super::footprint_run::SOAK_ROUND.as_secs(),
        m.objects,
        m.soak_failed_checks,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_fields_14_and_15_even_with_spaces_in_the_name() {
        let stat = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194560 1771 0 0 0 250 37 0 0 20 0 9 0 1234 56789 1000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(287.0));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_has_a_peak_rss_and_cpu_time() {
        let usage = usage_of("test", std::process::id()).unwrap();
        assert!(usage.peak_rss_mib > 1.0, "{usage:?}");
        assert!(usage.cpu_seconds >= 0.0, "{usage:?}");
        let error = usage_of("gone", u32::MAX).unwrap_err();
        assert!(
            error.contains("gone (pid 4294967295) is not running"),
            "{error}"
        );
    }
}
