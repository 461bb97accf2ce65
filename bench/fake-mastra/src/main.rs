//! A fast fake Mastra server for the gateway benchmark.
//!
//! It answers the few routes the gateway uses on the hot path with bodies shaped like the real
//! Mastra's (`@mastra/server` 1.21, see tests/data/ of the gateway), all built once at start:
//!
//! - `GET /api/agents`: the agents map (bench/fake-mastra/data/agents.json, a copy of the
//!   real fixture's answer).
//! - `GET /api/v1/responses/<id>`: JSON 404 `{"error":"Stored response <id> was not found"}`,
//!   what Mastra says for an unknown id; the gateway's `/readyz` probe needs exactly that.
//! - `POST /api/v1/responses`: a ~1 KB Mastra Response JSON, or, when the request body contains
//!   `"stream":true`, a Mastra SSE stream of `8 + --deltas` events (32 by default).
//! - `GET /__bench/stats`: request counters (not a Mastra route; for the harness).
//! - anything else: a plain-text 404, as Mastra's server answers an unknown route.
//!
//! Flags:
//!   --host ADDR          listen address (default 127.0.0.1)
//!   --port N             listen port (default 4111; 0 picks a free one)
//!   --delay-ms N         fixed delay before the first byte of every POST /api/v1/responses
//!                        answer, JSON and SSE alike (models a model's time to first token;
//!                        default 0). For a stream the delay is spent before the response head,
//!                        so the whole stream is late, as with a real model.
//!   --stream-gap-ms N    pause between consecutive SSE events (default 0: all events are written
//!                        back to back, one HTTP chunk each)
//!   --deltas N           number of response.output_text.delta events (default 24)
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

use bytes::Bytes;
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

/// Everything the server answers, built once.
struct Bodies {
    agents: Bytes,
    response: Bytes,
    stream: Arc<[Bytes]>,
    delay: Duration,
    gap: Duration,
}

struct Stats {
    agents: AtomicU64,
    responses_json: AtomicU64,
    responses_stream: AtomicU64,
    responses_get: AtomicU64,
    other: AtomicU64,
}

static STATS: Stats = Stats {
    agents: AtomicU64::new(0),
    responses_json: AtomicU64::new(0),
    responses_stream: AtomicU64::new(0),
    responses_get: AtomicU64::new(0),
    other: AtomicU64::new(0),
};

const WORDS: &[&str] = &[
    "Sure", "thing,", "here", "is", "the", "forecast", "you", "asked", "for:", "Rome", "will",
    "be", "sunny", "with", "a", "high", "of", "24", "degrees", "and", "a", "light", "breeze",
    "from", "the", "west", "by", "the", "evening.",
];

fn build_bodies(deltas: usize, delay: Duration, gap: Duration) -> Bodies {
    let id = "msg_5f0c2a4e-8d1b-4c3e-9a7f-1b2c3d4e5f60";
    let thread = "31f59ac9-bff2-453d-ae14-2eb90d13935a";
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let pieces: Vec<String> = (0..deltas)
        .map(|i| {
            let w = WORDS[i % WORDS.len()];
            if i + 1 == deltas {
                w.to_string()
            } else {
                format!("{w} ")
            }
        })
        .collect();
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
    let stream: Vec<Bytes> = events
        .into_iter()
        .enumerate()
        .map(|(i, (kind, data))| {
            Bytes::from(format!(
                "event: {kind}\ndata: {data},\"sequence_number\":{}}}\n\n",
                i + 1
            ))
        })
        .collect();

    Bodies {
        agents: Bytes::from_static(AGENTS_JSON),
        response: Bytes::from(full),
        stream: stream.into(),
        delay,
        gap,
    }
}

/// A complete body, or the precomputed SSE events one frame each (with an optional gap).
enum FakeBody {
    Full(Option<Bytes>),
    Sse {
        events: Arc<[Bytes]>,
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
                let frame = events[*next].clone();
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

const JSON: &str = "application/json; charset=UTF-8";

fn wants_stream(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"stream\":true";
    body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

async fn handle(
    bodies: Arc<Bodies>,
    req: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let path = req.uri().path();
    if req.method() == Method::POST && path == "/api/v1/responses" {
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
            let mut resp = Response::new(FakeBody::Sse {
                events: bodies.stream.clone(),
                next: 0,
                gap: bodies.gap,
                sleep: None,
            });
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return Ok(resp);
        }
        STATS.responses_json.fetch_add(1, Relaxed);
        return Ok(full(StatusCode::OK, JSON, bodies.response.clone()));
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
                r#"{{"agents":{},"responses_json":{},"responses_stream":{},"responses_get":{},"other":{}}}"#,
                STATS.agents.load(Relaxed),
                STATS.responses_json.load(Relaxed),
                STATS.responses_stream.load(Relaxed),
                STATS.responses_get.load(Relaxed),
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
    println!(
        "fake-mastra listening on http://{local} (delay {} ms, stream gap {} ms, {} stream events, \
         {} B JSON body)",
        cfg.delay.as_millis(),
        cfg.gap.as_millis(),
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

    #[test]
    fn bodies_have_the_mastra_shape() {
        let b = build_bodies(24, Duration::ZERO, Duration::ZERO);
        assert!(
            b.response.len() > 900 && b.response.len() < 1600,
            "{}",
            b.response.len()
        );
        assert_eq!(b.stream.len(), 32);
        let first = std::str::from_utf8(&b.stream[0]).unwrap();
        assert!(first.starts_with("event: response.created\ndata: {\"type\":\"response.created\""));
        assert!(first.ends_with("\"sequence_number\":1}\n\n"));
        let last = std::str::from_utf8(&b.stream[31]).unwrap();
        assert!(last.starts_with("event: response.completed\n"));
        assert!(wants_stream(br#"{"model":"a","stream":true}"#));
        assert!(!wants_stream(br#"{"model":"a","stream":false}"#));
    }
}
