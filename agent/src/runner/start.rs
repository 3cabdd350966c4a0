//! Starting fires: the overlap policy, then the start records of every fire due together in
//! one spool write before any of them is called. A burst of a thousand fires thus costs one
//! hand-off to the spool's writer instead of a thousand (issue 16: thread wake-ups were a
//! tenth of the agent's CPU per fire); each fire still starts only once its record is written
//! and the fence still holds (`refuse_start`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use crony_common::traces::ExecSpan;
use crony_proto::v1::{ExecutionReport, ExecutionStatus, TriggerKind};
use tokio_util::sync::CancellationToken;

use super::{Fire, Runner, bounds};
use crate::job::Overlap;

/// A fire admitted to run, with its execution id and kill switch.
pub(super) struct Started {
    pub fire: Fire,
    pub id: String,
    pub kill: CancellationToken,
    /// `crony.fire`, from the admission to the outcome (empty when tracing is off).
    pub span: ExecSpan,
}

impl Runner {
    /// Starts `fire` (or records it as skipped, per the job's overlap policy); returns the
    /// execution id at once.
    pub fn start(self: &Arc<Self>, fire: Fire) -> String {
        self.start_all(vec![fire]).pop().expect("one id per fire")
    }

    /// Starts `fires` due together, in order; returns their execution ids at once.
    pub fn start_all(self: &Arc<Self>, fires: Vec<Fire>) -> Vec<String> {
        let mut ids = Vec::with_capacity(fires.len());
        let mut admitted = Vec::with_capacity(fires.len());
        for fire in fires {
            let id = uuid::Uuid::now_v7().to_string();
            ids.push(id.clone());
            if let Some(kill) = self.admit(&fire, &id) {
                let span = self.fire_span(&fire, &id);
                admitted.push(Started {
                    fire,
                    id,
                    kill,
                    span,
                });
            }
        }
        if admitted.is_empty() {
            return ids;
        }
        let this = self.clone();
        self.tracker.spawn(async move {
            let mut reports: Vec<ExecutionReport> = admitted
                .iter()
                .map(|s| {
                    let mut report = this.snapshot(&s.fire, &s.id);
                    report.traceparent = s.span.traceparent().unwrap_or_default();
                    report
                })
                .collect();
            let recorded = this.save_all(&mut reports).await;
            for (start, report) in admitted.into_iter().zip(reports) {
                let runner = this.clone();
                this.tracker
                    .spawn(async move { runner.run(start, report, recorded).await });
            }
        });
        ids
    }

    /// Applies the overlap policy; the fire's kill switch when it runs, `None` when it was
    /// recorded skipped instead. A fire that runs holds its place from here.
    fn admit(self: &Arc<Self>, fire: &Fire, id: &str) -> Option<CancellationToken> {
        let kill = CancellationToken::new();
        {
            let mut runs = self.lock();
            let running = runs.get(&fire.job.id).filter(|r| !r.is_empty());
            // A run the previous owner had going when the job moved here counts too.
            let elsewhere = fire.job.busy_until.is_some_and(|until| Utc::now() < until);
            if running.is_some() || elsewhere {
                match fire.job.overlap {
                    Overlap::Allow => {}
                    // A run elsewhere cannot be killed from here: it ends by its own bound.
                    Overlap::Replace => {
                        for kill in running.into_iter().flat_map(HashMap::values) {
                            kill.cancel();
                        }
                    }
                    Overlap::Skip => {
                        drop(runs);
                        self.metrics.skipped.inc();
                        let why = match elsewhere {
                            true => {
                                "the previous run was still going on the agent this job \
                                     moved from (overlap: skip)"
                            }
                            false => "the previous run was still going (overlap: skip)",
                        };
                        self.record_unrun(fire, id.to_owned(), ExecutionStatus::Skipped, why);
                        return None;
                    }
                }
            }
            runs.entry(fire.job.id.clone())
                .or_default()
                .insert(id.to_owned(), kill.clone());
        }
        self.metrics.running.inc();
        let longest = bounds::worst_case(&fire.job.retry, fire.job.timeout);
        let ends_by =
            Utc::now() + chrono::Duration::from_std(longest).unwrap_or(chrono::Duration::MAX);
        self.bounds.set(id, ends_by);
        Some(kill)
    }

    /// One admitted fire, from its first attempt to giving its place up.
    async fn run(self: Arc<Self>, start: Started, report: ExecutionReport, recorded: bool) {
        let (job_id, exec_id) = (start.fire.job.id.clone(), start.id.clone());
        if start.fire.kind == TriggerKind::Schedule {
            let lateness = (Utc::now() - start.fire.scheduled_at)
                .to_std()
                .unwrap_or_default();
            self.metrics.fire_lateness.observe(lateness.as_secs_f64());
        }
        self.execute(start, report, recorded).await;
        self.bounds.remove(&exec_id);
        {
            let mut runs = self.lock();
            if let Some(of_job) = runs.get_mut(&job_id) {
                of_job.remove(&exec_id);
                if of_job.is_empty() {
                    runs.remove(&job_id);
                }
            }
        }
        self.metrics.running.dec();
        let _ = self.finished.send((job_id, Utc::now()));
    }

    /// Writes the start records of fires due together in one spool write (not fsynced: safe
    /// from the agent dying, not from the machine, as for one); false if it failed.
    async fn save_all(&self, reports: &mut [ExecutionReport]) -> bool {
        let spooled = self.spool.push_written(reports.to_vec()).await;
        if let Err(e) = &spooled {
            tracing::error!(executions = reports.len(), error = %e, "cannot spool execution starts");
        }
        for report in reports.iter_mut() {
            report.revision += 1;
        }
        spooled.is_ok()
    }
}
