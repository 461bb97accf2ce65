//! `POST /v1/chat/completions` (OpenAI) → a [`Turn`], through the same input model as the
//! Responses surface ([`crate::translate::input`]): Chat's messages become input items
//! (`tool_calls` → function calls, `tool` messages → their outputs) and Chat's nested tools
//! and `response_format` their flat Responses forms.
//!
//! What Mastra cannot honour is refused naming the parameter (`n` > 1, `logprobs`, `audio`,
//! non-text `modalities`, `logit_bias`, predictions, images and files), never dropped.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::openai::chat::ChatRequest;
use crate::translate::input::{turn_messages, InputItem, TurnMessages};
use crate::translate::metadata::validate_metadata;
use crate::translate::request::{client_tools, tool_choice};
use crate::translate::turn::{Memory, ModelSettings, Turn};

/// Fields SDKs send that change nothing here: accepted and ignored.
const ACCEPTED_IGNORED: &[&str] = &[
    "store",
    "service_tier",
    "reasoning_effort",
    "verbosity",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
];

/// Everything about the request that does not depend on the upstream.
pub fn validate(req: &ChatRequest) -> Result<(), ApiError> {
    if let Some(key) = req
        .rest
        .keys()
        .find(|k| !ACCEPTED_IGNORED.contains(&k.as_str()))
    {
        return Err(ApiError::unknown_parameter(key));
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::unsupported(
            "n",
            "only one choice per request is available (n = 1)",
        ));
    }
    if req.logprobs == Some(true) || req.top_logprobs.is_some_and(|n| n > 0) {
        let param = if req.logprobs == Some(true) {
            "logprobs"
        } else {
            "top_logprobs"
        };
        return Err(ApiError::unsupported(
            param,
            "token log probabilities are not available from Mastra agents",
        ));
    }
    if req.audio.as_ref().is_some_and(|a| !a.is_null()) {
        return Err(ApiError::unsupported(
            "audio",
            "audio output is not available",
        ));
    }
    if let Some(m) = req
        .modalities
        .iter()
        .flatten()
        .find(|m| m.as_str() != "text")
    {
        return Err(ApiError::unsupported(
            "modalities",
            &format!("the `{m}` modality is not available; only text"),
        ));
    }
    if req
        .logit_bias
        .as_ref()
        .is_some_and(|b| b.as_object().is_some_and(|o| !o.is_empty()))
    {
        return Err(ApiError::unsupported(
            "logit_bias",
            "logit biases are not available from Mastra agents",
        ));
    }
    for (key, value) in [
        ("prediction", &req.prediction),
        ("web_search_options", &req.web_search_options),
        ("functions", &req.functions),
        ("function_call", &req.function_call),
    ] {
        if value.as_ref().is_some_and(|v| !v.is_null()) {
            let why = match key {
                "functions" | "function_call" => {
                    "the legacy functions API is not available; send `tools` and `tool_choice`"
                }
                _ => "not available from Mastra agents",
            };
            return Err(ApiError::unsupported(key, why));
        }
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
    for (key, value) in [
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
    ] {
        if value.is_some_and(|v| !(-2.0..=2.0).contains(&v)) {
            return Err(ApiError::invalid_value(
                key,
                format!("Invalid '{key}': the value is outside the range -2 to 2."),
            ));
        }
    }
    if let Some(opts) = &req.stream_options {
        let Some(map) = opts.as_object() else {
            return Err(ApiError::invalid_type(
                "stream_options",
                "expected an object",
            ));
        };
        if let Some(k) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "include_usage" | "include_obfuscation"))
        {
            return Err(ApiError::unknown_parameter(&format!("stream_options.{k}")));
        }
        if req.stream != Some(true) {
            return Err(ApiError::invalid_value(
                "stream_options",
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            ));
        }
    }
    if let Some(m) = &req.metadata {
        validate_metadata(m)?;
    }
    stop_sequences(req.stop.as_ref())?;
    structured_output(req.response_format.as_ref())?;
    let tools = flat_tools(req.tools.as_deref())?;
    tool_choice(flat_tool_choice(req.tool_choice.as_ref())?.as_ref(), &tools)
        .map_err(|e| rename_param(e, "tool_choice", "tool_choice"))?;
    input_items(req.messages.as_deref())?;
    Ok(())
}

