//! Stopping processes the project started — always by pid (or by the process group the pid
//! leads), never by name.

use std::time::{Duration, Instant};

use rustix::process::{kill_process, kill_process_group, Pid, Signal};

/// What to signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One process.
    Process(i32),
    /// The process group whose leader has this pid (a child started with `process_group(0)`).
    Group(i32),
}

/// Sends SIGTERM to `target`, waits up to `grace` (polling every 50 ms) while `running()`
/// says it still runs, then sends SIGKILL if it still does. Returns whether SIGKILL was sent.
/// Signals to a pid that is gone are ignored.
pub fn terminate(target: Target, grace: Duration, mut running: impl FnMut() -> bool) -> bool {
    if !running() {
        return false;
    }
    signal(target, Signal::TERM);
    let deadline = Instant::now() + grace;
    while running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if running() {
        tracing::warn!(?target, "did not exit after SIGTERM; sending SIGKILL");
        signal(target, Signal::KILL);
        return true;
    }
    false
}

/// Sends SIGKILL to `target` (ignored when it is gone).
pub fn kill(target: Target) {
    signal(target, Signal::KILL);
}

fn signal(target: Target, signal: Signal) {
    let result = match target {
        Target::Process(pid) => Pid::from_raw(pid).map(|pid| kill_process(pid, signal)),
        Target::Group(pid) => Pid::from_raw(pid).map(|pid| kill_process_group(pid, signal)),
    };
    if let Some(Err(error)) = result {
        tracing::debug!(?target, %error, "signal not delivered");
    }
}

/// Whether `pid` is alive (not a zombie) and runs `binary` (compared with `/proc/<pid>/exe`),
/// so that a recorded pid the kernel has since reused is never mistaken for ours.
pub fn runs(pid: i32, binary: &std::path::Path) -> bool {
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // The state is the first field after the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        return false;
    }
    std::fs::read_link(proc_dir.join("exe")).is_ok_and(|exe| exe == binary)
}

/// When `pid` started, in clock ticks since boot (field 22 of `/proc/<pid>/stat`, proc(5));
/// `None` when there is no such process or it is a zombie. A pid and its start time name one
/// process for good: the kernel may reuse the pid, never both.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, starttime field 22.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    if matches!(fields.next(), Some("Z") | Some("X") | None) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Kills (SIGKILL) every process of this machine whose command line contains `marker`'s path,
/// except this one; returns how many. For process trees that leave their group (Chromium
/// passes `--user-data-dir=<dir>` to all its processes, so a unique directory finds exactly
/// one browser's tree, by the pids `/proc` lists).
pub fn kill_processes_naming(marker: &std::path::Path) -> usize {
    let Some(marker) = marker.to_str() else {
        return 0;
    };
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == own {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            if let Some(pid) = Pid::from_raw(pid) {
                if kill_process(pid, Signal::KILL).is_ok() {
                    killed += 1;
                }
            }
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::{runs, terminate, Target};
    use std::os::unix::process::CommandExt;
    use std::time::Duration;

    #[test]
    fn a_group_that_ignores_sigterm_is_killed_after_the_grace() {
        // `trap '' TERM` makes the shell ignore SIGTERM; only SIGKILL ends it.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; while :; do sleep 0.05; done"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        std::thread::sleep(Duration::from_millis(200));
        assert!(runs(
            pid,
            std::path::Path::new(&std::fs::read_link(format!("/proc/{pid}/exe")).unwrap())
        ));
        let killed = terminate(Target::Group(pid), Duration::from_millis(300), || {
            child.try_wait().is_ok_and(|status| status.is_none())
        });
        assert!(
            killed,
            "SIGTERM was ignored, so SIGKILL must have been sent"
        );
        assert!(child.wait().is_ok());
        assert!(!runs(pid, std::path::Path::new("/bin/sh")));
    }

    #[test]
    fn a_process_that_exits_on_sigterm_is_not_killed() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let killed = terminate(
            Target::Process(child.id() as i32),
            Duration::from_secs(5),
            || child.try_wait().is_ok_and(|status| status.is_none()),
        );
        assert!(!killed);
    }
}
