//! HTTPS served directly: rustls with the ring provider, HTTP/2 and
//! HTTP/1.1 offered by ALPN, and the certificate files re-read when they
//! change (certbot renews them in place) without dropping a connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// How often the certificate files are looked at.
const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the TLS key {key} does not belong to the certificate {certificate}")]
    Mismatch { certificate: PathBuf, key: PathBuf },
    #[error("TLS set-up failed: {0}")]
    Setup(#[from] rustls::Error),
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug)]
struct Reloading {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let certificate_error = |reason: String| TlsError::Certificate {
        path: files.certificate.clone(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|err| certificate_error(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| certificate_error(err.to_string()))?;
    if chain.is_empty() {
        return Err(certificate_error("no PEM certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|err| TlsError::Key {
        path: files.key.clone(),
        reason: err.to_string(),
    })?;
    let signing_key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|err| TlsError::Key {
            path: files.key.clone(),
            reason: err.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    if certified.keys_match().is_err() {
        return Err(TlsError::Mismatch {
            certificate: files.certificate.clone(),
            key: files.key.clone(),
        });
    }
    Ok(certified)
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Loads the certificate (an error stops start-up) and keeps it current.
pub fn acceptor(files: TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let resolver = Arc::new(Reloading {
        current: ArcSwap::from_pointee(load(&files)?),
    });
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio::spawn(keep_current(files, resolver));
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn keep_current(files: TlsFiles, resolver: Arc<Reloading>) {
    let stamps = |files: &TlsFiles| (stamp(&files.certificate), stamp(&files.key));
    let mut loaded = stamps(&files);
    let mut ticker = tokio::time::interval(POLL);
    loop {
        ticker.tick().await;
        let now = stamps(&files);
        if now == loaded {
            continue;
        }
        // certbot writes the two files one after the other: wait for both
        // to settle before reading them.
        tokio::time::sleep(POLL).await;
        if stamps(&files) != now {
            continue;
        }
        loaded = now;
        match load(&files) {
            Ok(certified) => {
                resolver.current.store(Arc::new(certified));
                tracing::info!(certificate = %files.certificate.display(), "TLS certificate reloaded");
            }
            Err(err) => tracing::error!("{err}; still serving the previous certificate"),
        }
    }
}
