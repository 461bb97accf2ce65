//! API keys and tenant isolation end to end: the gateway in-process, configured with two keys
//! (two tenants), against the REAL Mastra fixture (`node tests/fixtures/mastra/server.mjs`),
//! whose URL is in `MASTRA_URL`.
//!
//! Tenant A may use every agent; tenant B only `echo-*`. What one tenant creates (a
//! conversation, a stored response in a conversation or standalone) is answered to the other,
//! on every route, exactly as an unknown id is (same status, same body but for the id), and
//! nothing the other tenant tries changes it. Ownership is checked from Mastra's side too: the
//! threads carry the tenant's `resourceId`.
//!
//! Without `MASTRA_URL` every test prints that it was skipped and passes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;
use mastra_gateway::plan::auth::hash_key;

fn mastra_url() -> Option<String> {
    match std::env::var("MASTRA_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().trim_end_matches('/').to_string()),
        _ => {
            eprintln!("skipped: MASTRA_URL not set (tests/run-all.sh sets it)");
            None
        }
    }
}

struct Tenant {
    key: String,
    resource: String,
}

struct Env {
    gw: Gateway,
    mastra: String,
    http: reqwest::Client,
    a: Tenant,
    b: Tenant,
}

struct Reply {
    status: u16,
    body: Value,
    text: String,
}

/// The gateway with two keys; fresh resource ids per test so that runs against a long-lived
/// fixture never see each other's threads.
async fn env() -> Option<Env> {
    let mastra = mastra_url()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let a = Tenant {
        key: format!("sk-a-{run}"),
        resource: format!("tenant-a-{run}"),
    };
    let b = Tenant {
        key: format!("sk-b-{run}"),
        resource: format!("tenant-b-{run}"),
    };
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"

[upstream]
url = "{mastra}"
response_timeout = "30s"

[models]
# B may not use it: B's conversations get the first agent B may use.
default = "support-agent"

[logging]
level = "warn"

[[auth.keys]]
name = "tenant-a"
sha256 = "{}"
resource_id = "{}"

[[auth.keys]]
name = "tenant-b"
sha256 = "{}"
resource_id = "{}"
agents = ["echo-*"]
"#,
        hash_key(&a.key),
        a.resource,
        hash_key(&b.key),
        b.resource
    );
    let gw = Gateway::start(from_toml_str(&toml).expect("valid test config"))
        .await
        .expect("gateway starts");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    Some(Env {
        gw,
        mastra,
        http,
        a,
        b,
    })
}

impl Env {
    async fn send(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("http://{}{path}", self.gw.addr));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("gateway answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    async fn as_a(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(Some(&self.a.key), method, path, body).await
    }

    async fn as_b(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(Some(&self.b.key), method, path, body).await
    }

    async fn ok_a(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let r = self.as_a(method.clone(), path, body).await;
        assert_eq!(r.status, 200, "A {method} {path}: {}", r.text);
        r.body
    }

