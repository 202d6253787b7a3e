//! The check file's schema, and loading it: render, parse, validate — all before anything is
//! deployed. Every error names the file, the line and the offending text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use deployer::error::{line_of_key, Error};
use deployer::platform::Stage;
use deployer::render::{render_file, RenderContext};
use serde::Deserialize;

use super::expression::Expression;
use super::path::FieldPath;
use super::selector::LabelSelector;
use super::subset;

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

/// Which objects a count or list expression is about: a type, optionally a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSelector {
    /// `apiVersion`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace; omit for cluster-scoped kinds or to look in every namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

impl std::fmt::Display for ResourceSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} in {namespace}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// What a CEL expression is evaluated on.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpressionTarget {
    /// One object, bound to `object`.
    Object(ObjectSelector),
    /// The objects of a type (matching a selector), bound to `objects`.
    Objects {
        /// Type and namespace.
        resource: ResourceSelector,
        /// Label selector, when given.
        selector: Option<LabelSelector>,
    },
}

/// An RBAC question for a SubjectAccessReview (Kubernetes API `authorization.k8s.io/v1`):
/// may `user` (in `groups`) do `verb` on `resource` in `namespace`?
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    /// The user name.
    pub user: String,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The verb: `get`, `list`, `create`, `delete`, …
    pub verb: String,
    /// The resource, plural: `pods`, `deployments`, …
    pub resource: String,
    /// The API group (`""` for the core group, `apps`, …).
    #[serde(default)]
    pub group: String,
    /// A subresource, e.g. `log`.
    #[serde(default)]
    pub subresource: Option<String>,
    /// The namespace; omit for a cluster-wide question.
    #[serde(default)]
    pub namespace: Option<String>,
    /// One object's name, when the question is about one.
    #[serde(default)]
    pub name: Option<String>,
    /// The expected answer.
    pub allowed: bool,
}

/// How an endpoint's certificate is trusted. Self-signed certificates pass only with `Ca` or
/// `Insecure`, never by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's trust store.
    System,
    /// Only this CA bundle (PEM).
    Ca(PathBuf),
    /// Any certificate: said explicitly with `insecure: true`.
    Insecure,
}

/// An HTTP(S) check: the response to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    /// The URL; its host is resolved through the harness's resolver overrides first.
    pub url: String,
    /// The method (`GET` when not given).
    pub method: String,
    /// Expected status code.
    pub status: u16,
    /// Headers that must be present; a value matches when the response's contains it
    /// (names are case-insensitive, RFC 9110 §5.1).
    pub headers: BTreeMap<String, String>,
    /// A subset the JSON body must contain (see [`super::subset`]).
    pub json: Option<serde_json::Value>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// Whether redirects are followed (otherwise a 3xx is the response).
    pub follow_redirects: bool,
    /// Certificate trust.
    pub trust: Trust,
}

/// A TLS check: the certificate a server presents for a name.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSpec {
    /// `host:port` to connect to.
    pub address: String,
    /// The name sent as SNI and verified (the address's host when not given).
    pub server_name: String,
    /// Names the certificate's subjectAltName must contain.
    pub san_contains: Vec<String>,
    /// Text the issuer's distinguished name must contain.
    pub issuer_contains: Option<String>,
    /// The certificate must be valid for at least this many more days.
    pub min_days_to_expiry: Option<u32>,
    /// Trust: with `Ca`, the chain must verify against it for `server_name`.
    pub trust: Trust,
}

/// A TCP check: a connection to `host:port` is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    /// `host:port`.
    pub address: String,
}

/// An OIDC check: the issuer's discovery document (OpenID Connect Discovery 1.0 §4) is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcSpec {
    /// The issuer URL; the document is at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Certificate trust.
    pub trust: Trust,
}

