//! The Responses adapter over a turn: [`TurnEvent`]s in, OpenAI's stream events out
//! (reference/openai.md §2: `event:`/`data:` frames, `sequence_number` from 0 without gaps,
//! full Response snapshots in the lifecycle events), and the final Response object, which is
//! also the whole answer of a non-streaming request. Pure: no I/O.
//!
//! What each turn event becomes:
//! - text: one `message` item (`output_item.added`, `content_part.added`, `output_text.delta`+,
//!   `output_text.done`, `content_part.done`, `output_item.done`);
//! - reasoning: a `reasoning` item with a summary (`reasoning_summary_part.*`,
//!   `reasoning_summary_text.*`);
//! - a tool the agent ran inside Mastra: an `mcp_call` item (`server_label` = the agent), so
//!   that no client tries to run it (`mcp_call_arguments.*`, `mcp_call.completed` / `.failed`);
//! - a call of one of the caller's tools: a `function_call` item for the caller to run
//!   (`function_call_arguments.delta`+, `.done`);
//! - the end: `response.completed`, `response.incomplete` (`max_output_tokens`,
//!   `content_filter`) or `response.failed`.

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::openai::response::{
    InputTokensDetails, OutputItem, OutputTokensDetails, Response, Usage,
};
use crate::translate::ids;
use crate::translate::response::{new_response, ResponseContext};
use crate::translate::turn::{Finish, Outcome, TurnEvent, TurnSink, TurnUsage};

#[derive(Debug, Clone)]
enum Item {
    Message {
        id: String,
        text: String,
        open: bool,
        /// Closed short of its end (cut by the token limit, the client, an error).
        incomplete: bool,
    },
    Reasoning {
        id: String,
        text: String,
        open: bool,
    },
    /// A tool the agent ran.
    McpCall {
        id: String,
        name: String,
        arguments: String,
        /// `None` while it runs; then the output, or the error message.
        result: Option<Result<String, String>>,
    },
    /// A call of one of the caller's tools.
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        done: bool,
    },
}

/// One turn's Responses rendering. With `sse` off it writes nothing and only builds the final
/// Response (a non-streaming request).
pub struct ResponseWriter {
    ctx: ResponseContext,
    sse: bool,
    /// The answer's message id (the response id derives from it): chosen by the gateway for a
    /// continuation, else the one the run's `start` names.
    message_id: Option<String>,
    created_at: i64,
    next_seq: u64,
    items: Vec<Item>,
    /// Call id → index in `items`.
    calls: HashMap<String, usize>,
    messages: usize,
    reasonings: usize,
    /// The run's own error, reported by its `finish`.
    error: Option<String>,
    finish: Option<Finish>,
    outcome: Option<Outcome>,
    /// The response ends short of complete: items closed from now on are `incomplete`.
    cut: bool,
    /// The model ended its text: the message is closed by the next event, as `incomplete` if
    /// that is a finish cut by the token limit (Mastra says why only after the text's end).
    text_ended: bool,
    output_started: bool,
}

#[derive(Serialize)]
struct Lifecycle<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    response: &'a Response,
    sequence_number: u64,
}

impl ResponseWriter {
    pub fn new(ctx: ResponseContext, message_id: Option<String>, sse: bool) -> Self {
        Self {
            ctx,
            sse,
            message_id,
            created_at: unix_now(),
            next_seq: 0,
            items: Vec::new(),
            calls: HashMap::new(),
            messages: 0,
            reasonings: 0,
            error: None,
            finish: None,
            outcome: None,
            cut: false,
            text_ended: false,
            output_started: false,
        }
    }

    /// The response id (known once the run started, or chosen up front).
    pub fn response_id(&self) -> Option<String> {
        self.message_id.as_deref().map(ids::response_id_to_openai)
    }

    /// The Mastra message id of the answer.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// A content delta (text, reasoning, arguments) has been written: the first token.
    pub fn output_started(&self) -> bool {
        self.output_started
    }

