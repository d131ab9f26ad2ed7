//! The cluster view's data (issue 18, control plane; served by
//! `bulkhead cluster serve`): every node's latest [`NodeStatus`] with its
//! age, every stream with its consumers' lag, Prometheus text over all of
//! them, and the kill switch's publisher.
//!
//! A thread of its own (tokio runtime, NATS client, reconnecting) polls the
//! status bucket and the stream list every [`POLL_EVERY`] into a snapshot
//! the HTTP side reads without waiting on NATS; kill orders are handed to
//! the same thread and answered once JetStream acknowledged them.
//!
//! **Owns:** the snapshot, its bounds ([`MAX_NODES`] nodes, [`MAX_STREAMS`]
//! streams, [`MAX_CONSUMERS`] consumers per stream; what is beyond is
//! counted, not kept), the count of malformed status values (a malformed
//! value is dropped: the node keeps its last good status, marked stale as it
//! ages), the Prometheus rendering. **Must never:** change a node (only a
//! kill order does, through the node's engine), or block a reader on NATS.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use serde::Serialize;

use crate::config::ClusterConfig;
use crate::ctl::{self, KillOrder, KillScope};
use crate::error::ClusterError;
use crate::status::{self, MAX_NODES, NODES_BUCKET, NodeStatus};

/// How often the view reads the bucket and the streams.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// A node whose status is older than this is `stale`.
pub const STALE_AFTER_MS: u64 = 3_000;
/// Streams listed at most.
pub const MAX_STREAMS: usize = 256;
/// Consumers listed per stream at most.
pub const MAX_CONSUMERS: usize = 256;
/// Kill orders waiting for the view's thread at most.
const KILL_QUEUE: usize = 16;

/// One node as the view knows it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeEntry {
    pub status: NodeStatus,
    /// Malformed values read under this node's key (dropped).
    pub malformed: u64,
    /// The last malformed value's error.
    pub last_error: Option<String>,
}

/// One consumer's lag.
#[derive(Clone, Debug, Serialize)]
pub struct ConsumerRow {
    pub name: String,
    /// Messages of the stream not yet delivered to it.
    pub num_pending: u64,
    /// Delivered, not yet acknowledged.
    pub num_ack_pending: u64,
    /// `num_pending + num_ack_pending`.
    pub lag: u64,
}

/// One stream.
#[derive(Clone, Debug, Serialize)]
pub struct StreamRow {
    pub name: String,
    /// `journal` (`BHJ_`), `market_data` (`MD_`), `status`, `control`, `lease` or `other`.
    pub kind: &'static str,
    pub messages: u64,
    pub bytes: u64,
    pub last_sequence: u64,
    pub replicas: usize,
    pub consumers: Vec<ConsumerRow>,
    pub consumers_omitted: u64,
}

/// What the view last read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ViewSnapshot {
    pub nodes: BTreeMap<String, NodeEntry>,
    /// Keys beyond [`MAX_NODES`] (not read).
    pub nodes_omitted: u64,
    /// Malformed status values, every key (dropped).
    pub status_malformed: u64,
    pub streams: Vec<StreamRow>,
    pub streams_omitted: u64,
    /// Wall-clock time of the last complete poll (Unix ms); 0 before the first.
    pub polled_ms: u64,
    /// Why the last poll failed, if it did.
    pub error: Option<String>,
}

type KillReply = mpsc::Sender<Result<u64, ClusterError>>;

