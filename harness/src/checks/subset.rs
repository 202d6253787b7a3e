//! Partial object matching: does a live object contain an expected YAML subset?
//!
//! Rules:
//! - a map matches when every expected key matches the live value under that key; keys the
//!   subset does not name are ignored;
//! - `null` expects the key to be absent (or null);
//! - a list matches positionally: same length, element `i` matches element `i`;
//! - `{$some: [a, b]}` in place of a list matches when each of `a`, `b` matches at least one
//!   element of the live list, in any order (chainsaw's `~` idea in our own syntax);
//! - scalars compare as JSON values, numbers by value (`1` matches `1.0`).
//!
//! On failure, [`describe`] names each mismatching field path and adds a unified diff of the
//! expected subset against the live object pruned to the subset's shape.

use serde_json::{Map, Value};

/// The key that turns a map into "some element of the list matches each of these".
pub const SOME: &str = "$some";

/// One place where the live object differs from the subset.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Field path, e.g. `spec.template.spec.containers[0].image`.
    pub path: String,
    /// What is wrong there, in words.
    pub problem: String,
}

/// Checks a subset's own syntax: `$some` must be a map's only key and hold a list; no other
/// `$`-key exists.
///
/// Errors: the path of the offending key and what is wrong.
pub fn validate(expected: &Value) -> Result<(), String> {
    validate_at(expected, "")
}

