//! `POST /v1/responses` (OpenAI) → a [`Turn`] on Mastra's native routes.
//!
//! Validation happens here, before anything goes upstream: what OpenAI would refuse is refused
//! with OpenAI's codes, and what Mastra cannot honour yet is refused naming the field, never
//! silently dropped. What SDKs send by default is accepted and echoed.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::mastra::path::{is_plausible_id, quoted};
use crate::openai::request::CreateResponseRequest;
use crate::translate::turn::{Memory, ModelSettings, Turn};

/// Spec fields that are accepted and ignored (Mastra has no equivalent; the answer is unaffected).
const ACCEPTED_IGNORED: &[&str] = &[
    "prompt_cache_retention",
    "prompt_cache_options",
    "context_management",
    "moderation",
];

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

/// OpenAI's metadata limits: 16 pairs, keys ≤ 64 chars, string values ≤ 512 chars.
pub fn validate_metadata(metadata: &Map<String, Value>) -> Result<(), ApiError> {
    if metadata.len() > 16 {
        return Err(ApiError::invalid_request(format!(
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with {} properties instead.",
            metadata.len()
        ))
        .with_param("metadata")
        .with_code("object_above_max_properties"));
    }
    for (key, value) in metadata {
        if key.chars().count() > 64 {
            return Err(ApiError::invalid_request(format!(
                "Invalid 'metadata': key '{key}' is longer than 64 characters."
            ))
            .with_param("metadata")
            .with_code("invalid_value"));
        }
        match value {
            Value::String(s) if s.chars().count() > 512 => {
                return Err(ApiError::invalid_request(format!(
                    "Invalid 'metadata': the value of '{key}' is longer than 512 characters."
                ))
                .with_param("metadata")
                .with_code("invalid_value"))
            }
            Value::String(_) => {}
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "Invalid 'metadata': the value of '{key}' must be a string."
                ))
                .with_param("metadata")
                .with_code("invalid_type"))
            }
        }
    }
    Ok(())
}

/// Everything about the request that does not depend on the upstream.
pub fn validate(req: &CreateResponseRequest) -> Result<(), ApiError> {
    if let Some(key) = req
        .rest
        .keys()
        .find(|k| !ACCEPTED_IGNORED.contains(&k.as_str()))
    {
        if key == "prompt" {
            return Err(ApiError::unsupported(
                "prompt",
                "stored prompt templates are not available; send `instructions` and `input`",
            ));
        }
        return Err(ApiError::unknown_parameter(key));
    }
    if req.background == Some(true) {
        return Err(ApiError::unsupported(
            "background",
            "background responses are not available; Mastra answers in the foreground (use stream=true for long turns)",
        ));
    }
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::unsupported(
            "tools",
            "client-defined tools are not available; the agent's own tools run inside Mastra",
        ));
    }
    if req.previous_response_id.is_some() && req.conversation.is_some() {
        return Err(ApiError::invalid_request(
            "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.",
        )
        .with_param("conversation")
        .with_code("mutually_exclusive_parameters"));
    }
    if let Some(c) = &req.conversation {
        if !is_plausible_id(c.id()) {
            return Err(ApiError::invalid_value(
                "conversation",
                format!(
                    "Invalid 'conversation': '{}' is not a valid conversation id.",
                    quoted(c.id())
                ),
            ));
        }
    }
    if let Some(prev) = &req.previous_response_id {
        // As an unknown id is answered: it cannot name a stored response.
        if !is_plausible_id(prev) {
            return Err(ApiError::previous_response_not_found(&quoted(prev)));
        }
    }
    if let Some(opts) = &req.stream_options {
        let Some(map) = opts.as_object() else {
            return Err(ApiError::invalid_type(
                "stream_options",
                "expected an object",
            ));
        };
        if let Some(k) = map.keys().find(|k| k.as_str() != "include_obfuscation") {
            return Err(ApiError::unknown_parameter(&format!("stream_options.{k}")));
        }
    }
    if let Some(m) = &req.metadata {
        validate_metadata(m)?;
    }
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(ApiError::invalid_value(
                "temperature",
                format!("Invalid 'temperature': {t} is outside the range 0 to 2."),
            ));
        }
    }
    if let Some(p) = req.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(ApiError::invalid_value(
                "top_p",
                format!("Invalid 'top_p': {p} is outside the range 0 to 1."),
            ));
        }
    }
    if let Some(n) = req.max_output_tokens {
        if n < 16 {
            return Err(ApiError::invalid_value(
                "max_output_tokens",
                format!("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {n} instead."),
            ));
        }
    }
    if let Some(t) = req.truncation.as_deref() {
        if t != "auto" && t != "disabled" {
            return Err(ApiError::invalid_value(
                "truncation",
                format!("Invalid value: '{t}'. Supported values are: 'auto' and 'disabled'."),
            ));
        }
    }
    for (i, inc) in req.include.iter().flatten().enumerate() {
        if !INCLUDE_VALUES.contains(&inc.as_str()) {
            return Err(ApiError::invalid_value(
                &format!("include[{i}]"),
                format!(
                    "Invalid value: '{inc}'. Supported values are: {}.",
                    INCLUDE_VALUES.join(", ")
                ),
            ));
        }
    }
    if let Some(instr) = &req.instructions {
        if !instr.is_string() {
            return Err(ApiError::invalid_type("instructions", "expected a string"));
        }
    }
    if let Some(text) = &req.text {
        text_format(text)?;
    }
    Ok(())
}

