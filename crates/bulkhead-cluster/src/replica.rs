//! Live mirror of a running node's journal to its JetStream stream (issue 18, point 3).
//!
//! **Owns:** the publisher thread (a tokio current-thread runtime with the NATS client), the
//! bounded buffer of records between the engine and that thread, the acknowledged-records
//! counter the engine's release gate waits on ([`LiveReplica`] implements
//! [`bulkhead_engine::replica::Replicator`]), and the catch-up at the end of the run.
//! Batches use the same framing, subject, stream and message ids as [`crate::push_journal`],
//! so `journal fetch` of the stream gives back the node's journal byte for byte.
//!
//! **Must never:** block the engine beyond the ack timeout (offers never block: a full buffer
//! is an overflow, not a wait); publish a batch before the previous one is acknowledged
//! (each carries the expected last stream sequence); lose a journalled record from the
//! mirror: records that did not fit the buffer are read back from the local journal files
//! at the end of the run ([`ReplicaHandle::finish`]), and until then the node refuses new
//! orders (`CLUSTER_UNAVAILABLE`).
//!
//! | bound | value |
//! |---|---|
//! | records buffered engine → publisher | `[cluster] buffer_records` (default 262 144) |
//! | one batch | [`crate::frame::MAX_BATCH_RECORDS`] records / [`crate::frame::MAX_BATCH_BYTES`] |
//! | release gate wait | `[cluster] ack_timeout_ms` (default 2 000) |

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage as Publish};
use bulkhead_engine::replica::{ReplicaHealth, Replicator};
use tokio::sync::mpsc;

use crate::config::ClusterConfig;
use crate::error::ClusterError;
use crate::frame::{self, HEADER_LEN, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, RECORD_OVERHEAD, WireParams};
use crate::mirror::{self, journal_stream, journal_subject};

/// Pause between attempts while NATS does not answer.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

struct Rec {
    seq: u64,
    kind: u16,
    ts_ns: u64,
    payload: Vec<u8>,
    link: u64,
}

#[derive(Default)]
struct State {
    /// Every record below this seq is acknowledged by JetStream (stored on a quorum).
    acked: u64,
    /// Set by the engine's side when an ack did not come within the ack timeout (the
    /// outage): from then on the gate refuses at once instead of waiting at every event,
    /// until the publisher's next ack clears it.
    down: Option<String>,
    /// The publisher's last failure (connect, publish), for messages; cleared by an ack.
    last_error: Option<String>,
    /// The mirror cannot go on live (diverged stream, buffer overflow): orders stay refused
    /// until the end of the run, whose catch-up completes the mirror.
    stuck: Option<String>,
    /// The publisher thread has stopped (finished or given up).
    done: bool,
    /// Finishing: publish what is buffered, then stop.
    finishing: bool,
}

struct Shared {
    m: Mutex<State>,
    cv: Condvar,
    /// Next seq offered (engine side; read by `health`).
    offered: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.cv.notify_all();
    }
}

/// The engine's end of the mirror ([`Replicator`]).
pub struct LiveReplica {
    tx: mpsc::Sender<Rec>,
    shared: Arc<Shared>,
    ack_timeout: Duration,
    stream: String,
    buffer: usize,
    /// An offer did not fit (or the publisher is gone): offers stop; the end of the run
    /// catches up from the local journal.
    overflowed: bool,
}

/// The run's end of the mirror: completes it after the run ([`ReplicaHandle::finish`]).
pub struct ReplicaHandle {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    catch_up: Option<mpsc::Sender<CatchUp>>,
    cfg: ClusterConfig,
    dir: PathBuf,
}

/// Ask the publisher thread (its client) to push the rest of the finished journal.
struct CatchUp {
    dir: PathBuf,
    done: std::sync::mpsc::Sender<Result<crate::PushReport, ClusterError>>,
}

