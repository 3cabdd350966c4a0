//! `GET /api/v1/cron/preview`: the next fire times of a schedule, or a 400 saying what is wrong.

use axum::Json;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::jobs::Fire;
use super::params::ValidQuery;
use crate::auth::role::Viewer;
use crate::domain::schedule::Schedule;

/// Every parameter is optional to the extractor so that a missing or bad one is a 400 naming
/// it (axum's own rejection would be plain text).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Cron (6 or 5 fields), `@every 90s`, `@delay 10m` or `@at <RFC 3339>` (docs/schedules.md).
    #[param(required = true, value_type = String, min_length = 1, example = "0 */5 * * * *")]
    schedule: Option<String>,
    /// IANA time zone of the schedule; default UTC.
    timezone: Option<String>,
    /// How many fires, 1 to 100; default 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    count: Option<String>,
    /// Fires strictly after this instant (RFC 3339); default now.
    #[param(value_type = Option<String>, format = DateTime)]
    after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub schedule: String,
    pub timezone: String,
    pub after: String,
    pub fires: Vec<Fire>,
}

/// The next fire times of a schedule, as UTC and local time.
#[utoipa::path(get, path = "/cron/preview", tag = "cron",
    security(("token" = ["viewer"]), ("session" = ["viewer"])), params(PreviewQuery), responses(
    (status = 200, description = "The next fires", body = Preview),
    (status = 400, description = "A parameter is invalid (named in `field`)", body = ErrorBody),
))]
pub async fn preview(
    _who: Caller<Viewer>,
    ValidQuery(query): ValidQuery<PreviewQuery>,
) -> Result<Json<Preview>, ApiError> {
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
    Ok(Json(Preview {
        schedule: raw,
        timezone: tz_name,
        after: after.to_rfc3339(),
        fires,
    }))
}
