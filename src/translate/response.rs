//! Mastra Response object → OpenAI Response object, and output items between the two.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::mastra::types::MastraResponse;
use crate::openai::request::CreateResponseRequest;
use crate::openai::response::{
    ConversationRef, InputTokensDetails, OutputItem, OutputTokensDetails, Reasoning, Response,
    TextConfig, TextFormat, Usage,
};
use crate::translate::ids;

/// The key of the gateway's part of a stored response's record, under `providerOptions`
/// (see `translate::record`).
pub const GATEWAY_KEY: &str = "mastra_gateway";

/// What the gateway keeps with a stored response beyond Mastra's record fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayNote {
    /// OpenAI's status (`completed`, `incomplete`, `failed`); Mastra's record knows only
    /// completed and incomplete.
    pub status: String,
    pub error: Value,
    pub incomplete_details: Value,
    /// The conversation the client named, if any.
    pub conversation: Option<String>,
    /// When the answer's message was stored (its `createdAt`): where a fork from this
    /// response cuts the thread.
    pub answered_at: Option<String>,
    /// The ids of the response's output items, in order (Mastra adds items of its own
    /// derivation after them on retrieval; those are not the response's).
    pub items: Vec<String>,
    pub echo: RequestEcho,
}

/// The gateway's note of a stored response Mastra returned, when the gateway stored it.
pub fn gateway_note(response: &MastraResponse) -> Option<GatewayNote> {
    let note = response.provider_options.get(GATEWAY_KEY)?;
    serde_json::from_value(note.clone()).ok()
}

/// What the OpenAI Response echoes that Mastra does not keep: the request's own parameters.
/// The gateway stores it with the responses it stores (see `translate::record`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestEcho {
    pub instructions: Option<Value>,
    pub metadata: Map<String, Value>,
    pub temperature: f64,
    pub top_p: f64,
    pub top_logprobs: u64,
    pub max_output_tokens: Option<u64>,
    pub max_tool_calls: Option<u64>,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub parallel_tool_calls: bool,
    pub text: Option<Value>,
    pub reasoning: Reasoning,
    pub truncation: String,
    pub user: Option<String>,
    pub safety_identifier: Option<String>,
    pub prompt_cache_key: Option<String>,
}

impl Default for RequestEcho {
    /// OpenAI's defaults; what a retrieved response shows, since Mastra does not store these.
    fn default() -> Self {
        Self {
            instructions: None,
            metadata: Map::new(),
            temperature: 1.0,
            top_p: 1.0,
            top_logprobs: 0,
            max_output_tokens: None,
            max_tool_calls: None,
            tool_choice: Value::String("auto".into()),
            tools: Vec::new(),
            parallel_tool_calls: true,
            text: None,
            reasoning: Reasoning::default(),
            truncation: "disabled".into(),
            user: None,
            safety_identifier: None,
            prompt_cache_key: None,
        }
    }
}

impl RequestEcho {
    pub fn from_request(req: &CreateResponseRequest) -> Self {
        let d = Self::default();
        Self {
            instructions: req.instructions.clone(),
            metadata: req.metadata.clone().unwrap_or_default(),
            temperature: req.temperature.unwrap_or(d.temperature),
            top_p: req.top_p.unwrap_or(d.top_p),
            top_logprobs: req.top_logprobs.unwrap_or(0),
            max_output_tokens: req.max_output_tokens,
            max_tool_calls: req.max_tool_calls,
            tool_choice: req.tool_choice.clone().unwrap_or(d.tool_choice),
            tools: req.tools.iter().flatten().map(echoed_tool).collect(),
            parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
            text: req.text.clone(),
            reasoning: match &req.reasoning {
                Some(Value::Object(r)) => Reasoning {
                    effort: r.get("effort").cloned().unwrap_or(Value::Null),
                    summary: r.get("summary").cloned().unwrap_or(Value::Null),
                },
                _ => d.reasoning,
            },
            truncation: req.truncation.clone().unwrap_or(d.truncation),
            user: req.user.clone(),
            safety_identifier: req.safety_identifier.clone(),
            prompt_cache_key: req.prompt_cache_key.clone(),
        }
    }
}

