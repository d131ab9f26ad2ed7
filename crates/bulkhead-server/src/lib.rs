//! # bulkhead-server — the control plane
//!
//! Owns: the HTTP API (axum on its own tokio runtime and threads), API
//! tokens and roles, the Prometheus `/metrics` text, the live event stream
//! (SSE), the OpenAPI description and the operator dashboard; and the same
//! machinery for the cluster view ([`start_cluster_view`]: the nodes,
//! streams, metrics and kill switch of a whole cluster from a
//! [`ClusterSource`], `bulkhead cluster serve`).
//!
//! Must never: hold trading state of its own or apply anything. Everything
//! it shows comes from the latest [`Snapshot`] the engine published;
//! everything it changes is a [`Command`] the engine applies (or refuses)
//! on its own thread, between events.
//!
//! ## Contract with the engine
//!
//! [`start`] binds the listener, starts the runtime on its own thread and
//! returns a [`ControlHandle`] (for the engine thread) and a [`ServerGuard`]
//! (keeps the server up; dropping it shuts it down). Every handle method is
//! synchronous and non-blocking — the engine never awaits, never waits on a
//! lock held across I/O, and stays single-threaded and deterministic:
//!
//! | engine calls | when | cost |
//! |---|---|---|
//! | [`ControlHandle::try_recv`] | between market events (after one event's whole pipeline, before the next) until it returns `None` | a non-blocking channel poll |
//! | [`Reply::send`] | once per received command, after journalling and applying (or refusing) it | a one-shot send |
//! | [`ControlHandle::publish`] | every N events (e.g. 10 000) and/or every M ms (e.g. 100), after any command, and once at the end | one `Arc` swap in a `watch` (the engine builds the `Snapshot`) |
//! | [`ControlHandle::emit`] | on fills, rejects, faults, state changes (guard with [`ControlHandle::has_subscribers`] to skip building events nobody reads) | a bounded `broadcast` send; the engine never blocks: a subscriber that falls [`ServerOptions::stream_capacity`] events behind loses the oldest and is sent `event: lagged` with the count — never a silent drop |
//! | [`Metrics::journal_fsync`] then [`Histogram::observe_ns`] per fsync (optional: for an engine that times each fsync) | hot path | three relaxed atomic adds |
//!
//! [`engine_control::EngineControl`] does all of this for the built-in
//! engine: at every event boundary it drains the engine's observer feed
//! (`Engine::enable_observer`, turned on at the first boundary: the
//! journalled records themselves, read back as the journal's one typed
//! `records::Record` that `journal show` renders too), keeps the newest
//! [`MAX_DECISIONS`] decisions and [`MAX_RECENT`] faults in rings it
//! publishes in the snapshot, emits fills, rejects, faults and state
//! changes, feeds the fsync histogram from the journal's own per-fsync
//! timings, and in paper mode reports how far it is behind its pacing
//! schedule (`event_lag_ns`; 0 when not paced). It also keeps the
//! bounded [`PnlHistory`] (net PnL over event time from the run's first
//! event, at most [`MAX_PNL_POINTS`] points) derived from the snapshots it
//! publishes, served at `GET /api/v1/pnl/history`.
//!
//! For each command the engine MUST, in this order:
//! 1. check it (unknown strategy / instrument / limit field, value outside
//!    the firm policy, module that does not load) and refuse with a
//!    [`CommandError`] without changing anything if it fails — nothing is
//!    ever half-applied;
//! 2. append a journal record naming the command and the actor
//!    (`bulkhead_engine::command::Journalled`'s text: kind, target,
//!    arguments, actor name and role; deployed modules by blake3 hash)
//!    **before** the command takes effect;
//! 3. apply it (`Halt` = R11 HALTED for the scope *and* cancel the scope's
//!    open orders; `MassCancel` = cancel only; `Reduce` / `Resume` = state
//!    change; `SetLimit`, `Deploy`, `Restart` touch only the named strategy);
//! 4. answer with [`Reply::send`]`(Ok(message))` and publish a snapshot so a
//!    client that reads right after the reply sees the change.
//!
//! A command whose HTTP caller already timed out ([`Reply::requester_gone`])
//! is still applied: a kill switch is never dropped because its caller
//! stopped waiting. The caller got 504 "outcome unknown" and can read the
//! state back.
//!
//! Commands are journalled and applied at event boundaries, so a replay that
//! feeds the journalled commands back at the same place reproduces the run.
//!
//! ## Access
//! Every request needs `Authorization: Bearer <token>` except `GET /` and
//! `GET /dashboard.js` (static files with no data; the page asks for a token),
//! `GET /healthz` (`ok`: the process answers) and `GET /readyz` (200
//! `ready` while the engine is attached, running and publishing; 503
//! `starting` / `finished` / `stopped` / `stalled`), which carry one word
//! and no data, and, only if [`ServerOptions::metrics_public`] is set,
//! `GET /metrics`.
//! Viewer: all reads, `/metrics`, `/openapi.json`, the stream. Operator:
//! halt, reduce, resume, cancel, restart. Admin: limits, deploy, tokens
//! (`GET/POST /api/v1/tokens`, `DELETE /api/v1/tokens/{name}`: a change is
//! a [`Command::Tokens`] the engine journals with the admin's name; only
//! then does the server write [`ServerOptions::tokens_file`] and swap the
//! token set, so the next request sees it).
//!
//! With [`ServerOptions::tls`] the same routes are served over HTTPS only
//! (rustls, ring provider, HTTP/1.1); certificate and key are loaded and
//! checked by [`start`].
//!
//! ## Connections and the operator reserve
//! The accept loop is ours (`http/serve.rs`), on hyper's HTTP/1.1
//! connection; axum only routes. Bounds (defaults in [`ServerOptions`]):
//!
//! | bound | default | enforced by | on breach |
//! |---|---|---|---|
//! | request head (and the wait for the next request on a kept-alive connection, and a TLS handshake) | 10 s `header_read_timeout` | hyper `http1::Builder::header_read_timeout` (TLS: a timeout around the handshake) | connection closed |
//! | no byte moved either way | 60 s `idle_timeout` | our watchdog on the connection's I/O | connection closed |
//! | request body | 30 s `body_timeout` | `read_body` | 408, `field` = `body` |
//! | open connections, general pool | 256 `max_connections` | accept loop | the connection goes to the reserve |
//! | … from one peer IP | 64 `max_connections_per_ip` | accept loop | the connection goes to the reserve |
//! | reserve connections | 32 `reserve_connections` | accept loop | the oldest reserve connection not yet carrying an admitted request is closed to make room; if all carry one, the new connection is closed |
//! | reserve head | 2 s `reserve_head_timeout`, one request, no keep-alive | hyper | connection closed |
//! | request head size | 64 KiB read buffer | hyper `max_buf_size` | 431 / closed |
//!
//! A reserve connection serves exactly one request, and only if it is an
//! operator command — `POST` halt, reduce, resume, cancel,
//! `strategies/{name}/restart` or the cluster view's `cluster/kill` — with
//! a valid operator or admin token, or a
//! health probe (`/healthz`, `/readyz`); anything else is 503 with
//! `Retry-After: 1` and the connection closes.
//!
//! **The guarantee.** Let R = `reserve_connections`. An operator command
//! (with a valid operator/admin token) sent on a new connection is read
//! and handed to the engine however many connections are open, however
//! many of them are idle or half-sent, and however hard the read
//! endpoints are flooded — as long as fewer than R other new connections
//! arrive between the operator's connection being accepted and its request
//! head being read (on a LAN that window is one round trip): only then
//! could it be the oldest unadmitted reserve connection and be evicted.
//! Idle and half-sent connections cannot hold the reserve (each new
//! connection evicts the oldest one that has not shown a valid command),
//! and they cannot hold the general pool longer than the header-read
//! timeout. Without a token nothing is ever admitted to the reserve, so an
//! attacker cannot fill it with requests in flight; a holder of an operator
//! token can, but could also just halt. The engine then applies the
//! command at its next event boundary (commands are drained between events
//! and, in a paced run, every ≤ 20 ms while waiting). Tested in
//! `tests/it/limits.rs`: 2 000 idle half-sent connections plus a 16-thread
//! read flood, halts answered and applied within 1 s.
//!
//! The server's own descriptors are bounded by `max_connections +
//! reserve_connections` (+ the listener), 289 by default, far below the
//! usual 1 024 soft limit, so a flood cannot starve the engine's journal or
//! the token file of descriptors. If `accept` still fails (EMFILE, ENFILE,
//! ENOBUFS) the loop logs at most every 10 s, counts it
//! (`bulkhead_http_accept_errors_total`), sleeps 100 ms and goes on; it
//! never spins and never stops.
//!
//! **Health probes** are never refused for lack of room: when the general
//! pool is full they are served from the reserve (they are admitted like
//! operator commands, one request per connection), so an orchestrator does
//! not kill a healthy process because its read endpoints are flooded. The
//! remaining risk is the same eviction window as above; point liveness
//! probes at `/healthz` with a failure threshold above one.

