//! Debian packages and pinned tool sets the project installs itself when they are missing (as
//! root), so that a fresh machine needs nothing done by hand.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::class::{Classify, ErrorClass};

/// What installing can fail at. Every variant is [`ErrorClass::EnvironmentMissing`]: the
/// machine lacks something the command needs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Packages are missing and this process is not root, so it cannot install them.
    #[error("missing: {}\n  hint: run as root: apt-get update && {install}", missing.join(", "))]
    NotRoot {
        /// The commands or files found absent.
        missing: Vec<String>,
        /// The `apt-get install` command that provides them.
        install: String,
    },
    /// A step's program could not be started.
    #[error("failed to run `{step}`")]
    Spawn {
        /// The step, as a command line.
        step: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// A step ran and failed.
    #[error("`{step}` failed ({status}); log: {}\n{tail}", log.display())]
    StepFailed {
        /// The step, as a command line.
        step: String,
        /// How it ended.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The last 15 lines of the log.
        tail: String,
    },
    /// A file or directory of the install could not be written, read or locked.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        ErrorClass::EnvironmentMissing
    }
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Installs Debian's `package` when `program` is not on `PATH`.
///
/// Errors: as [`ensure_debian_packages`].
pub fn ensure_program(program: &str, package: &str) -> Result<()> {
    let missing: Vec<String> = crate::path::on_path(program)
        .is_none()
        .then(|| program.to_owned())
        .into_iter()
        .collect();
    ensure_debian_packages(&[package], &missing)
}

/// Where apt's output goes.
pub fn apt_log() -> PathBuf {
    std::env::temp_dir().join("seatrial-apt.log")
}

/// Installs `packages` with `apt-get install -y --no-install-recommends` when `missing` (the
/// commands or files found absent, for the message) is not empty.
///
/// Errors: [`Error::NotRoot`] (with the command to run), or apt's failure
/// ([`Error::StepFailed`] with its log's tail, [`Error::Spawn`], [`Error::Io`]).
pub fn ensure_debian_packages(packages: &[&str], missing: &[String]) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", packages.join(" "));
    if !rustix::process::getuid().is_root() {
        return Err(Error::NotRoot {
            missing: missing.to_vec(),
            install,
        });
    }
    tracing::info!(missing = %missing.join(", "), "installing Debian packages: {}", packages.join(" "));
    let log = apt_log();
    run_logged(
        Command::new("apt-get").arg("update"),
        &log,
        "apt-get update",
    )?;
    run_logged(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages),
        &log,
        &install,
    )
}

/// Runs `command` non-interactively (`DEBIAN_FRONTEND=noninteractive`, no stdin) with its
/// output appended to `log`.
///
/// Errors: [`Error::StepFailed`] naming `step`, the exit status, the log and its last 15
/// lines; [`Error::Spawn`]; [`Error::Io`] for the log.
pub fn run_logged(command: &mut Command, log: &Path, step: &str) -> Result<()> {
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(log))?;
    let stderr = file.try_clone().map_err(io(log))?;
    command
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(stderr);
    let status = command.status().map_err(|source| Error::Spawn {
        step: step.to_owned(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    Err(Error::StepFailed {
        step: step.to_owned(),
        status,
        log: log.to_owned(),
        tail: crate::logs::tail(log, 15),
    })
}

/// Installs a pinned tool set into `dir` unless a previous install of the same inputs is
/// complete: under an exclusive lock on `<dir>/.lock`, writes `files` (path relative to
/// `dir`, text; parent directories are created), runs each step's command (output to
/// `<dir>/install.log`), then writes a stamp of the files' text. A repeat call with the same
/// files, whose `ready` paths all exist, does nothing.
///
/// Errors: the failing step ([`Error::StepFailed`], [`Error::Spawn`]) or file
/// ([`Error::Io`]).
pub fn ensure_installed(
    dir: &Path,
    files: &[(&str, &str)],
    ready: &[PathBuf],
    steps: Vec<(Command, &str)>,
) -> Result<()> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let lock_path = dir.join(".lock");
    let lock = fs::File::create(&lock_path).map_err(io(&lock_path))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|errno| io(&lock_path)(errno.into()))?;
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
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::write(&path, text).map_err(io(&path))?;
    }
    let log = dir.join("install.log");
    for (mut command, step) in steps {
        run_logged(&mut command, &log, step)?;
    }
    fs::write(&stamp_path, stamp).map_err(io(&stamp_path))
}

#[cfg(test)]
mod tests {
    use super::{ensure_installed, Error};
    use std::process::Command;

    #[test]
    fn a_failing_step_names_itself_its_log_and_the_log_tail_and_a_good_install_is_stamped() {
        let dir = tempfile::tempdir().unwrap();
        let mut failing = Command::new("sh");
        failing.args(["-c", "echo the-reason >&2; exit 3"]);
        let error = ensure_installed(
            dir.path(),
            &[("a.txt", "one")],
            &[],
            vec![(failing, "fail on purpose")],
        )
        .unwrap_err();
        let Error::StepFailed {
            step, log, tail, ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(step, "fail on purpose");
        assert_eq!(log, &dir.path().join("install.log"));
        assert!(tail.contains("the-reason"), "{tail}");
        assert!(error.to_string().contains("exit status: 3"), "{error}");

        let marker = dir.path().join("done");
        let mut touch = Command::new("touch");
        touch.arg(&marker);
        ensure_installed(
            dir.path(),
            &[("a.txt", "two")],
            std::slice::from_ref(&marker),
            vec![(touch, "touch")],
        )
        .unwrap();
        std::fs::remove_file(dir.path().join("a.txt")).unwrap();
        // Same inputs and the ready path exists: nothing runs, nothing is rewritten.
        ensure_installed(dir.path(), &[("a.txt", "two")], &[marker], vec![]).unwrap();
        assert!(!dir.path().join("a.txt").exists());
    }
}
