//! Upgrades and backups on a real MariaDB: the schema and data of the previous release
//! (a `mariadb-dump` of a cluster at migration 20261203000013, in `tests/fixtures/upgrade/`)
//! restored, `crony-scheduler migrate --dry-run` listing and writing nothing, `migrate`
//! upgrading, and jobs, executions, accounts and tokens surviving into a running cluster; a
//! scheduler older than its schema still starting; a dump with its `CRONY_SECRET_KEY` restored
//! into a new database running the same jobs with the same secrets.

mod common;

use std::time::Duration;

use serde_json::json;

use common::send;
use crony_tests::process::crony_command;
use crony_tests::wait::wait_until;
use crony_tests::{HttpSink, MariaDb, TestEnv, TestScheduler, shared_mariadb, unique_name};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/upgrade/crony-20261203000013.sql"
);
/// The operator token and the user of the fixture (made in the cluster it was dumped from).
const FIXTURE_TOKEN: &str = "crony_slSJJDiTdOanlSUPG28XS2EDtqvr1hLP";
const FIXTURE_USER: (&str, &str) = ("olga", "olga-password-123");
const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Runs the MariaDB client on `database`, feeding it `sql`.
async fn mariadb(db: &MariaDb, database: &str, sql: &[u8]) -> anyhow::Result<String> {
    let port = db.port().to_string();
    let mut child = tokio::process::Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            "-P",
            &port,
            "-uroot",
            "--batch",
            "--skip-column-names",
        ])
        .arg(database)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("the MariaDB client `mariadb` (package mariadb-client): {e}")
        })?;
    let mut stdin = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, sql).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    anyhow::ensure!(
        out.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A new database holding `dump`.
async fn restored(db: &MariaDb, dump: &[u8]) -> anyhow::Result<String> {
    let name = unique_name("restored");
    mariadb(db, "", format!("CREATE DATABASE `{name}`").as_bytes()).await?;
    mariadb(db, &name, dump).await?;
    Ok(name)
}

/// `crony-scheduler migrate args…` on `url`: exit status and output.
async fn migrate(url: &str, args: &[&str]) -> anyhow::Result<(bool, String)> {
    // This package's build of the scheduler (`cargo test` builds it; it is `crony-scheduler`).
    let mut command = crony_command("crony-test-scheduler");
    command
        .arg("migrate")
        .args(args)
        .env("CRONY_DATABASE_URL", url);
    let out = tokio::process::Command::from(command).output().await?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

async fn has_source_column(db: &MariaDb, database: &str) -> anyhow::Result<bool> {
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{database}' \
         AND TABLE_NAME = 'audit_log' AND COLUMN_NAME = 'source'"
    );
    Ok(mariadb(db, "", sql.as_bytes()).await?.trim() == "1")
}

fn bearer(request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    request.bearer_auth(token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_release_upgrades_with_its_jobs_executions_and_accounts() -> anyhow::Result<()>
{
    let db = shared_mariadb();
    let name = restored(db, &std::fs::read(FIXTURE)?).await?;
    let url = db.url(&name);

    let (ok, planned) = migrate(&url, &["--dry-run"]).await?;
    assert!(ok, "{planned}");
    assert!(
        planned.contains("2 pending")
            && planned.contains("20261204000014")
            && planned.contains("20261205000016"),
        "{planned}"
    );
    assert!(
        !has_source_column(db, &name).await?,
        "a dry run changed the schema"
    );
    let (ok, applied) = migrate(&url, &[]).await?;
    assert!(ok && applied.contains("applied 2 migration"), "{applied}");
    assert!(has_source_column(db, &name).await?);
    let (_, again) = migrate(&url, &["--dry-run"]).await?;
    assert!(again.contains("0 pending"), "{again}");

    let mut env = TestEnv::shared();
    env.db_url = url;
    let (s, _agent) = common::scheduler_and_agent(&env).await?;
    let client = reqwest::Client::new();
    // The fixture's own operator token still works, and sees the jobs as they were.
    let (status, me) = send(bearer(client.get(s.url("/api/v1/auth/me")), FIXTURE_TOKEN)).await?;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "operator");
    let (_, report) = send(bearer(
        client.get(s.url("/api/v1/jobs/by-name/report-http")),
        FIXTURE_TOKEN,
    ))
    .await?;
    assert_eq!(report["timezone"], "Asia/Shanghai", "{report}");
    assert_eq!(report["retry"]["max_retries"], 2);
    assert_eq!(report["target"]["headers"]["Authorization"], "********");
    assert_eq!(report["alerts"]["emails"], json!(["ops@example.com"]));
    let (_, list) = send(bearer(client.get(s.url("/api/v1/jobs")), FIXTURE_TOKEN)).await?;
    assert_eq!(list["jobs"].as_array().map(Vec::len), Some(3), "{list}");
    // The executions of before: the failed manual run with its three attempts among them.
    let (_, runs) = send(bearer(
        client.get(s.url("/api/v1/executions?limit=100")),
        FIXTURE_TOKEN,
    ))
    .await?;
    let runs = runs["executions"].as_array().cloned().unwrap_or_default();
    let failed = runs
        .iter()
        .find(|e| e["trigger"] == "manual")
        .expect("the manual run");
    assert_eq!(
        (failed["status"].clone(), failed["attempt_count"].clone()),
        (json!("failed"), json!(3))
    );
    assert!(
        runs.iter().filter(|e| e["status"] == "succeeded").count() >= 2,
        "{runs:?}"
    );
    // The user signs in with her password; the old audit rows read back, with no source.
    let (user, password) = FIXTURE_USER;
    let login = json!({"username": user, "password": password});
    let (status, body) = send(client.post(s.url("/api/v1/auth/login")).json(&login)).await?;
    assert_eq!(status, 200, "{body}");
    let (_, audit) = send(crony_tests::api_client().get(s.url("/api/v1/audit?limit=100"))).await?;
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "job.pause" && e["source"].is_null()),
        "{audit}"
    );

    // And the upgraded cluster runs the old jobs: the paused shell job resumed fires again.
    let id = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "hello-shell")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resumed = client.post(s.url(&format!("/api/v1/jobs/{id}/resume")));
    let (status, _) = send(bearer(resumed, crony_tests::ADMIN_TOKEN)).await?;
    assert_eq!(status, 200);
    let succeeded = format!(
        "{}/api/v1/executions?job_id={id}&status=succeeded&limit=500",
        s.base_url
    );
    let count = |page: &serde_json::Value| page["executions"].as_array().map_or(0, Vec::len);
    let before = count(
        &common::get_json(&succeeded)
            .await
            .map_err(anyhow::Error::msg)?
            .1,
    );
    wait_until("the resumed job fires", Duration::from_secs(30), || {
        let url = succeeded.clone();
        async move {
            let (_, page) = common::get_json(&url).await?;
            Ok((count(&page) > before).then_some(()))
        }
    })
    .await?;
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_older_than_its_schema_still_starts() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    s.stop().await;
    // A newer scheduler ran on this database: its migration is one this binary does not know.
    let database = env.db_url.rsplit('/').next().unwrap().to_owned();
    let newer = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (99991231000001, 'from a newer release', 1, x'00', 1)";
    mariadb(shared_mariadb(), &database, newer.as_bytes()).await?;
    let (ok, report) = migrate(&env.db_url, &["--dry-run"]).await?;
    assert!(ok && report.contains("newer than this binary"), "{report}");
    let s = TestScheduler::start(&env.etcd, &env.prefix, &env.db_url).await?;
    let (status, _) = send(crony_tests::api_client().get(s.url("/api/v1/jobs"))).await?;
    assert_eq!(status, 200);
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_and_its_secret_key_restore_into_a_cluster_that_runs() -> anyhow::Result<()> {
    let db = shared_mariadb();
    let sink = HttpSink::start().await?;
    let with_key = |c: &mut crony_scheduler::SchedulerConfig| {
        c.auth.secrets = crony_scheduler::auth::secrets::SecretBox::from_key(SECRET_KEY).unwrap();
    };
    let env = TestEnv::shared();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, with_key).await?;
    let job = json!({"name": "backed-up", "schedule": "@daily",
        "target": {"kind": "http", "url": sink.url("/backed-up"),
                   "headers": {"Authorization": "Bearer kept-secret"}, "secret_headers": ["Authorization"]}});
    let (status, _) = send(
        crony_tests::api_client()
            .post(s.url("/api/v1/jobs"))
            .json(&job),
    )
    .await?;
    assert_eq!(status, 201);
    s.stop().await;

    let database = env.db_url.rsplit('/').next().unwrap().to_owned();
    let dump = dump(db, &database).await?;
    assert!(
        !String::from_utf8_lossy(&dump).contains("kept-secret"),
        "the dump holds sealed secrets only"
    );
    let mut restored_env = TestEnv::shared();
    restored_env.db_url = db.url(&restored(db, &dump).await?);
    let s = TestScheduler::start_with(
        &restored_env.etcd,
        &restored_env.prefix,
        &restored_env.db_url,
        with_key,
    )
    .await?;
    let mut agent = crony_tests::AgentProcess::spawn(restored_env.agent_spec("agent").ttl(2))?;
    agent.id().await?;
    common::online(&s.base_url, 1).await?;
    let (_, found) =
        send(crony_tests::api_client().get(s.url("/api/v1/jobs/by-name/backed-up"))).await?;
    let id = found["id"].as_str().expect("the job came back").to_owned();
    wait_until("the restored job runs", Duration::from_secs(30), || {
        let url = s.url(&format!("/api/v1/jobs/{id}/trigger"));
        async move {
            let r = crony_tests::api_client()
                .post(url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            Ok((r.status() == 202).then_some(()))
        }
    })
    .await?;
    let call = wait_until("the sink is called", Duration::from_secs(30), || {
        let calls = sink.calls_to("/backed-up");
        async move { Ok(calls.into_iter().next()) }
    })
    .await?;
    assert_eq!(call.header("authorization"), "Bearer kept-secret");
    s.stop().await;
    Ok(())
}

/// `mariadb-dump --single-transaction` of `database`, as UPGRADING.md tells operators to take it.
async fn dump(db: &MariaDb, database: &str) -> anyhow::Result<Vec<u8>> {
    let port = db.port().to_string();
    let out = tokio::process::Command::new("mariadb-dump")
        .args([
            "-h127.0.0.1",
            "-P",
            &port,
            "-uroot",
            "--single-transaction",
            "--hex-blob",
            "--routines",
        ])
        .arg(database)
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("mariadb-dump (package mariadb-client): {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "mariadb-dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}