pub mod auth;
pub mod chain;
pub mod command;
pub mod deadman;
pub mod engine_control;
mod http;
pub mod metrics;
pub mod snapshot;
mod tls;

pub use auth::{PendingWrite, Role, TokenEntry, TokenError, TokenStore, hash_token, valid_token_name};
pub use chain::{ChainCounts, ChainIntentRecord, ChainIntents, ChainOutcome};
pub use command::{Actor, Command, CommandError, CommandResult, Envelope, Reply, SIGNATURE_HEADER, Scope, TokenChange};
pub use http::cluster_view::{ClusterSource, KillRefusal, KillTarget};
pub use metrics::{Histogram, Metrics};
pub use snapshot::{
    AlertOrderRef, AlertRecord, DecisionKind, DecisionRecord, EngineStatus, FaultRecord, InstrumentSnapshot,
    JournalStatus, LatencyHistogram, LiveEvent, MAX_DECISIONS, MAX_PNL_POINTS, MAX_RECENT, MONEY_SCALE, OrderCounts,
    OrderSnapshot, Pnl, PnlHistory, PnlSeries, PositionSnapshot, Resources, Snapshot, StrategySnapshot, TradingState,
};

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Tunables of the control plane. `Default` is what `bulkhead run --listen`
/// should use unless told otherwise.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Serve `/metrics` without a token (for a scraper on a trusted
    /// network). Default false: `/metrics` needs a viewer token, which
    /// Prometheus sends with `authorization: { credentials: … }`.
    pub metrics_public: bool,
    /// How long an HTTP request waits for the engine's answer (504 after).
    pub command_timeout: Duration,
    /// Largest JSON body accepted (413 above).
    pub json_body_limit: usize,
    /// Largest wasm module accepted by deploy (413 above).
    pub deploy_body_limit: usize,
    /// How long a deploy request waits for the engine's answer (504 after):
    /// the module is compiled off the engine thread first, under the
    /// runtime's `compile_timeout_ms` (10 s by default), which must be
    /// shorter.
    pub deploy_timeout: Duration,
    /// Commands queued for the engine at most (503 when full).
    pub command_queue: usize,
    /// Live events buffered per subscriber before the oldest are dropped.
    pub stream_capacity: usize,
    /// Tokio worker threads (the engine keeps the other cores).
    pub worker_threads: usize,
    /// Serve HTTPS (rustls) with this certificate and key instead of plain
    /// HTTP. `None` (the default): plain HTTP.
    pub tls: Option<TlsFiles>,
    /// The run's token file. With it, admins manage tokens through the API
    /// (`/api/v1/tokens`): each change is journalled by the engine, then
    /// written to this file (temporary file + rename) and takes effect for
    /// the next request. `None`: the token API refuses changes (409).
    pub tokens_file: Option<std::path::PathBuf>,
    /// A request's whole head (request line and headers) must arrive within
    /// this, counted from when the server starts waiting for it — so it is
    /// also how long a kept-alive connection may sit idle between requests
    /// (hyper's `header_read_timeout`). Also bounds a TLS handshake.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moved either way for this long is
    /// closed (a stalled body, a client that stopped reading a stream).
    /// Must exceed `command_timeout`; the stream sends a keep-alive comment
    /// at a third of it.
    pub idle_timeout: Duration,
    /// A request body must arrive whole within this (408 after).
    pub body_timeout: Duration,
    /// Open connections at most in the general pool (all routes) …
    pub max_connections: usize,
    /// … and at most this many of them from one peer IP address.
    pub max_connections_per_ip: usize,
    /// Connections beyond those caps that are still accepted, one request
    /// each, for operator commands with an operator/admin token and health
    /// probes only (see "Connections and the operator reserve"). 0: none.
    pub reserve_connections: usize,
    /// Head-read timeout on a reserve connection.
    pub reserve_head_timeout: Duration,
    /// `/readyz` answers 503 `stalled` when the engine's last snapshot is
    /// older than this while the run is running.
    pub ready_max_staleness: Duration,
}

