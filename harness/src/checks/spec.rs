//! The check file's schema, and loading it: render, parse, validate.

use std::path::Path;

use deployer::error::{line_of_key, Error};
use deployer::platform::Stage;
use deployer::render::{render_file, RenderContext};
use serde::Deserialize;

use super::path::FieldPath;

/// Which object an assertion is about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSelector {
    /// `apiVersion`, e.g. `apps/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; omit for cluster-scoped kinds.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl std::fmt::Display for ObjectSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Which objects a count is about: a type, optionally a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSelector {
    /// `apiVersion`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace; omit for cluster-scoped kinds or to count in every namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectOnly {
    object: ObjectSelector,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionSpec {
    object: ObjectSelector,
    #[serde(rename = "type")]
    type_: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldEqualsSpec {
    object: ObjectSelector,
    path: String,
    value: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountSpec {
    resource: ResourceSelector,
    #[serde(default)]
    selector: Option<String>,
    #[serde(default)]
    equals: Option<u64>,
    #[serde(default)]
    min: Option<u64>,
    #[serde(default)]
    max: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    #[serde(default)]
    exists: Option<ObjectOnly>,
    #[serde(default)]
    absent: Option<ObjectOnly>,
    #[serde(default)]
    condition: Option<ConditionSpec>,
    #[serde(default)]
    field_equals: Option<FieldEqualsSpec>,
    #[serde(default)]
    count: Option<CountSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    checks: Vec<RawCheck>,
}

/// What a check asserts.
#[derive(Debug, Clone, PartialEq)]
pub enum Assertion {
    /// The object exists.
    Exists(ObjectSelector),
    /// The object does not exist.
    Absent(ObjectSelector),
    /// `status.conditions[type == type_]` has this status (and reason, when given).
    Condition {
        /// The object.
        object: ObjectSelector,
        /// Condition type, e.g. `Available`.
        type_: String,
        /// Expected status: `True`, `False` or `Unknown`.
        status: String,
        /// Expected reason, when given.
        reason: Option<String>,
    },
    /// The value at `path` equals `value` (JSON equality).
    FieldEquals {
        /// The object.
        object: ObjectSelector,
        /// Where to look.
        path: FieldPath,
        /// What must be there.
        value: serde_json::Value,
    },
    /// The number of objects of a type (matching a label selector) is within bounds.
    Count {
        /// The type and namespace.
        resource: ResourceSelector,
        /// Label selector (Kubernetes syntax), when given.
        selector: Option<String>,
        /// Inclusive lower bound.
        min: u64,
        /// Inclusive upper bound.
        max: u64,
    },
}

/// One declared check of a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The stage it belongs to.
    pub stage: String,
    /// Its name, unique within the stage: `[a-z0-9_]+`.
    pub name: String,
    /// What it asserts.
    pub assertion: Assertion,
}

impl Check {
    /// The trial name: `<stage>::<check>`.
    pub fn trial_name(&self) -> String {
        format!("{}::{}", self.stage, self.name)
    }
}

/// Renders and validates a stage's `checks.yaml` (none when the file does not exist).
///
/// Errors: [`Error::Invalid`] with file and line for template errors, unknown fields,
/// malformed paths or selectors, a check with no or several assertions, or a duplicate name.
pub fn load_checks(stage: &Stage, context: &RenderContext) -> Result<Vec<Check>, Error> {
    let path = stage.checks_file();
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = render_file(&path, context)?;
    parse_checks(&stage.name, &path, &text)
}

/// Parses rendered check text of `stage`; `path` names it in errors.
pub fn parse_checks(stage: &str, path: &Path, text: &str) -> Result<Vec<Check>, Error> {
    let invalid = |line: usize, message: String| Error::Invalid {
        path: path.to_owned(),
        line,
        message,
    };
    let file: CheckFile = serde_yaml_ng::from_str(text).map_err(|error| {
        invalid(
            error.location().map_or(0, |location| location.line()),
            error.to_string(),
        )
    })?;
    let mut checks: Vec<Check> = Vec::new();
    for raw in file.checks {
        let line = line_of_check(text, &raw.name);
        let valid_name = !raw.name.is_empty()
            && raw
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(invalid(
                line,
                format!(
                    "check name `{}` must be lowercase letters, digits and `_`",
                    raw.name
                ),
            ));
        }
        if checks.iter().any(|check| check.name == raw.name) {
            return Err(invalid(
                line,
                format!("check `{}` is declared twice", raw.name),
            ));
        }
        let mut assertions = Vec::new();
        if let Some(spec) = raw.exists {
            assertions.push(Assertion::Exists(spec.object));
        }
        if let Some(spec) = raw.absent {
            assertions.push(Assertion::Absent(spec.object));
        }
        if let Some(spec) = raw.condition {
            if !["True", "False", "Unknown"].contains(&spec.status.as_str()) {
                return Err(invalid(
                    line,
                    format!(
                        "check `{}`: condition status must be True, False or Unknown, not `{}`",
                        raw.name, spec.status
                    ),
                ));
            }
            assertions.push(Assertion::Condition {
                object: spec.object,
                type_: spec.type_,
                status: spec.status,
                reason: spec.reason,
            });
        }
        if let Some(spec) = raw.field_equals {
            let path = FieldPath::parse(&spec.path)
                .map_err(|error| invalid(line, format!("check `{}`: {error}", raw.name)))?;
            assertions.push(Assertion::FieldEquals {
                object: spec.object,
                path,
                value: spec.value,
            });
        }
        if let Some(spec) = raw.count {
            if let Some(selector) = &spec.selector {
                validate_selector(selector)
                    .map_err(|error| invalid(line, format!("check `{}`: {error}", raw.name)))?;
            }
            let (min, max) = match (spec.equals, spec.min, spec.max) {
                (Some(equals), None, None) => (equals, equals),
                (None, min, max) if min.is_some() || max.is_some() => {
                    (min.unwrap_or(0), max.unwrap_or(u64::MAX))
                }
                _ => {
                    return Err(invalid(
                        line,
                        format!(
                            "check `{}`: count takes either `equals` or `min`/`max`",
                            raw.name
                        ),
                    ))
                }
            };
            if min > max {
                return Err(invalid(
                    line,
                    format!("check `{}`: count min {min} is above max {max}", raw.name),
                ));
            }
            assertions.push(Assertion::Count {
                resource: spec.resource,
                selector: spec.selector,
                min,
                max,
            });
        }
        if assertions.len() != 1 {
            return Err(invalid(
                line,
                format!(
                    "check `{}` must have exactly one of exists, absent, condition, field_equals, count (it has {})",
                    raw.name,
                    assertions.len()
                ),
            ));
        }
        checks.push(Check {
            stage: stage.to_owned(),
            name: raw.name,
            assertion: assertions.remove(0),
        });
    }
    Ok(checks)
}