fn validate_at(expected: &Value, path: &str) -> Result<(), String> {
    match expected {
        Value::Object(map) => {
            if let Some(items) = map.get(SOME) {
                if map.len() != 1 {
                    return Err(format!(
                        "at `{}`: `{SOME}` must be the only key of its map",
                        display(path)
                    ));
                }
                let Value::Array(items) = items else {
                    return Err(format!(
                        "at `{}`: `{SOME}` takes a list of subsets",
                        display(path)
                    ));
                };
                for (index, item) in items.iter().enumerate() {
                    validate_at(item, &format!("{path}[{index}]"))?;
                }
                return Ok(());
            }
            for (key, value) in map {
                if key.starts_with('$') {
                    return Err(format!(
                        "at `{}`: unknown operator `{key}` (only `{SOME}` exists)",
                        display(path)
                    ));
                }
                validate_at(value, &join(path, key))?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| validate_at(item, &format!("{path}[{index}]"))),
        _ => Ok(()),
    }
}

/// Every mismatch between `expected` (a validated subset) and `actual`; empty when it matches.
pub fn mismatches(expected: &Value, actual: &Value) -> Vec<Mismatch> {
    let mut found = Vec::new();
    compare(expected, Some(actual), "", &mut found);
    found
}

/// Whether `actual` contains `expected`; faster than [`mismatches`] (stops at the first).
pub fn matches(expected: &Value, actual: &Value) -> bool {
    matches_at(expected, Some(actual))
}

fn matches_at(expected: &Value, actual: Option<&Value>) -> bool {
    match (expected, actual) {
        (Value::Null, None | Some(Value::Null)) => true,
        (_, None) => false,
        (Value::Object(map), Some(actual)) => match (map.get(SOME), actual) {
            (Some(Value::Array(wanted)), Value::Array(items)) => wanted
                .iter()
                .all(|want| items.iter().any(|item| matches_at(want, Some(item)))),
            (Some(_), _) => false,
            (None, Value::Object(live)) => map
                .iter()
                .all(|(key, value)| matches_at(value, live.get(key))),
            (None, _) => false,
        },
        (Value::Array(wanted), Some(Value::Array(items))) => {
            wanted.len() == items.len()
                && wanted
                    .iter()
                    .zip(items)
                    .all(|(want, item)| matches_at(want, Some(item)))
        }
        (expected, Some(actual)) => scalar_equal(expected, actual),
    }
}

fn compare(expected: &Value, actual: Option<&Value>, path: &str, found: &mut Vec<Mismatch>) {
    let mut report = |problem: String| {
        found.push(Mismatch {
            path: display(path).to_owned(),
            problem,
        })
    };
    match (expected, actual) {
        (Value::Null, None | Some(Value::Null)) => {}
        (Value::Null, Some(actual)) => report(format!("expected absent, found {}", short(actual))),
        (expected, None) => report(format!("missing, expected {}", short(expected))),
        (Value::Object(map), Some(actual)) => match (map.get(SOME), actual) {
            (Some(Value::Array(wanted)), Value::Array(items)) => {
                for want in wanted {
                    if !items.iter().any(|item| matches_at(want, Some(item))) {
                        report(format!(
                            "no element of {} matches {}",
                            items.len(),
                            short(want)
                        ));
                        // Say why the closest element does not match.
                        if let Some(closest) = items
                            .iter()
                            .enumerate()
                            .map(|(index, item)| (index, mismatches(want, item)))
                            .min_by_key(|(_, mismatches)| mismatches.len())
                        {
                            let (index, _) = closest;
                            compare(
                                want,
                                Some(&items[index]),
                                &format!("{path}[{index}]"),
                                found,
                            );
                        }
                        return;
                    }
                }
            }
            (Some(_), actual) => report(format!("expected a list, found {}", short(actual))),
            (None, Value::Object(live)) => {
                for (key, value) in map {
                    compare(value, live.get(key), &join(path, key), found);
                }
            }
            (None, actual) => report(format!("expected a map, found {}", short(actual))),
        },
        (Value::Array(wanted), Some(Value::Array(items))) => {
            if wanted.len() != items.len() {
                report(format!(
                    "expected {} elements, found {} (use `{SOME}` to match some elements in any order)",
                    wanted.len(),
                    items.len()
                ));
                return;
            }
            for (index, (want, item)) in wanted.iter().zip(items).enumerate() {
                compare(want, Some(item), &format!("{path}[{index}]"), found);
            }
        }
        (Value::Array(_), Some(actual)) => {
            report(format!("expected a list, found {}", short(actual)))
        }
        (expected, Some(actual)) => {
            if !scalar_equal(expected, actual) {
                report(format!(
                    "expected {}, found {}",
                    short(expected),
                    short(actual)
                ));
            }
        }
    }
}

fn scalar_equal(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// The live object pruned to the subset's shape: only the keys the subset names, for a
/// `$some` list the closest element for each wanted one.
pub fn project(expected: &Value, actual: &Value) -> Value {
    match (expected, actual) {
        (Value::Object(map), actual) => match (map.get(SOME), actual) {
            (Some(Value::Array(wanted)), Value::Array(items)) => {
                let closest = wanted
                    .iter()
                    .filter_map(|want| {
                        items
                            .iter()
                            .min_by_key(|item| mismatches(want, item).len())
                            .map(|item| project(want, item))
                    })
                    .collect();
                Value::Object(Map::from_iter([(SOME.to_owned(), Value::Array(closest))]))
            }
            (None, Value::Object(live)) => Value::Object(
                map.iter()
                    .filter_map(|(key, value)| {
                        live.get(key)
                            .map(|live| (key.clone(), project(value, live)))
                    })
                    .collect(),
            ),
            (_, actual) => actual.clone(),
        },
        (Value::Array(wanted), Value::Array(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| match wanted.get(index) {
                    Some(want) => project(want, item),
                    None => item.clone(),
                })
                .collect(),
        ),
        (_, actual) => actual.clone(),
    }
}

/// A failure message: one line per mismatch (at most 10), then a unified diff of the expected
/// subset (`-`) against the pruned live object (`+`), both as YAML.
pub fn describe(expected: &Value, actual: &Value, mismatches: &[Mismatch]) -> String {
    let mut text = String::new();
    for mismatch in mismatches.iter().take(10) {
        text.push_str(&format!("  at {}: {}\n", mismatch.path, mismatch.problem));
    }
    if mismatches.len() > 10 {
        text.push_str(&format!("  … and {} more\n", mismatches.len() - 10));
    }
    let expected_yaml = to_yaml(expected);
    let actual_yaml = to_yaml(&project(expected, actual));
    let diff = similar::TextDiff::from_lines(&expected_yaml, &actual_yaml);
    text.push_str(
        &diff
            .unified_diff()
            .context_radius(3)
            .header("expected", "actual")
            .to_string(),
    );
    text
}

fn to_yaml(value: &Value) -> String {
    serde_yaml_ng::to_string(value).unwrap_or_else(|error| format!("<not YAML: {error}>\n"))
}

fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (path.is_empty(), simple) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "<object>"
    } else {
        path
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "hub", "labels": {"app.kubernetes.io/name": "hub"}},
            "spec": {
                "replicas": 1,
                "template": {"spec": {"containers": [
                    {"name": "hub", "image": "registry.example.test/hub:1.0.0", "ports": [{"containerPort": 8081}]},
                    {"name": "sidecar", "image": "busybox"}
                ]}}
            }
        })
    }

    #[test]
    fn maps_match_by_key_and_ignore_the_rest() {
        let expected = json!({"spec": {"replicas": 1.0}, "metadata": {"labels": {"app.kubernetes.io/name": "hub"}}});
        assert!(matches(&expected, &deployment()));
        assert!(mismatches(&expected, &deployment()).is_empty());
    }

    #[test]
    fn some_matches_any_element_positional_needs_every_element() {
        let some = json!({"spec": {"template": {"spec": {"containers": {"$some": [{"name": "sidecar"}, {"image": "registry.example.test/hub:1.0.0"}]}}}}});
        assert!(matches(&some, &deployment()));
        let positional = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar"}, {"name": "hub"}]}}}});
        assert!(!matches(&positional, &deployment()));
        let found = mismatches(&positional, &deployment());
        assert_eq!(found[0].path, "spec.template.spec.containers[0].name");
        assert_eq!(found[0].problem, r#"expected "sidecar", found "hub""#);
        let short = json!({"spec": {"template": {"spec": {"containers": [{"name": "hub"}]}}}});
        assert!(mismatches(&short, &deployment())[0]
            .problem
            .contains("expected 1 elements, found 2"));
    }

    #[test]
    fn failure_names_path_and_diffs() {
        let expected = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": {"$some": [{"name": "hub", "image": "registry.example.test/hub:9.9.9"}]}}}}, "metadata": {"labels": {"tier": "web"}, "annotations": null}});
        let found = mismatches(&expected, &deployment());
        let paths: Vec<&str> = found.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata.labels.tier",
                "spec.replicas",
                "spec.template.spec.containers",
                "spec.template.spec.containers[0].image"
            ],
            "{found:?}"
        );
        let text = describe(&expected, &deployment(), &found);
        assert!(
            text.contains("at spec.replicas: expected 3, found 1"),
            "{text}"
        );
        assert!(text.contains("--- expected"), "{text}");
        assert!(text.contains("-  replicas: 3"), "{text}");
        assert!(text.contains("+  replicas: 1"), "{text}");
        assert!(
            text.contains("+        - image: registry.example.test/hub:1.0.0"),
            "{text}"
        );
    }

    #[test]
    fn null_means_absent_and_keys_with_dots_are_quoted() {
        assert!(matches(&json!({"spec": {"paused": null}}), &deployment()));
        let found = mismatches(
            &json!({"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}),
            &deployment(),
        );
        assert_eq!(
            found[0].path,
            r#"metadata.labels["app.kubernetes.io/name"]"#
        );
    }

    #[test]
    fn validation_rejects_misused_operators() {
        assert!(validate(&json!({"a": {"$some": [{"b": 1}]}})).is_ok());
        assert!(validate(&json!({"a": {"$some": {"b": 1}}}))
            .unwrap_err()
            .contains("takes a list"));
        assert!(validate(&json!({"a": {"$some": [], "c": 1}}))
            .unwrap_err()
            .contains("only key"));
        assert!(validate(&json!({"a": {"$all": []}}))
            .unwrap_err()
            .contains("`$all`"));
    }
}
