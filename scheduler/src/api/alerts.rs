//! `/api/v1/alerts…`: alert history with delivery status (filters, newest first, keyset
//! cursor; webhook URLs shown shortened since their path is a credential, secrets never
//! stored), and sending a test alert through a channel now.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::paging::{cursor, encode_cursor, given, page_limit, time_range};
use super::params::ValidQuery;
use crony_common::callback_allow::refuse_url_str;

use crate::alert::settings::{parse_email, parse_http_url};
use crate::alert::store::{AlertFilter, AlertRow, Delivery, NewAlert};
use crate::alert::{Alert, AlertItem, ChannelKind, EventKind};
use crate::auth::role::{Operator, Viewer};
use crate::domain::execution::{MAX_ID, valid_id};
use crate::domain::ids::JobId;
use crate::error::ErrorCode;

const EVENTS: [EventKind; 10] = [
    EventKind::Failed,
    EventKind::TimedOut,
    EventKind::Recovered,
    EventKind::Lost,
    EventKind::Missed,
    EventKind::FailureRate,
    EventKind::Unassigned,
    EventKind::AgentOffline,
    EventKind::AgentOnline,
    EventKind::Test,
];
const STATUSES: [&str; 5] = ["pending", "sent", "failed", "dead", "suppressed"];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only alerts about this job.
    #[param(pattern = "^[A-Za-z0-9._:-]{1,40}$")]
    job_id: Option<String>,
    /// Only this event.
    #[param(value_type = Option<EventKind>)]
    event: Option<String>,
    /// Only this channel.
    #[param(value_type = Option<ChannelKind>)]
    channel: Option<String>,
    /// One delivery status or several, comma-separated: pending, sent, failed, dead, suppressed.
    #[param(
        pattern = "^ *(pending|sent|failed|dead|suppressed)( *, *(pending|sent|failed|dead|suppressed))* *$"
    )]
    status: Option<String>,
    /// Created at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Created before this instant (RFC 3339); must be after `from`.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500; default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// One alert to one recipient, with its delivery status and message.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// `recipient` is shortened for webhook URLs (their last segment is a credential).
    #[serde(flatten)]
    pub row: AlertRow,
    pub title: Option<String>,
    pub items: Option<Vec<AlertItem>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A test alert for one channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    #[schema(value_type = ChannelKind)]
    channel: String,
    /// An email address (email) or webhook URL (feishu, webhook); default: the configured
    /// cluster recipient of the channel.
    #[serde(default)]
    to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    pub id: u64,
    pub channel: ChannelKind,
    /// Always `sent`.
    pub status: String,
    pub recipient: String,
}

fn channel(field: &str, raw: &str) -> Result<ChannelKind, ApiError> {
    match raw {
        "email" => Ok(ChannelKind::Email),
        "feishu" => Ok(ChannelKind::Feishu),
        "webhook" => Ok(ChannelKind::Webhook),
        _ => Err(ApiError::invalid(
            field,
            format!("{raw:?} is not a channel; use email, feishu or webhook"),
        )),
    }
}

