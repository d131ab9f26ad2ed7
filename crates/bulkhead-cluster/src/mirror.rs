//! Mirroring a journal to a JetStream stream and fetching it back.
//!
//! **Owns:** stream creation, resume point, batching, publish-and-wait-for-ack (each call
//! retried through a leader election by [`crate::retry`]), and the rebuild with its checks. **Must never:** publish a batch before
//! the previous one is acknowledged (a failure would leave a gap), read a payload beyond
//! its framing, or write into a directory that already holds a journal.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage as Publish, stream};
use async_nats::{Client, ConnectOptions, ServerAddr};
use bulkhead_journal::{
    DEFAULT_SEAL_BYTES, FsyncPolicy, JournalError, JournalReader, JournalWriter, Record, segment_file_name,
};

use crate::config::ClusterConfig;
use crate::error::ClusterError;
use crate::frame::{self, Batch, HEADER_LEN, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, RECORD_OVERHEAD, WireParams};
use crate::retry::retry;

/// [`retry`] of `call` within `within`, its last error named by `op` and `stream`.
pub(crate) async fn retry_transient<T, E, F, Fut>(
    within: Duration,
    op: &'static str,
    stream: &str,
    call: F,
) -> Result<T, ClusterError>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    retry(within, call).await.map_err(|e| nats_err(op, stream, e))
}

/// Room left in a message for NATS headers (`Nats-Msg-Id`) and protocol.
const MSG_SLACK: usize = 1024;

/// `bulkhead.journal.<node>`.
pub fn journal_subject(node: &str) -> String {
    format!("bulkhead.journal.{node}")
}

/// `BHJ_<node>`.
pub fn journal_stream(node: &str) -> String {
    format!("BHJ_{node}")
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    pub stream: String,
    /// Records in the local journal.
    pub records: u64,
    /// Records the stream already held (skipped).
    pub skipped: u64,
    /// Records published now.
    pub sent: u64,
    /// Messages published (and acknowledged).
    pub batches: u64,
    /// Of those, messages the server reported as duplicates (already stored under the same id).
    pub duplicates: u64,
    /// Bytes of message payload published.
    pub bytes: u64,
}

/// What a fetch rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    pub stream: String,
    pub records: u64,
    pub batches: u64,
    pub segments: u32,
    pub last_hash: [u8; 32],
    /// Whether the stream carried the source's final seal and it matched (false: the source
    /// journal was not sealed when pushed; the rebuilt one is sealed by `finish`).
    pub seal_checked: bool,
}

fn nats_err(op: &'static str, stream: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Nats { op, stream: stream.to_string(), reason: e.to_string() }
}

/// Connects to the config's servers (in order) within its connect timeout.
pub async fn connect(cfg: &ClusterConfig) -> Result<Client, ClusterError> {
    let mut addrs = Vec::with_capacity(cfg.servers.len());
    for (i, s) in cfg.servers.iter().enumerate() {
        let a: ServerAddr = s.parse().map_err(|e: std::io::Error| {
            ClusterError::Config(crate::ConfigError {
                path: String::new(),
                field: format!("cluster.servers[{i}]"),
                problem: e.to_string(),
            })
        })?;
        addrs.push(a);
    }
    let unreachable = |reason: String| ClusterError::Unreachable {
        servers: cfg.servers.join(","),
        timeout: cfg.connect_timeout,
        reason,
    };
    let opts = ConnectOptions::new()
        .name(format!("bulkhead-{}", cfg.node))
        .connection_timeout(cfg.connect_timeout)
        .request_timeout(Some(cfg.request_timeout))
        // After an outage, try again every 100 ms, backing off to 1 s (the client's
        // default backs off to 4 s: orders would stay refused that much longer).
        .reconnect_delay_callback(|attempts| Duration::from_millis((attempts as u64).saturating_mul(100).min(1000)));
    match tokio::time::timeout(cfg.connect_timeout, opts.connect(addrs)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable("timed out".to_string())),
    }
}

pub(crate) fn max_message(client: &Client) -> usize {
    client.server_info().max_payload.saturating_sub(MSG_SLACK).max(HEADER_LEN + RECORD_OVERHEAD)
}

