//! Hostile and careless clients (issue 14), with the gateway in-process against an in-process
//! fake Mastra that answers every route the gateway uses and records the raw path of each call.
//!
//! - ids: a property test over arbitrary id strings through every route that takes an id (path
//!   segments, `previous_response_id`, `conversation`, item ids, `after` cursors): each
//!   upstream path has exactly its template's segments, the id decoded back from its segment,
//!   or no upstream call is made.
//! - a client's mistakes never mark Mastra down: 4xx answers are neither retried nor counted,
//!   and `/readyz` reports the state the fast-fail uses.
//! - credentials in the upstream URL appear in no answer, `/readyz` body or metric.
//! - huge `input`, trailing bytes after the JSON body, too many or too large headers: OpenAI
//!   envelopes, and no upstream call.
//!
//! Stalled uploads (a real process, for its RSS) and secrets in log lines: tests/stalled_uploads.rs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::net::TcpListener;

const AGENTS: &str = include_str!("data/mastra_agents.json");
const RESPONSE_TEXT: &str = include_str!("data/mastra_response_text.json");
const STREAM_TEXT: &str = include_str!("data/native_stream_text.sse");

// ------------------------------------------------------------------------------ fake Mastra

#[derive(Clone, Debug)]
struct Call {
    method: String,
    /// The path exactly as it came over the wire (still percent-encoded).
    raw_path: String,
}

/// How the fake answers the routes that read a resource by id.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Every resource exists: flows go on to their next upstream calls.
    Found,
    /// JSON 404s, as Mastra answers an unknown id.
    NotFound,
    /// Plain-text 404s, as a server without the route answers.
    PlainNotFound,
}

struct Fake {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn thread(id: &str) -> Value {
    json!({"id": id, "resourceId": id, "title": "", "metadata": {},
           "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"})
}

impl Fake {
    async fn start(mode: Mode) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(req, mode, log).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Fake { url, calls }
    }

    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

async fn answer(
    req: Request<Incoming>,
    mode: Mode,
    log: Arc<Mutex<Vec<Call>>>,
) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let raw_path = req.uri().path().to_string();
    let body: Value = req
        .into_body()
        .collect()
        .await
        .ok()
        .and_then(|c| serde_json::from_slice(&c.to_bytes()).ok())
        .unwrap_or(Value::Null);
    // The readiness probe and the agent list are not part of what a test looks at.
    let probe = raw_path == "/api/agents" || raw_path.ends_with("readiness-probe");
    if !probe {
        log.lock().unwrap().push(Call {
            method: method.clone(),
            raw_path: raw_path.clone(),
        });
    }
    let segs: Vec<&str> = raw_path.split('/').skip(1).collect();
    let found = |v: Value| (200, v);
    let (status, v) = match (method.as_str(), segs.as_slice()) {
        ("GET", ["api", "agents"]) => found(serde_json::from_str(AGENTS).unwrap()),
        (_, ["api", "v1", "responses", _]) if raw_path.ends_with("readiness-probe") => {
            (404, json!({"error": "not found"}))
        }
        ("POST", ["api", "agents", _, "stream"]) => {
            let mut resp = Response::new(Full::new(Bytes::from_static(STREAM_TEXT.as_bytes())));
            resp.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            return resp;
        }
        _ if mode == Mode::PlainNotFound && segs.len() > 3 => {
            let mut resp = Response::new(Full::new(Bytes::from_static(b"404 Not Found")));
            *resp.status_mut() = hyper::StatusCode::NOT_FOUND;
            return resp;
        }
        ("POST", ["api", "memory", "threads", id, "clone"]) => {
            found(json!({"thread": thread(&decode(id)), "clonedMessages": [], "messageIdMap": {}}))
        }
        ("POST", ["api", "v1", "conversations"]) => {
            let id = body["conversation_id"].as_str().unwrap_or("c-new");
            found(json!({"id": id, "object": "conversation", "thread": thread(id)}))
        }
        ("POST", ["api", "memory", "save-messages"]) => {
            found(json!({"messages": body["messages"]}))
        }
        ("POST", ["api", "memory", "messages", "delete"]) => {
            found(json!({"success": true, "message": "deleted"}))
        }
        _ if mode == Mode::NotFound => (404, json!({"error": "Not found"})),
        ("GET", ["api", "v1", "responses", id]) => {
            let mut r: Value = serde_json::from_str(RESPONSE_TEXT).unwrap();
            r["id"] = json!(decode(id));
            r["conversation_id"] = json!("c1");
            r["store"] = json!(true);
            found(r)
        }
        ("DELETE", ["api", "v1", "responses", id]) => {
            found(json!({"id": decode(id), "object": "response", "deleted": true}))
        }
        ("GET", ["api", "v1", "conversations", id]) => found(
            json!({"id": decode(id), "object": "conversation", "thread": thread(&decode(id))}),
        ),
        ("DELETE", ["api", "v1", "conversations", id]) => {
            found(json!({"id": decode(id), "object": "conversation.deleted", "deleted": true}))
        }
        ("PATCH", ["api", "memory", "threads", id]) => found(thread(&decode(id))),
        ("GET", ["api", "memory", "threads", _, "messages"]) => found(
            json!({"messages": [], "uiMessages": null, "total": 0, "page": 0, "perPage": 20, "hasMore": false}),
        ),
        _ => (404, json!({"error": "Not found"})),
    };
    let mut resp = Response::new(Full::new(Bytes::from(v.to_string())));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

// -------------------------------------------------------------------------------- gateway

async fn gateway(upstream: &str, extra: &str) -> Gateway {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"
max_input_items = 50
max_input_bytes = 4096

[upstream]
url = "{upstream}"
connect_timeout = "1s"
response_timeout = "5s"
probe_timeout = "1s"
failure_threshold = 2
get_retries = 2
retry_backoff = "1ms"
health_interval = "1h"

[logging]
level = "error"
{extra}
"#
    );
    Gateway::start(from_toml_str(&toml).expect("valid test config"))
        .await
        .expect("gateway starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn api(gw: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gw.addr)
}

fn admin(gw: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gw.admin_addr)
}

