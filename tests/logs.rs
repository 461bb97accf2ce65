//! Log lines carry the request id, in JSON (`span.request_id`) and in text
//! (`request_id=…`), including the lines a stream logs while hyper polls its body, after the
//! handler returned. The gateway's own formatter (`telemetry::log_layer`) writes into a buffer.
//!
//! One test in its own binary: the subscriber is scoped to the test's thread, and tracing's
//! per-callsite interest is shared by every thread of the process.

mod ops_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mastra_gateway::config::{from_toml_str, LogFormat};
use mastra_gateway::http::server::Gateway;
use mastra_gateway::telemetry;
use ops_support::{client, happy, parse_sse, FakeMastra, Reply};
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

async fn gateway(upstream: &str) -> Gateway {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[upstream]
url = "{upstream}"
stream_idle_timeout = "300ms"

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

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Serves one plain request and one stream that goes idle (its warning and its end are logged
/// while hyper polls the body, after the handler returned), with the gateway's own formatter
/// capturing what is logged on this thread (the test runtime is single-threaded, so the
/// gateway's tasks log here too).
async fn serve_and_capture(format: LogFormat) -> String {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(
        telemetry::log_layer(format, captured.clone(), false)
            .with_filter(tracing_subscriber::EnvFilter::new("mastra_gateway=info")),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = FakeMastra::start(|seen| {
        if seen.path.contains("/echo-agent/") {
            Reply::Sse {
                events: ops_support::sse_events(ops_support::STREAM_TEXT)[..3].to_vec(),
                first: Duration::ZERO,
                interval: Duration::ZERO,
                stall: true,
            }
        } else {
            happy(seen)
        }
    })
    .await;
    let gw = gateway(&fake.url).await;
    let resp = post(
        &gw,
        json!({"model": "gpt-4o", "input": "hi"}),
        "req-logs-plain",
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let resp = post(
        &gw,
        json!({"model": "echo-agent", "input": "hi", "stream": true}),
        "req-logs-stream",
    )
    .await;
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "response.failed");
    // Let the connection task finish logging.
    tokio::time::sleep(Duration::from_millis(50)).await;
    captured.text()
}

fn check_json(text: &str) {
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request_id_of = |message: &str, id: &str| {
        lines
            .iter()
            .filter(|l| l["message"] == message)
            .any(|l| l["span"]["request_id"] == id)
    };
    assert!(request_id_of("answered", "req-logs-plain"), "{text}");
    assert!(request_id_of("answered", "req-logs-stream"), "{text}");
    // Logged while the stream body is polled, long after the handler returned.
    assert!(
        request_id_of("upstream stream idle", "req-logs-stream"),
        "{text}"
    );
    assert!(request_id_of("stream ended", "req-logs-stream"), "{text}");
    // Every line logged while serving is inside the request span.
    for l in &lines {
        if matches!(
            l["message"].as_str(),
            Some("answered" | "upstream stream idle" | "stream ended")
        ) {
            assert!(l["span"]["request_id"].is_string(), "{l}");
            assert_eq!(l["span"]["route"], "responses.create", "{l}");
        }
    }
    let answered = lines
        .iter()
        .find(|l| l["message"] == "answered" && l["span"]["request_id"] == "req-logs-plain")
        .unwrap();
    assert_eq!(answered["status"], 200);
    assert_eq!(answered["level"], "INFO");
    assert!(answered["timestamp"].is_string());
}

fn check_text(text: &str) {
    let has = |needle: &str, id: &str| {
        text.lines()
            .any(|l| l.contains(needle) && l.contains(&format!("request_id={id}")))
    };
    assert!(has("answered", "req-logs-plain"), "{text}");
    assert!(has("upstream stream idle", "req-logs-stream"), "{text}");
    assert!(has("stream ended", "req-logs-stream"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when not on a terminal"
    );
}

#[test]
fn log_lines_carry_the_request_id() {
    for format in [LogFormat::Json, LogFormat::Text] {
        // The gateway's tasks run on this thread, where the subscriber is installed.
        let text = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(serve_and_capture(format));
        match format {
            LogFormat::Json => check_json(&text),
            LogFormat::Text => check_text(&text),
        }
    }
}
