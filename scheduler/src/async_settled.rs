//! Telling the agent that ran an async execution that its result arrived, so it stops holding
//! the run's place (`overlap`, `@delay`; the agent's `runner/awaiting.rs`). Best effort, off
//! the request's path, a few tries (the agent may be missing from this scheduler's view for a
//! moment while its watch re-lists): an agent that cannot be told ends its hold at the async
//! deadline.

use std::sync::Arc;
use std::time::Duration;

use crony_proto::v1::SettledRequest;

use crate::domain::ids::{AgentId, ExecutionId};
use crate::leader::push::{AgentDialer, agent_client};
use crate::registry::LiveAgents;

/// How long the agent has to answer one try.
const DEADLINE: Duration = Duration::from_secs(5);
/// Tries, a second apart.
const TRIES: u32 = 5;

pub(crate) fn tell_agent(
    live: &Arc<LiveAgents>,
    dialer: &AgentDialer,
    agent_id: &AgentId,
    execution_id: &ExecutionId,
) {
    let (live, dialer) = (live.clone(), dialer.clone());
    let (agent_id, execution_id) = (agent_id.clone(), execution_id.clone());
    tokio::spawn(async move {
        let mut why = String::new();
        for attempt in 1..=TRIES {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            match tell_once(&live, &dialer, &agent_id, &execution_id).await {
                Ok(()) => return,
                Err(e) => why = e,
            }
        }
        tracing::warn!(
            agent = %agent_id,
            execution = %execution_id,
            reason = %why,
            "the agent was not told its async run settled; it holds the run's place until the async deadline"
        );
    });
}

async fn tell_once(
    live: &LiveAgents,
    dialer: &AgentDialer,
    agent_id: &AgentId,
    execution_id: &ExecutionId,
) -> Result<(), String> {
    let agent = live
        .get(agent_id.as_str())
        .ok_or("the agent is not online")?;
    let mut client = agent_client(&agent, dialer)?;
    let request = SettledRequest {
        execution_id: execution_id.to_string(),
    };
    match tokio::time::timeout(DEADLINE, client.settled(request)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) => Err(status.message().to_owned()),
        Err(_) => Err(format!("no answer within {DEADLINE:?}")),
    }
}
