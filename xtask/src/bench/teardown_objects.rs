//! The objects `bench teardown` creates: N objects across 28 resource types (21 namespaced,
//! spread over the benchmark's namespaces; 6 cluster-scoped; the Namespaces themselves), two
//! of them custom resources (one namespaced, one cluster-scoped) of benchmark CRDs.
//!
//! Every object is inert: workloads have zero replicas, are suspended or select no node,
//! Services are headless, so nothing but the objects themselves has to be removed (the
//! controllers' own dependents, ReplicaSets, ControllerRevisions, EndpointSlices, go by
//! garbage collection, as in a real teardown).

use serde_json::{json, Value};

/// The benchmark CRDs' group.
pub const GROUP: &str = "teardown.bench.seatrial.dev";
/// The namespaced custom resource's CRD name.
pub const ITEM_CRD: &str = "benchitems.teardown.bench.seatrial.dev";
/// The cluster-scoped custom resource's CRD name.
pub const CLUSTER_ITEM_CRD: &str = "benchclusteritems.teardown.bench.seatrial.dev";

/// A namespaced kind: (apiVersion, kind, plural, spec and other top-level fields).
type Shape = (
    &'static str,
    &'static str,
    &'static str,
    fn(&str, &str) -> Value,
);

/// The namespaced types, each as a function of (namespace, name) giving the fields beside
/// `metadata`.
const NAMESPACED: [Shape; 21] = [
    (
        "v1",
        "ConfigMap",
        "configmaps",
        |_, _| json!({"data": {"key": "value"}}),
    ),
    (
        "v1",
        "Secret",
        "secrets",
        |_, _| json!({"type": "Opaque", "stringData": {"key": "value"}}),
    ),
    (
        "v1",
        "Service",
        "services",
        |_, name| json!({"spec": {"clusterIP": "None", "selector": {"bench": name}, "ports": [{"port": 80}]}}),
    ),
    ("v1", "ServiceAccount", "serviceaccounts", |_, _| json!({})),
    (
        "v1",
        "PodTemplate",
        "podtemplates",
        |_, _| json!({"template": {"spec": {"containers": [{"name": "c", "image": "pause"}]}}}),
    ),
    (
        "v1",
        "LimitRange",
        "limitranges",
        |_, _| json!({"spec": {"limits": [{"type": "Container", "default": {"cpu": "100m"}}]}}),
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "Role",
        "roles",
        |_, _| json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        |namespace, name| {
            json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]
            })
        },
    ),
    (
        "apps/v1",
        "Deployment",
        "deployments",
        |_, name| json!({"spec": {"replicas": 0, "selector": {"matchLabels": {"bench": name}}, "template": pod(name)}}),
    ),
    (
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        |_, name| json!({"spec": {"replicas": 0, "serviceName": name, "selector": {"matchLabels": {"bench": name}}, "template": pod(name)}}),
    ),
    ("apps/v1", "DaemonSet", "daemonsets", |_, name| {
        let mut template = pod(name);
        template["spec"]["nodeSelector"] = json!({"bench.seatrial.dev/none": "none"});
        json!({"spec": {"selector": {"matchLabels": {"bench": name}}, "template": template}})
    }),
    ("batch/v1", "Job", "jobs", |_, name| {
        let mut template = pod(name);
        template["spec"]["restartPolicy"] = json!("Never");
        json!({"spec": {"suspend": true, "template": template}})
    }),
    ("batch/v1", "CronJob", "cronjobs", |_, name| {
        let mut template = pod(name);
        template["spec"]["restartPolicy"] = json!("Never");
        json!({"spec": {"suspend": true, "schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": template}}}})
    }),
    (
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        |_, name| json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"bench": name}}}}),
    ),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        |_, name| json!({"spec": {"podSelector": {"matchLabels": {"bench": name}}}}),
    ),
    (
        "networking.k8s.io/v1",
        "Ingress",
        "ingresses",
        |_, name| json!({"spec": {"defaultBackend": {"service": {"name": name, "port": {"number": 80}}}}}),
    ),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        |_, name| json!({"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}, "minReplicas": 1, "maxReplicas": 2}}),
    ),
    (
        "discovery.k8s.io/v1",
        "EndpointSlice",
        "endpointslices",
        |_, _| json!({"addressType": "IPv4", "endpoints": [], "ports": [{"port": 80}]}),
    ),
    (
        "coordination.k8s.io/v1",
        "Lease",
        "leases",
        |_, _| json!({"spec": {"holderIdentity": "bench"}}),
    ),
    (
        "v1",
        "Endpoints",
        "endpoints",
        |_, _| json!({"subsets": []}),
    ),
    (
        "teardown.bench.seatrial.dev/v1",
        "BenchItem",
        "benchitems",
        |_, _| json!({"spec": {"size": 1}}),
    ),
];

