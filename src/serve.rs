//! The HTTP server loop: connections accepted under a cap, served by hyper's HTTP/1 with a
//! timer, drained on shutdown within a grace period.
//!
//! `axum::serve` runs hyper without a timer (so no header-read timeout: a client could hold a
//! connection forever by sending nothing, or a byte now and then) and accepts without bound.
//! This is the same hyper-util machinery with those limits:
//! - at most `max_connections` connections are served at once; the loop stops accepting while
//!   the cap is reached, so further clients wait in the kernel's accept backlog (past that,
//!   the kernel drops their connection attempts, which clients retry) until a connection
//!   closes;
//! - a client has `header_read_timeout` to send each request's headers, and an idle
//!   keep-alive connection is closed after the same time (hyper starts that timer as soon as
//!   it waits for the next request);
//! - a client that takes no byte of a response for `send_timeout` is disconnected (hyper has
//!   no write timeout: a client that never reads would hold its connection forever);
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
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
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
    /// Time a client may take no byte of a response before it is disconnected.
    pub send_timeout: Duration,
    /// Time after the shutdown signal for requests in progress to finish.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `signal` completes, then drains (see the module doc);
/// what had to be cut is logged.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    options: ServeOptions,
    signal: impl Future<Output = ()>,
    admission: Arc<Admission>,
) {
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
        let io = TokioIo::new(SendDeadline::new(stream, options.send_timeout));
        let connection = builder
            .serve_connection(io, TowerToHyperService::new(service))
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
    if drained.is_err() {
        while connections.try_join_next().is_some() {}
        tracing::warn!(
            connections = connections.len(),
            requests = admission.in_flight(),
            "shutdown grace period over: cutting the connections still open"
        );
    }
    connections.shutdown().await;
    if drained.is_ok() {
        tracing::info!("every connection closed");
    }
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

/// A client socket whose writes fail with `TimedOut` once the client has taken no byte for
/// `limit` (its receive window stayed shut), which ends the connection.
struct SendDeadline {
    stream: TcpStream,
    limit: Duration,
    /// Running while a write waits for the client.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SendDeadline {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
        }
    }

    /// Passes a write's result through; while it is pending, counts down the deadline.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if stalled.as_mut().poll(cx).is_ready() {
            self.stalled = None;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took no data for {} s", limit.as_secs()),
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for SendDeadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.watch(cx, poll)
    }
}
