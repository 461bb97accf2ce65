//! Mastra's native agent routes (`POST /api/agents/:id/stream`, reference/mastra-native.md):
//! a [`Turn`] becomes the request body, the SSE chunks (`{type, runId, from, payload}`) become
//! [`TurnEvent`]s, and the answer Mastra stored (a `UIMessage` in the `finish` chunk) becomes the
//! stored message again, so that the gateway can add its record to it without reading it back.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::mastra::types::{DbContent, DbMessage};
use crate::translate::turn::{Finish, FinishReason, Turn, TurnEvent, TurnUsage};

// ------------------------------------------------------------------------------- request

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NativeBody<'a> {
    messages: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<NativeMemory<'a>>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    client_tools: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    model_settings: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    structured_output: Option<&'a Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    provider_options: &'a Map<String, Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NativeMemory<'a> {
    thread: &'a str,
    resource: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
}

/// The body of `POST /api/agents/:id/stream` for `turn`.
pub fn request_body(turn: &Turn) -> Vec<u8> {
    let s = &turn.settings;
    let mut settings = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            settings.insert(k.into(), v);
        }
    };
    put("maxOutputTokens", s.max_output_tokens.map(Value::from));
    put("temperature", s.temperature.map(Value::from));
    put("topP", s.top_p.map(Value::from));
    put("stopSequences", s.stop_sequences.clone().map(Value::from));
    put("seed", s.seed.map(Value::from));
    put("presencePenalty", s.presence_penalty.map(Value::from));
    put("frequencyPenalty", s.frequency_penalty.map(Value::from));
    let body = NativeBody {
        messages: &turn.messages,
        memory: turn.memory.as_ref().map(|m| NativeMemory {
            thread: &m.thread,
            resource: &m.resource,
            read_only: m.read_only,
        }),
        client_tools: &turn.client_tools,
        model_settings: settings,
        tool_choice: turn.tool_choice.as_ref(),
        instructions: turn.instructions.as_deref(),
        structured_output: turn.structured_output.as_ref(),
        provider_options: &turn.provider_options,
    };
    // Serializing values the gateway built itself cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

// --------------------------------------------------------------------------------- chunks

