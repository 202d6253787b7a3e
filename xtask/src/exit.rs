//! The one exit-code table of every subcommand (in the spirit of nextest's
//! `NextestExitCode`), and turning errors and run outcomes into its codes. Libraries never
//! choose codes: their errors say their [`ErrorClass`] through [`Classify`], a run says its
//! [`Outcome`].

use harness::report::Outcome;
use host::{Classify, ErrorClass};

/// Everything passed.
pub const SUCCESS: u8 = 0;
/// A check, stage, scenario or benchmark target failed, or a wait expired.
pub const CHECKS_FAILED: u8 = 1;
/// The input (config, platform, manifests, pin set, arguments) is wrong.
pub const BAD_INPUT: u8 = 2;
/// Objects remain after teardown and sweep.
pub const LEFTOVERS: u8 = 3;
/// A tool, package, browser or cluster is missing or unreachable.
pub const ENVIRONMENT_MISSING: u8 = 4;

/// The code of an error of `class`.
pub fn of_class(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::BadInput => BAD_INPUT,
        ErrorClass::EnvironmentMissing => ENVIRONMENT_MISSING,
        ErrorClass::Runtime => CHECKS_FAILED,
    }
}

/// The code of a finished integration run: for a run a stop signal ended, 128 + the
/// signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP; the shells' convention), whatever
/// else happened; 4 when the API server stopped answering during it; 2 when a stage failed
/// because the API server refused its input; otherwise that of its outcome.
pub fn of_run(record: &harness::report::RunRecord) -> u8 {
    let refused = record
        .stages
        .iter()
        .any(|stage| stage.error_class == Some(ErrorClass::BadInput));
    match record.signal {
        Some(signal) => signal.exit_code(),
        // The cluster went away under the run: the environment, not the platform.
        None if record.api_outage.is_some() => ENVIRONMENT_MISSING,
        // The API server refused a manifest as malformed or too large (400, 413, 422).
        None if refused => BAD_INPUT,
        None => of_outcome(record.outcome),
    }
}

/// The code of a run's outcome (an interrupted run without a recorded signal counts as
/// failed).
pub fn of_outcome(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Passed => SUCCESS,
        Outcome::Failed | Outcome::Interrupted => CHECKS_FAILED,
        Outcome::Leftovers => LEFTOVERS,
    }
}

/// Prints an error with its causes to stderr and returns its exit code.
pub fn report<E: Classify + std::error::Error>(error: &E) -> u8 {
    eprintln!("error: {}", host::error_chain(error));
    of_class(error.class())
}

/// Prints what a sweep deleted, its kept objects (except those in `reported`, already said by
/// the teardown), its leftovers, then the places it could not look, one per line, to stderr.
pub fn print_leftovers(
    sweep: &deployer::sweep::SweepReport,
    reported: &[deployer::inventory::ObjectId],
) {
    for deleted in &sweep.deleted {
        eprintln!("swept: {deleted}");
    }
    for kept in sweep.kept.iter().filter(|kept| !reported.contains(kept)) {
        eprintln!("{}", crate::terminal::kept_on_purpose(kept));
    }
    for leftover in &sweep.leftovers {
        eprintln!("leftover: {} ({})", leftover.id, leftover.reason);
    }
    for place in &sweep.unchecked {
        eprintln!(
            "warning: the sweep could not check {}: {}",
            place.what, place.reason
        );
    }
}

/// The directory run reports go under: `$CARGO_TARGET_DIR/seatrial`, else `target/seatrial`
/// in the workspace.
pub fn reports_root() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("seatrial")
}

/// The workspace root (the parent of the xtask crate).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}