/// PEM files for [`ServerOptions::tls`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert: std::path::PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: std::path::PathBuf,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            metrics_public: false,
            command_timeout: Duration::from_secs(5),
            json_body_limit: 1 << 20,
            deploy_body_limit: 16 << 20,
            deploy_timeout: Duration::from_secs(30),
            command_queue: 64,
            stream_capacity: 1024,
            worker_threads: 1,
            tls: None,
            tokens_file: None,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_connections_per_ip: 64,
            reserve_connections: 32,
            reserve_head_timeout: Duration::from_secs(2),
            ready_max_staleness: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("start the HTTP runtime: {0}")]
    Runtime(std::io::Error),
    #[error("no API tokens: every request would be refused (add one with `bulkhead token add`)")]
    NoTokens,
    /// The TLS certificate or key could not be used; names the file.
    #[error("TLS: {0}")]
    Tls(String),
}

fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The engine's end of the control plane. `Send`; owned by the engine thread.
pub struct ControlHandle {
    snapshot: watch::Sender<Arc<Snapshot>>,
    commands: mpsc::Receiver<Envelope>,
    events: broadcast::Sender<Arc<LiveEvent>>,
    metrics: Arc<Metrics>,
    seq: u64,
}

impl ControlHandle {
    /// Replace the published snapshot. Stamps `seq` and `published_unix_ms`
    /// and keeps only the newest [`MAX_DECISIONS`] decisions and
    /// [`MAX_RECENT`] faults.
    pub fn publish(&mut self, mut snap: Snapshot) {
        self.seq += 1;
        snap.seq = self.seq;
        snap.published_unix_ms = now_unix_ms();
        if snap.decisions.len() > MAX_DECISIONS {
            let n = snap.decisions.len() - MAX_DECISIONS;
            snap.decisions.drain(..n);
        }
        if snap.faults.len() > MAX_RECENT {
            let n = snap.faults.len() - MAX_RECENT;
            snap.faults.drain(..n);
        }
        self.snapshot.send_replace(Arc::new(snap));
    }

