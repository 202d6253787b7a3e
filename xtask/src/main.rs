//! `cargo xtask`: the one command maintainers type.
//!
//! Each subcommand is a struct with a `run` method; the logic lives in the library crates
//! (`deployer`, `harness`). Exit codes are shared by every subcommand (see [`exit`]).

mod exit;
mod hollow;
mod integration;
mod teardown;
mod test;

use clap::{Parser, Subcommand};

/// Put a Kubernetes data-science platform through its sea trial.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy the platform stage by stage, check every stage, tear it down and sweep leftovers.
    Integration(integration::Integration),
    /// Manage the local hollow cluster (a real control plane with fake kubelets).
    #[command(subcommand)]
    Hollow(hollow::Hollow),
    /// Tear down and sweep a deployment kept with `integration --keep`.
    Teardown(teardown::Teardown),
    /// Run the test suite against the hollow cluster (the README's test command).
    Test(test::Test),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEATRIAL_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "warn,kube_client=off,deployer=info,harness=info,xtask=info",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(async {
        match cli.command {
            Command::Integration(command) => command.run().await,
            Command::Hollow(command) => command.run().await,
            Command::Teardown(command) => command.run().await,
            Command::Test(command) => command.run().await,
        }
    });
    std::process::ExitCode::from(code)
}
