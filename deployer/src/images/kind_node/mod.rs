//! The kind node image, assembled here from our own builds because no registry can give us
//! `kindest/node`: a Debian root with systemd, containerd 2, runc, the CNI plugins, crictl,
//! kubeadm, kubelet and kubectl of the pinned Kubernetes release, and the images `kubeadm
//! init` needs preloaded ([`components`], plus the pause image), with the files kind reads
//! ([`files`]). What kind expects of a node image — `/kind/version`, the manifests under
//! `/kind/manifests`, a CRI socket at `/run/containerd/containerd.sock`, systemd as PID 1, a
//! console line telling that the cgroups are ready — comes from kind's documentation and its
//! `create cluster` steps; the image, its scripts and its units are ours.
//!
//! The image is an OCI archive in the image cache, named
//! `localhost/seatrial/kind-node:<kubernetes version>-<12 hex of its inputs' sha256>`, which
//! `podman load` (or `docker load`) takes.

pub mod components;
pub mod files;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::oci::{write_archive, Layer, RunConfig};
use super::{cache_root, BuiltImage};
use crate::error::{Error, Result};
use crate::images::recipe::DEFAULT_MIRROR;
use crate::providers::binaries::{self, BuildEvent, ClusterBinaries};

/// The build recipes the node image carries (`providers::binaries::recipes`): the local
/// cluster's, and kubeadm.
pub fn node_recipes() -> Vec<&'static str> {
    crate::providers::binaries::recipes::LOCAL
        .into_iter()
        .chain(["kubeadm"])
        .collect()
}

/// The repository of node images built here.
pub const REPOSITORY: &str = "localhost/seatrial/kind-node";
/// The Debian suite of the node's root (that of this machine's kind).
pub const DEBIAN: &str = "bookworm";
/// The node root's Debian packages: systemd as PID 1 (with D-Bus, which the kubelet's
/// systemd cgroup driver talks to), iptables and iproute2 (kube-proxy's and the CNI
/// plugins' tools on the node), libseccomp2 (runc is linked against it), conntrack, kmod,
/// procps, ca-certificates.
pub const NODE_PACKAGES: [&str; 10] = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "iptables",
    "iproute2",
    "libseccomp2",
    "conntrack",
    "kmod",
    "procps",
    "ca-certificates",
];

/// The programs copied to `/usr/local/bin`, and those to `/opt/cni/bin`.
const NODE_PROGRAMS: [&str; 8] = [
    "kubeadm",
    "kubelet",
    "kubectl",
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "runc",
    "crictl",
];
const CNI_PROGRAMS: [&str; 4] = ["bridge", "host-local", "loopback", "portmap"];

/// A built node image and what it was built from.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeImage {
    /// The image and its archive.
    pub image: BuiltImage,
    /// The Kubernetes release it runs (`v1.37.2`).
    pub kubernetes_version: String,
    /// The preloaded component images (kubeadm's names under [`components::REPOSITORY`]).
    pub components: Vec<components::Component>,
    /// Wall-clock seconds the build took (0 when found in the cache).
    pub seconds: f64,
}

impl NodeImage {
    /// The etcd tag kubeadm must be told (`etcd.local.imageTag`).
    pub fn etcd_tag(&self) -> &str {
        self.tag_of("etcd")
    }

    /// The CoreDNS tag kubeadm must be told (`dns.imageTag`).
    pub fn coredns_tag(&self) -> &str {
        self.tag_of("coredns")
    }

    fn tag_of(&self, name: &str) -> &str {
        self.components
            .iter()
            .find(|component| component.name == name)
            .map_or("", |component| component.tag.as_str())
    }
}

