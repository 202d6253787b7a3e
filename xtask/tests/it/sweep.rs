//! The sweep finds objects left behind on purpose, in any type and scope, by their inventory
//! labels, deletes them, and leaves everyone else's objects alone.

use std::time::Duration;

use deployer::inventory::{Inventory, ObjectId};
use deployer::sweep::sweep;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::ServiceReference;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::core::gvk::GroupVersion;
use kube::discovery::pinned_group;

use crate::support::{client, register_broken_api_service};

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

/// An aggregated API whose Service does not exist: the aggregator lists its group under
/// `/apis` and answers 503 for it, as it does for `metrics.k8s.io` while metrics-server is
/// down. The sweep must still find and delete what it can reach, and name the group it could
/// not look in.
#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn a_group_that_answers_503_is_reported_unchecked_and_the_sweep_goes_on() {
    const GROUP: &str = "broken.seatrial.test";
    let client = client().await;
    let post = PostParams::default();
    let (api_services, name) = register_broken_api_service(
        &client,
        GROUP,
        Some(ServiceReference {
            namespace: Some("default".to_owned()),
            name: Some("seatrial-no-such-service".to_owned()),
            port: Some(443),
        }),
    )
    .await;
    // The aggregator registers the group's proxy handler asynchronously, and no object
    // records when it has: until then the group answers 404, afterwards 503. Ask until it
    // stops answering 404.
    let gv = GroupVersion::gv(GROUP, "v1");
    let mut answer = None;
    for _ in 0..300 {
        match pinned_group(&client, &gv).await {
            Err(kube::Error::Api(status)) if status.code == 404 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => {
                answer = Some(other.map(|_| ()));
                break;
            }
        }
    }
    // No unwrap until the APIService is deleted again: left behind, it would stall every
    // namespace deletion in the cluster.
    let listed = client
        .list_api_groups()
        .await
        .is_ok_and(|groups| groups.groups.iter().any(|group| group.name == GROUP));
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = configmaps
        .create(
            &post,
            &ConfigMap {
                metadata: meta("sweep-503-left", Some("default"), "sweep-503"),
                ..Default::default()
            },
        )
        .await;

    let report = sweep(&client, "sweep-503", Duration::from_secs(60)).await;

    api_services
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let leftover = configmaps.get_opt("sweep-503-left").await.unwrap();
    if leftover.is_some() {
        configmaps
            .delete("sweep-503-left", &DeleteParams::default())
            .await
            .unwrap();
    }
    assert!(
        matches!(&answer, Some(Err(kube::Error::Api(status))) if status.code == 503),
        "{gv:?} should answer 503 once registered: {answer:?}"
    );
    assert!(listed, "the aggregator does not list {GROUP} under /apis");
    created.expect("create the labelled ConfigMap");
    let report = report.expect("a group that answers 503 must not fail the sweep");
    assert!(leftover.is_none(), "{report:?}");
    assert_eq!(
        report.deleted,
        vec![id("v1", "ConfigMap", Some("default"), "sweep-503-left")]
    );
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert_eq!(report.unchecked.len(), 1, "{report:?}");
    assert_eq!(report.unchecked[0].what, format!("{GROUP}/v1"));
    assert_eq!(report.unchecked[0].reason, "HTTP 503: service unavailable");
}
