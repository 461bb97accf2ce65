//! Listeners: the OpenAI API (HTTP/1.1 and h2c on one port, header-read timeout, connection
//! cap, graceful drain) and the admin listener.
//!
//! Limits on client connections:
//! - `server.max_connections`: connections served at once; more wait in the accept queue.
//! - `server.header_read_timeout`: a new connection must deliver its first request's headers
//!   within it (whatever the protocol, so a client that connects and sends nothing, or trickles
//!   its headers, is cut off), and an HTTP/1.1 connection must deliver each later request's
//!   headers within it of becoming idle (so idle keep-alive connections close after it too).
//!
//! Shutdown ([`Gateway::shutdown`]): readiness turns false, the API listener closes (new
//! connections are refused), idle connections close, in-flight requests and streams go on. When
//! `server.shutdown_grace` runs out, the streams still open end with `response.failed` and the
//! remaining connections are closed. The admin listener keeps answering (`/readyz` = 503) until
//! the drain is over.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::StartError;
use crate::http::body::BodyLimits;
use arc_swap::ArcSwap;

use crate::http::{admin, router};
use crate::plan::{AppState, LiveState};
use crate::shutdown::GRACE_OVER;
use crate::telemetry;

/// A running gateway: both listeners bound, serving until [`Gateway::shutdown`].
pub struct Gateway {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The current state; [`Gateway::reload`] swaps it.
    pub state: LiveState,
    shutdown: watch::Sender<bool>,
    api_task: JoinHandle<()>,
    admin_task: JoinHandle<()>,
}

impl Gateway {
    pub async fn start(config: Config) -> Result<Self, StartError> {
        telemetry::metrics_handle();
        let api = bind(config.server.listen).await?;
        let admin = bind(config.server.admin_listen).await?;
        let addr = api.local_addr().map_err(|source| StartError::Bind {
            addr: config.server.listen,
            source,
        })?;
        let admin_addr = admin.local_addr().map_err(|source| StartError::Bind {
            addr: config.server.admin_listen,
            source,
        })?;
        let state: LiveState = Arc::new(ArcSwap::from_pointee(AppState::new(config)?));
        let (shutdown, rx) = watch::channel(false);
        tokio::spawn(probe_down_upstreams(state.clone(), rx.clone()));
        let api_task = tokio::spawn(serve_api(api, state.clone(), rx));
        // The admin listener outlives the drain (readiness reports it); `wait` stops it.
        let admin_task = tokio::spawn(serve_admin(admin, state.clone()));
        Ok(Self {
            addr,
            admin_addr,
            state,
            shutdown,
            api_task,
            admin_task,
        })
    }

    /// Stops accepting; in-flight requests and streams get `server.shutdown_grace` to finish.
    /// Readiness turns false first.
    pub fn shutdown(&self) {
        self.state
            .load()
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.shutdown.send(true);
    }

    /// Swaps in a new config atomically (keys, limits, aliases, upstream). Listener addresses and
    /// cache sizes take effect at the next restart. In-flight requests finish on the old state.
    pub fn reload(&self, config: crate::config::Config) -> Result<(), StartError> {
        let current = self.state.load_full();
        let next = current.reloaded(config)?;
        self.state.store(Arc::new(next));
        Ok(())
    }

    /// Waits until the API listener has drained (or the grace period ran out).
    pub async fn wait(self) {
        let _ = self.api_task.await;
        self.admin_task.abort();
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

async fn shutdown_signal(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn serve_api(listener: TcpListener, state: LiveState, rx: watch::Receiver<bool>) {
    let server_cfg = state.load().config.server.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own header limits sit far above the gateway's (which answer 431 in OpenAI's
    // envelope, see router::check_headers): only a grossly oversized request meets hyper's
    // bare 431.
    let header_room = server_cfg.max_header_bytes.saturating_mul(4);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server_cfg.header_read_timeout)
        .max_headers(server_cfg.max_headers.saturating_mul(4))
        .max_buf_size(header_room.max(64 * 1024))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(header_room).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    let (grace_over_tx, grace_over_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(server_cfg.max_connections));
    // The room request bodies share, for the process's life (its size is read at start).
    let body_room = BodyLimits::room_for(server_cfg.max_buffered_body_bytes);
    let stop = shutdown_signal(rx);
    tokio::pin!(stop);

    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let body_room = body_room.clone();
        let grace_over = grace_over_rx.clone();
        let got_request = Arc::new(AtomicBool::new(false));
        let seen = got_request.clone();
        let service = service_fn(move |req| {
            seen.store(true, Ordering::Relaxed);
            GRACE_OVER.scope(
                grace_over.clone(),
                router::handle(state.load_full(), body_room.clone(), req),
            )
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        let first_request_within = server_cfg.header_read_timeout;
        tokio::spawn(async move {
            tokio::pin!(conn);
            // hyper's own header timeout starts only once the protocol is known (and not at
            // all for h2): the first request must arrive within the timeout of connecting.
            let result = tokio::select! {
                r = conn.as_mut() => Some(r),
                _ = tokio::time::sleep(first_request_within) => None,
            };
            let result = match result {
                Some(r) => r,
                None if got_request.load(Ordering::Relaxed) => conn.await,
                None => {
                    tracing::debug!("no request headers within server.header_read_timeout; closing the connection");
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    // The grace period of the current config (a reload may have changed it).
    let grace = state.load().config.server.shutdown_grace;
    tracing::info!(grace = ?grace, "draining connections");
    let drained = graceful.shutdown();
    tokio::pin!(drained);
    tokio::select! {
        _ = &mut drained => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(grace) => {
            tracing::warn!("grace period over; ending the open streams and closing the remaining connections");
            let _ = grace_over_tx.send(true);
            // Time for the streams' final `response.failed` events to be written out.
            if tokio::time::timeout(Duration::from_secs(1), &mut drained).await.is_err() {
                tracing::warn!("connections still open after the grace period; closing them");
            }
        }
    }
}

/// Brings upstreams marked down back once their readiness probe succeeds again.
async fn probe_down_upstreams(state: LiveState, rx: watch::Receiver<bool>) {
    let stop = shutdown_signal(rx);
    tokio::pin!(stop);
    loop {
        let interval = state.load().config.upstream.health_interval;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut stop => return,
        }
        let current = state.load_full();
        for (_, client) in current.upstreams.clients() {
            // A successful probe marks it up.
            if !client.is_up() {
                let _ = client.probe().await;
            }
        }
    }
}

async fn serve_admin(listener: TcpListener, state: LiveState) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let state = state.clone();
        let service = service_fn(move |req| admin::handle(state.load_full(), req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
