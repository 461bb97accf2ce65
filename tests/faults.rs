//! Fault injection: the gateway in-process against a scriptable in-process fake Mastra.
//!
//! The fake serves `GET /api/agents` (recorded agent list), the readiness probe route, and
//! `POST /api/v1/responses` with whatever each test scripts: JSON answers, errors, delays,
//! recorded SSE streams that end cleanly, abort, or stall. It records every request it gets
//! and whether a stream it was sending was cancelled (its body receiver went away).
//!
//! Every error answer is checked as OpenAI's exact envelope
//! `{"error":{"message","type","param","code"}}`, with its status and `x-request-id`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;

const AGENTS: &str = include_str!("data/mastra_agents.json");
const RESPONSE_TEXT: &str = include_str!("data/mastra_response_text.json");
/// Turns as Mastra's native stream route sends them (recorded from the fixture).
const STREAM_TEXT: &str = include_str!("data/native_stream_text.sse");
const STREAM_TOOL: &str = include_str!("data/native_stream_tool.sse");
/// Id of the recorded stream's response, as the gateway shows it.
const STREAM_TEXT_ID: &str = "resp_631cdace381c4fd58999db6deee0fe4c";

/// The open-streams gauge is process-global: tests that open a stream take this lock so that
/// gauge assertions see only their own stream.
static STREAMS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ------------------------------------------------------------------------------- fake Mastra

