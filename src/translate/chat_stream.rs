//! Turn events → a Chat Completions answer: `chat.completion.chunk` `data:` lines ending with
//! `data: [DONE]` when streaming, one `chat.completion` otherwise. The second sink over the
//! same engine as the Responses writer.
//!
//! - Text becomes `content`; the first chunk carries `role: "assistant"`.
//! - Calls of the caller's tools become `tool_calls` (`index`, then `id`, `type` and the name on
//!   the call's first delta, the arguments in pieces); `finish_reason: "tool_calls"`.
//! - Tools the agent ran inside Mastra are not the client's to run: they never show in
//!   `tool_calls`; the client sees the answer that used them. Reasoning is not shown either
//!   (its tokens are in `usage.completion_tokens_details.reasoning_tokens`).
//! - A failure after the stream started is a `data: {"error": …}` line, which the SDKs raise;
//!   no `[DONE]` follows, so a cut answer never reads as complete.

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::openai::chat::{
    AssistantMessage, ChatCompletion, ChatUsage, Choice, CompletionDetails, FunctionCall,
    PromptDetails, ToolCall,
};
use crate::translate::turn::{Finish, FinishReason, Outcome, TurnEvent, TurnSink, TurnUsage};

/// One call of the caller's tools, as it builds up.
struct Call {
    id: String,
    name: String,
    arguments: String,
    /// Its first delta (id, type, name) was written.
    announced: bool,
}

pub struct ChatWriter {
    id: String,
    created: i64,
    model: String,
    sse: bool,
    include_usage: bool,
    content: String,
    calls: Vec<Call>,
    role_sent: bool,
    output_started: bool,
    events: u64,
    error: Option<String>,
    finish: Option<Finish>,
    outcome: Option<Outcome>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    system_fingerprint: Option<&'a str>,
    service_tier: &'static str,
    choices: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<ChatUsage>>,
}

impl ChatWriter {
    /// `id` is the completion's (`chatcmpl-…`), `model` what the answer names.
    pub fn new(id: String, created: i64, model: String, sse: bool, include_usage: bool) -> Self {
        Self {
            id,
            created,
            model,
            sse,
            include_usage,
            content: String::new(),
            calls: Vec::new(),
            role_sent: false,
            output_started: false,
            events: 0,
            error: None,
            finish: None,
            outcome: None,
        }
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    fn usage(&self) -> ChatUsage {
        let u: TurnUsage = self.finish.as_ref().map(|f| f.usage).unwrap_or_default();
        ChatUsage {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.input_tokens + u.output_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens: u.cached_input_tokens,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: u.reasoning_tokens,
                ..CompletionDetails::default()
            },
        }
    }