fn line_of_check(text: &str, name: &str) -> usize {
    text.lines()
        .position(|line| {
            let trimmed = line.trim_start().trim_start_matches("- ");
            trimmed
                .strip_prefix("name:")
                .is_some_and(|rest| rest.trim().trim_matches('"') == name)
        })
        .map_or_else(|| line_of_key(text, "checks"), |index| index + 1)
}

/// Checks a label selector's syntax (Kubernetes "Labels and Selectors": comma-separated
/// `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`).
pub fn validate_selector(selector: &str) -> Result<(), String> {
    let mut rest = selector.trim();
    if rest.is_empty() {
        return Err("the label selector is empty".to_owned());
    }
    while !rest.is_empty() {
        // A set-based requirement's value list contains commas; take it whole.
        let end = match (rest.find(','), rest.find('(')) {
            (Some(comma), Some(open)) if open < comma => {
                rest.find(')').map_or(rest.len(), |close| close + 1)
            }
            (Some(comma), _) => comma,
            (None, _) => rest.len(),
        };
        let requirement = rest[..end].trim();
        rest = rest[end..].trim_start_matches(',').trim();
        let valid = if let Some(key) = requirement.strip_prefix('!') {
            is_label_key(key.trim())
        } else if let Some((key, values)) = requirement
            .split_once(" notin ")
            .or_else(|| requirement.split_once(" in "))
        {
            let values = values.trim();
            is_label_key(key.trim())
                && values.starts_with('(')
                && values.ends_with(')')
                && values[1..values.len() - 1]
                    .split(',')
                    .all(|value| is_label_value(value.trim()))
        } else if let Some((key, value)) = requirement
            .split_once("!=")
            .or_else(|| requirement.split_once("=="))
            .or_else(|| requirement.split_once('='))
        {
            is_label_key(key.trim()) && is_label_value(value.trim())
        } else {
            is_label_key(requirement)
        };
        if !valid {
            return Err(format!(
                "`{requirement}` in label selector `{selector}` is not a valid requirement"
            ));
        }
    }
    Ok(())
}

fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && (value.is_empty()
            || (value.as_bytes()[0].is_ascii_alphanumeric()
                && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric()))
}

fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|prefix| {
        !prefix.is_empty()
            && prefix.len() <= 253
            && prefix
                .split('.')
                .all(|label| deployer::config::is_dns_label(label, 63))
    });
    prefix_ok && !name.is_empty() && is_label_value(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_error(text: &str, line: usize, fragment: &str) {
        let error = parse_checks("s", Path::new("checks.yaml"), text).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("checks.yaml:{line}:")),
            "{message}"
        );
        assert!(message.contains(fragment), "{message}");
    }

    const OBJECT: &str = "{apiVersion: v1, kind: ConfigMap, namespace: d, name: x}";

    #[test]
    fn parses_every_assertion() {
        let text = format!(
            "checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n  - name: b\n    count: {{resource: {{apiVersion: v1, kind: Pod}}, selector: 'app in (a, b),!x', min: 1}}\n  - name: c\n    field_equals: {{object: {OBJECT}, path: 'data.k', value: 3}}\n"
        );
        let checks = parse_checks("s", Path::new("checks.yaml"), &text).unwrap();
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[1].trial_name(), "s::b");
        assert!(matches!(
            checks[1].assertion,
            Assertion::Count {
                min: 1,
                max: u64::MAX,
                ..
            }
        ));
    }

    #[test]
    fn bad_checks_name_file_line_and_text() {
        check_error(
            &format!("checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n    colour: red\n"),
            4,
            "colour",
        );
        check_error(&format!("checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n  - name: b\n    absent: {{object: {OBJECT}}}\n    exists: {{object: {OBJECT}}}\n"), 4, "exactly one");
        check_error(&format!("checks:\n  - name: a\n    field_equals: {{object: {OBJECT}, path: 'spec..x', value: 1}}\n"), 2, "spec..x");
        check_error("checks:\n  - name: a\n    count: {resource: {apiVersion: v1, kind: Pod}, selector: 'app=(x', equals: 1}\n", 2, "app=(x");
        check_error(&format!("checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n  - name: a\n    exists: {{object: {OBJECT}}}\n"), 2, "twice");
        check_error(
            &format!("checks:\n  - name: Bad-Name\n    exists: {{object: {OBJECT}}}\n"),
            2,
            "Bad-Name",
        );
    }

    #[test]
    fn selectors() {
        for good in [
            "app=x",
            "app.kubernetes.io/name=traefik,component!=hub",
            "!x",
            "tier in (a,b),env notin (prod)",
            "a==b",
        ] {
            assert_eq!(validate_selector(good), Ok(()), "{good}");
        }
        for bad in ["", "app=(x", "=x", "a b", "app in a,b", "-a=b"] {
            assert!(validate_selector(bad).is_err(), "{bad}");
        }
    }
}