/// What a check asserts.
#[derive(Debug, Clone, PartialEq)]
pub enum Assertion {
    /// The object exists.
    Exists(ObjectSelector),
    /// The object does not exist, or disappears before the timeout.
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
    /// The object contains the expected subset (see [`super::subset`]).
    Match {
        /// The object.
        object: ObjectSelector,
        /// The subset.
        expected: serde_json::Value,
    },
    /// A CEL expression over the object(s) is true.
    Cel {
        /// What it is evaluated on.
        target: ExpressionTarget,
        /// The compiled expression.
        expression: Expression,
    },
    /// The number of objects of a type (matching a label selector) is within bounds.
    Count {
        /// The type and namespace.
        resource: ResourceSelector,
        /// Label selector, when given.
        selector: Option<LabelSelector>,
        /// Inclusive lower bound.
        min: u64,
        /// Inclusive upper bound.
        max: u64,
    },
    /// A SubjectAccessReview gives the expected answer.
    Access(AccessSpec),
    /// An HTTP(S) request gets the expected response.
    Http(HttpSpec),
    /// A TLS server presents the expected certificate.
    Tls(TlsSpec),
    /// A TCP port accepts connections.
    Tcp(TcpSpec),
    /// An OIDC issuer serves a valid discovery document.
    Oidc(OidcSpec),
    /// A chart's test hook Pod runs and succeeds (made from the chart, not from checks.yaml).
    HelmTest(super::helm_test::HelmTestSpec),
}

impl Assertion {
    /// The kind's name as written in check files (`exists`, `match`, `http`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Assertion::Exists(_) => "exists",
            Assertion::Absent(_) => "absent",
            Assertion::Condition { .. } => "condition",
            Assertion::FieldEquals { .. } => "field_equals",
            Assertion::Match { .. } => "match",
            Assertion::Cel { .. } => "cel",
            Assertion::Count { .. } => "count",
            Assertion::Access(_) => "access",
            Assertion::Http(_) => "http",
            Assertion::Tls(_) => "tls",
            Assertion::Tcp(_) => "tcp",
            Assertion::Oidc(_) => "oidc",
            Assertion::HelmTest(_) => "helm_test",
        }
    }

    /// What a wait on this assertion awaits, in words (used in timeout messages).
    pub fn awaited(&self) -> String {
        match self {
            Assertion::Exists(object) => format!("{object} to exist"),
            Assertion::Absent(object) => format!("{object} to be absent"),
            Assertion::Condition {
                object,
                type_,
                status,
                reason,
            } => match reason {
                Some(reason) => format!("{object} to have {type_}={status} ({reason})"),
                None => format!("{object} to have {type_}={status}"),
            },
            Assertion::FieldEquals {
                object,
                path,
                value,
            } => format!("{object} to have {path} = {value}"),
            Assertion::Match { object, .. } => format!("{object} to match the expected subset"),
            Assertion::Cel { target, expression } => match target {
                ExpressionTarget::Object(object) => format!("`{expression}` on {object}"),
                ExpressionTarget::Objects { resource, .. } => {
                    format!("`{expression}` on {resource}")
                }
            },
            Assertion::Count {
                resource, selector, ..
            } => match selector {
                Some(selector) => format!("the count of {resource} matching `{selector}`"),
                None => format!("the count of {resource}"),
            },
            Assertion::Access(spec) => format!(
                "user {} to be {} to {} {}",
                spec.user,
                if spec.allowed { "allowed" } else { "denied" },
                spec.verb,
                spec.resource
            ),
            Assertion::Http(spec) => {
                format!("{} {} to answer {}", spec.method, spec.url, spec.status)
            }
            Assertion::Tls(spec) => format!(
                "the certificate of {} for {}",
                spec.address, spec.server_name
            ),
            Assertion::Tcp(spec) => format!("{} to accept a TCP connection", spec.address),
            Assertion::Oidc(spec) => format!("the OIDC discovery document of {}", spec.issuer),
            Assertion::HelmTest(spec) => {
                format!("test pod {}/{} to succeed", spec.namespace, spec.name)
            }
        }
    }

    /// The object this assertion is about, when it is about one.
    pub fn object(&self) -> Option<&ObjectSelector> {
        match self {
            Assertion::Exists(object)
            | Assertion::Absent(object)
            | Assertion::Condition { object, .. }
            | Assertion::FieldEquals { object, .. }
            | Assertion::Match { object, .. }
            | Assertion::Cel {
                target: ExpressionTarget::Object(object),
                ..
            } => Some(object),
            _ => None,
        }
    }

    /// The namespaces this assertion looks at (for diagnostics).
    pub fn namespaces(&self) -> Vec<String> {
        let namespace = match self {
            Assertion::Count { resource, .. }
            | Assertion::Cel {
                target: ExpressionTarget::Objects { resource, .. },
                ..
            } => resource.namespace.clone(),
            Assertion::Access(spec) => spec.namespace.clone(),
            Assertion::HelmTest(spec) => Some(spec.namespace.clone()),
            other => other.object().and_then(|object| object.namespace.clone()),
        };
        namespace.into_iter().collect()
    }
}

