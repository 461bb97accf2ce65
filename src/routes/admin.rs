//! The admin listener: liveness, readiness (the upstream answers and has the routes we need),
//! and Prometheus metrics. No auth: bind it where only the platform can reach it.

use std::convert::Infallible;
use std::sync::Arc;

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::json;

use crate::body::GatewayBody;
use crate::routes::json_response;
use crate::state::AppState;
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
        "/readyz" => match state.mastra.probe().await {
            Ok(()) => json_response(
                StatusCode::OK,
                &json!({"status": "ready", "upstreams": {state.mastra.name(): "ready"}}),
            ),
            Err(reason) => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "not_ready", "reason": reason, "upstreams": {state.mastra.name(): "down"}}),
            ),
        },
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
