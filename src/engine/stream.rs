//! Response bodies: a complete buffer, or an upstream SSE stream translated on the fly.
//!
//! The stream is polled directly by hyper (no task, no channel): when the client goes away,
//! hyper drops the body, which drops the upstream response and so closes the upstream
//! connection, cancelling the agent run in Mastra.
//!
//! A stream ends with `response.failed` when the upstream breaks, stays silent for
//! `upstream.stream_idle_timeout`, the request's total deadline (`server.request_timeout`)
//! passes, or the shutdown grace period runs out. What it logs has its request's span as parent
//! (entering the span on every poll cost ~2k instructions a poll), so it carries the request
//! id; it also records the time to the first token.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body::{Frame, SizeHint};

use crate::mastra::sse::SseDecoder;
use crate::shutdown::GraceOver;
use crate::telemetry::{self, OpenStreamGuard, RequestContext};
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
            GatewayBody::Stream(s) => s.done && s.output.is_empty(),
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

fn format_duration(d: Duration) -> String {
    humantime_serde::re::humantime::format_duration(d).to_string()
}

/// Upstream SSE bytes → decoded events → translated OpenAI events, with an idle timeout
/// between upstream chunks. The first events are written at once; later ones as soon as the
/// upstream has nothing more ready (after stepping aside up to `MAX_YIELDS` times for it), all
/// that arrived together in one frame.
pub struct TranslatedStream {
    upstream: Option<ByteStream>,
    decoder: SseDecoder,
    translator: StreamTranslator,
    idle_timeout: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    /// Translated events not yet handed to hyper.
    output: BytesMut,
    /// Frames written so far (each one write to the client, at most).
    frames: u64,
    /// Times the stream stepped aside for the upstream since its last chunk.
    yields: u8,
    done: bool,
    /// The request's total deadline and its length (`server.request_timeout`).
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
    grace_over: Option<GraceOver>,
    /// The waker the deadline and the grace period were last polled with: while hyper polls
    /// with the same one, they are only checked, not polled again.
    limits_waker: Option<Waker>,
    /// When the request arrived and its agent label, until the first token is recorded.
    first_token: Option<(Instant, &'static str)>,
    started: Instant,
    span: tracing::Span,
    _open: OpenStreamGuard,
    /// Kept for as long as the stream lives (the caller's concurrent-stream slot).
    _held: Option<Box<dyn Send>>,
}

impl TranslatedStream {
    pub fn new(
        upstream: reqwest::Response,
        translator: StreamTranslator,
        idle_timeout: Duration,
    ) -> Self {
        Self::from_stream(Box::pin(upstream.bytes_stream()), translator, idle_timeout)
    }

    /// Built while serving the request: it takes the request's deadline and agent from the
    /// current [`RequestContext`], the shutdown signal from the server, and the current span.
    pub fn from_stream(
        upstream: ByteStream,
        translator: StreamTranslator,
        idle_timeout: Duration,
    ) -> Self {
        let ctx = RequestContext::current();
        let deadline = ctx.as_ref().map(|c| {
            (
                Box::pin(tokio::time::sleep_until(c.deadline().into())),
                c.timeout(),
            )
        });
        let started = ctx.as_ref().map_or_else(Instant::now, |c| c.started());
        Self {
            upstream: Some(upstream),
            decoder: SseDecoder::new(),
            translator,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            output: BytesMut::new(),
            yields: 0,
            frames: 0,
            done: false,
            deadline,
            grace_over: crate::shutdown::grace_over(),
            limits_waker: None,
            first_token: Some((started, ctx.map_or(telemetry::UNKNOWN_AGENT, |c| c.agent()))),
            started,
            span: tracing::Span::current(),
            _open: OpenStreamGuard::new(),
            _held: None,
        }
    }

    /// Keeps `guard` alive until the stream body is dropped (finished or abandoned).
    pub fn hold(mut self, guard: impl Send + 'static) -> Self {
        self._held = Some(Box::new(guard));
        self
    }

    fn finish(&mut self) {
        self.done = true;
        // Close the upstream connection now rather than when the client finishes reading.
        self.upstream = None;
        tracing::info!(
            parent: &self.span,
            events = self.translator.events_written(),
            frames = self.frames + 1,
            elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "stream ended"
        );
    }

    /// Why the stream must end now regardless of the upstream, if it must.
    fn poll_limits(&mut self, cx: &mut Context<'_>) -> Option<String> {
        let register = !self
            .limits_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if register {
            self.limits_waker = Some(cx.waker().clone());
        }
        if let Some((deadline, timeout)) = self.deadline.as_mut() {
            let passed = if register {
                deadline.as_mut().poll(cx).is_ready()
            } else {
                deadline.is_elapsed()
            };
            let timeout = *timeout;
            if passed {
                tracing::warn!(
                    parent: &self.span,
                    timeout = ?timeout,
                    "request deadline passed; ending the stream"
                );
                return Some(format!(
                    "the request took longer than the gateway's limit of {} (server.request_timeout)",
                    format_duration(timeout)
                ));
            }
        }
        if let Some(grace_over) = self.grace_over.as_mut() {
            if grace_over.poll_over(cx, register) {
                tracing::warn!(parent: &self.span, "shutdown grace period over; ending the stream");
                return Some("the gateway is shutting down".to_string());
            }
        }
        None
    }

