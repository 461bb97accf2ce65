//! `POST /v1/responses`, `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}`.

use http::{header, HeaderValue, Method, Response, StatusCode};

use crate::body::{GatewayBody, TranslatedStream};
use crate::error::ApiError;
use crate::mastra::client::encode_segment;
use crate::mastra::types::{MastraDeleted, MastraResponse};
use crate::openai::request::CreateResponseRequest;
use crate::openai::response::DeletedResponse;
use crate::routes::{json_response, parse_json};
use crate::state::AppState;
use crate::translate::ids;
use crate::translate::request::{build_create_body, validate};
use crate::translate::response::{response_from_mastra, RequestEcho, ResponseContext};
use crate::translate::stream::StreamTranslator;

pub async fn create(
    state: &AppState,
    body: &[u8],
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let req: CreateResponseRequest = parse_json(body)?;
    validate(&req)?;
    // The conversation must exist (OpenAI's 404 before any work); the lookup is cached, so a
    // run of turns on one conversation asks Mastra once. Without `model`, its agent answers.
    let conversation = match &req.conversation {
        Some(c) => Some(
            state
                .conversations
                .get(&state.mastra, c.id(), request_id)
                .await?,
        ),
        None => None,
    };
    let model = req
        .model
        .as_deref()
        .filter(|m| !m.is_empty())
        .or(conversation.as_ref().and_then(|c| c.agent.as_deref()));
    let agents = state.agents.get(&state.mastra, request_id).await?;
    let agent = agents.resolve(model, &state.config.models)?;
    let stream = req.stream.unwrap_or(false);
    let upstream_body = build_create_body(&req, &agent, stream)?;
    let json = serde_json::to_vec(&upstream_body)
        .map_err(|e| ApiError::internal(format!("could not encode the upstream request: {e}")))?;
    let ctx = ResponseContext {
        model: agent.clone(),
        conversation: req.conversation.as_ref().map(|c| c.id().to_string()),
        echo: RequestEcho::from_request(&req),
    };

    if stream {
        let upstream = state
            .mastra
            .open_stream("/v1/responses", json, request_id, "responses.create")
            .await
            .map_err(|e| remap_create_error(e, &req));
        let upstream = forget_if_gone(state, &req, upstream).await?;
        let translated = TranslatedStream::new(
            upstream,
            StreamTranslator::new(ctx),
            state.config.upstream.stream_idle_timeout,
        );
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

    let reply = state
        .mastra
        .call(
            Method::POST,
            "/v1/responses",
            Some(json),
            request_id,
            "responses.create",
        )
        .await
        .map_err(|e| remap_create_error(e, &req));
    let reply = forget_if_gone(state, &req, reply).await?;
    let mastra: MastraResponse = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::upstream_invalid(state.mastra.name(), format!("POST /api/v1/responses: {e}"))
    })?;
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
    let path = format!(
        "/v1/responses/{}",
        encode_segment(&ids::response_id_to_mastra(id))
    );
    let reply = state
        .mastra
        .call(Method::GET, &path, None, request_id, "responses.retrieve")
        .await
        .map_err(|e| not_found_as_response(e, id))?;
    let mastra: MastraResponse = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::upstream_invalid(state.mastra.name(), format!("GET /api/v1/responses: {e}"))
    })?;
    // Mastra reports `provider/modelId`; show the agent id when it is unambiguous.
    let mastra_model = mastra.model.clone().unwrap_or_default();
    let model = match state.agents.get(&state.mastra, request_id).await {
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
    id: &str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let path = format!(
        "/v1/responses/{}",
        encode_segment(&ids::response_id_to_mastra(id))
    );
    let reply = state
        .mastra
        .call(Method::DELETE, &path, None, request_id, "responses.delete")
        .await
        .map_err(|e| not_found_as_response(e, id))?;
    let deleted: MastraDeleted = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::upstream_invalid(
            state.mastra.name(),
            format!("DELETE /api/v1/responses: {e}"),
        )
    })?;
    Ok(json_response(
        StatusCode::OK,
        &DeletedResponse {
            id: ids::response_id_to_openai(&deleted.id),
            object: "response",
            deleted: deleted.deleted,
        },
    ))
}

/// Every stored Mastra response lives in a thread, but OpenAI shows `conversation` only for
/// responses created in one. A thread is a conversation when it was created through
/// `/v1/conversations` (it carries the gateway's agent key) or natively for a resource of its
/// own; the thread Mastra makes for a standalone stored response (`resourceId == id`, no key)
/// is not. Lookups go through the conversation cache.
async fn shown_conversation(state: &AppState, thread: &str, request_id: &str) -> Option<String> {
    let info = state
        .conversations
        .get(&state.mastra, thread, request_id)
        .await
        .ok()?;
    let standalone =
        info.agent.is_none() && info.resource_id.as_deref().is_none_or(|r| r == info.id);
    (!standalone).then(|| info.id.clone())
}

fn not_found_as_response(err: ApiError, id: &str) -> ApiError {
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
