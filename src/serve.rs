//! The HTTP server loop: connections accepted under a cap, served by hyper's HTTP/1 with a
//! timer, drained on shutdown within a grace period.
//!
//! `axum::serve` runs hyper without a timer (so no header-read timeout: a client could hold a
//! connection forever by sending nothing, or a byte now and then) and accepts without bound.
//! This is the same hyper-util machinery with those limits:
//! - at most `max_connections` connections are served at once; the loop stops accepting while
//!   the cap is reached, so further clients wait in the kernel's accept backlog (and, past
//!   that, their connection attempts fail) until a connection closes;
//! - a client has `header_read_timeout` to send each request's headers, and an idle
//!   keep-alive connection is closed after the same time (hyper starts that timer as soon as
//!   it waits for the next request);
//! - HTTP/1.1 only: HTTP/2 reaches the service through the TLS proxy in front of it, which
//!   speaks HTTP/1.1 upstream, and hyper-util's HTTP/1-or-2 sniffing waits for the first bytes
//!   without any timeout;
//! - on the shutdown signal the listener is closed (new connections are refused), idle
//!   connections are closed, requests in progress finish and their connections close; when
//!   the grace period runs out first, the remaining connections are cut and counted in the log.

use crate::http::admission::Admission;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Connection and shutdown limits of the server loop.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time to send a request's headers, and to keep an idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// Time after the shutdown signal for requests in progress to finish.
    pub shutdown_grace: Duration,
}

/// What was left when the server loop ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Connections still open when the grace period ran out (and were cut).
    pub cut_connections: usize,
    /// Of their requests, those still in progress.
    pub cut_requests: usize,
}

/// Serves `router` on `listener` until `signal` completes, then drains (see the module doc).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    options: ServeOptions,
    signal: impl Future<Output = ()>,
    admission: Arc<Admission>,
) -> Drained {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(signal);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            biased;
            () = &mut signal => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    pause_after_accept_error(e).await;
                    continue;
                }
            },
        };
        // Responses go out whole; Nagle's algorithm would only delay their last segment.
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                // What `into_make_service_with_connect_info` gives handlers: the client
                // address (rate limits and the IP fallback read it).
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    while connections.try_join_next().is_some() {}
    tracing::info!(
        connections = connections.len(),
        requests = admission.in_flight(),
        grace_s = options.shutdown_grace.as_secs_f64(),
        "shutting down: listener closed, draining the requests in progress"
    );
    let drained = tokio::time::timeout(options.shutdown_grace, graceful.shutdown()).await;
    let mut left = Drained::default();
    if drained.is_err() {
        while connections.try_join_next().is_some() {}
        left = Drained {
            cut_connections: connections.len(),
            cut_requests: admission.in_flight(),
        };
        tracing::warn!(
            connections = left.cut_connections,
            requests = left.cut_requests,
            "shutdown grace period over: cutting the connections still open"
        );
    }
    connections.shutdown().await;
    if drained.is_ok() {
        tracing::info!("every connection closed");
    }
    left
}

/// After a failed accept: a reset or refused handshake concerns one client only; anything
/// else (out of file descriptors, mostly) is logged and retried after a pause instead of
/// spinning.
async fn pause_after_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection failed: {e}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
