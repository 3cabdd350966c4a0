//! Alert channels against real peers on loopback: the SMTP server and Feishu bot from the
//! harness, and the HTTP sink as a generic webhook receiver. No scheduler runs here.

use chrono::{TimeZone, Utc};
use crony_scheduler::alert::render::{self, escape_html};
use crony_scheduler::alert::*;
use crony_tests::{FeishuBot, FeishuReply, HttpSink, SmtpMode, SmtpServer};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const FROM: &str = "Crony <crony@example.com>";
const TO: &str = "oncall@example.com";

fn item(job: &str, output: &str) -> AlertItem {
    AlertItem {
        event: EventKind::Failed,
        job_id: Some("01JOB".into()),
        job_name: Some(job.into()),
        agent_id: Some("agent-a".into()),
        execution_id: Some("01EXEC".into()),
        at: Utc.with_ymd_and_hms(2025, 3, 1, 2, 30, 0).unwrap(),
        timezone: "Asia/Shanghai".into(),
        error: "exit code 1".into(),
        output_excerpt: output.into(),
        link: Some("http://dash.example/executions/01EXEC".into()),
    }
}

fn alert(items: Vec<AlertItem>) -> Alert {
    let title = match items.first().and_then(|i| i.job_name.clone()) {
        Some(job) => format!("Job {job} failed"),
        None => "Alert".into(),
    };
    Alert {
        id: 1,
        title,
        items,
        lang: Default::default(),
    }
}

fn email_to(address: &str) -> Recipient {
    Recipient {
        channel: ChannelKind::Email,
        address: address.into(),
        secret: None,
    }
}

fn feishu_to(url: String, secret: Option<&str>) -> Recipient {
    Recipient {
        channel: ChannelKind::Feishu,
        address: url,
        secret: secret.map(str::to_owned),
    }
}

/// A port nobody listens on: bound, then released.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Every `content` string of the card, for "is this text somewhere in the card" checks.
fn card_texts(message: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::String(s) if k == "content" || k == "url" => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(message, &mut out);
    out
}

#[tokio::test]
async fn email_arrives_with_subject_text_and_html() {
    let smtp = SmtpServer::start().await.unwrap();
    let sender = EmailSender::from_url(&smtp.url(), FROM).unwrap();
    let a = alert(vec![item("nightly-report", "step 1 ok\nstep 2 failed")]);
    sender.send(&a, &email_to(TO)).await.unwrap();

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].mail_from, "crony@example.com");
    assert_eq!(mails[0].rcpt_to, vec![TO.to_owned()]);
    let mail = mails[0].parse().unwrap();
    assert_eq!(mail.subject, "[Crony] Job nightly-report failed");
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_eq!(
        (mail.from.as_str(), mail.to.as_str()),
        ("crony@example.com", TO)
    );
    let text = mail.text.expect("text part");
    assert!(text.contains("Job: nightly-report\n"), "{text}");
    assert!(text.contains("Agent: agent-a\n"));
    assert!(text.contains("2025-03-01 10:30:00 CST (Asia/Shanghai) / 2025-03-01 02:30:00 UTC"));
    assert!(text.contains("-----\nstep 1 ok\nstep 2 failed\n-----"));
    assert!(text.contains("Link: http://dash.example/executions/01EXEC"));
    let html = mail.html.expect("html part");
    assert!(html.contains("<td>nightly-report</td>"), "{html}");
    assert!(html.contains("href=\"http://dash.example/executions/01EXEC\""));
}

#[tokio::test]
async fn email_authenticates_when_the_url_has_credentials() {
    let smtp = SmtpServer::start().await.unwrap();
    smtp.require_auth(true);
    let a = alert(vec![item("job", "")]);

    let anonymous = EmailSender::from_url(&smtp.url(), FROM).unwrap();
    let e = anonymous.send(&a, &email_to(TO)).await.unwrap_err();
    assert!(e.message.contains("530") && !e.retryable, "{e:?}");

    let url = format!("smtp://alice:s3cr%40t@{}", smtp.addr);
    let sender = EmailSender::from_url(&url, FROM).unwrap();
    assert!(!format!("{sender:?}").contains("s3cr"));
    sender.send(&a, &email_to(TO)).await.unwrap();
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].auth_user.as_deref(), Some("alice"));
}

