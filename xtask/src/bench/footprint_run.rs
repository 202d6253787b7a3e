//! `cargo xtask bench footprint-run` (hidden): the seatrial run whose footprint `bench
//! footprint` measures, in a process of its own so that its memory and CPU are its own.
//!
//! It applies N benchmark objects as a stage (server-side apply, inventory labels, the
//! `Applier` of every run), waits for each with a `condition Ready=True` check on the shared
//! watches, then soaks: the same checks again every [`SOAK_ROUND`] until its stdin closes,
//! and tears the objects down. It prints one JSON object per line on stdout:
//! `{"event":"ready","run_started_unix_ms":…,"ready_unix_ms":…,"passed":…}` once every check
//! passed, then `{"event":"soak","rounds":…,"failed":…}` when stdin closed, then
//! `{"event":"done","teardown_problems":…}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;
use deployer::apply::{Applier, StageTimings};
use deployer::inventory::Inventory;
use deployer::manifest::Manifest;
use deployer::watches::Watches;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use super::readiness::{observe_with_checks, GROUP};
use crate::exit;

/// How often the soak runs the checks again.
pub const SOAK_ROUND: Duration = Duration::from_secs(5);

/// Arguments of `bench footprint-run`.
#[derive(Args)]
pub struct FootprintRun {
    /// The cluster's kubeconfig.
    #[arg(long, value_name = "FILE")]
    kubeconfig: PathBuf,
    /// The namespace to apply the objects in (it exists).
    #[arg(long)]
    namespace: String,
    /// How many objects.
    #[arg(long)]
    objects: usize,
    /// Seconds each check may wait.
    #[arg(long, default_value_t = 300)]
    timeout_seconds: u64,
}

/// Milliseconds since the Unix epoch, the clock both processes share.
pub fn unix_ms(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// The benchmark objects' names, `t-000` …, as `bench readiness` names them.
pub fn names(objects: usize) -> Vec<String> {
    (0..objects).map(|i| format!("t-{i:03}")).collect()
}

impl FootprintRun {
    pub async fn run(self) -> u8 {
        match self.run_inner().await {
            Ok(()) => exit::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                exit::CHECKS_FAILED
            }
        }
    }

    async fn run_inner(self) -> Result<(), String> {
        let connection = deployer::providers::connect(&self.kubeconfig, None, "--kubeconfig")
            .await
            .map_err(|error| host::error_chain(&error))?;
        let client = connection.client;
        let names = names(self.objects);
        let manifests: Vec<Manifest> = names
            .iter()
            .enumerate()
            .map(|(document, name)| Manifest {
                path: PathBuf::from("footprint"),
                document,
                line: 1,
                object: serde_json::from_value(json!({
                    "apiVersion": format!("{GROUP}/v1"), "kind": "BenchTarget",
                    "metadata": {"name": name, "namespace": self.namespace},
                    "spec": {}
                }))
                .expect("a valid object"),
            })
            .collect();
        let timeout = Duration::from_secs(self.timeout_seconds);
        let mut applier = Applier::new(
            client.clone(),
            Inventory {
                deployment: "seatrial-bench-footprint".to_owned(),
                run_id: deployer::inventory::new_run_id(),
            },
            self.namespace.clone(),
            timeout,
        );
        let watches = Arc::new(Watches::new(client.clone()));
        let run_started = SystemTime::now();
        let mut applied = Vec::new();
        let applying = applier
            .apply_stage(
                "footprint",
                &manifests,
                &mut applied,
                &mut StageTimings::default(),
            )
            .await
            .map_err(|error| host::error_chain(&error));
        let passed = match applying {
            Ok(()) => count_passed(&watches, &names, &self.namespace, timeout).await?,
            Err(error) => {
                deployer::teardown::destroy(
                    &client,
                    Some(applier.inventory()),
                    &[("footprint".to_owned(), applied)],
                    timeout,
                )
                .await;
                return Err(error);
            }
        };
        let ready = SystemTime::now();
        println!(
            "{}",
            json!({"event": "ready", "run_started_unix_ms": unix_ms(run_started), "ready_unix_ms": unix_ms(ready), "passed": passed})
        );

        // The soak: the checks again every round, until stdin closes.
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let (mut rounds, mut failed) = (0usize, 0usize);
        loop {
            tokio::select! {
                line = stdin.next_line() => {
                    if !matches!(line, Ok(Some(_))) {
                        break;
                    }
                }
                () = tokio::time::sleep(SOAK_ROUND) => {
                    rounds += 1;
                    failed += names.len() - count_passed(&watches, &names, &self.namespace, timeout).await?;
                }
            }
        }
        println!(
            "{}",
            json!({"event": "soak", "rounds": rounds, "failed": failed})
        );
        watches.stop_all();
        let report = deployer::teardown::destroy(
            &client,
            Some(applier.inventory()),
            &[("footprint".to_owned(), applied)],
            timeout,
        )
        .await;
        println!(
            "{}",
            json!({"event": "done", "teardown_problems": report.problems})
        );
        Ok(())
    }
}

/// Runs a `condition Ready=True` check per object on `watches`; how many passed.
async fn count_passed(
    watches: &Arc<Watches>,
    names: &[String],
    namespace: &str,
    timeout: Duration,
) -> Result<usize, String> {
    let seen = observe_with_checks(watches, names, namespace, timeout)
        .await
        .map_err(|error| format!("the checks failed to run: {error}"))?;
    Ok(seen.iter().filter(|seen| seen.is_some()).count())
}
