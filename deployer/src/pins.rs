//! The deployer's view of the pin set: image references, chart pins and the Go modules it
//! builds, by name.
//!
//! The pin set (`pins/pins.toml`) is the single source of truth for versions; manifests name
//! images only as `{{ images.<name> }}` and chart stages name `charts.<name>`. Everything here
//! is read through the one model both the deployer and the `pins` tooling use,
//! [`crate::pinset`]; this module only picks out what deploying needs.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::pinset::model::{ChartRepository, Kind, Pin, PinSet, Source};

impl From<crate::pinset::Error> for Error {
    fn from(error: crate::pinset::Error) -> Self {
        use crate::pinset::Error as PinSet;
        match error {
            PinSet::Io { path, source } => Error::Read { path, source },
            PinSet::Invalid {
                path,
                line,
                key,
                message,
            } => Error::invalid(path, line, format!("{key}: {message}")),
            other => Error::invalid("", 0, other.to_string()),
        }
    }
}

/// One pinned container image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePin {
    /// `registry/repository`, e.g. `docker.io/library/traefik`.
    pub repository: String,
    /// The tag, e.g. `1.27.0`.
    pub tag: String,
    /// The manifest digest (`sha256:…`), when locked.
    pub digest: Option<String>,
}

impl ImagePin {
    /// The reference a Pod spec uses: `repository:tag`, plus `@digest` when locked.
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}:{}@{}", self.repository, self.tag, digest),
            None => format!("{}:{}", self.repository, self.tag),
        }
    }
}

/// The images of a pin set, by name.
pub type ImagePins = BTreeMap<String, ImagePin>;

/// One pinned Helm chart (`[charts.<name>]`): where it lives, which version, which tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartPin {
    /// The pin's name (`jupyterhub` for `charts.jupyterhub`).
    pub name: String,
    /// An HTTP repository (`index.yaml`) or an OCI registry path.
    pub repository: ChartRepository,
    /// The chart's name in the repository.
    pub chart: String,
    /// The chart version (`Chart.yaml`'s `version`).
    pub version: String,
    /// `sha256:<hex>` of the chart tarball (for OCI, the chart layer's digest), when locked.
    pub digest: Option<String>,
    /// The pin set file and the line of the pin's table, for messages.
    pub location: String,
}

fn read_pin_set(path: &Path) -> Result<PinSet> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(crate::pinset::load::parse_pins(path, &text)?)
}

/// Reads the `[images.*]` pins of a pin set file.
///
/// Errors: [`Error::Read`]; [`Error::Invalid`] with the line and dotted key of whatever the
/// pin set model refuses (see [`crate::pinset::load`]).
pub fn load_images(path: &Path) -> Result<ImagePins> {
    Ok(images_of(&read_pin_set(path)?))
}

/// [`load_images`] on pin set text already read; `path` is used in messages.
pub fn parse_images(path: &Path, text: &str) -> Result<ImagePins> {
    Ok(images_of(&crate::pinset::load::parse_pins(path, text)?))
}

/// The images of a loaded pin set, by name.
pub fn images_of(pin_set: &PinSet) -> ImagePins {
    pin_set
        .pins
        .iter()
        .filter_map(|pin| match &pin.source {
            Source::Image(name) => Some((
                pin.id.name.clone(),
                ImagePin {
                    repository: name.to_string(),
                    tag: pin.version.clone(),
                    digest: pin.digest.clone(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// The `[charts.*]` pins of a pin set file, by name.
///
/// Errors: as [`load_images`].
pub fn load_charts(path: &Path) -> Result<BTreeMap<String, ChartPin>> {
    let pin_set = read_pin_set(path)?;
    Ok(pin_set
        .pins
        .iter()
        .filter_map(|pin| chart_of(&pin_set, pin).map(|chart| (chart.name.clone(), chart)))
        .collect())
}

fn chart_of(pin_set: &PinSet, pin: &Pin) -> Option<ChartPin> {
    match &pin.source {
        Source::Chart { repository, chart } => Some(ChartPin {
            name: pin.id.name.clone(),
            repository: repository.clone(),
            chart: chart.clone(),
            version: pin.version.clone(),
            digest: pin.digest.clone(),
            location: format!("{}:{}", pin_set.path.display(), pin.line),
        }),
        _ => None,
    }
}

/// The `tag` of `[tools.<name>]` in the pin set at `path` (e.g. the pinned kind release).
///
/// Errors: [`Error::Read`]; [`Error::Invalid`] for a malformed pin set or a missing pin.
pub fn load_tool_tag(path: &Path, name: &str) -> Result<String> {
    Ok(tool(&read_pin_set(path)?, path, name)?.version.clone())
}

fn tool<'a>(pin_set: &'a PinSet, path: &Path, name: &str) -> Result<&'a Pin> {
    pin_set
        .pins
        .iter()
        .find(|pin| pin.id.kind == Kind::Tool && pin.id.name == name)
        .ok_or_else(|| Error::invalid(path, 0, format!("`tools.{name}` is missing")))
}

/// The shipped pin set, `pins/pins.toml` of this workspace.
pub fn default_pins_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pins/pins.toml")
}

/// A tool built from the Go module proxy: `[tools.<name>]` with `go_module` and `tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoModulePin {
    /// The module path, e.g. `k8s.io/kubernetes`.
    pub module: String,
    /// The module version, e.g. `v1.99.1`.
    pub tag: String,
}

/// The `go_module` and `tag` of `[tools.<name>]` in the pin set at `path`.
///
/// Errors: [`Error::Read`]; [`Error::Invalid`] naming `tools.<name>.go_module` when the pin
/// is missing or is not built from a Go module.
pub fn load_go_module(path: &Path, name: &str) -> Result<GoModulePin> {
    let pin_set = read_pin_set(path)?;
    let pin = tool(&pin_set, path, name)?;
    match &pin.source {
        Source::GoModule { module } => Ok(GoModulePin {
            module: module.clone(),
            tag: pin.version.clone(),
        }),
        _ => Err(Error::invalid(
            path,
            pin.line,
            format!("`tools.{name}.go_module` is missing"),
        )),
    }
}

/// The 1-based line of the `[<header>]` table in pin set text (0 when absent).
pub(crate) fn line_of_table(text: &str, header: &str) -> usize {
    let wanted = format!("[{header}]");
    text.lines()
        .position(|line| line.trim() == wanted)
        .map_or(0, |index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_images_and_names_missing_keys() {
        let pins = parse_images(
            Path::new("p.toml"),
            "# comment\n[images.traefik]\nrepository = \"docker.io/library/nginx\"\ntag = \"1.27.0\"\n",
        )
        .unwrap();
        assert_eq!(
            pins["traefik"].reference(),
            "docker.io/library/nginx:1.27.0"
        );

        let error = parse_images(
            Path::new("p.toml"),
            "\n[images.hub]\nrepository = \"quay.io/x\"\n",
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "p.toml:2: images.hub.tag: is missing");

        let error = parse_images(Path::new("p.toml"), "[images.hub]\nrepository = \n").unwrap_err();
        assert!(error.to_string().starts_with("p.toml:2:"), "{error}");
    }
}
