//! Endpoint checks against real local servers: an HTTPS server with a certificate from a CA
//! generated here (rcgen), and TCP listeners — all on loopback, stopped with the test.
//! The platform-style host name `seatrial.test` reaches them only through the resolver
//! override, as in a real run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deployer::watches::Watches;
use harness::checks::{
    Assertion, Check, CheckRunner, HttpSpec, OidcSpec, Resolver, TcpSpec, TlsSpec, Trust, Verdict,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOST: &str = "seatrial.test";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A CA written to `dir/<name>.pem`, and a server certificate for `seatrial.test` it signed.
struct Pki {
    ca_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn ca(dir: &Path, name: &str) -> (CertifiedIssuer<'static, KeyPair>, PathBuf) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let file = dir.join(format!("{}.pem", name.replace(' ', "-")));
    std::fs::write(&file, issuer.pem()).unwrap();
    (issuer, file)
}

fn pki(dir: &Path) -> Pki {
    let (issuer, ca_file) = ca(dir, "seatrial test CA");
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![HOST.to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, HOST);
    params.not_after =
        time::OffsetDateTime::now_utc() + time::Duration::days(90) + time::Duration::hours(12);
    let leaf = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_file,
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// A minimal HTTPS/1.1 server: one response per connection, routed by path.
struct Server {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\nx-served-by: seatrial-test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn https_server(pki: &Pki) -> Server {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(pki.chain.clone(), pki.key.clone_key())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let flaky_since: Arc<Mutex<Option<Instant>>> = Arc::default();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let flaky_since = flaky_since.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let head = String::from_utf8_lossy(&request[..end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while request.len() < end + length {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let sent = String::from_utf8_lossy(&request[end..]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let issuer = format!("https://{HOST}:{port}/realms/good");
                let body = match path.as_str() {
                    "/hub/api" => response(
                        200,
                        "application/json",
                        r#"{"version": "5.3.0", "spawners": [{"name": "local"}, {"name": "kube"}]}"#,
                    ),
                    "/realms/good/.well-known/openid-configuration" => response(
                        200,
                        "application/json",
                        &serde_json::json!({
                            "issuer": issuer,
                            "authorization_endpoint": format!("{issuer}/auth"),
                            "token_endpoint": format!("{issuer}/token"),
                            "jwks_uri": format!("{issuer}/certs"),
                            "response_types_supported": ["code"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        })
                        .to_string(),
                    ),
                    "/realms/good/certs" => response(
                        200,
                        "application/json",
                        r#"{"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]}"#,
                    ),
                    "/realms/bad/.well-known/openid-configuration" => response(
                        200,
                        "application/json",
                        &serde_json::json!({
                            "issuer": "https://elsewhere.test/realms/bad",
                            "authorization_endpoint": "https://elsewhere.test/auth",
                            "response_types_supported": "code",
                        })
                        .to_string(),
                    ),
                    "/flaky" => {
                        // Fails for 1.3 s after the first request it sees, then answers 200.
                        let first = *flaky_since.lock().unwrap().get_or_insert_with(Instant::now);
                        if first.elapsed() < Duration::from_millis(1300) {
                            response(503, "text/plain", "warming up")
                        } else {
                            response(200, "text/plain", "ready")
                        }
                    }
                    // A write: 201 with what was sent, when it was a POST with a JSON type.
                    "/notes"
                        if head.starts_with("POST ")
                            && head
                                .to_ascii_lowercase()
                                .contains("content-type: application/json") =>
                    {
                        response(201, "application/json", &sent)
                    }
                    "/notes" => response(415, "text/plain", "POST JSON"),
                    _ => response(404, "text/plain", "not found"),
                };
                let _ = tls.write_all(&body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Server { port, task }
}

fn runner() -> CheckRunner {
    // Endpoint checks never touch the cluster; the client points at a closed port.
    let client =
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    CheckRunner::with(
        Arc::new(Watches::new(client)),
        Resolver::new().with(HOST, LOOPBACK),
    )
}

fn check(assertion: Assertion) -> Check {
    let mut check = Check::new("endpoints", "probe", assertion);
    check.timeout = Duration::from_secs(1);
    check
}

fn http(url: String, trust: Trust) -> HttpSpec {
    HttpSpec {
        url,
        method: "GET".to_owned(),
        status: 200,
        headers: Default::default(),
        json: None,
        body_contains: None,
        follow_redirects: false,
        trust,
        request_headers: Default::default(),
        body: None,
    }
}

#[tokio::test]
async fn an_http_step_sends_its_method_headers_and_body_and_fails_naming_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = https_server(&pki).await;
    let runner = runner();
    let url = format!("https://{HOST}:{}/notes", server.port);
    let mut spec = http(url, Trust::Ca(pki.ca_file.clone()));
    spec.method = "POST".to_owned();
    spec.status = 201;
    spec.request_headers = [("Content-Type".to_owned(), "application/json".to_owned())].into();
    spec.body = Some(r#"{"note": "kept"}"#.to_owned());
    spec.json = Some(serde_json::json!({"note": "kept"}));
    let outcome = runner.run(&check(Assertion::Http(spec.clone()))).await;
    assert!(outcome.passed(), "{}", outcome.message);

    // Without its content type the service refuses the write, and the check says how.
    spec.request_headers.clear();
    let outcome = runner.run(&check(Assertion::Http(spec))).await;
    assert!(!outcome.passed());
    assert!(
        outcome.message.contains("status 415, expected 201"),
        "{}",
        outcome.message
    );
    drop(server);
}

#[tokio::test]
async fn http_checks_status_headers_json_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = https_server(&pki).await;
    let runner = runner();
    let url = format!("https://{HOST}:{}/hub/api", server.port);

    let mut spec = http(url.clone(), Trust::Ca(pki.ca_file.clone()));
    spec.headers
        .insert("Content-Type".into(), "application/json".into());
    spec.json =
        Some(serde_json::json!({"version": "5.3.0", "spawners": {"$some": [{"name": "kube"}]}}));
    spec.body_contains = Some("spawners".into());
    let outcome = runner.run(&check(Assertion::Http(spec.clone()))).await;
    assert_eq!(outcome.verdict, Verdict::Passed, "{}", outcome.message);
    assert!(
        outcome.message.contains("answered 200"),
        "{}",
        outcome.message
    );

    let mut wrong = spec.clone();
    wrong.status = 201;
    wrong.headers.insert("x-served-by".into(), "nginx".into());
    wrong.json = Some(serde_json::json!({"version": "9.9.9"}));
    wrong.body_contains = Some("users".into());
    let outcome = runner.run(&check(Assertion::Http(wrong))).await;
    assert_eq!(outcome.verdict, Verdict::Failed, "{}", outcome.message);
    for fragment in [
        "timed out after 1 s waiting for GET",
        "status 200, expected 201",
        "header x-served-by is `seatrial-test`, expected it to contain `nginx`",
        "the body does not contain `users`",
        "at version: expected \"9.9.9\", found \"5.3.0\"",
        "-version: 9.9.9",
        "+version: 5.3.0",
    ] {
        assert!(
            outcome.message.contains(fragment),
            "{fragment}\n{}",
            outcome.message
        );
    }
}

#[tokio::test]
async fn self_signed_certificates_pass_only_with_their_ca_or_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = https_server(&pki).await;
    let runner = runner();
    let url = format!("https://{HOST}:{}/hub/api", server.port);

    let outcome = runner
        .run(&check(Assertion::Http(http(url.clone(), Trust::System))))
        .await;
    assert_eq!(outcome.verdict, Verdict::Failed, "{}", outcome.message);
    assert!(
        outcome.message.to_lowercase().contains("certificate"),
        "{}",
        outcome.message
    );

    let (_, other_ca) = ca(dir.path(), "another CA");
    let outcome = runner
        .run(&check(Assertion::Http(http(
            url.clone(),
            Trust::Ca(other_ca),
        ))))
        .await;
    assert_eq!(outcome.verdict, Verdict::Failed, "{}", outcome.message);

    let outcome = runner
        .run(&check(Assertion::Http(http(url, Trust::Insecure))))
        .await;
    assert_eq!(outcome.verdict, Verdict::Passed, "{}", outcome.message);
}

#[tokio::test]
async fn tls_checks_san_issuer_expiry_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = https_server(&pki).await;
    let runner = runner();
    let spec = TlsSpec {
        address: format!("{HOST}:{}", server.port),
        server_name: HOST.to_owned(),
        san_contains: vec![HOST.to_owned(), "127.0.0.1".to_owned()],
        issuer_contains: Some("seatrial test CA".to_owned()),
        min_days_to_expiry: Some(30),
        trust: Trust::Ca(pki.ca_file.clone()),
    };
    let outcome = runner.run(&check(Assertion::Tls(spec.clone()))).await;
    assert_eq!(outcome.verdict, Verdict::Passed, "{}", outcome.message);
    assert!(
        outcome.message.contains("90 days to expiry"),
        "{}",
        outcome.message
    );

    let (_, other_ca) = ca(dir.path(), "another CA");
    let mut wrong = spec.clone();
    wrong.trust = Trust::Ca(other_ca.clone());
    wrong.san_contains = vec!["hub.seatrial.test".to_owned()];
    wrong.issuer_contains = Some("Let's Encrypt".to_owned());
    wrong.min_days_to_expiry = Some(365);
    let outcome = runner.run(&check(Assertion::Tls(wrong))).await;
    assert_eq!(outcome.verdict, Verdict::Failed, "{}", outcome.message);
    for fragment in [
        format!(
            "the chain does not verify against the CA in {}",
            other_ca.display()
        ),
        "subjectAltName lacks hub.seatrial.test".to_owned(),
        "does not contain `Let's Encrypt`".to_owned(),
        "expires in 90 days, expected at least 365".to_owned(),
    ] {
        assert!(
            outcome.message.contains(&fragment),
            "{fragment}\n{}",
            outcome.message
        );
    }
}

#[tokio::test]
async fn tcp_checks_open_and_closed_ports() {
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let probe = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
        probe.local_addr().unwrap().port()
    };
    let runner = runner();
    let outcome = runner
        .run(&check(Assertion::Tcp(TcpSpec {
            address: format!("{HOST}:{open}"),
        })))
        .await;
    assert_eq!(outcome.verdict, Verdict::Passed, "{}", outcome.message);
    assert!(outcome
        .message
        .contains(&SocketAddr::new(LOOPBACK, open).to_string()));
    let outcome = runner
        .run(&check(Assertion::Tcp(TcpSpec {
            address: format!("{HOST}:{closed}"),
        })))
        .await;
    assert_eq!(outcome.verdict, Verdict::Failed, "{}", outcome.message);
    assert!(outcome.message.contains("refused"), "{}", outcome.message);
}

#[tokio::test]
async fn oidc_discovery_documents() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = https_server(&pki).await;
    let runner = runner();
    let issuer = |realm: &str| format!("https://{HOST}:{}/realms/{realm}", server.port);
    let good = OidcSpec {
        issuer: issuer("good"),
        trust: Trust::Ca(pki.ca_file.clone()),
    };
    let outcome = runner.run(&check(Assertion::Oidc(good))).await;
    assert_eq!(outcome.verdict, Verdict::Passed, "{}", outcome.message);

    let bad = OidcSpec {
        issuer: issuer("bad"),
        trust: Trust::Ca(pki.ca_file.clone()),
    };
    let outcome = runner.run(&check(Assertion::Oidc(bad))).await;
    assert_eq!(outcome.verdict, Verdict::Failed, "{}", outcome.message);
    for fragment in [
        "`token_endpoint` is missing",
        "`jwks_uri` is missing",
        "`issuer` is `https://elsewhere.test/realms/bad`",
        "`response_types_supported` is not a list",
    ] {
        assert!(
            outcome.message.contains(fragment),
            "{fragment}\n{}",
            outcome.message
        );
    }
}

#[tokio::test]
async fn a_pass_after_a_failed_attempt_is_flaky() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = https_server(&pki).await;
    let runner = runner();
    let mut flaky = check(Assertion::Http(http(
        format!("https://{HOST}:{}/flaky", server.port),
        Trust::Ca(pki.ca_file.clone()),
    )));
    flaky.retries = 3;
    let outcome = runner.run(&flaky).await;
    assert_eq!(outcome.verdict, Verdict::Flaky, "{}", outcome.message);
    assert!(outcome.attempts >= 2, "{outcome:?}");
    assert!(outcome.failures[0].contains("status 503"), "{outcome:?}");
    assert!(
        outcome.message.contains("flaky: passed on attempt"),
        "{}",
        outcome.message
    );
}
