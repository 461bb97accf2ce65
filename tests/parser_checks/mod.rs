//! The properties of the request parsers, the SSE decoder, the native stream translation and
//! path ids, as functions that take arbitrary input and panic when a property fails. One copy
//! serves both `tests/parser_properties.rs` (proptest, every `cargo test`) and the libFuzzer
//! targets in `fuzz/` (which include this file by path), so the two always check the same
//! things.
//!
//! Nothing here may use more than `mastra_gateway` and three of its dependencies (`bytes`,
//! `serde`, `serde_json`): the fuzz crate has no other.

#![allow(dead_code)] // each user calls its own subset

use std::collections::{HashMap, HashSet};

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use mastra_gateway::api::{decode_segment, parse_json};
use mastra_gateway::error::ApiError;
use mastra_gateway::mastra::path::{is_plausible_id, quoted, PathId};
use mastra_gateway::mastra::sse::{SseDecoder, SseEvent};
use mastra_gateway::openai::chat::ChatRequest;
use mastra_gateway::openai::conversations::{
    CreateConversationRequest, CreateItemsRequest, UpdateConversationRequest,
};
use mastra_gateway::openai::request::CreateResponseRequest;
use mastra_gateway::translate::chat_request;
use mastra_gateway::translate::chat_stream::ChatWriter;
use mastra_gateway::translate::input::{parse_input, turn_messages};
use mastra_gateway::translate::items::{
    messages_from_items, parse_include_query, parse_list_query, validate_client_metadata,
    NewMessages,
};
use mastra_gateway::translate::native::{request_body, ChunkDecoder};
use mastra_gateway::translate::request::{check_input_size, turn_from_request, validate};
use mastra_gateway::translate::response::{new_response, RequestEcho, ResponseContext};
use mastra_gateway::translate::response_stream::ResponseWriter;
use mastra_gateway::translate::turn::{Memory, Outcome, Turn, TurnEvent, TurnSink};

/// The agent every translated request runs on.
pub const AGENT: &str = "agent-1";

// ------------------------------------------------------------------------------ errors

/// What a client's bytes can earn: a 4xx in OpenAI's envelope, never a 5xx (which would
/// blame, and mark down, the upstream).
pub fn assert_client_error(e: &ApiError) {
    assert!(e.status.is_client_error(), "not a 4xx: {e:?}");
    let v: Value = serde_json::from_slice(&e.to_json()).expect("the error envelope is JSON");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(v["error"]["type"].is_string(), "{v}");
}

/// A refusal of a body that parsed: a client error that names the parameter at fault (an
/// unknown key `""` is named `""`).
pub fn assert_refusal(e: &ApiError) {
    assert_client_error(e);
    assert!(e.param.is_some(), "a refusal without a param: {e:?}");
    let v: Value = serde_json::from_slice(&e.to_json()).expect("the error envelope is JSON");
    assert_eq!(v["error"]["param"], json!(e.param), "{v}");
}

/// `parse_json` accepts only what is one JSON value (whatever `T` makes of it).
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    match parse_json::<T>(body) {
        Ok(v) => {
            assert!(
                serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok(),
                "parse_json accepted bytes that are not one JSON value"
            );
            Some(v)
        }
        Err(e) => {
            assert_client_error(&e);
            None
        }
    }
}

/// Message ids for the messages a turn sends: `msg_1`, `msg_2`, …
fn numbered_ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("msg_{n}")
    }
}

/// Mastra's native body for `turn` (`POST /api/agents/:id/stream`) is one JSON object that
/// carries the turn's messages and client tools as they are.
pub fn assert_native_body(turn: &Turn) {
    let body = request_body(turn);
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("the native body is not JSON ({e}): {body:?}"));
    let Value::Object(o) = &v else {
        panic!("the native body is not an object: {v}");
    };
    assert_eq!(
        o.get("messages"),
        Some(&Value::Array(turn.messages.clone()))
    );
    let tools: Vec<&String> = o
        .get("clientTools")
        .and_then(Value::as_object)
        .map(|t| t.keys().collect())
        .unwrap_or_default();
    assert_eq!(tools, turn.client_tools.keys().collect::<Vec<_>>(), "{v}");
    match &turn.memory {
        Some(m) => assert_eq!(o["memory"]["thread"], m.thread.as_str(), "{v}"),
        None => assert!(!o.contains_key("memory"), "{v}"),
    }
}

