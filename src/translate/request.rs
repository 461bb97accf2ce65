//! `POST /v1/responses` (OpenAI) → a [`Turn`] on Mastra's native routes.
//!
//! Validation happens here, before anything goes upstream: what OpenAI would refuse is refused
//! with OpenAI's codes, and what Mastra cannot honour yet is refused naming the field, never
//! silently dropped. What SDKs send by default is accepted and echoed.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::mastra::path::{is_plausible_id, quoted};
use crate::openai::request::CreateResponseRequest;
use crate::translate::input::parse_input;
pub use crate::translate::metadata::validate_metadata;
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
    let tools = client_tools(req.tools.as_deref())?;
    tool_choice(req.tool_choice.as_ref(), &tools)?;
    match &req.input {
        None | Some(Value::Null) => return Err(ApiError::missing_parameter("input")),
        Some(input) => {
            parse_input(input)?;
        }
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

/// The turn a request asks for, on agent `agent` with `memory` (the plan's thread, if any) and
/// `messages` (its input, built by [`crate::translate::input::turn_messages`]). `req` must have
/// passed [`validate`].
pub fn turn_from_request(
    req: &CreateResponseRequest,
    agent: &str,
    memory: Option<Memory>,
    messages: Vec<Value>,
) -> Result<Turn, ApiError> {
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
    let client_tools = client_tools(req.tools.as_deref())?;
    Ok(Turn {
        agent: agent.to_string(),
        memory,
        messages,
        tool_choice: tool_choice(req.tool_choice.as_ref(), &client_tools)?,
        client_tools,
        settings: ModelSettings {
            max_output_tokens: req.max_output_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            ..ModelSettings::default()
        },
        instructions: req
            .instructions
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string),
        structured_output,
        provider_options,
    })
}

/// The caller's function tools as Mastra client tools (`name → {id, description,
/// inputSchema}`): a call to one ends the run and is handed back. A client tool named like one
/// of the agent's own replaces it for the turn (Mastra's rule). Other tool types (hosted tools
/// such as `web_search`) are refused naming the tool.
pub fn client_tools(tools: Option<&[Value]>) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (i, tool) in tools.unwrap_or_default().iter().enumerate() {
        let param = format!("tools[{i}]");
        let Some(t) = tool.as_object() else {
            return Err(ApiError::invalid_type(&param, "expected an object"));
        };
        match t.get("type").and_then(Value::as_str) {
            Some("function") => {}
            None => return Err(ApiError::missing_parameter(&format!("{param}.type"))),
            Some(other) => {
                return Err(ApiError::unsupported(
                    &param,
                    &format!("`{other}` tools are not available; send function tools (the agent's own tools run inside Mastra)"),
                ))
            }
        }
        let name = match t.get("name") {
            Some(Value::String(n)) => n,
            None => return Err(ApiError::missing_parameter(&format!("{param}.name"))),
            Some(_) => {
                return Err(ApiError::invalid_type(
                    &format!("{param}.name"),
                    "expected a string",
                ))
            }
        };
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(ApiError::invalid_value(
                &format!("{param}.name"),
                format!("Invalid 'tools[{i}].name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."),
            ));
        }
        if out.contains_key(name) {
            return Err(ApiError::invalid_value(
                &format!("{param}.name"),
                format!("Duplicate tool name '{name}' in 'tools'."),
            ));
        }
        let schema = match t.get("parameters") {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => {
                return Err(ApiError::invalid_type(
                    &format!("{param}.parameters"),
                    "expected an object",
                ))
            }
        };
        let mut def = Map::new();
        def.insert("id".into(), json!(name));
        if let Some(Value::String(d)) = t.get("description") {
            def.insert("description".into(), json!(d));
        }
        def.insert("inputSchema".into(), schema);
        out.insert(name.clone(), Value::Object(def));
    }
    Ok(out)
}

/// `tool_choice` under Mastra's names: `none` (no tools), `auto`, `required`, or one of the
/// caller's tools forced (`{type: "tool", toolName}`).
pub fn tool_choice(
    choice: Option<&Value>,
    client_tools: &Map<String, Value>,
) -> Result<Option<Value>, ApiError> {
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
            let Some(name) = o.get("name").and_then(Value::as_str) else {
                return Err(ApiError::missing_parameter("tool_choice.name"));
            };
            if !client_tools.contains_key(name) {
                return Err(ApiError::invalid_value(
                    "tool_choice",
                    format!("Tool choice 'function' '{name}' not found in 'tools' parameter."),
                ));
            }
            Ok(Some(json!({"type": "tool", "toolName": name})))
        }
        Some(_) => Err(ApiError::unsupported(
            "tool_choice",
            "only 'none', 'auto', 'required' and {\"type\": \"function\", \"name\"} are available",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::input::turn_messages;
    use serde_json::json;

    fn req(v: Value) -> CreateResponseRequest {
        serde_json::from_value(v).unwrap()
    }

    fn turn(r: &CreateResponseRequest) -> Result<Turn, ApiError> {
        let mut n = 0;
        let items = parse_input(r.input.as_ref().unwrap_or(&Value::Null))?;
        let built = turn_messages(&items, None, &mut || {
            n += 1;
            format!("msg_{n}")
        })?;
        turn_from_request(r, "support-agent", None, built.messages)
    }

    /// The native request body of a request (on agent `support-agent`, no memory).
    fn body(v: Value) -> Value {
        let r = req(v);
        validate(&r).unwrap();
        serde_json::from_slice(&crate::translate::native::request_body(&turn(&r).unwrap())).unwrap()
    }

    fn refused(v: Value) -> ApiError {
        let r = req(v);
        validate(&r).and_then(|_| turn(&r).map(|_| ())).unwrap_err()
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
    fn client_tools_and_a_forced_choice() {
        insta::assert_json_snapshot!(body(json!({
            "model": "support-agent", "input": "what time is it?",
            "tools": [
                {"type": "function", "name": "get_time", "description": "the time",
                 "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
                 "strict": true},
                {"type": "function", "name": "no_args"}
            ],
            "tool_choice": {"type": "function", "name": "get_time"}
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
                json!({"input":"x","tools":[{"type":"web_search"}]}),
                "tools[0]",
                "unsupported_parameter",
            ),
            (
                json!({"input":"x","tools":[{"type":"function"}]}),
                "tools[0].name",
                "missing_required_parameter",
            ),
            (
                json!({"input":"x","tools":[{"type":"function","name":"a b"}]}),
                "tools[0].name",
                "invalid_value",
            ),
            (
                json!({"input":"x","tools":[{"type":"function","name":"f"},{"type":"function","name":"f"}]}),
                "tools[1].name",
                "invalid_value",
            ),
            (
                json!({"input":"x","tool_choice":{"type":"function","name":"g"},"tools":[{"type":"function","name":"f"}]}),
                "tool_choice",
                "invalid_value",
            ),
            (
                json!({"input":"x","background":true}),
                "background",
                "unsupported_parameter",
            ),
            (
                json!({"input":[{"type":"function_call_output","call_id":"c","output":"{}"}]}),
                "input[0]",
                "invalid_value",
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