/// Whether the stream's answer ends with a usage chunk (`stream_options.include_usage`).
pub fn include_usage(req: &ChatRequest) -> bool {
    req.stream_options
        .as_ref()
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The turn a request asks for, on agent `agent` with `memory` (none unless the deployment
/// opted in: Chat sends the whole history every time). `new_id` names the messages sent.
pub fn turn_from_chat(
    req: &ChatRequest,
    agent: &str,
    memory: Option<Memory>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<(Turn, TurnMessages), ApiError> {
    let items = input_items(req.messages.as_deref())?;
    let built = turn_messages(&items, None, new_id)
        .map_err(|e| ApiError::invalid_value("messages", e.message))?;
    let client_tools = flat_tools(req.tools.as_deref())?;
    let choice = tool_choice(
        flat_tool_choice(req.tool_choice.as_ref())?.as_ref(),
        &client_tools,
    )?;
    let mut provider_options = Map::new();
    if req.parallel_tool_calls == Some(false) {
        provider_options.insert("openai".into(), json!({"parallelToolCalls": false}));
        provider_options.insert("anthropic".into(), json!({"disableParallelToolUse": true}));
    }
    let turn = Turn {
        agent: agent.to_string(),
        memory,
        messages: built.messages.clone(),
        client_tools,
        settings: ModelSettings {
            max_output_tokens: req.max_completion_tokens.or(req.max_tokens),
            temperature: req.temperature,
            top_p: req.top_p,
            stop_sequences: stop_sequences(req.stop.as_ref())?,
            seed: req.seed,
            presence_penalty: req.presence_penalty,
            frequency_penalty: req.frequency_penalty,
        },
        tool_choice: choice,
        instructions: None,
        structured_output: structured_output(req.response_format.as_ref())?,
        provider_options,
    };
    Ok((turn, built))
}

/// Chat's messages as input items; every bad one is named (`messages[i]…`).
fn input_items(messages: Option<&[Value]>) -> Result<Vec<InputItem>, ApiError> {
    let Some(messages) = messages else {
        return Err(ApiError::missing_parameter("messages"));
    };
    if messages.is_empty() {
        return Err(ApiError::invalid_value(
            "messages",
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        )
        .with_code("empty_array"));
    }
    let mut items = Vec::new();
    let mut calls: Vec<String> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let param = format!("messages[{i}]");
        let Some(m) = message.as_object() else {
            return Err(ApiError::invalid_type(&param, "expected an object"));
        };
        let role = match m.get("role") {
            Some(Value::String(r)) => r.as_str(),
            None => return Err(ApiError::missing_parameter(&format!("{param}.role"))),
            Some(_) => {
                return Err(ApiError::invalid_type(
                    &format!("{param}.role"),
                    "expected a string",
                ))
            }
        };
        match role {
            "system" | "developer" | "user" => items.push(InputItem::Message {
                index: i,
                role: role.to_string(),
                texts: texts(m.get("content"), &param, role == "user")?,
                id: None,
            }),
            "assistant" => {
                let content = match m.get("content") {
                    None | Some(Value::Null) => Vec::new(),
                    c => texts(c, &param, false)?,
                };
                if !content.is_empty() {
                    items.push(InputItem::Message {
                        index: i,
                        role: "assistant".into(),
                        texts: content,
                        id: None,
                    });
                }
                for (j, call) in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let p = format!("{param}.tool_calls[{j}]");
                    let id = str_at(call, "id", &p)?;
                    let name = call
                        .get("function")
                        .ok_or_else(|| ApiError::missing_parameter(&format!("{p}.function")))
                        .and_then(|f| str_at(f, "name", &format!("{p}.function")))?;
                    let arguments = call
                        .get("function")
                        .and_then(|f| f.get("arguments"))
                        .and_then(Value::as_str)
                        .unwrap_or("{}");
                    calls.push(id.clone());
                    items.push(InputItem::FunctionCall {
                        index: i,
                        id: None,
                        call_id: id,
                        name,
                        arguments: arguments.to_string(),
                    });
                }
            }
            "tool" => {
                let call_id = str_at(message, "tool_call_id", &param)?;
                if !calls.contains(&call_id) {
                    return Err(ApiError::invalid_value(
                        &format!("{param}.tool_call_id"),
                        format!("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. No tool call has id '{call_id}'."),
                    ));
                }
                items.push(InputItem::FunctionCallOutput {
                    index: i,
                    call_id,
                    output: texts(m.get("content"), &param, false)?.join(""),
                });
            }
            "function" => {
                return Err(ApiError::unsupported(
                    &format!("{param}.role"),
                    "the legacy `function` role is not available; send `tool` messages",
                ))
            }
            other => {
                return Err(ApiError::invalid_value(
                    &format!("{param}.role"),
                    format!("Invalid value: '{other}'. Supported values are: 'system', 'assistant', 'user', 'tool', 'function', and 'developer'."),
                ))
            }
        }
    }
    if items.is_empty() {
        // Only assistant messages without content or calls: Mastra would get no message.
        return Err(ApiError::invalid_value(
            "messages",
            "Invalid 'messages': no message has content to send.",
        ));
    }
    Ok(items)
}

/// The text of a message's `content`: a string, or text parts (`refusal` parts of an
/// assistant's too); images, audio and files are refused naming the part.
fn texts(content: Option<&Value>, param: &str, user: bool) -> Result<Vec<String>, ApiError> {
    match content {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .filter_map(|(j, part)| {
                let p = format!("{param}.content[{j}]");
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => Some(str_at(part, "text", &p)),
                    Some("refusal") if !user => None,
                    Some(kind @ ("image_url" | "input_audio" | "file")) => {
                        Some(Err(ApiError::unsupported(
                            &p,
                            &format!("`{kind}` content is not available; this gateway forwards text only"),
                        )))
                    }
                    Some(other) => Some(Err(ApiError::invalid_value(
                        &format!("{p}.type"),
                        format!("Invalid value: '{other}'."),
                    ))),
                    None => Some(Err(ApiError::missing_parameter(&format!("{p}.type")))),
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

fn str_at(v: &Value, key: &str, param: &str) -> Result<String, ApiError> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(ApiError::missing_parameter(&format!("{param}.{key}"))),
        Some(_) => Err(ApiError::invalid_type(
            &format!("{param}.{key}"),
            "expected a string",
        )),
    }
}

/// `stop`: a string or up to 4 strings.
fn stop_sequences(stop: Option<&Value>) -> Result<Option<Vec<String>>, ApiError> {
    match stop {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(a)) if a.len() <= 4 && a.iter().all(Value::is_string) => Ok(Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        )),
        Some(Value::Array(_)) => Err(ApiError::invalid_value(
            "stop",
            "Invalid 'stop': expected a string or an array of at most 4 strings.",
        )),
        Some(_) => Err(ApiError::invalid_type(
            "stop",
            "expected a string or an array of strings",
        )),
    }
}

/// `response_format` as Mastra's `structuredOutput` (`text`: none).
fn structured_output(format: Option<&Value>) -> Result<Option<Value>, ApiError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({
            "schema": {"type": "object", "additionalProperties": true},
            "jsonPromptInjection": true
        }))),
        Some("json_schema") => {
            let Some(js) = format.get("json_schema") else {
                return Err(ApiError::missing_parameter("response_format.json_schema"));
            };
            if js.get("name").and_then(Value::as_str).is_none() {
                return Err(ApiError::missing_parameter(
                    "response_format.json_schema.name",
                ));
            }
            let schema = js
                .get("schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            Ok(Some(json!({ "schema": schema })))
        }
        Some(other) => Err(ApiError::invalid_value(
            "response_format.type",
            format!("Invalid value: '{other}'. Supported values are: 'text', 'json_object' and 'json_schema'."),
        )),
        None => Err(ApiError::missing_parameter("response_format.type")),
    }
}

