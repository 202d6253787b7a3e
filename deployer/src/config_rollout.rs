//! Rolling a workload when its config changes. Pods read a mounted ConfigMap when they
//! start (the hub reads `jupyterhub_config.py` once), so an upgrade that changes only the
//! ConfigMap would leave the old config running. A workload of a stage names the ConfigMaps
//! of the same stage it reads in the annotation [`ROLL_ON_CONFIG`]
//! (`seatrial.dev/roll-on-config: hub-config`, several comma-separated); before anything is
//! applied, the SHA-256 of their rendered `data` and `binaryData` is written into its pod
//! template's [`CONFIG_SHA256`] annotation. A changed config then changes the pod template,
//! and the workload rolls, as charts do with a `checksum/config` annotation (Helm docs, "Chart
//! Development Tips and Tricks: Automatically Roll Deployments").

use serde_json::Value;

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// The workload annotation naming the ConfigMaps (of its stage) whose change rolls it.
pub const ROLL_ON_CONFIG: &str = "seatrial.dev/roll-on-config";
/// The pod template annotation that holds their digest (`sha256:<hex>`).
pub const CONFIG_SHA256: &str = "seatrial.dev/config-sha256";

/// Stamps [`CONFIG_SHA256`] into the pod template of every manifest that has
/// [`ROLL_ON_CONFIG`], from the named ConfigMaps among `manifests` (same namespace, or both
/// without one).
///
/// Errors: [`Error::Manifest`] at the workload's document when a named ConfigMap is not among
/// `manifests`, or the object has no `spec.template` to stamp.
pub fn stamp(manifests: &mut [Manifest]) -> Result<()> {
    let mut stamps = Vec::new();
    for (index, manifest) in manifests.iter().enumerate() {
        let Some(names) = manifest
            .object
            .metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(ROLL_ON_CONFIG))
        else {
            continue;
        };
        let error = |message: String| Error::Manifest {
            path: manifest.path.clone(),
            line: manifest.line,
            document: manifest.document,
            message,
        };
        if manifest.object.data.pointer("/spec/template").is_none() {
            return Err(error(format!(
                "{ROLL_ON_CONFIG} is set on a {} {}, which has no spec.template to roll",
                manifest.kind(),
                manifest.name()
            )));
        }
        let mut configs = Vec::new();
        for name in names
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let found = manifests.iter().find(|other| {
                other.kind() == "ConfigMap"
                    && other.api_version() == "v1"
                    && other.name() == name
                    && other.object.metadata.namespace == manifest.object.metadata.namespace
            });
            let Some(config) = found else {
                return Err(error(format!(
                    "{ROLL_ON_CONFIG} names ConfigMap {name}, which this stage does not render beside {} {}",
                    manifest.kind(),
                    manifest.name()
                )));
            };
            configs.push(serde_json::json!({
                "name": name,
                "data": config.object.data.get("data"),
                "binaryData": config.object.data.get("binaryData"),
            }));
        }
        let bytes = serde_json::to_vec(&configs).expect("JSON values serialize");
        stamps.push((index, crate::charts::fetch::sha256_bytes(&bytes)));
    }
    for (index, digest) in stamps {
        let template = manifests[index]
            .object
            .data
            .pointer_mut("/spec/template")
            .and_then(Value::as_object_mut)
            .expect("checked above");
        let metadata = template
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        let annotations = metadata
            .as_object_mut()
            .map(|metadata| {
                metadata
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(Default::default()))
            })
            .and_then(Value::as_object_mut);
        if let Some(annotations) = annotations {
            annotations.insert(CONFIG_SHA256.to_owned(), Value::String(digest));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::parse_documents;

    const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub\n  annotations: {seatrial.dev/roll-on-config: hub-config}\nspec:\n  template:\n    metadata:\n      labels: {app: hub}\n";

    fn stamped(config: &str) -> Result<String> {
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hub-config\ndata:\n  config.py: \"{config}\"\n---\n{DEPLOYMENT}"
        );
        let mut manifests = parse_documents(Path::new("hub.yaml"), &text)?;
        stamp(&mut manifests)?;
        Ok(
            manifests[1].object.data["spec"]["template"]["metadata"]["annotations"][CONFIG_SHA256]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    #[test]
    fn the_pod_template_carries_the_config_s_digest_which_changes_with_the_config() {
        let first = stamped("a = 1").unwrap();
        assert!(first.starts_with("sha256:"), "{first}");
        assert_eq!(stamped("a = 1").unwrap(), first);
        assert_ne!(stamped("a = 2").unwrap(), first);
    }

    #[test]
    fn a_config_map_the_stage_does_not_render_is_named_at_the_workload() {
        let mut manifests = parse_documents(Path::new("hub.yaml"), DEPLOYMENT).unwrap();
        let message = stamp(&mut manifests).unwrap_err().to_string();
        assert!(message.starts_with("hub.yaml:1 (document 0)"), "{message}");
        assert!(
            message.contains("names ConfigMap hub-config, which this stage does not render beside Deployment hub"),
            "{message}"
        );
    }
}
