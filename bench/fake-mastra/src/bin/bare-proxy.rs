//! The benchmark's "(d) bare hyper proxy" reference: the least a hyper 1 + hyper-util reverse
//! proxy can do per request (no parsing, no translation, no logging, no metrics). It maps
//! `/v1/…` to the upstream's `/api/v1/…` and relays bodies frame by frame, on a multi-thread
//! tokio runtime like the gateway's. Like the gateway, it serves HTTP/1.1 and h2c on one port
//! (hyper-util's `auto` builder) and speaks HTTP/1.1 to the upstream. What the gateway costs
//! above it is the gateway's own work; what this costs above nginx is the price of the stack.
//!
//! With `--buffer` it reads each request body whole before forwarding it, and each non-SSE
//! answer whole before relaying it, as any proxy that parses JSON both ways must: the floor of
//! a translating gateway (reading a body inside hyper's server task wakes that task, a cost
//! frame-by-frame relaying does not pay).
//!
//! With `--reqwest` it forwards through a `reqwest` client set up as the gateway's (no
//! redirects, no proxy, `TCP_NODELAY`), reading request bodies and non-SSE answers whole: the
//! floor of a translating gateway on this project's chosen stack, where the upstream client
//! is reqwest.
//!
//!     bare-proxy --port 8081 --upstream 127.0.0.1:4111 [--threads N] [--buffer | --reqwest]

use std::net::SocketAddr;

use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<bytes::Bytes, BoxError>;

struct Args {
    port: u16,
    upstream: String,
    threads: Option<usize>,
    buffer: bool,
    reqwest: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 8081,
        upstream: "127.0.0.1:4111".into(),
        threads: None,
        buffer: false,
        reqwest: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--upstream" => args.upstream = value()?,
            "--threads" => {
                args.threads = Some(value()?.parse().map_err(|e| format!("--threads: {e}"))?)
            }
            "--buffer" => args.buffer = true,
            "--reqwest" => args.reqwest = true,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

async fn proxy(
    client: Client<HttpConnector, Body>,
    upstream: &'static str,
    buffer: bool,
    req: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let (mut parts, body) = req.into_parts();
    parts.version = hyper::Version::HTTP_11;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let path = match path.strip_prefix("/v1/") {
        Some(rest) => format!("/api/v1/{rest}"),
        None => path.to_string(),
    };
    parts.uri = match format!("http://{upstream}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return Ok(status(400)),
    };
    let body = if buffer {
        full(body.collect().await?.to_bytes())
    } else {
        body.map_err(BoxError::from).boxed()
    };
    let resp = match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => resp,
        Err(_) => return Ok(status(502)),
    };
    let streamed = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"));
    if buffer && !streamed {
        let (parts, body) = resp.into_parts();
        return Ok(Response::from_parts(
            parts,
            full(body.collect().await?.to_bytes()),
        ));
    }
    Ok(resp.map(|b| b.map_err(BoxError::from).boxed()))
}

/// The same hop through reqwest: what the chosen upstream client costs by itself. Like the
/// gateway, it parses the upstream's URL once and sets each request's path on a clone.
async fn proxy_reqwest(
    client: reqwest::Client,
    base: &'static reqwest::Url,
    req: Request<Incoming>,
) -> Result<Response<Body>, BoxError> {
    let (parts, body) = req.into_parts();
    let mut url = base.clone();
    match parts.uri.path().strip_prefix("/v1/") {
        Some(rest) => url.set_path(&format!("/api/v1/{rest}")),
        None => url.set_path(parts.uri.path()),
    }
    url.set_query(parts.uri.query());
    let body = body.collect().await?.to_bytes();
    let mut upstream_req = client.request(parts.method, url).body(body);
    if let Some(ct) = parts.headers.get(hyper::header::CONTENT_TYPE) {
        upstream_req = upstream_req.header(hyper::header::CONTENT_TYPE, ct);
    }
    let resp = match upstream_req.send().await {
        Ok(resp) => resp,
        Err(_) => return Ok(status(502)),
    };
    let mut out = Response::builder().status(resp.status());
    let content_type = resp.headers().get(hyper::header::CONTENT_TYPE);
    let streamed = content_type.is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"));
    if let Some(ct) = content_type {
        out = out.header(hyper::header::CONTENT_TYPE, ct);
    }
    let body = if streamed {
        let frames = resp
            .bytes_stream()
            .map(|chunk| chunk.map(hyper::body::Frame::data).map_err(BoxError::from));
        BodyExt::boxed(http_body_util::StreamBody::new(frames))
    } else {
        full(resp.bytes().await?)
    };
    Ok(out.body(body)?)
}

/// The client and the parsed upstream base URL of `--reqwest` (built once, at start).
fn reqwest_hop(upstream: &str) -> std::io::Result<(reqwest::Client, &'static reqwest::Url)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(std::io::Error::other)?;
    let base: reqwest::Url = format!("http://{upstream}/")
        .parse()
        .map_err(|e| std::io::Error::other(format!("--upstream {upstream}: {e}")))?;
    Ok((client, Box::leak(Box::new(base))))
}

fn full(bytes: bytes::Bytes) -> Body {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed()
}

fn status(code: u16) -> Response<Body> {
    let mut resp = Response::new(
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or_default();
    resp
}

async fn serve(args: Args) -> std::io::Result<()> {
    let upstream: &'static str = Box::leak(args.upstream.into_boxed_str());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector);
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = TcpListener::bind(addr).await?;
    let buffer = args.buffer;
    let via_reqwest = if args.reqwest {
        Some(reqwest_hop(upstream)?)
    } else {
        None
    };
    let mode = match (&via_reqwest, buffer) {
        (Some(_), _) => " (through reqwest)",
        (None, true) => " (buffering bodies)",
        (None, false) => "",
    };
    println!("bare-proxy listening on http://{addr} -> http://{upstream}{mode}");
    let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let via_reqwest = via_reqwest.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let _ = match via_reqwest {
                Some((rq, base)) => {
                    let service = service_fn(move |req| proxy_reqwest(rq.clone(), base, req));
                    http.serve_connection(io, service).await
                }
                None => {
                    let service =
                        service_fn(move |req| proxy(client.clone(), upstream, buffer, req));
                    http.serve_connection(io, service).await
                }
            };
        });
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bare-proxy: {e}");
            std::process::exit(2);
        }
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bare-proxy: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(serve(args)) {
        eprintln!("bare-proxy: {e}");
        std::process::exit(1);
    }
}
