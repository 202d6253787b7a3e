//! What a local cluster changes on the host, made and unmade: the bridge, the sysctls pods
//! need, the iptables chain that keeps pod traffic on the bridge, and the pods' cgroup; and
//! the scan for what a stopped cluster could leave behind (processes, mounts, network
//! namespaces, links, iptables chains, cgroups, the state directory).
//!
//! Every name here is the provider's own (`seatrial0`, `SEATRIAL-ISOLATE`, `/seatrial`),
//! except the `KUBE-*` and `CNI-*` iptables chains kube-proxy, the kubelet and the CNI
//! plugins make; those are removed too, since on this host nothing else makes them.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The bridge every pod of the local cluster is attached to.
pub const BRIDGE: &str = "seatrial0";
/// The filter chain that drops pod traffic leaving by any interface but the bridge.
pub const ISOLATION_CHAIN: &str = "SEATRIAL-ISOLATE";
/// The cgroup (in every cgroup v1 hierarchy) pods go under.
pub const CGROUP_ROOT: &str = "/seatrial";
/// Where cgroup v1 hierarchies are mounted.
const CGROUP_MOUNT: &str = "/sys/fs/cgroup";
/// iptables chain prefixes a local cluster leaves unless removed.
pub const CHAIN_PREFIXES: [&str; 3] = ["KUBE-", "CNI-", "SEATRIAL-"];

/// The sysctls set, with the values found before (restored by [`restore_sysctls`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SysctlRecord {
    /// `(key path under /proc/sys, value before)`.
    pub previous: Vec<(String, String)>,
}

/// Sysctls pods need: forwarding between the bridge's ports through iptables (Services),
/// and loopback NodePorts.
const SYSCTLS: [(&str, &str); 3] = [
    ("net/ipv4/ip_forward", "1"),
    ("net/bridge/bridge-nf-call-iptables", "1"),
    ("net/ipv4/conf/all/route_localnet", "1"),
];