    /// The next queued operator command, if any. Never blocks.
    pub fn try_recv(&mut self) -> Option<(Command, Actor, Reply)> {
        self.commands.try_recv().ok().map(|e| (e.command, e.actor, e.reply))
    }

    /// Send a live event to every stream subscriber. Never blocks; with no
    /// subscriber it is dropped.
    pub fn emit(&self, ev: LiveEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(Arc::new(ev));
        }
    }

    /// True if anyone is listening to the live stream.
    pub fn has_subscribers(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Histograms the engine feeds (callback latency, fsync latency).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The last snapshot published (for the engine's own tests).
    pub fn last_published(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }
}

/// Why a command did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the engine is not running")]
    EngineGone,
    #[error("the command queue is full")]
    QueueFull,
    #[error("the engine did not answer in time; the command may still be applied")]
    Timeout,
    #[error("the engine dropped the command without answering")]
    Dropped,
}

/// The server's end of the control plane (also usable directly, without
/// HTTP, to drive an engine in tests: see [`channel`]).
#[derive(Clone)]
pub struct ControlClient {
    snapshot: watch::Receiver<Arc<Snapshot>>,
    commands: mpsc::Sender<Envelope>,
    events: broadcast::Sender<Arc<LiveEvent>>,
    metrics: Arc<Metrics>,
}

