//! Shared by the operations tests (limits, observability, signals, otel): a small scriptable
//! fake Mastra, a fake OTLP collector, and the gateway binary run as a child process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub const AGENTS: &str = include_str!("../data/mastra_agents.json");
pub const RESPONSE_TEXT: &str = include_str!("../data/mastra_response_text.json");
/// A text turn of Mastra's native stream route (`POST /api/agents/:id/stream`), recorded from
/// the fixture.
pub const STREAM_TEXT: &str = include_str!("../data/native_stream_text.sse");
/// The id of the recorded turn's response, as the gateway shows it.
pub const STREAM_TEXT_ID: &str = "resp_631cdace381c4fd58999db6deee0fe4c";

// ------------------------------------------------------------------------------ fake Mastra

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
pub enum Reply {
    /// Status and JSON body, after a delay.
    Json(u16, Value, Duration),
    /// An SSE answer: `first` before the first event, `interval` between events; then the
    /// body ends, or (`stall`) stays open sending nothing.
    Sse {
        events: Vec<Bytes>,
        first: Duration,
        interval: Duration,
        stall: bool,
    },
}

type Script = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

pub struct FakeMastra {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

enum FakeBody {
    Full(Option<Bytes>),
    Chan(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for FakeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            FakeBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            FakeBody::Chan(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }
}

/// The recorded stream's events, one `Bytes` per event.
pub fn sse_events(raw: &str) -> Vec<Bytes> {
    raw.split_inclusive("\n\n")
        .map(|e| Bytes::copy_from_slice(e.as_bytes()))
        .collect()
}

/// The recorded text stream, `interval` between events.
pub fn slow_stream(first: Duration, interval: Duration) -> Reply {
    Reply::Sse {
        events: sse_events(STREAM_TEXT),
        first,
        interval,
        stall: false,
    }
}

/// Mastra's happy answer to a turn: the recorded stream, at once (the gateway runs streaming
/// and non-streaming requests alike on the native stream route).
pub fn happy(_seen: &Seen) -> Reply {
    slow_stream(Duration::ZERO, Duration::ZERO)
}

/// Whether a request the fake saw runs a turn (`POST /api/agents/:id/stream`).
pub fn is_turn(seen: &Seen) -> bool {
    seen.method == "POST" && seen.path.starts_with("/api/agents/") && seen.path.ends_with("/stream")
}

/// The text of the first input message of a turn the fake saw.
pub fn turn_input(seen: &Seen) -> &str {
    seen.body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
}

impl FakeMastra {
    /// Serves `GET /api/agents` (the recorded list), JSON 404s for unknown `/api/v1/…` ids
    /// (the readiness probe), turns (`POST /api/agents/:id/stream`) as `script` says, and
    /// stores what the gateway saves (`POST /api/memory/save-messages`: echoed back).
    pub async fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FakeMastra {
        let script: Script = Arc::new(script);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (script, log) = (script.clone(), log.clone());
                let service = service_fn(move |req: Request<Incoming>| {
                    let (script, log) = (script.clone(), log.clone());
                    async move { Ok::<_, std::convert::Infallible>(answer(req, script, log).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeMastra {
            url: format!("http://{addr}"),
            seen,
        }
    }

    /// The turns (`POST /api/agents/:id/stream`) received so far.
    pub fn creates(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| is_turn(r))
            .cloned()
            .collect()
    }
}

async fn answer(
    req: Request<Incoming>,
    script: Script,
    log: Arc<Mutex<Vec<Seen>>>,
) -> Response<FakeBody> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let raw = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let seen = Seen {
        method,
        path,
        headers,
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
    };
    log.lock().unwrap().push(seen.clone());
    let reply = match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/api/agents") => {
            Reply::Json(200, serde_json::from_str(AGENTS).unwrap(), Duration::ZERO)
        }
        _ if is_turn(&seen) => script(&seen),
        ("POST", "/api/memory/save-messages") => Reply::Json(
            200,
            json!({"messages": seen.body["messages"]}),
            Duration::ZERO,
        ),
        _ => Reply::Json(404, json!({"error": "not found"}), Duration::ZERO),
    };
    let (status, ctype, body) = match reply {
        Reply::Json(status, v, delay) => {
            tokio::time::sleep(delay).await;
            (
                status,
                "application/json",
                FakeBody::Full(Some(v.to_string().into())),
            )
        }
        Reply::Sse {
            events,
            first,
            interval,
            stall,
        } => {
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(async move {
                tokio::time::sleep(first).await;
                for (i, e) in events.into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(interval).await;
                    }
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
                if stall {
                    tx.closed().await;
                }
            });
            (200, "text/event-stream; charset=utf-8", FakeBody::Chan(rx))
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", ctype.parse().unwrap());
    resp
}

// --------------------------------------------------------------------------- fake collector

/// Accepts `POST /v1/traces` (OTLP/HTTP protobuf) and keeps each body.
pub struct FakeCollector {
    pub url: String,
    pub exports: Arc<Mutex<Vec<(String, Bytes)>>>,
}

impl FakeCollector {
    pub async fn start() -> FakeCollector {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let exports = Arc::new(Mutex::new(Vec::new()));
        let log = exports.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let ok = req.method() == "POST" && req.uri().path() == "/v1/traces";
                        let ctype = req
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let body = req.into_body().collect().await.map(|c| c.to_bytes());
                        let mut resp = Response::new(http_body_util::Full::new(Bytes::new()));
                        if ok {
                            log.lock().unwrap().push((ctype, body.unwrap_or_default()));
                            resp.headers_mut()
                                .insert("content-type", "application/x-protobuf".parse().unwrap());
                        } else {
                            *resp.status_mut() = hyper::StatusCode::NOT_FOUND;
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeCollector {
            url: format!("http://{addr}"),
            exports,
        }
    }

    /// True once an export contains `needle` (e.g. a trace id's 16 bytes).
    pub fn received(&self, needle: &[u8]) -> bool {
        self.exports
            .lock()
            .unwrap()
            .iter()
            .any(|(_, body)| body.windows(needle.len()).any(|w| w == needle))
    }
}

// ----------------------------------------------------------------------- the gateway binary

/// The gateway binary, run with a config file in a temporary directory and JSON logs on
/// stdout (collected line by line).
pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub config_path: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
}

impl GatewayProcess {
    /// Starts the binary on `config` (TOML; listen on 127.0.0.1:0 and log as JSON at info) and
    /// waits for its "listening" line.
    pub fn spawn(config: &str, envs: &[(&str, &str)]) -> GatewayProcess {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mastra-gateway-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mastra-gateway"));
        cmd.arg("--config")
            .arg(&config_path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, _) in std::env::vars() {
            if k.starts_with("MASTRA_GATEWAY__") || k.starts_with("OTEL_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the gateway binary starts");
        let stdout = child.stdout.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut gw = GatewayProcess {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            admin: "0.0.0.0:0".parse().unwrap(),
            config_path,
            logs,
            dir,
        };
        let line = gw
            .wait_log("mastra-gateway listening", Duration::from_secs(30))
            .unwrap_or_else(|| panic!("no 'listening' line; logs: {:#?}", gw.logs()));
        let v: Value = serde_json::from_str(&line).expect("JSON log line");
        gw.addr = v["listen"].as_str().unwrap().parse().unwrap();
        gw.admin = v["admin"].as_str().unwrap().parse().unwrap();
        gw
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        // The shell's own `kill`: no dependency on a kill binary.
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -s {name} {}", self.pid()))
            .status()
            .expect("sh runs");
        assert!(status.success(), "kill -s {name}");
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The first log line containing `needle`, waiting up to `limit` for it (blocking).
    pub fn wait_log(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.logs().into_iter().find(|l| l.contains(needle)) {
                return Some(l);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`wait_log`](Self::wait_log), without blocking the async runtime.
    pub async fn wait_log_async(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.logs().into_iter().find(|l| l.contains(needle)) {
                return Some(l);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The exit status, waiting up to `limit` for the process to end.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------- clients

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Parses an OpenAI SSE body into its events' data objects.
pub fn parse_sse(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("no data line in {block:?}"));
            serde_json::from_str(data).unwrap()
        })
        .collect()
}

/// The value of the Prometheus sample whose name-and-labels part is exactly `series` (0 when
/// absent).
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
        .unwrap_or(0.0)
}
