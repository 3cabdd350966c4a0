//! The leader's reconcile duty: keep the in-memory job index current from the job change queue,
//! plan the assignment (`plan`, `rebalance`), carry out its decisions — moves between live
//! agents two-phase (`moves`) — write them to MySQL fenced by the term, and push each agent
//! the difference from what it acknowledged (`links`): a full, chunked sync only when an agent
//! (re)registers, deltas otherwise.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::index::JobIndex;
use super::links::Links;
use super::plan::{self, Plan};
use super::push::AgentClients;
use super::upcoming::{UpcomingChange, UpcomingTx};
use super::{moves, pushes, rebalance};
use crate::alert::events::{AlertEvents, Happening};
use crate::domain::agent::AgentAdmin;
use crate::domain::ids::{AgentId, JobId};
use crate::domain::job::Job;
use crate::metrics::Metrics;
use crate::placement::{Placer, Strategy};
use crate::registry::LiveAgents;
use crate::store::{Store, StoreError};

/// How often the job change queue is read when nothing wakes the loop: writes through other
/// schedulers reach the leader within about this long.
const FEED_POLL: Duration = Duration::from_millis(100);
/// How often operator settings (drain, weight) are read again.
const ADMIN_POLL: Duration = Duration::from_secs(1);
/// How often every job is planned and every agent diffed, changed or not.
const FULL_PASS: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct ReconcileDeps {
    pub store: Arc<dyn Store>,
    pub live: Arc<LiveAgents>,
    pub jobs_changed: Arc<Notify>,
    pub default_strategy: Strategy,
    pub rebalance: bool,
    pub events: AlertEvents,
    pub metrics: Arc<Metrics>,
}

/// One leadership's reconcile state.
pub struct Reconciler {
    pub(super) term: u64,
    pub(super) deps: ReconcileDeps,
    pub(super) clients: AgentClients,
    pub(super) index: JobIndex,
    pub(super) links: Links,
    /// The next-fires view (`upcoming`): told every definition and owner change.
    pub(super) upcoming: UpcomingTx,
    placer: Placer,
    admin: HashMap<AgentId, AgentAdmin>,
    admin_read: Option<Instant>,
    /// Jobs whose agents may differ from the index (changed, decided, or a push failed).
    pub(super) dirty: HashSet<JobId>,
    /// Moves whose old owner did not confirm it stopped: planned again next pass.
    pub(super) deferred: HashSet<JobId>,
    full_due: bool,
    last_full: Instant,
    /// Enabled jobs no agent may hold: alerted once when they become so.
    unassigned: HashSet<JobId>,
    /// When this leadership first saw each job owner missing from the live set: the owner's
    /// lease had ended by then, so it started nothing later (the successors' `uncertain_through`).
    pub(super) gone_since: HashMap<AgentId, DateTime<Utc>>,
    generation: u64,
}

/// Loads the index and reconciles until `lost` or deposed.
pub async fn run(
    term: u64,
    deps: ReconcileDeps,
    clients: AgentClients,
    upcoming: UpcomingTx,
    lost: CancellationToken,
) -> Result<(), StoreError> {
    let Some(jobs) = load(&deps, &lost).await else {
        return Ok(());
    };
    for job in &jobs {
        let _ = upcoming.send(definition(job, job.agent_id.clone()));
    }
    let index = JobIndex::load(jobs);
    tracing::info!(term, jobs = index.len(), "job index loaded");
    let mut reconciler = Reconciler::new(term, deps, clients, index, upcoming);
    let mut agents_changed = reconciler.deps.live.subscribe();
    loop {
        match reconciler.pass().await {
            Ok(()) => {}
            Err(e @ StoreError::Deposed { .. }) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "reconcile pass failed; retrying"),
        }
        tokio::select! {
            _ = lost.cancelled() => return Ok(()),
            // A change through this scheduler's API, maybe to an agent's settings.
            _ = reconciler.deps.jobs_changed.notified() => reconciler.admin_read = None,
            _ = agents_changed.changed() => {}
            _ = tokio::time::sleep(FEED_POLL) => {}
        }
    }
}

/// What the next-fires view needs of a job's definition.
fn definition(job: &Job, agent: Option<AgentId>) -> UpcomingChange {
    UpcomingChange::Job {
        id: job.id.clone(),
        name: job.spec.name.clone(),
        agent,
        schedule: job.spec.schedule.clone(),
        timezone: job.spec.timezone.clone(),
        enabled: job.spec.enabled,
        created_at: job.created_at,
    }
}

async fn load(deps: &ReconcileDeps, lost: &CancellationToken) -> Option<Vec<Job>> {
    let mut backoff = crony_common::lease::Backoff::new();
    loop {
        match deps.store.load_jobs().await {
            Ok(jobs) => return Some(jobs),
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the jobs; retrying");
                if !backoff.sleep(lost).await {
                    return None;
                }
            }
        }
    }
}

