//! `POST /v1/responses`, `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}`.
//!
//! Create reads as the request path does: parse and validate → plan (agent, upstream, thread)
//! → the turn → the engine (Mastra's native stream) → the Responses rendering, streamed or
//! collected. Retrieve and delete use Mastra's own stored-response routes, which read the
//! record the gateway writes on each stored answer.

use std::sync::Arc;

use http::{header, HeaderValue, Method, Response, StatusCode};

use crate::api::{json_response, parse_json};
use crate::engine::stream::{GatewayBody, TurnStream};
use crate::engine::{self, OnStored, Stored};
use crate::error::ApiError;
use crate::mastra::types::{DbMessage, MastraDeleted, MastraResponse};
use crate::mastra::upstreams::Held;
use crate::openai::request::CreateResponseRequest;
use crate::openai::response::DeletedResponse;
use crate::plan::input::resolve_input;
use crate::plan::resolve::{
    plan_turn, read_response, response_info, shown_conversation, TurnTarget,
};
use crate::plan::{Access, AppState};
use crate::state::caches::ResponseInfo;
use crate::translate::ids;
use crate::translate::input::{parse_input, turn_messages, TurnMessages};
use crate::translate::items::new_turn_message_id;
use crate::translate::native::ChunkDecoder;
use crate::translate::request::{check_input_size, turn_from_request, validate};
use crate::translate::response::gateway_note;
use crate::translate::response::{response_from_mastra, RequestEcho, ResponseContext};
use crate::translate::response_stream::ResponseWriter;
use crate::translate::turn::Outcome;

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
    let store = req.store.unwrap_or(true);
    let conversation = req.conversation.as_ref().map(|c| c.id());
    let target = TurnTarget {
        model: req.model.as_deref(),
        conversation,
        previous_response_id: req.previous_response_id.as_deref(),
        store,
    };
    let plan = Box::pin(plan_turn(state, access, &target, request_id)).await?;
    crate::telemetry::set_agent(&plan.agent);
    // A valid request: it counts against its agent's rate, and a stream takes a slot.
    state.limits.check_agent(&plan.agent, access.rate)?;
    let stream = req.stream.unwrap_or(false);
    let permit = if stream {
        state.limits.open_stream(&access.caller, access.rate)?
    } else {
        None
    };
    let items = parse_input(req.input.as_ref().unwrap_or(&serde_json::Value::Null))?;
    let (items, thread) = resolve_input(state, access, &plan, items, request_id).await?;
    let built = turn_messages(&items, thread.as_ref(), &mut new_turn_message_id)?;
    let TurnMessages {
        messages,
        answer_id,
        last_user_id,
        client_calls,
        continued,
    } = built;
    let turn = turn_from_request(&req, &plan.agent, plan.memory.clone(), messages)?;
    let echo = RequestEcho::from_request(&req);
    let ctx = ResponseContext {
        model: plan.agent.clone(),
        conversation: conversation.map(str::to_string),
        echo: echo.clone(),
        previous_response_id: req.previous_response_id.clone(),
        store,
    };
    let client = state.upstreams.get(plan.upstream);
    let upstream = match engine::open(client, &turn, request_id, "responses.create").await {
        Ok(u) => u,
        Err(e) => {
            if let Some(c) = conversation.filter(|_| e.status == StatusCode::NOT_FOUND) {
                // Deleted natively since it was cached.
                state.conversations.invalidate(c).await;
            }
            return Err(remap_create_error(e, &req));
        }
    };
    let stored = plan
        .memory
        .as_ref()
        .filter(|m| store && !m.read_only)
        .map(|memory| Stored {
            client: client.clone(),
            agent: plan.agent.clone(),
            memory: memory.clone(),
            request_id: request_id.to_string(),
            echo,
            previous: plan.previous.clone(),
            conversation: conversation.map(str::to_string),
            last_input: last_user_id,
            answer_id: answer_id.clone(),
            client_calls,
            continued,
            on_stored: Some(remember_stored(state, &plan.agent, plan.upstream)),
        });
    // A turn that continues an assistant message is stored (and so shown) under its id.
    let shown_id = answer_id.filter(|_| stored.is_some());
    let writer = ResponseWriter::new(ctx, shown_id, stream);
    let mut turn_stream = TurnStream::new(
        upstream,
        ChunkDecoder::new(&turn),
        writer,
        engine::responses_hooks(stored),
        state.config.upstream.stream_idle_timeout,
        stream,
    );
    if stream {
        if let Some(permit) = permit {
            turn_stream = turn_stream.hold(permit);
        }
        let mut resp = Response::new(GatewayBody::Stream(Box::new(turn_stream)));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        return Ok(resp);
    }
    turn_stream.run_to_end().await;
    let writer = turn_stream.sink();
    match writer.outcome() {
        Some(Outcome::Failed(code, message)) => Err(failure(code, message, client.name())),
        _ => Ok(json_response(StatusCode::OK, &writer.response())),
    }
}