    fn poll_next_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        loop {
            if self.done {
                return Poll::Ready(self.take_output());
            }
            if let Some(reason) = self.poll_limits(cx) {
                self.translator.on_upstream_error(&reason, &mut self.output);
                self.finish();
                continue;
            }
            let Some(upstream) = self.upstream.as_mut() else {
                self.done = true;
                continue;
            };
            match upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let deadline = tokio::time::Instant::now() + self.idle_timeout;
                    self.idle.as_mut().reset(deadline);
                    self.yields = 0;
                    // Room for the translation at once (it is about the size of its input),
                    // instead of growing step by step while events are written.
                    self.output.reserve(chunk.len() + chunk.len() / 2);
                    self.decoder.push(chunk);
                    while let Some(event) = self.decoder.next_event() {
                        self.translator.on_data(&event.data, &mut self.output);
                        if self.translator.is_finished() {
                            break;
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(parent: &self.span, error = %e, "upstream stream broke");
                    self.translator.on_upstream_error(
                        &format!("the upstream stream broke: {e}"),
                        &mut self.output,
                    );
                }
                Poll::Ready(None) => self.translator.on_upstream_end(&mut self.output),
                Poll::Pending if !self.output.is_empty() && self.yields < MAX_YIELDS => {
                    // The upstream connection's task hands over one chunk at a time and often
                    // holds the next already. Step aside (to the back of the run queue) so it
                    // can: what it delivers joins this write instead of costing a write and a
                    // wake-up of its own.
                    self.yields += 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Pending if !self.output.is_empty() => {
                    self.yields = 0;
                    return Poll::Ready(self.take_output());
                }
                Poll::Pending => match self.idle.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::warn!(
                            parent: &self.span,
                            timeout = ?self.idle_timeout,
                            "upstream stream idle"
                        );
                        self.translator.on_upstream_error(
                            &format!(
                                "the upstream sent nothing for {}",
                                format_duration(self.idle_timeout)
                            ),
                            &mut self.output,
                        );
                    }
                    Poll::Pending => return Poll::Pending,
                },
            }
            if self.translator.output_started() {
                if let Some((started, agent)) = self.first_token.take() {
                    telemetry::record_first_token(agent, started.elapsed());
                }
            }
            if self.translator.is_finished() {
                self.finish();
            }
            // The first events (`response.created`) leave at once: the time to the first byte.
            if self.output.len() >= MAX_FRAME || (self.frames == 0 && !self.output.is_empty()) {
                return Poll::Ready(self.take_output());
            }
        }
    }

    /// What is buffered for the client, as one frame (none when nothing is). The frame takes
    /// the whole buffer with it, so a stream waiting for its upstream holds no output memory.
    fn take_output(&mut self) -> Option<Result<Frame<Bytes>, Infallible>> {
        if self.output.is_empty() {
            return None;
        }
        self.frames += 1;
        Some(Ok(Frame::data(std::mem::take(&mut self.output).freeze())))
    }
}

/// How often a stream with output steps aside for an upstream chunk before writing.
const MAX_YIELDS: u8 = 4;

/// Output is written once this much is buffered, even while the upstream has more ready.
const MAX_FRAME: usize = 16 * 1024;

impl Drop for TranslatedStream {
    fn drop(&mut self) {
        if !self.done {
            tracing::info!(
                parent: &self.span,
                events = self.translator.events_written(),
                elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0,
                "stream closed by the client before its end"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::response::{RequestEcho, ResponseContext};
    use futures_util::StreamExt;
    use http_body_util::BodyExt;

    const CREATED: &[u8] = b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"msg_1\",\"status\":\"in_progress\",\"output\":[]},\"sequence_number\":0}\n\n";
    const DELTA: &[u8] = b"data: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"item_id\":\"msg_1\",\"delta\":\"hi\",\"sequence_number\":1}\n\n";

    fn body(upstream: ByteStream) -> GatewayBody {
        let ctx = ResponseContext {
            model: "echo-agent".into(),
            conversation: None,
            echo: RequestEcho::default(),
        };
        let stream = TranslatedStream::from_stream(
            upstream,
            StreamTranslator::new(ctx),
            Duration::from_secs(30),
        );
        GatewayBody::Stream(Box::new(stream))
    }

    fn text(frame: Frame<Bytes>) -> String {
        String::from_utf8(frame.into_data().expect("a data frame").to_vec()).expect("UTF-8")
    }

    /// The first events leave at once; chunks that arrive together after them leave in one
    /// frame; output followed by upstream silence is written without waiting for more.
    #[tokio::test]
    async fn coalesces_ready_chunks_and_never_holds_output_for_a_silent_upstream() {
        let chunks = vec![
            Ok(Bytes::from_static(CREATED)),
            Ok(Bytes::from_static(DELTA)),
            Ok(Bytes::from_static(DELTA)),
        ];
        let upstream = futures_util::stream::iter(chunks).chain(futures_util::stream::pending());
        let mut body = body(Box::pin(upstream));
        let mut next = async || {
            let frame = tokio::time::timeout(Duration::from_secs(2), body.frame())
                .await
                .expect("buffered events are written although the upstream stays silent")
                .expect("a frame")
                .expect("infallible");
            text(frame)
        };
        let first = next().await;
        assert!(first.contains("event: response.created"), "{first}");
        assert!(
            !first.contains("delta"),
            "the first frame does not wait: {first}"
        );
        let second = next().await;
        assert_eq!(
            second.matches("event: response.output_text.delta").count(),
            2,
            "{second}"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(200), body.frame())
                .await
                .is_err(),
            "nothing more until the upstream speaks"
        );
    }
}
