//! Carrying out a plan's decisions. Moves between live agents are two-phase: the old owner
//! stops the job and answers the newest instant it fired; only then is the new owner written
//! (with that instant raised into the job's `last_scheduled_at`) and armed, starting strictly
//! after it. An old owner that cannot be reached keeps the job — it may still be firing it
//! under its lease — until it answers or its lease lapses, when the job is placed as an orphan
//! with the usual misfire window (docs/placement.md).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::index::Window;
use super::plan::Decision;
use super::reconcile::Reconciler;
use crate::domain::ids::{AgentId, JobId};
use crate::store::StoreError;
use crate::store::assignments::Assignment;

/// How long an agent that failed a push is left alone.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Applies `decisions`; returns how many assignments were written.
pub async fn carry_out(r: &mut Reconciler, decisions: Vec<Decision>) -> Result<usize, StoreError> {
    if decisions.is_empty() {
        return Ok(0);
    }
    let started = Instant::now();
    let released = stop_at_old_owners(r, &decisions).await;
    let orphans: Vec<&JobId> = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Place { .. }))
        .filter(|d| r.index.get(d.job()).is_some_and(|j| j.agent.is_some()))
        .map(Decision::job)
        .collect();
    let watermarks = r.deps.store.last_scheduled(&orphans).await?;
    let read = started.elapsed();
    let mut changes = Vec::new();
    let mut windows = Vec::new();
    for decision in &decisions {
        let Some(job) = r.index.get(decision.job()) else {
            continue;
        };
        let id = decision.job().clone();
        let (agent_id, epoch, window, fired_through) = match decision {
            Decision::Place { to, .. } => {
                let since = watermarks.get(&id).map(DateTime::timestamp_millis);
                // An owner whose lease ended may have started instants up to then without
                // their reports arriving: the new owner must not start those again.
                let uncertain = job.agent.as_ref().map_or(0, |old| {
                    let gone = r.gone_since.get(old).copied();
                    gone.unwrap_or_else(Utc::now).timestamp_millis()
                });
                let window = Window {
                    resume_after_ms: 0,
                    misfire_since_ms: since.unwrap_or(0),
                    uncertain_through_ms: uncertain,
                    busy_until_ms: 0,
                };
                (Some(to.clone()), job.epoch() + 1, window, None)
            }
            Decision::Move { to, .. } => {
                let Some(&Stopped { fired, busy_until }) = released.get(&id) else {
                    // The old owner did not confirm it stopped: the job stays, for now.
                    r.deferred.insert(id);
                    continue;
                };
                let window = Window {
                    resume_after_ms: fired.max(job.spec.misfire_since_ms),
                    misfire_since_ms: fired,
                    uncertain_through_ms: 0,
                    busy_until_ms: busy_until,
                };
                let at = (fired > 0)
                    .then(|| DateTime::<Utc>::from_timestamp_millis(fired))
                    .flatten();
                (Some(to.clone()), job.epoch() + 1, window, at)
            }
            Decision::Release { .. } => (None, job.epoch(), Window::default(), None),
        };
        changes.push(Assignment {
            job_id: id,
            agent_id,
            epoch,
            fired_through,
        });
        windows.push(window);
    }
    let writing = Instant::now();
    r.deps.store.apply_assignments(r.term, &changes).await?;
    let written = writing.elapsed();
    for (change, window) in changes.iter().zip(windows) {
        let to = change.agent_id.clone();
        r.index.assign(&change.job_id, to, change.epoch, window);
        r.dirty.insert(change.job_id.clone());
        let _ = r.upcoming.send(super::upcoming::UpcomingChange::Owner {
            id: change.job_id.clone(),
            agent: change.agent_id.clone(),
        });
    }
    if !changes.is_empty() {
        let moved = released.len();
        tracing::info!(
            term = r.term,
            changed = changes.len(),
            moved,
            stop_and_read_ms = read.as_millis() as u64,
            write_ms = written.as_millis() as u64,
            "assignments written"
        );
    }
    Ok(changes.len())
}

/// What an old owner answered for a job it stopped (Unix ms; 0: none).
#[derive(Debug, Clone, Copy, Default)]
struct Stopped {
    /// The newest instant it fired.
    fired: i64,
    /// When its runs of the job still going end at the latest: the new owner's overlap
    /// counts them until then.
    busy_until: i64,
}

/// Phase one of every move: each old owner stops its moving jobs. Returns what it answered
/// for each job it confirmed.
async fn stop_at_old_owners(r: &mut Reconciler, decisions: &[Decision]) -> HashMap<JobId, Stopped> {
    let mut by_owner: HashMap<&AgentId, Vec<JobId>> = HashMap::new();
    for decision in decisions {
        if let Decision::Move { job, from, .. } = decision {
            by_owner.entry(from).or_default().push(job.clone());
        }
    }
    let now = Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    for (owner, jobs) in by_owner {
        let Some(link) = r.links.by_agent.get(owner).filter(|l| l.may_push(now)) else {
            continue;
        };
        let record = link.record.clone();
        let generation = r.next_generation();
        let stop = r.clients.remove(&record, r.term, generation, jobs.clone());
        let owner = owner.clone();
        pending.spawn(async move { (owner, jobs, stop.await) });
    }
    let mut released = HashMap::new();
    while let Some(done) = pending.join_next().await {
        let Ok((owner, jobs, result)) = done else {
            continue;
        };
        let Some(link) = r.links.by_agent.get_mut(&owner) else {
            continue;
        };
        match result {
            Ok(answer) => {
                // The proto edge: released job ids arrive as plain strings.
                let stopped: HashMap<JobId, Stopped> = answer
                    .into_iter()
                    .map(|r| {
                        let s = Stopped {
                            fired: r.fired_through_ms,
                            busy_until: r.busy_until_ms,
                        };
                        (JobId::from(r.job_id), s)
                    })
                    .collect();
                for job in jobs {
                    link.acked.remove(&job);
                    let s = stopped.get(&job).copied().unwrap_or_default();
                    released.insert(job, s);
                }
            }
            Err(e) => {
                tracing::warn!(agent = %owner, error = %e, jobs = jobs.len(),
                    "cannot stop moving jobs at their owner; they stay there for now");
                link.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }
    released
}
