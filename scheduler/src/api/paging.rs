//! Query parameters shared by the list endpoints (jobs, executions, alerts): empty values
//! that mean "not given", RFC 3339 time ranges, page sizes and opaque keyset cursors, each
//! refused with a 400 naming the parameter.

use chrono::{DateTime, Utc};

use super::error::ApiError;

/// Rows per page when `limit` is not given, and the most a page may hold.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// A query value, with "" meaning absent (as forms send it).
pub fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

pub fn instant(field: &str, raw: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    given(raw)
        .map(|raw| {
            DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::invalid(
                        field,
                        format!("{raw:?} is not an RFC 3339 instant (e.g. 2026-01-31T08:00:00Z)"),
                    )
                })
        })
        .transpose()
}

/// A `from`..`to` filter; either end may be open.
pub type TimeRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `from` and `to`, with `to` after `from` when both are given.
pub fn time_range(from: Option<String>, to: Option<String>) -> Result<TimeRange, ApiError> {
    let from = instant("from", from)?;
    let to = instant("to", to)?;
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    Ok((from, to))
}

/// `limit`: 1 to 500, 50 when not given.
pub fn page_limit(raw: Option<String>) -> Result<u32, ApiError> {
    match given(raw) {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", format!("must be 1 to {MAX_LIMIT}"))),
    }
}

/// A keyset cursor: the (instant, key) of the last row served, hex-encoded so that clients
/// treat it as opaque.
pub fn encode_cursor(at: DateTime<Utc>, key: &str) -> String {
    hex::encode(format!("{}:{key}", at.timestamp_millis()))
}

/// Reads a cursor made by [`encode_cursor`]; `key` checks and converts its key part.
pub fn cursor<K>(
    raw: Option<String>,
    key: impl FnOnce(&str) -> Option<K>,
) -> Result<Option<(DateTime<Utc>, K)>, ApiError> {
    let Some(raw) = given(raw) else {
        return Ok(None);
    };
    let decoded = || {
        let text = String::from_utf8(hex::decode(&raw).ok()?).ok()?;
        let (ms, rest) = text.split_once(':')?;
        Some((
            DateTime::from_timestamp_millis(ms.parse().ok()?)?,
            key(rest)?,
        ))
    };
    decoded().map(Some).ok_or_else(|| {
        ApiError::invalid("cursor", "not a cursor from a previous page's next_cursor")
    })
}
