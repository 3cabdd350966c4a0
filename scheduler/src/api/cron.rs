//! `GET /api/v1/cron/preview`: the next fire times of a schedule, or a 400 saying what is wrong.

use axum::Json;
use axum::extract::Query;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::domain::schedule::Schedule;

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    schedule: Option<String>,
    timezone: Option<String>,
    count: Option<String>,
    after: Option<String>,
}

pub async fn preview(Query(query): Query<PreviewQuery>) -> Result<Json<Value>, ApiError> {
    let raw = query
        .schedule
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("schedule", "is required"))?;
    let tz_name = query
        .timezone
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "UTC".into());
    let tz: Tz = tz_name.parse().map_err(|_| {
        ApiError::invalid("timezone", format!("{tz_name:?} is not an IANA time zone"))
    })?;
    let count = match query.count.as_deref() {
        None | Some("") => 10,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid("count", "must be 1 to 100"))?,
    };
    let after = match query.after.as_deref() {
        None | Some("") => Utc::now(),
        Some(a) => DateTime::parse_from_rfc3339(a)
            .map_err(|_| ApiError::invalid("after", format!("{a:?} is not an RFC 3339 instant")))?
            .with_timezone(&Utc),
    };
    let schedule =
        Schedule::parse(&raw, tz, after).map_err(|m| ApiError::invalid("schedule", m))?;
    let fires = super::jobs::fires(&schedule, tz, after, count);
    Ok(Json(
        json!({ "schedule": raw, "timezone": tz_name, "after": after.to_rfc3339(), "fires": fires }),
    ))
}
