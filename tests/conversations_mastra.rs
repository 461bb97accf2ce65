//! The Conversations API and `input_items` end to end: the gateway in-process against the REAL
//! Mastra fixture (`node tests/fixtures/mastra/server.mjs`), whose URL is in `MASTRA_URL`.
//!
//! Every endpoint, interoperability both ways (a conversation made through the gateway is a
//! Mastra thread with its messages; a thread made natively in Mastra is a conversation id),
//! a 1,500-message thread paged completely in both orders, and the conversation cache proved
//! by counting upstream calls through a counting proxy.
//!
//! Without `MASTRA_URL` every test prints that it was skipped and passes.
//! Check numbers refer to reference/openai.md §6.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;

fn mastra_url() -> Option<String> {
    match std::env::var("MASTRA_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().trim_end_matches('/').to_string()),
        _ => {
            eprintln!("skipped: MASTRA_URL not set (tests/run-all.sh sets it)");
            None
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

struct Env {
    gw: Gateway,
    /// The real Mastra (not the proxy), for checks from Mastra's side.
    mastra: String,
    http: reqwest::Client,
}

/// The gateway in front of `upstream` (Mastra, or a counting proxy in front of it).
async fn start(upstream: &str, mastra: &str) -> Env {
    start_with(&format!("url = \"{upstream}\"\n"), mastra).await
}

/// The gateway with `upstream` as the body of its `[upstream]` table (and whatever tables
/// follow it).
async fn start_with(upstream: &str, mastra: &str) -> Env {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"

[logging]
level = "warn"

[upstream]
response_timeout = "30s"
{upstream}
"#
    );
    let gw = Gateway::start(from_toml_str(&toml).expect("valid test config"))
        .await
        .expect("gateway starts");
    Env {
        gw,
        mastra: mastra.to_string(),
        http: client(),
    }
}

async fn env() -> Option<Env> {
    let mastra = mastra_url()?;
    Some(start(&mastra, &mastra).await)
}

struct Reply {
    status: u16,
    body: Value,
}

impl Env {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .http
            .request(method, format!("http://{}{path}", self.gw.addr));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("gateway answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{path}: not JSON ({status}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Reply { status, body }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    async fn ok(&self, r: Reply, what: &str) -> Value {
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        r.body
    }

    async fn create_conversation(&self, body: Value) -> Value {
        let r = self.post("/v1/conversations", body).await;
        self.ok(r, "create conversation").await
    }

    /// Every item, following `last_id` like the SDK's auto-pagination.
    async fn all_items(&self, conv: &str, order: &str, limit: usize) -> (Vec<Value>, usize) {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/v1/conversations/{conv}/items?limit={limit}&order={order}");
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let page = self.get(&path).await;
            let page = self.ok(page, "list items").await;
            pages += 1;
            let data = page["data"].as_array().unwrap().clone();
            assert!(data.len() <= limit);
            assert_eq!(page["object"], "list");
            assert_eq!(
                page["first_id"],
                data.first().map_or(Value::Null, |i| i["id"].clone())
            );
            assert_eq!(
                page["last_id"],
                data.last().map_or(Value::Null, |i| i["id"].clone())
            );
            out.extend(data.iter().cloned());
            if page["has_more"] != json!(true) || data.is_empty() {
                assert_eq!(page["has_more"], json!(false));
                break;
            }
            after = page["last_id"].as_str().map(str::to_string);
            assert!(pages < 10_000);
        }
        (out, pages)
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
}

fn msgs(texts: &[&str]) -> Value {
    Value::Array(
        texts
            .iter()
            .map(|t| json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]}))
            .collect(),
    )
}

fn text(item: &Value) -> String {
    item["content"]
        .as_array()
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default()
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

fn assert_not_found(r: &Reply, conv: &str) {
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"error": {"message": format!("Conversation with id '{conv}' not found."),
                         "type": "invalid_request_error", "param": null, "code": null}})
    );
}

// ------------------------------------------------------------------------- conversations

