//! The kind `Cluster` configuration generated from the user's config
//! (<https://kind.sigs.k8s.io/docs/user/configuration/>, API `kind.x-k8s.io/v1alpha4`).
//!
//! One control-plane node and `workers` workers; the control plane maps the ingress stage's
//! NodePorts to the host (`extraPortMappings`), so the ingress is reachable at
//! `host_ingress.address` without MetalLB; node labels name the platform's node groups.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{HostIngress, KindSettings};

/// The label prefix of node groups: `node-group.seatrial.dev/<group>: "true"`.
pub const NODE_GROUP_LABEL: &str = "node-group.seatrial.dev";

/// The ingress stage's NodePorts (its `http_node_port` / `https_node_port` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePorts {
    /// NodePort of HTTP.
    pub http: u16,
    /// NodePort of HTTPS.
    pub https: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cluster {
    kind: &'static str,
    api_version: &'static str,
    name: String,
    nodes: Vec<Node>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kubeadm_config_patches: Vec<String>,
}

/// What kubeadm must be told to run the node image built here
/// ([`crate::images::kind_node`]): where its preloaded images are and their tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltNode {
    /// kubeadm's `imageRepository` (`localhost/seatrial/kind`).
    pub repository: String,
    /// `etcd.local.imageTag`: the etcd pin.
    pub etcd_tag: String,
    /// `dns.imageTag`: the CoreDNS pin.
    pub coredns_tag: String,
}

impl BuiltNode {
    /// The `kubeadmConfigPatches` (merged by kind into the kubeadm configuration it
    /// generates; kubeadm API `v1beta4`): the image repository and tags of the preloaded
    /// images; kube-controller-manager's hostPath provisioner making volumes under the node's
    /// `/var` (`SEATRIAL_HOSTPATH_DIR`, read by the patched provisioner, and that directory
    /// mounted into its pod, so the volumes are on the node and not in the pod); and
    /// `failCgroupV1: false`, without which a kubelet since 1.35 refuses cgroup v1 hosts
    /// (KEP-5573), as this machine is.
    pub fn kubeadm_patches(&self) -> Vec<String> {
        let volumes = crate::images::kind_node::files::VOLUMES_DIR;
        vec![
            format!(
                "kind: ClusterConfiguration\nimageRepository: {repository}\netcd:\n  local:\n    imageTag: {etcd}\ndns:\n  imageTag: {coredns}\ncontrollerManager:\n  extraEnvs:\n    - name: SEATRIAL_HOSTPATH_DIR\n      value: {volumes}\n  extraVolumes:\n    - name: seatrial-volumes\n      hostPath: {volumes}\n      mountPath: {volumes}\n      pathType: DirectoryOrCreate\n",
                repository = self.repository,
                etcd = self.etcd_tag,
                coredns = self.coredns_tag,
            ),
            "kind: KubeletConfiguration\nfailCgroupV1: false\n".to_owned(),
        ]
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    role: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extra_port_mappings: Vec<PortMapping>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PortMapping {
    container_port: u16,
    host_port: u16,
    listen_address: String,
    protocol: &'static str,
}

fn labels(groups: &[&String]) -> BTreeMap<String, String> {
    groups
        .iter()
        .map(|group| (format!("{NODE_GROUP_LABEL}/{group}"), "true".to_owned()))
        .collect()
}

/// The kind cluster configuration (YAML) for `name`; with `built`, the kubeadm patches the
/// node image built here needs.
pub fn cluster_config(
    name: &str,
    settings: &KindSettings,
    host: &HostIngress,
    ports: NodePorts,
    built: Option<&BuiltNode>,
) -> String {
    let all: Vec<&String> = settings.node_groups.iter().collect();
    let mut nodes = vec![Node {
        role: "control-plane",
        labels: if settings.workers == 0 {
            labels(&all)
        } else {
            BTreeMap::new()
        },
        extra_port_mappings: vec![
            PortMapping {
                container_port: ports.http,
                host_port: host.http_port,
                listen_address: host.address.to_string(),
                protocol: "TCP",
            },
            PortMapping {
                container_port: ports.https,
                host_port: host.https_port,
                listen_address: host.address.to_string(),
                protocol: "TCP",
            },
        ],
    }];
    for worker in 0..settings.workers as usize {
        let group = &settings.node_groups[worker % settings.node_groups.len()];
        nodes.push(Node {
            role: "worker",
            labels: labels(&[group]),
            extra_port_mappings: Vec::new(),
        });
    }
    let cluster = Cluster {
        kind: "Cluster",
        api_version: "kind.x-k8s.io/v1alpha4",
        name: name.to_owned(),
        nodes,
        kubeadm_config_patches: built.map(BuiltNode::kubeadm_patches).unwrap_or_default(),
    };
    format!(
        "# Generated by seatrial from the user config; see docs/providers.md.\n{}",
        serde_yaml_ng::to_string(&cluster).expect("plain data serializes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: NodePorts = NodePorts {
        http: 30080,
        https: 30443,
    };

    #[test]
    fn one_node_serves_every_group_and_maps_the_ingress_ports() {
        let text = cluster_config(
            "seatrial",
            &KindSettings::default(),
            &HostIngress::default(),
            PORTS,
            None,
        );
        assert_eq!(text, include_str!("snapshots/single-node.yaml"));
    }

    #[test]
    fn workers_take_the_groups_round_robin_and_the_address_is_configurable() {
        let settings = KindSettings {
            workers: 4,
            ..KindSettings::default()
        };
        let host = HostIngress {
            address: "127.0.0.2".parse().unwrap(),
            http_port: 8080,
            https_port: 8443,
        };
        let text = cluster_config("ci", &settings, &host, PORTS, None);
        assert_eq!(text, include_str!("snapshots/four-workers.yaml"));
    }

    #[test]
    fn the_built_node_image_tells_kubeadm_where_its_images_are_and_keeps_cgroup_v1() {
        let built = BuiltNode {
            repository: "localhost/seatrial/kind".into(),
            etcd_tag: "v3.9.1".into(),
            coredns_tag: "v1.99.0".into(),
        };
        let text = cluster_config(
            "seatrial",
            &KindSettings::default(),
            &HostIngress::default(),
            PORTS,
            Some(&built),
        );
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let patches = parsed["kubeadmConfigPatches"].as_sequence().unwrap();
        let cluster: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(patches[0].as_str().unwrap()).unwrap();
        assert_eq!(cluster["imageRepository"], "localhost/seatrial/kind");
        assert_eq!(cluster["etcd"]["local"]["imageTag"], "v3.9.1");
        assert_eq!(cluster["dns"]["imageTag"], "v1.99.0");
        assert_eq!(
            cluster["controllerManager"]["extraEnvs"][0]["value"],
            cluster["controllerManager"]["extraVolumes"][0]["hostPath"]
        );
        let kubelet: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(patches[1].as_str().unwrap()).unwrap();
        assert_eq!(kubelet["failCgroupV1"], false);
    }
}
