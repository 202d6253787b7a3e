//! Exit codes shared by every subcommand, and turning errors into them.

use deployer::ErrorClass;
pub use harness::integration::{
    EXIT_BAD_INPUT as BAD_INPUT, EXIT_CHECKS_FAILED as CHECKS_FAILED,
    EXIT_ENVIRONMENT_MISSING as ENVIRONMENT_MISSING, EXIT_LEFTOVERS as LEFTOVERS,
    EXIT_SUCCESS as SUCCESS,
};

/// Prints a deployer error to stderr and returns its exit code.
pub fn report(error: &deployer::Error) -> u8 {
    eprintln!("error: {error}");
    match error.class() {
        ErrorClass::BadInput => BAD_INPUT,
        ErrorClass::EnvironmentMissing => ENVIRONMENT_MISSING,
        ErrorClass::Runtime => CHECKS_FAILED,
    }
}

/// Prints a sweep's kept objects, its leftovers, then the places it could not look, one per
/// line, to stderr.
pub fn print_leftovers(sweep: &deployer::sweep::SweepReport) {
    for kept in &sweep.kept {
        eprintln!("kept on purpose (helm.sh/resource-policy: keep): {kept}");
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
