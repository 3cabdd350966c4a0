//! Optional TLS for Crony's own connections (the HTTP API, `ReportService`, `AgentService`):
//! the PEM files named by `CRONY_TLS_CERT`, `CRONY_TLS_KEY`, `CRONY_TLS_CA` and
//! `CRONY_TLS_CLIENT_CA` are read and checked once, at start, so a bad file stops the process
//! with one line naming the setting and the path instead of failing the first handshake
//! minutes later.
//!
//! Mutual TLS: with `CRONY_TLS_CLIENT_CA`, the gRPC services ask every caller for a
//! certificate chaining to it; every gRPC client presents this process's own certificate
//! (so it needs the clientAuth extended key usage, or none). The HTTP API never asks for one:
//! browsers and scripts use accounts and API tokens there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::settings::{ConfigError, Origin, Setting, Sources};

pub const TLS_CERT: Setting = Setting::new(
    "tls_cert",
    "CRONY_TLS_CERT",
    "PEM certificate chain; with tls_key, this process serves TLS (and presents it as its client certificate on gRPC calls) [default: none, plain]",
);
pub const TLS_KEY: Setting = Setting::new(
    "tls_key",
    "CRONY_TLS_KEY",
    "PEM private key of tls_cert [default: none]",
);
pub const TLS_CA: Setting = Setting::new(
    "tls_ca",
    "CRONY_TLS_CA",
    "PEM CA bundle that verifies peers' TLS certificates [default: the webpki roots]",
);
pub const TLS_CLIENT_CA: Setting = Setting::new(
    "tls_client_ca",
    "CRONY_TLS_CLIENT_CA",
    "PEM CA bundle: gRPC callers must present a certificate it signed (mutual TLS; needs tls_cert and tls_key; the HTTP API is not affected) [default: none]",
);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds a certificate that cannot be used: {message}")]
    BadCertificate { path: PathBuf, message: String },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("the key in {key} cannot be used with the certificate in {cert}: {message}")]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// Rustls has two crypto back-ends and panics ("no process-level CryptoProvider") when a
/// config is built without one chosen; Crony uses ring everywhere (reqwest and lettre do too).
pub fn install_crypto_provider() {
    // Err only means one is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A certificate chain and its key, checked to belong together.
#[derive(Clone)]
pub struct ServerIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    /// For the HTTP API, which speaks both HTTP/1.1 and HTTP/2.
    rustls: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("ServerIdentity { .. }")
    }
}

impl ServerIdentity {
    /// Reads and checks `cert` and `key`. The error names the file at fault; its variant says
    /// which of the two settings to blame ([`TlsError::KeyMismatch`] and `NoKey`: the key).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let cert_pem = read(cert)?;
        let key_pem = read(key)?;
        let certs = certificates(cert, &cert_pem)?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
            path: key.to_owned(),
        })?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::BadCertificate {
            path: cert.to_owned(),
            message: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| TlsError::KeyMismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
            message: e.to_string(),
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            cert_pem,
            key_pem,
            rustls: Arc::new(config),
        })
    }

    /// For a tonic server (`Server::builder().tls_config(..)`); with `client_ca`, a caller
    /// without a certificate it signed fails the handshake.
    pub fn tonic(&self, client_ca: Option<&CaBundle>) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity());
        match client_ca {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca.pem())),
            None => config,
        }
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }

    /// For an HTTP server on tokio-rustls (ALPN h2 and http/1.1).
    pub fn rustls(&self) -> Arc<rustls::ServerConfig> {
        self.rustls.clone()
    }
}

/// The CA certificates that verify the peers this process connects to.
#[derive(Clone)]
pub struct CaBundle {
    pem: Vec<u8>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaBundle { .. }")
    }
}

