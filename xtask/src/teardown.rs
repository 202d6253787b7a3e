//! `cargo xtask teardown`: remove a deployment kept with `integration --keep`.

use std::path::PathBuf;

use clap::Args;
use deployer::providers::connect;
use deployer::sweep::sweep;
use harness::integration::DELETION_TIMEOUT;
use harness::target::Target;

use crate::exit;

/// Arguments of the subcommand (its help text is on `Command` in main.rs).
#[derive(Args)]
pub struct Teardown {
    /// The run id `integration --keep` printed (reads target/seatrial/<run>/target.json).
    #[arg(
        long,
        value_name = "RUN_ID",
        conflicts_with = "target",
        required_unless_present = "target"
    )]
    run: Option<String>,
    /// The target.json `integration --keep` wrote.
    #[arg(long, value_name = "FILE")]
    target: Option<PathBuf>,
}

impl Teardown {
    pub async fn run(self) -> u8 {
        let path = match (self.target, self.run) {
            (Some(path), _) => path,
            (None, Some(run)) => exit::reports_root().join(run).join("target.json"),
            (None, None) => unreachable!("clap requires --run or --target"),
        };
        let target = match Target::load(&path) {
            Ok(target) => target,
            Err(error) => return exit::report(&error),
        };
        let hint = "the kept deployment's cluster must be running (for the hollow cluster: cargo xtask hollow up)";
        let connection = match connect(&target.kubeconfig, target.context.as_deref(), hint).await {
            Ok(connection) => connection,
            Err(error) => return exit::report(&error),
        };
        match sweep(&connection.client, &target.deployment, DELETION_TIMEOUT).await {
            Ok(report) => {
                exit::print_leftovers(&report, &[]);
                println!(
                    "deployment `{}`: deleted {} objects in {:.1} s, {} leftovers",
                    target.deployment,
                    report.deleted.len(),
                    report.seconds,
                    report.leftovers.len()
                );
                if report.leftovers.is_empty() {
                    exit::SUCCESS
                } else {
                    exit::LEFTOVERS
                }
            }
            Err(error) => exit::report(&error),
        }
    }
}