// -------------------------------------------------------------------- request parsers

/// `POST /v1/responses`: the route's pure steps, in its order (benches/translate.rs
/// `translate_request`), stopping at the first refusal; what `validate` accepts must go all
/// the way to Mastra's native body.
pub fn create_response(body: &[u8]) {
    let Some(req) = parse::<CreateResponseRequest>(body) else {
        return;
    };
    let echo = RequestEcho::from_request(&req);
    if let Err(e) = validate(&req) {
        return assert_refusal(&e);
    }
    // Tight limits too, so the refusals are reached by small inputs.
    if let Err(e) = check_input_size(req.input.as_ref(), 2, 16) {
        assert_refusal(&e);
    }
    if let Err(e) = check_input_size(req.input.as_ref(), 1000, 1024 * 1024) {
        return assert_refusal(&e);
    }
    let input = req
        .input
        .as_ref()
        .expect("validate refuses a missing input");
    let items = parse_input(input).expect("validate refuses what parse_input refuses");
    // No thread: references and outputs of calls the input does not hold are refused here
    // (the plan resolves them against a thread first).
    let built = match turn_messages(&items, None, &mut numbered_ids()) {
        Ok(b) => b,
        Err(e) => return assert_refusal(&e),
    };
    let memory = Memory {
        thread: "thread-1".into(),
        resource: "resource-1".into(),
        read_only: req.store == Some(false),
    };
    for memory in [None, Some(memory)] {
        let turn = turn_from_request(&req, AGENT, memory, built.messages.clone())
            .unwrap_or_else(|e| panic!("validate let through what the turn refuses: {e:?}"));
        assert_eq!(turn.agent, AGENT);
        assert_native_body(&turn);
    }
    // What the stream's first event echoes encodes.
    let ctx = ResponseContext {
        model: AGENT.into(),
        conversation: req.conversation.as_ref().map(|c| c.id().to_string()),
        echo,
        previous_response_id: req.previous_response_id.clone(),
        store: req.store.unwrap_or(true),
    };
    serde_json::to_vec(&new_response("resp_1".into(), 0, &ctx)).expect("the response encodes");
}

/// `POST /v1/chat/completions`: `parse_json`, `validate`, `turn_from_chat`, the native body.
/// Every refusal after the parse names its parameter, and what `validate` accepts must go all
/// the way to Mastra's native body.
pub fn chat_request(body: &[u8]) {
    let Some(req) = parse::<ChatRequest>(body) else {
        return;
    };
    if let Err(e) = chat_request::validate(&req) {
        return assert_refusal(&e);
    }
    let _ = chat_request::include_usage(&req);
    let (turn, built) = chat_request::turn_from_chat(&req, AGENT, None, &mut numbered_ids())
        .unwrap_or_else(|e| panic!("validate let through what the turn refuses: {e:?}"));
    assert_eq!(turn.messages, built.messages);
    assert!(!turn.messages.is_empty(), "a turn without messages");
    assert_native_body(&turn);
}

/// The three Conversations bodies, each through `parse_json` and the checks its route makes
/// before anything goes upstream.
pub fn conversations(body: &[u8]) {
    let probe = NewMessages {
        thread_id: "thread-1",
        resource_id: "resource-1",
        first_ms: 1_700_000_000_000,
    };
    let items = |items: &[Value]| match messages_from_items(items, &probe, &mut numbered_ids()) {
        Ok(messages) => {
            for m in &messages {
                serde_json::to_vec(m).expect("a message to save encodes");
            }
        }
        Err(e) => assert_refusal(&e),
    };
    let metadata = |m: &Map<String, Value>| match validate_client_metadata(m) {
        Ok(()) => true,
        Err(e) => {
            assert_refusal(&e);
            false
        }
    };
    if let Some(req) = parse::<CreateConversationRequest>(body) {
        if req.rest.is_empty() && metadata(&req.metadata.unwrap_or_default()) {
            items(&req.items.unwrap_or_default());
        }
    }
    if let Some(req) = parse::<UpdateConversationRequest>(body) {
        if let Some(m) = req.metadata {
            metadata(&m.unwrap_or_default());
        }
    }
    if let Some(req) = parse::<CreateItemsRequest>(body) {
        if let (true, Some(list)) = (req.rest.is_empty(), req.items) {
            items(&list);
        }
    }
}

