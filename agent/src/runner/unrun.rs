//! Records of fires that did not run here: missed, skipped, unknown (a previous owner may
//! have run them), and one summary for more than a cap of them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use crony_common::unrun::{missed_id, unknown_id};
use crony_proto::v1::ExecutionStatus;

use super::{Fire, Runner, scheduled};
use crate::catch_up::{MISSED_CAP, Summary};
use crate::job::Job;

impl Runner {
    /// Records fires that were not run at all (missed), with ids derived from the job and the
    /// instant, so two agents recording the same missed instant make one record.
    pub fn record_missed(self: &Arc<Self>, job: &Arc<Job>, instants: &[DateTime<Utc>], why: &str) {
        for at in instants {
            self.metrics.missed.inc();
            let id = missed_id(job.id.as_str(), *at);
            self.record_unrun(&scheduled(job, *at), id, ExecutionStatus::Missed, why);
        }
    }

    /// Records instants a previous owner may have started (it stopped without reporting
    /// them) as `lost`: not run again here, outcome unknown. A real report of one, from the
    /// old owner's spool, replaces the record (the ids are derived from job and instant).
    pub fn record_unknown(self: &Arc<Self>, job: &Arc<Job>, instants: &[DateTime<Utc>]) {
        let why = "the agent that held the job stopped without reporting this instant; it may \
                   have run there, so it was not run again";
        for at in instants {
            self.metrics.unknown.inc();
            let id = unknown_id(job.id.as_str(), *at);
            self.record_unrun(&scheduled(job, *at), id, ExecutionStatus::Lost, why);
        }
    }

    /// Records one record standing for `older`, instants too many to record one by one:
    /// `missed`, or `lost` when a previous owner may have run some of them. Its id is that
    /// of the first instant's own record, so two agents summarising one gap make one row.
    pub fn record_summary(
        self: &Arc<Self>,
        job: &Arc<Job>,
        older: &Summary,
        status: ExecutionStatus,
        why: &str,
    ) {
        let (id, counter) = match status {
            ExecutionStatus::Lost => (
                unknown_id(job.id.as_str(), older.first),
                &self.metrics.unknown,
            ),
            _ => (
                missed_id(job.id.as_str(), older.first),
                &self.metrics.missed,
            ),
        };
        counter.inc_by(older.count);
        tracing::warn!(job = %job.id, count = older.count, exact = older.exact,
            "more than {MISSED_CAP} fires were due at once; the older ones are summarised");
        let why = format!("{why}; {}", older.describe());
        self.record_unrun(&scheduled(job, older.first), id, status, &why);
    }

    pub(in crate::runner) fn record_unrun(
        self: &Arc<Self>,
        fire: &Fire,
        id: String,
        status: ExecutionStatus,
        why: &str,
    ) {
        let now = Utc::now().timestamp_millis();
        let mut report = self.snapshot(fire, &id);
        report.status = status as i32;
        report.started_at_ms = 0;
        report.finished_at_ms = now;
        report.error = why.to_owned();
        self.metrics
            .finished(fire.job.id.as_str(), &fire.job.name, status.api_name());
        let spool = self.spool.clone();
        self.tracker.spawn(async move {
            if let Err(e) = spool.push(vec![report]).await {
                tracing::error!(error = %e, "cannot record a skipped or missed fire");
            }
        });
    }
}
