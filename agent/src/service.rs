//! `AgentService` as served to the leader scheduler, behind the cluster-token check.

use std::sync::Arc;

use crony_proto::v1::agent_service_server::AgentService;
use crony_proto::v1::{
    AgentInfo, AssignRequest, AssignResponse, DescribeRequest, KillRequest, KillResponse,
    ListHeldRequest, ListHeldResponse, RemoveRequest, RemoveResponse, SyncRequest, SyncResponse,
    TriggerRequest, TriggerResponse,
};
use tonic::{Request, Response, Status};

use crate::registration::Fence;

pub struct AgentServiceImpl {
    info: AgentInfo,
    fence: Arc<Fence>,
}

impl AgentServiceImpl {
    pub fn new(info: AgentInfo, fence: Arc<Fence>) -> Self {
        Self { info, fence }
    }
}

fn not_yet(what: &str) -> Status {
    Status::unimplemented(format!("{what} is not available in this agent version yet"))
}

#[tonic::async_trait]
impl AgentService for AgentServiceImpl {
    async fn describe(&self, _: Request<DescribeRequest>) -> Result<Response<AgentInfo>, Status> {
        let mut info = self.info.clone();
        info.lease_alive = self.fence.is_alive();
        Ok(Response::new(info))
    }

    async fn assign(&self, _: Request<AssignRequest>) -> Result<Response<AssignResponse>, Status> {
        Err(not_yet("Assign"))
    }

    async fn remove(&self, _: Request<RemoveRequest>) -> Result<Response<RemoveResponse>, Status> {
        Err(not_yet("Remove"))
    }

    async fn sync(&self, _: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        Err(not_yet("Sync"))
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
            generation: 0,
            jobs: Vec::new(),
        }))
    }
}
