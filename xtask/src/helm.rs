//! `cargo xtask helm [--major 4] -- <helm arguments>`: the pinned Helm, as chart stages run it.

use clap::Args;
use deployer::charts::helm::{Helm, HelmMajor};

use crate::exit;

/// Arguments of the subcommand (its help text is on `Command` in main.rs).
#[derive(Args)]
pub struct HelmCommand {
    /// Which pinned Helm: 3 (`[tools.helm]`) or 4 (`[tools.helm4]`).
    #[arg(long, value_name = "3|4", default_value = "3", value_parser = ["3", "4"])]
    major: String,
    /// What to pass to helm, after `--` (e.g. `-- package ./chart --destination /tmp/repo`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl HelmCommand {
    pub async fn run(self) -> u8 {
        let major = if self.major == "4" {
            HelmMajor::Helm4
        } else {
            HelmMajor::Helm3
        };
        let pins = deployer::pins::default_pins_file();
        let helm = match tokio::task::spawn_blocking(move || {
            harness::cluster_build::with_events(&crate::terminal::Terminal::new(), |on_event| {
                Helm::ensure(&pins, major, on_event)
            })
        })
        .await
        {
            Ok(Ok(helm)) => helm,
            Ok(Err(error)) => return exit::report(&error),
            Err(error) => {
                eprintln!("error: building Helm panicked: {error}");
                return exit::ENVIRONMENT_MISSING;
            }
        };
        match helm.command().args(&self.args).status() {
            Ok(status) => status.code().map_or(1, |code| code.clamp(0, 255) as u8),
            Err(error) => {
                eprintln!("error: failed to run {}: {error}", helm.path.display());
                exit::ENVIRONMENT_MISSING
            }
        }
    }
}