    async fn mastra_get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.mastra))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn mastra_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.mastra))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// The Mastra thread behind a conversation or response thread id.
    async fn thread(&self, id: &str) -> Value {
        let (status, body) = self
            .mastra_get(&format!("/api/v1/conversations/{id}"))
            .await;
        assert_eq!(status, 200, "Mastra thread {id}: {body}");
        body["thread"].clone()
    }

    /// How many threads Mastra holds for a resource.
    async fn thread_count(&self, resource: &str) -> u64 {
        let path =
            format!("/api/memory/threads?resourceId={resource}&agentId=support-agent&perPage=1");
        let (status, body) = self.mastra_get(&path).await;
        assert_eq!(status, 200, "{body}");
        body["total"].as_u64().unwrap()
    }

    /// Mastra's stored response (by the gateway's `resp_…` id).
    async fn mastra_response(&self, id: &str) -> Value {
        let mid = mastra_gateway::translate::ids::response_id_to_mastra(id).into_owned();
        let (status, body) = self.mastra_get(&format!("/api/v1/responses/{mid}")).await;
        assert_eq!(status, 200, "Mastra response {mid}: {body}");
        body
    }

    /// B's request on `real` ids answers exactly like a request on ids that never existed:
    /// same status, same body once the unknown ids are replaced by the real ones.
    async fn b_sees_unknown(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        ids: &[(&str, &str)],
    ) {
        let real = self.as_b(method.clone(), path, body.clone()).await;
        let mut fake_path = path.to_string();
        let mut fake_body = body.as_ref().map(Value::to_string);
        for (real_id, fake_id) in ids {
            fake_path = fake_path.replace(real_id, fake_id);
            fake_body = fake_body.map(|b| b.replace(real_id, fake_id));
        }
        let fake_body = fake_body.map(|b| serde_json::from_str(&b).unwrap());
        let fake = self.as_b(method.clone(), &fake_path, fake_body).await;
        let mut expected = fake.text.clone();
        for (real_id, fake_id) in ids {
            expected = expected.replace(fake_id, real_id);
        }
        assert!(
            fake.status == 404 || fake.status == 400,
            "B {method} {fake_path}: unknown ids gave {}: {}",
            fake.status,
            fake.text
        );
        assert_eq!(
            (real.status, real.text.as_str()),
            (fake.status, expected.as_str()),
            "B {method} {path} must look unknown"
        );
    }
}

const UNKNOWN_CONV: &str = "conv_00000000000000000000000000000000";
const UNKNOWN_RESP: &str = "resp_00000000-0000-4000-8000-000000000000";

fn user_items(texts: &[&str]) -> Value {
    Value::Array(
        texts
            .iter()
            .map(|t| json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]}))
            .collect(),
    )
}

/// The `data:` payloads of an SSE body.
fn sse_events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

fn completed(events: &[Value]) -> Value {
    events
        .iter()
        .find(|e| e["type"] == "response.completed")
        .unwrap_or_else(|| panic!("no response.completed in {events:?}"))["response"]
        .clone()
}

