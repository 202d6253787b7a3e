//! The check model: what a check asserts, about which objects or endpoints, with which limits.
//! [`super::file`] builds it from a stage's `checks.yaml`; Rust code can build it directly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::expression::Expression;
use super::path::FieldPath;
use super::selector::LabelSelector;

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
    /// Headers sent with the request (an upgrade seed step's `Content-Type`, say).
    pub request_headers: BTreeMap<String, String>,
    /// The request body, sent as written; `None` sends none.
    pub body: Option<String>,
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

/// A stage's declared checks and the data steps an upgrade trial runs with them (the
/// `upgrade:` section of its `checks.yaml`, docs/upgrade.md).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageChecks {
    /// `checks:`, run once the stage is ready.
    pub checks: Vec<Check>,
    /// `upgrade.seed:`, run before an upgrade, in order, after every stage and scenario passed.
    pub seed: Vec<SeedStep>,
    /// `upgrade.verify:`, run after the upgrade (each as any check runs).
    pub verify: Vec<Check>,
}

/// One write an upgrade trial makes before the upgrade, as a user or service of the stage
/// would.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedStep {
    /// An object created with server-side apply (field manager `seatrial-seed`), labelled as
    /// the run's so the teardown's sweep removes it.
    Apply {
        /// The stage it belongs to.
        stage: String,
        /// Its name, unique among the stage's seed steps.
        name: String,
        /// The object as written (`apiVersion`, `kind`, `metadata.name` present); a namespaced
        /// object without a namespace goes to the platform's.
        object: serde_json::Value,
    },
    /// A check run once, as its stage's checks run: an `http` step with a `body` and `method:
    /// POST` writes through the platform's API and asserts the answer.
    Check(Box<Check>),
}

impl SeedStep {
    /// Its name, unique among the stage's seed steps.
    pub fn name(&self) -> &str {
        match self {
            SeedStep::Apply { name, .. } => name,
            SeedStep::Check(check) => &check.name,
        }
    }

    /// The stage it belongs to.
    pub fn stage(&self) -> &str {
        match self {
            SeedStep::Apply { stage, .. } => stage,
            SeedStep::Check(check) => &check.stage,
        }
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
