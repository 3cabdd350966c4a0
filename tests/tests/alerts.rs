//! The alert pipeline on a real scheduler, MariaDB and etcd, with recording fake senders in
//! place of the channels (those are tested with real SMTP and Feishu peers on their own):
//! alerts are recorded in MySQL before delivery, one per recipient, throttled, retried with
//! backoff, raised for dead agents, sent once by a cluster of schedulers, and listed by the API.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crony_proto::v1::ExecutionStatus as S;
use crony_scheduler::SchedulerConfig;
use crony_scheduler::alert::{Alert, ChannelKind, Recipient, SendError, Sender};
use crony_tests::reports::{ReportClient, finished, now_ms, report_client, send};
use crony_tests::{AgentProcess, TestEnv, TestScheduler, wait_until};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const HOOK: &str = "http://127.0.0.1:9/ops-hook";

/// A sender that records what it was asked to send; it can hold sends until released and fail
/// on demand.
#[derive(Default)]
struct FakeSender {
    sent: Mutex<Vec<(Alert, Recipient)>>,
    failing: AtomicBool,
    gate: Option<Semaphore>,
}

impl FakeSender {
    fn held() -> Arc<Self> {
        Arc::new(Self {
            gate: Some(Semaphore::new(0)),
            ..Self::default()
        })
    }

    fn sent(&self) -> Vec<(Alert, Recipient)> {
        self.sent.lock().unwrap().clone()
    }

    fn release(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(1_000);
        }
    }
}

#[async_trait::async_trait]
impl Sender for FakeSender {
    async fn send(&self, alert: &Alert, to: &Recipient) -> Result<(), SendError> {
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate open").forget();
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(SendError {
                message: "connection refused by the fake peer".into(),
                retryable: true,
            });
        }
        self.sent.lock().unwrap().push((alert.clone(), to.clone()));
        Ok(())
    }
}

fn senders(list: &[(ChannelKind, &Arc<FakeSender>)]) -> HashMap<ChannelKind, Arc<dyn Sender>> {
    list.iter()
        .map(|(k, s)| (*k, Arc::clone(s) as Arc<dyn Sender>))
        .collect()
}

async fn start(
    env: &TestEnv,
    senders: HashMap<ChannelKind, Arc<dyn Sender>>,
    adjust: impl FnOnce(&mut SchedulerConfig),
) -> anyhow::Result<(TestScheduler, ReportClient)> {
    let s = TestScheduler::start_with_senders(
        &env.etcd,
        &env.prefix,
        &env.db_url,
        |c| {
            c.alert_interval = Duration::from_millis(200);
            c.alerts.webhook = Some(HOOK.into());
            adjust(c);
        },
        senders,
    )
    .await?;
    let client = report_client(s.scheduler.grpc_addr, Some(crony_tests::CLUSTER_TOKEN));
    Ok((s, client))
}

async fn create_job(base: &str, name: &str, alerts: Value) -> anyhow::Result<String> {
    let job = json!({"name": name, "schedule": "@every 1h",
                     "target": {"kind": "http", "url": "http://127.0.0.1:9/"},
                     "alerts": alerts});
    common::create_job(base, &job)
        .await
        .map_err(anyhow::Error::msg)
}

/// (id, event, channel, recipient, status, attempts, last_error) of a job's execution alerts
/// (not the `unassigned` one every job gets while no agent runs), by id.
type Row = (u64, String, String, String, String, u32, String);

async fn rows(db_url: &str, job: &str) -> Result<Vec<Row>, String> {
    let pool = sqlx::MySqlPool::connect(db_url)
        .await
        .map_err(|e| e.to_string())?;
    let rows = sqlx::query_as(
        "SELECT id, event, channel, recipient, status, attempts, last_error FROM alerts \
         WHERE job_id = ? AND event <> 'unassigned' ORDER BY id",
    )
    .bind(job)
    .fetch_all(&pool)
    .await
    .map_err(|e| e.to_string());
    pool.close().await;
    rows
}

