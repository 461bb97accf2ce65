//! Logs, traces and metrics.
//!
//! - **Logs** go through `tracing`: human-readable text by default, one JSON object per line with
//!   `logging.format = "json"`. Every line logged while a request is served (its stream included)
//!   is inside the `request` span, so it carries `request_id` (in JSON: `span.request_id`).
//! - **Traces**: with `telemetry.otlp_endpoint` set, request spans are exported over OTLP/HTTP
//!   (protobuf), a client's W3C `traceparent` is continued, and the gateway's span context is
//!   sent to Mastra ([`trace_headers`]) so one trace spans client, gateway and Mastra. Without
//!   it nothing is exported or computed; a client's `traceparent`/`tracestate` are passed to
//!   Mastra unchanged.
//! - **Metrics**: Prometheus text on the admin listener. Names are stable and labels
//!   low-cardinality: route templates, status codes, agents the upstream lists (at most
//!   [`MAX_AGENT_LABELS`]), never ids.

use std::collections::HashSet;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, LoggingConfig, TelemetryConfig};

pub const REQUESTS_TOTAL: &str = "mastra_gateway_requests_total";
pub const REQUEST_DURATION: &str = "mastra_gateway_request_duration_seconds";
pub const UPSTREAM_DURATION: &str = "mastra_gateway_upstream_duration_seconds";
pub const GATEWAY_OVERHEAD: &str = "mastra_gateway_overhead_seconds";
pub const STREAM_FIRST_TOKEN: &str = "mastra_gateway_stream_first_token_seconds";
pub const OPEN_STREAMS: &str = "mastra_gateway_open_streams";
pub const CACHE_REQUESTS: &str = "mastra_gateway_cache_requests_total";
pub const UPSTREAM_UP: &str = "mastra_gateway_upstream_up";
pub const UPSTREAM_FAULTS: &str = "mastra_gateway_upstream_faults_total";

/// Distinct `agent` label values at most; agents beyond are counted as `unknown`.
pub const MAX_AGENT_LABELS: usize = 256;

/// The `agent` label of requests that no agent served (or not yet known).
pub const UNKNOWN_AGENT: &str = "unknown";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

// ------------------------------------------------------------------------------------- logs

/// A boxed layer over the bare registry (the first layer of the subscriber).
pub type BoxLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The log formatter of `logging.format`, writing to `writer`: text, or JSON with the event's
/// fields flattened and the current span's fields (`request_id`, `method`, `route`) under `span`.
pub fn log_layer<W>(format: LogFormat, writer: W, ansi: bool) -> BoxLayer
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Text => layer.with_ansi(ansi).boxed(),
    }
}

/// `RUST_LOG` when set and valid, else `logging.level`.
pub fn log_filter(cfg: &LoggingConfig) -> EnvFilter {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            EnvFilter::try_new(&cfg.level).unwrap_or_else(|_| EnvFilter::new("info"))
        })
}

/// What [`init`] installed. [`Telemetry::shutdown`] flushes the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// Flushes the log lines still queued for stdout when dropped.
    _log_writer: tracing_appender::non_blocking::WorkerGuard,
}

impl Telemetry {
    /// Exports what is still buffered (bounded by the exporter's timeout). Call it outside the
    /// async runtime: the OTLP exporter's HTTP client is a blocking one.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("mastra-gateway: flushing traces failed: {e}");
            }
        }
    }
}

