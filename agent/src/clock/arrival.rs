//! A job arriving at the clock: which of the instants due before it arrived run, which are
//! recorded `missed`, and which `lost` (a dead owner may have run them).

use chrono::{DateTime, Utc};
use crony_common::schedule::Schedule;
use crony_proto::v1::ExecutionStatus;

use super::{Clock, Entry, GRACE};
use crate::catch_up::{self, decide, due_after};

impl Clock {
    /// A job just became this agent's to fire: fires due since its misfire window opened
    /// (and not already run here, nor by the owner it moved from) follow the misfire policy.
    /// Returns how many were due.
    pub(super) fn catch_up(
        &mut self,
        entry: &mut Entry,
        now: DateTime<Utc>,
        redefined_at: Option<DateTime<Utc>>,
    ) -> usize {
        let job = entry.job.clone();
        let schedule = job.schedule.get();
        if matches!(*schedule, Schedule::Delay(_)) {
            return 0; // counted from the end of the previous run, which another agent owned
        }
        let local = self.fired_through.get(&job.id).copied();
        let Some(since) = catch_up::window_start(job.resume_after, job.misfire_since, local)
            .map(|since| since.max(redefined_at.unwrap_or(since)))
        else {
            return 0;
        };
        if let Some(through) = job.uncertain_through
            && entry.next.is_some_and(|next| next <= through)
        {
            // Clock skew: the previous owner's last possible instant is still ahead here.
            entry.next = schedule.next_after(job.tz, through);
        }
        let mut window = due_after(&schedule, job.tz, since, now);
        let unknown = catch_up::take_uncertain(&mut window.due, job.uncertain_through);
        if let Some(last) = unknown.last() {
            self.runner.record_unknown(&job, &unknown);
            self.mark_fired(&job.id, *last);
        }
        if let Some(older) = &window.older {
            // A previous owner may have run some of them: their fate is unknown, not missed.
            let status = match job.uncertain_through {
                Some(through) if through >= older.first => ExecutionStatus::Lost,
                _ => ExecutionStatus::Missed,
            };
            let why = "no agent ran these fires when they were due";
            self.runner.record_summary(&job, older, status, why);
        }
        // Moved from a live owner that fired through `resume_after`: instants within the grace
        // run as if merely late, and the timer continues strictly after the window, even if
        // that is later than now (clock skew). Otherwise every due fire was nobody's: all of
        // them follow the misfire policy.
        let grace = if job.resume_after.is_some() {
            entry.next = window.next;
            GRACE
        } else {
            chrono::Duration::MIN
        };
        let Some(last) = window.due.last().copied() else {
            return unknown.len();
        };
        tracing::debug!(job = %job.id, due = window.due.len(), "fires were due before this agent took the job");
        let why = "no agent ran this fire when it was due";
        if self.fence.is_alive() {
            let decision = decide(&window.due, now, grace, job.misfire);
            self.runner.record_missed(&job, &decision.missed, why);
            let fires: Vec<_> = decision
                .start
                .into_iter()
                .map(|at| self.fire(&job, at))
                .collect();
            if !fires.is_empty() {
                self.runner.start_all(fires);
            }
        } else {
            self.runner.record_missed(&job, &window.due, why);
        }
        self.mark_fired(&job.id, last);
        unknown.len() + window.due.len()
    }
}

/// Jobs of one push that had fires due before they arrived: logged once per push, not once
/// per job (a failover hands thousands of jobs over at once).
#[derive(Default)]
pub(super) struct CaughtUp {
    jobs: usize,
    fires: usize,
}

impl CaughtUp {
    pub(super) fn add(&mut self, due: usize) {
        if due > 0 {
            self.jobs += 1;
            self.fires += due;
        }
    }

    pub(super) fn log(&self) {
        if self.jobs > 0 {
            tracing::info!(
                jobs = self.jobs,
                fires = self.fires,
                "fires were due before this agent took these jobs; run or recorded missed per their misfire policy"
            );
        }
    }
}
