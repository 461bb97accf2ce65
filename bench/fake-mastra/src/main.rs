//! A fast fake Mastra server for the gateway benchmark.
//!
//! It answers the few routes the gateway uses on the hot path with bodies shaped like the real
//! Mastra's (`@mastra/server` 1.21, see tests/data/ of the gateway), all built once at start:
//!
//! - `GET /api/agents`: the agents map (bench/fake-mastra/data/agents.json, a copy of the
//!   real fixture's answer).
//! - `GET /api/v1/responses/<id>`: JSON 404 `{"error":"Stored response <id> was not found"}`,
//!   what Mastra says for an unknown id; the gateway's `/readyz` probe needs exactly that.
//! - `POST /api/agents/<id>/stream` (`<id>` one of the agents above): Mastra's native chunk
//!   stream (tests/data/native_stream_text.sse), whatever the body asks: `start`, `step-start`,
//!   `text-start`, `--deltas` × `text-delta`, `text-end`, `step-finish`, `finish` (with
//!   `payload.response.uiMessages[0]`, the stored assistant message), `data: [DONE]`:
//!   `7 + --deltas` events (31 by default), each `data: {…}` line one HTTP chunk. The assistant
//!   message id is a fresh uuid per request (`start.payload.messageId` = the `uiMessages[0].id`,
//!   as Mastra's), spliced into the prebuilt chunks; everything else is built once. An unknown
//!   agent gets Mastra's JSON 404 `{"error":"Agent with id <id> not found"}`.
//! - `POST /api/memory/save-messages?agentId=…`: 200 `{"messages":[…]}`, the saved messages, as
//!   Mastra answers (the request body, echoed: no parsing); 400 without `agentId`, as Mastra.
//! - `POST /api/v1/responses`: a ~1 KB Mastra Response JSON, or, when the request body contains
//!   `"stream":true`, a Mastra SSE stream of `8 + --deltas` events (32 by default): the route the
//!   gateway used before it ran turns on the native route (kept for older gateway builds).
//! - `GET /__bench/stats`: request counters per route (not a Mastra route; for the harness).
//! - anything else: a plain-text 404, as Mastra's server answers an unknown route.
//!
//! Flags:
//!   --host ADDR          listen address (default 127.0.0.1)
//!   --port N             listen port (default 4111; 0 picks a free one)
//!   --delay-ms N         fixed delay before the first byte of every POST /api/v1/responses and
//!                        POST /api/agents/<id>/stream answer, JSON and SSE alike (models a model's time to first token;
//!                        default 0). For a stream the delay is spent before the response head,
//!                        so the whole stream is late, as with a real model.
//!   --stream-gap-ms N    pause between consecutive SSE events (default 0: all events are written
//!                        back to back, one HTTP chunk each)
//!   --deltas N           number of text deltas: response.output_text.delta events of the v1
//!                        stream, text-delta chunks of the native one (default 24)
//!   --threads N          tokio worker threads (default: one per core)
//!
//! On start it prints `fake-mastra listening on http://ADDR:PORT` on stdout.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const AGENTS_JSON: &[u8] = include_bytes!("../data/agents.json");

struct Config {
    host: String,
    port: u16,
    delay: Duration,
    gap: Duration,
    deltas: usize,
    threads: Option<usize>,
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        host: "127.0.0.1".into(),
        port: 4111,
        delay: Duration::ZERO,
        gap: Duration::ZERO,
        deltas: 24,
        threads: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!(
                "usage: fake-mastra [--host ADDR] [--port N] [--delay-ms N] [--stream-gap-ms N] \
                 [--deltas N] [--threads N]"
            );
            std::process::exit(0);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--host" => cfg.host = value.clone(),
            "--port" => cfg.port = num()? as u16,
            "--delay-ms" => cfg.delay = Duration::from_millis(num()?),
            "--stream-gap-ms" => cfg.gap = Duration::from_millis(num()?),
            "--deltas" => cfg.deltas = num()? as usize,
            "--threads" => cfg.threads = Some(num()? as usize),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(cfg)
}

