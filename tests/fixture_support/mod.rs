//! Shared by the tests against the REAL Mastra fixture (`node tests/fixtures/mastra/server.mjs`,
//! URL in `MASTRA_URL`): the gateway in-process, a client, and helpers to read its answers.
//! Without `MASTRA_URL` `env()` prints that the test was skipped and returns None.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{json, Value};

use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;

pub fn mastra_url() -> Option<String> {
    match std::env::var("MASTRA_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().trim_end_matches('/').to_string()),
        _ => {
            eprintln!("skipped: MASTRA_URL not set (tests/run-all.sh sets it)");
            None
        }
    }
}

/// The gateway and the Mastra it talks to.
pub struct Env {
    pub gw: Gateway,
    pub mastra: String,
    pub http: reqwest::Client,
}

pub async fn env() -> Option<Env> {
    env_with("").await
}

/// The gateway with `extra` TOML appended to the test configuration.
pub async fn env_with(extra: &str) -> Option<Env> {
    let mastra = mastra_url()?;
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"

[upstream]
url = "{mastra}"
connect_timeout = "2s"
response_timeout = "20s"
stream_idle_timeout = "20s"

[models.aliases]
"gpt-4o" = "support-agent"

[logging]
level = "warn"

{extra}
"#
    );
    let gw = Gateway::start(from_toml_str(&toml).expect("valid test config"))
        .await
        .expect("gateway starts");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    Some(Env { gw, mastra, http })
}

impl Env {
    pub fn api(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.addr)
    }

    pub async fn create_raw(&self, body: Value) -> reqwest::Response {
        self.http
            .post(self.api("/v1/responses"))
            .json(&body)
            .send()
            .await
            .expect("gateway answers")
    }

    /// A create that must succeed; returns the Response object.
    pub async fn create(&self, body: Value) -> Value {
        let resp = self.create_raw(body).await;
        let status = resp.status().as_u16();
        assert!(resp.headers().contains_key("x-request-id"));
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.api(path)).send().await.unwrap()
    }

    /// Calls Mastra directly (`path` under `/api`).
    pub async fn mastra(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/api{path}", self.mastra));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("mastra answers");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "mastra {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn new_conversation(&self) -> String {
        let c = self
            .mastra(
                reqwest::Method::POST,
                "/v1/conversations",
                Some(json!({"agent_id":"support-agent"})),
            )
            .await;
        c["id"].as_str().expect("conversation id").to_string()
    }
}

/// Checks the status and the exact envelope key set; returns the inner `error` object.
pub async fn error_of(resp: reqwest::Response, status: u16) -> Value {
    assert!(resp.headers().contains_key("x-request-id"));
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let inner = v["error"].as_object().expect("error envelope");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    let mut keys: Vec<&str> = inner.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "message", "param", "type"], "{v}");
    v["error"].clone()
}

/// The concatenated `output_text` of every message item (what the SDKs' `output_text` gives).
pub fn output_text(r: &Value) -> String {
    r["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter(|c| c["type"] == "output_text")
        .map(|c| c["text"].as_str().unwrap())
        .collect()
}

pub fn input_tokens(r: &Value) -> u64 {
    r["usage"]["input_tokens"]
        .as_u64()
        .expect("usage.input_tokens")
}

pub fn parse_sse(text: &str) -> Vec<Value> {
    assert!(!text.contains("[DONE]"), "no [DONE] in Responses streams");
    assert!(text.ends_with("\n\n"));
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let event = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .expect("event line");
            let data = lines
                .next()
                .unwrap()
                .strip_prefix("data: ")
                .expect("data line");
            assert!(lines.next().is_none(), "{block}");
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["type"], event);
            v
        })
        .collect()
}

pub async fn stream(env: &Env, body: Value) -> Vec<Value> {
    let resp = env.create_raw(body).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = tokio::time::timeout(Duration::from_secs(10), resp.text())
        .await
        .expect("stream ends in time")
        .unwrap();
    let events = parse_sse(&text);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["sequence_number"],
            json!(i),
            "dense sequence numbers: {e}"
        );
    }
    events
}