/// Checks 31, 32, 34: create with items and metadata, retrieve, update (replaces), delete,
/// a second delete and a retrieve after it are 404.
#[tokio::test]
async fn conversation_lifecycle() {
    let Some(env) = env().await else { return };
    let conv = env
        .create_conversation(
            json!({"items": msgs(&["hello"]), "metadata": {"topic": "demo", "k": "v"}}),
        )
        .await;
    let id = conv["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("conv_") && id.len() == 37, "{id}");
    assert_eq!(conv["object"], "conversation");
    assert!(conv["created_at"].is_i64());
    assert_eq!(conv["metadata"], json!({"topic": "demo", "k": "v"}));
    assert_eq!(conv.as_object().unwrap().len(), 4);

    let got = env.get(&format!("/v1/conversations/{id}")).await;
    assert_eq!(env.ok(got, "retrieve").await, conv);

    let upd = env
        .post(
            &format!("/v1/conversations/{id}"),
            json!({"metadata": {"c": "3"}}),
        )
        .await;
    let upd = env.ok(upd, "update").await;
    assert_eq!(upd["metadata"], json!({"c": "3"}));
    assert_eq!(
        (&upd["id"], &upd["created_at"]),
        (&conv["id"], &conv["created_at"])
    );
    let got = env.get(&format!("/v1/conversations/{id}")).await;
    assert_eq!(env.ok(got, "retrieve").await["metadata"], json!({"c": "3"}));
    // The gateway's own key survives the replacement upstream, and never shows.
    let (_, thread) = env.mastra_get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(thread["thread"]["metadata"]["c"], "3");
    assert!(thread["thread"]["metadata"]["mastra_gateway.agent"].is_string());
    assert!(thread["thread"]["metadata"].get("topic").is_none());

    // Update with null metadata clears it; a missing `metadata` is refused.
    let r = env
        .post(&format!("/v1/conversations/{id}"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (400, Some("metadata"))
    );
    let r = env
        .post(
            &format!("/v1/conversations/{id}"),
            json!({"metadata": null}),
        )
        .await;
    assert_eq!(env.ok(r, "clear").await["metadata"], json!({}));

    let del = env.delete(&format!("/v1/conversations/{id}")).await;
    assert_eq!(
        env.ok(del, "delete").await,
        json!({"id": id, "object": "conversation.deleted", "deleted": true})
    );
    assert_not_found(&env.get(&format!("/v1/conversations/{id}")).await, &id);
    assert_not_found(&env.delete(&format!("/v1/conversations/{id}")).await, &id);
    let (status, _) = env.mastra_get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, 404, "the thread is gone upstream too");
}

/// Check 35: an unknown conversation on every route is OpenAI's 404.
#[tokio::test]
async fn unknown_conversation_is_404_everywhere() {
    let Some(env) = env().await else { return };
    let bogus = format!("conv_{}", tag());
    let p = format!("/v1/conversations/{bogus}");
    assert_not_found(&env.get(&p).await, &bogus);
    assert_not_found(&env.post(&p, json!({"metadata": {"a": "b"}})).await, &bogus);
    assert_not_found(&env.delete(&p).await, &bogus);
    assert_not_found(&env.get(&format!("{p}/items")).await, &bogus);
    assert_not_found(
        &env.post(&format!("{p}/items"), json!({"items": msgs(&["x"])}))
            .await,
        &bogus,
    );
    assert_not_found(&env.get(&format!("{p}/items/msg_x")).await, &bogus);
    assert_not_found(&env.delete(&format!("{p}/items/msg_x")).await, &bogus);
    let r = env
        .post(
            "/v1/responses",
            json!({"model": "support-agent", "input": "hi", "conversation": bogus}),
        )
        .await;
    assert_not_found(&r, &bogus);
}

/// Check 33 and the other 400s: metadata limits, reserved keys, more than 20 items, bad list
/// parameters, unknown body fields, unsupported item types.
#[tokio::test]
async fn refusals() {
    let Some(env) = env().await else { return };
    let seventeen: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    for md in [
        Value::Object(seventeen),
        json!({"k".repeat(65): "v"}),
        json!({"k": "v".repeat(513)}),
        json!({"k": 1}),
        json!({"mastra_gateway.agent": "x"}),
    ] {
        let r = env.post("/v1/conversations", json!({"metadata": md})).await;
        assert_eq!(r.status, 400, "{md}: {}", r.body);
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
        assert_eq!(r.body["error"]["param"], "metadata", "{}", r.body);
    }
    let ok = env
        .create_conversation(json!({"metadata": {"k".repeat(64): "v".repeat(512)}}))
        .await;
    let id = ok["id"].as_str().unwrap();
    let r = env
        .post(
            &format!("/v1/conversations/{id}"),
            json!({"metadata": {"k".repeat(65): "v"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (400, Some("metadata"))
    );

    let many: Vec<String> = (0..21).map(|i| i.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let r = env
        .post("/v1/conversations", json!({"items": msgs(&many)}))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (400, Some("items"))
    );
    let r = env
        .post(
            &format!("/v1/conversations/{id}/items"),
            json!({"items": msgs(&many)}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (400, Some("items"))
    );
    let twenty = &many[..20];
    let r = env
        .post(
            &format!("/v1/conversations/{id}/items"),
            json!({"items": msgs(twenty)}),
        )
        .await;
    assert_eq!(
        env.ok(r, "20 items").await["data"]
            .as_array()
            .unwrap()
            .len(),
        20
    );

    for (q, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("order=sideways", "order"),
        ("include[]=bogus", "include"),
        ("after=no-such-item", "after"),
    ] {
        let r = env.get(&format!("/v1/conversations/{id}/items?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{q}");
    }
    let r = env
        .post(
            "/v1/conversations",
            json!({"items": [{"type": "reasoning", "summary": []}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (400, Some("items[0]"))
    );
    let r = env.post("/v1/conversations", json!({"bogus": 1})).await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (400, Some("bogus"))
    );
    let r = env
        .post(&format!("/v1/conversations/{id}/items"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (400, Some("items"))
    );
    // A create without a body is a conversation without items or metadata.
    let r = env
        .http
        .post(format!("http://{}/v1/conversations", env.gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Checks 36 and 38: items create returns the items with ids and status; retrieve returns
/// one; delete returns the Conversation and the item is gone. Tool items too.
#[tokio::test]
async fn items_create_retrieve_delete() {
    let Some(env) = env().await else { return };
    let conv = env.create_conversation(json!({})).await;
    let id = conv["id"].as_str().unwrap();
    let created = env
        .post(
            &format!("/v1/conversations/{id}/items?include[]=message.output_text.logprobs"),
            json!({"items": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
                {"role": "assistant", "content": "two"},
                {"type": "function_call", "call_id": "call_t1", "name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"},
                {"type": "function_call_output", "call_id": "call_t1", "output": "cold"},
                {"type": "message", "role": "developer", "content": "three"}
            ]}),
        )
        .await;
    let created = env.ok(created, "items create").await;
    assert_eq!(created["object"], "list");
    assert_eq!(created["has_more"], false);
    let data = created["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 5);
    for item in &data {
        assert!(
            item["id"].is_string() && item["status"] == "completed",
            "{item}"
        );
    }
    assert_eq!(created["first_id"], data[0]["id"]);
    assert_eq!(created["last_id"], data[4]["id"]);
    assert_eq!(data[1]["content"][0]["type"], "output_text");
    assert_eq!(
        (&data[2]["id"], &data[3]["id"]),
        (&json!("fc_t1"), &json!("fco_t1"))
    );
    assert_eq!(data[2]["arguments"], "{\"city\": \"Oslo\"}");
    assert_eq!(data[4]["role"], "developer");

    // Listed exactly as created (the items round-trip through Mastra unchanged).
    let (listed, _) = env.all_items(id, "asc", 20).await;
    assert_eq!(listed, data);
    let (desc, _) = env.all_items(id, "desc", 20).await;
    assert_eq!(desc, data.iter().rev().cloned().collect::<Vec<_>>());

    for item in &data {
        let iid = item["id"].as_str().unwrap();
        let got = env
            .get(&format!("/v1/conversations/{id}/items/{iid}"))
            .await;
        assert_eq!(&env.ok(got, "retrieve item").await, item);
    }
    let r = env
        .get(&format!("/v1/conversations/{id}/items/msg_nope"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["error"]["message"],
        "Item with id 'msg_nope' not found."
    );

    // Delete: returns the Conversation; the item is gone, the others stay in order.
    let mut left = data.clone();
    for victim in [1, 1, 0] {
        let iid = left[victim]["id"].as_str().unwrap().to_string();
        let r = env
            .delete(&format!("/v1/conversations/{id}/items/{iid}"))
            .await;
        assert_eq!(env.ok(r, "delete item").await, conv);
        left.remove(victim);
        let (listed, _) = env.all_items(id, "asc", 2).await;
        assert_eq!(listed, left, "after deleting {iid}");
        let r = env
            .get(&format!("/v1/conversations/{id}/items/{iid}"))
            .await;
        assert_eq!(r.status, 404);
        let r = env
            .delete(&format!("/v1/conversations/{id}/items/{iid}"))
            .await;
        assert_eq!(r.status, 404);
    }
    assert_eq!(
        ids(&left),
        [
            "fco_t1".to_string(),
            data[4]["id"].as_str().unwrap().to_string()
        ]
    );
}

/// Check 37: `limit=3` over 7 items in both orders; `after=last_id`; `has_more` false at the
/// end; exactly ceil(7/3) pages.
#[tokio::test]
async fn items_pagination_small() {
    let Some(env) = env().await else { return };
    let texts: Vec<String> = (0..7).map(|i| format!("item {i} {}", tag())).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let conv = env.create_conversation(json!({"items": msgs(&refs)})).await;
    let id = conv["id"].as_str().unwrap();
    let (asc, pages) = env.all_items(id, "asc", 3).await;
    assert_eq!(asc.iter().map(text).collect::<Vec<_>>(), texts);
    assert_eq!(pages, 3);
    let (desc, pages) = env.all_items(id, "desc", 3).await;
    assert_eq!(desc, asc.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(pages, 3);
    // Default order is desc, default limit 20.
    let page = env.get(&format!("/v1/conversations/{id}/items")).await;
    let page = env.ok(page, "default list").await;
    assert_eq!(page["data"].as_array().unwrap(), &desc);
    assert_eq!(page["has_more"], false);
    // An empty conversation: every key, null ids.
    let empty = env.create_conversation(json!({})).await;
    let page = env
        .get(&format!(
            "/v1/conversations/{}/items",
            empty["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        env.ok(page, "empty list").await,
        json!({"object": "list", "data": [], "first_id": null, "last_id": null, "has_more": false})
    );
}

/// Check 39: `conversation` (string and `{id}`) on responses echoes the id and appends the
/// input then the output items; a tool turn's items have the Response output's ids.
#[tokio::test]
async fn responses_append_items_in_order() {
    let Some(env) = env().await else { return };
    let conv = env
        .create_conversation(json!({"items": msgs(&["seed"])}))
        .await;
    let id = conv["id"].as_str().unwrap();
    let word = tag();
    let r1 = env
        .post("/v1/responses", json!({"model": "support-agent", "input": format!("append {word}"), "conversation": id}))
        .await;
    let r1 = env.ok(r1, "turn 1").await;
    assert_eq!(r1["conversation"], json!({"id": id}));
    let r2 = env
        .post("/v1/responses", json!({"model": "support-agent", "input": "CALL_TOOL Rome", "conversation": {"id": id}}))
        .await;
    let r2 = env.ok(r2, "turn 2").await;
    assert_eq!(r2["conversation"], json!({"id": id}));
    // Without `model`, the conversation's agent answers.
    let r3 = env
        .post(
            "/v1/responses",
            json!({"input": "no model", "conversation": id}),
        )
        .await;
    let r3 = env.ok(r3, "turn 3").await;
    assert_eq!(r3["conversation"], json!({"id": id}));

    let (items, _) = env.all_items(id, "asc", 100).await;
    let kinds: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_string(),
                i["role"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("message", "user"),
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        // The tool the agent ran inside Mastra: the server's, as the response showed it.
        ("mcp_call", ""),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(kinds, expect);
    assert_eq!(text(&items[1]), format!("append {word}"));
    assert_eq!(
        items[2], r1["output"][0],
        "the output item, same id and content"
    );
    assert_eq!(text(&items[3]), "CALL_TOOL Rome");
    assert_eq!(&items[4..6], r2["output"].as_array().unwrap().as_slice());
    assert_eq!(items[7], r3["output"][0]);
}

/// Checks 27 and 28: input items of a stored response, default desc, `order=asc`, and paging
/// with `after` = the last item's id.
#[tokio::test]
async fn response_input_items() {
    let Some(env) = env().await else { return };
    let texts: Vec<String> = (0..7).map(|i| format!("in {i} {}", tag())).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let conv = env
        .create_conversation(json!({"items": msgs(&["earlier turn"])}))
        .await;
    for body in [
        json!({"model": "support-agent", "input": msgs(&refs)}),
        json!({"model": "support-agent", "input": msgs(&refs), "conversation": conv["id"]}),
    ] {
        let resp = env.post("/v1/responses", body).await;
        let resp = env.ok(resp, "create").await;
        let rid = resp["id"].as_str().unwrap();
        let page = env.get(&format!("/v1/responses/{rid}/input_items")).await;
        let page = env.ok(page, "input items").await;
        assert_eq!(page["object"], "list");
        let data = page["data"].as_array().unwrap();
        let mut want = texts.clone();
        want.reverse();
        assert_eq!(
            data.iter().map(text).collect::<Vec<_>>(),
            want,
            "default desc"
        );
        assert_eq!(page["first_id"], data[0]["id"]);
        assert_eq!(page["last_id"], data[6]["id"]);
        assert_eq!(page["has_more"], false);
        assert!(data
            .iter()
            .all(|i| i["type"] == "message" && i["role"] == "user"));

        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut p = format!("/v1/responses/{rid}/input_items?limit=3&order=asc");
            if let Some(a) = &after {
                p.push_str(&format!("&after={a}"));
            }
            let page = env.get(&p).await;
            let page = env.ok(page, "input items page").await;
            pages += 1;
            let data = page["data"].as_array().unwrap().clone();
            seen.extend(data.iter().map(text));
            if page["has_more"] != json!(true) {
                break;
            }
            after = data
                .last()
                .and_then(|i| i["id"].as_str())
                .map(str::to_string);
        }
        assert_eq!(seen, texts);
        assert_eq!(pages, 3);
    }
    let r = env
        .get("/v1/responses/resp_00000000-0000-0000-0000-000000000000/input_items")
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
}

// ---------------------------------------------------------------------- interoperability

/// A conversation created through the gateway is a Mastra thread with its messages, seen by
/// Mastra's own conversations and memory APIs.
#[tokio::test]
async fn gateway_conversation_is_a_mastra_thread() {
    let Some(env) = env().await else { return };
    let conv = env
        .create_conversation(
            json!({"items": msgs(&["from the gateway"]), "metadata": {"team": "a"}}),
        )
        .await;
    let id = conv["id"].as_str().unwrap();
    let r = env
        .post(
            "/v1/responses",
            json!({"model": "support-agent", "input": "and a turn", "conversation": id}),
        )
        .await;
    env.ok(r, "turn").await;

    let (status, c) = env.mastra_get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(c["id"], id);
    assert_eq!(c["thread"]["metadata"]["team"], "a");
    let agent = c["thread"]["metadata"]["mastra_gateway.agent"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, t) = env
        .mastra_get(&format!("/api/memory/threads/{id}?agentId={agent}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(t["id"], id);
    let (_, m) = env
        .mastra_get(&format!(
            "/api/memory/threads/{id}/messages?agentId={agent}"
        ))
        .await;
    let texts: Vec<&str> = m["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"]["content"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        texts,
        ["from the gateway", "and a turn", "echo: and a turn"]
    );
    // Mastra's own (unpaged) items list agrees on the messages.
    let (_, items) = env
        .mastra_get(&format!("/api/v1/conversations/{id}/items"))
        .await;
    assert_eq!(items["data"].as_array().unwrap().len(), 3);
}

/// A thread created natively in Mastra (memory API, then a native agent call) is a
/// conversation id through the gateway: retrieve, items, update, responses, items create.
#[tokio::test]
async fn native_mastra_thread_is_a_conversation() {
    let Some(env) = env().await else { return };
    let thread = format!("native-{}", tag());
    env.mastra_post(
        "/api/memory/threads?agentId=support-agent",
        json!({"resourceId": "user-native", "threadId": thread, "metadata": {"channel": "web", "score": 7}}),
    )
    .await;
    env.mastra_post(
        "/api/agents/support-agent/generate",
        json!({"messages": "native hello", "memory": {"thread": thread, "resource": "user-native"}}),
    )
    .await;
    let got = env.get(&format!("/v1/conversations/{thread}")).await;
    let got = env.ok(got, "retrieve native").await;
    assert_eq!(got["id"], thread);
    assert_eq!(got["metadata"], json!({"channel": "web"}), "strings only");
    let (items, _) = env.all_items(&thread, "asc", 20).await;
    assert_eq!(
        items.iter().map(text).collect::<Vec<_>>(),
        ["native hello", "echo: native hello"]
    );

    let r = env
        .post(
            "/v1/responses",
            json!({"model": "support-agent", "input": "via gateway", "conversation": thread}),
        )
        .await;
    let r = env.ok(r, "turn on native thread").await;
    assert_eq!(r["conversation"]["id"], thread);
    let r = env
        .post(
            &format!("/v1/conversations/{thread}/items"),
            json!({"items": msgs(&["added"])}),
        )
        .await;
    env.ok(r, "items create on native thread").await;
    let (items, _) = env.all_items(&thread, "desc", 2).await;
    assert_eq!(
        items.iter().map(text).collect::<Vec<_>>(),
        [
            "added",
            "echo: via gateway",
            "via gateway",
            "echo: native hello",
            "native hello"
        ]
    );
    // Update keeps what the client cannot see (non-string metadata).
    let r = env
        .post(
            &format!("/v1/conversations/{thread}"),
            json!({"metadata": {"channel": "api"}}),
        )
        .await;
    assert_eq!(
        env.ok(r, "update native").await["metadata"],
        json!({"channel": "api"})
    );
    let (_, t) = env
        .mastra_get(&format!(
            "/api/memory/threads/{thread}?agentId=support-agent"
        ))
        .await;
    assert_eq!(t["metadata"], json!({"score": 7, "channel": "api"}));
    assert_eq!(t["resourceId"], "user-native");
    let r = env.delete(&format!("/v1/conversations/{thread}")).await;
    env.ok(r, "delete native").await;
    let (status, _) = env
        .mastra_get(&format!(
            "/api/memory/threads/{thread}?agentId=support-agent"
        ))
        .await;
    assert_eq!(status, 404);
}

/// Several upstreams, the real Mastra second: a thread made natively in Mastra (no agent
/// recorded) while the default agent lives on the first upstream is served by Mastra with
/// Mastra's agents, for every conversation call and a turn without `model`.
#[tokio::test]
async fn native_thread_on_a_second_upstream() {
    let Some(mastra) = mastra_url() else { return };
    let other = AgentsOnly::start("alpha-agent").await;
    let env = start_with(
        &format!(
            "[models]\ndefault = \"alpha-agent\"\n\
             [[upstreams]]\nname = \"other\"\nurl = \"{}\"\n\
             [[upstreams]]\nname = \"mastra\"\nurl = \"{mastra}\"\n",
            other.url()
        ),
        &mastra,
    )
    .await;
    let thread = format!("second-{}", tag());
    env.mastra_post(
        "/api/memory/threads?agentId=support-agent",
        json!({"resourceId": "user-second", "threadId": thread, "metadata": {"score": 7}}),
    )
    .await;
    env.mastra_post(
        "/api/agents/support-agent/generate",
        json!({"messages": "native hello", "memory": {"thread": thread, "resource": "user-second"}}),
    )
    .await;

    let got = env.get(&format!("/v1/conversations/{thread}")).await;
    assert_eq!(env.ok(got, "retrieve").await["id"], thread);
    let (items, _) = env.all_items(&thread, "asc", 20).await;
    assert_eq!(
        items.iter().map(text).collect::<Vec<_>>(),
        ["native hello", "echo: native hello"]
    );
    // No `model`: the default agent is on the other upstream, so Mastra's first agent answers.
    let r = env
        .post(
            "/v1/responses",
            json!({"input": "no model", "conversation": thread}),
        )
        .await;
    let r = env.ok(r, "turn without model").await;
    assert_eq!(r["model"], "echo-agent", "{r}");
    assert_eq!(r["conversation"]["id"], thread);
    // Continued by id, still without `model`: the same upstream and agent.
    let r = env
        .post(
            "/v1/responses",
            json!({"input": "then", "previous_response_id": r["id"], "store": true}),
        )
        .await;
    let r = env.ok(r, "turn on the previous response").await;
    assert_eq!(r["model"], "echo-agent", "{r}");
    let r = env
        .post(
            "/v1/responses",
            json!({"model": "alpha-agent", "input": "x", "conversation": thread}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["param"], "model");
    let r = env
        .post(
            &format!("/v1/conversations/{thread}/items"),
            json!({"items": msgs(&["added"])}),
        )
        .await;
    env.ok(r, "items create").await;
    let (items, _) = env.all_items(&thread, "desc", 2).await;
    assert_eq!(
        items.iter().map(text).collect::<Vec<_>>(),
        [
            "added",
            "you said: then",
            "then",
            "you said: no model",
            "no model",
            "echo: native hello",
            "native hello"
        ]
    );
    let r = env
        .post(
            &format!("/v1/conversations/{thread}"),
            json!({"metadata": {"channel": "api"}}),
        )
        .await;
    assert_eq!(
        env.ok(r, "update").await["metadata"],
        json!({"channel": "api"})
    );
    let (_, t) = env
        .mastra_get(&format!(
            "/api/memory/threads/{thread}?agentId=support-agent"
        ))
        .await;
    assert_eq!(t["metadata"], json!({"score": 7, "channel": "api"}));
    let r = env.delete(&format!("/v1/conversations/{thread}")).await;
    env.ok(r, "delete").await;
    let (status, _) = env
        .mastra_get(&format!(
            "/api/memory/threads/{thread}?agentId=support-agent"
        ))
        .await;
    assert_eq!(status, 404);
    // The other upstream was asked about the thread (while locating it) and nothing else.
    let asked = other.seen();
    assert!(
        asked
            .iter()
            .all(|k| k == "GET /api/agents" || k.starts_with("GET /api/v1/")),
        "{asked:?}"
    );
}

/// An upstream that serves one agent, holds nothing, and answers every other path with a
/// JSON 404 (Mastra's answer for an unknown thread or response). Records what it was asked.
struct AgentsOnly {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl AgentsOnly {
    async fn start(agent: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let agents =
            json!({ agent: {"id": agent, "name": agent, "provider": "mock", "modelId": agent} })
                .to_string();
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (agents, log) = (agents.clone(), log.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let key = format!("{} {}", req.method(), req.uri().path());
                        log.lock().unwrap().push(key.clone());
                        let (status, body) = if key == "GET /api/agents" {
                            (200, agents.clone())
                        } else {
                            (404, json!({"error": "not found"}).to_string())
                        };
                        async move {
                            let mut resp =
                                hyper::Response::new(Full::new(bytes::Bytes::from(body)));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            resp.headers_mut()
                                .insert("content-type", "application/json".parse().unwrap());
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

// ------------------------------------------------------------------------- long threads

/// Seeds `n` messages (alternating user/assistant, some sharing a millisecond) into a new
/// conversation directly through Mastra's save-messages, in batches. Returns the conversation
/// id and the texts in thread order.
async fn seed_long_thread(env: &Env, n: usize) -> (String, Vec<String>) {
    let conv = env.create_conversation(json!({})).await;
    let id = conv["id"].as_str().unwrap().to_string();
    let (_, c) = env.mastra_get(&format!("/api/v1/conversations/{id}")).await;
    let agent = c["thread"]["metadata"]["mastra_gateway.agent"]
        .as_str()
        .unwrap()
        .to_string();
    let resource = c["thread"]["resourceId"].as_str().unwrap().to_string();
    let base = 1_767_225_600_000_i64; // 2026-01-01
    let mut texts = Vec::new();
    let mut batch = Vec::new();
    for i in 0..n {
        // Every 7th message shares its millisecond with the one before (ties order by id).
        let ms = base + (i as i64) * 5 - i64::from(i % 7 == 6) * 5;
        let at = mastra_gateway::translate::items::ms_to_iso(ms);
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let t = format!("long message {i:04}");
        batch.push(json!({
            "id": format!("{id}-m{i:05}"), "role": role, "createdAt": at,
            "threadId": id, "resourceId": resource, "type": "v2",
            "content": {"format": 2, "parts": [{"type": "text", "text": t}], "content": t}
        }));
        texts.push(t);
        if batch.len() == 100 || i + 1 == n {
            env.mastra_post(
                &format!("/api/memory/save-messages?agentId={agent}"),
                json!({"messages": std::mem::take(&mut batch)}),
            )
            .await;
        }
    }
    (id, texts)
}

/// A 1,500-message thread lists completely and in order, in both orders, by following
/// `last_id` (what the SDKs' auto-pagination does), and each page costs one upstream window.
#[tokio::test]
async fn long_thread_pages_completely_in_both_orders() {
    let Some(mastra) = mastra_url() else { return };
    let proxy = CountingProxy::start(&mastra).await;
    let env = start(&proxy.url(), &mastra).await;
    let (id, texts) = seed_long_thread(&env, 1500).await;
    let mut reversed = texts.clone();
    reversed.reverse();
    for (order, want) in [("asc", &texts), ("desc", &reversed)] {
        for limit in [20, 100] {
            let before = proxy.count_prefix(&format!("GET /api/memory/threads/{id}/messages"));
            let (items, pages) = env.all_items(&id, order, limit).await;
            let got: Vec<String> = items.iter().map(text).collect();
            assert_eq!(got.len(), 1500, "{order} limit {limit}");
            assert!(got == *want, "{order} limit {limit}: out of order");
            assert_eq!(pages, 1500usize.div_ceil(limit));
            let windows =
                proxy.count_prefix(&format!("GET /api/memory/threads/{id}/messages")) - before;
            assert!(
                windows <= pages,
                "{order} limit {limit}: {windows} upstream windows for {pages} pages"
            );
        }
    }
    // A cursor this gateway never served (another replica's, say) still works: scanned.
    let fresh = start(&mastra, &mastra).await;
    let mid = format!("{id}-m00750");
    let page = fresh
        .get(&format!(
            "/v1/conversations/{id}/items?order=asc&limit=3&after={mid}"
        ))
        .await;
    let page = fresh.ok(page, "cold cursor").await;
    assert_eq!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect::<Vec<_>>(),
        texts[751..754].to_vec()
    );
}

// ------------------------------------------------------------------------------- caching

/// A run of turns on one conversation looks the conversation up once; a delete through the
/// gateway is 404 on the very next request; a native delete (behind the gateway's back) is
/// noticed once the cached lookup expires (`cache.conversation_ttl`), and never undone.
#[tokio::test]
async fn conversation_lookups_are_cached_and_invalidated() {
    let Some(mastra) = mastra_url() else { return };
    let proxy = CountingProxy::start(&mastra).await;
    let env = start_with(
        &format!(
            "url = \"{}\"\n[cache]\nconversation_ttl = \"3s\"\n",
            proxy.url()
        ),
        &mastra,
    )
    .await;
    // A natively created thread: the gateway has never seen it.
    let thread = format!("cache-{}", tag());
    env.mastra_post(
        "/api/v1/conversations",
        json!({"agent_id": "support-agent", "conversation_id": thread}),
    )
    .await;
    let lookup = format!("GET /api/v1/conversations/{thread}");
    for i in 0..4 {
        let r = env
            .post("/v1/responses", json!({"model": "support-agent", "input": format!("turn {i}"), "conversation": thread}))
            .await;
        env.ok(r, "turn").await;
    }
    let r = env.get(&format!("/v1/conversations/{thread}/items")).await;
    env.ok(r, "items").await;
    let r = env.get(&format!("/v1/conversations/{thread}")).await;
    env.ok(r, "retrieve").await;
    assert_eq!(
        proxy.count(&lookup),
        1,
        "one upstream lookup for 4 turns + list + retrieve"
    );
    assert_eq!(
        proxy.count_prefix("POST /api/agents/support-agent/stream"),
        4
    );

    // Delete through the gateway: the very next request is 404, asked upstream again.
    let r = env.delete(&format!("/v1/conversations/{thread}")).await;
    env.ok(r, "delete").await;
    assert_not_found(
        &env.get(&format!("/v1/conversations/{thread}")).await,
        &thread,
    );
    let r = env
        .post(
            "/v1/responses",
            json!({"model": "support-agent", "input": "after", "conversation": thread}),
        )
        .await;
    assert_not_found(&r, &thread);
    assert_eq!(proxy.count(&lookup), 3);

    // Created through the gateway: cached from the start, no lookup at all.
    let conv = env
        .create_conversation(json!({"metadata": {"a": "1"}}))
        .await;
    let id = conv["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let r = env
            .post(
                "/v1/responses",
                json!({"model": "support-agent", "input": "hi", "conversation": id}),
            )
            .await;
        env.ok(r, "turn").await;
    }
    let r = env
        .post(
            &format!("/v1/conversations/{id}"),
            json!({"metadata": {"b": "2"}}),
        )
        .await;
    env.ok(r, "update").await;
    let r = env.get(&format!("/v1/conversations/{id}")).await;
    assert_eq!(
        env.ok(r, "retrieve").await["metadata"],
        json!({"b": "2"}),
        "update refreshed the cache"
    );
    assert_eq!(
        proxy.count(&format!("GET /api/v1/conversations/{id}")),
        1,
        "only update's fresh read"
    );

    // Deleted natively behind the gateway's back: the next turn is 404 and the entry is gone.
    let r = env
        .http
        .delete(format!("{mastra}/api/v1/conversations/{id}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let r = env
        .post(
            "/v1/responses",
            json!({"model": "support-agent", "input": "late", "conversation": id}),
        )
        .await;
    assert_not_found(&r, &id);
    assert_not_found(&env.get(&format!("/v1/conversations/{id}")).await, &id);
    // The refused turn did not bring the thread back.
    let back = env
        .http
        .get(format!("{mastra}/api/v1/conversations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 404);

    // Hits and misses are metrics.
    let metrics = mastra_gateway::telemetry::metrics_handle().render();
    for result in ["hit", "miss"] {
        assert!(
            metrics.contains(&format!(
                "mastra_gateway_cache_requests_total{{cache=\"conversations\",result=\"{result}\"}}"
            )),
            "no {result} counter"
        );
    }
}

// -------------------------------------------------------------------------- counting proxy

/// Forwards every request to Mastra and counts them as `"METHOD /path"` (query dropped).
struct CountingProxy {
    addr: SocketAddr,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl CountingProxy {
    async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let target = target.to_string();
        let http = client();
        let c = counts.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (target, http, counts) = (target.clone(), http.clone(), c.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (target, http, counts) = (target.clone(), http.clone(), counts.clone());
                        async move {
                            let key = format!("{} {}", req.method(), req.uri().path());
                            *counts.lock().unwrap().entry(key).or_default() += 1;
                            let url = format!(
                                "{target}{}",
                                req.uri().path_and_query().map_or("/", |p| p.as_str())
                            );
                            let method = req.method().clone();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let mut up = http.request(method, url);
                            if !body.is_empty() {
                                up = up.header("content-type", "application/json").body(body);
                            }
                            let upstream = up.send().await.unwrap();
                            let status = upstream.status();
                            let ct = upstream.headers().get("content-type").cloned();
                            let bytes = upstream.bytes().await.unwrap();
                            let mut resp = hyper::Response::new(Full::new(bytes));
                            *resp.status_mut() = status;
                            if let Some(ct) = ct {
                                resp.headers_mut().insert("content-type", ct);
                            }
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, counts }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn count(&self, key: &str) -> usize {
        self.counts.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn count_prefix(&self, prefix: &str) -> usize {
        self.counts
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    }
}