/// How the mirror ended ([`ReplicaHandle::finish`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorOutcome {
    pub stream: String,
    /// Records in the local journal.
    pub records: u64,
    /// Records the stream holds, acknowledged (equals `records` when complete).
    pub acked: u64,
    /// Records published at the end from the local journal files (after an overflow or a
    /// divergence of the live publisher).
    pub caught_up: u64,
    /// Why the mirror is incomplete, if it is.
    pub incomplete: Option<String>,
}

/// Starts the mirror of the journal in `dir` (already created by the engine) to this node's
/// stream. Waits up to the connect timeout for the first connection: a stream that does not
/// continue the local journal is an error now (`fresh`: a new journal, whose stream must be
/// empty); an unreachable NATS is not (the node starts with the cluster unavailable, refusing
/// orders, and keeps trying).
pub fn start_replica(
    cfg: &ClusterConfig,
    dir: &Path,
    fresh: bool,
) -> Result<(ReplicaHandle, LiveReplica), ClusterError> {
    let params = mirror::source_params(dir)?;
    let shared = Arc::new(Shared { m: Mutex::new(State::default()), cv: Condvar::new(), offered: AtomicU64::new(0) });
    shared.lock().last_error = Some(format!("connecting to {}", cfg.servers.join(",")));
    let (tx, rx) = mpsc::channel(cfg.buffer_records);
    let (ctx, crx) = mpsc::channel(1);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = {
        let (shared, cfg) = (shared.clone(), cfg.clone());
        std::thread::Builder::new()
            .name(format!("bulkhead-mirror-{}", cfg.node))
            .spawn(move || publisher(&cfg, (params, fresh), &shared, rx, crx, &ready_tx))
            .map_err(|source| ClusterError::Io { what: "starting the journal mirror thread", source })?
    };
    // The first outcome: connected and checked, diverged, or not yet reachable.
    match ready_rx.recv_timeout(cfg.connect_timeout + cfg.request_timeout) {
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
        Err(_) => {
            tracing::warn!(servers = %cfg.servers.join(","), "NATS not reachable yet: orders refused until it is")
        }
    }
    let stream = journal_stream(&cfg.node);
    let live = LiveReplica {
        tx,
        shared: shared.clone(),
        ack_timeout: cfg.ack_timeout,
        stream,
        buffer: cfg.buffer_records,
        overflowed: false,
    };
    let handle = ReplicaHandle { shared, thread: Some(thread), catch_up: Some(ctx), cfg: cfg.clone(), dir: dir.into() };
    Ok((handle, live))
}