    fn finish_reason(&self) -> &'static str {
        if !self.calls.is_empty() {
            return "tool_calls";
        }
        match self.finish.as_ref().map(|f| f.reason) {
            Some(FinishReason::Length) => "length",
            Some(FinishReason::ContentFilter) => "content_filter",
            _ => "stop",
        }
    }

    /// The whole answer (non-streaming).
    pub fn completion(&self) -> ChatCompletion {
        ChatCompletion {
            id: self.id.clone(),
            object: "chat.completion",
            created: self.created,
            model: self.model.clone(),
            system_fingerprint: None,
            service_tier: "default",
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: (!self.content.is_empty() || self.calls.is_empty())
                        .then(|| self.content.clone()),
                    refusal: None,
                    tool_calls: self
                        .calls
                        .iter()
                        .map(|c| ToolCall {
                            id: c.id.clone(),
                            kind: "function",
                            function: FunctionCall {
                                name: c.name.clone(),
                                arguments: c.arguments.clone(),
                            },
                        })
                        .collect(),
                    annotations: Vec::new(),
                },
                logprobs: None,
                finish_reason: self.finish_reason(),
            }],
            usage: self.usage(),
        }
    }

    fn chunk(&mut self, choices: Vec<Value>, usage: Option<Option<ChatUsage>>, out: &mut BytesMut) {
        self.events += 1;
        if !self.sse {
            return;
        }
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: None,
            service_tier: "default",
            choices,
            usage,
        };
        out.put_slice(b"data: ");
        let mut writer = out.writer();
        // Serializing our own in-memory values cannot fail.
        let _ = serde_json::to_writer(&mut writer, &chunk);
        writer.into_inner().put_slice(b"\n\n");
    }

    /// A chunk with one choice whose delta is `delta`.
    fn delta(&mut self, delta: Value, finish_reason: Option<&str>, out: &mut BytesMut) {
        let delta = if self.role_sent {
            delta
        } else {
            // The first delta says who speaks, before anything else.
            self.role_sent = true;
            let mut first = serde_json::Map::new();
            first.insert("role".into(), json!("assistant"));
            if let Value::Object(rest) = delta {
                first.extend(rest);
            }
            Value::Object(first)
        };
        let usage = self.include_usage.then_some(None);
        let choice =
            json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason});
        self.chunk(vec![choice], usage, out);
    }

    fn text(&mut self, raw: &RawValue, out: &mut BytesMut) {
        let text: String = serde_json::from_str(raw.get()).unwrap_or_default();
        if text.is_empty() {
            return;
        }
        self.output_started = true;
        self.content.push_str(&text);
        if self.sse {
            self.delta(json!({"content": text}), None, out);
        }
    }

    fn call_index(&self, call_id: &str) -> Option<usize> {
        self.calls.iter().position(|c| c.id == call_id)
    }

    fn announce(&mut self, i: usize, out: &mut BytesMut) {
        if self.calls[i].announced {
            return;
        }
        self.calls[i].announced = true;
        self.output_started = true;
        let c = &self.calls[i];
        let delta = json!({"tool_calls": [{"index": i, "id": c.id, "type": "function",
            "function": {"name": c.name, "arguments": ""}}]});
        if self.sse {
            // The content so far is `null` beside the calls, as OpenAI streams them.
            self.delta(delta, None, out);
        } else {
            self.events += 1;
        }
    }

    fn arguments(&mut self, i: usize, piece: &str, out: &mut BytesMut) {
        self.calls[i].arguments.push_str(piece);
        if self.sse {
            self.delta(
                json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                None,
                out,
            );
        } else {
            self.events += 1;
        }
    }
}

impl TurnSink for ChatWriter {
    fn on_event(&mut self, event: &TurnEvent<'_>, out: &mut BytesMut) {
        if self.outcome.is_some() {
            return;
        }
        match event {
            TurnEvent::TextDelta { text, .. } => self.text(text, out),
            TurnEvent::ToolInputStart {
                call_id,
                name,
                client: true,
            } => {
                if self.call_index(call_id).is_none() {
                    self.calls.push(Call {
                        id: call_id.to_string(),
                        name: name.to_string(),
                        arguments: String::new(),
                        announced: false,
                    });
                }
                if let Some(i) = self.call_index(call_id) {
                    self.announce(i, out);
                }
            }
            TurnEvent::ToolInputDelta { call_id, delta } => {
                if let Some(i) = self.call_index(call_id) {
                    let piece: String = serde_json::from_str(delta.get()).unwrap_or_default();
                    self.arguments(i, &piece, out);
                }
            }
            TurnEvent::ToolCall {
                call_id,
                name,
                arguments,
                client: true,
            } => {
                let i = match self.call_index(call_id) {
                    Some(i) => i,
                    None => {
                        self.calls.push(Call {
                            id: call_id.to_string(),
                            name: name.to_string(),
                            arguments: String::new(),
                            announced: false,
                        });
                        self.calls.len() - 1
                    }
                };
                self.announce(i, out);
                if self.calls[i].arguments.is_empty() {
                    // None streamed: the whole arguments object as one piece.
                    let text = arguments.get().to_string();
                    self.arguments(i, &text, out);
                }
            }
            TurnEvent::Error { message } if self.error.is_none() => {
                self.error = Some(message.clone());
            }
            TurnEvent::Finish(finish) => self.finish = Some(finish.clone()),
            // The agent's own tools, reasoning, the start: nothing for a Chat client.
            _ => {}
        }
    }

    fn finished(&self) -> Option<Outcome> {
        self.finish
            .as_ref()
            .map(|f| Outcome::from_finish(f, self.error.as_deref()))
    }

