//! Observability with the gateway in-process: the metrics (agent label, gateway overhead, time
//! to first token); the client's W3C trace headers reach Mastra when no exporter is configured.
//! (Log lines: tests/logs.rs.)

mod ops_support;

use std::time::Duration;

use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;
use ops_support::{client, happy, parse_sse, sample, slow_stream, FakeMastra};
use serde_json::{json, Value};

/// Metrics are process-wide: tests reading them run one at a time.
static METRICS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn gateway(upstream: &str, stream_idle_timeout: &str) -> Gateway {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[upstream]
url = "{upstream}"
response_timeout = "5s"
stream_idle_timeout = "{stream_idle_timeout}"

[models.aliases]
"gpt-4o" = "support-agent"
"#
    );
    Gateway::start(from_toml_str(&toml).expect("valid test config"))
        .await
        .expect("gateway starts")
}

async fn post(gw: &Gateway, body: Value, request_id: &str) -> reqwest::Response {
    client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .header("x-request-id", request_id)
        .json(&body)
        .send()
        .await
        .unwrap()
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

#[tokio::test]
async fn metrics_label_agents_and_measure_overhead_and_first_token() {
    let _lock = METRICS.lock().await;
    // The upstream takes 300 ms to answer a plain request (support-agent), and 100 ms before
    // the first event of a stream (echo-agent), 60 ms between events; the time to the first
    // token includes both the headers and the first delta.
    let fake = FakeMastra::start(|seen| {
        if seen.path.contains("/echo-agent/") {
            slow_stream(Duration::from_millis(100), Duration::from_millis(60))
        } else {
            slow_stream(Duration::from_millis(300), Duration::ZERO)
        }
    })
    .await;
    let gw = gateway(&fake.url, "5s").await;
    let before = metrics(&gw).await;

    // Through an alias: the label is the agent it resolved to.
    let resp = post(&gw, json!({"model": "gpt-4o", "input": "hi"}), "req-m-1").await;
    assert_eq!(resp.status().as_u16(), 200);
    let resp = post(
        &gw,
        json!({"model": "echo-agent", "input": "hi", "stream": true}),
        "req-m-2",
    )
    .await;
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    // An unknown model never becomes a label.
    let resp = post(
        &gw,
        json!({"model": "no-such-model-xyz", "input": "hi"}),
        "req-m-3",
    )
    .await;
    assert_eq!(resp.status().as_u16(), 404);

    let after = metrics(&gw).await;
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        delta(
            r#"mastra_gateway_requests_total{route="responses.create",status="200",agent="support-agent"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        delta(
            r#"mastra_gateway_requests_total{route="responses.create",status="200",agent="echo-agent"}"#
        ),
        1.0
    );
    assert_eq!(
        delta(
            r#"mastra_gateway_requests_total{route="responses.create",status="404",agent="unknown"}"#
        ),
        1.0
    );
    assert!(
        !after.contains("no-such-model-xyz"),
        "no raw model names as labels"
    );
    assert!(!after.contains("gpt-4o"), "aliases are not labels");

    // Overhead = duration − time waiting on the upstream: the 300 ms the upstream took before
    // its events (a non-streaming request waits for them) are not overhead. The upstream
    // duration histogram times each call to its response headers.
    let route = r#"{route="responses.create"}"#;
    let total = delta(&format!(
        "mastra_gateway_request_duration_seconds_sum{route}"
    ));
    let upstream = delta(&format!(
        "mastra_gateway_upstream_duration_seconds_sum{route}"
    ));
    let overhead = delta(&format!("mastra_gateway_overhead_seconds_sum{route}"));
    assert_eq!(
        delta(&format!("mastra_gateway_overhead_seconds_count{route}")),
        3.0
    );
    assert!(upstream > 0.0 && upstream < 0.25, "upstream {upstream}");
    assert!(
        total - overhead >= 0.3,
        "waiting {} of total {total}",
        total - overhead
    );
    assert!(overhead < 0.25, "overhead {overhead} of total {total}");
    assert!(after.contains(
        r#"mastra_gateway_overhead_seconds_bucket{route="responses.create",le="0.005"}"#
    ));

    // Time to first token of the stream: at least the 100 ms before the upstream's first
    // event, and one observation.
    let ttft_count =
        delta(r#"mastra_gateway_stream_first_token_seconds_count{agent="echo-agent"}"#);
    let ttft_sum = delta(r#"mastra_gateway_stream_first_token_seconds_sum{agent="echo-agent"}"#);
    assert_eq!(ttft_count, 1.0, "{after}");
    assert!((0.1..2.0).contains(&ttft_sum), "{ttft_sum}");
    // The first delta is the 5th upstream event (60 ms apart): later than the headers.
    assert!(ttft_sum >= 0.1 + 3.0 * 0.06, "{ttft_sum}");
}

#[tokio::test]
async fn client_trace_headers_reach_mastra_unchanged_without_an_exporter() {
    let _lock = METRICS.lock().await;
    let fake = FakeMastra::start(happy).await;
    let gw = gateway(&fake.url, "5s").await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let resp = client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .header("traceparent", traceparent)
        .header("tracestate", "vendor=abc")
        .json(&json!({"model": "support-agent", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let create = fake.creates().pop().unwrap();
    assert_eq!(create.headers["traceparent"], traceparent);
    assert_eq!(create.headers["tracestate"], "vendor=abc");
    // Without a client trace, nothing is invented.
    let resp = post(
        &gw,
        json!({"model": "support-agent", "input": "hi"}),
        "req-t",
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let create = fake.creates().pop().unwrap();
    assert!(!create.headers.contains_key("traceparent"));
}
