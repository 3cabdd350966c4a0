//! `GET /api/v1/stats/summary` and `GET /api/v1/stats/daily`: the figures of the dashboard's
//! overview, computed from MySQL, the live agent set and the jobs' own schedules.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::params::ValidQuery;
use crate::auth::role::Viewer;
use crate::domain::execution::Status;
use crate::domain::ids::JobId;
use crate::domain::schedule::SharedSchedule;
use crate::store::executions::{ExecutionFilter, ExecutionSummary};
use crate::store::upcoming::{Published, PublishedFire};

/// How many recent failures and upcoming fires the summary lists.
const LISTED: usize = 10;
/// A published list older than this may miss fires (no leader is publishing).
const STALE: Duration = Duration::seconds(10);
/// Jobs changed this long before the list was published are merged in too: the leader's
/// view may not have had them yet, and schedulers' clocks differ a little.
const CLOCK_SLACK: Duration = Duration::seconds(2);
/// Recently changed jobs merged at most (a burst of creates is still cheap to answer).
const RECENT_LIMIT: u32 = 200;
/// Statuses shown as failures (killed is an operator's decision, not a failure of the job).
const FAILURES: [Status; 3] = [Status::Failed, Status::TimedOut, Status::Lost];

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentCounts {
    pub online: u64,
    pub offline: u64,
}

/// Executions scheduled since midnight UTC.
#[derive(Debug, Serialize, ToSchema)]
pub struct Today {
    /// Midnight UTC of today.
    pub since: DateTime<Utc>,
    pub succeeded: u64,
    /// failed + timed_out + lost.
    pub failed: u64,
    pub running: u64,
    /// Every status, zeros included.
    pub by_status: BTreeMap<String, u64>,
}

/// A failed execution with its job's name.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecentFailure {
    #[serde(flatten)]
    pub execution: ExecutionSummary,
    /// Null when the job was deleted since.
    pub job_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpcomingFire {
    pub job_id: String,
    pub job_name: String,
    pub agent_id: Option<String>,
    pub utc: String,
    /// In the job's time zone.
    pub local: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub agents: AgentCounts,
    pub today: Today,
    /// Newest first.
    pub recent_failures: Vec<RecentFailure>,
    /// Soonest first, across every enabled job.
    pub next_fires: Vec<UpcomingFire>,
    /// True when `next_fires` may be incomplete: the leader publishes it about once a
    /// second, and it was last published over 10 s ago (or never: no leader yet).
    pub next_fires_partial: bool,
    /// Jobs assigned to each agent (paused ones included), by agent id: as the leader
    /// published it with the next fires (up to about a second old), counted from MySQL when
    /// no leader publishes.
    pub jobs_per_agent: BTreeMap<String, u64>,
}

/// Agents, today's executions, recent failures and the next fires across the cluster.
#[utoipa::path(get, path = "/stats/summary", tag = "stats",
    security(("token" = ["viewer"]), ("session" = ["viewer"])), responses(
    (status = 200, description = "The overview figures", body = Summary),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn summary(
    _who: Caller<Viewer>,
    State(app): State<AppState>,
) -> Result<Json<Summary>, ApiError> {
    let now = Utc::now();
    let since = now.date_naive().and_time(NaiveTime::MIN).and_utc();

    let live = app.live.snapshot();
    let known = app.store.list_agents().await?;
    let offline = known
        .iter()
        .filter(|a| !live.iter().any(|l| a.id == l.id.as_str()))
        .count();

    let counts = app.store.count_by_status(since.date_naive()).await?;
    let by_status: BTreeMap<String, u64> = Status::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().to_owned(),
                counts.get(s.as_str()).copied().unwrap_or(0),
            )
        })
        .collect();
    let count = |s: Status| by_status.get(s.as_str()).copied().unwrap_or(0);
    let today = Today {
        since,
        succeeded: count(Status::Succeeded),
        failed: FAILURES.iter().map(|s| count(*s)).sum(),
        running: count(Status::Running),
        by_status: by_status.clone(),
    };

    let failures = app
        .store
        .list_executions(&ExecutionFilter {
            statuses: FAILURES.to_vec(),
            limit: LISTED as u32,
            ..ExecutionFilter::default()
        })
        .await?;
    let mut ids: Vec<JobId> = failures.iter().map(|e| e.job_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let names = app.store.job_names(&ids).await?;
    let recent_failures = failures
        .into_iter()
        .map(|execution| RecentFailure {
            job_name: names.get(&execution.job_id).cloned(),
            execution,
        })
        .collect();

    let (next_fires, next_fires_partial, published_counts) = upcoming(&app, now).await?;
    let jobs_per_agent = match published_counts {
        Some(counts) => counts,
        None => app
            .store
            .jobs_per_agent()
            .await?
            .into_iter()
            .map(|(agent, n)| (agent.into(), n))
            .collect(),
    };
    Ok(Json(Summary {
        agents: AgentCounts {
            online: live.len() as u64,
            offline: offline as u64,
        },
        today,
        recent_failures,
        next_fires,
        next_fires_partial,
        jobs_per_agent,
    }))
}

