//! `AgentService` as served to the leader scheduler, behind the cluster-token check.

use std::sync::Arc;

use crony_proto::v1::agent_service_server::AgentService;
use crony_proto::v1::{
    AgentInfo, AssignRequest, AssignResponse, DescribeRequest, KillRequest, KillResponse,
    ListHeldRequest, ListHeldResponse, RemoveRequest, RemoveResponse, SyncRequest, SyncResponse,
    TriggerRequest, TriggerResponse,
};
use tonic::{Request, Response, Status};

use crate::holdings::{HoldError, Holdings};
use crate::registration::Fence;

pub struct AgentServiceImpl {
    info: AgentInfo,
    fence: Arc<Fence>,
    holdings: Arc<Holdings>,
}

impl AgentServiceImpl {
    pub fn new(info: AgentInfo, fence: Arc<Fence>, holdings: Arc<Holdings>) -> Self {
        Self {
            info,
            fence,
            holdings,
        }
    }
}

fn status(e: HoldError) -> Status {
    match e {
        HoldError::StaleTerm { .. } => Status::failed_precondition(e.to_string()),
        HoldError::MissingId => Status::invalid_argument(e.to_string()),
        HoldError::Save { .. } => Status::internal(e.to_string()),
    }
}

/// Firing arrives with the agent's clock (issue 4); until then these say so plainly.
fn not_yet(what: &str) -> Status {
    Status::unimplemented(format!("{what} is not available in this agent version yet"))
}

#[tonic::async_trait]
impl AgentService for AgentServiceImpl {
    async fn describe(&self, _: Request<DescribeRequest>) -> Result<Response<AgentInfo>, Status> {
        let mut info = self.info.clone();
        info.lease_alive = self.fence.is_alive();
        info.generation = self.holdings.generation();
        info.held_jobs = self.holdings.len() as u32;
        Ok(Response::new(info))
    }

    async fn assign(
        &self,
        request: Request<AssignRequest>,
    ) -> Result<Response<AssignResponse>, Status> {
        let request = request.into_inner();
        let generation = self
            .holdings
            .assign(request.term, request.jobs)
            .map_err(status)?;
        Ok(Response::new(AssignResponse { generation }))
    }

    async fn remove(
        &self,
        request: Request<RemoveRequest>,
    ) -> Result<Response<RemoveResponse>, Status> {
        let request = request.into_inner();
        let generation = self
            .holdings
            .remove(request.term, &request.job_ids)
            .map_err(status)?;
        Ok(Response::new(RemoveResponse { generation }))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let request = request.into_inner();
        let generation = self
            .holdings
            .sync(request.term, request.generation, request.jobs)
            .map_err(status)?;
        Ok(Response::new(SyncResponse { generation }))
    }

    async fn trigger(
        &self,
        _: Request<TriggerRequest>,
    ) -> Result<Response<TriggerResponse>, Status> {
        Err(not_yet("Trigger"))
    }

    async fn kill(&self, _: Request<KillRequest>) -> Result<Response<KillResponse>, Status> {
        Err(not_yet("Kill"))
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
