//! Issue 5 end to end with the real channels: a job run by a real agent fails after its last
//! retry and the on-call people get one email (real SMTP server on loopback) and one Feishu
//! message (a Feishu stand-in that checks the signature exactly as Feishu does); its recovery
//! is announced the same way. Names and output with quotes, backslashes, newlines and Chinese
//! text arrive intact. A job with `alert_lang: zh-CN` is told in Chinese while the default
//! stays English.

mod common;

use std::time::Duration;

use common::{create_job, post};
use crony_tests::{
    AgentProcess, FeishuBot, HttpSink, SmtpMode, SmtpServer, TestEnv, TestScheduler, wait_until,
};
use serde_json::json;

const SECRET: &str = "s3cr3t-飞书";

#[tokio::test]
async fn a_failing_job_mails_and_messages_once_after_its_last_retry_then_its_recovery()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let smtp = SmtpServer::start().await?;
    let bot = FeishuBot::start(Some(SECRET)).await?;
    let smtp_url = smtp.url();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.alerts.smtp_url = Some(smtp_url);
        c.alerts.smtp_from = Some("crony@example.com".into());
    })
    .await?;
    let mut agent = AgentProcess::spawn(env.agent_spec("agent").ttl(2))?;
    agent.id().await?;
    common::online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    sink.answer(500);
    let name = "nightly \"report\" \\ 任务";
    let job = create_job(
        &s.base_url,
        &json!({
            "name": name,
            "schedule": "0 0 3 1 1 *",
            "target": {"kind": "http", "url": sink.url("/report")},
            "retry": {"max_retries": 1, "backoff": "fixed", "initial_secs": 1},
            "alerts": {
                "on": ["failed", "recovered"],
                "emails": ["oncall@example.com"],
                "feishu_webhooks": [{"url": bot.url(), "secret": SECRET}],
            },
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    trigger(&s.base_url, &job).await?;

    // The first attempt fails: nobody is told yet, the retry may still succeed.
    wait_until("the first attempt", Duration::from_secs(10), || async {
        Ok((!sink.calls_to("/report").is_empty()).then_some(()))
    })
    .await?;
    assert!(
        smtp.mails().is_empty() && bot.accepted().is_empty(),
        "alerted before the last retry"
    );
    wait_until(
        "one email and one Feishu message",
        Duration::from_secs(20),
        || async { Ok((!smtp.mails().is_empty() && !bot.accepted().is_empty()).then_some(())) },
    )
    .await?;
    assert_eq!(
        sink.calls_to("/report").len(),
        2,
        "the alert came after the retry"
    );
    let mail = smtp.mails()[0].parse()?;
    assert_eq!(smtp.mails()[0].rcpt_to, ["oncall@example.com"]);
    let text = mail.text.clone().unwrap_or_default();
    assert!(
        mail.subject.contains(name) || text.contains(name),
        "{mail:?}"
    );
    assert!(text.contains("500"), "the error is in the mail: {text}");
    let card = bot.accepted()[0].to_string();
    assert!(card.contains("任务"), "{card}");

    // Recovery: the next run succeeds and that is announced once, too.
    sink.answer(200);
    trigger(&s.base_url, &job).await?;
    wait_until(
        "recovery email and message",
        Duration::from_secs(20),
        || async { Ok((smtp.mails().len() >= 2 && bot.accepted().len() >= 2).then_some(())) },
    )
    .await?;
    let recovery = smtp.mails()[1].parse()?;
    let words = format!(
        "{} {}",
        recovery.subject,
        recovery.text.clone().unwrap_or_default()
    )
    .to_lowercase();
    assert!(words.contains("recover"), "{recovery:?}");
    // Recorded as sent once each: one message per event and channel.
    let alerts = wait_until(
        "four alerts recorded as sent",
        Duration::from_secs(10),
        || async {
            let (status, alerts) =
                common::get_json(&format!("{}/api/v1/alerts?job_id={job}", s.base_url)).await?;
            if status != 200 {
                return Err(format!("alerts answered {status}: {alerts}"));
            }
            let sent = alerts["alerts"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|r| r["status"] == "sent").count());
            Ok((sent == 4).then_some(alerts))
        },
    )
    .await?;
    assert_eq!(
        alerts["alerts"].as_array().map(Vec::len),
        Some(4),
        "{alerts}"
    );
    assert_eq!(smtp.mails().len(), 2);
    assert_eq!(bot.accepted().len(), 2);
    assert!(
        !alerts.to_string().contains(SECRET),
        "the Feishu secret never leaves the server"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreachable_smtp_server_leaves_the_alert_failed_with_its_error_then_it_is_retried()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let smtp = SmtpServer::start().await?;
    smtp.set_mode(SmtpMode::Drop);
    let smtp_url = smtp.url();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.alerts.smtp_url = Some(smtp_url);
    })
    .await?;
    let mut agent = AgentProcess::spawn(env.agent_spec("agent").ttl(2))?;
    agent.id().await?;
    common::online(&s.base_url, 1).await?;
    let job = create_job(
        &s.base_url,
        &json!({
            "name": "mail-me",
            "schedule": "0 0 3 1 1 *",
            "target": {"kind": "shell", "command": "echo broken; exit 1"},
            "alerts": {"on": ["failed"], "emails": ["oncall@example.com"]},
        }),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    trigger(&s.base_url, &job).await?;
    let url = format!("{}/api/v1/alerts?job_id={job}", s.base_url);
    let failed = wait_until(
        "the alert is failed with the error",
        Duration::from_secs(20),
        || async {
            let (_, alerts) = common::get_json(&url).await?;
            Ok(alerts["alerts"]
                .as_array()
                .and_then(|a| a.iter().find(|r| r["status"] == "failed").cloned()))
        },
    )
    .await?;
    assert!(
        !failed["last_error"].as_str().unwrap_or_default().is_empty(),
        "{failed}"
    );
    assert!(smtp.mails().is_empty());
    // The server comes back: the stored alert is retried and delivered, once.
    smtp.set_mode(SmtpMode::Accept);
    wait_until(
        "the alert is sent on a retry",
        Duration::from_secs(30),
        || async {
            let (_, alerts) = common::get_json(&url).await?;
            Ok(alerts["alerts"].as_array().and_then(|a| {
                a.iter()
                    .find(|r| r["status"] == "sent" && r["attempts"].as_u64() >= Some(2))
                    .cloned()
            }))
        },
    )
    .await?;
    assert_eq!(smtp.mails().len(), 1);
    let mail = smtp.mails()[0].parse()?;
    assert!(
        mail.text.unwrap_or_default().contains("broken"),
        "the output excerpt is in the mail"
    );
    Ok(())
}

#[tokio::test]
async fn two_schedulers_announce_a_killed_agent_once_by_email_and_feishu() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let smtp = SmtpServer::start().await?;
    let bot = FeishuBot::start(Some(SECRET)).await?;
    let configure = |c: &mut crony_scheduler::config::SchedulerConfig| {
        c.alerts.smtp_url = Some(smtp.url());
        c.alerts.emails = vec!["ops@example.com".into()];
        c.alerts.feishu_webhook = Some(bot.url());
        c.alerts.feishu_secret = Some(SECRET.into());
    };
    let first = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, configure).await?;
    let second = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, configure).await?;
    let mut agent = AgentProcess::spawn(env.agent_spec("doomed").ttl(2))?;
    let agent_id = agent.id().await?;
    for s in [&first, &second] {
        wait_until(
            "both schedulers see the agent",
            Duration::from_secs(15),
            || async {
                Ok(
                    (common::agent_ids(&s.base_url, "online").await? == [agent_id.clone()])
                        .then_some(()),
                )
            },
        )
        .await?;
    }
    agent.kill();
    let url = format!("{}/api/v1/alerts?event=agent_offline", first.base_url);
    let rows = wait_until(
        "the offline alert is sent by email and Feishu",
        Duration::from_secs(20),
        || async {
            let (_, alerts) = common::get_json(&url).await?;
            let rows = alerts["alerts"].as_array().cloned().unwrap_or_default();
            let sent = rows.iter().filter(|r| r["status"] == "sent").count();
            Ok((sent >= 2).then_some(rows))
        },
    )
    .await?;
    assert_eq!(
        rows.len(),
        2,
        "one row per channel, whichever scheduler leads: {rows:?}"
    );
    // Only the offline alert is counted: the agent's arrival may be announced as well.
    let mut offline_mails = Vec::new();
    for mail in smtp.mails() {
        let parsed = mail.parse()?;
        if parsed.subject.to_lowercase().contains("offline") {
            offline_mails.push((mail.rcpt_to.clone(), parsed));
        }
    }
    assert_eq!(offline_mails.len(), 1, "{offline_mails:?}");
    assert_eq!(offline_mails[0].0, ["ops@example.com"]);
    assert!(
        format!(
            "{} {:?}",
            offline_mails[0].1.subject, offline_mails[0].1.text
        )
        .contains(&agent_id)
    );
    let offline_cards: Vec<String> = bot
        .accepted()
        .iter()
        .map(|m| m.to_string())
        .filter(|m| m.contains("offline") && m.contains(&agent_id))
        .collect();
    assert_eq!(offline_cards.len(), 1, "{offline_cards:?}");
    first.stop().await;
    second.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_job_with_alert_lang_zh_cn_alerts_in_chinese_and_the_default_stays_english()
