//! An etcd locked down the way docs/security.md recommends: clients only over TLS with a
//! certificate from the test CA, authentication enabled, and a `crony` user whose role may read
//! and write only keys under `/crony` (every test prefix starts so). An `outsider` user may
//! only use `/elsewhere/`.

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, Identity, Permission, TlsOptions};

use crate::etcd::{Etcd, ServerTls};
use crate::pki::TestPki;

pub const CRONY_USER: &str = "crony";
pub const CRONY_PASSWORD: &str = "crony-etcd-password";
pub const OUTSIDER_USER: &str = "outsider";
pub const OUTSIDER_PASSWORD: &str = "outsider-etcd-password";
const ROOT_PASSWORD: &str = "root-etcd-password";

pub struct SecureEtcd {
    pub etcd: Etcd,
    pub pki: TestPki,
    /// A client certificate whose common name is the `crony` user, and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    root_cert: PathBuf,
    root_key: PathBuf,
}

impl SecureEtcd {
    /// Starts etcd in `dir` with `--auth-token-ttl=token_ttl_secs` and sets up the users.
    pub async fn start(dir: &std::path::Path, token_ttl_secs: u64) -> anyhow::Result<Self> {
        let pki = TestPki::create(dir, "etcd")?;
        let (client_cert, client_key) = pki.client_cert(CRONY_USER)?;
        let (root_cert, root_key) = pki.client_cert("root")?;
        let mut tls = ServerTls::new(&pki.cert, &pki.key, &pki.ca);
        tls.auth_token_ttl_secs = token_ttl_secs;
        // Blocks this test's thread for etcd's start-up, as the shared etcd does.
        let etcd = Etcd::start_tls(tls)?;
        let secure = Self {
            etcd,
            pki,
            client_cert,
            client_key,
            root_cert,
            root_key,
        };
        secure.enable_auth().await?;
        Ok(secure)
    }

    pub fn endpoint(&self) -> String {
        self.etcd.endpoint()
    }

    /// The `CRONY_ETCD_*` settings of a process that is the `crony` user: the CA, the client
    /// certificate and the password.
    pub fn crony_settings(&self) -> Vec<(&'static str, String)> {
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        vec![
            ("CRONY_ETCD_USERNAME", CRONY_USER.to_owned()),
            ("CRONY_ETCD_PASSWORD", CRONY_PASSWORD.to_owned()),
            ("CRONY_ETCD_TLS_CA", path(&self.pki.ca)),
            ("CRONY_ETCD_TLS_CERT", path(&self.client_cert)),
            ("CRONY_ETCD_TLS_KEY", path(&self.client_key)),
        ]
    }

    /// TLS options of a client presenting `cert` and `key`.
    pub fn tls_options(&self, cert: &PathBuf, key: &PathBuf) -> anyhow::Result<TlsOptions> {
        let ca = etcd_client::Certificate::from_pem(std::fs::read(&self.pki.ca)?);
        let identity = Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?);
        Ok(TlsOptions::new().ca_certificate(ca).identity(identity))
    }

    /// A client authenticated as `user` with `password` that never refreshes its token.
    pub async fn client_as(&self, user: &str, password: &str) -> anyhow::Result<Client> {
        let options = ConnectOptions::new()
            .with_user(user, password)
            .with_tls(self.tls_options(&self.client_cert, &self.client_key)?)
            .with_connect_timeout(Duration::from_secs(3));
        Ok(Client::connect([self.endpoint()], Some(options)).await?)
    }

    /// root (by its certificate's common name): create the users and roles, enable auth.
    async fn enable_auth(&self) -> anyhow::Result<()> {
        let options = ConnectOptions::new()
            .with_tls(self.tls_options(&self.root_cert, &self.root_key)?)
            .with_connect_timeout(Duration::from_secs(3));
        let mut root = Client::connect([self.endpoint()], Some(options)).await?;
        root.role_add("root").await?;
        root.user_add("root", ROOT_PASSWORD, None).await?;
        root.user_grant_role("root", "root").await?;
        for (user, password, prefix) in [
            (CRONY_USER, CRONY_PASSWORD, "/crony"),
            (OUTSIDER_USER, OUTSIDER_PASSWORD, "/elsewhere/"),
        ] {
            root.role_add(user).await?;
            let permission = Permission::read_write(prefix).with_prefix();
            root.role_grant_permission(user, permission).await?;
            root.user_add(user, password, None).await?;
            root.user_grant_role(user, user).await?;
        }
        root.auth_enable().await?;
        Ok(())
    }
}
