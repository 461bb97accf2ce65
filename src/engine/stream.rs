//! Response bodies: a complete buffer, or a turn relayed as it runs.
//!
//! A [`TurnStream`] reads Mastra's native chunk stream, decodes it into turn events
//! ([`ChunkDecoder`]) and hands them to an API family's [`TurnSink`], which writes its own wire
//! format. The stream is polled directly by hyper (no task, no channel): when the client goes
//! away, hyper drops the body, which drops the upstream response and so closes the upstream
//! connection, which aborts the agent's run in Mastra; the turn's [`Hooks::on_cut`] then runs.
//!
//! The turn ends with a failure event when the upstream breaks, stays silent for
//! `upstream.stream_idle_timeout`, the request's total deadline (`server.request_timeout`)
//! passes, or the shutdown grace period runs out. When Mastra finishes the run, the turn's
//! [`Hooks::finalize`] (storing the response) runs before the terminal event, so that success
//! is only reported once what it reports is stored. What the stream logs has its request's span
//! as parent, so it carries the request id; it also records the time to the first token.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body::{Frame, SizeHint};

use crate::error::ApiError;
use crate::mastra::sse::SseDecoder;
use crate::shutdown::GraceOver;
use crate::telemetry::{self, OpenStreamGuard, RequestContext};
use crate::translate::native::ChunkDecoder;
use crate::translate::turn::{Outcome, TurnSink};

pub enum GatewayBody {
    Full(Option<Bytes>),
    Stream(Box<dyn TurnBody>),
}

/// A streaming body: a [`TurnStream`] over some API's sink.
pub trait TurnBody: Send {
    fn poll_next_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>>;
    fn is_end_stream(&self) -> bool;
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
            GatewayBody::Stream(s) => s.is_end_stream(),
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

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

type Finalizing = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>;

/// What a turn does besides relaying: store its response once Mastra finished it, and deal
/// with a run that was cut (the client went away, or a limit ended it).
pub struct Hooks<S> {
    /// Called once Mastra finished the run (its outcome given): the future to await before the
    /// terminal event, or `None` when there is nothing to store.
    #[allow(clippy::type_complexity)]
    pub finalize: Option<Box<dyn FnOnce(&S, &Outcome) -> Option<Finalizing> + Send>>,
    /// Called when the run did not finish: the upstream was closed before its end.
    #[allow(clippy::type_complexity)]
    pub on_cut: Option<Box<dyn FnOnce(&S) + Send>>,
}

impl<S> Default for Hooks<S> {
    fn default() -> Self {
        Self {
            finalize: None,
            on_cut: None,
        }
    }
}

fn format_duration(d: Duration) -> String {
    humantime_serde::re::humantime::format_duration(d).to_string()
}

/// Upstream SSE bytes → native chunks → turn events → the sink's output, with an idle timeout
/// between upstream chunks. The first events are written at once; later ones as soon as the
/// upstream has nothing more ready (after stepping aside up to `MAX_YIELDS` times for it), all
/// that arrived together in one frame.
pub struct TurnStream<S: TurnSink> {
    upstream: Option<ByteStream>,
    sse: SseDecoder,
    chunks: ChunkDecoder,
    sink: S,
    hooks: Hooks<S>,
    /// The store step, running between Mastra's end of the run and the terminal event.
    finalizing: Option<(Finalizing, Outcome)>,
    idle_timeout: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    /// Written output not yet handed to hyper.
    output: BytesMut,
    /// Frames written so far (each one write to the client, at most).
    frames: u64,
    /// Times the stream stepped aside for the upstream since its last chunk.
    yields: u8,
    /// The upstream body ended (after Mastra's `[DONE]`).
    upstream_ended: bool,
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
    /// A non-streaming request's context and when the stream opened: the time until Mastra's
    /// stream ends is time spent waiting on the upstream, not the gateway's overhead.
    waiting: Option<(Arc<RequestContext>, Instant)>,
    span: tracing::Span,
    _open: Option<OpenStreamGuard>,
    /// Kept for as long as the stream lives (the caller's concurrent-stream slot).
    _held: Option<Box<dyn Send>>,
}

impl<S: TurnSink> TurnStream<S> {
    /// Built while serving the request: it takes the request's deadline and agent from the
    /// current [`RequestContext`], the shutdown signal from the server, and the current span.
    /// `streaming` counts it as an open stream (a non-streaming request drives one too).
    pub fn new(
        upstream: ByteStream,
        chunks: ChunkDecoder,
        sink: S,
        hooks: Hooks<S>,
        idle_timeout: Duration,
        streaming: bool,
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
            sse: SseDecoder::new(),
            chunks,
            sink,
            hooks,
            finalizing: None,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            output: BytesMut::new(),
            yields: 0,
            frames: 0,
            upstream_ended: false,
            done: false,
            deadline,
            grace_over: crate::shutdown::grace_over(),
            limits_waker: None,
            first_token: streaming.then(|| {
                (
                    started,
                    ctx.as_ref().map_or(telemetry::UNKNOWN_AGENT, |c| c.agent()),
                )
            }),
            started,
            waiting: ctx.filter(|_| !streaming).map(|c| (c, Instant::now())),
            span: tracing::Span::current(),
            _open: streaming.then(OpenStreamGuard::new),
            _held: None,
        }
    }

