//! The platform's stage checks as trials (`harness = false`), named `<stage>::<check>`.
//!
//! `cargo nextest run -p harness --test stage_checks` lists them. They run against a kept
//! deployment named by `SEATRIAL_TARGET` (a `target.json` from `cargo xtask integration
//! --keep`); without it they are ignored.

use deployer::config::Config;
use deployer::platform::default_platform_dir;
use harness::target::{Target, TARGET_ENV};
use harness::trials::stage_check_trials;
use libtest_mimic::Arguments;

fn main() -> std::process::ExitCode {
    let arguments = Arguments::from_args();
    let loaded = match std::env::var_os(TARGET_ENV) {
        Some(path) => Target::load(path.as_ref()).and_then(|target| {
            let config = target.config()?;
            let platform_dir = target.platform_dir.clone();
            let probes = target.probes;
            stage_check_trials(&platform_dir, &config, Some(target), probes)
        }),
        None => stage_check_trials(
            &default_platform_dir(),
            &Config::embedded_default(),
            None,
            false,
        ),
    };
    match loaded {
        Ok(trials) => libtest_mimic::run(&arguments, trials).exit_code(),
        Err(error) => {
            eprintln!("error: cannot load the stage checks: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
