//! The agent's clock: one task with a timer queue over every held job, firing each at its
//! instants (croner in the job's time zone, with the DST rules of `crony_common::schedule`).
//!
//! A job fires only when it is *armed* — confirmed by a push from the scheduler under the
//! agent's current lease — and the lease is certainly alive (the fence, design §3.2). Jobs read
//! back from disk after a restart, or held across a lost lease, wait for the scheduler's sync:
//! by then they may belong to another agent. Fires that were due while nobody ran them (before
//! a job was armed here, while fenced, or while the process was stalled) follow the job's
//! misfire policy and are recorded as `missed`, never dropped silently.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crony_common::lease::Fence;
use crony_common::schedule::Schedule;
use crony_proto::v1::{ExecutionStatus, Released, TriggerKind};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::catch_up::{decide, due_after};
use crate::job::{Job, JobId};
use crate::runner::{Fire, Runner};

mod arrival;
use arrival::CaughtUp;

/// A fire later than this is a misfire (the process stalled or was stopped), not just late.
const GRACE: chrono::Duration = chrono::Duration::seconds(2);

/// What the agent service tells the clock. Jobs are shared with the holdings, not copied.
#[derive(Debug)]
pub enum Command {
    /// Held jobs read from disk at start: known, but not armed until a push confirms them.
    Load(Vec<Arc<Job>>),
    /// Pushed jobs (assign): added or replaced, armed under the current lease.
    Upsert(Vec<Arc<Job>>),
    /// A full sync: exactly these jobs, armed under the current lease.
    Replace(Vec<Arc<Job>>),
    /// Stop these jobs; answered, once they are stopped, with the newest instant fired of each
    /// (the first phase of a move: nothing fires after the answered instant).
    Remove(Vec<String>, oneshot::Sender<Vec<Released>>),
}

/// Sends commands to the clock task.
#[derive(Debug, Clone)]
pub struct ClockHandle(mpsc::UnboundedSender<Command>);

impl ClockHandle {
    pub fn send(&self, command: Command) {
        let _ = self.0.send(command);
    }

    /// Stops `ids` and answers each one's newest fired instant; `None` if the clock stopped.
    pub async fn remove(&self, ids: Vec<String>) -> Option<Vec<Released>> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Remove(ids, reply));
        answer.await.ok()
    }
}

struct Entry {
    job: Arc<Job>,
    next: Option<DateTime<Utc>>,
    /// Lease generation the scheduler confirmed this job under; 0 = not confirmed yet.
    armed: u64,
}

pub struct Clock {
    entries: HashMap<JobId, Entry>,
    queue: BTreeSet<(DateTime<Utc>, JobId)>,
    /// Newest instant of each job this agent ran or recorded (survives the job leaving).
    fired_through: HashMap<JobId, DateTime<Utc>>,
    runner: Arc<Runner>,
    fence: Arc<Fence>,
}

impl Clock {
    pub fn new(runner: Arc<Runner>, fence: Arc<Fence>) -> Self {
        Self {
            entries: HashMap::new(),
            queue: BTreeSet::new(),
            fired_through: HashMap::new(),
            runner,
            fence,
        }
    }

    /// Seeds what this agent already ran (from its spool after a restart).
    pub fn remember_fired(&mut self, job_id: &str, at: DateTime<Utc>) {
        if let Some(id) = JobId::new(job_id) {
            self.mark_fired(&id, at);
        }
    }

    pub fn spawn(
        self,
        finished: mpsc::UnboundedReceiver<(JobId, DateTime<Utc>)>,
        cancel: CancellationToken,
    ) -> (ClockHandle, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(self.run(rx, finished, cancel));
        (ClockHandle(tx), task)
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut finished: mpsc::UnboundedReceiver<(JobId, DateTime<Utc>)>,
        cancel: CancellationToken,
    ) {
        loop {
            let wake = self.queue.first().map(|(at, _)| {
                let wait = (*at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                tokio::time::Instant::now() + wait
            });
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                command = commands.recv() => match command {
                    Some(command) => self.apply(command),
                    None => break,
                },
                Some((job_id, at)) = finished.recv() => self.finished(&job_id, at),
                _ = sleep_until(wake) => self.fire_due(Utc::now()),
            }
        }
    }

