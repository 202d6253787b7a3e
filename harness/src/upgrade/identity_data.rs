//! The identity provider's user data an upgrade must keep: a Keycloak user with a password and
//! a group membership, made through Keycloak's Admin REST API (Keycloak docs, "Admin REST
//! API": `POST /admin/realms/{realm}/users`, `PUT …/users/{id}/groups/{groupId}`) and proven
//! by logging in (the OpenID Connect token endpoint's password grant with the realm's
//! `admin-cli` client, RFC 6749 §4.3).
//!
//! The admin credentials come from Secret `keycloak-admin` (the keycloak stage's bootstrap
//! admin, master realm); the seeded user's password is generated here and held only in memory.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::Client;
use reqwest::{Method, StatusCode};
use scenarios::Password;
use serde_json::{json, Value};

use super::platform_http::{json, PlatformHttp};
use crate::integration::IntegrationOptions;

/// The stage whose Keycloak the steps use.
pub const STAGE: &str = "keycloak";
/// The Secret with the bootstrap admin's `username` and `password`.
pub const ADMIN_SECRET: &str = "keycloak-admin";
/// The seeded user.
pub const USER: &str = "upgrade-seed";
/// The group they are made a member of.
pub const GROUP: &str = "analyst";

/// What was seeded in Keycloak (the password held only in memory).
#[derive(Debug, Clone)]
pub struct IdentitySeed {
    /// The user's id.
    pub id: String,
    /// Their password.
    pub password: Password,
}

/// Keycloak's APIs as the platform's admin.
pub struct Keycloak {
    http: PlatformHttp,
    realm: String,
    admin: scenarios::Credentials,
}

impl Keycloak {
    /// Keycloak of `options`' platform; `None` when the platform has no keycloak stage or no
    /// admin Secret. Errors: the Secret cannot be read or lacks a key.
    pub async fn connect(
        client: &Client,
        options: &IntegrationOptions,
    ) -> Result<Option<Keycloak>, String> {
        if !options
            .platform
            .stages
            .iter()
            .any(|stage| stage.name == STAGE)
        {
            return Ok(None);
        }
        let namespace = &options.config.namespace;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let Some(admin) = crate::scenarios::credentials(&secrets, namespace, ADMIN_SECRET).await?
        else {
            return Ok(None);
        };
        let realm = options
            .config
            .stages
            .get(STAGE)
            .and_then(|settings| settings.get("realm"))
            .and_then(Value::as_str)
            .unwrap_or("seatrial")
            .to_owned();
        Ok(Some(Keycloak {
            http: PlatformHttp::new(options)?,
            realm,
            admin,
        }))
    }

    /// Why the steps are skipped on a platform without Keycloak.
    pub fn missing(options: &IntegrationOptions) -> String {
        format!(
            "the platform has no Keycloak (no {STAGE} stage or no Secret {}/{ADMIN_SECRET})",
            options.config.namespace
        )
    }

    /// The password grant at `realm`'s token endpoint with `admin-cli`: the access token, or
    /// the error Keycloak gave (`invalid_grant: Invalid user credentials`).
    async fn log_in(&self, realm: &str, user: &str, password: &Password) -> Result<String, String> {
        let url = format!(
            "{}/auth/realms/{realm}/protocol/openid-connect/token",
            self.http.origin
        );
        let form = [
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", user),
            ("password", password.expose()),
        ];
        let request = super::platform_http::with_form(self.http.client.post(&url), &form);
        let (status, body) = self.http.send(&format!("POST {url}"), request).await?;
        let answer = json(&url, &body)?;
        if !status.is_success() {
            return Err(format!(
                "{user} cannot log in to realm {realm} ({status}: {}: {})",
                answer["error"].as_str().unwrap_or("no error code"),
                answer["error_description"]
                    .as_str()
                    .unwrap_or("no description")
            ));
        }
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("POST {url} answered without an access token"))
    }

    /// An Admin REST API call in the platform realm, as the bootstrap admin.
    async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, String), String> {
        let token = self
            .log_in("master", &self.admin.user, &self.admin.password)
            .await
            .map_err(|error| format!("the admin cannot log in: {error}"))?;
        let url = format!(
            "{}/auth/admin/realms/{}/{path}",
            self.http.origin, self.realm
        );
        let mut request = self
            .http
            .client
            .request(method.clone(), &url)
            .bearer_auth(token);
        if let Some(body) = body {
            request = super::platform_http::with_json(request, &body);
        }
        self.http.send(&format!("{method} {url}"), request).await
    }

    async fn admin_json(&self, path: &str) -> Result<Value, String> {
        match self.admin(Method::GET, path, None).await? {
            (status, body) if status.is_success() => json(path, &body),
            (status, body) => Err(unexpected(path, status, &body)),
        }
    }

    /// The user's id, when the realm has them.
    async fn user_id(&self) -> Result<Option<String>, String> {
        let users = self
            .admin_json(&format!("users?username={USER}&exact=true"))
            .await?;
        Ok(users
            .as_array()
            .and_then(|users| users.first())
            .and_then(|user| user["id"].as_str())
            .map(str::to_owned))
    }

    /// The names of the user's groups.
    async fn groups_of(&self, id: &str) -> Result<Vec<String>, String> {
        let groups = self.admin_json(&format!("users/{id}/groups")).await?;
        Ok(groups
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|group| group["name"].as_str().map(str::to_owned))
            .collect())
    }
}