/// Builds (or finds in the cache) the node image of the pin set at `pins_file`: ensures the
/// binaries of [`node_recipes`] (`on_event` hears each build) and the pause image, then the
/// component images and the Debian root. Needs root (mmdebstrap).
///
/// Errors: those of [`binaries::ensure`] and [`super::pause::ensure`];
/// [`Error::EnvironmentMissing`] when not root; [`Error::Build`] naming the step and file.
pub fn ensure(pins_file: &Path, on_event: &mut dyn FnMut(BuildEvent)) -> Result<NodeImage> {
    let binaries = binaries::ensure(pins_file, &node_recipes(), on_event)?;
    let version = binaries.kubernetes_version();
    let pause = super::pause::ensure(&version)?;
    let components = components::components(&binaries);
    let facts = files::NodeFacts {
        kubernetes_version: version.clone(),
        sandbox_image: pause.reference.clone(),
        cni_installer_image: components
            .iter()
            .find(|component| component.debian)
            .map(components::Component::reference)
            .unwrap_or_default(),
    };
    let node_files = files::node_files(&facts);
    let fingerprint = fingerprint(&binaries, &pause, &node_files);
    let reference = format!("{REPOSITORY}:{version}-{fingerprint}");
    let dir = cache_root().join(format!("kind-node-{version}-{fingerprint}"));
    let archive = dir.join("image.tar");
    let found = |seconds| NodeImage {
        image: BuiltImage {
            reference: reference.clone(),
            archive: archive.clone(),
            built: seconds > 0.0,
        },
        kubernetes_version: version.clone(),
        components: components.clone(),
        seconds,
    };
    if archive.is_file() {
        return Ok(found(0.0));
    }
    if !rustix::process::getuid().is_root() {
        return Err(Error::EnvironmentMissing {
            what: "building the kind node image needs root (mmdebstrap and chroot)".into(),
            hint: "run as root, or use the upstream node image (images.kind_node) on Docker".into(),
        });
    }
    host::packages::ensure_program("mmdebstrap", "mmdebstrap")?;
    let started = Instant::now();
    let fail = |message: String| Error::Build { message };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error: std::io::Error| Error::Build {
            message: format!("{}: {error}", path.display()),
        }
    };
    let staging = dir.join("staging");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io(&staging))?;
    let log = dir.join("build.log");
    stage_programs(&binaries, &staging)?;
    for file in &node_files {
        let path = staging.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::write(&path, &file.contents).map_err(io(&path))?;
        set_mode(&path, file.mode)?;
    }
    // The component images, then the pause image, preloaded at boot.
    let images_dir = staging.join(files::IMAGES_DIR);
    fs::create_dir_all(&images_dir).map_err(io(&images_dir))?;
    let proxy_root = dir.join("proxy-root.tar");
    components::debootstrap(
        DEBIAN,
        DEFAULT_MIRROR,
        &components::PROXY_PACKAGES,
        &[],
        &proxy_root,
        &log,
    )?;
    for component in &components {
        let out = images_dir.join(format!("{}.tar", component.name));
        components::write(component, &binaries, Some(&proxy_root), &out)?;
    }
    let _ = fs::remove_file(&proxy_root);
    fs::copy(&pause.archive, images_dir.join("pause.tar")).map_err(io(&pause.archive))?;
    let mut hooks = vec![format!("sync-in '{}' /", staging.display())];
    for unit in files::ENABLED_UNITS {
        hooks.push(format!(
            "mkdir -p \"$1/etc/systemd/system/multi-user.target.wants\" && ln -sf /etc/systemd/system/{unit} \"$1/etc/systemd/system/multi-user.target.wants/{unit}\""
        ));
    }
    // The volume kind mounts on /var hides nothing the node needs: the hostPath provisioner's
    // directory is made at run time (DirectoryOrCreate).
    let rootfs = dir.join("rootfs.tar");
    components::debootstrap(
        DEBIAN,
        DEFAULT_MIRROR,
        &NODE_PACKAGES,
        &hooks,
        &rootfs,
        &log,
    )?;
    let tar = fs::read(&rootfs).map_err(io(&rootfs))?;
    let layer = Layer::from_tar(&tar).map_err(|error| fail(format!("the node layer: {error}")))?;
    drop(tar);
    let partial = dir.join("image.tar.partial");
    write_archive(
        &partial,
        &reference,
        &[layer],
        &RunConfig {
            entrypoint: vec![files::ENTRYPOINT.to_owned(), "/sbin/init".to_owned()],
            env: vec!["container=podman".to_owned()],
            ..RunConfig::default()
        },
    )
    .map_err(io(&partial))?;
    fs::rename(&partial, &archive).map_err(io(&archive))?;
    let _ = fs::remove_file(&rootfs);
    let _ = fs::remove_dir_all(&staging);
    Ok(found(
        started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE),
    ))
}

/// Copies the node's programs into `staging` (`usr/local/bin`, `opt/cni/bin`).
fn stage_programs(binaries: &ClusterBinaries, staging: &Path) -> Result<()> {
    let places = NODE_PROGRAMS
        .iter()
        .map(|program| (*program, "usr/local/bin"))
        .chain(CNI_PROGRAMS.iter().map(|program| (*program, "opt/cni/bin")));
    for (program, dir) in places {
        let target_dir = staging.join(dir);
        fs::create_dir_all(&target_dir).map_err(|error| Error::Build {
            message: format!("{}: {error}", target_dir.display()),
        })?;
        let source = binaries.path(program);
        let target = target_dir.join(program);
        fs::copy(&source, &target).map_err(|error| Error::Build {
            message: format!("copying {} into the node image: {error}", source.display()),
        })?;
        set_mode(&target, 0o755)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|error| Error::Build {
        message: format!("{}: {error}", path.display()),
    })
}

/// 12 hex digits of the sha256 of what the image is made of: the names of the binaries' cache
/// directories (each named by its recipe's fingerprint), the pause image, the files, the packages.
fn fingerprint(
    binaries: &ClusterBinaries,
    pause: &BuiltImage,
    files: &[files::NodeFile],
) -> String {
    let mut text = String::new();
    // A recipe's cache directory is named `<recipe>-<version>-<its fingerprint>`: the name,
    // not where the cache is, says what was built.
    let dirs: Vec<PathBuf> = binaries.dirs();
    for dir in dirs {
        let recipe_dir = dir.parent().unwrap_or(&dir);
        text.push_str(&recipe_dir.file_name().unwrap_or_default().to_string_lossy());
        text.push('\n');
    }
    text.push_str(&pause.reference);
    text.push('\n');
    for file in files {
        text.push_str(&format!(
            "{} {:o}\n{}\n",
            file.path, file.mode, file.contents
        ));
    }
    text.push_str(&NODE_PACKAGES.join(","));
    text.push_str(&components::PROXY_PACKAGES.join(","));
    text.push_str(DEBIAN);
    let digest = crate::images::oci::sha256_digest(text.as_bytes());
    digest["sha256:".len().."sha256:".len() + 12].to_owned()
}