    fn apply(&mut self, command: Command) {
        let generation = self.fence.lease_generation();
        match command {
            Command::Load(jobs) => {
                for job in jobs {
                    self.upsert(job, 0); // not armed: nothing is caught up
                }
            }
            Command::Upsert(jobs) => {
                let mut caught_up = CaughtUp::default();
                for job in jobs {
                    caught_up.add(self.upsert(job, generation));
                }
                caught_up.log();
            }
            Command::Replace(jobs) => {
                let keep: HashSet<&JobId> = jobs.iter().map(|j| &j.id).collect();
                let gone: Vec<JobId> = self
                    .entries
                    .keys()
                    .filter(|id| !keep.contains(id))
                    .cloned()
                    .collect();
                for id in gone {
                    self.remove(id.as_str());
                }
                let mut caught_up = CaughtUp::default();
                for job in jobs {
                    caught_up.add(self.upsert(job, generation));
                }
                caught_up.log();
            }
            Command::Remove(ids, reply) => {
                // Read after the job is gone from the queue: this task is the only one that
                // fires, so no instant later than the answer can start here any more.
                let released = ids
                    .into_iter()
                    .filter_map(|id| {
                        let held = self.remove(&id);
                        let fired = self
                            .fired_through
                            .get(id.as_str())
                            .map(|at| at.timestamp_millis());
                        (held || fired.is_some()).then(|| Released {
                            job_id: id,
                            fired_through_ms: fired.unwrap_or(0),
                            busy_until_ms: 0, // the runner's to say (service.rs)
                        })
                    })
                    .collect();
                let _ = reply.send(released);
            }
        }
    }

    /// Forgets the job and its timer; true if it was here.
    fn remove(&mut self, id: &str) -> bool {
        let Some((id, entry)) = self.entries.remove_entry(id) else {
            return false;
        };
        if let Some(next) = entry.next {
            self.queue.remove(&(next, id.clone()));
        }
        self.runner.metrics.jobs.forget(id.as_str());
        true
    }

    /// Holds `job` (armed under `armed`, 0: not yet); returns how many of its instants were
    /// due before it arrived (run or recorded per the misfire policy).
    fn upsert(&mut self, job: Arc<Job>, armed: u64) -> usize {
        let now = Utc::now();
        let previous = self.entries.remove(&job.id);
        if let Some(next) = previous.as_ref().and_then(|p| p.next) {
            self.queue.remove(&(next, job.id.clone()));
        }
        let same_definition = previous.as_ref().is_some_and(|p| {
            p.job.assignment_epoch == job.assignment_epoch
                && p.job.updated_at_ms == job.updated_at_ms
        });
        let newly_armed =
            armed != 0 && !(same_definition && previous.as_ref().is_some_and(|p| p.armed == armed));
        // A resync of an unchanged job keeps its timer (and so the phase of an `@every`).
        // A definition held here before (paused, or edited) answers only for instants after
        // it changed: the paused period and the old schedule's are not this one's misses.
        let redefined_at = previous
            .as_ref()
            .filter(|_| !same_definition)
            .and_then(|_| DateTime::from_timestamp_millis(job.updated_at_ms));
        let kept_next = previous.filter(|_| same_definition).and_then(|p| p.next);
        let mut entry = Entry {
            job: job.clone(),
            next: None,
            armed,
        };
        let mut caught_up = 0;
        if job.enabled {
            entry.next = kept_next.or_else(|| first_fire(&job, now));
            if entry.next.is_none() {
                tracing::debug!(job = %job.id, schedule = %job.schedule.text(), "no fire left in the job's schedule");
            }
            if newly_armed {
                caught_up = self.catch_up(&mut entry, now, redefined_at);
            }
        }
        if let Some(next) = entry.next {
            self.queue.insert((next, job.id.clone()));
        }
        self.runner
            .metrics
            .next_fire(job.id.as_str(), &job.name, entry.next);
        self.entries.insert(job.id.clone(), entry);
        caught_up
    }

