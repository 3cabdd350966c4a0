//! How a Crony process proves itself to etcd and checks that it talks to the real one: a user
//! and password (`CRONY_ETCD_USERNAME`, `CRONY_ETCD_PASSWORD`), a client certificate
//! (`CRONY_ETCD_TLS_CERT`, `CRONY_ETCD_TLS_KEY`) and the CA that verifies etcd's certificate
//! (`CRONY_ETCD_TLS_CA`). Files are read and checked once, at start, so a bad one stops the
//! process with one line naming the setting and the path.

use std::path::{Path, PathBuf};

use etcd_client::{Certificate, Identity, TlsOptions};

use crate::settings::{ConfigError, Origin, Setting, Sources};
use crate::tls::{CaBundle, ServerIdentity, TlsError};

pub const ETCD_USERNAME: Setting = Setting::new(
    "etcd_username",
    "CRONY_ETCD_USERNAME",
    "etcd user (with etcd_password) this process authenticates as [default: none]",
);
pub const ETCD_PASSWORD: Setting = Setting::secret(
    "etcd_password",
    "CRONY_ETCD_PASSWORD",
    "password of etcd_username [default: none]",
);
pub const ETCD_TLS_CA: Setting = Setting::new(
    "etcd_tls_ca",
    "CRONY_ETCD_TLS_CA",
    "PEM CA bundle that verifies etcd's certificate (https:// endpoints) [default: the webpki roots]",
);
pub const ETCD_TLS_CERT: Setting = Setting::new(
    "etcd_tls_cert",
    "CRONY_ETCD_TLS_CERT",
    "PEM client certificate presented to etcd (with etcd_tls_key) [default: none]",
);
pub const ETCD_TLS_KEY: Setting = Setting::new(
    "etcd_tls_key",
    "CRONY_ETCD_TLS_KEY",
    "PEM private key of etcd_tls_cert [default: none]",
);

/// The settings above, for a binary's settings table.
pub const ETCD_ACCESS_SETTINGS: [Setting; 5] = [
    ETCD_USERNAME,
    ETCD_PASSWORD,
    ETCD_TLS_CA,
    ETCD_TLS_CERT,
    ETCD_TLS_KEY,
];

/// An etcd user. The password never appears in `Debug`.
#[derive(Clone)]
pub struct EtcdUser {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for EtcdUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtcdUser {{ name: {:?}, .. }}", self.name)
    }
}

/// The TLS side of talking to etcd over `https://`.
#[derive(Clone, Default)]
pub struct EtcdTls {
    /// `None`: etcd's certificate must chain to a public (webpki) root.
    pub ca: Option<(PathBuf, CaBundle)>,
    /// The client certificate and key, as PEM, with the certificate's path for messages.
    pub identity: Option<(PathBuf, Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("EtcdTls")
            .field("ca", &self.ca.as_ref().map(|(path, _)| path))
            .field("cert", &self.identity.as_ref().map(|(path, ..)| path))
            .finish()
    }
}

impl EtcdTls {
    /// The client TLS configuration the etcd client dials with.
    pub fn options(&self) -> TlsOptions {
        let options = match &self.ca {
            Some((_, ca)) => TlsOptions::new().ca_certificate(Certificate::from_pem(ca.pem())),
            None => TlsOptions::new().with_webpki_roots(),
        };
        match &self.identity {
            Some((_, cert, key)) => options.identity(Identity::from_pem(cert, key)),
            None => options,
        }
    }
}

/// Everything [`crate::etcd::connect`] needs besides the endpoints.
#[derive(Debug, Clone, Default)]
pub struct EtcdAccess {
    pub user: Option<EtcdUser>,
    /// `Some` exactly when the endpoints are `https://`.
    pub tls: Option<EtcdTls>,
}

impl EtcdAccess {
    /// Reads the `CRONY_ETCD_*` access settings for `endpoints` (already parsed): user and
    /// password both or neither, certificate and key both or neither, TLS settings only with
    /// `https://` endpoints, and `https://` or `http://` for all endpoints alike.
    pub fn load(src: &Sources, endpoints: &[String]) -> Result<Self, ConfigError> {
        let invalid = |setting: &Setting, message: String| ConfigError::Invalid {
            origin: src
                .raw(setting)
                .map_or(Origin::Env(setting.env), |(_, origin)| origin),
            message,
        };
        let user = match (
            src.get(&ETCD_USERNAME, non_empty)?,
            src.get(&ETCD_PASSWORD, non_empty)?,
        ) {
            (None, None) => None,
            (Some(name), Some(password)) => Some(EtcdUser { name, password }),
            (Some(_), None) => return Err(invalid(&ETCD_USERNAME, both(&ETCD_PASSWORD))),
            (None, Some(_)) => return Err(invalid(&ETCD_PASSWORD, both(&ETCD_USERNAME))),
        };
        let ca = match src.get(&ETCD_TLS_CA, path)? {
            None => None,
            Some(path) => {
                let ca = CaBundle::load(&path).map_err(|e| invalid(&ETCD_TLS_CA, e.to_string()))?;
                Some((path, ca))
            }
        };
        let identity = match (
            src.get(&ETCD_TLS_CERT, path)?,
            src.get(&ETCD_TLS_KEY, path)?,
        ) {
            (None, None) => None,
            (Some(_), None) => return Err(invalid(&ETCD_TLS_CERT, both(&ETCD_TLS_KEY))),
            (None, Some(_)) => return Err(invalid(&ETCD_TLS_KEY, both(&ETCD_TLS_CERT))),
            (Some(cert), Some(key)) => Some(load_identity(&cert, &key).map_err(|e| {
                let blame = match &e {
                    TlsError::Read { path, .. } if *path == key => &ETCD_TLS_KEY,
                    TlsError::NoKey { .. } | TlsError::KeyMismatch { .. } => &ETCD_TLS_KEY,
                    _ => &ETCD_TLS_CERT,
                };
                invalid(blame, e.to_string())
            })?),
        };
        let https = endpoints
            .iter()
            .filter(|e| e.starts_with("https://"))
            .count();
        if https > 0 && https < endpoints.len() {
            return Err(invalid(
                &ENDPOINTS,
                "use https:// for every endpoint or for none".into(),
            ));
        }
        if https == 0 {
            let given = [
                (&ETCD_TLS_CA, ca.is_some()),
                (&ETCD_TLS_CERT, identity.is_some()),
            ];
            if let Some((setting, _)) = given.iter().find(|(_, set)| *set) {
                return Err(invalid(
                    &ENDPOINTS,
                    format!(
                        "{} is set, so etcd is reached over TLS: the endpoints must be https://",
                        setting.env
                    ),
                ));
            }
            return Ok(Self { user, tls: None });
        }
        Ok(Self {
            user,
            tls: Some(EtcdTls { ca, identity }),
        })
    }