-> anyhow::Result<()> {
    let env = TestEnv::shared();
    let smtp = SmtpServer::start().await?;
    let bot = FeishuBot::start(None).await?;
    let smtp_url = smtp.url();
    let s = TestScheduler::start_with(&env.etcd, &env.prefix, &env.db_url, |c| {
        c.alerts.smtp_url = Some(smtp_url);
        c.alerts.smtp_from = Some("crony@example.com".into());
    })
    .await?;
    let mut agent = AgentProcess::spawn(env.agent_spec("agent").ttl(2))?;
    agent.id().await?;
    common::online(&s.base_url, 1).await?;
    let sink = HttpSink::start().await?;
    sink.answer(500);
    let mut jobs = Vec::new();
    for (name, lang) in [("report-zh", json!("zh-CN")), ("report-en", json!(null))] {
        let spec = json!({
            "name": name, "schedule": "0 0 3 1 1 *", "alert_lang": lang,
            "target": {"kind": "http", "url": sink.url(&format!("/{name}"))},
            "alerts": {"on": ["failed"], "emails": [format!("{name}@example.com")],
                       "feishu_webhooks": [{"url": bot.url()}]},
        });
        let id = create_job(&s.base_url, &spec)
            .await
            .map_err(anyhow::Error::msg)?;
        let (_, stored) = common::get_json(&format!("{}/api/v1/jobs/{id}", s.base_url))
            .await
            .map_err(anyhow::Error::msg)?;
        assert_eq!(stored["alert_lang"], lang, "{stored}");
        trigger(&s.base_url, &id).await?;
        jobs.push(id);
    }
    wait_until(
        "two emails and two Feishu messages",
        Duration::from_secs(30),
        || async { Ok((smtp.mails().len() >= 2 && bot.accepted().len() >= 2).then_some(())) },
    )
    .await?;
    let mail_to = |who: &str| {
        let mail = smtp.mails().into_iter().find(|m| m.rcpt_to == [who]);
        mail.map(|m| m.parse()).transpose()
    };
    let zh = mail_to("report-zh@example.com")?.expect("the Chinese job's mail");
    assert_eq!(zh.subject, "[Crony] 任务 report-zh 执行失败", "{zh:?}");
    let text = zh.text.unwrap_or_default();
    for phrase in ["任务: report-zh", "执行器: ", "时间: ", "错误: ", "链接: "] {
        assert!(text.contains(phrase), "{phrase:?} not in {text}");
    }
    assert!(zh.html.unwrap_or_default().contains("在控制台中打开"));
    let en = mail_to("report-en@example.com")?.expect("the English job's mail");
    assert_eq!(en.subject, "[Crony] Job report-en failed", "{en:?}");
    let text = en.text.unwrap_or_default();
    assert!(
        text.contains("Job: report-en") && !text.contains("任务"),
        "{text}"
    );

    let cards: Vec<String> = bot.accepted().iter().map(|c| c.to_string()).collect();
    let card = |name: &str| cards.iter().find(|c| c.contains(name)).cloned();
    let zh_card = card("report-zh").expect("the Chinese job's card");
    assert!(zh_card.contains("任务 report-zh 执行失败"), "{zh_card}");
    assert!(zh_card.contains("任务: report-zh") && zh_card.contains("在控制台中打开"));
    let en_card = card("report-en").expect("the English job's card");
    assert!(en_card.contains("Job report-en failed") && en_card.contains("Job: report-en"));
    assert!(!en_card.contains("任务"), "{en_card}");
    agent.terminate().await?;
    s.stop().await;
    Ok(())
}

async fn trigger(base: &str, job: &str) -> anyhow::Result<String> {
    wait_until(
        "the job can be triggered",
        Duration::from_secs(10),
        || async move {
            let (status, body) = post(base, &format!("/api/v1/jobs/{job}/trigger"), None).await?;
            Ok((status == 202)
                .then(|| body["execution_id"].as_str().unwrap_or_default().to_owned()))
        },
    )
    .await
}
