//! Label selectors in Kubernetes' string syntax, parsed into `kube::core::Selector` so the same
//! selector filters a list request and a watch's store.
//!
//! Syntax (Kubernetes docs, "Labels and Selectors"): comma-separated requirements `key`,
//! `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`.

use std::collections::BTreeSet;

use kube::core::{Expression, Selector, SelectorExt};

/// A parsed label selector and the text it came from.
#[derive(Debug, Clone)]
pub struct LabelSelector {
    source: String,
    selector: Selector,
}

impl PartialEq for LabelSelector {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl LabelSelector {
    /// Parses `source`.
    ///
    /// Errors: a message quoting the first malformed requirement.
    pub fn parse(source: &str) -> Result<LabelSelector, String> {
        let mut rest = source.trim();
        if rest.is_empty() {
            return Err("the label selector is empty".to_owned());
        }
        let mut expressions = Vec::new();
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
            let expression = parse_requirement(requirement).ok_or_else(|| {
                format!("`{requirement}` in label selector `{source}` is not a valid requirement")
            })?;
            expressions.push(expression);
        }
        Ok(LabelSelector {
            source: source.to_owned(),
            selector: Selector::from_iter(expressions),
        })
    }

    /// The selector text, as given (what a list request's `labelSelector` takes).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.selector.matches(labels)
    }
}

fn parse_requirement(requirement: &str) -> Option<Expression> {
    if let Some(key) = requirement.strip_prefix('!') {
        let key = key.trim();
        return is_label_key(key).then(|| Expression::DoesNotExist(key.to_owned()));
    }
    let set_based = requirement
        .split_once(" notin ")
        .map(|split| (split, true))
        .or_else(|| requirement.split_once(" in ").map(|split| (split, false)));
    if let Some(((key, values), negated)) = set_based {
        let (key, values) = (key.trim(), values.trim());
        let inner = values.strip_prefix('(')?.strip_suffix(')')?;
        let values: BTreeSet<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
        if !is_label_key(key) || !values.iter().all(|value| is_label_value(value)) {
            return None;
        }
        return Some(if negated {
            Expression::NotIn(key.to_owned(), values)
        } else {
            Expression::In(key.to_owned(), values)
        });
    }
    let equality = requirement
        .split_once("!=")
        .map(|split| (split, true))
        .or_else(|| requirement.split_once("==").map(|split| (split, false)))
        .or_else(|| requirement.split_once('=').map(|split| (split, false)));
    if let Some(((key, value), negated)) = equality {
        let (key, value) = (key.trim(), value.trim());
        if !is_label_key(key) || !is_label_value(value) {
            return None;
        }
        return Some(if negated {
            Expression::NotEqual(key.to_owned(), value.to_owned())
        } else {
            Expression::Equal(key.to_owned(), value.to_owned())
        });
    }
    is_label_key(requirement).then(|| Expression::Exists(requirement.to_owned()))
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
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches() {
        let selector =
            LabelSelector::parse("app.kubernetes.io/name=traefik,tier in (a, b),!legacy,env!=prod")
                .unwrap();
        assert!(selector.matches(&labels(&[
            ("app.kubernetes.io/name", "traefik"),
            ("tier", "b")
        ])));
        assert!(!selector.matches(&labels(&[
            ("app.kubernetes.io/name", "traefik"),
            ("tier", "c")
        ])));
        assert!(!selector.matches(&labels(&[
            ("app.kubernetes.io/name", "traefik"),
            ("tier", "a"),
            ("legacy", "")
        ])));
        assert!(!selector.matches(&labels(&[
            ("app.kubernetes.io/name", "traefik"),
            ("tier", "a"),
            ("env", "prod")
        ])));
        let exists = LabelSelector::parse("component, a==b").unwrap();
        assert!(exists.matches(&labels(&[("component", "x"), ("a", "b")])));
        assert!(!exists.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn rejects_malformed_requirements() {
        for bad in ["", "app=(x", "=x", "a b", "app in a,b", "-a=b"] {
            let error = LabelSelector::parse(bad).unwrap_err();
            assert!(
                bad.is_empty() || error.contains(bad.split(',').next().unwrap()),
                "{error}"
            );
        }
    }
}
