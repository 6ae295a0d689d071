//! The accept loop: every connection is served by hyper under the limits of the public edge
//! (issue 11, finding 2).
//!
//! `axum::serve` has no header timeout, no idle timeout and no connection cap: 20,000 idle
//! sockets exhausted the process's file limit and `/healthz` stopped answering. Here each
//! connection goes through three phases, tracked in a shared [`Conn`]:
//!
//! - idle (accepted, or between keep-alive requests): closed after `idle_timeout`;
//! - reading a request head (from its first byte): closed after `header_read_timeout`;
//! - busy (a handler runs): a read that makes no progress for `idle_timeout` closes it, and
//!   ingest bodies must keep the rate floor of [`crate::ingest::body::Pace`];
//!
//! and an upgraded connection (a WebSocket) is left to its handler. Past `max_connections` the
//! connection that has been idle (or slow with its head) the longest is closed to make room, as
//! nginx reuses keep-alive connections when it runs out: newcomers are served, and the clients
//! that pay are the ones holding sockets without using them.
//!
//! The timeouts live in the socket wrapper ([`TimedIo`]) rather than in hyper, whose header
//! timeout also runs while a keep-alive connection is idle, so the two could not differ.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::ConnectionLimits;
use crate::metrics::Metrics;

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;
const UPGRADED: u8 = 3;

/// One connection's phase, shared by its socket wrapper, its service and the registry.
struct Conn {
    phase: AtomicU8,
    /// Milliseconds since the registry's epoch when the phase began.
    since: AtomicU64,
    /// Milliseconds since the registry's epoch of the last byte read.
    last_read: AtomicU64,
    close: CancellationToken,
}

/// Every open connection, for the cap and for shutdown.
struct Registry {
    epoch: Instant,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    emptied: Notify,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection, making room when at the cap; `None` when every connection
    /// is busy and the newcomer must be turned away.
    fn admit(&self, max: usize, metrics: &Metrics) -> Option<(u64, Arc<Conn>)> {
        let now = self.now_ms();
        let mut conns = self.lock();
        if conns.len() >= max {
            // Closing a batch at a time keeps the scan's cost per accepted connection small
            // when a flood keeps the node at its cap (nginx closes up to 32 at once).
            Self::evict_longest_idle(&mut conns, (max / 128).clamp(1, 256), metrics);
            if conns.len() >= max {
                return None;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            phase: AtomicU8::new(IDLE),
            since: AtomicU64::new(now),
            last_read: AtomicU64::new(now),
            close: CancellationToken::new(),
        });
        conns.insert(id, conn.clone());
        metrics.connections_open.set(conns.len() as i64);
        Some((id, conn))
    }

    /// Closes up to `n` connections that are idle or reading a head, longest first.
    fn evict_longest_idle(conns: &mut HashMap<u64, Arc<Conn>>, n: usize, metrics: &Metrics) {
        let mut candidates: Vec<(u64, u64)> = conns
            .iter()
            .filter(|(_, c)| matches!(c.phase.load(Ordering::Relaxed), IDLE | HEAD))
            .map(|(id, c)| (c.since.load(Ordering::Relaxed), *id))
            .collect();
        if candidates.len() > n {
            candidates.select_nth_unstable(n);
            candidates.truncate(n);
        }
        for (_, id) in candidates {
            if let Some(conn) = conns.remove(&id) {
                conn.close.cancel();
                metrics.connections_evicted.inc();
            }
        }
    }

    fn remove(&self, id: u64, metrics: &Metrics) {
        let mut conns = self.lock();
        conns.remove(&id);
        metrics.connections_open.set(conns.len() as i64);
        if conns.is_empty() {
            self.emptied.notify_waiters();
        }
    }
}

/// A socket whose reads fail with `TimedOut` when the connection's phase says it waited too
/// long; hyper then closes the connection.
struct TimedIo {
    inner: TcpStream,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    limits: ConnectionLimits,
    timer: Option<(Instant, Pin<Box<Sleep>>)>,
    metrics: Arc<Metrics>,
}

