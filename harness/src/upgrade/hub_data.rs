//! The hub's user data an upgrade must keep, written and read through JupyterHub's REST API
//! and the user's own server as a user would (JupyterHub docs, "Using JupyterHub's REST API";
//! Jupyter Server's contents API).
//!
//! Seeded before the upgrade, with the token of the hub's `seatrial-trial` service (Secret
//! `hub-secret`, key [`SERVICE_TOKEN_KEY`]):
//! - user [`USER`] and an API token of theirs (`POST /hub/api/users/<name>/tokens`);
//! - their named server [`SERVER`], started; a notebook ([`NOTEBOOK`]: one code cell and its
//!   output) saved in their home through the server's contents API with the user's token, its
//!   bytes read back; the server stopped again, so the upgrade replaces no user pod and the
//!   home is all that carries the notebook over.
//!
//! Verified after it:
//! - `hub_token`: the user's token is still accepted (`GET /hub/api/user` names them);
//! - `hub_user`: the user and their named server are still in the hub's database
//!   (`GET /hub/api/users/<name>?include_stopped_servers`);
//! - `notebook`: the named server started again (on the new single-user image) serves the
//!   notebook byte for byte.
//!
//! No token is kept beyond the trial's process or written anywhere.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams};
use kube::Client;
use reqwest::{Method, StatusCode};
use scenarios::Password;
use serde_json::{json, Value};

use super::platform_http::{json, PlatformHttp};
use crate::integration::IntegrationOptions;

/// The key of Secret `hub-secret` holding the `seatrial-trial` service's API token.
pub const SERVICE_TOKEN_KEY: &str = "trial-api-token";
/// The Secret holding it.
pub const HUB_SECRET: &str = "hub-secret";
/// The seeded hub user.
pub const USER: &str = "upgrade-seed";
/// Their named server.
pub const SERVER: &str = "seed";
/// The notebook saved in their home.
pub const NOTEBOOK: &str = "upgrade-seed.ipynb";
/// The notebook's code cell and the output saved with it.
pub const CELL_SOURCE: &str = "print(6 * 7)";
/// The output saved with [`CELL_SOURCE`].
pub const CELL_OUTPUT: &str = "42\n";
/// How long a server start or stop may take (seconds): KubeSpawner's `start_timeout` (300 s,
/// the stage's hub config) plus the hub's own bookkeeping.
const SERVER_TIMEOUT: Duration = Duration::from_secs(330);

/// What was seeded in the hub (secrets held only in memory).
#[derive(Debug, Clone)]
pub struct HubSeed {
    /// The user's API token.
    pub user_token: Password,
    /// SHA-256 of the notebook's bytes as the server read them back (`sha256:<hex>`).
    pub notebook_digest: String,
    /// Their length in bytes.
    pub notebook_bytes: usize,
}

/// The hub's REST API with the service token.
pub struct HubApi {
    http: PlatformHttp,
    service_token: Password,
}

impl HubApi {
    /// The hub of `options`' platform, with the service token read from Secret
    /// [`HUB_SECRET`]; `None` when the platform's hub has no such service (an older platform:
    /// its steps are then skipped). Errors: the Secret cannot be read; the client cannot be
    /// built.
    pub async fn connect(
        client: &Client,
        options: &IntegrationOptions,
    ) -> Result<Option<HubApi>, String> {
        let namespace = &options.config.namespace;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = secrets
            .get_opt(HUB_SECRET)
            .await
            .map_err(|error| format!("failed to read Secret {namespace}/{HUB_SECRET}: {error}"))?;
        let token = secret
            .and_then(|secret| secret.data)
            .and_then(|data| data.get(SERVICE_TOKEN_KEY).cloned())
            .and_then(|value| String::from_utf8(value.0).ok());
        let Some(token) = token else {
            return Ok(None);
        };
        Ok(Some(HubApi {
            http: PlatformHttp::new(options)?,
            service_token: Password::new(token),
        }))
    }