pub(crate) async fn ensure_stream(
    js: &jetstream::Context,
    cfg: &ClusterConfig,
    max_msg: usize,
) -> Result<stream::Stream, ClusterError> {
    let name = journal_stream(&cfg.node);
    let config = stream::Config {
        name: name.clone(),
        subjects: vec![journal_subject(&cfg.node)],
        storage: stream::StorageType::File,
        num_replicas: usize::from(cfg.replicas),
        max_message_size: i32::try_from(max_msg.saturating_add(MSG_SLACK)).unwrap_or(i32::MAX),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    retry(cfg.failover, || js.get_or_create_stream(config.clone()))
        .await
        .map_err(|e| nats_err("create stream", &name, e))
}

/// The source journal's parameters, from its first segment's header (segment size limit,
/// fsync policy) and directory mode; `seal_bytes` is the default (the engine does not change it).
pub(crate) fn source_params(dir: &Path) -> Result<WireParams, ClusterError> {
    use std::io::Read;
    let path = dir.join(segment_file_name(0));
    let mut h = [0u8; 32];
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_exact(&mut h))
        .map_err(|source| JournalError::Io { path: path.clone(), source })?;
    let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap_or([0; 8]));
    let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().unwrap_or([0; 4]));
    let u16_at = |o: usize| u16::from_le_bytes(h[o..o + 2].try_into().unwrap_or([0; 2]));
    let fsync = match u16_at(24) {
        1 => FsyncPolicy::Always,
        2 => FsyncPolicy::EveryN(u32_at(28)),
        3 => FsyncPolicy::Group { records: u32_at(28), millis: u16_at(26) },
        _ => FsyncPolicy::Never,
    };
    Ok(WireParams {
        segment_bytes: u64_at(16),
        seal_bytes: u32::try_from(DEFAULT_SEAL_BYTES).unwrap_or(u32::MAX),
        fsync,
        group_readable: group_readable(dir),
    })
}

#[cfg(unix)]
fn group_readable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o070 != 0)
}
#[cfg(not(unix))]
fn group_readable(_: &Path) -> bool {
    false
}

/// Where the stream ends: its last stream sequence and `(last record seq, its link)`
/// (`None` when empty).
pub(crate) async fn stream_end(
    stream: &stream::Stream,
    name: &str,
    subject: &str,
    within: Duration,
) -> Result<(u64, Option<(u64, u64)>), ClusterError> {
    let state = retry(within, || async { stream.get_info().await.map(|i| i.state) })
        .await
        .map_err(|e| nats_err("stream info", name, e))?;
    if state.messages == 0 {
        return Ok((state.last_sequence, None));
    }
    let last_sequence = state.last_sequence;
    let msg = retry(within, || stream.get_last_raw_message_by_subject(subject))
        .await
        .map_err(|e| nats_err("get last", name, e))?;
    let b = frame::decode(&msg.payload).map_err(|source| ClusterError::Malformed {
        stream: name.to_string(),
        stream_seq: msg.sequence,
        source,
    })?;
    Ok((last_sequence, Some((b.last_seq(), b.last_link))))
}

struct Pusher<'a> {
    js: jetstream::Context,
    subject: String,
    node: &'a str,
    params: WireParams,
    max_msg: usize,
    failover: Duration,
    report: PushReport,
    /// The stream's last sequence: each publish expects it (`Nats-Expected-Last-Sequence`),
    /// so a batch from anyone else in between (a second pusher of the same node) makes
    /// this push fail instead of interleaving.
    stream_last: u64,
    batch: Vec<Record>,
    /// Seal positions (record seqs) inside `batch`.
    seals: Vec<u64>,
    bytes: usize,
}

/// Budget per record: its framing, its payload, and a possible seal position.
fn record_cost(r: &Record) -> usize {
    RECORD_OVERHEAD + 8 + r.payload.len()
}