#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone)]
enum Reply {
    Json(u16, Value),
    /// Status, content type, body.
    Raw(u16, &'static str, String),
    Delayed(Duration, Box<Reply>),
    /// An SSE response: the chunks, `interval` apart, then `end`.
    Sse {
        chunks: Vec<Bytes>,
        interval: Duration,
        end: End,
    },
}

#[derive(Clone, Copy, Debug)]
enum End {
    /// Close the body normally.
    Clean,
    /// Drop the connection without finishing the chunked body.
    Abort,
    /// Send nothing more, keep the connection open until the peer goes away.
    Stall,
}

type Script = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct Fake {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Set when a stream the fake was sending lost its reader (the gateway closed the upstream
    /// connection).
    cancelled: Arc<AtomicBool>,
}

/// The fake's response body: complete, or fed by a channel.
enum FakeBody {
    Full(Option<Bytes>),
    Chan(mpsc::Receiver<Result<Bytes, std::io::Error>>),
}

impl hyper::body::Body for FakeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            FakeBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            FakeBody::Chan(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }
}

impl Fake {
    async fn start(script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Fake {
        let script: Script = Arc::new(script);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let cancelled = Arc::new(AtomicBool::new(false));
        let (reqs, canc) = (requests.clone(), cancelled.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (script, reqs, canc) = (script.clone(), reqs.clone(), canc.clone());
                let service = service_fn(move |req: Request<Incoming>| {
                    let (script, reqs, canc) = (script.clone(), reqs.clone(), canc.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(serve(req, script, reqs, canc).await)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Fake {
            url: format!("http://{addr}"),
            requests,
            cancelled,
        }
    }

    /// The turns (`POST /api/agents/:id/stream`) received so far.
    fn creates(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| is_turn(r))
            .cloned()
            .collect()
    }

    fn was_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

async fn serve(
    req: Request<Incoming>,
    script: Script,
    reqs: Arc<Mutex<Vec<Recorded>>>,
    cancelled: Arc<AtomicBool>,
) -> Response<FakeBody> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let raw = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let rec = Recorded {
        method,
        path,
        headers,
        body,
    };
    reqs.lock().unwrap().push(rec.clone());
    let reply = match (rec.method.as_str(), rec.path.as_str()) {
        ("GET", "/api/agents") => Reply::Raw(200, "application/json", AGENTS.to_string()),
        _ if is_turn(&rec) => script(&rec),
        ("POST", "/api/memory/save-messages") => {
            Reply::Json(200, json!({"messages": rec.body["messages"]}))
        }
        ("GET", p) if p.starts_with("/api/v1/conversations/") => {
            let id = p.trim_start_matches("/api/v1/conversations/");
            let at = "2026-01-01T00:00:00.000Z";
            Reply::Json(
                200,
                json!({"id": id, "object": "conversation", "thread": {"id": id, "resourceId": id,
                    "title": "", "metadata": {}, "createdAt": at, "updatedAt": at}}),
            )
        }
        ("GET" | "DELETE", p) if p.starts_with("/api/v1/responses/") => {
            let id = p.trim_start_matches("/api/v1/responses/");
            Reply::Json(
                404,
                json!({"error": format!("Stored response {id} was not found")}),
            )
        }
        _ => Reply::Raw(404, "text/plain", "404 Not Found".to_string()),
    };
    render(reply, cancelled).await
}

async fn render(mut reply: Reply, cancelled: Arc<AtomicBool>) -> Response<FakeBody> {
    while let Reply::Delayed(d, inner) = reply {
        tokio::time::sleep(d).await;
        reply = *inner;
    }
    let (status, ctype, body) = match reply {
        Reply::Json(s, v) => (
            s,
            "application/json",
            FakeBody::Full(Some(v.to_string().into())),
        ),
        Reply::Raw(s, ct, b) => (s, ct, FakeBody::Full(Some(b.into()))),
        Reply::Sse {
            chunks,
            interval,
            end,
        } => {
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(async move {
                for c in chunks {
                    if tx.send(Ok(c)).await.is_err() {
                        cancelled.store(true, Ordering::SeqCst);
                        return;
                    }
                    if !interval.is_zero() {
                        tokio::time::sleep(interval).await;
                    }
                }
                match end {
                    End::Clean => {}
                    End::Abort => {
                        // Let hyper flush what was sent, then break the chunked body.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = tx.send(Err(std::io::Error::other("fake abort"))).await;
                    }
                    End::Stall => {
                        tx.closed().await;
                        cancelled.store(true, Ordering::SeqCst);
                    }
                }
            });
            (200, "text/event-stream; charset=utf-8", FakeBody::Chan(rx))
        }
        Reply::Delayed(..) => unreachable!(),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", ctype.parse().unwrap());
    resp
}

/// The recorded stream's events, one `Bytes` per event.
fn sse_events(raw: &str) -> Vec<Bytes> {
    raw.split_inclusive("\n\n")
        .map(|e| Bytes::copy_from_slice(e.as_bytes()))
        .collect()
}

fn full_stream(raw: &str) -> Reply {
    Reply::Sse {
        chunks: sse_events(raw),
        interval: Duration::ZERO,
        end: End::Clean,
    }
}

fn response_text_json() -> Value {
    serde_json::from_str(RESPONSE_TEXT).unwrap()
}

/// Answers like Mastra for a happy path: the recorded stream (non-streaming requests run on
/// the same native stream route).
fn happy(_rec: &Recorded) -> Reply {
    full_stream(STREAM_TEXT)
}

/// The text of a turn's first input message.
fn input_of(rec: &Recorded) -> &str {
    rec.body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
}

/// Whether the fake saw a turn (`POST /api/agents/:id/stream`).
fn is_turn(rec: &Recorded) -> bool {
    rec.method == "POST" && rec.path.starts_with("/api/agents/") && rec.path.ends_with("/stream")
}

// ---------------------------------------------------------------------------------- gateway

struct Opts {
    response_timeout: &'static str,
    stream_idle_timeout: &'static str,
    max_body_bytes: usize,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            response_timeout: "5s",
            stream_idle_timeout: "5s",
            max_body_bytes: 65536,
        }
    }
}

async fn gateway(upstream: &str, o: Opts) -> Gateway {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
max_body_bytes = {max}
shutdown_grace = "1s"

[upstream]
url = "{upstream}"
connect_timeout = "1s"
response_timeout = "{rt}"
stream_idle_timeout = "{idle}"
probe_timeout = "1s"

[models]
cache_ttl = "1s"

[models.aliases]
"gpt-4o" = "support-agent"

[logging]
level = "warn"
"#,
        max = o.max_body_bytes,
        rt = o.response_timeout,
        idle = o.stream_idle_timeout,
    );
    Gateway::start(from_toml_str(&toml).expect("valid test config"))
        .await
        .expect("gateway starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn api(gw: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gw.addr)
}

fn admin(gw: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gw.admin_addr)
}

async fn create(gw: &Gateway, body: Value, request_id: Option<&str>) -> reqwest::Response {
    let mut req = client().post(api(gw, "/v1/responses")).json(&body);
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    req.send().await.expect("gateway answers")
}

fn request_id_of(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .expect("every answer carries x-request-id")
        .to_str()
        .unwrap()
        .to_string()
}

/// Checks status, JSON content type, `x-request-id`, and the envelope's exact key set; returns
/// the inner `error` object and the request id.
async fn error_of(resp: reqwest::Response, status: u16) -> (Value, String) {
    let rid = request_id_of(&resp);
    assert!(!rid.is_empty());
    let got = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "status; body: {text}");
    assert!(
        ctype.starts_with("application/json"),
        "content-type {ctype}; body {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let outer = v.as_object().expect("object");
    assert_eq!(outer.len(), 1, "only `error`: {v}");
    let inner = outer["error"].as_object().expect("error object");
    let mut keys: Vec<&str> = inner.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "message", "param", "type"], "{v}");
    (outer["error"].clone(), rid)
}

/// Parses an OpenAI SSE body and checks the framing (event line = data.type, no `[DONE]`).
fn parse_sse(text: &str) -> Vec<Value> {
    assert!(!text.contains("[DONE]"), "no [DONE] in Responses streams");
    assert!(
        text.ends_with("\n\n"),
        "ends with a complete event: {text:?}"
    );
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v);
                } else if let Some(v) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "one data line per event");
                    data = Some(v);
                }
            }
            let v: Value = serde_json::from_str(data.expect("data line")).unwrap();
            assert_eq!(v["type"], event.expect("event line"), "{block}");
            v
        })
        .collect()
}

fn assert_dense(events: &[Value]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["sequence_number"],
            json!(i),
            "sequence_number at {i}: {e}"
        );
    }
}

