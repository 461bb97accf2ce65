//! The end of the shutdown grace period, as the listener announces it and the streams still
//! open watch for it (they end with `response.failed` before their connection closes).

use std::future::Future;
use std::pin::Pin;
use std::task::Context;

use tokio::sync::watch;

tokio::task_local! {
    /// Set while a request is served: turns true when the shutdown grace period is over.
    pub static GRACE_OVER: watch::Receiver<bool>;
}

/// The end of the shutdown grace period as a stream waits for it; `None` outside a request
/// served by the gateway. Streams use it to end with `response.failed` before their connection
/// closes.
pub fn grace_over() -> Option<GraceOver> {
    let over = GRACE_OVER.try_with(Clone::clone).ok()?;
    let mut rx = over.clone();
    Some(GraceOver {
        over,
        wait: Box::pin(async move {
            if rx.wait_for(|over| *over).await.is_err() {
                // The server is gone without declaring the grace period over: never resolve.
                std::future::pending::<()>().await;
            }
        }),
    })
}

/// See [`grace_over`].
pub struct GraceOver {
    /// Tells cheaply whether anything was sent since the stream started.
    over: watch::Receiver<bool>,
    wait: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl GraceOver {
    /// Whether the grace period is over. The waiting future is polled (which registers `cx`'s
    /// waker) when `register` is set or once the server has sent something; otherwise a
    /// version check stands in for it, as a stream is polled once per upstream chunk.
    pub fn poll_over(&mut self, cx: &mut Context<'_>, register: bool) -> bool {
        if register || self.over.has_changed().unwrap_or(true) {
            return self.wait.as_mut().poll(cx).is_ready();
        }
        false
    }
}
