//! The upstream HTTP client: one pooled keep-alive reqwest client per Mastra server, with the
//! timeouts of `[upstream]`, upstream-duration metrics, and transport errors turned into
//! OpenAI-shaped 502/504 answers that name the upstream.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use http::HeaderValue;

use crate::config::{UpstreamConfig, UpstreamSpec};
use crate::error::ApiError;
use crate::telemetry;
use crate::translate::errors::upstream_error;

#[derive(Clone)]
pub struct MastraClient {
    http: reqwest::Client,
    name: String,
    /// Base URL with the `/api` prefix, no trailing slash. Each call's URL is a clone with its
    /// path set, which spares parsing the scheme and host (IDNA included) on every request.
    api_base: reqwest::Url,
    response_timeout: Duration,
    probe_timeout: Duration,
    connect_timeout: Duration,
    forward_authorization: bool,
    get_retries: u32,
    retry_backoff: Duration,
    failure_threshold: u32,
    health: Arc<Health>,
}

tokio::task_local! {
    /// The client's `Authorization` header, visible to upstream calls made while serving its
    /// request (used only with `upstream.forward_authorization`).
    pub static CLIENT_AUTHORIZATION: Option<HeaderValue>;
}

/// Consecutive failures and the down mark of one upstream, shared by its clones.
#[derive(Default)]
struct Health {
    failures: AtomicU32,
    down: AtomicBool,
    /// What the last fault was (client-safe: no URL), for `/readyz`.
    last_fault: std::sync::Mutex<String>,
}

/// A complete upstream answer (2xx only; errors are already translated).
pub struct UpstreamReply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl MastraClient {
    /// The single upstream of `[upstream]`.
    pub fn new(cfg: &UpstreamConfig) -> Result<Self, reqwest::Error> {
        let spec = UpstreamSpec {
            name: cfg.name.clone(),
            url: cfg.url.clone(),
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            agents: vec!["*".into()],
        };
        Self::from_spec(cfg, &spec)
    }

    /// One upstream: its own name, URL and headers, the transport settings of `[upstream]`.
    pub fn from_spec(cfg: &UpstreamConfig, spec: &UpstreamSpec) -> Result<Self, reqwest::Error> {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &spec.headers {
            // Validated with the config; a value that no longer parses is skipped.
            if let (Ok(k), Ok(mut v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                v.set_sensitive(true);
                headers.insert(k, v);
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .tcp_nodelay(true)
            // Mastra's API does not redirect, and a redirected POST would run an agent twice.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .default_headers(headers)
            .build()?;
        let forward_authorization =
            cfg.forward_authorization && !spec.headers.iter().any(|(k, _)| k == "authorization");
        let client = Self {
            http,
            name: spec.name.clone(),
            api_base: {
                let mut url = spec.url.clone();
                url.set_path(&format!("{}/api", spec.url.path().trim_end_matches('/')));
                url.set_query(None);
                url
            },
            response_timeout: cfg.response_timeout,
            probe_timeout: cfg.probe_timeout,
            connect_timeout: cfg.connect_timeout,
            forward_authorization,
            get_retries: cfg.get_retries,
            retry_backoff: cfg.retry_backoff,
            failure_threshold: cfg.failure_threshold,
            health: Arc::new(Health::default()),
        };
        telemetry::record_upstream_up(&client.name, true);
        Ok(client)
    }

    /// False while the upstream is marked down (after `failure_threshold` failures in a row).
    pub fn is_up(&self) -> bool {
        !self.health.down.load(Ordering::Relaxed)
    }

    /// Marks the upstream up again (a health probe succeeded).
    pub fn mark_up(&self) {
        self.health.failures.store(0, Ordering::Relaxed);
        if self.health.down.swap(false, Ordering::Relaxed) {
            tracing::info!(upstream = %self.name, "upstream is back up");
            telemetry::record_upstream_up(&self.name, true);
        }
    }

    /// Counts one call's outcome toward `failure_threshold`: only upstream faults (no answer,
    /// or a 5xx) count; an answer the request itself caused (4xx) is the client's, not the
    /// upstream's, and clears the run of failures like any answer.
    fn record_outcome(&self, fault: Option<&str>) {
        let Some(fault) = fault else {
            self.health.failures.store(0, Ordering::Relaxed);
            return;
        };
        telemetry::record_upstream_fault(&self.name);
        if let Ok(mut last) = self.health.last_fault.lock() {
            fault.clone_into(&mut last);
        }
        let n = self.health.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.failure_threshold && !self.health.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(upstream = %self.name, failures = n, "upstream marked down");
            telemetry::record_upstream_up(&self.name, false);
        }
    }

    /// Consecutive upstream faults counted so far (reset by any answer that is not a fault).
    pub fn consecutive_faults(&self) -> u32 {
        self.health.failures.load(Ordering::Relaxed)
    }

    /// Why the upstream is marked down, for `/readyz`; `None` while it is up.
    pub fn down_reason(&self) -> Option<String> {
        if self.is_up() {
            return None;
        }
        let last = self
            .health
            .last_fault
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        Some(format!(
            "upstream '{}' is marked down after {} consecutive upstream faults (no answer or a 5xx; the last: {last}); requests to it fail fast until a health probe sees it answer",
            self.name,
            self.consecutive_faults()
        ))
    }

    fn down_error(&self) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::error::SERVER_ERROR,
            format!(
                "Upstream Mastra server '{}' is down after repeated failures; the gateway retries it after its next health probe.",
                self.name
            ),
        )
        .with_code("upstream_down")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `path` (`/v1/…`, maybe with `?query`) under the upstream's `/api` base.
    fn endpoint(&self, path: &str) -> reqwest::Url {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = self.api_base.clone();
        let mut full = String::with_capacity(self.api_base.path().len() + path.len());
        full.push_str(self.api_base.path());
        full.push_str(path);
        url.set_path(&full);
        url.set_query(query);
        url
    }

    fn request(&self, method: Method, path: &str, request_id: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, self.endpoint(path))
            .header("x-request-id", request_id)
            .headers(telemetry::trace_headers());
        if self.forward_authorization {
            if let Ok(Some(auth)) = CLIENT_AUTHORIZATION.try_with(Clone::clone) {
                req = req.header(http::header::AUTHORIZATION, auth);
            }
        }
        req
    }

