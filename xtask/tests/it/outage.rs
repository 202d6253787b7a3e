//! The API server going away mid-run, on a hollow cluster of the test's own (its own state
//! directory, so the shared test cluster is not disturbed): the run notices within seconds
//! (exit 4, not its readiness timeout), waits a bounded time for the server to return, then
//! tears down — or, when it does not return, leaves its ledger entry and the command that
//! finishes the work, which does once the server is back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::ledger::entries;
use crate::signals::{platform_that_waits, Running};
use crate::support::{labelled_objects, xtask_with};

const LEDGER_ENV: &str = "SEATRIAL_STATE_DIR";
const HOLLOW_ENV: &str = "SEATRIAL_HOLLOW_STATE";

/// A hollow cluster of the test's own; dropping it stops what it started, by pid.
struct OwnCluster {
    state: PathBuf,
    /// An API server the test restarted by hand (the cluster's state does not record it).
    restarted: Option<std::process::Child>,
}

impl OwnCluster {
    fn up(state: &Path) -> OwnCluster {
        let cluster = OwnCluster {
            state: state.to_owned(),
            restarted: None,
        };
        let up = xtask_with(&["hollow", "up"], &[(HOLLOW_ENV, state)]);
        assert_eq!(up.code, 0, "{}", up.output());
        cluster
    }

    /// The recorded pid of the cluster's kube-apiserver.
    fn api_server_pid(&self) -> i32 {
        let text = std::fs::read_to_string(self.state.join("state.json")).unwrap();
        let state: serde_json::Value = serde_json::from_str(&text).unwrap();
        let component = state["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|component| component["name"] == "kube-apiserver")
            .unwrap()
            .clone();
        i32::try_from(component["pid"].as_i64().unwrap()).unwrap()
    }

    async fn client(&self) -> kube::Client {
        deployer::providers::connect(&self.state.join("kubeconfig"), None, "the test's cluster")
            .await
            .unwrap()
            .client
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.restarted.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        xtask_with(&["hollow", "down"], &[(HOLLOW_ENV, self.state.as_path())]);
    }
}

fn signal(pid: i32, signal: Signal) {
    let _ = rustix::process::kill_process(Pid::from_raw(pid).unwrap(), signal);
}

/// Starts a run of the waiting platform for `project` on the test's cluster, and waits until
/// its ingress stage waits for readiness.
fn run_until_waiting(
    dir: &Path,
    project: &str,
    extra: &str,
    hollow: &Path,
    ledger: &Path,
) -> (Running, PathBuf) {
    let (platform, config, reports) = platform_that_waits(dir, project, extra);
    let mut run = Running::start_with(
        &platform,
        &config,
        &reports,
        &[],
        &[(HOLLOW_ENV, hollow), (LEDGER_ENV, ledger)],
    );
    run.until(|event| event["event"] == "stage_applying" && event["stage"] == "ingress");
    std::thread::sleep(Duration::from_secs(2));
    (run, reports)
}

/// Starts `argv` again (the API server's command line, read from /proc before it was killed)
/// in its own process group, with `environ`.
fn restart(argv: &[u8], environ: &[u8], log: &Path) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let split = |bytes: &[u8]| -> Vec<String> {
        bytes
            .split(|byte| *byte == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect()
    };
    let argv = split(argv);
    let out = std::fs::File::create(log).unwrap();
    std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(
            split(environ)
                .iter()
                .filter_map(|pair| pair.split_once('=')),
        )
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0)
        .spawn()
        .unwrap()
}