/// Per-check defaults (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDefaults {
    /// How long one attempt may wait for its assertion to hold.
    pub timeout: Duration,
    /// How many times a failed check is tried again.
    pub retries: u32,
}

impl Default for CheckDefaults {
    fn default() -> Self {
        CheckDefaults {
            timeout: Duration::from_secs(60),
            retries: 0,
        }
    }
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
    /// How long one attempt may wait for the assertion to hold.
    pub timeout: Duration,
    /// How many times it is tried again after a failure (a later pass is reported as flaky).
    pub retries: u32,
    /// Checks of the same stage that must pass before this one starts.
    pub after: Vec<String>,
}

impl Check {
    /// A check with default timeout and retries and no dependencies.
    pub fn new(stage: &str, name: &str, assertion: Assertion) -> Check {
        let defaults = CheckDefaults::default();
        Check {
            stage: stage.to_owned(),
            name: name.to_owned(),
            assertion,
            timeout: defaults.timeout,
            retries: defaults.retries,
            after: Vec::new(),
        }
    }

    /// The trial name: `<stage>::<check>`.
    pub fn trial_name(&self) -> String {
        format!("{}::{}", self.stage, self.name)
    }
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
struct MatchSpec {
    object: ObjectSelector,
    expect: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CelSpec {
    #[serde(default)]
    object: Option<ObjectSelector>,
    #[serde(default)]
    resource: Option<ResourceSelector>,
    #[serde(default)]
    selector: Option<String>,
    expr: String,
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
struct RawHttp {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    json: Option<serde_json::Value>,
    #[serde(default)]
    body_contains: Option<String>,
    #[serde(default)]
    follow_redirects: bool,
    #[serde(default)]
    ca: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    address: String,
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default)]
    san_contains: Vec<String>,
    #[serde(default)]
    issuer_contains: Option<String>,
    #[serde(default)]
    min_days_to_expiry: Option<u32>,
    #[serde(default)]
    ca: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer: String,
    #[serde(default)]
    ca: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    exists: Option<ObjectOnly>,
    #[serde(default)]
    absent: Option<ObjectOnly>,
    #[serde(default)]
    condition: Option<ConditionSpec>,
    #[serde(default)]
    field_equals: Option<FieldEqualsSpec>,
    #[serde(default, rename = "match")]
    match_: Option<MatchSpec>,
    #[serde(default)]
    cel: Option<CelSpec>,
    #[serde(default)]
    count: Option<CountSpec>,
    #[serde(default)]
    access: Option<AccessSpec>,
    #[serde(default)]
    http: Option<RawHttp>,
    #[serde(default)]
    tls: Option<RawTls>,
    #[serde(default)]
    tcp: Option<TcpSpec>,
    #[serde(default)]
    oidc: Option<RawOidc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    checks: Vec<RawCheck>,
}

/// Renders and validates a stage's `checks.yaml` (none when the file does not exist).
///
/// Errors: [`Error::Invalid`] with file and line for template errors, unknown fields,
/// malformed paths, expressions, subsets, selectors or addresses, a check with no or several
/// assertions, a duplicate name, or an `after` naming an unknown check or forming a cycle.
pub fn load_checks(
    stage: &Stage,
    context: &RenderContext,
    defaults: CheckDefaults,
) -> Result<Vec<Check>, Error> {
    let path = stage.checks_file();
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = render_file(&path, context)?;
    parse_checks(&stage.name, &path, &text, defaults)
}

/// Parses rendered check text of `stage`; `path` names it in errors, and relative `ca` paths
/// are resolved against its directory.
pub fn parse_checks(
    stage: &str,
    path: &Path,
    text: &str,
    defaults: CheckDefaults,
) -> Result<Vec<Check>, Error> {
    let file: CheckFile = serde_yaml_ng::from_str(text).map_err(|error| Error::Invalid {
        path: path.to_owned(),
        line: error.location().map_or(0, |location| location.line()),
        message: error.to_string(),
    })?;
    let mut checks: Vec<Check> = Vec::new();
    let mut lines = Vec::new();
    for raw in file.checks {
        let line = line_of_check(text, &raw.name, lines.last().copied().unwrap_or(0));
        let at = Locator {
            path,
            text,
            line,
            check: raw.name.clone(),
        };
        let valid_name = !raw.name.is_empty()
            && raw
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(at.error(
                &raw.name,
                "the name must be lowercase letters, digits and `_`".to_owned(),
            ));
        }
        if checks.iter().any(|check| check.name == raw.name) {
            return Err(at.error(&raw.name, "declared twice".to_owned()));
        }
        if raw.timeout_seconds == Some(0) {
            return Err(at.error(
                "timeout_seconds",
                "`timeout_seconds` must be at least 1".to_owned(),
            ));
        }
        let timeout = raw
            .timeout_seconds
            .map_or(defaults.timeout, Duration::from_secs);
        let retries = raw.retries.unwrap_or(defaults.retries);
        let after = raw.after.clone();
        let assertion = assertion_of(raw, &at)?;
        checks.push(Check {
            stage: stage.to_owned(),
            name: at.check.clone(),
            assertion,
            timeout,
            retries,
            after,
        });
        lines.push(line);
    }
    validate_order(&checks, &lines, path, text)?;
    Ok(checks)
}