/// Chat's `tools` (`{type: "function", function: {name, …}}`) as the caller's client tools.
fn flat_tools(tools: Option<&[Value]>) -> Result<Map<String, Value>, ApiError> {
    let mut flat = Vec::new();
    for (i, tool) in tools.unwrap_or_default().iter().enumerate() {
        let param = format!("tools[{i}]");
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => {
                return Err(ApiError::unsupported(
                    &param,
                    &format!("`{other}` tools are not available; send function tools"),
                ))
            }
            None => return Err(ApiError::missing_parameter(&format!("{param}.type"))),
        }
        let Some(f) = tool.get("function").and_then(Value::as_object) else {
            return Err(ApiError::missing_parameter(&format!("{param}.function")));
        };
        let mut t = f.clone();
        t.insert("type".into(), json!("function"));
        flat.push(Value::Object(t));
    }
    client_tools(Some(&flat)).map_err(|e| {
        let param = e.param.clone().unwrap_or_default();
        let chat_param = param.replacen("].", "].function.", 1);
        rename_param(e, &param, &chat_param)
    })
}

/// Chat's `tool_choice` in its flat Responses form.
fn flat_tool_choice(choice: Option<&Value>) -> Result<Option<Value>, ApiError> {
    match choice {
        Some(Value::Object(o)) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::missing_parameter("tool_choice.function.name"))?;
            Ok(Some(json!({"type": "function", "name": name})))
        }
        other => Ok(other.cloned()),
    }
}

