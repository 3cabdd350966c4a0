//! The leader's reconcile loop: keep every enabled job assigned to one live, eligible agent
//! (bumping its assignment epoch on every (re)assignment, written to MySQL fenced by the
//! leader's term), and keep every agent's held set equal to what MySQL says it should hold.
//!
//! It runs after any change — a job created, changed, paused or deleted on this scheduler, an
//! agent joining, leaving or restarting — and every couple of seconds anyway, which covers
//! changes made through other schedulers' APIs and pushes that failed.
//!
//! Rebalancing: jobs stay where they are while their agent is alive and eligible; an agent that
//! joins or re-joins only receives new and orphaned jobs (by the job's strategy). Moving running
//! jobs to even out load would trade an idle agent for missed or doubled fires, so it is left to
//! an explicit operator action.

pub mod convert;
pub mod push;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use crony_common::registry::AgentRecord;
use crony_proto::v1::SyncRequest;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::alert::events::Happening;
use crate::alert::watch::LeaderAlerting;
use crate::domain::agent::AgentAdmin;
use crate::domain::job::Job;
use crate::election::{Election, Leadership};
use crate::placement::{Candidate, Placer, Requirements, Strategy, is_eligible};
use crate::registry::LiveAgents;
use crate::store::assignments::Assignment;
use crate::store::{Store, StoreError};
use crate::sweep::Sweeper;
use push::AgentClients;

/// Periodic pass even without events.
const TICK: Duration = Duration::from_secs(2);

pub struct ReconcileDeps {
    pub store: Arc<dyn Store>,
    pub live: Arc<LiveAgents>,
    pub jobs_changed: Arc<Notify>,
    pub default_strategy: Strategy,
    pub clients: AgentClients,
    /// This instance's current term while it leads, 0 otherwise (for `/healthz`).
    pub leading_term: Arc<std::sync::atomic::AtomicU64>,
    /// The execution sweeps, run for as long as this instance leads.
    pub sweeper: Sweeper,
    /// Alert delivery and agent alerts, run for as long as this instance leads.
    pub alerting: LeaderAlerting,
}