/// A function tool as OpenAI echoes it: every key, `description` and `parameters` null when
/// absent, `strict` true unless the caller said otherwise.
fn echoed_tool(tool: &Value) -> Value {
    let Some(t) = tool
        .as_object()
        .filter(|t| t.get("type") == Some(&json!("function")))
    else {
        return tool.clone();
    };
    let get = |k: &str| t.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "type": "function",
        "name": get("name"),
        "description": get("description"),
        "parameters": get("parameters"),
        "strict": t.get("strict").filter(|v| !v.is_null()).cloned().unwrap_or(json!(true)),
    })
}

/// Everything besides Mastra's object that shapes the OpenAI one.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseContext {
    /// What `model` shows: the agent id the request resolved to.
    pub model: String,
    /// The conversation the client named; `None` shows `conversation: null`, as OpenAI does
    /// for responses chained by `previous_response_id` or stored on their own.
    pub conversation: Option<String>,
    pub echo: RequestEcho,
    /// The `previous_response_id` the turn continues (as the client sent it).
    pub previous_response_id: Option<String>,
    pub store: bool,
}

/// A Response as a turn starts: `in_progress`, no output, no usage; the request's echo.
pub fn new_response(id: String, created_at: i64, ctx: &ResponseContext) -> Response {
    let echo = &ctx.echo;
    Response {
        id,
        object: "response",
        created_at,
        status: "in_progress".into(),
        completed_at: None,
        background: false,
        error: Value::Null,
        incomplete_details: Value::Null,
        instructions: echo.instructions.clone().unwrap_or(Value::Null),
        max_output_tokens: echo.max_output_tokens,
        max_tool_calls: echo.max_tool_calls,
        model: ctx.model.clone(),
        output: Vec::new(),
        parallel_tool_calls: echo.parallel_tool_calls,
        previous_response_id: ctx.previous_response_id.clone(),
        conversation: ctx
            .conversation
            .as_ref()
            .map(|id| ConversationRef { id: id.clone() }),
        prompt_cache_key: echo.prompt_cache_key.clone(),
        safety_identifier: echo.safety_identifier.clone(),
        reasoning: echo.reasoning.clone(),
        service_tier: "default",
        store: ctx.store,
        temperature: echo.temperature,
        top_p: echo.top_p,
        top_logprobs: echo.top_logprobs,
        text: echo.text.as_ref().map_or_else(default_text, normalize_text),
        tool_choice: echo.tool_choice.clone(),
        tools: echo.tools.clone(),
        truncation: echo.truncation.clone(),
        usage: None,
        user: echo.user.clone(),
        metadata: echo.metadata.clone(),
    }
}

/// The OpenAI Response for a stored response Mastra returned. When the gateway stored it, its
/// note (`translate::record`) gives what Mastra's record has no field for (status, error,
/// incomplete details) and which output items are the response's; a response Mastra stored on
/// its own shows its tool turns as the tools the server ran.
pub fn response_from_mastra(m: MastraResponse, ctx: &ResponseContext) -> Response {
    let note = gateway_note(&m);
    let mut r = new_response(
        ids::response_id_to_openai(&m.id),
        m.created_at.unwrap_or(0),
        ctx,
    );
    if ctx.echo.text.is_none() && !m.text.is_null() {
        r.text = normalize_text(&m.text);
    }
    if ctx.echo.instructions.is_none() {
        r.instructions = m.instructions.clone();
    }
    r.previous_response_id = m
        .previous_response_id
        .as_deref()
        .map(ids::response_id_to_openai);
    r.store = m.store.unwrap_or(true);
    r.usage = m.usage.as_ref().map(|u| Usage {
        input_tokens: u.input_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: u
                .input_tokens_details
                .as_ref()
                .map_or(0, |d| d.cached_tokens),
        },
        output_tokens: u.output_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u
                .output_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
        },
        total_tokens: u.input_tokens + u.output_tokens,
    });
    let status = m.status.clone().unwrap_or_else(|| "completed".into());
    match note {
        Some(note) => {
            r.status = note.status.clone();
            r.error = note.error.clone();
            r.incomplete_details = note.incomplete_details.clone();
            // Mastra lists the gateway's items first (in order), then items of its own
            // derivation from the stored messages, which are not the response's.
            r.output = if note.items.is_empty() {
                legacy_output(&m.id, &ctx.model, m.output)
            } else {
                m.output
                    .into_iter()
                    .filter(|item| {
                        serde_json::from_str::<ItemId>(item.get())
                            .ok()
                            .and_then(|i| i.id)
                            .is_some_and(|id| note.items.iter().any(|n| *n == id))
                    })
                    .map(OutputItem::AsIs)
                    .collect()
            };
        }
        None => {
            r.status = status;
            r.error = m.error;
            r.incomplete_details = m.incomplete_details;
            r.output = legacy_output(&m.id, &ctx.model, m.output);
        }
    }
    if r.status == "completed" {
        r.completed_at = m.completed_at;
    }
    if r.status == "failed" {
        r.usage = None;
    }
    r
}

