//! `POST /v1/responses`, `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}`.

use http::{header, HeaderValue, Method, Response, StatusCode};
use serde_json::{Map, Value};

use crate::api::conversations::agent_on_upstream;
use crate::api::{json_response, parse_json};
use crate::engine::stream::{GatewayBody, TranslatedStream};
use crate::error::ApiError;
use crate::mastra::client::MastraClient;
use crate::mastra::memory::CreateConversationBody;
use crate::mastra::path::PathId;
use crate::mastra::types::{MastraDeleted, MastraResponse};
use crate::mastra::upstreams::{Held, Located};
use crate::openai::request::CreateResponseRequest;
use crate::openai::response::DeletedResponse;
use crate::plan::tenancy;
use crate::plan::Access;
use crate::plan::AppState;
use crate::state::caches::ResponseInfo;
use crate::translate::ids;
use crate::translate::items::{new_conversation_id, ConversationInfo, AGENT_KEY, STANDALONE_KEY};
use crate::translate::request::{build_create_body, check_input_size, validate};
use crate::translate::response::{response_from_mastra, RequestEcho, ResponseContext};
use crate::translate::stream::StreamTranslator;

/// Rarely taken sub-steps (a conversation or previous response to check, a tenant's thread
/// to make or drop) are boxed, so the future every request holds stays small.
pub async fn create(
    state: &AppState,
    access: &Access<'_>,
    body: &[u8],
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let req: CreateResponseRequest = parse_json(body)?;
    validate(&req)?;
    let server = &state.config.server;
    check_input_size(
        req.input.as_ref(),
        server.max_input_items,
        server.max_input_bytes,
    )?;
    // The conversation must exist (OpenAI's 404 before any work) and be the caller's; the
    // lookup is cached, so a run of turns on one conversation asks Mastra once. Without
    // `model`, its agent answers.
    let conversation = match &req.conversation {
        Some(c) => Some(Box::pin(tenancy::conversation(state, access, c.id(), request_id)).await?),
        None => None,
    };
    if let Some(prev) = &req.previous_response_id {
        Box::pin(check_response_owner(
            state,
            access,
            prev,
            request_id,
            || ApiError::previous_response_not_found(prev),
        ))
        .await?;
    }
    let model = req
        .model
        .as_deref()
        .filter(|m| !m.is_empty())
        .or(conversation.as_ref().and_then(|c| c.agent.as_deref()));
    let agents = state.agents.get(&state.upstreams, request_id).await?;
    let mut agent = agents.resolve(model, &state.config.models)?;
    let mut upstream = state.upstreams.index_for_agent(&agent);
    // Several upstreams: the thread the turn continues must be on the agent's upstream.
    if let Some(c) = &conversation {
        if upstream != c.upstream {
            let holder = Holder {
                kind: "Conversation",
                id: &c.id,
                upstream: c.upstream,
                agent: c.agent.as_deref(),
            };
            agent = Box::pin(agent_on_holder(state, &req, holder, &agent, request_id)).await?;
            upstream = c.upstream;
        }
    } else if let (Some(prev), true) = (&req.previous_response_id, state.upstreams.len() > 1) {
        let mastra_id = ids::response_id_to_mastra(prev);
        let found = Box::pin(locate_response(state, &mastra_id, request_id, || {
            ApiError::previous_response_not_found(prev)
        }))
        .await?;
        if upstream != found.index {
            let holder = Holder {
                kind: "Previous response",
                id: prev,
                upstream: found.index,
                agent: None,
            };
            agent = Box::pin(agent_on_holder(state, &req, holder, &agent, request_id)).await?;
            upstream = found.index;
        }
    }
    let requested = model.or(state.config.models.default.as_deref());
    access.check_agent(&agent, requested.unwrap_or(&agent))?;
    crate::telemetry::set_agent(&agent);
    let mastra = state.upstreams.get(upstream);
    let stream = req.stream.unwrap_or(false);
    let mut upstream_body = build_create_body(&req, &agent, stream)?;
    // A valid request: it counts against its agent's rate, and a stream takes a slot.
    state.limits.check_agent(&agent, access.rate)?;
    let stream_permit = if stream {
        state.limits.open_stream(&access.caller, access.rate)?
    } else {
        None
    };
    // A tenant's stored response made without a conversation goes into a thread of the
    // tenant's, made first, so that it is scoped too (DESIGN.md §3).
    let standalone = match access.caller.resource_id() {
        Some(resource)
            if req.store.unwrap_or(true)
                && req.conversation.is_none()
                && req.previous_response_id.is_none() =>
        {
            Some(
                Box::pin(standalone_thread(
                    state, mastra, &agent, resource, request_id,
                ))
                .await?,
            )
        }
        _ => None,
    };
    if let Some(thread) = &standalone {
        upstream_body.conversation_id = Some(thread);
    }
    let json = serde_json::to_vec(&upstream_body)
        .map_err(|e| ApiError::internal(format!("could not encode the upstream request: {e}")))?;
    let ctx = ResponseContext {
        model: agent.clone(),
        conversation: req.conversation.as_ref().map(|c| c.id().to_string()),
        echo: RequestEcho::from_request(&req),
    };

    if stream {
        let upstream = mastra
            .open_stream("/v1/responses", json, request_id, "responses.create")
            .await
            .map_err(|e| remap_create_error(e, &req));
        let upstream = forget_if_gone(state, &req, upstream).await;
        let upstream = Box::pin(drop_standalone_on_error(
            state,
            mastra,
            &standalone,
            upstream,
            request_id,
        ))
        .await?;
        let mut translated = TranslatedStream::new(
            upstream,
            StreamTranslator::new(ctx),
            state.config.upstream.stream_idle_timeout,
        );
        if let Some(permit) = stream_permit {
            translated = translated.hold(permit);
        }
        let mut resp = Response::new(GatewayBody::Stream(Box::new(translated)));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        return Ok(resp);
    }

    let reply = mastra
        .call(
            Method::POST,
            "/v1/responses",
            Some(json),
            request_id,
            "responses.create",
        )
        .await
        .map_err(|e| remap_create_error(e, &req));
    let reply = forget_if_gone(state, &req, reply).await;
    let reply = Box::pin(drop_standalone_on_error(
        state,
        mastra,
        &standalone,
        reply,
        request_id,
    ))
    .await?;
    let mastra: MastraResponse = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::upstream_invalid(mastra.name(), format!("POST /api/v1/responses: {e}"))
    })?;
    if mastra.store == Some(true) {
        state
            .upstreams
            .remember(Held::Response, &mastra.id, upstream)
            .await;
        if !access.caller.is_open() {
            let info = ResponseInfo {
                thread: mastra.conversation_id.clone(),
                agent: Some(agent.clone()),
            };
            state.responses.insert(&mastra.id, info).await;
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &response_from_mastra(mastra, &ctx),
    ))
}

