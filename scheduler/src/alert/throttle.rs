//! Decisions that keep alerting humane, as pure functions: throttling repeats of the same
//! alert, grouping a burst for one recipient into one message, and the retry backoff.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Alert, AlertItem};
use crate::domain::ids::JobId;

/// A recipient that got more than this many alerts within [`BURST_WINDOW`] gets the rest of
/// the burst as one message.
pub const BURST_LIMIT: usize = 5;
pub const BURST_WINDOW: Duration = Duration::from_secs(30);
/// Items listed in one grouped message; the rest are counted.
pub const GROUP_ITEMS: usize = 50;
/// Deliveries tried before an alert is given up (`dead`).
pub const MAX_ATTEMPTS: u32 = 8;

/// Whether an alert of a group last sent to this recipient at `last` is held back at `now`.
pub fn throttled(last: Option<DateTime<Utc>>, now: DateTime<Utc>, window: Duration) -> bool {
    let Some(last) = last else { return false };
    let Ok(window) = chrono::Duration::from_std(window) else {
        return false;
    };
    !window.is_zero() && now < last + window
}

/// Whether `due` alerts for one recipient, which was sent `recent` alerts within the burst
/// window, go out as one grouped message.
pub fn is_burst(due: usize, recent: usize) -> bool {
    due > 1 && due + recent > BURST_LIMIT
}

/// One message out of several alerts for the same recipient.
pub fn group(alerts: &[Alert]) -> Alert {
    let items: Vec<AlertItem> = alerts.iter().flat_map(|a| a.items.clone()).collect();
    let total = items.len();
    let jobs: std::collections::BTreeSet<&str> = items
        .iter()
        .filter_map(|i| {
            let id = i.job_id.as_ref().map(JobId::as_str);
            i.job_name.as_deref().or(id)
        })
        .collect();
    // One recipient's alerts: their jobs almost always share a language; the first decides.
    let lang = alerts.first().map(|a| a.lang).unwrap_or_default();
    let listed = (total > GROUP_ITEMS).then_some(GROUP_ITEMS);
    Alert {
        id: alerts.first().map_or(0, |a| a.id),
        title: lang.group_title(total, jobs.len(), listed),
        items: items.into_iter().take(GROUP_ITEMS).collect(),
        lang,
    }
}

/// Wait before delivery attempt `attempts + 1`, after `attempts` failures: 5 s, 30 s, 2 min,
/// 10 min, then 1 h.
pub fn backoff(attempts: u32) -> Duration {
    let secs = match attempts {
        0 | 1 => 5,
        2 => 30,
        3 => 120,
        4 => 600,
        _ => 3600,
    };
    Duration::from_secs(secs)
}

/// What to record after a failed delivery: retry at the given delay, or give up.
pub fn after_failure(attempts_so_far: u32, retryable: bool) -> Option<Duration> {
    let attempts = attempts_so_far + 1;
    (retryable && attempts < MAX_ATTEMPTS).then(|| backoff(attempts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::EventKind;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn repeats_within_the_window_are_throttled() {
        let window = Duration::from_secs(600);
        assert!(!throttled(None, at(0), window));
        assert!(throttled(Some(at(0)), at(599), window));
        assert!(!throttled(Some(at(0)), at(600), window));
        // A zero window throttles nothing.
        assert!(!throttled(Some(at(0)), at(0), Duration::ZERO));
    }

    #[test]
    fn bursts_are_grouped() {
        assert!(!is_burst(1, 100), "a single alert goes out on its own");
        assert!(!is_burst(5, 0));
        assert!(is_burst(6, 0));
        assert!(is_burst(2, 4));
        let item = |job: &str| AlertItem {
            event: EventKind::Failed,
            job_id: Some(job.into()),
            job_name: Some(job.into()),
            agent_id: None,
            execution_id: None,
            at: at(0),
            timezone: "UTC".into(),
            error: String::new(),
            output_excerpt: String::new(),
            link: None,
        };
        let alerts: Vec<Alert> = (0..60)
            .map(|i| Alert {
                id: 10 + i,
                title: "t".into(),
                items: vec![item(&format!("j{i}"))],
                lang: Default::default(),
            })
            .collect();
        let grouped = group(&alerts);
        assert_eq!(grouped.id, 10);
        assert_eq!(grouped.items.len(), GROUP_ITEMS);
        assert_eq!(grouped.title, "60 alerts for 60 jobs (first 50 listed)");
    }

    #[test]
    fn backoff_grows_to_an_hour_and_gives_up() {
        assert_eq!(after_failure(0, true), Some(Duration::from_secs(5)));
        assert_eq!(after_failure(1, true), Some(Duration::from_secs(30)));
        assert_eq!(after_failure(2, true), Some(Duration::from_secs(120)));
        assert_eq!(after_failure(6, true), Some(Duration::from_secs(3600)));
        assert_eq!(after_failure(7, true), None, "the 8th failure is the last");
        assert_eq!(after_failure(0, false), None, "not retryable: dead at once");
    }
}