    fn fire_due(&mut self, now: DateTime<Utc>) {
        // Every fire due now starts together: their start records share one spool write.
        let mut fires = Vec::new();
        while let Some((at, id)) = self.queue.first().cloned() {
            if at > now {
                break;
            }
            self.queue.pop_first();
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if entry.next != Some(at) {
                continue;
            }
            let job = entry.job.clone();
            let schedule = job.schedule.get();
            // Everything due by now, oldest first (several after a stall).
            let rest = due_after(&schedule, job.tz, at, now);
            let mut due = vec![at];
            due.extend(rest.due);
            let (next, older) = (rest.next, rest.older);
            let fixed_delay = matches!(*schedule, Schedule::Delay(_));
            let armed = entry.armed != 0 && entry.armed == self.fence.lease_generation();
            let ran = armed && self.fence.is_alive();
            entry.next = match *schedule {
                // Fixed delay: the next fire is set when this run ends.
                Schedule::Delay(d) if !ran => chrono::Duration::from_std(d).ok().map(|d| now + d),
                Schedule::Delay(_) => None,
                _ => next,
            };
            if let Some(next) = entry.next {
                self.queue.insert((next, id.clone()));
            }
            self.runner
                .metrics
                .next_fire(id.as_str(), &job.name, entry.next);
            if let Some(next) = entry.next {
                self.runner.metrics.fired(id.as_str(), &job.name, at, next);
            }
            if !armed {
                continue; // not confirmed as ours under this lease: the scheduler decides
            }
            let why = if ran {
                "the agent was stalled when this fire was due"
            } else {
                "the agent's lease was not certainly alive (self-fenced)"
            };
            if let Some(older) = &older {
                self.runner
                    .record_summary(&job, older, ExecutionStatus::Missed, why);
            }
            if !ran {
                self.runner.metrics.fenced.inc_by(due.len() as u64);
                self.runner.record_missed(&job, &due, why);
                self.mark_fired(&id, *due.last().expect("at least one"));
                continue;
            }
            let grace = if fixed_delay {
                chrono::Duration::MAX
            } else {
                GRACE
            };
            let decision = decide(&due, now, grace, job.misfire);
            self.runner.record_missed(&job, &decision.missed, why);
            for at in decision.start {
                fires.push(self.fire(&job, at));
            }
            if let Some(last) = decision.missed.last() {
                self.mark_fired(&id, *last);
            }
        }
        if !fires.is_empty() {
            self.runner.start_all(fires);
        }
    }

    /// The fire of `job` at `at`, marked fired (it starts with the others due now).
    fn fire(&mut self, job: &Arc<Job>, at: DateTime<Utc>) -> Fire {
        self.mark_fired(&job.id, at);
        Fire {
            job: job.clone(),
            scheduled_at: at,
            kind: TriggerKind::Schedule,
            retry_of: String::new(),
            attempts_used: 0,
            parent: None,
        }
    }

    fn mark_fired(&mut self, job_id: &JobId, at: DateTime<Utc>) {
        let slot = self.fired_through.entry(job_id.clone()).or_insert(at);
        if *slot < at {
            *slot = at;
        }
    }

    /// A run ended: fixed-delay jobs count their next fire from here.
    fn finished(&mut self, job_id: &JobId, at: DateTime<Utc>) {
        let Some(entry) = self.entries.get_mut(job_id) else {
            return;
        };
        if let (Schedule::Delay(d), None) = (&*entry.job.schedule.get(), entry.next)
            && entry.job.enabled
        {
            let next = at + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX);
            entry.next = Some(next);
            self.queue.insert((next, job_id.clone()));
            let name = &entry.job.name;
            self.runner
                .metrics
                .next_fire(job_id.as_str(), name, Some(next));
        }
    }
}

/// The first fire of a job that just arrived (fixed delay: one interval from now).
fn first_fire(job: &Job, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match &*job.schedule.get() {
        Schedule::Delay(d) => chrono::Duration::from_std(*d).ok().map(|d| now + d),
        schedule => schedule.next_after(job.tz, now),
    }
}

async fn sleep_until(wake: Option<tokio::time::Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
