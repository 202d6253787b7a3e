//! A registry token issuer for the Docker token protocol
//! (<https://distribution.github.io/distribution/spec/auth/jwt/>): ES256 JWTs whose `x5c`
//! header carries a self-signed certificate that the registry trusts through its
//! `rootcertbundle`. It grants every action asked for.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// The issuer name the registry is configured to accept.
pub const ISSUER: &str = "seatrial-testbed";

/// The signing key and its certificate.
pub struct TokenIssuer {
    key: EcdsaKeyPair,
    certificate_der: Vec<u8>,
    /// The certificate, PEM, for the registry's `rootcertbundle`.
    pub certificate_pem: String,
    /// Tokens issued so far.
    pub issued: std::sync::atomic::AtomicU64,
}

impl TokenIssuer {
    /// A fresh P-256 key and self-signed certificate. Errors: rcgen's or ring's message.
    pub fn new() -> Result<TokenIssuer, String> {
        let pair = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let certificate = rcgen::CertificateParams::new(vec!["seatrial-testbed-token".to_owned()])
            .map_err(|e| e.to_string())?
            .self_signed(&pair)
            .map_err(|e| e.to_string())?;
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pair.serialize_der(),
            &SystemRandom::new(),
        )
        .map_err(|e| e.to_string())?;
        Ok(TokenIssuer {
            key,
            certificate_der: certificate.der().to_vec(),
            certificate_pem: certificate.pem(),
            issued: Default::default(),
        })
    }

    /// A token for `service` granting `scope` (`repository:<name>:<actions>`, space-separated
    /// for several), valid for five minutes.
    pub fn issue(&self, service: &str, scope: &str) -> String {
        self.issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let access: Vec<serde_json::Value> = scope
            .split(' ')
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let kind = parts.next()?;
                let name = parts.next()?;
                let actions: Vec<&str> = parts.next()?.split(',').collect();
                Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
            })
            .collect();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.certificate_der)]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "", "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", self.issued.load(std::sync::atomic::Ordering::Relaxed)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("ECDSA signing with a valid key");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}