/// The agents the fake serves (the keys of data/agents.json; a test checks they agree).
const AGENT_IDS: &[&str] = &["support-agent", "echo-agent"];

/// Where a prebuilt native chunk holds the assistant message id until a request's own is put
/// there (as long as a uuid; never part of a real chunk).
const ID_SLOT: &str = "@@@@@@@@-@@@@-@@@@-@@@@-@@@@@@@@@@@@";

/// One prebuilt SSE event (one HTTP chunk), and where in it the per-request message id goes.
struct Event {
    bytes: Bytes,
    id_at: Vec<usize>,
}

impl Event {
    fn fixed(text: String) -> Self {
        Event {
            bytes: Bytes::from(text),
            id_at: Vec::new(),
        }
    }

    /// An event whose `ID_SLOT`s get each request's message id.
    fn with_id(text: String) -> Self {
        let id_at = text.match_indices(ID_SLOT).map(|(at, _)| at).collect();
        Event {
            bytes: Bytes::from(text),
            id_at,
        }
    }

    /// The event's bytes for a request whose message id is `id`.
    fn render(&self, id: &[u8; 36]) -> Bytes {
        if self.id_at.is_empty() {
            return self.bytes.clone();
        }
        let mut b = BytesMut::from(&self.bytes[..]);
        for &at in &self.id_at {
            b[at..at + 36].copy_from_slice(id);
        }
        b.freeze()
    }
}