#[derive(Deserialize)]
struct ItemId<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
}

/// The output of a response Mastra stored itself: its tool calls (which Mastra ran) as
/// `mcp_call` items, each with its result, then the rest as OpenAI writes them.
fn legacy_output(
    message_id: &str,
    server_label: &str,
    output: Vec<Box<RawValue>>,
) -> Vec<OutputItem> {
    let items: Vec<Value> = output
        .into_iter()
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect();
    let result_of = |call_id: &str| {
        items.iter().find(|i| {
            i.get("type").and_then(Value::as_str) == Some("function_call_output")
                && i.get("call_id").and_then(Value::as_str) == Some(call_id)
        })
    };
    let mut out = Vec::new();
    for item in &items {
        match item.get("type").and_then(Value::as_str) {
            Some("function_call") => {
                let call_id = item
                    .get("call_id")
                    .or_else(|| item.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let arguments = match item.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => "{}".into(),
                };
                let output = result_of(call_id)
                    .and_then(|o| o.get("output"))
                    .map(|o| match o {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    });
                out.push(OutputItem::Rewritten(json!({
                    "id": ids::mcp_call_item_id(message_id, call_id),
                    "type": "mcp_call",
                    "server_label": server_label,
                    "name": item.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": arguments,
                    "output": output,
                    "error": null,
                    "status": "completed",
                    "approval_request_id": null,
                })));
            }
            Some("function_call_output") => {}
            _ => out.push(OutputItem::Rewritten(output_item_from_mastra(item.clone()))),
        }
    }
    out
}

/// `text` when neither the request nor Mastra gave one.
fn default_text() -> TextConfig {
    TextConfig {
        format: TextFormat::Text,
        verbosity: Value::String("medium".into()),
    }
}

/// `text` always has `format` and `verbosity`.
fn normalize_text(text: &Value) -> TextConfig {
    let default = default_text();
    TextConfig {
        format: text
            .get("format")
            .filter(|f| !f.is_null())
            .cloned()
            .map_or(default.format, TextFormat::Given),
        verbosity: text
            .get("verbosity")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(default.verbosity),
    }
}

/// [`output_item_from_mastra`] for an item as Mastra wrote it: a message already in OpenAI's
/// shape (a `status`, and `output_text` parts with `annotations` and `logprobs`) passes through
/// untouched; anything else is parsed and rewritten.
pub fn output_item_from_mastra_raw(item: Box<RawValue>) -> OutputItem {
    if ReadyMessage::matches(item.get()) {
        return OutputItem::AsIs(item);
    }
    match serde_json::from_str(item.get()) {
        Ok(value) => OutputItem::Rewritten(output_item_from_mastra(value)),
        Err(_) => OutputItem::AsIs(item),
    }
}

/// A message item that [`output_item_from_mastra`] would leave as it is. Any other key, or a
/// missing one, makes it take the general path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadyMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    role: Option<IgnoredAny>,
    #[allow(dead_code)]
    status: IgnoredAny,
    #[serde(borrow)]
    content: Vec<ReadyTextPart<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ReadyTextPart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    text: IgnoredAny,
    annotations: IgnoredAny,
    logprobs: IgnoredAny,
}

