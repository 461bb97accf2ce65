//! The gateway binary under signals, against an in-process fake Mastra that streams slowly:
//! SIGTERM drains (readiness false, new connections refused, open streams complete, exit 0),
//! the grace period bounds the drain, and SIGHUP reloads the config file atomically (a broken
//! file is refused and changes nothing; a valid one takes effect).
#![cfg(unix)]

mod ops_support;

use std::time::{Duration, Instant};

use ops_support::{client, happy, parse_sse, slow_stream, FakeMastra, GatewayProcess, Reply};
use serde_json::{json, Value};

fn config(upstream: &str, grace: &str, aliases: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "{grace}"

[upstream]
url = "{upstream}"
response_timeout = "10s"
stream_idle_timeout = "10s"
probe_timeout = "2s"

[models]
cache_ttl = "1s"

[models.aliases]
{aliases}

[logging]
format = "json"
level = "info"
"#
    )
}

async fn create(gw: &GatewayProcess, body: Value) -> reqwest::Response {
    client()
        .post(gw.api("/v1/responses"))
        .json(&body)
        .send()
        .await
        .expect("the gateway answers")
}

async fn readyz(gw: &GatewayProcess) -> Option<u16> {
    client()
        .get(gw.admin_url("/readyz"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_open_stream_complete_then_exits_0() {
    // 13 events, 250 ms apart: the stream lasts about 3 s.
    let fake = FakeMastra::start(|_| slow_stream(Duration::ZERO, Duration::from_millis(250))).await;
    let mut gw = GatewayProcess::spawn(&config(&fake.url, "20s", ""), &[]);
    assert!(
        eventually(Duration::from_secs(10), || async {
            readyz(&gw).await == Some(200)
        })
        .await,
        "ready before the test"
    );
    let mut resp = create(
        &gw,
        json!({"model": "echo-agent", "input": "stream please", "stream": true}),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut text = String::new();
    let first = resp.chunk().await.unwrap().expect("a first chunk");
    text.push_str(std::str::from_utf8(&first).unwrap());

    gw.signal("TERM");
    let signalled = Instant::now();
    // Readiness turns false while the stream drains (the admin listener still answers).
    assert!(
        eventually(Duration::from_secs(2), || async {
            readyz(&gw).await == Some(503)
        })
        .await,
        "/readyz is 503 during the drain"
    );
    let body: Value = client()
        .get(gw.admin_url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "draining", "{body}");
    // New connections are refused.
    let addr = gw.addr;
    assert!(
        eventually(Duration::from_secs(2), || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await,
        "the API listener is closed"
    );
    // The open stream runs to its end.
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .expect("the stream keeps going during the drain")
        .expect("the stream is not cut")
    {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events = parse_sse(&text);
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], json!(i));
    }
    assert!(
        signalled.elapsed() >= Duration::from_secs(1),
        "the stream outlived the signal"
    );
    let status = gw
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the process exits after the drain");
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert!(gw
        .logs()
        .iter()
        .any(|l| l.contains("all connections drained")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_grace_period_ends_a_stuck_stream_with_response_failed() {
    // The upstream sends the first events, then nothing (but stays connected).
    let fake = FakeMastra::start(|_| Reply::Sse {
        events: ops_support::sse_events(ops_support::STREAM_TEXT)[..5].to_vec(),
        first: Duration::ZERO,
        interval: Duration::ZERO,
        stall: true,
    })
    .await;
    let mut gw = GatewayProcess::spawn(&config(&fake.url, "1s", ""), &[]);
    let mut resp = create(
        &gw,
        json!({"model": "echo-agent", "input": "stream please", "stream": true}),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut text = String::new();
    text.push_str(std::str::from_utf8(&resp.chunk().await.unwrap().unwrap()).unwrap());
    let signalled = Instant::now();
    gw.signal("TERM");
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .expect("the stream ends at the grace period")
        .expect("it ends with an event, not a cut")
    {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events = parse_sse(&text);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed", "{text}");
    assert_eq!(
        last["response"]["error"]["message"],
        "the gateway is shutting down"
    );
    let took = signalled.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let status = gw.wait_exit(Duration::from_secs(5)).await.expect("exits");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_broken_file_keeps_the_old_config() {
    let fake = FakeMastra::start(happy).await;
    let gw = GatewayProcess::spawn(
        &config(&fake.url, "1s", r#""gpt-4o" = "support-agent""#),
        &[],
    );
    let resp = create(&gw, json!({"model": "gpt-4o", "input": "hi"})).await;
    assert_eq!(resp.status().as_u16(), 200);

    // A file that is not TOML, then one that is TOML with an invalid value.
    for (broken, reason) in [
        ("[server\nlisten = ", "not valid TOML"),
        (
            "[server]\nrequest_timeout = \"0s\"\n[models.aliases]\n\"gpt-4o\" = \"echo-agent\"\n",
            "server.request_timeout",
        ),
    ] {
        std::fs::write(&gw.config_path, broken).unwrap();
        let before = gw.logs().len();
        gw.signal("HUP");
        let deadline = Instant::now() + Duration::from_secs(5);
        let line = loop {
            if let Some(l) = gw.logs()[before..]
                .iter()
                .find(|l| l.contains("invalid config refused"))
            {
                break l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no refusal logged: {:#?}",
                gw.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "ERROR");
        assert!(v["error"].as_str().unwrap().contains(reason), "{line}");

        // Still serving, with the old config: the alias resolves as before, the process lives.
        let resp = create(&gw, json!({"model": "gpt-4o", "input": "hi"})).await;
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["model"], "support-agent");
        assert_eq!(readyz(&gw).await, Some(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_valid_file_takes_effect() {
    let fake = FakeMastra::start(happy).await;
    let original = config(&fake.url, "1s", r#""gpt-4o" = "support-agent""#);
    let gw = GatewayProcess::spawn(&original, &[]);
    let resp = create(&gw, json!({"model": "house-model", "input": "hi"})).await;
    assert_eq!(resp.status().as_u16(), 404, "unknown before the reload");

    // The same listeners (they keep their bound ports), a new alias.
    let changed = original.replace(
        r#""gpt-4o" = "support-agent""#,
        "\"gpt-4o\" = \"support-agent\"\n\"house-model\" = \"echo-agent\"",
    );
    std::fs::write(&gw.config_path, changed).unwrap();
    gw.signal("HUP");
    assert!(
        gw.wait_log_async("config reloaded", Duration::from_secs(5))
            .await
            .is_some(),
        "{:#?}",
        gw.logs()
    );
    let resp = create(&gw, json!({"model": "house-model", "input": "hi"})).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["model"], "echo-agent");
    // The old alias still works, and the listeners did not move.
    let resp = create(&gw, json!({"model": "gpt-4o", "input": "hi"})).await;
    assert_eq!(resp.status().as_u16(), 200);
}