impl Pusher<'_> {
    async fn publish(&mut self, final_seal: Option<[u8; 32]>) -> Result<(), ClusterError> {
        let (Some(first), Some(last)) = (self.batch.first(), self.batch.last()) else { return Ok(()) };
        let mut out = Vec::with_capacity(self.bytes + 64);
        let count = u32::try_from(self.batch.len()).unwrap_or(u32::MAX);
        frame::encode_header(&mut out, first.seq, count, last.link, final_seal, &self.params, &self.seals);
        for r in &self.batch {
            frame::push_record(&mut out, r.kind, r.ts_ns, &r.payload);
        }
        let len = out.len();
        let payload = bytes::Bytes::from(out);
        let id = format!("{}/{}", self.node, first.seq);
        let stream = &self.report.stream;
        // A retry re-sends the same id and expectation: if the first attempt was stored
        // (its ack lost), the server answers "duplicate" with the stored sequence.
        let ack = retry(self.failover, || async {
            let publish =
                Publish::build().payload(payload.clone()).message_id(&id).expected_last_sequence(self.stream_last);
            self.js.send_publish(self.subject.clone(), publish).await?.await
        })
        .await
        .map_err(|e| nats_err("publish", stream, e))?;
        self.stream_last = ack.sequence;
        self.report.batches += 1;
        self.report.duplicates += u64::from(ack.duplicate);
        self.report.sent += u64::from(count);
        self.report.bytes += u64::try_from(len).unwrap_or(u64::MAX);
        self.batch.clear();
        self.seals.clear();
        self.bytes = HEADER_LEN;
        Ok(())
    }

    /// Adds `r`, publishing the batch first when `r` does not fit in it.
    async fn add(&mut self, r: Record) -> Result<(), ClusterError> {
        let need = record_cost(&r);
        if HEADER_LEN + need > self.max_msg {
            return Err(ClusterError::RecordTooLarge { seq: r.seq, bytes: r.payload.len(), max: self.max_msg });
        }
        let limit = MAX_BATCH_BYTES.min(self.max_msg);
        let full = u32::try_from(self.batch.len()).unwrap_or(u32::MAX) >= MAX_BATCH_RECORDS;
        if !self.batch.is_empty() && (full || self.bytes + need > limit) {
            self.publish(None).await?;
        }
        self.bytes += need;
        self.batch.push(r);
        Ok(())
    }

    /// The source has a seal after record `seq` (not closing a segment).
    fn seal_after(&mut self, seq: u64) {
        if self.batch.last().is_some_and(|r| r.seq == seq) {
            self.seals.push(seq);
        }
    }
}

/// Mirrors the journal in `dir` to this node's stream, resuming where the stream ends.
/// Returns once every published batch is acknowledged by JetStream (stored on a quorum of
/// the stream's replicas). The local journal must verify, and must begin with what the
/// stream holds (the link of the stream's last record is compared).
pub async fn push_journal_async(client: &Client, cfg: &ClusterConfig, dir: &Path) -> Result<PushReport, ClusterError> {
    let report = bulkhead_journal::verify(dir).map_err(JournalError::Corrupt)?;
    let final_seal = (report.unsealed_records == 0 && report.records > 0).then_some(report.last_hash);
    let js = jetstream::new(client.clone());
    let max_msg = max_message(client);
    let stream = ensure_stream(&js, cfg, max_msg).await?;
    let name = journal_stream(&cfg.node);
    let subject = journal_subject(&cfg.node);
    let (stream_last, end) = stream_end(&stream, &name, &subject, cfg.failover).await?;
    let diverged =
        |problem: String| ClusterError::Diverged { dir: dir.display().to_string(), stream: name.clone(), problem };
    if let Some((last, _)) = end
        && last >= report.records
    {
        return Err(diverged(format!("the stream has record {last}, the journal only {} records", report.records)));
    }
    let mut p = Pusher {
        js,
        subject,
        node: &cfg.node,
        params: source_params(dir)?,
        max_msg,
        failover: cfg.failover,
        report: PushReport { stream: name.clone(), records: report.records, ..PushReport::empty() },
        stream_last,
        batch: Vec::new(),
        seals: Vec::new(),
        bytes: HEADER_LEN,
    };
    let mut reader = JournalReader::open(dir)?;
    let mut seal_seen = reader.last_hash();
    let mut prev: Option<(u64, u32)> = None;
    while let Some(r) = reader.next() {
        let r = r?;
        let sealed = reader.last_hash() != seal_seen;
        seal_seen = reader.last_hash();
        if let Some((seq, segment)) = prev
            && sealed
            && segment == r.segment
        {
            p.seal_after(seq);
        }
        prev = Some((r.seq, r.segment));
        if let Some((last, link)) = end
            && r.seq <= last
        {
            p.report.skipped += 1;
            if r.seq == last && r.link != link {
                return Err(diverged(format!("record {last}: link {:016x}, the stream has {link:016x}", r.link)));
            }
            continue;
        }
        p.add(r).await?;
    }
    if let Some((seq, _)) = prev
        && reader.last_hash() != seal_seen
    {
        p.seal_after(seq);
    }
    p.publish(final_seal).await?;
    Ok(p.report)
}

