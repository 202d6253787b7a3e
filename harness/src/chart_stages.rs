//! The chart stages of a run: values rendered in [`crate::integration::prepare`], tarballs
//! fetched and checked before the provider starts, `helm template` against the connected
//! cluster before anything is applied, test hooks turned into checks, and the Helm 3 / Helm 4
//! comparison of `--helm-compare`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use deployer::charts::compare::{compare, ObjectDifference};
use deployer::charts::fetch::{self, FetchedChart};
use deployer::charts::helm::{Helm, HelmMajor};
use deployer::charts::hooks::{self, DeletePolicy, Release};
use deployer::charts::render::{self, Capabilities, TemplateRequest};
use deployer::config::Config;
use deployer::error::{Error, Result};
use deployer::inventory::Inventory;
use deployer::platform::ChartStage;
use serde::Serialize;

use crate::checks::helm_test::HelmTestSpec;
use crate::checks::{Assertion, Check};
use crate::integration::PreparedStage;

/// A chart stage's release as far as it has come: values rendered, tarball fetched, chart
/// rendered and sorted.
#[derive(Debug, Clone)]
pub struct PreparedChart {
    /// What `stage.yaml` says.
    pub chart: ChartStage,
    /// Which Helm renders it (the stage's choice, else the config's, else Helm 3).
    pub helm: HelmMajor,
    /// The release namespace.
    pub namespace: String,
    /// The rendered `values.yaml` (it may hold generated secrets: never written to reports).
    pub values: String,
    /// The pinned tarball, once fetched.
    pub tarball: Option<FetchedChart>,
    /// The rendered release, once templated.
    pub release: Option<Release>,
}

impl PreparedChart {
    /// Builds the chart part of a prepared stage from its rendered values text.
    ///
    /// Errors: [`Error::Invalid`] naming the values template when the rendered values are
    /// not a YAML mapping (with the line serde reports).
    pub fn new(chart: &ChartStage, config: &Config, values: String) -> Result<PreparedChart> {
        let parsed: serde_yaml_ng::Value =
            deployer::yaml::from_str(&values).map_err(|problem| Error::Invalid {
                path: chart.values.clone(),
                line: problem.line,
                message: format!("the rendered values are not YAML: {}", problem.message),
            })?;
        if !(parsed.is_mapping() || parsed.is_null()) {
            return Err(Error::Invalid {
                path: chart.values.clone(),
                line: 1,
                message: "the rendered values must be a mapping".into(),
            });
        }
        Ok(PreparedChart {
            chart: chart.clone(),
            helm: chart.helm.or(config.helm).unwrap_or_default(),
            namespace: chart
                .namespace
                .clone()
                .unwrap_or_else(|| config.namespace.clone()),
            values,
            tarball: None,
            release: None,
        })
    }
}

/// The Helm releases the chart stages of `prepared` need (`both` adds the other major, for
/// `--helm-compare`), built or found: [`Helm::ensure`] for each, reported while one builds.
///
/// Errors: those of [`Helm::ensure`].
pub fn ensure_helms(
    prepared: &[PreparedStage],
    pins_file: &Path,
    both: bool,
    reporter: &dyn crate::events::Reporter,
) -> Result<BTreeMap<HelmMajor, Helm>> {
    let mut majors: Vec<HelmMajor> = prepared
        .iter()
        .filter_map(|stage| stage.chart.as_ref().map(|chart| chart.helm))
        .collect();
    if both && !majors.is_empty() {
        majors.extend(HelmMajor::ALL);
    }
    majors.sort();
    majors.dedup();
    let mut helms = BTreeMap::new();
    for major in majors {
        let helm = crate::cluster_build::with_events(reporter, |on_event| {
            Helm::ensure(pins_file, major, on_event)
        })?;
        helms.insert(major, helm);
    }
    Ok(helms)
}

/// Fetches every chart stage's pinned tarball (from the cache when there), checking its
/// digest — before the provider starts, so a wrong pin stops the run with nothing applied.
///
/// Errors: [`Error::Chart`] naming the pin, the repository and what was found.
pub fn fetch_all(prepared: &mut [PreparedStage], helms: &BTreeMap<HelmMajor, Helm>) -> Result<()> {
    let cache = fetch::cache_root();
    for stage in prepared {
        if let Some(chart) = stage.chart.as_mut() {
            let helm = &helms[&chart.helm];
            chart.tarball = Some(fetch::fetch(helm, &chart.chart.pin, &cache)?);
        }
    }
    Ok(())
}

/// A private file holding rendered values for one `helm template` (values may hold
/// secrets): mode 0600 in a fresh temporary directory, removed on drop.
struct ValuesFile {
    dir: PathBuf,
    path: PathBuf,
}

impl ValuesFile {
    fn write(stage: &str, values: &str) -> Result<ValuesFile> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dir = std::env::temp_dir().join(format!(
            "seatrial-values-{}-{}",
            std::process::id(),
            host::random::hex_token(6).map_err(|error| io_error(&std::env::temp_dir(), error))?
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|error| io_error(&dir, error))?;
        let path = dir.join(format!("{stage}-values.yaml"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|error| io_error(&path, error))?;
        std::io::Write::write_all(&mut file, values.as_bytes())
            .map_err(|error| io_error(&path, error))?;
        Ok(ValuesFile { dir, path })
    }
}

impl Drop for ValuesFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Read {
        path: path.to_owned(),
        source,
    }
}