impl CaBundle {
    pub fn load(path: &Path) -> Result<Self, TlsError> {
        let pem = read(path)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in certificates(path, &pem)? {
            roots.add(cert).map_err(|e| TlsError::BadCertificate {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        }
        Ok(Self { pem })
    }

    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

/// The client side of a TLS connection to a Crony peer: verified by `ca` when given, else by
/// the webpki roots (a certificate from a public CA). With `identity`, this process presents
/// it when the peer asks for a client certificate (mutual TLS).
pub fn client_config(ca: Option<&CaBundle>, identity: Option<&ServerIdentity>) -> ClientTlsConfig {
    let config = match ca {
        Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())),
        None => ClientTlsConfig::new().with_webpki_roots(),
    };
    match identity {
        Some(identity) => config.identity(identity.identity()),
        None => config,
    }
}

/// Both halves of a process's TLS settings.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `Some`: serve TLS with this identity.
    pub identity: Option<ServerIdentity>,
    /// Verifies peers when this process dials them over TLS.
    pub ca: Option<CaBundle>,
    /// `Some`: the gRPC service requires client certificates signed by it.
    pub client_ca: Option<CaBundle>,
}

impl TlsSettings {
    /// Reads [`TLS_CERT`], [`TLS_KEY`], [`TLS_CA`] and [`TLS_CLIENT_CA`] (both of cert and
    /// key, or neither; the client CA only with them).
    pub fn load(src: &Sources) -> Result<Self, ConfigError> {
        let path = |r: &str| {
            if r.is_empty() {
                Err("must be a file path".to_owned())
            } else {
                Ok(PathBuf::from(r))
            }
        };
        let cert = src.get(&TLS_CERT, path)?;
        let key = src.get(&TLS_KEY, path)?;
        let origin = |setting: &Setting| {
            src.raw(setting)
                .map_or(Origin::Env(setting.env), |(_, origin)| origin)
        };
        let invalid = |setting: &Setting, message: String| ConfigError::Invalid {
            origin: origin(setting),
            message,
        };
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    &TLS_CERT,
                    format!(
                        "{} must be set too (TLS needs the certificate and its private key)",
                        TLS_KEY.env
                    ),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    &TLS_KEY,
                    format!(
                        "{} must be set too (TLS needs the certificate and its private key)",
                        TLS_CERT.env
                    ),
                ));
            }
            (Some(cert), Some(key)) => Some(ServerIdentity::load(&cert, &key).map_err(|e| {
                let blame = match &e {
                    TlsError::Read { path, .. } if *path == key => &TLS_KEY,
                    TlsError::NoKey { .. } | TlsError::KeyMismatch { .. } => &TLS_KEY,
                    _ => &TLS_CERT,
                };
                invalid(blame, e.to_string())
            })?),
        };
        let bundle = |setting: &Setting| -> Result<Option<CaBundle>, ConfigError> {
            match src.get(setting, path)? {
                None => Ok(None),
                Some(file) => CaBundle::load(&file)
                    .map(Some)
                    .map_err(|e| invalid(setting, e.to_string())),
            }
        };
        let ca = bundle(&TLS_CA)?;
        let client_ca = bundle(&TLS_CLIENT_CA)?;
        if client_ca.is_some() && identity.is_none() {
            return Err(invalid(&TLS_CLIENT_CA, CLIENT_CA_NEEDS_IDENTITY.to_owned()));
        }
        Ok(Self {
            identity,
            ca,
            client_ca,
        })
    }
}

/// Why mutual TLS needs this process's own certificate: the service must serve TLS to ask for
/// client certificates, and the peers this process calls will ask it for one in turn.
pub const CLIENT_CA_NEEDS_IDENTITY: &str = "needs CRONY_TLS_CERT and CRONY_TLS_KEY too (mutual TLS: this process serves TLS and presents that certificate when it calls its peers)";

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_garbage_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let err = ServerIdentity::load(&missing, &garbage).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }), "{err}");
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let err = CaBundle::load(&garbage).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        assert!(err.to_string().contains("garbage.pem"), "{err}");
    }
}