/// A list query (`?after=…&limit=…&order=…&include[]=…`): in range when accepted, and
/// `parse_include_query` agrees with it on `include`.
pub fn list_query(query: &str) {
    match parse_list_query(Some(query)) {
        Ok(p) => {
            assert!((1..=100).contains(&p.limit), "limit {}", p.limit);
            if let Some(after) = &p.after {
                assert!(is_plausible_id(after), "after {after:?}");
            }
            let include = parse_include_query(Some(query)).expect("its include[] alone passes");
            assert_eq!(include, p.include);
        }
        Err(e) => assert_client_error(&e),
    }
    if let Err(e) = parse_include_query(Some(query)) {
        assert_client_error(&e);
    }
}

// ------------------------------------------------------------------------- path ids

/// A plausible id encodes to unreserved characters and `%XX` only, and decodes back to itself.
pub fn path_id(raw: &str) {
    let q = quoted(raw);
    assert!(
        q.chars().count() <= 65 && !q.chars().any(char::is_control),
        "{q:?}"
    );
    let Some(id) = PathId::new(raw) else {
        assert!(!is_plausible_id(raw));
        return;
    };
    assert!(is_plausible_id(raw));
    assert_eq!(id.as_str(), raw);
    let enc = id.to_string();
    let b = enc.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => i += 1,
            b'%' => {
                assert!(
                    i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit(),
                    "bad escape in {enc:?}"
                );
                i += 3;
            }
            other => panic!("{:?} in {enc:?}", other as char),
        }
    }
    assert!(enc != "." && enc != "..", "{enc:?}");
    let back = percent_encoding_decode(&enc);
    assert_eq!(back, raw.as_bytes(), "{enc:?}");
    assert_eq!(decode_segment(&enc), raw, "{enc:?}");
}

/// `%XX` decoding, written out so the check does not trust the crate that encodes.
fn percent_encoding_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).expect("hex digit") as u8;
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

// ------------------------------------------------------------------------- SSE decoder

/// Every complete event of `stream`, pushed in chunks of the given lengths (cycled; a 0 is
/// read as 1), with the decoder drained after each push.
pub fn decode_in_chunks(stream: &[u8], lengths: &[usize]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut events = Vec::new();
    let mut rest = stream;
    let mut lengths = lengths.iter().copied().cycle();
    while !rest.is_empty() {
        let n = lengths.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        d.push(Bytes::copy_from_slice(chunk));
        while let Some(ev) = d.next_event() {
            events.push(ev);
        }
        // Nothing is held but the line still incomplete.
        let pushed = stream.len() - rest.len();
        let last_line = stream[..pushed]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(pushed, |nl| pushed - nl - 1);
        assert_eq!(d.pending_bytes(), last_line);
    }
    assert!(d.next_event().is_none());
    events
}

/// The events the decoder should give for `stream`, by the rules it implements (WHATWG's
/// field rules, lines ended by `\n` with an optional `\r` before it), written plainly.
pub fn reference_events(stream: &[u8]) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut event: Option<String> = None;
    let mut data: Option<Vec<u8>> = None;
    let complete = match stream.iter().rposition(|&c| c == b'\n') {
        Some(nl) => &stream[..nl],
        None => return events,
    };
    for line in complete.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            match data.take() {
                Some(d) => events.push(SseEvent {
                    event: event.take(),
                    data: Bytes::from(d),
                }),
                None => event = None,
            }
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(colon) => {
                let v = &line[colon + 1..];
                (&line[..colon], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => match &mut data {
                Some(d) => {
                    d.push(b'\n');
                    d.extend_from_slice(value);
                }
                None => data = Some(value.to_vec()),
            },
            b"event" => event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }
    events
}