/// A chunk's envelope: its type, and its payload left unparsed until the type says how.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    payload: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartPayload<'a> {
    #[serde(default, borrow)]
    message_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PartPayload<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolPayload<'a> {
    #[serde(borrow)]
    tool_call_id: Cow<'a, str>,
    #[serde(default, borrow)]
    tool_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    args_text_delta: Option<&'a RawValue>,
    #[serde(default, borrow)]
    args: Option<&'a RawValue>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ErrorPayload {
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FinishPayload {
    #[serde(default)]
    step_result: Option<StepResult>,
    #[serde(default)]
    output: Option<FinishOutput>,
    #[serde(default)]
    response: Option<FinishResponse>,
    #[serde(flatten)]
    _rest: HashMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct StepResult {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct FinishOutput {
    #[serde(default)]
    usage: Option<NativeUsage>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct NativeUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    cached_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FinishResponse {
    #[serde(default)]
    ui_messages: Vec<Value>,
}

/// Why a chunk could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkError(pub String);

/// Native chunks → [`TurnEvent`]s, one upstream `data:` payload at a time. It knows the turn's
/// client tools (a call to one is the caller's; any other tool runs inside Mastra) and the
/// names of the calls in flight (deltas name only the call).
pub struct ChunkDecoder {
    client_tools: Vec<String>,
    /// Call id → tool name, from the call's first chunk.
    names: HashMap<String, String>,
}

impl ChunkDecoder {
    pub fn new(turn: &Turn) -> Self {
        Self {
            client_tools: turn.client_tools.keys().cloned().collect(),
            names: HashMap::new(),
        }
    }

    fn is_client(&self, name: &str) -> bool {
        self.client_tools.iter().any(|t| t == name)
    }

    /// Decodes one chunk and hands its events (zero or more) to `emit`. `[DONE]` and chunk
    /// types that carry nothing for the client (`step-start`, `object`, …) give no event.
    pub fn decode(
        &mut self,
        data: &[u8],
        emit: &mut dyn FnMut(&TurnEvent<'_>),
    ) -> Result<(), ChunkError> {
        if data == b"[DONE]" {
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_slice(data)
            .map_err(|e| ChunkError(format!("the upstream sent a chunk that is not JSON: {e}")))?;
        let payload = chunk.payload.map_or("null", RawValue::get);
        let parse_err = |e: serde_json::Error| {
            ChunkError(format!(
                "the upstream sent a malformed `{}` chunk: {e}",
                chunk.kind
            ))
        };
        match chunk.kind.as_ref() {
            "start" => {
                let p: StartPayload = serde_json::from_str(payload).map_err(parse_err)?;
                let id = p.message_id.unwrap_or_default();
                emit(&TurnEvent::Start { message_id: &id });
            }
            kind @ ("text-start" | "text-delta" | "text-end" | "reasoning-start"
            | "reasoning-delta" | "reasoning-end") => {
                let p: PartPayload = serde_json::from_str(payload).map_err(parse_err)?;
                let id = p.id.as_ref();
                let text = json_string(p.text.unwrap_or(EMPTY_STRING.as_ref()))
                    .ok_or_else(|| malformed(&chunk.kind, "`text`"))?;
                emit(&match kind {
                    "text-start" => TurnEvent::TextStart { id },
                    "text-delta" => TurnEvent::TextDelta { id, text },
                    "text-end" => TurnEvent::TextEnd { id },
                    "reasoning-start" => TurnEvent::ReasoningStart { id },
                    "reasoning-delta" => TurnEvent::ReasoningDelta { id, text },
                    _ => TurnEvent::ReasoningEnd { id },
                });
            }
            kind @ ("tool-call-input-streaming-start"
            | "tool-call-delta"
            | "tool-call"
            | "tool-result"
            | "tool-error") => {
                let p: ToolPayload = serde_json::from_str(payload).map_err(parse_err)?;
                let call_id = p.tool_call_id.as_ref();
                if let Some(name) = &p.tool_name {
                    if !self.names.contains_key(call_id) {
                        self.names.insert(call_id.to_string(), name.to_string());
                    }
                }
                let name = self.names.get(call_id).map_or("", String::as_str);
                let client = self.is_client(name);
                match kind {
                    "tool-call-input-streaming-start" => emit(&TurnEvent::ToolInputStart {
                        call_id,
                        name,
                        client,
                    }),
                    "tool-call-delta" => {
                        if let Some(delta) = p.args_text_delta {
                            let delta = json_string(delta)
                                .ok_or_else(|| malformed(&chunk.kind, "`argsTextDelta`"))?;
                            emit(&TurnEvent::ToolInputDelta { call_id, delta });
                        }
                    }
                    "tool-call" => {
                        let arguments = p.args.unwrap_or(EMPTY_OBJECT.as_ref());
                        emit(&TurnEvent::ToolCall {
                            call_id,
                            name,
                            arguments,
                            client,
                        });
                    }
                    "tool-result" => {
                        let result = p.result.unwrap_or(NULL.as_ref());
                        emit(&TurnEvent::ToolResult {
                            call_id,
                            name,
                            result,
                        });
                    }
                    _ => emit(&TurnEvent::ToolError {
                        call_id,
                        name,
                        message: tool_error_message(p.error.as_ref()),
                    }),
                }
            }
            "error" => {
                let p: ErrorPayload =
                    serde_json::from_str(payload).unwrap_or(ErrorPayload { error: None });
                emit(&TurnEvent::Error {
                    message: error_message(p.error.as_ref()),
                });
            }
            "finish" => {
                let p: FinishPayload = serde_json::from_str(payload).map_err(parse_err)?;
                let reason = p
                    .step_result
                    .and_then(|s| s.reason)
                    .map_or(FinishReason::Other, |r| FinishReason::from_mastra(&r));
                let u = p.output.and_then(|o| o.usage).unwrap_or_default();
                let usage = TurnUsage {
                    input_tokens: u.input_tokens.unwrap_or(0),
                    output_tokens: u.output_tokens.unwrap_or(0),
                    cached_input_tokens: u.cached_input_tokens.unwrap_or(0),
                    reasoning_tokens: u.reasoning_tokens.unwrap_or(0),
                };
                let answer = p.response.and_then(|r| r.ui_messages.into_iter().next());
                emit(&TurnEvent::Finish(Finish {
                    reason,
                    usage,
                    answer,
                }));
            }
            _ => {}
        }
        Ok(())
    }
}

/// `raw` when it is a JSON string. Deltas are passed on to the client as they came, so
/// anything else (a number, or an array holding CR/LF whitespace that would cut the client's
/// `data:` line) must not get through.
fn json_string(raw: &RawValue) -> Option<&RawValue> {
    raw.get().starts_with('"').then_some(raw)
}

fn malformed(kind: &str, field: &str) -> ChunkError {
    ChunkError(format!(
        "the upstream sent a malformed `{kind}` chunk: {field} is not a string"
    ))
}

static EMPTY_STRING: std::sync::LazyLock<Box<RawValue>> =
    std::sync::LazyLock::new(|| RawValue::from_string("\"\"".into()).unwrap_or_default());
static EMPTY_OBJECT: std::sync::LazyLock<Box<RawValue>> =
    std::sync::LazyLock::new(|| RawValue::from_string("{}".into()).unwrap_or_default());
static NULL: std::sync::LazyLock<Box<RawValue>> =
    std::sync::LazyLock::new(|| RawValue::from_string("null".into()).unwrap_or_default());

/// Longest error message passed on to a client.
const MAX_ERROR_MESSAGE: usize = 500;

/// The message of Mastra's error object, without what must never reach a client: a stack
/// trace (with the server's file paths), and anything past the first line.
fn clean(message: &str) -> String {
    let first = message
        .split(['\n', '\r'])
        .next()
        .unwrap_or_default()
        .trim();
    let mut out: String = first.chars().take(MAX_ERROR_MESSAGE).collect();
    if out.is_empty() {
        out = "the agent failed".into();
    }
    out
}

fn error_message(error: Option<&Value>) -> String {
    match error {
        Some(Value::String(s)) => clean(s),
        Some(Value::Object(o)) => {
            clean(o.get("message").and_then(Value::as_str).unwrap_or_default())
        }
        _ => clean(""),
    }
}

fn tool_error_message(error: Option<&Value>) -> String {
    let Some(e) = error else {
        return "the tool failed".into();
    };
    let message = e
        .pointer("/cause/message")
        .or_else(|| e.get("message"))
        .or_else(|| e.pointer("/details/errorMessage"))
        .and_then(Value::as_str)
        .or_else(|| e.as_str())
        .unwrap_or("the tool failed");
    clean(message)
}

// ------------------------------------------------------------------------ stored answer

/// The stored message of a turn's answer, rebuilt from the `UIMessage` Mastra put in the
/// `finish` chunk with the rules of Mastra's own conversion (`AIV5Adapter.fromUIMessage`): its
/// id, `createdAt`, thread, resource, parts and metadata are those of the stored row, so that
/// upserting it with a record added changes nothing else. `None` when it holds a part this
/// conversion does not know (then the stored row must be read instead).
pub fn stored_answer(answer: &Value, thread: &str, resource: &str) -> Option<DbMessage> {
    let o = answer.as_object()?;
    let id = o.get("id")?.as_str()?.to_string();
    let mut metadata = o
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let created_at = metadata.remove("createdAt")?.as_str()?.to_string();
    metadata.remove("threadId");
    metadata.remove("resourceId");
    let mut parts = Vec::new();
    let mut text = String::new();
    for part in o.get("parts")?.as_array()? {
        let p = part.as_object()?;
        let kind = p.get("type")?.as_str()?;
        let (created, provider) = split_provider_metadata(p.get("providerMetadata"));
        match kind {
            "text" => {
                let t = p.get("text")?.as_str()?;
                text.push_str(t);
                let mut out = Map::new();
                out.insert("type".into(), json!("text"));
                out.insert("text".into(), json!(t));
                if let Some(p) = provider {
                    out.insert("providerMetadata".into(), p);
                }
                if let Some(c) = created {
                    out.insert("createdAt".into(), c);
                }
                parts.push(Value::Object(out));
            }
            "reasoning" => {
                let t = p.get("text")?.as_str()?;
                let mut out = Map::new();
                out.insert("type".into(), json!("reasoning"));
                out.insert("reasoning".into(), json!(t));
                out.insert("details".into(), json!([{"type": "text", "text": t}]));
                if let Some(p) = provider {
                    out.insert("providerMetadata".into(), p);
                }
                if let Some(c) = created {
                    out.insert("createdAt".into(), c);
                }
                parts.push(Value::Object(out));
            }
            "step-start" => parts.push(part.clone()),
            k if k.starts_with("tool-") || k == "dynamic-tool" => {
                let name = if k == "dynamic-tool" {
                    p.get("toolName")?.as_str()?
                } else {
                    &k["tool-".len()..]
                };
                let state = match p.get("state")?.as_str()? {
                    "output-available" => "result",
                    "input-available" | "input-streaming" => "call",
                    "output-error" => "output-error",
                    _ => return None,
                };
                let mut inv = Map::new();
                inv.insert("state".into(), json!(state));
                inv.insert("toolCallId".into(), p.get("toolCallId")?.clone());
                inv.insert("toolName".into(), json!(name));
                inv.insert("args".into(), p.get("input").cloned().unwrap_or(json!({})));
                match state {
                    "result" => {
                        inv.insert(
                            "result".into(),
                            p.get("output").cloned().unwrap_or(Value::Null),
                        );
                    }
                    "output-error" => {
                        inv.insert(
                            "errorText".into(),
                            p.get("errorText").cloned().unwrap_or(Value::Null),
                        );
                    }
                    _ => {}
                }
                let mut out = Map::new();
                out.insert("type".into(), json!("tool-invocation"));
                out.insert("toolInvocation".into(), Value::Object(inv));
                let (created, provider) = split_provider_metadata(p.get("callProviderMetadata"));
                if let Some(p) = provider {
                    out.insert("providerMetadata".into(), p);
                }
                if let Some(c) = created {
                    out.insert("createdAt".into(), c);
                }
                parts.push(Value::Object(out));
            }
            _ => return None,
        }
    }
    Some(DbMessage {
        id,
        role: "assistant".into(),
        created_at,
        thread_id: Some(thread.to_string()),
        resource_id: Some(resource.to_string()),
        kind: None,
        content: DbContent {
            format: 2,
            parts,
            content: (!text.is_empty()).then_some(text),
            metadata: (!metadata.is_empty()).then_some(metadata),
            rest: Map::new(),
        },
        rest: Map::new(),
    })
}

/// `providerMetadata` of a UI part → (`mastra.createdAt`, the rest if any).
fn split_provider_metadata(pm: Option<&Value>) -> (Option<Value>, Option<Value>) {
    let Some(Value::Object(pm)) = pm else {
        return (None, None);
    };
    let mut rest = pm.clone();
    let created = match rest.remove("mastra") {
        Some(Value::Object(mut m)) => {
            let c = m.remove("createdAt");
            if !m.is_empty() {
                rest.insert("mastra".into(), Value::Object(m));
            }
            c
        }
        Some(other) => {
            rest.insert("mastra".into(), other);
            None
        }
        None => None,
    };
    (created, (!rest.is_empty()).then_some(Value::Object(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::turn::{Memory, ModelSettings};

    fn events(turn: &Turn, chunks: &[&str]) -> Vec<String> {
        let mut dec = ChunkDecoder::new(turn);
        let mut out = Vec::new();
        for c in chunks {
            dec.decode(c.as_bytes(), &mut |e| out.push(format!("{e:?}")))
                .unwrap();
        }
        out
    }

    #[test]
    fn request_body_uses_mastras_names() {
        let mut client_tools = Map::new();
        client_tools.insert(
            "get_time".into(),
            json!({"id": "get_time", "description": "d", "inputSchema": {"type": "object"}}),
        );
        let turn = Turn {
            agent: "a".into(),
            memory: Some(Memory {
                thread: "t".into(),
                resource: "r".into(),
                read_only: true,
            }),
            messages: vec![json!({"role": "user", "content": "hi"})],
            client_tools,
            settings: ModelSettings {
                max_output_tokens: Some(20),
                temperature: Some(0.2),
                top_p: Some(0.9),
                ..Default::default()
            },
            tool_choice: Some(json!("required")),
            instructions: Some("be brief".into()),
            structured_output: None,
            provider_options: Map::new(),
        };
        let v: Value = serde_json::from_slice(&request_body(&turn)).unwrap();
        insta::assert_json_snapshot!(v);
        let bare = Turn {
            agent: "a".into(),
            messages: vec![json!({"role": "user", "content": "hi"})],
            ..Default::default()
        };
        let v: Value = serde_json::from_slice(&request_body(&bare)).unwrap();
        assert_eq!(v, json!({"messages": [{"role": "user", "content": "hi"}]}));
    }

    #[test]
    fn chunks_become_turn_events() {
        let mut turn = Turn::default();
        turn.client_tools.insert("get_time".into(), json!({}));
        let got = events(
            &turn,
            &[
                r#"{"type":"start","runId":"r","from":"AGENT","payload":{"id":"a","messageId":"m1"}}"#,
                r#"{"type":"step-start","payload":{"messageId":"m1"}}"#,
                r#"{"type":"reasoning-start","payload":{"id":"r-0"}}"#,
                r#"{"type":"reasoning-delta","payload":{"id":"r-0","text":"hm"}}"#,
                r#"{"type":"reasoning-end","payload":{"id":"r-0"}}"#,
                r#"{"type":"tool-call-input-streaming-start","payload":{"toolCallId":"c1","toolName":"get_weather"}}"#,
                r#"{"type":"tool-call-delta","payload":{"argsTextDelta":"{\"city\"","toolCallId":"c1","toolName":"get_weather"}}"#,
                r#"{"type":"tool-call","payload":{"toolCallId":"c1","toolName":"get_weather","args":{"city":"Rome"}}}"#,
                r#"{"type":"tool-result","payload":{"args":{},"toolCallId":"c1","toolName":"get_weather","result":{"t":21}}}"#,
                r#"{"type":"tool-call","payload":{"toolCallId":"c2","toolName":"get_time","args":{"tz":"UTC"}}}"#,
                r#"{"type":"tool-error","payload":{"error":{"name":"Error","cause":{"message":"boom"}},"toolCallId":"c3","toolName":"x"}}"#,
                r#"{"type":"text-start","payload":{"id":"txt-0"}}"#,
                r#"{"type":"text-delta","payload":{"id":"txt-0","text":"a \"b\"\n"}}"#,
                r#"{"type":"text-end","payload":{"type":"text-end","id":"txt-0"}}"#,
                r#"{"type":"object","runId":"r","from":"AGENT","object":{"echo":"x"}}"#,
                r#"{"type":"error","payload":{"type":"error","error":{"message":"mock failure\n    at doStream (file:///srv/app/mock.mjs:1:2)","name":"Error","stack":"Error: mock failure\n    at /srv/app"}}}"#,
                r#"{"type":"finish","payload":{"stepResult":{"reason":"tool-calls","isContinued":false},"output":{"text":"","usage":{"inputTokens":2,"outputTokens":1,"totalTokens":3,"reasoningTokens":4,"cachedInputTokens":5}},"messages":{"all":[]},"response":{"uiMessages":[{"id":"m1","role":"assistant","parts":[]}]}}}"#,
                "[DONE]",
            ],
        );
        insta::assert_debug_snapshot!(got);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut dec = ChunkDecoder::new(&Turn::default());
        let mut n = 0;
        assert!(dec.decode(b"not json", &mut |_| n += 1).is_err());
        assert!(dec
            .decode(
                br#"{"type":"text-delta","payload":{"text":1}}"#,
                &mut |_| n += 1
            )
            .is_err());
        assert!(dec.decode(br#"{"type":"weird"}"#, &mut |_| n += 1).is_ok());
        assert_eq!(n, 0);
        // Deltas are copied to the client as they came: one that is not a JSON string (here
        // with CR/LF whitespace, which would cut the client's `data:` line) is malformed.
        // Found by the property tests / fuzz targets (tests/parser_checks).
        for chunk in [
            &b"{\"type\":\"text-delta\",\"payload\":{\"id\":\"t\",\"text\":[\r\n]}}"[..],
            br#"{"type":"reasoning-delta","payload":{"id":"r","text":1}}"#,
            br#"{"type":"tool-call-delta","payload":{"toolCallId":"c","argsTextDelta":{}}}"#,
        ] {
            let e = dec.decode(chunk, &mut |_| n += 1).unwrap_err();
            assert!(e.0.contains("is not a string"), "{e:?}");
        }
        assert_eq!(n, 0);
        // A string is passed on as it came, escapes and all.
        let mut got = Vec::new();
        dec.decode(
            br#"{"type":"text-delta","payload":{"id":"t","text": "a\nb" }}"#,
            &mut |e| got.push(format!("{e:?}")),
        )
        .unwrap();
        assert_eq!(got, [r#"TextDelta { id: "t", text: RawValue("a\nb") }"#]);
    }

    #[test]
    fn finish_reasons() {
        for (m, r) in [
            ("stop", FinishReason::Stop),
            ("tool-calls", FinishReason::ToolCalls),
            ("length", FinishReason::Length),
            ("content-filter", FinishReason::ContentFilter),
            ("tripwire", FinishReason::ContentFilter),
            ("error", FinishReason::Error),
            ("other", FinishReason::Other),
        ] {
            assert_eq!(FinishReason::from_mastra(m), r);
        }
    }

    /// The UI message of a server tool turn (recorded from the fixture) rebuilds exactly the
    /// row Mastra stored (recorded from its memory API).
    #[test]
    fn stored_answer_is_the_stored_row() {
        let ui: Value = serde_json::from_str(r#"{"id":"b04f15ce-1","role":"assistant",
            "metadata":{"modelId":"echo-support","provider":"mock","createdAt":"2026-12-04T01:45:06.914Z","threadId":"f-tool","resourceId":"r1"},
            "parts":[{"type":"tool-get_weather","toolCallId":"call_9","input":{"city":"Rome"},"output":{"city":"Rome","tempC":21},"state":"output-available","callProviderMetadata":{"mastra":{"createdAt":1796348706920}}},
                     {"type":"step-start","createdAt":1796348706931,"model":"mock/echo-support"},
                     {"type":"reasoning","text":"hm","state":"done","providerMetadata":{"lab":{"signature":"s"},"mastra":{"createdAt":1796348706950}}},
                     {"type":"text","text":"tool get_weather returned: x","providerMetadata":{"mastra":{"createdAt":1796348706987}}}]}"#).unwrap();
        let stored: Value = serde_json::from_str(r#"{"id":"b04f15ce-1","role":"assistant","createdAt":"2026-12-04T01:45:06.914Z","threadId":"f-tool","resourceId":"r1",
            "content":{"format":2,"parts":[
                {"type":"tool-invocation","toolInvocation":{"state":"result","toolCallId":"call_9","toolName":"get_weather","args":{"city":"Rome"},"result":{"city":"Rome","tempC":21}},"createdAt":1796348706920},
                {"type":"step-start","createdAt":1796348706931,"model":"mock/echo-support"},
                {"type":"reasoning","reasoning":"hm","details":[{"type":"text","text":"hm"}],"providerMetadata":{"lab":{"signature":"s"}},"createdAt":1796348706950},
                {"type":"text","text":"tool get_weather returned: x","createdAt":1796348706987}],
              "content":"tool get_weather returned: x",
              "metadata":{"modelId":"echo-support","provider":"mock"}}}"#).unwrap();
        let rebuilt = stored_answer(&ui, "f-tool", "r1").expect("known parts");
        assert_eq!(serde_json::to_value(&rebuilt).unwrap(), stored);
        let unknown = json!({"id":"x","role":"assistant","metadata":{"createdAt":"2026-01-01T00:00:00.000Z"},
            "parts":[{"type":"file","url":"u"}]});
        assert!(stored_answer(&unknown, "t", "r").is_none());
    }
}
