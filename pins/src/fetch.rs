//! The network layer every online command shares: one HTTP client, a bound on requests in
//! flight, a timeout per request, retries with exponential backoff on 429, 5xx and
//! connection failures (honouring `Retry-After`, RFC 9110 §10.2.3), and a request count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::sync::{OnceCell, Semaphore};

/// Tuning for [`Network`].
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Requests in flight at most (default 16).
    pub concurrency: usize,
    /// Limit per request attempt, connection to last body byte (default 30 s).
    pub timeout: Duration,
    /// Retries after the first attempt on 429, 5xx or a connection failure (default 4).
    pub retries: usize,
    /// First backoff delay, doubled per retry up to 8 s (default 250 ms).
    pub backoff: Duration,
    /// The GitHub REST API base (default `https://api.github.com`; Actions sets
    /// `GITHUB_API_URL`).
    pub github_api: String,
    /// A GitHub token for reads (raises the rate limit); never logged.
    pub github_token: Option<String>,
    /// The Go module proxy base (default: the first URL of `GOPROXY`, else
    /// `https://proxy.golang.org`).
    pub go_proxy: String,
    /// PyPI's simple index (default: `$PIP_INDEX_URL`, else `https://pypi.org/simple`).
    pub pypi_index: String,
    /// The npm registry (default: `$npm_config_registry`, else `https://registry.npmjs.org`).
    pub npm_registry: String,
    /// The Maven repository (default: `$SEATRIAL_MAVEN_REPOSITORY`, else Maven Central).
    pub maven_repository: String,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            concurrency: 16,
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(250),
            github_api: "https://api.github.com".to_owned(),
            github_token: None,
            go_proxy: default_proxy(),
            pypi_index: default_pypi_index(),
            npm_registry: default_npm_registry(),
            maven_repository: default_maven_repository(),
        }
    }
}

/// The proxy `go` itself would ask: the first `http(s)://` entry of `GOPROXY`, else
/// `https://proxy.golang.org` (the go command's default).
fn default_proxy() -> String {
    std::env::var("GOPROXY")
        .ok()
        .and_then(|value| {
            value
                .split([',', '|'])
                .find(|entry| entry.starts_with("http://") || entry.starts_with("https://"))
                .map(|entry| entry.trim_end_matches('/').to_owned())
        })
        .unwrap_or_else(|| "https://proxy.golang.org".to_owned())
}

/// PyPI's simple index: `$PIP_INDEX_URL`, else `https://pypi.org/simple`.
fn default_pypi_index() -> String {
    url_from_env(&["PIP_INDEX_URL"], "https://pypi.org/simple")
}

/// The npm registry: `$npm_config_registry`, else `https://registry.npmjs.org`.
fn default_npm_registry() -> String {
    url_from_env(
        &["npm_config_registry", "NPM_CONFIG_REGISTRY"],
        "https://registry.npmjs.org",
    )
}

/// The Maven repository: `$SEATRIAL_MAVEN_REPOSITORY`, else Maven Central
/// (`https://repo.maven.apache.org/maven2`), the repository `mvn` uses by default.
fn default_maven_repository() -> String {
    url_from_env(
        &["SEATRIAL_MAVEN_REPOSITORY"],
        "https://repo.maven.apache.org/maven2",
    )
}

/// The first of `variables` that is set, when it is an `http…` URL (trailing `/` trimmed);
/// else `default`.
fn url_from_env(variables: &[&str], default: &str) -> String {
    variables
        .iter()
        .find_map(|variable| std::env::var(variable).ok())
        .filter(|url| url.starts_with("http"))
        .map_or_else(
            || default.to_owned(),
            |url| url.trim_end_matches('/').to_owned(),
        )
}

/// A request that failed for good: the method, the URL, the last HTTP status (if any
/// response came) and what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{method} {url}: {message}")]
pub struct FetchError {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The URL (never carrying credentials).
    pub url: String,
    /// The last response's status code.
    pub status: Option<u16>,
    /// What went wrong, with the status when there was one.
    pub message: String,
}

impl FetchError {
    /// A `GET` that answered an unexpected `status`.
    pub fn unexpected_status(url: &str, status: reqwest::StatusCode) -> FetchError {
        FetchError {
            method: "GET".into(),
            url: url.to_owned(),
            status: Some(status.as_u16()),
            message: format!("HTTP {status}"),
        }
    }

    /// A `GET` that answered 200 with a body that is not the `what` expected.
    pub fn unexpected_body(url: &str, what: &str, error: impl std::fmt::Display) -> FetchError {
        FetchError {
            method: "GET".into(),
            url: url.to_owned(),
            status: Some(200),
            message: format!("unexpected {what}: {error}"),
        }
    }
}

/// A response read to the end.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The status (any; callers decide what is an error).
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body (empty for `HEAD`).
    pub body: Bytes,
}

impl Fetched {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// The shared HTTP client (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Network {
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    requests: Arc<AtomicU64>,
    /// Its tuning.
    pub options: Arc<NetworkOptions>,
    pub(crate) cache: Arc<Cache>,
}

