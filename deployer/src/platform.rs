//! A platform definition: ordered stages, each a directory of manifest templates, settings
//! with defaults, and declared checks.
//!
//! Layout of a platform directory:
//!
//! ```text
//! platform.yaml            # stages: [kubernetes-initialize, ingress, …]; pins: ../pins.toml
//! <stage>/stage.yaml       # description, settings (name: default value)
//! <stage>/manifests/*.yaml # minijinja templates of Kubernetes objects, applied in file order
//! <stage>/checks.yaml      # checks the harness runs after the stage is ready
//! ```
//!
//! A chart stage names a chart pin in its `stage.yaml` (`chart: {pin, release, namespace,
//! helm}`) and has a `values.yaml` template instead of (or besides) `manifests/`; see
//! [`crate::charts`] and docs/charts.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::charts::helm::HelmMajor;
use crate::config::Config;
use crate::error::{line_of_key, parse_yaml, Error, Result};
use crate::pins::{ChartPin, ImagePins};

/// The platform shipped in this repository (`deployer/stages`).
pub fn default_platform_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stages")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformFile {
    stages: Vec<String>,
    pins: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    description: String,
    #[serde(default)]
    settings: BTreeMap<String, serde_json::Value>,
    /// Inclusive `[min, max]` of integer settings, e.g. `replicas: [0, 100]`.
    #[serde(default)]
    bounds: BTreeMap<String, [i64; 2]>,
    chart: Option<ChartFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChartFile {
    pin: String,
    release: Option<String>,
    namespace: Option<String>,
    helm: Option<HelmMajor>,
}

/// What a chart stage deploys: a pinned chart as one Helm release.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartStage {
    /// The chart pin (`charts.<name>`), resolved against the pin set.
    pub pin: ChartPin,
    /// The release name (`.Release.Name`); the stage name when absent.
    pub release: String,
    /// The release namespace; the config's namespace when absent.
    pub namespace: Option<String>,
    /// Which Helm renders it; the config's `helm` (else Helm 3) when absent.
    pub helm: Option<HelmMajor>,
    /// The values template (`<stage>/values.yaml`).
    pub values: PathBuf,
}

/// One stage of a platform.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Stage name, e.g. `ingress`; also its directory name.
    pub name: String,
    /// One-line description from `stage.yaml`.
    pub description: String,
    /// The stage's directory.
    pub dir: PathBuf,
    /// Settings and their default values, from `stage.yaml`.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Inclusive bounds of integer settings (`bounds:` in `stage.yaml`); an integer setting
    /// without bounds is held to Kubernetes' int32 range.
    pub bounds: BTreeMap<String, (i64, i64)>,
    /// Manifest templates, sorted by file name (may be empty for a chart stage).
    pub manifests: Vec<PathBuf>,
    /// The chart it deploys, for a chart stage.
    pub chart: Option<ChartStage>,
}

impl Stage {
    /// Path of the stage's check file (`checks.yaml`); it may not exist.
    pub fn checks_file(&self) -> PathBuf {
        self.dir.join("checks.yaml")
    }
}

/// A loaded platform: its stages in deploy order and its image pins.
#[derive(Debug, Clone)]
pub struct Platform {
    /// The platform directory.
    pub root: PathBuf,
    /// Stages in deploy order.
    pub stages: Vec<Stage>,
    /// The pin set file the platform reads images from.
    pub pins_file: PathBuf,
    /// Images by name, from the pin set.
    pub images: ImagePins,
    /// Chart pins by name, from the pin set.
    pub charts: BTreeMap<String, ChartPin>,
}

impl Platform {
    /// Loads a platform directory (see the module docs for its layout).
    ///
    /// Errors: [`Error::Read`] for missing files, [`Error::Invalid`] with the line for
    /// malformed `platform.yaml` or `stage.yaml`, a stage without manifests, or a bad pin set.
    pub fn load(root: &Path) -> Result<Platform> {
        Platform::load_with_pins(root, None)
    }

