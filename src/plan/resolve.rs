//! The plan of a Responses call: which agent runs it, on which upstream, in which thread (the
//! conversation's; the one a previous response lives in, forked when the turn branches off an
//! older response; a new one for a stored response; none for `store: false`), and the stored
//! responses it names, tenant-checked. One function per question; the adapter calls
//! [`plan_turn`] once.

use std::sync::Arc;

use http::StatusCode;
use serde_json::Value;

use crate::error::ApiError;
use crate::mastra::path::PathId;
use crate::mastra::types::{Direction, MastraResponse, MessageQuery};
use crate::mastra::upstreams::{Held, Located};
use crate::plan::agents::agent_on_upstream;
use crate::plan::{tenancy, Access, AppState};
use crate::state::caches::ResponseInfo;
use crate::translate::ids;
use crate::translate::items::{ConversationInfo, STANDALONE_KEY};
use crate::translate::response::gateway_note;
use crate::translate::turn::Memory;

/// Threads the gateway makes itself (for a stored response without a conversation, or a fork)
/// start with this: they are never shown as conversations.
pub const GATEWAY_THREAD_PREFIX: &str = "mgw_thread_";

/// A new thread id of the gateway's.
pub fn new_gateway_thread_id() -> String {
    format!("{GATEWAY_THREAD_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// What a `POST /v1/responses` call needs decided before it runs.
pub struct TurnPlan {
    pub agent: String,
    /// Index of the upstream that runs the turn (and holds its thread).
    pub upstream: usize,
    /// The thread the turn reads and writes; `None`: stateless.
    pub memory: Option<Memory>,
    /// The conversation named, if any.
    pub conversation: Option<Arc<ConversationInfo>>,
    /// The response continued, as its Mastra message id.
    pub previous: Option<String>,
}

/// What the request says about its context.
pub struct TurnTarget<'a> {
    pub model: Option<&'a str>,
    pub conversation: Option<&'a str>,
    pub previous_response_id: Option<&'a str>,
    pub store: bool,
}

/// Decides agent, upstream and thread for a turn (see the module doc).
pub async fn plan_turn(
    state: &AppState,
    access: &Access<'_>,
    target: &TurnTarget<'_>,
    request_id: &str,
) -> Result<TurnPlan, ApiError> {
    // The conversation must exist (OpenAI's 404 before any work) and be the caller's.
    let conversation = match target.conversation {
        Some(c) => Some(Box::pin(tenancy::conversation(state, access, c, request_id)).await?),
        None => None,
    };
    let previous = match target.previous_response_id {
        Some(prev) => Some(
            Box::pin(response_info(state, access, prev, request_id, || {
                ApiError::previous_response_not_found(prev)
            }))
            .await?,
        ),
        None => None,
    };
    let model = target
        .model
        .filter(|m| !m.is_empty())
        .or(conversation.as_ref().and_then(|c| c.agent.as_deref()))
        .or(previous
            .as_ref()
            .and_then(|(_, info)| info.agent.as_deref()));
    let agents = state.agents.get(&state.upstreams, request_id).await?;
    let mut agent = agents.resolve(model, &state.config.models)?;
    let mut upstream = state.upstreams.index_for_agent(&agent);
    // Several upstreams: the thread the turn continues must be on the agent's upstream.
    let holder = match (&conversation, &previous) {
        (Some(c), _) => Some((
            "Conversation",
            c.id.as_str(),
            c.upstream,
            c.agent.as_deref(),
        )),
        (None, Some((_, info))) => target
            .previous_response_id
            .map(|p| ("Previous response", p, info.upstream, None)),
        _ => None,
    };
    if let Some((kind, id, at, recorded)) = holder {
        if at != upstream {
            if target.model.is_some_and(|m| !m.is_empty()) {
                return Err(ApiError::invalid_request(format!(
                    "{kind} '{id}' is held by upstream '{}', which does not serve model '{}' (agent '{agent}').",
                    state.upstreams.get(at).name(),
                    target.model.unwrap_or_default()
                ))
                .with_param("model"));
            }
            let holds = (kind.to_lowercase(), id.to_string());
            agent =
                agent_on_upstream(state, recorded, at, (&holds.0, &holds.1), request_id).await?;
            upstream = at;
        }
    }
    let requested = model.or(state.config.models.default.as_deref());
    access.check_agent(&agent, requested.unwrap_or(&agent))?;
    let memory = match (&conversation, &previous) {
        (Some(c), _) => Some(Memory {
            thread: c.id.clone(),
            resource: c.resource_id.clone().unwrap_or_else(|| c.id.clone()),
            read_only: false,
        }),
        (None, Some((mastra_id, info))) => Some(
            Box::pin(continue_from(
                state,
                &agent,
                upstream,
                mastra_id,
                info,
                target.store,
                request_id,
            ))
            .await?,
        ),
        (None, None) if target.store => {
            let thread = new_gateway_thread_id();
            // Open, the thread is its own resource (as Mastra's own stored responses are).
            let resource = access
                .caller
                .resource_id()
                .map_or_else(|| thread.clone(), str::to_string);
            Some(Memory {
                thread,
                resource,
                read_only: false,
            })
        }
        (None, None) => None,
    };
    Ok(TurnPlan {
        agent,
        upstream,
        memory,
        conversation,
        previous: previous.map(|(id, _)| id),
    })
}

/// The thread a turn continuing response `mastra_id` runs in: the response's own thread when
/// the response is its newest answer, else a fork of it cut right after the response (so that
/// two continuations of one response are independent branches, as OpenAI's are).
async fn continue_from(
    state: &AppState,
    agent: &str,
    upstream: usize,
    mastra_id: &str,
    info: &ResponseInfo,
    store: bool,
    request_id: &str,
) -> Result<Memory, ApiError> {
    let not_found =
        || ApiError::previous_response_not_found(&ids::response_id_to_openai(mastra_id));
    let thread = info.thread.as_deref().ok_or_else(not_found)?;
    let thread_id = PathId::new(thread).ok_or_else(not_found)?;
    let client = state.upstreams.get(upstream);
    let resource = match &info.resource {
        Some(r) => r.clone(),
        None => match state
            .conversations
            .get(&state.upstreams, thread, request_id)
            .await
        {
            Ok(t) => t.resource_id.clone().unwrap_or_else(|| t.id.clone()),
            Err(e) if e.status == StatusCode::NOT_FOUND => return Err(not_found()),
            Err(e) => return Err(e),
        },
    };
    let newest = MessageQuery {
        direction: Direction::Desc,
        start: None,
        end: None,
        per_page: 1,
        page: 0,
    };
    let page = client
        .list_messages(thread_id, agent, &newest, request_id)
        .await?;
    let is_newest = page.messages.first().is_some_and(|m| m.id == mastra_id);
    if is_newest {
        return Ok(Memory {
            thread: thread.to_string(),
            resource,
            read_only: !store,
        });
    }
    let until = match &info.answered_at {
        Some(at) => at.clone(),
        None => answer_time(state, upstream, thread_id, agent, mastra_id, request_id)
            .await?
            .ok_or_else(not_found)?,
    };
    let fork = new_gateway_thread_id();
    client
        .clone_thread(thread_id, agent, &fork, &resource, &until, request_id)
        .await?;
    tracing::debug!(from = %thread, to = %fork, "forked the thread at the previous response");
    Ok(Memory {
        thread: fork,
        resource,
        read_only: !store,
    })
}

/// `createdAt` of message `mastra_id` in `thread`, found by reading the thread from its newest
/// end (for responses stored without the gateway's note).
async fn answer_time(
    state: &AppState,
    upstream: usize,
    thread: PathId<'_>,
    agent: &str,
    mastra_id: &str,
    request_id: &str,
) -> Result<Option<String>, ApiError> {
    let client = state.upstreams.get(upstream);
    for page in 0..50 {
        let q = MessageQuery {
            direction: Direction::Desc,
            start: None,
            end: None,
            per_page: 100,
            page,
        };
        let window = client.list_messages(thread, agent, &q, request_id).await?;
        if let Some(m) = window.messages.iter().find(|m| m.id == mastra_id) {
            return Ok(Some(m.created_at.clone()));
        }
        if !window.has_more || window.messages.is_empty() {
            break;
        }
    }
    Ok(None)
}

/// Where a stored response lives (free with one upstream; remembered when it was created
/// through the gateway or found once by asking); unknown → `not_found()`.
pub async fn locate_response(
    state: &AppState,
    mastra_id: &str,
    request_id: &str,
    not_found: impl FnOnce() -> ApiError,
) -> Result<Located, ApiError> {
    let Some(path_id) = PathId::new(mastra_id) else {
        return Err(not_found());
    };
    state
        .upstreams
        .locate(Held::Response, path_id, request_id)
        .await?
        .ok_or_else(not_found)
}

/// A stored response, read from the upstream holding it and tenant-checked; any upstream 404
/// (and another tenant's response) is `not_found()`.
pub async fn read_response(
    state: &AppState,
    access: &Access<'_>,
    openai_id: &str,
    request_id: &str,
    not_found: impl Fn() -> ApiError,
) -> Result<(usize, MastraResponse), ApiError> {
    let mastra_id = ids::response_id_to_mastra(openai_id).into_owned();
    let found = locate_response(state, &mastra_id, request_id, &not_found).await?;
    let index = found.index;
    let holder = state.upstreams.get(index);
    let path_id = PathId::new(&mastra_id).ok_or_else(&not_found)?;
    let reply = found
        .read(
            &state.upstreams,
            Held::Response,
            path_id,
            request_id,
            "responses.lookup",
        )
        .await
        .map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                not_found()
            } else {
                e
            }
        })?;
    let response: MastraResponse = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::upstream_invalid(holder.name(), format!("GET /api/v1/responses: {e}"))
    })?;
    let thread = response.conversation_id.as_deref();
    if !tenancy::owns_thread(state, access, thread, request_id).await? {
        return Err(not_found());
    }
    remember_response(state, &mastra_id, &response, index, request_id).await;
    Ok((index, response))
}

