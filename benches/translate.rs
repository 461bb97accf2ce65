//! Criterion micro-benchmarks of the gateway's hot pure functions (issue 5, bench/README.md).
//!
//! - `request/*`: an OpenAI create-response body → parsed (as the route does) → validated →
//!   the turn → Mastra's native body, the work the gateway does before the upstream call.
//! - `response/*`: a recorded stored response (Mastra's `GET /api/v1/responses/:id`) →
//!   `MastraResponse` → OpenAI `Response` → serialized, the work of a retrieve.
//! - `stream/*`: a recorded native turn stream through `SseDecoder` + `ChunkDecoder` +
//!   `ResponseWriter`, fed one upstream chunk per event and drained the way
//!   `engine::stream::TurnStream` does; throughput is reported per upstream event.
//!   `stream/text_delta_event` is one text delta through a writer already in the middle of a
//!   turn.
//!
//! Run with `cargo bench --bench translate`; short windows keep the whole run under a minute.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mastra_gateway::api::parse_json;
use mastra_gateway::mastra::sse::SseDecoder;
use mastra_gateway::mastra::types::MastraResponse;
use mastra_gateway::openai::request::CreateResponseRequest;
use mastra_gateway::translate::input::{parse_input, turn_messages};
use mastra_gateway::translate::native::{request_body, ChunkDecoder};
use mastra_gateway::translate::request::{turn_from_request, validate};
use mastra_gateway::translate::response::{response_from_mastra, RequestEcho, ResponseContext};
use mastra_gateway::translate::response_stream::ResponseWriter;
use mastra_gateway::translate::turn::Turn;

const RESPONSE_TEXT: &[u8] = include_bytes!("../tests/data/mastra_response_text.json");
const RESPONSE_TOOL: &[u8] = include_bytes!("../tests/data/mastra_response_tool.json");
const STREAM_TEXT: &[u8] = include_bytes!("../tests/data/native_stream_text.sse");
const STREAM_TOOL: &[u8] = include_bytes!("../tests/data/native_stream_tool.sse");

const AGENT: &str = "support-agent";

/// What an SDK sends for `client.responses.create(model=…, input="…")`.
const REQUEST_PLAIN: &[u8] =
    br#"{"model":"support-agent","input":"What is the weather in Paris today?"}"#;

/// A richer request: instructions, a conversation, metadata, a message list with string and
/// part content, structured output, and the parameters SDKs fill in.
const REQUEST_RICH: &[u8] = br#"{
  "model": "support-agent",
  "instructions": "You are a concise support assistant. Answer in two sentences at most.",
  "conversation": {"id": "31f59ac9-bff2-453d-ae14-2eb90d13935a"},
  "metadata": {"tenant": "acme", "ticket": "T-12345", "channel": "web"},
  "input": [
    {"type": "message", "role": "developer", "content": "Prefer metric units."},
    {"type": "message", "role": "user", "content": [
      {"type": "input_text", "text": "My order 4411 has not arrived."},
      {"type": "input_text", "text": "It was due on Monday; can you check the carrier?"}
    ]},
    {"type": "message", "role": "assistant", "content": [
      {"type": "output_text", "text": "I can check that. Which city is it being delivered to?"}
    ]},
    {"role": "user", "content": "Paris, and what is the weather there?"}
  ],
  "text": {"format": {"type": "json_schema", "name": "support_answer", "strict": true,
    "schema": {"type": "object", "additionalProperties": false, "required": ["answer", "next_step"],
      "properties": {"answer": {"type": "string"}, "next_step": {"type": "string"}}}}},
  "temperature": 0.7,
  "top_p": 1,
  "max_output_tokens": 512,
  "store": true,
  "stream": false,
  "parallel_tool_calls": true,
  "truncation": "disabled",
  "include": ["message.output_text.logprobs"],
  "user": "user-42"
}"#;

/// The route's work before the upstream call: parse, validate, build the turn and encode
/// Mastra's native body.
fn translate_request(body: &[u8]) -> Vec<u8> {
    let req: CreateResponseRequest = parse_json(body).expect("valid request");
    validate(&req).expect("valid request");
    let items = parse_input(req.input.as_ref().expect("input")).expect("valid input");
    let built = turn_messages(&items, None, &mut || "msg_1".to_string()).expect("valid input");
    let turn = turn_from_request(&req, AGENT, None, built.messages).expect("translatable request");
    request_body(&turn)
}

fn ctx() -> ResponseContext {
    ResponseContext {
        model: AGENT.into(),
        conversation: Some("31f59ac9-bff2-453d-ae14-2eb90d13935a".into()),
        echo: RequestEcho::default(),
        previous_response_id: None,
        store: true,
    }
}

/// The route's work after a non-streaming upstream call.
fn translate_response(body: &[u8], ctx: &ResponseContext) -> Vec<u8> {
    let mastra: MastraResponse = serde_json::from_slice(body).expect("recorded Mastra body");
    serde_json::to_vec(&response_from_mastra(mastra, ctx)).expect("serializable response")
}