/// Alert history with delivery status, newest first, with filters and cursor paging.
#[utoipa::path(get, path = "/alerts", tag = "alerts",
    security(("token" = ["viewer"]), ("session" = ["viewer"])), params(ListQuery), responses(
    (status = 200, description = "One page of alerts", body = AlertList),
    (status = 400, description = "A parameter is invalid (named in `field`)", body = ErrorBody),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn list(
    _who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let job_id = match given(query.job_id) {
        Some(id) if !valid_id(&id, MAX_ID) => {
            return Err(ApiError::invalid("job_id", "must be a job id"));
        }
        id => id.map(JobId::from),
    };
    let event = given(query.event)
        .map(|raw| {
            EVENTS
                .into_iter()
                .find(|e| e.as_str() == raw)
                .ok_or_else(|| {
                    let all: Vec<&str> = EVENTS.iter().map(|e| e.as_str()).collect();
                    ApiError::invalid(
                        "event",
                        format!("{raw:?} is not an event; use {}", all.join(", ")),
                    )
                })
        })
        .transpose()?;
    let channel = given(query.channel)
        .map(|raw| channel("channel", &raw))
        .transpose()?;
    let statuses = match given(query.status) {
        None => Vec::new(),
        Some(raw) => raw
            .split(',')
            .map(str::trim)
            .map(|s| {
                STATUSES.contains(&s).then(|| s.to_owned()).ok_or_else(|| {
                    ApiError::invalid(
                        "status",
                        format!("{s:?} is not a status; use {}", STATUSES.join(", ")),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let (from, to) = time_range(query.from, query.to)?;
    let limit = page_limit(query.limit)?;
    let before = cursor(query.cursor, |id| id.parse::<u64>().ok())?;
    let filter = AlertFilter {
        job_id,
        event,
        channel,
        statuses,
        from,
        to,
        before,
        limit,
    };
    let rows = app.store.list_alerts(&filter).await?;
    let next_cursor = (rows.len() as u32 == limit)
        .then(|| {
            rows.last()
                .map(|r| encode_cursor(r.created_at, &r.id.to_string()))
        })
        .flatten();
    Ok(Json(AlertList {
        alerts: rows.into_iter().map(render).collect(),
        next_cursor,
    }))
}

/// A row as the API shows it: the recipient shortened for URLs, and the message.
fn render(mut row: AlertRow) -> AlertView {
    row.recipient = shown_recipient(&row.recipient);
    let (title, items) = match row.alert() {
        Ok(alert) => (Some(alert.title), Some(alert.items)),
        Err(_) => (None, None),
    };
    AlertView { row, title, items }
}

/// Email addresses as they are; for webhook URLs the host and path with the last segment
/// (the bot's token) cut to its first four characters: enough to tell bots apart, not to post.
pub fn shown_recipient(recipient: &str) -> String {
    if !recipient.starts_with("http") {
        return recipient.to_owned();
    }
    let without_query = recipient.split(['?', '#']).next().unwrap_or_default();
    match without_query.rsplit_once('/') {
        Some((head, last)) if last.chars().count() > 4 => {
            format!("{head}/{}…", last.chars().take(4).collect::<String>())
        }
        _ => without_query.to_owned(),
    }
}

/// `CRONY_CALLBACK_ALLOW` for a test alert's `to` URL, by name: a host refused here is never
/// called (the alert client checks the addresses of names when it connects).
fn refuse_to(app: &AppState, kind: ChannelKind, to: &str) -> Result<(), ApiError> {
    let Some(allow) = app.callback_allow.as_deref() else {
        return Ok(());
    };
    if kind == ChannelKind::Email {
        return Ok(());
    }
    match refuse_url_str(allow, to) {
        Some(refusal) => Err(ApiError::invalid("to", refusal.to_string())),
        None => Ok(()),
    }
}

/// `POST /alerts/test`: records a test alert for the channel and sends it now, here (not by
/// the leader's worker): 200 when delivered, 502 with the channel's classified reason when
/// not ("HTTP 500", "connection refused", …; never the remote's answer).
#[utoipa::path(post, path = "/alerts/test", tag = "alerts",
    security(("token" = ["operator"]), ("session" = ["operator"])), request_body = TestBody, responses(
    (status = 200, description = "Delivered", body = TestSent),
    (status = 400, description = "Channel or recipient invalid, not configured or not allowed by CRONY_CALLBACK_ALLOW (named in `field`)", body = ErrorBody),
    (status = 502, description = "The channel refused or failed (`delivery_failed`, with the alert `id`): the status and a short classified reason, never the remote's answer", body = ErrorBody),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn test(
    _who: Caller<Operator>,
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    super::json::require_json(&headers)?;
    let body = body.map_err(super::json::body_error)?;
    let body: TestBody = super::json::parse(&body)?;
    let kind = channel("channel", &body.channel)?;
    app.channels
        .sender(kind)
        .map_err(|e| ApiError::invalid("channel", e.message))?;
    let settings = &app.channels.settings;
    let target = match given(body.to) {
        Some(to) => {
            let checked = match kind {
                ChannelKind::Email => parse_email(&to),
                _ => parse_http_url(&to).map(|_| ()),
            };
            checked.map_err(|m| ApiError::invalid("to", m))?;
            refuse_to(&app, kind, &to)?;
            crate::alert::rules::Target {
                channel: kind,
                address: to,
                secret: None,
            }
        }
        None => crate::alert::rules::system_targets(settings)
            .into_iter()
            .find(|t| t.channel == kind)
            .ok_or_else(|| {
                let setting = match kind {
                    ChannelKind::Email => "CRONY_ALERT_EMAILS",
                    ChannelKind::Feishu => "CRONY_FEISHU_WEBHOOK",
                    ChannelKind::Webhook => "CRONY_ALERT_WEBHOOK",
                };
                ApiError::invalid(
                    "to",
                    format!(
                        "no {} recipient configured: set {setting} or give \"to\"",
                        kind.as_str()
                    ),
                )
            })?,
    };
    let now = Utc::now();
    let lang = settings.lang;
    let item = AlertItem {
        event: EventKind::Test,
        job_id: None,
        job_name: None,
        agent_id: None,
        execution_id: None,
        at: now,
        timezone: "UTC".into(),
        error: String::new(),
        output_excerpt: lang.test_body().into(),
        link: None,
    };
    let claim = uuid::Uuid::now_v7().to_string();
    let new = NewAlert {
        event: EventKind::Test,
        job_id: None,
        execution_id: None,
        agent_id: None,
        group_key: "test:cluster".into(),
        alert: Alert {
            id: 0,
            title: crate::alert::rules::title(&item, lang),
            items: vec![item],
            lang,
        },
        targets: vec![target],
        throttle: false,
        claim: Some(claim.clone()),
    };
    let recorded = app
        .store
        .record_alert(&new, Default::default(), now)
        .await?;
    let id = recorded.first().map(|r| r.id).unwrap_or_default();
    let row = app
        .store
        .get_alert(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the test alert was not recorded"))?;
    let alert = row
        .alert()
        .map_err(|m| ApiError::new(ErrorCode::Internal, m))?;
    let result = app
        .channels
        .send_row(app.store.as_ref(), &row, &alert)
        .await;
    // A test checks the channel now: it is not retried later.
    let outcome = match &result {
        Ok(()) => Delivery::Sent,
        Err(e) => Delivery::Dead {
            error: e.message.clone(),
        },
    };
    app.store.finish(id, &claim, &outcome, Utc::now()).await?;
    let label = [kind.as_str()];
    match result {
        Ok(()) => {
            app.metrics.alerts_sent.with_label_values(&label).inc();
            Ok(Json(TestSent {
                id,
                channel: kind,
                status: "sent".into(),
                recipient: shown_recipient(&row.recipient),
            })
            .into_response())
        }
        Err(e) => {
            app.metrics.alerts_failed.with_label_values(&label).inc();
            let error = ErrorBody {
                error: ErrorDetail {
                    code: ErrorCode::DeliveryFailed,
                    message: format!("{} delivery failed: {}", kind.as_str(), e.message),
                    field: None,
                    id: Some(id),
                },
            };
            Ok((StatusCode::BAD_GATEWAY, Json(error)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_tokens_are_not_shown() {
        assert_eq!(
            shown_recipient("https://open.feishu.cn/open-apis/bot/v2/hook/abcdef-123?x=1"),
            "https://open.feishu.cn/open-apis/bot/v2/hook/abcd…"
        );
        assert_eq!(shown_recipient("ops@example.com"), "ops@example.com");
    }
}