impl Reconciler {
    fn new(
        term: u64,
        deps: ReconcileDeps,
        clients: AgentClients,
        index: JobIndex,
        upcoming: UpcomingTx,
    ) -> Self {
        Self {
            term,
            deps,
            clients,
            index,
            links: Links::default(),
            upcoming,
            placer: Placer::new(),
            admin: HashMap::new(),
            admin_read: None,
            dirty: HashSet::new(),
            deferred: HashSet::new(),
            full_due: true,
            last_full: Instant::now(),
            unassigned: HashSet::new(),
            gone_since: HashMap::new(),
            // Above every generation an earlier leader (a lower term) can have sent.
            generation: term << 32,
        }
    }

    pub(super) fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    async fn pass(&mut self) -> Result<(), StoreError> {
        if !self.deps.live.is_synced() {
            return Ok(());
        }
        let deferred = std::mem::take(&mut self.deferred);
        self.dirty.extend(deferred);
        self.read_feed().await?;
        self.read_admin().await?;
        let live = self.deps.live.snapshot();
        self.note_gone(&live, Utc::now());
        if self.links.refresh(&live) {
            self.full_due = true;
        }
        self.clients
            .retain(&live.iter().map(super::push::agent_url).collect());
        let full = self.full_due || self.last_full.elapsed() >= FULL_PASS;
        let started = Instant::now();
        let plan = self.plan(&live, full);
        self.alert_unassigned(&plan, full);
        let rebalancing = plan.rebalanced > 0;
        let decided = moves::carry_out(self, plan.decisions).await?;
        if full {
            // Rebalancing moves a bounded number per pass: the next one follows at once.
            self.full_due = rebalancing && decided > 0;
            self.last_full = Instant::now();
        }
        pushes::push(self, full).await;
        self.deps
            .metrics
            .reconcile_pass_seconds
            .with_label_values(&[if full { "full" } else { "delta" }])
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Records when owners of jobs were first seen gone, and forgets those back or owning none.
    fn note_gone(&mut self, live: &[crony_common::registry::AgentRecord], now: DateTime<Utc>) {
        let live: HashSet<&str> = live.iter().map(|a| a.id.as_str()).collect();
        let owners: Vec<AgentId> = self
            .index
            .owners()
            .filter(|a| !live.contains(a.as_str()))
            .cloned()
            .collect();
        self.gone_since.retain(|a, _| owners.contains(a));
        for owner in owners {
            self.gone_since.entry(owner).or_insert(now);
        }
    }

    /// Applies every queued job change to the index, then takes the rows off the queue.
    async fn read_feed(&mut self) -> Result<(), StoreError> {
        loop {
            let page = self.deps.store.read_changes().await?;
            for job in &page.changed {
                self.index.apply_change(job);
                self.dirty.insert(job.id.clone());
                // The owner as the index has it: the leader's own writes are the truth.
                let owner = self.index.get(&job.id).and_then(|j| j.agent.clone());
                let _ = self.upcoming.send(definition(job, owner));
            }
            for id in page.deleted {
                self.index.remove(&id);
                let _ = self.upcoming.send(UpcomingChange::Removed(id.clone()));
                self.unassigned.remove(&id);
                self.dirty.insert(id);
            }
            self.deps.store.consume(self.term, &page.rows).await?;
            if !page.more {
                return Ok(());
            }
        }
    }

    async fn read_admin(&mut self) -> Result<(), StoreError> {
        if self.admin_read.is_some_and(|at| at.elapsed() < ADMIN_POLL) {
            return Ok(());
        }
        let admin = self.deps.store.agent_admin().await?;
        self.admin_read = Some(Instant::now());
        if admin != self.admin {
            self.admin = admin;
            self.full_due = true;
        }
        Ok(())
    }

    fn plan(&mut self, live: &[crony_common::registry::AgentRecord], full: bool) -> Plan {
        let index = &self.index;
        let mut candidates = plan::candidates(live, &self.admin, |a| index.count(a));
        let default = self.deps.default_strategy;
        let mut plan = if full {
            plan::plan(index.iter(), &mut candidates, &mut self.placer, default)
        } else {
            let dirty = self
                .dirty
                .iter()
                .filter_map(|id| index.get(id).map(|j| (id, j)));
            plan::plan(dirty, &mut candidates, &mut self.placer, default)
        };
        if full && self.deps.rebalance {
            let busy: HashSet<JobId> = plan.decisions.iter().map(|d| d.job().clone()).collect();
            let budget = rebalance::DEFAULT_BUDGET;
            let moves = rebalance::rebalance(index.iter(), &mut candidates, budget, &busy);
            plan.rebalanced = moves.len();
            plan.decisions.extend(moves);
        }
        self.placer
            .forget_except(&live.iter().map(|a| AgentId::from(a.id.clone())).collect());
        plan
    }

    fn alert_unassigned(&mut self, plan: &Plan, full: bool) {
        for id in &plan.unplaceable {
            if self.unassigned.insert(id.clone()) {
                self.deps.events.emit(Happening::Unassigned {
                    job_id: id.clone(),
                    at: chrono::Utc::now(),
                });
            }
        }
        // A job leaves the set once a plan that looked at it found it a place.
        let still: HashSet<&JobId> = plan.unplaceable.iter().collect();
        let dirty = &self.dirty;
        self.unassigned
            .retain(|id| still.contains(id) || !(full || dirty.contains(id)));
    }
}
