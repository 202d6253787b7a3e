//! Reading and validating a pin set file. Everything here is offline.
//!
//! Errors name the file, the line and the dotted key (`images.traefik.policy.range`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::{Error, Result};
use super::model::{
    ChartRepository, Group, ImageName, Kind, Pin, PinId, PinSet, Relocation, Source,
};
use super::policy::{parse_age, parse_range, Policy, TagPattern};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: BTreeMap<String, RawGroup>,
    #[serde(default)]
    relocations: Vec<RawRelocation>,
    kubernetes: Option<RawKubernetes>,
    #[serde(default)]
    charts: BTreeMap<String, RawPin>,
    #[serde(default)]
    images: BTreeMap<String, RawPin>,
    #[serde(default)]
    tools: BTreeMap<String, RawPin>,
    #[serde(default)]
    bundles: BTreeMap<String, RawPin>,
    #[serde(default)]
    packages: BTreeMap<String, RawPin>,
    // Image recipes: accepted here, read and validated by crate::images::recipe.
    #[serde(default, rename = "recipes")]
    _recipes: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    description: Option<String>,
    policy: Option<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelocation {
    from: String,
    to: String,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubernetes {
    range: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    range: Option<String>,
    allow_major: Option<bool>,
    min_release_age: Option<String>,
    prerelease: Option<bool>,
    tag_pattern: Option<String>,
    kubernetes: Option<bool>,
}

impl RawPolicy {
    fn overlay(&self, over: &RawPolicy) -> RawPolicy {
        RawPolicy {
            range: over.range.clone().or_else(|| self.range.clone()),
            allow_major: over.allow_major.or(self.allow_major),
            min_release_age: over
                .min_release_age
                .clone()
                .or_else(|| self.min_release_age.clone()),
            prerelease: over.prerelease.or(self.prerelease),
            tag_pattern: over
                .tag_pattern
                .clone()
                .or_else(|| self.tag_pattern.clone()),
            kubernetes: over.kubernetes.or(self.kubernetes),
        }
    }
}

/// The union of the four kinds' fields; [`load`] checks which each kind takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPin {
    repository: Option<String>,
    chart: Option<String>,
    version: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
    github: Option<String>,
    go_module: Option<String>,
    pypi: Option<String>,
    npm: Option<String>,
    maven: Option<String>,
    asset: Option<String>,
    url: Option<String>,
    group: Option<String>,
    policy: Option<RawPolicy>,
    release_notes: Option<String>,
}

/// Reads and validates the pin set at `path`.
///
/// Errors: [`Error::Io`]; [`Error::Invalid`] with file, line and key for malformed TOML, an
/// unknown or missing key, an invalid range, age, tag pattern, digest or repository, an
/// unknown group (listing the valid ones), or a version that its policy cannot read.
pub fn load(path: &Path) -> Result<PinSet> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// [`load`] on text already read; `path` is used in messages. Besides the pins, it validates
/// the `[recipes.*]` tables with their one reader, [`crate::images::recipe::parse`].
pub fn parse(path: &Path, text: &str) -> Result<PinSet> {
    let pin_set = parse_pins(path, text)?;
    // One reader of recipes: the deployer's, which the image build uses.
    if let Err(error) = crate::images::recipe::parse(path, text) {
        let (line, message) = match error {
            crate::Error::Invalid { line, message, .. } => (line, message),
            other => (0, host::error_chain(&other)),
        };
        return Err(Error::Invalid {
            path: path.to_owned(),
            line,
            key: "recipes".into(),
            message,
        });
    }
    Ok(pin_set)
}