/// `helm template` of one fetched chart stage with `helm`.
///
/// Errors: [`Error::Helm`] with Helm's message, naming the stage's values template (not the
/// private temporary file Helm read).
pub fn template_stage(
    stage: &str,
    chart: &PreparedChart,
    helm: &Helm,
    capabilities: &Capabilities,
) -> Result<Vec<deployer::manifest::Manifest>> {
    let tarball = chart.tarball.as_ref().ok_or_else(|| Error::Chart {
        pin: format!("charts.{}", chart.chart.pin.name),
        message: "not fetched yet".into(),
    })?;
    let values = ValuesFile::write(stage, &chart.values)?;
    let request = TemplateRequest {
        release: &chart.chart.release,
        namespace: &chart.namespace,
        chart: &tarball.tarball,
        values: &values.path,
        capabilities,
    };
    let shown = chart.chart.values.display().to_string();
    let hidden = values.path.display().to_string();
    render::template(helm, &request).map_err(|error| match error {
        Error::Helm {
            what,
            helm,
            message,
        } => Error::Helm {
            what: format!("{} (stage {stage})", what.replace(&hidden, &shown)),
            helm,
            message: message.replace(&hidden, &shown),
        },
        other => other,
    })
}

/// Renders every fetched chart stage against the cluster and sorts it into a release; each
/// test hook becomes a check `helm_test::<pod>` run after the stage's other checks.
///
/// Errors: the first stage Helm refuses (a `kubeVersion` constraint, a values schema
/// violation, a template error), before anything is applied.
pub fn render_all(
    prepared: &mut [PreparedStage],
    helms: &BTreeMap<HelmMajor, Helm>,
    capabilities: &Capabilities,
    inventory: &Inventory,
    timeout: std::time::Duration,
) -> Result<()> {
    for stage in prepared {
        let name = stage.stage.name.clone();
        let Some(chart) = stage.chart.as_mut() else {
            continue;
        };
        let manifests = template_stage(&name, chart, &helms[&chart.helm], capabilities)?;
        let release = hooks::split(manifests)?;
        let others: Vec<String> = stage
            .checks
            .iter()
            .map(|check| check.name.clone())
            .collect();
        for hook in &release.tests {
            let pod_name = hook.manifest.name().to_owned();
            let namespace = hook
                .manifest
                .object
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| chart.namespace.clone());
            let mut object = hook.manifest.object.clone();
            object.metadata.namespace = Some(namespace.clone());
            object
                .metadata
                .labels
                .get_or_insert_with(Default::default)
                .extend(inventory.labels(&name));
            let mut check = Check::new(
                &name,
                &format!("helm_test::{pod_name}"),
                Assertion::HelmTest(HelmTestSpec {
                    pod: serde_json::to_value(&object).expect("an object serializes"),
                    namespace,
                    name: pod_name,
                    delete_on_success: hook.deletes(DeletePolicy::HookSucceeded),
                }),
            );
            check.timeout = timeout;
            check.after = others.clone();
            stage.checks.push(check);
        }
        chart.release = Some(release);
    }
    Ok(())
}

/// What `--helm-compare` found for one chart stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageComparison {
    /// The stage.
    pub stage: String,
    /// `v3.22.0` against `v4.3.1`, say.
    pub left: String,
    /// The other Helm's version.
    pub right: String,
    /// Objects only one rendered, and fields that differ.
    pub differences: Vec<ObjectDifference>,
}

/// Renders every fetched chart stage with Helm 3 (left) and Helm 4 (right) against the same
/// capabilities and compares the objects.
///
/// Errors: the first render that fails (naming stage and Helm).
pub fn compare_all(
    prepared: &[PreparedStage],
    helms: &BTreeMap<HelmMajor, Helm>,
    capabilities: &Capabilities,
) -> Result<Vec<StageComparison>> {
    let mut comparisons = Vec::new();
    for stage in prepared {
        let Some(chart) = &stage.chart else { continue };
        let (left, right) = (&helms[&HelmMajor::Helm3], &helms[&HelmMajor::Helm4]);
        let name = &stage.stage.name;
        let left_objects = template_stage(name, chart, left, capabilities)?;
        let right_objects = template_stage(name, chart, right, capabilities)?;
        comparisons.push(StageComparison {
            stage: name.clone(),
            left: left.version.clone(),
            right: right.version.clone(),
            differences: compare(&left_objects, &right_objects),
        });
    }
    Ok(comparisons)
}

/// The comparison as text: one block per stage, one line per object and field.
pub fn comparison_text(comparisons: &[StageComparison]) -> String {
    let mut text = String::new();
    for comparison in comparisons {
        if comparison.differences.is_empty() {
            text.push_str(&format!(
                "{}: Helm {} and Helm {} render the same objects\n",
                comparison.stage, comparison.left, comparison.right
            ));
            continue;
        }
        text.push_str(&format!(
            "{}: {} objects differ between Helm {} (left) and Helm {} (right)\n",
            comparison.stage,
            comparison.differences.len(),
            comparison.left,
            comparison.right
        ));
        for difference in &comparison.differences {
            text.push_str(&format!(
                "  {} ({})\n",
                difference.object, difference.change
            ));
            for field in &difference.fields {
                text.push_str(&format!(
                    "    {}: {} → {}\n",
                    field.path, field.left, field.right
                ));
            }
        }
    }
    text
}