/// The decoder never panics, gives the same events however the bytes are split, and those
/// are the events the rules give.
pub fn sse_decoder(stream: &[u8], lengths: &[usize]) {
    let whole = decode_in_chunks(stream, &[stream.len()]);
    assert_eq!(whole, reference_events(stream));
    assert_eq!(
        decode_in_chunks(stream, lengths),
        whole,
        "split {lengths:?}"
    );
    if stream.len() <= 512 {
        assert_eq!(decode_in_chunks(stream, &[1]), whole, "split byte by byte");
    }
}

// ------------------------------------------------------------------- stream translation

/// The caller's tool in every translated turn (the one `native_stream_client_call.sse`
/// calls); any other tool name is one the agent runs inside Mastra.
pub const CLIENT_TOOL: &str = "get_time";

/// An upstream event named `cut` (`event: cut`) is not Mastra's: it stands for the gateway
/// ending the turn at that point for a reason of its own (the request deadline, a shutdown,
/// a store that failed after Mastra's `finish`), with the event's data as the message.
pub const CUT_EVENT: &str = "cut";

pub fn stream_turn() -> Turn {
    let mut turn = Turn {
        agent: AGENT.into(),
        ..Turn::default()
    };
    turn.client_tools
        .insert(CLIENT_TOOL.into(), json!({"id": CLIENT_TOOL}));
    turn
}

pub fn stream_context() -> ResponseContext {
    ResponseContext {
        model: AGENT.into(),
        conversation: Some("conv_1".into()),
        echo: RequestEcho::default(),
        previous_response_id: None,
        store: true,
    }
}

/// The upstream's events through a [`ChunkDecoder`] into `sink`, as
/// `engine::stream::TurnStream` drives them: each event's data decoded, a chunk that does not
/// decode fails the turn (`upstream_error`), and at the upstream's end the outcome Mastra's
/// `finish` gave, or `upstream_error` when it never came. Nothing may be written after the
/// end. Returns what the client reads.
pub fn drive<S: TurnSink>(sink: &mut S, events: &[SseEvent]) -> BytesMut {
    let turn = stream_turn();
    let mut decoder = ChunkDecoder::new(&turn);
    let mut out = BytesMut::new();
    let mut ended = false;
    for ev in events {
        if ev.event.as_deref() == Some(CUT_EVENT) {
            let message = String::from_utf8_lossy(&ev.data).into_owned();
            sink.end(Outcome::Failed("request_timeout", message), &mut out);
            ended = true;
            break;
        }
        if let Err(e) = decoder.decode(&ev.data, &mut |e| sink.on_event(e, &mut out)) {
            sink.end(Outcome::Failed("upstream_error", e.0), &mut out);
            ended = true;
            break;
        }
    }
    if !ended {
        let outcome = sink.finished().unwrap_or_else(|| {
            Outcome::Failed(
                "upstream_error",
                "the upstream stream ended before the response was complete".into(),
            )
        });
        sink.end(outcome, &mut out);
    }
    assert!(sink.is_done(), "not done after its end");
    // Nothing after the end, whatever still comes.
    let len = out.len();
    let text: &RawValue = serde_json::from_str("\"late\"").expect("a JSON string");
    sink.on_event(&TurnEvent::TextStart { id: "late" }, &mut out);
    sink.on_event(&TurnEvent::TextDelta { id: "late", text }, &mut out);
    sink.end(Outcome::Completed, &mut out);
    assert_eq!(out.len(), len, "written after the end");
    out
}

/// A Mastra native stream (SSE bytes) through the decoder into both sinks, each checked; and
/// the collected (non-streaming) answers, which must say what the streams said.
pub fn stream_translator(upstream_sse: &[u8]) {
    let events = decode_in_chunks(upstream_sse, &[upstream_sse.len()]);
    stream_events(&events, true);
}