/// A conversation Mastra no longer has (deleted natively) leaves the conversation cache.
async fn forget_if_gone<T>(
    state: &AppState,
    req: &CreateResponseRequest,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let (Err(e), Some(c)) = (&result, &req.conversation) {
        if *e == ApiError::conversation_not_found(c.id()) {
            state.conversations.invalidate(c.id()).await;
        }
    }
    result
}

/// Mastra's 404s on create name what was missing; OpenAI answers each differently.
fn remap_create_error(err: ApiError, req: &CreateResponseRequest) -> ApiError {
    if err.status != StatusCode::NOT_FOUND {
        return err;
    }
    if let Some(c) = &req.conversation {
        if err.message.starts_with("Conversation") {
            return ApiError::conversation_not_found(c.id());
        }
    }
    if let Some(prev) = &req.previous_response_id {
        if err.message.contains("response") {
            return ApiError::previous_response_not_found(prev);
        }
    }
    if err.message.starts_with("Agent") {
        return ApiError::model_not_found(req.model.as_deref().unwrap_or_default());
    }
    err
}

pub async fn retrieve(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    query: Option<&str>,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    if query_flag(query, "stream") {
        return Err(ApiError::unsupported(
            "stream",
            "streaming retrieval replays background responses, which this gateway does not create",
        ));
    }
    let mastra_id = ids::response_id_to_mastra(id);
    let found = locate_response(state, &mastra_id, request_id, || {
        ApiError::response_not_found(id)
    })
    .await?;
    let holder = state.upstreams.get(found.index);
    let reply = found
        .read(
            &state.upstreams,
            Held::Response,
            response_path_id(&mastra_id, id)?,
            request_id,
            "responses.retrieve",
        )
        .await
        .map_err(|e| not_found_as_response(e, id))?;
    let mastra: MastraResponse = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::upstream_invalid(holder.name(), format!("GET /api/v1/responses: {e}"))
    })?;
    let thread = mastra.conversation_id.as_deref();
    if !tenancy::owns_thread(state, access, thread, request_id).await? {
        return Err(ApiError::response_not_found(id));
    }
    if !access.caller.is_open() {
        remember_response(state, &mastra_id, thread, request_id).await;
    }
    // Mastra reports `provider/modelId`; show the agent id when it is unambiguous.
    let mastra_model = mastra.model.clone().unwrap_or_default();
    let model = match state.agents.get(&state.upstreams, request_id).await {
        Ok(dir) => dir
            .agent_for_model_string(&mastra_model)
            .map(str::to_string)
            .unwrap_or(mastra_model),
        Err(_) => mastra_model,
    };
    let conversation = match mastra.conversation_id.as_deref() {
        Some(thread) => shown_conversation(state, thread, request_id).await,
        None => None,
    };
    let ctx = ResponseContext {
        model,
        conversation,
        echo: RequestEcho::default(),
    };
    Ok(json_response(
        StatusCode::OK,
        &response_from_mastra(mastra, &ctx),
    ))
}