    fn transport_error(&self, e: reqwest::Error, after: Duration) -> ApiError {
        if e.is_connect() && e.is_timeout() {
            ApiError::upstream_timeout(&self.name, self.connect_timeout)
                .with_message_prefix("could not connect: ")
        } else if e.is_timeout() {
            ApiError::upstream_timeout(&self.name, after)
        } else {
            ApiError::upstream_unreachable(&self.name, error_chain(e))
        }
    }

    /// A non-streaming call: the whole answer within `response_timeout`. Non-2xx answers come
    /// back as translated [`ApiError`]s.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        mut json_body: Option<Vec<u8>>,
        request_id: &str,
        route: &'static str,
    ) -> Result<UpstreamReply, ApiError> {
        if !self.is_up() {
            return Err(self.down_error());
        }
        // Only idempotent reads are retried: a retried POST could run an agent twice.
        let attempts = if method == Method::GET {
            1 + self.get_retries
        } else {
            1
        };
        let mut backoff = self.retry_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The body is copied only when another attempt may follow.
            let body = if attempt < attempts {
                json_body.clone()
            } else {
                json_body.take()
            };
            let result = self
                .call_once(method.clone(), path, body, request_id, route)
                .await;
            // Only upstream faults are retried (idempotent reads) and counted: no answer, or a
            // 5xx. A 4xx is the answer to this request, never retried.
            let (fault, retryable) = match &result {
                Ok(_) => (None, false),
                Err(Failure::Transport(e)) => (Some(e.message.as_str()), true),
                Err(Failure::Status(status, e)) => (
                    status.is_server_error().then_some(e.message.as_str()),
                    matches!(status.as_u16(), 502..=504),
                ),
            };
            self.record_outcome(fault);
            if !retryable || attempt >= attempts {
                return result.map_err(Failure::into_error);
            }
            tracing::debug!(upstream = %self.name, path, attempt, "retrying an idempotent upstream call");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    async fn call_once(
        &self,
        method: Method,
        path: &str,
        json_body: Option<Vec<u8>>,
        request_id: &str,
        route: &'static str,
    ) -> Result<UpstreamReply, Failure> {
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
            Err(_) => {
                return Err(Failure::Transport(ApiError::upstream_timeout(
                    &self.name, timeout,
                )))
            }
            Ok(Err(e)) => return Err(Failure::Transport(self.transport_error(e, timeout))),
            Ok(Ok(pair)) => pair,
        };
        if !status.is_success() {
            return Err(Failure::Status(
                status,
                upstream_error(&self.name, status, &body),
            ));
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
        if !self.is_up() {
            return Err(self.down_error());
        }
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
            Err(_) => {
                let e = ApiError::upstream_timeout(&self.name, timeout);
                self.record_outcome(Some(&e.message));
                return Err(e);
            }
            Ok(Err(e)) => {
                let e = self.transport_error(e, timeout);
                self.record_outcome(Some(&e.message));
                return Err(e);
            }
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if !status.is_success() {
            let body = tokio::time::timeout(timeout, resp.bytes())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let e = upstream_error(&self.name, status, &body);
            self.record_outcome(status.is_server_error().then_some(e.message.as_str()));
            return Err(e);
        }
        self.record_outcome(None);
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

    /// One readiness GET (no retries, `probe_timeout`); a transport failure names the upstream.
    async fn probe_get(&self, path: &str) -> Result<reqwest::Response, String> {
        self.http
            .get(self.endpoint(path))
            .timeout(self.probe_timeout)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "upstream '{}' is unreachable: {}",
                    self.name,
                    error_chain(e)
                )
            })
    }

    /// Readiness: the upstream answers, and it has the `/api/v1/responses` routes (Mastra ≥ 1.21
    /// answers an unknown response id with a JSON 404; an older server has no such route and
    /// answers a plain-text 404).
    /// The result feeds the same health state the fast-fail uses: an answer marks the upstream
    /// up, no answer (or a 5xx) counts as a fault toward `failure_threshold`.
    pub async fn probe(&self) -> Result<(), String> {
        let result = self.probe_routes().await;
        match &result {
            Ok(()) => self.mark_up(),
            Err((fault, reason)) => self.record_outcome(fault.then_some(reason.as_str())),
        }
        result.map_err(|(_, reason)| reason)
    }

    /// The readiness checks; an error says whether it was an upstream fault (no answer, 5xx)
    /// or an answer that shows the upstream unfit (an old Mastra, a 4xx).
    async fn probe_routes(&self) -> Result<(), (bool, String)> {
        let agents = self.probe_get("/agents").await.map_err(|e| (true, e))?;
        if !agents.status().is_success() {
            return Err((
                agents.status().is_server_error(),
                format!(
                    "upstream '{}' answered GET /api/agents with HTTP {}",
                    self.name,
                    agents.status().as_u16()
                ),
            ));
        }
        let probe = self
            .probe_get("/v1/responses/msg_mastra-gateway-readiness-probe")
            .await
            .map_err(|e| (true, e))?;
        let json = probe
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        if probe.status() == StatusCode::NOT_FOUND && !json {
            return Err((
                false,
                format!(
                    "upstream '{}' has no /api/v1/responses routes (needs @mastra/server >= 1.21)",
                    self.name
                ),
            ));
        }
        if probe.status().is_server_error() {
            return Err((
                true,
                format!(
                    "upstream '{}' answered its readiness probe with HTTP {}",
                    self.name,
                    probe.status().as_u16()
                ),
            ));
        }
        Ok(())
    }
}

