//! Sending one stored alert through its channel: the sender for the channel (from the map
//! given at start), the recipient with its Feishu secret looked up now (secrets are never
//! stored with alerts), and a timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crony_common::callback_allow::CallbackAllow;

use super::rules::SecretRef;
use super::settings::AlertSettings;
use super::store::AlertRow;
use super::{Alert, ChannelKind, Recipient, SendError, Sender};
use crate::store::Store;

/// One send may take this long before it counts as a (retryable) failure.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// The senders by channel, and the settings that hold the cluster's secrets.
pub struct Channels {
    pub senders: HashMap<ChannelKind, Arc<dyn Sender>>,
    pub settings: AlertSettings,
}

fn fatal(message: impl Into<String>) -> SendError {
    SendError {
        message: message.into(),
        retryable: false,
    }
}

/// Why a channel has no sender, naming the setting that turns it on.
pub fn not_configured(channel: ChannelKind) -> String {
    match channel {
        ChannelKind::Email => "email not configured: set CRONY_SMTP_URL".into(),
        other => format!("{} not configured on this scheduler", other.as_str()),
    }
}

/// The senders the configuration enables: email when `CRONY_SMTP_URL` is set (from
/// `CRONY_SMTP_FROM`, default `crony@<hostname>`); Feishu and the generic webhook always
/// (their addresses come with each alert), calling only hosts `allow`
/// (`CRONY_CALLBACK_ALLOW`) allows. An unusable setting is an error naming it, reported at
/// start-up.
pub fn configured_senders(
    settings: &AlertSettings,
    allow: Option<Arc<CallbackAllow>>,
) -> Result<HashMap<ChannelKind, Arc<dyn Sender>>, String> {
    let mut senders: HashMap<ChannelKind, Arc<dyn Sender>> = HashMap::new();
    if let Some(url) = &settings.smtp_url {
        let from = settings
            .smtp_from
            .clone()
            .unwrap_or_else(|| format!("crony@{}", gethostname::gethostname().to_string_lossy()));
        senders.insert(
            ChannelKind::Email,
            Arc::new(super::EmailSender::from_url(url, &from)?),
        );
    }
    let timeout = super::http::DEFAULT_TIMEOUT;
    senders.insert(
        ChannelKind::Feishu,
        Arc::new(super::FeishuSender::with_callback_allow(
            timeout,
            allow.clone(),
        )?),
    );
    senders.insert(
        ChannelKind::Webhook,
        Arc::new(super::WebhookSender::with_callback_allow(timeout, allow)?),
    );
    Ok(senders)
}

impl Channels {
    pub fn new(senders: HashMap<ChannelKind, Arc<dyn Sender>>, settings: AlertSettings) -> Self {
        Self { senders, settings }
    }

    pub fn sender(&self, channel: ChannelKind) -> Result<&Arc<dyn Sender>, SendError> {
        self.senders
            .get(&channel)
            .ok_or_else(|| fatal(not_configured(channel)))
    }

    /// Sends `alert` to a stored row's recipient.
    pub async fn send_row(
        &self,
        store: &dyn Store,
        row: &AlertRow,
        alert: &Alert,
    ) -> Result<(), SendError> {
        let channel = row
            .channel()
            .ok_or_else(|| fatal(format!("unknown channel {:?}", row.channel)))?;
        let secret = match row.secret_ref() {
            None => None,
            Some(SecretRef::Cluster) => self.settings.feishu_secret.clone(),
            Some(SecretRef::Job) => Some(self.job_secret(store, row).await?),
        };
        let to = Recipient {
            channel,
            address: row.recipient.clone(),
            secret,
        };
        self.send(alert, &to).await
    }

    /// Sends with the timeout.
    pub async fn send(&self, alert: &Alert, to: &Recipient) -> Result<(), SendError> {
        let sender = self.sender(to.channel)?;
        match tokio::time::timeout(SEND_TIMEOUT, sender.send(alert, to)).await {
            Ok(result) => result,
            Err(_) => Err(SendError {
                message: format!("no answer within {} s", SEND_TIMEOUT.as_secs()),
                retryable: true,
            }),
        }
    }

    /// The secret of the job's Feishu webhook with this URL, as the job says now.
    async fn job_secret(&self, store: &dyn Store, row: &AlertRow) -> Result<String, SendError> {
        // Only a job's own webhooks have a job secret: a row without a job cannot name one.
        let Some(job_id) = &row.job_id else {
            return Err(fatal(
                "a job's Feishu secret was asked for an alert of no job",
            ));
        };
        let job = store.get_job(job_id).await.map_err(|e| SendError {
            message: format!("cannot read the job's Feishu secret: {e}"),
            retryable: true,
        })?;
        job.and_then(|job| {
            job.spec
                .alerts
                .feishu_webhooks
                .into_iter()
                .find(|h| h.url == row.recipient)
                .and_then(|h| h.secret)
        })
        .ok_or_else(|| fatal("the job no longer lists this Feishu webhook with a secret"))
    }
}