    fn end(&mut self, outcome: Outcome, out: &mut BytesMut) {
        if self.outcome.is_some() {
            return;
        }
        if self.sse {
            match &outcome {
                Outcome::Failed(_, message) => {
                    // The SDKs raise on a chunk carrying `error`; no [DONE]: the answer is cut.
                    out.put_slice(b"data: ");
                    let mut writer = out.writer();
                    let _ = serde_json::to_writer(
                        &mut writer,
                        &json!({"error": {"message": message, "type": "server_error",
                                          "param": null, "code": "server_error"}}),
                    );
                    writer.into_inner().put_slice(b"\n\n");
                    self.events += 1;
                }
                _ => {
                    let reason = self.finish_reason();
                    self.delta(json!({}), Some(reason), out);
                    if self.include_usage {
                        let usage = self.usage();
                        self.chunk(Vec::new(), Some(Some(usage)), out);
                    }
                    out.put_slice(b"data: [DONE]\n\n");
                }
            }
        }
        self.outcome = Some(outcome);
    }

    fn is_done(&self) -> bool {
        self.outcome.is_some()
    }

    fn output_started(&self) -> bool {
        self.output_started
    }

    fn events_written(&self) -> u64 {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::native::ChunkDecoder;
    use crate::translate::turn::Turn;

    /// The Chat stream (or answer) the writer makes of a recorded Mastra transcript.
    fn run(name: &str, client_tools: &[&str], sse: bool) -> (String, ChatWriter) {
        let path = format!(
            "{}/tests/data/native_stream_{name}.sse",
            env!("CARGO_MANIFEST_DIR")
        );
        let transcript = std::fs::read_to_string(path).unwrap();
        let mut turn = Turn::default();
        for t in client_tools {
            turn.client_tools.insert((*t).into(), json!({"id": t}));
        }
        let mut decoder = ChunkDecoder::new(&turn);
        let mut w = ChatWriter::new("chatcmpl-test".into(), 1, "support-agent".into(), sse, true);
        let mut out = BytesMut::new();
        for data in transcript.lines().filter_map(|l| l.strip_prefix("data: ")) {
            decoder
                .decode(data.as_bytes(), &mut |e| w.on_event(e, &mut out))
                .unwrap();
        }
        let outcome = w.finished().unwrap();
        w.end(outcome, &mut out);
        (String::from_utf8(out.to_vec()).unwrap(), w)
    }

    fn chunks(sse: &str) -> Vec<Value> {
        assert!(
            sse.ends_with("data: [DONE]\n\n") || sse.contains("\"error\""),
            "{sse}"
        );
        sse.split("\n\n")
            .filter_map(|f| f.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn text_stream() {
        let (sse, _) = run("text", &[], true);
        let c = chunks(&sse);
        assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(c.last().unwrap()["choices"], json!([]));
        insta::assert_json_snapshot!(c);
    }

    #[test]
    fn server_tool_is_not_a_tool_call() {
        let (sse, w) = run("tool", &[], true);
        assert!(!sse.contains("tool_calls"), "{sse}");
        let done = serde_json::to_value(w.completion()).unwrap();
        assert_eq!(done["choices"][0]["finish_reason"], "stop");
        assert!(done["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("get_weather returned"));
    }

    #[test]
    fn client_tool_call() {
        let (sse, w) = run("client_call", &["get_time"], true);
        insta::assert_json_snapshot!("client_tool_call_stream", chunks(&sse));
        insta::assert_json_snapshot!("client_tool_call_completion", w.completion());
    }

    #[test]
    fn token_limit_and_failure() {
        let (_, w) = run("length", &[], false);
        assert_eq!(w.completion().choices[0].finish_reason, "length");
        let (sse, w) = run("midstream_error", &[], true);
        assert!(!sse.contains("[DONE]"));
        assert!(matches!(w.outcome(), Some(Outcome::Failed(..))));
        let last = chunks(&sse).pop().unwrap();
        assert_eq!(last["error"]["type"], "server_error");
        assert!(!last.to_string().contains("node_modules"));
    }
}