/// Where a check sits in its file, to build errors that name the line of the offending text.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
    line: usize,
    check: String,
}

impl Locator<'_> {
    /// An error at the first line of this check (from its `name:` on) containing `needle`.
    fn error(&self, needle: &str, message: String) -> Error {
        let line = self
            .text
            .lines()
            .enumerate()
            .skip(self.line.saturating_sub(1))
            .find(|(_, line)| !needle.is_empty() && line.contains(needle))
            .map_or(self.line, |(index, _)| index + 1);
        Error::Invalid {
            path: self.path.to_owned(),
            line,
            message: format!("check `{}`: {message}", self.check),
        }
    }

    fn trust(&self, ca: Option<PathBuf>, insecure: bool) -> Result<Trust, Error> {
        match (ca, insecure) {
            (Some(_), true) => Err(self.error(
                "insecure",
                "give either `ca` or `insecure: true`, not both".to_owned(),
            )),
            (Some(ca), false) => {
                let resolved = match self.path.parent() {
                    Some(dir) if ca.is_relative() => dir.join(&ca),
                    _ => ca.clone(),
                };
                if !resolved.is_file() {
                    return Err(self.error(
                        &ca.display().to_string(),
                        format!("the CA file {} does not exist", resolved.display()),
                    ));
                }
                Ok(Trust::Ca(resolved))
            }
            (None, true) => Ok(Trust::Insecure),
            (None, false) => Ok(Trust::System),
        }
    }

    fn url(&self, url: &str) -> Result<(), Error> {
        match reqwest::Url::parse(url) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() =>
            {
                Ok(())
            }
            Ok(_) => Err(self.error(url, format!("`{url}` is not an http(s) URL with a host"))),
            Err(error) => Err(self.error(url, format!("`{url}` is not a URL: {error}"))),
        }
    }

    fn selector(&self, selector: Option<String>) -> Result<Option<LabelSelector>, Error> {
        selector
            .map(|text| LabelSelector::parse(&text).map_err(|error| self.error(&text, error)))
            .transpose()
    }
}

