//! The hollow cluster: a real Kubernetes control plane with fake kubelets, on loopback.
//!
//! etcd, kube-apiserver, kube-controller-manager, kube-scheduler and N kubemark hollow nodes
//! (`kubemark --morph=kubelet`). Pods are scheduled and reported Running and Ready, Deployments
//! become Available, namespaces finalize; no container runs and pod IPs are fake.
//!
//! - The binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubemark, etcd) are
//!   the pinned Kubernetes and etcd releases built from the Go module proxy
//!   ([`crate::providers::binaries`], recipes [`HOLLOW_RECIPES`]).
//! - [`cluster`] starts, checks and stops the processes, recording their pids in a state
//!   directory; `down` stops exactly the pids it recorded.

pub mod cluster;

use std::path::PathBuf;

use host::dirs::home_dir;

/// The build recipes a hollow cluster runs (kubemark stands in for the kubelets).
pub use crate::providers::binaries::recipes::HOLLOW as HOLLOW_RECIPES;

/// Environment variable overriding the state directory.
pub const STATE_ENV: &str = "SEATRIAL_HOLLOW_STATE";

/// Where the hollow cluster's state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HollowPaths {
    /// State directory: pids, logs, certificates, kubeconfig, etcd data.
    pub state_dir: PathBuf,
}

impl HollowPaths {
    /// Paths from the environment: [`STATE_ENV`], else `XDG_STATE_HOME` (default
    /// `~/.local/state`) `/seatrial/hollow`.
    pub fn from_env() -> HollowPaths {
        let state_dir = match std::env::var_os(STATE_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => xdg_dir("XDG_STATE_HOME", ".local/state")
                .join("seatrial")
                .join("hollow"),
        };
        HollowPaths { state_dir }
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