/// STARTTLS demanded but not offered is a configuration mismatch: retrying cannot fix it,
/// so it is reported at once as not retryable.
#[tokio::test]
async fn starttls_required_without_server_support_fails_permanently() {
    let smtp = SmtpServer::start().await.unwrap();
    let url = format!("smtp://{}?tls=required", smtp.addr);
    let sender = EmailSender::from_url(&url, FROM).unwrap();
    let e = sender
        .send(&alert(vec![item("job", "")]), &email_to(TO))
        .await
        .unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(e.message.contains("STARTTLS"), "{e:?}");
    assert!(smtp.mails().is_empty());
}

#[tokio::test]
async fn smtp_failures_say_whether_a_retry_can_help() {
    let a = alert(vec![item("job", "")]);
    let url = format!("smtp://127.0.0.1:{}", closed_port().await);
    let e = EmailSender::from_url(&url, FROM)
        .unwrap()
        .send(&a, &email_to(TO))
        .await
        .unwrap_err();
    assert!(e.retryable, "refused connection: {e:?}");
    assert!(e.message.contains("email: SMTP server 127.0.0.1:"), "{e:?}");

    let smtp = SmtpServer::start().await.unwrap();
    let sender = EmailSender::from_url(&smtp.url(), FROM).unwrap();
    for (mode, retryable, code) in [
        (SmtpMode::TempFail, true, "451"),
        (SmtpMode::Reject, false, "550"),
        (SmtpMode::Drop, true, ""),
    ] {
        smtp.set_mode(mode);
        let e = sender.send(&a, &email_to(TO)).await.unwrap_err();
        assert_eq!(e.retryable, retryable, "{mode:?}: {e:?}");
        assert!(e.message.contains(code), "{mode:?}: {e:?}");
    }
    smtp.set_mode(SmtpMode::Accept);
    sender.send(&a, &email_to(TO)).await.unwrap();
    assert_eq!(smtp.mails().len(), 1);

    let e = sender
        .send(&a, &email_to("not an address"))
        .await
        .unwrap_err();
    assert!(!e.retryable && e.message.contains("recipient"), "{e:?}");
}

#[tokio::test]
async fn feishu_signed_card_is_verified_by_the_bot() {
    let bot = FeishuBot::start(Some("bot-secret")).await.unwrap();
    let sender = FeishuSender::new().unwrap();
    let a = alert(vec![item("nightly-report", "boom")]);
    sender
        .send(&a, &feishu_to(bot.url(), Some("bot-secret")))
        .await
        .unwrap();

    let accepted = bot.accepted();
    assert_eq!(accepted.len(), 1);
    let m = &accepted[0];
    assert_eq!(m["msg_type"], "interactive");
    assert!(m["sign"].is_string() && m["timestamp"].is_string());
    assert_eq!(m["card"]["header"]["template"], "red");
    assert_eq!(
        m["card"]["header"]["title"]["content"],
        "Job nightly-report failed"
    );
    let texts = card_texts(m);
    for expected in [
        "Job: nightly-report",
        "Agent: agent-a",
        "Time: 2025-03-01 10:30:00 CST (Asia/Shanghai)",
        "Error: exit code 1",
        "```\nboom\n```",
        "http://dash.example/executions/01EXEC",
    ] {
        assert!(
            texts.iter().any(|t| t == expected),
            "{expected} not in {texts:?}"
        );
    }

    let mut good = alert(vec![item("nightly-report", "")]);
    good.items[0].event = EventKind::Recovered;
    sender
        .send(&good, &feishu_to(bot.url(), Some("bot-secret")))
        .await
        .unwrap();
    assert_eq!(bot.accepted()[1]["card"]["header"]["template"], "green");
}