    /// [`Platform::load`], reading images and charts from `pins` instead of the pin set
    /// `platform.yaml` names, when given (an upgrade trial from or to another pin set).
    ///
    /// Errors: those of [`Platform::load`].
    pub fn load_with_pins(root: &Path, pins: Option<&Path>) -> Result<Platform> {
        let platform_path = root.join("platform.yaml");
        let text = read(&platform_path)?;
        let file: PlatformFile = parse_yaml(&platform_path, &text)?;
        if file.stages.is_empty() {
            return Err(Error::invalid(
                &platform_path,
                line_of_key(&text, "stages"),
                "`stages` is empty",
            ));
        }
        let pins_file = match pins {
            Some(pins) => pins.to_owned(),
            None => root.join(&file.pins),
        };
        let images = crate::pins::load_images(&pins_file)?;
        let charts = crate::pins::load_charts(&pins_file)?;
        let mut stages = Vec::with_capacity(file.stages.len());
        for name in &file.stages {
            if stages.iter().any(|stage: &Stage| &stage.name == name) {
                return Err(Error::invalid(
                    &platform_path,
                    0,
                    format!("stage `{name}` is listed twice"),
                ));
            }
            stages.push(load_stage(root, name, &charts)?);
        }
        Ok(Platform {
            root: root.to_owned(),
            stages,
            pins_file,
            images,
            charts,
        })
    }

    /// The stage names in deploy order.
    pub fn stage_names(&self) -> Vec<String> {
        self.stages.iter().map(|stage| stage.name.clone()).collect()
    }

    /// The stages up to and including `stop_at` (all of them when `None`).
    ///
    /// Errors: [`Error::UnknownStage`] listing the valid names.
    pub fn stages_until(&self, stop_at: Option<&str>) -> Result<&[Stage]> {
        match stop_at {
            None => Ok(&self.stages),
            Some(name) => match self.stages.iter().position(|stage| stage.name == name) {
                Some(index) => Ok(&self.stages[..=index]),
                None => Err(Error::UnknownStage {
                    name: name.to_owned(),
                    valid: self.stage_names(),
                }),
            },
        }
    }

    /// A stage's settings: its defaults overridden by the config's `stages.<name>` values.
    ///
    /// Errors: [`Error::Invalid`] at the config's line for a stage the platform does not have,
    /// a setting the stage does not declare, or a value of another type than the default.
    pub fn settings_for(
        &self,
        config: &Config,
        stage: &Stage,
    ) -> Result<BTreeMap<String, serde_json::Value>> {
        self.validate_config_stages(config)?;
        let mut settings = stage.settings.clone();
        if let Some(overrides) = config.stages.get(&stage.name) {
            for (key, value) in overrides {
                settings.insert(key.clone(), value.clone());
            }
        }
        Ok(settings)
    }