/// Every byte escaped, so the gateway decodes exactly `id` from its path segment.
fn seg(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

/// The rule an id must pass to reach an upstream path (the gateway's own is
/// `mastra_gateway::mastra::path::is_plausible_id`; this one is written out independently).
fn plausible(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id != "."
        && id != ".."
        && !id.chars().any(char::is_control)
}

/// The Mastra message id of response id `id`, as the gateway maps them: `resp_<32 hex>` is a
/// uuid, `resp_~X` is `X`, any other `resp_X` is `msg_X`.
fn mastra_response_id(id: &str) -> String {
    let Some(rest) = id.strip_prefix("resp_") else {
        return id.to_string();
    };
    if let Some(raw) = rest.strip_prefix('~') {
        return raw.to_string();
    }
    if rest.len() == 32
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return format!(
            "{}-{}-{}-{}-{}",
            &rest[..8],
            &rest[8..12],
            &rest[12..16],
            &rest[16..20],
            &rest[20..]
        );
    }
    format!("msg_{rest}")
}

/// The upstream paths the gateway may call, `{}` standing for exactly one segment.
const TEMPLATES: &[&str] = &[
    "/api/agents/{}/stream",
    "/api/memory/threads/{}/clone",
    "/api/v1/responses",
    "/api/v1/responses/{}",
    "/api/v1/conversations",
    "/api/v1/conversations/{}",
    "/api/memory/threads/{}",
    "/api/memory/threads/{}/messages",
    "/api/memory/save-messages",
    "/api/memory/messages/delete",
];

/// The decoded id segment of `raw_path`, after checking that the path is one template exactly
/// (no dot segment, no backslash, no extra or missing segment); `Err` says what is wrong.
fn id_segment(raw_path: &str) -> Result<Option<String>, String> {
    if raw_path.contains('\\') {
        return Err(format!("a raw backslash in {raw_path:?}"));
    }
    let segs: Vec<&str> = raw_path.split('/').skip(1).collect();
    for s in &segs {
        let d = decode(s);
        if d == "." || d == ".." {
            return Err(format!("a dot segment in {raw_path:?}"));
        }
    }
    for t in TEMPLATES {
        let tsegs: Vec<&str> = t.split('/').skip(1).collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut id = None;
        let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
            if *t == "{}" {
                id = Some(decode(s));
                !s.is_empty()
            } else {
                t == s
            }
        });
        if fits {
            return Ok(id);
        }
    }
    Err(format!(
        "{raw_path:?} is no upstream route the gateway uses"
    ))
}