/// Where stored response `openai_id` lives, its agent and the time of its answer: from the
/// response cache, else read (and tenant-checked). Unknown or another tenant's:
/// `not_found()`.
pub async fn response_info(
    state: &AppState,
    access: &Access<'_>,
    openai_id: &str,
    request_id: &str,
    not_found: impl Fn() -> ApiError,
) -> Result<(String, Arc<ResponseInfo>), ApiError> {
    let mastra_id = ids::response_id_to_mastra(openai_id).into_owned();
    if PathId::new(&mastra_id).is_none() {
        return Err(not_found());
    }
    if let Some(info) = state.responses.get(&mastra_id).await {
        if tenancy::owns_thread(state, access, info.thread.as_deref(), request_id).await? {
            return Ok((mastra_id, info));
        }
        return Err(not_found());
    }
    read_response(state, access, openai_id, request_id, &not_found).await?;
    let info = state
        .responses
        .get(&mastra_id)
        .await
        .ok_or_else(not_found)?;
    Ok((mastra_id, info))
}

/// Records where a stored response lives: its thread, upstream and agent (the record's, else
/// the one its thread records), and when it was answered.
pub async fn remember_response(
    state: &AppState,
    mastra_id: &str,
    response: &MastraResponse,
    upstream: usize,
    request_id: &str,
) -> Arc<ResponseInfo> {
    let thread = response.conversation_id.as_deref();
    let note = gateway_note(response);
    let recorded = match (&note, response.model.as_deref()) {
        // The gateway's records name the agent itself.
        (Some(_), Some(m)) => Some(m.to_string()),
        (None, Some(m)) => match state.agents.get(&state.upstreams, request_id).await {
            Ok(dir) => dir.agent_for_model_string(m).map(str::to_string),
            Err(_) => None,
        },
        _ => None,
    };
    let agent = match (recorded, thread) {
        (Some(a), _) => Some(a),
        (None, Some(t)) => state
            .conversations
            .get(&state.upstreams, t, request_id)
            .await
            .ok()
            .and_then(|info| info.agent.clone()),
        (None, None) => None,
    };
    let info = ResponseInfo {
        thread: thread.map(str::to_string),
        agent,
        upstream,
        answered_at: note.and_then(|n| n.answered_at),
        resource: None,
    };
    state
        .upstreams
        .remember(Held::Response, mastra_id, upstream)
        .await;
    state.responses.insert(mastra_id, info).await
}

/// Every stored response lives in a thread, but OpenAI shows `conversation` only for
/// responses created in one. A thread is a conversation when it was created through
/// `/v1/conversations` (it carries the gateway's agent key) or natively for a resource of its
/// own; the gateway's own threads ([`GATEWAY_THREAD_PREFIX`]) are not, nor the thread Mastra
/// makes for a standalone stored response (`resourceId == id`, no key), nor one the gateway
/// made for a tenant's before (marked [`STANDALONE_KEY`]). Lookups go through the conversation
/// cache.
pub async fn shown_conversation(
    state: &AppState,
    thread: &str,
    request_id: &str,
) -> Option<String> {
    if thread.starts_with(GATEWAY_THREAD_PREFIX) {
        return None;
    }
    let info = state
        .conversations
        .get(&state.upstreams, thread, request_id)
        .await
        .ok()?;
    let standalone =
        info.agent.is_none() && info.resource_id.as_deref().is_none_or(|r| r == info.id);
    let marked = info.metadata.get(STANDALONE_KEY).and_then(Value::as_str) == Some("true");
    (!standalone && !marked).then(|| info.id.clone())
}
