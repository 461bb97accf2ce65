//! The benchmark's "(d) bare hyper proxy" reference: the least a hyper 1 + hyper-util reverse
//! proxy can do per request (no parsing, no translation, no logging, no metrics). With
//! `--agent ID` it maps `/v1/responses` to Mastra's native agent route
//! `/api/agents/ID/stream`, the upstream call the gateway makes for every turn (other `/v1/…`
//! paths to `/api/v1/…`); without it, `/v1/…` to the upstream's `/api/v1/…` (the route older
//! gateway builds wrapped); any other path is passed unchanged. It relays bodies frame by
//! frame, on a multi-thread tokio runtime like the gateway's. Like the gateway, it serves HTTP/1.1 and h2c on one port
//! (hyper-util's `auto` builder) and speaks HTTP/1.1 to the upstream. What the gateway costs
//! above it is the gateway's own work; what this costs above nginx is the price of the stack.
//!
//! With `--buffer` it reads each request body whole before forwarding it, and each answer the
//! client is to get whole (anything but SSE, and an SSE answer to a request that did not ask
//! for a stream: no `"stream":true` in its body, as Mastra's native route always streams)
//! before relaying it, as any proxy that parses JSON both ways must: the floor of a
//! translating gateway (reading a body inside hyper's server task wakes that task, a cost
//! frame-by-frame relaying does not pay).
//!
//! With `--reqwest` it forwards through a `reqwest` client set up as the gateway's (no
//! redirects, no proxy, `TCP_NODELAY`), reading request bodies and those answers whole the
//! same way: the floor of a translating gateway on this project's chosen stack, where the
//! upstream client is reqwest.
//!
//!     bare-proxy --port 8081 --upstream 127.0.0.1:4111 [--agent ID] [--threads N]
//!                [--buffer | --reqwest]

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
    /// `/v1/responses` goes to `/api/agents/<agent>/stream`.
    agent: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 8081,
        upstream: "127.0.0.1:4111".into(),
        threads: None,
        buffer: false,
        reqwest: false,
        agent: None,
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
            "--agent" => args.agent = Some(value()?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// The upstream path for a client's path (without the query): see the module doc.
fn upstream_path(path: &str, agent: Option<&str>) -> String {
    match (path, agent) {
        ("/v1/responses", Some(agent)) => format!("/api/agents/{agent}/stream"),
        _ => match path.strip_prefix("/v1/") {
            Some(rest) => format!("/api/v1/{rest}"),
            None => path.to_string(),
        },
    }
}

/// Whether the client asked for a stream (`"stream":true` in its JSON body): a byte search,
/// no parsing.
fn wants_stream(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"stream\":true";
    body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

fn is_sse(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(hyper::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"))
}

async fn proxy(
    client: Client<HttpConnector, Body>,
    upstream: &'static str,
    agent: Option<&'static str>,
    buffer: bool,
    req: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let (mut parts, body) = req.into_parts();
    parts.version = hyper::Version::HTTP_11;
    let mut path = upstream_path(parts.uri.path(), agent);
    if let Some(q) = parts.uri.query() {
        path.push('?');
        path.push_str(q);
    }
    parts.uri = match format!("http://{upstream}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return Ok(status(400)),
    };
    let mut stream_wanted = true;
    let body = if buffer {
        let bytes = body.collect().await?.to_bytes();
        stream_wanted = wants_stream(&bytes);
        full(bytes)
    } else {
        body.map_err(BoxError::from).boxed()
    };
    let resp = match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => resp,
        Err(_) => return Ok(status(502)),
    };
    let streamed = is_sse(resp.headers()) && stream_wanted;
    if buffer && !streamed {
        let (mut parts, body) = resp.into_parts();
        // Relayed whole: its length is known (the upstream may have sent it chunked).
        parts.headers.remove(hyper::header::TRANSFER_ENCODING);
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
    agent: Option<&'static str>,
    req: Request<Incoming>,
) -> Result<Response<Body>, BoxError> {
    let (parts, body) = req.into_parts();
    let mut url = base.clone();
    url.set_path(&upstream_path(parts.uri.path(), agent));
    url.set_query(parts.uri.query());
    let body = body.collect().await?.to_bytes();
    let stream_wanted = wants_stream(&body);
    let mut upstream_req = client.request(parts.method, url).body(body);
    if let Some(ct) = parts.headers.get(hyper::header::CONTENT_TYPE) {
        upstream_req = upstream_req.header(hyper::header::CONTENT_TYPE, ct);
    }
    let resp = match upstream_req.send().await {
        Ok(resp) => resp,
        Err(_) => return Ok(status(502)),
    };
    let mut out = Response::builder().status(resp.status());
    let streamed = is_sse(resp.headers()) && stream_wanted;
    if let Some(ct) = resp.headers().get(hyper::header::CONTENT_TYPE) {
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
    let agent: Option<&'static str> = args.agent.map(|a| &*Box::leak(a.into_boxed_str()));
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
    let route = match agent {
        Some(a) => format!(", /v1/responses -> /api/agents/{a}/stream"),
        None => ", /v1/... -> /api/v1/...".into(),
    };
    println!("bare-proxy listening on http://{addr} -> http://{upstream}{mode}{route}");
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
                    let service =
                        service_fn(move |req| proxy_reqwest(rq.clone(), base, agent, req));
                    http.serve_connection(io, service).await
                }
                None => {
                    let service =
                        service_fn(move |req| proxy(client.clone(), upstream, agent, buffer, req));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_as_the_gateways() {
        let native = Some("support-agent");
        assert_eq!(
            upstream_path("/v1/responses", native),
            "/api/agents/support-agent/stream"
        );
        assert_eq!(upstream_path("/v1/responses", None), "/api/v1/responses");
        assert_eq!(
            upstream_path("/v1/responses/resp_1", native),
            "/api/v1/responses/resp_1"
        );
        assert_eq!(upstream_path("/api/agents", native), "/api/agents");
        assert!(wants_stream(br#"{"input":"x","stream":true}"#));
        assert!(!wants_stream(br#"{"input":"x","stream":false}"#));
        assert!(!wants_stream(br#"{"input":"x"}"#));
    }
}
