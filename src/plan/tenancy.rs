//! Tenant checks that need the upstream: whether the caller may see a conversation, or the
//! thread a stored response lives in (DESIGN.md §3). Another tenant's is answered as unknown.

use std::sync::Arc;

use http::StatusCode;

use crate::error::ApiError;
use crate::plan::{Access, AppState};
use crate::translate::items::ConversationInfo;

/// The conversation `id` when the caller may see it; another tenant's is the same 404 as an
/// unknown id. Through the conversation cache.
pub async fn conversation(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    request_id: &str,
) -> Result<Arc<ConversationInfo>, ApiError> {
    let info = state
        .conversations
        .get(&state.upstreams, id, request_id)
        .await?;
    if access.caller.owns(&info) {
        Ok(info)
    } else {
        Err(ApiError::conversation_not_found(id))
    }
}

/// Whether the thread holding a stored response is the caller's (always, when open). A
/// response in no thread, or in one Mastra no longer has, belongs to no tenant.
pub async fn owns_thread(
    state: &AppState,
    access: &Access<'_>,
    thread: Option<&str>,
    request_id: &str,
) -> Result<bool, ApiError> {
    if access.caller.is_open() {
        return Ok(true);
    }
    let Some(thread) = thread else {
        return Ok(false);
    };
    match state
        .conversations
        .get(&state.upstreams, thread, request_id)
        .await
    {
        Ok(info) => Ok(access.caller.owns(&info)),
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(false),
        Err(e) => Err(e),
    }
}
