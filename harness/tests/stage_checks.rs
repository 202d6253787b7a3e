//! The platform's stage checks and browser scenarios as trials (`harness = false`), named
//! `<stage>::<check>` and `scenarios::<name>`.
//!
//! `cargo nextest list -p harness --test stage_checks` lists them. They run against a kept
//! deployment named by `SEATRIAL_TARGET` (a `target.json` from `cargo xtask integration
//! --keep`); without it they are ignored. On a hollow-cluster target the scenarios report
//! themselves skipped: no workload runs there.

use deployer::config::Config;
use deployer::platform::default_platform_dir;
use harness::target::{Target, TARGET_ENV};
use harness::trials::{scenario_plan, stage_check_trials};
use libtest_mimic::Arguments;
use scenarios::trials::scenario_trials;
use scenarios::Scenario;

fn main() -> std::process::ExitCode {
    let arguments = Arguments::from_args();
    let target_path = std::env::var_os(TARGET_ENV).map(std::path::PathBuf::from);
    let loaded = match &target_path {
        Some(path) => Target::load(path).and_then(|target| {
            let config = target.config()?;
            let platform_dir = target.platform_dir.clone();
            let probes = target.probes;
            let artifacts = path.parent().unwrap_or(path).join("scenarios");
            let plan = scenario_plan(Some(&target), &artifacts);
            let mut trials = stage_check_trials(&platform_dir, &config, Some(target), probes)?;
            trials.extend(scenario_trials(&plan, &Scenario::ALL, &Default::default()));
            Ok(trials)
        }),
        None => stage_check_trials(
            &default_platform_dir(),
            &Config::embedded_default(),
            None,
            false,
        )
        .map(|mut trials| {
            let plan = scenario_plan(None, std::path::Path::new("."));
            trials.extend(scenario_trials(&plan, &Scenario::ALL, &Default::default()));
            trials
        }),
    };
    match loaded {
        Ok(trials) => libtest_mimic::run(&arguments, trials).exit_code(),
        Err(error) => {
            eprintln!("error: failed to load the stage checks: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
