//! What the clusters run, as Go build recipes: the module and version come from the pin set's
//! `[tools.*]` (`go_module`, `tag`), the programs, flags and patches from here.
//!
//! - `kubernetes` (`k8s.io/kubernetes`): kube-apiserver, kube-controller-manager,
//!   kube-scheduler, kubelet, kube-proxy, kubemark and kubectl, one release for every cluster.
//!   Version stamps as the upstream build sets them (`hack/lib/version.sh`:
//!   `k8s.io/component-base/version.gitVersion` and friends), so `kubectl version` and
//!   `/version` report the release, not `v0.0.0-master`.
//! - `etcd` (`go.etcd.io/etcd/server/v3`), `containerd` (`github.com/containerd/containerd/v2`:
//!   containerd, its runc shim, ctr), `runc` (cgo, with seccomp through Debian's libseccomp),
//!   `cni_plugins` (bridge, host-local, loopback, portmap), `crictl`, `coredns`.
//! - `traefik` (`github.com/traefik/traefik/v3`): the ingress controller, which an image
//!   recipe (`[recipes.traefik]`, `tools = ["traefik"]`) copies into its image.
//! - `helm` (`helm.sh/helm/v3`) and `helm4` (`helm.sh/helm/v4`): what renders chart stages.
//! - `chainsaw` (`github.com/kyverno/chainsaw`): the peer `cargo xtask bench readiness` runs.

use std::path::Path;

use super::go::{Patch, Program, Recipe, VersionInfo};
use crate::error::{Error, Result};
use crate::pins::load_go_module;

/// The recipes the hollow cluster needs (kubemark stands in for kubelets).
pub const HOLLOW: [&str; 2] = ["kubernetes", "etcd"];
/// The peers the benchmarks build and run beside seatrial.
pub const BENCH_PEERS: [&str; 1] = ["chainsaw"];
/// The recipes a local cluster with real nodes needs.
pub const LOCAL: [&str; 7] = [
    "kubernetes",
    "etcd",
    "containerd",
    "runc",
    "cni_plugins",
    "crictl",
    "coredns",
];

