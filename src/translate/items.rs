//! Conversations ⇄ Mastra memory, as pure functions: threads → Conversation objects, stored
//! messages ⇄ conversation items, list-query parsing, and the cursor paging over the thread's
//! message windows.
//!
//! **Items from a stored message** (one `MastraDBMessage` gives zero or more items, in this
//! order):
//! - every `tool-invocation` part of an assistant message → a `function_call` item
//!   (`fc_X` for call id `call_X`) and, when it holds a result, a `function_call_output` item
//!   (`fco_X`), exactly the ids `translate::response::output_item_from_mastra` gives the same
//!   turn in a Response's `output`;
//! - the message's `text` parts → one `message` item whose id is the stored message id
//!   (`output_text` parts for the assistant, `input_text` for user/system/developer), last.
//!
//! **Messages from created items**: a message item → one stored message (system and developer
//! items are stored with role `user`, since Mastra's memory keeps no system messages, and the
//! original role under the message's `mastra_gateway` metadata); a `function_call` → an
//! assistant message with a `tool-invocation` part (state `call`, or `result` when its output
//! item follows it directly); a lone `function_call_output` → an assistant message holding
//! only the result. Reading them back gives the same items, ids and order.
//!
//! **Paging**: Mastra orders a thread by `createdAt` (ms) and pages by offset; OpenAI pages by
//! an item id cursor. [`Pager`] turns a cursor's position (message time, message id, index of
//! the item inside the message) into date-bounded windows of the thread (`orderBy` + a
//! `dateRange` filter starting at the cursor), so a page costs one upstream window of about
//! `limit` messages wherever it is in the thread. Ties in `createdAt` are ordered by message
//! id; a window that ends inside a group of equal timestamps is cut before that group, which
//! the next window starts with.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::mastra::path::{is_plausible_id, quoted};
use crate::mastra::types::{
    DbContent, DbMessage, Direction, MastraThread, MessageQuery, MessagesPage,
};
use crate::openai::conversations::Conversation;
use crate::translate::ids;
use crate::translate::metadata::validate_metadata;
use crate::translate::record::recorded_status;
use crate::translate::response::output_item_from_mastra;

/// Thread metadata keys with this prefix belong to the gateway: never shown, never accepted.
pub const RESERVED_PREFIX: &str = "mastra_gateway.";
/// Thread metadata key holding the agent the conversation was created with.
pub const AGENT_KEY: &str = "mastra_gateway.agent";
/// Thread metadata key (value `"true"`) of the thread the gateway creates for a tenant's stored
/// response made without a conversation: it is scoped to the tenant, but not a conversation the
/// client sees (`conversation: null`).
pub const STANDALONE_KEY: &str = "mastra_gateway.standalone";
/// Message metadata (`content.metadata`) key of the gateway's per-message notes.
pub const MESSAGE_NOTE_KEY: &str = "mastra_gateway";

pub const MAX_CREATE_ITEMS: usize = 20;

/// `origin` noted on messages created through the items API.
const ORIGIN_ITEMS: &str = "conversations.items";

/// `include[]` values OpenAI defines for conversation items (accepted, nothing to add).
const INCLUDE_VALUES: &[&str] = &[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
];

// ------------------------------------------------------------------------------------ time

