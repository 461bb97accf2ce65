//! Limits and timeouts of the client side (header-read timeout against slow-loris clients,
//! the connection cap), of the upstream side (connect timeout) and the total request deadline
//! (`server.request_timeout`), with the gateway in-process.
//!
//! Covered elsewhere (tests/faults.rs): the body limit (413), the time to the first upstream
//! byte (`upstream.response_timeout`, 504) and the idle time between stream events
//! (`upstream.stream_idle_timeout`, `response.failed`).

mod ops_support;

use std::time::{Duration, Instant};

use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;
use ops_support::{client, parse_sse, slow_stream, FakeMastra, Reply};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn gateway(upstream: &str, extra_server: &str, extra_upstream: &str) -> Gateway {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"
{extra_server}

[upstream]
url = "{upstream}"
response_timeout = "5s"
stream_idle_timeout = "5s"
probe_timeout = "1s"
{extra_upstream}

[logging]
level = "warn"
"#
    );
    Gateway::start(from_toml_str(&toml).expect("valid test config"))
        .await
        .expect("gateway starts")
}

/// Reads until the peer closes the connection (EOF or reset); returns what was read and how
/// long after `started` the connection ended, or `None` if it was still open `limit` after it.
async fn closed_within(
    conn: &mut TcpStream,
    started: Instant,
    limit: Duration,
) -> Option<(Vec<u8>, Duration)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((got, started.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slow_loris_clients_are_cut_off_at_the_header_read_timeout() {
    // No upstream is needed: unknown routes are answered by the gateway itself.
    let gw = gateway("http://127.0.0.1:9", r#"header_read_timeout = "400ms""#, "").await;
    let limit = Duration::from_secs(3);

    let started = Instant::now();
    // 1. Connects and sends nothing.
    let mut silent = TcpStream::connect(gw.addr).await.unwrap();
    // 2. Starts an HTTP/1.1 request and trickles its headers, one byte every 50 ms.
    let mut trickle = TcpStream::connect(gw.addr).await.unwrap();
    trickle
        .write_all(b"GET /v1/nope HTTP/1.1\r\n")
        .await
        .unwrap();
    let trickler = tokio::spawn(async move {
        let started = Instant::now();
        for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if trickle.write_all(&[*b]).await.is_err() {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    });
    // 3. Sends half of the HTTP/2 preface and stops (the protocol is never settled).
    let mut half_h2 = TcpStream::connect(gw.addr).await.unwrap();
    half_h2.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();

    let (_, t) = closed_within(&mut silent, started, limit)
        .await
        .expect("a silent connection is closed");
    assert!(
        t >= Duration::from_millis(300),
        "not before the timeout: {t:?}"
    );
    let (_, t) = closed_within(&mut half_h2, started, limit)
        .await
        .expect("a half-sent h2 preface is closed");
    assert!(t >= Duration::from_millis(300), "{t:?}");
    let cut_after = tokio::time::timeout(limit, trickler)
        .await
        .expect("trickler finishes")
        .unwrap()
        .expect("the trickling client is cut off before it could finish its headers");
    assert!(cut_after < Duration::from_secs(2), "{cut_after:?}");

    // A normal client is served, and its idle keep-alive connection closes after the timeout.
    let mut normal = TcpStream::connect(gw.addr).await.unwrap();
    let connected = Instant::now();
    normal
        .write_all(b"GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(limit, normal.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        std::str::from_utf8(&buf[..n])
            .unwrap()
            .starts_with("HTTP/1.1 404"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let served = Instant::now();
    assert!(served - connected < Duration::from_millis(300));
    let (_, t) = closed_within(&mut normal, served, limit)
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(t >= Duration::from_millis(300), "{t:?}");
}

#[tokio::test]
async fn max_connections_caps_the_connections_served_at_once() {
    let gw = gateway(
        "http://127.0.0.1:9",
        "max_connections = 2\nheader_read_timeout = \"10s\"",
        "",
    )
    .await;
    let request = b"GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = [0u8; 4096];
    // Two keep-alive connections, each served once and kept open.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(gw.addr).await.unwrap();
        c.write_all(request).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(3), c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 404"));
        held.push(c);
    }
    // A third connection waits in the accept queue: its request is not answered...
    let mut third = TcpStream::connect(gw.addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "the third connection must not be served yet"
    );
    // ...until one of the two closes.
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(3), third.read(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 404"));
}

#[tokio::test]
async fn upstream_connect_timeout_is_enforced() {
    // A listener whose accept queue is full and never drained: further connection attempts
    // get no answer (the kernel drops their SYNs), so connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let blackhole = socket.listen(1).unwrap();
    let addr = blackhole.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let gw = gateway(
        &format!("http://{addr}"),
        "",
        "connect_timeout = \"300ms\"\nget_retries = 0",
    )
    .await;
    let started = Instant::now();
    let resp = client()
        .get(format!("http://{}/v1/models", gw.addr))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout", "{body}");
    // After the connect timeout (300 ms), far before response_timeout (5 s).
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?} {body}"
    );
    drop(fillers);
}

#[tokio::test]
async fn request_timeout_answers_504_for_a_slow_request() {
    let fake = FakeMastra::start(|_| {
        Reply::Json(
            200,
            serde_json::from_str(ops_support::RESPONSE_TEXT).unwrap(),
            Duration::from_secs(3),
        )
    })
    .await;
    let gw = gateway(&fake.url, r#"request_timeout = "600ms""#, "").await;
    let started = Instant::now();
    let resp = client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .json(&json!({"model": "support-agent", "input": "hi"}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status().as_u16(), 504);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert_eq!(body["error"]["type"], "server_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server.request_timeout"),
        "{body}"
    );
    // Cut at the deadline, not at upstream.response_timeout (5s).
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[tokio::test]
async fn request_timeout_ends_a_long_stream_with_response_failed() {
    // Events keep coming (so the idle timeout never fires), but the whole stream would take
    // about 5 s; the deadline is 1 s.
    let fake = FakeMastra::start(|_| slow_stream(Duration::ZERO, Duration::from_millis(400))).await;
    let gw = gateway(&fake.url, r#"request_timeout = "1s""#, "").await;
    let started = Instant::now();
    let resp = client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .json(&json!({"model": "echo-agent", "input": "hi", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    let took = started.elapsed();
    let events = parse_sse(&text);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed", "{text}");
    assert!(
        last["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server.request_timeout"),
        "{last}"
    );
    assert!(
        events.len() > 2,
        "some events were relayed before the deadline"
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], json!(i));
    }
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
