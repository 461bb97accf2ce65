//! The admin listener: liveness, readiness (the upstream answers and has the routes we need),
//! and Prometheus metrics. No auth: bind it where only the platform can reach it.

use std::convert::Infallible;
use std::sync::Arc;

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::json;

use crate::api::json_response;
use crate::engine::stream::GatewayBody;
use crate::plan::AppState;
use crate::telemetry;

pub async fn handle<B>(
    state: Arc<AppState>,
    req: Request<B>,
) -> Result<Response<GatewayBody>, Infallible> {
    let resp = match req.uri().path() {
        "/healthz" => json_response(StatusCode::OK, &json!({"status": "ok"})),
        "/readyz" if state.is_draining() => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "draining", "reason": "the gateway is shutting down"}),
        ),
        "/readyz" => readiness(&state).await,
        "/metrics" => {
            let mut resp = Response::new(GatewayBody::full(telemetry::metrics_handle().render()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        _ => json_response(StatusCode::NOT_FOUND, &json!({"error": "not found"})),
    };
    Ok(resp)
}

/// Ready when at least one upstream is ready (a fleet keeps serving the agents of the healthy
/// ones); the body reports each upstream. It tells the same state requests see: an upstream
/// marked down (requests to it fail fast with 503 `upstream_down`) is reported down without a
/// probe, and only the health prober (every `upstream.health_interval`) brings it back; any
/// other is probed now, and the probe's outcome counts like a request's.
async fn readiness(state: &AppState) -> Response<GatewayBody> {
    let probes = state.upstreams.clients().map(|(_, c)| async move {
        let result = match c.down_reason() {
            None => c.probe().await,
            Some(reason) => Err(reason),
        };
        (c.name().to_string(), result)
    });
    let results = futures_util::future::join_all(probes).await;
    let mut upstreams = serde_json::Map::new();
    let mut reasons = Vec::new();
    for (name, result) in results {
        match result {
            Ok(()) => {
                upstreams.insert(name, json!("ready"));
            }
            Err(reason) => {
                upstreams.insert(name, json!("down"));
                reasons.push(reason);
            }
        }
    }
    let ready_count = upstreams.values().filter(|v| *v == "ready").count();
    if ready_count > 0 {
        let mut body = json!({"status": "ready", "upstreams": upstreams});
        if !reasons.is_empty() {
            body["degraded"] = json!(reasons);
        }
        json_response(StatusCode::OK, &body)
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not_ready", "reason": reasons.join("; "), "upstreams": upstreams}),
        )
    }
}
