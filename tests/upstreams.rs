//! Several upstreams: agent routing, id routing, retries of idempotent GETs, marking an upstream
//! down and back up, and the headers the gateway sends upstream. Each upstream is a small
//! in-process fake Mastra.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: HashMap<String, String>,
}

/// A fake Mastra serving `agents`, holding the stored responses in `responses` (the same ids
/// name its memory threads; those starting `native_` were made natively, with no gateway agent
/// key), answering 502 to everything while `broken`, and 503 to the first `flaky_gets`
/// response GETs.
#[derive(Clone)]
struct Fake {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    broken: Arc<AtomicBool>,
    flaky_gets: Arc<AtomicUsize>,
}

impl Fake {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn seen(&self, method: &str, prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// A stored response as Mastra's `GET /api/v1/responses/:id` answers it; it lives in the thread
/// of the same id.
fn response_body(id: &str, agent: &str) -> Value {
    json!({"id": id, "object": "response", "created_at": 1_700_000_000, "completed_at": 1_700_000_000,
        "model": format!("mock/{agent}"), "status": "completed",
        "output": [{"id": id, "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": format!("from {agent}"), "annotations": [], "logprobs": []}]}],
        "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        "error": null, "incomplete_details": null, "instructions": null, "text": null,
        "previous_response_id": null, "conversation_id": id, "tools": [], "store": true})
}

/// The stored message id of every turn the fake runs.
const TURN_MESSAGE: &str = "0f0e0d0c-0b0a-4908-8706-050403020100";
/// Its response id, as the gateway shows it.
const TURN_RESPONSE: &str = "resp_0f0e0d0c0b0a49088706050403020100";

/// A turn on Mastra's native stream route: answers "from <agent>".
fn turn_stream(agent: &str) -> String {
    let text = format!("from {agent}");
    let chunks = [
        json!({"type": "start", "payload": {"id": agent, "messageId": TURN_MESSAGE}}),
        json!({"type": "text-start", "payload": {"id": "t"}}),
        json!({"type": "text-delta", "payload": {"id": "t", "text": text}}),
        json!({"type": "text-end", "payload": {"id": "t"}}),
        json!({"type": "finish", "payload": {"stepResult": {"reason": "stop"},
            "output": {"usage": {"inputTokens": 1, "outputTokens": 2}},
            "response": {"uiMessages": [{"id": TURN_MESSAGE, "role": "assistant",
                "metadata": {"createdAt": "2026-01-01T00:00:01.000Z"},
                "parts": [{"type": "text", "text": text}]}]}}}),
    ];
    let mut out: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    out.push_str("data: [DONE]\n\n");
    out
}

/// What the fake answers: JSON, or an event stream.
enum Answer {
    Json(u16, Value),
    Sse(String),
}