/// Upstream events (their data may hold newlines, as multi-line `data` does) through both
/// sinks.
pub fn stream_events(events: &[SseEvent], include_usage: bool) {
    responses_stream(events);
    chat_stream(events, include_usage);
}

/// The Responses stream of `events`, checked, as JSON events; and the collected answer agrees
/// with its terminal event.
pub fn responses_stream(events: &[SseEvent]) -> Vec<Value> {
    let mut writer = ResponseWriter::new(stream_context(), None, true);
    let out = drive(&mut writer, events);
    let stream = assert_responses_stream(&out);

    let mut collected = ResponseWriter::new(stream_context(), None, false);
    let nothing = drive(&mut collected, events);
    assert!(
        nothing.is_empty(),
        "a non-streaming writer wrote {nothing:?}"
    );
    let answer = serde_json::to_value(collected.response()).expect("the response encodes");
    let last = &stream[stream.len() - 1]["response"];
    for key in [
        "id",
        "status",
        "output",
        "error",
        "incomplete_details",
        "usage",
    ] {
        assert_eq!(
            answer[key], last[key],
            "collected and streamed {key} differ"
        );
    }
    stream
}

/// The Chat Completions stream of `events`, checked, as its `data:` payloads (`[DONE]` as a
/// string); and the collected answer agrees with it.
pub fn chat_stream(events: &[SseEvent], include_usage: bool) -> Vec<Value> {
    let new = |sse| ChatWriter::new("chatcmpl-1".into(), 1, AGENT.into(), sse, include_usage);
    let mut writer = new(true);
    let out = drive(&mut writer, events);
    let stream = assert_chat_stream(&out, include_usage);

    let mut collected = new(false);
    let nothing = drive(&mut collected, events);
    assert!(
        nothing.is_empty(),
        "a non-streaming writer wrote {nothing:?}"
    );
    assert_eq!(collected.outcome(), writer.outcome());
    if stream.last() == Some(&json!("[DONE]")) {
        let answer = serde_json::to_value(collected.completion()).expect("the completion encodes");
        let choice = &answer["choices"][0];
        let mut content = String::new();
        let mut calls: Vec<(String, String, String)> = Vec::new();
        let mut finish = Value::Null;
        for chunk in &stream[..stream.len() - 1] {
            let Some(c) = chunk["choices"].get(0) else {
                continue;
            };
            if !c["finish_reason"].is_null() {
                finish = c["finish_reason"].clone();
            }
            content.push_str(c["delta"]["content"].as_str().unwrap_or_default());
            for call in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let i = call["index"].as_u64().expect("a tool call's index") as usize;
                if i == calls.len() {
                    calls.push(Default::default());
                }
                let f = &call["function"];
                if let Some(id) = call["id"].as_str() {
                    calls[i].0 = id.into();
                }
                if let Some(name) = f["name"].as_str() {
                    calls[i].1 = name.into();
                }
                calls[i]
                    .2
                    .push_str(f["arguments"].as_str().unwrap_or_default());
            }
        }
        let message = &choice["message"];
        assert_eq!(
            message["content"].as_str().unwrap_or_default(),
            content,
            "collected and streamed content differ"
        );
        let collected_calls: Vec<(String, String, String)> = message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
                (
                    s(&c["id"]),
                    s(&c["function"]["name"]),
                    s(&c["function"]["arguments"]),
                )
            })
            .collect();
        assert_eq!(
            collected_calls, calls,
            "collected and streamed tool calls differ"
        );
        assert_eq!(choice["finish_reason"], finish);
    }
    stream
}

/// The id a Responses stream shows until Mastra's `start` names the answer. Mastra sends
/// `start` first, so a client never sees it; an upstream that sends other chunks before it
/// gets `response.created` (and `in_progress`) under this id and the real one from then on.
/// Accepted (not a bug the gateway can fix by itself: the id is not known before); any other
/// change of id fails the check.
pub const PENDING_ID: &str = "resp_pending";

