//! Issue 13 (etcd is authenticated): schedulers and agents against an etcd that serves clients
//! only over TLS, wants a client certificate from the test CA and has authentication on (see
//! `crony_tests::secure_etcd`). The cluster runs, also after etcd has forgotten every idle auth
//! token; a wrong password, a missing or wrong CA, a missing client certificate and a role
//! without the prefix each stop a process at start with one line naming the setting.

mod common;

use std::process::Command;
use std::time::Duration;

use crony_tests::process::crony_command;
use crony_tests::secure_etcd::{CRONY_PASSWORD, CRONY_USER, OUTSIDER_PASSWORD, OUTSIDER_USER};
use crony_tests::{
    AgentProcess, SchedulerProcess, SecureEtcd, TestEnv, TestPki, shared_mariadb, wait_until,
};
use serde_json::json;
use tokio::sync::OnceCell;

/// etcd forgets a simple auth token this long after its last use.
const TOKEN_TTL: Duration = Duration::from_secs(2);
/// `CRONY_*` variables of a process, in order.
type Settings = Vec<(&'static str, String)>;

const WRONG_PASSWORD: &str = "not-the-etcd-password";

async fn secure_etcd() -> &'static SecureEtcd {
    static ETCD: OnceCell<SecureEtcd> = OnceCell::const_new();
    ETCD.get_or_init(|| async {
        let dir = tempfile::Builder::new()
            .prefix("crony-secure-etcd-")
            .tempdir()
            .expect("temp dir")
            .keep();
        crony_tests::process::remove_at_exit(&dir);
        SecureEtcd::start(&dir, TOKEN_TTL.as_secs())
            .await
            .unwrap_or_else(|e| panic!("cannot start the TLS + auth etcd: {e:#}"))
    })
    .await
}

/// `settings` as the `(&str, &str)` pairs the process helpers take.
fn pairs<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Which of `schedulers` leads, once exactly one does.
async fn leader_of(schedulers: &[SchedulerProcess; 2]) -> anyhow::Result<usize> {
    let urls: Vec<String> = schedulers.iter().map(|s| s.base_url.clone()).collect();
    wait_until("one leader elected", Duration::from_secs(20), || async {
        let mut leaders = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let (_, health) = common::get_json(&format!("{url}/healthz")).await?;
            if health["leader"] == true {
                leaders.push(i);
            }
        }
        match leaders[..] {
            [one] => Ok(Some(one)),
            [] => Err("no leader yet".into()),
            _ => Err("both claim to lead".into()),
        }
    })
    .await
    .map_err(|e| {
        e.context(format!(
            "logs: {} | {}",
            schedulers[0].log(),
            schedulers[1].log()
        ))
    })
}