/// ISO 8601 (`2026-01-01T00:00:00.123Z`) → Unix milliseconds.
pub fn iso_to_ms(s: &str) -> Option<i64> {
    let t = humantime_serde::re::humantime::parse_rfc3339_weak(s).ok()?;
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

/// Unix milliseconds → ISO 8601 with milliseconds, as Mastra writes `createdAt`.
pub fn ms_to_iso(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime_serde::re::humantime::format_rfc3339_millis(t).to_string()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn at_ms(m: &DbMessage) -> i64 {
    iso_to_ms(&m.created_at).unwrap_or(0)
}

// ----------------------------------------------------------------------------- conversations

/// What the gateway keeps about a conversation (the moka cache's value).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationInfo {
    pub id: String,
    /// The agent recorded at creation; `None` for threads created natively in Mastra.
    pub agent: Option<String>,
    pub resource_id: Option<String>,
    pub created_at: i64,
    /// The thread's whole metadata (reserved and non-string entries included).
    pub metadata: Map<String, Value>,
    /// The upstream whose memory holds the thread (its index in `[[upstreams]]`; 0 with one).
    pub upstream: usize,
}

impl ConversationInfo {
    /// The thread as a conversation, held by upstream `upstream`.
    pub fn from_thread(thread: MastraThread, upstream: usize) -> Self {
        let metadata = thread.metadata.unwrap_or_default();
        Self {
            agent: metadata
                .get(AGENT_KEY)
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            created_at: thread
                .created_at
                .as_deref()
                .and_then(iso_to_ms)
                .map_or(0, |ms| ms.div_euclid(1000)),
            resource_id: thread.resource_id,
            id: thread.id,
            metadata,
            upstream,
        }
    }

    pub fn to_openai(&self) -> Conversation {
        Conversation {
            id: self.id.clone(),
            object: "conversation",
            created_at: self.created_at,
            metadata: client_metadata(&self.metadata),
        }
    }
}

/// What a client sees of a thread's metadata: its string entries, minus the gateway's own.
/// (OpenAI metadata is strings only; other values are Mastra's or another client's business.)
pub fn client_metadata(raw: &Map<String, Value>) -> Map<String, Value> {
    raw.iter()
        .filter(|(k, v)| !k.starts_with(RESERVED_PREFIX) && v.is_string())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// OpenAI's limits, plus the gateway's reserved prefix.
pub fn validate_client_metadata(m: &Map<String, Value>) -> Result<(), ApiError> {
    validate_metadata(m)?;
    if let Some(k) = m.keys().find(|k| k.starts_with(RESERVED_PREFIX)) {
        return Err(ApiError::invalid_request(format!(
            "Invalid 'metadata': key '{k}' uses the prefix '{RESERVED_PREFIX}', which this gateway reserves."
        ))
        .with_param("metadata")
        .with_code("invalid_value"));
    }
    Ok(())
}

/// The thread metadata after an update that replaces the client's metadata: the gateway's keys
/// and non-string entries stay, the string entries become exactly `client`.
pub fn replace_client_metadata(
    raw: &Map<String, Value>,
    client: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out: Map<String, Value> = raw
        .iter()
        .filter(|(k, v)| k.starts_with(RESERVED_PREFIX) || !v.is_string())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in client {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// A fresh conversation id: `conv_` + 32 hex characters.
pub fn new_conversation_id() -> String {
    format!("conv_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh id for a message created through the API.
pub fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// An id for a message a turn sends: a uuid, as Mastra's own (a continued answer is stored
/// under it, and a response id maps to a uuid message id).
pub fn new_turn_message_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

// --------------------------------------------------------------------- messages → items

/// The gateway's notes on one stored message (`content.metadata.mastra_gateway`).
#[derive(Debug, Default)]
struct Note {
    role: Option<String>,
    hidden: HashSet<String>,
    arguments: Map<String, Value>,
    /// Written through the Conversations API (its tool items are the client's), not by a turn.
    created: bool,
    /// Calls of the caller's tools in a turn's answer (the others there are tools the agent ran).
    client_calls: HashSet<String>,
    /// `mcp_call` items written through the Conversations API: call id → `{id, server_label,
    /// failed}` (they list back with the client's id).
    server_calls: Map<String, Value>,
}

fn note_of(m: &DbMessage) -> Note {
    let Some(Value::Object(n)) = m
        .content
        .metadata
        .as_ref()
        .and_then(|md| md.get(MESSAGE_NOTE_KEY))
    else {
        return Note::default();
    };
    Note {
        role: n
            .get("role")
            .and_then(Value::as_str)
            .filter(|r| matches!(*r, "system" | "developer"))
            .map(str::to_string),
        hidden: n
            .get("hidden")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        arguments: n
            .get("arguments")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        created: n.get("origin").and_then(Value::as_str) == Some(ORIGIN_ITEMS),
        client_calls: n
            .get("client_calls")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        server_calls: n
            .get("server_calls")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    }
}

/// A turn's answer `m`, noted for its listing: `client_calls` are calls of the caller's tools
/// (a `function_call` and its output, not tools the agent ran), and the `function_call` items
/// of `continued` calls were listed with an earlier message (only their outputs show here).
pub fn with_turn_note(
    mut m: DbMessage,
    client_calls: &[String],
    continued: &[String],
) -> DbMessage {
    if client_calls.is_empty() && continued.is_empty() {
        return m;
    }
    let note = note_mut(&mut m);
    note.insert("client_calls".into(), json!(client_calls));
    let hidden: Vec<String> = continued
        .iter()
        .map(|c| ids::function_call_item_id(c))
        .collect();
    if !hidden.is_empty() {
        note.insert("hidden".into(), json!(hidden));
    }
    m
}

fn tool_call_id(inv: &Map<String, Value>, message_id: &str, part_index: usize) -> String {
    inv.get("toolCallId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{message_id}_{part_index}"))
}

/// JSON text of a tool payload; strings stay as they are (Mastra's `stringifyToolPayload`).
fn payload_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => "{}".into(),
        Some(v) => v.to_string(),
    }
}

fn arguments_text(inv: &Map<String, Value>, call_id: &str, note: &Note) -> String {
    if let Some(Value::String(raw)) = note.arguments.get(call_id) {
        return raw.clone();
    }
    match inv.get("args") {
        Some(Value::Object(o)) if o.len() == 1 && o.get("__raw").is_some_and(Value::is_string) => {
            o["__raw"].as_str().unwrap_or_default().to_string()
        }
        other => payload_text(other),
    }
}

/// `status` of an assistant message, as the response record on it says (a turn cut short is
/// `incomplete`); a message without one is complete.
fn assistant_status(m: &DbMessage) -> &'static str {
    match recorded_status(m).as_deref() {
        Some("incomplete" | "failed" | "cancelled") => "incomplete",
        Some("in_progress") => "in_progress",
        _ => "completed",
    }
}

/// The agent a turn's record names (the `server_label` of the tools it ran).
fn recorded_agent(m: &DbMessage) -> String {
    m.content
        .metadata
        .as_ref()
        .and_then(|md| md.get("mastra"))
        .and_then(|mastra| mastra.pointer("/response/agentId"))
        .and_then(Value::as_str)
        .unwrap_or("mastra")
        .to_string()
}

fn file_part(part: &Map<String, Value>) -> Option<Value> {
    let data = part.get("data").and_then(Value::as_str)?;
    let mime = part
        .get("mimeType")
        .or_else(|| part.get("mediaType"))
        .and_then(Value::as_str)
        .unwrap_or("application/octet-stream");
    let is_url = data.starts_with("http://") || data.starts_with("https://");
    let url = if is_url || data.starts_with("data:") {
        data.to_string()
    } else {
        format!("data:{mime};base64,{data}")
    };
    if mime.starts_with("image/") {
        Some(json!({"type": "input_image", "image_url": url, "detail": "auto"}))
    } else {
        let mut f = Map::new();
        f.insert("type".into(), json!("input_file"));
        if is_url {
            f.insert("file_url".into(), json!(url));
        } else {
            f.insert("file_data".into(), json!(url));
        }
        if let Some(name) = part.get("filename").and_then(Value::as_str) {
            f.insert("filename".into(), json!(name));
        }
        Some(Value::Object(f))
    }
}

/// The conversation items of one stored message, in thread order.
pub fn message_items(m: &DbMessage) -> Vec<Value> {
    let note = note_of(m);
    let assistant = m.role == "assistant";
    let mut items = Vec::new();
    let mut content = Vec::new();
    // Message items so far (a text after a tool the agent ran starts a new one, as the
    // response showed it), and reasoning items.
    let mut texts = 0;
    let mut reasonings = 0;
    for (i, part) in m.content.parts.iter().enumerate() {
        let Some(p) = part.as_object() else { continue };
        match p.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = p.get("text").and_then(Value::as_str).unwrap_or_default();
                content.push(if assistant {
                    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
                } else {
                    json!({"type": "input_text", "text": text})
                });
            }
            Some("reasoning") if assistant && !note.created => {
                flush_text(&mut items, &mut content, m, &mut texts, &note);
                let text = p
                    .get("reasoning")
                    .or_else(|| p.get("text"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                items.push(json!({
                    "id": ids::reasoning_item_id(&m.id, reasonings),
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": text}],
                }));
                reasonings += 1;
            }
            Some("file") if !assistant => {
                if let Some(f) = file_part(p) {
                    content.push(f);
                }
            }
            Some("tool-invocation") if assistant || m.role == "tool" => {
                let Some(inv) = p.get("toolInvocation").and_then(Value::as_object) else {
                    continue;
                };
                let call_id = tool_call_id(inv, &m.id, i);
                let name = inv
                    .get("toolName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let state = inv.get("state").and_then(Value::as_str).unwrap_or("call");
                // A tool the agent ran inside Mastra (a turn's call with its result or error):
                // the server's, one `mcp_call` item, as the response showed it; or such an
                // item written through the Conversations API, with the client's id.
                let created_server = note.server_calls.get(&call_id);
                let turn_server = !note.created
                    && state != "call"
                    && assistant
                    && !note.client_calls.contains(&call_id);
                if turn_server || created_server.is_some() {
                    flush_text(&mut items, &mut content, m, &mut texts, &note);
                    let failed = state == "output-error"
                        || created_server.is_some_and(|c| c["failed"] == json!(true));
                    let (output, error, status) = if failed {
                        let text = inv
                            .get("errorText")
                            .or_else(|| inv.get("result"))
                            .cloned()
                            .unwrap_or(Value::Null);
                        (
                            Value::Null,
                            json!({"type": "mcp_tool_execution_error", "content": text}),
                            "failed",
                        )
                    } else {
                        (
                            json!(payload_text(inv.get("result"))),
                            Value::Null,
                            "completed",
                        )
                    };
                    let (id, label) = match created_server {
                        Some(c) => (
                            c["id"].as_str().unwrap_or_default().to_string(),
                            c["server_label"].as_str().unwrap_or("mastra").to_string(),
                        ),
                        None => (ids::mcp_call_item_id(&m.id, &call_id), recorded_agent(m)),
                    };
                    items.push(json!({
                        "id": id,
                        "type": "mcp_call",
                        "server_label": label,
                        "name": name,
                        "arguments": arguments_text(inv, &call_id, &note),
                        "output": output,
                        "error": error,
                        "status": status,
                        "approval_request_id": null,
                    }));
                    continue;
                }
                let fc_id = ids::function_call_item_id(&call_id);
                if assistant && !name.is_empty() && !note.hidden.contains(&fc_id) {
                    items.push(json!({
                        "id": fc_id,
                        "type": "function_call",
                        "call_id": call_id,
                        "name": name,
                        "arguments": arguments_text(inv, &call_id, &note),
                        "status": "completed",
                    }));
                }
                let fco_id = ids::function_call_output_item_id(&call_id);
                if let Some(result) = inv.get("result") {
                    if !note.hidden.contains(&fco_id) {
                        let output = match result {
                            Value::Array(_) => result.clone(),
                            other => Value::String(payload_text(Some(other))),
                        };
                        items.push(json!({
                            "id": fco_id,
                            "type": "function_call_output",
                            "call_id": call_id,
                            "output": output,
                            "status": "completed",
                        }));
                    }
                }
            }
            _ => {}
        }
    }
    flush_text(&mut items, &mut content, m, &mut texts, &note);
    items
}

/// The text collected so far as one `message` item (the message's id for its first one).
fn flush_text(
    items: &mut Vec<Value>,
    content: &mut Vec<Value>,
    m: &DbMessage,
    texts: &mut usize,
    note: &Note,
) {
    if content.is_empty() {
        return;
    }
    let content = std::mem::take(content);
    let role = match (m.role.as_str(), &note.role) {
        ("user", Some(r)) => r.as_str(),
        (r @ ("user" | "assistant" | "system"), _) => r,
        _ => return,
    };
    let id = ids::message_item_id(&m.id, *texts);
    *texts += 1;
    if note.hidden.contains(&id) {
        return;
    }
    let status = if m.role == "assistant" {
        assistant_status(m)
    } else {
        "completed"
    };
    items.push(output_item_from_mastra(json!({
        "id": id,
        "type": "message",
        "role": role,
        "status": status,
        "content": content,
    })));
}

// --------------------------------------------------------------------- items → messages

/// Where created items go.
pub struct NewMessages<'a> {
    pub thread_id: &'a str,
    pub resource_id: &'a str,
    /// `createdAt` of the first message; each next one is 1 ms later.
    pub first_ms: i64,
}

fn item_type(item: &Map<String, Value>) -> &str {
    item.get("type")
        .and_then(Value::as_str)
        .unwrap_or("message")
}

fn required_str<'v>(
    item: &'v Map<String, Value>,
    param: &str,
    key: &str,
) -> Result<&'v str, ApiError> {
    match item.get(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ApiError::missing_parameter(&format!("{param}.{key}"))),
        Some(_) => Err(ApiError::invalid_type(
            &format!("{param}.{key}"),
            "expected a string",
        )),
    }
}

