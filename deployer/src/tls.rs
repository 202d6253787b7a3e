//! The platform's own certificate authority and the certificate its ingress serves.
//!
//! A run makes a fresh CA (an ECDSA P-256 key, `CN=seatrial platform CA <project>`) and a
//! server certificate for the platform domain and its subdomains (`<domain>`,
//! `*.<domain>`: RFC 6125 §6.4.3 wildcards cover one label), valid for [`VALIDITY_DAYS`].
//! The ingress stage puts the pair into a `kubernetes.io/tls` Secret (Kubernetes API docs,
//! "Secret types: TLS secrets": keys `tls.crt` and `tls.key`, PEM); checks and the browser
//! trust the CA alone, read from the file the run writes (the CA certificate is public; its
//! key is dropped once the server certificate is signed and never written anywhere).

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde::Serialize;

use crate::error::{Error, Result};

/// How long the server certificate is valid, in days (the CA: one day longer).
pub const VALIDITY_DAYS: i64 = 90;

/// The CA and server certificate of one run, as PEM text. Templates see it as `tls`
/// (`tls.cert`, `tls.key`, `tls.ca`, `tls.ca_file`); `Debug` leaves the key out.
#[derive(Clone, Serialize)]
pub struct PlatformTls {
    /// The CA certificate (PEM).
    pub ca: String,
    /// The server certificate (PEM), signed by the CA.
    pub cert: String,
    /// The server certificate's private key (PKCS#8 PEM). Only the ingress's Secret holds it.
    pub key: String,
    /// Where the run wrote the CA certificate (checks' `ca:`), empty before it is written.
    pub ca_file: String,
    /// The names the server certificate is for (its subjectAltName DNS names).
    pub names: Vec<String>,
}

impl fmt::Debug for PlatformTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformTls")
            .field("names", &self.names)
            .field("ca_file", &self.ca_file)
            .field("key", &"***")
            .finish_non_exhaustive()
    }
}

impl PlatformTls {
    /// A new CA named after `project` and a certificate for `names` (the platform domain and
    /// its wildcard, usually).
    ///
    /// Errors: [`Error::Invalid`] naming the names when one is not a valid DNS name for a
    /// certificate (rcgen refuses it).
    pub fn generate(project: &str, names: &[String]) -> Result<PlatformTls> {
        let fail = |error: rcgen::Error| Error::Build {
            message: format!(
                "failed to make the platform certificate for {}: {error}",
                names.join(", ")
            ),
        };
        let now = time::OffsetDateTime::now_utc();
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("seatrial platform CA {project}"),
        );
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.not_before = now - time::Duration::hours(1);
        ca.not_after = now + time::Duration::days(VALIDITY_DAYS + 1);
        let issuer =
            CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(fail)?).map_err(fail)?;

        let mut server = CertificateParams::new(names.to_vec()).map_err(fail)?;
        server.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.not_before = now - time::Duration::hours(1);
        server.not_after = now + time::Duration::days(VALIDITY_DAYS);
        let key = KeyPair::generate().map_err(fail)?;
        let cert = server.signed_by(&key, &issuer).map_err(fail)?;
        Ok(PlatformTls {
            ca: issuer.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
            ca_file: String::new(),
            names: names.to_vec(),
        })
    }

    /// [`PlatformTls::generate`] for `domain` and `*.domain`.
    ///
    /// Errors: as [`PlatformTls::generate`].
    pub fn for_domain(project: &str, domain: &str) -> Result<PlatformTls> {
        PlatformTls::generate(project, &[domain.to_owned(), format!("*.{domain}")])
    }

    /// Writes the CA certificate to `path` and remembers it as `ca_file`.
    ///
    /// Errors: [`Error::EnvironmentMissing`] naming the file when it cannot be written.
    pub fn write_ca(&mut self, path: &std::path::Path) -> Result<()> {
        std::fs::write(path, &self.ca).map_err(|error| Error::EnvironmentMissing {
            what: format!(
                "failed to write the platform CA to {}: {error}",
                path.display()
            ),
            hint: "pass a writable --report-dir".into(),
        })?;
        self.ca_file = path.display().to_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_certificate_names_the_domain_and_hides_its_key_from_debug() {
        let tls = PlatformTls::for_domain("demo", "seatrial.test").unwrap();
        assert!(tls.ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls.cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls.key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(tls.names, ["seatrial.test", "*.seatrial.test"]);
        let debug = format!("{tls:?}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        // Two runs, two CAs.
        let other = PlatformTls::for_domain("demo", "seatrial.test").unwrap();
        assert_ne!(tls.ca, other.ca);
    }
}
