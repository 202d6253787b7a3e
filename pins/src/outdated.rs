//! `outdated`: per pin, the current version, the newest its policy allows and the newest
//! overall, with release ages.
//!
//! Versions come from the chart index (with `created`), the registry's tag list (ages from
//! the image config's `created`, fetched only for the candidates shown or needed by a
//! minimum release age), or GitHub releases (with `published_at`).

use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::fetch::Network;
use crate::model::{ChartRepository, Pin, PinId, Source};
use crate::policy::TagVersion;
use crate::resolve::{oci_chart_name, Broken};
use crate::sources::{chart_repo, github, go_proxy, oci, package_index};

/// A version offered as an update.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The version or tag as published.
    pub version: String,
    /// When it was released (RFC 3339), when the source says.
    pub released: Option<String>,
    /// Its age in whole days at the time of the run.
    pub age_days: Option<u64>,
}

/// One pin's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Outdated {
    /// The pin.
    pub pin: PinId,
    /// Its group.
    pub group: Option<String>,
    /// The pinned version.
    pub current: Candidate,
    /// The newest version its policy allows (may be the current one).
    pub newest_allowed: Option<Candidate>,
    /// The newest version published, policy aside.
    pub newest: Option<Candidate>,
    /// Why nothing could be said, or what limited the answer.
    pub note: Option<String>,
}

impl Outdated {
    /// The version to bump to, when newer than the current one.
    pub fn update(&self) -> Option<&Candidate> {
        self.newest_allowed
            .as_ref()
            .filter(|candidate| candidate.version != self.current.version)
    }
}

/// How many candidates, newest first, are examined for a release date when a minimum
/// release age applies and the dates cost a request each (images).
const AGE_LOOKUPS: usize = 10;

/// Answers `outdated` for `pins`; `now` is the clock release ages are measured against.
pub async fn outdated(
    network: &Network,
    pins: &[&Pin],
    now: OffsetDateTime,
) -> Vec<Result<Outdated, (PinId, Broken)>> {
    stream::iter(pins.iter().copied())
        .map(|pin| async move {
            outdated_one(network, pin, now)
                .await
                .map_err(|broken| (pin.id.clone(), broken))
        })
        .buffered(256)
        .collect()
        .await
}

/// A published version and its release time when known without another request.
struct Published {
    tag: String,
    released: Option<String>,
}

fn from_releases(releases: package_index::Releases) -> Vec<Published> {
    releases
        .into_iter()
        .map(|(tag, released)| Published { tag, released })
        .collect()
}

