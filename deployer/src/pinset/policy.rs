//! Update policies: which newer versions a pin may move to.
//!
//! A policy combines a semver range (the `semver` crate's syntax: comparators separated by
//! commas, e.g. `>=4.0.0, <5`; Helm's space- and `||`-separated syntax is refused with a
//! hint), whether major versions may change, a minimum release age, whether pre-releases
//! count, and a tag pattern for tags that are not plain semver (Bitnami's
//! `X.Y.Z-debian-12-rN`).

use std::time::Duration;

use regex::Regex;
use semver::{Version, VersionReq};

/// A pin's effective policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The range versions must satisfy, and its text as written.
    pub range: Option<(VersionReq, String)>,
    /// Whether a bump may change the major version (for `0.x`, the minor). Default false.
    pub allow_major: bool,
    /// Versions younger than this are not offered (release age from the index's `created`,
    /// the GitHub release's `published_at`, or the image config's `created`).
    pub min_release_age: Option<Duration>,
    /// Whether pre-release versions count. Default false.
    pub prerelease: bool,
    /// How to read a version out of a tag, for tags that are not `[v]X.Y.Z`.
    pub tag_pattern: Option<TagPattern>,
}

/// A regular expression with a named group `version` (read as semver, `X.Y` padded to
/// `X.Y.0`) and optionally `revision` (an integer that orders builds of one version).
#[derive(Debug, Clone)]
pub struct TagPattern(pub Regex);

impl TagPattern {
    /// Compiles `text`. Errors: the regex error, or a message when `version` is missing.
    pub fn new(text: &str) -> Result<TagPattern, String> {
        let regex = Regex::new(text).map_err(|error| error.to_string())?;
        if !regex
            .capture_names()
            .flatten()
            .any(|name| name == "version")
        {
            return Err("a tag pattern needs a named group `(?<version>...)`".to_owned());
        }
        Ok(TagPattern(regex))
    }
}

/// Parses a range in the semver crate's syntax.
///
/// Errors: a message quoting the text, with a hint when it looks like Helm's syntax.
pub fn parse_range(text: &str) -> Result<VersionReq, String> {
    if text.contains("||") {
        return Err(format!(
            "invalid semver range `{text}`: `||` is Helm's syntax; a pin takes one range in the semver crate's syntax, e.g. `>=1.2.0, <2`"
        ));
    }
    VersionReq::parse(text).map_err(|error| {
        let hint = if text.trim().contains(' ') && !text.contains(',') {
            " (separate comparators with commas: `>=1.2.0, <2`)"
        } else {
            ""
        };
        format!("invalid semver range `{text}`: {error}{hint}")
    })
}

/// Parses a duration like `7d`, `36h` or `90m`. Errors: a message quoting the text.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number.parse().map_err(|_| {
        format!("invalid age `{text}`: write a number and a unit, e.g. `7d`, `36h`")
    })?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        _ => return Err(format!("invalid age `{text}`: the unit must be d, h or m")),
    };
    Ok(Duration::from_secs(number * seconds))
}

/// A tag read as a version: ordered by (version, revision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagVersion {
    /// The tag as published.
    pub tag: String,
    /// Its version.
    pub version: Version,
    /// The build revision from the tag pattern's `revision` group (0 without one).
    pub revision: u64,
}

impl PartialOrd for TagVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TagVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.version, self.revision, &self.tag).cmp(&(&other.version, other.revision, &other.tag))
    }
}

impl Policy {
    /// Reads `tag` as a version. Without a tag pattern the tag must be `X.Y.Z` or `vX.Y.Z`
    /// (floating tags like `v3.3` or `latest` are not versions); with one, the pattern must
    /// match the whole tag.
    pub fn parse_tag(&self, tag: &str) -> Option<TagVersion> {
        match &self.tag_pattern {
            Some(TagPattern(regex)) => {
                let captures = regex.captures(tag)?;
                let whole = captures.get(0)?;
                if whole.start() != 0 || whole.end() != tag.len() {
                    return None;
                }
                let text = captures.name("version")?.as_str();
                let version = Version::parse(text).ok().or_else(|| {
                    let parts: Vec<&str> = text.split('.').collect();
                    (parts.len() == 2)
                        .then(|| Version::parse(&format!("{text}.0")).ok())
                        .flatten()
                })?;
                let revision = match captures.name("revision") {
                    Some(revision) => revision.as_str().parse().ok()?,
                    None => 0,
                };
                Some(TagVersion {
                    tag: tag.to_owned(),
                    version,
                    revision,
                })
            }
            None => {
                let version = Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()?;
                Some(TagVersion {
                    tag: tag.to_owned(),
                    version,
                    revision: 0,
                })
            }
        }
    }

