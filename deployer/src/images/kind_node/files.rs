//! The files of the kind node image, as text: what kind expects of a node (from kind's
//! documentation and its `kind create cluster` steps — `/kind/version`, the manifests under
//! `/kind/manifests/`, a containerd whose CRI socket is `/run/containerd/containerd.sock`, a
//! kubelet unit `kubeadm init` can start, systemd as PID 1) and what this machine needs
//! (cgroup v1 controllers, no `CAP_SYS_RESOURCE`).
//!
//! Every path here is inside the image. The scripts and units are ours.

use serde_json::json;

/// Where the preloaded image archives go; [`preload_script`] imports them.
pub const IMAGES_DIR: &str = "kind/images";
/// The node's entrypoint (runs before systemd).
pub const ENTRYPOINT: &str = "/usr/local/bin/seatrial-node-entrypoint";
/// Where the hostPath provisioner makes volumes on the node (kube-controller-manager gets it
/// mounted and in `SEATRIAL_HOSTPATH_DIR`: see `providers::kind::cluster_config`).
pub const VOLUMES_DIR: &str = "/var/local-volumes";
/// The default StorageClass the node image installs (kind's default class name).
pub const STORAGE_CLASS: &str = "standard";

/// A file of the node image: its path (no leading `/`), contents and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    /// The path inside the image, without the leading `/`.
    pub path: String,
    /// The contents.
    pub contents: String,
    /// Permission bits.
    pub mode: u32,
}

impl NodeFile {
    fn new(path: &str, contents: String, mode: u32) -> NodeFile {
        NodeFile {
            path: path.to_owned(),
            contents,
            mode,
        }
    }
}

/// What the files depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// The Kubernetes release (`v1.37.2`), written to `/kind/version`.
    pub kubernetes_version: String,
    /// The sandbox image containerd pins (`localhost/seatrial/pause:v1.37.2`).
    pub sandbox_image: String,
    /// The image the default CNI's installer runs in (it needs `sh` and `cp`).
    pub cni_installer_image: String,
}

/// Every file the node image carries besides the binaries and image archives.
pub fn node_files(facts: &NodeFacts) -> Vec<NodeFile> {
    vec![
        NodeFile::new(
            "kind/version",
            format!("{}\n", facts.kubernetes_version),
            0o644,
        ),
        NodeFile::new(&ENTRYPOINT[1..], entrypoint(), 0o755),
        NodeFile::new(
            "usr/local/bin/seatrial-preload-images",
            preload_script(),
            0o755,
        ),
        NodeFile::new(
            "etc/containerd/config.toml",
            containerd_config(&facts.sandbox_image),
            0o644,
        ),
        NodeFile::new(
            "etc/crictl.yaml",
            "runtime-endpoint: unix:///run/containerd/containerd.sock\nimage-endpoint: unix:///run/containerd/containerd.sock\n".to_owned(),
            0o644,
        ),
        NodeFile::new(
            "etc/systemd/system/containerd.service",
            CONTAINERD_UNIT.to_owned(),
            0o644,
        ),
        NodeFile::new(
            "etc/systemd/system/seatrial-preload-images.service",
            PRELOAD_UNIT.to_owned(),
            0o644,
        ),
        NodeFile::new(
            "usr/local/bin/seatrial-guard-service-subnet",
            guard_service_subnet_script(),
            0o755,
        ),
        NodeFile::new(
            "etc/systemd/system/seatrial-guard-service-subnet.service",
            GUARD_UNIT.to_owned(),
            0o644,
        ),
        NodeFile::new(
            "etc/systemd/system/kubelet.service",
            KUBELET_UNIT.to_owned(),
            0o644,
        ),
        NodeFile::new(
            "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            KUBEADM_DROP_IN.to_owned(),
            0o644,
        ),
        NodeFile::new(
            "etc/sysctl.d/10-seatrial-node.conf",
            "net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n".to_owned(),
            0o644,
        ),
        NodeFile::new(
            "kind/manifests/default-cni.yaml",
            default_cni(&facts.cni_installer_image, &facts.sandbox_image),
            0o644,
        ),
        NodeFile::new(
            "kind/manifests/default-storage.yaml",
            default_storage(),
            0o644,
        ),
    ]
}

/// The units enabled at boot (`multi-user.target.wants`).
pub const ENABLED_UNITS: [&str; 4] = [
    "seatrial-guard-service-subnet.service",
    "containerd.service",
    "seatrial-preload-images.service",
    "kubelet.service",
];