/// Runs a host command; errors name it and quote its stderr.
fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| Error::EnvironmentMissing {
            what: format!("failed to run {program}: {error}"),
            hint: "apt-get install iproute2 iptables util-linux".into(),
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::Cluster {
            message: format!(
                "`{program} {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

/// Checks the kernel and the host for what a real node needs, before anything is changed.
///
/// Installs `iproute2`, `iptables` and `util-linux` from Debian when a command is missing.
/// Errors: [`Error::EnvironmentMissing`] naming the missing command or kernel feature (not
/// root; no overlay filesystem; apt failing).
pub fn check_host() -> Result<()> {
    if !rustix::process::getuid().is_root() {
        return Err(Error::EnvironmentMissing {
            what: "the local provider runs containerd, runc and a kubelet, which need root".into(),
            hint: "run as root, or use --provider hollow (no containers)".into(),
        });
    }
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.contains("overlay") {
        return Err(Error::EnvironmentMissing {
            what:
                "the kernel has no overlay filesystem (containerd's overlayfs snapshotter needs it)"
                    .into(),
            hint: "modprobe overlay, or use a kernel with CONFIG_OVERLAY_FS".into(),
        });
    }
    let missing: Vec<String> = [
        "ip",
        "iptables",
        "iptables-save",
        "iptables-restore",
        "umount",
    ]
    .into_iter()
    .filter(|command| host::path::on_path(command).is_none())
    .map(str::to_owned)
    .collect();
    host::packages::ensure_debian_packages(&["iproute2", "iptables", "util-linux"], &missing)?;
    Ok(())
}

/// Whether any route other than the bridge's own covers `subnet`'s first address.
pub fn subnet_taken(first: Ipv4Addr) -> Result<Option<String>> {
    let routes = run("ip", &["-4", "route", "get", &first.to_string()])?;
    let route = routes.lines().next().unwrap_or("").to_owned();
    let via_bridge = route.contains(&format!("dev {BRIDGE}"));
    let via_default = route.contains(" via ");
    Ok((!via_bridge && !via_default && !route.starts_with("local")).then_some(route))
}

/// Creates the bridge with the node IP (`/prefix` of the pod subnet) and brings it up.
pub fn create_bridge(node_ip: Ipv4Addr, prefix: u8) -> Result<()> {
    if !Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
        run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
    }
    let address = format!("{node_ip}/{prefix}");
    let shown = run("ip", &["-4", "addr", "show", "dev", BRIDGE])?;
    if !shown.contains(&address) {
        run("ip", &["addr", "add", &address, "dev", BRIDGE])?;
    }
    run("ip", &["link", "set", BRIDGE, "up"]).map(drop)
}

/// Sets [`SYSCTLS`]; returns what they were.
pub fn set_sysctls() -> Result<SysctlRecord> {
    let mut record = SysctlRecord::default();
    for (key, value) in SYSCTLS {
        let path = PathBuf::from("/proc/sys").join(key);
        let before = fs::read_to_string(&path).map_err(|error| Error::EnvironmentMissing {
            what: format!(
                "{} cannot be read ({error}): the kernel lacks what pods need",
                path.display()
            ),
            hint: "a kernel with bridge netfilter (br_netfilter) and IPv4 forwarding".into(),
        })?;
        record
            .previous
            .push((key.to_owned(), before.trim().to_owned()));
        fs::write(&path, value).map_err(|error| Error::Cluster {
            message: format!("failed to set {}: {error}", path.display()),
        })?;
    }
    Ok(record)
}

/// Restores the sysctls recorded by [`set_sysctls`].
pub fn restore_sysctls(record: &SysctlRecord) {
    for (key, value) in &record.previous {
        let _ = fs::write(PathBuf::from("/proc/sys").join(key), value);
    }
}

/// Adds [`ISOLATION_CHAIN`] at the head of FORWARD: pod traffic may leave only through the
/// bridge (no route out of the machine, whatever a pod tries).
pub fn isolate_pods(pod_cidr: &str) -> Result<()> {
    let _ = run("iptables", &["-N", ISOLATION_CHAIN]);
    run("iptables", &["-F", ISOLATION_CHAIN])?;
    run(
        "iptables",
        &[
            "-A",
            ISOLATION_CHAIN,
            "-s",
            pod_cidr,
            "!",
            "-o",
            BRIDGE,
            "-j",
            "DROP",
        ],
    )?;
    if run("iptables", &["-C", "FORWARD", "-j", ISOLATION_CHAIN]).is_err() {
        run("iptables", &["-I", "FORWARD", "1", "-j", ISOLATION_CHAIN])?;
    }
    Ok(())
}

/// The cgroup v1 hierarchies mounted on this host (`cpu`, `memory`, …, `systemd`).
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(CGROUP_MOUNT) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.join("cgroup.procs").exists()
                && path.file_name().is_some_and(|name| name != "unified")
        })
        .collect()
}

/// Creates [`CGROUP_ROOT`] in every hierarchy (the kubelet's `cgroupRoot` must exist).
pub fn create_cgroups() -> Result<()> {
    for hierarchy in cgroup_hierarchies() {
        let dir = hierarchy.join(CGROUP_ROOT.trim_start_matches('/'));
        fs::create_dir_all(&dir).map_err(|error| Error::Cluster {
            message: format!(
                "failed to create the pods' cgroup {}: {error}",
                dir.display()
            ),
        })?;
    }
    Ok(())
}

/// Removes [`CGROUP_ROOT`] and everything under it, deepest first (cgroups are removed with
/// rmdir once empty of processes).
fn remove_cgroups() -> Vec<String> {
    let mut failed = Vec::new();
    for hierarchy in cgroup_hierarchies() {
        let root = hierarchy.join(CGROUP_ROOT.trim_start_matches('/'));
        let mut dirs = Vec::new();
        collect_dirs(&root, &mut dirs);
        dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
        for dir in dirs {
            if let Err(error) = fs::remove_dir(&dir) {
                failed.push(format!("cgroup {}: {error}", dir.display()));
            }
        }
    }
    failed
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_owned());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

