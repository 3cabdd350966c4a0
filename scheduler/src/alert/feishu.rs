//! Feishu (Lark) custom-bot channel: POSTs a card or text to the bot's webhook URL, signed
//! when the bot has a secret, and reads Feishu's `code` answer (non-zero is a failure even
//! with HTTP 200).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use crony_common::callback_allow::CallbackAllow;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

pub use super::feishu_message::FeishuMessage;
use super::feishu_message::{self as message, MessageBody};
use super::{Alert, Recipient, SendError, Sender, http, reason};

const CHANNEL: &str = "feishu";

/// Feishu codes worth retrying: the bot is rate limited (11232), or Feishu itself failed.
/// Everything else (9499 bad request, 19021 bad signature, 19024 keyword mismatch, …) needs
/// a configuration change, so retrying only delays the `failed` record.
const RETRYABLE_CODES: &[i64] = &[11232];

/// How alerts look in the chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FeishuFormat {
    /// An interactive card: coloured header, fields, output excerpt, dashboard button.
    #[default]
    Card,
    /// Plain text, for bots or clients that do not show cards.
    Text,
}

/// Feishu's signature: base64(HMAC-SHA256(key = "{timestamp}\n{secret}", message = "")),
/// with `timestamp` in seconds. Feishu rejects timestamps more than an hour off.
pub fn sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps it panic-free.
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The full request body for `alert`, signed at `timestamp` when `secret` is set.
pub fn build_message(
    alert: &Alert,
    format: FeishuFormat,
    secret: Option<&str>,
    timestamp: i64,
) -> FeishuMessage {
    let body = match format {
        FeishuFormat::Card => MessageBody::Interactive {
            card: message::card(alert),
        },
        FeishuFormat::Text => MessageBody::Text {
            content: message::text(alert),
        },
    };
    let secret = secret.filter(|s| !s.is_empty());
    FeishuMessage {
        timestamp: secret.map(|_| timestamp.to_string()),
        sign: secret.map(|s| sign(timestamp, s)),
        body,
    }
}

