//! The accept loop and the connection limits (the guarantee they give is in
//! the crate header, "Connections and the operator reserve").
//!
//! Every accepted connection is served by hyper's HTTP/1.1 connection with
//! its header-read timeout (`hyper::server::conn::http1::Builder::
//! header_read_timeout`, which also covers the wait for the next request on
//! a kept-alive connection) and an idle watchdog of our own (no byte read or
//! written for `idle_timeout` closes it). A connection lands in one of two
//! pools when it is accepted:
//!
//! - **general**: at most `max_connections`, at most `max_connections_per_ip`
//!   from one peer address; every route; keep-alive.
//! - **reserve** (only when the general pool or the peer's share of it is
//!   full): at most `reserve_connections`; one request, no keep-alive, a
//!   short head timeout; served only if the request is an operator command
//!   (halt / reduce / resume / cancel / restart) carrying a valid operator or
//!   admin token, or a health probe; anything else gets 503 and the
//!   connection is closed. When the reserve is full, the oldest reserve
//!   connection that has not yet shown such a request is closed to make
//!   room, so unauthenticated connections cannot hold the reserve.
//!
//! Accept errors (EMFILE / ENFILE when the process is out of descriptors,
//! ENOBUFS, …) never end the loop: it logs (at most every 10 s), counts
//! them, and retries after 100 ms.

use crate::auth::{Role, TokenStore};
use crate::metrics::Metrics;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};

/// The connection bounds (from [`crate::ServerOptions`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub reserve_connections: usize,
    pub reserve_head_timeout: Duration,
}

/// What a request knows about the connection it came on.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    /// `Some` on a reserve connection: set once the request is admitted
    /// (a valid operator command or a health probe), so the connection is
    /// no longer a candidate for eviction.
    pub admitted: Option<Arc<AtomicBool>>,
}

/// The operator routes the reserve serves (with an operator or admin token).
pub(crate) fn is_operator_command(method: &axum::http::Method, path: &str) -> bool {
    if method != axum::http::Method::POST {
        return false;
    }
    // `/api/v1/cluster/kill`: the cluster view's kill switch (`bulkhead cluster serve`).
    matches!(path, "/api/v1/halt" | "/api/v1/reduce" | "/api/v1/resume" | "/api/v1/cancel" | "/api/v1/cluster/kill")
        || path
            .strip_prefix("/api/v1/strategies/")
            .and_then(|rest| rest.strip_suffix("/restart"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// True if `token` is a valid token of role operator or admin.
pub(crate) fn operator_token(tokens: &RwLock<TokenStore>, authorization: Option<&str>) -> bool {
    let Some(token) = authorization.and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    }) else {
        return false;
    };
    let store = tokens.read().unwrap_or_else(|e| e.into_inner());
    store.verify(token).is_some_and(|(_, role)| role >= Role::Operator)
}

// ------------------------------------------------------------------ pools

struct ReserveEntry {
    id: u64,
    admitted: Arc<AtomicBool>,
    evict: Arc<Notify>,
}

#[derive(Default)]
struct PoolState {
    general: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Oldest first.
    reserve: VecDeque<ReserveEntry>,
    next_id: u64,
}

pub(crate) struct Pools {
    state: Mutex<PoolState>,
    limits: Limits,
    metrics: Arc<Metrics>,
}

enum Slot {
    General { pools: Arc<Pools>, ip: IpAddr },
    Reserve { pools: Arc<Pools>, id: u64, admitted: Arc<AtomicBool>, evict: Arc<Notify> },
}

impl Drop for Slot {
    fn drop(&mut self) {
        match self {
            Slot::General { pools, ip } => {
                let mut s = pools.lock();
                s.general = s.general.saturating_sub(1);
                if let Some(n) = s.per_ip.get_mut(ip) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        s.per_ip.remove(ip);
                    }
                }
                pools.metrics.http_general.store(s.general as u64, Relaxed);
            }
            Slot::Reserve { pools, id, .. } => {
                let mut s = pools.lock();
                if let Some(i) = s.reserve.iter().position(|e| e.id == *id) {
                    s.reserve.remove(i);
                }
                pools.metrics.http_reserve.store(s.reserve.len() as u64, Relaxed);
            }
        }
    }
}