pub const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// What a Responses client reads is valid SSE: blocks of exactly `event: <type>` and
/// `data: <json>` (one JSON object on one line), the JSON's `type` the event's,
/// `sequence_number` 0, 1, 2, …; `response.created` and `response.in_progress` first and one
/// terminal event, the last; one response id throughout (see [`PENDING_ID`]); output items added at dense indexes,
/// each done at most once and nothing said of it after; deltas are strings and add up to the
/// text their `done` event gives. Returns the events' JSON.
pub fn assert_responses_stream(out: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(out).expect("the client's stream is UTF-8");
    assert!(
        text.ends_with("\n\n"),
        "not ended by a blank line: {text:?}"
    );
    assert!(
        !text.contains('\r'),
        "a CR would end a line for an SSE reader: {text:?}"
    );
    let mut events = Vec::new();
    for (i, block) in text[..text.len() - 2].split("\n\n").enumerate() {
        let mut lines = block.split('\n');
        let (Some(ev), Some(data), None) = (lines.next(), lines.next(), lines.next()) else {
            panic!("event {i} is not two lines: {block:?}");
        };
        let kind = ev
            .strip_prefix("event: ")
            .unwrap_or_else(|| panic!("event {i} has no event line: {block:?}"));
        let data = data
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("event {i} has no data line: {block:?}"));
        let v: Value = serde_json::from_str(data)
            .unwrap_or_else(|e| panic!("event {i}'s data is not JSON ({e}): {data:?}"));
        assert!(v.is_object(), "event {i}'s data is not an object: {data}");
        assert_eq!(v["type"], kind, "event {i}: {data}");
        assert_eq!(v["sequence_number"], i as u64, "event {i}: {data}");
        if let Some(delta) = v.get("delta") {
            assert!(
                delta.is_string(),
                "event {i}'s delta is not a string: {data}"
            );
        }
        events.push(v);
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(
        kinds.len() >= 3 && kinds[..2] == ["response.created", "response.in_progress"],
        "not started by response.created, response.in_progress: {kinds:?}"
    );
    let terminal: Vec<usize> = (0..kinds.len())
        .filter(|&i| TERMINAL.contains(&kinds[i]))
        .collect();
    assert_eq!(
        terminal,
        [kinds.len() - 1],
        "not one terminal event, the last: {kinds:?}"
    );
    let last = &events[events.len() - 1]["response"];
    let status = kinds[kinds.len() - 1].strip_prefix("response.").unwrap();
    assert_eq!(last["status"], status, "{last}");
    let mut named = false;
    for (i, e) in events.iter().enumerate() {
        if let Some(r) = e.get("response") {
            if r["id"] == PENDING_ID && !named {
                continue;
            }
            named = true;
            assert_eq!(r["id"], last["id"], "event {i} names another response");
        }
    }

    // Output items: added at 0, 1, 2, …; done once; nothing of an item after its done.
    let mut added = 0;
    let mut done: HashSet<u64> = HashSet::new();
    let mut deltas: HashMap<(u64, &str), String> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let Some(index) = e.get("output_index").map(|x| x.as_u64().expect("an index")) else {
            continue;
        };
        let kind = kinds[i];
        if kind == "response.output_item.added" {
            assert_eq!(index, added, "event {i} adds an item out of order: {e}");
            added += 1;
            continue;
        }
        assert!(index < added, "event {i} is about an item not added: {e}");
        assert!(
            !done.contains(&index),
            "event {i} is about item {index} after its output_item.done: {e}"
        );
        if kind == "response.output_item.done" {
            done.insert(index);
        } else if let Some(piece) = e["delta"].as_str() {
            let field = kind.rsplit_once('.').unwrap().0;
            deltas.entry((index, field)).or_default().push_str(piece);
        } else if let Some(whole) = e.get("text").or_else(|| e.get("arguments")) {
            let field = kind.rsplit_once('.').unwrap().0;
            let streamed = deltas.get(&(index, field)).map_or("", String::as_str);
            assert_eq!(
                whole.as_str(),
                Some(streamed),
                "event {i}'s text is not its deltas: {e}"
            );
        }
    }
    let output = last["output"].as_array().expect("the final output");
    assert_eq!(output.len() as u64, added, "{last}");
    events
}

