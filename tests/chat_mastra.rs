//! `POST /v1/chat/completions` against the REAL Mastra fixture (`MASTRA_URL`), for what the
//! SDK suites cannot see: the same keys, agent scopes, tenants, rate limits, request ids and
//! metrics as `/v1/responses`.
//!
//! Without `MASTRA_URL` every test prints that it was skipped and passes.

mod fixture_support;

use serde_json::{json, Value};

use fixture_support::{env_with, mastra_url};
use mastra_gateway::plan::auth::hash_key;

struct Keys {
    a: String,
    b: String,
}

fn keys_config() -> (Keys, String) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let keys = Keys {
        a: format!("sk-a-{run}"),
        b: format!("sk-b-{run}"),
    };
    let toml = format!(
        r#"
[limits]
per_agent = {{ per_second = 1, burst = 3 }}

[[auth.keys]]
name = "tenant-a"
sha256 = "{}"
resource_id = "chat-a-{run}"

[[auth.keys]]
name = "tenant-b"
sha256 = "{}"
resource_id = "chat-b-{run}"
agents = ["support-agent"]
"#,
        hash_key(&keys.a),
        hash_key(&keys.b),
    );
    (keys, toml)
}

async fn chat(
    env: &fixture_support::Env,
    key: Option<&str>,
    body: Value,
    thread: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = env.http.post(env.api("/v1/chat/completions")).json(&body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(t) = thread {
        req = req.header("x-mastra-thread-id", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn keys_scopes_tenants_limits_and_metrics_as_on_responses() {
    if mastra_url().is_none() {
        return;
    }
    let (keys, toml) = keys_config();
    let Some(env) = env_with(&toml).await else {
        return;
    };
    let msg =
        |t: &str| json!({"model": "support-agent", "messages": [{"role": "user", "content": t}]});

    // No key, a bad key: 401 invalid_api_key, with a request id.
    let (status, headers, body) = chat(&env, None, msg("hi"), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(headers.contains_key("x-request-id"));
    let (status, _, _) = chat(&env, Some("sk-wrong"), msg("hi"), None).await;
    assert_eq!(status, 401);

    // A key scoped to other agents: the agent is not found for it.
    let echo = json!({"model": "echo-agent", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, body) = chat(&env, Some(&keys.b), echo, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");

    // A thread of tenant A is not tenant B's: the header names no thread B may use.
    let conv: Value = env
        .http
        .post(env.api("/v1/conversations"))
        .bearer_auth(&keys.a)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conv_id = conv["id"].as_str().unwrap();
    let (status, _, body) = chat(&env, Some(&keys.a), msg("mine"), Some(conv_id)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = chat(&env, Some(&keys.b), msg("yours?"), Some(conv_id)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not found"));
    // A hostile id is one path segment (not found), an impossible one a 400 naming the header.
    let (status, _, body) = chat(&env, Some(&keys.a), msg("x"), Some("../../x")).await;
    assert_eq!(status, 404, "{body}");
    let long = "t".repeat(300);
    let (status, _, body) = chat(&env, Some(&keys.a), msg("x"), Some(&long)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "x-mastra-thread-id");

    // The agent's rate limit counts chat turns as responses turns: burst 3 is spent above
    // (plus this), then 429 with OpenAI's headers.
    let mut refused = None;
    for _ in 0..4 {
        let (status, headers, body) = chat(&env, Some(&keys.a), msg("again"), None).await;
        if status == 429 {
            refused = Some((headers, body));
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    let (headers, body) = refused.expect("the agent's limit refuses a chat turn");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(headers.contains_key("retry-after-ms"));
    assert!(headers.contains_key("x-ratelimit-limit-requests"));

    // Metrics: the route label is chat.completions.
    let metrics = env
        .http
        .get(format!("http://{}/metrics", env.gw.admin_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("route=\"chat.completions\""),
        "chat.completions in the metrics"
    );
}