impl Replicator for LiveReplica {
    fn offer(&mut self, seq: u64, kind: u16, ts_ns: u64, payload: &[u8], link: u64) {
        if self.overflowed {
            return;
        }
        let rec = Rec { seq, kind, ts_ns, payload: payload.to_vec(), link };
        match self.tx.try_send(rec) {
            Ok(()) => self.shared.offered.store(seq + 1, Ordering::Release),
            Err(e) => {
                self.overflowed = true;
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => format!(
                        "mirror buffer full ({} records) at record {seq}: new orders refused until the end of the \
                         run, which pushes the rest from the local journal",
                        self.buffer
                    ),
                    mpsc::error::TrySendError::Closed(_) => format!("mirror publisher stopped at record {seq}"),
                };
                tracing::warn!(problem = %why, "journal mirror behind");
                self.shared.update(|s| {
                    s.stuck.get_or_insert(why);
                });
            }
        }
    }

    fn wait_durable(&mut self, upto: u64) -> Result<(), String> {
        let deadline = Instant::now() + self.ack_timeout;
        let mut s = self.shared.lock();
        loop {
            if let Some(why) = &s.stuck {
                return Err(why.clone());
            }
            if s.acked >= upto {
                return Ok(());
            }
            if let Some(why) = &s.down {
                return Err(why.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                let why = format!(
                    "no JetStream ack within {} ms ({} of {upto} records acknowledged{})",
                    self.ack_timeout.as_millis(),
                    s.acked,
                    s.last_error.as_ref().map_or(String::new(), |e| format!("; {e}"))
                );
                s.down = Some(why.clone());
                return Err(why);
            }
            s = self.shared.cv.wait_timeout(s, deadline - now).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
    }

    fn health(&self) -> ReplicaHealth {
        let s = self.shared.lock();
        ReplicaHealth {
            offered: self.shared.offered.load(Ordering::Acquire),
            acked: s.acked,
            // Down by the gate's timeout, or records waiting while the publisher fails.
            unavailable: s.stuck.clone().or_else(|| s.down.clone()).or_else(|| {
                (s.acked < self.shared.offered.load(Ordering::Acquire)).then(|| s.last_error.clone()).flatten()
            }),
            target: self.stream.clone(),
        }
    }
}

impl ReplicaHandle {
    /// After the run (the journal finished, `records` in it): publish what is buffered, and
    /// if the live mirror fell behind (overflow), push the rest from the local journal files
    /// ([`crate::push_journal`]'s resume, which checks the link where the stream ends).
    /// Waits at most `within`; an incomplete mirror is reported, not an error (the local
    /// journal is complete; `bulkhead journal push --cluster` finishes the mirror later).
    pub fn finish(mut self, records: u64, within: Duration) -> MirrorOutcome {
        let deadline = Instant::now() + within;
        self.shared.update(|s| s.finishing = true);
        let mut s = self.shared.lock();
        while !s.done && s.acked < records {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            s = self.shared.cv.wait_timeout(s, deadline - now).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        let (acked, stuck) = (s.acked, s.stuck.clone());
        let down = s.down.clone().or_else(|| s.last_error.clone());
        drop(s);
        let stream = journal_stream(&self.cfg.node);
        let mut out = MirrorOutcome { stream, records, acked, caught_up: 0, incomplete: None };
        if acked >= records {
            return out;
        }
        // Behind: the publisher pushes the rest from the journal files with its client.
        let left = deadline.saturating_duration_since(Instant::now());
        let (tx, rx) = std::sync::mpsc::channel();
        let asked =
            self.catch_up.take().is_some_and(|c| c.try_send(CatchUp { dir: self.dir.clone(), done: tx }).is_ok());
        match asked.then(|| rx.recv_timeout(left)) {
            Some(Ok(Ok(r))) => {
                out.caught_up = r.sent;
                out.acked = r.skipped + r.sent;
            }
            Some(Ok(Err(e))) => out.incomplete = Some(e.to_string()),
            _ => {
                let why = stuck.or(down).unwrap_or_else(|| "the publisher did not finish".into());
                out.incomplete = Some(format!("{why} (waited {} ms at the end)", within.as_millis()));
            }
        }
        if out.incomplete.is_none() && out.acked < records {
            out.incomplete = Some(format!("the stream holds {} of {records} records", out.acked));
        }
        if out.incomplete.is_none()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
        out
    }
}

/// The publisher thread's body.
fn publisher(
    cfg: &ClusterConfig,
    params: (WireParams, bool),
    shared: &Shared,
    rx: mpsc::Receiver<Rec>,
    catch_up: mpsc::Receiver<CatchUp>,
    ready: &std::sync::mpsc::Sender<Result<(), ClusterError>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let why = format!("starting the NATS client runtime: {e}");
            shared.update(|s| {
                s.stuck = Some(why);
                s.done = true;
            });
            return;
        }
    };
    rt.block_on(async {
        let mut p = match Live::connect(cfg, params, shared, ready).await {
            Some(p) => p,
            None => {
                shared.update(|s| s.done = true);
                return;
            }
        };
        p.run(rx).await;
        p.catch_up(catch_up).await;
    });
}

