//! `lock` and `bump`: what to write, computed from the network; [`write_files`] writes it.

use std::path::{Path, PathBuf};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use time::OffsetDateTime;

use crate::changelog::{self, Change};
use crate::edit::{self, Edit};
use crate::error::{Error, Result};
use crate::fetch::Network;
use crate::model::{Pin, PinId, PinSet};
use crate::outdated::outdated;
use crate::resolve::resolve;

/// A pin that could not be locked or bumped, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The pin.
    pub pin: PinId,
    /// Why.
    pub message: String,
}

/// What `lock` or `bump` will change.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Version moves (`bump`); empty for `lock`.
    pub changes: Vec<Change>,
    /// The value edits to the pin set.
    #[serde(skip)]
    pub edits: Vec<Edit>,
    /// Digests filled in (`lock`, and `pr` for pins that had none): pin and digest.
    pub locked: Vec<(PinId, String)>,
    /// Pins left alone because resolving them failed.
    pub problems: Vec<Problem>,
}

/// Fills in the digest of every pin in `pins` that has none.
pub async fn plan_lock(network: &Network, pins: &[&Pin]) -> Plan {
    let unlocked: Vec<(&Pin, String)> = pins
        .iter()
        .copied()
        .filter(|pin| pin.digest.is_none())
        .map(|pin| (pin, pin.version.clone()))
        .collect();
    let mut plan = Plan::default();
    lock_into(&mut plan, network, unlocked).await;
    plan
}

/// What `pins pr` proposes: [`plan_bump`], then a digest for every pin that still has none —
/// at its new version when it moved — so the pull request also locks the pin set.
pub async fn plan_pr(network: &Network, pins: &[&Pin], now: OffsetDateTime) -> Plan {
    let mut plan = plan_bump(network, pins, now).await;
    let unlocked: Vec<(&Pin, String)> = pins
        .iter()
        .copied()
        .filter(|pin| pin.digest.is_none())
        .filter(|pin| !plan.problems.iter().any(|problem| problem.pin == pin.id))
        .map(|pin| {
            let version = plan
                .changes
                .iter()
                .find(|change| change.pin == pin.id)
                .map_or_else(|| pin.version.clone(), |change| change.new.clone());
            (pin, version)
        })
        .collect();
    lock_into(&mut plan, network, unlocked).await;
    plan
}

/// Resolves each (pin, version) and adds a digest edit for it to `plan`, or a problem.
async fn lock_into(plan: &mut Plan, network: &Network, unlocked: Vec<(&Pin, String)>) {
    let results: Vec<_> = stream::iter(unlocked)
        .map(|(pin, version)| async move {
            let resolved = resolve(network, pin, &version, None, true).await;
            (pin, resolved)
        })
        .buffered(256)
        .collect()
        .await;
    for (pin, result) in results {
        match result {
            Ok(resolved) => match resolved.digest {
                Some(digest) => {
                    plan.edits.push(Edit {
                        pin: pin.id.clone(),
                        key: "digest",
                        value: digest.clone(),
                    });
                    plan.locked.push((pin.id.clone(), digest));
                }
                None => plan.problems.push(Problem {
                    pin: pin.id.clone(),
                    message: format!("{} publishes no digest", resolved.url),
                }),
            },
            Err(broken) => plan.problems.push(Problem {
                pin: pin.id.clone(),
                message: broken.message,
            }),
        }
    }
}

/// Moves every pin in `pins` to the newest version its policy allows; a locked pin gets the
/// new version's digest.
pub async fn plan_bump(network: &Network, pins: &[&Pin], now: OffsetDateTime) -> Plan {
    let answers = outdated(network, pins, now).await;
    let mut plan = Plan::default();
    let mut moves = Vec::new();
    for (pin, answer) in pins.iter().copied().zip(answers) {
        match answer {
            Ok(answer) => {
                if let Some(update) = answer.update() {
                    moves.push((pin, update.clone()));
                }
            }
            Err((id, broken)) => plan.problems.push(Problem {
                pin: id,
                message: broken.message,
            }),
        }
    }
    let digests: Vec<_> = stream::iter(moves.iter())
        .map(|(pin, update)| async move {
            if pin.digest.is_some() {
                resolve(network, pin, &update.version, None, true)
                    .await
                    .map(|resolved| resolved.digest)
            } else {
                Ok(None)
            }
        })
        .buffered(256)
        .collect()
        .await;
    for ((pin, update), digest) in moves.into_iter().zip(digests) {
        let new_digest = match digest {
            Ok(digest) => digest,
            Err(broken) => {
                plan.problems.push(Problem {
                    pin: pin.id.clone(),
                    message: format!("{} does not resolve: {}", update.version, broken.message),
                });
                continue;
            }
        };
        if pin.digest.is_some() && new_digest.is_none() {
            plan.problems.push(Problem {
                pin: pin.id.clone(),
                message: format!("{} publishes no digest to lock", update.version),
            });
            continue;
        }
        plan.edits.push(Edit {
            pin: pin.id.clone(),
            key: pin.id.kind.version_key(),
            value: update.version.clone(),
        });
        if let Some(digest) = &new_digest {
            plan.edits.push(Edit {
                pin: pin.id.clone(),
                key: "digest",
                value: digest.clone(),
            });
        }
        plan.changes.push(Change {
            pin: pin.id.clone(),
            group: pin.group.clone(),
            old: pin.version.clone(),
            new: update.version.clone(),
            old_digest: pin.digest.clone(),
            new_digest,
            release_notes: pin.release_link(&update.version),
            age_days: update.age_days,
        });
    }
    plan
}

/// The new contents of the files a plan touches: the pin set and, when the plan moves
/// versions, the changelog at `changelog` with a section dated `date` (`YYYY-MM-DD`).
///
/// Errors: the pin set no longer parses as TOML, or the changelog cannot be read.
pub fn new_files(
    set: &PinSet,
    plan: &Plan,
    changelog: Option<&Path>,
    date: &str,
) -> Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    if plan.edits.is_empty() {
        return Ok(files);
    }
    files.push((
        set.path.clone(),
        edit::apply(&set.path, &set.text, &plan.edits)?,
    ));
    if let (Some(path), false) = (changelog, plan.changes.is_empty()) {
        let existing = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        files.push((
            path.to_owned(),
            changelog::prepend(&existing, date, &plan.changes),
        ));
    }
    Ok(files)
}

/// Writes `files` (path, contents). Errors: [`Error::Io`] naming the file.
pub fn write_files(files: &[(PathBuf, String)]) -> Result<()> {
    for (path, text) in files {
        std::fs::write(path, text).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    let now = OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}
