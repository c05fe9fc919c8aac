//! compliance-server's certificate: the mounted Secret's PEM files, or a self-signed one.
//!
//! A cluster without the Secret `tigera-compliance-server-tls` still gets an encrypted
//! server: a certificate made at start, which nobody can verify. Its SHA-256 fingerprint
//! goes to the log so that a person can compare it with what their browser or
//! `openssl s_client` shows, and know they reached this process.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::settings::ConfigError;

/// The names a self-signed certificate is made for: loopback (port-forwarding) and the
/// manifest's Service in every form a pod can use.
pub const SELF_SIGNED_NAMES: [&str; 6] = [
    "localhost",
    "127.0.0.1",
    "compliance-server",
    "compliance-server.tigera-compliance",
    "compliance-server.tigera-compliance.svc",
    "compliance-server.tigera-compliance.svc.cluster.local",
];

/// A TLS configuration ready to serve, and what to say about its certificate.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate's DER, as `AB:CD:...`.
    pub fingerprint: String,
    pub self_signed: bool,
}

/// Why no certificate could be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot make a self-signed certificate: {0}")]
pub struct SelfSignError(String);

impl compliance_core::error::Classify for SelfSignError {
    fn kind(&self) -> compliance_core::error::ErrorKind {
        compliance_core::error::ErrorKind::Internal
    }
}

/// The SHA-256 fingerprint of a DER certificate, upper-case hex pairs joined by `:`
/// (what `openssl x509 -fingerprint -sha256` prints).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The certificate chain at `cert` and the key at `key`; errors name the variable that
/// named the file.
pub fn from_files(
    cert: &Path,
    key: &Path,
    (cert_var, key_var): (&str, &str),
) -> Result<ServerTls, ConfigError> {
    let cert_text = cert.display().to_string();
    let key_text = key.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| {
            ConfigError::new(cert_var, &cert_text, format!("not a PEM certificate: {e}"))
        })?;
    if chain.is_empty() {
        return Err(ConfigError::new(
            cert_var,
            &cert_text,
            "no CERTIFICATE block in the file",
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ConfigError::new(key_var, &key_text, format!("not a PEM private key: {e}")))?;
    let print = fingerprint(chain[0].as_ref());
    let config = server_config(chain, private).map_err(|e| {
        ConfigError::new(
            key_var,
            &key_text,
            format!("does not go with the certificate in {cert_text}: {e}"),
        )
    })?;
    Ok(ServerTls {
        config,
        fingerprint: print,
        self_signed: false,
    })
}

/// A fresh self-signed certificate for [`SELF_SIGNED_NAMES`].
pub fn self_signed() -> Result<ServerTls, SelfSignError> {
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| s.to_string()).collect();
    let made =
        rcgen::generate_simple_self_signed(names).map_err(|e| SelfSignError(e.to_string()))?;
    let der = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let print = fingerprint(der.as_ref());
    let config = server_config(vec![der], key).map_err(|e| SelfSignError(e.to_string()))?;
    Ok(ServerTls {
        config,
        fingerprint: print,
        self_signed: true,
    })
}

/// TLS 1.2 and 1.3 on ring, no client certificates, HTTP/1.1 offered by ALPN.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_openssls_format() {
        let f = fingerprint(b"abc");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("BA:78:16:BF:"), "{f}");
    }

    #[test]
    fn a_self_signed_certificate_serves() {
        let tls = self_signed().unwrap();
        assert!(tls.self_signed);
        assert_eq!(tls.config.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn files_are_read_and_mistakes_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["example.test".to_string()]).unwrap();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let tls = from_files(&cert, &key, ("TLS_CERT", "TLS_KEY")).unwrap();
        assert_eq!(tls.fingerprint, fingerprint(made.cert.der()));
        assert!(!tls.self_signed);

        let junk = dir.path().join("junk");
        std::fs::write(&junk, "not pem").unwrap();
        let e = from_files(&junk, &key, ("TLS_CERT", "TLS_KEY")).unwrap_err();
        assert_eq!(e.variable, "TLS_CERT");
        let e = from_files(&cert, &junk, ("TLS_CERT", "TLS_KEY")).unwrap_err();
        assert_eq!(e.variable, "TLS_KEY");
        // A key of another certificate.
        let other = rcgen::generate_simple_self_signed(vec!["x.test".to_string()]).unwrap();
        let wrong = dir.path().join("wrong.key");
        std::fs::write(&wrong, other.signing_key.serialize_pem()).unwrap();
        let e = from_files(&cert, &wrong, ("TLS_CERT", "TLS_KEY")).unwrap_err();
        assert_eq!(e.variable, "TLS_KEY");
    }
}
