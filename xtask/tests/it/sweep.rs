//! The sweep finds objects left behind on purpose, in any type and scope, by their inventory
//! labels, deletes them, and leaves everyone else's objects alone.

use std::time::Duration;

use deployer::inventory::{Inventory, ObjectId};
use deployer::sweep::sweep;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::support::client;

fn meta(name: &str, namespace: Option<&str>, deployment: &str) -> ObjectMeta {
    let inventory = Inventory {
        deployment: deployment.to_owned(),
        run_id: "left-behind".to_owned(),
    };
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(inventory.labels("on-purpose")),
        ..ObjectMeta::default()
    }
}

fn id(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectId {
    ObjectId {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: namespace.map(Into::into),
        name: name.into(),
    }
}

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn sweep_removes_labelled_leftovers_of_every_scope_and_nothing_else() {
    let client = client().await;
    let post = PostParams::default();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &post,
            &Namespace {
                metadata: meta("sweep-left", None, "sweep-test"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "sweep-left");
    configmaps
        .create(
            &post,
            &ConfigMap {
                metadata: meta("left-config", Some("sweep-left"), "sweep-test"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A bystander in the same namespace without our labels goes with the namespace, but is
    // not ours to report.
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    cluster_roles
        .create(
            &post,
            &ClusterRole {
                metadata: meta("sweep-test-left-reader", None, "sweep-test"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let priority_classes: Api<PriorityClass> = Api::all(client.clone());
    priority_classes
        .create(
            &post,
            &PriorityClass {
                metadata: meta("sweep-test-left-priority", None, "sweep-test"),
                value: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Another deployment's object must survive the sweep.
    cluster_roles
        .create(
            &post,
            &ClusterRole {
                metadata: meta("sweep-bystander-reader", None, "sweep-bystander"),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let report = sweep(&client, "sweep-test", Duration::from_secs(120))
        .await
        .unwrap();

    let bystander_left = cluster_roles
        .get_opt("sweep-bystander-reader")
        .await
        .unwrap()
        .is_some();
    cluster_roles
        .delete("sweep-bystander-reader", &Default::default())
        .await
        .unwrap();
    assert!(
        bystander_left,
        "the sweep deleted another deployment's object"
    );
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert!(report.resource_types_listed > 30, "{report:?}");
    assert_eq!(
        report.deleted,
        // Sorted by apiVersion, kind, namespace, name.
        vec![
            id(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                None,
                "sweep-test-left-reader"
            ),
            id(
                "scheduling.k8s.io/v1",
                "PriorityClass",
                None,
                "sweep-test-left-priority"
            ),
            id("v1", "ConfigMap", Some("sweep-left"), "left-config"),
            id("v1", "Namespace", None, "sweep-left"),
        ]
    );
    assert!(cluster_roles
        .get_opt("sweep-test-left-reader")
        .await
        .unwrap()
        .is_none());
    assert!(priority_classes
        .get_opt("sweep-test-left-priority")
        .await
        .unwrap()
        .is_none());
    assert!(namespaces.get_opt("sweep-left").await.unwrap().is_none());
}