impl PushReport {
    fn empty() -> Self {
        PushReport { stream: String::new(), records: 0, skipped: 0, sent: 0, batches: 0, duplicates: 0, bytes: 0 }
    }
}

struct Rebuild {
    writer: Option<JournalWriter>,
    params: Option<WireParams>,
    next_seq: u64,
    /// (stream seq, last record seq, last link) of every batch.
    checks: Vec<(u64, u64, u64)>,
    final_seal: Option<(u64, [u8; 32])>,
    /// The source sealed after the last appended record and the writer's own rules did not:
    /// finish and reopen before the next record (what a finished-then-resumed run did).
    pending_seal: bool,
    out: std::path::PathBuf,
}

impl Rebuild {
    fn append(&mut self, kind: u16, ts_ns: u64, payload: &[u8]) -> Result<(), ClusterError> {
        if self.pending_seal
            && let (Some(w), Some(p)) = (self.writer.take(), self.params)
        {
            w.finish()?;
            self.writer = Some(JournalWriter::open_append(&self.out, p.journal_params())?.0);
            self.pending_seal = false;
        }
        if let Some(w) = self.writer.as_mut() {
            w.append(kind, ts_ns, payload)?;
        }
        Ok(())
    }

    fn apply(&mut self, stream: &str, stream_seq: u64, b: Batch) -> Result<(), ClusterError> {
        if b.first_seq != self.next_seq {
            return Err(ClusterError::Gap {
                stream: stream.to_string(),
                stream_seq,
                expected: self.next_seq,
                found: b.first_seq,
            });
        }
        match self.params {
            None => {
                self.writer = Some(JournalWriter::create(&self.out, b.params.journal_params())?);
                self.params = Some(b.params);
            }
            Some(p) if p != b.params => {
                return Err(ClusterError::ParamsChanged { stream: stream.to_string(), stream_seq });
            }
            Some(_) => {}
        }
        let mut seals = b.seals.iter().peekable();
        for (seq, r) in (b.first_seq..).zip(&b.records) {
            self.append(r.kind, r.ts_ns, &r.payload)?;
            if seals.next_if_eq(&&seq).is_some() && self.writer.as_ref().is_some_and(|w| w.unsealed_records() > 0) {
                self.pending_seal = true;
            }
        }
        self.next_seq = b.last_seq() + 1;
        self.checks.push((stream_seq, b.last_seq(), b.last_link));
        self.final_seal = b.final_seal.map(|s| (stream_seq, s));
        Ok(())
    }
}

