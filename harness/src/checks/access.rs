//! RBAC checks: one SubjectAccessReview (Kubernetes API `authorization.k8s.io/v1`) asks the
//! API server's authorizers whether a user in some groups may do a verb on a resource.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use kube::Client;

use super::observe::Observation;
use super::spec::AccessSpec;

/// The question in words: `user bob (groups analyst) delete pods in dev`.
pub fn question(spec: &AccessSpec) -> String {
    let groups = if spec.groups.is_empty() {
        String::new()
    } else {
        format!(" (groups {})", spec.groups.join(", "))
    };
    let resource = match (&spec.group, &spec.subresource) {
        (group, Some(sub)) if !group.is_empty() => format!("{}.{group}/{sub}", spec.resource),
        (group, None) if !group.is_empty() => format!("{}.{group}", spec.resource),
        (_, Some(sub)) => format!("{}/{sub}", spec.resource),
        (_, None) => spec.resource.clone(),
    };
    let name = spec
        .name
        .as_ref()
        .map(|name| format!(" {name}"))
        .unwrap_or_default();
    let scope = match &spec.namespace {
        Some(namespace) => format!(" in namespace {namespace}"),
        None => " cluster-wide".to_owned(),
    };
    format!(
        "user {}{groups} {} {resource}{name}{scope}",
        spec.user, spec.verb
    )
}

/// Asks the API server once and judges the answer.
pub async fn probe_access(client: &Client, spec: &AccessSpec) -> Observation {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(spec.user.clone()),
            groups: Some(spec.groups.clone()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(spec.verb.clone()),
                resource: Some(spec.resource.clone()),
                group: Some(spec.group.clone()),
                subresource: spec.subresource.clone(),
                namespace: spec.namespace.clone(),
                name: spec.name.clone(),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let question = question(spec);
    let answer = match api.create(&PostParams::default(), &review).await {
        Ok(answer) => answer,
        Err(error) => {
            return Observation::pending(format!("failed to ask whether {question}: {error}"))
        }
    };
    let status = answer.status.unwrap_or_default();
    let verdict = if status.allowed { "allowed" } else { "denied" };
    let reason = status
        .reason
        .filter(|reason| !reason.is_empty())
        .map(|reason| format!(" ({reason})"))
        .unwrap_or_default();
    let observed = format!("{question}: {verdict}{reason}");
    if status.allowed == spec.allowed {
        Observation::holds(observed)
    } else {
        Observation::pending(format!(
            "{observed}, expected {}",
            if spec.allowed { "allowed" } else { "denied" }
        ))
    }
}
