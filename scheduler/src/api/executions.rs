//! `/api/v1/executions…`: history (filters, newest first, keyset cursor), one execution with
//! its attempts and output, and async results posted with the execution's report token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use crony_common::traces::{ExecSpan, TRACEPARENT};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::paging::{cursor, encode_cursor, given, page_limit, time_range};
use super::params::{ValidPath, ValidQuery};
use crate::auth::role::Viewer;
use crate::domain::execution::{
    MAX_AGENT_ID, MAX_ERROR, MAX_ID, MAX_OUTPUT, Status, Trigger, cap_output, cut, valid_id,
};
use crate::domain::ids::ExecutionId;
use crate::error::ErrorCode;
use crate::store::executions::{
    ExecutionDetail, ExecutionFilter, ExecutionSummary, PostedResult, ResultOutcome,
};
use crate::traced::TraceUrl;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this job's executions.
    #[param(pattern = "^[A-Za-z0-9._:-]{1,40}$")]
    job_id: Option<String>,
    /// Only executions run by this agent.
    #[param(pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    agent_id: Option<String>,
    /// One status or several, comma-separated (`failed,timed_out`); the names of `Status::ALL`.
    #[param(
        pattern = "^ *(scheduled|running|succeeded|failed|timed_out|killed|lost|skipped|missed)( *, *(scheduled|running|succeeded|failed|timed_out|killed|lost|skipped|missed))* *$"
    )]
    status: Option<String>,
    /// `schedule`, `manual` or `retry`.
    #[param(pattern = "^(schedule|manual|retry)$")]
    trigger: Option<String>,
    /// Scheduled at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Scheduled before this instant (RFC 3339); must be after `from`.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500; default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// An execution as history lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionView {
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    /// How long it ran (null until it finished).
    pub duration_ms: Option<i64>,
    /// How late it started after its scheduled instant.
    pub start_delay_ms: Option<i64>,
    /// The OpenTelemetry trace of the run (32 hex digits), when its agent exports traces.
    pub trace_id: Option<String>,
}

