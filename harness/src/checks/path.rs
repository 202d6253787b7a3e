//! Field paths such as `spec.rules[0].host`: dotted map keys with `[index]` array steps.

use std::fmt;

use serde_json::Value;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A map key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    steps: Vec<Step>,
}

impl FieldPath {
    /// Parses `a.b[0].c`. Keys are non-empty and may not contain `.`, `[` or `]`.
    ///
    /// Errors: a message naming the offending text.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let mut steps = Vec::new();
        if text.is_empty() {
            return Err("the path is empty".to_owned());
        }
        for part in text.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(index) => (&part[..index], &part[index..]),
                None => (part, ""),
            };
            if key.is_empty() || key.contains(']') {
                return Err(format!("`{text}`: `{part}` is not a key"));
            }
            steps.push(Step::Key(key.to_owned()));
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .ok_or_else(|| format!("`{text}`: `[` without `]`"))?;
                let index = rest[1..close].parse::<usize>().map_err(|_| {
                    format!("`{text}`: `{}` is not an array index", &rest[..=close])
                })?;
                steps.push(Step::Index(index));
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!("`{text}`: unexpected `{rest}`"));
                }
            }
        }
        Ok(FieldPath {
            text: text.to_owned(),
            steps,
        })
    }

    /// The value at this path, or `None` when a step is missing.
    pub fn lookup<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.steps
            .iter()
            .try_fold(value, |current, step| match step {
                Step::Key(key) => current.get(key),
                Step::Index(index) => current.get(index),
            })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_looks_up() {
        let value = json!({"spec": {"rules": [{"host": "a"}, {"host": "b"}], "m": [[1, 2]]}});
        let lookup = |path: &str| FieldPath::parse(path).unwrap().lookup(&value).cloned();
        assert_eq!(lookup("spec.rules[1].host"), Some(json!("b")));
        assert_eq!(lookup("spec.m[0][1]"), Some(json!(2)));
        assert_eq!(lookup("spec.rules[2].host"), None);
        assert_eq!(lookup("spec.missing"), None);
    }

    #[test]
    fn rejects_malformed_paths() {
        for (path, fragment) in [
            ("", "empty"),
            ("spec..x", "is not a key"),
            ("spec.rules[x]", "not an array index"),
            ("spec.rules[0", "without `]`"),
            ("spec.rules[0]x", "unexpected `x`"),
        ] {
            let error = FieldPath::parse(path).unwrap_err();
            assert!(error.contains(fragment), "{path}: {error}");
        }
    }
}
