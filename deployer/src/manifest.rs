//! Turning rendered YAML into Kubernetes objects, with errors that name file and document.

use std::path::{Path, PathBuf};

use kube::api::DynamicObject;
use serde::Deserialize;

use crate::error::{Error, Result};

/// One object from a manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The template it was rendered from.
    pub path: PathBuf,
    /// 0-based index of its YAML document in that file.
    pub document: usize,
    /// 1-based line in the rendered text where that document's content starts.
    pub line: usize,
    /// The object, with `apiVersion`, `kind` and `metadata.name` guaranteed present.
    pub object: DynamicObject,
}

impl Manifest {
    /// `apiVersion` of the object.
    pub fn api_version(&self) -> &str {
        self.object
            .types
            .as_ref()
            .map_or("", |types| types.api_version.as_str())
    }

    /// `kind` of the object.
    pub fn kind(&self) -> &str {
        self.object
            .types
            .as_ref()
            .map_or("", |types| types.kind.as_str())
    }

    /// `metadata.name` of the object.
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or("")
    }
}

/// Parses every YAML document of rendered text into objects; empty documents are skipped.
///
/// Errors: [`Error::Manifest`] naming `path`, the line and the document index when a
/// document is not valid YAML (a repeated key and an alias bomb included, at their own line:
/// [`crate::yaml::check`]), not a mapping, or lacks `apiVersion`, `kind` or `metadata.name`.
pub fn parse_documents(path: &Path, text: &str) -> Result<Vec<Manifest>> {
    let outline = crate::yaml::check(text).map_err(|problem| Error::Manifest {
        path: path.to_owned(),
        line: problem.line,
        document: problem.document,
        message: problem.message,
    })?;
    let mut manifests = Vec::new();
    for (document, deserializer) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let line = outline.document_lines.get(document).copied().unwrap_or(1);
        let error = |message: String| Error::Manifest {
            path: path.to_owned(),
            line,
            document,
            message,
        };
        let value = serde_json::Value::deserialize(deserializer)
            .map_err(|e| error(format!("not valid YAML: {e}")))?;
        if value.is_null() {
            continue;
        }
        let Some(map) = value.as_object() else {
            return Err(error(
                "a document must be a mapping with apiVersion and kind".into(),
            ));
        };
        let non_empty = |value: Option<&serde_json::Value>| {
            value
                .and_then(|v| v.as_str())
                .is_some_and(|s| !s.is_empty())
        };
        for field in ["apiVersion", "kind"] {
            if !non_empty(map.get(field)) {
                return Err(error(format!("the object has no `{field}`")));
            }
        }
        if !non_empty(
            map.get("metadata")
                .and_then(|metadata| metadata.get("name")),
        ) {
            return Err(error(format!(
                "the {} has no `metadata.name`",
                map["kind"].as_str().unwrap_or("object")
            )));
        }
        let object: DynamicObject = serde_json::from_value(value)
            .map_err(|e| error(format!("not a Kubernetes object: {e}")))?;
        manifests.push(Manifest {
            path: path.to_owned(),
            document,
            line,
            object,
        });
    }
    Ok(manifests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_error(text: &str, expected_prefix: &str) {
        let message = parse_documents(Path::new("m.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(message.starts_with(expected_prefix), "{message}");
    }

    #[test]
    fn parses_documents_and_skips_empty_ones() {
        let manifests = parse_documents(
            Path::new("m.yaml"),
            "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n",
        )
        .unwrap();
        assert_eq!(manifests.len(), 2);
        assert_eq!(
            (
                manifests[0].kind(),
                manifests[0].name(),
                manifests[0].document
            ),
            ("ConfigMap", "a", 1)
        );
        assert_eq!((manifests[1].kind(), manifests[1].document), ("Secret", 2));
    }

    #[test]
    fn errors_name_file_and_document() {
        check_error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Secret\nmetadata: {name: b}\n", "m.yaml:5 (document 1): the object has no `apiVersion`");
        check_error(
            "apiVersion: v1\nmetadata: {name: a}\n",
            "m.yaml:1 (document 0): the object has no `kind`",
        );
        check_error(
            "apiVersion: v1\nkind: ConfigMap\n",
            "m.yaml:1 (document 0): the ConfigMap has no `metadata.name`",
        );
        check_error(
            "- a\n- b\n",
            "m.yaml:1 (document 0): a document must be a mapping",
        );
        check_error(
            "apiVersion: v1\nkind: [\n",
            "m.yaml:3 (document 0): not valid YAML",
        );
        check_error(
            "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\nkind: Secret\n",
            "m.yaml:7 (document 1): duplicate key `kind` (first on line 5)",
        );
    }
}
