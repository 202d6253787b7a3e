//! Stop signals during a run, sent to the real process as CI cancellation, `timeout`, a closed
//! terminal and Ctrl-C send them: the first tears down and sweeps (exit 128 + the signal's
//! number), a second one during the teardown stops waiting and leaves the command that
//! finishes it.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use rustix::process::Signal;

use crate::end_to_end::{platform_with, unschedulable_deployment};
use crate::support::{assert_nothing_left, client, read_report, write_config};

/// A run of `xtask integration --json` and its event lines as they come.
pub struct Running {
    child: Child,
    events: std::io::BufReader<ChildStdout>,
    seen: Vec<serde_json::Value>,
}

impl Running {
    /// Starts `integration --json` on `platform` with `config`, reports in `reports`.
    pub fn start(platform: &Path, config: &Path, reports: &Path) -> Running {
        Running::start_with(platform, config, reports, &[], &[])
    }

    /// [`Running::start`] with more arguments and environment variables.
    pub fn start_with(
        platform: &Path,
        config: &Path,
        reports: &Path,
        args: &[&str],
        env: &[(&str, &Path)],
    ) -> Running {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(["integration", "--json", "--config"])
            .arg(config)
            .arg("--report-dir")
            .arg(reports)
            .arg("--platform")
            .arg(platform)
            .args(args)
            .env("SEATRIAL_LOG", "warn");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let events = std::io::BufReader::new(child.stdout.take().unwrap());
        Running {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// Reads events until one satisfies `wanted`, and returns it.
    pub fn until(&mut self, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        loop {
            let mut line = String::new();
            assert!(
                self.events.read_line(&mut line).unwrap() > 0,
                "xtask ended before the awaited event; events: {:?}",
                self.seen
            );
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            self.seen.push(event.clone());
            if wanted(&event) {
                return event;
            }
        }
    }

    /// The process's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Waits for the process: its exit code and the events it printed after the last read.
    pub fn finish(mut self) -> (Option<i32>, Vec<serde_json::Value>) {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.events, &mut rest).unwrap();
        for line in rest.lines() {
            self.seen.push(serde_json::from_str(line).unwrap());
        }
        (self.child.wait().unwrap().code(), self.seen)
    }
}

/// A platform whose ingress stage waits forever for a Deployment no node can take, and its
/// config for `project`; returns (platform, config, reports dir).
pub fn platform_that_waits(dir: &Path, project: &str, extra: &str) -> (PathBuf, PathBuf, PathBuf) {
    let platform = platform_with(
        dir,
        "ingress/manifests/90-unschedulable.yaml",
        &unschedulable_deployment("never-ready"),
    );
    let config = write_config(dir, project, extra);
    (platform, config, dir.join("reports"))
}

/// Runs until the ingress stage waits, sends `signal`, and checks the run tore down, swept,
/// recorded the signal and exited with `code`.
async fn signal_during_the_deploy_tears_down(signal: Signal, name: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let project = format!("e2e-{}", name.to_lowercase());
    let (platform, config, reports) = platform_that_waits(dir.path(), &project, "");
    let mut run = Running::start(&platform, &config, &reports);
    run.until(|event| event["event"] == "stage_applying" && event["stage"] == "ingress");
    std::thread::sleep(Duration::from_secs(2));
    run.signal(signal);
    let (exit, events) = run.finish();
    assert_eq!(exit, Some(code), "{name}: {events:?}");
    let interrupted = events
        .iter()
        .find(|event| event["event"] == "interrupted")
        .unwrap_or_else(|| panic!("{name}: no interrupted event: {events:?}"));
    assert_eq!(interrupted["signal"], name, "{interrupted}");
    assert_eq!(interrupted["during"], "deploy", "{interrupted}");

    let report = read_report(&reports);
    assert_eq!(report["outcome"], "interrupted", "{report}");
    assert_eq!(report["signal"], name, "{report}");
    assert_eq!(report["exit_code"], code, "{report}");
    assert_eq!(report["teardown_abandoned"], false, "{report}");
    let ingress_objects = report["stages"][1]["objects"].as_array().unwrap();
    assert!(
        ingress_objects.iter().any(|o| o["name"] == "never-ready"),
        "{report}"
    );
    assert_nothing_left(&report, &project).await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn sigint_during_the_deploy_tears_down_and_exits_130() {
    signal_during_the_deploy_tears_down(Signal::INT, "SIGINT", 130).await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn sigterm_during_the_deploy_tears_down_and_exits_143() {
    signal_during_the_deploy_tears_down(Signal::TERM, "SIGTERM", 143).await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn sighup_during_the_deploy_tears_down_and_exits_129() {
    signal_during_the_deploy_tears_down(Signal::HUP, "SIGHUP", 129).await;
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn a_second_signal_during_the_teardown_stops_waiting_and_teardown_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let project = "e2e-second-signal";
    // A ConfigMap held by a finalizer keeps the teardown waiting (up to 120 s) for its deletion.
    let (platform, config, reports) =
        platform_that_waits(dir.path(), project, "deletion_timeout_seconds: 120\n");
    std::fs::write(
        platform.join("kubernetes-initialize/manifests/90-held.yaml"),
        crate::support::HELD_CONFIGMAP,
    )
    .unwrap();
    let mut run = Running::start(&platform, &config, &reports);
    run.until(|event| event["event"] == "stage_applying" && event["stage"] == "ingress");
    std::thread::sleep(Duration::from_secs(2));
    run.signal(Signal::TERM);
    run.until(|event| event["event"] == "teardown_started");
    std::thread::sleep(Duration::from_secs(2));
    let second = std::time::Instant::now();
    run.signal(Signal::TERM);
    let (exit, events) = run.finish();
    let ended_after = second.elapsed();
    assert_eq!(exit, Some(143), "{events:?}");
    assert!(
        ended_after < Duration::from_secs(20),
        "the run took {ended_after:?} to end after the second signal"
    );
    let abandoned = events
        .iter()
        .find(|event| event["event"] == "teardown_abandoned")
        .unwrap_or_else(|| panic!("no teardown_abandoned event: {events:?}"));
    let target = PathBuf::from(abandoned["target"].as_str().unwrap());
    assert_eq!(target, reports.join("target.json"), "{abandoned}");
    let report = read_report(&reports);
    assert_eq!(report["teardown_abandoned"], true, "{report}");
    assert_eq!(report["signal"], "SIGTERM", "{report}");
    assert_eq!(report["outcome"], "interrupted", "{report}");

    // The held ConfigMap is still there; released, `teardown --target` finishes the work.
    crate::support::release_held(project).await;
    let teardown = crate::support::xtask(&["teardown", "--target", target.to_str().unwrap()]);
    assert_eq!(teardown.code, 0, "{}", teardown.output());
    assert_eq!(
        crate::support::labelled_objects(&client().await, project).await,
        Vec::<String>::new()
    );
}
