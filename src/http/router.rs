//! Path → handler, wrapped in the per-request layers of DESIGN.md §4: request id, tracing span,
//! body limit, then the handler; every answer (errors included) carries `x-request-id` and is
//! counted in the metrics under its route template.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response};
use tracing::Instrument;

use crate::api::{self, decode_segment, error_response};
use crate::engine::stream::GatewayBody;
use crate::error::ApiError;
use crate::http::body::{read_body, BodyLimits};
use crate::mastra::client::CLIENT_AUTHORIZATION;
use crate::mastra::path::{is_plausible_id, quoted};
use crate::plan::limits::RateRecord;
use crate::plan::Access;
use crate::plan::AppState;
use crate::telemetry;
use crate::translate::items::item_not_found;

pub const REQUEST_ID: &str = "x-request-id";

pub async fn handle<B>(
    state: Arc<AppState>,
    body_room: Arc<tokio::sync::Semaphore>,
    req: Request<B>,
) -> Result<Response<GatewayBody>, Infallible>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let request_id = request_id(&req);
    let method = req.method().clone();
    let http1 = req.version() < http::Version::HTTP_2;
    let route = route_of(&method, req.uri().path());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        %method,
        route,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        key = tracing::field::Empty,
    );
    telemetry::continue_trace(&span, req.headers(), method.as_str(), route);
    let timeout = state.config.server.request_timeout;
    let ctx = telemetry::RequestContext::new(started, timeout, req.headers());
    // Visible to upstream calls only when `upstream.forward_authorization` is on.
    let client_auth = state
        .config
        .upstream
        .forward_authorization
        .then(|| req.headers().get(http::header::AUTHORIZATION).cloned())
        .flatten();
    // What the rate limiters said, for the response headers.
    let rate = RateRecord::default();
    // Boxed: the handlers' state machine is large, and the layers below would otherwise move
    // it (memcpy) each time one wraps it.
    let handler = CLIENT_AUTHORIZATION.scope(
        client_auth,
        Box::pin(dispatch(&state, &body_room, &rate, req, route, &request_id)),
    );
    let result = ctx
        .scope(within_deadline(ctx.deadline(), timeout, handler))
        .instrument(span.clone())
        .await;
    let mut resp = result.unwrap_or_else(|e| {
        span.in_scope(
            || tracing::debug!(status = e.status.as_u16(), error = %e.message, "refused"),
        );
        error_response(&e)
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    if http1 && resp.status() == http::StatusCode::REQUEST_TIMEOUT {
        // The rest of a stalled body is not waited for: the connection ends with this answer.
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    rate.apply(resp.headers_mut());
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    telemetry::record_request(route, status, ctx.agent(), elapsed);
    telemetry::record_overhead(route, elapsed.saturating_sub(ctx.upstream_time()));
    telemetry::finish_span(&span, status);
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        );
    });
    Ok(resp)
}

/// The handler, cut off with a 504 at the request's total deadline (`server.request_timeout`).
/// A stream's headers must come within it too; the stream itself watches the rest.
async fn within_deadline<T>(
    deadline: Instant,
    timeout: std::time::Duration,
    handler: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout_at(deadline.into(), handler).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            http::StatusCode::GATEWAY_TIMEOUT,
            crate::error::SERVER_ERROR,
            format!(
                "The request took longer than the gateway's limit of {} (server.request_timeout).",
                humantime_serde::re::humantime::format_duration(timeout)
            ),
        )
        .with_code("request_timeout")),
    }
}

/// An id in the path that cannot be one (empty, too long, a control character, `.` or `..`) is
/// answered as its resource's ordinary 404, before anything is asked upstream.
fn refuse_implausible_ids(route: &str, path: &str) -> Result<(), ApiError> {
    // /v1/{family}/{id}[/{sub}[/{item_id}]]
    let segment = |i: usize| decode_segment(path.split('/').nth(i + 1).unwrap_or_default());
    let (family, id) = (segment(1), segment(2));
    if matches!(
        route,
        "unknown"
            | "responses.create"
            | "chat.completions"
            | "models.list"
            | "conversations.create"
    ) {
        return Ok(());
    }
    if !is_plausible_id(&id) {
        return Err(match family.as_str() {
            "responses" => ApiError::response_not_found(&quoted(&id)),
            "models" => ApiError::model_not_found(&quoted(&id)),
            _ => ApiError::conversation_not_found(&quoted(&id)),
        });
    }
    if matches!(
        route,
        "conversations.items.retrieve" | "conversations.items.delete"
    ) {
        let item = segment(4);
        if !is_plausible_id(&item) {
            return Err(item_not_found(&quoted(&item)));
        }
    }
    Ok(())
}

/// `server.max_headers` / `server.max_header_bytes`: over either, 431 in OpenAI's envelope
/// (hyper's own limits, set far above these, would answer without a body).
fn check_headers(
    headers: &http::HeaderMap,
    server: &crate::config::ServerConfig,
) -> Result<(), ApiError> {
    if headers.len() > server.max_headers {
        return Err(ApiError::headers_too_large(&format!(
            "{} headers, more than the {} this gateway accepts",
            headers.len(),
            server.max_headers
        )));
    }
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if bytes > server.max_header_bytes {
        return Err(ApiError::headers_too_large(&format!(
            "{bytes} bytes of headers, more than the {} this gateway accepts",
            server.max_header_bytes
        )));
    }
    Ok(())
}

/// The client's `x-request-id` when it is a sane token, else a fresh `req_…`.
fn request_id<B>(req: &Request<B>) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(new_request_id, str::to_string)
}

