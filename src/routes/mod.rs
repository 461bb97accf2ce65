//! Handlers, one module per API family, plus the helpers they share.

pub mod admin;
pub mod conversations;
pub mod input_items;
pub mod models;
pub mod responses;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::body::GatewayBody;
use crate::config::BODY_FREE_BYTES;
use crate::error::ApiError;

/// How request bodies are read: the size limit, the deadline and the shared room for bytes.
#[derive(Clone)]
pub struct BodyLimits {
    /// `server.max_body_bytes`.
    pub max_bytes: usize,
    /// `server.body_read_timeout`.
    pub timeout: Duration,
    /// `server.max_buffered_body_bytes` above the free first bytes of each body, in KiB.
    pub room: Arc<Semaphore>,
}

impl BodyLimits {
    /// Room for `max_buffered_body_bytes` (rounded up to whole KiB).
    pub fn room_for(max_buffered_body_bytes: usize) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(max_buffered_body_bytes.div_ceil(1024)))
    }
}

/// A request body read whole, with the room it takes in `server.max_buffered_body_bytes`
/// (given back when this is dropped, i.e. when the handler is done with it).
pub struct ReadBody {
    pub bytes: Bytes,
    _room: Option<OwnedSemaphorePermit>,
}

impl std::ops::Deref for ReadBody {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads the whole request body. More than `max_bytes` is refused with 413 (early, from
/// `content-length`, when the client declares it); a body that has not arrived completely
/// within `timeout` of the headers gets 408; bytes beyond the first [`BODY_FREE_BYTES`] wait
/// for room in the shared budget (within the same deadline), so stalled uploads can neither
/// hold a connection for long nor take memory past a stated bound.
pub async fn read_body<B>(req: http::Request<B>, limits: &BodyLimits) -> Result<ReadBody, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let limit = limits.max_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::body_too_large(limit));
    }
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let mut body = std::pin::pin!(req.into_body());
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    let mut room: Option<OwnedSemaphorePermit> = None;
    let mut held_kib = 0usize;
    loop {
        // The common case (the body came with the headers) needs no timer.
        let frame = match body.frame().now_or_never() {
            Some(frame) => frame,
            None => tokio::time::timeout_at(deadline, body.frame())
                .await
                .map_err(|_| ApiError::body_timeout(limits.timeout))?,
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => {
                return Err(ApiError::invalid_request(format!(
                    "Could not read the request body: {e}"
                )))
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue, // trailers
            },
        };
        len += data.len();
        if len > limit {
            return Err(ApiError::body_too_large(limit));
        }
        let need_kib = len.saturating_sub(BODY_FREE_BYTES).div_ceil(1024);
        if need_kib > held_kib {
            let more = u32::try_from(need_kib - held_kib).unwrap_or(u32::MAX);
            let permit =
                tokio::time::timeout_at(deadline, limits.room.clone().acquire_many_owned(more))
                    .await
                    .map_err(|_| ApiError::body_timeout(limits.timeout))?
                    .map_err(|_| ApiError::internal("the request-body budget is closed"))?;
            match room.as_mut() {
                Some(held) => held.merge(permit),
                None => room = Some(permit),
            }
            held_kib = need_kib;
        }
        chunks.push(data);
    }
    let bytes = match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(len);
            for c in &chunks {
                all.extend_from_slice(c);
            }
            all.freeze()
        }
    };
    Ok(ReadBody { bytes, _room: room })
}

/// Parses a JSON body; syntax errors are "could not parse", type errors name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed_json("the body is empty"));
    }
    // The plain parse is the fast path; only a failed one is redone to find the field's path.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        // The plain parse failed although the value read: bytes follow it (`{…}garbage`).
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(e) => Err(ApiError::malformed_json(strip_position(&e.to_string()))),
        },
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data if path != "." => Err(ApiError::invalid_type(
                    &path,
                    strip_position(&inner.to_string()),
                )),
                serde_json::error::Category::Data => Err(ApiError::invalid_request(format!(
                    "Invalid body: {}.",
                    strip_position(&inner.to_string())
                ))),
                _ => Err(ApiError::malformed_json(inner)),
            }
        }
    }
}

fn strip_position(msg: &str) -> &str {
    msg.split(" at line ").next().unwrap_or(msg)
}

pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<GatewayBody> {
    // Room for a typical answer (a Response is 1–2 KB) from the start, instead of growing
    // from serde_json's 128 bytes by doubling and copying.
    let mut body = Vec::with_capacity(2048);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => bytes_response(status, body),
        Err(e) => error_response(&ApiError::internal(format!(
            "could not serialize the answer: {e}"
        ))),
    }
}

pub fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn error_response(err: &ApiError) -> Response<GatewayBody> {
    bytes_response(err.status, err.to_json())
}

/// One percent-decoded path segment (ids arrive encoded when they hold reserved characters).
pub fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
