//! `GET /v1/responses/{id}/input_items`: the input items of a stored response, built from its
//! thread (DESIGN.md §2): the user messages stored right before the response's assistant
//! message. Own paging (`after` = the last item's id), default order `desc`.

use http::{Response, StatusCode};

use crate::api::json_response;
use crate::api::responses::not_found_as_response;
use crate::engine::stream::GatewayBody;
use crate::error::ApiError;
use crate::mastra::path::PathId;
use crate::mastra::types::MastraResponse;
use crate::mastra::types::{Direction, MessageQuery};
use crate::mastra::upstreams::Held;
use crate::openai::conversations::ItemList;
use crate::plan::agents::agent_of;
use crate::plan::Access;
use crate::plan::AppState;
use crate::translate::ids;
use crate::translate::items::{ms_to_iso, page_in_memory, parse_list_query, turn_input_items};

/// Messages per window while looking for the turn.
const WINDOW: usize = 100;
/// Windows read at most (a turn is found in the first one unless the thread is very busy).
const MAX_WINDOWS: usize = 20;

pub async fn list(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    query: Option<&str>,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let params = parse_list_query(query)?;
    let message_id = ids::response_id_to_mastra(id).into_owned();
    let Some(path_id) = PathId::new(&message_id) else {
        return Err(ApiError::response_not_found(id));
    };
    let Some(found) = state
        .upstreams
        .locate(Held::Response, path_id, request_id)
        .await?
    else {
        return Err(ApiError::response_not_found(id));
    };
    let holder = state.upstreams.get(found.index);
    let reply = found
        .read(
            &state.upstreams,
            Held::Response,
            path_id,
            request_id,
            "responses.input_items",
        )
        .await
        .map_err(|e| not_found_as_response(e, id))?;
    let response: MastraResponse = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::upstream_invalid(holder.name(), format!("GET /api/v1/responses: {e}"))
    })?;
    let Some(thread) = response.conversation_id.as_deref() else {
        if !access.caller.is_open() {
            // In no thread, it belongs to no tenant.
            return Err(ApiError::response_not_found(id));
        }
        return Ok(json_response(
            StatusCode::OK,
            &ItemList::new(Vec::new(), false),
        ));
    };
    let info = state
        .conversations
        .get(&state.upstreams, thread, request_id)
        .await
        .map_err(|e| not_found_as_response(e, id))?;
    if !access.caller.owns(&info) {
        return Err(ApiError::response_not_found(id));
    }
    let agent = agent_of(state, &info, request_id).await?;
    let thread = PathId::new(thread).ok_or_else(|| ApiError::response_not_found(id))?;
    // The turn's input is stored when the response starts, so a window from a second before
    // `created_at` holds it, followed by the response's own message.
    let start = response
        .created_at
        .map(|s| ms_to_iso(s.saturating_sub(1).saturating_mul(1000)));
    let mut messages = Vec::new();
    let mut input = None;
    for page in 0..MAX_WINDOWS {
        let q = MessageQuery {
            direction: Direction::Asc,
            start: start.clone(),
            end: None,
            per_page: WINDOW,
            page,
        };
        let window = state
            .upstreams
            .for_agent(&agent)
            .list_messages(thread, &agent, &q, request_id)
            .await
            .map_err(|e| not_found_as_response(e, id))?;
        let more = window.has_more && !window.messages.is_empty();
        messages.extend(window.messages);
        input = turn_input_items(
            &messages,
            &message_id,
            response.created_at.map(|s| s.saturating_mul(1000)),
        );
        if input.is_some() || !more {
            break;
        }
    }
    let (data, has_more) = page_in_memory(input.unwrap_or_default(), &params)?;
    Ok(json_response(
        StatusCode::OK,
        &ItemList::new(data, has_more),
    ))
}