/// Installs the process-wide logger (and the OTLP trace exporter when configured). Call it
/// once, before the async runtime starts.
pub fn init(logging: &LoggingConfig, telemetry: &TelemetryConfig) -> Telemetry {
    let (provider, otel_error) = match &telemetry.otlp_endpoint {
        Some(endpoint) => match tracer_provider(endpoint, telemetry) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        },
        None => (None, None),
    };
    // Lines are formatted on the request's thread but written to stdout by a thread of their
    // own, so a slow log consumer never stalls a request. When the queue is full, requests wait
    // (no line is dropped).
    let (stdout, log_writer) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    let fmt = log_layer(logging.format, stdout, std::io::stdout().is_terminal())
        .with_filter(log_filter(logging));
    // Spans for export are chosen on their own: `logging.level = "warn"` keeps the request
    // spans (info) out of the logs, not out of the traces.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("mastra-gateway"))
            .with_filter(Targets::new().with_target("mastra_gateway", tracing::Level::INFO))
    });
    let _ = Registry::default().with(fmt).with(otel).try_init();
    if let Some(endpoint) = &telemetry.otlp_endpoint {
        match otel_error {
            None => {
                OTEL_ENABLED.store(true, Ordering::Relaxed);
                tracing::info!(endpoint = %traces_url(endpoint), service = %telemetry.service_name, "exporting traces over OTLP");
            }
            Some(e) => tracing::error!(error = %e, "cannot export traces; continuing without"),
        }
    }
    Telemetry {
        provider,
        _log_writer: log_writer,
    }
}

/// Log lines queued for the writer thread before requests wait for it.
const LOG_QUEUE_LINES: usize = 64 * 1024;

/// The OTLP/HTTP traces URL: the configured base with `/v1/traces`, unless it already ends so.
pub fn traces_url(endpoint: &url::Url) -> String {
    let s = endpoint.as_str().trim_end_matches('/');
    if s.ends_with("/v1/traces") {
        s.to_string()
    } else {
        format!("{s}/v1/traces")
    }
}

fn tracer_provider(
    endpoint: &url::Url,
    cfg: &TelemetryConfig,
) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(cfg.export_timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(cfg.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            cfg.sample_ratio,
        ))))
        .with_resource(resource)
        .build())
}

// ----------------------------------------------------------------------------------- traces

static OTEL_ENABLED: AtomicBool = AtomicBool::new(false);

/// True when request spans are exported (`telemetry.otlp_endpoint` set and the exporter built).
pub fn traces_exported() -> bool {
    OTEL_ENABLED.load(Ordering::Relaxed)
}

const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Makes a request's `span` continue the client's trace (its `traceparent`, if any) and names
/// it for the trace view (`otel.name`, `otel.kind`, declared empty on the span). No-op unless
/// traces are exported.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap, method: &str, route: &str) {
    if !traces_exported() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(parent);
    span.record("otel.name", format!("{method} {route}"));
    span.record("otel.kind", "server");
}