/// A recorded SSE body cut into one chunk per event (each chunk ends with its blank line), as
/// Mastra flushes them.
fn event_chunks(raw: &'static [u8]) -> Vec<&'static [u8]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while let Some(pos) = raw[start..].windows(2).position(|w| w == b"\n\n") {
        let end = start + pos + 2;
        chunks.push(&raw[start..end]);
        start = end;
    }
    if start < raw.len() {
        chunks.push(&raw[start..]);
    }
    chunks
}

/// One stream, exactly as `engine::stream::TurnStream::poll_next_frame` drives it: per upstream
/// chunk, push, drain the SSE decoder through the chunk decoder into the writer, and freeze the
/// output frame; at the upstream's end, the terminal event.
fn translate_stream(chunks: &[&'static [u8]], ctx: &ResponseContext) -> usize {
    let turn = Turn::default();
    let mut sse = SseDecoder::new();
    let mut chunk_decoder = ChunkDecoder::new(&turn);
    let mut writer = ResponseWriter::new(ctx.clone(), None, true);
    let mut written = 0;
    for chunk in chunks {
        let mut out = BytesMut::new();
        sse.push(bytes::Bytes::from_static(chunk));
        while let Some(event) = sse.next_event() {
            chunk_decoder
                .decode(&event.data, &mut |e| writer.on_event(e, &mut out))
                .expect("recorded chunks decode");
        }
        written += black_box(out.freeze()).len();
    }
    let outcome = writer
        .finished_outcome()
        .expect("the recorded stream finishes");
    let mut out = BytesMut::new();
    writer.end(outcome, &mut out);
    assert!(writer.is_done());
    written + black_box(out.freeze()).len()
}

fn decoded_events(chunks: &[&'static [u8]]) -> Vec<bytes::Bytes> {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.push(bytes::Bytes::from_static(chunk));
        while let Some(event) = decoder.next_event() {
            events.push(event.data);
        }
    }
    events
}

fn bench_request(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    for (name, body) in [("plain_text", REQUEST_PLAIN), ("rich", REQUEST_RICH)] {
        // Sanity check outside the timed loop.
        assert!(!translate_request(body).is_empty());
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| b.iter(|| translate_request(black_box(body))));
    }
    g.finish();
}

fn bench_response(c: &mut Criterion) {
    let ctx = ctx();
    let mut g = c.benchmark_group("response");
    for (name, body) in [("text", RESPONSE_TEXT), ("tool", RESPONSE_TOOL)] {
        assert!(!translate_response(body, &ctx).is_empty());
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| translate_response(black_box(body), &ctx))
        });
    }
    g.finish();
}

fn bench_stream(c: &mut Criterion) {
    let ctx = ctx();
    let mut g = c.benchmark_group("stream");
    for (name, raw) in [("text_turn", STREAM_TEXT), ("tool_turn", STREAM_TOOL)] {
        let chunks = event_chunks(raw);
        let events = decoded_events(&chunks).len();
        assert!(translate_stream(&chunks, &ctx) > 0);
        g.throughput(Throughput::Elements(events as u64));
        g.bench_function(name, |b| {
            b.iter(|| translate_stream(black_box(&chunks), &ctx))
        });
    }

    // One text delta through a writer in the middle of the text turn (after its start and the
    // text's start).
    let events = decoded_events(&event_chunks(STREAM_TEXT));
    let first_delta = events
        .iter()
        .position(|e| {
            serde_json::from_slice::<serde_json::Value>(e).expect("JSON event")["type"]
                == "text-delta"
        })
        .expect("the text turn has a text delta");
    let turn = Turn::default();
    let mut chunk_decoder = ChunkDecoder::new(&turn);
    let mut writer = ResponseWriter::new(ctx.clone(), None, true);
    let mut out = BytesMut::new();
    for e in &events[..first_delta] {
        chunk_decoder
            .decode(e, &mut |ev| writer.on_event(ev, &mut out))
            .unwrap();
    }
    let delta = events[first_delta].clone();
    g.throughput(Throughput::Elements(1));
    g.bench_function("text_delta_event", |b| {
        b.iter(|| {
            let mut out = BytesMut::new();
            chunk_decoder
                .decode(black_box(&delta), &mut |ev| writer.on_event(ev, &mut out))
                .unwrap();
            black_box(out.freeze())
        })
    });
    assert!(!writer.is_done());

    // Each upstream event through the chunk decoder alone (no writer), by type: what decoding
    // Mastra's chunks costs, apart from rendering them.
    let turn = Turn::default();
    let mut seen = std::collections::HashSet::new();
    for e in &events {
        let kind = serde_json::from_slice::<serde_json::Value>(e)
            .map(|v| v["type"].as_str().unwrap_or("done").to_string())
            .unwrap_or_else(|_| "done".into());
        if !matches!(
            kind.as_str(),
            "start" | "text-delta" | "step-finish" | "finish"
        ) || !seen.insert(kind.clone())
        {
            continue;
        }
        let e = e.clone();
        g.bench_function(format!("decode_{kind}"), |b| {
            b.iter(|| {
                let mut decoder = ChunkDecoder::new(&turn);
                let mut n = 0;
                decoder.decode(black_box(&e), &mut |_| n += 1).unwrap();
                black_box(n)
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_request, bench_response, bench_stream
}
criterion_main!(benches);