/// Waits (at most 120 s) until the API server answers a list.
async fn answers(cluster: &OwnCluster) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let kubeconfig = cluster.state.join("kubeconfig");
        if let Ok(connection) = deployer::providers::connect(&kubeconfig, None, "").await {
            let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                kube::Api::all(connection.client);
            if namespaces.list(&Default::default()).await.is_ok() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the API server did not come back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
#[ignore = "needs the hollow cluster binaries: run by `cargo xtask test`"]
async fn an_api_server_that_stops_answering_is_noticed_in_seconds_and_the_run_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let hollow = dir.path().join("hollow");
    let ledger = dir.path().join("ledger");
    let mut cluster = OwnCluster::up(&hollow);
    // Readiness would wait 10 minutes: only the probe can end these runs quickly.
    let slow = "readiness_timeout_seconds: 600\n";

    // 1. The API server stops (SIGSTOP: connections hang) and comes back within the wait: the
    //    run notices, waits, tears down as usual, and still exits 4.
    let project = "e2e-outage-back";
    let run_dir = dir.path().join("back");
    std::fs::create_dir_all(&run_dir).unwrap();
    let (mut run, reports) = run_until_waiting(
        &run_dir,
        project,
        &format!("{slow}api_return_timeout_seconds: 120\n"),
        &hollow,
        &ledger,
    );
    let api_server = cluster.api_server_pid();
    let stopped = Instant::now();
    signal(api_server, Signal::STOP);
    let lost = run.until(|event| event["event"] == "api_server_lost");
    let noticed = stopped.elapsed();
    signal(api_server, Signal::CONT);
    eprintln!("SIGSTOP: the run noticed the outage after {noticed:?}");
    assert_eq!(lost["during"], "deploy", "{lost}");
    assert_eq!(lost["waiting_seconds"], 120, "{lost}");
    assert!(
        noticed < Duration::from_secs(30),
        "the outage was noticed after {noticed:?}"
    );
    run.until(|event| event["event"] == "api_server_returned");
    let (code, events) = run.finish();
    assert_eq!(code, Some(4), "{events:?}");
    let report = crate::support::read_report(&reports);
    assert_eq!(report["exit_code"], 4, "{report}");
    assert_eq!(report["api_outage"]["during"], "deploy", "{report}");
    assert!(
        report["api_outage"]["returned_seconds"].is_f64(),
        "{report}"
    );
    assert_eq!(report["sweep_state"]["state"], "done", "{report}");
    assert_eq!(
        report["sweep"]["leftovers"],
        serde_json::json!([]),
        "{report}"
    );
    let ingress = &report["stages"][1];
    assert_eq!(ingress["status"], "deploy_failed", "{report}");
    assert!(
        ingress["error"]
            .as_str()
            .unwrap()
            .starts_with("the API server stopped answering ("),
        "{report}"
    );
    let summary = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(
        summary.contains("### The API server stopped answering during the deploy"),
        "{summary}"
    );
    assert!(summary.contains("### Sweep: done"), "{summary}");
    assert_eq!(
        labelled_objects(&cluster.client().await, project).await,
        Vec::<String>::new()
    );
    assert_eq!(entries(&ledger), Vec::<serde_json::Value>::new());

    // 2. The API server is SIGKILLed and does not return within the wait: exit 4 in seconds,
    //    no teardown, the ledger entry stays with the command that finishes the work.
    let project = "e2e-outage-gone";
    let run_dir = dir.path().join("gone");
    std::fs::create_dir_all(&run_dir).unwrap();
    let (run, reports) = run_until_waiting(
        &run_dir,
        project,
        &format!("{slow}api_return_timeout_seconds: 5\n"),
        &hollow,
        &ledger,
    );
    let api_server = cluster.api_server_pid();
    let argv = std::fs::read(format!("/proc/{api_server}/cmdline")).unwrap();
    let environ = std::fs::read(format!("/proc/{api_server}/environ")).unwrap();
    let killed = Instant::now();
    signal(api_server, Signal::KILL);
    let (code, events) = run.finish();
    let ended = killed.elapsed();
    eprintln!("SIGKILL: the run ended {ended:?} after the API server was killed");
    assert_eq!(code, Some(4), "{events:?}");
    assert!(
        ended < Duration::from_secs(40),
        "the run ended {ended:?} after the API server was killed"
    );
    let not_possible = events
        .iter()
        .find(|event| event["event"] == "teardown_not_possible")
        .unwrap_or_else(|| panic!("no teardown_not_possible event: {events:?}"));
    let run_id = not_possible["run_id"].as_str().unwrap().to_owned();
    assert!(
        not_possible["reason"]
            .as_str()
            .unwrap()
            .ends_with("did not answer again within 5 s"),
        "{not_possible}"
    );
    let report = crate::support::read_report(&reports);
    assert_eq!(report["sweep_state"]["state"], "not_possible", "{report}");
    assert!(
        report["api_outage"]["returned_seconds"].is_null(),
        "{report}"
    );
    assert!(report["ledger"].is_string(), "{report}");
    let summary = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(
        summary.contains("### Sweep: not possible\n\nthe API server stopped answering (")
            && summary.contains(&format!("cargo xtask teardown --run {run_id}")),
        "{summary}"
    );
    let kept = entries(&ledger);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["run_id"], run_id.as_str(), "{kept:?}");
    assert!(
        kept[0]["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|object| object["name"] == "never-ready"),
        "{kept:?}"
    );

    // The server is back (as its supervisor would restart it, same flags, same etcd): the
    // printed command removes everything, and the ledger forgets the run.
    cluster.restarted = Some(restart(&argv, &environ, &dir.path().join("apiserver.log")));
    answers(&cluster).await;
    let teardown = xtask_with(&["teardown", "--run", &run_id], &[(LEDGER_ENV, &ledger)]);
    assert_eq!(teardown.code, 0, "{}", teardown.output());
    assert!(
        teardown
            .stderr
            .contains(&format!("swept: Deployment {project}/never-ready")),
        "{}",
        teardown.output()
    );
    assert_eq!(
        labelled_objects(&cluster.client().await, project).await,
        Vec::<String>::new()
    );
    assert_eq!(entries(&ledger), Vec::<serde_json::Value>::new());
}
