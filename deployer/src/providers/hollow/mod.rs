//! The hollow cluster: a real Kubernetes control plane with fake kubelets, on loopback.
//!
//! etcd, kube-apiserver, kube-controller-manager, kube-scheduler and N kubemark hollow nodes
//! (`kubemark --morph=kubelet`). Pods are scheduled and reported Running and Ready, Deployments
//! become Available, namespaces finalize; no container runs and pod IPs are fake.
//!
//! - [`build`] makes the Kubernetes binaries from Debian's source package, once, into a cache
//!   outside the repository (or takes prebuilt ones from `SEATRIAL_HOLLOW_BIN`).
//! - [`cluster`] starts, checks and stops the processes, recording their pids in a state
//!   directory; `down` stops exactly the pids it recorded.

pub mod build;
pub mod cluster;

use std::path::PathBuf;

use super::home_dir;

/// The Kubernetes version built from Debian bookworm's `kubernetes` source package
/// (`1.20.5+really1.20.2-1.1+deb12u1`).
pub const KUBERNETES_VERSION: &str = "1.20.2";

/// Environment variable naming a directory of prebuilt `kube-apiserver`,
/// `kube-controller-manager`, `kube-scheduler` and `kubemark` (and optionally `etcd`).
pub const BIN_ENV: &str = "SEATRIAL_HOLLOW_BIN";
/// Environment variable overriding the state directory.
pub const STATE_ENV: &str = "SEATRIAL_HOLLOW_STATE";

/// The Kubernetes binaries a hollow cluster runs.
pub const KUBERNETES_BINARIES: [&str; 4] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubemark",
];

/// Where the hollow cluster's binaries and state live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HollowPaths {
    /// Directory holding the Kubernetes binaries.
    pub bin_dir: PathBuf,
    /// Whether `bin_dir` came from [`BIN_ENV`] (then it is never built into).
    pub prebuilt: bool,
    /// Where sources are downloaded and built.
    pub build_dir: PathBuf,
    /// State directory: pids, logs, certificates, kubeconfig, etcd data.
    pub state_dir: PathBuf,
}

impl HollowPaths {
    /// Paths from the environment: [`BIN_ENV`], [`STATE_ENV`], `XDG_CACHE_HOME` (default
    /// `~/.cache`) and `XDG_STATE_HOME` (default `~/.local/state`).
    pub fn from_env() -> HollowPaths {
        let cache = xdg_dir("XDG_CACHE_HOME", ".cache")
            .join("seatrial")
            .join("hollow")
            .join(KUBERNETES_VERSION);
        let (bin_dir, prebuilt) = match std::env::var_os(BIN_ENV) {
            Some(dir) if !dir.is_empty() => (PathBuf::from(dir), true),
            _ => (cache.join("bin"), false),
        };
        let state_dir = match std::env::var_os(STATE_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => xdg_dir("XDG_STATE_HOME", ".local/state")
                .join("seatrial")
                .join("hollow"),
        };
        HollowPaths {
            bin_dir,
            prebuilt,
            build_dir: cache.join("src"),
            state_dir,
        }
    }

    /// The kubeconfig `up` writes.
    pub fn kubeconfig(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }
}

/// `$variable`, else `~/<fallback>`: an XDG base directory.
pub(crate) fn xdg_dir(variable: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(variable) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home_dir().join(fallback),
    }
}

use crate::logfile::tail as log_tail;
