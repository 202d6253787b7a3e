//! TLS for endpoint checks: rustls client configurations for each [`Trust`], and the
//! certificate probe behind `tls` checks.
//!
//! Trust is never widened silently: without `ca` or `insecure: true` a check uses the system
//! trust store (rustls-platform-verifier), so a self-signed certificate fails.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::spec::{TlsSpec, Trust};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The verifier `trust` calls for.
///
/// Errors: the CA file cannot be read or holds no certificate (message names the file).
pub fn verifier(trust: &Trust) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let provider = provider();
    match trust {
        Trust::System => rustls_platform_verifier::Verifier::new(provider)
            .map(|verifier| Arc::new(verifier) as Arc<dyn ServerCertVerifier>)
            .map_err(|error| format!("failed to load the system trust store: {error}")),
        Trust::Ca(path) => {
            let mut roots = RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|error| format!("failed to read CA file {}: {error}", path.display()))?;
            for certificate in certificates {
                let certificate =
                    certificate.map_err(|error| format!("CA file {}: {error}", path.display()))?;
                roots
                    .add(certificate)
                    .map_err(|error| format!("CA file {}: {error}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("CA file {} holds no certificate", path.display()));
            }
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map(|verifier| verifier as Arc<dyn ServerCertVerifier>)
                .map_err(|error| format!("CA file {}: {error}", path.display()))
        }
        Trust::Insecure => Ok(Arc::new(AcceptAny(
            provider.signature_verification_algorithms,
        ))),
    }
}

/// A client configuration (ring provider, TLS 1.2 and 1.3) trusting what `trust` says.
///
/// Errors: as [`verifier`].
pub fn client_config(trust: &Trust) -> Result<ClientConfig, String> {
    Ok(with_verifier(verifier(trust)?))
}

fn with_verifier(verifier: Arc<dyn ServerCertVerifier>) -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Accepts any certificate chain (`insecure: true`), still checking handshake signatures.
#[derive(Debug)]
struct AcceptAny(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// What the server presented, and what the inner verifier said of it.
#[derive(Debug, Default)]
struct Presented {
    end_entity: Option<Vec<u8>>,
    verdict: Option<Result<(), String>>,
}

/// Lets every handshake finish, but records the chain and the inner verifier's verdict, so a
/// failed verification is reported next to what the certificate actually says.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ServerCertVerifier>,
    presented: Mutex<Presented>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ())
            .map_err(|error| error.to_string());
        let mut presented = self.presented.lock().expect("not poisoned");
        presented.end_entity = Some(end_entity.to_vec());
        presented.verdict = Some(verdict);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The facts a `tls` check judges.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// subjectAltName DNS names and IP addresses.
    pub sans: Vec<String>,
    /// The issuer's distinguished name (RFC 4514 form).
    pub issuer: String,
    /// Whole days until `notAfter` (negative once expired).
    pub days_to_expiry: i64,
    /// The verifier's verdict for the server name: `Ok`, or why the chain does not verify.
    pub verified: Result<(), String>,
    /// Base64 SHA-256 of the certificate's SubjectPublicKeyInfo (DER): the form Chromium's
    /// `--ignore-certificate-errors-spki-list` takes (and HPKP's pin-sha256, RFC 7469).
    pub spki_sha256: String,
}

/// Connects to `address`, completes a TLS handshake for `server_name` and reads the
/// certificate presented.
///
/// Errors: connection or handshake failure, or a certificate that does not parse.
pub async fn fetch_certificate(
    address: SocketAddr,
    server_name: &str,
    trust: &Trust,
    connect_timeout: Duration,
) -> Result<Certificate, String> {
    let recording = Arc::new(Recording {
        inner: verifier(trust)?,
        presented: Mutex::new(Presented::default()),
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(with_verifier(recording.clone())));
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|error| format!("`{server_name}` is not a server name: {error}"))?;
    let stream = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| format!("connecting to {address} timed out"))?
        .map_err(|error| format!("failed to connect to {address}: {error}"))?;
    tokio::time::timeout(connect_timeout, connector.connect(name, stream))
        .await
        .map_err(|_| format!("the TLS handshake with {address} timed out"))?
        .map_err(|error| format!("the TLS handshake with {address} failed: {error}"))?;
    let presented = std::mem::take(&mut *recording.presented.lock().expect("not poisoned"));
    let der = presented
        .end_entity
        .ok_or_else(|| format!("{address} presented no certificate"))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(&der)
        .map_err(|error| format!("the certificate of {address} does not parse: {error}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(extension)) = parsed.subject_alternative_name() {
        for name in &extension.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(dns) => sans.push(dns.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).map(std::net::IpAddr::from).ok(),
                        16 => <[u8; 16]>::try_from(*bytes)
                            .map(std::net::IpAddr::from)
                            .ok(),
                        _ => None,
                    };
                    sans.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let days_to_expiry = (parsed.validity().not_after.timestamp() - now).div_euclid(86_400);
    let spki = ring::digest::digest(&ring::digest::SHA256, parsed.public_key().raw);
    Ok(Certificate {
        spki_sha256: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, spki),
        sans,
        issuer: parsed.issuer().to_string(),
        days_to_expiry,
        verified: presented
            .verdict
            .unwrap_or_else(|| Err("no verification happened".to_owned())),
    })
}

/// Judges a certificate against a `tls` check: `Ok(summary)` when it holds, `Err(reasons)`.
pub fn judge(spec: &TlsSpec, certificate: &Certificate) -> Result<String, String> {
    let mut problems = Vec::new();
    if let Err(error) = &certificate.verified {
        if spec.trust != Trust::Insecure {
            let against = match &spec.trust {
                Trust::Ca(path) => format!("the CA in {}", path.display()),
                _ => "the system trust store".to_owned(),
            };
            problems.push(format!(
                "the chain does not verify against {against} for {}: {error}",
                spec.server_name
            ));
        }
    }
    for name in &spec.san_contains {
        if !certificate.sans.iter().any(|san| san == name) {
            problems.push(format!(
                "subjectAltName lacks {name} (it has {})",
                certificate.sans.join(", ")
            ));
        }
    }
    if let Some(issuer) = &spec.issuer_contains {
        if !certificate.issuer.contains(issuer.as_str()) {
            problems.push(format!(
                "issuer `{}` does not contain `{issuer}`",
                certificate.issuer
            ));
        }
    }
    if let Some(days) = spec.min_days_to_expiry {
        if certificate.days_to_expiry < i64::from(days) {
            problems.push(format!(
                "expires in {} days, expected at least {days}",
                certificate.days_to_expiry
            ));
        }
    }
    let summary = format!(
        "certificate of {} for {}: SANs [{}], issuer `{}`, {} days to expiry",
        spec.address,
        spec.server_name,
        certificate.sans.join(", "),
        certificate.issuer,
        certificate.days_to_expiry
    );
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(format!("{summary}; {}", problems.join("; ")))
    }
}
