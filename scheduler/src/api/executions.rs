//! `/api/v1/executions…`: history (filters, newest first, keyset cursor), one execution with
//! its attempts and output, and async results posted with the execution's report token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::domain::execution::{
    MAX_AGENT_ID, MAX_ERROR, MAX_ID, MAX_OUTPUT, Status, Trigger, cap_output, cut, valid_id,
};
use crate::error::ErrorCode;
use crate::store::executions::{
    ExecutionDetail, ExecutionFilter, ExecutionSummary, PostedResult, ResultOutcome,
};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    job_id: Option<String>,
    agent_id: Option<String>,
    status: Option<String>,
    trigger: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// A query value, with "" meaning absent (as forms send it).
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn instant(field: &str, raw: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
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

fn id_filter(field: &str, raw: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match given(raw) {
        Some(id) if !valid_id(&id, max) => Err(ApiError::invalid(
            field,
            format!("must be an id (at most {max} letters, digits, . _ : -)"),
        )),
        id => Ok(id),
    }
}

/// The cursor is the (scheduled_at, id) of the last row served, hex-encoded so that clients
/// treat it as opaque.
fn encode_cursor(row: &ExecutionSummary) -> String {
    hex::encode(format!(
        "{}:{}",
        row.scheduled_at.timestamp_millis(),
        row.id
    ))
}

fn decode_cursor(raw: &str) -> Option<(DateTime<Utc>, String)> {
    let text = String::from_utf8(hex::decode(raw).ok()?).ok()?;
    let (ms, id) = text.split_once(':')?;
    let at = DateTime::from_timestamp_millis(ms.parse().ok()?)?;
    valid_id(id, MAX_ID).then(|| (at, id.to_owned()))
}

pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let statuses = match given(query.status) {
        None => Vec::new(),
        Some(raw) => raw
            .split(',')
            .map(str::trim)
            .map(|s| {
                Status::parse(s).ok_or_else(|| {
                    let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                    ApiError::invalid(
                        "status",
                        format!("{s:?} is not a status; use {}", all.join(", ")),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let trigger = given(query.trigger)
        .map(|raw| {
            Trigger::parse(&raw)
                .ok_or_else(|| ApiError::invalid("trigger", "must be schedule, manual or retry"))
        })
        .transpose()?;
    let from = instant("from", query.from)?;
    let to = instant("to", query.to)?;
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    let limit = match given(query.limit) {
        None => 50,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "must be 1 to 500"))?,
    };
    let before = given(query.cursor)
        .map(|raw| {
            decode_cursor(&raw).ok_or_else(|| {
                ApiError::invalid("cursor", "not a cursor from a previous page's next_cursor")
            })
        })
        .transpose()?;
    let filter = ExecutionFilter {
        job_id: id_filter("job_id", query.job_id, MAX_ID)?,
        agent_id: id_filter("agent_id", query.agent_id, MAX_AGENT_ID)?,
        statuses,
        trigger,
        from,
        to,
        before,
        limit,
    };
    let rows = app.store.list_executions(&filter).await?;
    let next_cursor = (rows.len() as u32 == limit)
        .then(|| rows.last().map(encode_cursor))
        .flatten();
    Ok(Json(json!({
        "executions": rows.iter().map(render_summary).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

fn millis_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<i64> {
    Some((to? - from?).num_milliseconds())
}

fn render_summary(row: &ExecutionSummary) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    // How long it ran, and how late it started after its scheduled instant.
    value["duration_ms"] = json!(millis_between(row.started_at, row.finished_at));
    value["start_delay_ms"] = json!(millis_between(Some(row.scheduled_at), row.started_at));
    value
}

fn render_detail(row: &ExecutionDetail) -> Value {
    let mut value = render_summary(&row.summary);
    let mut attempts: Value = serde_json::from_str(&row.attempts).unwrap_or(json!([]));
    if let Some(list) = attempts.as_array_mut() {
        for attempt in list {
            let started = attempt["started_at_ms"].as_i64().unwrap_or(0);
            let finished = attempt["finished_at_ms"].as_i64().unwrap_or(0);
            attempt["duration_ms"] = if started > 0 && finished >= started {
                json!(finished - started)
            } else {
                Value::Null
            };
        }
    }
    value["attempts"] = attempts;
    value["output"] = json!(row.output);
    value["late_result"] = row
        .late_result
        .as_deref()
        .and_then(|raw| serde_json::from_str(raw).ok())
        .unwrap_or(Value::Null);
    value
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no execution with id {id:?}"))
}

pub async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !valid_id(&id, MAX_ID) {
        return Err(not_found(&id));
    }
    let row = app
        .store
        .get_execution(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(render_detail(&row)))
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ResultStatus {
    Succeeded,
    Failed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultBody {
    status: ResultStatus,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `POST /executions/{id}/result` (rules in `docs/executions.md`). The token is checked
/// before anything else, and before the execution is looked up, so a caller without the
/// right token learns nothing — not even whether the execution exists.
pub async fn post_result(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if token.is_empty() || !app.report_key.verify(&id, token) {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "missing or wrong report token (Authorization: Bearer <X-Crony-Report-Token>)",
        ));
    }
    let body = body.map_err(|e| ApiError::invalid("body", format!("cannot read the body: {e}")))?;
    let body: ResultBody = super::json::parse(&body)?;
    let (output, output_truncated) = cap_output(body.output.as_deref().unwrap_or(""), MAX_OUTPUT);
    let result = PostedResult {
        status: match body.status {
            ResultStatus::Succeeded => Status::Succeeded,
            ResultStatus::Failed => Status::Failed,
        },
        output,
        output_truncated,
        error: cut(body.error.as_deref().unwrap_or(""), MAX_ERROR).to_owned(),
        received_at: Utc::now(),
    };
    match app.store.post_result(&id, &result).await? {
        ResultOutcome::NotRecorded => Ok((
            [(header::RETRY_AFTER, "1")],
            ApiError::new(
                ErrorCode::NotRecordedYet,
                format!("execution {id:?} is not recorded yet; retry shortly"),
            ),
        )
            .into_response()),
        ResultOutcome::Late { current } => Err(ApiError::new(
            ErrorCode::AlreadySettled,
            format!(
                "execution {id:?} is already {}; the posted result is kept as late_result",
                current.as_str()
            ),
        )),
        outcome @ (ResultOutcome::Settled | ResultOutcome::AlreadyThis) => {
            let row = app
                .store
                .get_execution(&id)
                .await?
                .ok_or_else(|| not_found(&id))?;
            if outcome == ResultOutcome::Settled {
                app.metrics
                    .executions
                    .with_label_values(&[row.summary.job_id.as_str(), result.status.as_str()])
                    .inc();
                app.alert_events
                    .settled(&id, &row.summary.job_id, result.status);
            }
            Ok(Json(render_detail(&row)).into_response())
        }
    }
}
