//! Listeners: the OpenAI API (HTTP/1.1 and h2c on one port, header-read timeout, connection
//! cap, graceful drain) and the admin listener.

use std::net::SocketAddr;
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
use arc_swap::ArcSwap;

use crate::state::{AppState, LiveState};
use crate::{router, routes, telemetry};

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

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[from] reqwest::Error),
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
        let api_task = tokio::spawn(serve_api(api, state.clone(), rx.clone()));
        let admin_task = tokio::spawn(serve_admin(admin, state.clone(), rx));
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
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server_cfg.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(server_cfg.max_connections));
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
        let service = service_fn(move |req| router::handle(state.load_full(), req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!(grace = ?server_cfg.shutdown_grace, "draining connections");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(server_cfg.shutdown_grace) => {
            tracing::warn!("grace period over; closing the remaining connections");
        }
    }
}

async fn serve_admin(listener: TcpListener, state: LiveState, rx: watch::Receiver<bool>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let stop = shutdown_signal(rx);
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let state = state.clone();
        let service = service_fn(move |req| routes::admin::handle(state.load_full(), req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