/// `req_` and 32 hex digits, written straight into a string of the right size.
fn new_request_id() -> String {
    let mut hex = [0u8; uuid::fmt::Simple::LENGTH];
    let hex = uuid::Uuid::new_v4().simple().encode_lower(&mut hex);
    let mut id = String::with_capacity(4 + hex.len());
    id.push_str("req_");
    id.push_str(hex);
    id
}

/// The route template, used as the metric label.
fn route_of(method: &Method, path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["v1", "responses"]) => "responses.create",
        (&Method::POST, ["v1", "chat", "completions"]) => "chat.completions",
        (&Method::GET, ["v1", "responses", _]) => "responses.retrieve",
        (&Method::DELETE, ["v1", "responses", _]) => "responses.delete",
        (&Method::GET, ["v1", "models"]) => "models.list",
        (&Method::GET, ["v1", "models", _]) => "models.retrieve",
        (&Method::GET, ["v1", "responses", _, "input_items"]) => "responses.input_items",
        (&Method::POST, ["v1", "conversations"]) => "conversations.create",
        (&Method::GET, ["v1", "conversations", _]) => "conversations.retrieve",
        (&Method::POST, ["v1", "conversations", _]) => "conversations.update",
        (&Method::DELETE, ["v1", "conversations", _]) => "conversations.delete",
        (&Method::GET, ["v1", "conversations", _, "items"]) => "conversations.items.list",
        (&Method::POST, ["v1", "conversations", _, "items"]) => "conversations.items.create",
        (&Method::GET, ["v1", "conversations", _, "items", _]) => "conversations.items.retrieve",
        (&Method::DELETE, ["v1", "conversations", _, "items", _]) => "conversations.items.delete",
        _ => "unknown",
    }
}

/// Auth and the request rate limits (key, then global), then the route's handler.
async fn dispatch<B>(
    state: &AppState,
    body_room: &Arc<tokio::sync::Semaphore>,
    rate: &RateRecord,
    req: Request<B>,
    route: &'static str,
    request_id: &str,
) -> Result<Response<GatewayBody>, ApiError>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    check_headers(req.headers(), &state.config.server)?;
    let caller = state.auth.authenticate(req.headers())?;
    if let Some(name) = caller.name() {
        // The key's name, never the key.
        tracing::Span::current().record("key", name);
    }
    state.limits.check_request(&caller, rate)?;
    let access = &Access { caller, rate };
    let path = req.uri().path().trim_end_matches('/').to_string();
    refuse_implausible_ids(route, &path)?;
    let body_limits = BodyLimits {
        max_bytes: state.config.server.max_body_bytes,
        timeout: state.config.server.body_read_timeout,
        room: body_room.clone(),
    };
    let last = || decode_segment(path.rsplit('/').next().unwrap_or_default());
    // Each handler's future is boxed: the match would otherwise be as large as the largest
    // of them (kilobytes), held for every request, and an open stream waiting on its upstream.
    match route {
        "responses.create" => {
            let body = read_body(req, &body_limits).await?;
            Box::pin(api::responses::create(state, access, &body, request_id)).await
        }
        "chat.completions" => {
            let thread = req.headers().get(api::chat::THREAD_HEADER).cloned();
            let body = read_body(req, &body_limits).await?;
            Box::pin(api::chat::create(
                state,
                access,
                thread.as_ref(),
                &body,
                request_id,
            ))
            .await
        }
        "responses.retrieve" => {
            let query = req.uri().query().map(str::to_string);
            let id = last();
            Box::pin(api::responses::retrieve(
                state,
                access,
                &id,
                query.as_deref(),
                request_id,
            ))
            .await
        }
        "responses.delete" => {
            Box::pin(api::responses::delete(state, access, &last(), request_id)).await
        }
        "models.list" => Box::pin(api::models::list(state, access, request_id)).await,
        "models.retrieve" => {
            Box::pin(api::models::retrieve(state, access, &last(), request_id)).await
        }
        r if r.starts_with("conversations.") || r == "responses.input_items" => {
            // /v1/{family}/{id}[/{sub}[/{item_id}]]
            let segment = |i: usize| decode_segment(path.split('/').nth(i + 1).unwrap_or_default());
            let (id, item_id) = (segment(2), segment(4));
            let query = req.uri().query().map(str::to_string);
            let query = query.as_deref();
            let body = match r {
                "conversations.create" | "conversations.update" | "conversations.items.create" => {
                    read_body(req, &body_limits).await?.bytes
                }
                _ => bytes::Bytes::new(),
            };
            use api::conversations as c;
            let handler: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
                match r {
                    "responses.input_items" => Box::pin(api::input_items::list(
                        state, access, &id, query, request_id,
                    )),
                    "conversations.create" => Box::pin(c::create(state, access, &body, request_id)),
                    "conversations.retrieve" => {
                        Box::pin(c::retrieve(state, access, &id, request_id))
                    }
                    "conversations.update" => {
                        Box::pin(c::update(state, access, &id, &body, request_id))
                    }
                    "conversations.delete" => Box::pin(c::delete(state, access, &id, request_id)),
                    "conversations.items.list" => {
                        Box::pin(c::list_items(state, access, &id, query, request_id))
                    }
                    "conversations.items.create" => Box::pin(c::create_items(
                        state, access, &id, query, &body, request_id,
                    )),
                    "conversations.items.retrieve" => Box::pin(c::retrieve_item(
                        state, access, &id, &item_id, query, request_id,
                    )),
                    _ => Box::pin(c::delete_item(state, access, &id, &item_id, request_id)),
                };
            handler.await
        }
        _ => Err(ApiError::route_not_found(req.method(), req.uri().path())),
    }
}