/// The pins, groups and relocations of pin set text, without validating `[recipes.*]` (what
/// the recipe reader itself calls); `path` is used in messages.
pub fn parse_pins(path: &Path, text: &str) -> Result<PinSet> {
    let raw: RawFile = toml::from_str(text).map_err(|error| {
        let (line, key) = error
            .span()
            .map_or((0, String::new()), |span| locate(text, span.start));
        Error::Invalid {
            path: path.to_owned(),
            line,
            key: if key.is_empty() {
                "(file)".to_owned()
            } else {
                key
            },
            message: error.message().trim().to_owned(),
        }
    })?;
    let file = FileText { path, text };
    let groups = groups_of(&raw, text);
    let kubernetes = match &raw.kubernetes {
        Some(kubernetes) => Some(parse_range(&kubernetes.range).map_err(|message| {
            file.invalid(
                header_line(text, "kubernetes"),
                "kubernetes.range".into(),
                message,
            )
        })?),
        None => None,
    };
    let relocations = relocations_of(&raw, &file)?;
    let mut pins = Vec::new();
    for kind in Kind::ALL {
        let table = match kind {
            Kind::Chart => &raw.charts,
            Kind::Image => &raw.images,
            Kind::Tool => &raw.tools,
            Kind::Bundle => &raw.bundles,
            Kind::Package => &raw.packages,
        };
        for (name, raw_pin) in table {
            let id = PinId {
                kind,
                name: name.clone(),
            };
            let at = PinText {
                file: &file,
                line: header_line(text, &id.to_string()),
                id,
                raw: raw_pin,
            };
            pins.push(pin_of(&at, &raw, &groups, kubernetes.as_ref())?);
        }
    }
    if pins.is_empty() {
        return Err(file.invalid(
            1,
            "(file)".into(),
            "the pin set has no pins: nothing to deploy, check or bump (give it [images.*], [charts.*], [tools.*], [bundles.*] or [packages.*] tables)".into(),
        ));
    }
    pins.sort_by_key(|pin| pin.line);
    Ok(PinSet {
        path: path.to_owned(),
        text: text.to_owned(),
        pins,
        groups,
        relocations,
    })
}

/// The pin set file being read, for errors that name it.
struct FileText<'a> {
    path: &'a Path,
    text: &'a str,
}

impl FileText<'_> {
    fn invalid(&self, line: usize, key: String, message: String) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            line,
            key,
            message,
        }
    }
}

/// One pin's table in the file: its id, header line and raw fields.
struct PinText<'a> {
    file: &'a FileText<'a>,
    line: usize,
    id: PinId,
    raw: &'a RawPin,
}

impl PinText<'_> {
    /// An error at the line of `key` in this pin's table (its header when absent).
    fn fail(&self, key: &str, message: String) -> Error {
        let line = key_line(self.file.text, self.line, key);
        self.file
            .invalid(line, format!("{}.{key}", self.id), message)
    }

    /// `value`, or "is missing" at the pin's header.
    fn required(&self, value: &Option<String>, key: &str) -> Result<String> {
        value.clone().ok_or_else(|| {
            self.file
                .invalid(self.line, format!("{}.{key}", self.id), "is missing".into())
        })
    }

    /// Refuses each present `(value, key)`: this kind of pin does not take it.
    fn refuse(&self, fields: &[(&Option<String>, &str)]) -> Result<()> {
        match fields.iter().find(|(value, _)| value.is_some()) {
            Some((_, key)) => Err(self.fail(
                key,
                format!("{} pins take no `{key}`", self.id.kind.table()),
            )),
            None => Ok(()),
        }
    }
}

/// The `[groups.*]` tables, with their header lines.
fn groups_of(raw: &RawFile, text: &str) -> BTreeMap<String, Group> {
    raw.groups
        .iter()
        .map(|(name, group)| {
            let group = Group {
                description: group.description.clone(),
                line: header_line(text, &format!("groups.{name}")),
            };
            (name.clone(), group)
        })
        .collect()
}

/// The `[[relocations]]`: prefix rules whose `from` and `to` end with `*`.
fn relocations_of(raw: &RawFile, file: &FileText<'_>) -> Result<Vec<Relocation>> {
    let mut relocations = Vec::new();
    for (index, rule) in raw.relocations.iter().enumerate() {
        let line = nth_header_line(file.text, "[[relocations]]", index);
        let strip = |value: &str, key: &str| {
            value.strip_suffix('*').map(str::to_owned).ok_or_else(|| {
                file.invalid(
                    line,
                    format!("relocations[{index}].{key}"),
                    format!("`{value}` must end with `*` (a prefix rule)"),
                )
            })
        };
        relocations.push(Relocation {
            from: strip(&rule.from, "from")?,
            to: strip(&rule.to, "to")?,
            reason: rule.reason.clone(),
        });
    }
    Ok(relocations)
}

