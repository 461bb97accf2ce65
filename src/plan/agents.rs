//! Which agent serves a call: the default one, and the agent of the upstream holding a thread.

use crate::error::ApiError;
use crate::plan::AppState;
use crate::translate::items::ConversationInfo;

/// The agent new conversations belong to: `models.default`, else the upstream's first agent.
pub async fn default_agent(state: &AppState, request_id: &str) -> Result<String, ApiError> {
    let dir = state.agents.get(&state.upstreams, request_id).await?;
    if state.config.models.default.is_some() {
        return dir.resolve(None, &state.config.models);
    }
    let first = dir.agent_ids().next().map(str::to_string);
    first.ok_or_else(|| {
        ApiError::upstream_invalid(
            state.upstreams.primary().name(),
            "it lists no agents, so there is no agent to hold conversations",
        )
    })
}

/// The agent whose memory serves this conversation, always one of the upstream holding the
/// thread (so `for_agent` of it is that upstream): see [`agent_on_upstream`]. Threads created
/// natively in Mastra record no agent.
pub async fn agent_of(
    state: &AppState,
    info: &ConversationInfo,
    request_id: &str,
) -> Result<String, ApiError> {
    let holds = ("conversation", info.id.as_str());
    agent_on_upstream(
        state,
        info.agent.as_deref(),
        info.upstream,
        holds,
        request_id,
    )
    .await
}

/// An agent of upstream `upstream`, which holds the `(kind, id)` named in `holds`: `recorded`
/// while it is there, else the default one if it is there, else that upstream's first agent.
pub async fn agent_on_upstream(
    state: &AppState,
    recorded: Option<&str>,
    upstream: usize,
    holds: (&str, &str),
    request_id: &str,
) -> Result<String, ApiError> {
    let dir = state.agents.get(&state.upstreams, request_id).await?;
    let on_holder = |agent: &str| dir.upstream_of(agent) == Some(upstream);
    if let Some(agent) = recorded.filter(|a| on_holder(a)) {
        return Ok(agent.to_string());
    }
    let default = default_agent(state, request_id).await?;
    if on_holder(&default) {
        return Ok(default);
    }
    let first = dir.agent_ids().find(|a| on_holder(a)).map(str::to_string);
    first.ok_or_else(|| {
        ApiError::upstream_invalid(
            state.upstreams.get(upstream).name(),
            format!(
                "it holds {} '{}' but lists no agents, so no agent can serve it",
                holds.0, holds.1
            ),
        )
    })
}