/// The entrypoint: shared mount propagation (kubelet's volume mounts must reach pods), the
/// `/kubelet` and `/kubelet.slice` cgroups made in every cgroup v1 controller and bind-mounted
/// onto themselves (so systemd does not remove them before the kubelet uses them as its
/// `cgroupRoot`), cpuset's cpus and mems copied into them (an empty cpuset refuses tasks),
/// then `exec` of its arguments (`/sbin/init`).
///
/// It prints `detected cgroup v1` (or v2) once the cgroups are ready: kind's podman and docker
/// providers wait for that line (or systemd's "Reached target … Multi-User System") on the
/// node's console before they run anything in it.
pub fn entrypoint() -> String {
    r#"#!/bin/sh
# seatrial's kind node entrypoint: prepares mounts and cgroups for systemd and the kubelet,
# then runs its arguments (/sbin/init) as PID 1.
set -eu

say() { echo "seatrial-node: $*"; }

mount --make-rshared /

# An empty machine-id makes systemd generate one at boot: every node gets its own.
: > /etc/machine-id

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/kubelet /sys/fs/cgroup/kubelet.slice
  say "detected cgroup v2: /kubelet made"
else
  for controller in /sys/fs/cgroup/*; do
    [ -d "$controller" ] && [ ! -L "$controller" ] || continue
    case "$controller" in */unified) continue ;; esac
    for root in kubelet kubelet.slice; do
      mkdir -p "$controller/$root"
      if [ -f "$controller/cpuset.cpus" ]; then
        cat "$controller/cpuset.cpus" > "$controller/$root/cpuset.cpus"
        cat "$controller/cpuset.mems" > "$controller/$root/cpuset.mems"
      fi
      mount --bind "$controller/$root" "$controller/$root"
    done
  done
  say "detected cgroup v1: /kubelet and /kubelet.slice made in every controller"
fi

exec "$@"
"#
    .to_owned()
}

/// Imports every archive under `/kind/images` into containerd's `k8s.io` namespace (where the
/// CRI looks), once containerd answers; an image already there is imported again harmlessly.
pub fn preload_script() -> String {
    r#"#!/bin/sh
# Imports the images the node image carries into containerd before the kubelet starts:
# no registry can be reached, so kubeadm's static pods and DaemonSets use these.
set -eu
tries=0
until ctr --namespace=k8s.io version >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 120 ]; then
    echo "containerd did not answer within 60 s" >&2
    exit 1
  fi
  sleep 0.5