/// Creates a shell job through `base` and waits until one of its executions succeeded.
async fn job_fires(base: &str, name: &str, logs: impl Fn() -> String) -> anyhow::Result<()> {
    let job = json!({"name": name, "schedule": "* * * * * *",
                     "target": {"kind": "shell", "command": "true"}});
    let id = common::create_job(base, &job)
        .await
        .map_err(anyhow::Error::msg)?;
    wait_until(
        &format!("job {name} fired and was recorded"),
        Duration::from_secs(30),
        || async {
            let done = common::executions_with(base, &id, "succeeded").await?;
            Ok((!done.is_empty()).then_some(()))
        },
    )
    .await
    .map_err(|e| e.context(logs()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_runs_on_tls_and_auth_etcd_and_outlives_its_auth_tokens() -> anyhow::Result<()> {
    let etcd = secure_etcd().await;
    let env = TestEnv::on(&etcd.etcd, shared_mariadb());
    let settings = etcd.crony_settings();
    let logs = env.path("logs");
    let spawn = || {
        SchedulerProcess::spawn_with(
            &env.etcd,
            &env.prefix,
            &env.db_url,
            &logs,
            &pairs(&settings),
        )
    };
    let mut schedulers = [spawn()?, spawn()?];
    let mut spec = env.agent_spec("agent").ttl(2);
    for (key, value) in &settings {
        spec = spec.env(key, value);
    }
    let mut agent = AgentProcess::spawn(spec)?;
    let agent_key = crony_common::registry::agent_key(&env.prefix, &agent.id().await?);
    let leader = leader_of(&schedulers).await?;
    let follower = 1 - leader;
    let follower_url = schedulers[follower].base_url.clone();
    common::online(&follower_url, 1).await?;
    job_fires(&follower_url, "before", || agent.log()).await?;
    let lease_before = lease_of(etcd, &agent_key).await?;

    // Let every token go idle past its TTL, and check that etcd did forget an idle one.
    let idle = etcd.client_as(CRONY_USER, CRONY_PASSWORD).await?;
    tokio::time::sleep(TOKEN_TTL * 3).await;
    let refused = idle.kv_client().get("/crony", None).await;
    let refused = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("invalid auth token"),
        "etcd should have forgotten the idle token: {refused:?}"
    );

    // The follower's campaign must go on with a fresh token: it takes over and places jobs.
    schedulers[leader].kill();
    wait_until(
        "the follower takes over",
        Duration::from_secs(15),
        || async {
            let (_, health) = common::get_json(&format!("{follower_url}/healthz")).await?;
            Ok((health["leader"] == true).then_some(()))
        },
    )
    .await
    .map_err(|e| e.context(schedulers[follower].log()))?;
    job_fires(&follower_url, "after", || {
        format!(
            "scheduler: {} agent: {}",
            schedulers[follower].log(),
            agent.log()
        )
    })
    .await?;
    // Its keep-alives went on all along with the token they opened with: same lease.
    assert_eq!(
        lease_of(etcd, &agent_key).await?,
        lease_before,
        "agent log: {}",
        agent.log()
    );
    agent.terminate().await?;
    Ok(())
}

/// The lease `key` is attached to, read with a fresh token.
async fn lease_of(etcd: &SecureEtcd, key: &str) -> anyhow::Result<i64> {
    let found = etcd
        .client_as(CRONY_USER, CRONY_PASSWORD)
        .await?
        .get(key, None)
        .await?;
    let kv = found
        .kvs()
        .first()
        .ok_or_else(|| anyhow::anyhow!("{key} not in etcd"))?;
    Ok(kv.lease())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_alone_is_enough_to_register() -> anyhow::Result<()> {
    let etcd = secure_etcd().await;
    let env = TestEnv::on(&etcd.etcd, shared_mariadb());
    // The certificate's common name is the etcd user; no password.
    let mut spec = env.agent_spec("agent").ttl(2);
    for (key, value) in etcd.crony_settings() {
        if !key.starts_with("CRONY_ETCD_USERNAME") && !key.starts_with("CRONY_ETCD_PASSWORD") {
            spec = spec.env(key, &value);
        }
    }
    let mut agent = AgentProcess::spawn(spec)?;
    let id = agent.id().await?;
    let key = crony_common::registry::agent_key(&env.prefix, &id);
    let mut reader = etcd.client_as(CRONY_USER, CRONY_PASSWORD).await?;
    wait_until(
        "the agent registered in etcd",
        Duration::from_secs(15),
        || {
            let key = key.clone();
            let mut reader = reader.clone();
            async move {
                let found = reader.get(key, None).await.map_err(|e| e.to_string())?;
                Ok((!found.kvs().is_empty()).then_some(()))
            }
        },
    )
    .await
    .map_err(|e| e.context(agent.log()))?;
    reader.get("/crony", None).await?;
    agent.terminate().await?;
    Ok(())
}

/// Runs `binary` with `env` (and no other CRONY_*), expecting it to fail at start; returns
/// its one error line (`crony-agent: …`).
fn start_up_error(binary: &str, env: &[(&str, &str)]) -> String {
    let mut command: Command = crony_command(binary);
    let dir = tempfile::tempdir().expect("temp dir");
    command
        .env("CRONY_AGENT_DATA_DIR", dir.path())
        .env("CRONY_AGENT_GRPC_ADDR", "127.0.0.1:0")
        .env("CRONY_AGENT_METRICS_ADDR", "127.0.0.1:0")
        .env("CRONY_HTTP_ADDR", "127.0.0.1:0")
        .env("CRONY_GRPC_ADDR", "127.0.0.1:0")
        .env("CRONY_ADMIN_PASSWORD", crony_tests::ADMIN_PASSWORD)
        .env("CRONY_CLUSTER_TOKEN", crony_tests::CLUSTER_TOKEN)
        .envs(env.iter().copied());
    let output = command.output().expect("binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{binary} {env:?} started; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{binary} panicked: {stderr}");
    let prefix = format!("{}: ", binary.replace("crony-test-", "crony-"));
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 1, "one error line expected; stderr: {stderr}");
    lines[0].to_owned()
}

/// `settings` with `key` replaced by `value` (removed when `value` is empty).
fn with(settings: &[(&'static str, String)], key: &'static str, value: &str) -> Settings {
    let mut changed: Vec<_> = settings
        .iter()
        .filter(|(k, _)| *k != key)
        .cloned()
        .collect();
    if !value.is_empty() {
        changed.push((key, value.to_owned()));
    }
    changed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_tls_settings_are_one_line_start_up_errors() -> anyhow::Result<()> {
    let etcd = secure_etcd().await;
    let env = TestEnv::on(&etcd.etcd, shared_mariadb());
    let good = etcd.crony_settings();
    let other_ca = TestPki::create(&env.path("other-pki"), "other")?;
    let plain = env.etcd.replacen("https://", "http://", 1);
    let cases: Vec<(&str, Settings, Vec<&str>)> = vec![
        (
            "crony-test-agent",
            with(&good, "CRONY_ETCD_PASSWORD", WRONG_PASSWORD),
            vec!["CRONY_ETCD_USERNAME", "CRONY_ETCD_PASSWORD"],
        ),
        (
            "crony-test-scheduler",
            with(&good, "CRONY_ETCD_PASSWORD", WRONG_PASSWORD),
            vec!["CRONY_ETCD_USERNAME", "CRONY_ETCD_PASSWORD"],
        ),
        (
            "crony-test-agent",
            with(&good, "CRONY_ETCD_USERNAME", "nobody"),
            vec!["CRONY_ETCD_PASSWORD"],
        ),
        (
            "crony-test-agent",
            with(&good, "CRONY_ETCD_TLS_CA", other_ca.ca_str()),
            vec!["CRONY_ETCD_TLS_CA", other_ca.ca_str()],
        ),
        (
            "crony-test-agent",
            with(&good, "CRONY_ETCD_TLS_CA", ""),
            vec!["CRONY_ETCD_TLS_CA"],
        ),
        (
            "crony-test-agent",
            with(
                &with(&good, "CRONY_ETCD_TLS_CERT", ""),
                "CRONY_ETCD_TLS_KEY",
                "",
            ),
            vec!["CRONY_ETCD_TLS_CERT"],
        ),
        (
            "crony-test-agent",
            with(
                &with(&good, "CRONY_ETCD_USERNAME", OUTSIDER_USER),
                "CRONY_ETCD_PASSWORD",
                OUTSIDER_PASSWORD,
            ),
            vec!["CRONY_ETCD_PREFIX", OUTSIDER_USER],
        ),
    ];
    let mut runs = Vec::new();
    for (binary, settings, named) in cases {
        let mut env_vars = vec![
            ("CRONY_ETCD_ENDPOINTS", env.etcd.clone()),
            ("CRONY_ETCD_PREFIX", env.prefix.clone()),
            ("CRONY_DATABASE_URL", env.db_url.clone()),
        ];
        env_vars.extend(settings);
        let named: Vec<String> = named.into_iter().map(str::to_owned).collect();
        runs.push(tokio::task::spawn_blocking(move || {
            let line = start_up_error(binary, &pairs(&env_vars));
            (binary, env_vars, named, line)
        }));
    }
    // TLS settings against a plain etcd.
    let plain_etcd = crony_tests::shared_etcd()
        .endpoint()
        .replacen("http://", "https://", 1);
    let ca = etcd.pki.ca_str().to_owned();
    runs.push(tokio::task::spawn_blocking(move || {
        let env_vars = vec![
            ("CRONY_ETCD_ENDPOINTS", plain_etcd),
            ("CRONY_ETCD_TLS_CA", ca),
        ];
        let line = start_up_error("crony-test-agent", &pairs(&env_vars));
        (
            "crony-test-agent",
            env_vars,
            vec!["does not serve TLS".to_owned()],
            line,
        )
    }));
    // Without any TLS setting against the TLS etcd: plain http:// to its port.
    runs.push(tokio::task::spawn_blocking(move || {
        let env_vars = vec![("CRONY_ETCD_ENDPOINTS", plain)];
        let line = start_up_error("crony-test-agent", &pairs(&env_vars));
        (
            "crony-test-agent",
            env_vars,
            vec!["https://".to_owned()],
            line,
        )
    }));
    for run in runs {
        let (binary, env_vars, named, line) = run.await?;
        eprintln!("{binary}: {line}");
        for name in &named {
            assert!(
                line.contains(name.as_str()),
                "{binary} with {env_vars:?}: {line:?} should name {name}"
            );
        }
        assert!(
            !line.contains(CRONY_PASSWORD) && !line.contains(WRONG_PASSWORD),
            "no password in {line:?}"
        );
    }
    Ok(())
}
