//! The turn engine against the REAL Mastra fixture (`MASTRA_URL`): what a request sets reaches
//! the model (the mock model's `ECHO_OPTIONS` answers with the options it received, and
//! `/__mock/calls` lists every call, abort and end), a turn cut by `max_output_tokens` or by
//! the client comes back `incomplete`, a disconnect aborts the model, a mid-stream failure is a
//! clean `response.failed`, reasoning becomes reasoning items, and `previous_response_id`
//! forks as OpenAI's does.
//!
//! Without `MASTRA_URL` every test prints that it was skipped and passes; tests/run-all.sh
//! always sets it.

mod fixture_support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use fixture_support::{env, input_tokens, output_text, parse_sse, stream, Env};

fn tag() -> String {
    format!("t{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

/// What the mock model received, from its `ECHO_OPTIONS` answer.
fn seen_options(r: &Value) -> Value {
    let text = output_text(r);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ECHO_OPTIONS answer {text}: {e}"))
}

/// The mock model's log of calls, aborts and ends whose user text contains `needle`.
async fn model_log(env: &Env, needle: &str) -> Vec<Value> {
    let v: Value = env
        .http
        .get(format!("{}/__mock/calls", env.mastra))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["user"].as_str().is_some_and(|u| u.contains(needle)))
        .cloned()
        .collect()
}

#[tokio::test]
async fn settings_reach_the_model() {
    let Some(env) = env().await else { return };
    // Nothing set: the model sees Mastra's defaults and the agent's own prompt and tools.
    let plain = env
        .create(json!({"model":"support-agent","input":"ECHO_OPTIONS"}))
        .await;
    let seen = seen_options(&plain);
    assert_eq!(seen["maxOutputTokens"], Value::Null, "{seen}");
    assert_eq!(seen["temperature"], Value::Null, "{seen}");
    assert_eq!(seen["toolChoice"], json!({"type":"auto"}), "{seen}");
    assert_eq!(
        seen["tools"],
        json!(["get_weather", "failing_tool"]),
        "{seen}"
    );
    assert_eq!(
        seen["system"],
        json!(["You are a helpful support agent."]),
        "{seen}"
    );

    // Every setting set: each reaches the model, and the response echoes it.
    let set = env
        .create(json!({
            "model": "support-agent", "input": "ECHO_OPTIONS",
            "max_output_tokens": 400, "temperature": 0.3, "top_p": 0.8,
            "instructions": "Be terse.", "tool_choice": "none", "parallel_tool_calls": false
        }))
        .await;
    let seen = seen_options(&set);
    assert_eq!(seen["maxOutputTokens"], 400, "{seen}");
    assert_eq!(seen["temperature"], 0.3, "{seen}");
    assert_eq!(seen["topP"], 0.8, "{seen}");
    // instructions replace the agent's prompt for the turn, as OpenAI's do for the model's.
    assert_eq!(seen["system"], json!(["Be terse."]), "{seen}");
    assert_eq!(seen["toolChoice"], json!({"type":"none"}), "{seen}");
    assert_eq!(
        seen["providerOptions"]["openai"]["parallelToolCalls"], false,
        "{seen}"
    );
    for (k, v) in [
        ("max_output_tokens", json!(400)),
        ("temperature", json!(0.3)),
        ("top_p", json!(0.8)),
        ("instructions", json!("Be terse.")),
        ("tool_choice", json!("none")),
        ("parallel_tool_calls", json!(false)),
    ] {
        assert_eq!(set[k], v, "{k} echoed");
    }

    let required = env
        .create(json!({"model":"support-agent","input":"ECHO_OPTIONS","tool_choice":"required"}))
        .await;
    assert_eq!(
        seen_options(&required)["toolChoice"],
        json!({"type":"required"})
    );

    // Streaming runs on the same route with the same settings.
    let events = stream(
        &env,
        json!({"model":"support-agent","input":"ECHO_OPTIONS","stream":true,"temperature":1.5}),
    )
    .await;
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    assert_eq!(seen_options(&done["response"])["temperature"], 1.5);
}

#[tokio::test]
async fn text_format_json_schema_reaches_the_model() {
    let Some(env) = env().await else { return };
    let schema = json!({"type":"object","properties":{"echo":{"type":"string"}},
                        "required":["echo"],"additionalProperties":false});
    let r = env
        .create(json!({"model":"support-agent","input":"format me",
            "text":{"format":{"type":"json_schema","name":"echoed","schema":schema,"strict":true}}}))
        .await;
    let log = model_log(&env, "format me").await;
    let call = log
        .iter()
        .rev()
        .find(|c| c["ev"] == "call")
        .expect("the model was called");
    // Mastra passes the schema on as the model's JSON response format.
    let format = &call["options"]["responseFormat"];
    let system = call["options"]["system"].to_string();
    assert!(
        format["type"] == "json" || system.contains("echo"),
        "schema reached the model: {call}"
    );
    let parsed: Value = serde_json::from_str(&output_text(&r)).unwrap();
    assert_eq!(parsed, json!({"echo":"format me"}));
    assert_eq!(r["text"]["format"]["type"], "json_schema");
}

#[tokio::test]
async fn max_output_tokens_cuts_the_turn_incomplete() {
    let Some(env) = env().await else { return };
    let r = env
        .create(json!({"model":"support-agent","input":"WORDS 40","max_output_tokens":16}))
        .await;
    assert_eq!(r["status"], "incomplete", "{r}");
    assert_eq!(
        r["incomplete_details"],
        json!({"reason":"max_output_tokens"})
    );
    assert_eq!(output_text(&r).split_whitespace().count(), 16);
    assert_eq!(r["usage"]["output_tokens"], 16);
    assert_eq!(r["output"][0]["status"], "incomplete");
    // Stored as it was shown.
    let id = r["id"].as_str().unwrap();
    let again: Value = env
        .get(&format!("/v1/responses/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "incomplete");
    assert_eq!(again["incomplete_details"], r["incomplete_details"]);

    // Streamed: the terminal event is response.incomplete, instead of response.completed.
    let events = stream(
        &env,
        json!({"model":"support-agent","input":"WORDS 40","max_output_tokens":16,"stream":true}),
    )
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.last(), Some(&"response.incomplete"), "{types:?}");
    assert!(!types.contains(&"response.completed"));
    let last = &events.last().unwrap()["response"];
    assert_eq!(last["status"], "incomplete");
    assert_eq!(
        last["incomplete_details"],
        json!({"reason":"max_output_tokens"})
    );
    let item_done = events
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .unwrap();
    assert_eq!(item_done["item"]["status"], "incomplete");
}

#[tokio::test]
async fn reasoning_becomes_reasoning_items() {
    let Some(env) = env().await else { return };
    let r = env
        .create(json!({"model":"support-agent","input":"REASON please"}))
        .await;
    let types: Vec<&str> = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["reasoning", "message"], "{r}");
    let reasoning = &r["output"][0];
    assert!(reasoning["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(
        reasoning["summary"],
        json!([{"type":"summary_text","text":"thinking about it"}])
    );
    assert_eq!(output_text(&r), "echo: REASON please");
    assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 3);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 1);
    let id = r["id"].as_str().unwrap();
    let again: Value = env
        .get(&format!("/v1/responses/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["output"], r["output"]);
    assert_eq!(again["usage"], r["usage"]);

    let events = stream(
        &env,
        json!({"model":"support-agent","input":"REASON please","stream":true}),
    )
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let want = [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
    ];
    assert_eq!(&types[2..2 + want.len()], want, "{types:?}");
    assert_eq!(events[4]["delta"], "thinking about it");
}

#[tokio::test]
async fn mid_stream_failure_is_a_clean_response_failed() {
    let Some(env) = env().await else { return };
    for input in ["MIDSTREAM_ERROR", "THROW_ERROR"] {
        let events = stream(
            &env,
            json!({"model":"support-agent","input":input,"stream":true}),
        )
        .await;
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.failed", "{input}: {last}");
        let error = &last["response"]["error"];
        assert_eq!(error["code"], "server_error");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("mock"), "{input}: {message}");
        // Mastra's error chunk carries a stack trace with the server's file paths: never shown.
        for leak in ["/node_modules/", "    at ", ".mjs", ".js:"] {
            assert!(!message.contains(leak), "{input}: {message}");
        }
        assert!(!events.iter().any(|e| e["type"] == "response.completed"));

        // Without streaming: a 5xx OpenAI error envelope, with the same clean message.
        let resp = env
            .create_raw(json!({"model":"support-agent","input":input}))
            .await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert!(status >= 500, "{input}: {status} {body}");
        let m = body["error"]["message"].as_str().unwrap();
        assert!(m.contains("mock") && !m.contains("    at "), "{m}");
    }
}

#[tokio::test]
async fn a_tool_that_fails_inside_mastra_is_a_failed_mcp_call() {
    let Some(env) = env().await else { return };
    let r = env
        .create(json!({"model":"support-agent","input":"CALL_FAILING_TOOL"}))
        .await;
    let call = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "mcp_call")
        .unwrap_or_else(|| panic!("an mcp_call item: {r}"))
        .clone();
    assert_eq!(call["name"], "failing_tool");
    assert_eq!(call["status"], "failed", "{call}");
    assert_eq!(call["output"], Value::Null);
    assert!(call["error"].to_string().contains("failing"), "{call}");
    let events = stream(
        &env,
        json!({"model":"support-agent","input":"CALL_FAILING_TOOL","stream":true}),
    )
    .await;
    assert!(events
        .iter()
        .any(|e| e["type"] == "response.mcp_call.failed"));
}

