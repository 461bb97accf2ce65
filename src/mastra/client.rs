//! The upstream HTTP client: one pooled keep-alive reqwest client per Mastra server, with the
//! timeouts of `[upstream]`, upstream-duration metrics, and transport errors turned into
//! OpenAI-shaped 502/504 answers that name the upstream.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::config::UpstreamConfig;
use crate::error::ApiError;
use crate::telemetry;
use crate::translate::errors::upstream_error;

/// Characters escaped in one path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[derive(Clone)]
pub struct MastraClient {
    http: reqwest::Client,
    name: String,
    /// Base URL with the `/api` prefix, no trailing slash.
    api_base: String,
    response_timeout: Duration,
    probe_timeout: Duration,
}

/// A complete upstream answer (2xx only; errors are already translated).
pub struct UpstreamReply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl MastraClient {
    pub fn new(cfg: &UpstreamConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .tcp_nodelay(true)
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            name: cfg.name.clone(),
            api_base: format!("{}/api", cfg.url.as_str().trim_end_matches('/')),
            response_timeout: cfg.response_timeout,
            probe_timeout: cfg.probe_timeout,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base)
    }

    fn request(&self, method: Method, path: &str, request_id: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("x-request-id", request_id)
    }

    fn transport_error(&self, e: &reqwest::Error, after: Duration) -> ApiError {
        if e.is_timeout() {
            ApiError::upstream_timeout(&self.name, after)
        } else {
            ApiError::upstream_unreachable(&self.name, &self.api_base, error_chain(e))
        }
    }

    /// A non-streaming call: the whole answer within `response_timeout`. Non-2xx answers come
    /// back as translated [`ApiError`]s.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        json_body: Option<Vec<u8>>,
        request_id: &str,
        route: &'static str,
    ) -> Result<UpstreamReply, ApiError> {
        let started = Instant::now();
        let mut req = self.request(method, path, request_id);
        if let Some(body) = json_body {
            req = req.header("content-type", "application/json").body(body);
        }
        let timeout = self.response_timeout;
        let result = tokio::time::timeout(timeout, async {
            let resp = req.send().await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        })
        .await;
        telemetry::record_upstream(route, started.elapsed());
        let (status, body) = match result {
            Err(_) => return Err(ApiError::upstream_timeout(&self.name, timeout)),
            Ok(Err(e)) => return Err(self.transport_error(&e, timeout)),
            Ok(Ok(pair)) => pair,
        };
        if !status.is_success() {
            return Err(upstream_error(&self.name, status, &body));
        }
        Ok(UpstreamReply { status, body })
    }

    /// Opens a streaming call: returns once 2xx headers arrived (within `response_timeout`).
    /// A non-2xx answer is read and translated, so the client still gets a JSON error.
    pub async fn open_stream(
        &self,
        path: &str,
        json_body: Vec<u8>,
        request_id: &str,
        route: &'static str,
    ) -> Result<reqwest::Response, ApiError> {
        let started = Instant::now();
        let req = self
            .request(Method::POST, path, request_id)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(json_body);
        let timeout = self.response_timeout;
        let result = tokio::time::timeout(timeout, req.send()).await;
        telemetry::record_upstream(route, started.elapsed());
        let resp = match result {
            Err(_) => return Err(ApiError::upstream_timeout(&self.name, timeout)),
            Ok(Err(e)) => return Err(self.transport_error(&e, timeout)),
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if !status.is_success() {
            let body = tokio::time::timeout(timeout, resp.bytes())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            return Err(upstream_error(&self.name, status, &body));
        }
        let is_sse = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if !is_sse {
            return Err(ApiError::upstream_invalid(
                &self.name,
                "a streaming request was not answered with text/event-stream",
            ));
        }
        Ok(resp)
    }

    /// Readiness: the upstream answers, and it has the `/api/v1/responses` routes (Mastra ≥ 1.21
    /// answers an unknown response id with a JSON 404; an older server has no such route and
    /// answers a plain-text 404).
    pub async fn probe(&self) -> Result<(), String> {
        let agents = self
            .http
            .get(self.url("/agents"))
            .timeout(self.probe_timeout)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "upstream '{}' ({}) is unreachable: {}",
                    self.name,
                    self.api_base,
                    error_chain(&e)
                )
            })?;
        if !agents.status().is_success() {
            return Err(format!(
                "upstream '{}' answered GET /api/agents with HTTP {}",
                self.name,
                agents.status().as_u16()
            ));
        }
        let probe = self
            .http
            .get(self.url("/v1/responses/msg_mastra-gateway-readiness-probe"))
            .timeout(self.probe_timeout)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "upstream '{}' ({}) is unreachable: {}",
                    self.name,
                    self.api_base,
                    error_chain(&e)
                )
            })?;
        let json = probe
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        if probe.status() == StatusCode::NOT_FOUND && !json {
            return Err(format!(
                "upstream '{}' has no /api/v1/responses routes (needs @mastra/server >= 1.21)",
                self.name
            ));
        }
        Ok(())
    }
}

/// `reqwest` hides the useful part (connection refused, …) in the source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
