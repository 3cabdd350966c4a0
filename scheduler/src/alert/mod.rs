//! Alerts (issue 5): events worth telling people about, recorded in MySQL first and then
//! delivered through channels (email, Feishu, generic webhook) with retries and throttling.
//!
//! This file holds the shared vocabulary. `channels` of the senders live beside it
//! (`email.rs`, `feishu.rs`, `webhook.rs`); the pipeline (rules, throttling, the `alerts`
//! table, the delivery worker) builds on [`Alert`], [`Recipient`] and [`Sender`].

pub mod delivery;
pub mod email;
pub mod events;
pub mod feishu;
pub mod feishu_message;
mod http;
pub mod lang;
pub mod outbox;
mod reason;
pub mod recorder;
pub mod recording;
pub mod render;
pub mod rules;
pub mod settings;
pub mod store;
pub mod throttle;
pub mod watch;
pub mod webhook;
pub mod worker;

pub use email::EmailSender;
pub use feishu::{FeishuFormat, FeishuSender};
pub use lang::AlertLang;
pub use webhook::WebhookSender;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{AgentId, ExecutionId, JobId};

/// What happened. Job events can be chosen per job (`alerts.on`); agent and system events go
/// to the cluster-wide recipients from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An execution failed after all its retries.
    Failed,
    /// An attempt or an async result timed out (and no retry is left).
    TimedOut,
    /// First success after failures.
    Recovered,
    /// An execution was lost with its agent.
    Lost,
    /// Fires were missed (misfire).
    Missed,
    /// The job's failure rate over its last N executions crossed the threshold.
    FailureRate,
    /// The job has no eligible agent.
    Unassigned,
    AgentOffline,
    AgentOnline,
    /// Sent on request to check a channel.
    Test,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Failed => "failed",
            EventKind::TimedOut => "timed_out",
            EventKind::Recovered => "recovered",
            EventKind::Lost => "lost",
            EventKind::Missed => "missed",
            EventKind::FailureRate => "failure_rate",
            EventKind::Unassigned => "unassigned",
            EventKind::AgentOffline => "agent_offline",
            EventKind::AgentOnline => "agent_online",
            EventKind::Test => "test",
        }
    }

    /// Good news (recovered, agent back) is rendered as such, not as a failure.
    pub fn is_good_news(self) -> bool {
        matches!(self, EventKind::Recovered | EventKind::AgentOnline)
    }
}

/// One thing that happened, with the context an on-call person needs to act.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertItem {
    pub event: EventKind,
    #[schema(value_type = Option<String>)]
    pub job_id: Option<JobId>,
    pub job_name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub agent_id: Option<AgentId>,
    #[schema(value_type = Option<String>)]
    pub execution_id: Option<ExecutionId>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The job's time zone (times are shown in it, and in UTC); UTC for agent events.
    pub timezone: String,
    /// Why, in words (the execution's error, "lease expired", …).
    pub error: String,
    /// The end of the output, already cut to a readable size.
    pub output_excerpt: String,
    /// Dashboard link to the execution (or job, or agent).
    pub link: Option<String>,
}

impl AlertItem {
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }
}

/// What one message says: one item, or several grouped (a burst of failures, or repeats
/// within the throttle window summarised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Row id in the `alerts` table (0 for a test alert not stored).
    pub id: u64,
    /// Already in `lang`: made when the alert was recorded.
    pub title: String,
    pub items: Vec<AlertItem>,
    /// The language people read it in (the job's `alert_lang`, else `CRONY_ALERT_LANG`).
    /// Left out of the JSON when English, so stored alerts from before read as English.
    #[serde(default, skip_serializing_if = "AlertLang::is_en")]
    pub lang: AlertLang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Feishu,
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Webhook => "webhook",
        }
    }
}

/// Where one message goes.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Recipient {
    pub channel: ChannelKind,
    /// An email address, or the webhook URL.
    pub address: String,
    /// Feishu bot signing secret (never logged or returned by the API).
    pub secret: Option<String>,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("channel", &self.channel)
            .field("address", &self.address)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a delivery failed; `retryable` says whether trying again later can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    pub retryable: bool,
}

/// A channel that delivers alerts. Implementations never panic on odd content (quotes,
/// newlines, Chinese text, huge outputs) and build structured payloads with serde, never by
/// pasting strings.
#[async_trait::async_trait]
pub trait Sender: Send + Sync {
    async fn send(&self, alert: &Alert, to: &Recipient) -> Result<(), SendError>;
}
