//! The Conversations API (reference/openai.md §3) over Mastra's memory (DESIGN.md §2): a
//! conversation is a Mastra thread, its items are the thread's stored messages.
//!
//! `POST /v1/conversations`, `GET|POST|DELETE /v1/conversations/{id}`,
//! `GET|POST /v1/conversations/{id}/items`, `GET|DELETE /v1/conversations/{id}/items/{item_id}`.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::{Map, Value};

use crate::api::{json_response, parse_json};
use crate::engine::stream::GatewayBody;
use crate::error::ApiError;
use crate::mastra::memory::is_not_found;
use crate::mastra::path::PathId;
use crate::mastra::types::{CreateConversationBody, DbMessage, Direction, MessageQuery};
use crate::mastra::upstreams::Held;
use crate::openai::conversations::{
    ConversationDeleted, CreateConversationRequest, CreateItemsRequest, ItemList,
    UpdateConversationRequest,
};
use crate::plan::agents::{agent_of, default_agent};
use crate::plan::tenancy;
use crate::plan::Access;
use crate::plan::AppState;
use crate::state::caches::ConversationCache;
use crate::translate::items::{
    self, delete_item as delete_from_message, item_not_found, keyed_items, messages_from_items,
    new_conversation_id, new_message_id, now_ms, parse_include_query, parse_list_query,
    replace_client_metadata, unknown_after, validate_client_metadata, ConversationInfo,
    ItemDeletion, ItemPos, KeyedItem, NewMessages, Order, Pager, AGENT_KEY,
};

/// Messages per window when a cursor or an item has to be found by scanning the thread.
const SCAN_WINDOW: usize = 100;

fn refuse_unknown(rest: &Map<String, Value>) -> Result<(), ApiError> {
    match rest.keys().next() {
        Some(k) => Err(ApiError::unknown_parameter(k)),
        None => Ok(()),
    }
}

/// An upstream 404 on a conversation's thread: the conversation is gone (drop it from the
/// cache) and the client gets OpenAI's message.
async fn gone(state: &AppState, id: &str, err: ApiError) -> ApiError {
    if is_not_found(&err) {
        state.conversations.invalidate(id).await;
        ApiError::conversation_not_found(id)
    } else {
        err
    }
}

/// The conversation, when the caller may see it (else 404 as unknown), and its agent.
async fn lookup(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    request_id: &str,
) -> Result<(Arc<ConversationInfo>, String), ApiError> {
    let info = tenancy::conversation(state, access, id, request_id).await?;
    let agent = agent_of(state, &info, request_id).await?;
    Ok((info, agent))
}

/// The agent a new conversation is recorded with: [`default_agent`], or, for a key that may
/// not use that one, the first agent the key may use.
async fn creation_agent(
    state: &AppState,
    access: &Access<'_>,
    request_id: &str,
) -> Result<String, ApiError> {
    let default = default_agent(state, request_id).await?;
    if access.caller.may_use(&default) {
        return Ok(default);
    }
    let dir = state.agents.get(&state.upstreams, request_id).await?;
    let first = dir
        .agent_ids()
        .find(|a| access.caller.may_use(a))
        .map(str::to_string);
    first.ok_or_else(|| {
        ApiError::invalid_request(
            "This API key may not use any agent, so it cannot create conversations.",
        )
    })
}

/// A conversation id as an upstream path segment; one that cannot be an id is unknown.
pub(crate) fn thread_id(id: &str) -> Result<PathId<'_>, ApiError> {
    PathId::new(id).ok_or_else(|| ApiError::conversation_not_found(id))
}

fn resource_of(info: &ConversationInfo) -> &str {
    info.resource_id.as_deref().unwrap_or(&info.id)
}

