//! TLS for the HTTP server (rustls with the `ring` provider): a certificate chain and key
//! from PEM files, and optionally a client CA for mutual TLS (clients must then present a
//! certificate it signed). Loaded once at startup; errors name the file and what was wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// Where the server's TLS material is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain (server certificate first).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA certificates; when set, clients must present a certificate signed by one.
    pub client_ca_file: Option<PathBuf>,
}

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |e: String| Error::Config(format!("{what} {}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// Builds the acceptor for `c`.
pub fn acceptor(c: &TlsConfig) -> Result<TlsAcceptor> {
    let chain = certs(&c.cert_file, "TLS certificate")?;
    let key = PrivateKeyDer::from_pem_file(&c.key_file)
        .map_err(|e| Error::Config(format!("TLS key {}: {e}", c.key_file.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    let builder = match &c.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs(ca, "TLS client CA")? {
                roots
                    .add(cert)
                    .map_err(|e| Error::Config(format!("TLS client CA {}: {e}", ca.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| Error::Config(format!("TLS client CA {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        Error::Config(format!(
            "TLS certificate {} and key {}: {e}",
            c.cert_file.display(),
            c.key_file.display()
        ))
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem at all\n").unwrap();
        let c = TlsConfig {
            cert_file: junk.clone(),
            key_file: junk.clone(),
            client_ca_file: None,
        };
        let e = acceptor(&c).err().expect("an error").to_string();
        assert!(e.contains("junk.pem") && e.contains("certificate"), "{e}");
        let c = TlsConfig {
            cert_file: dir.path().join("missing.pem"),
            ..c
        };
        let e = acceptor(&c).err().expect("an error").to_string();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
