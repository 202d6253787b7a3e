//! A stage's `checks.yaml` as written: the raw input structs (serde, unknown fields
//! refused), rendering, and their validation into the check model of [`super::spec`], with
//! every error naming the file and the line of the offending text.

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
use super::spec::split_address;
use super::spec::{
    AccessSpec, Assertion, Check, CheckDefaults, ExpressionTarget, HttpSpec, ObjectSelector,
    OidcSpec, ResourceSelector, SeedStep, StageChecks, TcpSpec, TlsSpec, Trust,
};
use super::subset;

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
    #[serde(default)]
    request_headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
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
    #[serde(default)]
    apply: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    #[serde(default)]
    checks: Vec<RawCheck>,
    #[serde(default)]
    upgrade: Option<RawUpgrade>,
}

/// `upgrade:`: what an upgrade trial writes before the upgrade and checks after it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpgrade {
    #[serde(default)]
    seed: Vec<RawCheck>,
    #[serde(default)]
    verify: Vec<RawCheck>,
}

/// Which list of the file a check is in: only a seed step may `apply`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Checks,
    Seed,
    Verify,
}

/// Renders and validates a stage's `checks.yaml` (nothing when the file does not exist): its
/// checks and its upgrade seed and verify steps.
///
/// Errors: [`Error::Invalid`] with file and line for template errors, unknown fields,
/// malformed paths, expressions, subsets, selectors or addresses, a check with no or several
/// assertions, a duplicate name, an `after` naming an unknown check or forming a cycle, or an
/// `apply` outside `upgrade.seed` or without `apiVersion`, `kind` and `metadata.name`.
pub fn load_checks(
    stage: &Stage,
    context: &RenderContext,
    defaults: CheckDefaults,
) -> Result<StageChecks, Error> {
    let path = stage.checks_file();
    if !path.exists() {
        return Ok(StageChecks::default());
    }
    let text = render_file(&path, context)?;
    parse_stage_checks(&stage.name, &path, &text, defaults)
}

/// The `checks:` of rendered check text of `stage` (see [`parse_stage_checks`]).
pub fn parse_checks(
    stage: &str,
    path: &Path,
    text: &str,
    defaults: CheckDefaults,
) -> Result<Vec<Check>, Error> {
    Ok(parse_stage_checks(stage, path, text, defaults)?.checks)
}

/// Parses rendered check text of `stage`; `path` names it in errors, and relative `ca` paths
/// are resolved against its directory.
pub fn parse_stage_checks(
    stage: &str,
    path: &Path,
    text: &str,
    defaults: CheckDefaults,
) -> Result<StageChecks, Error> {
    let file: CheckFile = deployer::yaml::from_str(text).map_err(|problem| Error::Invalid {
        path: path.to_owned(),
        line: problem.line,
        message: problem.message,
    })?;
    let list = |raws, section, from_line| {
        List {
            stage,
            path,
            text,
            defaults,
            section,
            from_line,
        }
        .parse(raws)
    };
    let checks = list(file.checks, Section::Checks, 0)?;
    let Some(upgrade) = file.upgrade else {
        return Ok(StageChecks {
            checks: checks.into_iter().map(|(check, _)| check).collect(),
            ..StageChecks::default()
        });
    };
    let upgrade_line = line_of_key(text, "upgrade");
    let seed = list(upgrade.seed, Section::Seed, upgrade_line)?;
    let verify_line = line_of_key(text, "verify").max(upgrade_line);
    let verify = list(upgrade.verify, Section::Verify, verify_line)?;
    let seed = seed
        .into_iter()
        .map(|(check, object)| match object {
            Some(object) => SeedStep::Apply {
                stage: check.stage,
                name: check.name,
                object,
            },
            None => SeedStep::Check(Box::new(check)),
        })
        .collect();
    Ok(StageChecks {
        checks: checks.into_iter().map(|(check, _)| check).collect(),
        seed,
        verify: verify.into_iter().map(|(check, _)| check).collect(),
    })
}

/// One list of a check file being validated.
struct List<'a> {
    stage: &'a str,
    path: &'a Path,
    text: &'a str,
    defaults: CheckDefaults,
    section: Section,
    /// The line the list's checks are searched for from (its key's, for the upgrade lists).
    from_line: usize,
}

