//! The deployer's reading of the pin set: image references by name.
//!
//! The pin set (`pins/pins.toml`) is the single source of truth for versions; manifests name
//! images only as `{{ images.<name> }}`. This module reads just the `[images.<name>]` tables
//! (`repository`, `tag`, optional `digest`); the `pins` crate owns the rest of the file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

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

/// Reads the `[images.*]` tables of a pin set file.
///
/// Errors: [`Error::Read`]; [`Error::Invalid`] with the line for malformed TOML, and naming
/// the key (`images.<name>.tag`) for a missing or non-string field.
pub fn load_images(path: &Path) -> Result<ImagePins> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_images(path, &text)
}

/// Parses the `[images.*]` tables of pin set text; `path` is used in messages only.
pub fn parse_images(path: &Path, text: &str) -> Result<ImagePins> {
    let table: toml::Table = text.parse().map_err(|error: toml::de::Error| {
        let line = error
            .span()
            .map_or(0, |span| text[..span.start].lines().count().max(1));
        Error::invalid(path, line, error.message().to_owned())
    })?;
    let mut pins = ImagePins::new();
    let Some(images) = table.get("images") else {
        return Ok(pins);
    };
    let images = images.as_table().ok_or_else(|| {
        Error::invalid(
            path,
            line_of_table(text, "images"),
            "`images` must be a table",
        )
    })?;
    for (name, pin) in images {
        let key_line = line_of_table(text, &format!("images.{name}"));
        let field = |key: &str| -> Result<Option<String>> {
            match pin.get(key) {
                None => Ok(None),
                Some(toml::Value::String(value)) => Ok(Some(value.clone())),
                Some(_) => Err(Error::invalid(
                    path,
                    key_line,
                    format!("`images.{name}.{key}` must be a string"),
                )),
            }
        };
        let required = |key: &str| -> Result<String> {
            field(key)?.ok_or_else(|| {
                Error::invalid(path, key_line, format!("`images.{name}.{key}` is missing"))
            })
        };
        pins.insert(
            name.clone(),
            ImagePin {
                repository: required("repository")?,
                tag: required("tag")?,
                digest: field("digest")?,
            },
        );
    }
    Ok(pins)
}

/// The `tag` of `[tools.<name>]` in the pin set at `path` (e.g. the pinned kind release).
///
/// Errors: [`Error::Read`]; [`Error::Invalid`] for malformed TOML or a missing tag.
pub fn load_tool_tag(path: &Path, name: &str) -> Result<String> {
    let [tag] = tool_fields(path, name, ["tag"])?;
    Ok(tag)
}

/// The string values of `keys` in `[tools.<name>]` of the pin set at `path`, in order.
///
/// Errors: [`Error::Read`]; [`Error::Invalid`] for malformed TOML, or naming
/// `tools.<name>.<key>` and the table's line for a missing one.
fn tool_fields<const N: usize>(path: &Path, name: &str, keys: [&str; N]) -> Result<[String; N]> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| Error::invalid(path, 0, error.message().to_owned()))?;
    let tool = table.get("tools").and_then(|tools| tools.get(name));
    let mut values = Vec::with_capacity(N);
    for key in keys {
        let value = tool
            .and_then(|tool| tool.get(key))
            .and_then(toml::Value::as_str)
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    line_of_table(&text, &format!("tools.{name}")),
                    format!("`tools.{name}.{key}` is missing"),
                )
            })?;
        values.push(value.to_owned());
    }
    Ok(values.try_into().expect("one value per key"))
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
/// Errors: [`Error::Read`]; [`Error::Invalid`] naming `tools.<name>.go_module` or `.tag` when
/// either is missing.
pub fn load_go_module(path: &Path, name: &str) -> Result<GoModulePin> {
    let [module, tag] = tool_fields(path, name, ["go_module", "tag"])?;
    Ok(GoModulePin { module, tag })
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

        let error =
            parse_images(Path::new("p.toml"), "\n[images.hub]\nrepository = \"x\"\n").unwrap_err();
        assert_eq!(error.to_string(), "p.toml:2: `images.hub.tag` is missing");

        let error = parse_images(Path::new("p.toml"), "[images.hub]\nrepository = \n").unwrap_err();
        assert!(error.to_string().starts_with("p.toml:2:"), "{error}");
    }
}