#[tokio::test]
async fn keys_are_required_and_agents_are_per_key() {
    let Some(env) = env().await else { return };
    // No key, a wrong key: OpenAI's 401.
    let r = env.send(None, Method::GET, "/v1/models", None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
    assert_eq!(r.body["error"]["code"], "invalid_api_key");
    assert_eq!(r.body["error"]["param"], Value::Null);
    let r = env
        .send(
            Some("sk-not-a-key"),
            Method::POST,
            "/v1/responses",
            Some(json!({"model": "echo-agent", "input": "hi"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["error"]["message"], "Incorrect API key provided.");
    assert!(!r.text.contains("sk-not-a-key"));
    for path in [
        "/v1/conversations/x",
        "/v1/responses/resp_x",
        "/v1/nothing-here",
    ] {
        let r = env.send(None, Method::GET, path, None).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
    }
    // Azure's `api-key` header works too.
    let r = env
        .http
        .get(format!("http://{}/v1/models", env.gw.addr))
        .header("api-key", &env.a.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A sees every agent; B only echo-*.
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let a = env.ok_a(Method::GET, "/v1/models", None).await;
    assert!(ids(&a).contains(&"support-agent".to_string()), "{a}");
    assert!(ids(&a).contains(&"echo-agent".to_string()), "{a}");
    let b = env.as_b(Method::GET, "/v1/models", None).await;
    assert_eq!(b.status, 200);
    assert_eq!(ids(&b.body), vec!["echo-agent"]);
    env.ok_a(Method::GET, "/v1/models/support-agent", None)
        .await;

    // A model B may not use is exactly an unknown model.
    env.b_sees_unknown(
        Method::GET,
        "/v1/models/support-agent",
        None,
        &[("support-agent", "no-such-agent")],
    )
    .await;
    env.b_sees_unknown(
        Method::POST,
        "/v1/responses",
        Some(json!({"model": "support-agent", "input": "hi", "stream": true})),
        &[("support-agent", "no-such-agent")],
    )
    .await;
    let r = env
        .as_b(
            Method::POST,
            "/v1/responses",
            Some(json!({"model": "echo-agent", "input": "hi", "store": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn conversations_are_isolated_on_every_route() {
    let Some(env) = env().await else { return };
    let conv = env
        .ok_a(
            Method::POST,
            "/v1/conversations",
            Some(json!({"items": user_items(&["hello from A"]), "metadata": {"owner": "a"}})),
        )
        .await;
    let id = conv["id"].as_str().unwrap().to_string();
    // Mastra's side: the thread is tenant A's.
    let thread = env.thread(&id).await;
    assert_eq!(thread["resourceId"], env.a.resource.as_str(), "{thread}");
    assert_eq!(thread["metadata"]["mastra_gateway.agent"], "support-agent");
    let turn = env
        .ok_a(
            Method::POST,
            "/v1/responses",
            Some(json!({"input": "and a turn", "conversation": id})),
        )
        .await;
    assert_eq!(turn["conversation"]["id"], id.as_str());
    let items = env
        .ok_a(
            Method::GET,
            &format!("/v1/conversations/{id}/items?order=asc"),
            None,
        )
        .await;
    let items = items["data"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3, "{items:?}");
    let item = items[0]["id"].as_str().unwrap().to_string();

    // B, on every conversation route: exactly an unknown conversation.
    let both = [(id.as_str(), UNKNOWN_CONV)];
    let p = |s: &str| s.replace("{id}", &id).replace("{item}", &item);
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, p("/v1/conversations/{id}"), None),
        (
            Method::POST,
            p("/v1/conversations/{id}"),
            Some(json!({"metadata": {"owner": "b"}})),
        ),
        (Method::GET, p("/v1/conversations/{id}/items"), None),
        (
            Method::GET,
            p("/v1/conversations/{id}/items?order=asc&limit=1"),
            None,
        ),
        (
            Method::POST,
            p("/v1/conversations/{id}/items"),
            Some(json!({"items": user_items(&["from B"])})),
        ),
        (Method::GET, p("/v1/conversations/{id}/items/{item}"), None),
        (
            Method::DELETE,
            p("/v1/conversations/{id}/items/{item}"),
            None,
        ),
        (Method::DELETE, p("/v1/conversations/{id}"), None),
        (
            Method::POST,
            "/v1/responses".into(),
            Some(json!({"model": "echo-agent", "input": "hi", "conversation": id})),
        ),
        (
            Method::POST,
            "/v1/responses".into(),
            Some(
                json!({"model": "echo-agent", "input": "hi", "conversation": {"id": id}, "stream": true}),
            ),
        ),
        (
            Method::POST,
            "/v1/responses".into(),
            Some(json!({"input": "no model", "conversation": id})),
        ),
    ];
    for (method, path, body) in cases {
        env.b_sees_unknown(method, &path, body, &both).await;
    }

    // Nothing B tried changed A's conversation.
    let after = env
        .ok_a(Method::GET, &format!("/v1/conversations/{id}"), None)
        .await;
    assert_eq!(after["metadata"], json!({"owner": "a"}));
    let items_after = env
        .ok_a(
            Method::GET,
            &format!("/v1/conversations/{id}/items?order=asc"),
            None,
        )
        .await;
    assert_eq!(items_after["data"].as_array().unwrap(), &items);
    env.ok_a(
        Method::GET,
        &format!("/v1/conversations/{id}/items/{item}"),
        None,
    )
    .await;

    // B's own conversation: B's resource, an agent B may use; A cannot see it.
    let b_conv = env
        .as_b(Method::POST, "/v1/conversations", Some(json!({})))
        .await;
    assert_eq!(b_conv.status, 200, "{}", b_conv.text);
    let b_id = b_conv.body["id"].as_str().unwrap().to_string();
    let b_thread = env.thread(&b_id).await;
    assert_eq!(b_thread["resourceId"], env.b.resource.as_str());
    assert_eq!(b_thread["metadata"]["mastra_gateway.agent"], "echo-agent");
    let r = env
        .as_b(
            Method::POST,
            "/v1/responses",
            Some(json!({"input": "mine", "conversation": b_id})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["model"], "echo-agent");
    let r = env
        .as_a(Method::GET, &format!("/v1/conversations/{b_id}"), None)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // A's own item delete and conversation delete still work, and then it is gone for A too.
    env.ok_a(
        Method::DELETE,
        &format!("/v1/conversations/{id}/items/{item}"),
        None,
    )
    .await;
    let d = env
        .ok_a(Method::DELETE, &format!("/v1/conversations/{id}"), None)
        .await;
    assert_eq!(d["deleted"], true);
    let r = env
        .as_a(Method::GET, &format!("/v1/conversations/{id}"), None)
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn stored_responses_are_isolated_on_every_route() {
    let Some(env) = env().await else { return };
    // A standalone stored response: the client sees no conversation, Mastra keeps it in a
    // thread of A's, one of the gateway's own (never shown as a conversation).
    let resp = env
        .ok_a(
            Method::POST,
            "/v1/responses",
            Some(json!({"model": "support-agent", "input": "remember me"})),
        )
        .await;
    let id = resp["id"].as_str().unwrap().to_string();
    assert_eq!(resp["conversation"], Value::Null, "{resp}");
    assert_eq!(resp["store"], true);
    let stored = env.mastra_response(&id).await;
    let thread_id = stored["conversation_id"].as_str().unwrap().to_string();
    let thread = env.thread(&thread_id).await;
    assert_eq!(thread["resourceId"], env.a.resource.as_str(), "{thread}");
    assert!(thread_id.starts_with("mgw_thread_"), "{thread_id}");
    assert_eq!(
        stored["model"], "support-agent",
        "the record names the agent"
    );

    let got = env
        .ok_a(Method::GET, &format!("/v1/responses/{id}"), None)
        .await;
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["conversation"], Value::Null, "{got}");
    let input = env
        .ok_a(
            Method::GET,
            &format!("/v1/responses/{id}/input_items"),
            None,
        )
        .await;
    assert_eq!(input["data"].as_array().unwrap().len(), 1, "{input}");

    // A streamed stored response, and one in A's conversation.
    let streamed = env
        .as_a(
            Method::POST,
            "/v1/responses",
            Some(json!({"model": "echo-agent", "input": "streamed", "stream": true})),
        )
        .await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    let done = completed(&sse_events(&streamed.text));
    assert_eq!(done["conversation"], Value::Null, "{done}");
    let stream_id = done["id"].as_str().unwrap().to_string();
    let conv = env
        .ok_a(Method::POST, "/v1/conversations", Some(json!({})))
        .await;
    let conv_id = conv["id"].as_str().unwrap().to_string();
    let in_conv = env
        .ok_a(
            Method::POST,
            "/v1/responses",
            Some(json!({"input": "in a conversation", "conversation": conv_id})),
        )
        .await;
    let conv_resp_id = in_conv["id"].as_str().unwrap().to_string();
    let got = env
        .ok_a(Method::GET, &format!("/v1/responses/{stream_id}"), None)
        .await;
    assert_eq!(got["conversation"], Value::Null);
    let got = env
        .ok_a(Method::GET, &format!("/v1/responses/{conv_resp_id}"), None)
        .await;
    assert_eq!(got["conversation"]["id"], conv_id.as_str());

    // B, on every response route, for each of them: exactly an unknown response.
    for rid in [&id, &stream_id, &conv_resp_id] {
        let ids = [(rid.as_str(), UNKNOWN_RESP)];
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/v1/responses/{rid}"), None),
            (
                Method::GET,
                format!("/v1/responses/{rid}/input_items"),
                None,
            ),
            (
                Method::GET,
                format!("/v1/responses/{rid}/input_items?order=asc&limit=1"),
                None,
            ),
            (
                Method::POST,
                "/v1/responses".into(),
                Some(json!({"model": "echo-agent", "input": "hi", "previous_response_id": rid})),
            ),
            (
                Method::POST,
                "/v1/responses".into(),
                Some(
                    json!({"model": "echo-agent", "input": "hi", "previous_response_id": rid, "stream": true}),
                ),
            ),
            (Method::DELETE, format!("/v1/responses/{rid}"), None),
        ];
        for (method, path, body) in cases {
            env.b_sees_unknown(method, &path, body, &ids).await;
        }
        // Still there for A.
        env.ok_a(Method::GET, &format!("/v1/responses/{rid}"), None)
            .await;
    }

    // A chains on its standalone response: same thread, still no conversation shown.
    let next = env
        .ok_a(
            Method::POST,
            "/v1/responses",
            Some(json!({"model": "support-agent", "input": "again", "previous_response_id": id})),
        )
        .await;
    assert_eq!(next["conversation"], Value::Null);
    assert_eq!(next["previous_response_id"], id.as_str());
    let next_id = next["id"].as_str().unwrap();
    assert_eq!(
        env.mastra_response(next_id).await["conversation_id"],
        thread_id.as_str()
    );
    let r = env
        .as_b(Method::GET, &format!("/v1/responses/{next_id}"), None)
        .await;
    assert_eq!(r.status, 404);

    // Not stored: no thread is made for it.
    let transient = env
        .ok_a(
            Method::POST,
            "/v1/responses",
            Some(json!({"model": "echo-agent", "input": "forget me", "store": false})),
        )
        .await;
    let r = env
        .as_a(
            Method::GET,
            &format!("/v1/responses/{}", transient["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // A refused request makes no thread: the request is checked before the thread is made.
    let before = env.thread_count(&env.a.resource).await;
    assert!(before >= 3, "A's threads: {before}");
    let r = env
        .as_a(
            Method::POST,
            "/v1/responses",
            Some(json!({"model": "support-agent"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(env.thread_count(&env.a.resource).await, before);

    // A deletes its own; then it is gone for A too.
    let d = env
        .ok_a(Method::DELETE, &format!("/v1/responses/{id}"), None)
        .await;
    assert_eq!(d["deleted"], true);
    let r = env
        .as_a(Method::GET, &format!("/v1/responses/{id}"), None)
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn native_threads_belong_to_their_resource() {
    let Some(env) = env().await else { return };
    // Made in Mastra directly for A's resource: a conversation of A's at the gateway.
    let id = format!("native-{}", uuid::Uuid::new_v4().simple());
    env.mastra_post(
        "/api/v1/conversations",
        json!({"agent_id": "support-agent", "conversation_id": id, "resource_id": env.a.resource}),
    )
    .await;
    env.ok_a(Method::GET, &format!("/v1/conversations/{id}"), None)
        .await;
    let r = env
        .as_b(Method::GET, &format!("/v1/conversations/{id}"), None)
        .await;
    assert_eq!(r.status, 404);
    // Made natively with no resource (its own id): nobody's, when keys are configured.
    let orphan = format!("native-{}", uuid::Uuid::new_v4().simple());
    env.mastra_post(
        "/api/v1/conversations",
        json!({"agent_id": "support-agent", "conversation_id": orphan}),
    )
    .await;
    for key in [&env.a.key, &env.b.key] {
        let r = env
            .send(
                Some(key),
                Method::GET,
                &format!("/v1/conversations/{orphan}"),
                None,
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
        let r = env
            .send(
                Some(key),
                Method::POST,
                "/v1/responses",
                Some(json!({"model": "echo-agent", "input": "x", "conversation": orphan})),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
    // A response stored by Mastra itself (no gateway, no tenant): nobody's either.
    let native = env
        .mastra_post(
            "/api/v1/responses",
            json!({"agent_id": "echo-agent", "input": "native", "store": true}),
        )
        .await;
    let rid = native["id"].as_str().unwrap().replacen("msg_", "resp_", 1);
    let r = env
        .as_a(Method::GET, &format!("/v1/responses/{rid}"), None)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}
