//! Logs (tracing) and metrics (Prometheus text on the admin listener). Metric names are stable
//! and labels low-cardinality: route templates, never ids.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::{LogFormat, LoggingConfig};

pub const REQUESTS_TOTAL: &str = "mastra_gateway_requests_total";
pub const REQUEST_DURATION: &str = "mastra_gateway_request_duration_seconds";
pub const UPSTREAM_DURATION: &str = "mastra_gateway_upstream_duration_seconds";
pub const OPEN_STREAMS: &str = "mastra_gateway_open_streams";
pub const CACHE_REQUESTS: &str = "mastra_gateway_cache_requests_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

/// Installs the logger once per process. `RUST_LOG`, when set, wins over `logging.level`.
pub fn init_logging(cfg: &LoggingConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            tracing_subscriber::EnvFilter::try_new(&cfg.level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match cfg.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

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
    metrics::describe_counter!(REQUESTS_TOTAL, "Requests answered, by route and status.");
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request (to the response headers for streams)."
    );
    metrics::describe_histogram!(
        UPSTREAM_DURATION,
        metrics::Unit::Seconds,
        "Time spent waiting on the Mastra upstream, by route."
    );
    metrics::describe_gauge!(OPEN_STREAMS, "Streaming responses currently open.");
    metrics::describe_counter!(
        CACHE_REQUESTS,
        "Cache lookups, by cache and result (hit/miss)."
    );
}

pub fn record_request(route: &'static str, status: u16, elapsed: Duration) {
    metrics::counter!(REQUESTS_TOTAL, "route" => route, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(REQUEST_DURATION, "route" => route).record(elapsed.as_secs_f64());
}

pub fn record_upstream(route: &'static str, elapsed: Duration) {
    metrics::histogram!(UPSTREAM_DURATION, "route" => route).record(elapsed.as_secs_f64());
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