    /// No user and no client certificate: anyone who can reach etcd is as trusted as Crony.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_none() && self.tls.as_ref().is_none_or(|t| t.identity.is_none())
    }
}

/// Only for naming the endpoints in errors: each binary defines the setting itself.
const ENDPOINTS: Setting = Setting::new("etcd_endpoints", "CRONY_ETCD_ENDPOINTS", "");

fn both(other: &Setting) -> String {
    format!("{} must be set too (both or neither)", other.env)
}

fn non_empty(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(raw.to_owned())
    }
}

fn path(raw: &str) -> Result<PathBuf, String> {
    if raw.is_empty() {
        Err("must be a file path".into())
    } else {
        Ok(PathBuf::from(raw))
    }
}

/// Reads the client certificate and key. They are checked to be PEM and to belong together
/// the same way a server identity is ([`ServerIdentity::load`]), since rustls checks a pair
/// alike whichever side presents it.
fn load_identity(cert: &Path, key: &Path) -> Result<(PathBuf, Vec<u8>, Vec<u8>), TlsError> {
    ServerIdentity::load(cert, key)?;
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    Ok((cert.to_owned(), read(cert)?, read(key)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::ffi::OsString;

    static SETTINGS: &[Setting] = &[
        ETCD_USERNAME,
        ETCD_PASSWORD,
        ETCD_TLS_CA,
        ETCD_TLS_CERT,
        ETCD_TLS_KEY,
        ENDPOINTS,
    ];

    fn load(env: &[(&str, &str)], endpoints: &[&str]) -> Result<EtcdAccess, String> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let src = Sources::load("test", "", SETTINGS, [OsString::from("test")], |k| {
            env.get(k).cloned()
        })
        .map_err(|e| e.to_string())?;
        let endpoints: Vec<String> = endpoints.iter().map(|e| e.to_string()).collect();
        EtcdAccess::load(&src, &endpoints).map_err(|e| e.to_string())
    }

    #[test]
    fn user_and_password_come_together() {
        let plain = ["http://127.0.0.1:2379"];
        let err = load(&[("CRONY_ETCD_USERNAME", "crony")], &plain).unwrap_err();
        assert!(
            err.starts_with("invalid CRONY_ETCD_USERNAME:") && err.contains("CRONY_ETCD_PASSWORD"),
            "{err}"
        );
        let err = load(&[("CRONY_ETCD_PASSWORD", "pw")], &plain).unwrap_err();
        assert!(err.starts_with("invalid CRONY_ETCD_PASSWORD:"), "{err}");
        let both = [
            ("CRONY_ETCD_USERNAME", "crony"),
            ("CRONY_ETCD_PASSWORD", "pw"),
        ];
        let access = load(&both, &plain).unwrap();
        assert_eq!(access.user.as_ref().unwrap().name, "crony");
        assert!(!format!("{access:?}").contains("pw"), "{access:?}");
        assert!(access.tls.is_none() && !access.is_anonymous());
        assert!(load(&[], &plain).unwrap().is_anonymous());
    }

    #[test]
    fn tls_files_are_checked_and_need_https() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing-ca.pem");
        let missing = missing.to_str().unwrap();
        let https = ["https://127.0.0.1:2379"];
        let err = load(&[("CRONY_ETCD_TLS_CA", missing)], &https).unwrap_err();
        assert!(
            err.starts_with("invalid CRONY_ETCD_TLS_CA:") && err.contains("missing-ca.pem"),
            "{err}"
        );
        let err = load(&[("CRONY_ETCD_TLS_CERT", missing)], &https).unwrap_err();
        assert!(
            err.starts_with("invalid CRONY_ETCD_TLS_CERT:") && err.contains("CRONY_ETCD_TLS_KEY"),
            "{err}"
        );
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem\n").unwrap();
        let garbage = garbage.to_str().unwrap();
        let err = load(&[("CRONY_ETCD_TLS_CA", garbage)], &["http://a:1"]).unwrap_err();
        assert!(err.contains("garbage.pem"), "{err}");
        // https without a CA: the webpki roots verify etcd.
        let access = load(&[], &https).unwrap();
        assert!(access.tls.is_some_and(|t| t.ca.is_none()));
        let err = load(&[], &["https://a:1", "http://b:1"]).unwrap_err();
        assert!(err.starts_with("invalid CRONY_ETCD_ENDPOINTS:"), "{err}");
    }
}
