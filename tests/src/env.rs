//! One test's private corner of the shared services: its own etcd prefix, database and temp dir.

use std::path::Path;

use crate::cluster::AgentSpec;
use crate::{Etcd, MariaDb, shared_etcd, shared_mariadb, unique_name};

pub struct TestEnv {
    pub etcd: String,
    pub prefix: String,
    pub db_url: String,
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// On the etcd and MariaDB shared by this test binary.
    pub fn shared() -> Self {
        Self::on(shared_etcd(), shared_mariadb())
    }

    /// On given servers (a test that kills one brings its own).
    pub fn on(etcd: &Etcd, db: &MariaDb) -> Self {
        Self {
            etcd: etcd.endpoint(),
            prefix: format!("/{}", unique_name("crony")),
            db_url: db.url(&unique_name("crony")),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// An agent of this environment whose data lives in `<dir>/<name>`.
    pub fn agent_spec(&self, name: &str) -> AgentSpec {
        AgentSpec::new(&self.etcd, &self.prefix, &self.path(name))
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        Path::join(self.dir.path(), name)
    }
}