    /// Whether `candidate` has the current tag's shape: the same `v` prefix (without a tag
    /// pattern), so `3.3.4` and `v3.3.4` style tags are not mixed.
    fn same_shape(&self, current: &TagVersion, candidate: &TagVersion) -> bool {
        self.tag_pattern.is_some() || current.tag.starts_with('v') == candidate.tag.starts_with('v')
    }

    /// Whether `candidate` counts at all (shape, pre-release) — the "newest overall" filter.
    pub fn counts(&self, current: &TagVersion, candidate: &TagVersion) -> bool {
        self.same_shape(current, candidate) && (self.prerelease || candidate.version.pre.is_empty())
    }

    /// Whether `version` lies inside the range (always, without one).
    pub fn in_range(&self, version: &Version) -> bool {
        self.range
            .as_ref()
            .is_none_or(|(range, _)| range.matches(version))
    }

    /// Whether a move from `current` to `candidate` is allowed, release age aside: it counts,
    /// is in range, and keeps the major version unless majors are allowed.
    pub fn allows(&self, current: &TagVersion, candidate: &TagVersion) -> bool {
        self.counts(current, candidate)
            && self.in_range(&candidate.version)
            && (self.allow_major || major(&current.version) == major(&candidate.version))
    }
}

/// The compatibility line: the major version, or `0.minor` for `0.x`.
fn major(version: &Version) -> (u64, u64) {
    if version.major == 0 {
        (0, version.minor)
    } else {
        (version.major, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_in_semver_syntax_and_helm_syntax_refused_with_a_hint() {
        assert!(parse_range(">=4.0.0, <5")
            .unwrap()
            .matches(&Version::new(4, 2, 0)));
        let error = parse_range(">=4.0.0 <5").unwrap_err();
        assert!(
            error.contains("separate comparators with commas"),
            "{error}"
        );
        let error = parse_range("^1 || ^2").unwrap_err();
        assert!(error.contains("`||` is Helm's syntax"), "{error}");
    }

    #[test]
    fn bitnami_tags_order_by_version_then_revision() {
        let policy = Policy {
            tag_pattern: Some(
                TagPattern::new(r"(?<version>\d+\.\d+\.\d+)-debian-12-r(?<revision>\d+)").unwrap(),
            ),
            ..Policy::default()
        };
        let a = policy.parse_tag("16.4.0-debian-12-r9").unwrap();
        let b = policy.parse_tag("16.4.0-debian-12-r10").unwrap();
        let c = policy.parse_tag("16.5.0-debian-12-r0").unwrap();
        assert!(a < b && b < c);
        assert_eq!(policy.parse_tag("16.4.0-debian-11-r3"), None);
        assert_eq!(policy.parse_tag("latest"), None);
    }

    #[test]
    fn floating_tags_are_not_versions_and_majors_need_permission() {
        let policy = Policy::default();
        assert_eq!(policy.parse_tag("v3.3"), None);
        let current = policy.parse_tag("v3.3.4").unwrap();
        let minor = policy.parse_tag("v3.4.0").unwrap();
        let major = policy.parse_tag("v4.0.0").unwrap();
        let unprefixed = policy.parse_tag("3.4.1").unwrap();
        let pre = policy.parse_tag("v3.5.0-rc.1").unwrap();
        assert!(policy.allows(&current, &minor));
        assert!(!policy.allows(&current, &major));
        assert!(!policy.allows(&current, &unprefixed));
        assert!(!policy.allows(&current, &pre));
        let zero = policy.parse_tag("v0.27.0").unwrap();
        assert!(!policy.allows(&zero, &policy.parse_tag("v0.28.0").unwrap()));
        assert!(policy.allows(&zero, &policy.parse_tag("v0.27.1").unwrap()));
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_age("36h").unwrap(), Duration::from_secs(36 * 3_600));
        assert!(parse_age("7 weeks").is_err());
        assert!(parse_age("d").is_err());
    }
}