#[tokio::test]
async fn feishu_wrong_secret_is_the_bots_19021() {
    let bot = FeishuBot::start(Some("right")).await.unwrap();
    let sender = FeishuSender::new().unwrap();
    let a = alert(vec![item("job", "")]);
    for secret in [Some("wrong"), None] {
        let e = sender
            .send(&a, &feishu_to(bot.url(), secret))
            .await
            .unwrap_err();
        assert!(e.message.contains("code 19021"), "{e:?}");
        // Crony's own words for the code, never the bot's answer text.
        assert!(e.message.contains("bad signature"), "{e:?}");
        assert!(!e.message.contains("sign match fail"), "{e:?}");
        assert!(!e.retryable);
    }
    assert!(bot.accepted().is_empty());
    assert_eq!(bot.requests().len(), 2);

    // A correct signature over a timestamp more than an hour old is refused as well.
    let stale = Utc::now().timestamp() - 3_700;
    let body = feishu::build_message(&a, FeishuFormat::Card, Some("right"), stale);
    let answer: Value = crony_tests::api_client()
        .post(bot.url())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["code"], 19021);
    assert!(bot.accepted().is_empty());
}

#[tokio::test]
async fn feishu_error_answers_are_failures() {
    let bot = FeishuBot::start(None).await.unwrap();
    let sender = FeishuSender::new().unwrap();
    let a = alert(vec![item("job", "")]);
    let to = feishu_to(bot.url(), None);
    bot.script(FeishuReply::Code(9499, "Bad Request".into()));
    bot.script(FeishuReply::Code(11232, "frequency limited".into()));
    bot.script(FeishuReply::Status(500));
    for (code, retryable) in [("9499", false), ("11232", true), ("500", true)] {
        let e = sender.send(&a, &to).await.unwrap_err();
        assert!(e.message.contains(code), "{code}: {e:?}");
        assert_eq!(e.retryable, retryable, "{code}: {e:?}");
    }
    sender.send(&a, &to).await.unwrap();
    let accepted = bot.accepted();
    assert_eq!(accepted.len(), 1);
    // Without a secret the message carries no signature fields.
    assert!(accepted[0].get("sign").is_none() && accepted[0].get("timestamp").is_none());

    let url = format!("http://127.0.0.1:{}/hook", closed_port().await);
    let e = sender.send(&a, &feishu_to(url, None)).await.unwrap_err();
    assert!(
        e.retryable && e.message.contains("connection refused"),
        "{e:?}"
    );
}

#[tokio::test]
async fn feishu_text_format_and_groups_stay_small() {
    let bot = FeishuBot::start(Some("s")).await.unwrap();
    let to = feishu_to(bot.url(), Some("s"));
    let text_sender = FeishuSender::new().unwrap().with_format(FeishuFormat::Text);
    text_sender
        .send(&alert(vec![item("job", "out")]), &to)
        .await
        .unwrap();
    let m = &bot.accepted()[0];
    assert_eq!(m["msg_type"], "text");
    let text = m["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("Job: job\n") && text.contains("-----\nout\n-----"),
        "{text}"
    );

    let items = (0..30)
        .map(|n| item(&format!("job-{n}"), &"x".repeat(100_000)))
        .collect();
    FeishuSender::new()
        .unwrap()
        .send(&alert(items), &to)
        .await
        .unwrap();
    let raw = bot.requests().pop().unwrap();
    assert!(
        raw.len() < 20_000,
        "Feishu rejects bodies over 20 KB: {}",
        raw.len()
    );
    let texts = card_texts(&bot.accepted()[1]);
    assert!(texts.iter().any(|t| t == "Job: job-19"));
    assert!(!texts.iter().any(|t| t == "Job: job-20"));
    assert!(texts.iter().any(|t| t == "… and 10 more"), "{texts:?}");
}

