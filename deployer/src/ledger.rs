//! The inventory ledger: one file per run in the state directory (outside every report dir),
//! written before the run applies anything and updated as each object is applied, so that a
//! run that was killed (SIGKILL, a crash, a lost machine session) can still be found and torn
//! down: by `cargo xtask teardown --run <id>`, `--deployment <name>`, `--stale`, or by the
//! next run of its deployment.
//!
//! Each entry records the run id, the deployment, the provider, the owning process (pid and
//! start time, so a reused pid is never taken for the run), the kubeconfig and context it
//! applied through (a path, never the credentials), whether the deployment was kept, and every
//! object in the order it was applied. Files are replaced atomically (write, then rename).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inventory::ObjectId;

/// Environment variable that moves the state directory (tests use it); the default is
/// `$XDG_STATE_HOME/seatrial` or `~/.local/state/seatrial`.
pub const STATE_ENV: &str = "SEATRIAL_STATE_DIR";

/// The directory holding one `<run id>.json` per run that has not been torn down.
pub fn runs_dir() -> PathBuf {
    match std::env::var_os(STATE_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("runs"),
        _ => crate::providers::hollow::xdg_dir("XDG_STATE_HOME", ".local/state")
            .join("seatrial/runs"),
    }
}

/// One run, as its ledger file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The run id (the `seatrial.dev/run` label value).
    pub run_id: String,
    /// The deployment (the config's project name; the `seatrial.dev/deployment` label).
    pub deployment: String,
    /// The provider (`local`, `hollow`, `existing`, `kind`, `k3s`).
    pub provider: String,
    /// The pid of the run's process.
    pub pid: u32,
    /// That process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub pid_start: Option<u64>,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// The kubeconfig the run applied through.
    pub kubeconfig: PathBuf,
    /// Its context, when not the current one.
    pub context: Option<String>,
    /// True once the run kept its deployment (`--keep`, `--keep-on-failure`): it stays owned
    /// until `cargo xtask teardown` removes it.
    #[serde(default)]
    pub kept: bool,
    /// Every object the run applied (or was about to apply), in order.
    #[serde(default)]
    pub objects: Vec<ObjectId>,
}

/// What became of a run's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The process that wrote the entry still runs.
    Running,
    /// The deployment was kept on purpose; the process ended.
    Kept,
    /// The process is gone and the deployment was neither torn down nor kept: a killed run.
    Stale,
}

impl Entry {
    /// A new entry for this process.
    pub fn for_this_process(
        run_id: &str,
        deployment: &str,
        provider: &str,
        kubeconfig: &Path,
        context: Option<&str>,
    ) -> Entry {
        let pid = std::process::id();
        Entry {
            run_id: run_id.to_owned(),
            deployment: deployment.to_owned(),
            provider: provider.to_owned(),
            pid,
            pid_start: host::process::start_ticks(pid),
            started_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            kubeconfig: kubeconfig.to_owned(),
            context: context.map(str::to_owned),
            kept: false,
            objects: Vec::new(),
        }
    }

    /// Whether the run's process still runs (same pid and start time), was kept, or is gone.
    pub fn liveness(&self) -> Liveness {
        let alive =
            self.pid_start.is_some() && host::process::start_ticks(self.pid) == self.pid_start;
        if alive {
            Liveness::Running
        } else if self.kept {
            Liveness::Kept
        } else {
            Liveness::Stale
        }
    }
}

/// An open ledger entry of the running run; every change is written through at once.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    entry: Mutex<Entry>,
}