impl ControlClient {
    /// The latest published snapshot (an empty one with `seq == 0` before
    /// the first publish).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Queue a command and wait for the engine's answer.
    pub async fn submit(
        &self,
        command: Command,
        actor: Actor,
        timeout: Duration,
    ) -> Result<CommandResult, SubmitError> {
        let (tx, rx) = oneshot::channel();
        let env = Envelope { command, actor, reply: Reply::new(tx) };
        match self.commands.try_send(env) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(SubmitError::QueueFull),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(SubmitError::EngineGone),
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(SubmitError::Dropped),
            Err(_) => Err(SubmitError::Timeout),
        }
    }

    /// [`ControlClient::submit`] for plain threads (not inside a runtime).
    pub fn submit_blocking(
        &self,
        command: Command,
        actor: Actor,
        timeout: Duration,
    ) -> Result<CommandResult, SubmitError> {
        let (tx, rx) = oneshot::channel();
        let env = Envelope { command, actor, reply: Reply::new(tx) };
        match self.commands.try_send(env) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(SubmitError::QueueFull),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(SubmitError::EngineGone),
        }
        // `None`: a timeout past the clock's range waits for ever (no overflow panic).
        let deadline = std::time::Instant::now().checked_add(timeout);
        let mut rx = rx;
        loop {
            match rx.try_recv() {
                Ok(r) => return Ok(r),
                Err(oneshot::error::TryRecvError::Closed) => return Err(SubmitError::Dropped),
                Err(oneshot::error::TryRecvError::Empty) => {
                    if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                        return Err(SubmitError::Timeout);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Subscribe to live events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, ev: LiveEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(Arc::new(ev));
        }
    }
    /// The engine dropped its handle (the run stopped).
    pub(crate) fn engine_gone(&self) -> bool {
        self.commands.is_closed()
    }
    pub(crate) fn subscribers(&self) -> usize {
        self.events.receiver_count()
    }
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// A connected handle/client pair without any HTTP server: for engine tests.
pub fn channel(options: &ServerOptions) -> (ControlHandle, ControlClient) {
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (cmd_tx, cmd_rx) = mpsc::channel(options.command_queue.max(1));
    let (ev_tx, _) = broadcast::channel(options.stream_capacity.max(1));
    let metrics = Arc::new(Metrics::default());
    (
        ControlHandle { snapshot: snap_tx, commands: cmd_rx, events: ev_tx.clone(), metrics: metrics.clone(), seq: 0 },
        ControlClient { snapshot: snap_rx, commands: cmd_tx, events: ev_tx, metrics },
    )
}

/// Replace the token set every request is checked against.
pub(crate) fn swap_tokens(slot: &RwLock<TokenStore>, tokens: TokenStore) {
    *slot.write().unwrap_or_else(|e| e.into_inner()) = tokens;
}

/// Keeps the server running; dropping it (or [`ServerGuard::shutdown`])
/// stops accepting, ends live streams, waits up to 2 s for requests in
/// flight, and joins the server thread.
pub struct ServerGuard {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    tokens: Arc<RwLock<TokenStore>>,
}

impl ServerGuard {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// Swap the token set (e.g. after `bulkhead token add` rewrote the file).
    /// The token API swaps it the same way after each change.
    pub fn reload_tokens(&self, tokens: TokenStore) {
        swap_tokens(&self.tokens, tokens);
    }
    pub fn shutdown(mut self) {
        self.stop_now();
    }
    fn stop_now(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Bind `addr`, start the control plane on its own thread, and return the
/// engine's handle plus the guard that keeps it alive. Binding errors
/// (address in use, permission) and TLS errors (unreadable certificate or
/// key, a key that does not match) are returned here, not later. With
/// [`ServerOptions::tls`] the server speaks HTTPS only; a non-loopback
/// address without TLS is allowed but logged as a warning.
pub fn start(
    addr: SocketAddr,
    tokens: TokenStore,
    options: ServerOptions,
) -> Result<(ControlHandle, ServerGuard), ServerError> {
    let (handle, client) = channel(&options);
    let metrics = client.metrics.clone();
    let guard = launch(addr, tokens, &options.clone(), metrics, move |tokens, stop| {
        http::apps(http::AppState::new(client, tokens, options, stop))
    })?;
    Ok((handle, guard))
}

/// Binds `addr` and serves the routers `apps` builds on the control plane's
/// own runtime thread, accept loop and connection bounds (`options`).
fn launch(
    addr: SocketAddr,
    tokens: TokenStore,
    options: &ServerOptions,
    metrics: Arc<Metrics>,
    apps: impl FnOnce(Arc<RwLock<TokenStore>>, watch::Receiver<bool>) -> http::serve::Apps,
) -> Result<ServerGuard, ServerError> {
    if tokens.is_empty() {
        return Err(ServerError::NoTokens);
    }
    let tls = options.tls.as_ref().map(tls::server_config).transpose()?;
    let listener = std::net::TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;
    listener.set_nonblocking(true).map_err(|source| ServerError::Bind { addr, source })?;
    if !local.ip().is_loopback() && tls.is_none() {
        tracing::warn!(%local, "control plane listening on a non-loopback address without TLS");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.worker_threads.max(1))
        .thread_name("bulkhead-http")
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServerError::Runtime)?;
    let tokens = Arc::new(RwLock::new(tokens));
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = http::serve::Limits {
        header_read_timeout: options.header_read_timeout,
        idle_timeout: options.idle_timeout,
        max_connections: options.max_connections.max(1),
        max_connections_per_ip: options.max_connections_per_ip.max(1),
        reserve_connections: options.reserve_connections,
        reserve_head_timeout: options.reserve_head_timeout,
    };
    let pools = http::serve::Pools::new(limits, metrics);
    let apps = Arc::new(apps(tokens.clone(), stop_rx.clone()));
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let thread = std::thread::Builder::new()
        .name("bulkhead-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "control plane listener");
                        return;
                    }
                };
                http::serve::run(listener, tls, apps, pools, stop_rx).await;
            });
            runtime.shutdown_timeout(Duration::from_millis(500));
        })
        .map_err(ServerError::Runtime)?;
    Ok(ServerGuard { addr: local, stop: stop_tx, thread: Some(thread), tokens })
}

/// Serves the cluster view (`bulkhead cluster serve`): the nodes, streams,
/// metrics and kill switch of a whole cluster from `source`, behind the same
/// tokens, roles and connection bounds as a run's control plane (see
/// [`ClusterSource`] for the routes).
pub fn start_cluster_view(
    addr: SocketAddr,
    tokens: TokenStore,
    options: ServerOptions,
    source: Arc<dyn ClusterSource>,
) -> Result<ServerGuard, ServerError> {
    let metrics = Arc::new(Metrics::default());
    launch(addr, tokens, &options.clone(), metrics, move |tokens, _stop| {
        http::cluster_view::apps(source, tokens, options)
    })
}