async fn published(network: &Network, pin: &Pin) -> Result<Option<Vec<Published>>, Broken> {
    let versions = match &pin.source {
        Source::Chart {
            repository: ChartRepository::Http(repository),
            chart,
        } => {
            let index = chart_repo::index(network, repository).await?;
            index
                .entries
                .get(chart)
                .map(|entries| {
                    entries
                        .iter()
                        .map(|entry| Published {
                            tag: entry.version.clone(),
                            released: entry.created.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
        Source::Chart {
            repository: ChartRepository::Oci(registry),
            chart,
        } => oci::tags(network, &oci_chart_name(registry, chart))
            .await?
            .iter()
            .map(|tag| Published {
                tag: tag.replace('_', "+"),
                released: None,
            })
            .collect(),
        Source::Image(name) => oci::tags(network, name)
            .await?
            .iter()
            .map(|tag| Published {
                tag: tag.clone(),
                released: None,
            })
            .collect(),
        Source::Tool { github: repo, .. }
        | Source::Bundle {
            github: Some(repo), ..
        } => github::releases(network, repo)
            .await?
            .iter()
            .filter(|release| !release.prerelease || pin.policy.prerelease)
            .map(|release| Published {
                tag: release.tag_name.clone(),
                released: release.published_at.clone(),
            })
            .collect(),
        Source::GoModule { module } => go_proxy::versions(network, module)
            .await?
            .into_iter()
            .map(|tag| Published {
                tag,
                released: None,
            })
            .collect(),
        Source::PyPi { project } => {
            from_releases(package_index::pypi_releases(network, project).await?)
        }
        Source::Npm { package } => {
            from_releases(package_index::npm_releases(network, package).await?)
        }
        Source::Maven { coordinate } => {
            from_releases(package_index::maven_releases(network, coordinate).await?)
        }
        Source::Bundle { github: None, .. } => return Ok(None),
    };
    Ok(Some(versions))
}

async fn release_time(network: &Network, pin: &Pin, published: &Published) -> Option<String> {
    if published.released.is_some() {
        return published.released.clone();
    }
    match &pin.source {
        Source::Image(name) => oci::created(network, name, &published.tag).await,
        Source::GoModule { module } => go_proxy::info(network, module, &published.tag)
            .await
            .ok()
            .map(|info| info.time),
        _ => None,
    }
}

fn candidate(tag: &str, released: Option<String>, now: OffsetDateTime) -> Candidate {
    let age_days = released
        .as_deref()
        .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
        .map(|when| (now - when).whole_days().max(0) as u64);
    Candidate {
        version: tag.to_owned(),
        released,
        age_days,
    }
}

fn old_enough(released: Option<&str>, minimum: Duration, now: OffsetDateTime) -> bool {
    released
        .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
        .is_some_and(|when| now - when >= minimum)
}

async fn outdated_one(
    network: &Network,
    pin: &Pin,
    now: OffsetDateTime,
) -> Result<Outdated, Broken> {
    let policy = &pin.policy;
    let current = policy.parse_tag(&pin.version).expect("validated at load");
    let Some(published) = published(network, pin).await? else {
        return Ok(Outdated {
            pin: pin.id.clone(),
            group: pin.group.clone(),
            current: candidate(&pin.version, None, now),
            newest_allowed: None,
            newest: None,
            note: Some("no version source: give the bundle a `github` repository".to_owned()),
        });
    };
    let mut versions: Vec<(TagVersion, &Published)> = published
        .iter()
        .filter_map(|p| policy.parse_tag(&p.tag).map(|v| (v, p)))
        .filter(|(version, _)| policy.counts(&current, version))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.dedup_by(|a, b| a.0 == b.0);

    let current_published = published.iter().find(|p| p.tag == pin.version);
    let current_released = match current_published {
        Some(p) => release_time(network, pin, p).await,
        None => None,
    };
    let newest = match versions.first() {
        Some((version, p)) => Some(candidate(
            &version.tag,
            release_time(network, pin, p).await,
            now,
        )),
        None => None,
    };
    let mut note = None;
    let mut newest_allowed = None;
    let mut lookups = 0;
    for (version, p) in versions
        .iter()
        .filter(|(version, _)| policy.allows(&current, version) && *version >= current)
    {
        if version.tag == pin.version {
            newest_allowed = Some(candidate(&pin.version, current_released.clone(), now));
            break;
        }
        let released = release_time(network, pin, p).await;
        if let Some(minimum) = policy.min_release_age {
            if !old_enough(released.as_deref(), minimum, now) {
                lookups += 1;
                note = Some(format!(
                    "{} is younger than the minimum release age{}",
                    version.tag,
                    if released.is_none() {
                        " (or its release time is unknown)"
                    } else {
                        ""
                    }
                ));
                if lookups >= AGE_LOOKUPS {
                    break;
                }
                continue;
            }
        }
        newest_allowed = Some(candidate(&version.tag, released, now));
        break;
    }
    if newest_allowed.is_none() && note.is_none() {
        note = Some(format!(
            "{} is not among the published versions",
            pin.version
        ));
    }
    Ok(Outdated {
        pin: pin.id.clone(),
        group: pin.group.clone(),
        current: candidate(&pin.version, current_released, now),
        newest_allowed,
        newest,
        note,
    })
}