/// Rebuilds `node`'s journal from its stream into `out` (which must not hold a journal):
/// reads every message in stream order, checks framing, contiguity and parameters, appends
/// the records with the journal writer (same parameters, so the same bytes), then checks
/// each batch's last link and the final seal against the rebuilt journal.
pub async fn fetch_journal_async(
    client: &Client,
    cfg: &ClusterConfig,
    node: &str,
    out: &Path,
    as_left: bool,
) -> Result<FetchReport, ClusterError> {
    crate::config::check_node_name("node", node)?;
    let name = journal_stream(node);
    let js = jetstream::new(client.clone());
    let within = cfg.failover;
    let stream = retry(within, || js.get_stream(&name)).await.map_err(|e| nats_err("get stream", &name, e))?;
    let state = retry(within, || async { stream.get_info().await.map(|i| i.state) })
        .await
        .map_err(|e| nats_err("stream info", &name, e))?;
    if state.messages == 0 {
        return Err(ClusterError::Empty(name));
    }
    let mut rb = Rebuild {
        writer: None,
        params: None,
        next_seq: 0,
        checks: Vec::new(),
        final_seal: None,
        pending_seal: false,
        out: out.to_path_buf(),
    };
    for seq in state.first_sequence..=state.last_sequence {
        let msg = retry(within, || stream.get_raw_message(seq)).await.map_err(|e| nats_err("get message", &name, e))?;
        let batch = frame::decode(&msg.payload).map_err(|source| ClusterError::Malformed {
            stream: name.clone(),
            stream_seq: seq,
            source,
        })?;
        rb.apply(&name, seq, batch)?;
    }
    let Some(writer) = rb.writer.take() else { return Err(ClusterError::Empty(name)) };
    // As the node left it: a journal mirrored without its final seal (a
    // node that died, or is still running) keeps its unsealed tail, so a
    // resume continues it exactly as the node itself would have.
    let summary = if as_left && rb.final_seal.is_none() { writer.close_unsealed()? } else { writer.finish()? };
    check_links(&name, out, &rb.checks)?;
    if let Some((stream_seq, seal)) = rb.final_seal
        && seal != summary.last_hash
    {
        return Err(ClusterError::SealMismatch {
            stream: name,
            stream_seq,
            rebuilt: hex::encode(summary.last_hash),
            mirrored: hex::encode(seal),
        });
    }
    Ok(FetchReport {
        stream: name,
        records: summary.records,
        batches: u64::try_from(rb.checks.len()).unwrap_or(u64::MAX),
        segments: summary.segments,
        last_hash: summary.last_hash,
        seal_checked: rb.final_seal.is_some(),
    })
}

/// Reads the rebuilt journal back and compares the link after each batch.
fn check_links(stream: &str, out: &Path, checks: &[(u64, u64, u64)]) -> Result<(), ClusterError> {
    let mut want = checks.iter().peekable();
    for r in JournalReader::open(out)? {
        let r = r?;
        if let Some(&&(stream_seq, seq, link)) = want.peek()
            && r.seq == seq
        {
            if r.link != link {
                return Err(ClusterError::LinkMismatch {
                    stream: stream.to_string(),
                    stream_seq,
                    seq,
                    rebuilt: r.link,
                    mirrored: link,
                });
            }
            want.next();
        }
    }
    Ok(())
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ClusterError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ClusterError::Io { what: "starting the NATS client runtime", source })
}

/// Blocking [`push_journal_async`] (connects with `cfg`).
pub fn push_journal(cfg: &ClusterConfig, dir: &Path) -> Result<PushReport, ClusterError> {
    runtime()?.block_on(async {
        let client = connect(cfg).await?;
        push_journal_async(&client, cfg, dir).await
    })
}

/// Blocking [`fetch_journal_async`] (connects with `cfg`).
pub fn fetch_journal(cfg: &ClusterConfig, node: &str, out: &Path) -> Result<FetchReport, ClusterError> {
    runtime()?.block_on(async {
        let client = connect(cfg).await?;
        fetch_journal_async(&client, cfg, node, out, false).await
    })
}

/// Blocking fetch of a journal to be resumed (failover): a stream whose
/// last batch carries no final seal (the node died) is rebuilt with its
/// unsealed tail, byte for byte what the node had mirrored, instead of
/// sealed at the end — so the resumed journal continues exactly as an
/// uninterrupted run's.
pub fn fetch_journal_as_left(cfg: &ClusterConfig, node: &str, out: &Path) -> Result<FetchReport, ClusterError> {
    runtime()?.block_on(async {
        let client = connect(cfg).await?;
        fetch_journal_async(&client, cfg, node, out, true).await
    })
}