/// One request through the gateway, its path sent exactly as given (URL libraries such as
/// reqwest's would resolve `%2e%2e` and `.` before sending); its status and JSON body.
async fn raw(gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", gw.addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn send(gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> u16 {
    raw(gw, method, path, body).await.0
}

/// Every route that takes a client id, with `id` in it. `c1` is a conversation the fake has.
async fn exercise(gw: &Gateway, id: &str) -> Vec<(String, u16)> {
    let s = seg(id);
    let mut out = Vec::new();
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/v1/responses/{s}"), None),
        ("DELETE", format!("/v1/responses/{s}"), None),
        ("GET", format!("/v1/responses/{s}/input_items"), None),
        ("GET", format!("/v1/conversations/{s}"), None),
        (
            "POST",
            format!("/v1/conversations/{s}"),
            Some(json!({"metadata": {"k": "v"}})),
        ),
        ("DELETE", format!("/v1/conversations/{s}"), None),
        ("GET", format!("/v1/conversations/{s}/items"), None),
        ("GET", format!("/v1/conversations/c1/items?after={s}"), None),
        (
            "POST",
            format!("/v1/conversations/{s}/items"),
            Some(json!({"items": [{"role": "user", "content": "x"}]})),
        ),
        ("GET", format!("/v1/conversations/c1/items/{s}"), None),
        ("DELETE", format!("/v1/conversations/c1/items/{s}"), None),
        ("GET", format!("/v1/models/{s}"), None),
        (
            "POST",
            "/v1/responses".into(),
            Some(json!({"model": "support-agent", "input": "hi", "conversation": id})),
        ),
        (
            "POST",
            "/v1/responses".into(),
            Some(json!({"model": "support-agent", "input": "hi", "conversation": {"id": id}})),
        ),
        (
            "POST",
            "/v1/responses".into(),
            Some(json!({"model": "support-agent", "input": "hi", "previous_response_id": id})),
        ),
    ];
    for (method, path, body) in cases {
        let status = send(gw, method, &path, body).await;
        out.push((format!("{method} {path}"), status));
    }
    out
}

/// Ids built from the pieces path tricks are made of, and arbitrary strings.
fn hostile_id() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(".".to_string()),
        Just("..".to_string()),
        Just("\\".to_string()),
        Just("/".to_string()),
        Just("%2e".to_string()),
        Just("%2E%2e".to_string()),
        Just("%2f".to_string()),
        Just("%5c".to_string()),
        Just("%".to_string()),
        Just("?".to_string()),
        Just("#".to_string()),
        Just(";".to_string()),
        Just(" ".to_string()),
        Just("\0".to_string()),
        Just("\n".to_string()),
        Just("\u{85}".to_string()),
        Just("conversations".to_string()),
        Just("resp_".to_string()),
        Just("msg_".to_string()),
        Just("ü".to_string()),
        "[a-z0-9_-]{1,8}",
        "\\PC{0,4}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat()),
        Just("x".repeat(257)),
        Just("x".repeat(256)),
    ]
}

fn check_calls(id: &str, calls: &[Call], answers: &[(String, u16)]) -> Result<(), TestCaseError> {
    // The fake's conversation, and the agent turns run on.
    let expected = [
        id.to_string(),
        mastra_response_id(id),
        "c1".into(),
        "support-agent".into(),
    ];
    for c in calls {
        let seg = id_segment(&c.raw_path).map_err(|e| {
            TestCaseError::fail(format!("id {id:?}: {} {}: {e}", c.method, c.raw_path))
        })?;
        if let Some(seg) = seg {
            // A POST that creates names its own new ids (none of this id).
            let created = c.method == "POST" && c.raw_path == "/api/v1/conversations";
            if !created && !expected.contains(&seg) {
                return Err(TestCaseError::fail(format!(
                    "id {id:?}: {} {} carries segment {seg:?}, which is not the id",
                    c.method, c.raw_path
                )));
            }
            if !plausible(id) && seg != "c1" && seg != "support-agent" {
                return Err(TestCaseError::fail(format!(
                    "id {id:?} cannot be an id, yet {} {} was called",
                    c.method, c.raw_path
                )));
            }
        }
    }
    for (what, status) in answers {
        if *status >= 500 {
            return Err(TestCaseError::fail(format!(
                "id {id:?}: {what} answered {status}"
            )));
        }
    }
    Ok(())
}

