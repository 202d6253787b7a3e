//! Rendering a chart as Argo CD does: `helm template` against what the target cluster
//! serves, so `.Capabilities` and a chart's `kubeVersion` constraint see the real cluster.
//!
//! Flags (Helm docs, "helm template"): the release name and `--namespace`, `--values` (the
//! stage's rendered values file), `--include-crds` (CRDs from the chart's `crds/` directory
//! are part of what we apply), `--kube-version` (the API server's `/version` `gitVersion`),
//! one `--api-versions` per served group version and per served `group/version/Kind`.
//! Hooks and test hooks are rendered too; [`crate::charts::hooks`] sorts them out.

use std::path::{Path, PathBuf};

use kube::Client;

use crate::charts::helm::Helm;
use crate::error::{Error, Result};
use crate::manifest::{parse_documents, Manifest};

/// What the cluster serves, as Helm's `.Capabilities` expects it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The API server's `gitVersion` (`v1.37.2`).
    pub kube_version: String,
    /// `group/version` (`v1` for the core group) and `group/version/Kind`, sorted.
    pub api_versions: Vec<String>,
}

impl Capabilities {
    /// Reads `/version` and discovery (every group version, and the kinds of
    /// [`crate::discovery::served_types`]).
    ///
    /// Errors: [`Error::Api`] when the server cannot be asked.
    pub async fn discover(client: &Client) -> Result<Capabilities> {
        let error = |source| Error::Api {
            action: "discover",
            object: "the cluster's version and API groups (for helm template)".into(),
            source,
        };
        let version = client.apiserver_version().await.map_err(error)?;
        let mut api_versions: Vec<String> = client
            .list_core_api_versions()
            .await
            .map_err(error)?
            .versions;
        for group in client.list_api_groups().await.map_err(error)?.groups {
            api_versions.extend(group.versions.into_iter().map(|gv| gv.group_version));
        }
        for (resource, _) in crate::discovery::served_types(client).await?.resources {
            api_versions.push(format!("{}/{}", resource.api_version, resource.kind));
        }
        api_versions.sort();
        api_versions.dedup();
        Ok(Capabilities {
            kube_version: version.git_version,
            api_versions,
        })
    }
}

/// One `helm template` of a chart stage.
#[derive(Debug, Clone)]
pub struct TemplateRequest<'a> {
    /// The release name.
    pub release: &'a str,
    /// The release namespace.
    pub namespace: &'a str,
    /// The chart tarball (or directory).
    pub chart: &'a Path,
    /// The stage's rendered values file.
    pub values: &'a Path,
    /// What the target cluster serves.
    pub capabilities: &'a Capabilities,
}

impl TemplateRequest<'_> {
    /// The arguments after `helm`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "template".to_owned(),
            self.release.to_owned(),
            self.chart.display().to_string(),
            "--namespace".into(),
            self.namespace.to_owned(),
            "--values".into(),
            self.values.display().to_string(),
            "--include-crds".into(),
        ];
        if !self.capabilities.kube_version.is_empty() {
            args.extend([
                "--kube-version".into(),
                self.capabilities.kube_version.clone(),
            ]);
        }
        for api_version in &self.capabilities.api_versions {
            args.extend(["--api-versions".into(), api_version.clone()]);
        }
        args
    }
}

/// Runs `helm template` and parses what it prints into objects, each named by its chart
/// template (`<chart>/templates/x.yaml`, from Helm's `# Source:` comments).
///
/// Errors: [`Error::Helm`] with Helm's message (a `kubeVersion` constraint the cluster does
/// not meet, a values schema violation, a template error), prefixed by `values`' path;
/// [`Error::Manifest`] for output that is not objects.
pub fn template(helm: &Helm, request: &TemplateRequest<'_>) -> Result<Vec<Manifest>> {
    let args = request.args();
    let what = format!(
        "template {} {} with values {}",
        request.release,
        request.chart.display(),
        request.values.display()
    );
    let output = helm.run(&what, &args)?;
    parse_rendered(&output.stdout)
}

/// Splits `helm template` output at its `# Source: <path>` comments and parses each part.
///
/// Errors: [`Error::Manifest`] naming the template path and document.
pub fn parse_rendered(text: &str) -> Result<Vec<Manifest>> {
    let mut manifests = Vec::new();
    let mut source = PathBuf::from("(helm template)");
    let mut part = String::new();
    let mut flush = |source: &Path, part: &mut String| -> Result<()> {
        if !part.trim().is_empty() {
            manifests.extend(parse_documents(source, part)?);
        }
        part.clear();
        Ok(())
    };
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("# Source: ") {
            flush(&source, &mut part)?;
            source = PathBuf::from(path.trim());
            continue;
        }
        part.push_str(line);
        part.push('\n');
    }
    flush(&source, &mut part)?;
    Ok(manifests)
}