fn text_parts(item: &Map<String, Value>, param: &str, role: &str) -> Result<Vec<String>, ApiError> {
    match item.get("content") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| {
                let pp = format!("{param}.content[{j}]");
                let Some(po) = part.as_object() else {
                    return Err(ApiError::invalid_type(&pp, "expected an object"));
                };
                match po.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text" | "text") => {
                        required_str(po, &pp, "text").map(str::to_string)
                    }
                    Some("refusal") if role == "assistant" => Err(ApiError::unsupported(
                        &pp,
                        "`refusal` content cannot be stored in Mastra's memory",
                    )),
                    Some(other) => Err(ApiError::unsupported(
                        &pp,
                        &format!(
                            "`{other}` content is not available; this gateway stores text only"
                        ),
                    )),
                    None => Err(ApiError::missing_parameter(&format!("{pp}.type"))),
                }
            })
            .collect(),
        None | Some(Value::Null) => Err(ApiError::missing_parameter(&format!("{param}.content"))),
        Some(_) => Err(ApiError::invalid_type(
            &format!("{param}.content"),
            "expected a string or an array of content parts",
        )),
    }
}

fn db_message(
    ctx: &NewMessages<'_>,
    id: String,
    role: &str,
    at_ms: i64,
    parts: Vec<Value>,
    mut note: Map<String, Value>,
) -> DbMessage {
    // Marks what the Conversations API wrote (never a response turn's input).
    note.insert("origin".into(), json!(ORIGIN_ITEMS));
    let text: String = parts
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    DbMessage {
        id,
        role: role.to_string(),
        created_at: ms_to_iso(at_ms),
        thread_id: Some(ctx.thread_id.to_string()),
        resource_id: Some(ctx.resource_id.to_string()),
        kind: Some("v2".into()),
        content: DbContent {
            format: 2,
            parts,
            content: Some(text),
            metadata: Some(Map::from_iter([(
                MESSAGE_NOTE_KEY.to_string(),
                Value::Object(note),
            )])),
            rest: Map::new(),
        },
        rest: Map::new(),
    }
}

/// The tool call's `args` object for Mastra, and the client's exact text when re-serializing
/// would not reproduce it.
pub fn parse_arguments(raw: &str) -> (Value, Option<String>) {
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => {
            let text = v.to_string();
            let exact = text == raw;
            (v, (!exact).then(|| raw.to_string()))
        }
        _ => (json!({}), Some(raw.to_string())),
    }
}

/// Validates created items and builds the messages to save. `new_id` mints message ids.
pub fn messages_from_items(
    items: &[Value],
    ctx: &NewMessages<'_>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<DbMessage>, ApiError> {
    if items.len() > MAX_CREATE_ITEMS {
        return Err(ApiError::invalid_request(format!(
            "Invalid 'items': array too long. Expected an array with maximum length {MAX_CREATE_ITEMS}, but got an array with length {} instead.",
            items.len()
        ))
        .with_param("items")
        .with_code("array_above_max_length"));
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let param = format!("items[{i}]");
        let at = ctx.first_ms + out.len() as i64;
        let Some(item) = items[i].as_object() else {
            return Err(ApiError::invalid_type(&param, "expected an object"));
        };
        match item_type(item) {
            "message" => {
                let role = required_str(item, &param, "role")?;
                if !matches!(role, "user" | "assistant" | "system" | "developer") {
                    return Err(ApiError::invalid_value(
                        &format!("{param}.role"),
                        format!("Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system', and 'developer'."),
                    ));
                }
                let texts = text_parts(item, &param, role)?;
                let parts = texts
                    .into_iter()
                    .map(|t| json!({"type": "text", "text": t}))
                    .collect();
                let mut note = Map::new();
                let stored_role = match role {
                    "system" | "developer" => {
                        note.insert("role".into(), json!(role));
                        "user"
                    }
                    r => r,
                };
                out.push(db_message(ctx, new_id(), stored_role, at, parts, note));
            }
            "function_call" => {
                let call_id = required_str(item, &param, "call_id")?;
                let name = required_str(item, &param, "name")?;
                let raw_args = required_str(item, &param, "arguments")?;
                let (args, exact) = parse_arguments(raw_args);
                let mut inv = Map::new();
                inv.insert("state".into(), json!("call"));
                inv.insert("toolCallId".into(), json!(call_id));
                inv.insert("toolName".into(), json!(name));
                inv.insert("args".into(), args);
                // Its output right after it: one tool turn, as Mastra stores the agent's.
                let next = items.get(i + 1).and_then(Value::as_object);
                if let Some(next) = next.filter(|n| {
                    item_type(n) == "function_call_output"
                        && n.get("call_id").and_then(Value::as_str) == Some(call_id)
                }) {
                    let output = function_call_output(next, &format!("items[{}]", i + 1))?;
                    inv.insert("state".into(), json!("result"));
                    inv.insert("result".into(), output);
                    i += 1;
                }
                let mut note = Map::new();
                if let Some(raw) = exact {
                    note.insert("arguments".into(), json!({ call_id: raw }));
                }
                let part = json!({"type": "tool-invocation", "toolInvocation": inv});
                out.push(db_message(ctx, new_id(), "assistant", at, vec![part], note));
            }
            "function_call_output" => {
                let call_id = required_str(item, &param, "call_id")?;
                let output = function_call_output(item, &param)?;
                // The call's name, when the call is among the created items.
                let name = items[..i]
                    .iter()
                    .filter_map(Value::as_object)
                    .find(|c| {
                        item_type(c) == "function_call"
                            && c.get("call_id").and_then(Value::as_str) == Some(call_id)
                    })
                    .and_then(|c| c.get("name").and_then(Value::as_str))
                    .unwrap_or_default();
                let part = json!({"type": "tool-invocation", "toolInvocation": {
                    "state": "result", "toolCallId": call_id, "toolName": name,
                    "args": {}, "result": output,
                }});
                let mut note = Map::new();
                note.insert("hidden".into(), json!([ids::function_call_item_id(call_id)]));
                out.push(db_message(ctx, new_id(), "assistant", at, vec![part], note));
            }
            "mcp_call" => {
                // A tool the agent ran, replayed by a client keeping the conversation itself:
                // stored as Mastra stores the agent's tool turns, listed back as it came.
                let id = required_str(item, &param, "id")?;
                let name = required_str(item, &param, "name")?;
                let raw_args = match item.get("arguments") {
                    Some(Value::String(a)) => a.as_str(),
                    _ => "{}",
                };
                let call_id = ids::parse_mcp_call_item_id(id)
                    .map_or(id, |(_, call)| call)
                    .to_string();
                let (args, exact) = parse_arguments(raw_args);
                let error = item.get("error").filter(|e| !e.is_null());
                let result = match (item.get("output"), error) {
                    (_, Some(e)) => e
                        .get("content")
                        .or_else(|| e.get("message"))
                        .cloned()
                        .unwrap_or_else(|| e.clone()),
                    (Some(Value::String(o)), None) => json!(o),
                    (Some(o), None) if !o.is_null() => o.clone(),
                    _ => json!(""),
                };
                let inv = json!({
                    "state": "result", "toolCallId": call_id, "toolName": name,
                    "args": args, "result": result,
                });
                let label = item
                    .get("server_label")
                    .and_then(Value::as_str)
                    .unwrap_or("mastra");
                let mut note = Map::new();
                note.insert(
                    "server_calls".into(),
                    json!({ call_id.as_str(): {"id": id, "server_label": label, "failed": error.is_some()} }),
                );
                if let Some(raw) = exact {
                    note.insert("arguments".into(), json!({ call_id.as_str(): raw }));
                }
                let part = json!({"type": "tool-invocation", "toolInvocation": inv});
                out.push(db_message(ctx, new_id(), "assistant", at, vec![part], note));
            }
            other => {
                return Err(ApiError::unsupported(
                    &param,
                    &format!("`{other}` items cannot be stored in Mastra's memory; send message, function_call, function_call_output or mcp_call items"),
                ))
            }
        }
        i += 1;
    }
    Ok(out)
}

