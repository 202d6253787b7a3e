//! Browser scenarios in a run: the options that point them at a hub (address mapping and
//! certificate trust shared with the endpoint checks), and the platform's own hub after the
//! `jupyterhub` stage.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use deployer::config::{Config, ProviderKind};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use scenarios::{
    Cell, Credentials, Network, Password, RoleUsers, Scenario, ScenarioOptions, ScenarioRecord,
    Timeouts,
};

use crate::checks::{fetch_certificate, Resolver, Trust};

/// Why scenarios are skipped on a provider that runs no containers.
pub const NO_WORKLOADS: &str = "the hollow provider runs no workloads (no container starts), so no browser can log in: not run";
/// The stage after which the scenarios run.
pub const HUB_STAGE: &str = "jupyterhub";
/// The Secret (in the platform namespace) holding the trial user's `username` and `password`.
pub const TRIAL_USER_SECRET: &str = "trial-user";
/// The Secrets of the `roles` scenario's admin and analyst (the keycloak stage makes them).
pub const ROLE_SECRETS: [&str; 2] = ["trial-admin", "trial-analyst"];

/// Where a hub is and how to trust it.
#[derive(Clone, Debug)]
pub struct HubTarget {
    /// The hub's base URL (`https://<domain>/` for the platform).
    pub base_url: String,
    /// The user to log in as.
    pub user: String,
    /// Their password.
    pub password: Password,
    /// The address the URL's host maps to, when it is not in DNS.
    pub address: Option<IpAddr>,
    /// How to trust an `https://` hub's certificate: the system store, a CA bundle, or
    /// (explicitly) any certificate; for the browser, the presented certificate's key is then
    /// the only one whose errors are ignored.
    pub trust: Trust,
    /// The profile to choose on the spawn form.
    pub profile: Option<String>,
    /// The `roles` scenario's admin and analyst, when the platform has them.
    pub roles: Option<RoleUsers>,
}

/// Builds [`ScenarioOptions`] for `target`: an HTTP client through the endpoint checks'
/// resolver, and, for an `https://` URL whose certificate the browser would not trust by
/// itself (a CA bundle or `insecure`), the SPKI hash of the certificate the hub presents.
///
/// Errors: the URL does not parse; a CA bundle that cannot be read; with a CA bundle, a
/// certificate that does not verify against it; the TLS handshake fails.
pub async fn hub_options(
    target: &HubTarget,
    artifacts_dir: &Path,
) -> Result<ScenarioOptions, String> {
    let url = url::Url::parse(&target.base_url)
        .map_err(|error| format!("`{}` is not a URL: {error}", target.base_url))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("`{}` has no host", target.base_url))?
        .to_owned();
    let mut resolver = Resolver::new();
    if let Some(address) = target.address {
        resolver = resolver.with(&host, address);
    }
    let http = resolver.client(&target.trust, true)?;
    let mut network = Network {
        address: target.address,
        trusted_spki: Vec::new(),
    };
    if url.scheme() == "https" && target.trust != Trust::System {
        let port = url.port_or_known_default().unwrap_or(443);
        let address = resolver.resolve(&host, port).await?;
        let certificate =
            fetch_certificate(address, &host, &target.trust, Duration::from_secs(10)).await?;
        if let (Trust::Ca(ca), Err(error)) = (&target.trust, &certificate.verified) {
            return Err(format!(
                "the certificate {host} presents does not verify against {}: {error}",
                ca.display()
            ));
        }
        network.trusted_spki.push(certificate.spki_sha256);
    }
    Ok(ScenarioOptions {
        base_url: target.base_url.clone(),
        user: target.user.clone(),
        password: target.password.clone(),
        profile: target.profile.clone(),
        cell: Cell::default(),
        timeouts: Timeouts::default(),
        network,
        http,
        artifacts_dir: artifacts_dir.to_owned(),
        roles: target.roles.clone(),
    })
}

/// The `username` and `password` of Secret `name` in the platform namespace; `None` when it
/// does not exist. Errors: it cannot be read, or lacks a key.
pub(crate) async fn credentials(
    secrets: &Api<Secret>,
    namespace: &str,
    name: &str,
) -> Result<Option<Credentials>, String> {
    let Some(secret) = secrets
        .get_opt(name)
        .await
        .map_err(|error| format!("failed to read Secret {namespace}/{name}: {error}"))?
    else {
        return Ok(None);
    };
    let field = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .and_then(|value| String::from_utf8(value.0.clone()).ok())
            .ok_or_else(|| format!("Secret {namespace}/{name} has no `{key}`"))
    };
    Ok(Some(Credentials {
        user: field("username")?,
        password: Password::new(field("password")?),
    }))
}

