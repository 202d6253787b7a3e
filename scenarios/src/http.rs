//! A plain HTTP client for loopback services (chromedriver, the local hub).

use std::sync::Arc;

/// A reqwest client for `http://` URLs: rustls (ring) with an empty root store, so it refuses
/// every `https://` server, and a 10 s timeout per request. Errors: the TLS backend failed
/// to initialise (reqwest's message).
pub fn plain_client() -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .tls_backend_preconfigured(config)
        .build()
        .map_err(|error| error.to_string())
}