pub async fn delete(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    check_response_owner(state, access, id, request_id, || {
        ApiError::response_not_found(id)
    })
    .await?;
    let mastra_id = ids::response_id_to_mastra(id);
    let path = format!("/v1/responses/{}", response_path_id(&mastra_id, id)?);
    let found = locate_response(state, &mastra_id, request_id, || {
        ApiError::response_not_found(id)
    })
    .await?;
    let holder = state.upstreams.get(found.index);
    let reply = holder
        .call(Method::DELETE, &path, None, request_id, "responses.delete")
        .await
        .map_err(|e| not_found_as_response(e, id))?;
    let deleted: MastraDeleted = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::upstream_invalid(holder.name(), format!("DELETE /api/v1/responses: {e}"))
    })?;
    state.upstreams.forget(Held::Response, &mastra_id).await;
    state.responses.invalidate(&mastra_id).await;
    Ok(json_response(
        StatusCode::OK,
        &DeletedResponse {
            id: ids::response_id_to_openai(&deleted.id),
            object: "response",
            deleted: deleted.deleted,
        },
    ))
}

/// What a turn continues (a conversation or a previous response), on upstream `upstream`.
struct Holder<'a> {
    kind: &'static str,
    id: &'a str,
    upstream: usize,
    /// The agent it records, if any.
    agent: Option<&'a str>,
}

/// Several upstreams: what the turn continues is on an upstream that does not serve `agent`.
/// Without a `model` from the client, an agent of that upstream serves the turn; a `model`
/// the client named is refused (its upstream could not see the thread).
async fn agent_on_holder(
    state: &AppState,
    req: &CreateResponseRequest,
    holder: Holder<'_>,
    agent: &str,
    request_id: &str,
) -> Result<String, ApiError> {
    let Some(model) = req.model.as_deref().filter(|m| !m.is_empty()) else {
        let kind = holder.kind.to_lowercase();
        let holds = (kind.as_str(), holder.id);
        return agent_on_upstream(state, holder.agent, holder.upstream, holds, request_id).await;
    };
    Err(ApiError::invalid_request(format!(
        "{} '{}' is held by upstream '{}', which does not serve model '{model}' (agent '{agent}').",
        holder.kind,
        holder.id,
        state.upstreams.get(holder.upstream).name()
    ))
    .with_param("model"))
}