async fn fake(agents: &[&str], responses: &[&str]) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let agents: Value = agents
        .iter()
        .map(|a| {
            (
                a.to_string(),
                json!({"id": a, "provider": "mock", "modelId": a}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let responses: Vec<String> = responses.iter().map(|s| s.to_string()).collect();
    let f = Fake {
        addr,
        seen: Arc::default(),
        broken: Arc::default(),
        flaky_gets: Arc::default(),
    };
    let state = f.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (state, agents, responses) = (state.clone(), agents.clone(), responses.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (state, agents, responses) =
                        (state.clone(), agents.clone(), responses.clone());
                    async move {
                        let method = req.method().to_string();
                        let path = req.uri().path().to_string();
                        let query = req.uri().query().unwrap_or_default().to_string();
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        state.seen.lock().unwrap().push(Seen {
                            method: method.clone(),
                            path: path.clone(),
                            query,
                            headers,
                        });
                        let answer = if state.broken.load(Ordering::SeqCst) {
                            Answer::Json(502, json!({"error": "bad gateway"}))
                        } else {
                            route(&state, &method, &path, &body, &agents, &responses)
                        };
                        let (status, ctype, body) = match answer {
                            Answer::Json(s, v) => (s, "application/json", v.to_string()),
                            Answer::Sse(text) => (200, "text/event-stream", text),
                        };
                        let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        resp.headers_mut()
                            .insert("content-type", ctype.parse().unwrap());
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    f
}

fn route(
    state: &Fake,
    method: &str,
    path: &str,
    body: &[u8],
    agents: &Value,
    responses: &[String],
) -> Answer {
    let (status, value) = match (method, path) {
        ("GET", "/api/agents") => (200, agents.clone()),
        ("POST", p) if p.starts_with("/api/agents/") && p.ends_with("/stream") => {
            let agent = &p["/api/agents/".len()..p.len() - "/stream".len()];
            return Answer::Sse(turn_stream(agent));
        }
        ("POST", "/api/memory/save-messages") => {
            let req: Value = serde_json::from_slice(body).unwrap();
            (200, json!({"messages": req["messages"]}))
        }
        ("GET", p) if p.starts_with("/api/memory/threads/") && p.ends_with("/messages") => {
            // The thread's newest message is the response of the same id.
            let id = &p["/api/memory/threads/".len()..p.len() - "/messages".len()];
            // A thread a turn made holds that turn's answer.
            let newest = if id.starts_with("mgw_thread_") {
                TURN_MESSAGE
            } else {
                id
            };
            if id.starts_with("mgw_thread_") || responses.iter().any(|r| r == id) {
                let m = json!({"id": newest, "role": "assistant", "createdAt": "2026-01-01T00:00:00.000Z",
                    "threadId": id, "resourceId": id, "content": {"format": 2, "parts": []}});
                (200, json!({"messages": [m], "total": 1, "hasMore": false}))
            } else {
                (404, json!({"error": format!("Thread {id} not found")}))
            }
        }
        ("GET", p) if p.starts_with("/api/v1/responses/") => {
            let id = p.trim_start_matches("/api/v1/responses/");
            if state
                .flaky_gets
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Answer::Json(503, json!({"error": "try again"}));
            }
            if responses.iter().any(|r| r == id) {
                (200, response_body(id, "held"))
            } else {
                (
                    404,
                    json!({"error": format!("Stored response {id} was not found")}),
                )
            }
        }
        ("GET", p) if p.starts_with("/api/v1/conversations/") => {
            // The same ids name conversations (memory threads) here.
            let id = p.trim_start_matches("/api/v1/conversations/");
            if responses.iter().any(|r| r == id) {
                let thread = thread_body(id, agents, json!({}));
                (
                    200,
                    json!({"id": id, "object": "conversation", "thread": thread}),
                )
            } else {
                (
                    404,
                    json!({"error": format!("Conversation {id} was not found")}),
                )
            }
        }
        ("PATCH", p) if p.starts_with("/api/memory/threads/") => {
            let id = p.trim_start_matches("/api/memory/threads/");
            let req: Value = serde_json::from_slice(body).unwrap();
            if responses.iter().any(|r| r == id) {
                (200, thread_body(id, agents, req["metadata"].clone()))
            } else {
                (404, json!({"error": format!("Thread {id} not found")}))
            }
        }
        _ => (404, json!({"error": "not found"})),
    };
    Answer::Json(status, value)
}

/// A memory thread of the fake's first agent (recorded under the gateway's agent key, as the
/// gateway creates them, unless the id starts `native_`), with `metadata` besides.
fn thread_body(id: &str, agents: &Value, mut metadata: Value) -> Value {
    let agent = agents
        .as_object()
        .and_then(|a| a.keys().next())
        .cloned()
        .unwrap_or_default();
    if !id.starts_with("native_") {
        metadata["mastra_gateway.agent"] = json!(agent);
    }
    json!({"id": id, "resourceId": id, "title": "", "metadata": metadata,
        "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"})
}

async fn gateway(toml: &str) -> Gateway {
    let cfg = format!("[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{toml}");
    Gateway::start(from_toml_str(&cfg).expect("valid config"))
        .await
        .expect("gateway starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn create(gw: &Gateway, model: &str) -> (u16, Value) {
    let r = client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .header("authorization", "Bearer client-secret")
        .json(&json!({"model": model, "input": "hi"}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn agents_route_to_their_upstream_and_models_merge() {
    let (a, b) = (
        fake(&["alpha-agent", "shared-agent"], &[]).await,
        fake(&["beta-agent", "shared-agent", "hidden-agent"], &[]).await,
    );
    let gw = gateway(&format!(
        "[[upstreams]]\nname = \"a\"\nurl = \"{}\"\n[[upstreams]]\nname = \"b\"\nurl = \"{}\"\nagents = [\"beta-*\", \"shared-*\"]\n",
        a.url(),
        b.url()
    ))
    .await;
    let models: Value = client()
        .get(format!("http://{}/v1/models", gw.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["alpha-agent", "beta-agent", "shared-agent"],
        "hidden-agent is not served by b's patterns"
    );

    let (status, body) = create(&gw, "beta-agent").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"][0]["content"][0]["text"], "from beta-agent");
    assert_eq!(b.seen("POST", "/api/agents/").len(), 1);
    assert_eq!(a.seen("POST", "/api/agents/").len(), 0);

    // An agent both serve goes to the first upstream in config order.
    let (status, _) = create(&gw, "shared-agent").await;
    assert_eq!(status, 200);
    assert_eq!(a.seen("POST", "/api/agents/").len(), 1);

    let (status, body) = create(&gw, "hidden-agent").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn stored_response_is_found_on_its_upstream_once() {
    let (a, b) = (
        fake(&["alpha-agent"], &[]).await,
        fake(&["beta-agent"], &["msg_held"]).await,
    );
    let gw = gateway(&format!(
        "[[upstreams]]\nname = \"a\"\nurl = \"{}\"\n[[upstreams]]\nname = \"b\"\nurl = \"{}\"\n",
        a.url(),
        b.url()
    ))
    .await;
    for read in 1..=3 {
        let r = client()
            .get(format!("http://{}/v1/responses/resp_held", gw.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], "resp_held");
        // a was asked once (while locating); b's answer to that probe served the first read,
        // and every later read went straight to b: one GET of the response per read.
        assert_eq!(a.seen("GET", "/api/v1/responses/").len(), 1, "read {read}");
        assert_eq!(
            b.seen("GET", "/api/v1/responses/").len(),
            read,
            "read {read}"
        );
    }

    let r = client()
        .get(format!("http://{}/v1/responses/resp_nowhere", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["message"],
        "Response with id 'resp_nowhere' not found."
    );
}

#[tokio::test]
async fn conversation_is_found_on_its_upstream_with_one_get() {
    let (a, b) = (
        fake(&["alpha-agent"], &[]).await,
        fake(&["beta-agent"], &["conv_held"]).await,
    );
    let gw = gateway(&format!(
        "[[upstreams]]\nname = \"a\"\nurl = \"{}\"\n[[upstreams]]\nname = \"b\"\nurl = \"{}\"\n",
        a.url(),
        b.url()
    ))
    .await;
    let r = client()
        .get(format!("http://{}/v1/conversations/conv_held", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], "conv_held", "{v}");
    // One probe each; the owner's answer to it was the lookup itself.
    assert_eq!(a.seen("GET", "/api/v1/conversations/").len(), 1);
    assert_eq!(b.seen("GET", "/api/v1/conversations/").len(), 1);

    // Read again: the conversation cache answers, nobody is asked.
    let r = client()
        .get(format!("http://{}/v1/conversations/conv_held", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(a.seen("GET", "/api/v1/conversations/").len(), 1);
    assert_eq!(b.seen("GET", "/api/v1/conversations/").len(), 1);

    // An update reads fresh: one GET on the remembered owner, none elsewhere.
    let (status, v) = update_metadata(&gw, "conv_held").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["metadata"]["topic"], "probe", "{v}");
    assert_eq!(a.seen("GET", "/api/v1/conversations/").len(), 1);
    assert_eq!(b.seen("GET", "/api/v1/conversations/").len(), 2);
    assert_eq!(b.seen("PATCH", "/api/memory/threads/conv_held").len(), 1);
    assert_eq!(a.seen("PATCH", "/api/memory/").len(), 0);
}

#[tokio::test]
async fn conversation_update_as_first_lookup_gets_it_once() {
    let (a, b) = (
        fake(&["alpha-agent"], &[]).await,
        fake(&["beta-agent"], &["conv_held"]).await,
    );
    let gw = gateway(&format!(
        "[[upstreams]]\nname = \"a\"\nurl = \"{}\"\n[[upstreams]]\nname = \"b\"\nurl = \"{}\"\n",
        a.url(),
        b.url()
    ))
    .await;
    let (status, v) = update_metadata(&gw, "conv_held").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["metadata"]["topic"], "probe", "{v}");
    // The owner's answer to the probe was the fresh read the update needs.
    assert_eq!(a.seen("GET", "/api/v1/conversations/").len(), 1);
    assert_eq!(b.seen("GET", "/api/v1/conversations/").len(), 1);
    assert_eq!(b.seen("PATCH", "/api/memory/threads/conv_held").len(), 1);
    assert_eq!(a.seen("PATCH", "/api/memory/").len(), 0);
}

/// A thread made natively in Mastra (no agent recorded) on the second upstream, while the
/// default agent lives on the first: every conversation call goes to the thread's upstream,
/// with one of its agents.
#[tokio::test]
async fn native_conversation_on_second_upstream_is_served_there() {
    let (a, b) = (
        fake(&["alpha-agent"], &[]).await,
        fake(&["beta-agent"], &["native_conv"]).await,
    );
    let gw = gateway(&format!(
        "[models]\ndefault = \"alpha-agent\"\n[[upstreams]]\nname = \"a\"\nurl = \"{}\"\n[[upstreams]]\nname = \"b\"\nurl = \"{}\"\n",
        a.url(),
        b.url()
    ))
    .await;
    let (status, v) = update_metadata(&gw, "native_conv").await;
    assert_eq!(status, 200, "{v}");
    let patches = b.seen("PATCH", "/api/memory/threads/native_conv");
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].query, "agentId=beta-agent");

    let r = client()
        .get(format!(
            "http://{}/v1/conversations/native_conv/items",
            gw.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let lists = b.seen("GET", "/api/memory/threads/native_conv/messages");
    assert!(!lists.is_empty());
    assert!(lists.iter().all(|s| s.query.contains("agentId=beta-agent")));

    // A turn without `model` (the default agent is on a): an agent of the thread's upstream
    // answers.
    let r = client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .json(&json!({"input": "hi", "conversation": "native_conv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["model"], "beta-agent", "{v}");
    assert_eq!(v["conversation"]["id"], "native_conv", "{v}");

    // A `model` whose upstream cannot see the thread: a clear 400, nothing sent.
    let r = client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .json(&json!({"model": "alpha-agent", "input": "hi", "conversation": "native_conv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    assert_eq!(v["error"]["param"], "model", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("held by upstream 'b'"),
        "{v}"
    );
    assert_eq!(b.seen("POST", "/api/agents/").len(), 1);
    assert!(a.seen("POST", "/api/agents/").is_empty());
    assert!(a.seen("PATCH", "/api/memory/").is_empty());
    assert!(a.seen("GET", "/api/memory/").is_empty());
}

/// A previous response held by the second upstream while the default agent lives on the
/// first: a turn without `model` is served by an agent of the second, a `model` of the first
/// is a clear 400 (`resp_prev` is Mastra's `msg_prev`). A response created through the gateway is remembered where it was made, so
/// continuing it asks no upstream where it is.
#[tokio::test]
async fn previous_response_on_second_upstream_is_continued_there() {
    let (a, b) = (
        fake(&["alpha-agent"], &[]).await,
        fake(&["beta-agent"], &["msg_prev", "msg_new"]).await,
    );
    let gw = gateway(&format!(
        "[models]\ndefault = \"alpha-agent\"\n[[upstreams]]\nname = \"a\"\nurl = \"{}\"\n[[upstreams]]\nname = \"b\"\nurl = \"{}\"\n",
        a.url(),
        b.url()
    ))
    .await;
    let create = |body: Value| {
        let url = format!("http://{}/v1/responses", gw.addr);
        async move {
            let r = client().post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = create(json!({"input": "more", "previous_response_id": "resp_prev"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "beta-agent", "{v}");
    assert_eq!(b.seen("POST", "/api/agents/").len(), 1);
    assert!(a.seen("POST", "/api/agents/").is_empty());

    let (status, v) = create(
        json!({"model": "alpha-agent", "input": "more", "previous_response_id": "resp_prev"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "model", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Previous response 'resp_prev' is held by upstream 'b'"),
        "{v}"
    );
    // Located once (a probe on each upstream), then remembered.
    assert_eq!(a.seen("GET", "/api/v1/responses/msg_prev").len(), 1);
    assert_eq!(b.seen("GET", "/api/v1/responses/msg_prev").len(), 1);

    let (status, v) =
        create(json!({"input": "unknown", "previous_response_id": "resp_nowhere"})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "previous_response_not_found", "{v}");

    // Made through the gateway on b: continuing it asks nobody where it is.
    let (status, made) = create(json!({"model": "beta-agent", "input": "new"})).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["id"], TURN_RESPONSE);
    let (status, v) = create(json!({"input": "next", "previous_response_id": made["id"]})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "beta-agent", "{v}");
    assert!(a
        .seen("GET", "/api/v1/responses/")
        .iter()
        .all(|s| !s.path.contains(TURN_MESSAGE)));
    assert!(b
        .seen("GET", "/api/v1/responses/")
        .iter()
        .all(|s| !s.path.contains(TURN_MESSAGE)));
    assert!(a.seen("POST", "/api/agents/").is_empty());
}

async fn update_metadata(gw: &Gateway, id: &str) -> (u16, Value) {
    let r = client()
        .post(format!("http://{}/v1/conversations/{id}", gw.addr))
        .json(&json!({"metadata": {"topic": "probe"}}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn idempotent_gets_are_retried_posts_are_not() {
    let a = fake(&["alpha-agent"], &["msg_x"]).await;
    let gw = gateway(&format!(
        "[upstream]\nurl = \"{}\"\nretry_backoff = \"5ms\"\n",
        a.url()
    ))
    .await;
    a.flaky_gets.store(2, Ordering::SeqCst);
    let r = client()
        .get(format!("http://{}/v1/responses/resp_x", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "two 503s then a 200: the GET was retried");
    assert_eq!(a.seen("GET", "/api/v1/responses/").len(), 3);

    a.flaky_gets.store(5, Ordering::SeqCst);
    let r = client()
        .get(format!("http://{}/v1/responses/resp_x", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        503,
        "retries are bounded (1 + get_retries attempts)"
    );
    assert_eq!(a.seen("GET", "/api/v1/responses/").len(), 6);

    a.broken.store(true, Ordering::SeqCst);
    let before = a.seen("POST", "/api/agents/").len();
    let (status, _) = create(&gw, "alpha-agent").await;
    assert_eq!(status, 502);
    assert_eq!(
        a.seen("POST", "/api/agents/").len(),
        before + 1,
        "a failed POST is not retried"
    );
}

#[tokio::test]
async fn failing_upstream_is_marked_down_then_comes_back() {
    let a = fake(&["alpha-agent"], &["msg_x"]).await;
    let gw = gateway(&format!(
        "[upstream]\nurl = \"{}\"\nfailure_threshold = 2\nhealth_interval = \"100ms\"\nget_retries = 0\n",
        a.url()
    ))
    .await;
    let admin = format!("http://{}/readyz", gw.admin_addr);
    assert_eq!(client().get(&admin).send().await.unwrap().status(), 200);
    a.broken.store(true, Ordering::SeqCst);
    let get = || async {
        let r = client()
            .get(format!("http://{}/v1/responses/resp_x", gw.addr))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    assert_eq!(get().await.0, 502);
    assert_eq!(get().await.0, 502);
    let calls = a.seen("GET", "/api/v1/responses/").len();
    let started = Instant::now();
    let (status, body) = get().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "upstream_down");
    assert!(started.elapsed() < Duration::from_millis(50), "fails fast");
    assert_eq!(
        a.seen("GET", "/api/v1/responses/").len(),
        calls,
        "no upstream call while down"
    );
    let ready = client().get(&admin).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    a.broken.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if get().await.0 == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the health probe never brought the upstream back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client().get(&admin).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn upstream_credentials_and_client_authorization() {
    std::env::set_var("MG_UPSTREAMS_TEST_TOKEN", "mastra-token");
    let a = fake(&["alpha-agent"], &[]).await;
    let gw = gateway(&format!(
        "[upstream]\nurl = \"{}\"\nheaders = {{ authorization = \"Bearer ${{MG_UPSTREAMS_TEST_TOKEN}}\", \"x-tenant\" = \"t1\" }}\n",
        a.url()
    ))
    .await;
    assert_eq!(create(&gw, "alpha-agent").await.0, 200);
    let post = &a.seen("POST", "/api/agents/")[0];
    assert_eq!(post.headers["authorization"], "Bearer mastra-token");
    assert_eq!(post.headers["x-tenant"], "t1");
    assert!(post.headers.contains_key("x-request-id"));

    // Without configured credentials the client's own key never leaves the gateway...
    let b = fake(&["alpha-agent"], &[]).await;
    let gw = gateway(&format!("[upstream]\nurl = \"{}\"\n", b.url())).await;
    assert_eq!(create(&gw, "alpha-agent").await.0, 200);
    assert!(!b.seen("POST", "/api/agents/")[0]
        .headers
        .contains_key("authorization"));

    // ...unless forwarding is configured.
    let c = fake(&["alpha-agent"], &[]).await;
    let gw = gateway(&format!(
        "[upstream]\nurl = \"{}\"\nforward_authorization = true\n",
        c.url()
    ))
    .await;
    assert_eq!(create(&gw, "alpha-agent").await.0, 200);
    assert_eq!(
        c.seen("POST", "/api/agents/")[0].headers["authorization"],
        "Bearer client-secret"
    );
}
