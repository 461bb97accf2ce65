//! OpenTelemetry traces, with the gateway binary (the exporter is process-wide): spans go to an
//! OTLP/HTTP collector (a fake one accepting `POST /v1/traces`), a client's `traceparent` is
//! continued, and Mastra receives a `traceparent` of the same trace whose parent is the
//! gateway's exported span, so one trace spans client, gateway and Mastra.

mod ops_support;

use std::time::{Duration, Instant};

use ops_support::{client, happy, parse_sse, FakeCollector, FakeMastra, GatewayProcess};
use serde_json::{json, Value};

fn config(upstream: &str, collector: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "2s"

[upstream]
url = "{upstream}"

[logging]
format = "json"
# The request spans (target mastra_gateway::http::router, level info) are not logged at this
# level, yet exported.
level = "mastra_gateway::http::router=warn,mastra_gateway=info"

[telemetry]
otlp_endpoint = "{collector}"
service_name = "gateway-under-test"
"#
    )
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// `00-<trace id>-<parent span id>-<flags>` → (trace id, span id, flags).
fn parse_traceparent(v: &str) -> (String, String, String) {
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!(parts[0], "00");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_and_the_trace_continues_into_mastra() {
    let fake = FakeMastra::start(happy).await;
    let collector = FakeCollector::start().await;
    // Export every 200 ms instead of the SDK's default 5 s.
    let mut gw = GatewayProcess::spawn(
        &config(&fake.url, &collector.url),
        &[("OTEL_BSP_SCHEDULE_DELAY", "200")],
    );
    assert!(gw
        .logs()
        .iter()
        .any(|l| l.contains("exporting traces over OTLP")));

    // 1. The client sends a sampled traceparent: the gateway continues its trace.
    let client_trace = "0af7651916cd43dd8448eb211c80319c";
    let client_span = "b7ad6b7169203331";
    let resp = client()
        .post(gw.api("/v1/responses"))
        .header("traceparent", format!("00-{client_trace}-{client_span}-01"))
        .json(&json!({"model": "support-agent", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let create = fake.creates().pop().unwrap();
    let (trace, parent, flags) = parse_traceparent(create.headers["traceparent"].to_str().unwrap());
    assert_eq!(trace, client_trace, "Mastra sees the client's trace");
    assert_ne!(parent, client_span, "its parent is the gateway's span");
    assert_eq!(flags, "01", "sampled");
    let gateway_span = parent;

    // 2. A stream without a client trace: the gateway starts one and passes it on.
    let resp = client()
        .post(gw.api("/v1/responses"))
        .json(&json!({"model": "echo-agent", "input": "hi", "stream": true}))
        .send()
        .await
        .unwrap();
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let create = fake.creates().pop().unwrap();
    let (new_trace, _, _) = parse_traceparent(create.headers["traceparent"].to_str().unwrap());
    assert_ne!(new_trace, client_trace);
    assert_ne!(new_trace, "0".repeat(32));

    // The collector receives both traces as OTLP protobuf, with the gateway's span (the one
    // Mastra saw as its parent) and the configured service name.
    assert!(
        eventually(Duration::from_secs(10), || {
            collector.received(&hex_bytes(client_trace))
                && collector.received(&hex_bytes(&gateway_span))
                && collector.received(&hex_bytes(&new_trace))
        })
        .await,
        "spans exported; got {} export(s)",
        collector.exports.lock().unwrap().len()
    );
    assert!(collector.received(b"gateway-under-test"));
    assert!(collector.received(b"POST responses.create"), "span name");
    let (ctype, _) = collector.exports.lock().unwrap()[0].clone();
    assert_eq!(ctype, "application/x-protobuf");

    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(10)).await.expect("exits");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_spans_not_yet_exported() {
    let fake = FakeMastra::start(happy).await;
    let collector = FakeCollector::start().await;
    // The batch would wait a minute; SIGTERM must flush it.
    let mut gw = GatewayProcess::spawn(
        &config(&fake.url, &collector.url),
        &[("OTEL_BSP_SCHEDULE_DELAY", "60000")],
    );
    let trace = "11112222333344445555666677778888";
    let resp = client()
        .get(gw.api("/v1/models"))
        .header("traceparent", format!("00-{trace}-1111222233334444-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let _: Value = resp.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!collector.received(&hex_bytes(trace)), "not exported yet");
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(15)).await.expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(collector.received(&hex_bytes(trace)), "flushed at shutdown");
}