/// What a Chat Completions client reads: `data: <json>` blocks only (one JSON object on one
/// line), `chat.completion.chunk`s of one id, the first delta saying `role`, tool calls
/// announced (id, type, name) before their arguments; then either the finish (one
/// `finish_reason`, the usage chunk when asked for) and `data: [DONE]`, or an error line;
/// nothing after. Returns the payloads (`[DONE]` as a string).
pub fn assert_chat_stream(out: &[u8], include_usage: bool) -> Vec<Value> {
    let text = std::str::from_utf8(out).expect("the client's stream is UTF-8");
    assert!(
        text.ends_with("\n\n"),
        "not ended by a blank line: {text:?}"
    );
    assert!(
        !text.contains('\r'),
        "a CR would end a line for an SSE reader: {text:?}"
    );
    let mut payloads = Vec::new();
    for (i, block) in text[..text.len() - 2].split("\n\n").enumerate() {
        let data = block
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("block {i} is not a data line: {block:?}"));
        assert!(!data.contains('\n'), "block {i} is not one line: {block:?}");
        if data == "[DONE]" {
            payloads.push(json!("[DONE]"));
            continue;
        }
        let v: Value = serde_json::from_str(data)
            .unwrap_or_else(|e| panic!("block {i}'s data is not JSON ({e}): {data:?}"));
        assert!(v.is_object(), "block {i}'s data is not an object: {data}");
        payloads.push(v);
    }
    let n = payloads.len();
    let last = &payloads[n - 1];
    let chunks = &payloads[..n - 1];
    if last.is_string() {
        // Completed: a finish, then the usage chunk when asked for.
        let finish_at = if include_usage {
            n.checked_sub(3)
        } else {
            n.checked_sub(2)
        };
        let finish_at = finish_at.expect("no finish chunk before [DONE]");
        for (i, c) in chunks.iter().enumerate() {
            let reason = &c["choices"][0]["finish_reason"];
            assert_eq!(
                !reason.is_null(),
                i == finish_at,
                "chunk {i}: the finish_reason is not on the last choice chunk: {c}"
            );
        }
        if include_usage {
            let usage = &chunks[n - 2];
            assert_eq!(usage["choices"], json!([]), "{usage}");
            assert!(usage["usage"]["total_tokens"].is_u64(), "{usage}");
        }
    } else {
        let e = &last["error"];
        assert!(e["message"].is_string() && e["type"].is_string(), "{last}");
    }
    let mut role_said = false;
    let mut calls = 0;
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c["object"], "chat.completion.chunk", "chunk {i}: {c}");
        assert_eq!(c["id"], "chatcmpl-1", "chunk {i}: {c}");
        assert_eq!(c.get("usage").is_some(), include_usage, "chunk {i}: {c}");
        let choices = c["choices"].as_array().expect("choices");
        let Some(choice) = choices.first() else {
            assert!(c["usage"].is_object(), "chunk {i} has no choice: {c}");
            continue;
        };
        assert_eq!(choices.len(), 1, "chunk {i}: {c}");
        assert_eq!(choice["index"], 0, "chunk {i}: {c}");
        let delta = choice["delta"].as_object().expect("a delta");
        assert_eq!(
            delta.get("role").is_some(),
            !role_said,
            "chunk {i}: role on the first delta only: {c}"
        );
        role_said = true;
        if let Some(content) = delta.get("content") {
            assert!(content.is_string(), "chunk {i}: {c}");
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().expect("a tool call's index");
            assert!(
                index <= calls,
                "chunk {i}: call {index} before call {calls}: {c}"
            );
            if index == calls {
                calls += 1;
                assert!(call["id"].is_string(), "chunk {i}: {c}");
                assert_eq!(call["type"], "function", "chunk {i}: {c}");
                assert!(call["function"]["name"].is_string(), "chunk {i}: {c}");
            }
            assert!(call["function"]["arguments"].is_string(), "chunk {i}: {c}");
        }
    }
    payloads
}