/// How one upstream call failed: no answer (connect error, timeout, broken body), or an answer
/// with a non-2xx status (kept apart from its translation: health and retries go by what the
/// upstream said, not by the status the client will see).
enum Failure {
    Transport(ApiError),
    Status(StatusCode, ApiError),
}

impl Failure {
    fn into_error(self) -> ApiError {
        match self {
            Failure::Transport(e) | Failure::Status(_, e) => e,
        }
    }
}

/// `reqwest` hides the useful part (connection refused, …) in the source chain. The URL is
/// dropped first (it may carry credentials): the upstream is named by its configured name.
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn client(base: &str) -> MastraClient {
        let mut cfg = Config::default().upstream;
        cfg.url = base.parse().expect("a valid test URL");
        MastraClient::new(&cfg).expect("a client")
    }

    /// The pre-parsed base gives exactly the URL that parsing the whole string would.
    #[test]
    fn endpoint_matches_parsing_the_whole_url() {
        for base in [
            "http://127.0.0.1:4111",
            "http://mastra:4111/",
            "https://example.com/prefix/",
            "http://[::1]:4111/a/b",
        ] {
            let c = client(base);
            for path in [
                "/v1/responses",
                "/v1/responses/msg_abc%2Fdef",
                "/memory/threads/conv_1/messages?agentId=a&page=0&perPage=20",
                "/agents",
                "/memory/threads?resourceId=r%20x&orderBy=createdAt",
            ] {
                let whole = format!("{}{path}", c.api_base.as_str());
                let parsed = reqwest::Url::parse(&whole).expect("a valid URL");
                assert_eq!(
                    c.endpoint(path).as_str(),
                    parsed.as_str(),
                    "{base} + {path}"
                );
            }
        }
    }
}