impl ReadyMessage<'_> {
    fn matches(json: &str) -> bool {
        serde_json::from_str::<ReadyMessage>(json)
            .is_ok_and(|m| m.kind == "message" && m.content.iter().all(|p| p.kind == "output_text"))
    }
}

/// One Mastra output item → the OpenAI item: `fc_`/`fco_` ids for tool items, `status` always
/// set, `annotations`/`logprobs` on every text part.
pub fn output_item_from_mastra(item: Value) -> Value {
    let Value::Object(mut obj) = item else {
        return item;
    };
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match kind.as_str() {
        "function_call" | "function_call_output" => {
            let call_id = obj
                .get("call_id")
                .and_then(Value::as_str)
                .or_else(|| obj.get("id").and_then(Value::as_str))
                .unwrap_or_default()
                .to_string();
            let id = if kind == "function_call" {
                ids::function_call_item_id(&call_id)
            } else {
                ids::function_call_output_item_id(&call_id)
            };
            obj.insert("id".into(), Value::String(id));
            obj.insert("call_id".into(), Value::String(call_id));
            if kind == "function_call" {
                if let Some(args) = obj.get("arguments").filter(|a| !a.is_string()) {
                    let s = args.to_string();
                    obj.insert("arguments".into(), Value::String(s));
                }
            } else if let Some(out) = obj
                .get("output")
                .filter(|o| !o.is_string() && !o.is_array())
            {
                let s = out.to_string();
                obj.insert("output".into(), Value::String(s));
            }
            obj.entry("status").or_insert_with(|| json!("completed"));
        }
        "message" => {
            obj.entry("status").or_insert_with(|| json!("completed"));
            if let Some(Value::Array(parts)) = obj.get_mut("content") {
                for part in parts {
                    normalize_text_part(part);
                }
            }
        }
        _ => {}
    }
    Value::Object(obj)
}

/// `output_text` parts carry `annotations: []` and `logprobs: []` when Mastra leaves them out.
pub fn normalize_text_part(part: &mut Value) {
    if let Some(p) = part.as_object_mut() {
        if p.get("type").and_then(Value::as_str) == Some("output_text") {
            p.entry("annotations").or_insert_with(|| json!([]));
            p.entry("logprobs").or_insert_with(|| json!([]));
        }
    }
}

