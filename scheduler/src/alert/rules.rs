//! The rules, as pure functions: which execution outcomes are alert events, which events a job
//! asked for, who hears about them, when a job has recovered or its failure rate crossed the
//! threshold, and what the message says. `docs/alerts.md` states them for operators.

use chrono::{DateTime, Utc};

use super::settings::AlertSettings;
use super::{AlertItem, AlertLang, ChannelKind, EventKind};
use crate::domain::execution::Status;
use crate::domain::job::{AlertEvent, AlertSpec};

/// Characters of output an alert quotes (the end of it: where errors usually are).
pub const EXCERPT_CHARS: usize = 1_000;

/// Where a Feishu signing secret is looked up at send time (it is never stored with the alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRef {
    /// The job's `alerts.feishu_webhooks` entry with the alert's URL.
    Job,
    /// `CRONY_FEISHU_SECRET`.
    Cluster,
}

impl SecretRef {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretRef::Job => "job",
            SecretRef::Cluster => "cluster",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "job" => Some(SecretRef::Job),
            "cluster" => Some(SecretRef::Cluster),
            _ => None,
        }
    }
}

/// One recipient as stored: the address, and where its secret (if any) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub channel: ChannelKind,
    pub address: String,
    pub secret: Option<SecretRef>,
}

/// The event an execution's final status is, if any (`recovered` is decided separately).
pub fn event_for(status: Status) -> Option<EventKind> {
    match status {
        Status::Failed => Some(EventKind::Failed),
        Status::TimedOut => Some(EventKind::TimedOut),
        Status::Lost => Some(EventKind::Lost),
        Status::Missed => Some(EventKind::Missed),
        _ => None,
    }
}

/// Whether an execution settling in `status` can raise any alert (skipped and killed runs
/// never do, so no outbox row is written for them).
pub fn may_alert(status: Status) -> bool {
    event_for(status).is_some() || is_outcome(status)
}

/// Outcomes that count for recovery and the failure rate; skipped, missed and killed runs say
/// nothing about whether the job works.
pub fn is_outcome(status: Status) -> bool {
    matches!(
        status,
        Status::Succeeded | Status::Failed | Status::TimedOut | Status::Lost
    )
}

pub fn is_failure(status: Status) -> bool {
    matches!(status, Status::Failed | Status::TimedOut | Status::Lost)
}

/// Whether the job's `alerts.on` asks for this event.
pub fn wants(spec: &AlertSpec, event: EventKind) -> bool {
    let wanted = match event {
        EventKind::Failed => AlertEvent::Failed,
        EventKind::TimedOut => AlertEvent::TimedOut,
        EventKind::Recovered => AlertEvent::Recovered,
        EventKind::Lost => AlertEvent::Lost,
        EventKind::Missed => AlertEvent::Missed,
        EventKind::FailureRate => AlertEvent::FailureRate,
        EventKind::Unassigned => AlertEvent::Unassigned,
        _ => return false,
    };
    spec.on.contains(&wanted)
}

/// A success right after a failure (the previous outcome of the job, newest first).
pub fn is_recovery(current: Status, previous: Option<Status>) -> bool {
    current == Status::Succeeded && previous.is_some_and(is_failure)
}

/// Whether the failure rate crossed `threshold` upward with `current`: over the last `window`
/// outcomes including it, and not over the `window` before it. `previous` is newest first. A
/// window not yet full never alerts (a new job failing once is not a "rate").
pub fn failure_rate_crossed(
    current: Status,
    previous: &[Status],
    window: usize,
    threshold: f64,
) -> bool {
    let rate = |outcomes: &[Status]| {
        outcomes.len() >= window
            && outcomes.iter().filter(|s| is_failure(**s)).count() as f64
                >= threshold * window as f64
    };
    let mut now = vec![current];
    now.extend(previous.iter().take(window.saturating_sub(1)));
    let before: Vec<Status> = previous.iter().take(window).copied().collect();
    rate(&now) && !rate(&before)
}

/// Recipients of a job's alert: its own emails and Feishu bots, or the cluster's when it names
/// none; plus the cluster's generic webhook, which hears everything.
pub fn job_targets(spec: &AlertSpec, settings: &AlertSettings) -> Vec<Target> {
    let mut out = Vec::new();
    if spec.emails.is_empty() && spec.feishu_webhooks.is_empty() {
        out.extend(cluster_people(settings));
    } else {
        out.extend(spec.emails.iter().map(|e| Target {
            channel: ChannelKind::Email,
            address: e.clone(),
            secret: None,
        }));
        out.extend(spec.feishu_webhooks.iter().map(|h| Target {
            channel: ChannelKind::Feishu,
            address: h.url.clone(),
            secret: h.secret.as_ref().map(|_| SecretRef::Job),
        }));
    }
    out.extend(cluster_webhook(settings));
    dedupe(out)
}

/// Recipients of agent and system alerts.
pub fn system_targets(settings: &AlertSettings) -> Vec<Target> {
    let mut out = cluster_people(settings);
    out.extend(cluster_webhook(settings));
    dedupe(out)
}