/// `server.max_input_items` / `server.max_input_bytes`: most items in `input`, most bytes of
/// text in it (every string, keys included, counted once); over either: 400 naming `input`.
pub fn check_input_size(
    input: Option<&Value>,
    max_items: usize,
    max_bytes: usize,
) -> Result<(), ApiError> {
    let Some(input) = input else { return Ok(()) };
    if let Value::Array(items) = input {
        if items.len() > max_items {
            return Err(ApiError::invalid_value(
                "input",
                format!(
                    "Invalid 'input': array too long. Expected an array with at most {max_items} items, but got an array with {} items instead.",
                    items.len()
                ),
            )
            .with_code("array_above_max_length"));
        }
    }
    fn text_bytes(v: &Value, budget: usize) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(a) => {
                let mut n = 0;
                for x in a {
                    n += text_bytes(x, budget);
                    if n > budget {
                        break;
                    }
                }
                n
            }
            Value::Object(o) => {
                let mut n = 0;
                for (k, x) in o {
                    n += k.len() + text_bytes(x, budget);
                    if n > budget {
                        break;
                    }
                }
                n
            }
            _ => 0,
        }
    }
    let bytes = text_bytes(input, max_bytes);
    if bytes > max_bytes {
        return Err(ApiError::invalid_value(
            "input",
            format!(
                "Invalid 'input': too large. Expected at most {max_bytes} bytes of text, but got more."
            ),
        )
        .with_code("string_above_max_length"));
    }
    Ok(())
}

/// The `text.format` object when it asks for structured output (Mastra's `structuredOutput`);
/// `None` for plain text.
fn text_format(text: &Value) -> Result<Option<&str>, ApiError> {
    let Some(obj) = text.as_object() else {
        return Err(ApiError::invalid_type("text", "expected an object"));
    };
    let Some(format) = obj.get("format") else {
        return Ok(None);
    };
    if format.is_null() {
        return Ok(None);
    }
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some(t @ ("json_object" | "json_schema")) => {
            if t == "json_schema" {
                for key in ["name", "schema"] {
                    if format.get(key).is_none() {
                        return Err(ApiError::missing_parameter(&format!("text.format.{key}")));
                    }
                }
            }
            Ok(Some(t))
        }
        Some(other) => Err(ApiError::invalid_value(
            "text.format.type",
            format!("Invalid value: '{other}'. Supported values are: 'text', 'json_object' and 'json_schema'."),
        )),
        None => Err(ApiError::missing_parameter("text.format.type")),
    }
}