impl Pools {
    pub(crate) fn new(limits: Limits, metrics: Arc<Metrics>) -> Arc<Pools> {
        Arc::new(Pools { state: Mutex::new(PoolState::default()), limits, metrics })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a new connection from `ip`, or `None` (close it now).
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let l = &self.limits;
        let mut s = self.lock();
        let mine = s.per_ip.get(&ip).copied().unwrap_or(0);
        if s.general < l.max_connections && mine < l.max_connections_per_ip {
            s.general += 1;
            *s.per_ip.entry(ip).or_default() += 1;
            self.metrics.http_general.store(s.general as u64, Relaxed);
            return Some(Slot::General { pools: self.clone(), ip });
        }
        if l.reserve_connections == 0 {
            self.metrics.http_refused.fetch_add(1, Relaxed);
            return None;
        }
        if s.reserve.len() >= l.reserve_connections {
            // Make room: close the oldest connection that has not shown a
            // valid operator command (it had the longest to send one).
            match s.reserve.iter().position(|e| !e.admitted.load(Relaxed)) {
                Some(i) => {
                    if let Some(e) = s.reserve.remove(i) {
                        e.evict.notify_one();
                        self.metrics.http_evicted.fetch_add(1, Relaxed);
                    }
                }
                None => {
                    // Every reserve slot carries an operator command in
                    // flight; they end within the command timeout.
                    self.metrics.http_refused.fetch_add(1, Relaxed);
                    return None;
                }
            }
        }
        s.next_id += 1;
        let (id, admitted, evict) = (s.next_id, Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
        s.reserve.push_back(ReserveEntry { id, admitted: admitted.clone(), evict: evict.clone() });
        self.metrics.http_reserve.store(s.reserve.len() as u64, Relaxed);
        Some(Slot::Reserve { pools: self.clone(), id, admitted, evict })
    }
}

// ------------------------------------------------------------------ I/O

/// A stream that records when it last moved a byte (ms since `start`).
struct Tracked<T> {
    io: T,
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl<T> Tracked<T> {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Resolves once no byte moved for `idle`.
async fn idle_watch(start: Instant, last_ms: Arc<AtomicU64>, idle: Duration) {
    loop {
        let last = start.checked_add(Duration::from_millis(last_ms.load(Relaxed))).unwrap_or(start);
        let Some(deadline) = last.checked_add(idle) else { return std::future::pending().await };
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

// ------------------------------------------------------------------ serving

/// The two routers: `general` serves everything; `reserve` is the same
/// router behind the reserve gate.
pub(crate) struct Apps {
    pub general: Router,
    pub reserve: Router,
}

async fn serve_conn<IO>(io: IO, slot: Slot, apps: Arc<Apps>, limits: Limits, mut stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let start = Instant::now();
    let last_ms = Arc::new(AtomicU64::new(0));
    let io = Tracked { io, start, last_ms: last_ms.clone() };
    let (app, reserve) = match &slot {
        Slot::General { .. } => (apps.general.clone(), None),
        Slot::Reserve { admitted, evict, .. } => (apps.reserve.clone(), Some((admitted.clone(), evict.clone()))),
    };
    let info = ConnInfo { admitted: reserve.as_ref().map(|(a, _)| a.clone()) };
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(info.clone());
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(if reserve.is_some() { limits.reserve_head_timeout } else { limits.header_read_timeout })
        .keep_alive(reserve.is_none())
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let idle = idle_watch(start, last_ms, limits.idle_timeout);
    tokio::pin!(idle);
    let evict = reserve.as_ref().map(|(_, n)| n.clone());
    let evicted = async move {
        match evict {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(evicted);
    let (mut stopping, mut evict_seen) = (false, false);
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = &mut idle => break,
            _ = &mut evicted, if !evict_seen => {
                evict_seen = true;
                // Evicted before its request was admitted: close. (An
                // admitted request in the same instant finishes.)
                if !reserve.as_ref().is_some_and(|(a, _)| a.load(Relaxed)) {
                    break;
                }
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    drop(slot);
}

/// Treat as a per-connection hiccup (retry at once), not a resource problem.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Accept until `stop`, then wait up to 2 s for open connections to finish.
pub(crate) async fn run(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    apps: Arc<Apps>,
    pools: Arc<Pools>,
    mut stop: watch::Receiver<bool>,
) {
    let limits = pools.limits;
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut last_warn: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = match accepted {
            Ok(x) => x,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors (EMFILE / ENFILE) or buffers: the
                // pending connection stays in the backlog; back off
                // instead of spinning, and keep the loop alive.
                pools.metrics.http_accept_errors.fetch_add(1, Relaxed);
                if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "control plane: accept failed; retrying in 100 ms");
                    last_warn = Some(Instant::now());
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                continue;
            }
        };
        let Some(slot) = pools.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (apps, stop, done, tls) = (apps.clone(), stop.clone(), done_tx.clone(), tls.clone());
        tokio::spawn(async move {
            let _done = done;
            match tls {
                None => serve_conn(stream, slot, apps, limits, stop).await,
                Some(acceptor) => {
                    let handshake = match &slot {
                        Slot::General { .. } => limits.header_read_timeout,
                        Slot::Reserve { .. } => limits.reserve_head_timeout,
                    };
                    if let Ok(Ok(tls)) = tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        serve_conn(tls, slot, apps, limits, stop).await;
                    }
                }
            }
        });
    }
    drop(listener);
    drop(done_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), done_rx.recv()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize, reserve: usize) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_connections: max,
            max_connections_per_ip: per_ip,
            reserve_connections: reserve,
            reserve_head_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn pools_cap_general_per_ip_and_evict_the_oldest_unadmitted_reserve() {
        let m = Arc::new(Metrics::default());
        let p = Pools::new(limits(3, 2, 2), m.clone());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let g1 = p.admit(a).unwrap();
        let g2 = p.admit(a).unwrap();
        assert!(matches!((&g1, &g2), (Slot::General { .. }, Slot::General { .. })));
        // a's share is used up: the reserve.
        let r1 = p.admit(a).unwrap();
        assert!(matches!(r1, Slot::Reserve { .. }));
        let g3 = p.admit(b).unwrap();
        assert!(matches!(g3, Slot::General { .. }));
        // Global cap reached: b goes to the reserve too.
        let r2 = p.admit(b).unwrap();
        let Slot::Reserve { admitted: ref adm2, .. } = r2 else { panic!("reserve") };
        adm2.store(true, Relaxed);
        // Reserve full: the oldest unadmitted (r1) is evicted, not r2.
        let Slot::Reserve { evict: ref ev1, .. } = r1 else { panic!("reserve") };
        let ev1 = ev1.clone();
        let r3 = p.admit(b).unwrap();
        assert_eq!(m.http_evicted.load(Relaxed), 1);
        let fut = ev1.notified();
        futures_util::pin_mut!(fut);
        assert!(futures_util::FutureExt::now_or_never(fut).is_some(), "r1 was told to close");
        // r2 admitted, r3 not: r3 goes next; with both admitted, refuse.
        let Slot::Reserve { admitted: ref adm3, .. } = r3 else { panic!("reserve") };
        adm3.store(true, Relaxed);
        assert!(p.admit(b).is_none());
        assert_eq!(m.http_refused.load(Relaxed), 1);
        // Closing connections gives their places back.
        drop((g1, g2, g3, r1, r2, r3));
        let s = p.lock();
        assert_eq!((s.general, s.per_ip.len(), s.reserve.len()), (0, 0, 0));
    }

    #[test]
    fn operator_command_routes() {
        use axum::http::Method;
        for p in ["/api/v1/halt", "/api/v1/cancel", "/api/v1/reduce", "/api/v1/resume", "/api/v1/strategies/mm/restart"]
        {
            assert!(is_operator_command(&Method::POST, p), "{p}");
            assert!(!is_operator_command(&Method::GET, p), "{p}");
        }
        for p in ["/api/v1/status", "/api/v1/strategies//restart", "/api/v1/strategies/a/b/restart", "/api/v1/tokens"] {
            assert!(!is_operator_command(&Method::POST, p), "{p}");
        }
    }
}