fn function_call_output(item: &Map<String, Value>, param: &str) -> Result<Value, ApiError> {
    match item.get("output") {
        Some(v @ (Value::String(_) | Value::Array(_))) => Ok(v.clone()),
        None | Some(Value::Null) => Err(ApiError::missing_parameter(&format!("{param}.output"))),
        Some(_) => Err(ApiError::invalid_type(
            &format!("{param}.output"),
            "expected a string or an array of content parts",
        )),
    }
}

// ------------------------------------------------------------------------ item deletion

/// What deleting one item does to the stored message that holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemDeletion {
    /// No item of the message is left: delete the message.
    DeleteMessage,
    /// Save the message back (upsert by id) with this content.
    Rewrite(Box<DbMessage>),
    /// The message has no such item.
    NotFound,
}

fn note_mut(m: &mut DbMessage) -> &mut Map<String, Value> {
    let md = m.content.metadata.get_or_insert_with(Map::new);
    let note = md
        .entry(MESSAGE_NOTE_KEY)
        .or_insert_with(|| Value::Object(Map::new()));
    if !note.is_object() {
        *note = Value::Object(Map::new());
    }
    note.as_object_mut().expect("just made an object")
}

/// Removes one item from its message: the message item drops the text; a function call
/// without an output drops its part; a call with an output is hidden (the model keeps the
/// pair); an output turns its call back into a pending call.
pub fn delete_item(m: &DbMessage, item_id: &str) -> ItemDeletion {
    let items = message_items(m);
    if !items
        .iter()
        .any(|i| i.get("id").and_then(Value::as_str) == Some(item_id))
    {
        return ItemDeletion::NotFound;
    }
    if items.len() == 1 {
        return ItemDeletion::DeleteMessage;
    }
    let mut out = m.clone();
    let is_message_item = items.iter().any(|i| {
        i.get("id").and_then(Value::as_str) == Some(item_id)
            && i.get("type").and_then(Value::as_str) == Some("message")
    });
    if is_message_item || item_id.starts_with("rs_") || item_id.starts_with("mcp_") {
        remove_parts_of(&mut out, item_id);
    } else {
        let mut hide = None;
        for (i, part) in out.content.parts.iter_mut().enumerate() {
            let Some(inv) = part
                .get_mut("toolInvocation")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let call_id = tool_call_id(inv, &m.id, i);
            if ids::function_call_output_item_id(&call_id) == item_id {
                inv.remove("result");
                inv.insert("state".into(), json!("call"));
            } else if ids::function_call_item_id(&call_id) == item_id {
                if inv.contains_key("result") {
                    hide = Some(item_id.to_string());
                } else {
                    *part = Value::Null;
                }
            }
        }
        out.content.parts.retain(|p| !p.is_null());
        // The legacy `toolInvocations` mirror follows the parts.
        if let Some(Value::Array(legacy)) = out.content.rest.get_mut("toolInvocations") {
            let live: Vec<Value> = out
                .content
                .parts
                .iter()
                .filter_map(|p| p.get("toolInvocation").cloned())
                .collect();
            *legacy = live;
        }
        if let Some(h) = hide {
            let note = note_mut(&mut out);
            let hidden = note.entry("hidden").or_insert_with(|| json!([]));
            if let Value::Array(a) = hidden {
                a.push(Value::String(h));
            } else {
                *hidden = json!([h]);
            }
        }
    }
    if message_items(&out).is_empty() {
        ItemDeletion::DeleteMessage
    } else {
        ItemDeletion::Rewrite(Box::new(out))
    }
}

/// Removes the parts that make item `item_id` of `m` (a text group, a reasoning part, a tool
/// the agent ran), walking the parts as [`message_items`] does.
fn remove_parts_of(m: &mut DbMessage, item_id: &str) {
    let note = note_of(m);
    let id = m.id.clone();
    let (mut texts, mut reasonings, mut open_text) = (0, 0, false);
    let mut removed_text = false;
    for (i, part) in m.content.parts.iter_mut().enumerate() {
        let kind = part
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match kind.as_str() {
            "text" | "file" => {
                open_text = true;
                if ids::message_item_id(&id, texts) == item_id {
                    *part = Value::Null;
                    removed_text = true;
                }
            }
            "reasoning" => {
                if open_text {
                    texts += 1;
                    open_text = false;
                }
                if ids::reasoning_item_id(&id, reasonings) == item_id {
                    *part = Value::Null;
                }
                reasonings += 1;
            }
            "tool-invocation" => {
                let Some(inv) = part.get("toolInvocation").and_then(Value::as_object) else {
                    continue;
                };
                let state = inv.get("state").and_then(Value::as_str).unwrap_or("call");
                if note.created || state == "call" {
                    continue;
                }
                if open_text {
                    texts += 1;
                    open_text = false;
                }
                if ids::mcp_call_item_id(&id, &tool_call_id(inv, &id, i)) == item_id {
                    *part = Value::Null;
                }
            }
            _ => {}
        }
    }
    m.content.parts.retain(|p| !p.is_null());
    if removed_text {
        let text: String = m
            .content
            .parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        m.content.content = Some(text);
    }
}

// ------------------------------------------------------------------------------ list query

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// `after`, `limit`, `order`, `include[]` of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub after: Option<String>,
    pub limit: usize,
    pub order: Order,
    pub include: Vec<String>,
}