/// [`normalize_text_part`] for a part as Mastra wrote it: `None` when it certainly needs nothing
/// (not an `output_text` part, or one with both `annotations` and `logprobs` set), so it can be
/// copied as it is without building a tree; else the part as `normalize_text_part` writes it.
pub fn text_part_from_mastra_raw(raw: &RawValue) -> Option<Value> {
    #[derive(Deserialize)]
    struct PartShape<'a> {
        #[serde(rename = "type", default, borrow)]
        kind: Option<Cow<'a, str>>,
        #[serde(default)]
        annotations: Option<IgnoredAny>,
        #[serde(default)]
        logprobs: Option<IgnoredAny>,
    }
    let shape = serde_json::from_str::<PartShape>(raw.get()).ok()?;
    if shape.kind.as_deref() != Some("output_text")
        || (shape.annotations.is_some() && shape.logprobs.is_some())
    {
        return None;
    }
    let mut part: Value = serde_json::from_str(raw.get()).ok()?;
    normalize_text_part(&mut part);
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw part comes out as `normalize_text_part` writes it; the parts that certainly need
    /// nothing are copied as they are (`None`).
    #[test]
    fn raw_text_parts_agree_with_normalize_text_part() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        let complete = r#"{"type":"output_text","text":"hi","annotations":[],"logprobs":[]}"#;
        let refusal = r#"{"type":"refusal","refusal":"no"}"#;
        for part in [complete, refusal] {
            assert_eq!(text_part_from_mastra_raw(&raw(part)), None, "{part}");
        }
        for part in [
            complete,
            refusal,
            r#"{"type":"output_text","text":"hi"}"#,
            r#"{"type":"output_text","text":"hi","annotations":[{"x":1}]}"#,
            r#"{"type":"output_text","text":"hi","annotations":null,"logprobs":[]}"#,
        ] {
            let mut expected: Value = serde_json::from_str(part).unwrap();
            normalize_text_part(&mut expected);
            let written = text_part_from_mastra_raw(&raw(part))
                .unwrap_or_else(|| serde_json::from_str(part).unwrap());
            assert_eq!(written, expected, "{part}");
        }
    }

    fn mastra(name: &str) -> MastraResponse {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn ctx() -> ResponseContext {
        ResponseContext {
            model: "support-agent".into(),
            conversation: None,
            echo: RequestEcho::default(),
            previous_response_id: None,
            store: true,
        }
    }

    #[test]
    fn text_response() {
        // Through serde_json, as the gateway writes it (output items may be raw JSON).
        insta::assert_json_snapshot!(serde_json::to_value(response_from_mastra(
            mastra("mastra_response_text.json"),
            &ctx()
        ))
        .unwrap());
    }

    #[test]
    fn tool_response_with_conversation_and_echo() {
        let req: CreateResponseRequest = serde_json::from_value(json!({
            "model": "support-agent", "input": "CALL_TOOL Rome", "temperature": 0.5,
            "metadata": {"team": "a"}, "instructions": "Be nice.", "tool_choice": "auto",
            "reasoning": {"effort": "low"}, "max_output_tokens": 100, "user": "u-1"
        }))
        .unwrap();
        let c = ResponseContext {
            model: "support-agent".into(),
            conversation: Some("thread-9".into()),
            echo: RequestEcho::from_request(&req),
            previous_response_id: None,
            store: true,
        };
        insta::assert_json_snapshot!(serde_json::to_value(response_from_mastra(
            mastra("mastra_response_tool.json"),
            &c
        ))
        .unwrap());
    }

    #[test]
    fn output_items_pass_through_only_when_already_in_openai_shape() {
        let ready = r#"{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"hi \"x\"","annotations":[],"logprobs":[]}]}"#;
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        let out = |item: OutputItem| serde_json::to_string(&item).unwrap();
        // Already OpenAI's shape: the very bytes Mastra sent.
        let item = output_item_from_mastra_raw(raw(ready));
        assert!(matches!(item, OutputItem::AsIs(_)));
        assert_eq!(out(item), ready);
        // Anything to fill in or rewrite takes the general path, with the same result as before.
        for mastra in [
            r#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]}"#,
            r#"{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"a","annotations":[],"logprobs":[]}],"extra":1}"#,
            r#"{"type":"function_call","call_id":"c1","name":"f","arguments":{"a":1}}"#,
            r#"{"type":"message","status":"completed","content":[{"type":"refusal","refusal":"no"}]}"#,
        ] {
            let item = output_item_from_mastra_raw(raw(mastra));
            assert!(matches!(item, OutputItem::Rewritten(_)), "{mastra}");
            let general = output_item_from_mastra(serde_json::from_str(mastra).unwrap());
            assert_eq!(out(item), serde_json::to_string(&general).unwrap());
        }
    }

    #[test]
    fn every_required_key_is_present() {
        let v =
            serde_json::to_value(response_from_mastra(MastraResponse::default(), &ctx())).unwrap();
        for key in [
            "id",
            "object",
            "created_at",
            "status",
            "completed_at",
            "background",
            "error",
            "incomplete_details",
            "instructions",
            "max_output_tokens",
            "max_tool_calls",
            "model",
            "output",
            "parallel_tool_calls",
            "previous_response_id",
            "conversation",
            "prompt_cache_key",
            "safety_identifier",
            "reasoning",
            "service_tier",
            "store",
            "temperature",
            "top_p",
            "top_logprobs",
            "text",
            "tool_choice",
            "tools",
            "truncation",
            "usage",
            "user",
            "metadata",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["object"], "response");
        assert_eq!(v["metadata"], json!({}));
        assert!(v["created_at"].is_i64());
    }
}