impl List<'_> {
    /// The list's checks in order; a seed step that applies an object is returned with that
    /// object beside a check that it exists.
    fn parse(&self, raws: Vec<RawCheck>) -> Result<Vec<(Check, Option<serde_json::Value>)>, Error> {
        let (path, text) = (self.path, self.text);
        let mut checks: Vec<(Check, Option<serde_json::Value>)> = Vec::new();
        let mut lines = Vec::new();
        for mut raw in raws {
            let line = line_of_check(
                text,
                &raw.name,
                lines.last().copied().unwrap_or(self.from_line),
            );
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
            if checks.iter().any(|(check, _)| check.name == raw.name) {
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
                .map_or(self.defaults.timeout, Duration::from_secs);
            let retries = raw.retries.unwrap_or(self.defaults.retries);
            let after = raw.after.clone();
            let applied = match raw.apply.take() {
                Some(_) if self.section != Section::Seed => {
                    return Err(at.error(
                        "apply",
                        "`apply` writes to the cluster: only an `upgrade.seed` step may apply an object".to_owned(),
                    ))
                }
                Some(object) => Some(applied_object(object, &raw, &at)?),
                None => None,
            };
            let assertion = match &applied {
                Some(object) => Assertion::Exists(selector_of(object)),
                None => assertion_of(raw, &at)?,
            };
            checks.push((
                Check {
                    stage: self.stage.to_owned(),
                    name: at.check.clone(),
                    assertion,
                    timeout,
                    retries,
                    after,
                },
                applied,
            ));
            lines.push(line);
        }
        let plain: Vec<Check> = checks.iter().map(|(check, _)| check.clone()).collect();
        validate_order(&plain, &lines, path, text)?;
        Ok(checks)
    }
}

/// The selector of an object `apply` writes (its namespace as written).
fn selector_of(object: &serde_json::Value) -> ObjectSelector {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    ObjectSelector {
        api_version: text("/apiVersion").unwrap_or_default(),
        kind: text("/kind").unwrap_or_default(),
        namespace: text("/metadata/namespace"),
        name: text("/metadata/name").unwrap_or_default(),
    }
}