/// The recipe named `name`, at the module and version the pin set at `pins_file` gives.
///
/// Errors: [`Error::Invalid`] when `[tools.<name>]` lacks `go_module` or `tag`;
/// [`Error::Build`] for a name this module has no recipe for.
pub fn recipe(pins_file: &Path, name: &str) -> Result<Recipe> {
    // kubeadm is built from the same Kubernetes release as the other components, as a recipe
    // of its own so that the clusters that need no kubeadm (hollow, local) do not build it.
    let pin_name = if name == "kubeadm" {
        "kubernetes"
    } else {
        name
    };
    let pin = load_go_module(pins_file, pin_name)?;
    let mut recipe = Recipe {
        name: "",
        module: pin.module,
        version: pin.tag,
        programs: Vec::new(),
        cgo: false,
        tags: Vec::new(),
        version_stamps: |_| Vec::new(),
        sibling_version: |version| version.to_owned(),
        patches: Vec::new(),
    };
    let program = |package, binary| Program { package, binary };
    match name {
        "kubernetes" => {
            recipe.name = "kubernetes";
            recipe.programs = vec![
                program("cmd/kube-apiserver", "kube-apiserver"),
                program("cmd/kube-controller-manager", "kube-controller-manager"),
                program("cmd/kube-scheduler", "kube-scheduler"),
                program("cmd/kubelet", "kubelet"),
                program("cmd/kube-proxy", "kube-proxy"),
                program("cmd/kubemark", "kubemark"),
                program("cmd/kubectl", "kubectl"),
            ];
            recipe.version_stamps = kubernetes_stamps;
            // The staging modules are published as v0.<minor>.<patch> of the same release.
            recipe.sibling_version = |version| version.replacen("v1.", "v0.", 1);
            recipe.patches = vec![
                // The hollow kubelet binds its server to every interface; ours stay on loopback.
                Patch {
                    module: "k8s.io/kubernetes",
                    file: "pkg/kubemark/hollow_kubelet.go",
                    from: "c.Address = \"0.0.0.0\" /* bind address */",
                    to: "c.Address = \"127.0.0.1\" /* bind address: loopback (seatrial) */",
                },
                // A hollow node leaves the host's iptables alone: the kubelet code it runs would
                // add KUBE-FIREWALL (a DROP rule in INPUT and OUTPUT) and canary chains to the
                // machine, and recreate them every minute. The real kubelet is unchanged: only
                // processes started with the variable skip it (the hollow cluster sets it).
                Patch {
                    module: "k8s.io/kubernetes",
                    file: "pkg/kubelet/kubelet_network_linux.go",
                    from: "func (kl *Kubelet) initNetworkUtil(logger klog.Logger) {\n",
                    to: "func (kl *Kubelet) initNetworkUtil(logger klog.Logger) {\n\tif os.Getenv(\"SEATRIAL_HOLLOW_NODE\") != \"\" { // seatrial\n\t\treturn\n\t}\n",
                },
                Patch {
                    module: "k8s.io/kubernetes",
                    file: "pkg/kubelet/kubelet_network_linux.go",
                    from: "import (\n\t\"time\"\n",
                    to: "import (\n\t\"os\" // seatrial\n\t\"time\"\n",
                },
                // The in-tree hostPath provisioner (kube-controller-manager's
                // --enable-hostpath-provisioner) makes and deletes volumes under
                // $SEATRIAL_HOSTPATH_DIR (the local cluster's state dir) instead of /tmp, with
                // mode 0777 so that pods of any uid can write to them (hostPath volumes take no
                // fsGroup). Without the variable it behaves as upstream.
                Patch {
                    module: "k8s.io/kubernetes",
                    file: "pkg/volume/hostpath/host_path.go",
                    from: "\tfullpath := fmt.Sprintf(\"/tmp/%s/%s\", r.basePath, uuid.NewUUID())\n",
                    to: "\tfullpath := fmt.Sprintf(\"/tmp/%s/%s\", r.basePath, uuid.NewUUID())\n\tseatrialDir := os.Getenv(\"SEATRIAL_HOSTPATH_DIR\") // seatrial\n\tif seatrialDir != \"\" {\n\t\tfullpath = seatrialDir + \"/\" + string(uuid.NewUUID())\n\t}\n",
                },
                Patch {
                    module: "k8s.io/kubernetes",
                    file: "pkg/volume/hostpath/host_path.go",
                    from: "\tif err := os.MkdirAll(pv.Spec.HostPath.Path, 0750); err != nil {\n\t\treturn nil, err\n\t}\n",
                    to: "\tif err := os.MkdirAll(pv.Spec.HostPath.Path, 0750); err != nil {\n\t\treturn nil, err\n\t}\n\tif seatrialDir != \"\" { // seatrial\n\t\tif err := os.Chmod(pv.Spec.HostPath.Path, 0777); err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t}\n",
                },
                Patch {
                    module: "k8s.io/kubernetes",
                    file: "pkg/volume/hostpath/host_path.go",
                    from: "\tregexp := regexp.MustCompile(\"/tmp/.+\")\n",
                    to: "\tpattern := \"/tmp/.+\"\n\tif dir := os.Getenv(\"SEATRIAL_HOSTPATH_DIR\"); dir != \"\" { // seatrial\n\t\tpattern = \"^\" + regexp.QuoteMeta(dir) + \"/.+\"\n\t}\n\tregexp := regexp.MustCompile(pattern)\n",
                },
                // Its root directory goes under $TMPDIR (the cluster's state dir), not /tmp.
                Patch {
                    module: "k8s.io/kubernetes",
                    file: "test/utils/tmpdir.go",
                    from: "baseDir = \"/tmp\"",
                    to: "baseDir = os.TempDir() // seatrial: honour TMPDIR",
                },
            ];
        }
        // What the kind node image (`crate::images::kind_node`) runs `kubeadm init` with;
        // stamped like the other Kubernetes programs, so `kubeadm version` names the release.
        "kubeadm" => {
            recipe.name = "kubeadm";
            recipe.programs = vec![program("cmd/kubeadm", "kubeadm")];
            recipe.version_stamps = kubernetes_stamps;
            recipe.sibling_version = |version| version.replacen("v1.", "v0.", 1);
        }
        // The kind provider's `kind` on podman (its version is in its source, no stamps).
        "kind" => {
            recipe.name = "kind";
            recipe.programs = vec![program("", "kind")];
        }
        "etcd" => {
            recipe.name = "etcd";
            recipe.programs = vec![program("", "etcd")];
        }
        "containerd" => {
            recipe.name = "containerd";
            recipe.programs = vec![
                program("cmd/containerd", "containerd"),
                program("cmd/containerd-shim-runc-v2", "containerd-shim-runc-v2"),
                program("cmd/ctr", "ctr"),
            ];
            // Snapshotters that need cgo and kernel headers; the node uses overlayfs.
            recipe.tags = vec!["no_btrfs", "no_devmapper", "no_zfs"];
            recipe.version_stamps = |info| {
                let package = "github.com/containerd/containerd/v2/version";
                vec![
                    (format!("{package}.Version"), info.version.clone()),
                    (format!("{package}.Revision"), commit(info)),
                ]
            };
        }
        "runc" => {
            recipe.name = "runc";
            recipe.programs = vec![program("", "runc")];
            recipe.cgo = true;
            recipe.tags = vec!["seccomp", "urfave_cli_no_docs"];
            recipe.version_stamps = |info| {
                vec![
                    (
                        "main.version".to_owned(),
                        info.version.trim_start_matches('v').to_owned(),
                    ),
                    ("main.gitCommit".to_owned(), commit(info)),
                ]
            };
        }
        "cni_plugins" => {
            recipe.name = "cni_plugins";
            recipe.programs = vec![
                program("plugins/main/bridge", "bridge"),
                program("plugins/main/loopback", "loopback"),
                program("plugins/ipam/host-local", "host-local"),
                program("plugins/meta/portmap", "portmap"),
            ];
        }
        "crictl" => {
            recipe.name = "crictl";
            recipe.programs = vec![program("cmd/crictl", "crictl")];
            recipe.version_stamps = |info| {
                vec![(
                    "sigs.k8s.io/cri-tools/pkg/version.Version".to_owned(),
                    info.version.clone(),
                )]
            };
        }
        "chainsaw" => {
            // The peer of `cargo xtask bench readiness`; it reads its version from the
            // build info the module build records, so it needs no stamps.
            recipe.name = "chainsaw";
            recipe.programs = vec![program("", "chainsaw")];
            recipe.patches = vec![
                // Chainsaw runs its tests through `testing.MainStart`, whose `testDeps`
                // interface gained `ModulePath() string` in a Go release after this one was
                // cut; without it the package does not compile with today's Go.
                Patch {
                    module: "github.com/kyverno/chainsaw",
                    file: "pkg/runner/internal/test_deps.go",
                    from: "func (*TestDeps) ImportPath() string {",
                    to: "func (*TestDeps) ModulePath() string { return \"\" } // seatrial: Go's testDeps\n\nfunc (*TestDeps) ImportPath() string {",
                },
            ];
        }
        "coredns" => {
            recipe.name = "coredns";
            recipe.programs = vec![program("", "coredns")];
            recipe.version_stamps = |info| {
                vec![(
                    "github.com/coredns/coredns/coremain.GitCommit".to_owned(),
                    commit(info),
                )]
            };
        }
        "traefik" => {
            // The ingress controller's image (`[recipes.traefik]`) carries this binary. The
            // web UI is left out of the build's concerns: its embedded `webui/static` is
            // what the module holds (the dashboard is not exposed by the platform anyway).
            recipe.name = "traefik";
            recipe.programs = vec![program("cmd/traefik", "traefik")];
            recipe.version_stamps = |info| {
                let package = "github.com/traefik/traefik/v3/pkg/version";
                vec![
                    (format!("{package}.Version"), info.version.clone()),
                    (format!("{package}.BuildDate"), info.time.clone()),
                ]
            };
        }
        // Helm renders chart stages (`deployer::charts`). Both majors build the same program
        // (`cmd/helm`); Helm 4's binary is named `helm4` so both can sit on one PATH. The
        // version stamps are the upstream Makefile's (`internal/version.version`, `gitCommit`,
        // `gitTreeState`), so `helm version` reports the pinned release.
        "helm" | "helm4" => {
            recipe.name = if name == "helm" { "helm" } else { "helm4" };
            recipe.programs = vec![program("cmd/helm", recipe.name)];
            recipe.version_stamps = if name == "helm" {
                |info| helm_stamps("helm.sh/helm/v3", info)
            } else {
                |info| helm_stamps("helm.sh/helm/v4", info)
            };
        }
        other => {
            return Err(Error::Build {
                message: format!("no build recipe for `tools.{other}`"),
            })
        }
    }
    Ok(recipe)
}