/// Quotes, backslashes, newlines, Chinese text and a 1 MB output arrive intact in both
/// channels, and what arrives of the output is its end.
#[tokio::test]
async fn special_characters_and_huge_output_arrive_intact() {
    let job = "备份 \"nightly\" C:\\data\\新建\n任务失败";
    let tail = "最后一行: \"quoted\" \\ back\\slash\n任务失败 exit=1\ttab\n";
    let output = format!("{}{tail}", "前面的输出 filler line\n".repeat(60_000));
    assert!(output.len() > 1_000_000);
    let mut it = item(job, &output);
    it.error = "错误: \"bad\" \\n literal\nsecond line".into();
    let a = alert(vec![it.clone()]);
    let (expected, cut) = render::tail_chars(&output, render::Limits::EMAIL.output_chars);
    assert!(cut && expected.ends_with(tail));

    let smtp = SmtpServer::start().await.unwrap();
    let sender = EmailSender::from_url(&smtp.url(), FROM).unwrap();
    sender.send(&a, &email_to(TO)).await.unwrap();
    let mail = smtp.mails()[0].parse().unwrap();
    // The subject keeps everything but line breaks (a subject is one line).
    assert_eq!(
        mail.subject,
        format!("[Crony] {}", render::one_line(&a.title))
    );
    assert!(mail.subject.contains("任务失败") && mail.subject.contains("C:\\data\\新建"));
    let text = mail.text.unwrap();
    assert!(text.contains(&format!("Job: {job}\n")), "{text}");
    assert!(text.contains(&format!("Error: {}\n", it.error)));
    assert!(text.contains(&format!("-----\n{expected}\n-----")));
    let html = mail.html.unwrap();
    assert!(html.contains(&escape_html(expected)));
    assert!(html.contains(&escape_html(job)));

    let bot = FeishuBot::start(Some("密钥 secret")).await.unwrap();
    let to = feishu_to(bot.url(), Some("密钥 secret"));
    FeishuSender::new().unwrap().send(&a, &to).await.unwrap();
    let raw = bot.requests().pop().unwrap();
    assert!(raw.len() < 20_000, "{}", raw.len());
    let m = &bot.accepted()[0];
    let (chat_tail, _) = render::tail_chars(&output, render::Limits::CHAT.output_chars);
    let texts = card_texts(m);
    assert!(
        texts.iter().any(|t| *t == format!("Job: {job}")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| *t == format!("Error: {}", it.error)));
    assert!(texts.iter().any(|t| *t == format!("```\n{chat_tail}\n```")));
    assert!(chat_tail.ends_with(tail));
}

#[tokio::test]
async fn webhook_posts_the_alert_as_json() {
    let sink = HttpSink::start().await.unwrap();
    let sender = WebhookSender::new().unwrap();
    let a = alert(vec![item("say \"hi\" 任务", "out\\put")]);
    let to = Recipient {
        channel: ChannelKind::Webhook,
        address: sink.url("/alerts"),
        secret: Some("hook-secret".into()),
    };
    sender.send(&a, &to).await.unwrap();
    let call = sink.calls().pop().unwrap();
    let body: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(body["event"], "failed");
    assert_eq!(body["title"], a.title);
    let back: Alert = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(back, a);

    // The signature is checked independently of the sender's own helper.
    let timestamp = call.header("x-crony-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-secret").unwrap();
    mac.update(format!("{timestamp}.{}", call.body).as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(call.header("x-crony-signature"), expected);

    for (status, retryable) in [(400, false), (404, false), (503, true), (429, true)] {
        sink.answer(status);
        let e = sender.send(&a, &to).await.unwrap_err();
        assert_eq!(e.retryable, retryable, "{status}: {e:?}");
        assert!(e.message.contains(&status.to_string()), "{e:?}");
    }
    // A redirect is not followed (it could lead anywhere), and says so.
    sink.answer(302);
    let e = sender.send(&a, &to).await.unwrap_err();
    assert!(
        !e.retryable && e.message == "webhook: redirect refused (HTTP 302)",
        "{e:?}"
    );
    let to = Recipient {
        address: format!("http://127.0.0.1:{}/x", closed_port().await),
        ..to
    };
    assert!(sender.send(&a, &to).await.unwrap_err().retryable);
}