/// The platform's hub: the config's origin (`https://<domain>[:port]/`, through the ingress)
/// with the configured endpoint address, trusting the run's platform CA at `platform_ca` —
/// or, where the `jupyterhub` stage's `proxy_service_type` is `NodePort`,
/// `http://127.0.0.1:<proxy_node_port>/`; the trial user from [`TRIAL_USER_SECRET`], and the
/// `roles` users from [`ROLE_SECRETS`] when both exist. Errors: a Secret cannot be read or
/// lacks a key; the trial user's does not exist.
pub async fn platform_target(
    config: &Config,
    client: &kube::Client,
    platform_ca: &Path,
) -> Result<HubTarget, String> {
    let namespace = &config.namespace;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let user = credentials(&secrets, namespace, TRIAL_USER_SECRET)
        .await?
        .ok_or_else(|| format!("Secret {namespace}/{TRIAL_USER_SECRET} does not exist"))?;
    let [admin, analyst] = ROLE_SECRETS;
    let roles = match (
        credentials(&secrets, namespace, admin).await?,
        credentials(&secrets, namespace, analyst).await?,
    ) {
        (Some(admin), Some(analyst)) => Some(RoleUsers { admin, analyst }),
        _ => None,
    };
    let (base_url, address) = hub_address(config);
    Ok(HubTarget {
        base_url,
        user: user.user,
        password: user.password,
        address,
        trust: Trust::Ca(platform_ca.to_owned()),
        roles,
        profile: hub_setting(config, "default_profile")
            .and_then(|profile| profile.as_str())
            .map(str::to_owned),
    })
}

/// A setting of the `jupyterhub` stage in `config`.
fn hub_setting<'a>(config: &'a Config, key: &str) -> Option<&'a serde_json::Value> {
    config
        .stages
        .get(HUB_STAGE)
        .and_then(|settings| settings.get(key))
}

/// The platform hub's base URL (ending in `/`) and the address its host maps to: the config's
/// origin through the ingress with the configured endpoint address, or, where the `jupyterhub`
/// stage's `proxy_service_type` is `NodePort`, `http://127.0.0.1:<proxy_node_port>/`.
pub fn hub_address(config: &Config) -> (String, Option<IpAddr>) {
    let node_port = hub_setting(config, "proxy_node_port").and_then(serde_json::Value::as_u64);
    match (hub_setting(config, "proxy_service_type"), node_port) {
        (Some(kind), Some(port)) if kind == "NodePort" => {
            (format!("http://127.0.0.1:{port}/"), None)
        }
        _ => (format!("{}/", config.origin()), config.endpoint_address),
    }
}

/// Runs every scenario against the platform's hub after the `jupyterhub` stage, or records
/// them skipped on a provider that runs no workloads. Artifacts go to
/// `<report_dir>/scenarios/<name>/`. A setup failure (no trial user, no browser) fails every
/// scenario with its message.
pub async fn run_platform_scenarios(
    config: &Config,
    provider: ProviderKind,
    client: &kube::Client,
    report_dir: &Path,
) -> Vec<ScenarioRecord> {
    if !provider.runs_workloads() {
        return scenarios::run::skip_all(&Scenario::ALL, NO_WORKLOADS);
    }
    let artifacts_dir = report_dir.join("scenarios");
    let platform_ca = report_dir.join(crate::integration::PLATFORM_CA_FILE);
    let options = match platform_target(config, client, &platform_ca).await {
        Ok(target) => hub_options(&target, &artifacts_dir).await,
        Err(error) => Err(error),
    };
    let result = match options {
        Ok(options) => scenarios::run::run_scenarios(&Scenario::ALL, &options)
            .await
            .map_err(|error| host::error_chain(&error)),
        Err(error) => Err(error),
    };
    match result {
        Ok(records) => records,
        Err(error) => Scenario::ALL
            .iter()
            .map(|scenario| ScenarioRecord {
                outcome: scenarios::ScenarioOutcome::Failed,
                ..ScenarioRecord::skipped(scenario.name(), &error)
            })
            .collect(),
    }
}