/// Parses a list query (`include[]=a&include[]=b` or `include=a`). Unknown keys are ignored.
pub fn parse_list_query(query: Option<&str>) -> Result<ListParams, ApiError> {
    let mut p = ListParams {
        after: None,
        limit: 20,
        order: Order::Desc,
        include: Vec::new(),
    };
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            // A cursor that cannot be an item id names none: refused without a scan.
            "after" if !v.is_empty() && !is_plausible_id(&v) => {
                return Err(unknown_after(&quoted(&v)))
            }
            "after" if !v.is_empty() => p.after = Some(v.into_owned()),
            "limit" => {
                let n: i64 = v.parse().map_err(|_| {
                    ApiError::invalid_type("limit", format!("expected an integer, got '{v}'"))
                })?;
                if n < 1 {
                    return Err(ApiError::invalid_request(format!(
                        "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {n} instead."
                    ))
                    .with_param("limit")
                    .with_code("integer_below_min_value"));
                }
                if n > 100 {
                    return Err(ApiError::invalid_request(format!(
                        "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got {n} instead."
                    ))
                    .with_param("limit")
                    .with_code("integer_above_max_value"));
                }
                p.limit = n as usize;
            }
            "order" => {
                p.order = match v.as_ref() {
                    "asc" => Order::Asc,
                    "desc" => Order::Desc,
                    other => {
                        return Err(ApiError::invalid_value(
                            "order",
                            format!(
                                "Invalid value: '{other}'. Supported values are: 'asc' and 'desc'."
                            ),
                        ))
                    }
                }
            }
            "include[]" | "include" => {
                if !INCLUDE_VALUES.contains(&v.as_ref()) {
                    return Err(ApiError::invalid_value(
                        "include",
                        format!(
                            "Invalid value: '{v}'. Supported values are: {}.",
                            INCLUDE_VALUES.join(", ")
                        ),
                    ));
                }
                p.include.push(v.into_owned());
            }
            _ => {}
        }
    }
    Ok(p)
}

/// Validates `include[]` alone (items create and retrieve take only that).
pub fn parse_include_query(query: Option<&str>) -> Result<Vec<String>, ApiError> {
    let only_include: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .filter(|(k, _)| k == "include[]" || k == "include"),
        )
        .finish();
    parse_list_query(Some(&only_include)).map(|p| p.include)
}

// ---------------------------------------------------------------------------------- paging

/// An item's place in the thread: its message's time and id, then its index in the message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    pub at_ms: i64,
    pub message_id: String,
    pub index: usize,
}

/// An item's key plus its message's `createdAt` exactly as Mastra wrote it (for filters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPos {
    pub key: ItemKey,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyedItem {
    pub pos: ItemPos,
    pub item: Value,
}