/// Feishu's answer. Older bot endpoints answer `StatusCode` instead. Only the number is
/// kept: the message is the remote's words (see `reason`).
#[derive(Debug, Deserialize)]
struct Answer {
    code: Option<i64>,
    #[serde(rename = "StatusCode")]
    status_code: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct FeishuSender {
    client: http::AlertClient,
    format: FeishuFormat,
}

impl FeishuSender {
    pub fn new() -> Result<Self, String> {
        Self::with_timeout(http::DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(timeout: Duration) -> Result<Self, String> {
        Self::with_callback_allow(timeout, None)
    }

    /// Calls only hosts `allow` allows (`CRONY_CALLBACK_ALLOW`; `None`: any).
    pub fn with_callback_allow(
        timeout: Duration,
        allow: Option<Arc<CallbackAllow>>,
    ) -> Result<Self, String> {
        Ok(Self {
            client: http::AlertClient::new(timeout, allow)?,
            format: FeishuFormat::default(),
        })
    }

    pub fn with_format(mut self, format: FeishuFormat) -> Self {
        self.format = format;
        self
    }
}

#[async_trait::async_trait]
impl Sender for FeishuSender {
    async fn send(&self, alert: &Alert, to: &Recipient) -> Result<(), SendError> {
        let timestamp = chrono::Utc::now().timestamp();
        let body = build_message(alert, self.format, to.secret.as_deref(), timestamp);
        let response = self
            .client
            .post(CHANNEL, &to.address)?
            .json(&body)
            .send()
            .await
            .map_err(|e| reason::transport(CHANNEL, e))?;
        let status = response.status();
        if !status.is_success() {
            // Feishu answers its codes with 200; anything else is a proxy's or a stranger's.
            return Err(reason::status(CHANNEL, status));
        }
        let text = http::read_answer(CHANNEL, response).await?;
        interpret(status, &text)
    }
}

/// Success needs both a 2xx status and code 0: Feishu reports most failures with HTTP 200.
fn interpret(status: reqwest::StatusCode, text: &str) -> Result<(), SendError> {
    let answer = serde_json::from_str::<Answer>(text).ok();
    let code = answer.as_ref().and_then(|a| a.code.or(a.status_code));
    match code {
        Some(0) if status.is_success() => Ok(()),
        Some(code) if code != 0 => Err(reason::feishu_code(
            CHANNEL,
            code,
            RETRYABLE_CODES.contains(&code) || reason::status_is_retryable(status),
        )),
        _ if !status.is_success() => Err(reason::status(CHANNEL, status)),
        _ => Err(SendError {
            message: format!("{CHANNEL}: unexpected answer (no code)"),
            retryable: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn signature_matches_feishu_reference_algorithm() {
        // Recomputed independently with Python's hmac/hashlib/base64 for this input.
        assert_eq!(
            sign(1_599_360_473, "demo-secret"),
            "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s="
        );
    }

    fn alert_with_output(output: &str) -> Alert {
        Alert {
            lang: Default::default(),
            id: 1,
            title: "t".into(),
            items: vec![crate::alert::AlertItem {
                event: crate::alert::EventKind::Failed,
                job_id: None,
                job_name: Some("j".into()),
                agent_id: None,
                execution_id: None,
                at: chrono::Utc::now(),
                timezone: "UTC".into(),
                error: String::new(),
                output_excerpt: output.into(),
                link: Some("javascript:alert(1)".into()),
            }],
        }
    }

    #[test]
    fn signed_message_carries_timestamp_and_sign() {
        let m = build_message(&alert_with_output("x"), FeishuFormat::Card, Some("s"), 42);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["timestamp"], "42");
        assert_eq!(v["sign"], sign(42, "s"));
        assert_eq!(v["msg_type"], "interactive");
        let unsigned = build_message(&alert_with_output("x"), FeishuFormat::Text, None, 42);
        let v = serde_json::to_value(&unsigned).unwrap();
        assert!(v.get("sign").is_none() && v.get("timestamp").is_none());
        assert_eq!(v["msg_type"], "text");
    }

    #[test]
    fn a_chinese_card_has_chinese_labels() {
        let mut alert = alert_with_output("boom");
        alert.lang = crate::alert::AlertLang::ZhCn;
        alert.items[0].link = Some("http://dash.example/executions/e".into());
        let json =
            serde_json::to_string(&build_message(&alert, FeishuFormat::Card, None, 0)).unwrap();
        for phrase in ["执行失败", "任务: j", "时间: ", "输出", "在控制台中打开"] {
            assert!(json.contains(phrase), "{phrase:?} not in {json}");
        }
        assert!(!json.contains("Job:") && !json.contains("Open in the dashboard"));
        let text = build_message(&alert, FeishuFormat::Text, None, 0);
        let json = serde_json::to_string(&text).unwrap();
        assert!(json.contains("任务: j"), "{json}");
    }

    #[test]
    fn output_that_could_escape_a_code_block_is_plain_text() {
        for output in ["<at id=all></at>", "```\n**bold**"] {
            let m = build_message(&alert_with_output(output), FeishuFormat::Card, None, 0);
            let json = serde_json::to_string(&m).unwrap();
            assert!(!json.contains("\"tag\":\"markdown\""), "{json}");
            // Only web links become buttons.
            assert!(!json.contains("javascript:"), "{json}");
        }
    }

    #[test]
    fn code_zero_is_success_and_other_codes_fail() {
        assert!(interpret(StatusCode::OK, r#"{"code":0,"msg":"success","data":{}}"#).is_ok());
        assert!(
            interpret(
                StatusCode::OK,
                r#"{"StatusCode":0,"StatusMessage":"success"}"#
            )
            .is_ok()
        );
        let e = interpret(StatusCode::OK, r#"{"code":19021,"msg":"sign match fail"}"#).unwrap_err();
        assert!(e.message.contains("19021") && !e.message.contains("sign match fail"));
        assert!(!e.retryable);
        let e = interpret(
            StatusCode::OK,
            r#"{"code":11232,"msg":"frequency limited"}"#,
        )
        .unwrap_err();
        assert!(e.retryable);
        let e = interpret(StatusCode::INTERNAL_SERVER_ERROR, "oops").unwrap_err();
        assert!(e.retryable && e.message.contains("500"));
        let e = interpret(StatusCode::OK, "not json: the secret").unwrap_err();
        assert!(!e.retryable && !e.message.contains("secret"), "{e:?}");
    }
}