    /// Checks that every `stages.<name>.<setting>` in the config exists with the right type.
    pub fn validate_config_stages(&self, config: &Config) -> Result<()> {
        for (stage_name, overrides) in &config.stages {
            let Some(stage) = self.stages.iter().find(|stage| &stage.name == stage_name) else {
                return Err(config.path_error(
                    &["stages", stage_name],
                    format!(
                        "`stages.{stage_name}`: no such stage; valid stages: {}",
                        self.stage_names().join(", ")
                    ),
                ));
            };
            for (key, value) in overrides {
                let Some(default) = stage.settings.get(key) else {
                    let known: Vec<&str> = stage.settings.keys().map(String::as_str).collect();
                    return Err(config.path_error(
                        &["stages", stage_name, key],
                        format!(
                            "`stages.{stage_name}.{key}`: no such setting; valid settings: {}",
                            known.join(", ")
                        ),
                    ));
                };
                if let Some(message) = out_of_bounds(stage, key, value) {
                    return Err(setting_error(
                        config,
                        stage,
                        key,
                        format!("`stages.{stage_name}.{key}`: {message}"),
                    ));
                }
                if json_type(default) != json_type(value) {
                    return Err(setting_error(
                        config,
                        stage,
                        key,
                        format!(
                            "`stages.{stage_name}.{key}` must be {} (like its default {default}), not {}",
                            with_article(json_type(default)),
                            with_article(json_type(value))
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The error of a stage setting's value: at the config's line of `key` when the config sets
/// it. Otherwise the value is a provider's default
/// ([`crate::providers::lifecycle::apply_defaults`]) that the setting, as `stage.yaml` declares
/// it, does not admit: the error is at that declaration's line.
fn setting_error(config: &Config, stage: &Stage, key: &str, message: String) -> Error {
    let path = ["stages", stage.name.as_str(), key];
    if config.line_of(&path).is_some() {
        return config.path_error(&path, message);
    }
    let path = stage.dir.join("stage.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let line = match line_of_key(&text, key) {
        0 => line_of_key(&text, "settings").max(1),
        line => line,
    };
    Error::invalid(
        &path,
        line,
        format!("{message}; the provider sets this value, and the stage declares the setting here"),
    )
}

/// Kubernetes' integer fields (replicas, ports, priorities) are int32 (API conventions,
/// "Primitive types"): an integer setting without declared bounds must fit one.
pub const INT32: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);

/// Validates `stage.yaml`'s `bounds:`: each names an integer setting whose default lies
/// within it. Errors: [`Error::Invalid`] at the bound's line.
fn bounds_of(
    path: &Path,
    text: &str,
    settings: &BTreeMap<String, serde_json::Value>,
    bounds: &BTreeMap<String, [i64; 2]>,
) -> Result<BTreeMap<String, (i64, i64)>> {
    let mut checked = BTreeMap::new();
    for (key, [min, max]) in bounds {
        let at = |message: String| {
            let line = text
                .lines()
                .position(|line| line.trim_start().starts_with("bounds:"))
                .map_or(0, |bounds_line| {
                    text.lines()
                        .enumerate()
                        .skip(bounds_line)
                        .find(|(_, line)| line.trim_start().starts_with(&format!("{key}:")))
                        .map_or(bounds_line + 1, |(index, _)| index + 1)
                });
            Error::invalid(path, line, format!("bounds.{key}: {message}"))
        };
        let Some(default) = settings.get(key) else {
            return Err(at("no such setting".into()));
        };
        let Some(value) = default
            .as_i64()
            .filter(|_| default.is_i64() || default.is_u64())
        else {
            return Err(at(format!(
                "bounds apply to integer settings; its default is {default}"
            )));
        };
        if min > max || value < *min || value > *max {
            return Err(at(format!(
                "the default {value} is not within [{min}, {max}]"
            )));
        }
        checked.insert(key.clone(), (*min, *max));
    }
    Ok(checked)
}

/// Why `value` may not be `stage`'s integer setting `key`, if it may not: not an integer
/// (1.5), or outside the setting's bounds or int32.
fn out_of_bounds(stage: &Stage, key: &str, value: &serde_json::Value) -> Option<String> {
    let default = stage.settings.get(key)?;
    if json_type(default) != "integer" {
        return None;
    }
    let (min, max) = stage.bounds.get(key).copied().unwrap_or(INT32);
    let Some(number) = value.as_i64().filter(|_| json_type(value) == "integer") else {
        return match value {
            serde_json::Value::Number(_) => {
                Some(format!("{value} is not an integer within [{min}, {max}]"))
            }
            _ => None,
        };
    };
    (number < min || number > max).then(|| format!("{number} is not within [{min}, {max}]"))
}

/// `an integer`, `a string`.
fn with_article(noun: &str) -> String {
    match noun.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {noun}"),
        _ => format!("a {noun}"),
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "map",
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

fn load_stage(root: &Path, name: &str, charts: &BTreeMap<String, ChartPin>) -> Result<Stage> {
    let dir = root.join(name);
    let stage_path = dir.join("stage.yaml");
    let text = read(&stage_path)?;
    let file: StageFile = parse_yaml(&stage_path, &text)?;
    let chart = match file.chart {
        None => None,
        Some(chart) => {
            let pin_name = chart.pin.strip_prefix("charts.").unwrap_or(&chart.pin);
            let pin = charts.get(pin_name).cloned().ok_or_else(|| {
                let known: Vec<String> = charts.keys().map(|k| format!("charts.{k}")).collect();
                Error::invalid(
                    &stage_path,
                    line_of_key(&text, "pin"),
                    format!(
                        "`chart.pin`: the pin set has no `charts.{pin_name}`; its charts: {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })?;
            let values = dir.join("values.yaml");
            if !values.is_file() {
                return Err(Error::invalid(
                    &values,
                    0,
                    format!(
                        "chart stage `{name}` has no values.yaml template (write `{{}}` for none)"
                    ),
                ));
            }
            Some(ChartStage {
                pin,
                release: chart.release.unwrap_or_else(|| name.to_owned()),
                namespace: chart.namespace,
                helm: chart.helm,
                values,
            })
        }
    };
    let manifest_dir = dir.join("manifests");
    let mut manifests: Vec<PathBuf> = if chart.is_some() && !manifest_dir.exists() {
        Vec::new()
    } else {
        std::fs::read_dir(&manifest_dir)
            .map_err(|source| Error::Read {
                path: manifest_dir.clone(),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
            })
            .collect()
    };
    manifests.sort();
    if manifests.is_empty() && chart.is_none() {
        return Err(Error::invalid(
            &manifest_dir,
            0,
            format!("stage `{name}` has no *.yaml manifest templates and names no chart"),
        ));
    }
    let bounds = bounds_of(&stage_path, &text, &file.settings, &file.bounds)?;
    Ok(Stage {
        name: name.to_owned(),
        description: file.description,
        dir,
        settings: file.settings,
        bounds,
        manifests,
        chart,
    })
}