impl KeyedItem {
    pub fn id(&self) -> &str {
        self.item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Every item of `messages` with its position, in ascending thread order.
pub fn keyed_items(messages: &[DbMessage]) -> Vec<KeyedItem> {
    let mut sorted: Vec<&DbMessage> = messages.iter().collect();
    sorted.sort_by_cached_key(|m| (at_ms(m), m.id.clone()));
    sorted
        .into_iter()
        .flat_map(|m| {
            let at = at_ms(m);
            message_items(m)
                .into_iter()
                .enumerate()
                .map(move |(index, item)| KeyedItem {
                    pos: ItemPos {
                        key: ItemKey {
                            at_ms: at,
                            message_id: m.id.clone(),
                            index,
                        },
                        at: m.created_at.clone(),
                    },
                    item,
                })
        })
        .collect()
}

/// Largest window the pager asks for (only a group of equal timestamps that large needs it).
const MAX_WINDOW: usize = 2000;

/// One page of items, `limit` long, after an optional cursor, in `order`: ask
/// [`Pager::next_query`], fetch that window, [`Pager::feed`] it, until `next_query` is `None`.
#[derive(Debug)]
pub struct Pager {
    order: Order,
    want: usize,
    cursor: Option<ItemKey>,
    bound: Option<String>,
    per_page: usize,
    out: Vec<KeyedItem>,
    done: bool,
    windows: usize,
}

/// A page never takes more windows than this (a safety net; a page normally takes one).
const MAX_WINDOWS: usize = 64;

impl Pager {
    pub fn new(order: Order, limit: usize, after: Option<&ItemPos>) -> Self {
        Self {
            order,
            want: limit + 1,
            cursor: after.map(|p| p.key.clone()),
            bound: after.map(|p| p.at.clone()),
            // The cursor's own message, a tie or two and the cut edge come on top of the page.
            per_page: limit + 5,
            out: Vec::new(),
            done: false,
            windows: 0,
        }
    }

    pub fn next_query(&self) -> Option<MessageQuery> {
        if self.done {
            return None;
        }
        Some(match self.order {
            Order::Asc => MessageQuery {
                direction: Direction::Asc,
                start: self.bound.clone(),
                end: None,
                per_page: self.per_page,
                page: 0,
            },
            Order::Desc => MessageQuery {
                direction: Direction::Desc,
                start: None,
                end: self.bound.clone(),
                per_page: self.per_page,
                page: 0,
            },
        })
    }

    fn after_cursor(&self, key: &ItemKey) -> bool {
        match (&self.cursor, self.order) {
            (None, _) => true,
            (Some(c), Order::Asc) => key > c,
            (Some(c), Order::Desc) => key < c,
        }
    }

    /// Takes the window answered for the last [`Pager::next_query`].
    pub fn feed(&mut self, page: MessagesPage) {
        self.windows += 1;
        if self.windows >= MAX_WINDOWS {
            self.done = true;
        }
        let mut msgs = page.messages;
        msgs.sort_by_cached_key(|m| (at_ms(m), m.id.clone()));
        if self.order == Order::Desc {
            msgs.reverse();
        }
        let full = page.has_more && !msgs.is_empty();
        let mut usable = msgs.len();
        let mut next_bound = None;
        if full {
            let edge = at_ms(&msgs[msgs.len() - 1]);
            if at_ms(&msgs[0]) == edge {
                if self.per_page < MAX_WINDOW {
                    self.per_page = (self.per_page * 2).min(MAX_WINDOW);
                    return;
                }
                next_bound = Some(msgs[msgs.len() - 1].created_at.clone());
            } else {
                usable = msgs
                    .iter()
                    .position(|m| at_ms(m) == edge)
                    .unwrap_or(msgs.len());
                next_bound = Some(msgs[usable].created_at.clone());
            }
        }
        let mut last = None;
        for m in &msgs[..usable] {
            let at = at_ms(m);
            let mut items: Vec<(usize, Value)> = message_items(m).into_iter().enumerate().collect();
            if self.order == Order::Desc {
                items.reverse();
            }
            for (index, item) in items {
                let key = ItemKey {
                    at_ms: at,
                    message_id: m.id.clone(),
                    index,
                };
                if self.after_cursor(&key) {
                    self.out.push(KeyedItem {
                        pos: ItemPos {
                            key,
                            at: m.created_at.clone(),
                        },
                        item,
                    });
                }
            }
            last = Some((at, m.id.clone()));
        }
        if self.out.len() >= self.want || !full {
            self.done = true;
            return;
        }
        if let Some((at, id)) = last {
            // Past every item of the last message taken.
            let index = match self.order {
                Order::Asc => usize::MAX,
                Order::Desc => 0,
            };
            self.cursor = Some(ItemKey {
                at_ms: at,
                message_id: id,
                index,
            });
        }
        self.bound = next_bound;
    }

    /// The page (at most `limit` items) and whether more follow.
    pub fn finish(mut self) -> (Vec<KeyedItem>, bool) {
        let limit = self.want - 1;
        let has_more = self.out.len() > limit;
        self.out.truncate(limit);
        (self.out, has_more)
    }
}

/// Applies `after`/`limit`/`order` to a short, fully known item list (ascending order), for
/// `input_items`. An unknown `after` is refused.
pub fn page_in_memory(
    mut items: Vec<Value>,
    params: &ListParams,
) -> Result<(Vec<Value>, bool), ApiError> {
    if params.order == Order::Desc {
        items.reverse();
    }
    let start = match &params.after {
        None => 0,
        Some(after) => {
            items
                .iter()
                .position(|i| i.get("id").and_then(Value::as_str) == Some(after.as_str()))
                .ok_or_else(|| unknown_after(after))?
                + 1
        }
    };
    let rest: Vec<Value> = items.into_iter().skip(start).collect();
    let has_more = rest.len() > params.limit;
    Ok((rest.into_iter().take(params.limit).collect(), has_more))
}

pub fn unknown_after(after: &str) -> ApiError {
    ApiError::invalid_value(
        "after",
        format!("Invalid 'after': no item with id '{after}' in this list."),
    )
}

pub fn item_not_found(item_id: &str) -> ApiError {
    ApiError::new(
        http::StatusCode::NOT_FOUND,
        crate::error::INVALID_REQUEST,
        format!("Item with id '{item_id}' not found."),
    )
}

// ---------------------------------------------------------------------------- input items

/// The input items of the turn whose assistant message is `response_message_id`: the user
/// messages stored right before it, from the turn's start (`turn_start_ms`, the response's
/// `created_at`: Mastra stores the input after it) and not written by the items API.
/// `messages` is a window of the thread that starts at (or before) the turn; `None` when the
/// response's message is not in it.
pub fn turn_input_items(
    messages: &[DbMessage],
    response_message_id: &str,
    turn_start_ms: Option<i64>,
) -> Option<Vec<Value>> {
    let mut sorted: Vec<&DbMessage> = messages.iter().collect();
    sorted.sort_by_cached_key(|m| (at_ms(m), m.id.clone()));
    let at = sorted.iter().position(|m| m.id == response_message_id)?;
    let not_input = |m: &&DbMessage| {
        m.role != "user"
            || turn_start_ms.is_some_and(|start| at_ms(m) < start)
            || m.content
                .metadata
                .as_ref()
                .and_then(|md| md.get(MESSAGE_NOTE_KEY))
                .and_then(|n| n.get("origin"))
                .is_some()
    };
    let first = sorted[..at]
        .iter()
        .rposition(not_input)
        .map_or(0, |i| i + 1);
    Some(
        sorted[first..at]
            .iter()
            .flat_map(|m| message_items(m))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mastra::types::MessagesPage;

    fn recorded(name: &str) -> Vec<DbMessage> {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let page: MessagesPage = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        page.messages
    }

    /// A message as Mastra stores a turn's (no gateway note).
    fn msg(id: &str, role: &str, at: i64, text: &str) -> DbMessage {
        let mut m = db_message(
            &NewMessages {
                thread_id: "t",
                resource_id: "r",
                first_ms: 0,
            },
            id.into(),
            role,
            at,
            vec![json!({"type": "text", "text": text})],
            Map::new(),
        );
        m.content.metadata = None;
        m
    }

    fn tool_msg(id: &str, at: i64, call: &str) -> DbMessage {
        let mut m = msg(id, "assistant", at, &format!("after {call}"));
        m.content.parts.insert(
            0,
            json!({"type": "tool-invocation", "toolInvocation": {"state": "result",
                "toolCallId": call, "toolName": "get_weather", "args": {"city": "Rome"},
                "result": {"tempC": 21}}}),
        );
        m
    }

    /// A tool call and its output as the Conversations API stores them (the client's tool).
    fn created_tool_msg(id: &str, at: i64, call: &str) -> DbMessage {
        let mut m = tool_msg(id, at, call);
        m.content.metadata = Some(Map::from_iter([(
            MESSAGE_NOTE_KEY.to_string(),
            json!({"origin": ORIGIN_ITEMS}),
        )]));
        m
    }

    #[test]
    fn items_from_recorded_thread() {
        let messages = recorded("mastra_thread_messages.json");
        let items: Vec<Value> = keyed_items(&messages).into_iter().map(|k| k.item).collect();
        insta::assert_json_snapshot!(items);
    }

    #[test]
    fn tool_turn_items_match_response_output_ids() {
        let messages = recorded("mastra_thread_messages.json");
        let turn = messages
            .iter()
            .find(|m| {
                m.content
                    .parts
                    .iter()
                    .any(|p| p["type"] == "tool-invocation")
                    && m.content
                        .metadata
                        .as_ref()
                        .is_some_and(|md| md.contains_key("mastra"))
            })
            .expect("a recorded tool turn");
        let items = message_items(turn);
        let kinds: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
        // The tool Mastra ran is the server's: one mcp_call item, then the answer.
        assert_eq!(kinds, ["mcp_call", "message"]);
        // The Response for the same turn, as Mastra returns its record, shows the same items.
        let record = &turn.content.metadata.as_ref().unwrap()["mastra"]["response"];
        let mastra: crate::mastra::types::MastraResponse = serde_json::from_value(json!({
            "id": turn.id, "status": "completed", "output": record["outputItems"]
        }))
        .unwrap();
        let ctx = crate::translate::response::ResponseContext {
            model: "support-agent".into(),
            conversation: None,
            echo: Default::default(),
            previous_response_id: None,
            store: true,
        };
        let shown = crate::translate::response::response_from_mastra(mastra, &ctx);
        let output: Vec<Value> = shown
            .output
            .iter()
            .map(|i| serde_json::to_value(i).unwrap())
            .collect();
        assert_eq!(items, output);
    }

    #[test]
    fn created_items_round_trip() {
        let items = vec![
            json!({"role": "user", "content": "plain string"}),
            json!({"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]}),
            json!({"type": "message", "role": "system", "content": "be brief"}),
            json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]}),
            json!({"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "hi", "annotations": []}]}),
            json!({"type": "function_call", "call_id": "call_1", "name": "get_weather",
                   "arguments": "{\"city\": \"Oslo\"}"}),
            json!({"type": "function_call_output", "call_id": "call_1", "output": "sunny"}),
            json!({"type": "function_call", "call_id": "call_2", "name": "get_weather",
                   "arguments": "{\"city\":\"Rome\"}"}),
            json!({"type": "message", "role": "user", "content": "between"}),
            json!({"type": "function_call_output", "call_id": "call_2", "output": [
                {"type": "input_text", "text": "warm"}]}),
            json!({"type": "function_call_output", "call_id": "call_elsewhere", "output": "late"}),
        ];
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("msg_{n:02}")
        };
        let ctx = NewMessages {
            thread_id: "conv_x",
            resource_id: "res_x",
            first_ms: 1_767_225_600_000,
        };
        let messages = messages_from_items(&items, &ctx, &mut next).unwrap();
        insta::assert_json_snapshot!("created_items_messages", messages);
        let back: Vec<Value> = keyed_items(&messages).into_iter().map(|k| k.item).collect();
        insta::assert_json_snapshot!("created_items_read_back", back);
        // Same content as sent (normalized to parts), same order, ids derived from call ids.
        let kinds: Vec<(&str, Option<&str>)> = back
            .iter()
            .map(|i| (i["type"].as_str().unwrap(), i["role"].as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("message", Some("user")),
                ("message", Some("user")),
                ("message", Some("system")),
                ("message", Some("developer")),
                ("message", Some("assistant")),
                ("function_call", None),
                ("function_call_output", None),
                ("function_call", None),
                ("message", Some("user")),
                ("function_call_output", None),
                ("function_call_output", None),
            ]
        );
        assert_eq!(back[5]["arguments"], "{\"city\": \"Oslo\"}");
        assert_eq!(back[5]["id"], "fc_1");
        assert_eq!(back[6]["id"], "fco_1");
        assert_eq!(
            back[9]["output"],
            json!([{"type": "input_text", "text": "warm"}])
        );
    }

    #[test]
    fn created_items_refusals() {
        let ctx = NewMessages {
            thread_id: "t",
            resource_id: "r",
            first_ms: 0,
        };
        let mut id = || "x".to_string();
        let too_many: Vec<Value> = (0..21)
            .map(|i| json!({"role": "user", "content": format!("{i}")}))
            .collect();
        let e = messages_from_items(&too_many, &ctx, &mut id).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.param.as_deref()),
            (400, Some("items"))
        );
        let cases = [
            (json!({"type": "reasoning", "summary": []}), "items[0]"),
            (json!({"role": "robot", "content": "x"}), "items[0].role"),
            (json!({"role": "user"}), "items[0].content"),
            (
                json!({"role": "user", "content": [{"type": "input_image", "image_url": "http://x"}]}),
                "items[0].content[0]",
            ),
            (
                json!({"type": "function_call", "name": "f", "arguments": "{}"}),
                "items[0].call_id",
            ),
            (
                json!({"type": "function_call_output", "call_id": "c"}),
                "items[0].output",
            ),
            (json!("text"), "items[0]"),
        ];
        for (item, param) in cases {
            let e = messages_from_items(std::slice::from_ref(&item), &ctx, &mut id).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{item}");
            assert_eq!(e.param.as_deref(), Some(param), "{item}: {e}");
        }
    }

    #[test]
    fn metadata_views() {
        let raw: Map<String, Value> = serde_json::from_value(json!({
            "topic": "demo", "mastra_gateway.agent": "support-agent", "workingMemory": {"x": 1}
        }))
        .unwrap();
        assert_eq!(
            Value::Object(client_metadata(&raw)),
            json!({"topic": "demo"})
        );
        let new: Map<String, Value> = serde_json::from_value(json!({"c": "3"})).unwrap();
        assert_eq!(
            Value::Object(replace_client_metadata(&raw, &new)),
            json!({"mastra_gateway.agent": "support-agent", "workingMemory": {"x": 1}, "c": "3"})
        );
        let bad: Map<String, Value> =
            serde_json::from_value(json!({"mastra_gateway.agent": "x"})).unwrap();
        assert_eq!(
            validate_client_metadata(&bad).unwrap_err().param.as_deref(),
            Some("metadata")
        );
        let thread = MastraThread {
            id: "conv_1".into(),
            resource_id: Some("r".into()),
            created_at: Some("2026-01-01T00:00:01.999Z".into()),
            metadata: Some(raw),
            ..Default::default()
        };
        let info = ConversationInfo::from_thread(thread, 0);
        assert_eq!(info.agent.as_deref(), Some("support-agent"));
        assert_eq!(
            serde_json::to_value(info.to_openai()).unwrap(),
            json!({"id": "conv_1", "object": "conversation", "created_at": 1_767_225_601_i64, "metadata": {"topic": "demo"}})
        );
    }

    #[test]
    fn recorded_thread_as_conversation_and_turn_inputs() {
        let path = format!(
            "{}/tests/data/mastra_thread.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let thread: MastraThread = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let info = ConversationInfo::from_thread(thread, 0);
        assert_eq!(info.agent.as_deref(), Some("echo-agent"));
        insta::assert_json_snapshot!(info.to_openai(), {".id" => "[conv id]", ".created_at" => "[created_at]"});
        // The last turn of the recorded thread had two user messages as input.
        let messages = recorded("mastra_thread_messages.json");
        let last = messages
            .iter()
            .rev()
            .find(|m| m.role == "assistant")
            .unwrap();
        let texts: Vec<String> = turn_input_items(&messages, &last.id, None)
            .unwrap()
            .iter()
            .map(|i| i["content"][0]["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(texts, ["first", "second"]);
    }

    #[test]
    fn time_round_trip() {
        assert_eq!(
            iso_to_ms("2026-01-01T00:00:00.005Z"),
            Some(1_767_225_600_005)
        );
        assert_eq!(ms_to_iso(1_767_225_600_005), "2026-01-01T00:00:00.005Z");
    }

    #[test]
    fn list_query_parsing() {
        let p = parse_list_query(Some(
            "after=msg_1&limit=3&order=asc&include%5B%5D=message.output_text.logprobs&include[]=reasoning.encrypted_content",
        ))
        .unwrap();
        assert_eq!(p.after.as_deref(), Some("msg_1"));
        assert_eq!((p.limit, p.order), (3, Order::Asc));
        assert_eq!(p.include.len(), 2);
        let d = parse_list_query(None).unwrap();
        assert_eq!((d.limit, d.order, d.after), (20, Order::Desc, None));
        for (q, param) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=x", "limit"),
            ("order=up", "order"),
            ("include[]=nope", "include"),
        ] {
            let e = parse_list_query(Some(q)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{q}");
            assert_eq!(e.status.as_u16(), 400);
        }
        assert_eq!(
            parse_include_query(Some("limit=0&include[]=reasoning.encrypted_content"))
                .unwrap()
                .len(),
            1
        );
    }

    /// Mastra's window semantics, in memory: order by createdAt (ties in storage order), the
    /// inclusive date range, `perPage` from page 0, `hasMore` when the range holds more.
    fn fake_window(thread: &[DbMessage], q: &MessageQuery) -> MessagesPage {
        let mut in_range: Vec<DbMessage> = thread
            .iter()
            .filter(|m| {
                q.start
                    .as_ref()
                    .is_none_or(|s| at_ms(m) >= iso_to_ms(s).unwrap())
            })
            .filter(|m| {
                q.end
                    .as_ref()
                    .is_none_or(|e| at_ms(m) <= iso_to_ms(e).unwrap())
            })
            .cloned()
            .collect();
        // Stable sort: equal timestamps keep storage order (not id order), as SQLite may.
        in_range.sort_by_key(at_ms);
        if q.direction == Direction::Desc {
            in_range.reverse();
        }
        let total = in_range.len();
        let mut window: Vec<DbMessage> = in_range
            .into_iter()
            .skip(q.page * q.per_page)
            .take(q.per_page)
            .collect();
        window.sort_by_key(at_ms);
        MessagesPage {
            messages: window,
            total: Some(total as u64),
            has_more: (q.page + 1) * q.per_page < total,
        }
    }

    /// Pages through `thread` like an SDK's auto-pagination; returns the ids and the number
    /// of windows fetched.
    fn walk(thread: &[DbMessage], order: Order, limit: usize) -> (Vec<String>, usize) {
        let all = keyed_items(thread);
        let mut seen = Vec::new();
        let mut after: Option<ItemPos> = None;
        let mut fetches = 0;
        loop {
            let mut pager = Pager::new(order, limit, after.as_ref());
            while let Some(q) = pager.next_query() {
                fetches += 1;
                pager.feed(fake_window(thread, &q));
                assert!(fetches < 10_000, "pager does not terminate");
            }
            let (items, has_more) = pager.finish();
            assert!(items.len() <= limit);
            seen.extend(items.iter().map(|k| k.id().to_string()));
            if !has_more || items.is_empty() {
                break;
            }
            let last = items.last().unwrap();
            // What the position cache would hold for the cursor.
            let pos = all
                .iter()
                .find(|k| k.id() == last.id())
                .unwrap()
                .pos
                .clone();
            assert_eq!(pos, last.pos);
            after = Some(pos);
        }
        (seen, fetches)
    }

    fn expected(thread: &[DbMessage], order: Order) -> Vec<String> {
        let mut ids: Vec<String> = keyed_items(thread)
            .iter()
            .map(|k| k.id().to_string())
            .collect();
        if order == Order::Desc {
            ids.reverse();
        }
        ids
    }

    #[test]
    fn pager_walks_a_long_thread_in_both_orders() {
        let thread: Vec<DbMessage> = (0..250)
            .map(|i| {
                if i % 10 == 3 {
                    tool_msg(&format!("m{i:04}"), 1_000 + i, &format!("call_{i}"))
                } else {
                    msg(
                        &format!("m{i:04}"),
                        if i % 2 == 0 { "user" } else { "assistant" },
                        1_000 + i,
                        "x",
                    )
                }
            })
            .collect();
        for order in [Order::Asc, Order::Desc] {
            for limit in [1, 3, 20, 100] {
                let (seen, fetches) = walk(&thread, order, limit);
                assert_eq!(seen, expected(&thread, order), "{order:?} limit {limit}");
                let pages = seen.len().div_ceil(limit);
                assert!(
                    fetches <= pages + 1,
                    "{order:?} limit {limit}: {fetches} windows for {pages} pages"
                );
            }
        }
    }

    #[test]
    fn pager_orders_equal_timestamps_by_id_and_never_splits_them() {
        // Groups of equal createdAt, stored out of id order, some larger than a window.
        let mut thread = Vec::new();
        for g in 0..12_i64 {
            let size = [1, 5, 2, 9, 1, 3][g as usize % 6];
            for j in (0..size).rev() {
                thread.push(msg(&format!("g{g:02}-{j}"), "user", 5_000 + g * 7, "x"));
            }
        }
        thread.push(tool_msg("g99-tool", 5_000 + 2 * 7, "call_tie"));
        for order in [Order::Asc, Order::Desc] {
            for limit in [1, 2, 4, 7, 50] {
                let (seen, _) = walk(&thread, order, limit);
                assert_eq!(seen, expected(&thread, order), "{order:?} limit {limit}");
            }
        }
    }

    #[test]
    fn pager_skips_messages_without_items_and_handles_empty_threads() {
        let mut thread = vec![msg("a", "user", 1, "x")];
        let mut empty = msg("b", "assistant", 2, "");
        empty.content.parts = vec![json!({"type": "step-start"})];
        thread.push(empty);
        thread.extend((3..9).map(|i| msg(&format!("c{i}"), "user", i, "x")));
        for order in [Order::Asc, Order::Desc] {
            let (seen, _) = walk(&thread, order, 2);
            assert_eq!(seen, expected(&thread, order));
            let (seen, _) = walk(&[], order, 2);
            assert!(seen.is_empty());
        }
    }

    #[test]
    fn pager_resumes_inside_a_tool_turn() {
        let thread = vec![
            msg("u", "user", 1, "x"),
            created_tool_msg("t", 2, "call_9"),
            msg("v", "user", 3, "y"),
        ];
        let all = keyed_items(&thread);
        let fc = all.iter().find(|k| k.id() == "fc_9").unwrap();
        let mut pager = Pager::new(Order::Asc, 10, Some(&fc.pos));
        while let Some(q) = pager.next_query() {
            pager.feed(fake_window(&thread, &q));
        }
        let (items, more) = pager.finish();
        let ids: Vec<&str> = items.iter().map(|k| k.id()).collect();
        assert_eq!(ids, ["fco_9", "t", "v"]);
        assert!(!more);
        let mut pager = Pager::new(Order::Desc, 10, Some(&fc.pos));
        while let Some(q) = pager.next_query() {
            pager.feed(fake_window(&thread, &q));
        }
        let ids: Vec<String> = pager
            .finish()
            .0
            .iter()
            .map(|k| k.id().to_string())
            .collect();
        assert_eq!(ids, ["u"]);
    }

    #[test]
    fn deleting_items() {
        // A turn's tool (the agent ran it): one mcp_call item beside the answer.
        let turn = tool_msg("t", 2, "call_9");
        let ids_of = |m: &DbMessage| -> Vec<String> {
            message_items(m)
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids_of(&turn), ["mcp_t_call_9", "t"]);
        let ItemDeletion::Rewrite(no_tool) = delete_item(&turn, "mcp_t_call_9") else {
            panic!()
        };
        assert_eq!(ids_of(&no_tool), ["t"]);
        let ItemDeletion::Rewrite(no_text) = delete_item(&turn, "t") else {
            panic!()
        };
        assert_eq!(ids_of(&no_text), ["mcp_t_call_9"]);
        assert_eq!(
            delete_item(&no_text, "mcp_t_call_9"),
            ItemDeletion::DeleteMessage
        );
        // Created through the Conversations API: the client's call and output.
        let t = created_tool_msg("t", 2, "call_9");
        let ItemDeletion::Rewrite(no_text) = delete_item(&t, "t") else {
            panic!()
        };
        let ids: Vec<String> = message_items(&no_text)
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["fc_9", "fco_9"]);
        let ItemDeletion::Rewrite(no_output) = delete_item(&t, "fco_9") else {
            panic!()
        };
        let ids: Vec<String> = message_items(&no_output)
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["fc_9", "t"]);
        let ItemDeletion::Rewrite(no_call) = delete_item(&t, "fc_9") else {
            panic!()
        };
        let ids: Vec<String> = message_items(&no_call)
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["fco_9", "t"]);
        let ItemDeletion::Rewrite(call_only) = delete_item(&no_output, "t") else {
            panic!()
        };
        assert_eq!(delete_item(&call_only, "fc_9"), ItemDeletion::DeleteMessage);
        assert_eq!(
            delete_item(&msg("u", "user", 1, "x"), "u"),
            ItemDeletion::DeleteMessage
        );
        assert_eq!(delete_item(&t, "nope"), ItemDeletion::NotFound);
    }

    #[test]
    fn input_items_of_a_turn() {
        let thread = vec![
            msg("u0", "user", 1, "old"),
            msg("msg_a", "assistant", 2, "old reply"),
            msg("u1", "user", 3, "one"),
            msg("u2", "user", 4, "two"),
            msg("msg_b", "assistant", 5, "reply"),
        ];
        let ids: Vec<String> = turn_input_items(&thread, "msg_b", None)
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["u1", "u2"]);
        assert_eq!(turn_input_items(&thread, "msg_a", None).unwrap().len(), 1);
        assert!(turn_input_items(&thread, "msg_zzz", None).is_none());
        // Not before the turn started, and not what the items API wrote.
        assert_eq!(
            turn_input_items(&thread, "msg_b", Some(4)).unwrap().len(),
            1
        );
        let mut api_made = thread.clone();
        api_made[2].content.metadata = Some(Map::from_iter([(
            MESSAGE_NOTE_KEY.to_string(),
            json!({"origin": ORIGIN_ITEMS}),
        )]));
        assert_eq!(turn_input_items(&api_made, "msg_b", None).unwrap().len(), 1);
        let items: Vec<Value> = (0..7).map(|i| json!({"id": format!("i{i}")})).collect();
        let p = ListParams {
            after: Some("i4".into()),
            limit: 3,
            order: Order::Desc,
            include: vec![],
        };
        let (page, more) = page_in_memory(items.clone(), &p).unwrap();
        assert_eq!(
            page,
            vec![
                json!({"id": "i3"}),
                json!({"id": "i2"}),
                json!({"id": "i1"})
            ]
        );
        assert!(more);
        let p = ListParams {
            after: Some("nope".into()),
            ..p
        };
        assert_eq!(
            page_in_memory(items, &p).unwrap_err().param.as_deref(),
            Some("after")
        );
    }
}