/// One execution with its attempts and output.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionDetailView {
    #[serde(flatten)]
    pub view: ExecutionView,
    /// Each try: times, outcome, exit code or HTTP status, error, and `duration_ms`.
    pub attempts: Vec<Value>,
    pub output: String,
    /// A result posted after the execution was settled otherwise (kept, not applied).
    pub late_result: Option<Value>,
    /// The trace's page in a trace UI, when `CRONY_OTEL_TRACE_URL` is set and the run was traced.
    pub trace_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionList {
    pub executions: Vec<ExecutionView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A query parameter that must be an id, typed once it is checked.
fn id_filter<Id: From<String>>(
    field: &str,
    raw: Option<String>,
    max: usize,
) -> Result<Option<Id>, ApiError> {
    match given(raw) {
        Some(id) if !valid_id(&id, max) => Err(ApiError::invalid(
            field,
            format!("must be an id (at most {max} letters, digits, . _ : -)"),
        )),
        id => Ok(id.map(Id::from)),
    }
}

/// Execution history, newest first, with filters and cursor paging.
#[utoipa::path(get, path = "/executions", tag = "executions",
    security(("token" = ["viewer"]), ("session" = ["viewer"])), params(ListQuery), responses(
    (status = 200, description = "One page of executions", body = ExecutionList),
    (status = 400, description = "A parameter is invalid (named in `field`)", body = ErrorBody),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn list(
    _who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<ExecutionList>, ApiError> {
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
    let (from, to) = time_range(query.from, query.to)?;
    let limit = page_limit(query.limit)?;
    let before = cursor(query.cursor, |id| {
        valid_id(id, MAX_ID).then(|| ExecutionId::from(id))
    })?;
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
        .then(|| {
            rows.last()
                .map(|r| encode_cursor(r.scheduled_at, r.id.as_str()))
        })
        .flatten();
    Ok(Json(ExecutionList {
        executions: rows.into_iter().map(render_summary).collect(),
        next_cursor,
    }))
}

fn millis_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<i64> {
    Some((to? - from?).num_milliseconds())
}

fn render_summary(summary: ExecutionSummary) -> ExecutionView {
    ExecutionView {
        duration_ms: millis_between(summary.started_at, summary.finished_at),
        start_delay_ms: millis_between(Some(summary.scheduled_at), summary.started_at),
        trace_id: crate::traced::trace_id(summary.traceparent.as_deref()),
        summary,
    }
}

fn render_detail(row: ExecutionDetail, trace_url: Option<&TraceUrl>) -> ExecutionDetailView {
    let mut attempts: Vec<Value> = serde_json::from_str(&row.attempts).unwrap_or_default();
    // Indexing a non-object `Value` mutably panics: only objects get a duration.
    for attempt in attempts.iter_mut().filter_map(Value::as_object_mut) {
        let ms = |key: &str| attempt.get(key).and_then(Value::as_i64).unwrap_or(0);
        let (started, finished) = (ms("started_at_ms"), ms("finished_at_ms"));
        let duration = (started > 0 && finished >= started).then(|| finished - started);
        attempt.insert("duration_ms".into(), json!(duration));
    }
    let view = render_summary(row.summary);
    ExecutionDetailView {
        trace_url: trace_url
            .zip(view.trace_id.as_deref())
            .map(|(url, id)| url.link(id)),
        late_result: row
            .late_result
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw).ok()),
        view,
        attempts,
        output: row.output,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no execution with id {id:?}"))
}

/// One execution with its attempts and output.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions",
    security(("token" = ["viewer"]), ("session" = ["viewer"])),
    params(("id" = String, Path, description = "Execution id")),
    responses(
        (status = 200, description = "The execution", body = ExecutionDetailView),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn get(
    _who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<ExecutionDetailView>, ApiError> {
    if !valid_id(&id, MAX_ID) {
        return Err(not_found(&id));
    }
    let id = ExecutionId::from(id);
    let row = app
        .store
        .get_execution(&id)
        .await?
        .ok_or_else(|| not_found(id.as_str()))?;
    Ok(Json(render_detail(row, app.trace_url.as_deref())))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Succeeded,
    Failed,
}

/// An async result, posted by the service that answered 202 / `ACCEPTED`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultBody {
    status: ResultStatus,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `POST /executions/{id}/result` (rules in `docs/executions.md`). The token is checked
/// before anything else, and before the execution is looked up, so a caller without the
/// right token learns nothing — not even whether the execution exists.
#[utoipa::path(post, path = "/executions/{id}/result", tag = "executions",
    params(("id" = String, Path, description = "Execution id")),
    request_body = ResultBody,
    security(("report_token" = [])),
    responses(
        (status = 200, description = "Recorded (or the same result again)", body = ExecutionDetailView),
        (status = 400, description = "A field is invalid (named in `field`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong report token", body = ErrorBody),
        (status = 403, description = "The scheduler runs without a cluster token (`--insecure-no-cluster-token`): no report token is valid", body = ErrorBody),
        (status = 409, description = "`not_recorded_yet` (retry after `Retry-After`) or `already_settled` (kept as `late_result`)", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds, with `not_recorded_yet`"))),
        (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn post_result(
    State(app): State<AppState>,
    ValidPath(id): ValidPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(report_key) = &app.report_key else {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "async results need a cluster credential: this scheduler runs with \
             --insecure-no-cluster-token, so no report token is valid (set CRONY_CLUSTER_TOKEN)",
        ));
    };
    if token.is_empty() || !report_key.verify(&id, token) {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "missing or wrong report token (Authorization: Bearer <X-Crony-Report-Token>)",
        ));
    }
    super::json::require_json(&headers)?;
    let body = body.map_err(super::json::body_error)?;
    let body: ResultBody = super::json::parse(&body)?;
    let id = ExecutionId::from(id);
    let sent = headers.get(TRACEPARENT).and_then(|v| v.to_str().ok());
    // Without a context sent, the span is made once the stored one is read (below).
    let mut span = match sent {
        Some(_) => crate::traced::result(&app.tracer, sent, None, id.as_str()),
        None => ExecSpan::none(),
    };
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
    span.set("crony.status", result.status.as_str());
    match app.store.post_result(&id, &result).await? {
        // A result the SDK posts again (Retry-After) gets a span per post: these say why not.
        ResultOutcome::NotRecorded => {
            span.fail("not recorded yet");
            Ok((
                [(header::RETRY_AFTER, "1")],
                ApiError::new(
                    ErrorCode::NotRecordedYet,
                    format!("execution {id:?} is not recorded yet; retry shortly"),
                ),
            )
                .into_response())
        }
        ResultOutcome::Late { current } => {
            span.fail("already settled");
            Err(ApiError::new(
                ErrorCode::AlreadySettled,
                format!(
                    "execution {id:?} is already {}; the posted result is kept as late_result",
                    current.as_str()
                ),
            ))
        }
        outcome @ (ResultOutcome::Settled | ResultOutcome::AlreadyThis) => {
            let row = app
                .store
                .get_execution(&id)
                .await?
                .ok_or_else(|| not_found(id.as_str()))?;
            if outcome == ResultOutcome::Settled {
                app.metrics
                    .settled(row.summary.job_id.as_str(), result.status.as_str());
                app.alert_events.written();
                crate::async_settled::tell_agent(
                    &app.live,
                    &app.agent_dialer,
                    &row.summary.agent_id,
                    &id,
                );
            }
            if sent.is_none() && app.tracer.is_on() {
                // No context came with the result: continue from the agent's fire instead.
                let stored = row.summary.traceparent.as_deref();
                span = crate::traced::result(&app.tracer, None, stored, id.as_str());
                span.set("crony.status", result.status.as_str());
            }
            span.ok();
            Ok(Json(render_detail(row, app.trace_url.as_deref())).into_response())
        }
    }
}
