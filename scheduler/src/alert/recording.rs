//! The SQL of recording one event: per recipient, the throttle row is locked and read, and
//! the alert row is written `pending` (with the count of repeats held back since the last one
//! in its title) or `suppressed`, all in the caller's transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{MySql, Transaction};

use super::rules::{SecretRef, with_suppressed};
use super::store::{CLAIM_LEASE, NewAlert, Recorded};
use super::throttle::throttled;

pub(super) async fn record_in(
    tx: &mut Transaction<'_, MySql>,
    alert: &NewAlert,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Recorded>, sqlx::Error> {
    let mut out = Vec::with_capacity(alert.targets.len());
    for target in &alert.targets {
        let channel = target.channel.as_str();
        let (mut suppressed, mut count, mut since) = (false, 0u32, None);
        if alert.throttle {
            // The throttle row's lock serialises schedulers recording this group at once.
            sqlx::query(
                "INSERT INTO alert_throttle (group_key, channel, recipient, last_alert_at) \
                 VALUES (?, ?, ?, '1970-01-02 00:00:00') \
                 ON DUPLICATE KEY UPDATE group_key = group_key",
            )
            .bind(&alert.group_key)
            .bind(channel)
            .bind(&target.address)
            .execute(&mut **tx)
            .await?;
            let (last, held, held_since): (DateTime<Utc>, u32, Option<DateTime<Utc>>) =
                sqlx::query_as(
                    "SELECT last_alert_at, suppressed, suppressed_since FROM alert_throttle \
                     WHERE group_key = ? AND channel = ? AND recipient = ? FOR UPDATE",
                )
                .bind(&alert.group_key)
                .bind(channel)
                .bind(&target.address)
                .fetch_one(&mut **tx)
                .await?;
            suppressed = throttled(Some(last), now, window);
            (count, since) = (held, held_since);
            let update = if suppressed {
                "UPDATE alert_throttle SET suppressed = suppressed + 1, \
                 suppressed_since = COALESCE(suppressed_since, ?) \
                 WHERE group_key = ? AND channel = ? AND recipient = ?"
            } else {
                "UPDATE alert_throttle SET last_alert_at = ?, suppressed = 0, \
                 suppressed_since = NULL WHERE group_key = ? AND channel = ? AND recipient = ?"
            };
            sqlx::query(update)
                .bind(now)
                .bind(&alert.group_key)
                .bind(channel)
                .bind(&target.address)
                .execute(&mut **tx)
                .await?;
        }
        let mut payload = alert.alert.clone();
        if !suppressed {
            payload.title = with_suppressed(&payload.title, count, since, payload.lang);
        }
        let done = sqlx::query(
            "INSERT INTO alerts (event, job_id, execution_id, agent_id, channel, recipient, \
             secret_ref, status, attempts, last_error, payload, group_key, claim, created_at, \
             next_attempt_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(alert.event.as_str())
        .bind(&alert.job_id)
        .bind(&alert.execution_id)
        .bind(&alert.agent_id)
        .bind(channel)
        .bind(&target.address)
        .bind(target.secret.map(SecretRef::as_str))
        .bind(if suppressed { "suppressed" } else { "pending" })
        .bind(if suppressed {
            "throttled: the same alert went to this recipient within the throttle window"
        } else {
            ""
        })
        .bind(serde_json::to_string(&payload).expect("alerts serialise"))
        .bind(&alert.group_key)
        .bind(&alert.claim)
        .bind(now)
        .bind(match alert.claim {
            Some(_) => now + chrono::Duration::from_std(CLAIM_LEASE).unwrap_or_default(),
            None => now,
        })
        .bind(now)
        .execute(&mut **tx)
        .await?;
        out.push(Recorded {
            id: done.last_insert_id(),
            channel: target.channel,
            suppressed,
        });
    }
    Ok(out)
}