/// Reads a stream until `n` text deltas arrived, then drops the connection.
async fn read_then_drop(env: &Env, body: Value, n: usize) -> Value {
    let resp = env.create_raw(body).await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut bytes = resp.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while text.matches("response.output_text.delta\",").count() < n {
        assert!(Instant::now() < deadline, "deltas in time: {text}");
        let chunk = bytes.next().await.expect("more stream").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(bytes);
    let cut = text.rfind("\n\n").unwrap();
    let events = parse_sse(&text[..cut + 2]);
    events[0]["response"].clone()
}

#[tokio::test]
async fn a_disconnect_aborts_the_model_and_the_cut_turn_reads_incomplete() {
    let Some(env) = env().await else { return };
    let conv = env.new_conversation().await;
    let word = tag();
    let input = format!("SLOW 200 40 {word}");
    let created = read_then_drop(
        &env,
        json!({"model":"support-agent","input":input,"stream":true,"conversation":conv}),
        3,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();

    // The model saw the abort: the run stopped long before its 200 words.
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = model_log(&env, &word).await;
        if log
            .iter()
            .any(|c| c["ev"] == "aborted" || c["ev"] == "cancelled" || c["ev"] == "stopped")
        {
            break log;
        }
        assert!(Instant::now() < deadline, "the model saw no abort: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !log.iter().any(|c| c["ev"] == "complete"),
        "the run went on to its end: {log:?}"
    );

    // The cut turn is shown incomplete, under the id the client was given, in the response
    // and in the conversation's items; never completed.
    let deadline = Instant::now() + Duration::from_secs(5);
    let again = loop {
        let resp = env.get(&format!("/v1/responses/{id}")).await;
        if resp.status().as_u16() == 200 {
            let v: Value = resp.json().await.unwrap();
            if v["status"] == "incomplete" {
                break v;
            }
            assert_ne!(v["status"], "completed", "{v}");
        }
        assert!(
            Instant::now() < deadline,
            "the cut turn reads back incomplete"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let partial = output_text(&again);
    assert!(partial.starts_with("w0 w1"), "{partial}");
    assert!(partial.split_whitespace().count() < 200, "{partial}");
    // The partial answer is moved to that id (saved there, then Mastra's copy deleted): once
    // moved, the conversation holds it once.
    let deadline = Instant::now() + Duration::from_secs(5);
    let answers = loop {
        let items: Value = env
            .get(&format!("/v1/conversations/{conv}/items?order=asc"))
            .await
            .json()
            .await
            .unwrap();
        let answers: Vec<Value> = items["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["role"] == "assistant")
            .cloned()
            .collect();
        if answers.len() == 1 {
            break answers;
        }
        assert!(
            Instant::now() < deadline,
            "the partial answer once: {items}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(answers[0]["status"], "incomplete", "{answers:?}");
    assert_eq!(answers[0]["id"], again["output"][0]["id"]);
}

#[tokio::test]
async fn previous_response_id_forks_like_openai() {
    let Some(env) = env().await else { return };
    let word = tag();
    let root = env
        .create(json!({"model":"support-agent","input":format!("root {word}")}))
        .await;
    let root_id = root["id"].as_str().unwrap();
    let a = env
        .create(json!({"model":"support-agent","input":"branch a","previous_response_id":root_id}))
        .await;
    let b = env
        .create(json!({"model":"support-agent","input":"branch b","previous_response_id":root_id}))
        .await;
    // Both branches see the root turn and nothing else.
    assert_eq!(input_tokens(&a), input_tokens(&root) + 2);
    assert_eq!(input_tokens(&b), input_tokens(&a), "b does not see a");
    // Each branch goes on by itself: a's next turn sees a, not b; b's sees b, not a.
    let a2 = env
        .create(
            json!({"model":"support-agent","input":"ECHO_OPTIONS","previous_response_id":a["id"]}),
        )
        .await;
    let b2 = env
        .create(
            json!({"model":"support-agent","input":"ECHO_OPTIONS","previous_response_id":b["id"]}),
        )
        .await;
    assert_eq!(input_tokens(&a2), input_tokens(&a) + 2);
    assert_eq!(input_tokens(&b2), input_tokens(&b) + 2);
    let roles = json!(["system", "user", "assistant", "user", "assistant", "user"]);
    assert_eq!(seen_options(&a2)["roles"], roles);
    assert_eq!(seen_options(&b2)["roles"], roles);
    // The stored messages: each branch's thread holds its own turns only.
    for (resp, mine, other) in [(&a2, "branch a", "branch b"), (&b2, "branch b", "branch a")] {
        let text = thread_text(&env, resp).await;
        assert!(text.contains(&format!("root {word}")), "{text}");
        assert!(text.contains(mine), "{text}");
        assert!(!text.contains(other), "{text}");
    }
    // Continuing the newest response of a thread does not fork: a2 follows a in a's thread.
    assert_eq!(thread_of(&env, &a2).await, thread_of(&env, &a).await);
    assert_ne!(thread_of(&env, &b).await, thread_of(&env, &a).await);
}

/// The Mastra thread a stored response lives in, from Mastra's own record of it.
async fn thread_of(env: &Env, resp: &Value) -> String {
    let id = mastra_gateway::translate::ids::response_id_to_mastra(resp["id"].as_str().unwrap());
    let v = env
        .mastra(reqwest::Method::GET, &format!("/v1/responses/{id}"), None)
        .await;
    v["conversation_id"]
        .as_str()
        .unwrap_or_else(|| panic!("mastra's record names the thread: {v}"))
        .to_string()
}

/// The text of every message of the response's thread, from Mastra's memory API.
async fn thread_text(env: &Env, resp: &Value) -> String {
    let thread = thread_of(env, resp).await;
    let v = env
        .mastra(
            reqwest::Method::GET,
            &format!("/memory/threads/{thread}/messages?agentId=support-agent&perPage=100"),
            None,
        )
        .await;
    v["messages"].to_string()
}
