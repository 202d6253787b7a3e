//! `cargo xtask kind down`: delete a kind cluster a run kept, and undo what it changed.

use clap::builder::TypedValueParser;
use clap::Subcommand;
use deployer::config::{Config, KindEngine};
use deployer::providers::kind;

use crate::exit;

/// The `kind` subcommands (the group's help text is on `Command` in main.rs).
#[derive(Subcommand)]
pub enum Kind {
    /// Delete a kind cluster that `integration --provider kind --keep` (or `--reuse`) left
    /// running: `kind delete cluster`, then undo what the run that created it changed on the
    /// host (on podman: kind's network and the CNI chains podman made for it, an empty
    /// `/lib/modules`), and list the engine's containers, volumes and networks still carrying
    /// kind's label for it. Sweep the deployment first (`cargo xtask teardown`). Exit codes:
    /// 0 nothing left, 3 leftovers remain, 4 `kind` or the engine missing.
    Down {
        /// The cluster's name (the config's `kind.cluster_name`, else its `project_name`).
        #[arg(long, default_value_t = default_name())]
        name: String,
        /// The container engine the cluster runs on [default: Docker if its engine answers,
        /// else podman].
        #[arg(long, value_name = "docker|podman", value_parser = engine_parser())]
        kind_engine: Option<KindEngine>,
    },
}

/// The parser of a `--kind-engine` argument (here and in `integration`): `docker` or
/// `podman`, listed as its possible values.
pub fn engine_parser() -> impl TypedValueParser<Value = KindEngine> {
    clap::builder::PossibleValuesParser::new(["docker", "podman"]).map(|engine| {
        if engine == "podman" {
            KindEngine::Podman
        } else {
            KindEngine::Docker
        }
    })
}

fn default_name() -> String {
    Config::embedded_default().kind_cluster_name().to_owned()
}

impl Kind {
    pub async fn run(self) -> u8 {
        let Kind::Down { name, kind_engine } = self;
        let engine = kind_engine.unwrap_or_else(kind::detect_engine);
        let deleted = tokio::task::spawn_blocking(move || delete(&name, engine)).await;
        match deleted {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: deleting the kind cluster panicked: {error}");
                exit::ENVIRONMENT_MISSING
            }
        }
    }
}

/// Deletes cluster `name` on `engine` with the `kind` a run would use (on podman the one
/// built from the Go module proxy), printing what remains.
fn delete(name: &str, engine: KindEngine) -> u8 {
    let mut config = Config::embedded_default();
    config.kind.engine = Some(engine);
    let binaries = match engine {
        KindEngine::Podman => {
            match harness::cluster_build::ensure(&["kind"], &crate::terminal::Terminal::new()) {
                Ok(binaries) => Some(binaries),
                Err(error) => return exit::report(&error),
            }
        }
        KindEngine::Docker => None,
    };
    let tools = match deployer::providers::lifecycle::kind_tools(&config, binaries.as_ref()) {
        Ok(tools) => tools,
        Err(error) => return exit::report(&error),
    };
    let pinned = match deployer::pins::load_tool_tag(&deployer::pins::default_pins_file(), "kind") {
        Ok(tag) => tag,
        Err(error) => return exit::report(&error),
    };
    let state = kind::state_dir(name);
    if let Err(error) = std::fs::create_dir_all(&state) {
        eprintln!("error: {}: {error}", state.display());
        return exit::ENVIRONMENT_MISSING;
    }
    let log = state.join("down.log");
    match kind::delete_kept(&tools, name, &pinned, &log) {
        Ok(leftovers) if leftovers.is_empty() => {
            println!(
                "deleted kind cluster `{name}` ({engine}); nothing of it remains (log: {})",
                log.display()
            );
            exit::SUCCESS
        }
        Ok(leftovers) => {
            eprintln!(
                "kind cluster `{name}` deleted, but {} of it remain:",
                leftovers.len()
            );
            for leftover in &leftovers {
                eprintln!("  {} {}", leftover.kind, leftover.name);
            }
            eprintln!("  the commands and their output are in {}", log.display());
            exit::LEFTOVERS
        }
        Err(error) => exit::report(&error),
    }
}
