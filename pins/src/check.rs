//! `check`: every selected pin still resolves (see [`crate::resolve`]), lies inside its
//! policy, and — when it does not resolve — whether a relocation rule finds it moved.

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::fetch::Network;
use crate::model::{ChartRepository, ImageName, Pin, PinId, PinSet, Source};
use crate::resolve::resolve;

/// A pin's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Resolves, digests agree, inside its policy.
    Ok,
    /// Its version lies outside its own policy's range (found offline).
    OutsidePolicy,
    /// Does not resolve where it says; no relocation rule found it.
    Broken,
    /// Does not resolve where it says, but a relocation rule found it.
    Moved,
    /// Not checked online (`--offline`); its policy was validated.
    Unchecked,
}

/// One pin's check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The pin.
    pub pin: PinId,
    /// What it points at.
    pub reference: String,
    /// The verdict.
    pub status: Status,
    /// The URL that proved or broke it.
    pub url: Option<String>,
    /// The HTTP status of a failure.
    pub http_status: Option<u16>,
    /// The digest found.
    pub digest: Option<String>,
    /// What is wrong, or how it was proven.
    pub message: String,
    /// For `moved`: the new reference and the rule's reason.
    pub moved_to: Option<String>,
}

impl CheckResult {
    /// Whether the pin needs attention (anything but ok or unchecked).
    pub fn failed(&self) -> bool {
        !matches!(self.status, Status::Ok | Status::Unchecked)
    }
}

/// Checks `pins` of `set`, at most `network.options.concurrency` requests in flight; with
/// `network` `None` (offline) only policies are checked. Results keep the pins' order.
pub async fn check(set: &PinSet, pins: &[&Pin], network: Option<&Network>) -> Vec<CheckResult> {
    stream::iter(pins.iter().copied())
        .map(|pin| check_one(set, pin, network))
        .buffered(256)
        .collect()
        .await
}

async fn check_one(set: &PinSet, pin: &Pin, network: Option<&Network>) -> CheckResult {
    let mut result = CheckResult {
        pin: pin.id.clone(),
        reference: pin.reference(),
        status: Status::Ok,
        url: None,
        http_status: None,
        digest: None,
        message: String::new(),
        moved_to: None,
    };
    let current = pin
        .policy
        .parse_tag(&pin.version)
        .expect("validated at load");
    if !pin.policy.in_range(&current.version) {
        let (_, range) = pin
            .policy
            .range
            .as_ref()
            .expect("out of range implies a range");
        result.status = Status::OutsidePolicy;
        result.message = format!("{} is outside its policy range `{range}`", pin.version);
        return result;
    }
    let Some(network) = network else {
        result.status = Status::Unchecked;
        result.message = "offline: policy validated, not resolved".to_owned();
        return result;
    };
    match resolve(network, pin, &pin.version, pin.digest.as_deref(), false).await {
        Ok(resolved) => {
            result.message = match (&pin.digest, &resolved.digest) {
                (Some(_), Some(_)) => "resolves; digest matches the pin".to_owned(),
                (None, Some(_)) => "resolves; not locked (run `pins lock`)".to_owned(),
                _ => "resolves".to_owned(),
            };
            result.url = Some(resolved.url);
            result.digest = resolved.digest;
        }
        Err(broken) => {
            result.status = Status::Broken;
            result.url = Some(broken.url.clone());
            result.http_status = broken.status;
            result.message = broken.message.clone();
            if broken.gone {
                if let Some((moved, reason)) = relocated(set, pin, network).await {
                    result.status = Status::Moved;
                    result.moved_to = Some(moved.clone());
                    result.message = format!(
                        "{}; moved, here is the new reference: {moved}{}",
                        broken.message,
                        reason.map(|r| format!(" ({r})")).unwrap_or_default()
                    );
                }
            }
        }
    }
    result
}

/// `pin` with its source moved by the first matching relocation rule, if any.
pub fn relocate(set: &PinSet, pin: &Pin) -> Option<(Pin, Option<String>)> {
    let source = match &pin.source {
        Source::Image(name) => name.to_string(),
        Source::Chart { repository, .. } => repository.to_string(),
        _ => return None,
    };
    let rule = set
        .relocations
        .iter()
        .find(|rule| rule.apply(&source).is_some())?;
    let moved = rule.apply(&source)?;
    let mut pin = pin.clone();
    pin.source = match &pin.source {
        Source::Image(_) => Source::Image(ImageName::parse(&moved)?),
        Source::Chart { chart, .. } => Source::Chart {
            repository: match moved.strip_prefix("oci://") {
                Some(rest) => ChartRepository::Oci(ImageName::parse(rest)?),
                None => ChartRepository::Http(moved.trim_end_matches('/').to_owned()),
            },
            chart: chart.clone(),
        },
        _ => return None,
    };
    Some((pin, rule.reason.clone()))
}

async fn relocated(set: &PinSet, pin: &Pin, network: &Network) -> Option<(String, Option<String>)> {
    let (moved, reason) = relocate(set, pin)?;
    // The relocated copy is a different artifact store; a pinned digest still has to match.
    resolve(
        network,
        &moved,
        &moved.version,
        pin.digest.as_deref(),
        false,
    )
    .await
    .ok()
    .map(|_| (moved.reference(), reason))
}