    /// Why the hub steps are skipped on a platform without the service.
    pub fn missing(options: &IntegrationOptions) -> String {
        format!(
            "the platform's hub has no seatrial-trial service (no key {SERVICE_TOKEN_KEY} in Secret {}/{HUB_SECRET})",
            options.config.namespace
        )
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http.hub)
    }

    /// A hub API call with `token`: the status and body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &Password,
        body: Option<Value>,
    ) -> Result<(StatusCode, String), String> {
        let what = format!("{method} {}", self.url(path));
        let mut request = self
            .http
            .client
            .request(method, self.url(path))
            .header("Authorization", format!("token {}", token.expose()));
        if let Some(body) = body {
            request = super::platform_http::with_json(request, &body);
        }
        self.http.send(&what, request).await
    }

    async fn service(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, String), String> {
        self.call(method, path, &self.service_token, body).await
    }

    /// The user's model with stopped servers; `None` when the hub does not know them.
    async fn user_model(&self) -> Result<Option<Value>, String> {
        let path = format!("hub/api/users/{USER}?include_stopped_servers=1");
        match self.service(Method::GET, &path, None).await? {
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) if status.is_success() => json(&path, &body).map(Some),
            (status, body) => Err(unexpected(&path, status, &body)),
        }
    }

    /// Creates the user (an existing one is kept) and a token of theirs.
    async fn create_user_and_token(&self) -> Result<Password, String> {
        let path = format!("hub/api/users/{USER}");
        match self.service(Method::POST, &path, None).await? {
            (status, _) if status.is_success() || status == StatusCode::CONFLICT => {}
            (status, body) => return Err(unexpected(&path, status, &body)),
        }
        let path = format!("hub/api/users/{USER}/tokens");
        let body = json!({"note": "seatrial upgrade trial"});
        let (status, answer) = self.service(Method::POST, &path, Some(body)).await?;
        if !status.is_success() {
            return Err(unexpected(&path, status, &answer));
        }
        json(&path, &answer)?
            .get("token")
            .and_then(Value::as_str)
            .map(Password::new)
            .ok_or_else(|| format!("POST {path} answered without a token"))
    }

    /// Starts the named server and waits until the hub says it is ready.
    async fn start_server(&self) -> Result<(), String> {
        let path = format!("hub/api/users/{USER}/servers/{SERVER}");
        match self.service(Method::POST, &path, Some(json!({}))).await? {
            (status, _) if status.is_success() => {}
            // Already running (a run that stopped before stopping it).
            (StatusCode::BAD_REQUEST, body) if body.contains("already running") => {}
            (status, body) => return Err(unexpected(&path, status, &body)),
        }
        self.wait_server(true).await
    }

    /// Stops the named server (kept in the database) and waits until it is stopped.
    async fn stop_server(&self) -> Result<(), String> {
        let path = format!("hub/api/users/{USER}/servers/{SERVER}");
        match self.service(Method::DELETE, &path, None).await? {
            (status, _) if status.is_success() => {}
            (status, body) => return Err(unexpected(&path, status, &body)),
        }
        self.wait_server(false).await
    }

    /// Polls the user's model until the named server is ready (`running`) or stopped.
    async fn wait_server(&self, running: bool) -> Result<(), String> {
        let started = Instant::now();
        let mut last = String::from("no answer yet");
        while started.elapsed() < SERVER_TIMEOUT {
            if let Some(model) = self.user_model().await? {
                let server = &model["servers"][SERVER];
                let ready = server["ready"].as_bool().unwrap_or(false);
                let pending = server["pending"].as_str();
                let stopped = server["stopped"].as_bool().unwrap_or(server.is_null());
                if running && ready || !running && stopped && pending.is_none() {
                    return Ok(());
                }
                last = format!("ready {ready}, pending {}", pending.unwrap_or("nothing"));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Err(format!(
            "server {USER}/{SERVER} was not {} within {} s ({last})",
            if running { "ready" } else { "stopped" },
            SERVER_TIMEOUT.as_secs()
        ))
    }

    /// The contents API path of the notebook on the named server.
    fn notebook_path() -> String {
        format!("user/{USER}/{SERVER}/api/contents/{NOTEBOOK}")
    }

    /// Saves the notebook through the server's contents API with the user's token.
    async fn save_notebook(&self, token: &Password) -> Result<(), String> {
        let path = Self::notebook_path();
        let body = json!({"type": "notebook", "format": "json", "content": notebook()});
        match self.call(Method::PUT, &path, token, Some(body)).await? {
            (status, _) if status.is_success() => Ok(()),
            (status, body) => Err(unexpected(&path, status, &body)),
        }
    }

    /// The notebook file's bytes as the server reads them (`type=file`, text); `None` when it
    /// is not in the home.
    async fn read_notebook(&self, token: &Password) -> Result<Option<String>, String> {
        let path = format!("{}?type=file&format=text&content=1", Self::notebook_path());
        match self.call(Method::GET, &path, token, None).await? {
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) if status.is_success() => json(&path, &body)?
                .get("content")
                .and_then(Value::as_str)
                .map(|text| Some(text.to_owned()))
                .ok_or_else(|| format!("GET {path} answered without its content")),
            (status, body) => Err(unexpected(&path, status, &body)),
        }
    }
}

