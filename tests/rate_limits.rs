//! Rate limits end to end: the gateway in-process with API keys and `[limits]`, in front of a
//! small in-process fake Mastra (agents list, JSON and SSE responses, a stream that stays open
//! until the test releases it).
//!
//! Shows: the `x-ratelimit-*` headers on every answer (the tightest limiter's), OpenAI's 429
//! (`type: "requests"`, `code: "rate_limit_exceeded"`, `retry-after`, `retry-after-ms`) from
//! the per-key, per-key override, global and per-agent limiters, the concurrent-stream cap
//! (its slot freed when the stream ends), the `mastra_gateway_rate_limited_total{limit}`
//! metric, that a config reload keeps an unchanged limiter's budget, and that keys never show
//! in answers or metrics.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;
use mastra_gateway::plan::auth::hash_key;

const AGENTS: &str = include_str!("data/mastra_agents.json");
const STREAM_TEXT: &str = include_str!("data/native_stream_text.sse");

const KEY_A: &str = "sk-limits-a";
/// The metrics are process-global: tests run one at a time so that counter deltas are theirs.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const KEY_B: &str = "sk-limits-b";

// ------------------------------------------------------------------------------- fake Mastra

enum FakeBody {
    Full(Option<Bytes>),
    Chan(mpsc::Receiver<Bytes>),
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
            FakeBody::Chan(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }
}

/// Turns whose input is "hold" send their first two events, then wait for a permit of
/// `release` before the rest.
struct Fake {
    url: String,
    release: Arc<Semaphore>,
}

async fn fake_mastra() -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let release = Arc::new(Semaphore::new(0));
    let rel = release.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let rel = rel.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let rel = rel.clone();
                async move { Ok::<_, std::convert::Infallible>(serve(req, rel).await) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Fake { url, release }
}

async fn serve(req: Request<Incoming>, release: Arc<Semaphore>) -> Response<FakeBody> {
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let raw = req.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let (status, ctype, out) = match (method.as_str(), path.as_str()) {
        ("GET", "/api/agents") => (200, "application/json", FakeBody::Full(Some(AGENTS.into()))),
        ("POST", p) if p.ends_with("/stream") => {
            // A turn whose input is "hold" stops after two events until released.
            let hold = body["messages"][0]["content"] == "hold";
            let events: Vec<Bytes> = STREAM_TEXT
                .split_inclusive("\n\n")
                .map(|e| Bytes::copy_from_slice(e.as_bytes()))
                .collect();
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(async move {
                for (i, e) in events.into_iter().enumerate() {
                    if i == 2 && hold {
                        match release.acquire().await {
                            Ok(p) => p.forget(),
                            Err(_) => return,
                        }
                    }
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
            });
            (200, "text/event-stream", FakeBody::Chan(rx))
        }
        ("POST", "/api/memory/save-messages") => (
            200,
            "application/json",
            FakeBody::Full(Some(
                json!({"messages": body["messages"]}).to_string().into(),
            )),
        ),
        _ => (
            404,
            "text/plain",
            FakeBody::Full(Some("404 Not Found".into())),
        ),
    };
    let mut resp = Response::new(out);
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", ctype.parse().unwrap());
    resp
}

// ---------------------------------------------------------------------------------- gateway

fn toml(upstream: &str, keys_extra_b: &str, limits: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"

[upstream]
url = "{upstream}"
response_timeout = "5s"
stream_idle_timeout = "10s"

[logging]
level = "warn"

[[auth.keys]]
name = "key-a"
sha256 = "{}"
resource_id = "tenant-a"

[[auth.keys]]
name = "key-b"
sha256 = "{}"
resource_id = "tenant-b"
{keys_extra_b}

[limits]
{limits}
"#,
        hash_key(KEY_A),
        hash_key(KEY_B)
    )
}