fn cluster_people(settings: &AlertSettings) -> Vec<Target> {
    let mut out: Vec<Target> = settings
        .emails
        .iter()
        .map(|e| Target {
            channel: ChannelKind::Email,
            address: e.clone(),
            secret: None,
        })
        .collect();
    if let Some(url) = &settings.feishu_webhook {
        out.push(Target {
            channel: ChannelKind::Feishu,
            address: url.clone(),
            secret: settings.feishu_secret.as_ref().map(|_| SecretRef::Cluster),
        });
    }
    out
}

fn cluster_webhook(settings: &AlertSettings) -> Option<Target> {
    settings.webhook.as_ref().map(|url| Target {
        channel: ChannelKind::Webhook,
        address: url.clone(),
        secret: None,
    })
}

/// One message per (channel, address), even if a job lists an address twice.
pub fn dedupe(targets: Vec<Target>) -> Vec<Target> {
    let mut seen = std::collections::HashSet::new();
    targets
        .into_iter()
        .filter(|t| seen.insert((t.channel, t.address.clone())))
        .collect()
}

/// What throttling treats as "the same alert".
pub fn group_key(event: EventKind, item: &AlertItem) -> String {
    let subject = match (&item.job_id, &item.agent_id) {
        (Some(job), _) => format!("job:{job}"),
        (None, Some(agent)) => format!("agent:{agent}"),
        (None, None) => "cluster".to_owned(),
    };
    format!("{}:{subject}", event.as_str())
}

/// The last [`EXCERPT_CHARS`] characters of an output.
pub fn excerpt(output: &str) -> String {
    let count = output.chars().count();
    if count <= EXCERPT_CHARS {
        return output.to_owned();
    }
    let tail: String = output.chars().skip(count - EXCERPT_CHARS).collect();
    format!("…{tail}")
}

/// A one-line title for one item, in the alert's language.
pub fn title(item: &AlertItem, lang: AlertLang) -> String {
    lang.title(item)
}

/// The title with the count of repeats throttling held back since `since`.
pub fn with_suppressed(
    title: &str,
    suppressed: u32,
    since: Option<DateTime<Utc>>,
    lang: AlertLang,
) -> String {
    lang.with_suppressed(title, suppressed, since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::FeishuWebhook;
    use Status::{Failed as F, Succeeded as S};

    #[test]
    fn recovery_is_a_success_right_after_a_failure() {
        assert!(is_recovery(S, Some(F)));
        assert!(is_recovery(S, Some(Status::Lost)));
        assert!(!is_recovery(S, Some(S)));
        assert!(!is_recovery(S, None));
        assert!(!is_recovery(F, Some(F)));
    }

    #[test]
    fn failure_rate_alerts_once_when_it_crosses_upward() {
        // Window 4, threshold 0.5: two failures out of four.
        assert!(failure_rate_crossed(F, &[F, S, S], 4, 0.5));
        assert!(failure_rate_crossed(F, &[S, F, S, S], 4, 0.5));
        // Already over before this one: no second alert.
        assert!(!failure_rate_crossed(F, &[F, F, S, S], 4, 0.5));
        // Not full yet.
        assert!(!failure_rate_crossed(F, &[F], 4, 0.5));
        // Successes never cross upward.
        assert!(!failure_rate_crossed(S, &[F, F, S, S], 4, 0.5));
        // Dropping below and crossing again alerts again.
        assert!(failure_rate_crossed(F, &[S, S, F, S, F], 4, 0.5));
    }

    #[test]
    fn jobs_naming_nobody_fall_back_to_the_cluster_and_the_webhook_hears_all() {
        let settings = AlertSettings {
            emails: vec!["ops@x.io".into()],
            feishu_webhook: Some("https://f/hook/1".into()),
            feishu_secret: Some("s".into()),
            webhook: Some("https://w/all".into()),
            ..AlertSettings::default()
        };
        let none = AlertSpec::default();
        let targets = job_targets(&none, &settings);
        assert_eq!(targets.len(), 3);
        assert_eq!(targets[1].secret, Some(SecretRef::Cluster));
        let own = AlertSpec {
            on: vec![AlertEvent::Failed],
            emails: vec!["dev@x.io".into(), "dev@x.io".into()],
            feishu_webhooks: vec![FeishuWebhook {
                url: "https://f/hook/2".into(),
                secret: Some("k".into()),
            }],
        };
        let targets = job_targets(&own, &settings);
        let addresses: Vec<&str> = targets.iter().map(|t| t.address.as_str()).collect();
        assert_eq!(addresses, ["dev@x.io", "https://f/hook/2", "https://w/all"]);
        assert_eq!(targets[1].secret, Some(SecretRef::Job));
        assert!(wants(&own, EventKind::Failed) && !wants(&own, EventKind::Recovered));
    }

    #[test]
    fn excerpts_keep_the_end_on_char_boundaries() {
        let long = "错".repeat(EXCERPT_CHARS + 5);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn suppressed_repeats_are_counted_in_the_title() {
        let since = DateTime::from_timestamp(1_700_000_000, 0);
        assert_eq!(with_suppressed("T", 0, since, AlertLang::En), "T");
        assert_eq!(
            with_suppressed("T", 7, since, AlertLang::En),
            "T (and 7 more since 2023-11-14 22:13:20 UTC)"
        );
    }
}