done
for archive in /kind/images/*.tar; do
  [ -f "$archive" ] || continue
  ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs "$archive"
done
"#
    .to_owned()
}

/// containerd's configuration (version 3, containerd 2.x): overlayfs (the snapshotter
/// `kind load` reads from `io.containerd.cri.v1.images`), the locally built sandbox image
/// pinned, runc with the systemd cgroup driver (kind's kubelet uses `cgroupDriver: systemd`),
/// `restrict_oom_score_adj` (the machine lacks `CAP_SYS_RESOURCE`, so a container cannot
/// lower its OOM score), CNI in `/opt/cni/bin` and `/etc/cni/net.d`.
pub fn containerd_config(sandbox_image: &str) -> String {
    format!(
        r#"# Generated by seatrial for its kind node image.
version = 3

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '{sandbox_image}'

  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    enable_criu = false
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '/usr/local/bin/runc'
          SystemdCgroup = true
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/opt/cni/bin']
      conf_dir = '/etc/cni/net.d'
      max_conf_num = 1

  [plugins.'io.containerd.nri.v1.nri']
    disable = true
"#
    )
}

const CONTAINERD_UNIT: &str = r#"[Unit]
Description=containerd, the node's container runtime
After=network.target local-fs.target

[Service]
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"#;

/// The Service subnet kind gives a cluster whose config sets none (`networking.serviceSubnet`;
/// kind's `pkg/apis/config/v1alpha4/default.go`): seatrial's generated config sets none.
pub const KIND_SERVICE_SUBNET: &str = "10.96.0.0/16";

/// Refuses connections to the Service subnet that kube-proxy has not translated: iptables
/// `REJECT` (ICMP port unreachable, so a TCP client fails at once with "connection refused",
/// as for a Service without endpoints) for packets to
/// [`KIND_SERVICE_SUBNET`] whose connection is not DNAT'ed, forwarded (from pods) or sent by
/// the node itself.
///
/// Without it such a packet leaves by the node's default route. A ClusterIP that kube-proxy
/// has not programmed yet (a Service created a moment before) then reaches whatever answers
/// beyond the node; on a machine whose egress proxy answers every connection (404, empty
/// body), a keep-alive client (configurable-http-proxy's connection to the hub's Service)
/// keeps that connection, and the hub's pages are 404s for minutes. A ClusterIP kube-proxy
/// knows is DNAT'ed before routing (kube-proxy's `KUBE-SERVICES` in the `nat` table), so the
/// rule never touches it.
pub fn guard_service_subnet_script() -> String {
    format!(
        r#"#!/bin/sh
# seatrial: no untranslated packet to the Service subnet leaves the node (see the unit).
set -eu
for chain in FORWARD OUTPUT; do
  rule="-d {KIND_SERVICE_SUBNET} -m conntrack ! --ctstate DNAT -m comment --comment seatrial-untranslated-service-ip -j REJECT"
  iptables -w -C "$chain" $rule 2>/dev/null || iptables -w -I "$chain" $rule
done
echo "seatrial-node: untranslated connections to {KIND_SERVICE_SUBNET} are refused"
"#
    )
}

const GUARD_UNIT: &str = r#"[Unit]
Description=Refuse connections to the Service subnet that kube-proxy has not translated
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/bin/seatrial-guard-service-subnet

[Install]
WantedBy=multi-user.target
"#;

const PRELOAD_UNIT: &str = r#"[Unit]
Description=Import the node image's preloaded images into containerd
Requires=containerd.service
After=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/bin/seatrial-preload-images

[Install]
WantedBy=multi-user.target
"#;

// Until `kubeadm init` or `join` writes its configuration the kubelet exits at once; systemd
// restarts it, and kubeadm restarts it again once the files are there.
const KUBELET_UNIT: &str = r#"[Unit]
Description=kubelet, the Kubernetes node agent
Wants=containerd.service
After=containerd.service seatrial-preload-images.service

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
RestartSec=1
StartLimitInterval=0

[Install]
WantedBy=multi-user.target
"#;

// The variables kubeadm's kubelet-start phase writes (`/var/lib/kubelet/kubeadm-flags.env`)
// and the files it writes them next to, as kubeadm's documentation of its kubelet drop-in
// names them ("Configuring each kubelet in your cluster using kubeadm").
const KUBEADM_DROP_IN: &str = r#"[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"#;

/// The pod network kind installs (`/kind/manifests/default-cni.yaml`, which kind templates
/// when it holds the phrase "would you kindly template this file", giving `.PodSubnet`): a
/// bridge with host-local addresses from the whole pod subnet, written into
/// `/etc/cni/net.d` by a DaemonSet's init container. One node only: every node would hand
/// out addresses from the same range (the provider refuses workers with this image).
pub fn default_cni(installer_image: &str, sandbox_image: &str) -> String {
    let conflist = json!({
        "cniVersion": "1.0.0",
        "name": "seatrial-bridge",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "seatrial-pods",
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "{{ .PodSubnet }}"}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
        ],
    });
    let conflist = serde_json::to_string_pretty(&conflist).expect("JSON serializes");
    let indented: String = conflist
        .lines()
        .map(|line| format!("    {line}\n"))
        .collect();
    format!(
        r#"# seatrial's pod network for its kind node image (kind: would you kindly template this file).
apiVersion: v1
kind: ConfigMap
metadata:
  name: seatrial-bridge-cni
  namespace: kube-system
data:
  10-seatrial-bridge.conflist: |
{indented}---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: seatrial-bridge-cni
  namespace: kube-system
  labels:
    app: seatrial-bridge-cni
spec:
  selector:
    matchLabels:
      app: seatrial-bridge-cni
  template:
    metadata:
      labels:
        app: seatrial-bridge-cni
    spec:
      hostNetwork: true
      priorityClassName: system-node-critical
      tolerations:
        - operator: Exists
      initContainers:
        - name: install
          image: {installer_image}
          imagePullPolicy: Never
          command: ["cp", "/config/10-seatrial-bridge.conflist", "/host/etc/cni/net.d/10-seatrial-bridge.conflist"]
          volumeMounts:
            - name: config
              mountPath: /config
            - name: cni-conf
              mountPath: /host/etc/cni/net.d
      containers:
        - name: installed
          image: {sandbox_image}
          imagePullPolicy: Never
          resources:
            requests:
              cpu: 1m
              memory: 4Mi
      volumes:
        - name: config
          configMap:
            name: seatrial-bridge-cni
        - name: cni-conf
          hostPath:
            path: /etc/cni/net.d
            type: DirectoryOrCreate
"#
    )
}

/// The default StorageClass kind installs (`/kind/manifests/default-storage.yaml`): the
/// in-tree hostPath provisioner of kube-controller-manager (`--enable-hostpath-provisioner`,
/// which kind's kubeadm configuration sets), making volumes under [`VOLUMES_DIR`] on the node.
/// The default-class annotation is the one the DefaultStorageClass admission plugin reads.
pub fn default_storage() -> String {
    format!(
        r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {STORAGE_CLASS}
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> NodeFacts {
        NodeFacts {
            kubernetes_version: "v9.9.1".into(),
            sandbox_image: "localhost/seatrial/pause:v9.9.1".into(),
            cni_installer_image: "localhost/seatrial/kind/kube-proxy:v9.9.1".into(),
        }
    }

    #[test]
    fn the_version_file_is_one_line_and_kind_can_template_the_cni() {
        let files = node_files(&facts());
        let file = |path: &str| {
            files
                .iter()
                .find(|file| file.path == path)
                .unwrap_or_else(|| panic!("no {path}"))
        };
        // kind reads /kind/version and refuses anything but exactly one line.
        assert_eq!(file("kind/version").contents.lines().count(), 1);
        let cni = &file("kind/manifests/default-cni.yaml").contents;
        assert!(cni.contains("would you kindly template this file"));
        assert!(cni.contains(r#""subnet": "{{ .PodSubnet }}""#), "{cni}");
        for document in cni.split("\n---\n") {
            let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(document).unwrap();
            assert!(parsed["kind"].is_string(), "{document}");
        }
        let conflist: serde_json::Value = serde_json::from_str(
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(cni.split("\n---\n").next().unwrap())
                .unwrap()["data"]["10-seatrial-bridge.conflist"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(conflist["plugins"][0]["type"], "bridge");
        assert_eq!(file(&ENTRYPOINT[1..]).mode, 0o755);
    }

    #[test]
    fn untranslated_service_traffic_is_refused_before_the_kubelet_starts() {
        let script = guard_service_subnet_script();
        for chain in ["FORWARD", "OUTPUT"] {
            assert!(script.contains(chain), "{script}");
        }
        assert!(
            script.contains("-d 10.96.0.0/16 -m conntrack ! --ctstate DNAT"),
            "{script}"
        );
        assert!(script.contains("-j REJECT"), "{script}");
        // Inserted once, however often the unit runs.
        assert!(script.contains("iptables -w -C"), "{script}");
        assert!(GUARD_UNIT.contains("Before=kubelet.service"));
        assert!(ENABLED_UNITS.contains(&"seatrial-guard-service-subnet.service"));
        let files = node_files(&facts());
        let guard = files
            .iter()
            .find(|file| file.path == "usr/local/bin/seatrial-guard-service-subnet")
            .unwrap();
        assert_eq!(guard.mode, 0o755);
    }

    #[test]
    fn containerd_pins_the_sandbox_and_names_the_snapshotter_where_kind_reads_it() {
        let parsed: toml::Value = toml::from_str(&containerd_config("localhost/p:1")).unwrap();
        assert_eq!(parsed["version"].as_integer(), Some(3));
        let images = &parsed["plugins"]["io.containerd.cri.v1.images"];
        assert_eq!(images["snapshotter"].as_str(), Some("overlayfs"));
        assert_eq!(
            images["pinned_images"]["sandbox"].as_str(),
            Some("localhost/p:1")
        );
        let runtime = &parsed["plugins"]["io.containerd.cri.v1.runtime"];
        assert_eq!(runtime["restrict_oom_score_adj"].as_bool(), Some(true));
        assert_eq!(
            runtime["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"].as_bool(),
            Some(true)
        );
    }

    #[test]
    fn the_entrypoint_prints_the_line_kind_waits_for_and_runs_init() {
        let script = entrypoint();
        assert!(script.contains("detected cgroup v1"));
        assert!(script.trim_end().ends_with("exec \"$@\""));
        let storage: serde_yaml_ng::Value = serde_yaml_ng::from_str(&default_storage()).unwrap();
        assert_eq!(storage["provisioner"], "kubernetes.io/host-path");
    }
}
