//! `POST /v1/chat/completions`: parse and validate → plan (agent, upstream; memory only when
//! the caller names a thread) → the turn → the engine (Mastra's native stream, as for
//! `/v1/responses`) → the Chat rendering, streamed or collected.
//!
//! Chat is stateless: the client sends the whole history each time, so a call runs without
//! memory. A deployment may opt in per call with the [`THREAD_HEADER`] header naming a thread
//! (a conversation id): the turn then runs in it (tenant-checked, as a conversation is) and the
//! client sends only the new messages.

use http::{header, HeaderValue, Response, StatusCode};

use crate::api::{json_response, parse_json};
use crate::engine::stream::{GatewayBody, Hooks, TurnStream};
use crate::engine::{self};
use crate::error::ApiError;
use crate::openai::chat::ChatRequest;
use crate::plan::resolve::{plan_turn, TurnTarget};
use crate::plan::{Access, AppState};
use crate::translate::chat_request::{include_usage, turn_from_chat, validate};
use crate::translate::chat_stream::ChatWriter;
use crate::translate::items::new_turn_message_id;
use crate::translate::native::ChunkDecoder;
use crate::translate::response_stream::unix_now;
use crate::translate::turn::Outcome;

/// Names the Mastra thread (conversation) a Chat call runs in; absent: no memory.
pub const THREAD_HEADER: &str = "x-mastra-thread-id";

pub async fn create(
    state: &AppState,
    access: &Access<'_>,
    thread_header: Option<&HeaderValue>,
    body: &[u8],
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let req: ChatRequest = parse_json(body)?;
    validate(&req)?;
    let thread = match thread_header {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|t| crate::mastra::path::is_plausible_id(t))
                .ok_or_else(|| {
                    ApiError::invalid_value(
                        THREAD_HEADER,
                        format!("Invalid '{THREAD_HEADER}' header: not a valid thread id."),
                    )
                })?,
        ),
    };
    let target = TurnTarget {
        model: req.model.as_deref(),
        conversation: thread,
        previous_response_id: None,
        store: thread.is_some(),
    };
    let plan = Box::pin(plan_turn(state, access, &target, request_id)).await?;
    crate::telemetry::set_agent(&plan.agent);
    state.limits.check_agent(&plan.agent, access.rate)?;
    let stream = req.stream.unwrap_or(false);
    let permit = if stream {
        state.limits.open_stream(&access.caller, access.rate)?
    } else {
        None
    };
    let (turn, _) = turn_from_chat(
        &req,
        &plan.agent,
        plan.memory.clone(),
        &mut new_turn_message_id,
    )?;
    let client = state.upstreams.get(plan.upstream);
    let upstream = engine::open(client, &turn, request_id, "chat.completions")
        .await
        .map_err(|e| match thread {
            Some(t) if e.status == StatusCode::NOT_FOUND && !e.message.starts_with("Agent") => {
                ApiError::conversation_not_found(t)
            }
            _ => e,
        })?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let writer = ChatWriter::new(
        id,
        unix_now(),
        plan.agent.clone(),
        stream,
        include_usage(&req),
    );
    let mut turn_stream = TurnStream::new(
        upstream,
        ChunkDecoder::new(&turn),
        writer,
        Hooks::default(),
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
        Some(Outcome::Failed(code, message)) => {
            Err(crate::api::responses::failure(code, message, client.name()))
        }
        _ => Ok(json_response(StatusCode::OK, &writer.completion())),
    }
}