    /// Events written so far.
    pub fn events_written(&self) -> u64 {
        self.next_seq
    }

    /// The run's end, once Mastra sent it.
    pub fn finish(&self) -> Option<&Finish> {
        self.finish.as_ref()
    }

    /// A terminal event has been written; nothing more will be.
    pub fn is_done(&self) -> bool {
        self.outcome.is_some()
    }

    /// One turn event.
    pub fn on_event(&mut self, event: &TurnEvent<'_>, out: &mut BytesMut) {
        if self.outcome.is_some() {
            return;
        }
        if !matches!(event, TurnEvent::Start { .. }) {
            self.ensure_started(out);
        }
        if self.text_ended && !matches!(event, TurnEvent::Finish(_)) {
            self.close_message(out);
        }
        match event {
            TurnEvent::Start { message_id } => {
                if self.message_id.is_none() && !message_id.is_empty() {
                    self.message_id = Some(message_id.to_string());
                }
                self.ensure_started(out);
            }
            TurnEvent::TextStart { .. } => self.open_message(out),
            TurnEvent::TextDelta { text, .. } => {
                let Some(i) = self.open_item(|it| matches!(it, Item::Message { open: true, .. }))
                else {
                    self.open_message(out);
                    return self.on_event(event, out);
                };
                if let Item::Message { text: acc, id, .. } = &mut self.items[i] {
                    acc.push_str(&unquote(text));
                    let id = id.clone();
                    self.write_raw_delta(
                        "response.output_text.delta",
                        &id,
                        i,
                        Some(0),
                        text,
                        true,
                        out,
                    );
                }
            }
            TurnEvent::TextEnd { .. } => self.text_ended = true,
            TurnEvent::ReasoningStart { .. } => self.open_reasoning(out),
            TurnEvent::ReasoningDelta { text, .. } => {
                let Some(i) = self.open_item(|it| matches!(it, Item::Reasoning { open: true, .. }))
                else {
                    self.open_reasoning(out);
                    return self.on_event(event, out);
                };
                if let Item::Reasoning { text: acc, id, .. } = &mut self.items[i] {
                    acc.push_str(&unquote(text));
                    let id = id.clone();
                    self.write_summary_delta(&id, i, text, out);
                }
            }
            TurnEvent::ReasoningEnd { .. } => self.close_reasoning(out),
            TurnEvent::ToolInputStart {
                call_id,
                name,
                client,
            } => {
                self.close_open(out);
                self.open_call(call_id, name, *client, out);
            }
            TurnEvent::ToolInputDelta { call_id, delta } => {
                let Some(&i) = self.calls.get(*call_id) else {
                    return;
                };
                // Not for a call that is over (its `output_item.done` written): a late delta
                // from the upstream is dropped.
                let (kind, id) = match &mut self.items[i] {
                    Item::McpCall {
                        id,
                        arguments,
                        result: None,
                        ..
                    } => {
                        arguments.push_str(&unquote(delta));
                        ("response.mcp_call_arguments.delta", id.clone())
                    }
                    Item::FunctionCall {
                        id,
                        arguments,
                        done: false,
                        ..
                    } => {
                        arguments.push_str(&unquote(delta));
                        ("response.function_call_arguments.delta", id.clone())
                    }
                    _ => return,
                };
                self.write_raw_delta(kind, &id, i, None, delta, false, out);
            }
            TurnEvent::ToolCall {
                call_id,
                name,
                arguments,
                client,
            } => {
                self.close_open(out);
                let i = match self.calls.get(*call_id) {
                    Some(&i) => i,
                    None => self.open_call(call_id, name, *client, out),
                };
                self.complete_arguments(i, arguments, out);
            }
            TurnEvent::ToolResult {
                call_id, result, ..
            } => self.finish_mcp(call_id, Ok(output_text(result)), out),
            TurnEvent::ToolError {
                call_id, message, ..
            } => self.finish_mcp(call_id, Err(message.clone()), out),
            TurnEvent::Error { message } => {
                if self.error.is_none() {
                    self.error = Some(message.clone());
                }
            }
            TurnEvent::Finish(finish) => {
                // Cut by the token limit, a filter or an error: what is still open ends
                // incomplete.
                if Outcome::from_finish(finish, self.error.as_deref()) != Outcome::Completed {
                    self.cut = true;
                }
                self.close_open(out);
                self.finish = Some(finish.clone());
            }
        }
    }

