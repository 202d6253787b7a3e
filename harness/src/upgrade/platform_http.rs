//! The HTTP client the data steps reach the platform with: the endpoint checks' resolver (the
//! platform domain → the configured endpoint address) and the run's platform CA, so a request
//! goes where a user's browser would.

use std::time::Duration;

use crate::checks::{Resolver, Trust};
use crate::integration::{IntegrationOptions, PLATFORM_CA_FILE};

/// How long one data-step request may take (seconds): the hub's spawn and Keycloak's admin
/// calls answer within it; waits for a server poll instead.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The platform as the data steps see it.
pub struct PlatformHttp {
    /// A client that resolves the platform domain and trusts the platform CA; redirects are
    /// not followed (a redirect to the login page is an answer, not a detour).
    pub client: reqwest::Client,
    /// The hub's base URL, ending in `/` ([`crate::scenarios::hub_address`]).
    pub hub: String,
    /// The platform's origin (`https://<domain>[:port]`), where the ingress serves Keycloak at
    /// `/auth`.
    pub origin: String,
}

impl PlatformHttp {
    /// The client for `options`' platform. Errors: the CA file cannot be read, or the TLS
    /// backend fails to start.
    pub fn new(options: &IntegrationOptions) -> Result<PlatformHttp, String> {
        let config = &options.config;
        let (hub, hub_address) = crate::scenarios::hub_address(config);
        let mut resolver = Resolver::new();
        for address in [config.endpoint_address, hub_address].into_iter().flatten() {
            resolver = resolver.with(&config.domain, address);
        }
        let trust = Trust::Ca(options.report_dir.join(PLATFORM_CA_FILE));
        let client = resolver.client(&trust, false)?;
        Ok(PlatformHttp {
            client,
            hub,
            origin: config.origin(),
        })
    }

    /// Sends `request`, waiting at most [`REQUEST_TIMEOUT`], and reads the status and body.
    /// Errors: the request fails (connection, timeout), described with `what`.
    pub async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, String), String> {
        let response = request
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|error| format!("{what} failed: {}", host::error_chain(&error)))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|error| format!("{what}: reading the answer failed: {error}"))?;
        Ok((status, body))
    }
}

/// The JSON of an answer's `body`, or an error naming `what` and the start of the body.
pub fn json(what: &str, body: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(body).map_err(|error| {
        let start: String = body.chars().take(200).collect();
        format!("{what} answered with no JSON ({error}): {start}")
    })
}

/// `request` with `body` as its JSON content (`Content-Type: application/json`).
pub fn with_json(
    request: reqwest::RequestBuilder,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
}

/// `request` with `fields` as an `application/x-www-form-urlencoded` body (the encoding the
/// OAuth 2.0 token endpoint takes, RFC 6749 §4.3.2).
pub fn with_form(
    request: reqwest::RequestBuilder,
    fields: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    request
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
}