struct Live<'a> {
    cfg: &'a ClusterConfig,
    shared: &'a Shared,
    client: async_nats::Client,
    js: jetstream::Context,
    params: WireParams,
    subject: String,
    stream: String,
    max_msg: usize,
    /// The stream's last sequence (each publish expects it).
    stream_last: u64,
    /// Records the stream already held at the start (a resumed run's prefix): skipped.
    held: Option<(u64, u64)>,
    batch: Vec<Rec>,
    bytes: usize,
}

impl<'a> Live<'a> {
    /// Connects (retrying until it works or the run finishes), ensures the stream and reads
    /// where it ends. Reports the first outcome on `ready`.
    async fn connect(
        cfg: &'a ClusterConfig,
        params: (WireParams, bool),
        shared: &'a Shared,
        ready: &std::sync::mpsc::Sender<Result<(), ClusterError>>,
    ) -> Option<Live<'a>> {
        let mut told = false;
        loop {
            match Self::try_connect(cfg, params, shared).await {
                Ok(p) => {
                    let _ = ready.send(Ok(()));
                    shared.update(|s| s.last_error = None);
                    return Some(p);
                }
                Err(e @ ClusterError::Diverged { .. }) => {
                    let why = e.to_string();
                    let _ = ready.send(Err(e));
                    shared.update(|s| s.stuck = Some(why));
                    return None;
                }
                Err(e) => {
                    if !told {
                        told = true;
                        let _ = ready.send(Ok(()));
                    }
                    let why = format!("NATS unreachable: {e}");
                    shared.update(|s| s.last_error = Some(why));
                    if shared.lock().finishing {
                        return None;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    async fn try_connect(
        cfg: &'a ClusterConfig,
        (params, fresh): (WireParams, bool),
        shared: &'a Shared,
    ) -> Result<Self, ClusterError> {
        let client = mirror::connect(cfg).await?;
        let js = jetstream::new(client.clone());
        let max_msg = mirror::max_message(&client);
        let stream = mirror::ensure_stream(&js, cfg, max_msg).await?;
        let name = journal_stream(&cfg.node);
        let subject = journal_subject(&cfg.node);
        let (stream_last, held) = mirror::stream_end(&stream, &name, &subject, cfg.failover).await?;
        if let (true, Some((last, _))) = (fresh, held) {
            return Err(ClusterError::Diverged {
                dir: "(a new journal)".into(),
                stream: name,
                problem: format!(
                    "the stream already holds records 0..={last} of an earlier run: delete the stream or name \
                     another node in the [cluster] config"
                ),
            });
        }
        Ok(Live {
            cfg,
            shared,
            client,
            js,
            params,
            subject,
            stream: name,
            max_msg,
            stream_last,
            held,
            batch: Vec::new(),
            bytes: HEADER_LEN,
        })
    }

    /// Publishes records as they come, batching what is buffered, until the run finishes.
    async fn run(&mut self, mut rx: mpsc::Receiver<Rec>) {
        loop {
            if self.batch.is_empty() {
                match tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
                    Ok(Some(r)) => {
                        if !self.add(r) {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(_) => {
                        if self.shared.lock().finishing && rx.is_empty() {
                            return;
                        }
                        continue;
                    }
                }
            }
            while self.bytes < MAX_BATCH_BYTES.min(self.max_msg) && self.batch.len() < MAX_BATCH_RECORDS as usize {
                match rx.try_recv() {
                    Ok(r) => {
                        if !self.add(r) {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            if !self.batch.is_empty() && !self.publish().await {
                return;
            }
        }
    }

    /// Adds `r` to the batch (skipping what the stream holds). `false`: the mirror cannot
    /// go on live (the stream does not continue the journal, or the record is too large).
    fn add(&mut self, r: Rec) -> bool {
        if let Some((last, link)) = self.held {
            if r.seq < last {
                return true;
            }
            if r.seq == last {
                if r.link != link {
                    self.stick(format!("stream {} diverged at record {last}: link differs", self.stream));
                    return false;
                }
                self.held = None;
                self.mark_acked(r.seq + 1);
                return true;
            }
            self.stick(format!("stream {} ends at record {last}, the journal continues at {}", self.stream, r.seq));
            return false;
        }
        if self.batch.is_empty() && self.stream_last > 0 && r.seq == 0 {
            self.stick(format!(
                "stream {} already holds records of an earlier run: delete it or name another node",
                self.stream
            ));
            return false;
        }
        let need = RECORD_OVERHEAD + 8 + r.payload.len();
        if HEADER_LEN + need > self.max_msg {
            self.stick(format!("record {} ({} bytes) is larger than the server's max_payload", r.seq, r.payload.len()));
            return false;
        }
        self.bytes += need;
        self.batch.push(r);
        true
    }

    fn stick(&self, why: String) {
        tracing::warn!(problem = %why, "journal mirror stopped live publishing");
        self.shared.update(|s| {
            s.stuck.get_or_insert(why);
        });
    }

    fn mark_acked(&self, upto: u64) {
        self.shared.update(|s| {
            if s.down.is_some() || s.last_error.is_some() {
                tracing::warn!(acked = upto, "journal mirror acknowledging again");
            }
            s.acked = s.acked.max(upto);
            s.down = None;
            s.last_error = None;
        });
    }

    /// Publishes the batch, retrying (same id, same expectation) until it is acknowledged.
    /// `false`: a final error (not an outage).
    async fn publish(&mut self) -> bool {
        let (Some(first), Some(last)) = (self.batch.first(), self.batch.last()) else { return true };
        let (first_seq, last_seq, last_link) = (first.seq, last.seq, last.link);
        let mut out = Vec::with_capacity(self.bytes + 64);
        let count = u32::try_from(self.batch.len()).unwrap_or(u32::MAX);
        frame::encode_header(&mut out, first_seq, count, last_link, None, &self.params, &[]);
        for r in &self.batch {
            frame::push_record(&mut out, r.kind, r.ts_ns, &r.payload);
        }
        let payload = bytes::Bytes::from(out);
        let id = format!("{}/{first_seq}", self.cfg.node);
        loop {
            let publish =
                Publish::build().payload(payload.clone()).message_id(&id).expected_last_sequence(self.stream_last);
            let attempt = async { self.js.send_publish(self.subject.clone(), publish).await?.await };
            match tokio::time::timeout(self.cfg.request_timeout, attempt).await {
                Ok(Ok(ack)) => {
                    self.stream_last = ack.sequence;
                    self.batch.clear();
                    self.bytes = HEADER_LEN;
                    self.mark_acked(last_seq + 1);
                    return true;
                }
                // Someone else wrote to the stream: live publishing cannot go on (the
                // end-of-run catch-up checks the link where the stream ends). Any other
                // failure is an outage (a restarted cluster answers "no stream found" until
                // it has recovered the stream): retried with the same id and expectation.
                Ok(Err(e)) if e.to_string().to_ascii_lowercase().contains("wrong last sequence") => {
                    self.stick(format!("publish to {}: {e}", self.stream));
                    return false;
                }
                outcome => {
                    let why = match outcome {
                        Ok(Err(e)) => format!("publish to {}: {e}", self.stream),
                        _ => format!("publish to {}: no ack within {:?}", self.stream, self.cfg.request_timeout),
                    };
                    tracing::debug!(problem = %why, state = ?self.client.connection_state(), "journal mirror: publish failed; retrying");
                    self.shared.update(|s| s.last_error = Some(why));
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    /// The end of the run: serves a catch-up request (push the rest from the journal files,
    /// with this client).
    async fn catch_up(&mut self, mut rx: mpsc::Receiver<CatchUp>) {
        self.shared.update(|s| s.done = true);
        let Some(req) = rx.recv().await else { return };
        let out = mirror::push_journal_async(&self.client, self.cfg, &req.dir).await;
        let _ = req.done.send(out);
    }
}
