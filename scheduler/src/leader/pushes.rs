//! Pushing each live agent the difference between what it acknowledged and what the index
//! says it should hold: a full, chunked `Sync` when it (re)registered, else `Remove` and
//! `Assign` deltas of the jobs that changed. A failed push leaves those jobs pending for that
//! agent and the agent alone for a moment; nothing else waits for it.

use std::collections::HashSet;

use crony_proto::v1::JobSpec;
use tokio::time::Instant;

use super::index::Version;
use super::links::{self, Delta};
use super::moves::RETRY_AFTER;
use super::reconcile::Reconciler;
use crate::domain::ids::{AgentId, JobId};

enum Outcome {
    Synced {
        lease: i64,
        held: Vec<(JobId, Version)>,
    },
    Pushed {
        assigned: Vec<(JobId, Version)>,
        removed: Vec<JobId>,
    },
    Failed {
        ids: HashSet<JobId>,
        error: String,
    },
}

/// Pushes to every agent that needs it; `full` diffs every job instead of the dirty ones.
pub async fn push(r: &mut Reconciler, full: bool) {
    let now = Instant::now();
    let dirty = std::mem::take(&mut r.dirty);
    let mut pending = tokio::task::JoinSet::new();
    let agents: Vec<AgentId> = r.links.by_agent.keys().cloned().collect();
    for agent in agents {
        let link = &r.links.by_agent[&agent];
        if link.needs_sync() {
            if !link.may_push(now) {
                continue;
            }
            let jobs = links::full_set(&r.index, &agent);
            let (record, lease) = (link.record.clone(), link.record.lease_id);
            let generation = r.next_generation();
            let held = versions(&jobs);
            tracing::info!(agent = %agent, jobs = jobs.len(), generation, "full sync");
            let sync = r.clients.sync(&record, r.term, generation, jobs);
            pending.spawn(async move {
                let outcome = match sync.await {
                    Ok(_) => Outcome::Synced { lease, held },
                    Err(error) => Outcome::Failed {
                        ids: HashSet::new(),
                        error,
                    },
                };
                (agent, outcome)
            });
            continue;
        }
        let delta = if full {
            links::full_delta(link, &r.index)
        } else {
            let ids = dirty.iter().chain(link.pending.iter());
            links::delta(link, &r.index, ids)
        };
        if delta.is_empty() {
            r.links
                .by_agent
                .get_mut(&agent)
                .expect("listed")
                .pending
                .clear();
            continue;
        }
        if !link.may_push(now) {
            let ids = touched(&delta);
            r.links.by_agent.get_mut(&agent).expect("listed").pending = ids;
            continue;
        }
        let record = link.record.clone();
        let term = r.term;
        let (remove_gen, assign_gen) = (r.next_generation(), r.next_generation());
        let remove = (!delta.remove.is_empty()).then(|| {
            r.clients
                .remove(&record, term, remove_gen, delta.remove.clone())
        });
        let assigned = versions(&delta.assign);
        let ids = touched(&delta);
        let Delta {
            assign,
            remove: removed,
        } = delta;
        let assign =
            (!assign.is_empty()).then(|| r.clients.assign(&record, term, assign_gen, assign));
        let pushing = Instant::now();
        pending.spawn(async move {
            let result = async {
                if let Some(remove) = remove {
                    remove.await?;
                }
                if let Some(assign) = assign {
                    assign.await?;
                }
                Ok::<_, String>(())
            };
            let outcome = match result.await {
                Ok(()) => {
                    tracing::debug!(agent = %agent, assigned = assigned.len(), removed = removed.len(),
                        ms = pushing.elapsed().as_millis() as u64, "pushed");
                    Outcome::Pushed { assigned, removed }
                }
                Err(error) => Outcome::Failed { ids, error },
            };
            (agent, outcome)
        });
    }
    while let Some(done) = pending.join_next().await {
        let Ok((agent, outcome)) = done else {
            continue;
        };
        let Some(link) = r.links.by_agent.get_mut(&agent) else {
            continue;
        };
        match outcome {
            Outcome::Synced { lease, held } => {
                link.acked = held.into_iter().collect();
                link.synced = Some(lease);
                link.pending.clear();
                link.retry_at = None;
            }
            Outcome::Pushed { assigned, removed } => {
                for id in removed {
                    link.acked.remove(&id);
                }
                link.acked.extend(assigned);
                link.pending.clear();
                link.retry_at = None;
            }
            Outcome::Failed { ids, error } => {
                tracing::warn!(agent = %agent, error = %error, "push to agent failed; will retry");
                link.pending = ids;
                link.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }
}

/// The versions of pushed specs, their ids typed again (a `JobSpec` is proto: a plain string).
fn versions(jobs: &[JobSpec]) -> Vec<(JobId, Version)> {
    jobs.iter()
        .map(|j| {
            let version = Version {
                epoch: j.assignment_epoch,
                updated_at_ms: j.updated_at_ms,
            };
            (JobId::from(j.id.clone()), version)
        })
        .collect()
}

fn touched(delta: &Delta) -> HashSet<JobId> {
    delta
        .assign
        .iter()
        .map(|j| JobId::from(j.id.clone()))
        .chain(delta.remove.iter().cloned())
        .collect()
}