impl Ledger {
    /// Writes `entry` to `<dir>/<run id>.json` (creating `dir`, mode 0700) and returns it open.
    ///
    /// Errors: [`Error::Ledger`] when the directory or file cannot be written.
    pub fn create(dir: &Path, entry: Entry) -> Result<Ledger> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Ledger {
            path: dir.to_owned(),
            source,
        })?;
        let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let ledger = Ledger {
            path: dir.join(format!("{}.json", entry.run_id)),
            entry: Mutex::new(entry),
        };
        ledger.write()?;
        Ok(ledger)
    }

    /// The entry's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that `object` is about to be applied (a second record of one object is a
    /// no-op), and writes the entry.
    ///
    /// Errors: [`Error::Ledger`] when the file cannot be written; nothing should be applied
    /// then, since a killed run could no longer be found.
    pub fn record(&self, object: &ObjectId) -> Result<()> {
        {
            let mut entry = self.lock();
            if entry.objects.contains(object) {
                return Ok(());
            }
            entry.objects.push(object.clone());
        }
        self.write()
    }

    /// Marks the deployment kept and writes the entry.
    ///
    /// Errors: [`Error::Ledger`] when the file cannot be written.
    pub fn mark_kept(&self) -> Result<()> {
        self.lock().kept = true;
        self.write()
    }

    /// Removes the entry: the run's objects are gone.
    ///
    /// Errors: [`Error::Ledger`] when the file cannot be removed.
    pub fn remove(self) -> Result<()> {
        remove(&self.path)
    }

    /// A copy of the entry as written.
    pub fn entry(&self) -> Entry {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entry> {
        self.entry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&*self.lock()).expect("an entry serializes");
        let fail = |source| Error::Ledger {
            path: self.path.clone(),
            source,
        };
        let partial = self.path.with_extension("json.partial");
        host::files::write_private(&partial, &text).map_err(fail)?;
        std::fs::rename(&partial, &self.path).map_err(fail)
    }
}

/// Removes the ledger file at `path` (a file already gone is fine).
///
/// Errors: [`Error::Ledger`] when it exists and cannot be removed.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(Error::Ledger {
            path: path.to_owned(),
            source: error,
        }),
        _ => Ok(()),
    }
}

/// Every entry in `dir` (none when it does not exist), oldest run first, each with its file.
///
/// Errors: [`Error::Ledger`] when `dir` cannot be listed; [`Error::Invalid`] naming a file
/// that is not a ledger entry.
pub fn list(dir: &Path) -> Result<Vec<(PathBuf, Entry)>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Ledger {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut entries = Vec::new();
    for file in listing.flatten() {
        let path = file.path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let entry: Entry = serde_json::from_str(&text).map_err(|error| {
            Error::invalid(&path, error.line(), format!("not a ledger entry: {error}"))
        })?;
        entries.push((path, entry));
    }
    entries.sort_by(|a, b| (&a.1.started_at, &a.1.run_id).cmp(&(&b.1.started_at, &b.1.run_id)));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str) -> ObjectId {
        ObjectId {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("n".into()),
            name: name.into(),
        }
    }

    #[test]
    fn an_entry_is_written_before_and_after_each_object_and_removed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let entry = Entry::for_this_process("r1", "d", "hollow", Path::new("/k"), None);
        let ledger = Ledger::create(dir.path(), entry).unwrap();
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].1.objects.is_empty());
        assert_eq!(listed[0].1.liveness(), Liveness::Running);
        ledger.record(&object("a")).unwrap();
        ledger.record(&object("b")).unwrap();
        ledger.record(&object("a")).unwrap();
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed[0].1.objects, vec![object("a"), object("b")]);
        let mode = std::fs::metadata(ledger.path()).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        ledger.remove().unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_gone_process_is_stale_unless_kept() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let mut entry = Entry::for_this_process("r2", "d", "hollow", Path::new("/k"), None);
        entry.pid = pid;
        assert_eq!(entry.liveness(), Liveness::Stale);
        entry.kept = true;
        assert_eq!(entry.liveness(), Liveness::Kept);
        // Our pid with another start time is another process.
        let mut reused = Entry::for_this_process("r3", "d", "hollow", Path::new("/k"), None);
        reused.pid_start = reused.pid_start.map(|ticks| ticks + 1);
        assert_eq!(reused.liveness(), Liveness::Stale);
    }

    #[test]
    fn a_file_that_is_not_an_entry_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.json"), "{\n\"run_id\": 3}").unwrap();
        let error = list(dir.path()).unwrap_err().to_string();
        assert!(error.contains("x.json:2: not a ledger entry"), "{error}");
    }
}