/// Reads a whole streaming answer (bounded), checking it is a 200 SSE.
async fn read_stream(resp: reqwest::Response) -> Vec<Value> {
    assert_eq!(resp.status().as_u16(), 200);
    request_id_of(&resp);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let text = tokio::time::timeout(Duration::from_secs(5), resp.text())
        .await
        .expect("stream ends in time")
        .expect("stream body reads cleanly");
    parse_sse(&text)
}

async fn wait_until<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metrics_text(gw: &Gateway) -> String {
    let resp = client().get(admin(gw, "/metrics")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.unwrap()
}

/// The value of the sample whose name-and-labels part is exactly `series` (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
        .unwrap_or(0.0)
}

const OPEN_STREAMS: &str = "mastra_gateway_open_streams";

// ------------------------------------------------------------------------------------ tests

#[tokio::test]
async fn upstream_down_is_502_and_not_ready() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = gateway(&format!("http://127.0.0.1:{port}"), Opts::default()).await;

    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"hi"}),
        Some("down-1"),
    )
    .await;
    let (e, rid) = error_of(resp, 502).await;
    assert_eq!(rid, "down-1", "the client's request id is echoed");
    assert_eq!(e["type"], "server_error");
    assert_eq!(e["code"], "upstream_unreachable");
    assert_eq!(e["param"], Value::Null);
    let msg = e["message"].as_str().unwrap();
    // Named by its configured name only: no URL, host or port (they may carry credentials).
    let prefix = "Upstream Mastra server 'default' is unreachable: ";
    assert!(msg.starts_with(prefix), "{msg}");
    assert!(
        !msg.contains("127.0.0.1") && !msg.contains(&port.to_string()) && !msg.contains("http"),
        "{msg}"
    );

    let resp = client().get(api(&gw, "/v1/models")).send().await.unwrap();
    let (e, rid) = error_of(resp, 502).await;
    let hex = rid.strip_prefix("req_").unwrap_or_default();
    assert!(
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "a fresh request id, req_ and 32 lowercase hex digits: {rid}"
    );
    assert_eq!(e["code"], "upstream_unreachable");

    let ready = client().get(admin(&gw, "/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let v: Value = ready.json().await.unwrap();
    assert_eq!(v["status"], "not_ready");
    assert_eq!(v["upstreams"]["default"], "down");
    let reason = v["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("'default'") && reason.contains("unreachable"),
        "{reason}"
    );

    let health = client().get(admin(&gw, "/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status":"ok"})
    );
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let fake =
        Fake::start(|rec| Reply::Delayed(Duration::from_secs(5), Box::new(happy(rec)))).await;
    let gw = gateway(
        &fake.url,
        Opts {
            response_timeout: "300ms",
            ..Opts::default()
        },
    )
    .await;
    let expected = json!({
        "message": "Upstream Mastra server 'default' did not answer within 300ms.",
        "type": "server_error", "param": null, "code": "upstream_timeout",
    });
    for stream in [false, true] {
        let started = Instant::now();
        let resp = create(
            &gw,
            json!({"model":"support-agent","input":"hi","stream":stream}),
            Some("slow-1"),
        )
        .await;
        let (e, rid) = error_of(resp, 504).await;
        assert_eq!(e, expected, "stream={stream}");
        assert_eq!(rid, "slow-1");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn upstream_error_answers_are_translated() {
    let fake = Fake::start(|rec| match input_of(rec) {
        "boom" => Reply::Json(500, json!({"error":"boom"})),
        "garbage" => Reply::Raw(200, "text/html", "<html>not json</html>".into()),
        "limited" => Reply::Json(429, json!({"error":"Too many requests"})),
        "invalid" => Reply::Json(
            400,
            json!({"error":"Invalid request body","issues":[{"field":"input","message":"Invalid input"}]}),
        ),
        _ => full_stream(STREAM_TEXT),
    })
    .await;
    let gw = gateway(&fake.url, Opts::default()).await;

    let (e, rid) = error_of(
        create(
            &gw,
            json!({"model":"support-agent","input":"boom"}),
            Some("e-500"),
        )
        .await,
        500,
    )
    .await;
    assert_eq!(rid, "e-500");
    assert_eq!(
        e,
        json!({"message":"Upstream Mastra server 'default' failed: boom","type":"server_error","param":null,"code":null})
    );

    let (e, _) = error_of(
        create(
            &gw,
            json!({"model":"support-agent","input":"garbage"}),
            None,
        )
        .await,
        502,
    )
    .await;
    assert_eq!(e["type"], "server_error");
    assert_eq!(e["code"], "upstream_invalid_response");
    assert_eq!(e["param"], Value::Null);
    let msg = e["message"].as_str().unwrap();
    assert_eq!(
        msg,
        "Upstream Mastra server 'default' sent an invalid response: a streaming request was not answered with text/event-stream"
    );

    let (e, _) = error_of(
        create(
            &gw,
            json!({"model":"support-agent","input":"invalid"}),
            None,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(
        e,
        json!({"message":"Invalid request body: Invalid input","type":"invalid_request_error","param":"input","code":null})
    );

    let (e, _) = error_of(
        create(
            &gw,
            json!({"model":"support-agent","input":"limited"}),
            None,
        )
        .await,
        429,
    )
    .await;
    assert_eq!(
        e,
        json!({"message":"Too many requests","type":"requests","param":null,"code":"rate_limit_exceeded"})
    );
}

#[tokio::test]
async fn mastra_404s_are_remapped() {
    // Mastra refuses a turn in another resource's thread (403), and an unknown agent (404).
    let fake = Fake::start(|rec| {
        if rec.body["memory"]["thread"] == "x" {
            Reply::Json(
                403,
                json!({"error":"Access denied: thread belongs to a different resource"}),
            )
        } else if rec.path.contains("/agents/echo-agent/") {
            Reply::Json(404, json!({"error":"Agent with id echo-agent not found"}))
        } else {
            full_stream(STREAM_TEXT)
        }
    })
    .await;
    let gw = gateway(&fake.url, Opts::default()).await;

    let conv_404 = json!({"message":"Conversation with id 'x' not found.","type":"invalid_request_error","param":null,"code":null});
    for (conversation, stream) in [
        (json!("x"), false),
        (json!({"id":"x"}), false),
        (json!("x"), true),
    ] {
        let resp = create(
            &gw,
            json!({"model":"support-agent","input":"hi","conversation":conversation,"stream":stream}),
            Some("c-404"),
        )
        .await;
        let (e, rid) = error_of(resp, 404).await;
        assert_eq!(e, conv_404, "conversation={conversation} stream={stream}");
        assert_eq!(rid, "c-404");
    }
    let resp = create(&gw, json!({"model":"echo-agent","input":"hi"}), None).await;
    let (e, _) = error_of(resp, 404).await;
    assert_eq!(e["code"], "model_not_found");

    // An unknown previous response: looked up first, no turn runs.
    let turns = fake.creates().len();
    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"hi","previous_response_id":"resp_x"}),
        None,
    )
    .await;
    let (e, _) = error_of(resp, 400).await;
    assert_eq!(
        e,
        json!({"message":"Previous response with id 'resp_x' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"})
    );
    assert_eq!(
        fake.creates().len(),
        turns,
        "no turn for an unknown previous response"
    );

    // Retrieve and delete of an unknown id.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let resp = client()
            .request(method.clone(), api(&gw, "/v1/responses/resp_x"))
            .send()
            .await
            .unwrap();
        let (e, _) = error_of(resp, 404).await;
        assert_eq!(
            e,
            json!({"message":"Response with id 'resp_x' not found.","type":"invalid_request_error","param":null,"code":null}),
            "{method}"
        );
    }
    let asked: Vec<String> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/responses/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        asked,
        [
            "GET /api/v1/responses/msg_x",
            "GET /api/v1/responses/msg_x",
            "GET /api/v1/responses/msg_x"
        ],
        "the previous response, the retrieve and the delete each look the response up (a 404 is not retried)"
    );
}

