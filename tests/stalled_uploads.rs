//! Slow and stalled request bodies, and secrets in logs (issue 14), against the gateway binary
//! (a real process: its RSS is what a pod's memory limit sees, its log lines what an operator
//! reads).
//!
//! - Uploads that send their headers, most of a large body and then stall (or trickle) are
//!   answered 408 in OpenAI's envelope after `server.body_read_timeout`, and their connection
//!   closes; while they hang, normal requests keep their latency, and the gateway's memory
//!   grows by no more than `server.max_buffered_body_bytes` + 64 KiB per connection.
//! - An upstream URL with credentials: no log line carries them.

mod ops_support;

use std::time::{Duration, Instant};

use ops_support::{client, happy, FakeMastra, GatewayProcess};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const BUDGET_MIB: u64 = 8;

fn config(upstream: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
max_body_bytes = 4194304
body_read_timeout = "3s"
max_buffered_body_bytes = {budget}
shutdown_grace = "1s"

[upstream]
url = "{upstream}"

[logging]
format = "json"
level = "info"
"#,
        budget = BUDGET_MIB * 1024 * 1024
    )
}

/// An upload that declares 4 MiB, sends `sent` bytes of it, then sends nothing more. Returns
/// what the gateway answered (the raw HTTP text) and how long after the headers it came.
async fn stalled_upload(addr: std::net::SocketAddr, sent: usize) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        4 * 1024 * 1024
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = s.into_split();
    // Write in the background: once the gateway stops reading (no room), the kernel's buffers
    // fill and the write blocks, as a real client's would.
    let writer = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        let mut left = sent;
        while left > 0 {
            let n = left.min(chunk.len());
            if wr.write_all(&chunk[..n]).await.is_err() {
                return;
            }
            left -= n;
        }
        // Stall: keep the connection open without sending more.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(wr);
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut answer)).await;
    writer.abort();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_uploads_get_408_and_starve_nobody() {
    let fake = FakeMastra::start(happy).await;
    let gw = GatewayProcess::spawn(&config(&fake.url), &[]);
    let addr = gw.addr;
    // Warm up (connection pools, the agent list) and take the baseline.
    let normal = || async {
        let t = Instant::now();
        let resp = client()
            .post(gw.api("/v1/responses"))
            .json(&json!({"model": "support-agent", "input": "hi"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        t.elapsed()
    };
    for _ in 0..5 {
        normal().await;
    }
    let before = rss_kib(gw.pid());

    // 25 uploads of almost 4 MiB each (the probe's ~95 MB), and 5 that trickle a few bytes.
    let mut uploads = Vec::new();
    for _ in 0..25 {
        uploads.push(tokio::spawn(stalled_upload(addr, 4 * 1024 * 1024 - 1024)));
    }
    for _ in 0..5 {
        uploads.push(tokio::spawn(stalled_upload(addr, 10)));
    }
    // While they hang: normal requests, and the peak RSS.
    let mut peak = before;
    let mut worst = Duration::ZERO;
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        worst = worst.max(normal().await);
        peak = peak.max(rss_kib(gw.pid()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut answers = Vec::new();
    for u in uploads {
        answers.push(u.await.unwrap());
    }
    peak = peak.max(rss_kib(gw.pid()));

    assert!(
        worst < Duration::from_millis(500),
        "normal requests kept their latency while uploads stalled (worst {worst:?})"
    );
    // The bound: the shared room, 64 KiB for each of the 30 connections, and 16 MiB of
    // slack for allocator and runtime noise. Without the room, 25 × 4 MiB = 100 MiB.
    let bound_kib = (BUDGET_MIB * 1024) + 30 * 64 + 16 * 1024;
    assert!(
        peak.saturating_sub(before) < bound_kib,
        "RSS grew by {} KiB (from {before} to {peak} KiB), more than the stated bound of {bound_kib} KiB",
        peak - before
    );
    for (text, after) in &answers {
        assert!(
            text.starts_with("HTTP/1.1 408"),
            "a stalled upload is answered 408: {text:?}"
        );
        assert!(
            *after >= Duration::from_millis(2900) && *after < Duration::from_secs(10),
            "at body_read_timeout: {after:?}"
        );
        let lower = text.to_ascii_lowercase();
        assert!(lower.contains("connection: close"), "{text}");
        assert!(lower.contains("x-request-id: req_"), "{text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        assert_eq!(v["error"]["code"], "request_timeout");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server.body_read_timeout"));
    }
    // The agent ran only for the normal requests, never for a stalled upload.
    assert!(fake
        .creates()
        .iter()
        .all(|c| ops_support::turn_input(c) == "hi"));
}

/// With credentials in the upstream URL, no log line (startup, failures, readiness, the
/// config check) shows them.
#[tokio::test]
async fn credentials_never_reach_the_logs() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let upstream = format!("http://gwuser:s3cr3t-pw@127.0.0.1:{port}");
    let gw = GatewayProcess::spawn(
        &config(&upstream).replace("level = \"info\"", "level = \"debug\""),
        &[],
    );
    for _ in 0..3 {
        let _ = client()
            .post(gw.api("/v1/responses"))
            .json(&json!({"model": "support-agent", "input": "hi"}))
            .send()
            .await
            .unwrap();
    }
    let _ = client().get(gw.admin_url("/readyz")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = gw.logs().join("\n");
    assert!(
        logs.contains("unreachable"),
        "the failures were logged: {logs}"
    );
    assert!(!logs.contains("s3cr3t-pw"), "{logs}");
    assert!(!logs.contains("gwuser"), "{logs}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mastra-gateway"))
        .arg("--config")
        .arg(&gw.config_path)
        .arg("check-config")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("s3cr3t-pw") && !text.contains("gwuser"),
        "{text}"
    );
    assert!(text.contains("***@127.0.0.1"), "{text}");
}