enum Attempt {
    Retry(FetchError, Option<Duration>),
    Fail(FetchError),
}

impl Network {
    /// A client trusting the system's roots (rustls-platform-verifier, ring).
    ///
    /// Errors: the system trust store or TLS backend failed to load.
    pub fn new(options: NetworkOptions) -> Result<Network, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(|error| format!("failed to load the system trust store: {error}"))?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("seatrial-pins/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(config)
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Network {
            client,
            permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
            requests: Arc::new(AtomicU64::new(0)),
            options: Arc::new(options),
            cache: Arc::default(),
        })
    }

    /// Requests sent so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `GET url` read to the end, retried as the module docs say. Any final status is
    /// returned; only transport failures and exhausted retries are errors.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(HeaderName, String)],
    ) -> Result<Fetched, FetchError> {
        self.send(Method::GET, url, headers).await
    }

    /// [`Network::get`] that must answer 200: any other final status is
    /// [`FetchError::unexpected_status`] naming the URL.
    pub async fn get_ok(
        &self,
        url: &str,
        headers: &[(HeaderName, String)],
    ) -> Result<Fetched, FetchError> {
        let response = self.get(url, headers).await?;
        if response.status.as_u16() != 200 {
            return Err(FetchError::unexpected_status(url, response.status));
        }
        Ok(response)
    }

    /// `HEAD url`, as [`Network::get`].
    pub async fn head(
        &self,
        url: &str,
        headers: &[(HeaderName, String)],
    ) -> Result<Fetched, FetchError> {
        self.send(Method::HEAD, url, headers).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, String)],
    ) -> Result<Fetched, FetchError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.options.backoff)
            .with_max_delay(Duration::from_secs(8))
            .with_max_times(self.options.retries)
            .with_jitter();
        let attempt = || self.attempt(method.clone(), url, headers);
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|outcome| matches!(outcome, Attempt::Retry(..)))
            // `None` means the retries are spent; Retry-After only replaces the delay.
            .adjust(|outcome, delay| match (outcome, delay) {
                (Attempt::Retry(_, Some(after)), Some(_)) => Some(*after),
                _ => delay,
            })
            .notify(|outcome, delay| {
                if let Attempt::Retry(error, _) = outcome {
                    tracing::debug!(%error, ?delay, "retrying");
                }
            })
            .await
            .map_err(|outcome| match outcome {
                Attempt::Retry(error, _) | Attempt::Fail(error) => error,
            })
    }

    async fn attempt(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, String)],
    ) -> Result<Fetched, Attempt> {
        let error = |status: Option<u16>, message: String| FetchError {
            method: method.to_string(),
            url: url.to_owned(),
            status,
            message,
        };
        let mut request = self.client.request(method.clone(), url);
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|e| Attempt::Fail(error(None, format!("bad header {name}: {e}"))))?;
            request = request.header(name, value);
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request.send().await.map_err(|e| {
            let message = host::error_chain(&e);
            if e.is_builder() {
                Attempt::Fail(error(None, message))
            } else {
                Attempt::Retry(error(None, message), None)
            }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| {
            Attempt::Retry(error(Some(status.as_u16()), host::error_chain(&e)), None)
        })?;
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(|seconds| Duration::from_secs(seconds.min(30)));
            return Err(Attempt::Retry(
                error(Some(status.as_u16()), format!("HTTP {status}")),
                after,
            ));
        }
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Values fetched once per run and shared by every pin: chart indexes by URL, registry
/// bearer tokens by repository, tag lists and release lists.
#[derive(Default)]
pub struct Cache {
    pub(crate) indexes: Slots<Arc<crate::wire::Index>>,
    pub(crate) tokens: Slots<Option<String>>,
    pub(crate) tags: Slots<Arc<Vec<String>>>,
    pub(crate) releases: Slots<Arc<Vec<crate::wire::Release>>>,
}

/// A map of once-filled cells: concurrent askers for one key share one fetch.
pub(crate) struct Slots<T>(Mutex<HashMap<String, Slot<T>>>);

/// One key's cell: empty until its first fetch finishes.
type Slot<T> = Arc<OnceCell<Result<T, FetchError>>>;

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots(Mutex::default())
    }
}

impl<T: Clone> Slots<T> {
    pub(crate) async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> Result<T, FetchError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        let cell = self
            .0
            .lock()
            .expect("no panic while holding the cache lock")
            .entry(key.to_owned())
            .or_default()
            .clone();
        cell.get_or_init(fetch).await.clone()
    }

    /// The value for `key` if it has already been fetched successfully.
    pub(crate) fn peek(&self, key: &str) -> Option<T> {
        let cell = self
            .0
            .lock()
            .expect("no panic while holding the cache lock")
            .get(key)
            .cloned()?;
        cell.get().and_then(|result| result.as_ref().ok().cloned())
    }

    pub(crate) fn forget(&self, key: &str) {
        self.0
            .lock()
            .expect("no panic while holding the cache lock")
            .remove(key);
    }
}