#[tokio::test]
async fn forwarded_request_is_mastras_dialect() {
    let _streams = STREAMS.lock().await;
    let fake = Fake::start(happy).await;
    let gw = gateway(&fake.url, Opts::default()).await;

    // 1. Plain create on the agent's native stream route; store (the default) keeps the turn in
    //    a thread of the gateway's (its own resource when open); the client's request id.
    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"hello"}),
        Some("fwd-1"),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(request_id_of(&resp), "fwd-1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], STREAM_TEXT_ID);
    assert_eq!(body["object"], "response");
    assert_eq!(body["model"], "support-agent");
    assert_eq!(body["output"][0]["content"][0]["text"], "echo: hello there");
    assert_eq!(body["conversation"], Value::Null);
    let sent = fake.creates().pop().unwrap();
    assert_eq!(sent.path, "/api/agents/support-agent/stream");
    let thread = sent.body["memory"]["thread"].as_str().unwrap().to_string();
    assert!(thread.starts_with("mgw_thread_"), "{thread}");
    assert_eq!(sent.body["memory"]["resource"], thread.as_str());
    let user_id = sent.body["messages"][0]["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(user_id).is_ok(), "a uuid: {user_id}");
    assert_eq!(
        sent.body,
        json!({"messages":[{"id": user_id, "role":"user","content":"hello"}],
               "memory":{"thread": thread, "resource": thread}})
    );
    assert_eq!(sent.headers["x-request-id"], "fwd-1");
    assert_eq!(sent.headers["accept"], "text/event-stream");
    assert!(sent.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // The record that makes the response retrievable, on the answer Mastra stored.
    let saved = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .rfind(|r| r.path == "/api/memory/save-messages")
        .cloned()
        .expect("the response's record is saved");
    let record = &saved.body["messages"][0]["content"]["metadata"]["mastra"]["response"];
    assert_eq!(record["agentId"], "support-agent");
    assert_eq!(record["status"], "completed");
    assert_eq!(
        saved.body["messages"][0]["id"],
        "631cdace-381c-4fd5-8999-db6deee0fe4c"
    );
    assert_eq!(saved.body["messages"][0]["threadId"], thread.as_str());

    // 2. An alias, `conversation: {id}`, store:false: the conversation's thread and resource.
    let resp = create(
        &gw,
        json!({"model":"gpt-4o","input":"hello","conversation":{"id":"conv-1"},"store":false}),
        None,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let rid = request_id_of(&resp);
    assert!(rid.starts_with("req_"), "{rid}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["conversation"], json!({"id":"conv-1"}));
    assert_eq!(body["store"], false);
    let sent = fake.creates().pop().unwrap();
    assert_eq!(sent.path, "/api/agents/support-agent/stream");
    assert_eq!(
        sent.body["memory"],
        json!({"thread":"conv-1","resource":"conv-1"})
    );
    assert_eq!(
        sent.headers["x-request-id"].to_str().unwrap(),
        rid,
        "generated id forwarded"
    );

    // An unusable client request id is replaced by a fresh one, which is the one forwarded.
    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"hello"}),
        Some("not a token!"),
    )
    .await;
    let rid = request_id_of(&resp);
    assert!(rid.starts_with("req_"), "{rid}");
    assert_eq!(
        fake.creates().pop().unwrap().headers["x-request-id"]
            .to_str()
            .unwrap(),
        rid
    );

    // 3. `conversation: "id"` form.
    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"hello","conversation":"conv-2"}),
        None,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        fake.creates().pop().unwrap().body["memory"]["thread"],
        "conv-2"
    );

    // 4. store:false without a conversation: stateless, nothing stored; message-list input.
    let saves = |f: &Fake| {
        f.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "/api/memory/save-messages")
            .count()
    };
    let before = saves(&fake);
    let resp = create(
        &gw,
        json!({"model":"support-agent","input":[{"role":"user","content":"hi"}],"store":false}),
        Some("fwd-4"),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let sent = fake.creates().pop().unwrap();
    assert!(sent.body.get("memory").is_none(), "{}", sent.body);
    assert_eq!(sent.body["messages"][0]["content"], "hi");
    assert_eq!(sent.headers["x-request-id"], "fwd-4");
    assert_eq!(
        saves(&fake),
        before,
        "a store:false response is not recorded"
    );

    // 5. Streaming: the same route, translated events back.
    let resp = create(
        &gw,
        json!({"model":"echo-agent","input":"stream this please","stream":true}),
        Some("fwd-5"),
    )
    .await;
    assert_eq!(request_id_of(&resp), "fwd-5");
    let events = read_stream(resp).await;
    assert_dense(&events);
    assert_eq!(events[0]["type"], "response.created");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["id"], STREAM_TEXT_ID);
    assert_eq!(last["response"]["model"], "echo-agent");
    let sent = fake.creates().pop().unwrap();
    assert_eq!(sent.path, "/api/agents/echo-agent/stream");
    assert_eq!(sent.headers["accept"], "text/event-stream");
    assert_eq!(sent.headers["x-request-id"], "fwd-5");

    assert_eq!(fake.creates().len(), 6);
}