/// A seed step's `apply`: an object with `apiVersion`, `kind` and `metadata.name`, and no
/// assertion beside it.
fn applied_object(
    object: serde_json::Value,
    raw: &RawCheck,
    at: &Locator<'_>,
) -> Result<serde_json::Value, Error> {
    let text = |pointer: &str| object.pointer(pointer).and_then(serde_json::Value::as_str);
    for (pointer, field) in [
        ("/apiVersion", "apiVersion"),
        ("/kind", "kind"),
        ("/metadata/name", "metadata.name"),
    ] {
        if text(pointer).is_none_or(str::is_empty) {
            return Err(at.error(
                "apply",
                format!("the object `apply` writes has no `{field}`"),
            ));
        }
    }
    let others = [
        raw.exists.is_some(),
        raw.absent.is_some(),
        raw.condition.is_some(),
        raw.field_equals.is_some(),
        raw.match_.is_some(),
        raw.cel.is_some(),
        raw.count.is_some(),
        raw.access.is_some(),
        raw.http.is_some(),
        raw.tls.is_some(),
        raw.tcp.is_some(),
        raw.oidc.is_some(),
    ];
    if others.contains(&true) {
        return Err(at.error(
            "apply",
            "a seed step either applies an object or asserts, not both".to_owned(),
        ));
    }
    Ok(object)
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

/// The one assertion a check declares, validated; the first invalid one (in the order of
/// [`RawCheck`]'s fields) is the error, then a check with none or several.
fn assertion_of(raw: RawCheck, at: &Locator<'_>) -> Result<Assertion, Error> {
    let RawCheck {
        exists,
        absent,
        condition,
        field_equals,
        match_,
        cel,
        count,
        access,
        http,
        tls,
        tcp,
        oidc,
        ..
    } = raw;
    let mut assertions: Vec<Assertion> = [
        exists.map(|spec| Ok(Assertion::Exists(spec.object))),
        absent.map(|spec| Ok(Assertion::Absent(spec.object))),
        condition.map(|spec| condition_of(spec, at)),
        field_equals.map(|spec| field_equals_of(spec, at)),
        match_.map(|spec| match_of(spec, at)),
        cel.map(|spec| cel_of(spec, at)),
        count.map(|spec| count_of(spec, at)),
        access.map(|spec| access_of(spec, at)),
        http.map(|spec| http_of(spec, at)),
        tls.map(|spec| tls_of(spec, at)),
        tcp.map(|spec| tcp_of(spec, at)),
        oidc.map(|spec| oidc_of(spec, at)),
    ]
    .into_iter()
    .flatten()
    .collect::<Result<_, _>>()?;
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

/// `condition`: the status must be `True`, `False` or `Unknown`.
fn condition_of(spec: ConditionSpec, at: &Locator<'_>) -> Result<Assertion, Error> {
    if !["True", "False", "Unknown"].contains(&spec.status.as_str()) {
        return Err(at.error(
            "status",
            format!(
                "condition status must be True, False or Unknown, not `{}`",
                spec.status
            ),
        ));
    }
    Ok(Assertion::Condition {
        object: spec.object,
        type_: spec.type_,
        status: spec.status,
        reason: spec.reason,
    })
}

/// `field_equals`: the path must parse.
fn field_equals_of(spec: FieldEqualsSpec, at: &Locator<'_>) -> Result<Assertion, Error> {
    let path = FieldPath::parse(&spec.path).map_err(|error| at.error(&spec.path, error))?;
    Ok(Assertion::FieldEquals {
        object: spec.object,
        path,
        value: spec.value,
    })
}

/// `match`: the expected subset's operators must be valid.
fn match_of(spec: MatchSpec, at: &Locator<'_>) -> Result<Assertion, Error> {
    subset::validate(&spec.expect).map_err(|error| at.error("$", error))?;
    Ok(Assertion::Match {
        object: spec.object,
        expected: spec.expect,
    })
}

/// `cel`: one object, or a resource with an optional selector; the expression must compile
/// against `object` or `objects`.
fn cel_of(spec: CelSpec, at: &Locator<'_>) -> Result<Assertion, Error> {
    let target = match (spec.object, spec.resource) {
        (Some(object), None) if spec.selector.is_none() => ExpressionTarget::Object(object),
        (None, Some(resource)) => ExpressionTarget::Objects {
            resource,
            selector: at.selector(spec.selector)?,
        },
        _ => {
            return Err(at.error(
                "cel",
                "cel takes either `object`, or `resource` (with an optional `selector`)".to_owned(),
            ))
        }
    };
    let variable = match target {
        ExpressionTarget::Object(_) => "object",
        ExpressionTarget::Objects { .. } => "objects",
    };
    let expression =
        Expression::compile(&spec.expr, variable).map_err(|error| at.error(&spec.expr, error))?;
    Ok(Assertion::Cel { target, expression })
}

/// `count`: `equals`, or `min`/`max` with min ≤ max.
fn count_of(spec: CountSpec, at: &Locator<'_>) -> Result<Assertion, Error> {
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
    Ok(Assertion::Count {
        resource: spec.resource,
        selector,
        min,
        max,
    })
}

/// `access`: user, verb and resource must not be empty.
fn access_of(spec: AccessSpec, at: &Locator<'_>) -> Result<Assertion, Error> {
    if spec.verb.is_empty() || spec.resource.is_empty() || spec.user.is_empty() {
        return Err(at.error(
            "access",
            "access needs a non-empty `user`, `verb` and `resource`".to_owned(),
        ));
    }
    Ok(Assertion::Access(spec))
}

/// `http`: an http(s) URL, a valid `json` subset, an HTTP method and status, one trust.
fn http_of(raw: RawHttp, at: &Locator<'_>) -> Result<Assertion, Error> {
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
    Ok(Assertion::Http(HttpSpec {
        trust: at.trust(raw.ca, raw.insecure)?,
        url: raw.url,
        method,
        status,
        headers: raw.headers,
        json: raw.json,
        body_contains: raw.body_contains,
        follow_redirects: raw.follow_redirects,
        request_headers: raw.request_headers,
        body: raw.body,
    }))
}

/// `tls`: a `host:port` address (the host is the default server name), one trust.
fn tls_of(raw: RawTls, at: &Locator<'_>) -> Result<Assertion, Error> {
    let (host, _) = split_address(&raw.address).map_err(|error| at.error(&raw.address, error))?;
    Ok(Assertion::Tls(TlsSpec {
        trust: at.trust(raw.ca, raw.insecure)?,
        server_name: raw.server_name.unwrap_or(host),
        address: raw.address,
        san_contains: raw.san_contains,
        issuer_contains: raw.issuer_contains,
        min_days_to_expiry: raw.min_days_to_expiry,
    }))
}

/// `tcp`: a `host:port` address.
fn tcp_of(spec: TcpSpec, at: &Locator<'_>) -> Result<Assertion, Error> {
    split_address(&spec.address).map_err(|error| at.error(&spec.address, error))?;
    Ok(Assertion::Tcp(spec))
}

/// `oidc`: an http(s) issuer URL, one trust.
fn oidc_of(raw: RawOidc, at: &Locator<'_>) -> Result<Assertion, Error> {
    at.url(&raw.issuer)?;
    Ok(Assertion::Oidc(OidcSpec {
        trust: at.trust(raw.ca, raw.insecure)?,
        issuer: raw.issuer,
    }))
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

    #[test]
    fn an_upgrade_section_declares_seed_objects_seed_calls_and_verify_checks() {
        let text = format!(
            r#"checks:
  - name: a
    exists: {{object: {OBJECT}}}
upgrade:
  seed:
    - name: notes
      apply:
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: notes}}
        data: {{text: kept}}
    - name: post
      http:
        url: https://hub.example/api/notes
        method: post
        request_headers: {{content-type: application/json}}
        body: '{{"text": "kept"}}'
        status: 201
  verify:
    - name: notes_kept
      match:
        object: {OBJECT}
        expect: {{data: {{text: kept}}}}
    - name: a
      after: [notes_kept]
      exists: {{object: {OBJECT}}}
"#
        );
        let parsed = parse_stage_checks(
            "s",
            Path::new("checks.yaml"),
            &text,
            CheckDefaults::default(),
        )
        .unwrap();
        assert_eq!(parsed.checks.len(), 1);
        let names: Vec<&str> = parsed.seed.iter().map(SeedStep::name).collect();
        assert_eq!(names, ["notes", "post"]);
        match &parsed.seed[0] {
            SeedStep::Apply { stage, object, .. } => {
                assert_eq!(stage, "s");
                assert_eq!(object["data"]["text"], "kept");
            }
            other => panic!("{other:?}"),
        }
        match &parsed.seed[1] {
            SeedStep::Check(check) => {
                let Assertion::Http(spec) = &check.assertion else {
                    panic!("{check:?}")
                };
                assert_eq!(spec.method, "POST");
                assert_eq!(spec.status, 201);
                assert_eq!(spec.body.as_deref(), Some(r#"{"text": "kept"}"#));
                assert_eq!(spec.request_headers["content-type"], "application/json");
            }
            other => panic!("{other:?}"),
        }
        let verify: Vec<&str> = parsed
            .verify
            .iter()
            .map(|check| check.name.as_str())
            .collect();
        assert_eq!(
            verify,
            ["notes_kept", "a"],
            "a verify list has names of its own"
        );
    }

    #[track_caller]
    fn stage_error(text: &str, line: usize, fragment: &str) {
        let message = parse_stage_checks(
            "s",
            Path::new("checks.yaml"),
            text,
            CheckDefaults::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.starts_with(&format!("checks.yaml:{line}:")),
            "{message}"
        );
        assert!(message.contains(fragment), "{message}");
    }

    #[test]
    fn an_apply_outside_seed_without_kind_or_beside_an_assertion_is_refused_at_its_line() {
        stage_error(
            "checks:\n  - name: a\n    apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n",
            3,
            "only an `upgrade.seed` step may apply",
        );
        stage_error(
            "upgrade:\n  verify:\n    - name: a\n      apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n",
            4,
            "only an `upgrade.seed` step may apply",
        );
        stage_error(
            "upgrade:\n  seed:\n    - name: a\n      apply: {apiVersion: v1, metadata: {name: x}}\n",
            4,
            "has no `kind`",
        );
        stage_error(
            &format!("upgrade:\n  seed:\n    - name: a\n      apply: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: x}}}}\n      exists: {{object: {OBJECT}}}\n"),
            4,
            "either applies an object or asserts",
        );
        stage_error(
            "upgrade:\n  seed:\n    - name: a\n      apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n    - name: a\n      apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: y}}\n",
            5,
            "declared twice",
        );
        stage_error("upgrade:\n  seeds: []\n", 2, "seeds");
    }
}