/// Mount points at or under `dir` (from `/proc/self/mountinfo`), deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect();
    mounts.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    mounts.dedup();
    mounts
}

/// `iptables-save` (and `ip6tables-save`) with every chain named by [`CHAIN_PREFIXES`] and
/// every rule jumping to one removed; `None` when there is nothing to remove.
pub fn without_cluster_chains(saved: &str) -> Option<String> {
    without_chains(saved, &CHAIN_PREFIXES)
}

/// `saved` (`iptables-save` output) with every chain whose name starts with one of
/// `prefixes` and every rule jumping to one removed; `None` when there is nothing to remove.
pub fn without_chains(saved: &str, prefixes: &[&str]) -> Option<String> {
    let ours = |name: &str| prefixes.iter().any(|prefix| name.starts_with(prefix));
    let mut changed = false;
    let mut out = String::with_capacity(saved.len());
    for line in saved.lines() {
        let drop = if let Some(chain) = line.strip_prefix(':') {
            ours(chain.split_whitespace().next().unwrap_or(""))
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let mut words = rule.split_whitespace();
            let chain = words.next().unwrap_or("");
            let jumps_to_ours = rule
                .split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|pair| matches!(pair[0], "-j" | "-g") && ours(pair[1]));
            ours(chain) || jumps_to_ours
        } else {
            false
        };
        if drop {
            changed = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    changed.then_some(out)
}

/// The iptables chains (IPv4 and IPv6) whose names start with one of `prefixes`, as
/// (`iptables-save` or `ip6tables-save`, chain name) pairs; a table that cannot be read is
/// skipped.
pub fn chains_named(prefixes: &[&str]) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for save in ["iptables-save", "ip6tables-save"] {
        if let Ok(saved) = run(save, &[]) {
            for line in saved.lines().filter(|line| line.starts_with(':')) {
                let chain = line[1..].split_whitespace().next().unwrap_or("");
                if prefixes.iter().any(|prefix| chain.starts_with(prefix)) {
                    found.push((save, chain.to_owned()));
                }
            }
        }
    }
    found
}

/// Removes the cluster's iptables chains (IPv4 and IPv6) atomically with `iptables-restore`.
fn remove_chains() -> Vec<String> {
    remove_chains_named(&CHAIN_PREFIXES)
}

/// Removes the iptables chains (IPv4 and IPv6) whose names start with one of `prefixes`, and
/// the rules jumping to them, atomically with `iptables-restore`; returns what failed.
pub fn remove_chains_named(prefixes: &[&str]) -> Vec<String> {
    let mut failed = Vec::new();
    for (save, restore) in [
        ("iptables-save", "iptables-restore"),
        ("ip6tables-save", "ip6tables-restore"),
    ] {
        let Ok(saved) = run(save, &[]) else {
            continue;
        };
        let Some(cleaned) = without_chains(&saved, prefixes) else {
            continue;
        };
        let mut child = match Command::new(restore)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                failed.push(format!("{restore}: {error}"));
                continue;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            let _ = stdin.write_all(cleaned.as_bytes());
        }
        match child.wait_with_output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => failed.push(format!(
                "{restore}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(error) => failed.push(format!("{restore}: {error}")),
        }
    }
    failed
}

/// The links of the cluster: the bridge and every interface attached to it (pods' veths).
fn cluster_links() -> Vec<String> {
    let mut links = Vec::new();
    if let Ok(text) = run("ip", &["-o", "link", "show", "master", BRIDGE]) {
        for line in text.lines() {
            if let Some(name) = line.split(':').nth(1) {
                links.push(name.trim().split('@').next().unwrap_or("").to_owned());
            }
        }
    }
    if Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
        links.push(BRIDGE.to_owned());
    }
    links
}