/// The soonest fires as the leader last published them (`leader::upcoming`), without those
/// already past, merged with the next fires of jobs changed since (so a job just created or
/// edited shows at once); partial when the list is older than [`STALE`] (no leader
/// publishing) or more jobs changed since than are merged. Also the jobs per agent the leader
/// published with it (`None` when there is no fresh list: the caller counts them itself).
async fn upcoming(
    app: &AppState,
    now: DateTime<Utc>,
) -> Result<(Vec<UpcomingFire>, bool, Option<BTreeMap<String, u64>>), ApiError> {
    let Published {
        fires: published,
        jobs_per_agent,
        at,
    } = app.store.read_upcoming().await?;
    let since = at.unwrap_or(now) - CLOCK_SLACK;
    let recent = app.store.recently_changed(since, RECENT_LIMIT).await?;
    let stale = at.is_none_or(|at| now - at > STALE);
    let partial = stale || recent.len() as u32 == RECENT_LIMIT;
    let mut fires: Vec<PublishedFire> = published
        .into_iter()
        .filter(|f| f.at > now && !recent.iter().any(|r| r.id == f.job_id))
        .collect();
    fires.extend(recent.into_iter().filter_map(|job| {
        let tz: Tz = job.timezone.parse().ok()?;
        let schedule = SharedSchedule::parse(&job.schedule)
            .ok()?
            .anchored(job.created_at);
        Some(PublishedFire {
            at: schedule.next_after(tz, now)?,
            job_id: job.id,
            job_name: job.name,
            agent_id: job.agent_id,
            timezone: job.timezone,
        })
    }));
    fires.sort_by(|a, b| (a.at, &a.job_id).cmp(&(b.at, &b.job_id)));
    let fires = fires
        .into_iter()
        .take(LISTED)
        .map(|f| {
            let tz: Tz = f.timezone.parse().unwrap_or(Tz::UTC);
            // The summary's fires and counts keep plain string ids: typed ids end here.
            UpcomingFire {
                job_id: f.job_id.into(),
                job_name: f.job_name,
                agent_id: f.agent_id.map(String::from),
                utc: f.at.to_rfc3339(),
                local: f.at.with_timezone(&tz).to_rfc3339(),
            }
        })
        .collect();
    let jobs_per_agent = (!stale).then(|| {
        jobs_per_agent
            .into_iter()
            .map(|(agent, n)| (agent.into(), n))
            .collect()
    });
    Ok((fires, partial, jobs_per_agent))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// How many days up to and including today (UTC), 1 to 90; default 7.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 90)]
    days: Option<String>,
}

/// Executions of one UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub total: u64,
    /// Every status, zeros included.
    pub by_status: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Daily {
    /// Oldest first, one entry per day, days without executions included.
    pub days: Vec<Day>,
}

/// Executions per UTC day and status, for the overview chart.
#[utoipa::path(get, path = "/stats/daily", tag = "stats",
    security(("token" = ["viewer"]), ("session" = ["viewer"])), params(DailyQuery), responses(
    (status = 200, description = "One entry per day", body = Daily),
    (status = 400, description = "`days` is not 1 to 90", body = ErrorBody),
    (status = 503, description = "MySQL unreachable", body = ErrorBody),
))]
pub async fn daily(
    _who: Caller<Viewer>,
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<DailyQuery>,
) -> Result<Json<Daily>, ApiError> {
    let days = match query.days.as_deref() {
        None | Some("") => 7,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=90).contains(n))
            .ok_or_else(|| ApiError::invalid("days", "must be a whole number from 1 to 90"))?,
    };
    let today = Utc::now().date_naive();
    let first = today - Duration::days(days - 1);
    let rows = app.store.count_by_day(first).await?;
    let days = first
        .iter_days()
        .take_while(|d| *d <= today)
        .map(|date| {
            let mut by_status: BTreeMap<String, u64> = Status::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), 0))
                .collect();
            for (_, status, n) in rows.iter().filter(|(d, _, _)| *d == date) {
                *by_status.entry(status.clone()).or_default() += n;
            }
            Day {
                date: date.format("%Y-%m-%d").to_string(),
                total: by_status.values().sum(),
                by_status,
            }
        })
        .collect();
    Ok(Json(Daily { days }))
}