/// Remembers where a stored answer lives once its record is written, so that a
/// `previous_response_id` naming it needs no lookup.
fn remember_stored(state: &AppState, agent: &str, upstream: usize) -> OnStored {
    let responses = state.responses.clone();
    let owners = state.upstreams.owners();
    let agent = agent.to_string();
    Arc::new(move |m: &DbMessage| {
        let info = ResponseInfo {
            thread: m.thread_id.clone(),
            agent: Some(agent.clone()),
            upstream,
            answered_at: Some(m.created_at.clone()),
            resource: m.resource_id.clone(),
        };
        let (responses, owners, id) = (responses.clone(), owners.clone(), m.id.clone());
        tokio::spawn(async move {
            owners.remember(Held::Response, &id, upstream).await;
            responses.insert(&id, info).await;
        });
    })
}

/// A non-streaming turn that failed: the client gets an error, with the status its cause
/// calls for.
pub fn failure(code: &str, message: &str, upstream: &str) -> ApiError {
    match code {
        "upstream_timeout" | "request_timeout" => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            crate::error::SERVER_ERROR,
            format!("Upstream Mastra server '{upstream}': {message}."),
        )
        .with_code(code),
        "upstream_error" | "store_failed" => ApiError::upstream_invalid(upstream, message),
        "shutting_down" => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::error::SERVER_ERROR,
            format!("{message}."),
        )
        .with_code(code),
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            crate::error::SERVER_ERROR,
            format!("The agent failed: {message}"),
        )
        .with_code("server_error"),
    }
}

/// Mastra's 404s on a run name what was missing; OpenAI answers each differently.
fn remap_create_error(err: ApiError, req: &CreateResponseRequest) -> ApiError {
    if err.status != StatusCode::NOT_FOUND {
        return err;
    }
    if let Some(c) = &req.conversation {
        if err.message.contains("hread") || err.message.starts_with("Conversation") {
            return ApiError::conversation_not_found(c.id());
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
    let (_, mastra) = read_response(state, access, id, request_id, || {
        ApiError::response_not_found(id)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &Box::pin(shown(state, mastra, request_id)).await,
    ))
}

/// A stored response as OpenAI shows it: the gateway's record gives its echo, status and
/// conversation; a response Mastra stored itself shows OpenAI's defaults for what Mastra does
/// not keep.
async fn shown(
    state: &AppState,
    mastra: MastraResponse,
    request_id: &str,
) -> crate::openai::response::Response {
    let note = gateway_note(&mastra);
    let model = match (&note, mastra.model.clone().unwrap_or_default()) {
        (Some(_), m) => m,
        // Mastra reports `provider/modelId`; show the agent id when it is unambiguous.
        (None, m) => match state.agents.get(&state.upstreams, request_id).await {
            Ok(dir) => dir
                .agent_for_model_string(&m)
                .map(str::to_string)
                .unwrap_or(m),
            Err(_) => m,
        },
    };
    let conversation = match (&note, mastra.conversation_id.as_deref()) {
        (Some(n), _) => n.conversation.clone(),
        (None, Some(thread)) => shown_conversation(state, thread, request_id).await,
        (None, None) => None,
    };
    let ctx = ResponseContext {
        model,
        conversation,
        echo: note.map(|n| n.echo).unwrap_or_default(),
        previous_response_id: None,
        store: true,
    };
    response_from_mastra(mastra, &ctx)
}

pub async fn delete(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let not_found = || ApiError::response_not_found(id);
    let (mastra_id, info) = response_info(state, access, id, request_id, not_found).await?;
    let holder = state.upstreams.get(info.upstream);
    let path_id = crate::mastra::path::PathId::new(&mastra_id).ok_or_else(not_found)?;
    let path = format!("/v1/responses/{path_id}");
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