/// The running view: a poller thread and its snapshot.
pub struct ClusterView {
    snap: Arc<Mutex<ViewSnapshot>>,
    kills: mpsc::SyncSender<(KillOrder, KillReply)>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    wait: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for ClusterView {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Starts the view on `cfg`'s servers (the config's node name is the
/// view's client name; nothing is written under it).
pub fn start_view(cfg: &ClusterConfig) -> Result<ClusterView, ClusterError> {
    let snap = Arc::new(Mutex::new(ViewSnapshot::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel(KILL_QUEUE);
    let rt = crate::mirror::runtime()?;
    {
        let (snap, stop, cfg) = (snap.clone(), stop.clone(), cfg.clone());
        std::thread::Builder::new()
            .name("bulkhead-cluster-view".into())
            .spawn(move || {
                rt.block_on(async {
                    // Kill orders on a task of their own: a slow poll (a stream list waits up to
                    // 4 s for a stream still electing its leader) never holds one up.
                    let killer = tokio::spawn(kill_task(cfg.clone(), stop.clone(), rx));
                    poller(&cfg, &snap, &stop).await;
                    let _ = killer.await;
                });
            })
            .map_err(|source| ClusterError::Io { what: "starting the cluster view thread", source })?;
    }
    Ok(ClusterView { snap, kills: tx, stop, wait: cfg.connect_timeout + cfg.request_timeout + cfg.failover })
}

impl ClusterView {
    /// The last snapshot.
    pub fn snapshot(&self) -> ViewSnapshot {
        lock(&self.snap).clone()
    }

    /// Publishes a kill order; returns its control-stream sequence once
    /// JetStream acknowledged it. Blocks the caller (not the view's thread
    /// beyond one publish).
    pub fn kill(&self, order: KillOrder) -> Result<u64, ClusterError> {
        let (tx, rx) = mpsc::channel();
        let busy =
            |what: &str| ClusterError::Nats { op: "publish", stream: ctl::CTL_STREAM.into(), reason: what.to_string() };
        self.kills.try_send((order, tx)).map_err(|_| busy("the view's kill queue is full; retry"))?;
        rx.recv_timeout(self.wait).map_err(|_| busy("no answer from NATS in time; the order may still be published"))?
    }
}

/// Publishes the kill orders handed to the view, each answered once JetStream
/// acknowledged it (or with why not).
async fn kill_task(
    cfg: ClusterConfig,
    stop: Arc<std::sync::atomic::AtomicBool>,
    kills: mpsc::Receiver<(KillOrder, KillReply)>,
) {
    let mut js: Option<jetstream::Context> = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        while let Ok((order, reply)) = kills.try_recv() {
            if js.is_none() {
                js = crate::connect(&cfg).await.ok().map(jetstream::new);
            }
            let res = match &js {
                Some(js) => ctl::publish_kill(js, &cfg, &order).await,
                None => Err(ClusterError::Unreachable {
                    servers: cfg.servers.join(","),
                    timeout: cfg.connect_timeout,
                    reason: "not connected".into(),
                }),
            };
            let _ = reply.send(res);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn poller(cfg: &ClusterConfig, snap: &Mutex<ViewSnapshot>, stop: &std::sync::atomic::AtomicBool) {
    let mut js: Option<jetstream::Context> = None;
    let mut malformed: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut last_poll: Option<Instant> = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if js.is_none() {
            match crate::connect(cfg).await {
                Ok(c) => js = Some(jetstream::new(c)),
                Err(e) => lock(snap).error = Some(e.to_string()),
            }
        }
        if let Some(js) = &js
            && last_poll.is_none_or(|t| t.elapsed() >= POLL_EVERY)
        {
            last_poll = Some(Instant::now());
            let res = poll(js, &mut malformed).await;
            tracing::debug!(ms = last_poll.map_or(0, |t| t.elapsed().as_millis()), "cluster view: polled");
            match res {
                Ok(mut fresh) => {
                    let mut s = lock(snap);
                    // A malformed value: the node keeps its last good status.
                    for (key, (_, _)) in &malformed {
                        if !fresh.nodes.contains_key(key)
                            && let Some(old) = s.nodes.get(key)
                        {
                            fresh.nodes.insert(key.clone(), old.clone());
                        }
                    }
                    for (key, (n, err)) in &malformed {
                        if let Some(e) = fresh.nodes.get_mut(key) {
                            e.malformed = *n;
                            e.last_error = Some(err.clone());
                        }
                    }
                    if fresh.error.is_some() {
                        // The bucket could not be read this time: keep what was read before.
                        fresh.nodes = s.nodes.clone();
                    }
                    fresh.status_malformed = malformed.values().map(|(n, _)| n).sum();
                    fresh.polled_ms = crate::lease::now_ms();
                    *s = fresh;
                }
                Err(e) => lock(snap).error = Some(e),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One read of the bucket and the streams.
async fn poll(
    js: &jetstream::Context,
    malformed: &mut BTreeMap<String, (u64, String)>,
) -> Result<ViewSnapshot, String> {
    let mut out = ViewSnapshot::default();
    match js.get_stream(format!("KV_{NODES_BUCKET}")).await {
        Ok(stream) => read_nodes(&stream, &mut out, malformed).await?,
        // No node has written yet (or the bucket's leader is being elected): streams still listed.
        Err(e) => {
            if !e.to_string().to_ascii_lowercase().contains("not found") {
                out.error = Some(format!("status bucket: {e}"));
            }
        }
    }
    let mut list = js.streams();
    while let Some(info) = list.next().await {
        let info = info.map_err(|e| format!("stream list: {e}"))?;
        if out.streams.len() >= MAX_STREAMS {
            out.streams_omitted += 1;
            continue;
        }
        out.streams.push(stream_row(js, &info).await);
    }
    out.streams.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

async fn read_nodes(
    stream: &jetstream::stream::Stream,
    out: &mut ViewSnapshot,
    malformed: &mut BTreeMap<String, (u64, String)>,
) -> Result<(), String> {
    let prefix = format!("$KV.{NODES_BUCKET}.");
    let mut subjects =
        stream.info_with_subjects(format!("{prefix}>")).await.map_err(|e| format!("status bucket: {e}"))?;
    let mut keys = Vec::new();
    while let Some(s) = subjects.next().await {
        let (subject, _) = s.map_err(|e| format!("status bucket subjects: {e}"))?;
        if keys.len() >= MAX_NODES {
            out.nodes_omitted += 1;
            continue;
        }
        keys.push(subject);
    }
    for subject in keys {
        let key = subject.strip_prefix(&prefix).unwrap_or(&subject).to_string();
        let Ok(m) = stream.get_last_raw_message_by_subject(&subject).await else { continue };
        // Seen this exact message malformed already: counted once.
        let id = format!("{key}#{}", m.sequence);
        match NodeStatus::decode(&key, &m.payload) {
            Ok(status) => {
                out.nodes.insert(key, NodeEntry { status, malformed: 0, last_error: None });
            }
            Err(e) => {
                let entry = malformed.entry(key.clone()).or_insert((0, String::new()));
                if !entry.1.starts_with(&format!("{id}:")) {
                    entry.0 += 1;
                    entry.1 = format!("{id}: {e}");
                    tracing::warn!(error = %e, "malformed node status dropped");
                }
            }
        }
        if malformed.len() > MAX_NODES {
            // Bounded like the nodes: forget the alphabetically last.
            malformed.pop_last();
        }
    }
    Ok(())
}

async fn stream_row(js: &jetstream::Context, info: &jetstream::stream::Info) -> StreamRow {
    let name = info.config.name.clone();
    let kind = if name.starts_with("BHJ_") {
        "journal"
    } else if name.starts_with("MD_") {
        "market_data"
    } else if name == format!("KV_{NODES_BUCKET}") {
        "status"
    } else if name == ctl::CTL_STREAM {
        "control"
    } else if name == format!("KV_{}", crate::lease::LEASE_BUCKET) {
        "lease"
    } else {
        "other"
    };
    let mut row = StreamRow {
        name: name.clone(),
        kind,
        messages: info.state.messages,
        bytes: info.state.bytes,
        last_sequence: info.state.last_sequence,
        replicas: info.config.num_replicas,
        consumers: Vec::new(),
        consumers_omitted: 0,
    };
    if info.state.consumer_count == 0 {
        return row;
    }
    let Ok(stream) = js.get_stream(&name).await else { return row };
    let mut list = stream.consumers();
    while let Some(Ok(c)) = list.next().await {
        if row.consumers.len() >= MAX_CONSUMERS {
            row.consumers_omitted += 1;
            continue;
        }
        let (pending, ack) = (c.num_pending, c.num_ack_pending as u64);
        row.consumers.push(ConsumerRow {
            name: c.name.clone(),
            num_pending: pending,
            num_ack_pending: ack,
            lag: pending.saturating_add(ack),
        });
    }
    row
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A per-node series: name, type, help, value (of the entry at `now_ms`).
type NodeSeries = (&'static str, &'static str, &'static str, fn(&NodeEntry, u64) -> String);

fn age_ms(e: &NodeEntry, now_ms: u64) -> u64 {
    now_ms.saturating_sub(e.status.updated_ms)
}

const NODE_SERIES: &[NodeSeries] = &[
    (
        "bulkhead_cluster_node_up",
        "gauge",
        "1 if the node runs and its status is fresh, 0 if stale or finished",
        |e, now| u8::from(age_ms(e, now) <= STALE_AFTER_MS && e.status.phase == "running").to_string(),
    ),
    ("bulkhead_cluster_node_ready", "gauge", "1 if the node can release new orders", |e, _| {
        u8::from(e.status.ready).to_string()
    }),
    ("bulkhead_cluster_node_status_age_seconds", "gauge", "Age of the node's last status", |e, now| {
        format!("{:.3}", age_ms(e, now) as f64 / 1000.0)
    }),
    ("bulkhead_cluster_node_halted", "gauge", "1 if the node's run-wide state is halted", |e, _| {
        u8::from(e.status.global_state == "halted").to_string()
    }),
    ("bulkhead_cluster_node_journal_records", "gauge", "Records in the node's journal", |e, _| {
        e.status.journal_records.to_string()
    }),
    (
        "bulkhead_cluster_node_mirror_lag_records",
        "gauge",
        "Journal records offered to the mirror, not yet acknowledged by JetStream",
        |e, _| e.status.mirror_lag().to_string(),
    ),
    ("bulkhead_cluster_node_events_total", "counter", "Market events the node processed", |e, _| {
        e.status.events.to_string()
    }),
    ("bulkhead_cluster_node_status_dropped_total", "counter", "Statuses the node could not publish", |e, _| {
        e.status.status_dropped.to_string()
    }),
    ("bulkhead_cluster_node_kills_applied_total", "counter", "Kill orders the node applied", |e, _| {
        e.status.kills_applied.to_string()
    }),
    ("bulkhead_cluster_node_ctl_malformed_total", "counter", "Malformed control messages the node dropped", |e, _| {
        e.status.ctl_malformed.to_string()
    }),
    (
        "bulkhead_cluster_node_status_malformed_total",
        "counter",
        "Malformed status values read under the node's key",
        |e, _| e.malformed.to_string(),
    ),
];

/// A per-strategy series: name, type, help, value.
type StrategySeries = (&'static str, &'static str, &'static str, fn(&status::StrategyStatus) -> u64);

const STRATEGY_SERIES: &[StrategySeries] = &[
    ("bulkhead_cluster_strategy_orders_total", "counter", "Orders submitted", |s| s.orders),
    ("bulkhead_cluster_strategy_accepted_total", "counter", "Orders the venue accepted", |s| s.accepted),
    ("bulkhead_cluster_strategy_fills_total", "counter", "Fills", |s| s.fills),
    ("bulkhead_cluster_strategy_rejects_total", "counter", "Rejections (risk and venue)", |s| s.rejects),
    ("bulkhead_cluster_strategy_active", "gauge", "1 if the strategy's own state is active", |s| {
        u64::from(s.state == "active")
    }),
];

/// A per-consumer series: name, help, value.
type ConsumerSeries = (&'static str, &'static str, fn(&ConsumerRow) -> u64);

/// Prometheus text over the snapshot: one series per node (label `node`),
/// per strategy (`node`, `strategy`) and per consumer (`stream`, `consumer`).
pub fn render_metrics(s: &ViewSnapshot, now_ms: u64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (name, kind, help, value) in NODE_SERIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (node, e) in &s.nodes {
            let _ = writeln!(out, "{name}{{node=\"{}\"}} {}", label(node), value(e, now_ms));
        }
    }
    for (name, kind, help, value) in STRATEGY_SERIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (node, e) in &s.nodes {
            for st in &e.status.strategies {
                let _ =
                    writeln!(out, "{name}{{node=\"{}\",strategy=\"{}\"}} {}", label(node), label(&st.name), value(st));
            }
        }
    }
    let consumers: [ConsumerSeries; 2] = [
        ("bulkhead_cluster_consumer_pending_messages", "Messages not yet delivered to the consumer", |c| c.num_pending),
        (
            "bulkhead_cluster_consumer_ack_pending_messages",
            "Messages delivered to the consumer, not yet acknowledged",
            |c| c.num_ack_pending,
        ),
    ];
    for (name, help, value) in consumers {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for st in &s.streams {
            for c in &st.consumers {
                let _ = writeln!(
                    out,
                    "{name}{{stream=\"{}\",consumer=\"{}\"}} {}",
                    label(&st.name),
                    label(&c.name),
                    value(c)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP bulkhead_cluster_status_malformed_total Malformed node status values dropped\n# TYPE \
         bulkhead_cluster_status_malformed_total counter\nbulkhead_cluster_status_malformed_total {}",
        s.status_malformed
    );
    out
}

/// The view's nodes as the API serves them: each node's status, its age and
/// whether it is stale, and the malformed-value counts.
pub fn nodes_json(s: &ViewSnapshot, now_ms: u64) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = s
        .nodes
        .values()
        .map(|e| {
            let age_ms = now_ms.saturating_sub(e.status.updated_ms);
            serde_json::json!({
                "node": e.status.node,
                "age_ms": age_ms,
                "stale": age_ms > STALE_AFTER_MS,
                "mirror_lag": e.status.mirror_lag(),
                "status": e.status,
                "malformed": e.malformed,
                "last_error": e.last_error,
            })
        })
        .collect();
    serde_json::json!({
        "nodes": nodes,
        "nodes_omitted": s.nodes_omitted,
        "status_malformed": s.status_malformed,
        "stale_after_ms": STALE_AFTER_MS,
        "polled_ms": s.polled_ms,
        "error": s.error,
    })
}

/// The streams as the API serves them.
pub fn streams_json(s: &ViewSnapshot) -> serde_json::Value {
    serde_json::json!({ "streams": s.streams, "streams_omitted": s.streams_omitted, "polled_ms": s.polled_ms })
}

/// A kill order from the API's fields, checked.
pub fn kill_order(scope: &KillScope, actor: &str, reason: &str) -> Result<KillOrder, ctl::CtlError> {
    KillOrder::new(scope, actor, reason, crate::lease::now_ms())
}