/// The cluster-scoped types besides Namespace.
const CLUSTER: [Shape; 6] = [
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        |_, _| json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        |_, name| {
            json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]
            })
        },
    ),
    (
        "scheduling.k8s.io/v1",
        "PriorityClass",
        "priorityclasses",
        |_, _| json!({"value": 1000}),
    ),
    (
        "networking.k8s.io/v1",
        "IngressClass",
        "ingressclasses",
        |_, _| json!({"spec": {"controller": "bench.seatrial.dev/none"}}),
    ),
    (
        "storage.k8s.io/v1",
        "StorageClass",
        "storageclasses",
        |_, _| json!({"provisioner": "bench.seatrial.dev/none"}),
    ),
    (
        "teardown.bench.seatrial.dev/v1",
        "BenchClusterItem",
        "benchclusteritems",
        |_, _| json!({"spec": {"size": 1}}),
    ),
];

fn pod(name: &str) -> Value {
    json!({
        "metadata": {"labels": {"bench": name}},
        "spec": {"containers": [{"name": "c", "image": "pause"}]}
    })
}

/// How many resource types [`objects`] spreads over (the Namespaces included).
pub const TYPES: usize = NAMESPACED.len() + CLUSTER.len() + 1;

/// The resource names (`plural.group`, as `kubectl delete` takes them) of every type, the
/// Namespaces last.
pub fn resource_names() -> Vec<String> {
    NAMESPACED
        .iter()
        .chain(CLUSTER.iter())
        .map(
            |(api_version, _, plural, _)| match api_version.rsplit_once('/') {
                Some((group, _)) => format!("{plural}.{group}"),
                None => (*plural).to_owned(),
            },
        )
        .chain(["namespaces".to_owned()])
        .collect()
}

/// The benchmark's `count` objects, namespaces first, each labelled with `labels`: `namespaces`
/// Namespaces `seatrial-bench-teardown-<i>`, and the rest dealt round-robin over the other
/// types, namespaced ones round-robin over the namespaces. Errors: `count` smaller than the
/// namespaces plus one object of each other type.
pub fn objects(
    count: usize,
    namespaces: usize,
    labels: &serde_json::Map<String, Value>,
) -> Result<Vec<Value>, String> {
    let kinds = NAMESPACED.len() + CLUSTER.len();
    if namespaces == 0 || count < namespaces + kinds {
        return Err(format!(
            "--objects {count} is too few for {namespaces} namespaces and one object of each of the {kinds} other types"
        ));
    }
    let namespace_name = |index: usize| format!("seatrial-bench-teardown-{index}");
    let metadata = |name: &str, namespace: Option<&str>| {
        let mut metadata = json!({"name": name, "labels": labels});
        if let Some(namespace) = namespace {
            metadata["namespace"] = json!(namespace);
        }
        metadata
    };
    let mut out: Vec<Value> = (0..namespaces)
        .map(|index| {
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(&namespace_name(index), None)})
        })
        .collect();
    for index in 0..count - namespaces {
        let slot = index % kinds;
        let name = format!("item-{index:05}");
        let (shape, namespace) = if slot < NAMESPACED.len() {
            (
                &NAMESPACED[slot],
                Some(namespace_name((index / kinds) % namespaces)),
            )
        } else {
            (&CLUSTER[slot - NAMESPACED.len()], None)
        };
        let (api_version, kind, _, fields) = shape;
        let mut object = fields(namespace.as_deref().unwrap_or_default(), &name);
        object["apiVersion"] = json!(api_version);
        object["kind"] = json!(kind);
        object["metadata"] = metadata(&name, namespace.as_deref());
        out.push(object);
    }
    Ok(out)
}

/// The two benchmark CRDs (no inventory labels: they are the benchmark's, not the objects').
pub fn crds() -> [Value; 2] {
    let crd = |plural: &str, kind: &str, scope: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{GROUP}")},
            "spec": {
                "group": GROUP,
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                "scope": scope,
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }}}
                }]
            }
        })
    };
    [
        crd("benchitems", "BenchItem", "Namespaced"),
        crd("benchclusteritems", "BenchClusterItem", "Cluster"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_cover_every_type_namespaces_first_with_the_labels() {
        let labels = serde_json::Map::from_iter([("a".to_owned(), json!("b"))]);
        let objects = objects(1000, 10, &labels).unwrap();
        assert_eq!(objects.len(), 1000);
        assert!(objects[..10].iter().all(|o| o["kind"] == "Namespace"));
        let kinds: std::collections::BTreeSet<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.len(), TYPES);
        assert!(objects.iter().all(|o| o["metadata"]["labels"]["a"] == "b"));
        // Cluster-scoped objects carry no namespace; namespaced ones one of the ten.
        for object in &objects {
            let kind = object["kind"].as_str().unwrap();
            let namespaced = NAMESPACED.iter().any(|(_, k, _, _)| *k == kind);
            assert_eq!(
                object["metadata"].get("namespace").is_some(),
                namespaced,
                "{kind}"
            );
        }
        assert_eq!(resource_names().len(), TYPES);
        assert_eq!(resource_names().last().unwrap(), "namespaces");
        assert!(resource_names().contains(&"benchitems.teardown.bench.seatrial.dev".to_owned()));
    }

    #[test]
    fn too_few_objects_is_an_error_naming_the_count() {
        let error = objects(20, 10, &serde_json::Map::new()).unwrap_err();
        assert!(error.contains("--objects 20"), "{error}");
    }
}
