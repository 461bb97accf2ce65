//! Criterion micro-benchmarks of the gateway's hot pure functions (issue 5, bench/README.md).
//!
//! - `request/*`: an OpenAI create-response body → parsed (as the route does) → validated →
//!   Mastra's body → serialized, the work the gateway does before the upstream call.
//! - `response/*`: a recorded Mastra response body → `MastraResponse` → OpenAI `Response` →
//!   serialized, the work after a non-streaming upstream call.
//! - `stream/*`: a recorded Mastra SSE stream through `SseDecoder` + `StreamTranslator`, fed one
//!   upstream chunk per event and drained the way `body::TranslatedStream` does; throughput is
//!   reported per upstream event. `stream/text_delta_event` is one `response.output_text.delta`
//!   through a translator already in the middle of a turn.
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
use mastra_gateway::translate::request::{build_create_body, validate};
use mastra_gateway::translate::response::{response_from_mastra, RequestEcho, ResponseContext};
use mastra_gateway::translate::stream::StreamTranslator;

const RESPONSE_TEXT: &[u8] = include_bytes!("../tests/data/mastra_response_text.json");
const RESPONSE_TOOL: &[u8] = include_bytes!("../tests/data/mastra_response_tool.json");
const STREAM_TEXT: &[u8] = include_bytes!("../tests/data/mastra_stream_text.sse");
const STREAM_TOOL: &[u8] = include_bytes!("../tests/data/mastra_stream_tool.sse");

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

/// The route's work before the upstream call: parse, validate, build and encode Mastra's body.
fn translate_request(body: &[u8]) -> Vec<u8> {
    let req: CreateResponseRequest = parse_json(body).expect("valid request");
    validate(&req).expect("valid request");
    let stream = req.stream.unwrap_or(false);
    let upstream = build_create_body(&req, AGENT, stream).expect("translatable request");
    serde_json::to_vec(&upstream).expect("serializable body")
}

fn ctx() -> ResponseContext {
    ResponseContext {
        model: AGENT.into(),
        conversation: Some("31f59ac9-bff2-453d-ae14-2eb90d13935a".into()),
        echo: RequestEcho::default(),
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

/// One stream, exactly as `body::TranslatedStream::poll_next_frame` drives it: per upstream
/// chunk, push, drain the decoder into the translator, and freeze the output frame.
fn translate_stream(chunks: &[&'static [u8]], ctx: &ResponseContext) -> usize {
    let mut decoder = SseDecoder::new();
    let mut translator = StreamTranslator::new(ctx.clone());
    let mut written = 0;
    for chunk in chunks {
        let mut out = BytesMut::new();
        decoder.push(bytes::Bytes::from_static(chunk));
        while let Some(event) = decoder.next_event() {
            translator.on_data(&event.data, &mut out);
            if translator.is_finished() {
                break;
            }
        }
        written += black_box(out.freeze()).len();
        if translator.is_finished() {
            break;
        }
    }
    assert!(translator.is_finished(), "the recorded stream completes");
    written
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

    // One text delta through a translator in the middle of the text turn (after
    // `response.created`, `in_progress`, `output_item.added` and `content_part.added`).
    let events = decoded_events(&event_chunks(STREAM_TEXT));
    let first_delta = events
        .iter()
        .position(|e| {
            serde_json::from_slice::<serde_json::Value>(e).expect("JSON event")["type"]
                == "response.output_text.delta"
        })
        .expect("the text turn has a text delta");
    let mut translator = StreamTranslator::new(ctx.clone());
    let mut out = BytesMut::new();
    for e in &events[..first_delta] {
        translator.on_data(e, &mut out);
    }
    let delta = events[first_delta].clone();
    g.throughput(Throughput::Elements(1));
    g.bench_function("text_delta_event", |b| {
        b.iter(|| {
            let mut out = BytesMut::new();
            translator.on_data(black_box(&delta), &mut out);
            black_box(out.freeze())
        })
    });
    assert!(!translator.is_finished());
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