    /// Ends the response: the terminal event (`response.completed`, `.incomplete`, `.failed`),
    /// preceded by `response.created` if nothing was written yet. Items still open are closed
    /// as incomplete. No-op once done.
    pub fn end(&mut self, outcome: Outcome, out: &mut BytesMut) {
        if self.outcome.is_some() {
            return;
        }
        self.ensure_started(out);
        if outcome != Outcome::Completed {
            self.cut = true;
        }
        self.close_open(out);
        let kind = match &outcome {
            Outcome::Completed => "response.completed",
            Outcome::Incomplete(_) => "response.incomplete",
            Outcome::Failed(..) => "response.failed",
        };
        self.outcome = Some(outcome);
        let response = self.response();
        self.write_lifecycle(kind, &response, out);
    }

    /// The response as it stands: `in_progress` until [`end`](Self::end), then final.
    pub fn response(&self) -> Response {
        let id = self.response_id().unwrap_or_else(|| "resp_pending".into());
        let mut r = new_response(id, self.created_at, &self.ctx);
        let Some(outcome) = &self.outcome else {
            return r;
        };
        r.status = outcome.status().to_string();
        match outcome {
            Outcome::Completed => r.completed_at = Some(unix_now()),
            Outcome::Incomplete(Some(reason)) => {
                r.incomplete_details = json!({ "reason": reason });
            }
            Outcome::Incomplete(None) => {}
            // OpenAI's codes are few; the gateway's own cause is in the message.
            Outcome::Failed(_, message) => {
                r.error = json!({ "code": "server_error", "message": message });
            }
        }
        r.output = self.output_items();
        if !matches!(outcome, Outcome::Failed(..)) {
            r.usage = Some(usage(
                self.finish.as_ref().map(|f| f.usage).unwrap_or_default(),
            ));
        }
        r
    }

    /// How the response ended, once it did.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Every output item, final (what `response.completed` carries).
    pub fn output_items(&self) -> Vec<OutputItem> {
        let incomplete = self.cut;
        self.items
            .iter()
            .map(|it| OutputItem::Rewritten(self.item_json(it, incomplete)))
            .collect()
    }

    /// How the run ended by Mastra's account (its `finish`, and any error it reported).
    pub fn finished_outcome(&self) -> Option<Outcome> {
        self.finish
            .as_ref()
            .map(|f| Outcome::from_finish(f, self.error.as_deref()))
    }

    /// The calls of the caller's tools this response hands over: `(call_id, name, arguments)`.
    pub fn client_calls(&self) -> Vec<(String, String, String)> {
        self.items
            .iter()
            .filter_map(|it| match it {
                Item::FunctionCall {
                    call_id,
                    name,
                    arguments,
                    ..
                } => Some((call_id.clone(), name.clone(), arguments.clone())),
                _ => None,
            })
            .collect()
    }

    // ------------------------------------------------------------------------- internals

    fn token(&self) -> String {
        self.message_id.clone().unwrap_or_else(|| "pending".into())
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.next_seq > 0 || self.outcome.is_some() {
            return;
        }
        let r = self.response();
        self.write_lifecycle("response.created", &r, out);
        self.write_lifecycle("response.in_progress", &r, out);
    }

    fn open_item(&self, pred: impl Fn(&Item) -> bool) -> Option<usize> {
        self.items.iter().rposition(pred)
    }

