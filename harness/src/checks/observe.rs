//! Judging object assertions on what a watch has seen: pure functions, no I/O.

use std::sync::Arc;

use deployer::wait::condition_status;
use kube::api::DynamicObject;
use serde_json::Value;

use super::spec::{Assertion, ExpressionTarget};
use super::subset;

/// One look at the world: whether the assertion holds, and what was seen, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The assertion holds.
    pub holds: bool,
    /// What was observed; when it does not hold, what was expected and what was found.
    pub observed: String,
}

impl Observation {
    /// It holds.
    pub fn holds(observed: String) -> Observation {
        Observation {
            holds: true,
            observed,
        }
    }

    /// It does not hold (yet).
    pub fn pending(observed: String) -> Observation {
        Observation {
            holds: false,
            observed,
        }
    }
}

/// The object as JSON, as the API server serves it.
pub fn to_json(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// Judges an assertion about one object (`exists`, `absent`, `condition`, `field_equals`,
/// `match`, `cel` on an object); `live` is the object as last seen, `None` when it does not
/// exist. Other assertions are not judged here and never hold.
pub fn observe_object(assertion: &Assertion, live: Option<&DynamicObject>) -> Observation {
    let Some(object) = assertion.object() else {
        return Observation::pending(format!("`{}` is not about one object", assertion.kind()));
    };
    let live = match (assertion, live) {
        (Assertion::Absent(_), None) => return Observation::holds(format!("{object} is absent")),
        (Assertion::Absent(_), Some(live)) => {
            return Observation::pending(format!(
                "{object} exists (uid {}){}",
                live.metadata.uid.clone().unwrap_or_default(),
                live.metadata
                    .deletion_timestamp
                    .as_ref()
                    .map(|_| ", its deletion is pending")
                    .unwrap_or_default()
            ))
        }
        (_, None) => return Observation::pending(format!("{object} does not exist")),
        (_, Some(live)) => live,
    };
    match assertion {
        Assertion::Exists(_) => Observation::holds(format!("{object} exists")),
        Assertion::Condition {
            type_,
            status,
            reason,
            ..
        } => {
            let live_status = &live.data["status"];
            let actual = condition_status(live_status, type_);
            let actual_reason = live_status["conditions"]
                .as_array()
                .and_then(|conditions| conditions.iter().find(|c| c["type"] == type_.as_str()))
                .and_then(|condition| condition["reason"].as_str());
            let status_ok = actual == Some(status.as_str());
            let reason_ok = reason
                .as_deref()
                .is_none_or(|reason| actual_reason == Some(reason));
            let expected = match reason {
                Some(reason) => format!("{type_}={status} ({reason})"),
                None => format!("{type_}={status}"),
            };
            let observed = match (actual, actual_reason) {
                (None, _) => format!("no {type_} condition"),
                (Some(actual), Some(actual_reason)) => {
                    format!("{type_}={actual} ({actual_reason})")
                }
                (Some(actual), None) => format!("{type_}={actual}"),
            };
            if status_ok && reason_ok {
                Observation::holds(format!("{object} has {observed}"))
            } else {
                Observation::pending(format!("{object}: expected {expected}, found {observed}"))
            }
        }
        Assertion::FieldEquals { path, value, .. } => {
            let whole = to_json(live);
            match path.lookup(&whole) {
                Some(actual) if actual == value => {
                    Observation::holds(format!("{object}: {path} is {actual}"))
                }
                Some(actual) => {
                    Observation::pending(format!("{object}: {path} is {actual}, expected {value}"))
                }
                None => {
                    Observation::pending(format!("{object}: {path} is not set, expected {value}"))
                }
            }
        }
        Assertion::Match { expected, .. } => {
            let whole = to_json(live);
            let mismatches = subset::mismatches(expected, &whole);
            if mismatches.is_empty() {
                Observation::holds(format!("{object} matches the expected subset"))
            } else {
                Observation::pending(format!(
                    "{object} does not match the expected subset:\n{}",
                    subset::describe(expected, &whole, &mismatches)
                ))
            }
        }
        Assertion::Cel { expression, .. } => match expression.evaluate(&to_json(live)) {
            Ok(true) => Observation::holds(format!("`{expression}` is true on {object}")),
            Ok(false) => Observation::pending(format!("`{expression}` is false on {object}")),
            Err(error) => Observation::pending(format!("{object}: {error}")),
        },
        _ => Observation::pending(format!("`{}` is not about one object", assertion.kind())),
    }
}

/// Judges an assertion about a set of objects (`count`, `cel` on a resource); `objects` are the
/// ones of the type and namespace, already filtered by the label selector.
pub fn observe_objects(assertion: &Assertion, objects: &[Arc<DynamicObject>]) -> Observation {
    match assertion {
        Assertion::Count {
            resource,
            selector,
            min,
            max,
        } => {
            let count = objects.len() as u64;
            let bounds = match (*min, *max) {
                (min, max) if min == max => format!("exactly {min}"),
                (0, max) => format!("at most {max}"),
                (min, u64::MAX) => format!("at least {min}"),
                (min, max) => format!("{min} to {max}"),
            };
            let scope = match &resource.namespace {
                Some(namespace) => format!(" in {namespace}"),
                None => String::new(),
            };
            let matching = selector
                .as_ref()
                .map(|s| format!(" matching `{s}`"))
                .unwrap_or_default();
            let mut names: Vec<&str> = objects
                .iter()
                .filter_map(|object| object.metadata.name.as_deref())
                .take(5)
                .collect();
            names.sort_unstable();
            let found = if names.is_empty() {
                String::new()
            } else {
                format!(
                    " ({}{})",
                    names.join(", "),
                    if objects.len() > 5 { ", …" } else { "" }
                )
            };
            let text = format!(
                "{count} {}{scope}{matching}{found}, expected {bounds}",
                resource.kind
            );
            if (*min..=*max).contains(&count) {
                Observation::holds(text)
            } else {
                Observation::pending(text)
            }
        }
        Assertion::Cel {
            target: ExpressionTarget::Objects { resource, .. },
            expression,
        } => {
            let list = Value::Array(objects.iter().map(|object| to_json(object)).collect());
            match expression.evaluate(&list) {
                Ok(true) => Observation::holds(format!(
                    "`{expression}` is true on {} {resource}",
                    objects.len()
                )),
                Ok(false) => Observation::pending(format!(
                    "`{expression}` is false on {} {resource}",
                    objects.len()
                )),
                Err(error) => Observation::pending(format!("{resource}: {error}")),
            }
        }
        other => Observation::pending(format!("`{}` is not about a set of objects", other.kind())),
    }
}
