//! Endpoint probes: HTTP(S), TLS certificates, TCP ports, OIDC discovery.
//!
//! Each probe makes one attempt and returns an [`Observation`]; the runner repeats it with
//! bounded exponential backoff until it holds or the check's timeout passes. Host names are
//! looked up in the [`Resolver`]'s overrides first (the platform domain → the ingress address),
//! so no /etc/hosts edit and no public DNS is needed.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use host::error_chain;
use serde_json::Value;

use super::observe::Observation;
use super::spec::{split_address, HttpSpec, OidcSpec, TcpSpec, TlsSpec, Trust};
use super::{subset, tls};

/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one HTTP request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Host name overrides for endpoint checks: a host maps to an address, like curl's
/// `--resolve`; other hosts go to the system resolver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolver {
    overrides: BTreeMap<String, IpAddr>,
}

impl Resolver {
    /// A resolver with no overrides.
    pub fn new() -> Resolver {
        Resolver::default()
    }

    /// Adds an override: `host` (and nothing else, not even its subdomains) resolves to `address`.
    pub fn with(mut self, host: &str, address: IpAddr) -> Resolver {
        self.overrides.insert(host.to_ascii_lowercase(), address);
        self
    }

    /// The socket address of `host:port`.
    ///
    /// Errors: the host has no override and the system resolver finds no address.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        if let Some(address) = self.overrides.get(&host.to_ascii_lowercase()) {
            return Ok(SocketAddr::new(*address, port));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        tokio::net::lookup_host((host, port))
            .await
            .map_err(|error| format!("failed to resolve {host}: {error}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address"))
    }

    /// `url`, followed by ` (<host> → <address>)` when its host is one of the overrides: what
    /// a failure message names, so that a wrong mapping shows.
    pub fn describe(&self, url: &str) -> String {
        let mapped = url::Url::parse(url).ok().and_then(|parsed| {
            let host = parsed.host_str()?.to_ascii_lowercase();
            let address = self.overrides.get(&host)?;
            Some(format!("{url} ({host} → {address})"))
        });
        mapped.unwrap_or_else(|| url.to_owned())
    }

    /// The socket address of `host:port` text (see [`split_address`] and [`Resolver::resolve`]).
    ///
    /// Errors: malformed text, or a host that does not resolve.
    pub async fn resolve_address(&self, address: &str) -> Result<SocketAddr, String> {
        let (host, port) = split_address(address)?;
        self.resolve(&host, port).await
    }

    /// An HTTP client that resolves through this resolver's overrides and trusts `trust`.
    /// Errors: the CA file cannot be read, or the TLS backend fails to start.
    pub fn client(&self, trust: &Trust, follow_redirects: bool) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls::client_config(trust)?)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .redirect(if follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            });
        for (host, address) in &self.overrides {
            // Port 0: reqwest takes the port from the URL.
            builder = builder.resolve(host, SocketAddr::new(*address, 0));
        }
        builder
            .build()
            .map_err(|error| format!("failed to build the HTTP client: {error}"))
    }
}