/// The seeded notebook: nbformat 4.5, one code cell with its saved output.
fn notebook() -> Value {
    json!({
        "cells": [{
            "cell_type": "code",
            "execution_count": 1,
            "id": "seatrial-upgrade-seed",
            "metadata": {},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": [CELL_OUTPUT]}],
            "source": [CELL_SOURCE],
        }],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    })
}

fn unexpected(path: &str, status: StatusCode, body: &str) -> String {
    let start: String = body.chars().take(300).collect();
    format!("{path} answered {status}: {start}")
}

/// The seed steps' results: (`hub_user`, `notebook`), each a message or an error; the seed
/// when both passed.
pub struct SeedOutcome {
    /// The user, their token and named server.
    pub user: Result<String, String>,
    /// The notebook in their home.
    pub notebook: Result<String, String>,
    /// What a verification needs.
    pub seed: Option<HubSeed>,
}

/// Seeds the hub: the user and token, the named server started, the notebook saved and read
/// back, the server stopped.
pub async fn seed(hub: &HubApi) -> SeedOutcome {
    let token = match hub.create_user_and_token().await {
        Ok(token) => token,
        Err(error) => {
            return SeedOutcome {
                user: Err(error),
                notebook: Err("not written: the user could not be created".to_owned()),
                seed: None,
            }
        }
    };
    if let Err(error) = hub.start_server().await {
        return SeedOutcome {
            user: Ok(format!("created user {USER} and an API token of theirs")),
            notebook: Err(format!("not written: {error}")),
            seed: None,
        };
    }
    let written = async {
        hub.save_notebook(&token).await?;
        let text = hub
            .read_notebook(&token)
            .await?
            .ok_or_else(|| format!("{NOTEBOOK} was saved but cannot be read back"))?;
        if !text.contains(CELL_SOURCE) || !text.contains("42\\n") {
            return Err(format!(
                "{NOTEBOOK} read back without its cell `{CELL_SOURCE}` and output"
            ));
        }
        Ok(text)
    }
    .await;
    let stopped = hub.stop_server().await;
    let user = match &stopped {
        Ok(()) => Ok(format!(
            "created user {USER}, an API token of theirs and their named server {SERVER} (started, then stopped)"
        )),
        Err(error) => Err(error.clone()),
    };
    match written {
        Ok(text) => SeedOutcome {
            user,
            notebook: Ok(format!(
                "saved {NOTEBOOK} ({} bytes, cell `{CELL_SOURCE}` with its output) in {USER}'s home through server {SERVER}",
                text.len()
            )),
            seed: stopped.is_ok().then(|| HubSeed {
                user_token: token,
                notebook_digest: deployer::charts::fetch::sha256_bytes(text.as_bytes()),
                notebook_bytes: text.len(),
            }),
        },
        Err(error) => SeedOutcome {
            user,
            notebook: Err(error),
            seed: None,
        },
    }
}

/// The verify steps' results: `hub_token`, `hub_user`, `notebook`.
pub struct VerifyOutcome {
    /// The token still accepted.
    pub token: Result<String, String>,
    /// The user and their named server still in the database.
    pub user: Result<String, String>,
    /// The notebook served byte for byte.
    pub notebook: Result<String, String>,
}

