//! End to end: the gateway in-process against the REAL Mastra fixture
//! (`node tests/fixtures/mastra/server.mjs`), whose URL is in `MASTRA_URL`.
//!
//! The fixture's agents: `support-agent` answers `echo: <text>` and calls its `get_weather`
//! tool on `CALL_TOOL <City>`; `echo-agent` answers `you said: <text>`. The mock model's
//! `usage.input_tokens` is the number of prompt messages, so it grows along a stored chain.
//!
//! Without `MASTRA_URL` every test prints that it was skipped and passes; tests/run-all.sh
//! always sets it.

mod fixture_support;

use serde_json::{json, Value};

use fixture_support::{env, error_of, input_tokens, output_text, stream};

const RESPONSE_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "status",
    "completed_at",
    "background",
    "error",
    "incomplete_details",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "model",
    "output",
    "parallel_tool_calls",
    "previous_response_id",
    "conversation",
    "prompt_cache_key",
    "safety_identifier",
    "reasoning",
    "service_tier",
    "store",
    "temperature",
    "top_p",
    "top_logprobs",
    "text",
    "tool_choice",
    "tools",
    "truncation",
    "usage",
    "user",
    "metadata",
];

// ------------------------------------------------------------------------------------ tests

#[tokio::test]
async fn plain_create() {
    let Some(env) = env().await else { return };
    let r = env
        .create(json!({"model":"support-agent","input":"hi"}))
        .await;
    for key in RESPONSE_KEYS {
        assert!(r.get(*key).is_some(), "Response lacks `{key}`: {r}");
    }
    assert!(
        r["id"].as_str().unwrap().starts_with("resp_"),
        "{}",
        r["id"]
    );
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["model"], "support-agent");
    assert_eq!(r["store"], true);
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["conversation"], Value::Null);
    assert_eq!(r["background"], false);
    assert!(r["created_at"].as_i64().unwrap() > 0);
    assert!(r["completed_at"].as_i64().unwrap() >= r["created_at"].as_i64().unwrap());
    assert_eq!(output_text(&r), "echo: hi");
    let msg = &r["output"][0];
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["status"], "completed");
    let usage = &r["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
    assert!(usage["input_tokens_details"]["cached_tokens"].is_u64());
    assert!(usage["output_tokens_details"]["reasoning_tokens"].is_u64());

    // The other agent, through an alias of the first too.
    let r = env.create(json!({"model":"echo-agent","input":"hi"})).await;
    assert_eq!(output_text(&r), "you said: hi");
    let r = env
        .create(json!({"model":"gpt-4o","input":"via alias"}))
        .await;
    assert_eq!(output_text(&r), "echo: via alias");
    assert_eq!(r["model"], "support-agent");
}

#[tokio::test]
async fn previous_response_id_chain() {
    let Some(env) = env().await else { return };
    let r1 = env
        .create(json!({"model":"support-agent","input":"one"}))
        .await;
    let r2 = env
        .create(json!({"model":"support-agent","input":"two","previous_response_id":r1["id"]}))
        .await;
    let r3 = env
        .create(json!({"model":"support-agent","input":"three","previous_response_id":r2["id"]}))
        .await;
    assert_eq!(output_text(&r2), "echo: two");
    assert_eq!(output_text(&r3), "echo: three");
    assert_eq!(r2["previous_response_id"], r1["id"]);
    assert_eq!(r3["previous_response_id"], r2["id"]);
    assert!(r3["id"].as_str().unwrap().starts_with("resp_"));
    // The mock counts prompt messages: the history is in the prompt.
    assert!(
        input_tokens(&r2) > input_tokens(&r1),
        "{} {}",
        r1["usage"],
        r2["usage"]
    );
    assert!(
        input_tokens(&r3) > input_tokens(&r2),
        "{} {}",
        r2["usage"],
        r3["usage"]
    );
}

