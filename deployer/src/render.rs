//! Rendering a stage's manifest and check templates with minijinja.
//!
//! Undefined variables are errors (strict mode), so a typo in a template fails with its file
//! and line instead of producing an empty string. The context every template sees:
//!
//! | name        | value                                                      |
//! |-------------|------------------------------------------------------------|
//! | `project`   | the config's `project_name` (also the deployment id)        |
//! | `namespace` | the config's `namespace`                                    |
//! | `domain`    | the config's `domain`                                       |
//! | `stage`     | the stage's name                                            |
//! | `settings`  | the stage's settings (defaults overridden by the config)    |
//! | `stages`    | every stage's settings, by stage name (`stages.keycloak.realm`) |
//! | `images`    | image references from the pin set, by pin name              |
//! | `probes`    | whether containers really run, so readiness probes can pass (false on `hollow`) |
//! | `origin`    | where the browser reaches the platform (`https://<domain>[:port]`, [`Config::origin`]) |
//! | `host_ingress` | the config's `host_ingress` (`address`, `http_port`, `https_port`) |
//! | `tls`       | the run's platform certificate ([`crate::tls::PlatformTls`]: `cert`, `key`, `ca`, `ca_file`) |
//!
//! and one function, `random_token(n)`: `n` random bytes as lowercase hex, for generated
//! secrets, so that no secret is ever written in the repository.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::platform::{Platform, Stage};

/// The values a stage's templates are rendered with.
#[derive(Debug, Clone, Serialize)]
pub struct RenderContext {
    /// Project name, the deployment id.
    pub project: String,
    /// The platform namespace.
    pub namespace: String,
    /// The platform domain.
    pub domain: String,
    /// The stage being rendered.
    pub stage: String,
    /// The stage's effective settings.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Every stage's effective settings, by stage name.
    pub stages: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// Image references (`repository:tag[@digest]`) by pin name.
    pub images: BTreeMap<String, String>,
    /// The same images as parts, for chart values that take them apart:
    /// `image_parts.<name>.repository` (`docker.io/library/traefik`), `.registry`
    /// (`docker.io`), `.path` (`library/traefik`), `.tag`, `.digest` (empty when not locked).
    pub image_parts: BTreeMap<String, BTreeMap<&'static str, String>>,
    /// Whether containers really run (readiness probes can pass); false on the hollow cluster.
    pub probes: bool,
    /// `https://<domain>[:port]`, as [`Config::origin`] says.
    pub origin: String,
    /// Where the ingress is published on the host.
    pub host_ingress: crate::config::HostIngress,
    /// The run's platform CA and server certificate.
    pub tls: crate::tls::PlatformTls,
}

impl RenderContext {
    /// Builds the context of `stage`, validating the config's settings for every stage; `tls`
    /// is the run's platform certificate (one per run, shared by every stage).
    pub fn new(
        platform: &Platform,
        config: &Config,
        stage: &Stage,
        probes: bool,
        tls: &crate::tls::PlatformTls,
    ) -> Result<RenderContext> {
        let stages = platform
            .stages
            .iter()
            .map(|other| Ok((other.name.clone(), platform.settings_for(config, other)?)))
            .collect::<Result<_>>()?;
        Ok(RenderContext {
            stages,
            probes,
            origin: config.origin(),
            host_ingress: config.host_ingress.clone(),
            tls: tls.clone(),
            project: config.project_name.clone(),
            namespace: config.namespace.clone(),
            domain: config.domain.clone(),
            stage: stage.name.clone(),
            settings: platform.settings_for(config, stage)?,
            images: platform
                .images
                .iter()
                .map(|(name, pin)| (name.clone(), pin.reference()))
                .collect(),
            image_parts: platform
                .images
                .iter()
                .map(|(name, pin)| {
                    let (registry, path) = pin
                        .repository
                        .split_once('/')
                        .unwrap_or(("", pin.repository.as_str()));
                    (
                        name.clone(),
                        BTreeMap::from([
                            ("repository", pin.repository.clone()),
                            ("registry", registry.to_owned()),
                            ("path", path.to_owned()),
                            ("tag", pin.tag.clone()),
                            ("digest", pin.digest.clone().unwrap_or_default()),
                        ]),
                    )
                })
                .collect(),
        })
    }
}

/// Renders the template at `path` with `context`.
///
/// Errors: [`Error::Read`]; [`Error::Invalid`] with the template's line for syntax errors and
/// undefined variables.
pub fn render_file(path: &Path, context: &RenderContext) -> Result<String> {
    let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    render_str(path, &source, context)
}

/// Renders template text; `path` names it in errors.
pub fn render_str(path: &Path, source: &str, context: &RenderContext) -> Result<String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_function("random_token", random_token);
    // minijinja JSON-escapes `.yaml` templates by default; ours are plain text.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let name = path.display().to_string();
    let rendered = env
        .template_from_named_str(name.as_str(), source)
        .and_then(|template| template.render(context));
    rendered.map_err(|error| {
        let line = error.line().unwrap_or(0);
        let detail = error
            .detail()
            .map(|detail| format!(": {detail}"))
            .unwrap_or_default();
        Error::invalid(
            path,
            line,
            format!("template error: {}{detail}", error.kind()),
        )
    })
}

/// `random_token(n)`: `n` bytes (1 to 64) from the operating system's random source, as hex.
fn random_token(bytes: usize) -> std::result::Result<String, minijinja::Error> {
    if !(1..=64).contains(&bytes) {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("random_token takes 1 to 64 bytes, not {bytes}"),
        ));
    }
    host::random::hex_token(bytes).map_err(|error| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("failed to read /dev/urandom: {error}"),
        )
    })
}
