//! The PersistentVolumeClaims a StatefulSet leaves behind.
//!
//! The StatefulSet controller creates one claim per `volumeClaimTemplates` entry and replica,
//! named `<template>-<statefulset>-<ordinal>`, labelled with the StatefulSet's selector
//! labels, and (unless `persistentVolumeClaimRetentionPolicy` says `Delete`) keeps it when
//! the StatefulSet is deleted (Kubernetes docs, "StatefulSets": stable storage). Such claims
//! carry none of our inventory labels, yet they belong to the run: teardown and the sweep
//! find them through the StatefulSet's selector and their names.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, DynamicObject, ListParams};
use kube::Client;
use serde::{Deserialize, Serialize};

use crate::inventory::ObjectId;

/// What identifies the claims of one StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimTemplates {
    /// The StatefulSet's namespace (`None` until applied into one).
    pub namespace: Option<String>,
    /// The StatefulSet's name.
    pub statefulset: String,
    /// The `volumeClaimTemplates[].metadata.name`s.
    pub templates: Vec<String>,
    /// `spec.selector.matchLabels`.
    pub match_labels: BTreeMap<String, String>,
}

impl ClaimTemplates {
    /// The claim templates of `object`, of `kind`, when it is a StatefulSet that has any
    /// (`kind` is passed because list items carry no `kind` of their own).
    pub fn of(kind: &str, object: &DynamicObject) -> Option<ClaimTemplates> {
        if kind != "StatefulSet" {
            return None;
        }
        let spec = &object.data["spec"];
        let templates: Vec<String> = spec["volumeClaimTemplates"]
            .as_array()?
            .iter()
            .filter_map(|template| template["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        if templates.is_empty() {
            return None;
        }
        let match_labels = spec["selector"]["matchLabels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Some(ClaimTemplates {
            namespace: object.metadata.namespace.clone(),
            statefulset: object.metadata.name.clone().unwrap_or_default(),
            templates,
            match_labels,
        })
    }

    /// Whether `name` is one of this StatefulSet's claim names (`<template>-<sts>-<n>`).
    pub fn names(&self, name: &str) -> bool {
        self.templates.iter().any(|template| {
            name.strip_prefix(&format!("{template}-{}-", self.statefulset))
                .is_some_and(|ordinal| {
                    !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit())
                })
        })
    }

    /// The claims now in the cluster: listed in the namespace by the selector labels,
    /// filtered by name.
    ///
    /// Errors: the list request's.
    pub async fn find(&self, client: &Client, namespace: &str) -> kube::Result<Vec<ObjectId>> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
        let selector: Vec<String> = self
            .match_labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let claims = api
            .list(&ListParams::default().labels(&selector.join(",")))
            .await?;
        Ok(claims
            .items
            .into_iter()
            .filter_map(|claim| claim.metadata.name)
            .filter(|name| self.names(name))
            .map(|name| ObjectId {
                api_version: "v1".into(),
                kind: "PersistentVolumeClaim".into(),
                namespace: Some(namespace.to_owned()),
                name,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_names_follow_template_statefulset_and_ordinal() {
        let object: DynamicObject = serde_yaml_ng::from_str(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  selector: {matchLabels: {app: db}}\n  volumeClaimTemplates:\n  - metadata: {name: data}\n",
        )
        .unwrap();
        let claims = ClaimTemplates::of("StatefulSet", &object).unwrap();
        assert_eq!(claims.match_labels["app"], "db");
        assert!(claims.names("data-db-0") && claims.names("data-db-12"));
        assert!(
            !claims.names("data-db-") && !claims.names("data-dbx-0") && !claims.names("logs-db-0")
        );
    }
}