/// Campaigns, leads until leadership is lost, campaigns again — until `shutdown`.
pub async fn run_leadership<E: Election>(
    election: E,
    mut deps: ReconcileDeps,
    shutdown: CancellationToken,
) {
    while let Some(leadership) = election.campaign(&shutdown).await {
        let term = leadership.term;
        match deps.store.claim_term(term).await {
            Ok(true) => {
                deps.leading_term
                    .store(term, std::sync::atomic::Ordering::SeqCst);
                let sweeping = shutdown.child_token();
                let sweeper = tokio::spawn(deps.sweeper.clone().run(sweeping.clone()));
                let alerting = tokio::spawn(deps.alerting.clone().run(sweeping.clone()));
                lead(&leadership, &mut deps, &shutdown).await;
                sweeping.cancel();
                let _ = sweeper.await;
                let _ = alerting.await;
                deps.leading_term
                    .store(0, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(false) => tracing::warn!(
                term,
                "a newer leader term is already in MySQL; stepping down"
            ),
            Err(e) => {
                tracing::warn!(term, error = %e, "cannot record the leader term; stepping down")
            }
        }
        tracing::info!(term, "no longer leader");
        leadership.resign().await;
        if shutdown.is_cancelled() {
            break;
        }
    }
}

async fn lead(leadership: &Leadership, deps: &mut ReconcileDeps, shutdown: &CancellationToken) {
    let mut state = LeaderState::default();
    let mut agents_changed = deps.live.subscribe();
    loop {
        if !leadership.is_valid() {
            return;
        }
        match state.pass(leadership.term, deps).await {
            Ok(()) => {}
            Err(StoreError::Deposed { mine, current }) => {
                tracing::warn!(mine, current, "deposed: a newer leader writes assignments");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "reconcile pass failed; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = leadership.lost.cancelled() => return,
            _ = deps.jobs_changed.notified() => {}
            _ = agents_changed.changed() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// What one leadership remembers between passes.
#[derive(Default)]
struct LeaderState {
    placer: Placer,
    /// Per agent: (its started_at, fingerprint of the set it acknowledged).
    acked: HashMap<String, (String, u64)>,
    generation: u64,
    /// Enabled jobs without an agent after the last pass: each is alerted once when it
    /// becomes so, not on every pass.
    unassigned: HashSet<String>,
}

impl LeaderState {
    async fn pass(&mut self, term: u64, deps: &mut ReconcileDeps) -> Result<(), StoreError> {
        if !deps.live.is_synced() {
            return Ok(());
        }
        let mut jobs = deps.store.all_jobs().await?;
        let admin = deps.store.agent_admin().await?;
        let live = deps.live.snapshot();
        let changes = self.place(&jobs, &live, &admin, deps.default_strategy);
        if !changes.is_empty() {
            deps.store.apply_assignments(term, &changes).await?;
            let by_id: HashMap<&str, &Assignment> =
                changes.iter().map(|c| (c.job_id.as_str(), c)).collect();
            for job in &mut jobs {
                if let Some(change) = by_id.get(job.id.as_str()) {
                    job.agent_id = change.agent_id.clone();
                    job.assignment_epoch = change.epoch;
                }
            }
            let unassigned = changes.iter().filter(|c| c.agent_id.is_none()).count();
            tracing::info!(
                term,
                changed = changes.len(),
                unassigned,
                "assignments written"
            );
        }
        self.alert_unassigned(&jobs, deps);
        self.push(term, &jobs, &live, deps).await;
        Ok(())
    }

    fn alert_unassigned(&mut self, jobs: &[Job], deps: &ReconcileDeps) {
        let now: HashSet<String> = jobs
            .iter()
            .filter(|j| j.spec.enabled && j.agent_id.is_none())
            .map(|j| j.id.clone())
            .collect();
        for job_id in now.difference(&self.unassigned) {
            deps.alerting.events.emit(Happening::Unassigned {
                job_id: job_id.clone(),
                at: chrono::Utc::now(),
            });
        }
        self.unassigned = now;
    }

    /// Keeps jobs on live eligible agents; places the rest. Pure apart from the WRR credit.
    fn place(
        &mut self,
        jobs: &[Job],
        live: &[AgentRecord],
        admin: &HashMap<String, AgentAdmin>,
        default: Strategy,
    ) -> Vec<Assignment> {
        let mut candidates: Vec<Candidate> = live
            .iter()
            .map(|a| {
                let settings = admin.get(&a.id).copied().unwrap_or_default();
                Candidate {
                    id: a.id.clone(),
                    weight: settings.weight_override.unwrap_or(a.weight).max(1),
                    labels: a.labels.clone(),
                    allow_shell: a.allow_shell,
                    drained: settings.drained,
                    assigned: 0,
                }
            })
            .collect();
        let index: HashMap<String, usize> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let requirements = |job: &Job| Requirements {
            labels: job.spec.placement.labels.clone(),
            pinned: job.spec.placement.agent_id.clone(),
            needs_shell: job.spec.needs_shell(),
        };
        let keeps = |job: &Job, candidates: &[Candidate]| {
            job.spec.enabled
                && job
                    .agent_id
                    .as_ref()
                    .and_then(|a| index.get(a))
                    .is_some_and(|&i| is_eligible(&candidates[i], &requirements(job)))
        };
        for job in jobs {
            if keeps(job, &candidates)
                && let Some(&i) = job.agent_id.as_ref().and_then(|a| index.get(a))
            {
                candidates[i].assigned += 1;
            }
        }
        let mut changes = Vec::new();
        for job in jobs {
            if keeps(job, &candidates) {
                continue;
            }
            if !job.spec.enabled {
                if job.agent_id.is_some() {
                    changes.push(Assignment {
                        job_id: job.id.clone(),
                        agent_id: None,
                        epoch: job.assignment_epoch,
                    });
                }
                continue;
            }
            let strategy = job.spec.placement.strategy.unwrap_or(default);
            match self
                .placer
                .place(strategy, &mut candidates, &requirements(job))
            {
                Some(i) => changes.push(Assignment {
                    job_id: job.id.clone(),
                    agent_id: Some(candidates[i].id.clone()),
                    epoch: job.assignment_epoch + 1,
                }),
                None if job.agent_id.is_some() => {
                    changes.push(Assignment {
                        job_id: job.id.clone(),
                        agent_id: None,
                        epoch: job.assignment_epoch,
                    });
                }
                None => {}
            }
        }
        self.placer
            .forget_except(&live.iter().map(|a| a.id.clone()).collect());
        changes
    }

    /// Sends a full sync to every agent whose acknowledged set differs from its desired set.
    async fn push(
        &mut self,
        term: u64,
        jobs: &[Job],
        live: &[AgentRecord],
        deps: &mut ReconcileDeps,
    ) {
        let mut desired: HashMap<&str, Vec<&Job>> =
            live.iter().map(|a| (a.id.as_str(), Vec::new())).collect();
        for job in jobs.iter().filter(|j| j.spec.enabled) {
            if let Some(list) = job.agent_id.as_deref().and_then(|a| desired.get_mut(a)) {
                list.push(job);
            }
        }
        let mut pending = tokio::task::JoinSet::new();
        for agent in live {
            let set = &desired[agent.id.as_str()];
            let fingerprint = fingerprint(set);
            let key = (agent.started_at.clone(), fingerprint);
            if self.acked.get(&agent.id) == Some(&key) {
                continue;
            }
            self.generation += 1;
            let request = SyncRequest {
                term,
                generation: self.generation,
                jobs: set.iter().map(|j| convert::to_proto(j)).collect(),
                chunk: 0,
                more: false,
            };
            let sync = deps.clients.sync(agent, request);
            let id = agent.id.clone();
            pending.spawn(async move { (id, key, sync.await) });
        }
        while let Some(done) = pending.join_next().await {
            let Ok((id, key, result)) = done else {
                continue;
            };
            match result {
                Ok(_) => {
                    self.acked.insert(id, key);
                }
                Err(e) => {
                    tracing::warn!(agent = %id, error = %e, "sync to agent failed; will retry");
                    self.acked.remove(&id);
                }
            }
        }
        let live_ids: HashSet<&str> = live.iter().map(|a| a.id.as_str()).collect();
        self.acked.retain(|id, _| live_ids.contains(id.as_str()));
        deps.clients
            .retain(&live.iter().map(push::agent_url).collect());
    }
}

fn fingerprint(jobs: &[&Job]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for job in jobs {
        job.id.hash(&mut hasher);
        job.assignment_epoch.hash(&mut hasher);
        job.updated_at.timestamp_millis().hash(&mut hasher);
    }
    hasher.finish()
}
