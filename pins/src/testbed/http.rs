//! A static HTTP server on loopback: files from memory, injected failures (a queue of
//! statuses answered before the real file, with `Retry-After: 0`), a request count, and an
//! optional registry token endpoint at `/token`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;

use super::token::TokenIssuer;

#[derive(Default)]
struct Shared {
    files: Mutex<HashMap<String, (String, Vec<u8>)>>,
    faults: Mutex<HashMap<String, VecDeque<u16>>>,
    requests: AtomicU64,
    issuer: Mutex<Option<Arc<TokenIssuer>>>,
    latency: Mutex<std::time::Duration>,
}

/// The server; stops when dropped.
pub struct FileServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FileServer {
    /// Binds a free loopback port and serves until dropped. Must be called inside a tokio
    /// runtime. Errors: the bind failed.
    pub async fn start() -> std::io::Result<FileServer> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(FileServer {
            url,
            shared,
            stop: Some(stop),
        })
    }

    /// Serves `body` at `path` (starting with `/`).
    pub fn put(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.shared
            .files
            .lock()
            .unwrap()
            .insert(path.to_owned(), (content_type.to_owned(), body.into()));
    }

    /// Removes the file at `path` (it then answers 404).
    pub fn remove(&self, path: &str) {
        self.shared.files.lock().unwrap().remove(path);
    }

    /// The next `statuses.len()` requests for `path` answer these statuses, in order.
    pub fn fail_next(&self, path: &str, statuses: &[u16]) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .extend(statuses);
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Delays every answer by `latency` (to model a distant server).
    pub fn set_latency(&self, latency: std::time::Duration) {
        *self.shared.latency.lock().unwrap() = latency;
    }

    /// Answers `GET /token?service=…&scope=…` with tokens signed by `issuer`.
    pub fn issue_tokens(&self, issuer: Arc<TokenIssuer>) {
        *self.shared.issuer.lock().unwrap() = Some(issuer);
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let latency = *shared.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path = request.uri().path().to_owned();
    let status = |code: StatusCode| {
        Response::builder()
            .status(code)
            .body(Body::empty())
            .unwrap()
    };
    if let Some(code) = shared
        .faults
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
    {
        return Response::builder()
            .status(code)
            .header(header::RETRY_AFTER, "0")
            .body(Body::empty())
            .unwrap();
    }
    if path == "/token" {
        let issuer = shared.issuer.lock().unwrap().clone();
        if let Some(issuer) = issuer {
            let query: HashMap<String, String> =
                url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let token = issuer.issue(
                query.get("service").map_or("", String::as_str),
                query.get("scope").map_or("", String::as_str),
            );
            let body =
                serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                    .to_string();
            return Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap();
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let file = shared.files.lock().unwrap().get(&path).cloned();
    match file {
        Some((content_type, body)) => {
            let length = body.len();
            let body = if request.method() == Method::HEAD {
                Vec::new()
            } else {
                body
            };
            Response::builder()
                .header(header::CONTENT_TYPE, content_type)
                .header(header::CONTENT_LENGTH, length)
                .body(Body::from(body))
                .unwrap()
        }
        None => status(StatusCode::NOT_FOUND),
    }
}