/// One HTTP request, judged against the spec.
pub async fn probe_http(resolver: &Resolver, spec: &HttpSpec) -> Observation {
    let client = match resolver.client(&spec.trust, spec.follow_redirects) {
        Ok(client) => client,
        Err(error) => return Observation::pending(error),
    };
    let method =
        reqwest::Method::from_bytes(spec.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let described = resolver.describe(&spec.url);
    let mut request = client.request(method, &spec.url);
    for (name, value) in &spec.request_headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &spec.body {
        request = request.body(body.clone());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            return Observation::pending(format!(
                "{} {described}: {}",
                spec.method,
                error_chain(&error)
            ))
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    let mut problems = Vec::new();
    if status != spec.status {
        problems.push(format!("status {status}, expected {}", spec.status));
    }
    for (name, expected) in &spec.headers {
        match headers
            .get(name.as_str())
            .map(|value| value.to_str().unwrap_or(""))
        {
            Some(actual) if actual.contains(expected.as_str()) => {}
            Some(actual) => problems.push(format!(
                "header {name} is `{actual}`, expected it to contain `{expected}`"
            )),
            None => problems.push(format!("header {name} is missing")),
        }
    }
    if let Some(text) = &spec.body_contains {
        if !body.contains(text.as_str()) {
            problems.push(format!(
                "the body does not contain `{text}` (body starts: `{}`)",
                body.chars().take(120).collect::<String>()
            ));
        }
    }
    if let Some(expected) = &spec.json {
        match serde_json::from_str::<Value>(&body) {
            Ok(actual) => {
                let mismatches = subset::mismatches(expected, &actual);
                if !mismatches.is_empty() {
                    problems.push(format!(
                        "the JSON body does not match:\n{}",
                        subset::describe(expected, &actual, &mismatches)
                    ));
                }
            }
            Err(error) => problems.push(format!("the body is not JSON: {error}")),
        }
    }
    let summary = format!("{} {described} answered {status}", spec.method);
    if problems.is_empty() {
        Observation::holds(summary)
    } else {
        Observation::pending(format!("{summary}: {}", problems.join("; ")))
    }
}

/// One TLS handshake, the certificate judged against the spec.
pub async fn probe_tls(resolver: &Resolver, spec: &TlsSpec) -> Observation {
    let address = match resolver.resolve_address(&spec.address).await {
        Ok(address) => address,
        Err(error) => return Observation::pending(error),
    };
    match tls::fetch_certificate(address, &spec.server_name, &spec.trust, CONNECT_TIMEOUT).await {
        Ok(certificate) => match tls::judge(spec, &certificate) {
            Ok(summary) => Observation::holds(summary),
            Err(problems) => Observation::pending(problems),
        },
        Err(error) => Observation::pending(error),
    }
}

/// One TCP connection attempt.
pub async fn probe_tcp(resolver: &Resolver, spec: &TcpSpec) -> Observation {
    let address = match resolver.resolve_address(&spec.address).await {
        Ok(address) => address,
        Err(error) => return Observation::pending(error),
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => {
            Observation::holds(format!("{} ({address}) accepts connections", spec.address))
        }
        Ok(Err(error)) => Observation::pending(format!("{} ({address}): {error}", spec.address)),
        Err(_) => Observation::pending(format!(
            "{} ({address}): connecting timed out",
            spec.address
        )),
    }
}

/// The fields OpenID Connect Discovery 1.0 §3 marks REQUIRED (`token_endpoint` is required
/// unless only the implicit flow is used, which a platform's login never does).
pub const OIDC_REQUIRED: [&str; 7] = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
];

/// Fetches `<issuer>/.well-known/openid-configuration` and checks it: every REQUIRED field,
/// `issuer` identical to the URL used (§4.3), and a `jwks_uri` that serves a JWK Set with at
/// least one key (RFC 7517 §5).
pub async fn probe_oidc(resolver: &Resolver, spec: &OidcSpec) -> Observation {
    let client = match resolver.client(&spec.trust, false) {
        Ok(client) => client,
        Err(error) => return Observation::pending(error),
    };
    let url = format!(
        "{}/.well-known/openid-configuration",
        spec.issuer.trim_end_matches('/')
    );
    let document = match get_json(&client, resolver, &url).await {
        Ok(document) => document,
        Err(error) => return Observation::pending(error),
    };
    let mut problems = Vec::new();
    for field in OIDC_REQUIRED {
        if document.get(field).is_none_or(Value::is_null) {
            problems.push(format!("`{field}` is missing"));
        }
    }
    if let Some(issuer) = document["issuer"].as_str() {
        if issuer != spec.issuer {
            problems.push(format!(
                "`issuer` is `{issuer}`, not the issuer URL `{}` (Discovery §4.3)",
                spec.issuer
            ));
        }
    }
    for list in [
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        if document.get(list).is_some_and(|value| !value.is_array()) {
            problems.push(format!("`{list}` is not a list"));
        }
    }
    if let Some(jwks_uri) = document["jwks_uri"].as_str() {
        match get_json(&client, resolver, jwks_uri).await {
            Ok(jwks) => {
                if jwks["keys"].as_array().is_none_or(Vec::is_empty) {
                    problems.push(format!("{jwks_uri} serves no keys"));
                }
            }
            Err(error) => problems.push(format!("jwks_uri: {error}")),
        }
    }
    if problems.is_empty() {
        Observation::holds(format!("{url} is a valid discovery document"))
    } else {
        Observation::pending(format!("{url}: {}", problems.join("; ")))
    }
}

async fn get_json(
    client: &reqwest::Client,
    resolver: &Resolver,
    url: &str,
) -> Result<Value, String> {
    let described = resolver.describe(url);
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|error| format!("GET {described}: {}", error_chain(&error)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {described} answered {}", status.as_u16()));
    }
    let body = response
        .text()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    serde_json::from_str(&body).map_err(|error| format!("GET {url}: the body is not JSON: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_host_is_named_with_its_address() {
        let resolver = Resolver::new().with("Seatrial.test", IpAddr::from([127, 0, 0, 1]));
        assert_eq!(
            resolver.describe("https://seatrial.test:30443/hub/api"),
            "https://seatrial.test:30443/hub/api (seatrial.test → 127.0.0.1)"
        );
        assert_eq!(
            resolver.describe("https://other.test/"),
            "https://other.test/"
        );
        assert_eq!(resolver.describe("not a url"), "not a url");
    }
}