pub async fn create(
    state: &AppState,
    access: &Access<'_>,
    body: &[u8],
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let req: CreateConversationRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateConversationRequest::default()
    } else {
        parse_json(body)?
    };
    refuse_unknown(&req.rest)?;
    let client_md = req.metadata.unwrap_or_default();
    validate_client_metadata(&client_md)?;
    let items = req.items.unwrap_or_default();
    // Refuse bad items before anything is created upstream.
    let probe = NewMessages {
        thread_id: "",
        resource_id: "",
        first_ms: 0,
    };
    messages_from_items(&items, &probe, &mut String::new)?;

    let agent = creation_agent(state, access, request_id).await?;
    let id = new_conversation_id();
    let mut stored_md = client_md;
    stored_md.insert(AGENT_KEY.into(), Value::String(agent.clone()));
    let thread = state
        .upstreams
        .for_agent(&agent)
        .create_conversation(
            &CreateConversationBody {
                agent_id: &agent,
                conversation_id: &id,
                // With keys, the tenant's resource; open, the thread is its own resource.
                resource_id: access.caller.resource_id(),
                metadata: &stored_md,
            },
            request_id,
        )
        .await?;
    let info = ConversationInfo::from_thread(thread, state.upstreams.index_for_agent(&agent));
    state
        .upstreams
        .remember(Held::Conversation, &info.id, info.upstream)
        .await;
    if !items.is_empty() {
        let ctx = NewMessages {
            thread_id: &info.id,
            resource_id: resource_of(&info),
            first_ms: now_ms(),
        };
        let messages = messages_from_items(&items, &ctx, &mut new_message_id)?;
        if let Err(e) = state
            .upstreams
            .for_agent(&agent)
            .save_messages(&agent, &messages, request_id)
            .await
        {
            // No half-made conversation: the client gets the error and no id.
            let _ = state
                .upstreams
                .for_agent(&agent)
                .delete_conversation(thread_id(&info.id)?, request_id)
                .await;
            return Err(e);
        }
        state
            .item_positions
            .record(&info.id, &keyed_items(&messages))
            .await;
    }
    let info = state.conversations.insert(info).await;
    Ok(json_response(StatusCode::OK, &info.to_openai()))
}

pub async fn retrieve(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let info = tenancy::conversation(state, access, id, request_id).await?;
    Ok(json_response(StatusCode::OK, &info.to_openai()))
}

pub async fn update(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    body: &[u8],
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let req: UpdateConversationRequest = parse_json(body)?;
    refuse_unknown(&req.rest)?;
    let client_md = match req.metadata {
        None => return Err(ApiError::missing_parameter("metadata")),
        Some(m) => m.unwrap_or_default(),
    };
    validate_client_metadata(&client_md)?;
    // Read fresh: the update replaces the thread's whole metadata upstream. (An owner probe's
    // answer, fetched just now in this request, is as fresh.)
    let current = match ConversationCache::fetch(&state.upstreams, id, request_id).await {
        Ok(c) => c,
        Err(e) => return Err(gone(state, id, e).await),
    };
    let holder = state.upstreams.get(current.upstream);
    if !access.caller.owns(&current) {
        return Err(ApiError::conversation_not_found(id));
    }
    let agent = agent_of(state, &current, request_id).await?;
    let metadata = replace_client_metadata(&current.metadata, &client_md);
    let updated = match holder
        .update_thread_metadata(thread_id(id)?, &agent, &metadata, request_id)
        .await
    {
        Ok(t) => t,
        Err(e) => return Err(gone(state, id, e).await),
    };
    let info = state
        .conversations
        .insert(ConversationInfo::from_thread(updated, current.upstream))
        .await;
    Ok(json_response(StatusCode::OK, &info.to_openai()))
}

pub async fn delete(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    if !access.caller.is_open() {
        // Checked against a fresh read: a delete cannot be undone.
        state.conversations.invalidate(id).await;
        tenancy::conversation(state, access, id, request_id).await?;
    }
    let result = match state
        .upstreams
        .locate(Held::Conversation, thread_id(id)?, request_id)
        .await?
    {
        Some(found) => {
            state
                .upstreams
                .get(found.index)
                .delete_conversation(thread_id(id)?, request_id)
                .await
        }
        None => Err(ApiError::conversation_not_found(id)),
    };
    state.conversations.invalidate(id).await;
    state.upstreams.forget(Held::Conversation, id).await;
    if let Err(e) = result {
        return Err(gone(state, id, e).await);
    }
    Ok(json_response(
        StatusCode::OK,
        &ConversationDeleted {
            id: id.to_string(),
            object: "conversation.deleted",
            deleted: true,
        },
    ))
}

