//! Telling the agent that ran an async execution that its result arrived, so it stops holding
//! the run's place (`overlap`, `@delay`; the agent's `runner/awaiting.rs`). Best effort, off
//! the request's path: an agent that cannot be told ends its hold at the async deadline.

use std::time::Duration;

use crony_proto::v1::SettledRequest;

use crate::domain::ids::{AgentId, ExecutionId};
use crate::leader::push::{AgentDialer, agent_client};
use crate::registry::LiveAgents;

/// How long the agent has to answer.
const DEADLINE: Duration = Duration::from_secs(5);

pub(crate) fn tell_agent(
    live: &LiveAgents,
    dialer: &AgentDialer,
    agent_id: &AgentId,
    execution_id: &ExecutionId,
) {
    let Some(agent) = live.get(agent_id.as_str()) else {
        return; // gone: nothing holds the run's place any more
    };
    let mut client = match agent_client(&agent, dialer) {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(agent = %agent_id, error = %e, "cannot tell the agent an async result arrived");
            return;
        }
    };
    let request = SettledRequest {
        execution_id: execution_id.to_string(),
    };
    let (agent_id, execution_id) = (agent_id.clone(), execution_id.clone());
    tokio::spawn(async move {
        let told = tokio::time::timeout(DEADLINE, client.settled(request)).await;
        let why = match told {
            Ok(Ok(_)) => return,
            Ok(Err(status)) => status.message().to_owned(),
            Err(_) => format!("no answer within {DEADLINE:?}"),
        };
        tracing::warn!(
            agent = %agent_id,
            execution = %execution_id,
            reason = %why,
            "the agent was not told its async run settled; it holds the run's place until the async deadline"
        );
    });
}