/// Removes every remain of a local cluster whose processes have stopped: mounts under
/// `state_dir`, the pods' links and the bridge, the iptables chains, the cgroups, and the
/// state directory itself. Returns what could not be removed (empty when all went).
pub fn remove_remains(state_dir: &Path) -> Vec<String> {
    let mut failed = Vec::new();
    for point in mounts_under(state_dir) {
        if let Err(error) = run("umount", &["--lazy", &point.display().to_string()]) {
            failed.push(format!(
                "mount {}: {}",
                point.display(),
                host::error_chain(&error)
            ));
        }
    }
    for link in cluster_links() {
        if let Err(error) = run("ip", &["link", "delete", &link]) {
            // A pod's veth goes by itself once its peer's network namespace is gone (the
            // kernel deletes the pair), which can happen between listing and deleting it.
            if Path::new(&format!("/sys/class/net/{link}")).exists() {
                failed.push(format!("link {link}: {}", host::error_chain(&error)));
            }
        }
    }
    failed.extend(remove_chains());
    failed.extend(remove_cgroups());
    if state_dir.exists() {
        if let Err(error) = fs::remove_dir_all(state_dir) {
            failed.push(format!("{}: {error}", state_dir.display()));
        }
    }
    failed
}

/// Processes of the node: those running one of `binaries` (exact paths: containerd, its
/// shim, runc, the kubelet, kube-proxy, CoreDNS; not the control plane's, which a hollow
/// cluster may be running), and those in the pods' cgroup (containers). `(pid, what)`.
pub fn node_processes(binaries: &[PathBuf]) -> Vec<(i32, String)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id() as i32;
    let cgroup_marker = format!("{CGROUP_ROOT}/");
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            if pid == own {
                return None;
            }
            if let Ok(exe) = fs::read_link(entry.path().join("exe")) {
                if binaries.contains(&exe) {
                    return Some((pid, exe.display().to_string()));
                }
            }
            let cgroups = fs::read_to_string(entry.path().join("cgroup")).ok()?;
            cgroups
                .lines()
                .any(|line| {
                    line.split(':')
                        .nth(2)
                        .is_some_and(|path| path.starts_with(&cgroup_marker))
                })
                .then(|| (pid, format!("a process in the pods' cgroup {CGROUP_ROOT}")))
        })
        .collect()
}

/// What a local cluster left on this host, one line each (empty when nothing): processes
/// of its binaries, mounts under its state dir, network namespaces, its links, iptables
/// chains, its cgroups and its state directory. The leftover check after `down`.
pub fn remains(state_dir: &Path, node_binaries: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    for (pid, what) in node_processes(node_binaries) {
        found.push(format!("process {pid} ({what})"));
    }
    for point in mounts_under(state_dir) {
        found.push(format!("mount {}", point.display()));
    }
    if let Ok(text) = run("ip", &["netns", "list"]) {
        for namespace in text.lines().filter(|line| !line.trim().is_empty()) {
            found.push(format!("network namespace {namespace}"));
        }
    }
    for link in cluster_links() {
        found.push(format!("link {link}"));
    }
    for (save, chain) in chains_named(&CHAIN_PREFIXES) {
        found.push(format!("{save}: chain {chain}"));
    }
    for hierarchy in cgroup_hierarchies() {
        let dir = hierarchy.join(CGROUP_ROOT.trim_start_matches('/'));
        if dir.exists() {
            found.push(format!("cgroup {}", dir.display()));
        }
    }
    if state_dir.exists() {
        found.push(format!("state directory {}", state_dir.display()));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cluster_chains_and_jumps_to_them_are_removed() {
        let saved = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:KUBE-FORWARD - [0:0]\n:SEATRIAL-ISOLATE - [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j SEATRIAL-ISOLATE\n-A FORWARD -m comment --comment \"kube\" -j KUBE-FORWARD\n-A FORWARD -j DOCKER-USER\n-A KUBE-FORWARD -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
        let cleaned = without_cluster_chains(saved).unwrap();
        assert_eq!(
            cleaned,
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
        );
        assert_eq!(
            without_cluster_chains("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"),
            None
        );
    }
}