/// Debian packages a recipe's build needs besides Go (runc's cgo build: gcc and libseccomp).
pub fn build_packages(name: &str) -> &'static [&'static str] {
    match name {
        "runc" => &["gcc", "libc6-dev", "libseccomp-dev", "pkg-config"],
        _ => &[],
    }
}

/// The upstream Makefile's `-X` stamps of `<module>/internal/version`.
fn helm_stamps(module: &str, info: &VersionInfo) -> Vec<(String, String)> {
    let package = format!("{module}/internal/version");
    vec![
        (format!("{package}.version"), info.version.clone()),
        (format!("{package}.gitCommit"), commit(info)),
        (format!("{package}.gitTreeState"), "clean".to_owned()),
    ]
}

fn commit(info: &VersionInfo) -> String {
    info.origin
        .as_ref()
        .map(|origin| origin.hash.clone())
        .filter(|hash| !hash.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The version stamps of `hack/lib/version.sh`, for component-base (servers, kubelet) and
/// client-go (kubectl's client version).
fn kubernetes_stamps(info: &VersionInfo) -> Vec<(String, String)> {
    let version = info.version.clone();
    let mut numbers = version.trim_start_matches('v').split('.');
    let major = numbers.next().unwrap_or("1").to_owned();
    let minor = numbers.next().unwrap_or("0").to_owned();
    let build_date = if info.time.is_empty() {
        "1970-01-01T00:00:00Z".to_owned()
    } else {
        info.time.clone()
    };
    let mut stamps = Vec::new();
    for package in [
        "k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
    ] {
        for (field, value) in [
            ("gitVersion", version.clone()),
            ("gitMajor", major.clone()),
            ("gitMinor", minor.clone()),
            ("gitCommit", commit(info)),
            ("gitTreeState", "clean".to_owned()),
            ("buildDate", build_date.clone()),
        ] {
            stamps.push((format!("{package}.{field}"), value));
        }
    }
    stamps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cluster_recipe_is_pinned_in_the_shipped_pin_set() {
        let pins = crate::pins::default_pins_file();
        for name in LOCAL {
            let recipe = recipe(&pins, name).unwrap();
            assert_eq!(recipe.name, name);
            assert!(
                recipe.version.starts_with('v'),
                "{name}: {}",
                recipe.version
            );
            assert!(!recipe.programs.is_empty());
        }
        // kind's node image adds kubeadm, of the same Kubernetes release; kind itself is a
        // Go module too.
        let kubeadm = recipe(&pins, "kubeadm").unwrap();
        assert_eq!(
            kubeadm.version,
            recipe(&pins, "kubernetes").unwrap().version
        );
        assert_eq!(kubeadm.binaries().collect::<Vec<_>>(), ["kubeadm"]);
        assert_eq!(recipe(&pins, "kind").unwrap().module, "sigs.k8s.io/kind");
        // A tool released on GitHub has no Go recipe.
        let error = recipe(&pins, "kubectl").unwrap_err().to_string();
        assert!(error.contains("tools.kubectl.go_module"), "{error}");
    }

    #[test]
    fn kubernetes_is_stamped_like_the_upstream_build() {
        let stamps = kubernetes_stamps(&VersionInfo {
            version: "v1.99.1".into(),
            time: "2026-11-12T10:00:00Z".into(),
            origin: None,
        });
        let get = |key: &str| {
            stamps
                .iter()
                .find(|(symbol, _)| symbol == key)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(
            get("k8s.io/component-base/version.gitVersion"),
            Some("v1.99.1")
        );
        assert_eq!(get("k8s.io/component-base/version.gitMinor"), Some("99"));
        assert_eq!(get("k8s.io/client-go/pkg/version.gitMajor"), Some("1"));
        assert_eq!(
            get("k8s.io/component-base/version.buildDate"),
            Some("2026-11-12T10:00:00Z")
        );
    }
}