/// One pin: its source (by kind), version, digest, group and merged policy, validated.
fn pin_of(
    at: &PinText<'_>,
    raw: &RawFile,
    groups: &BTreeMap<String, Group>,
    kubernetes: Option<&semver::VersionReq>,
) -> Result<Pin> {
    let raw_pin = at.raw;
    let kind = at.id.kind;
    let source = match kind {
        Kind::Chart => chart_source(at)?,
        Kind::Image => image_source(at)?,
        Kind::Tool if raw_pin.go_module.is_some() => go_module_source(at)?,
        Kind::Tool => tool_source(at)?,
        Kind::Package => package_source(at)?,
        Kind::Bundle => bundle_source(at)?,
    };
    if kind != Kind::Package {
        at.refuse(&[
            (&raw_pin.pypi, "pypi"),
            (&raw_pin.npm, "npm"),
            (&raw_pin.maven, "maven"),
        ])?;
    }
    let version_key = kind.version_key();
    let version = at.required(
        if version_key == "tag" {
            &raw_pin.tag
        } else {
            &raw_pin.version
        },
        version_key,
    )?;
    if let Some(digest) = &raw_pin.digest {
        if !is_sha256_digest(digest) {
            return Err(at.fail(
                "digest",
                format!("`{digest}` is not `sha256:` followed by 64 hex digits"),
            ));
        }
    }
    if let Some(group) = &raw_pin.group {
        if !groups.contains_key(group) {
            return Err(at.fail(
                "group",
                format!(
                    "unknown group `{group}`; the pin set's groups are: {}",
                    groups.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let policy = policy_of(at, raw, kubernetes)?;
    if policy.parse_tag(&version).is_none() {
        let hint = if policy.tag_pattern.is_some() {
            "its policy's tag_pattern does not match it"
        } else {
            "it is not [v]X.Y.Z; give the pin a policy.tag_pattern with a `version` group"
        };
        return Err(at.fail(version_key, format!("`{version}` is not a version: {hint}")));
    }
    Ok(Pin {
        id: at.id.clone(),
        line: at.line,
        source,
        version,
        digest: raw_pin.digest.clone(),
        group: raw_pin.group.clone(),
        policy,
        release_notes: raw_pin.release_notes.clone(),
    })
}

/// The pin's own policy over its group's; an error names the table the offending key is in.
fn policy_of(
    at: &PinText<'_>,
    raw: &RawFile,
    kubernetes: Option<&semver::VersionReq>,
) -> Result<Policy> {
    let group_policy = at
        .raw
        .group
        .as_ref()
        .and_then(|group| raw.groups[group].policy.clone())
        .unwrap_or_default();
    let own = at.raw.policy.clone().unwrap_or_default();
    let merged = group_policy.overlay(&own);
    build_policy(&merged, kubernetes).map_err(|(key, message)| {
        if own_has(&own, key) {
            let line = key_line(at.file.text, at.line, "policy");
            at.file
                .invalid(line, format!("{}.policy.{key}", at.id), message)
        } else {
            let group = at.raw.group.clone().unwrap_or_default();
            at.file.invalid(
                header_line(at.file.text, &format!("groups.{group}")),
                format!("groups.{group}.policy.{key}"),
                message,
            )
        }
    })
}

/// `[charts.*]`: an `http(s)://` repository or `oci://<registry>/<path>`; `chart` defaults to
/// the pin's name.
fn chart_source(at: &PinText<'_>) -> Result<Source> {
    let raw = at.raw;
    let repository = at.required(&raw.repository, "repository")?;
    let repository = if let Some(rest) = repository.strip_prefix("oci://") {
        ChartRepository::Oci(ImageName::parse(rest).ok_or_else(|| {
            at.fail(
                "repository",
                format!("`{repository}` is not oci://<registry>/<path>"),
            )
        })?)
    } else if repository.starts_with("https://") || repository.starts_with("http://") {
        ChartRepository::Http(repository.trim_end_matches('/').to_owned())
    } else {
        return Err(at.fail(
            "repository",
            format!(
                "`{repository}` must be an http(s):// chart repository or oci://<registry>/<path>"
            ),
        ));
    };
    at.refuse(&[
        (&raw.tag, "tag"),
        (&raw.github, "github"),
        (&raw.go_module, "go_module"),
        (&raw.asset, "asset"),
        (&raw.url, "url"),
    ])?;
    Ok(Source::Chart {
        repository,
        chart: raw.chart.clone().unwrap_or_else(|| at.id.name.clone()),
    })
}

/// `[images.*]`: a repository that starts with its registry host.
fn image_source(at: &PinText<'_>) -> Result<Source> {
    let raw = at.raw;
    let repository = at.required(&raw.repository, "repository")?;
    at.refuse(&[
        (&raw.version, "version"),
        (&raw.chart, "chart"),
        (&raw.github, "github"),
        (&raw.go_module, "go_module"),
        (&raw.asset, "asset"),
        (&raw.url, "url"),
    ])?;
    Ok(Source::Image(ImageName::parse(&repository).ok_or_else(
        || {
            at.fail(
                "repository",
                format!(
                "`{repository}` must start with a registry host, e.g. docker.io/library/traefik"
            ),
            )
        },
    )?))
}

/// `[tools.*]` with `go_module`: a module path, and nothing of a GitHub-released tool.
fn go_module_source(at: &PinText<'_>) -> Result<Source> {
    let raw = at.raw;
    let module = raw.go_module.clone().unwrap_or_default();
    check_go_module(&module).map_err(|message| at.fail("go_module", message))?;
    for (value, key) in [
        (&raw.version, "version"),
        (&raw.chart, "chart"),
        (&raw.repository, "repository"),
        (&raw.github, "github"),
        (&raw.asset, "asset"),
        (&raw.url, "url"),
    ] {
        if value.is_some() {
            return Err(at.fail(key, format!("a `go_module` tool takes no `{key}`")));
        }
    }
    Ok(Source::GoModule { module })
}

/// `[tools.*]` released on GitHub: `github`, and an `asset` or a `url`.
fn tool_source(at: &PinText<'_>) -> Result<Source> {
    let raw = at.raw;
    let github = at.required(&raw.github, "github")?;
    check_github(&github).map_err(|message| at.fail("github", message))?;
    at.refuse(&[
        (&raw.version, "version"),
        (&raw.chart, "chart"),
        (&raw.repository, "repository"),
    ])?;
    if raw.asset.is_none() && raw.url.is_none() {
        return Err(at.file.invalid(
            at.line,
            format!("{}.asset", at.id),
            "a tool needs `asset` (its GitHub release asset for linux/amd64) or `url` (where else it downloads from)".into(),
        ));
    }
    Ok(Source::Tool {
        github,
        asset: raw.asset.clone(),
        url: raw.url.clone(),
    })
}

/// `[packages.*]`: exactly one of `pypi`, `npm` and `maven`.
fn package_source(at: &PinText<'_>) -> Result<Source> {
    let raw = at.raw;
    at.refuse(&[
        (&raw.tag, "tag"),
        (&raw.chart, "chart"),
        (&raw.repository, "repository"),
        (&raw.github, "github"),
        (&raw.go_module, "go_module"),
        (&raw.asset, "asset"),
        (&raw.url, "url"),
    ])?;
    match (&raw.pypi, &raw.npm, &raw.maven) {
        (Some(project), None, None) => Ok(Source::PyPi {
            project: project.clone(),
        }),
        (None, Some(package), None) => Ok(Source::Npm {
            package: package.clone(),
        }),
        (None, None, Some(coordinate)) => Ok(Source::Maven {
            coordinate: coordinate.clone(),
        }),
        _ => Err(at.file.invalid(
            at.line,
            format!("{}.pypi", at.id),
            "a package needs exactly one of `pypi` (a PyPI project), `npm` (an npm package) and `maven` (`group:artifact` in a Maven repository)".into(),
        )),
    }
}

/// `[bundles.*]`: a `url`, optionally the `github` repository that publishes it.
fn bundle_source(at: &PinText<'_>) -> Result<Source> {
    let raw = at.raw;
    let url = at.required(&raw.url, "url")?;
    if let Some(github) = &raw.github {
        check_github(github).map_err(|message| at.fail("github", message))?;
    }
    at.refuse(&[
        (&raw.tag, "tag"),
        (&raw.chart, "chart"),
        (&raw.repository, "repository"),
        (&raw.go_module, "go_module"),
        (&raw.asset, "asset"),
    ])?;
    Ok(Source::Bundle {
        url,
        github: raw.github.clone(),
    })
}

fn own_has(policy: &RawPolicy, key: &str) -> bool {
    match key {
        "range" => policy.range.is_some(),
        "min_release_age" => policy.min_release_age.is_some(),
        "tag_pattern" => policy.tag_pattern.is_some(),
        _ => true,
    }
}

fn build_policy(
    raw: &RawPolicy,
    kubernetes: Option<&semver::VersionReq>,
) -> std::result::Result<Policy, (&'static str, String)> {
    let mut range = match &raw.range {
        Some(text) => Some((
            parse_range(text).map_err(|message| ("range", message))?,
            text.clone(),
        )),
        None => None,
    };
    if raw.kubernetes == Some(true) {
        let kubernetes = kubernetes.ok_or((
            "kubernetes",
            "`kubernetes = true` needs a top-level [kubernetes] range".to_owned(),
        ))?;
        range = Some(match range {
            Some((mut req, text)) => {
                req.comparators
                    .extend(kubernetes.comparators.iter().cloned());
                (req, format!("{text}, {kubernetes}"))
            }
            None => (kubernetes.clone(), kubernetes.to_string()),
        });
    }
    Ok(Policy {
        range,
        allow_major: raw.allow_major.unwrap_or(false),
        min_release_age: raw
            .min_release_age
            .as_deref()
            .map(parse_age)
            .transpose()
            .map_err(|message| ("min_release_age", message))?,
        prerelease: raw.prerelease.unwrap_or(false),
        tag_pattern: raw
            .tag_pattern
            .as_deref()
            .map(TagPattern::new)
            .transpose()
            .map_err(|message| ("tag_pattern", format!("invalid tag pattern: {message}")))?,
    })
}

/// A Go module path: a host with a dot, then path elements of letters, digits and `-._~`.
fn check_go_module(module: &str) -> std::result::Result<(), String> {
    let mut parts = module.split('/');
    let host = parts.next().unwrap_or_default();
    let valid_element = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
    };
    if !host.contains('.') || !valid_element(host) || !module.split('/').all(valid_element) {
        return Err(format!(
            "`{module}` is not a Go module path (e.g. k8s.io/kubernetes)"
        ));
    }
    Ok(())
}

fn check_github(text: &str) -> std::result::Result<(), String> {
    match text.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(())
        }
        _ => Err(format!("`{text}` is not `owner/name`")),
    }
}

/// Whether `text` is `sha256:` and 64 lowercase hex digits.
pub fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The 1-based line of `[header]` (0 when absent).
pub fn header_line(text: &str, header: &str) -> usize {
    let wanted = format!("[{header}]");
    text.lines()
        .position(|line| line.split('#').next().unwrap_or("").trim() == wanted)
        .map_or(0, |index| index + 1)
}

fn nth_header_line(text: &str, header: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == header)
        .nth(n)
        .map_or(0, |(index, _)| index + 1)
}

/// The line of `key = …` inside the table whose header is on `header` (falls back to the
/// header's line).
fn key_line(text: &str, header: usize, key: &str) -> usize {
    if header == 0 {
        return 0;
    }
    for (index, line) in text.lines().enumerate().skip(header) {
        let line = line.trim();
        if line.starts_with('[') {
            break;
        }
        if line
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return index + 1;
        }
    }
    header
}