#[tokio::test]
async fn bad_requests_never_reach_the_upstream() {
    let fake = Fake::start(|_| Reply::Json(500, json!({"error":"must not be called"}))).await;
    let gw = gateway(
        &fake.url,
        Opts {
            max_body_bytes: 2048,
            ..Opts::default()
        },
    )
    .await;

    // Malformed JSON.
    let resp = client()
        .post(api(&gw, "/v1/responses"))
        .header("content-type", "application/json")
        .header("x-request-id", "bad-1")
        .body("{\"model\": \"support-agent\", \"input\": ")
        .send()
        .await
        .unwrap();
    let (e, rid) = error_of(resp, 400).await;
    assert_eq!(rid, "bad-1");
    assert_eq!(e["type"], "invalid_request_error");
    assert_eq!(e["param"], Value::Null);
    assert_eq!(e["code"], Value::Null);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.starts_with("We could not parse the JSON body of your request."),
        "{msg}"
    );

    // Too large: declared content-length, then chunked (no content-length).
    let too_large = json!({"message":"Request body is larger than the 2048 bytes this gateway accepts.","type":"invalid_request_error","param":null,"code":"request_too_large"});
    let big = json!({"model":"support-agent","input":"x".repeat(4096)}).to_string();
    let resp = client()
        .post(api(&gw, "/v1/responses"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (e, _) = error_of(resp, 413).await;
    assert_eq!(e, too_large);
    let chunks: Vec<Result<Bytes, std::io::Error>> = big
        .as_bytes()
        .chunks(1000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let resp = client()
        .post(api(&gw, "/v1/responses"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    let (e, _) = error_of(resp, 413).await;
    assert_eq!(e, too_large);

    // Unknown model.
    let (e, _) = error_of(
        create(&gw, json!({"model":"nope","input":"hi"}), None).await,
        404,
    )
    .await;
    assert_eq!(
        e,
        json!({"message":"The model `nope` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"})
    );
    let resp = client()
        .get(api(&gw, "/v1/models/nope"))
        .send()
        .await
        .unwrap();
    let (e, _) = error_of(resp, 404).await;
    assert_eq!(e["code"], "model_not_found");

    // Unknown routes.
    let resp = client().get(api(&gw, "/v1/nope")).send().await.unwrap();
    let (e, _) = error_of(resp, 404).await;
    assert_eq!(
        e,
        json!({"message":"Invalid URL (GET /v1/nope)","type":"invalid_request_error","param":null,"code":null})
    );
    let resp = client()
        .post(api(&gw, "/v1/completions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (e, _) = error_of(resp, 404).await;
    assert_eq!(e["message"], "Invalid URL (POST /v1/completions)");
    // A bad Chat request is refused before anything goes upstream too.
    let resp = client()
        .post(api(&gw, "/v1/chat/completions"))
        .json(&json!({"model": "support-agent"}))
        .send()
        .await
        .unwrap();
    let (e, _) = error_of(resp, 400).await;
    assert_eq!(e["param"], "messages");

    assert!(fake.creates().is_empty(), "{:?}", fake.creates());
}

#[tokio::test]
async fn stream_cut_midway_ends_with_response_failed() {
    let _streams = STREAMS.lock().await;
    let raw = STREAM_TEXT.as_bytes();
    let cut = raw.len() * 6 / 10;
    let chunks = raw[..cut]
        .chunks(cut / 3 + 1)
        .map(Bytes::copy_from_slice)
        .collect();
    let fake = Fake::start(move |_| Reply::Sse {
        chunks: Vec::clone(&chunks),
        interval: Duration::from_millis(10),
        end: End::Abort,
    })
    .await;
    let gw = gateway(&fake.url, Opts::default()).await;

    let resp = create(
        &gw,
        json!({"model":"echo-agent","input":"stream this please","stream":true}),
        Some("cut-1"),
    )
    .await;
    assert_eq!(request_id_of(&resp), "cut-1");
    let events = read_stream(resp).await;
    assert_dense(&events);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[0], "response.created");
    assert!(types.contains(&"response.output_text.delta"), "{types:?}");
    assert_eq!(
        types
            .iter()
            .filter(|t| t.starts_with("response.completed"))
            .count(),
        0
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(
        last["response"]["id"], STREAM_TEXT_ID,
        "same id as response.created"
    );
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    let msg = last["response"]["error"]["message"].as_str().unwrap();
    assert_eq!(msg, "the upstream stream broke");
}

#[tokio::test]
async fn stream_without_terminal_event_ends_with_response_failed() {
    let _streams = STREAMS.lock().await;
    // Everything but Mastra's `finish` and `[DONE]`.
    let mut chunks = sse_events(STREAM_TEXT);
    assert!(chunks.pop().unwrap().starts_with(b"data: [DONE]"));
    assert!(chunks
        .pop()
        .unwrap()
        .starts_with(b"data: {\"type\":\"finish\""));
    let fake = Fake::start(move |_| Reply::Sse {
        chunks: chunks.clone(),
        interval: Duration::ZERO,
        end: End::Clean,
    })
    .await;
    let gw = gateway(&fake.url, Opts::default()).await;

    let resp = create(
        &gw,
        json!({"model":"echo-agent","input":"stream this please","stream":true}),
        None,
    )
    .await;
    let events = read_stream(resp).await;
    assert_dense(&events);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.failed"
        ]
    );
    let last = events.last().unwrap();
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(
        last["response"]["error"],
        json!({"code":"server_error","message":"the upstream stream ended before the response was complete"})
    );
    // The message so far is kept in the failed response's output.
    let output = last["response"]["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["content"][0]["text"], "echo: hello there");
}

#[tokio::test]
async fn idle_stream_ends_with_response_failed_and_closes_upstream() {
    let _streams = STREAMS.lock().await;
    // start, step-start, text-start, one delta; then silence.
    let chunks: Vec<Bytes> = sse_events(STREAM_TEXT).into_iter().take(4).collect();
    let fake = Fake::start(move |_| Reply::Sse {
        chunks: chunks.clone(),
        interval: Duration::ZERO,
        end: End::Stall,
    })
    .await;
    let gw = gateway(
        &fake.url,
        Opts {
            stream_idle_timeout: "300ms",
            ..Opts::default()
        },
    )
    .await;

    let started = Instant::now();
    let resp = create(
        &gw,
        json!({"model":"echo-agent","input":"stream this please","stream":true}),
        None,
    )
    .await;
    let events = read_stream(resp).await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "failed promptly: {elapsed:?}"
    );
    assert_dense(&events);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.failed"
        ]
    );
    // The cut message is incomplete.
    assert_eq!(events[7]["item"]["status"], "incomplete");
    let last = events.last().unwrap();
    assert_eq!(
        last["response"]["error"],
        json!({"code":"server_error","message":"the upstream sent nothing for 300ms"})
    );
    assert!(
        wait_until(Duration::from_secs(2), || async { fake.was_cancelled() }).await,
        "the gateway closed the stalled upstream connection"
    );
}

#[tokio::test]
async fn errors_before_streaming_are_json_not_sse() {
    let fake = Fake::start(|rec| match input_of(rec) {
        "invalid" => Reply::Json(
            400,
            json!({"error":"Invalid request body","issues":[{"field":"input","message":"Invalid input"}]}),
        ),
        "boom" => Reply::Json(500, json!({"error":"boom"})),
        _ => Reply::Json(200, response_text_json()),
    })
    .await;
    let gw = gateway(&fake.url, Opts::default()).await;

    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"invalid","stream":true}),
        Some("pre-1"),
    )
    .await;
    let (e, rid) = error_of(resp, 400).await;
    assert_eq!(rid, "pre-1");
    assert_eq!(
        e,
        json!({"message":"Invalid request body: Invalid input","type":"invalid_request_error","param":"input","code":null})
    );

    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"boom","stream":true}),
        None,
    )
    .await;
    let (e, _) = error_of(resp, 500).await;
    assert_eq!(
        e["message"],
        "Upstream Mastra server 'default' failed: boom"
    );

    // A 200 that is not an event stream is refused, not relayed.
    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"json","stream":true}),
        None,
    )
    .await;
    let (e, _) = error_of(resp, 502).await;
    assert_eq!(
        e,
        json!({"message":"Upstream Mastra server 'default' sent an invalid response: a streaming request was not answered with text/event-stream","type":"server_error","param":null,"code":"upstream_invalid_response"})
    );

    // Validation errors come before anything is sent upstream, as JSON too.
    let resp = create(
        &gw,
        json!({"model":"support-agent","input":"x","stream":true,"tools":[{"type":"web_search"}]}),
        None,
    )
    .await;
    let (e, _) = error_of(resp, 400).await;
    assert_eq!(e["param"], "tools[0]");
    assert_eq!(e["code"], "unsupported_parameter");
    assert_eq!(fake.creates().len(), 3);
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_stream() {
    let _streams = STREAMS.lock().await;
    let events = sse_events(STREAM_TEXT);
    let delta = events
        .iter()
        .find(|e| e.starts_with(b"data: {\"type\":\"text-delta\""))
        .unwrap()
        .clone();
    let mut chunks: Vec<Bytes> = events[..4].to_vec();
    chunks.extend(std::iter::repeat_n(delta, 400)); // 20 s at one event per 50 ms
    let fake = Fake::start(move |_| Reply::Sse {
        chunks: chunks.clone(),
        interval: Duration::from_millis(50),
        end: End::Clean,
    })
    .await;
    let gw = gateway(&fake.url, Opts::default()).await;
    let baseline = sample(&metrics_text(&gw).await, OPEN_STREAMS);

    let c = client();
    let mut resp = c
        .post(api(&gw, "/v1/responses"))
        .json(&json!({"model":"echo-agent","input":"go on forever","stream":true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut seen = String::new();
    while seen.matches("event: response.output_text.delta").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(2), resp.chunk())
            .await
            .expect("a chunk in time")
            .expect("chunk reads")
            .expect("stream still open");
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(
        sample(&metrics_text(&gw).await, OPEN_STREAMS),
        baseline + 1.0,
        "one open stream while reading"
    );
    assert!(!fake.was_cancelled());

    let dropped = Instant::now();
    drop(resp);
    drop(c);
    assert!(
        wait_until(Duration::from_secs(2), || async { fake.was_cancelled() }).await,
        "the upstream stream was cancelled within 2s of the client leaving"
    );
    assert!(
        wait_until(Duration::from_secs(2), || async {
            sample(&metrics_text(&gw).await, OPEN_STREAMS) == baseline
        })
        .await,
        "open-streams gauge back to {baseline}"
    );
    assert!(dropped.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn h2c_prior_knowledge_works() {
    let fake = Fake::start(happy).await;
    let gw = gateway(&fake.url, Opts::default()).await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let resp = h2
        .get(api(&gw, "/v1/models"))
        .header("x-request-id", "h2-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(request_id_of(&resp), "h2-1");
    let list: Value = resp.json().await.unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in ["support-agent", "echo-agent", "gpt-4o"] {
        assert!(ids.contains(&id), "{ids:?}");
    }

    let resp = h2
        .post(api(&gw, "/v1/responses"))
        .json(&json!({"model":"support-agent","input":"hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["output"][0]["content"][0]["text"], "echo: hello there");

    // Errors over h2 keep the envelope.
    let resp = h2.get(api(&gw, "/v1/nope")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    error_of(resp, 404).await;
}

#[tokio::test]
async fn admin_endpoints_with_a_healthy_upstream() {
    let fake = Fake::start(happy).await;
    let gw = gateway(&fake.url, Opts::default()).await;
    let ready = client().get(admin(&gw, "/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status":"ready","upstreams":{"default":"ready"}})
    );
    let health = client().get(admin(&gw, "/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let other = client().get(admin(&gw, "/nope")).send().await.unwrap();
    assert_eq!(other.status().as_u16(), 404);
}

#[tokio::test]
async fn metrics_after_traffic() {
    let _streams = STREAMS.lock().await;
    let fake = Fake::start(happy).await;
    let gw = gateway(&fake.url, Opts::default()).await;
    let models_ok =
        r#"mastra_gateway_requests_total{route="models.list",status="200",agent="unknown"}"#;
    // `agent` is the agent a request was resolved to (`unknown` where none was).
    let create_support = r#"mastra_gateway_requests_total{route="responses.create",status="200",agent="support-agent"}"#;
    let create_echo = r#"mastra_gateway_requests_total{route="responses.create",status="200",agent="echo-agent"}"#;
    let unknown_404 =
        r#"mastra_gateway_requests_total{route="unknown",status="404",agent="unknown"}"#;
    let before = metrics_text(&gw).await;

    let resp = client().get(api(&gw, "/v1/models")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = create(&gw, json!({"model":"support-agent","input":"hello"}), None).await;
    assert_eq!(resp.status().as_u16(), 200);
    let events = read_stream(
        create(
            &gw,
            json!({"model":"echo-agent","input":"stream this please","stream":true}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let resp = client()
        .get(api(&gw, "/v1/definitely-not"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    let resp = client().get(admin(&gw, "/metrics")).send().await.unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let after = resp.text().await.unwrap();
    for name in [
        "mastra_gateway_requests_total",
        "mastra_gateway_request_duration_seconds",
        "mastra_gateway_upstream_duration_seconds",
        "mastra_gateway_open_streams",
    ] {
        assert!(after.contains(name), "{name} missing from:\n{after}");
    }
    assert!(sample(&after, models_ok) >= sample(&before, models_ok) + 1.0);
    assert!(sample(&after, create_support) >= sample(&before, create_support) + 1.0);
    assert!(sample(&after, create_echo) >= sample(&before, create_echo) + 1.0);
    assert!(sample(&after, unknown_404) >= sample(&before, unknown_404) + 1.0);
    assert!(
        after.contains(
            r#"mastra_gateway_request_duration_seconds_bucket{route="responses.create",le="#
        ),
        "{after}"
    );
    assert!(
        after.contains(
            r#"mastra_gateway_upstream_duration_seconds_bucket{route="responses.create",le="#
        ),
        "{after}"
    );
    // Labels are route templates, never ids.
    assert!(!after.contains("resp_"), "no ids in metric labels");
    // The stream is over, so it is no longer counted.
    assert!(
        wait_until(Duration::from_secs(2), || async {
            sample(&metrics_text(&gw).await, OPEN_STREAMS) == sample(&before, OPEN_STREAMS)
        })
        .await
    );
}

#[tokio::test]
async fn tool_stream_is_relayed_with_openai_ids() {
    let _streams = STREAMS.lock().await;
    let fake = Fake::start(|_| full_stream(STREAM_TOOL)).await;
    let gw = gateway(&fake.url, Opts::default()).await;
    let events = read_stream(
        create(
            &gw,
            json!({"model":"support-agent","input":"CALL_TOOL Oslo","stream":true}),
            None,
        )
        .await,
    )
    .await;
    assert_dense(&events);
    // The tool the agent ran is the server's: an mcp_call item, not a call for the client.
    let added = &events[2];
    assert_eq!(added["type"], "response.output_item.added");
    assert_eq!(added["item"]["type"], "mcp_call");
    assert_eq!(added["item"]["server_label"], "support-agent");
    assert_eq!(added["item"]["name"], "get_weather");
    let mcp_id = added["item"]["id"].as_str().unwrap();
    assert!(mcp_id.starts_with("mcp_"), "{mcp_id}");
    assert_eq!(events[3]["type"], "response.mcp_call.in_progress");
    assert_eq!(events[4]["type"], "response.mcp_call_arguments.delta");
    assert_eq!(events[4]["item_id"], mcp_id);
    assert!(events
        .iter()
        .any(|e| e["type"] == "response.mcp_call.completed"));
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    let types: Vec<&str> = last["response"]["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["mcp_call", "message"]);
    let mcp = &last["response"]["output"][0];
    assert_eq!(mcp["arguments"], "{\"city\":\"Rome\"}");
    assert_eq!(mcp["status"], "completed");
    assert!(mcp["output"].as_str().unwrap().contains("sunny"), "{mcp}");
}

#[tokio::test]
async fn graceful_shutdown_lets_an_open_stream_finish() {
    let _streams = STREAMS.lock().await;
    let fake = Fake::start(|_| Reply::Sse {
        chunks: sse_events(STREAM_TEXT),
        interval: Duration::from_millis(30),
        end: End::Clean,
    })
    .await;
    let gw = gateway(&fake.url, Opts::default()).await;
    let addr = gw.addr;
    let mut resp = create(
        &gw,
        json!({"model":"echo-agent","input":"stream this please","stream":true}),
        None,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut text = String::new();
    let first = resp.chunk().await.unwrap().expect("a first chunk");
    text.push_str(std::str::from_utf8(&first).unwrap());

    gw.shutdown();
    let waiter = tokio::spawn(gw.wait());
    // New connections are refused once the listener is closed.
    assert!(
        wait_until(Duration::from_secs(2), || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await,
        "listener closed after shutdown"
    );
    // The stream that was open runs to its end.
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(2), resp.chunk())
        .await
        .expect("chunk in time")
        .expect("stream keeps going during the drain")
    {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events = parse_sse(&text);
    assert_dense(&events);
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .expect("drained in time")
        .unwrap();
}