/// Records the answer's status on a request span (`http.response.status_code`, and
/// `otel.status_code = "error"` for 5xx). No-op unless traces are exported.
pub fn finish_span(span: &tracing::Span, status: u16) {
    if !traces_exported() {
        return;
    }
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// The W3C trace headers to send upstream with a call made while serving a request: the
/// gateway's current span context when traces are exported, else the client's own
/// `traceparent`/`tracestate` unchanged (empty outside a request).
pub fn trace_headers() -> HeaderMap {
    if traces_exported() {
        let mut headers = HeaderMap::new();
        let cx = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut headers));
        headers
    } else {
        REQUEST
            .try_with(|c| c.client_trace.clone())
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------- request state

tokio::task_local! {
    static REQUEST: Arc<RequestContext>;
}

/// What the gateway measures about the request it serves: when it started, its total deadline
/// (`server.request_timeout`), the time spent waiting on the upstream, and the agent serving it.
/// The router runs each request's handler inside [`RequestContext::scope`]; streams take what
/// they need from it when they are built.
pub struct RequestContext {
    started: Instant,
    timeout: Duration,
    upstream_nanos: AtomicU64,
    agent: OnceLock<&'static str>,
    /// The client's `traceparent`/`tracestate`, passed on when traces are not exported.
    client_trace: HeaderMap,
}

impl RequestContext {
    pub fn new(started: Instant, timeout: Duration, headers: &HeaderMap) -> Arc<Self> {
        let mut client_trace = HeaderMap::new();
        if !traces_exported() {
            for name in TRACE_HEADERS {
                if let Some(v) = headers.get(name) {
                    client_trace.insert(name, v.clone());
                }
            }
        }
        Arc::new(Self {
            started,
            timeout,
            upstream_nanos: AtomicU64::new(0),
            agent: OnceLock::new(),
            client_trace,
        })
    }

    /// Runs `f` (the request's handler) with this context current.
    pub fn scope<F: Future>(self: &Arc<Self>, f: F) -> impl Future<Output = F::Output> {
        REQUEST.scope(self.clone(), f)
    }

    /// The context of the request being served, if any.
    pub fn current() -> Option<Arc<Self>> {
        REQUEST.try_with(Arc::clone).ok()
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// `server.request_timeout`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// When the request must be over.
    pub fn deadline(&self) -> Instant {
        self.started + self.timeout
    }

    /// Time spent in upstream calls so far (summed; concurrent calls count each).
    pub fn upstream_time(&self) -> Duration {
        Duration::from_nanos(self.upstream_nanos.load(Ordering::Relaxed))
    }

    /// Adds time spent waiting on the upstream outside an upstream call (a non-streaming turn
    /// waiting for the events of Mastra's stream), so that it is not counted as overhead.
    pub fn add_upstream_time(&self, waited: Duration) {
        self.upstream_nanos
            .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The `agent` label: the agent the request was resolved to, else `unknown`.
    pub fn agent(&self) -> &'static str {
        self.agent.get().copied().unwrap_or(UNKNOWN_AGENT)
    }
}

/// Records the agent serving the current request (an agent id the upstream lists, after alias
/// and default resolution) for its metrics.
pub fn set_agent(agent: &str) {
    let _ = REQUEST.try_with(|c| c.agent.set(agent_label(agent)));
}

/// The interned label of an agent id; past [`MAX_AGENT_LABELS`] distinct ids, `unknown`.
fn agent_label(agent: &str) -> &'static str {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    intern(&mut seen, agent, MAX_AGENT_LABELS)
}

fn intern(seen: &mut HashSet<&'static str>, agent: &str, max: usize) -> &'static str {
    if let Some(label) = seen.get(agent) {
        return label;
    }
    if seen.len() >= max {
        return UNKNOWN_AGENT;
    }
    // At most `max` of them: leaking gives `&'static str` labels without allocating per
    // request.
    let label: &'static str = Box::leak(agent.to_string().into_boxed_str());
    seen.insert(label);
    label
}

// ---------------------------------------------------------------------------------- metrics

/// The process-wide metrics recorder (installed on first use) and its Prometheus renderer.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("static, non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed (an embedding program); then ours stays
        // private and /metrics shows only what it records.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "Requests answered, by route, status and agent."
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request (to the response headers for streams)."
    );
    metrics::describe_histogram!(
        UPSTREAM_DURATION,
        metrics::Unit::Seconds,
        "Time spent waiting on the Mastra upstream, by route (per upstream call)."
    );
    metrics::describe_histogram!(
        GATEWAY_OVERHEAD,
        metrics::Unit::Seconds,
        "The gateway's own time per request: request duration minus the time spent waiting on upstream calls (for streams: to the response headers)."
    );
    metrics::describe_histogram!(
        STREAM_FIRST_TOKEN,
        metrics::Unit::Seconds,
        "Streams: from the request's arrival to the first content delta relayed to the client, by agent."
    );
    metrics::describe_gauge!(OPEN_STREAMS, "Streaming responses currently open.");
    metrics::describe_counter!(
        UPSTREAM_FAULTS,
        "Upstream faults (no answer, or a 5xx), by upstream: what counts toward upstream.failure_threshold. Answers a request caused (4xx) never count."
    );
    metrics::describe_counter!(
        CACHE_REQUESTS,
        "Cache lookups, by cache and result (hit/miss)."
    );
}

pub fn record_request(route: &'static str, status: u16, agent: &'static str, elapsed: Duration) {
    metrics::counter!(REQUESTS_TOTAL, "route" => route, "status" => status_label(status), "agent" => agent)
        .increment(1);
    metrics::histogram!(REQUEST_DURATION, "route" => route).record(elapsed.as_secs_f64());
}