#[tokio::test]
async fn conversation_turns_are_stored_in_mastra() {
    let Some(env) = env().await else { return };
    let conv = env.new_conversation().await;

    let r1 = env
        .create(json!({"model":"support-agent","input":"first in thread","conversation":conv}))
        .await;
    assert_eq!(r1["conversation"], json!({"id": conv}));
    assert_eq!(output_text(&r1), "echo: first in thread");
    let r2 = env
        .create(
            json!({"model":"support-agent","input":"second in thread","conversation":{"id":conv}}),
        )
        .await;
    assert_eq!(r2["conversation"], json!({"id": conv}));
    assert_eq!(output_text(&r2), "echo: second in thread");
    assert!(
        input_tokens(&r2) > input_tokens(&r1),
        "the thread's history is used"
    );

    // Mastra's own view of the thread: both inputs and both replies, in order.
    let items = env
        .mastra(
            reqwest::Method::GET,
            &format!("/v1/conversations/{conv}/items"),
            None,
        )
        .await;
    let seen: Vec<(String, String, String)> = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_string(),
                i["role"].as_str().unwrap().to_string(),
                i["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let texts: Vec<(&str, &str)> = seen
        .iter()
        .map(|(_, role, text)| (role.as_str(), text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            ("user", "first in thread"),
            ("assistant", "echo: first in thread"),
            ("user", "second in thread"),
            ("assistant", "echo: second in thread"),
        ],
        "{items}"
    );
    // The stored assistant message is the response (its id maps to the message's).
    let r2_msg = mastra_gateway::translate::ids::response_id_to_mastra(r2["id"].as_str().unwrap())
        .into_owned();
    assert_eq!(seen[3].0, r2_msg);
}

#[tokio::test]
async fn unknown_conversation_is_404() {
    let Some(env) = env().await else { return };
    let id = format!("conv-missing-{}", std::process::id());
    for conversation in [json!(id), json!({"id": id})] {
        let resp = env
            .create_raw(json!({"model":"support-agent","input":"hi","conversation":conversation}))
            .await;
        let e = error_of(resp, 404).await;
        assert_eq!(
            e,
            json!({"message": format!("Conversation with id '{id}' not found."), "type":"invalid_request_error","param":null,"code":null})
        );
    }
}

#[tokio::test]
async fn retrieve_matches_create() {
    let Some(env) = env().await else { return };
    let created = env
        .create(json!({"model":"support-agent","input":"keep me"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let resp = env.get(&format!("/v1/responses/{id}")).await;
    assert_eq!(resp.status().as_u16(), 200);
    let got: Value = resp.json().await.unwrap();
    for key in RESPONSE_KEYS {
        assert!(got.get(*key).is_some(), "retrieved Response lacks `{key}`");
    }
    for key in [
        "id",
        "object",
        "status",
        "output",
        "model",
        "created_at",
        "store",
    ] {
        assert_eq!(got[key], created[key], "`{key}` differs");
    }
    assert_eq!(
        got["usage"]["input_tokens"],
        created["usage"]["input_tokens"]
    );
    assert_eq!(output_text(&got), "echo: keep me");
}

#[tokio::test]
async fn delete_then_get_is_404() {
    let Some(env) = env().await else { return };
    let created = env
        .create(json!({"model":"support-agent","input":"delete me"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let resp = env
        .http
        .delete(env.api(&format!("/v1/responses/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"id": id, "object":"response", "deleted": true})
    );
    let e = error_of(env.get(&format!("/v1/responses/{id}")).await, 404).await;
    assert_eq!(
        e,
        json!({"message": format!("Response with id '{id}' not found."), "type":"invalid_request_error","param":null,"code":null})
    );
}

#[tokio::test]
async fn store_false_is_not_retrievable() {
    let Some(env) = env().await else { return };
    let created = env
        .create(json!({"model":"echo-agent","input":"forget me","store":false}))
        .await;
    assert_eq!(created["store"], false);
    assert_eq!(output_text(&created), "you said: forget me");
    let id = created["id"].as_str().unwrap();
    let e = error_of(env.get(&format!("/v1/responses/{id}")).await, 404).await;
    assert_eq!(e["message"], format!("Response with id '{id}' not found."));
}

#[tokio::test]
async fn streaming_text_turn() {
    let Some(env) = env().await else { return };
    let events = stream(
        &env,
        json!({"model":"echo-agent","input":"stream me please","stream":true}),
    )
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[0], "response.created");
    assert_eq!(types[1], "response.in_progress");
    assert_eq!(*types.last().unwrap(), "response.completed");
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, "you said: stream me please");
    let id = &events[0]["response"]["id"];
    assert!(id.as_str().unwrap().starts_with("resp_"));
    for e in events.iter().filter(|e| e.get("response").is_some()) {
        assert_eq!(&e["response"]["id"], id, "one id across lifecycle events");
        assert_eq!(e["response"]["model"], "echo-agent");
    }
    let done = events.last().unwrap();
    assert_eq!(output_text(&done["response"]), "you said: stream me please");
    assert!(done["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0);

    // The streamed response was stored under the id the stream announced, and chains.
    let got: Value = env
        .get(&format!("/v1/responses/{}", id.as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["output"], done["response"]["output"]);
    let next = env
        .create(json!({"model":"echo-agent","input":"and then","previous_response_id":id}))
        .await;
    assert_eq!(output_text(&next), "you said: and then");
    assert!(input_tokens(&next) > input_tokens(&done["response"]));
}

/// A tool the agent runs inside Mastra is shown as a tool the server ran: one `mcp_call` item
/// (its own argument and status events), then the answer, so that no client tries to run it.
#[tokio::test]
async fn streaming_tool_turn() {
    let Some(env) = env().await else { return };
    let events = stream(
        &env,
        json!({"model":"support-agent","input":"CALL_TOOL Oslo","stream":true}),
    )
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[0], "response.created");
    assert_eq!(*types.last().unwrap(), "response.completed");

    let added: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
        .collect();
    assert_eq!(added.len(), 2, "{types:?}");
    for (i, a) in added.iter().enumerate() {
        assert_eq!(a["output_index"], json!(i), "dense output_index");
    }
    let mcp = &added[0]["item"];
    assert_eq!(mcp["type"], "mcp_call");
    assert_eq!(mcp["name"], "get_weather");
    assert_eq!(mcp["server_label"], "support-agent");
    assert_eq!(mcp["status"], "in_progress");
    let mcp_id = mcp["id"].as_str().unwrap();
    assert!(mcp_id.starts_with("mcp_"), "{mcp_id}");
    let arg_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("response.mcp_call"))
        .collect();
    assert!(!arg_events.is_empty());
    for e in &arg_events {
        assert_eq!(e["item_id"], mcp_id, "the call's events point at its item");
    }
    let args_done = events
        .iter()
        .find(|e| e["type"] == "response.mcp_call_arguments.done")
        .unwrap();
    let args: Value = serde_json::from_str(args_done["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city":"Oslo"}));
    assert!(types.contains(&"response.mcp_call.completed"), "{types:?}");
    assert!(
        !types.iter().any(|t| t.contains("function_call")),
        "{types:?}"
    );
    assert_eq!(added[1]["item"]["type"], "message");

    let done = &events.last().unwrap()["response"];
    assert_eq!(done["status"], "completed");
    let output = done["output"].as_array().unwrap();
    let kinds: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["mcp_call", "message"]);
    assert_eq!(output[0]["id"], mcp_id);
    assert_eq!(output[0]["status"], "completed");
    assert_eq!(output[0]["error"], Value::Null);
    let result: Value = serde_json::from_str(output[0]["output"].as_str().unwrap()).unwrap();
    assert_eq!(result["city"], "Oslo");
    let text = output_text(done);
    assert!(text.starts_with("tool get_weather returned: "), "{text}");
    assert!(text.contains("Oslo"), "{text}");
    // What the accumulators rely on: each `output_item.done` item is the final output item at
    // its index, with the id announced by `output_item.added`.
    for e in events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
    {
        let i = e["output_index"].as_u64().unwrap() as usize;
        assert_eq!(
            e["item"], output[i],
            "output_item.done {i} == completed output[{i}]"
        );
        assert_eq!(added[i]["item"]["id"], output[i]["id"]);
    }
}

#[tokio::test]
async fn tool_turn_non_streaming_and_retrieved() {
    let Some(env) = env().await else { return };
    let r = env
        .create(json!({"model":"support-agent","input":"CALL_TOOL Lima"}))
        .await;
    let output = r["output"].as_array().unwrap();
    let kinds: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["mcp_call", "message"]);
    assert_eq!(output[0]["arguments"], r#"{"city":"Lima"}"#);
    assert!(output[0]["output"].as_str().unwrap().contains("Lima"));
    for item in output {
        assert!(
            item["status"].is_string(),
            "every item has a status: {item}"
        );
    }
    assert!(output_text(&r).starts_with("tool get_weather returned: "));

    let got: Value = env
        .get(&format!("/v1/responses/{}", r["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["output"], r["output"],
        "retrieve shows the same items and ids"
    );
}

#[tokio::test]
async fn json_schema_output() {
    let Some(env) = env().await else { return };
    let format = json!({
        "type": "json_schema",
        "name": "echo_object",
        "strict": true,
        "schema": {
            "type": "object",
            "properties": {"echo": {"type": "string"}},
            "required": ["echo"],
            "additionalProperties": false,
        },
    });
    let r = env
        .create(
            json!({"model":"support-agent","input":"structured please","text":{"format":format}}),
        )
        .await;
    let text = output_text(&r);
    let parsed: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("output is JSON ({e}): {text}"));
    assert_eq!(parsed["echo"], "structured please");
    assert_eq!(r["text"]["format"]["type"], "json_schema");
    assert_eq!(r["text"]["format"]["name"], "echo_object");
}

#[tokio::test]
async fn models_and_readiness() {
    let Some(env) = env().await else { return };
    let resp = env.get("/v1/models").await;
    assert_eq!(resp.status().as_u16(), 200);
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
    for m in list["data"].as_array().unwrap() {
        assert_eq!(m["object"], "model");
        assert!(m["created"].is_u64());
        assert!(m["owned_by"].is_string());
    }
    let resp = env.get("/v1/models/echo-agent").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], "echo-agent");

    let ready = env
        .http
        .get(format!("http://{}/readyz", env.gw.admin_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status":"ready","upstreams":{"default":"ready"}})
    );
}
