//! The versions an upgrade changes: two pin sets compared pin by pin.

use deployer::pinset::model::PinSet;
use serde::Serialize;

/// One pin whose version differs between the two pin sets (or that only one of them has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinChange {
    /// The pin, e.g. `packages.jupyterhub`.
    pub pin: String,
    /// Its group, when it has one (from the newer pin set when it has the pin).
    pub group: Option<String>,
    /// The version before; `None` when the pin is new.
    pub from: Option<String>,
    /// The version after; `None` when the pin was removed.
    pub to: Option<String>,
}

impl std::fmt::Display for PinChange {
    /// `packages.jupyterhub 6.1.0 → 6.1.1` (`(none)` for a side without the pin).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |version: &Option<String>| version.clone().unwrap_or_else(|| "(none)".into());
        write!(f, "{} {} → {}", self.pin, side(&self.from), side(&self.to))
    }
}

/// The pins of `to` whose version (or digest) differs from `from`'s, then the pins only `from`
/// has; each list in the order of its pin set file.
pub fn pin_changes(from: &PinSet, to: &PinSet) -> Vec<PinChange> {
    let find = |set: &PinSet, id: &deployer::pinset::model::PinId| {
        set.pins.iter().find(|pin| &pin.id == id).cloned()
    };
    let mut changes: Vec<PinChange> = to
        .pins
        .iter()
        .filter_map(|pin| {
            let before = find(from, &pin.id);
            let same = before
                .as_ref()
                .is_some_and(|old| old.version == pin.version && old.digest == pin.digest);
            (!same).then(|| PinChange {
                pin: pin.id.to_string(),
                group: pin.group.clone(),
                from: before.map(|old| old.version),
                to: Some(pin.version.clone()),
            })
        })
        .collect();
    changes.extend(
        from.pins
            .iter()
            .filter(|pin| find(to, &pin.id).is_none())
            .map(|pin| PinChange {
                pin: pin.id.to_string(),
                group: pin.group.clone(),
                from: Some(pin.version.clone()),
                to: None,
            }),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(text: &str) -> PinSet {
        deployer::pinset::load::parse_pins(std::path::Path::new("pins.toml"), text).unwrap()
    }

    #[test]
    fn changed_new_and_removed_pins_are_listed_and_equal_ones_are_not() {
        let from = pins(
            "[groups.jupyterhub]\n\n[packages.jupyterhub]\npypi = \"jupyterhub\"\nversion = \"6.1.0\"\ngroup = \"jupyterhub\"\n\n\
             [packages.jupyterlab]\npypi = \"jupyterlab\"\nversion = \"4.6.6\"\n\n\
             [packages.gone]\npypi = \"gone\"\nversion = \"1.0.0\"\n",
        );
        let to = pins(
            "[groups.jupyterhub]\n\n[packages.jupyterhub]\npypi = \"jupyterhub\"\nversion = \"6.1.1\"\ngroup = \"jupyterhub\"\n\n\
             [packages.jupyterlab]\npypi = \"jupyterlab\"\nversion = \"4.6.6\"\n\n\
             [packages.new]\npypi = \"new\"\nversion = \"2.0.0\"\n",
        );
        let lines: Vec<String> = pin_changes(&from, &to)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "packages.jupyterhub 6.1.0 → 6.1.1",
                "packages.new (none) → 2.0.0",
                "packages.gone 1.0.0 → (none)"
            ]
        );
    }
}