/// The `status` label: a static string for the codes the gateway answers, so counting a
/// request does not format one.
fn status_label(status: u16) -> metrics::SharedString {
    let label = match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        499 => "499",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => return other.to_string().into(),
    };
    label.into()
}

/// One upstream call's duration; it also counts towards the current request's upstream time
/// (the part of its duration that is not gateway overhead).
pub fn record_upstream(route: &'static str, elapsed: Duration) {
    metrics::histogram!(UPSTREAM_DURATION, "route" => route).record(elapsed.as_secs_f64());
    let _ = REQUEST.try_with(|c| {
        c.upstream_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed)
    });
}

pub fn record_overhead(route: &'static str, overhead: Duration) {
    metrics::histogram!(GATEWAY_OVERHEAD, "route" => route).record(overhead.as_secs_f64());
}

pub fn record_first_token(agent: &'static str, elapsed: Duration) {
    metrics::histogram!(STREAM_FIRST_TOKEN, "agent" => agent).record(elapsed.as_secs_f64());
}

pub fn record_upstream_up(upstream: &str, up: bool) {
    metrics::gauge!(UPSTREAM_UP, "upstream" => upstream.to_string()).set(if up {
        1.0
    } else {
        0.0
    });
}

pub fn record_upstream_fault(upstream: &str) {
    metrics::counter!(UPSTREAM_FAULTS, "upstream" => upstream.to_string()).increment(1);
}

pub fn record_cache(cache: &'static str, hit: bool) {
    metrics::counter!(CACHE_REQUESTS, "cache" => cache, "result" => if hit { "hit" } else { "miss" })
        .increment(1);
}

/// Counts one open stream for as long as it lives.
pub struct OpenStreamGuard(());

impl OpenStreamGuard {
    pub fn new() -> Self {
        metrics::gauge!(OPEN_STREAMS).increment(1.0);
        Self(())
    }
}

impl Default for OpenStreamGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OpenStreamGuard {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_STREAMS).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_url_adds_the_signal_path_once() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            traces_url(&u("http://collector:4318")),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url(&u("http://collector:4318/otlp/")),
            "http://collector:4318/otlp/v1/traces"
        );
        assert_eq!(traces_url(&u("https://c/v1/traces")), "https://c/v1/traces");
    }

    #[test]
    fn status_labels_are_the_code_in_digits() {
        for code in [200, 404, 429, 499, 504, 201, 418, 999] {
            assert_eq!(status_label(code).as_ref(), code.to_string());
        }
    }

    #[test]
    fn agent_labels_are_interned_and_bounded() {
        let a = agent_label("label-test-agent");
        assert_eq!(a, "label-test-agent");
        assert!(std::ptr::eq(a, agent_label("label-test-agent")));
        let mut seen = HashSet::new();
        assert_eq!(intern(&mut seen, "a", 2), "a");
        assert_eq!(intern(&mut seen, "b", 2), "b");
        assert_eq!(intern(&mut seen, "c", 2), UNKNOWN_AGENT, "bounded");
        assert_eq!(intern(&mut seen, "a", 2), "a", "known ones stay");
    }

    #[tokio::test]
    async fn request_context_sums_upstream_time_and_keeps_the_agent() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        let ctx = RequestContext::new(Instant::now(), Duration::from_secs(5), &headers);
        assert_eq!(ctx.agent(), UNKNOWN_AGENT);
        ctx.scope(async {
            record_upstream("test", Duration::from_millis(30));
            record_upstream("test", Duration::from_millis(20));
            set_agent("ctx-test-agent");
            // Without an exporter, the client's trace context is passed on unchanged.
            assert_eq!(
                trace_headers()["traceparent"],
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            );
        })
        .await;
        assert_eq!(ctx.upstream_time(), Duration::from_millis(50));
        assert_eq!(ctx.agent(), "ctx-test-agent");
        assert!(trace_headers().is_empty(), "nothing outside a request");
    }
}