/// The 1-based line of byte `offset` and the dotted key there: the enclosing table header
/// plus the key on that line.
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line = text[..offset].matches('\n').count() + 1;
    let mut table = String::new();
    let mut key = String::new();
    for (index, content) in text.lines().enumerate().take(line) {
        let content = content.trim();
        if let Some(header) = content
            .strip_prefix("[[")
            .and_then(|rest| rest.split("]]").next())
        {
            table = header.trim().to_owned();
            key.clear();
        } else if let Some(header) = content
            .strip_prefix('[')
            .and_then(|rest| rest.split(']').next())
        {
            table = header.trim().to_owned();
            key.clear();
        } else if index + 1 == line {
            key = content.split('=').next().unwrap_or("").trim().to_owned();
        }
    }
    let dotted = match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    };
    (line, dotted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(Path::new("pins.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn malformed_files_name_file_line_and_key() {
        assert_eq!(
            error("[images.a]\nrepository = \"docker.io/a/b\"\ntga = \"1.0.0\"\n"),
            "pins.toml:3: images.a.tga: unknown field `tga`, expected one of `repository`, `chart`, `version`, `tag`, `digest`, `github`, `go_module`, `pypi`, `npm`, `maven`, `asset`, `url`, `group`, `policy`, `release_notes`"
        );
        assert_eq!(
            error("\n[images.a]\nrepository = \"docker.io/a/b\"\n"),
            "pins.toml:2: images.a.tag: is missing"
        );
        let text = error("[images.a]\nrepository = \"docker.io/a/b\"\ntag = 1.0\n");
        assert!(text.starts_with("pins.toml:3: images.a.tag: "), "{text}");
        let text = error("[images.a\n");
        assert!(text.starts_with("pins.toml:1: "), "{text}");
    }

    #[test]
    fn a_pin_set_without_pins_is_refused() {
        for text in [
            "",
            "# only a comment\n",
            "[groups.web]\ndescription = \"web\"\n",
        ] {
            let message = error(text);
            assert!(
                message.starts_with("pins.toml:1: (file): the pin set has no pins"),
                "{message}"
            );
        }
    }

    #[test]
    fn semantic_errors_name_the_key() {
        assert_eq!(
            error("[images.a]\nrepository = \"docker.io/a/b\"\ntag = \"1.0.0\"\npolicy = { range = \">=1 <2\" }\n"),
            "pins.toml:4: images.a.policy.range: invalid semver range `>=1 <2`: expected comma after major version number, found '<' (separate comparators with commas: `>=1.2.0, <2`)"
        );
        assert_eq!(
            error("[groups.web]\n[images.a]\nrepository = \"docker.io/a/b\"\ntag = \"1.0.0\"\ngroup = \"db\"\n"),
            "pins.toml:5: images.a.group: unknown group `db`; the pin set's groups are: web"
        );
        assert_eq!(
            error("[images.a]\nrepository = \"traefik\"\ntag = \"1.0.0\"\n"),
            "pins.toml:2: images.a.repository: `traefik` must start with a registry host, e.g. docker.io/library/traefik"
        );
        assert_eq!(
            error("[images.a]\nrepository = \"docker.io/a/b\"\ntag = \"latest\"\n"),
            "pins.toml:3: images.a.tag: `latest` is not a version: it is not [v]X.Y.Z; give the pin a policy.tag_pattern with a `version` group"
        );
        assert_eq!(
            error("[images.a]\nrepository = \"docker.io/a/b\"\ntag = \"1.0.0\"\ndigest = \"sha256:abc\"\n"),
            "pins.toml:4: images.a.digest: `sha256:abc` is not `sha256:` followed by 64 hex digits"
        );
        assert_eq!(
            error("[groups.web]\npolicy = { min_release_age = \"a week\" }\n[images.a]\nrepository = \"docker.io/a/b\"\ntag = \"1.0.0\"\ngroup = \"web\"\n"),
            "pins.toml:1: groups.web.policy.min_release_age: invalid age `a week`: write a number and a unit, e.g. `7d`, `36h`"
        );
        assert_eq!(
            error("[images.a]\nrepository = \"docker.io/a/b\"\ntag = \"1.0.0\"\nchart = \"a\"\nurl = \"https://x\"\n"),
            "pins.toml:4: images.a.chart: images pins take no `chart`"
        );
        assert_eq!(
            error("[charts.a]\nrepository = \"ftp://charts\"\nversion = \"1.0.0\"\n"),
            "pins.toml:2: charts.a.repository: `ftp://charts` must be an http(s):// chart repository or oci://<registry>/<path>"
        );
        assert_eq!(
            error("[packages.a]\npypi = \"a\"\nnpm = \"a\"\nversion = \"1.0.0\"\n"),
            "pins.toml:1: packages.a.pypi: a package needs exactly one of `pypi` (a PyPI project), `npm` (an npm package) and `maven` (`group:artifact` in a Maven repository)"
        );
        assert_eq!(
            error("[tools.a]\ngo_module = \"example.com/a\"\ngithub = \"a/b\"\ntag = \"v1.0.0\"\n"),
            "pins.toml:3: tools.a.github: a `go_module` tool takes no `github`"
        );
    }

    #[test]
    fn group_policies_are_overlaid_and_kubernetes_ranges_joined() {
        let set = parse(
            Path::new("pins.toml"),
            "[kubernetes]\nrange = \">=1.31.0, <1.34.0\"\n[groups.tools]\npolicy = { allow_major = true, min_release_age = \"3d\" }\n[images.node]\nrepository = \"docker.io/kindest/node\"\ntag = \"v1.33.4\"\ngroup = \"tools\"\npolicy = { kubernetes = true, min_release_age = \"1d\" }\n",
        )
        .unwrap();
        let policy = &set.pins[0].policy;
        assert!(policy.allow_major);
        assert_eq!(
            policy.min_release_age,
            Some(std::time::Duration::from_secs(86_400))
        );
        assert!(policy.in_range(&semver::Version::new(1, 33, 5)));
        assert!(!policy.in_range(&semver::Version::new(1, 34, 0)));
    }
}
