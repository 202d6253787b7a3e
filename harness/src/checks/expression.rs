//! Expressions over live objects, in CEL (the Common Expression Language, the language of
//! Kubernetes' ValidatingAdmissionPolicy and CRD validation rules), evaluated by the `cel`
//! crate. An expression sees one variable: `object` (one object, as JSON) or `objects` (a list
//! of objects), and must evaluate to a bool.
//!
//! ```text
//! object.spec.replicas >= 1 && object.metadata.name.startsWith("hub")
//! objects.filter(o, o.status.phase == "Running").size() == objects.size()
//! ```

use std::sync::Arc;

/// A compiled expression and its source.
#[derive(Clone)]
pub struct Expression {
    source: String,
    variable: &'static str,
    program: Arc<cel::Program>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expression({:?})", self.source)
    }
}

impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.variable == other.variable
    }
}

impl std::fmt::Display for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl Expression {
    /// Compiles `source`, which must use `variable` (`object` or `objects`).
    ///
    /// Errors: the parser's message, or that the expression never uses `variable`.
    pub fn compile(source: &str, variable: &'static str) -> Result<Expression, String> {
        let program = cel::Program::compile(source)
            .map_err(|error| format!("malformed expression `{source}`: {error}"))?;
        if !program.references().has_variable(variable) {
            return Err(format!(
                "expression `{source}` never uses `{variable}`, the value it is evaluated on"
            ));
        }
        Ok(Expression {
            source: source.to_owned(),
            variable,
            program: Arc::new(program),
        })
    }

    /// The expression's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variable it is evaluated on: `object` or `objects`.
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// Evaluates the expression with its variable bound to `value`.
    ///
    /// Errors: an evaluation error (say, a missing field without `has()`), or a result that is
    /// not a bool, each quoting the expression.
    pub fn evaluate(&self, value: &serde_json::Value) -> Result<bool, String> {
        let mut context = cel::Context::default();
        context
            .add_variable(self.variable, value)
            .map_err(|error| format!("failed to bind `{}`: {error}", self.variable))?;
        match self.program.execute(&context) {
            Ok(cel::Value::Bool(result)) => Ok(result),
            Ok(other) => Err(format!(
                "expression `{}` gave {other:?}, not a bool",
                self.source
            )),
            Err(error) => Err(format!("expression `{}` failed: {error}", self.source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_comparisons_string_ops_and_counts() {
        let object = json!({"metadata": {"name": "hub-0"}, "spec": {"replicas": 2}});
        let expression = Expression::compile(
            "object.spec.replicas >= 2 && object.metadata.name.startsWith('hub')",
            "object",
        )
        .unwrap();
        assert_eq!(expression.evaluate(&object), Ok(true));
        let objects = json!([{"status": {"phase": "Running"}}, {"status": {"phase": "Pending"}}]);
        let count = Expression::compile(
            "objects.filter(o, o.status.phase == 'Running').size() == 1",
            "objects",
        )
        .unwrap();
        assert_eq!(count.evaluate(&objects), Ok(true));
        let all =
            Expression::compile("objects.all(o, o.status.phase == 'Running')", "objects").unwrap();
        assert_eq!(all.evaluate(&objects), Ok(false));
    }

    #[test]
    fn errors_quote_the_expression() {
        let error = Expression::compile("object.spec.replicas >>= 2", "object").unwrap_err();
        assert!(error.contains("object.spec.replicas >>= 2"), "{error}");
        let error = Expression::compile("objet.spec.replicas > 1", "object").unwrap_err();
        assert!(error.contains("never uses `object`"), "{error}");
        let not_bool = Expression::compile("object.metadata.name", "object").unwrap();
        assert!(not_bool
            .evaluate(&json!({"metadata": {"name": "hub"}}))
            .unwrap_err()
            .contains("not a bool"));
        let missing = Expression::compile("object.spec.paused", "object").unwrap();
        assert!(missing.evaluate(&json!({"spec": {}})).is_err());
    }
}