    /// Keeps `guard` alive until the stream is dropped (finished or abandoned).
    pub fn hold(mut self, guard: impl Send + 'static) -> Self {
        self._held = Some(Box::new(guard));
        self
    }

    /// The sink, e.g. to take a non-streaming answer once the stream is done.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn is_done(&self) -> bool {
        self.done && self.output.is_empty()
    }

    fn finish(&mut self) {
        self.done = true;
        // Close the upstream connection now rather than when the client finishes reading.
        self.upstream = None;
        tracing::info!(
            parent: &self.span,
            events = self.sink.events_written(),
            frames = self.frames + 1,
            elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "stream ended"
        );
    }

    /// Ends the turn with `outcome` now. A run Mastra did not finish is cut: its upstream is
    /// closed (which aborts the run) and the cut hook runs.
    fn end(&mut self, outcome: Outcome) {
        if self.sink.finished().is_none() || !self.upstream_ended {
            self.upstream = None;
            if let Some(on_cut) = self.hooks.on_cut.take() {
                on_cut(&self.sink);
            }
        }
        self.sink.end(outcome, &mut self.output);
        self.finish();
    }

    /// Why the stream must end now regardless of the upstream, if it must.
    fn poll_limits(&mut self, cx: &mut Context<'_>) -> Option<Outcome> {
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
                return Some(Outcome::Failed(
                    "request_timeout",
                    format!(
                        "the request took longer than the gateway's limit of {} (server.request_timeout)",
                        format_duration(timeout)
                    ),
                ));
            }
        }
        if let Some(grace_over) = self.grace_over.as_mut() {
            if grace_over.poll_over(cx, register) {
                tracing::warn!(parent: &self.span, "shutdown grace period over; ending the stream");
                return Some(Outcome::Failed(
                    "shutting_down",
                    "the gateway is shutting down".to_string(),
                ));
            }
        }
        None
    }

    /// Mastra's stream is over: store, then end; or end at once.
    fn upstream_over(&mut self) {
        self.upstream_ended = true;
        self.upstream = None;
        if let Some((ctx, since)) = self.waiting.take() {
            ctx.add_upstream_time(since.elapsed());
        }
        let Some(outcome) = self.sink.finished() else {
            self.end(Outcome::Failed(
                "upstream_error",
                "the upstream stream ended before the response was complete".into(),
            ));
            return;
        };
        let store = self
            .hooks
            .finalize
            .take()
            .and_then(|f| f(&self.sink, &outcome));
        match store {
            Some(fut) => self.finalizing = Some((fut, outcome)),
            None => self.end(outcome),
        }
    }

    fn poll_finalizing(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some((fut, _)) = self.finalizing.as_mut() else {
            return Poll::Ready(());
        };
        let result = match fut.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        let Some((_, outcome)) = self.finalizing.take() else {
            return Poll::Ready(());
        };
        match result {
            Ok(()) => self.end(outcome),
            Err(e) => {
                tracing::warn!(parent: &self.span, error = %e.message, "the response could not be stored");
                self.end(Outcome::Failed(
                    "store_failed",
                    format!("the answer could not be stored: {}", e.message),
                ));
            }
        }
        Poll::Ready(())
    }

    pub fn poll_next_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        loop {
            if self.done {
                return Poll::Ready(self.take_output());
            }
            if let Some(outcome) = self.poll_limits(cx) {
                self.finalizing = None;
                self.end(outcome);
                continue;
            }
            if self.finalizing.is_some() {
                match self.poll_finalizing(cx) {
                    Poll::Ready(()) => continue,
                    Poll::Pending if !self.output.is_empty() => {
                        return Poll::Ready(self.take_output())
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            let Some(upstream) = self.upstream.as_mut() else {
                self.upstream_over();
                continue;
            };
            match upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let deadline = tokio::time::Instant::now() + self.idle_timeout;
                    self.idle.as_mut().reset(deadline);
                    self.yields = 0;
                    // Room for the output at once (about the size of its input), instead of
                    // growing step by step while events are written.
                    self.output.reserve(chunk.len() + chunk.len() / 2);
                    self.sse.push(chunk);
                    let mut bad = None;
                    while let Some(event) = self.sse.next_event() {
                        let (sink, out) = (&mut self.sink, &mut self.output);
                        if let Err(e) = self
                            .chunks
                            .decode(&event.data, &mut |e| sink.on_event(e, out))
                        {
                            bad = Some(e.0);
                            break;
                        }
                    }
                    if let Some(reason) = bad {
                        tracing::warn!(parent: &self.span, %reason, "upstream sent garbage");
                        self.end(Outcome::Failed("upstream_error", reason));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(parent: &self.span, error = %e.without_url(), "upstream stream broke");
                    self.end(Outcome::Failed(
                        "upstream_error",
                        "the upstream stream broke".into(),
                    ));
                }
                Poll::Ready(None) => self.upstream_over(),
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
                        let message = format!(
                            "the upstream sent nothing for {}",
                            format_duration(self.idle_timeout)
                        );
                        self.end(Outcome::Failed("upstream_timeout", message));
                    }
                    Poll::Pending => return Poll::Pending,
                },
            }
            if self.sink.output_started() {
                if let Some((started, agent)) = self.first_token.take() {
                    telemetry::record_first_token(agent, started.elapsed());
                }
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

    /// Runs the turn to its end without writing to a client (a non-streaming request); the
    /// sink then holds the answer.
    pub async fn run_to_end(&mut self) {
        std::future::poll_fn(|cx| loop {
            match self.poll_next_frame(cx) {
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Ready(Some(_)) => continue,
                Poll::Pending => return Poll::Pending,
            }
        })
        .await
    }
}

impl<S: TurnSink> TurnBody for TurnStream<S> {
    fn poll_next_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        TurnStream::poll_next_frame(self, cx)
    }

    fn is_end_stream(&self) -> bool {
        self.is_done()
    }
}

/// How often a stream with output steps aside for an upstream chunk before writing.
const MAX_YIELDS: u8 = 4;

/// Output is written once this much is buffered, even while the upstream has more ready.
const MAX_FRAME: usize = 16 * 1024;

impl<S: TurnSink> Drop for TurnStream<S> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The client went away mid-turn: the upstream closes with this struct, which aborts
        // the run in Mastra.
        if let Some(on_cut) = self.hooks.on_cut.take() {
            on_cut(&self.sink);
        }
        tracing::info!(
            parent: &self.span,
            events = self.sink.events_written(),
            elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "stream closed by the client before its end"
        );
    }
}