/// Where a stored response lives (free with one upstream; remembered when it was created
/// through the gateway or found once by asking); unknown → `not_found()`.
async fn locate_response(
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

/// Every stored Mastra response lives in a thread, but OpenAI shows `conversation` only for
/// responses created in one. A thread is a conversation when it was created through
/// `/v1/conversations` (it carries the gateway's agent key) or natively for a resource of its
/// own; the thread Mastra makes for a standalone stored response (`resourceId == id`, no key)
/// is not, nor is the one the gateway makes for a tenant's (marked [`STANDALONE_KEY`]).
/// Lookups go through the conversation cache.
async fn shown_conversation(state: &AppState, thread: &str, request_id: &str) -> Option<String> {
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

/// With keys configured, the stored response `id` must live in a thread of the caller's
/// tenant; otherwise (and when it does not exist) `not_found()`, the answer for an unknown id.
/// The response → thread lookup goes through the response cache.
async fn check_response_owner(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    request_id: &str,
    not_found: impl Fn() -> ApiError,
) -> Result<(), ApiError> {
    if access.caller.is_open() {
        return Ok(());
    }
    let mastra_id = ids::response_id_to_mastra(id);
    let info = match state.responses.get(&mastra_id).await {
        Some(info) => info,
        None => {
            let not_found_as = |e: ApiError| {
                if e.status == StatusCode::NOT_FOUND {
                    not_found()
                } else {
                    e
                }
            };
            let found = locate_response(state, &mastra_id, request_id, || {
                ApiError::response_not_found(id)
            })
            .await
            .map_err(not_found_as)?;
            let holder = state.upstreams.get(found.index);
            let reply = found
                .read(
                    &state.upstreams,
                    Held::Response,
                    response_path_id(&mastra_id, id)?,
                    request_id,
                    "responses.lookup",
                )
                .await
                .map_err(not_found_as)?;
            let found: MastraResponse = serde_json::from_slice(&reply.body).map_err(|e| {
                ApiError::upstream_invalid(holder.name(), format!("GET /api/v1/responses: {e}"))
            })?;
            let thread = found.conversation_id.as_deref();
            remember_response(state, &mastra_id, thread, request_id).await
        }
    };
    if tenancy::owns_thread(state, access, info.thread.as_deref(), request_id).await? {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// Records where a stored response lives (its agent: the one its thread records, if any).
async fn remember_response(
    state: &AppState,
    mastra_id: &str,
    thread: Option<&str>,
    request_id: &str,
) -> std::sync::Arc<ResponseInfo> {
    let agent = match thread {
        Some(t) => state
            .conversations
            .get(&state.upstreams, t, request_id)
            .await
            .ok()
            .and_then(|info| info.agent.clone()),
        None => None,
    };
    let info = ResponseInfo {
        thread: thread.map(str::to_string),
        agent,
    };
    state.responses.insert(mastra_id, info).await
}

/// The thread for a tenant's standalone stored response: the tenant's resource, the agent's
/// key, and the standalone marker that keeps it from showing as a conversation.
async fn standalone_thread(
    state: &AppState,
    mastra: &MastraClient,
    agent: &str,
    resource: &str,
    request_id: &str,
) -> Result<String, ApiError> {
    let mut metadata = Map::new();
    metadata.insert(AGENT_KEY.into(), Value::String(agent.to_string()));
    metadata.insert(STANDALONE_KEY.into(), Value::String("true".into()));
    let id = new_conversation_id();
    let thread = mastra
        .create_conversation(
            &CreateConversationBody {
                agent_id: agent,
                conversation_id: &id,
                resource_id: Some(resource),
                metadata: &metadata,
            },
            request_id,
        )
        .await?;
    let info = state
        .conversations
        .insert(ConversationInfo::from_thread(
            thread,
            state.upstreams.index_for_agent(agent),
        ))
        .await;
    state
        .upstreams
        .remember(Held::Conversation, &info.id, info.upstream)
        .await;
    Ok(info.id.clone())
}

/// The create failed: the standalone thread made for it goes too (best effort).
async fn drop_standalone_on_error<T>(
    state: &AppState,
    mastra: &MastraClient,
    standalone: &Option<String>,
    result: Result<T, ApiError>,
    request_id: &str,
) -> Result<T, ApiError> {
    if let (Err(_), Some(thread)) = (&result, standalone) {
        if let Some(path_id) = PathId::new(thread) {
            let _ = mastra.delete_conversation(path_id, request_id).await;
        }
        state.conversations.invalidate(thread).await;
        state.upstreams.forget(Held::Conversation, thread).await;
    }
    result
}

/// A stored response's Mastra id as an upstream path segment; one that cannot be an id is an
/// unknown response (`id` as the client sent it).
fn response_path_id<'a>(mastra_id: &'a str, id: &str) -> Result<PathId<'a>, ApiError> {
    PathId::new(mastra_id).ok_or_else(|| ApiError::response_not_found(id))
}

/// Any upstream 404 on a response's lookups is "no such response" to the client.
pub(crate) fn not_found_as_response(err: ApiError, id: &str) -> ApiError {
    if err.status == StatusCode::NOT_FOUND {
        ApiError::response_not_found(id)
    } else {
        err
    }
}

/// `name=true` in a query string.
fn query_flag(query: Option<&str>, name: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .any(|(k, v)| k == name && v.eq_ignore_ascii_case("true"))
    })
}
