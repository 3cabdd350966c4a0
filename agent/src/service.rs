//! `AgentService` as served to the leader scheduler, behind the cluster-token check.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crony_proto::v1::agent_service_server::AgentService;
use crony_proto::v1::{
    AgentInfo, AssignRequest, AssignResponse, DescribeRequest, KillRequest, KillResponse,
    ListHeldRequest, ListHeldResponse, RemoveRequest, RemoveResponse, SettledRequest,
    SettledResponse, SyncRequest, SyncResponse, TriggerKind, TriggerRequest, TriggerResponse,
};
use tonic::{Request, Response, Status};

use crate::clock::{ClockHandle, Command};
use crate::holdings::{HoldError, Holdings};
use crate::job::{JobError, JobId};
use crate::registration::Fence;
use crate::runner::{Fire, Runner};
use crate::staging::{Staged, Staging};

pub struct AgentServiceImpl {
    info: AgentInfo,
    fence: Arc<Fence>,
    /// The etcd lease the agent is registered under now (0 while it has none).
    lease: Arc<AtomicI64>,
    holdings: Arc<Holdings>,
    clock: ClockHandle,
    runner: Arc<Runner>,
    /// Held across "change holdings, tell the clock (and wait for its answer)", so concurrent
    /// pushes reach both in the same order; it also guards the chunked sync being received.
    pushes: tokio::sync::Mutex<Staging>,
}

impl AgentServiceImpl {
    pub fn new(
        info: AgentInfo,
        fence: Arc<Fence>,
        lease: Arc<AtomicI64>,
        holdings: Arc<Holdings>,
        clock: ClockHandle,
        runner: Arc<Runner>,
    ) -> Self {
        Self {
            info,
            fence,
            lease,
            holdings,
            clock,
            runner,
            pushes: tokio::sync::Mutex::new(Staging::default()),
        }
    }

    /// Runs a change of the holdings, which writes and fsyncs the held-jobs file, on a
    /// blocking thread: a slow disk must not stall the runtime that fires jobs.
    async fn on_disk<T: Send + 'static>(
        &self,
        change: impl FnOnce(&Holdings) -> T + Send + 'static,
    ) -> Result<T, Status> {
        let holdings = self.holdings.clone();
        tokio::task::spawn_blocking(move || change(&holdings))
            .await
            .map_err(|e| Status::internal(format!("saving the held jobs failed: {e}")))
    }
}

fn status(e: HoldError) -> Status {
    match e {
        HoldError::StaleTerm { .. } => Status::failed_precondition(e.to_string()),
        HoldError::Save { .. } => Status::internal(e.to_string()),
    }
}