/// The property: through every route that takes an id, every upstream path is one of the
/// gateway's templates with exactly its segments, the id sitting in its own segment (decoded
/// back to exactly the id); an id that cannot be one causes no upstream call at all.
#[test]
fn ids_stay_in_their_path_segment() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (fake, gw) = rt.block_on(async {
        let fake = Fake::start(Mode::Found).await;
        let gw = gateway(&fake.url, "").await;
        (fake, gw)
    });
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    // The ids of the probe report, first.
    for id in [
        "..",
        ".",
        "x\\..\\..\\conversations\\c1",
        "%2e%2e",
        "a/../../conversations/c1",
        "",
    ] {
        fake.take();
        let answers = rt.block_on(exercise(&gw, id));
        check_calls(id, &fake.take(), &answers).unwrap();
    }
    proptest!(config, |(id in hostile_id())| {
        fake.take();
        let answers = rt.block_on(exercise(&gw, &id));
        check_calls(&id, &fake.take(), &answers)?;
    });
}

/// The probe's exploit, end to end: the traversal id reaches only its own segment, and an id
/// that cannot be one is the resource's ordinary 404 without any upstream call.
#[tokio::test]
async fn traversal_ids_reach_no_other_route() {
    let fake = Fake::start(Mode::Found).await;
    let gw = gateway(&fake.url, "").await;
    fake.take();
    let resp = client()
        .delete(api(&gw, "/v1/responses/x%5C..%5C..%5Cconversations%5Cc1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let calls = fake.take();
    assert!(
        calls
            .iter()
            .all(|c| !c.raw_path.contains("/conversations/")),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| c.method == "DELETE"
            && c.raw_path == "/api/v1/responses/x%5C..%5C..%5Cconversations%5Cc1"),
        "{calls:?}"
    );
    for (path, message) in [
        ("/v1/responses/%2e%2e", "Response with id '..' not found."),
        ("/v1/responses/..", "Response with id '..' not found."),
        (
            "/v1/conversations/%2E",
            "Conversation with id '.' not found.",
        ),
        (
            "/v1/conversations/a%00b/items",
            "Conversation with id 'a\u{FFFD}b' not found.",
        ),
        (
            "/v1/conversations/c1/items/%2e%2e",
            "Item with id '..' not found.",
        ),
    ] {
        let (status, v) = raw(&gw, "GET", path, None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            v,
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
            "{path}"
        );
    }
    let long = "x".repeat(300);
    let resp = client()
        .get(api(&gw, &format!("/v1/responses/{long}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().len() < 120,
        "a long id is not echoed whole: {v}"
    );
    let resp = client()
        .post(api(&gw, "/v1/responses"))
        .json(&json!({"model": "support-agent", "input": "hi", "previous_response_id": ".."}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "previous_response_not_found");
    let resp = client()
        .post(api(&gw, "/v1/responses"))
        .json(&json!({"model": "support-agent", "input": "hi", "conversation": "a\nb"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["param"], "conversation");
    assert_eq!(v["error"]["code"], "invalid_value");
    assert!(
        fake.take().is_empty(),
        "no upstream call for ids that cannot be ids"
    );
}

// ------------------------------------------------------------- client mistakes and health

fn faults_metric(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("mastra_gateway_upstream_faults_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Many requests with ids Mastra does not have (JSON 404s, plain-text 404s) and ids that cannot
/// be ids: none is retried, none counts as an upstream fault, the upstream is not marked down,
/// `/readyz` stays ready, and another tenant's good request then succeeds at once.
#[tokio::test]
async fn client_mistakes_never_mark_the_upstream_down() {
    for mode in [Mode::NotFound, Mode::PlainNotFound] {
        let fake = Fake::start(mode).await;
        let keys = r#"
[[auth.keys]]
name = "a"
sha256 = "SHA_A"
resource_id = "tenant-a"
[[auth.keys]]
name = "b"
sha256 = "SHA_B"
resource_id = "tenant-b"
"#
        .replace("SHA_A", &mastra_gateway::plan::auth::hash_key("sk-a"))
        .replace("SHA_B", &mastra_gateway::plan::auth::hash_key("sk-b"));
        let gw = gateway(&fake.url, &keys).await;
        let before = client()
            .get(admin(&gw, "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        fake.take();
        for i in 0..10 {
            for path in [
                "/v1/responses/%2e%2e".to_string(),
                format!("/v1/responses/resp_unknown{i}"),
                format!("/v1/conversations/unknown{i}"),
                format!("/v1/conversations/unknown{i}/items"),
                format!("/v1/responses/resp_unknown{i}/input_items"),
            ] {
                let resp = client()
                    .get(api(&gw, &path))
                    .bearer_auth("sk-a")
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                assert!(
                    status == 404 || (mode == Mode::PlainNotFound && status == 502),
                    "{path}: {status}"
                );
                // One upstream call per lookup: a 4xx is never retried.
                let calls = fake.take();
                let mut seen = std::collections::HashSet::new();
                for c in &calls {
                    assert!(
                        seen.insert((c.method.clone(), c.raw_path.clone())),
                        "{path}: retried {} {}",
                        c.method,
                        c.raw_path
                    );
                }
            }
        }
        let upstream = gw.state.load();
        let client0 = upstream.upstreams.get(0);
        assert!(client0.is_up(), "not marked down");
        assert_eq!(client0.consecutive_faults(), 0, "no fault counted");
        let after = client()
            .get(admin(&gw, "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(faults_metric(&before), faults_metric(&after));
        let ready = client().get(admin(&gw, "/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let v: Value = ready.json().await.unwrap();
        assert_eq!(v["upstreams"]["default"], "ready", "{v}");
        // Another tenant, at once.
        let resp = client()
            .post(api(&gw, "/v1/responses"))
            .bearer_auth("sk-b")
            .json(&json!({"model": "support-agent", "input": "hi", "store": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

/// Faults do count: a refused connection, repeated, marks the upstream down; the fast-fail and
/// `/readyz` then agree (503 `upstream_down`; readiness names the upstream as down and why).
#[tokio::test]
async fn upstream_faults_mark_it_down_and_readiness_agrees() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = gateway(&format!("http://127.0.0.1:{port}"), "").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(send(&gw, "GET", "/v1/conversations/c1", None).await);
    }
    assert_eq!(statuses[0], 502, "{statuses:?}");
    assert_eq!(
        statuses[2], 503,
        "fails fast once marked down: {statuses:?}"
    );
    let ready = client().get(admin(&gw, "/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let v: Value = ready.json().await.unwrap();
    assert_eq!(v["upstreams"]["default"], "down");
    assert!(v["reason"].as_str().unwrap().contains("marked down"), "{v}");
}

// ---------------------------------------------------------------------------------- secrets

/// `http://user:pass@host` as the upstream: the password (and user) appear in no answer to a
/// client, in `/readyz`, or in `/metrics`; clients see only the upstream's name.
#[tokio::test]
async fn upstream_credentials_never_leak() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = gateway(&format!("http://gwuser:s3cr3t-pw@127.0.0.1:{port}"), "").await;
    let mut texts = Vec::new();
    for (method, path, body) in [
        (
            "POST",
            "/v1/responses",
            Some(json!({"model": "support-agent", "input": "hi"})),
        ),
        (
            "POST",
            "/v1/responses",
            Some(json!({"model": "support-agent", "input": "hi", "stream": true})),
        ),
        ("GET", "/v1/models", None),
        ("GET", "/v1/conversations/c1", None),
        ("GET", "/v1/conversations/c1", None),
        ("GET", "/v1/conversations/c1", None),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = client().request(m, api(&gw, path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().as_u16() >= 500);
        let headers = format!("{:?}", resp.headers());
        texts.push(format!("{headers} {}", resp.text().await.unwrap()));
    }
    texts.push(
        client()
            .get(admin(&gw, "/readyz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    texts.push(
        client()
            .get(admin(&gw, "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    for t in &texts {
        for secret in ["s3cr3t-pw", "gwuser", &format!("127.0.0.1:{port}")] {
            assert!(!t.contains(secret), "{secret:?} leaked in {t}");
        }
    }
    assert!(
        texts[0].contains("'default'"),
        "named by its name: {}",
        texts[0]
    );
}

// --------------------------------------------------------------------------------- bodies

async fn raw_post(gw: &Gateway, body: &'static [u8]) -> (u16, Value) {
    let resp = client()
        .post(api(gw, "/v1/responses"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Bytes after the JSON body (`{…}garbage`, a second object) are refused with 400, and the
/// agent does not run.
#[tokio::test]
async fn trailing_bytes_after_the_body_are_refused() {
    let fake = Fake::start(Mode::Found).await;
    let gw = gateway(&fake.url, "").await;
    fake.take();
    for body in [
        &br#"{"model":"support-agent","input":"hi"}garbage"#[..],
        br#"{"model":"support-agent","input":"hi"} {"x":1}"#,
        br#"{"model":"support-agent","input":"hi"}}"#,
        br#"{"model":"support-agent","input":"hi","bogus":1}x"#,
    ] {
        let (status, v) = raw_post(&gw, body).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("could not parse the JSON body"),
            "{v}"
        );
    }
    // Whitespace after the body is fine.
    let (status, _) = raw_post(&gw, b"{\"model\":\"support-agent\",\"input\":\"hi\"}\n  \n").await;
    assert_eq!(status, 200);
    let calls = fake.take();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.raw_path.ends_with("/stream"))
            .count(),
        1,
        "only the valid body ran the agent: {calls:?}"
    );
}

/// Too many input items, or too much input text: 400 naming `input`, before any upstream call.
#[tokio::test]
async fn huge_inputs_are_refused() {
    let fake = Fake::start(Mode::Found).await;
    let gw = gateway(&fake.url, "").await;
    fake.take();
    let items: Vec<Value> = (0..51)
        .map(|i| json!({"role": "user", "content": format!("m{i}")}))
        .collect();
    let big = "x".repeat(5000);
    for (body, code) in [
        (
            json!({"model": "support-agent", "input": items}),
            "array_above_max_length",
        ),
        (
            json!({"model": "support-agent", "input": big}),
            "string_above_max_length",
        ),
        (
            json!({"model": "support-agent", "input": [{"role": "user", "content": [{"type": "input_text", "text": "x".repeat(3000)}, {"type": "input_text", "text": "y".repeat(3000)}]}]}),
            "string_above_max_length",
        ),
    ] {
        let resp = client()
            .post(api(&gw, "/v1/responses"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["param"], "input", "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
    }
    let ok: Vec<Value> = (0..50)
        .map(|i| json!({"role": "user", "content": format!("m{i}")}))
        .collect();
    let resp = client()
        .post(api(&gw, "/v1/responses"))
        .json(&json!({"model": "support-agent", "input": ok}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "at the cap is fine");
    let calls = fake.take();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.raw_path.ends_with("/stream"))
            .count(),
        1,
        "{calls:?}"
    );
}

/// Too many headers, or too many bytes of them: 431 in OpenAI's envelope with `x-request-id`,
/// not hyper's bare answer; what real clients send passes.
#[tokio::test]
async fn oversized_headers_get_an_openai_error() {
    let fake = Fake::start(Mode::Found).await;
    let gw = gateway(&fake.url, "").await;
    let many = {
        let mut req = client().get(api(&gw, "/v1/models"));
        for i in 0..120 {
            req = req.header(format!("x-h-{i}"), "v");
        }
        req.send().await.unwrap()
    };
    let large = client()
        .get(api(&gw, "/v1/models"))
        .header("x-big", "v".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    for resp in [many, large] {
        assert_eq!(resp.status(), 431);
        assert!(resp.headers().contains_key("x-request-id"));
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "application/json"
        );
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "request_header_fields_too_large");
        assert!(v["error"].get("param").is_some());
    }
    let normal = {
        let mut req = client().get(api(&gw, "/v1/models"));
        for i in 0..30 {
            req = req.header(format!("x-stainless-h{i}"), "value-of-some-length");
        }
        req.header("cookie", "c".repeat(8 * 1024))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(normal.status(), 200);
}
