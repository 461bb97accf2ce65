//! A turn's input against what Mastra holds: the items its thread already stores are dropped
//! (a client replaying history with `previous_response_id` or `conversation` stores nothing
//! twice), an output may continue a call stored there, and `item_reference`s are read from
//! the response that showed the item (tenant-checked, like the response itself).

use std::collections::HashMap;

use serde_json::Value;

use crate::error::ApiError;
use crate::mastra::path::PathId;
use crate::mastra::types::{Direction, MessageQuery};
use crate::plan::resolve::{read_response, TurnPlan};
use crate::plan::{Access, AppState};
use crate::translate::ids;
use crate::translate::input::{item_as_input, without_stored, InputItem, ThreadView};
use crate::translate::response::{response_from_mastra, RequestEcho, ResponseContext};

/// How many of the thread's newest messages are looked at for replayed items and pending
/// calls (a replay or a continuation concerns the recent turns).
const THREAD_WINDOW: usize = 100;

/// The input as the turn sends it, and the thread it was checked against (when it was read).
pub async fn resolve_input(
    state: &AppState,
    access: &Access<'_>,
    plan: &TurnPlan,
    items: Vec<InputItem>,
    request_id: &str,
) -> Result<(Vec<InputItem>, Option<ThreadView>), ApiError> {
    // Only a thread that existed before the turn holds anything (a new gateway thread is empty).
    let existing = plan.conversation.is_some() || plan.previous.is_some();
    let thread = match &plan.memory {
        Some(memory) if existing && items.iter().any(InputItem::needs_thread) => {
            Some(read_thread(state, plan, &memory.thread, request_id).await?)
        }
        _ => None,
    };
    let items = match &thread {
        Some(view) => without_stored(items, view),
        None => items,
    };
    let mut resolved = Vec::with_capacity(items.len());
    let mut responses: HashMap<String, Vec<Value>> = HashMap::new();
    for item in items {
        let InputItem::Reference { index, id } = &item else {
            resolved.push(item);
            continue;
        };
        let not_found = || {
            ApiError::invalid_value(
                &format!("input[{index}]"),
                format!(
                    "Item with id '{}' not found.",
                    crate::mastra::path::quoted(id)
                ),
            )
        };
        let response_id = ids::response_of_item(id).ok_or_else(not_found)?;
        if !responses.contains_key(&response_id) {
            let output = response_output(state, access, plan, &response_id, request_id)
                .await
                .map_err(|e| {
                    if e.status.is_client_error() {
                        not_found()
                    } else {
                        e
                    }
                })?;
            responses.insert(response_id.clone(), output);
        }
        let found = responses[&response_id]
            .iter()
            .find(|o| o["id"].as_str() == Some(id.as_str()))
            .ok_or_else(not_found)?;
        if let Some(input) = item_as_input(*index, found)? {
            resolved.push(input);
        }
    }
    Ok((resolved, thread))
}

/// The newest messages of the turn's thread, as the items they list.
async fn read_thread(
    state: &AppState,
    plan: &TurnPlan,
    thread: &str,
    request_id: &str,
) -> Result<ThreadView, ApiError> {
    let path = PathId::new(thread)
        .ok_or_else(|| ApiError::internal("the turn's thread id cannot be a path segment"))?;
    let q = MessageQuery {
        direction: Direction::Desc,
        start: None,
        end: None,
        per_page: THREAD_WINDOW,
        page: 0,
    };
    let mut messages = state
        .upstreams
        .get(plan.upstream)
        .list_messages(path, &plan.agent, &q, request_id)
        .await?
        .messages;
    messages.reverse();
    Ok(ThreadView::from_messages(&messages))
}

/// The output items of stored response `openai_id` (another tenant's: 404).
async fn response_output(
    state: &AppState,
    access: &Access<'_>,
    plan: &TurnPlan,
    openai_id: &str,
    request_id: &str,
) -> Result<Vec<Value>, ApiError> {
    let (_, stored) = read_response(state, access, openai_id, request_id, || {
        ApiError::response_not_found(openai_id)
    })
    .await?;
    let ctx = ResponseContext {
        model: plan.agent.clone(),
        conversation: None,
        echo: RequestEcho::default(),
        previous_response_id: None,
        store: true,
    };
    let response = response_from_mastra(stored, &ctx);
    Ok(response
        .output
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect())
}