fn rename_param(mut e: ApiError, from: &str, to: &str) -> ApiError {
    if e.param.as_deref() == Some(from) {
        e.message = e.message.replace(from, to);
        e.param = Some(to.to_string());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::native::request_body;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    fn body(v: Value) -> Value {
        let r = req(v);
        validate(&r).unwrap();
        let mut n = 0;
        let (turn, _) = turn_from_chat(&r, "support-agent", None, &mut || {
            n += 1;
            format!("m{n}")
        })
        .unwrap();
        serde_json::from_slice(&request_body(&turn)).unwrap()
    }

    #[test]
    fn plain_chat_with_settings() {
        insta::assert_json_snapshot!(body(json!({
            "model": "support-agent",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]}
            ],
            "max_completion_tokens": 64, "temperature": 0.2, "top_p": 0.5, "stop": "END",
            "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2,
            "stream": true, "stream_options": {"include_usage": true}, "n": 1,
            "store": false, "user": "u1", "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x",
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
        })));
    }

    #[test]
    fn tool_loop_history() {
        insta::assert_json_snapshot!(body(json!({
            "model": "support-agent",
            "messages": [
                {"role": "user", "content": "what time is it?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_time", "arguments": "{\"tz\":\"UTC\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "12:00"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_time",
                "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_time"}}
        })));
    }

    #[test]
    fn refusals_name_the_parameter() {
        for (v, param) in [
            (
                json!({"messages": [{"role": "user", "content": "x"}], "n": 2}),
                "n",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "logprobs": true}),
                "logprobs",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "audio": {"voice": "x"}}),
                "audio",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "modalities": ["text", "audio"]}),
                "modalities",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"messages": [{"role": "tool", "tool_call_id": "c", "content": "x"}]}),
                "messages[0].tool_call_id",
            ),
            (json!({"messages": []}), "messages"),
            // Found by the property tests (tests/parser_checks): nothing to send Mastra.
            (json!({"messages": [{"role": "assistant"}]}), "messages"),
            (
                json!({"messages": [{"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}]}),
                "messages",
            ),
            (json!({}), "messages"),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "bogus": 1}),
                "bogus",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {}}]}),
                "tools[0].function.name",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}),
                "stream_options",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "functions": [{"name": "f"}]}),
                "functions",
            ),
        ] {
            let e = validate(&req(v.clone())).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{v}");
            assert_eq!(e.param.as_deref(), Some(param), "{v}: {e}");
        }
    }
}
