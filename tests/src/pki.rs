//! A throw-away certificate authority for TLS tests: a CA and a leaf certificate for
//! `127.0.0.1` and `localhost`, written as PEM files into a directory, the way an operator
//! would hand them to Crony through `CRONY_TLS_*`, and client certificates for a given name. The
//! leaf serves TLS and is the process's client certificate under mutual TLS, so it carries both
//! extended key usages.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

pub struct TestPki {
    /// The CA certificate (what `CRONY_TLS_CA` names).
    pub ca: PathBuf,
    /// The leaf certificate for 127.0.0.1 / localhost, signed by the CA, and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
    dir: PathBuf,
    name: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestPki {
    /// Writes `{name}-ca.pem`, `{name}-cert.pem` and `{name}-key.pem` into `dir`.
    pub fn create(dir: &Path, name: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("Crony test CA {name}"));
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let leaf_key = KeyPair::generate()?;
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, format!("crony {name}"));
        leaf.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let leaf = leaf.signed_by(&leaf_key, &ca)?;

        let pki = Self {
            ca: dir.join(format!("{name}-ca.pem")),
            cert: dir.join(format!("{name}-cert.pem")),
            key: dir.join(format!("{name}-key.pem")),
            dir: dir.to_owned(),
            name: name.to_owned(),
            issuer: ca,
        };
        std::fs::write(&pki.ca, pki.issuer.pem())?;
        std::fs::write(&pki.cert, leaf.pem())?;
        std::fs::write(&pki.key, leaf_key.serialize_pem())?;
        Ok(pki)
    }

    /// A client certificate (and its key) for `common_name`, signed by the CA, written as
    /// `{name}-client-{common_name}-cert.pem` and `…-key.pem`.
    pub fn client_cert(&self, common_name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        let stem = format!("{}-client-{common_name}", self.name);
        let (cert_path, key_path) = (
            self.dir.join(format!("{stem}-cert.pem")),
            self.dir.join(format!("{stem}-key.pem")),
        );
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        Ok((cert_path, key_path))
    }

    pub fn ca_str(&self) -> &str {
        self.ca.to_str().unwrap_or_default()
    }

    pub fn cert_str(&self) -> &str {
        self.cert.to_str().unwrap_or_default()
    }

    pub fn key_str(&self) -> &str {
        self.key.to_str().unwrap_or_default()
    }

    /// A reqwest client that trusts this CA and presents the test admin token.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca)?)?;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", crate::ADMIN_TOKEN))?,
        );
        Ok(reqwest::Client::builder()
            .add_root_certificate(ca)
            .default_headers(headers)
            .build()?)
    }
}