/// The turn a request asks for, on agent `agent` with `memory` (the plan's thread, if any).
/// `req` must have passed [`validate`]. `new_id` names the input messages the gateway stores.
pub fn turn_from_request(
    req: &CreateResponseRequest,
    agent: &str,
    memory: Option<Memory>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Turn, ApiError> {
    let messages = match &req.input {
        None | Some(Value::Null) => return Err(ApiError::missing_parameter("input")),
        Some(v) => input_messages(v, new_id)?,
    };
    let structured_output = match &req.text {
        Some(t) => match text_format(t)? {
            Some("json_schema") => t
                .pointer("/format/schema")
                .map(|schema| json!({"schema": schema})),
            // Any JSON object, as Mastra's own Responses route asks for it.
            Some(_) => Some(json!({
                "schema": {"type": "object", "additionalProperties": true},
                "jsonPromptInjection": true
            })),
            None => None,
        },
        None => None,
    };
    let mut provider_options = Map::new();
    if req.parallel_tool_calls == Some(false) {
        // Not a Mastra model setting: the providers that support it take it this way.
        provider_options.insert("openai".into(), json!({"parallelToolCalls": false}));
        provider_options.insert("anthropic".into(), json!({"disableParallelToolUse": true}));
    }
    Ok(Turn {
        agent: agent.to_string(),
        memory,
        messages,
        client_tools: Map::new(),
        settings: ModelSettings {
            max_output_tokens: req.max_output_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            ..ModelSettings::default()
        },
        tool_choice: tool_choice(req.tool_choice.as_ref())?,
        instructions: req
            .instructions
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string),
        structured_output,
        provider_options,
    })
}

/// `tool_choice` under Mastra's names: `none` (no tools), `auto`, `required`.
fn tool_choice(choice: Option<&Value>) -> Result<Option<Value>, ApiError> {
    match choice {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if matches!(s.as_str(), "none" | "auto" | "required") => {
            Ok(Some(json!(s)))
        }
        Some(Value::String(s)) => Err(ApiError::invalid_value(
            "tool_choice",
            format!("Invalid value: '{s}'. Supported values are: 'none', 'auto' and 'required'."),
        )),
        Some(Value::Object(o)) if o.get("type").and_then(Value::as_str) == Some("function") => {
            Err(ApiError::unsupported(
                "tool_choice",
                "a function tool can only be forced among client-defined tools, which are not available",
            ))
        }
        Some(_) => Err(ApiError::unsupported(
            "tool_choice",
            "only 'none', 'auto' and 'required' are available",
        )),
    }
}

/// The request's `input` as Mastra's input messages. Messages the gateway stores get ids of its
/// own (so that it can find them again).
fn input_messages(
    input: &Value,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<Value>, ApiError> {
    match input {
        Value::String(s) => Ok(vec![json!({"id": new_id(), "role": "user", "content": s})]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| input_message(i, item, new_id))
            .collect(),
        _ => Err(ApiError::invalid_type(
            "input",
            "expected a string or an array of input items",
        )),
    }
}

fn input_message(
    i: usize,
    item: &Value,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Value, ApiError> {
    let InputMessage { role, content } = translate_item(i, item)?;
    let texts: Vec<&str> = match &content {
        InputContent::Text(t) => vec![*t],
        InputContent::Parts(parts) => parts.iter().map(|p| p.text).collect(),
    };
    Ok(match role {
        // Mastra's memory keeps no system messages: they instruct this turn only.
        "system" | "developer" => json!({"role": "system", "content": texts.join("\n")}),
        "assistant" => json!({
            "role": "assistant",
            "content": texts.iter().map(|t| json!({"type": "text", "text": t})).collect::<Vec<_>>(),
        }),
        _ => match content {
            InputContent::Text(t) => json!({"id": new_id(), "role": "user", "content": t}),
            InputContent::Parts(_) => json!({
                "id": new_id(),
                "role": "user",
                "content": texts.iter().map(|t| json!({"type": "text", "text": t})).collect::<Vec<_>>(),
            }),
        },
    })
}

/// One input message item, checked: its role and its text.
struct InputMessage<'a> {
    role: &'a str,
    content: InputContent<'a>,
}

enum InputContent<'a> {
    Text(&'a str),
    Parts(Vec<InputPart<'a>>),
}

struct InputPart<'a> {
    text: &'a str,
}

fn translate_item(i: usize, item: &Value) -> Result<InputMessage<'_>, ApiError> {
    let param = format!("input[{i}]");
    let Some(obj) = item.as_object() else {
        return Err(ApiError::invalid_type(&param, "expected an object"));
    };
    match obj.get("type").and_then(Value::as_str) {
        None | Some("message") => {}
        Some("function_call_output") => {
            return Err(ApiError::unsupported(
                &param,
                "function_call_output items are not accepted; the agent's tools run inside Mastra, which sends the results itself",
            ))
        }
        Some(other) => {
            return Err(ApiError::unsupported(
                &param,
                &format!("`{other}` input items are not available; send message items"),
            ))
        }
    }
    let role = match obj.get("role") {
        None => return Err(ApiError::missing_parameter(&format!("{param}.role"))),
        Some(Value::String(r)) => r.as_str(),
        Some(_) => {
            return Err(ApiError::invalid_type(
                &format!("{param}.role"),
                "expected a string",
            ))
        }
    };
    if !matches!(role, "user" | "assistant" | "system" | "developer") {
        return Err(ApiError::invalid_value(
            &format!("{param}.role"),
            format!("Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system', and 'developer'."),
        ));
    }
    let content = match obj.get("content") {
        None => return Err(ApiError::missing_parameter(&format!("{param}.content"))),
        Some(Value::String(s)) => InputContent::Text(s),
        Some(Value::Array(parts)) => InputContent::Parts(
            parts
                .iter()
                .enumerate()
                .map(|(j, part)| translate_part(&param, j, part))
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::invalid_type(
                &format!("{param}.content"),
                "expected a string or an array of content parts",
            ))
        }
    };
    Ok(InputMessage { role, content })
}

