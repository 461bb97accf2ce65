//! Response bodies: a complete buffer, or an upstream SSE stream translated on the fly.
//!
//! The stream is polled directly by hyper (no task, no channel): when the client goes away,
//! hyper drops the body, which drops the upstream response and so closes the upstream
//! connection, cancelling the agent run in Mastra.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body::{Frame, SizeHint};

use crate::mastra::sse::SseDecoder;
use crate::telemetry::OpenStreamGuard;
use crate::translate::stream::StreamTranslator;

pub enum GatewayBody {
    Full(Option<Bytes>),
    Stream(Box<TranslatedStream>),
}

impl GatewayBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        GatewayBody::Full(Some(bytes.into()))
    }

    pub fn empty() -> Self {
        GatewayBody::Full(None)
    }
}

impl http_body::Body for GatewayBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            GatewayBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            GatewayBody::Stream(s) => s.poll_next_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GatewayBody::Full(b) => b.is_none(),
            GatewayBody::Stream(s) => s.done && s.pending.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            GatewayBody::Full(None) => SizeHint::with_exact(0),
            GatewayBody::Stream(_) => SizeHint::default(),
        }
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// Upstream SSE bytes → decoded events → translated OpenAI events, one output frame per
/// upstream chunk (all events it completed), with an idle timeout between upstream chunks.
pub struct TranslatedStream {
    upstream: Option<ByteStream>,
    decoder: SseDecoder,
    translator: StreamTranslator,
    idle_timeout: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    pending: Option<Bytes>,
    done: bool,
    _open: OpenStreamGuard,
}

impl TranslatedStream {
    pub fn new(
        upstream: reqwest::Response,
        translator: StreamTranslator,
        idle_timeout: Duration,
    ) -> Self {
        Self::from_stream(Box::pin(upstream.bytes_stream()), translator, idle_timeout)
    }

    pub fn from_stream(
        upstream: ByteStream,
        translator: StreamTranslator,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            upstream: Some(upstream),
            decoder: SseDecoder::new(),
            translator,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            pending: None,
            done: false,
            _open: OpenStreamGuard::new(),
        }
    }

    fn finish(&mut self) {
        self.done = true;
        // Close the upstream connection now rather than when the client finishes reading.
        self.upstream = None;
    }

    fn poll_next_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(b) = self.pending.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let Some(upstream) = self.upstream.as_mut() else {
                self.done = true;
                return Poll::Ready(None);
            };
            let mut out = BytesMut::new();
            match upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let deadline = tokio::time::Instant::now() + self.idle_timeout;
                    self.idle.as_mut().reset(deadline);
                    self.decoder.push(&chunk);
                    while let Some(event) = self.decoder.next_event() {
                        self.translator.on_data(&event.data, &mut out);
                        if self.translator.is_finished() {
                            break;
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(error = %e, "upstream stream broke");
                    self.translator
                        .on_upstream_error(&format!("the upstream stream broke: {e}"), &mut out);
                }
                Poll::Ready(None) => self.translator.on_upstream_end(&mut out),
                Poll::Pending => match self.idle.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::warn!(timeout = ?self.idle_timeout, "upstream stream idle");
                        self.translator.on_upstream_error(
                            &format!(
                                "the upstream sent nothing for {}",
                                humantime_serde::re::humantime::format_duration(self.idle_timeout)
                            ),
                            &mut out,
                        );
                    }
                    Poll::Pending => return Poll::Pending,
                },
            }
            if self.translator.is_finished() {
                self.finish();
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
        }
    }
}