/// Everything the server answers, built once.
struct Bodies {
    agents: Bytes,
    response: Bytes,
    stream: Arc<[Event]>,
    /// The native stream of each agent of `AGENT_IDS` (its id is in the `start` chunk).
    native: Vec<(&'static str, Arc<[Event]>)>,
    delay: Duration,
    gap: Duration,
}

struct Stats {
    agents: AtomicU64,
    responses_json: AtomicU64,
    responses_stream: AtomicU64,
    responses_get: AtomicU64,
    agent_stream: AtomicU64,
    save_messages: AtomicU64,
    other: AtomicU64,
}

static STATS: Stats = Stats {
    agents: AtomicU64::new(0),
    responses_json: AtomicU64::new(0),
    responses_stream: AtomicU64::new(0),
    responses_get: AtomicU64::new(0),
    agent_stream: AtomicU64::new(0),
    save_messages: AtomicU64::new(0),
    other: AtomicU64::new(0),
};

const WORDS: &[&str] = &[
    "Sure", "thing,", "here", "is", "the", "forecast", "you", "asked", "for:", "Rome", "will",
    "be", "sunny", "with", "a", "high", "of", "24", "degrees", "and", "a", "light", "breeze",
    "from", "the", "west", "by", "the", "evening.",
];

/// The bench's prompt (bench/run.sh's request bodies), as the native stream's echo of the
/// turn's user message.
const PROMPT: &str = "What is the weather in Rome today?";

/// The answer's text, one piece per delta (no characters JSON needs escaped).
fn text_pieces(deltas: usize) -> Vec<String> {
    (0..deltas)
        .map(|i| {
            let w = WORDS[i % WORDS.len()];
            if i + 1 == deltas {
                w.to_string()
            } else {
                format!("{w} ")
            }
        })
        .collect()
}

fn build_bodies(deltas: usize, delay: Duration, gap: Duration) -> Bodies {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let (response, stream) = v1_bodies(deltas, now_ms / 1000);
    let native = AGENT_IDS
        .iter()
        .map(|agent| (*agent, native_stream(agent, deltas, now_ms).into()))
        .collect();
    Bodies {
        agents: Bytes::from_static(AGENTS_JSON),
        response,
        stream: stream.into(),
        native,
        delay,
        gap,
    }
}

/// `2026-12-04T02:50:12.135Z` for a Unix time in milliseconds (as JavaScript's toISOString).
fn iso_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// Mastra's native chunk stream of a text turn of `agent` (`POST /api/agents/:id/stream`,
/// shaped as tests/data/native_stream_text.sse: `@mastra/core` 1.71 with the fixture's mock
/// model), the assistant message id left as `ID_SLOT`. `7 + deltas` events.
fn native_stream(agent: &str, deltas: usize, now_ms: u64) -> Vec<Event> {
    let run = "191abb0e-605b-4f8c-b562-bf74bcf3320f";
    let thread = "mgw_thread_5d1f0e2a9b3c4d7e8f6a1b2c3d4e5f60";
    let m = ID_SLOT;
    let (t_user, t_start, t_text) = (now_ms, now_ms + 37, now_ms + 84);
    let iso_start = iso_ms(t_start);
    let iso_text = iso_ms(t_text);
    let pieces = text_pieces(deltas);
    let text: String = pieces.concat();
    let n_in = 12;
    let tokens = format!(
        r#"{{"inputTokens":{n_in},"outputTokens":{deltas},"totalTokens":{}}}"#,
        n_in + deltas
    );
    let usage = format!(
        r#"{{"inputTokens":{n_in},"outputTokens":{deltas},"totalTokens":{},"raw":{tokens}}}"#,
        n_in + deltas
    );
    let text_part = |meta_key: &str| {
        format!(
            r#"{{"type":"text","text":"{text}","{meta_key}":{{"mastra":{{"createdAt":{t_text}}}}}}}"#
        )
    };
    let assistant = format!(
        r#"{{"role":"assistant","content":[{}]}}"#,
        text_part("providerOptions")
    );
    let user = format!(
        r#"{{"role":"user","content":[{{"type":"text","text":"{PROMPT}","providerOptions":{{"mastra":{{"createdAt":{t_user}}}}}}}]}}"#
    );
    let model_meta = r#"{"modelId":"echo-support","modelVersion":"v2","modelProvider":"mock"}"#;
    let resp_id = format!("resp_mock_{t_start}");
    let metadata = format!(
        r#"{{"id":"{resp_id}","timestamp":"{iso_start}","modelId":"echo-support","headers":{{}},"modelMetadata":{model_meta}}}"#
    );
    let step = format!(
        r#"{{"content":[{}],"usage":{usage},"warnings":[],"response":{{"id":"{resp_id}","timestamp":"{iso_start}","modelId":"echo-support","headers":{{}},"messages":[{assistant}]}}}}"#,
        text_part("providerOptions")
    );
    let step_payload = format!(
        r#""messageId":"{m}","stepResult":{{"reason":"stop","isContinued":false}},"metadata":{metadata},"output":{{"text":"{text}","toolCalls":[],"usage":{usage},"steps":[{step}]}},"messages":{{"all":[{user},{assistant}],"user":[{user}],"nonUser":[{assistant}]}},"processorRetryCount":0"#
    );
    let ui_message = format!(
        r#"{{"id":"{m}","role":"assistant","metadata":{{"modelId":"echo-support","provider":"mock","createdAt":"{iso_text}","threadId":"{thread}","resourceId":"{thread}"}},"parts":[{}]}}"#,
        text_part("providerMetadata")
    );
    let chunk = |kind: &str, payload: &str| {
        format!(r#"data: {{"type":"{kind}","runId":"{run}","from":"AGENT","payload":{payload}}}"#)
            + "\n\n"
    };
    let mut events = vec![
        Event::with_id(chunk(
            "start",
            &format!(r#"{{"id":"{agent}","messageId":"{m}"}}"#),
        )),
        // Mastra writes step-start's envelope in another order.
        Event::with_id(
            format!(
                r#"data: {{"runId":"{run}","from":"AGENT","type":"step-start","payload":{{"warnings":[],"messageId":"{m}","startedAt":{t_start},"request":{{}}}}}}"#
            ) + "\n\n",
        ),
        Event::fixed(chunk("text-start", r#"{"id":"txt-0"}"#)),
    ];
    for p in &pieces {
        events.push(Event::fixed(chunk(
            "text-delta",
            &format!(r#"{{"id":"txt-0","text":"{p}"}}"#),
        )));
    }
    events.push(Event::fixed(chunk(
        "text-end",
        r#"{"type":"text-end","id":"txt-0"}"#,
    )));
    events.push(Event::with_id(chunk(
        "step-finish",
        &format!("{{{step_payload}}}"),
    )));
    events.push(Event::with_id(chunk(
        "finish",
        &format!(
            r#"{{{step_payload},"response":{{"id":"{resp_id}","timestamp":"{iso_start}","modelId":"echo-support","headers":{{}},"modelMetadata":{model_meta},"messages":[{assistant}],"uiMessages":[{ui_message}]}}}}"#
        ),
    )));
    events.push(Event::fixed("data: [DONE]\n\n".into()));
    events
}

/// A fresh random (version 4) uuid, as Mastra gives each assistant message: a per-process seed
/// and a counter through splitmix64 (no two requests of a run share one).
fn fresh_uuid() -> [u8; 36] {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let n = UUIDS.fetch_add(2, Relaxed);
    let seed = SEED.load(Relaxed);
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&mix(seed ^ n).to_be_bytes());
    raw[8..].copy_from_slice(&mix(seed ^ (n + 1)).to_be_bytes());
    raw[6] = (raw[6] & 0x0f) | 0x40;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in raw.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at] = HEX[(byte >> 4) as usize];
        out[at + 1] = HEX[(byte & 0xf) as usize];
        at += 2;
    }
    out
}

static SEED: AtomicU64 = AtomicU64::new(0);
static UUIDS: AtomicU64 = AtomicU64::new(0);

/// The v1 route's bodies: the Response JSON and the SSE events.
fn v1_bodies(deltas: usize, now: u64) -> (Bytes, Vec<Event>) {
    let id = "msg_5f0c2a4e-8d1b-4c3e-9a7f-1b2c3d4e5f60";
    let thread = "31f59ac9-bff2-453d-ae14-2eb90d13935a";
    let pieces = text_pieces(deltas);
    let text: String = pieces.concat();
    let tools = r#"[{"type":"function","name":"get_weather","description":"Get the (fake, deterministic) weather for a city","parameters":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"],"additionalProperties":false}}]"#;
    let usage = format!(
        r#"{{"input_tokens":12,"output_tokens":{deltas},"total_tokens":{},"input_tokens_details":{{"cached_tokens":0}},"output_tokens_details":{{"reasoning_tokens":0}}}}"#,
        12 + deltas
    );
    let message = |status: &str, content: &str| {
        format!(
            r#"{{"id":"{id}","type":"message","role":"assistant","status":"{status}","content":[{content}]}}"#
        )
    };
    let part =
        format!(r#"{{"type":"output_text","text":"{text}","annotations":[],"logprobs":[]}}"#);
    let response = |status: &str, completed_at: &str, output: &str, usage: &str| {
        format!(
            r#"{{"id":"{id}","object":"response","created_at":{now},"completed_at":{completed_at},"model":"mock/echo-support","status":"{status}","output":[{output}],"usage":{usage},"error":null,"incomplete_details":null,"instructions":null,"text":null,"previous_response_id":null,"conversation_id":"{thread}","tools":{tools},"store":true}}"#
        )
    };
    let done_message = message("completed", &part);
    let full = response("completed", &now.to_string(), &done_message, &usage);

    let mut events: Vec<(String, String)> = Vec::new();
    let in_progress = response("in_progress", "null", "", "null");
    events.push((
        "response.created".into(),
        format!(r#"{{"type":"response.created","response":{in_progress}"#),
    ));
    events.push((
        "response.in_progress".into(),
        format!(r#"{{"type":"response.in_progress","response":{in_progress}"#),
    ));
    events.push((
        "response.output_item.added".into(),
        format!(
            r#"{{"type":"response.output_item.added","output_index":0,"item":{}"#,
            message("in_progress", "")
        ),
    ));
    events.push((
        "response.content_part.added".into(),
        format!(
            r#"{{"type":"response.content_part.added","output_index":0,"content_index":0,"item_id":"{id}","part":{{"type":"output_text","text":"","annotations":[],"logprobs":[]}}"#
        ),
    ));
    for p in &pieces {
        events.push((
            "response.output_text.delta".into(),
            format!(
                r#"{{"type":"response.output_text.delta","output_index":0,"content_index":0,"item_id":"{id}","delta":"{p}""#
            ),
        ));
    }
    events.push((
        "response.output_text.done".into(),
        format!(
            r#"{{"type":"response.output_text.done","output_index":0,"content_index":0,"item_id":"{id}","text":"{text}""#
        ),
    ));
    events.push((
        "response.content_part.done".into(),
        format!(
            r#"{{"type":"response.content_part.done","output_index":0,"content_index":0,"item_id":"{id}","part":{part}"#
        ),
    ));
    events.push((
        "response.output_item.done".into(),
        format!(r#"{{"type":"response.output_item.done","output_index":0,"item":{done_message}"#),
    ));
    events.push((
        "response.completed".into(),
        format!(r#"{{"type":"response.completed","response":{full}"#),
    ));
    // Mastra numbers its events from 1.
    let stream: Vec<Event> = events
        .into_iter()
        .enumerate()
        .map(|(i, (kind, data))| {
            Event::fixed(format!(
                "event: {kind}\ndata: {data},\"sequence_number\":{}}}\n\n",
                i + 1
            ))
        })
        .collect();
    (Bytes::from(full), stream)
}

/// A complete body, or the precomputed SSE events one frame each (with an optional gap), the
/// request's message id put into those that hold it.
enum FakeBody {
    Full(Option<Bytes>),
    Sse {
        events: Arc<[Event]>,
        id: [u8; 36],
        next: usize,
        gap: Duration,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl http_body::Body for FakeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            FakeBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            FakeBody::Sse {
                events,
                id,
                next,
                gap,
                sleep,
            } => {
                if *next >= events.len() {
                    return Poll::Ready(None);
                }
                if *next > 0 && !gap.is_zero() {
                    let s = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(*gap)));
                    if s.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *sleep = None;
                }
                let frame = events[*next].render(id);
                *next += 1;
                Poll::Ready(Some(Ok(Frame::data(frame))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            FakeBody::Full(b) => b.is_none(),
            FakeBody::Sse { events, next, .. } => *next >= events.len(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            FakeBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            FakeBody::Full(None) => SizeHint::with_exact(0),
            FakeBody::Sse { .. } => SizeHint::default(),
        }
    }
}

fn full(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<FakeBody> {
    let mut resp = Response::new(FakeBody::Full(Some(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn sse(events: Arc<[Event]>, id: [u8; 36], gap: Duration) -> Response<FakeBody> {
    let mut resp = Response::new(FakeBody::Sse {
        events,
        id,
        next: 0,
        gap,
        sleep: None,
    });
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

const JSON: &str = "application/json; charset=UTF-8";

fn wants_stream(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"stream\":true";
    body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

/// A non-empty `agentId` in a query string (Mastra's memory routes require it).
fn has_agent_id(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.strip_prefix("agentId=").is_some_and(|v| !v.is_empty()))
    })
}

async fn handle(
    bodies: Arc<Bodies>,
    req: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let path = req.uri().path();
    if req.method() == Method::POST {
        if path == "/api/v1/responses" {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return Ok(full(StatusCode::BAD_REQUEST, JSON, Bytes::new())),
            };
            let stream = wants_stream(&body);
            if !bodies.delay.is_zero() {
                tokio::time::sleep(bodies.delay).await;
            }
            if stream {
                STATS.responses_stream.fetch_add(1, Relaxed);
                return Ok(sse(bodies.stream.clone(), [0; 36], bodies.gap));
            }
            STATS.responses_json.fetch_add(1, Relaxed);
            return Ok(full(StatusCode::OK, JSON, bodies.response.clone()));
        }
        if let Some(agent) = path
            .strip_prefix("/api/agents/")
            .and_then(|rest| rest.strip_suffix("/stream"))
        {
            let Some(events) = bodies
                .native
                .iter()
                .find(|(id, _)| *id == agent)
                .map(|(_, events)| events.clone())
            else {
                STATS.other.fetch_add(1, Relaxed);
                let agent = agent.replace(['"', '\\'], "");
                let body = format!(r#"{{"error":"Agent with id {agent} not found"}}"#);
                return Ok(full(StatusCode::NOT_FOUND, JSON, Bytes::from(body)));
            };
            // Read the turn whole, as Mastra does before it runs; whatever it asks, the answer
            // is the native stream.
            if req.into_body().collect().await.is_err() {
                return Ok(full(StatusCode::BAD_REQUEST, JSON, Bytes::new()));
            }
            if !bodies.delay.is_zero() {
                tokio::time::sleep(bodies.delay).await;
            }
            STATS.agent_stream.fetch_add(1, Relaxed);
            return Ok(sse(events, fresh_uuid(), bodies.gap));
        }
        if path == "/api/memory/save-messages" {
            let agent_given = has_agent_id(req.uri().query());
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return Ok(full(StatusCode::BAD_REQUEST, JSON, Bytes::new())),
            };
            STATS.save_messages.fetch_add(1, Relaxed);
            if !agent_given {
                return Ok(full(
                    StatusCode::BAD_REQUEST,
                    JSON,
                    Bytes::from_static(
                        br#"{"error":"Invalid query parameters","issues":[{"field":"agentId","message":"Required"}]}"#,
                    ),
                ));
            }
            if !body.starts_with(br#"{"messages":["#) {
                return Ok(full(
                    StatusCode::BAD_REQUEST,
                    JSON,
                    Bytes::from_static(br#"{"error":"messages must be an array"}"#),
                ));
            }
            // Mastra answers `{"messages":[…the saved messages…]}`: what was sent, here.
            return Ok(full(StatusCode::OK, JSON, body));
        }
    }
    if req.method() == Method::GET {
        if path == "/api/agents" {
            STATS.agents.fetch_add(1, Relaxed);
            return Ok(full(StatusCode::OK, JSON, bodies.agents.clone()));
        }
        if let Some(id) = path.strip_prefix("/api/v1/responses/") {
            STATS.responses_get.fetch_add(1, Relaxed);
            let id = id.replace(['"', '\\'], "");
            let body = format!(r#"{{"error":"Stored response {id} was not found"}}"#);
            return Ok(full(StatusCode::NOT_FOUND, JSON, Bytes::from(body)));
        }
        if path == "/__bench/stats" {
            let body = format!(
                r#"{{"agents":{},"responses_json":{},"responses_stream":{},"responses_get":{},"agent_stream":{},"save_messages":{},"other":{}}}"#,
                STATS.agents.load(Relaxed),
                STATS.responses_json.load(Relaxed),
                STATS.responses_stream.load(Relaxed),
                STATS.responses_get.load(Relaxed),
                STATS.agent_stream.load(Relaxed),
                STATS.save_messages.load(Relaxed),
                STATS.other.load(Relaxed),
            );
            return Ok(full(StatusCode::OK, JSON, Bytes::from(body)));
        }
    }
    STATS.other.fetch_add(1, Relaxed);
    Ok(full(
        StatusCode::NOT_FOUND,
        "text/plain; charset=UTF-8",
        Bytes::from_static(b"404 Not Found"),
    ))
}

async fn serve(cfg: Config) -> std::io::Result<()> {
    let bodies = Arc::new(build_bodies(cfg.deltas, cfg.delay, cfg.gap));
    let addr: SocketAddr = format!("{}:{}", cfg.host, cfg.port)
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let native_bytes: usize = bodies.native[0].1.iter().map(|e| e.bytes.len()).sum();
    println!(
        "fake-mastra listening on http://{local} (delay {} ms, stream gap {} ms; native stream \
         {} events, {native_bytes} B; v1: {} stream events, {} B JSON body)",
        cfg.delay.as_millis(),
        cfg.gap.as_millis(),
        bodies.native[0].1.len(),
        bodies.stream.len(),
        bodies.response.len()
    );
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let bodies = bodies.clone();
        let conn = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| handle(bodies.clone(), req)),
        );
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

fn main() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ (u64::from(std::process::id()) << 40);
    SEED.store(seed, Relaxed);
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fake-mastra: {e}");
            std::process::exit(2);
        }
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cfg.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build().expect("tokio runtime");
    if let Err(e) = rt.block_on(serve(cfg)) {
        eprintln!("fake-mastra: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn bodies_have_the_mastra_shape() {
        let b = build_bodies(24, Duration::ZERO, Duration::ZERO);
        assert!(
            b.response.len() > 900 && b.response.len() < 1600,
            "{}",
            b.response.len()
        );
        assert_eq!(b.stream.len(), 32);
        let first = text(&b.stream[0].bytes);
        assert!(first.starts_with("event: response.created\ndata: {\"type\":\"response.created\""));
        assert!(first.ends_with("\"sequence_number\":1}\n\n"));
        let last = text(&b.stream[31].bytes);
        assert!(last.starts_with("event: response.completed\n"));
        assert!(b.stream.iter().all(|e| e.id_at.is_empty()));
        assert!(wants_stream(br#"{"model":"a","stream":true}"#));
        assert!(!wants_stream(br#"{"model":"a","stream":false}"#));
    }

    #[test]
    fn native_stream_has_mastras_shape_and_a_fresh_id() {
        let b = build_bodies(24, Duration::ZERO, Duration::ZERO);
        let (agent, events) = &b.native[0];
        assert_eq!(*agent, "support-agent");
        assert_eq!(events.len(), 31);
        let id = fresh_uuid();
        let other = fresh_uuid();
        assert_ne!(id, other);
        let id_s = std::str::from_utf8(&id).unwrap();
        let is_uuid4 = id_s.len() == 36
            && id_s.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                14 => c == '4',
                19 => "89ab".contains(c),
                _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
            });
        assert!(is_uuid4, "{id_s}");
        let out: Vec<Bytes> = events.iter().map(|e| e.render(&id)).collect();
        let all: String = out.iter().map(text).collect();
        assert!(!all.contains(ID_SLOT));
        let kinds: Vec<&str> = out
            .iter()
            .map(|e| {
                let t = text(e);
                assert!(t.starts_with("data: ") && t.ends_with("\n\n"), "{t}");
                let t = &t["data: ".len()..t.len() - 2];
                assert!(!t.contains('\n'));
                match t.find(r#""type":""#) {
                    Some(at) => {
                        let rest = &t[at + 8..];
                        &rest[..rest.find('"').unwrap()]
                    }
                    None => t,
                }
            })
            .collect();
        let mut want = vec!["start", "step-start", "text-start"];
        want.extend(std::iter::repeat_n("text-delta", 24));
        want.extend(["text-end", "step-finish", "finish", "[DONE]"]);
        assert_eq!(kinds, want);
        let start = text(&out[0]);
        assert!(start.contains(&format!(
            r#""payload":{{"id":"support-agent","messageId":"{id_s}"}}"#
        )));
        let finish = text(&out[29]);
        assert!(finish.contains(&format!(
            r#""uiMessages":[{{"id":"{id_s}","role":"assistant","metadata":{{"#
        )));
        assert_eq!(events[29].id_at.len(), 2);
        assert_eq!(events[28].id_at.len(), 1);
        // The text of the deltas is the finish's text.
        let text_all = text_pieces(24).concat();
        assert!(finish.contains(&format!(r#""output":{{"text":"{text_all}""#)));
        assert!(finish.contains(r#""createdAt":"20"#));
        // JSON brackets balance (no JSON parser in this crate; the bench's sanity check runs
        // each chunk through the gateway's decoder).
        for e in &out[..30] {
            let t = text(e);
            assert_eq!(t.matches('{').count(), t.matches('}').count(), "{t}");
            assert_eq!(t.matches('[').count(), t.matches(']').count(), "{t}");
        }
    }

    #[test]
    fn iso_times_are_javascripts() {
        assert_eq!(iso_ms(1_796_352_612_135), "2026-12-04T02:50:12.135Z");
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn agent_ids_are_the_fixtures() {
        let agents = std::str::from_utf8(AGENTS_JSON).unwrap();
        for id in AGENT_IDS {
            assert!(agents.contains(&format!(r#""{id}":{{"id":"{id}""#)), "{id}");
        }
        assert!(has_agent_id(Some("agentId=support-agent")));
        assert!(has_agent_id(Some("x=1&agentId=a")));
        assert!(!has_agent_id(Some("agentId=")));
        assert!(!has_agent_id(None));
    }
}