fn unexpected(path: &str, status: StatusCode, body: &str) -> String {
    let start: String = body.chars().take(300).collect();
    format!("{path} answered {status}: {start}")
}

/// Creates the user with a generated password, makes them a member of [`GROUP`] and logs in
/// as them: what was seeded, and the check's message.
pub async fn seed(keycloak: &Keycloak) -> Result<(IdentitySeed, String), String> {
    let password = Password::new(
        host::random::hex_token(16)
            .map_err(|error| format!("failed to read /dev/urandom: {error}"))?,
    );
    let user = json!({
        "username": USER,
        "enabled": true,
        "email": format!("{USER}@example.org"),
        "emailVerified": true,
        "firstName": "Upgrade",
        "lastName": "Seed",
        "credentials": [{"type": "password", "value": password.expose(), "temporary": false}],
    });
    match keycloak.admin(Method::POST, "users", Some(user)).await? {
        (status, _) if status.is_success() => {}
        (status, body) => return Err(unexpected("users", status, &body)),
    }
    let id = keycloak
        .user_id()
        .await?
        .ok_or_else(|| format!("user {USER} was created but is not found"))?;
    let groups = keycloak.admin_json("groups").await?;
    let group = groups
        .as_array()
        .into_iter()
        .flatten()
        .find(|group| group["name"] == GROUP)
        .and_then(|group| group["id"].as_str())
        .ok_or_else(|| format!("realm {} has no group {GROUP}", keycloak.realm))?
        .to_owned();
    let path = format!("users/{id}/groups/{group}");
    match keycloak.admin(Method::PUT, &path, None).await? {
        (status, _) if status.is_success() => {}
        (status, body) => return Err(unexpected(&path, status, &body)),
    }
    keycloak.log_in(&keycloak.realm, USER, &password).await?;
    let message = format!(
        "created user {USER} in realm {}, a member of {GROUP}, and logged in with their password",
        keycloak.realm
    );
    Ok((IdentitySeed { id, password }, message))
}

/// The user is still in the realm (same id), still a member of [`GROUP`], and logs in with the
/// password set before the upgrade.
pub async fn verify(keycloak: &Keycloak, seed: &IdentitySeed) -> Result<String, String> {
    let realm = &keycloak.realm;
    let Some(id) = keycloak.user_id().await? else {
        return Err(format!(
            "user {USER} is not in realm {realm} after the upgrade: Keycloak lost its users"
        ));
    };
    if id != seed.id {
        return Err(format!(
            "user {USER} in realm {realm} is a different user after the upgrade (id {id}, was {})",
            seed.id
        ));
    }
    let groups = keycloak.groups_of(&id).await?;
    if !groups.iter().any(|group| group == GROUP) {
        return Err(format!(
            "user {USER} is no longer a member of {GROUP} after the upgrade (groups: [{}])",
            groups.join(", ")
        ));
    }
    keycloak
        .log_in(realm, USER, &seed.password)
        .await
        .map_err(|error| format!("{error} after the upgrade, with the password set before it"))?;
    Ok(format!(
        "user {USER} is in realm {realm} with the same id, a member of {GROUP}, and logs in with the password set before the upgrade"
    ))
}
