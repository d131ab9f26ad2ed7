//! A running node's link to the cluster's control plane (issue 18): it
//! publishes the node's [`NodeStatus`] about every [`STATUS_EVERY`] and
//! hands kill orders from the control stream to the engine.
//!
//! The engine thread calls [`ControlLink::at_boundary`] at every event
//! boundary (both run loops of `bulkhead run --cluster`, with or without
//! `--listen`). It never waits there: a status is built (cheap: counters)
//! and put into a one-value slot the link's thread publishes from (a newer
//! status replaces one not yet published); a kill order the thread read is
//! taken from a bounded queue and applied as the operator halt the engine
//! already has ([`Engine::execute`]: validated, journalled as a `COMMAND`
//! with actor `cluster.<actor>`, applied), so it replays like any command.
//!
//! **Owns:** the link's thread (its own tokio runtime and NATS client; it
//! reconnects on its own), the status slot, the kill queue, the counters
//! (statuses dropped because NATS did not take them, malformed control
//! messages). **Must never:** block the engine thread, panic on a control
//! message, or apply a kill anywhere but at an event boundary through
//! `Engine::execute`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bulkhead_engine::{Actor, Command, Engine, Role, Status};
use bulkhead_risk::{Scope, TradingState};

use crate::config::ClusterConfig;
use crate::ctl::{self, KillOrder, KillScope};
use crate::error::ClusterError;
use crate::status::{self, MAX_STRATEGIES, NodeStatus, StrategyStatus};

/// How often a node publishes its status.
pub const STATUS_EVERY: Duration = Duration::from_millis(500);
/// Kill orders read but not yet applied (the thread stops reading while full).
pub const KILL_QUEUE: usize = 64;
/// Control messages read per poll.
const READ_BATCH: u64 = 64;
/// The link thread's step.
const TICK: Duration = Duration::from_millis(100);
/// How often the control stream is read (a stream-info request, then the new messages).
const CTL_EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Counters {
    status_dropped: AtomicU64,
    ctl_malformed: AtomicU64,
}

struct Shared {
    slot: Mutex<Option<NodeStatus>>,
    counters: Counters,
    stop: AtomicBool,
}

/// The engine thread's end of the link.
pub struct ControlLink {
    node: String,
    shared: Arc<Shared>,
    kills: mpsc::Receiver<(u64, KillOrder, KillScope)>,
    last_status: Option<Instant>,
    kills_applied: u64,
    last_kill: Option<String>,
    thread: Option<std::thread::JoinHandle<()>>,
    finish_within: Duration,
}