pub async fn list_items(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    query: Option<&str>,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let params = parse_list_query(query)?;
    let (info, agent) = lookup(state, access, id, request_id).await?;
    let after = match &params.after {
        None => None,
        Some(after) => Some(
            position_of(state, &info.id, &agent, after, params.order, request_id)
                .await?
                .map(|(_, pos)| pos)
                .ok_or_else(|| unknown_after(after))?,
        ),
    };
    let mut pager = Pager::new(params.order, params.limit, after.as_ref());
    while let Some(q) = pager.next_query() {
        let page = match state
            .upstreams
            .for_agent(&agent)
            .list_messages(thread_id(&info.id)?, &agent, &q, request_id)
            .await
        {
            Ok(p) => p,
            Err(e) => return Err(gone(state, id, e).await),
        };
        pager.feed(page);
    }
    let (items, has_more) = pager.finish();
    state.item_positions.record(&info.id, &items).await;
    let data = items.into_iter().map(|k| k.item).collect();
    Ok(json_response(
        StatusCode::OK,
        &ItemList::new(data, has_more),
    ))
}

/// Where an item is: from the position cache, else by scanning the thread from the end the
/// listing goes towards. Returns the item's message too when it had to be read.
async fn position_of(
    state: &AppState,
    thread: &str,
    agent: &str,
    item_id: &str,
    order: Order,
    request_id: &str,
) -> Result<Option<(Option<DbMessage>, ItemPos)>, ApiError> {
    if let Some(pos) = state.item_positions.get(thread, item_id).await {
        return Ok(Some((None, pos)));
    }
    let direction = match order {
        Order::Asc => Direction::Asc,
        Order::Desc => Direction::Desc,
    };
    let mut page = 0;
    loop {
        let q = MessageQuery {
            direction,
            start: None,
            end: None,
            per_page: SCAN_WINDOW,
            page,
        };
        let window = match state
            .upstreams
            .for_agent(agent)
            .list_messages(thread_id(thread)?, agent, &q, request_id)
            .await
        {
            Ok(w) => w,
            Err(e) => return Err(gone(state, thread, e).await),
        };
        let keyed = keyed_items(&window.messages);
        state.item_positions.record(thread, &keyed).await;
        if let Some(k) = keyed.iter().find(|k| k.id() == item_id) {
            let message = window
                .messages
                .into_iter()
                .find(|m| m.id == k.pos.key.message_id);
            return Ok(Some((message, k.pos.clone())));
        }
        if !window.has_more || window.messages.is_empty() {
            return Ok(None);
        }
        page += 1;
    }
}

/// The stored message holding `item_id`, and the item. Unknown → 404.
async fn locate(
    state: &AppState,
    thread: &str,
    agent: &str,
    item_id: &str,
    request_id: &str,
) -> Result<(DbMessage, KeyedItem), ApiError> {
    let found = |m: &DbMessage| {
        keyed_items(std::slice::from_ref(m))
            .into_iter()
            .find(|k| k.id() == item_id)
    };
    if let Some(pos) = state.item_positions.get(thread, item_id).await {
        // Read just the messages at that millisecond.
        let mut per_page = 50;
        loop {
            let q = MessageQuery {
                direction: Direction::Asc,
                start: Some(pos.at.clone()),
                end: Some(pos.at.clone()),
                per_page,
                page: 0,
            };
            let window = match state
                .upstreams
                .for_agent(agent)
                .list_messages(thread_id(thread)?, agent, &q, request_id)
                .await
            {
                Ok(w) => w,
                Err(e) => return Err(gone(state, thread, e).await),
            };
            if let Some(m) = window.messages.iter().find(|m| m.id == pos.key.message_id) {
                if let Some(k) = found(m) {
                    return Ok((m.clone(), k));
                }
                break;
            }
            if !window.has_more || per_page >= 2000 {
                break;
            }
            per_page *= 4;
        }
        state.item_positions.forget(thread, item_id).await;
    }
    match position_of(state, thread, agent, item_id, Order::Desc, request_id).await? {
        Some((Some(m), _)) => match found(&m) {
            Some(k) => Ok((m, k)),
            None => Err(item_not_found(item_id)),
        },
        _ => Err(item_not_found(item_id)),
    }
}

