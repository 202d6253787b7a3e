//! `cargo xtask hollow up|status|down` on a cluster of its own (its own state directory), so
//! the shared test cluster is not disturbed.

use crate::support::xtask_with;

#[test]
#[ignore = "needs the hollow cluster binaries: run by `cargo xtask test`"]
fn up_is_idempotent_reports_dead_components_and_down_stops_exactly_its_pids() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let env = [("SEATRIAL_HOLLOW_STATE", state.as_path())];

    // The chains a kubelet adds on its first sync. Another kubelet on this machine (a local
    // cluster of another checkout) may have made them already; then this check says nothing.
    let kubelet_chains_before = kubelet_chains();
    let first = xtask_with(&["hollow", "up", "--nodes", "1"], &env);
    // Whatever fails below, stop what this test started.
    struct Down<'a>(&'a [(&'a str, &'a std::path::Path)]);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            xtask_with(&["hollow", "down"], self.0);
        }
    }
    let _down = Down(&env);
    assert_eq!(first.code, 0, "{}", first.output());
    assert!(
        first
            .stdout
            .contains("started a hollow cluster with 1 nodes"),
        "{}",
        first.output()
    );

    // Hollow nodes leave the host's iptables alone (the kubelet code in kubemark would add
    // KUBE-FIREWALL and canary chains); only the local cluster, which runs alone, makes any.
    if let (Some(before), Some(after)) = (&kubelet_chains_before, kubelet_chains()) {
        let added: Vec<_> = after.iter().filter(|c| !before.contains(*c)).collect();
        assert!(
            added.is_empty(),
            "a hollow node changed the host's iptables: it added {added:?}"
        );
    }

    let second = xtask_with(&["hollow", "up", "--nodes", "1"], &env);
    assert_eq!(second.code, 0, "{}", second.output());
    assert!(
        second.stdout.contains("reused the running hollow cluster"),
        "{}",
        second.output()
    );

    let pids = recorded_pids(&state);
    assert_eq!(pids.len(), 5, "{pids:?}");
    let status = xtask_with(&["hollow", "status"], &env);
    assert_eq!(status.code, 0, "{}", status.output());
    assert_eq!(
        status.stdout.matches(" running").count(),
        5,
        "{}",
        status.output()
    );

    // A component that died: `up` says which one and what to do, and does not start another.
    let node_pid = pids[4];
    kill(&[node_pid]);
    let third = xtask_with(&["hollow", "up", "--nodes", "1"], &env);
    assert_eq!(third.code, 4, "{}", third.output());
    assert!(
        third
            .stderr
            .contains(&format!("hollow-node-0 (pid {node_pid}) is not running")),
        "{}",
        third.output()
    );
    assert!(
        third.stderr.contains("cargo xtask hollow down"),
        "{}",
        third.output()
    );

    // Every process gone (as after a reboot): `up` forgets the old state and starts afresh.
    kill(&pids);
    let fourth = xtask_with(&["hollow", "up", "--nodes", "1"], &env);
    assert_eq!(fourth.code, 0, "{}", fourth.output());
    assert!(
        fourth
            .stdout
            .contains("started a hollow cluster with 1 nodes"),
        "{}",
        fourth.output()
    );
    let pids = recorded_pids(&state);

    let down = xtask_with(&["hollow", "down"], &env);
    assert_eq!(down.code, 0, "{}", down.output());
    for pid in pids {
        assert!(
            std::fs::read_link(format!("/proc/{pid}/exe")).is_err(),
            "pid {pid} still runs"
        );
    }
    assert!(!state.exists());
}

/// The kubelet's own chains (`KUBE-KUBELET-CANARY`, `KUBE-FIREWALL`) in `iptables-save`'s
/// output, as `table/chain`; `None` where iptables-save is missing or fails.
fn kubelet_chains() -> Option<Vec<String>> {
    let saved = std::process::Command::new("iptables-save").output().ok()?;
    if !saved.status.success() {
        return None;
    }
    let mut table = String::new();
    let mut chains = Vec::new();
    for line in String::from_utf8_lossy(&saved.stdout).lines() {
        if let Some(name) = line.strip_prefix('*') {
            table = name.to_owned();
        } else if let Some(chain) = line.strip_prefix(':') {
            let chain = chain.split_whitespace().next().unwrap_or_default();
            if chain == "KUBE-KUBELET-CANARY" || chain == "KUBE-FIREWALL" {
                chains.push(format!("{table}/{chain}"));
            }
        }
    }
    Some(chains)
}

/// SIGKILLs `pids` and waits (at most 10 s) until none of them runs.
fn kill(pids: &[i64]) {
    for pid in pids {
        std::process::Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status()
            .unwrap();
    }
    let running = || {
        pids.iter()
            .any(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!running(), "{pids:?} still run after SIGKILL");
}

/// The pids `state.json` in `state` records, in start order (etcd first, the node last).
fn recorded_pids(state: &std::path::Path) -> Vec<i64> {
    let text = std::fs::read_to_string(state.join("state.json")).unwrap();
    let state_json: serde_json::Value = serde_json::from_str(&text).unwrap();
    state_json["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pid"].as_i64().unwrap())
        .collect()
}
