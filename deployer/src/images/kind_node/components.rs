//! The images `kubeadm init` and its add-ons run, built from the node's own binaries: the
//! control plane (kube-apiserver, kube-controller-manager, kube-scheduler), etcd, CoreDNS and
//! kube-proxy. kubeadm names them `<imageRepository>/<name>:<tag>` (its `images list`
//! command shows the names); the kind provider sets `imageRepository` to [`REPOSITORY`] and
//! the etcd and CoreDNS tags to the pinned versions (`providers::kind::cluster_config`).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use super::super::oci::{tar_of, write_archive, File, Layer, RunConfig};
use crate::error::{Error, Result};
use crate::providers::binaries::ClusterBinaries;

/// The repository of the components (kubeadm's `imageRepository`).
pub const REPOSITORY: &str = "localhost/seatrial/kind";
/// PATH in the component images.
const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One component image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// kubeadm's name for it (`kube-apiserver`, `etcd`, `coredns`).
    pub name: &'static str,
    /// The binary it carries.
    pub binary: &'static str,
    /// Its tag: the Kubernetes release, or the etcd / CoreDNS pin.
    pub tag: String,
    /// Whether it needs a Debian root (kube-proxy runs iptables); else the binary alone.
    pub debian: bool,
}

impl Component {
    /// `localhost/seatrial/kind/<name>:<tag>`.
    pub fn reference(&self) -> String {
        format!("{REPOSITORY}/{}:{}", self.name, self.tag)
    }
}

/// The components for `binaries` (the `kubernetes`, `etcd` and `coredns` recipes ensured).
pub fn components(binaries: &ClusterBinaries) -> Vec<Component> {
    let version = |recipe: &str| binaries.versions.get(recipe).cloned().unwrap_or_default();
    let kubernetes = version("kubernetes");
    let component = |name, binary, tag: &str, debian| Component {
        name,
        binary,
        tag: tag.to_owned(),
        debian,
    };
    vec![
        component("kube-apiserver", "kube-apiserver", &kubernetes, false),
        component(
            "kube-controller-manager",
            "kube-controller-manager",
            &kubernetes,
            false,
        ),
        component("kube-scheduler", "kube-scheduler", &kubernetes, false),
        component("kube-proxy", "kube-proxy", &kubernetes, true),
        component("etcd", "etcd", &version("etcd"), false),
        component("coredns", "coredns", &version("coredns"), false),
    ]
}

/// The Debian packages of kube-proxy's image: iptables (its proxier runs `iptables-restore`)
/// and conntrack (it clears UDP conntrack entries of removed endpoints).
pub const PROXY_PACKAGES: [&str; 2] = ["iptables", "conntrack"];

/// Writes the image of `component` to `archive`, its binary from `binaries`; a Debian
/// component's root comes from `debian_root` (an uncompressed root file system tar).
///
/// Errors: [`Error::Build`] naming the file that could not be read or written.
pub fn write(
    component: &Component,
    binaries: &ClusterBinaries,
    debian_root: Option<&Path>,
    archive: &Path,
) -> Result<()> {
    let fail = |message: String| Error::Build { message };
    let binary = binaries.path(component.binary);
    let contents =
        fs::read(&binary).map_err(|error| fail(format!("{}: {error}", binary.display())))?;
    // CoreDNS's Deployment (kubeadm's) gives only arguments: the binary is the entrypoint.
    let (path, entrypoint) = if component.name == "coredns" {
        ("coredns".to_owned(), vec!["/coredns".to_owned()])
    } else {
        (format!("usr/local/bin/{}", component.binary), Vec::new())
    };
    let mut layers = Vec::new();
    if component.debian {
        let root = debian_root.ok_or_else(|| {
            fail(format!(
                "the {} image needs a Debian root (report this as a bug)",
                component.name
            ))
        })?;
        let tar = fs::read(root).map_err(|error| fail(format!("{}: {error}", root.display())))?;
        layers.push(
            Layer::from_tar(&tar)
                .map_err(|error| fail(format!("the {} root: {error}", component.name)))?,
        );
    }
    let tar = tar_of(&[File {
        path,
        contents,
        mode: 0o755,
    }])
    .map_err(|error| fail(format!("the {} layer: {error}", component.name)))?;
    layers.push(
        Layer::from_tar(&tar)
            .map_err(|error| fail(format!("the {} layer: {error}", component.name)))?,
    );
    write_archive(
        archive,
        &component.reference(),
        &layers,
        &RunConfig {
            entrypoint,
            env: vec![PATH.to_owned()],
            ..RunConfig::default()
        },
    )
    .map_err(|error| fail(format!("{}: {error}", archive.display())))?;
    Ok(())
}

/// Runs mmdebstrap (`minbase` plus `packages` of `suite`) into the tar `out`, its output
/// appended to `log`.
///
/// Errors: [`Error::Build`] naming the suite and quoting the log's tail.
pub fn debootstrap(
    suite: &str,
    mirror: &str,
    packages: &[&str],
    hooks: &[String],
    out: &Path,
    log: &Path,
) -> Result<()> {
    let mut command = Command::new("mmdebstrap");
    command
        .arg("--variant=minbase")
        .arg("--quiet")
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        .arg("--dpkgopt=path-exclude=/usr/share/locale/*");
    if !packages.is_empty() {
        command.arg(format!("--include={}", packages.join(",")));
    }
    for hook in hooks {
        command.arg(format!("--customize-hook={hook}"));
    }
    command
        .arg(suite)
        .arg(out)
        .arg(mirror)
        .env("TMPDIR", std::env::temp_dir());
    host::packages::run_logged(command.stdin(Stdio::null()), log, "mmdebstrap").map_err(|error| {
        Error::Build {
            message: format!(
                "mmdebstrap {suite} ({}) failed: {}; the end of {}:\n{}",
                packages.join(", "),
                host::error_chain(&error),
                log.display(),
                host::logs::tail(log, 25)
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_named_as_kubeadm_names_them_under_our_repository() {
        let mut binaries = ClusterBinaries::default();
        for (recipe, version) in [
            ("kubernetes", "v9.9.1"),
            ("etcd", "v3.9.1"),
            ("coredns", "v1.99.0"),
        ] {
            binaries.versions.insert(recipe.into(), version.into());
        }
        let references: Vec<String> = components(&binaries)
            .iter()
            .map(Component::reference)
            .collect();
        assert_eq!(
            references,
            [
                "localhost/seatrial/kind/kube-apiserver:v9.9.1",
                "localhost/seatrial/kind/kube-controller-manager:v9.9.1",
                "localhost/seatrial/kind/kube-scheduler:v9.9.1",
                "localhost/seatrial/kind/kube-proxy:v9.9.1",
                "localhost/seatrial/kind/etcd:v3.9.1",
                "localhost/seatrial/kind/coredns:v1.99.0",
            ]
        );
    }
}