async fn gateway(upstream: &str, keys_extra_b: &str, limits: &str) -> Gateway {
    Gateway::start(from_toml_str(&toml(upstream, keys_extra_b, limits)).expect("valid config"))
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

async fn get(gw: &Gateway, key: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = client().get(format!("http://{}{path}", gw.addr));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

async fn create(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// (limit, remaining, reset) from the `x-ratelimit-*` headers.
fn rate_headers(resp: &reqwest::Response) -> Option<(u32, u32, String)> {
    Some((
        header(resp, "x-ratelimit-limit-requests")?.parse().unwrap(),
        header(resp, "x-ratelimit-remaining-requests")?
            .parse()
            .unwrap(),
        header(resp, "x-ratelimit-reset-requests")?,
    ))
}

/// Checks OpenAI's 429 and returns (message, retry-after, retry-after-ms).
async fn assert_429(resp: reqwest::Response) -> (String, u64, u64) {
    assert_eq!(resp.status(), 429);
    let after: u64 = header(&resp, "retry-after").unwrap().parse().unwrap();
    let after_ms: u64 = header(&resp, "retry-after-ms").unwrap().parse().unwrap();
    assert!(header(&resp, "x-request-id").unwrap().len() > 4);
    let body: Value = resp.json().await.unwrap();
    let e = &body["error"];
    assert_eq!(e["type"], "requests", "{body}");
    assert_eq!(e["code"], "rate_limit_exceeded", "{body}");
    assert_eq!(e["param"], Value::Null, "{body}");
    assert!(after_ms >= 1 && after >= 1);
    assert!(
        after * 1000 >= after_ms && (after - 1) * 1000 < after_ms,
        "{after} vs {after_ms}"
    );
    (e["message"].as_str().unwrap().to_string(), after, after_ms)
}

async fn metrics(gw: &Gateway) -> String {
    client()
        .get(format!("http://{}/metrics", gw.admin_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn rate_limited(metrics: &str, limit: &str) -> f64 {
    let series = format!("mastra_gateway_rate_limited_total{{limit=\"{limit}\"}}");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

// ------------------------------------------------------------------------------------ tests

#[tokio::test]
async fn every_answer_carries_the_tightest_limit_and_429_says_when_to_retry() {
    let _serial = SERIAL.lock().await;
    let fake = fake_mastra().await;
    // One request per 10 s, bursts of 3.
    let gw = gateway(&fake.url, "", "per_key = { per_minute = 6, burst = 3 }").await;
    let before = rate_limited(&metrics(&gw).await, "key");
    let r = get(&gw, Some(KEY_A), "/v1/models").await;
    assert_eq!(r.status(), 200);
    assert_eq!(rate_headers(&r), Some((3, 2, "10s".into())));
    // Errors carry them too.
    let r = get(&gw, Some(KEY_A), "/v1/models/no-such-model").await;
    assert_eq!(r.status(), 404);
    assert_eq!(rate_headers(&r), Some((3, 1, "20s".into())));
    let r = create(
        &gw,
        KEY_A,
        json!({"model": "support-agent", "input": "hi", "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(rate_headers(&r), Some((3, 0, "30s".into())));
    assert!(header(&r, "retry-after").is_none());

    let r = get(&gw, Some(KEY_A), "/v1/models").await;
    let (limit, remaining, reset) = rate_headers(&r).unwrap();
    assert_eq!((limit, remaining), (3, 0));
    let (message, after, after_ms) = assert_429(r).await;
    assert!(message.contains("on this API key"), "{message}");
    assert!(!message.contains(KEY_A));
    assert_eq!(after, 10);
    assert!((9_000..=10_000).contains(&after_ms), "{after_ms}");
    // Back to a full burst: the wait, plus two more periods.
    let secs: f64 = reset.trim_end_matches('s').parse().unwrap();
    assert!(secs > 25.0 && secs <= 30.0, "{reset}");
    // The other key has its own budget; a request with no key is refused before any limiter.
    let r = get(&gw, Some(KEY_B), "/v1/models").await;
    assert_eq!(rate_headers(&r), Some((3, 2, "10s".into())));
    let r = get(&gw, None, "/v1/models").await;
    assert_eq!(r.status(), 401);
    assert_eq!(rate_headers(&r), None);

    let m = metrics(&gw).await;
    assert_eq!(rate_limited(&m, "key") - before, 1.0, "{m}");
    assert!(!m.contains(KEY_A) && !m.contains(&hash_key(KEY_A)));
}

#[tokio::test]
async fn key_override_global_ceiling_and_agents() {
    let _serial = SERIAL.lock().await;
    let fake = fake_mastra().await;
    let gw = gateway(
        &fake.url,
        "rate_limit = { per_minute = 1, burst = 1 }",
        "per_key = { per_minute = 1, burst = 100 }\nglobal = { per_minute = 1, burst = 3 }\nper_agent = { per_minute = 1, burst = 2 }",
    )
    .await;
    let before = metrics(&gw).await;
    // key-b's override: one request. (Refused by its key limiter, the second one never
    // reaches the global one.)
    let r = get(&gw, Some(KEY_B), "/v1/models").await;
    assert_eq!(r.status(), 200);
    // b: 0 left of 1; global: 2 left of 3 → b's own limiter is the tightest.
    assert_eq!(rate_headers(&r).map(|(l, rem, _)| (l, rem)), Some((1, 0)));
    let (message, ..) = assert_429(get(&gw, Some(KEY_B), "/v1/models").await).await;
    assert!(message.contains("on this API key"), "{message}");

    // Agents: support-agent twice, then refused; echo-agent has its own budget.
    let body = |agent: &str| json!({"model": agent, "input": "hi", "store": false});
    let r = create(&gw, KEY_A, body("support-agent")).await;
    assert_eq!(r.status(), 200);
    // a: 99 of 100; global: 1 of 3; agent: 1 of 2 → tie on what is left, smaller limit wins.
    assert_eq!(rate_headers(&r).map(|(l, rem, _)| (l, rem)), Some((2, 1)));
    assert_eq!(
        create(&gw, KEY_A, body("support-agent")).await.status(),
        200
    );
    // Global now 0 of 3: the next request of any key is refused by the ceiling…
    let (message, ..) = assert_429(create(&gw, KEY_A, body("echo-agent")).await).await;
    assert!(message.contains("on this gateway"), "{message}");
    let after = metrics(&gw).await;
    for (limit, n) in [("key", 1.0), ("global", 1.0), ("agent", 0.0)] {
        assert_eq!(
            rate_limited(&after, limit) - rate_limited(&before, limit),
            n,
            "{limit}: {after}"
        );
    }

    // …and the per-agent refusal names the model.
    let gw = gateway(&fake.url, "", "per_agent = { per_minute = 1, burst = 1 }").await;
    assert_eq!(
        create(&gw, KEY_A, body("support-agent")).await.status(),
        200
    );
    let (message, ..) = assert_429(create(&gw, KEY_B, body("support-agent")).await).await;
    assert!(message.contains("'support-agent'"), "{message}");
    assert_eq!(create(&gw, KEY_B, body("echo-agent")).await.status(), 200);
    // Models listing is not an agent run: not limited per agent.
    assert_eq!(get(&gw, Some(KEY_B), "/v1/models").await.status(), 200);
    assert!(rate_limited(&metrics(&gw).await, "agent") >= 1.0);
}

#[tokio::test]
async fn concurrent_streams_are_capped_per_key() {
    let _serial = SERIAL.lock().await;
    let fake = fake_mastra().await;
    let gw = gateway(
        &fake.url,
        "max_concurrent_streams = 2",
        "max_concurrent_streams_per_key = 1",
    )
    .await;
    let stream = json!({"model": "echo-agent", "input": "hold", "stream": true, "store": false});
    let first = create(&gw, KEY_A, stream.clone()).await;
    assert_eq!(first.status(), 200);
    // A second stream of the same key: refused while the first is open.
    let (message, after, after_ms) = assert_429(create(&gw, KEY_A, stream.clone()).await).await;
    assert!(message.contains("at most 1"), "{message}");
    assert_eq!((after, after_ms), (1, 1000));
    // Non-streaming requests and other keys are not affected; key-b's override allows two.
    let plain = json!({"model": "echo-agent", "input": "hi", "store": false});
    assert_eq!(create(&gw, KEY_A, plain).await.status(), 200);
    let b1 = create(&gw, KEY_B, stream.clone()).await;
    let b2 = create(&gw, KEY_B, stream.clone()).await;
    assert_eq!((b1.status().as_u16(), b2.status().as_u16()), (200, 200));
    assert_eq!(create(&gw, KEY_B, stream.clone()).await.status(), 429);
    assert!(rate_limited(&metrics(&gw).await, "streams") >= 2.0);

    // The three open streams end: the first one's slot is free again.
    fake.release.add_permits(3);
    let text = first.text().await.unwrap();
    assert!(text.contains("response.completed"), "{text}");
    let mut again = None;
    for _ in 0..50 {
        let r = create(&gw, KEY_A, stream.clone()).await;
        if r.status() == 200 {
            again = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = again.expect("the slot is freed when the stream ends");
    // This one stays open (no permit left); a client that walks away frees its slot too.
    assert_eq!(create(&gw, KEY_A, stream.clone()).await.status(), 429);
    drop(again);
    let mut freed = false;
    for _ in 0..50 {
        let r = create(&gw, KEY_A, stream.clone()).await;
        if r.status() == 200 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "an abandoned stream frees its slot");
    drop((b1, b2));
}

#[tokio::test]
async fn open_gateway_has_global_and_agent_limits_only() {
    let _serial = SERIAL.lock().await;
    let fake = fake_mastra().await;
    let open = |limits: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n[upstream]\nurl = \"{}\"\n[limits]\n{limits}",
            fake.url
        )
    };
    // Nothing configured: no limiter, no headers, no key needed.
    let gw = Gateway::start(from_toml_str(&open("")).unwrap())
        .await
        .unwrap();
    for _ in 0..20 {
        let r = get(&gw, None, "/v1/models").await;
        assert_eq!(r.status(), 200);
        assert_eq!(rate_headers(&r), None);
    }
    // A global ceiling applies to everyone; per-key limits have no key to apply to.
    let gw = Gateway::start(
        from_toml_str(&open(
            "global = { per_second = 1, burst = 2 }\nper_key = { per_minute = 1, burst = 1 }",
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let r = get(&gw, None, "/v1/models").await;
    assert_eq!(rate_headers(&r), Some((2, 1, "1s".into())));
    get(&gw, None, "/v1/models").await;
    let (message, after, after_ms) = assert_429(get(&gw, None, "/v1/models").await).await;
    assert!(message.contains("on this gateway"), "{message}");
    assert_eq!(after, 1);
    assert!(after_ms <= 1000);
    // GCRA: after the wait it lets one through again.
    tokio::time::sleep(Duration::from_millis(after_ms + 20)).await;
    assert_eq!(get(&gw, None, "/v1/models").await.status(), 200);
}

#[tokio::test]
async fn reload_keeps_an_unchanged_budget() {
    let _serial = SERIAL.lock().await;
    let fake = fake_mastra().await;
    let limits = "per_key = { per_minute = 1, burst = 1 }";
    let gw = gateway(&fake.url, "", limits).await;
    assert_eq!(get(&gw, Some(KEY_A), "/v1/models").await.status(), 200);
    assert_eq!(get(&gw, Some(KEY_A), "/v1/models").await.status(), 429);
    // SIGHUP with the same limits: still out of budget (no fresh burst).
    gw.reload(from_toml_str(&toml(&fake.url, "", limits)).unwrap())
        .unwrap();
    assert_eq!(get(&gw, Some(KEY_A), "/v1/models").await.status(), 429);
    // A new quota: a new limiter.
    gw.reload(
        from_toml_str(&toml(
            &fake.url,
            "",
            "per_key = { per_minute = 1, burst = 2 }",
        ))
        .unwrap(),
    )
    .unwrap();
    let r = get(&gw, Some(KEY_A), "/v1/models").await;
    assert_eq!(rate_headers(&r).map(|(l, rem, _)| (l, rem)), Some((2, 1)));
    // Keys are reloaded too: a key removed from the config is refused at once.
    let only_b = toml(&fake.url, "", "").replacen(
        &format!("name = \"key-a\"\nsha256 = \"{}\"", hash_key(KEY_A)),
        &format!("name = \"key-a\"\nsha256 = \"{}\"", hash_key("sk-rotated")),
        1,
    );
    gw.reload(from_toml_str(&only_b).unwrap()).unwrap();
    assert_eq!(get(&gw, Some(KEY_A), "/v1/models").await.status(), 401);
    assert_eq!(
        get(&gw, Some("sk-rotated"), "/v1/models").await.status(),
        200
    );
}
