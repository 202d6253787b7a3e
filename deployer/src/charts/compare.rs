//! What differs between two renders of one chart stage (Helm 3 against Helm 4): objects only
//! one of them rendered, and for objects both rendered, every field path whose value differs.
//!
//! Objects are matched by `kind`, namespace and name (`apiVersion` is compared as a field, so
//! a changed API version shows as a difference, not as two unrelated objects). Field paths are
//! dotted, with `[i]` for list items (`spec.template.spec.containers[0].image`); a map key
//! containing a dot is quoted (`metadata.labels."helm.sh/chart"`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::manifest::Manifest;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDifference {
    /// The field path.
    pub path: String,
    /// The value in the left render (`null` when absent).
    pub left: Value,
    /// The value in the right render (`null` when absent).
    pub right: Value,
}

/// How one object differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectDifference {
    /// `Kind namespace/name` (or `Kind name` when cluster-scoped or without a namespace).
    pub object: String,
    /// `left only`, `right only`, or `differs`.
    pub change: &'static str,
    /// The differing fields (empty for objects only one side rendered).
    pub fields: Vec<FieldDifference>,
}

fn key(manifest: &Manifest) -> String {
    match &manifest.object.metadata.namespace {
        Some(namespace) => format!("{} {namespace}/{}", manifest.kind(), manifest.name()),
        None => format!("{} {}", manifest.kind(), manifest.name()),
    }
}

fn whole(manifest: &Manifest) -> Value {
    serde_json::to_value(&manifest.object).unwrap_or(Value::Null)
}

/// The differences between `left` and `right`, by object then field path.
pub fn compare(left: &[Manifest], right: &[Manifest]) -> Vec<ObjectDifference> {
    let index = |manifests: &[Manifest]| -> BTreeMap<String, Value> {
        manifests.iter().map(|m| (key(m), whole(m))).collect()
    };
    let (left, right) = (index(left), index(right));
    let mut differences = Vec::new();
    for (object, value) in &left {
        match right.get(object) {
            None => differences.push(ObjectDifference {
                object: object.clone(),
                change: "left only",
                fields: Vec::new(),
            }),
            Some(other) => {
                let mut fields = Vec::new();
                diff(String::new(), value, other, &mut fields);
                if !fields.is_empty() {
                    differences.push(ObjectDifference {
                        object: object.clone(),
                        change: "differs",
                        fields,
                    });
                }
            }
        }
    }
    for object in right.keys().filter(|object| !left.contains_key(*object)) {
        differences.push(ObjectDifference {
            object: object.clone(),
            change: "right only",
            fields: Vec::new(),
        });
    }
    differences
}

fn child(path: &str, key: &str) -> String {
    let key = if key.contains('.') || key.contains('/') || key.is_empty() {
        format!("\"{key}\"")
    } else {
        key.to_owned()
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

fn diff(path: String, left: &Value, right: &Value, out: &mut Vec<FieldDifference>) {
    match (left, right) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                diff(
                    child(&path, key),
                    value,
                    b.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
            for (key, value) in b.iter().filter(|(key, _)| !a.contains_key(*key)) {
                diff(child(&path, key), &Value::Null, value, out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for index in 0..a.len().max(b.len()) {
                diff(
                    format!("{path}[{index}]"),
                    a.get(index).unwrap_or(&Value::Null),
                    b.get(index).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(FieldDifference {
            path,
            left: a.clone(),
            right: b.clone(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_documents;

    #[test]
    fn names_objects_and_field_paths_that_differ() {
        let left = parse_documents(
            "l".as_ref(),
            "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: a\n  labels: {helm.sh/chart: demo-1}\ndata: {x: \"1\", y: \"2\"}\n---\nkind: Secret\napiVersion: v1\nmetadata: {name: gone}\n",
        )
        .unwrap();
        let right = parse_documents(
            "r".as_ref(),
            "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: a\n  labels: {helm.sh/chart: demo-2}\ndata: {x: \"1\", z: \"3\"}\n---\nkind: Service\napiVersion: v1\nmetadata: {name: new}\nspec: {ports: [{port: 80}]}\n",
        )
        .unwrap();
        let differences = compare(&left, &right);
        assert_eq!(differences.len(), 3, "{differences:#?}");
        let config_map = &differences[0];
        assert_eq!(config_map.object, "ConfigMap a");
        let paths: Vec<&str> = config_map.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["data.y", "data.z", "metadata.labels.\"helm.sh/chart\""]
        );
        assert_eq!(differences[1].change, "left only");
        assert_eq!(differences[2].object, "Service new");
        assert_eq!(differences[2].change, "right only");
        assert!(compare(&left, &left).is_empty());
    }
}