/// Starts the link of node `cfg.node`. Never fails for an unreachable NATS
/// (the thread keeps trying; statuses are dropped and counted meanwhile).
pub fn start_control_link(cfg: &ClusterConfig) -> Result<ControlLink, ClusterError> {
    let shared =
        Arc::new(Shared { slot: Mutex::new(None), counters: Counters::default(), stop: AtomicBool::new(false) });
    let (tx, rx) = mpsc::sync_channel(KILL_QUEUE);
    let rt = crate::mirror::runtime()?;
    let thread = {
        let (shared, cfg) = (shared.clone(), cfg.clone());
        std::thread::Builder::new()
            .name(format!("bulkhead-ctl-{}", cfg.node))
            .spawn(move || rt.block_on(link_thread(&cfg, &shared, &tx)))
            .map_err(|source| ClusterError::Io { what: "starting the cluster control thread", source })?
    };
    Ok(ControlLink {
        node: cfg.node.clone(),
        shared,
        kills: rx,
        last_status: None,
        kills_applied: 0,
        last_kill: None,
        thread: Some(thread),
        finish_within: cfg.request_timeout,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ControlLink {
    /// At an event boundary: applies the kill orders read since the last
    /// call, and hands a fresh status to the link's thread every
    /// [`STATUS_EVERY`]. Never blocks.
    pub fn at_boundary(&mut self, engine: &mut Engine) {
        while let Ok((seq, order, scope)) = self.kills.try_recv() {
            self.apply(engine, seq, &order, &scope);
        }
        if self.last_status.is_none_or(|t| t.elapsed() >= STATUS_EVERY) {
            self.offer_status(engine, "running");
        }
    }

    fn apply(&mut self, engine: &mut Engine, seq: u64, order: &KillOrder, scope: &KillScope) {
        let target = match scope {
            KillScope::All => bulkhead_engine::command::Scope::Global,
            KillScope::Strategy(name) => {
                if !(0..engine.strategy_count() as u32).any(|sid| engine.strategy_name(sid) == Some(name.as_str())) {
                    tracing::debug!(seq, strategy = %name, "kill order for a strategy this node does not run");
                    return;
                }
                bulkhead_engine::command::Scope::Strategy(name.clone())
            }
        };
        let actor = Actor { name: format!("cluster.{}", order.actor), role: Role::Operator };
        match engine.execute(&Command::Halt(target), &actor) {
            Ok(_) => {
                self.kills_applied += 1;
                let note = format!("{scope} by {}: {}", order.actor, order.reason);
                tracing::warn!(seq, kill = %note, "cluster kill order applied");
                self.last_kill = Some(status::clip(&note));
                // The dashboard shows it at once.
                self.offer_status(engine, "running");
            }
            Err(e) => tracing::error!(seq, error = %e, "cluster kill order refused by the engine"),
        }
    }

    fn offer_status(&mut self, engine: &Engine, phase: &str) {
        self.last_status = Some(Instant::now());
        let s = self.status(engine, phase);
        *lock(&self.shared.slot) = Some(s);
    }

    /// This node's status now.
    pub fn status(&self, engine: &Engine, phase: &str) -> NodeStatus {
        let c = &self.shared.counters;
        let mut strategies = Vec::new();
        let n = engine.strategy_count();
        for sid in 0..n.min(MAX_STRATEGIES) as u32 {
            let Some(r) = engine.strategy_report(sid) else { continue };
            let state = match r.status {
                Status::Running => engine.trading_state(Scope::Strategy(sid)).name().to_string(),
                _ => "quarantined".to_string(),
            };
            strategies.push(StrategyStatus {
                name: status::clip(&r.name).chars().take(64).collect(),
                state,
                orders: r.stats.submitted,
                accepted: r.stats.accepted,
                fills: r.stats.fills,
                rejects: r.stats.rejected.values().sum(),
            });
        }
        let mirror = engine.cluster_report().map(|c| c.health);
        let not_ready = if phase == "finished" {
            Some("finished".to_string())
        } else {
            mirror
                .as_ref()
                .and_then(|m| m.unavailable.as_ref())
                .map(|why| status::clip(&format!("cluster_unavailable: {why}")))
        };
        NodeStatus {
            node: self.node.clone(),
            role: "node".into(),
            phase: phase.into(),
            ready: not_ready.is_none(),
            not_ready,
            global_state: state_name(engine.trading_state(Scope::Global)),
            strategies,
            strategies_omitted: n.saturating_sub(MAX_STRATEGIES) as u64,
            journal_records: engine.journal_position().0,
            mirror_offered: mirror.as_ref().map_or(0, |m| m.offered),
            mirror_acked: mirror.as_ref().map_or(0, |m| m.acked.min(m.offered)),
            events: engine.events(),
            event_time_ns: engine.now_ns(),
            status_dropped: c.status_dropped.load(Ordering::Relaxed),
            kills_applied: self.kills_applied,
            ctl_malformed: c.ctl_malformed.load(Ordering::Relaxed),
            last_kill: self.last_kill.clone(),
            updated_ms: crate::lease::now_ms(),
        }
    }

    /// Malformed control messages seen so far.
    pub fn ctl_malformed(&self) -> u64 {
        self.shared.counters.ctl_malformed.load(Ordering::Relaxed)
    }

    /// After the run: publishes a last status (phase `finished`), waiting at
    /// most the request timeout, and stops the link's thread.
    pub fn finish(mut self, engine: &Engine) {
        self.offer_status(engine, "finished");
        self.shared.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + self.finish_within;
        if let Some(t) = self.thread.take() {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for ControlLink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn state_name(s: TradingState) -> String {
    s.name().to_ascii_lowercase()
}

/// The link's thread: connect (and stay connected), publish the newest
/// status, read the control stream on from where it was.
async fn link_thread(cfg: &ClusterConfig, shared: &Shared, kills: &mpsc::SyncSender<(u64, KillOrder, KillScope)>) {
    let mut conn: Option<(jetstream::Context, async_nats::jetstream::stream::Stream)> = None;
    // The next control-stream sequence to read (set at the first connection: where the stream ends).
    let mut next: Option<u64> = None;
    // A kill read while the queue was full: offered again first.
    let mut held: Option<(u64, KillOrder, KillScope)> = None;
    let mut last_read: Option<Instant> = None;
    loop {
        let stopping = shared.stop.load(Ordering::Relaxed);
        if conn.is_none() {
            conn = connect(cfg).await;
        }
        let pending = lock(&shared.slot).take();
        if let Some(s) = pending {
            let published = match &conn {
                Some((js, _)) => publish_status(js, cfg, &s).await,
                None => false,
            };
            if !published {
                shared.counters.status_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if stopping {
            return;
        }
        if let Some((_, stream)) = conn.as_mut()
            && last_read.is_none_or(|t| t.elapsed() >= CTL_EVERY)
        {
            last_read = Some(Instant::now());
            read_kills(stream, shared, kills, &mut next, &mut held).await;
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn connect(cfg: &ClusterConfig) -> Option<(jetstream::Context, async_nats::jetstream::stream::Stream)> {
    let short = ClusterConfig { failover: Duration::ZERO, ..cfg.clone() };
    let res = async {
        let client = crate::connect(cfg).await?;
        let js = jetstream::new(client);
        status::ensure_nodes_bucket(&js, &short).await?;
        let stream = ctl::ensure_ctl_stream(&js, &short).await?;
        Ok::<_, ClusterError>((js, stream))
    };
    match res.await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::debug!(error = %e, "cluster control link: not connected yet");
            None
        }
    }
}

async fn publish_status(js: &jetstream::Context, cfg: &ClusterConfig, s: &NodeStatus) -> bool {
    let subject = status::status_subject(&s.node);
    let attempt = async { js.publish(subject, bytes::Bytes::from(s.encode())).await?.await };
    match tokio::time::timeout(cfg.request_timeout, attempt).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "node status not published (dropped, counted)");
            false
        }
        Err(_) => false,
    }
}

/// Reads the control stream from `next` (at most [`READ_BATCH`] messages),
/// queueing well-formed kill orders and counting malformed messages.
async fn read_kills(
    stream: &mut async_nats::jetstream::stream::Stream,
    shared: &Shared,
    kills: &mpsc::SyncSender<(u64, KillOrder, KillScope)>,
    next: &mut Option<u64>,
    held: &mut Option<(u64, KillOrder, KillScope)>,
) {
    if let Some(k) = held.take()
        && let Err(mpsc::TrySendError::Full(k)) = kills.try_send(k)
    {
        *held = Some(k);
        return;
    }
    let Ok(info) = stream.info().await.map(|i| i.state.clone()) else { return };
    let from = *next.get_or_insert(info.last_sequence + 1);
    let from = from.max(info.first_sequence);
    let mut seq = from;
    while seq <= info.last_sequence && seq < from + READ_BATCH {
        match stream.get_raw_message(seq).await {
            Ok(m) => match KillOrder::decode(seq, &m.payload) {
                Ok((order, scope)) => {
                    if let Err(mpsc::TrySendError::Full(k)) = kills.try_send((seq, order, scope)) {
                        *held = Some(k);
                        *next = Some(seq + 1);
                        return;
                    }
                }
                Err(e) => {
                    shared.counters.ctl_malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "malformed control message dropped");
                }
            },
            // Deleted (aged out) between the info and the get: skip it.
            Err(e) if e.to_string().to_ascii_lowercase().contains("no message found") => {}
            Err(e) => {
                tracing::debug!(seq, error = %e, "reading the control stream; retrying");
                *next = Some(seq);
                return;
            }
        }
        seq += 1;
    }
    *next = Some(seq);
}
