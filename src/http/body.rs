//! Request bodies: read whole, within `server.max_body_bytes`, `server.body_read_timeout` and the
//! room all bodies share (`server.max_buffered_body_bytes`).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::header;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
