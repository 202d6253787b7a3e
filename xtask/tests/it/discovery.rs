//! Discovery on a cluster whose `/apis` lists a group that answers 404: what a CRD deleted
//! (or an aggregated API registered) between the two discovery steps looks like, made
//! deterministic with a local APIService that nothing serves.

use kube::api::DeleteParams;
use kube::core::gvk::GroupVersion;
use kube::discovery::{pinned_group, Discovery};

use crate::support::{client, register_broken_api_service};

#[tokio::test]
#[ignore = "needs the hollow cluster: run by `cargo xtask test`"]
async fn a_listed_group_that_answers_404_is_skipped_where_kube_discovery_fails() {
    const GROUP: &str = "nothing.seatrial.test";
    let client = client().await;
    // No `service`: "local", so the aggregator hands the group to the API server itself,
    // which serves nothing there.
    let (api_services, name) = register_broken_api_service(&client, GROUP, None).await;
    // The aggregator serves /apis from an informer; no object records when it has caught up.
    let mut listed = false;
    for _ in 0..300 {
        if client
            .list_api_groups()
            .await
            .is_ok_and(|groups| groups.groups.iter().any(|group| group.name == GROUP))
        {
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // No unwrap until the APIService is deleted again: left behind, it would stall every
    // namespace deletion in the cluster.
    let answer = pinned_group(&client, &GroupVersion::gv(GROUP, "v1"))
        .await
        .map(|_| ());
    let kube_discovery = Discovery::new(client.clone()).run().await.map(|_| ());
    let ours = deployer::discovery::served_types(&client).await;

    api_services
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    assert!(listed, "the aggregator never listed {GROUP} under /apis");
    assert!(
        matches!(&answer, Err(kube::Error::Api(status)) if status.code == 404),
        "{answer:?}"
    );
    // The control: kube's discovery fails outright on this cluster state.
    assert!(
        matches!(&kube_discovery, Err(kube::Error::Api(status)) if status.code == 404),
        "{kube_discovery:?}"
    );
    let ours = ours.expect("served_types must not fail on a group that answers 404");
    assert!(ours.unavailable.is_empty(), "{:?}", ours.unavailable);
    let kinds: Vec<&str> = ours
        .resources
        .iter()
        .map(|(resource, _)| resource.kind.as_str())
        .collect();
    for kind in [
        "ConfigMap",
        "Deployment",
        "CustomResourceDefinition",
        "APIService",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(
        ours.resources
            .iter()
            .all(|(resource, _)| resource.group != GROUP),
        "{:?}",
        ours.resources
    );
}