/// Verifies the hub's seeded data after the upgrade.
pub async fn verify(
    hub: &HubApi,
    seed: &HubSeed,
    client: &Client,
    options: &IntegrationOptions,
) -> VerifyOutcome {
    let token = match hub.call(Method::GET, "hub/api/user", &seed.user_token, None).await {
        Err(error) => Err(error),
        Ok((status, body)) if status.is_success() => match json("hub/api/user", &body) {
            Ok(model) if model["name"] == USER => Ok(format!(
                "the API token {USER} was given before the upgrade is accepted (GET /hub/api/user names them)"
            )),
            Ok(model) => Err(format!(
                "the API token {USER} was given before the upgrade now identifies {}",
                model["name"]
            )),
            Err(error) => Err(error),
        },
        Ok((status, _)) => Err(format!(
            "the hub no longer accepts the API token {USER} was given before the upgrade (GET /hub/api/user answered {status}): the hub database lost it"
        )),
    };
    let user = match hub.user_model().await {
        Err(error) => Err(error),
        Ok(None) => Err(format!(
            "user {USER} is not in the hub database after the upgrade (GET /hub/api/users/{USER} answered 404): the hub's users were lost"
        )),
        Ok(Some(model)) if model["servers"].get(SERVER).is_none() => {
            let servers: Vec<String> = model["servers"]
                .as_object()
                .map(|servers| servers.keys().cloned().collect())
                .unwrap_or_default();
            Err(format!(
                "user {USER} is in the hub database but their named server {SERVER} is gone (servers: [{}])",
                servers.join(", ")
            ))
        }
        Ok(Some(_)) => Ok(format!(
            "user {USER} and their named server {SERVER} are in the hub database"
        )),
    };
    let notebook = match &user {
        Err(_) => Err(format!(
            "cannot be read: user {USER}'s server cannot be started without the user"
        )),
        Ok(_) => verify_notebook(hub, seed, client, options).await,
    };
    VerifyOutcome {
        token,
        user,
        notebook,
    }
}

/// Starts the named server again, reads the notebook, stops the server.
async fn verify_notebook(
    hub: &HubApi,
    seed: &HubSeed,
    client: &Client,
    options: &IntegrationOptions,
) -> Result<String, String> {
    hub.start_server()
        .await
        .map_err(|error| format!("cannot be read: {error}"))?;
    let home = home_volume(client, options).await;
    let read = hub.read_notebook(&seed.user_token).await;
    let stopped = hub.stop_server().await;
    let text = match read? {
        None => {
            return Err(format!(
                "{NOTEBOOK} is gone from {USER}'s home after the upgrade (the server's contents API answered 404; {home})"
            ))
        }
        Some(text) => text,
    };
    let digest = deployer::charts::fetch::sha256_bytes(text.as_bytes());
    if digest != seed.notebook_digest {
        return Err(format!(
            "{NOTEBOOK} in {USER}'s home differs from what was saved before the upgrade ({} bytes then, {} now; {home})",
            seed.notebook_bytes,
            text.len()
        ));
    }
    stopped?;
    Ok(format!(
        "{NOTEBOOK} is in {USER}'s home byte for byte ({} bytes, {digest}; {home})",
        text.len()
    ))
}

/// What the named server's pod has at `/home/jovyan`: the claim, another volume, or nothing.
async fn home_volume(client: &Client, options: &IntegrationOptions) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &options.config.namespace);
    let params = ListParams::default().labels(&format!("hub.jupyter.org/username={USER}"));
    let Ok(list) = pods.list(&params).await else {
        return "its pod could not be listed".to_owned();
    };
    let Some(pod) = list.items.into_iter().next() else {
        return "no pod of the server was found".to_owned();
    };
    let name = pod.metadata.name.unwrap_or_default();
    let Some(spec) = pod.spec else {
        return format!("pod {name} has no spec");
    };
    let mount = spec
        .containers
        .iter()
        .flat_map(|container| container.volume_mounts.iter().flatten())
        .find(|mount| mount.mount_path.trim_end_matches('/') == "/home/jovyan");
    let Some(mount) = mount else {
        return format!("pod {name} mounts no volume at /home/jovyan: its home is the image's");
    };
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|volume| volume.name == mount.name);
    match volume.and_then(|volume| volume.persistent_volume_claim.as_ref()) {
        Some(claim) => format!(
            "pod {name} mounts claim {} at /home/jovyan",
            claim.claim_name
        ),
        None => format!(
            "pod {name} mounts volume {} at /home/jovyan, not a claim",
            mount.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_notebook_is_nbformat_4_with_the_cell_and_its_output() {
        let notebook = notebook();
        assert_eq!(notebook["nbformat"], 4);
        let cell = &notebook["cells"][0];
        assert_eq!(cell["source"][0], CELL_SOURCE);
        assert_eq!(cell["outputs"][0]["text"][0], CELL_OUTPUT);
    }
}