/// A pushed job the agent cannot use: the push is refused whole, naming the job and field.
fn invalid(e: JobError) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl AgentService for AgentServiceImpl {
    async fn describe(&self, _: Request<DescribeRequest>) -> Result<Response<AgentInfo>, Status> {
        let mut info = self.info.clone();
        info.lease_alive = self.fence.is_alive();
        info.lease_id = self.lease.load(Ordering::SeqCst);
        info.generation = self.holdings.generation();
        info.held_jobs = self.holdings.len() as u32;
        Ok(Response::new(info))
    }

    async fn assign(
        &self,
        request: Request<AssignRequest>,
    ) -> Result<Response<AssignResponse>, Status> {
        let request = request.into_inner();
        self.holdings.check_term(request.term).map_err(status)?;
        // Converted once, here; one copy of each job, shared by the holdings and the clock.
        let jobs = self.holdings.admit(request.jobs).map_err(invalid)?;
        let _order = self.pushes.lock().await;
        let (term, pushed) = (request.term, request.generation);
        let (held, jobs) = self
            .on_disk(move |h| (h.assign(term, pushed, &jobs), jobs))
            .await?;
        let generation = held.map_err(status)?;
        self.clock.send(Command::Upsert(jobs));
        Ok(Response::new(AssignResponse { generation }))
    }

    async fn remove(
        &self,
        request: Request<RemoveRequest>,
    ) -> Result<Response<RemoveResponse>, Status> {
        let request = request.into_inner();
        let _order = self.pushes.lock().await;
        let (term, pushed) = (request.term, request.generation);
        let (held, job_ids) = self
            .on_disk(move |h| (h.remove(term, pushed, &request.job_ids), request.job_ids))
            .await?;
        let generation = held.map_err(status)?;
        // The answer waits for the clock to have stopped the jobs: the instants it reports are
        // final, so a new owner that starts strictly after them cannot run one twice.
        let mut released = self
            .clock
            .remove(job_ids)
            .await
            .ok_or_else(|| Status::unavailable("the agent is shutting down"))?;
        // Runs keep going after their job is released: the new owner must count them.
        for r in &mut released {
            let busy = JobId::new(&r.job_id).and_then(|job| self.runner.busy_until(&job));
            r.busy_until_ms = busy.map_or(0, |at| at.timestamp_millis());
        }
        Ok(Response::new(RemoveResponse {
            generation,
            released,
        }))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let request = request.into_inner();
        let mut staging = self.pushes.lock().await;
        if let Err(e) = self.holdings.check_term(request.term) {
            staging.clear();
            return Err(status(e));
        }
        let jobs = match self.holdings.admit(request.jobs) {
            Ok(jobs) => jobs,
            Err(e) => {
                // The set cannot be applied whole: the leader must start it over.
                staging.clear();
                return Err(invalid(e));
            }
        };
        let staged = staging
            .add(
                request.term,
                request.generation,
                request.chunk,
                request.more,
                jobs,
            )
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let Staged::Complete(jobs) = staged else {
            return Ok(Response::new(SyncResponse {
                generation: self.holdings.generation(),
            }));
        };
        let (term, pushed) = (request.term, request.generation);
        let (held, jobs) = self
            .on_disk(move |h| (h.sync(term, pushed, &jobs), jobs))
            .await?;
        let generation = held.map_err(status)?;
        self.clock.send(Command::Replace(jobs));
        Ok(Response::new(SyncResponse { generation }))
    }

    async fn trigger(
        &self,
        request: Request<TriggerRequest>,
    ) -> Result<Response<TriggerResponse>, Status> {
        // The scheduler's `crony.push` span, when it traces: this run joins its trace.
        let parent = request
            .metadata()
            .get(crony_common::traces::TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(crony_common::traces::Parent::parse);
        let request = request.into_inner();
        let Some(job) = self.holdings.get(&request.job_id) else {
            return Err(Status::not_found(format!(
                "this agent does not hold job {}",
                request.job_id
            )));
        };
        if request.assignment_epoch != 0 && request.assignment_epoch != job.assignment_epoch {
            return Err(Status::failed_precondition(format!(
                "this agent holds job {} at epoch {}, not {}",
                job.id, job.assignment_epoch, request.assignment_epoch
            )));
        }
        if !self.fence.is_alive() {
            return Err(Status::unavailable(
                "this agent's lease is not certainly alive; it runs nothing until it is",
            ));
        }
        let kind = match TriggerKind::try_from(request.kind) {
            Ok(TriggerKind::Retry) => TriggerKind::Retry,
            _ => TriggerKind::Manual,
        };
        let scheduled_at = match kind {
            TriggerKind::Retry if request.scheduled_at_ms > 0 => {
                chrono::DateTime::from_timestamp_millis(request.scheduled_at_ms)
                    .unwrap_or_else(chrono::Utc::now)
            }
            _ => chrono::Utc::now(),
        };
        let execution_id = self.runner.start(Fire {
            job,
            scheduled_at,
            kind,
            retry_of: request.retry_of,
            attempts_used: request.attempts_used,
            parent,
        });
        Ok(Response::new(TriggerResponse { execution_id }))
    }

    async fn kill(&self, request: Request<KillRequest>) -> Result<Response<KillResponse>, Status> {
        let killed = self.runner.kill(&request.into_inner().execution_id);
        Ok(Response::new(KillResponse { killed }))
    }

    async fn settled(
        &self,
        request: Request<SettledRequest>,
    ) -> Result<Response<SettledResponse>, Status> {
        let held = self.runner.settled(&request.into_inner().execution_id);
        Ok(Response::new(SettledResponse { held }))
    }

    async fn list_held(
        &self,
        _: Request<ListHeldRequest>,
    ) -> Result<Response<ListHeldResponse>, Status> {
        Ok(Response::new(ListHeldResponse {
            generation: self.holdings.generation(),
            jobs: self.holdings.held(),
        }))
    }
}

#[cfg(test)]
#[path = "service_test.rs"]
mod tests;