/// Splits `host:port` (IPv6 as `[::1]:443`).
///
/// Errors: no port, or a port that is not a number up to 65535.
pub fn split_address(address: &str) -> Result<(String, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("`{address}` is not host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("`{address}`: `{port}` is not a port number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{address}` has no host"));
    }
    Ok((host.to_owned(), port))
}

fn assertion_of(raw: RawCheck, at: &Locator<'_>) -> Result<Assertion, Error> {
    let mut assertions = Vec::new();
    if let Some(spec) = raw.exists {
        assertions.push(Assertion::Exists(spec.object));
    }
    if let Some(spec) = raw.absent {
        assertions.push(Assertion::Absent(spec.object));
    }
    if let Some(spec) = raw.condition {
        if !["True", "False", "Unknown"].contains(&spec.status.as_str()) {
            return Err(at.error(
                "status",
                format!(
                    "condition status must be True, False or Unknown, not `{}`",
                    spec.status
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
        let path = FieldPath::parse(&spec.path).map_err(|error| at.error(&spec.path, error))?;
        assertions.push(Assertion::FieldEquals {
            object: spec.object,
            path,
            value: spec.value,
        });
    }
    if let Some(spec) = raw.match_ {
        subset::validate(&spec.expect).map_err(|error| at.error("$", error))?;
        assertions.push(Assertion::Match {
            object: spec.object,
            expected: spec.expect,
        });
    }
    if let Some(spec) = raw.cel {
        let target = match (spec.object, spec.resource) {
            (Some(object), None) if spec.selector.is_none() => ExpressionTarget::Object(object),
            (None, Some(resource)) => ExpressionTarget::Objects {
                resource,
                selector: at.selector(spec.selector)?,
            },
            _ => {
                return Err(at.error(
                    "cel",
                    "cel takes either `object`, or `resource` (with an optional `selector`)"
                        .to_owned(),
                ))
            }
        };
        let variable = match target {
            ExpressionTarget::Object(_) => "object",
            ExpressionTarget::Objects { .. } => "objects",
        };
        let expression = Expression::compile(&spec.expr, variable)
            .map_err(|error| at.error(&spec.expr, error))?;
        assertions.push(Assertion::Cel { target, expression });
    }
    if let Some(spec) = raw.count {
        let selector = at.selector(spec.selector)?;
        let (min, max) = match (spec.equals, spec.min, spec.max) {
            (Some(equals), None, None) => (equals, equals),
            (None, min, max) if min.is_some() || max.is_some() => {
                (min.unwrap_or(0), max.unwrap_or(u64::MAX))
            }
            _ => {
                return Err(at.error(
                    "count",
                    "count takes either `equals` or `min`/`max`".to_owned(),
                ))
            }
        };
        if min > max {
            return Err(at.error("min", format!("count min {min} is above max {max}")));
        }
        assertions.push(Assertion::Count {
            resource: spec.resource,
            selector,
            min,
            max,
        });
    }
    if let Some(spec) = raw.access {
        if spec.verb.is_empty() || spec.resource.is_empty() || spec.user.is_empty() {
            return Err(at.error(
                "access",
                "access needs a non-empty `user`, `verb` and `resource`".to_owned(),
            ));
        }
        assertions.push(Assertion::Access(spec));
    }
    if let Some(raw) = raw.http {
        at.url(&raw.url)?;
        if let Some(json) = &raw.json {
            subset::validate(json).map_err(|error| at.error("json", error))?;
        }
        let method = raw
            .method
            .unwrap_or_else(|| "GET".to_owned())
            .to_uppercase();
        if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(at.error(&method, format!("`{method}` is not an HTTP method")));
        }
        let status = raw.status.unwrap_or(200);
        if !(100..=599).contains(&status) {
            return Err(at.error("status", format!("`{status}` is not an HTTP status")));
        }
        assertions.push(Assertion::Http(HttpSpec {
            trust: at.trust(raw.ca, raw.insecure)?,
            url: raw.url,
            method,
            status,
            headers: raw.headers,
            json: raw.json,
            body_contains: raw.body_contains,
            follow_redirects: raw.follow_redirects,
        }));
    }
    if let Some(raw) = raw.tls {
        let (host, _) =
            split_address(&raw.address).map_err(|error| at.error(&raw.address, error))?;
        assertions.push(Assertion::Tls(TlsSpec {
            trust: at.trust(raw.ca, raw.insecure)?,
            server_name: raw.server_name.unwrap_or(host),
            address: raw.address,
            san_contains: raw.san_contains,
            issuer_contains: raw.issuer_contains,
            min_days_to_expiry: raw.min_days_to_expiry,
        }));
    }
    if let Some(spec) = raw.tcp {
        split_address(&spec.address).map_err(|error| at.error(&spec.address, error))?;
        assertions.push(Assertion::Tcp(spec));
    }
    if let Some(raw) = raw.oidc {
        at.url(&raw.issuer)?;
        assertions.push(Assertion::Oidc(OidcSpec {
            trust: at.trust(raw.ca, raw.insecure)?,
            issuer: raw.issuer,
        }));
    }
    if assertions.len() != 1 {
        return Err(at.error(
            &at.check.clone(),
            format!(
                "a check has exactly one of exists, absent, condition, field_equals, match, cel, count, access, http, tls, tcp, oidc (this one has {})",
                assertions.len()
            ),
        ));
    }
    Ok(assertions.remove(0))
}

/// `after` must name other checks of the stage, without cycles.
fn validate_order(checks: &[Check], lines: &[usize], path: &Path, text: &str) -> Result<(), Error> {
    for (check, &line) in checks.iter().zip(lines) {
        let at = Locator {
            path,
            text,
            line,
            check: check.name.clone(),
        };
        for dependency in &check.after {
            if dependency == &check.name {
                return Err(at.error("after", "a check cannot run after itself".to_owned()));
            }
            if !checks.iter().any(|other| &other.name == dependency) {
                return Err(at.error(
                    dependency,
                    format!("`after` names `{dependency}`, which is not a check of this stage"),
                ));
            }
        }
    }
    // Kahn's algorithm: whatever cannot be ordered is on a cycle.
    let mut done: Vec<&str> = Vec::new();
    while done.len() < checks.len() {
        let ready: Vec<&str> = checks
            .iter()
            .filter(|check| !done.contains(&check.name.as_str()))
            .filter(|check| check.after.iter().all(|d| done.contains(&d.as_str())))
            .map(|check| check.name.as_str())
            .collect();
        if ready.is_empty() {
            let (check, &line) = checks
                .iter()
                .zip(lines)
                .find(|(check, _)| !done.contains(&check.name.as_str()))
                .expect("some check is left");
            let cycle: Vec<&str> = checks
                .iter()
                .filter(|check| !done.contains(&check.name.as_str()))
                .map(|check| check.name.as_str())
                .collect();
            let at = Locator {
                path,
                text,
                line,
                check: check.name.clone(),
            };
            return Err(at.error(
                "after",
                format!("`after` forms a cycle among {}", cycle.join(", ")),
            ));
        }
        done.extend(ready);
    }
    Ok(())
}

/// The line of `name: <name>` after line `after` (the previous check's).
fn line_of_check(text: &str, name: &str, after: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(after)
        .find(|(_, line)| {
            let trimmed = line.trim_start().trim_start_matches("- ");
            trimmed
                .strip_prefix("name:")
                .is_some_and(|rest| rest.trim().trim_matches('"') == name)
        })
        .map_or_else(|| line_of_key(text, "checks"), |(index, _)| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Check>, Error> {
        parse_checks(
            "s",
            Path::new("checks.yaml"),
            text,
            CheckDefaults::default(),
        )
    }

    #[track_caller]
    fn check_error(text: &str, line: usize, fragment: &str) {
        let message = parse(text).unwrap_err().to_string();
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
            r#"checks:
  - name: a
    exists: {{object: {OBJECT}}}
  - name: b
    count: {{resource: {{apiVersion: v1, kind: Pod}}, selector: 'app in (a, b),!x', min: 1}}
  - name: c
    field_equals: {{object: {OBJECT}, path: 'data.k', value: 3}}
  - name: d
    match: {{object: {OBJECT}, expect: {{data: {{k: "3"}}}}}}
    timeout_seconds: 5
    retries: 2
    after: [a, c]
  - name: e
    cel: {{resource: {{apiVersion: v1, kind: Pod, namespace: d}}, selector: app=x, expr: "objects.size() > 0"}}
  - name: f
    access: {{user: bob, groups: [analyst], verb: delete, resource: pods, namespace: dev, allowed: false}}
  - name: g
    http: {{url: "https://seatrial.test/hub/api", insecure: true, json: {{version: "5"}}}}
  - name: h
    tls: {{address: "seatrial.test:443", san_contains: [seatrial.test], insecure: true}}
  - name: i
    tcp: {{address: "127.0.0.1:80"}}
  - name: j
    oidc: {{issuer: "https://seatrial.test/auth/realms/x"}}
"#
        );
        let checks = parse(&text).unwrap();
        let kinds: Vec<&str> = checks.iter().map(|c| c.assertion.kind()).collect();
        assert_eq!(
            kinds,
            [
                "exists",
                "count",
                "field_equals",
                "match",
                "cel",
                "access",
                "http",
                "tls",
                "tcp",
                "oidc"
            ]
        );
        assert_eq!(checks[1].trial_name(), "s::b");
        assert!(matches!(
            checks[1].assertion,
            Assertion::Count {
                min: 1,
                max: u64::MAX,
                ..
            }
        ));
        assert_eq!(checks[3].timeout, Duration::from_secs(5));
        assert_eq!(checks[3].retries, 2);
        assert_eq!(checks[3].after, ["a", "c"]);
        assert_eq!(checks[0].timeout, Duration::from_secs(60));
        match &checks[7].assertion {
            Assertion::Tls(spec) => {
                assert_eq!(spec.server_name, "seatrial.test");
                assert_eq!(spec.trust, Trust::Insecure);
            }
            other => panic!("{other:?}"),
        }
        match &checks[6].assertion {
            Assertion::Http(spec) => assert_eq!((spec.method.as_str(), spec.status), ("GET", 200)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_checks_name_file_line_and_text() {
        check_error(
            &format!("checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n    colour: red\n"),
            4,
            "colour",
        );
        check_error(&format!("checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n  - name: b\n    absent: {{object: {OBJECT}}}\n    exists: {{object: {OBJECT}}}\n"), 4, "exactly one");
        check_error(&format!("checks:\n  - name: a\n    field_equals: {{object: {OBJECT}, path: 'spec..x', value: 1}}\n"), 3, "spec..x");
        check_error("checks:\n  - name: a\n    count:\n      resource: {apiVersion: v1, kind: Pod}\n      selector: 'app=(x'\n      equals: 1\n", 5, "app=(x");
        check_error(&format!("checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n  - name: a\n    exists: {{object: {OBJECT}}}\n"), 4, "twice");
        check_error(
            &format!("checks:\n  - name: Bad-Name\n    exists: {{object: {OBJECT}}}\n"),
            2,
            "Bad-Name",
        );
        check_error(
            &format!("checks:\n  - name: a\n    cel:\n      object: {OBJECT}\n      expr: \"object.data.k ==\"\n"),
            5,
            "malformed expression `object.data.k ==`",
        );
        check_error(
            &format!("checks:\n  - name: a\n    match:\n      object: {OBJECT}\n      expect:\n        data: {{$some: {{k: v}}}}\n"),
            6,
            "takes a list",
        );
        check_error(
            "checks:\n  - name: a\n    http:\n      url: \"ftp://x\"\n",
            4,
            "ftp://x",
        );
        check_error(
            "checks:\n  - name: a\n    tls: {address: seatrial.test}\n",
            3,
            "not host:port",
        );
        check_error(
            "checks:\n  - name: a\n    http: {url: \"https://x\", ca: missing-ca.pem}\n",
            3,
            "missing-ca.pem",
        );
        check_error(
            &format!("checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n    after: [b]\n  - name: b\n    exists: {{object: {OBJECT}}}\n    after: [a]\n"),
            4,
            "cycle among a, b",
        );
        check_error(
            &format!("checks:\n  - name: a\n    exists: {{object: {OBJECT}}}\n    after: [zz]\n"),
            4,
            "`zz`",
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(split_address("a.test:443"), Ok(("a.test".into(), 443)));
        assert_eq!(split_address("[::1]:80"), Ok(("::1".into(), 80)));
        assert!(split_address("a.test:https").is_err());
    }
}