/// Waits until the job's alerts in MySQL satisfy `ok`.
async fn wait_rows(
    db_url: &str,
    job: &str,
    what: &str,
    ok: impl Fn(&[Row]) -> bool,
) -> anyhow::Result<Vec<Row>> {
    wait_until(what, Duration::from_secs(20), || async {
        let rows = rows(db_url, job).await?;
        if ok(&rows) {
            Ok(Some(rows))
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await
}

fn count(rows: &[Row], event: &str, status: &str) -> usize {
    rows.iter()
        .filter(|r| r.1 == event && r.4 == status)
        .count()
}

async fn report(client: &mut ReportClient, id: &str, job: &str, status: S) -> anyhow::Result<()> {
    let mut r = finished(id, job, now_ms() - 1_000, status);
    r.error = if status == S::Succeeded {
        String::new()
    } else {
        "exit code 3: \"quoted\" \\ 中文".into()
    };
    let acked = send(client, vec![r]).await?;
    anyhow::ensure!(acked == [id], "not acked: {acked:?}");
    Ok(())
}

async fn get(s: &TestScheduler, path: &str) -> anyhow::Result<(u16, Value)> {
    common::get_json(&s.url(path))
        .await
        .map_err(anyhow::Error::msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_alerts_each_recipient_once_recorded_before_delivery_then_recovery_and_throttle()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let email = FakeSender::held();
    let hook = FakeSender::held();
    let (s, mut agent) = start(
        &env,
        senders(&[(ChannelKind::Email, &email), (ChannelKind::Webhook, &hook)]),
        |c| c.alerts.throttle = Duration::from_secs(4),
    )
    .await?;
    let job = create_job(
        &s.base_url,
        "nightly \"report\" 报表",
        json!({"on": ["failed", "recovered"], "emails": ["a@example.com", "b@example.com"]}),
    )
    .await?;

    // Recorded as pending, one per recipient, while every sender is held.
    report(&mut agent, "f1", &job, S::Failed).await?;
    let pending = wait_rows(&env.db_url, &job, "three pending rows", |r| {
        r.len() == 3 && count(r, "failed", "pending") == 3
    })
    .await?;
    let recipients: Vec<&str> = pending.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(recipients, ["a@example.com", "b@example.com", HOOK]);
    assert!(email.sent().is_empty() && hook.sent().is_empty());
    email.release();
    hook.release();
    wait_rows(&env.db_url, &job, "all sent", |r| {
        count(r, "failed", "sent") == 3
    })
    .await?;
    let mut mails = email.sent();
    // Recipients are served concurrently.
    mails.sort_by(|a, b| a.1.address.cmp(&b.1.address));
    assert_eq!(mails.len(), 2, "one email per recipient");
    let (alert, to) = &mails[0];
    assert_eq!(to.address, "a@example.com");
    assert_eq!(alert.title, "Job nightly \"report\" 报表 failed");
    let item = &alert.items[0];
    assert_eq!(item.execution_id, Some("f1".into()));
    assert_eq!(item.error, "exit code 3: \"quoted\" \\ 中文");
    assert_eq!(item.output_excerpt, "output of f1");
    assert!(item.link.as_deref().unwrap().ends_with("/executions/f1"));
    let hooked = |title: &str| hook.sent().iter().filter(|(a, _)| a.title == title).count();
    assert_eq!(hooked("Job nightly \"report\" 报表 failed"), 1);

    // A repeat within the throttle window is recorded, suppressed, not sent.
    report(&mut agent, "f2", &job, S::Failed).await?;
    wait_rows(&env.db_url, &job, "a suppressed repeat", |r| {
        count(r, "failed", "suppressed") == 3
    })
    .await?;
    // The first success after failures is a recovery (its own group: not throttled).
    report(&mut agent, "s3", &job, S::Succeeded).await?;
    wait_rows(&env.db_url, &job, "recovery sent", |r| {
        count(r, "recovered", "sent") == 3
    })
    .await?;
    let recovered = email.sent().last().unwrap().0.clone();
    assert_eq!(recovered.title, "Job nightly \"report\" 报表 recovered");
    // A success after a success is no news.
    report(&mut agent, "s4", &job, S::Succeeded).await?;
    // After the window the next failure goes out and counts what was held back.
    tokio::time::sleep(Duration::from_secs(4)).await;
    report(&mut agent, "f5", &job, S::Failed).await?;
    let all = wait_rows(&env.db_url, &job, "the next failure sent", |r| {
        count(r, "failed", "sent") == 6
    })
    .await?;
    assert_eq!(count(&all, "recovered", "sent"), 3, "{all:?}");
    let last = email.sent().last().unwrap().0.clone();
    assert!(
        last.title
            .starts_with("Job nightly \"report\" 报表 failed (and 1 more since "),
        "{}",
        last.title
    );
    assert_eq!(email.sent().len(), 6);

    // The API lists them, filters and pages; bad filters name the field.
    let (status, page) = get(&s, &format!("/api/v1/alerts?job_id={job}&limit=4")).await?;
    assert_eq!(status, 200, "{page}");
    let first: Vec<u64> = page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect();
    assert_eq!(first.len(), 4);
    assert!(first.windows(2).all(|w| w[0] > w[1]), "newest first");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = get(
        &s,
        &format!("/api/v1/alerts?job_id={job}&limit=500&cursor={cursor}"),
    )
    .await?;
    let rest = rest["alerts"].as_array().unwrap().len();
    // Its execution alerts and the one `unassigned` alert (no agent runs in this test).
    assert_eq!(
        first.len() + rest,
        all.len() + 1,
        "pages neither repeat nor skip"
    );
    let (_, suppressed) = get(
        &s,
        &format!("/api/v1/alerts?job_id={job}&status=suppressed&channel=email&event=failed"),
    )
    .await?;
    assert_eq!(suppressed["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(
        suppressed["alerts"][0]["title"],
        "Job nightly \"report\" 报表 failed"
    );
    assert!(suppressed["alerts"][0].get("payload").is_none());
    for (query, field) in [
        ("event=exploded", "event"),
        ("channel=pigeon", "channel"),
        ("status=lost", "status"),
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("cursor=zz", "cursor"),
    ] {
        let (status, body) = get(&s, &format!("/api/v1/alerts?{query}")).await?;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let metrics = crony_tests::api_client()
        .get(s.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("crony_alerts_sent_total{channel=\"email\"} 6"));
    assert!(metrics.contains("crony_alerts_suppressed_total 3"));
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_channel_is_retried_with_backoff_and_a_missing_one_gives_up_clearly()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let hook = Arc::new(FakeSender::default());
    hook.failing.store(true, Ordering::SeqCst);
    // Email has no sender: its alerts end `dead` naming the setting.
    let (s, mut agent) = start(&env, senders(&[(ChannelKind::Webhook, &hook)]), |_| {}).await?;
    let job = create_job(
        &s.base_url,
        "flaky",
        json!({"on": ["timed_out"], "emails": ["a@example.com"]}),
    )
    .await?;
    report(&mut agent, "t1", &job, S::TimedOut).await?;
    let after_one = wait_rows(&env.db_url, &job, "first attempt failed", |r| {
        r.iter().any(|r| r.2 == "webhook" && r.4 == "failed")
            && r.iter().any(|r| r.2 == "email" && r.4 == "dead")
    })
    .await?;
    let webhook = after_one.iter().find(|r| r.2 == "webhook").unwrap();
    assert_eq!(webhook.5, 1);
    assert_eq!(webhook.6, "connection refused by the fake peer");
    let mail = after_one.iter().find(|r| r.2 == "email").unwrap();
    assert_eq!(mail.6, "email not configured: set CRONY_SMTP_URL");

    // The peer comes back; the retry (5 s later) delivers.
    hook.failing.store(false, Ordering::SeqCst);
    let done = wait_rows(&env.db_url, &job, "retried and sent", |r| {
        r.iter().any(|r| r.2 == "webhook" && r.4 == "sent")
    })
    .await?;
    let webhook = done.iter().find(|r| r.2 == "webhook").unwrap();
    assert_eq!(webhook.5, 2, "sent on the second attempt");
    let timed_out = |(a, _): &&(Alert, Recipient)| a.title == "Job flaky timed out";
    assert_eq!(hook.sent().iter().filter(timed_out).count(), 1);

    // Test alerts: sent now through the channel, recorded; failures are a 502.
    let (status, body) = common::post(
        &s.base_url,
        "/api/v1/alerts/test",
        Some(&json!({"channel": "webhook"})),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "sent");
    hook.failing.store(true, Ordering::SeqCst);
    let (status, body) = common::post(
        &s.base_url,
        "/api/v1/alerts/test",
        Some(&json!({"channel": "webhook", "to": "http://127.0.0.1:9/other"})),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
    for (request, field) in [
        (json!({"channel": "email"}), "channel"),
        (json!({"channel": "pigeon"}), "channel"),
        (json!({"channel": "webhook", "to": "not a url"}), "to"),
    ] {
        let (status, body) = common::post(&s.base_url, "/api/v1/alerts/test", Some(&request))
            .await
            .map_err(anyhow::Error::msg)?;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(body["error"]["field"], field, "{request}: {body}");
    }
    let (_, tests) = get(&s, "/api/v1/alerts?event=test").await?;
    let statuses: Vec<&str> = tests["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["dead", "sent"]);
    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_raises_one_offline_alert_with_two_schedulers_running() -> anyhow::Result<()>
{
    let env = TestEnv::shared();
    let email = Arc::new(FakeSender::default());
    let cluster = |c: &mut SchedulerConfig| c.alerts.emails = vec!["ops@example.com".into()];
    let (first, mut agent1) =
        start(&env, senders(&[(ChannelKind::Email, &email)]), cluster).await?;
    let (second, mut agent2) =
        start(&env, senders(&[(ChannelKind::Email, &email)]), cluster).await?;
    let job = create_job(
        &first.base_url,
        "twice",
        json!({"on": ["failed", "lost"], "emails": ["dev@example.com"]}),
    )
    .await?;
    let mut agent = AgentProcess::spawn(env.agent_spec("doomed").ttl(2))?;
    let agent_id = agent.id().await?;
    // Both schedulers ingest a failure each: each is alerted once, whoever leads.
    report(&mut agent1, "x1", &job, S::Failed).await?;
    report(&mut agent2, "x2", &job, S::Lost).await?;
    wait_until("agent online", Duration::from_secs(20), || async {
        let online = common::agent_ids(&first.base_url, "online").await?;
        Ok((online == [agent_id.clone()]).then_some(()))
    })
    .await?;
    // Let the leader's live set settle with the agent in it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.kill();
    let offline = format!("Agent {agent_id} went offline");
    wait_until("offline alert", Duration::from_secs(20), || async {
        let n = email
            .sent()
            .iter()
            .filter(|(a, _)| a.title == offline)
            .count();
        Ok((n >= 1).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = email.sent();
    let of = |title: &str| sent.iter().filter(|(a, _)| a.title == title).count();
    assert_eq!(of(&offline), 1, "{sent:?}");
    let (_, to) = sent.iter().find(|(a, _)| a.title == offline).unwrap();
    assert_eq!(to.address, "ops@example.com");
    assert_eq!(of("Job twice failed"), 1, "{sent:?}");
    assert_eq!(
        of("Job twice: execution lost with its agent"),
        1,
        "{sent:?}"
    );
    // The webhook has no sender here: its rows are dead, once each.
    let rows = rows(&env.db_url, &job).await.map_err(anyhow::Error::msg)?;
    assert_eq!(count(&rows, "failed", "sent"), 1, "{rows:?}");
    assert_eq!(count(&rows, "failed", "dead"), 1, "{rows:?}");
    assert_eq!(count(&rows, "lost", "sent"), 1, "{rows:?}");
    first.stop().await;
    second.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_failures_reaches_a_recipient_as_a_few_grouped_messages() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let email = FakeSender::held();
    let (s, mut agent) = start(&env, senders(&[(ChannelKind::Email, &email)]), |c| {
        c.alerts.webhook = None;
        c.alerts.emails = vec!["ops@example.com".into()];
    })
    .await?;
    let mut jobs = Vec::new();
    let mut reports = Vec::new();
    for i in 0..12 {
        // Naming nobody: the cluster's recipients hear about it.
        let job = create_job(
            &s.base_url,
            &format!("storm-{i}"),
            json!({"on": ["failed"]}),
        )
        .await?;
        reports.push(finished(
            &format!("b{i}"),
            &job,
            now_ms() - 1_000,
            S::Failed,
        ));
        jobs.push(job);
    }
    anyhow::ensure!(send(&mut agent, reports).await?.len() == 12);
    wait_until("all recorded", Duration::from_secs(20), || async {
        let mut n = 0;
        for job in &jobs {
            n += rows(&env.db_url, job).await?.len();
        }
        Ok((n == 12).then_some(()))
    })
    .await?;
    email.release();
    let mut all = Vec::new();
    wait_until("all settled", Duration::from_secs(20), || async {
        let mut rows_now = Vec::new();
        for job in &jobs {
            rows_now.extend(rows(&env.db_url, job).await?);
        }
        let settled = rows_now
            .iter()
            .all(|r| r.4 == "sent" || r.4 == "suppressed");
        Ok(settled.then_some(rows_now))
    })
    .await
    .map(|rows| all = rows)?;
    let messages = email.sent();
    assert!(
        messages.len() < 4,
        "12 failures for one recipient came as {} messages",
        messages.len()
    );
    // Their `unassigned` alerts (no agent runs here) come along in the same messages.
    let failed: usize = messages
        .iter()
        .flat_map(|(a, _)| &a.items)
        .filter(|i| i.event == crony_scheduler::alert::EventKind::Failed)
        .count();
    assert_eq!(failed, 12, "every failure is listed once");
    assert!(messages.iter().any(|(a, _)| a.title.contains("alerts for")));
    // Each failure row was sent itself or grouped into a row that was.
    assert!(
        all.iter()
            .all(|r| r.4 == "sent" || r.6.starts_with("grouped into alert ")),
        "{all:?}"
    );
    assert!(all.iter().any(|r| r.6.starts_with("grouped into alert ")));
    s.stop().await;
    Ok(())
}