pub async fn create_items(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    query: Option<&str>,
    body: &[u8],
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    parse_include_query(query)?;
    let req: CreateItemsRequest = parse_json(body)?;
    refuse_unknown(&req.rest)?;
    let Some(items) = req.items else {
        return Err(ApiError::missing_parameter("items"));
    };
    let probe = NewMessages {
        thread_id: "",
        resource_id: "",
        first_ms: 0,
    };
    messages_from_items(&items, &probe, &mut String::new)?;
    let (info, agent) = lookup(state, access, id, request_id).await?;
    // After the newest message, so the new items come last even if clocks disagree.
    let newest = MessageQuery {
        direction: Direction::Desc,
        start: None,
        end: None,
        per_page: 1,
        page: 0,
    };
    let last = match state
        .upstreams
        .for_agent(&agent)
        .list_messages(thread_id(&info.id)?, &agent, &newest, request_id)
        .await
    {
        Ok(p) => p
            .messages
            .iter()
            .filter_map(|m| items::iso_to_ms(&m.created_at))
            .max(),
        Err(e) => return Err(gone(state, id, e).await),
    };
    let first_ms = now_ms().max(last.map_or(0, |l| l + 1));
    let ctx = NewMessages {
        thread_id: &info.id,
        resource_id: resource_of(&info),
        first_ms,
    };
    let messages = messages_from_items(&items, &ctx, &mut new_message_id)?;
    if !messages.is_empty() {
        if let Err(e) = state
            .upstreams
            .for_agent(&agent)
            .save_messages(&agent, &messages, request_id)
            .await
        {
            return Err(gone(state, id, e).await);
        }
    }
    let keyed = keyed_items(&messages);
    state.item_positions.record(&info.id, &keyed).await;
    let data = keyed.into_iter().map(|k| k.item).collect();
    Ok(json_response(StatusCode::OK, &ItemList::new(data, false)))
}

pub async fn retrieve_item(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    item_id: &str,
    query: Option<&str>,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    parse_include_query(query)?;
    let (info, agent) = lookup(state, access, id, request_id).await?;
    let (_, item) = locate(state, &info.id, &agent, item_id, request_id).await?;
    Ok(json_response(StatusCode::OK, &item.item))
}

pub async fn delete_item(
    state: &AppState,
    access: &Access<'_>,
    id: &str,
    item_id: &str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError> {
    let (info, agent) = lookup(state, access, id, request_id).await?;
    let (message, _) = locate(state, &info.id, &agent, item_id, request_id).await?;
    let result = match delete_from_message(&message, item_id) {
        ItemDeletion::NotFound => return Err(item_not_found(item_id)),
        ItemDeletion::DeleteMessage => {
            state
                .upstreams
                .for_agent(&agent)
                .delete_messages(&agent, &[message.id.as_str()], request_id)
                .await
        }
        ItemDeletion::Rewrite(m) => {
            state
                .upstreams
                .for_agent(&agent)
                .save_messages(&agent, std::slice::from_ref(&*m), request_id)
                .await
        }
    };
    if let Err(e) = result {
        return Err(gone(state, id, e).await);
    }
    state.item_positions.forget(&info.id, item_id).await;
    Ok(json_response(StatusCode::OK, &info.to_openai()))
}