    /// Closes whatever text or reasoning item is open (a tool call or the end follows).
    fn close_open(&mut self, out: &mut BytesMut) {
        self.close_message(out);
        self.close_reasoning(out);
    }

    fn open_message(&mut self, out: &mut BytesMut) {
        if self
            .open_item(|it| matches!(it, Item::Message { open: true, .. }))
            .is_some()
        {
            return;
        }
        self.close_reasoning(out);
        let id = ids::message_item_id(&self.token(), self.messages);
        self.messages += 1;
        let i = self.items.len();
        self.items.push(Item::Message {
            id: id.clone(),
            text: String::new(),
            open: true,
            incomplete: false,
        });
        self.write_item("response.output_item.added", i, out);
        self.write(
            "response.content_part.added",
            json!({"item_id": id, "output_index": i, "content_index": 0,
                   "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}),
            out,
        );
    }

    fn close_message(&mut self, out: &mut BytesMut) {
        self.text_ended = false;
        let Some(i) = self.open_item(|it| matches!(it, Item::Message { open: true, .. })) else {
            return;
        };
        let cut = self.cut;
        let Item::Message {
            id,
            text,
            open,
            incomplete,
        } = &mut self.items[i]
        else {
            return;
        };
        *open = false;
        *incomplete = cut;
        let (id, text) = (id.clone(), text.clone());
        self.write(
            "response.output_text.done",
            json!({"item_id": id, "output_index": i, "content_index": 0, "text": text, "logprobs": []}),
            out,
        );
        self.write(
            "response.content_part.done",
            json!({"item_id": id, "output_index": i, "content_index": 0,
                   "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []}}),
            out,
        );
        self.write_item("response.output_item.done", i, out);
    }

    fn open_reasoning(&mut self, out: &mut BytesMut) {
        if self
            .open_item(|it| matches!(it, Item::Reasoning { open: true, .. }))
            .is_some()
        {
            return;
        }
        self.close_message(out);
        let id = ids::reasoning_item_id(&self.token(), self.reasonings);
        self.reasonings += 1;
        let i = self.items.len();
        self.items.push(Item::Reasoning {
            id: id.clone(),
            text: String::new(),
            open: true,
        });
        self.write_item("response.output_item.added", i, out);
        self.write(
            "response.reasoning_summary_part.added",
            json!({"item_id": id, "output_index": i, "summary_index": 0,
                   "part": {"type": "summary_text", "text": ""}}),
            out,
        );
    }

    fn close_reasoning(&mut self, out: &mut BytesMut) {
        let Some(i) = self.open_item(|it| matches!(it, Item::Reasoning { open: true, .. })) else {
            return;
        };
        let Item::Reasoning { id, text, open } = &mut self.items[i] else {
            return;
        };
        *open = false;
        let (id, text) = (id.clone(), text.clone());
        self.write(
            "response.reasoning_summary_text.done",
            json!({"item_id": id, "output_index": i, "summary_index": 0, "text": text}),
            out,
        );
        self.write(
            "response.reasoning_summary_part.done",
            json!({"item_id": id, "output_index": i, "summary_index": 0,
                   "part": {"type": "summary_text", "text": text}}),
            out,
        );
        self.write_item("response.output_item.done", i, out);
    }

    fn open_call(&mut self, call_id: &str, name: &str, client: bool, out: &mut BytesMut) -> usize {
        let i = self.items.len();
        self.items.push(if client {
            Item::FunctionCall {
                id: ids::function_call_item_id(call_id),
                call_id: call_id.to_string(),
                name: name.to_string(),
                arguments: String::new(),
                done: false,
            }
        } else {
            Item::McpCall {
                id: ids::mcp_call_item_id(&self.token(), call_id),
                name: name.to_string(),
                arguments: String::new(),
                result: None,
            }
        });
        self.calls.insert(call_id.to_string(), i);
        self.write_item("response.output_item.added", i, out);
        if !client {
            // OpenAI announces a hosted call as running right after adding it, before its
            // arguments stream.
            let id = ids::mcp_call_item_id(&self.token(), call_id);
            self.write(
                "response.mcp_call.in_progress",
                json!({"item_id": id, "output_index": i}),
                out,
            );
        }
        i
    }

    /// The call's arguments are complete: the streamed ones, or (when none streamed) the
    /// arguments object as text, sent as one delta first.
    fn complete_arguments(&mut self, i: usize, arguments: &RawValue, out: &mut BytesMut) {
        let (kind, done_kind, id, streamed) = match &self.items[i] {
            Item::McpCall {
                id,
                arguments,
                result: None,
                ..
            } => (
                "response.mcp_call_arguments.delta",
                "response.mcp_call_arguments.done",
                id.clone(),
                arguments.clone(),
            ),
            Item::FunctionCall {
                id,
                arguments,
                done: false,
                ..
            } => (
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                id.clone(),
                arguments.clone(),
            ),
            _ => return,
        };
        let full = if streamed.is_empty() {
            let text = arguments.get().to_string();
            let quoted = serde_json::to_string(&text).unwrap_or_default();
            if let Ok(raw) = RawValue::from_string(quoted) {
                self.write_raw_delta(kind, &id, i, None, &raw, false, out);
            }
            text
        } else {
            streamed
        };
        match &mut self.items[i] {
            Item::McpCall { arguments, .. } => {
                arguments.clone_from(&full);
                self.write(
                    done_kind,
                    json!({"item_id": id, "output_index": i, "arguments": full}),
                    out,
                );
            }
            Item::FunctionCall {
                arguments,
                done,
                name,
                ..
            } => {
                arguments.clone_from(&full);
                *done = true;
                let name = name.clone();
                self.write(
                    done_kind,
                    json!({"item_id": id, "output_index": i, "name": name, "arguments": full}),
                    out,
                );
                self.write_item("response.output_item.done", i, out);
            }
            _ => {}
        }
    }

    fn finish_mcp(&mut self, call_id: &str, result: Result<String, String>, out: &mut BytesMut) {
        let Some(&i) = self.calls.get(call_id) else {
            return;
        };
        let Item::McpCall {
            id, result: slot, ..
        } = &mut self.items[i]
        else {
            return;
        };
        if slot.is_some() {
            return;
        }
        let failed = result.is_err();
        *slot = Some(result);
        let id = id.clone();
        let kind = if failed {
            "response.mcp_call.failed"
        } else {
            "response.mcp_call.completed"
        };
        self.write(kind, json!({"item_id": id, "output_index": i}), out);
        self.write_item("response.output_item.done", i, out);
    }

    fn item_json(&self, item: &Item, incomplete: bool) -> Value {
        let status = |open: bool| {
            if open || incomplete {
                "incomplete"
            } else {
                "completed"
            }
        };
        match item {
            Item::Message {
                id,
                text,
                open,
                incomplete: cut,
            } => json!({
                // Its own state: an earlier message of a cut response was complete.
                "id": id, "type": "message",
                "status": if *open || *cut { "incomplete" } else { "completed" },
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
            }),
            Item::Reasoning { id, text, .. } => json!({
                "id": id, "type": "reasoning",
                "summary": [{"type": "summary_text", "text": text}]
            }),
            Item::McpCall {
                id,
                name,
                arguments,
                result,
            } => {
                let (output, error, status) = match result {
                    Some(Ok(o)) => (json!(o), Value::Null, "completed"),
                    Some(Err(e)) => (
                        Value::Null,
                        json!({"type": "mcp_tool_execution_error", "content": e}),
                        "failed",
                    ),
                    None => (Value::Null, Value::Null, "incomplete"),
                };
                json!({
                    "id": id, "type": "mcp_call", "server_label": self.ctx.model,
                    "name": name, "arguments": arguments, "output": output, "error": error,
                    "status": status, "approval_request_id": null
                })
            }
            Item::FunctionCall {
                id,
                call_id,
                name,
                arguments,
                done,
            } => json!({
                "id": id, "type": "function_call", "status": status(!*done),
                "arguments": arguments, "call_id": call_id, "name": name
            }),
        }
    }

    /// `output_item.added` (the item as it starts: empty content, arguments `""`) or
    /// `output_item.done` (final).
    fn write_item(&mut self, kind: &str, i: usize, out: &mut BytesMut) {
        let item = if kind == "response.output_item.added" {
            match &self.items[i] {
                Item::Message { id, .. } => json!({
                    "id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []
                }),
                Item::Reasoning { id, .. } => json!({"id": id, "type": "reasoning", "summary": []}),
                Item::McpCall { id, name, .. } => json!({
                    "id": id, "type": "mcp_call", "server_label": self.ctx.model, "name": name,
                    "arguments": "", "output": null, "error": null, "status": "in_progress",
                    "approval_request_id": null
                }),
                Item::FunctionCall {
                    id, call_id, name, ..
                } => json!({
                    "id": id, "type": "function_call", "status": "in_progress",
                    "arguments": "", "call_id": call_id, "name": name
                }),
            }
        } else {
            self.item_json(&self.items[i], self.cut)
        };
        self.write(kind, json!({"output_index": i, "item": item}), out);
    }

    fn write_lifecycle(&mut self, kind: &str, response: &Response, out: &mut BytesMut) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.sse {
            frame(
                kind,
                &Lifecycle {
                    kind,
                    response,
                    sequence_number: seq,
                },
                out,
            );
        }
    }

    /// An event whose fields are `fields` (an object), plus its type first and its
    /// `sequence_number` last.
    fn write(&mut self, kind: &str, fields: Value, out: &mut BytesMut) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if !self.sse {
            return;
        }
        let Value::Object(fields) = fields else {
            return;
        };
        let mut event = serde_json::Map::with_capacity(fields.len() + 2);
        event.insert("type".into(), Value::String(kind.into()));
        event.extend(fields);
        event.insert("sequence_number".into(), Value::from(seq));
        frame(kind, &event, out);
    }

    /// A delta event, written without building a tree: the delta is the JSON string as Mastra
    /// sent it.
    #[allow(clippy::too_many_arguments)]
    fn write_raw_delta(
        &mut self,
        kind: &str,
        item_id: &str,
        output_index: usize,
        content_index: Option<usize>,
        delta: &RawValue,
        logprobs: bool,
        out: &mut BytesMut,
    ) {
        #[derive(Serialize)]
        struct Delta<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            item_id: &'a str,
            output_index: usize,
            #[serde(skip_serializing_if = "Option::is_none")]
            content_index: Option<usize>,
            delta: &'a RawValue,
            #[serde(skip_serializing_if = "Option::is_none")]
            logprobs: Option<[(); 0]>,
            sequence_number: u64,
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.output_started = true;
        if self.sse {
            let event = Delta {
                kind,
                item_id,
                output_index,
                content_index,
                delta,
                logprobs: logprobs.then_some([]),
                sequence_number: seq,
            };
            frame(kind, &event, out);
        }
    }

    fn write_summary_delta(
        &mut self,
        item_id: &str,
        i: usize,
        delta: &RawValue,
        out: &mut BytesMut,
    ) {
        #[derive(Serialize)]
        struct SummaryDelta<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            item_id: &'a str,
            output_index: usize,
            summary_index: usize,
            delta: &'a RawValue,
            sequence_number: u64,
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.output_started = true;
        if self.sse {
            let kind = "response.reasoning_summary_text.delta";
            frame(
                kind,
                &SummaryDelta {
                    kind,
                    item_id,
                    output_index: i,
                    summary_index: 0,
                    delta,
                    sequence_number: seq,
                },
                out,
            );
        }
    }
}

/// A JSON string's text (what a delta adds).
fn unquote(raw: &RawValue) -> String {
    serde_json::from_str::<String>(raw.get()).unwrap_or_default()
}

/// A tool's result as `mcp_call.output`: a string as it is, anything else as its JSON text.
fn output_text(result: &RawValue) -> String {
    match serde_json::from_str::<Value>(result.get()) {
        Ok(Value::String(s)) => s,
        _ => result.get().to_string(),
    }
}

pub fn usage(u: TurnUsage) -> Usage {
    Usage {
        input_tokens: u.input_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: u.cached_input_tokens,
        },
        output_tokens: u.output_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
        total_tokens: u.input_tokens + u.output_tokens,
    }
}

/// `event: <type>\ndata: <json>\n\n`.
fn frame(kind: &str, payload: &impl Serialize, out: &mut BytesMut) {
    out.put_slice(b"event: ");
    out.put_slice(kind.as_bytes());
    out.put_slice(b"\ndata: ");
    let mut writer = out.writer();
    // Serializing our own in-memory values cannot fail.
    let _ = serde_json::to_writer(&mut writer, payload);
    let out = writer.into_inner();
    out.put_slice(b"\n\n");
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TurnSink for ResponseWriter {
    fn on_event(&mut self, event: &TurnEvent<'_>, out: &mut BytesMut) {
        ResponseWriter::on_event(self, event, out)
    }
    fn finished(&self) -> Option<Outcome> {
        self.finished_outcome()
    }
    fn end(&mut self, outcome: Outcome, out: &mut BytesMut) {
        ResponseWriter::end(self, outcome, out)
    }
    fn is_done(&self) -> bool {
        ResponseWriter::is_done(self)
    }
    fn output_started(&self) -> bool {
        ResponseWriter::output_started(self)
    }
    fn events_written(&self) -> u64 {
        ResponseWriter::events_written(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::native::ChunkDecoder;
    use crate::translate::response::RequestEcho;
    use crate::translate::turn::Turn;

    fn ctx() -> ResponseContext {
        ResponseContext {
            model: "support-agent".into(),
            conversation: None,
            echo: RequestEcho::default(),
            previous_response_id: None,
            store: true,
        }
    }

    /// The Responses stream the writer makes of a real Mastra transcript
    /// (tests/data/native_stream_<name>.sse, recorded from the fixture), as JSON events;
    /// `client_tools` are the caller's tools of the turn.
    fn events(name: &str, client_tools: &[&str]) -> Vec<Value> {
        let path = format!(
            "{}/tests/data/native_stream_{name}.sse",
            env!("CARGO_MANIFEST_DIR")
        );
        let sse = std::fs::read_to_string(path).unwrap();
        let mut turn = Turn::default();
        for t in client_tools {
            turn.client_tools.insert((*t).into(), json!({"id": t}));
        }
        let mut decoder = ChunkDecoder::new(&turn);
        let mut writer = ResponseWriter::new(ctx(), None, true);
        let mut out = BytesMut::new();
        for data in sse.lines().filter_map(|l| l.strip_prefix("data: ")) {
            decoder
                .decode(data.as_bytes(), &mut |e| writer.on_event(e, &mut out))
                .unwrap();
        }
        let outcome = writer
            .finished_outcome()
            .expect("the transcript has its finish");
        writer.end(outcome, &mut out);
        assert!(writer.is_done());
        String::from_utf8(out.to_vec())
            .unwrap()
            .split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|frame| {
                let (event, data) = frame.split_once('\n').unwrap();
                let v: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(
                    Some(v["type"].as_str().unwrap()),
                    event.strip_prefix("event: ")
                );
                v
            })
            .collect()
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    macro_rules! snapshot {
        ($events:expr) => {
            insta::assert_json_snapshot!($events, {
                "[].response.created_at" => "[created_at]",
                "[].response.completed_at" => insta::dynamic_redaction(|v, _| {
                    if v.is_nil() { v } else { "[completed_at]".into() }
                }),
            })
        };
    }

    #[test]
    fn text_turn() {
        let e = events("text", &[]);
        for (i, ev) in e.iter().enumerate() {
            assert_eq!(ev["sequence_number"], i, "dense from 0");
        }
        snapshot!(e);
    }

    #[test]
    fn server_tool_turn_is_an_mcp_call() {
        let e = events("tool", &[]);
        assert!(!types(&e).iter().any(|t| t.contains("function_call")));
        snapshot!(e);
    }

    #[test]
    fn reasoning_turn() {
        snapshot!(events("reasoning", &[]));
    }

    #[test]
    fn turn_cut_by_max_output_tokens_is_incomplete() {
        let e = events("length", &[]);
        let t = types(&e);
        assert_eq!(t.last(), Some(&"response.incomplete"));
        // The message closes once Mastra said why the text ended: incomplete in its own
        // `output_item.done`, as in the terminal response.
        let done = e
            .iter()
            .find(|v| v["type"] == "response.output_item.done")
            .unwrap();
        assert_eq!(done["item"]["status"], "incomplete");
        snapshot!(e);
    }

    #[test]
    fn mid_stream_error_fails_without_the_stack() {
        let e = events("midstream_error", &[]);
        let last = e.last().unwrap();
        assert_eq!(last["type"], "response.failed");
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("node_modules") && !text.contains("    at "));
        snapshot!(e);
    }

    #[test]
    fn failing_server_tool_is_a_failed_mcp_call() {
        let e = events("tool_error", &[]);
        assert!(types(&e).contains(&"response.mcp_call.failed"));
        snapshot!(e);
    }

    /// Found by the `stream_translator` fuzz target (tests/parser_checks): an argument delta
    /// that comes after its call is over (`tool-call`, `tool-error`, `tool-call-delta` for one
    /// server tool; a delta after a client call's `tool-call`) was written about an item
    /// whose `output_item.done` the client had already read.
    #[test]
    fn no_delta_for_a_call_that_is_over() {
        let mut turn = Turn::default();
        turn.client_tools
            .insert("get_time".into(), json!({"id": "get_time"}));
        let mut decoder = ChunkDecoder::new(&turn);
        let mut writer = ResponseWriter::new(ctx(), None, true);
        let mut out = BytesMut::new();
        for chunk in [
            r#"{"type":"start","payload":{"messageId":"m1"}}"#,
            r#"{"type":"tool-call","payload":{"toolCallId":"c1"}}"#,
            r#"{"type":"tool-error","payload":{"toolCallId":"c1"}}"#,
            r#"{"type":"tool-call-delta","payload":{"argsTextDelta":"x","toolCallId":"c1"}}"#,
            r#"{"type":"tool-call","payload":{"toolCallId":"c2","toolName":"get_time","args":{}}}"#,
            r#"{"type":"tool-call-delta","payload":{"argsTextDelta":"y","toolCallId":"c2"}}"#,
        ] {
            decoder
                .decode(chunk.as_bytes(), &mut |e| writer.on_event(e, &mut out))
                .unwrap();
        }
        let text = String::from_utf8(out.to_vec()).unwrap();
        let mut done = Vec::new();
        for frame in text.split("\n\n").filter(|f| !f.is_empty()) {
            let v: Value = serde_json::from_str(frame.split_once("data: ").unwrap().1).unwrap();
            let index = &v["output_index"];
            assert!(!done.contains(index), "after its output_item.done: {v}");
            if v["type"] == "response.output_item.done" {
                done.push(index.clone());
            }
        }
        assert_eq!(done.len(), 2);
        assert_eq!(writer.client_calls()[0].2, "{}");
    }

    #[test]
    fn client_tool_call_is_a_function_call() {
        let e = events("client_call", &["get_time"]);
        assert!(!types(&e).iter().any(|t| t.contains("mcp_call")));
        snapshot!(e);
    }
}
