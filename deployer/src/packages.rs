//! Debian packages the project installs itself when they are missing (as root), so that a
//! fresh machine needs nothing done by hand.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Whether `command` is an executable file on `PATH`; its path if so.
pub fn on_path(command: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

/// Installs Debian's `package` when `program` is not on `PATH`.
///
/// Errors: as [`ensure_debian_packages`].
pub fn ensure_program(program: &str, package: &str) -> Result<()> {
    let missing: Vec<String> = on_path(program)
        .is_none()
        .then(|| program.to_owned())
        .into_iter()
        .collect();
    ensure_debian_packages(&[package], &missing)
}

/// Where apt's output goes.
pub fn apt_log() -> std::path::PathBuf {
    std::env::temp_dir().join("seatrial-apt.log")
}

/// Installs `packages` with `apt-get install -y --no-install-recommends` when `missing` (the
/// commands or files found absent, for the message) is not empty.
///
/// Errors: [`Error::EnvironmentMissing`] when not root (with the command to run), or when
/// apt fails (with its log's tail).
pub fn ensure_debian_packages(packages: &[&str], missing: &[String]) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", packages.join(" "));
    if !rustix::process::getuid().is_root() {
        return Err(Error::EnvironmentMissing {
            what: format!("missing: {}", missing.join(", ")),
            hint: format!("run as root: apt-get update && {install}"),
        });
    }
    tracing::info!(missing = %missing.join(", "), "installing Debian packages: {}", packages.join(" "));
    let log = apt_log();
    let apt_failed = |what: String| Error::EnvironmentMissing {
        what,
        hint: format!("install them by hand: apt-get update && {install}"),
    };
    run_logged(
        Command::new("apt-get").arg("update"),
        &log,
        "apt-get update",
    )
    .map_err(apt_failed)?;
    run_logged(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages),
        &log,
        &install,
    )
    .map_err(apt_failed)
}

/// Runs `command` non-interactively with its output appended to `log`. Errors: a message
/// naming `step`, the exit status, the log and its last 15 lines.
pub fn run_logged(
    command: &mut Command,
    log: &Path,
    step: &str,
) -> std::result::Result<(), String> {
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|error| format!("{}: {error}", log.display()))?;
    let stderr = file
        .try_clone()
        .map_err(|error| format!("{}: {error}", log.display()))?;
    command
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(stderr);
    let status = command
        .status()
        .map_err(|error| format!("cannot run `{step}`: {error}"))?;
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "`{step}` failed ({status}); log: {}\n{}",
        log.display(),
        crate::logfile::tail(log, 15)
    ))
}

/// Installs a pinned tool set into `dir` unless a previous install of the same inputs is
/// complete: under an exclusive lock on `<dir>/.lock`, writes `files` (path relative to
/// `dir`, text; parent directories are created), runs each step's command (output to `<dir>/install.log`), then writes a stamp of the
/// files' text. A repeat call with the same files, whose `ready` paths all exist, does nothing.
///
/// Errors: a message naming the failing step and quoting its log's tail, or a file error.
pub fn ensure_installed(
    dir: &Path,
    files: &[(&str, &str)],
    ready: &[std::path::PathBuf],
    steps: Vec<(Command, &str)>,
) -> std::result::Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock_path = dir.join(".lock");
    let lock = fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let stamp_path = dir.join(".stamp");
    let stamp: String = files
        .iter()
        .map(|(name, text)| format!("{name}\n{text}"))
        .collect();
    if fs::read_to_string(&stamp_path).is_ok_and(|text| text == stamp)
        && ready.iter().all(|path| path.exists())
    {
        return Ok(());
    }
    let _ = fs::remove_file(&stamp_path);
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let log = dir.join("install.log");
    for (mut command, step) in steps {
        run_logged(&mut command, &log, step)?;
    }
    fs::write(&stamp_path, stamp).map_err(|e| format!("{}: {e}", stamp_path.display()))
}