fn translate_part<'a>(
    item_param: &str,
    j: usize,
    part: &'a Value,
) -> Result<InputPart<'a>, ApiError> {
    let param = format!("{item_param}.content[{j}]");
    let kind = part.get("type").and_then(Value::as_str);
    match kind {
        Some("input_text" | "output_text" | "text") => match part.get("text") {
            Some(Value::String(text)) => Ok(InputPart { text }),
            None => Err(ApiError::missing_parameter(&format!("{param}.text"))),
            Some(_) => Err(ApiError::invalid_type(
                &format!("{param}.text"),
                "expected a string",
            )),
        },
        Some(kind @ ("input_image" | "input_file" | "input_audio")) => Err(ApiError::unsupported(
            &param,
            &format!("`{kind}` content is not available; this gateway forwards text only"),
        )),
        Some(other) => Err(ApiError::unsupported(
            &param,
            &format!("`{other}` content parts are not available in input"),
        )),
        None => Err(ApiError::missing_parameter(&format!("{param}.type"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> CreateResponseRequest {
        serde_json::from_value(v).unwrap()
    }

    /// The native request body of a request (on agent `support-agent`, no memory).
    fn body(v: Value) -> Value {
        let r = req(v);
        validate(&r).unwrap();
        let mut n = 0;
        let turn = turn_from_request(&r, "support-agent", None, &mut || {
            n += 1;
            format!("msg_{n}")
        })
        .unwrap();
        serde_json::from_slice(&crate::translate::native::request_body(&turn)).unwrap()
    }

    fn refused(v: Value) -> ApiError {
        let r = req(v);
        validate(&r)
            .and_then(|_| {
                turn_from_request(&r, "support-agent", None, &mut String::new).map(|_| ())
            })
            .unwrap_err()
    }

    #[test]
    fn string_input_with_defaults() {
        insta::assert_json_snapshot!(body(json!({"model":"support-agent","input":"hi"})));
    }

    #[test]
    fn full_request_with_sdk_defaults() {
        insta::assert_json_snapshot!(body(json!({
            "model": "support-agent",
            "input": [
                {"role":"developer","content":"be brief"},
                {"role":"user","content":"hi"},
                {"type":"message","role":"user","content":[{"type":"input_text","text":"there"}]},
                {"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"old","annotations":[]}]}
            ],
            "instructions": "You are terse.",
            "previous_response_id": "resp_abc",
            "store": false,
            "tools": [], "tool_choice": "auto", "parallel_tool_calls": true,
            "temperature": 0.2, "top_p": 0.9, "max_output_tokens": 256, "user": "u1",
            "truncation": "disabled", "include": ["message.output_text.logprobs"],
            "reasoning": {"effort": null}, "stream_options": {"include_obfuscation": false},
            "metadata": {"k": "v"},
            "text": {"format": {"type":"json_schema","name":"x","schema":{"type":"object"},"strict":true}}
        })));
    }

    #[test]
    fn conversation_forms() {
        // The thread is the plan's (tested there); both forms name the same conversation.
        let a = req(json!({"model":"m","input":"hi","conversation":"thread-1"}));
        let b = req(json!({"model":"m","input":"hi","conversation":{"id":"thread-1"}}));
        assert_eq!(a.conversation.as_ref().map(|c| c.id()), Some("thread-1"));
        assert_eq!(b.conversation.as_ref().map(|c| c.id()), Some("thread-1"));
    }

    #[test]
    fn settings_reach_the_model_under_mastras_names() {
        let b = body(
            json!({"model":"m","input":"hi","max_output_tokens":64,"temperature":0.5,
            "top_p":0.25,"tool_choice":"none","parallel_tool_calls":false}),
        );
        assert_eq!(
            b["modelSettings"],
            json!({"maxOutputTokens": 64, "temperature": 0.5, "topP": 0.25})
        );
        assert_eq!(b["toolChoice"], "none");
        assert_eq!(b["providerOptions"]["openai"]["parallelToolCalls"], false);
        let j = body(json!({"model":"m","input":"hi","text":{"format":{"type":"json_object"}}}));
        assert_eq!(j["structuredOutput"]["jsonPromptInjection"], true);
    }

    #[test]
    fn plain_text_format_is_not_forwarded() {
        let b = body(
            json!({"model":"m","input":"hi","text":{"format":{"type":"text"},"verbosity":"low"}}),
        );
        assert!(b.get("structuredOutput").is_none());
    }

    #[test]
    fn refusals_name_the_parameter() {
        let cases = [
            (
                json!({"input":"x","tools":[{"type":"function","name":"f"}]}),
                "tools",
                "unsupported_parameter",
            ),
            (
                json!({"input":"x","background":true}),
                "background",
                "unsupported_parameter",
            ),
            (
                json!({"input":[{"type":"function_call_output","call_id":"c","output":"{}"}]}),
                "input[0]",
                "unsupported_parameter",
            ),
            (
                json!({"input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"http://x"}]}]}),
                "input[0].content[1]",
                "unsupported_parameter",
            ),
            (
                json!({"input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}),
                "input[0].content[0]",
                "unsupported_parameter",
            ),
            (
                json!({"input":[{"content":"x"}]}),
                "input[0].role",
                "missing_required_parameter",
            ),
            (
                json!({"input":[{"role":"robot","content":"x"}]}),
                "input[0].role",
                "invalid_value",
            ),
            (json!({"input":"x","bogus":1}), "bogus", "unknown_parameter"),
            (
                json!({"input":"x","stream_options":{"include_usage":true}}),
                "stream_options.include_usage",
                "unknown_parameter",
            ),
            (
                json!({"input":"x","previous_response_id":"resp_1","conversation":"c"}),
                "conversation",
                "mutually_exclusive_parameters",
            ),
            (
                json!({"input":"x","temperature":3}),
                "temperature",
                "invalid_value",
            ),
            (
                json!({"input":"x","max_output_tokens":4}),
                "max_output_tokens",
                "invalid_value",
            ),
            (
                json!({"input":"x","include":["nope"]}),
                "include[0]",
                "invalid_value",
            ),
            (
                json!({"input":"x","metadata":{"a":1}}),
                "metadata",
                "invalid_type",
            ),
            (
                json!({"input":"x","text":{"format":{"type":"json_schema"}}}),
                "text.format.name",
                "missing_required_parameter",
            ),
            (json!({}), "input", "missing_required_parameter"),
        ];
        for (v, param, code) in cases {
            let e = refused(v.clone());
            assert_eq!(e.status.as_u16(), 400, "{v}");
            assert_eq!(e.param.as_deref(), Some(param), "{v}: {e}");
            assert_eq!(e.code.as_deref(), Some(code), "{v}: {e}");
        }
    }

    #[test]
    fn metadata_limits() {
        let mut m = Map::new();
        for i in 0..17 {
            m.insert(format!("k{i}"), json!("v"));
        }
        assert_eq!(
            validate_metadata(&m).unwrap_err().code.as_deref(),
            Some("object_above_max_properties")
        );
        let mut m = Map::new();
        m.insert("k".repeat(65), json!("v"));
        assert_eq!(
            validate_metadata(&m).unwrap_err().param.as_deref(),
            Some("metadata")
        );
        let mut m = Map::new();
        m.insert("k".into(), json!("v".repeat(513)));
        assert!(validate_metadata(&m).is_err());
        let mut m = Map::new();
        m.insert("k".repeat(64), json!("v".repeat(512)));
        assert!(validate_metadata(&m).is_ok());
    }
}