impl TimedIo {
    /// When the pending read must have produced a byte, by phase.
    fn deadline(&self) -> Option<Instant> {
        let since = self.conn.since.load(Ordering::Relaxed);
        match self.conn.phase.load(Ordering::Relaxed) {
            IDLE => Some(self.registry.at(since) + self.limits.idle_timeout),
            HEAD => Some(self.registry.at(since) + self.limits.header_read_timeout),
            BUSY => {
                let last = self.conn.last_read.load(Ordering::Relaxed);
                Some(self.registry.at(last) + self.limits.idle_timeout)
            }
            _ => None,
        }
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let now = self.registry.now_ms();
                    self.conn.last_read.store(now, Ordering::Relaxed);
                    // The first byte of a request starts the header clock.
                    if self
                        .conn
                        .phase
                        .compare_exchange(IDLE, HEAD, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        self.conn.since.store(now, Ordering::Relaxed);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = self.deadline() else {
                    return Poll::Pending;
                };
                let this = &mut *self;
                match &mut this.timer {
                    Some((at, sleep)) if *at == deadline => {
                        if sleep.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    slot => {
                        let mut sleep = Box::pin(tokio::time::sleep_until(deadline));
                        let pending = sleep.as_mut().poll(cx).is_pending();
                        *slot = Some((deadline, sleep));
                        if pending {
                            return Poll::Pending;
                        }
                    }
                }
                this.metrics.connections_timed_out.inc();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client was idle or slow for too long",
                )))
            }
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// True for errors after which `accept` can go on (the peer gave up, or the process is out of
/// file descriptors for a moment).
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || matches!(e.raw_os_error(), Some(23 | 24)) // ENFILE, EMFILE
}

/// Serves `app` on `listener` until `stop` completes, then lets open requests finish and
/// returns once every connection is closed.
///
/// # Cancel safety
/// Complete `stop` rather than dropping this future: dropping it abandons the connections'
/// tasks, which then run on until their clients leave.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let registry = Arc::new(Registry {
        epoch: Instant::now(),
        conns: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
        emptied: Notify::new(),
    });
    let stopping = CancellationToken::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The phases above do this job, with separate idle and header timeouts.
        .header_read_timeout(None)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_transient(&e) => {
                    if matches!(e.raw_os_error(), Some(23 | 24)) {
                        tracing::warn!(error = %e, "out of file descriptors; closing the longest-idle connection");
                        evict_one(&registry, &metrics);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let Some((id, conn)) = registry.admit(limits.max_connections, &metrics) else {
            // Every connection is busy with a request: refuse this one rather than queue it.
            metrics.connections_refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TimedIo {
            inner: stream,
            conn: conn.clone(),
            registry: registry.clone(),
            limits: limits.clone(),
            timer: None,
            metrics: metrics.clone(),
        };
        tokio::spawn(serve_connection(
            io,
            peer,
            app.clone(),
            builder.clone(),
            (id, conn),
            registry.clone(),
            stopping.clone(),
            metrics.clone(),
        ));
    }
    // Stop accepting, tell idle connections to go and busy ones to finish their request.
    drop(listener);
    stopping.cancel();
    loop {
        let emptied = registry.emptied.notified();
        if registry.lock().is_empty() {
            return Ok(());
        }
        emptied.await;
    }
}

fn evict_one(registry: &Registry, metrics: &Metrics) {
    let mut conns = registry.lock();
    Registry::evict_longest_idle(&mut conns, 1, metrics);
    metrics.connections_open.set(conns.len() as i64);
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    io: TimedIo,
    peer: SocketAddr,
    app: Router,
    builder: Arc<hyper::server::conn::http1::Builder>,
    (id, conn): (u64, Arc<Conn>),
    registry: Arc<Registry>,
    stopping: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let service = {
        let conn = conn.clone();
        let registry = registry.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let upgrade = req.headers().contains_key(hyper::header::UPGRADE);
            conn.phase
                .store(if upgrade { UPGRADED } else { BUSY }, Ordering::Relaxed);
            conn.last_read.store(registry.now_ms(), Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            let response = app.clone().oneshot(req.map(axum::body::Body::new));
            let conn = conn.clone();
            let registry = registry.clone();
            async move {
                let response = response.await;
                if conn
                    .phase
                    .compare_exchange(BUSY, IDLE, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    conn.since.store(registry.now_ms(), Ordering::Relaxed);
                }
                response
            }
        })
    };
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        () = conn.close.cancelled() => Ok(()),
        () = stopping.cancelled() => {
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                r = connection.as_mut() => r,
                () = conn.close.cancelled() => Ok(()),
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
    registry.remove(id, &metrics);
}
