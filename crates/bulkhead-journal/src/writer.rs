//! The appending side: [`JournalWriter`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::durability::{Due, Durability};
use crate::error::{JournalError, Location, VerifyError, VerifyErrorKind};
use crate::format::{
    FLAG_SEAL, HASH_LEN, MAX_PAYLOAD, RECORD_OVERHEAD, SEAL_FRAME_LEN, SEGMENT_HEADER_LEN, SegmentHeader, block_seal,
    encode_record_header, frame_link, fsync_millis, fsync_to_code, genesis_hash, genesis_link, parse_segment_file_name,
    segment_file_name,
};
use crate::reader::{ScanError, Scanner};

/// Default [`JournalParams::seal_bytes`]: 64 KiB of frames per seal.
pub const DEFAULT_SEAL_BYTES: usize = 64 * 1024;

/// When appended records are forced to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every `append` is written out and fsynced before it returns.
    Always,
    /// After every N appends, the buffer is written out and fsynced. N must be > 0.
    EveryN(u32),
    /// Group commit: fsync once `records` appends are pending or the oldest
    /// pending append is `millis` ms old (checked at each append and by
    /// [`JournalWriter::tick`]), whichever comes first. Both must be > 0. The only use of the wall clock in the
    /// journal, and it decides nothing but *when* an fsync happens.
    Group { records: u32, millis: u16 },
    /// Never fsync except in `finish` (and after recovery). For backtests.
    Never,
}

/// `never` | `always` | `every:N` | `every:N:Mms` (N, M > 0): the text form
/// a run config's `run.fsync` uses, parsed once when the config is loaded.
impl std::str::FromStr for FsyncPolicy {
    type Err = FsyncParseError;
    fn from_str(s: &str) -> Result<FsyncPolicy, FsyncParseError> {
        let bad = || FsyncParseError(s.to_string());
        match s {
            "never" => Ok(FsyncPolicy::Never),
            "always" => Ok(FsyncPolicy::Always),
            _ => {
                let rest = s.strip_prefix("every:").ok_or_else(bad)?;
                let positive_u32 = |t: &str| t.parse::<u32>().ok().filter(|&n| n > 0);
                match rest.split_once(':') {
                    None => positive_u32(rest).map(FsyncPolicy::EveryN).ok_or_else(bad),
                    Some((n, ms)) => {
                        let records = positive_u32(n).ok_or_else(bad)?;
                        let millis = ms
                            .strip_suffix("ms")
                            .and_then(|m| m.parse::<u16>().ok())
                            .filter(|&m| m > 0)
                            .ok_or_else(bad)?;
                        Ok(FsyncPolicy::Group { records, millis })
                    }
                }
            }
        }
    }
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsyncPolicy::Never => f.write_str("never"),
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::EveryN(n) => write!(f, "every:{n}"),
            FsyncPolicy::Group { records, millis } => write!(f, "every:{records}:{millis}ms"),
        }
    }
}

/// A `run.fsync` text that is not an [`FsyncPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not never, always, every:N (records) or every:N:Mms (group commit: N records or M ms, N, M > 0, M ≤ 65535)"
)]
pub struct FsyncParseError(pub String);

/// Creation parameters of a journal.
#[derive(Clone, Copy, Debug)]
pub struct JournalParams {
    pub fsync: FsyncPolicy,
    /// A new segment is started when the next record would push the current one past this
    /// many bytes (header included). A segment always holds at least one record, so a single
    /// record bigger than the limit gets a segment of its own.
    pub segment_bytes: u64,
    /// File modes: `false` (the default) creates the journal directory (and
    /// `blobs/`) `0700` and every file `0600`, the owner only: a journal
    /// holds configs, every decision and operator names. `true` makes them
    /// `0750` / `0640`, readable by the owner's group (an audit group).
    /// Set exactly at creation, whatever the umask (Unix).
    pub group_readable: bool,
    /// A seal is written as soon as the frames since the last one reach
    /// this many bytes (and at every segment end and at `finish`). Smaller:
    /// tamper evidence is finer grained, more seals; larger: fewer, and the
    /// writer's block buffer (which holds at most this much plus one record)
    /// grows. 1 ..= 16 MiB; default [`DEFAULT_SEAL_BYTES`] (64 KiB).
    pub seal_bytes: usize,
}

impl Default for JournalParams {
    /// `Never` fsync (backtests), 256 MiB segments, owner-only files.
    fn default() -> Self {
        JournalParams {
            fsync: FsyncPolicy::Never,
            segment_bytes: 256 * 1024 * 1024,
            group_readable: false,
            seal_bytes: DEFAULT_SEAL_BYTES,
        }
    }
}

impl JournalParams {
    fn validate(&self) -> Result<(), JournalError> {
        if self.segment_bytes == 0 {
            return Err(JournalError::InvalidParams("segment_bytes must be > 0"));
        }
        if self.seal_bytes == 0 || self.seal_bytes > MAX_PAYLOAD {
            return Err(JournalError::InvalidParams("seal_bytes must be in 1 ..= 16 MiB"));
        }
        if self.fsync == FsyncPolicy::EveryN(0) {
            return Err(JournalError::InvalidParams("FsyncPolicy::EveryN needs N > 0"));
        }
        if let FsyncPolicy::Group { records, millis } = self.fsync
            && (records == 0 || millis == 0)
        {
            return Err(JournalError::InvalidParams("FsyncPolicy::Group needs records > 0 and millis > 0"));
        }
        Ok(())
    }
}

/// Returned by [`JournalWriter::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalSummary {
    /// Records in the journal (including any from before `open_append`).
    pub records: u64,
    /// Bytes of all segment files.
    pub bytes: u64,
    /// Number of segment files.
    pub segments: u32,
    /// The last seal, which `finish` writes over the last records: it
    /// covers the whole journal (genesis hash if there are no records).
    pub last_hash: [u8; 32],
}

/// Returned by [`JournalWriter::open_append`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whole, valid records kept.
    pub records: u64,
    /// Segment files after recovery.
    pub segments: u32,
    /// The last seal kept (genesis hash if none): the chain continues from here.
    pub last_hash: [u8; 32],
    /// Records kept after that seal (a crashed run's unsealed tail): the
    /// writer continues their block, so the next seal covers them.
    pub unsealed_records: u64,
    /// Sequence number the next append will get.
    pub next_seq: u64,
    /// Bytes cut off the end of the last segment (0 if the journal was clean).
    pub dropped_bytes: u64,
    /// Why bytes were dropped: the torn tail as the verifier saw it. `None` if clean.
    pub torn_tail: Option<VerifyError>,
}

/// Appends records to a journal. See the crate docs for the format.
///
/// Frames are built in the current block's buffer, which is also the write
/// buffer; what is durable when depends on [`FsyncPolicy`]. Call
/// [`finish`](Self::finish) at the end (it writes the last seal): dropping
/// the writer writes the buffer out best-effort but neither seals, fsyncs nor
/// reports errors (the journal then ends in an unsealed tail, as after a
/// crash, which [`open_append`](Self::open_append) continues).
pub struct JournalWriter {
    dir: PathBuf,
    params: JournalParams,
    /// The segment file, shared with the fsync thread (group commit).
    out: Arc<File>,
    /// Frames since the last seal, exactly as on disk (one contiguous
    /// buffer, so the seal is one BLAKE3 update).
    block: Vec<u8>,
    /// Bytes of `block` already written to the file.
    written: usize,
    /// Link of the last frame.
    link: u64,
    /// Link of the last record frame (not a seal): what a reader reports as its link.
    record_link: u64,
    /// Event time of the last record (a seal frame carries it).
    last_ts: u64,
    /// Records in `block`.
    unsealed: u64,
    seg_index: u32,
    seg_path: PathBuf,
    seg_len: u64,
    seg_records: u64,
    next_seq: u64,
    last_hash: [u8; 32],
    total_bytes: u64,
    segments: u32,
    /// The fsync policy's state (and group commit's syncer thread).
    dur: Durability,
    poisoned: bool,
}

/// fsync latency of one writer (wall clock; informational, decides nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsyncStats {
    /// fsyncs of a segment file.
    pub count: u64,
    /// Total time spent in them.
    pub total_ns: u64,
    /// The slowest one.
    pub max_ns: u64,
}

impl JournalWriter {
    /// Create a new journal in `dir` (created if missing). Refuses if `dir` already holds a
    /// segment file (`AlreadyExists` names it).
    pub fn create(dir: &Path, params: JournalParams) -> Result<Self, JournalError> {
        params.validate()?;
        create_journal_dir(dir, params.group_readable)?;
        let mut existing: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))? {
            let entry = entry.map_err(|e| JournalError::io(dir, e))?;
            if let Some(name) = entry.file_name().to_str()
                && (parse_segment_file_name(name).is_some() || name.ends_with(".bhj"))
            {
                existing.push(name.to_owned());
            }
        }
        existing.sort();
        if let Some(file) = existing.into_iter().next() {
            return Err(JournalError::AlreadyExists { dir: dir.to_path_buf(), file });
        }
        let header = SegmentHeader {
            index: 0,
            segment_bytes: params.segment_bytes,
            fsync_code: fsync_to_code(params.fsync).0,
            fsync_every: fsync_to_code(params.fsync).1,
            fsync_millis: fsync_millis(params.fsync),
            first_seq: 0,
            prev_hash: [0; 32],
        };
        let (out, seg_path) = new_segment_file(dir, &header, params.group_readable)?;
        let mut w = JournalWriter {
            dir: dir.to_path_buf(),
            params,
            out,
            block: Vec::with_capacity(block_capacity(&params)),
            written: 0,
            link: genesis_link(),
            record_link: genesis_link(),
            last_ts: 0,
            unsealed: 0,
            seg_index: 0,
            seg_path,
            seg_len: SEGMENT_HEADER_LEN as u64,
            seg_records: 0,
            next_seq: 0,
            last_hash: genesis_hash(),
            total_bytes: SEGMENT_HEADER_LEN as u64,
            segments: 1,
            dur: Durability::new(params.fsync, 0).map_err(|e| JournalError::io(dir, e))?,
            poisoned: false,
        };
        // Make the (empty) journal exist on disk right away.
        w.write_out()?;
        if params.fsync != FsyncPolicy::Never {
            w.sync_file()?;
            sync_dir(dir)?;
        }
        tracing::debug!(dir = %dir.display(), ?params, "journal created");
        Ok(w)
    }

    /// Open an existing journal to append to it.
    ///
    /// Verifies the whole journal. If the only problem is a torn tail at the end of the last
    /// segment ([`torn_tail`] says what counts), the tail is truncated to the last whole
    /// valid frame, the truncation is fsynced, and the chain continues from there. Records
    /// after the last seal (a crashed run's unsealed tail) are read back into the block
    /// buffer, so the next seal covers them as if the run had not stopped. Any other
    /// problem (damage in the middle of a segment or in an earlier segment, a length that
    /// runs over intact records) is returned as `Corrupt`, naming segment, record and byte
    /// offset, and nothing is changed. `params` apply to segments created from now on.
    pub fn open_append(dir: &Path, params: JournalParams) -> Result<(Self, RecoveryReport), JournalError> {
        params.validate()?;
        let mut s = Scanner::open(dir)?;
        let mut failure = None;
        while let Some(r) = s.next(None) {
            match r {
                Ok(_) => {}
                Err(ScanError::Bad(e)) => {
                    failure = Some(e);
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let last_index = *s.segment_indices().last().expect("scanner refuses an empty journal");
        let last_path = dir.join(segment_file_name(last_index));

        let mut dropped_bytes = 0;
        let mut segments = s.segments_ok;
        let mut seg_len = s.seg_bytes;
        let mut seg_records = s.seg_records;
        let mut total_bytes = s.bytes;
        let file = match &failure {
            None => {
                // What an earlier writer left in the page cache becomes durable
                // before we report it as such.
                let file = open_for_append(&last_path, None)?;
                file.sync_all().map_err(|e| JournalError::io(&last_path, e))?;
                file
            }
            Some(e) => {
                let Some(torn) = torn_tail(dir, e)? else {
                    return Err(JournalError::Corrupt(e.clone()));
                };
                if torn.offset == 0 && s.unsealed > 0 {
                    // A fresh segment's header is torn, yet the segment before it
                    // has no closing seal: not what a crashed writer leaves.
                    return Err(JournalError::Corrupt(e.clone()));
                }
                let cut = torn.offset;
                dropped_bytes = torn.bytes;
                tracing::warn!(
                    journal = %dir.display(),
                    segment = %segment_file_name(last_index),
                    offset = cut,
                    dropped_bytes,
                    problem = %e,
                    "journal: truncating torn tail"
                );
                let mut file = open_for_append(&last_path, Some(cut))?;
                if cut == 0 {
                    // The last segment's header itself was torn: write it afresh.
                    let header = SegmentHeader {
                        index: last_index,
                        segment_bytes: params.segment_bytes,
                        fsync_code: fsync_to_code(params.fsync).0,
                        fsync_every: fsync_to_code(params.fsync).1,
                        fsync_millis: fsync_millis(params.fsync),
                        first_seq: s.next_seq,
                        prev_hash: if last_index == 0 { [0; 32] } else { s.seal },
                    };
                    file.write_all(&header.encode()).map_err(|e| JournalError::io(&last_path, e))?;
                    segments += 1;
                    seg_len = SEGMENT_HEADER_LEN as u64;
                    seg_records = 0;
                    total_bytes += SEGMENT_HEADER_LEN as u64;
                }
                file.sync_all().map_err(|e| JournalError::io(&last_path, e))?;
                file
            }
        };
        sync_dir(dir)?;
        let mut block = Vec::with_capacity(block_capacity(&params));
        block.extend_from_slice(s.unsealed_block());
        let written = block.len();
        let w = JournalWriter {
            dir: dir.to_path_buf(),
            params,
            out: Arc::new(file),
            block,
            written,
            link: s.link,
            record_link: s.link,
            last_ts: s.last_ts,
            unsealed: s.unsealed,
            seg_index: last_index,
            seg_path: last_path,
            seg_len,
            seg_records,
            next_seq: s.next_seq,
            last_hash: s.seal,
            total_bytes,
            segments,
            dur: Durability::new(params.fsync, s.next_seq).map_err(|e| JournalError::io(dir, e))?,
            poisoned: false,
        };
        let report = RecoveryReport {
            records: s.records,
            segments,
            last_hash: s.seal,
            unsealed_records: s.unsealed,
            next_seq: s.next_seq,
            dropped_bytes,
            torn_tail: failure,
        };
        Ok((w, report))
    }

    /// Append one record; returns its sequence number. Buffered: see [`FsyncPolicy`] for when
    /// it reaches the disk. Refuses payloads over [`MAX_PAYLOAD`]. Allocates nothing.
    pub fn append(&mut self, kind: u16, ts_ns: u64, payload: &[u8]) -> Result<u64, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { dir: self.dir.clone() });
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(JournalError::PayloadTooLarge { len: payload.len(), max: MAX_PAYLOAD });
        }
        let rec_len = (RECORD_OVERHEAD + payload.len()) as u64;
        // Room for the record and the seal that closes the segment.
        if self.seg_records > 0 && self.seg_len + rec_len + SEAL_FRAME_LEN as u64 > self.params.segment_bytes {
            self.roll()?;
        }
        let seq = self.next_seq;
        // Fits: checked against MAX_PAYLOAD (16 MiB) above.
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let start = self.block.len();
        self.block.extend_from_slice(&encode_record_header(len, kind, 0, seq, ts_ns));
        self.block.extend_from_slice(payload);
        let link = frame_link(self.link, &self.block[start..]);
        self.block.extend_from_slice(&link.to_le_bytes());
        self.link = link;
        self.record_link = link;
        self.last_ts = ts_ns;
        self.unsealed += 1;
        // Invariant: sequence numbers are dense and strictly increasing (the
        // reader and resume rely on it); `seq` was `next_seq` above.
        debug_assert_eq!(seq, self.next_seq);
        self.next_seq = seq + 1;
        self.seg_len += rec_len;
        self.seg_records += 1;
        self.total_bytes += rec_len;
        if self.block.len() >= self.params.seal_bytes {
            self.seal()?;
        }
        match self.dur.appended() {
            Due::Nothing => {}
            Due::SyncNow => self.flush()?,
            Due::Group => {
                self.commit_group()?;
            }
        }
        Ok(seq)
    }

    /// Write the buffer out to the OS; fsync too unless the policy is `Never`.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { dir: self.dir.clone() });
        }
        self.write_out()?;
        if self.params.fsync != FsyncPolicy::Never {
            self.sync_file()?;
        }
        Ok(())
    }

    /// Make every record appended so far durable now (write out and fsync),
    /// whatever the policy; a no-op when nothing is pending. The engine calls
    /// this before it releases an action to a venue (group commit).
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { dir: self.dir.clone() });
        }
        if self.dur.durable_seq() >= self.next_seq {
            return Ok(());
        }
        self.write_out()?;
        self.sync_file()
    }

    /// Group commit: write the buffer out and hand the fsync to the syncer
    /// thread (see [`crate::durability`]); waits only when the syncer is
    /// far behind.
    /// `false` if the group waits for the running fsync (see
    /// `Durability::may_defer`).
    fn commit_group(&mut self) -> Result<bool, JournalError> {
        if self.dur.may_defer(self.next_seq) {
            return Ok(false);
        }
        self.write_out()?;
        let res = self.dur.request(&self.out, self.next_seq);
        res.map_err(|e| self.poison(e))?;
        Ok(true)
    }

    /// Group commit's time bound without waiting for the next append: if
    /// the policy is `Group` and the oldest pending append is `millis` old,
    /// write out and hand the fsync to the syncer now. Returns whether it did (`false` also while an fsync is running: the group follows it). Cheap when nothing
    /// is pending (no clock read); a run loop that idles (paced, waiting for
    /// the market) calls it so records never sit unsynced longer than the
    /// policy says.
    pub fn tick(&mut self) -> Result<bool, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { dir: self.dir.clone() });
        }
        if !self.dur.tick_due() {
            return Ok(false);
        }
        self.commit_group()
    }

    /// Store `bytes` beside the journal, content-addressed: the file
    /// `blobs/<blake3 hex>` of the journal directory (see the crate docs).
    /// Idempotent; under any policy but `Never` the blob is fsynced (file
    /// and directories) before this returns, so a record that names its
    /// hash can be made durable after it. Returns the blake3 hash.
    pub fn store_blob(&mut self, bytes: &[u8]) -> Result<[u8; 32], JournalError> {
        let hash = *blake3::hash(bytes).as_bytes();
        let blobs = self.dir.join(BLOB_DIR);
        let path = blobs.join(hex::encode(hash));
        if read_blob(&self.dir, &hash).is_ok_and(|b| b.is_some()) {
            return Ok(hash);
        }
        let durable = self.params.fsync != FsyncPolicy::Never;
        let created = !blobs.is_dir();
        if created {
            make_dir(&blobs, self.params.group_readable)?;
        }
        let tmp = blobs.join(format!("{}.tmp", hex::encode(hash)));
        let io = |e| JournalError::io(&tmp, e);
        let mut f = create_file(&tmp, false, self.params.group_readable).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        if durable {
            f.sync_all().map_err(io)?;
        }
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| JournalError::io(&path, e))?;
        if durable {
            sync_dir(&blobs)?;
            if created {
                sync_dir(&self.dir)?;
            }
        }
        Ok(hash)
    }

    /// Records with a sequence number below this are on stable storage
    /// (fsynced). Under `Never` it moves only at [`finish`](Self::finish)
    /// and explicit [`sync`](Self::sync) calls.
    pub fn durable_seq(&self) -> u64 {
        self.dur.durable_seq()
    }

    /// The policy this writer follows.
    pub fn fsync_policy(&self) -> FsyncPolicy {
        self.params.fsync
    }

    /// fsync count and latency so far.
    pub fn fsync_stats(&self) -> FsyncStats {
        self.dur.stats()
    }

    /// Keep the wall time of each fsync from now on (for a latency
    /// histogram), at most `cap` between two [`take_fsync_samples`](Self::take_fsync_samples)
    /// calls (later ones are counted, not kept). Off by default: costs
    /// nothing unless asked for. Informational, like [`FsyncStats`].
    pub fn record_fsync_samples(&mut self, cap: usize) {
        self.dur.record_samples(cap);
    }

    /// Move the fsync times (ns) kept since the last call into `out`;
    /// returns how many were not kept because the buffer was full.
    pub fn take_fsync_samples(&mut self, out: &mut Vec<u64>) -> u64 {
        self.dur.take_samples(out)
    }

    /// Bytes of all segment files so far (headers, records and seals,
    /// including what is still in the write buffer; not the seal `finish`
    /// will add over the [`unsealed_records`](Self::unsealed_records)).
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Number of segment files so far.
    pub fn segments(&self) -> u32 {
        self.segments
    }

    /// Seal the last records, write out, fsync the segment and the directory, and return a summary.
    pub fn finish(mut self) -> Result<JournalSummary, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { dir: self.dir.clone() });
        }
        self.seal()?;
        self.close_unsealed()
    }

    /// Write out and make durable what was appended, without sealing the
    /// last block: the journal ends in an unsealed tail, exactly as a writer
    /// that died leaves it ([`verify`](crate::verify) accepts it and
    /// [`open_append`](Self::open_append) continues it as if nothing had
    /// stopped). For reproducing such a journal byte for byte elsewhere (a
    /// dead node's journal fetched back from its mirror to be resumed).
    pub fn close_unsealed(mut self) -> Result<JournalSummary, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { dir: self.dir.clone() });
        }
        self.write_out()?;
        self.sync_file()?;
        sync_dir(&self.dir)?;
        Ok(JournalSummary {
            records: self.next_seq,
            bytes: self.total_bytes,
            segments: self.segments,
            last_hash: self.last_hash,
        })
    }

    /// The last seal written (genesis hash if none). It lags the records:
    /// those appended since (at most [`JournalParams::seal_bytes`] worth)
    /// are covered by the next seal, at the latest at [`finish`](Self::finish).
    pub fn last_hash(&self) -> [u8; 32] {
        self.last_hash
    }

    /// Link of the last appended record (or seal): the cheap per-frame chain value.
    pub fn last_link(&self) -> u64 {
        self.link
    }

    /// Link of the last appended record (unlike [`last_link`](Self::last_link), not moved by a
    /// seal that follows it): the link a reader reports for that record. After
    /// [`open_append`](Self::open_append), the link of the last frame kept.
    pub fn last_record_link(&self) -> u64 {
        self.record_link
    }

    /// Records appended since the last seal.
    pub fn unsealed_records(&self) -> u64 {
        self.unsealed
    }

    /// Sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn poison(&mut self, e: io::Error) -> JournalError {
        self.poisoned = true;
        // The caller gets (and prints) the error; at warn so it is not said twice.
        tracing::warn!(segment = %self.seg_path.display(), error = %e, "journal write failed; writer poisoned");
        JournalError::io(&self.seg_path, e)
    }

    fn write_out(&mut self) -> Result<(), JournalError> {
        if self.written == self.block.len() {
            return Ok(());
        }
        match self.out.write_all(&self.block[self.written..]) {
            Ok(()) => {
                self.written = self.block.len();
                Ok(())
            }
            Err(e) => Err(self.poison(e)),
        }
    }

    /// Seal the current block (nothing if it is empty): one BLAKE3 update
    /// over its bytes, the seal frame after it, both written out, the buffer
    /// emptied for the next block.
    fn seal(&mut self) -> Result<(), JournalError> {
        if self.unsealed == 0 {
            return Ok(());
        }
        let seal = block_seal(&self.last_hash, &self.block);
        let start = self.block.len();
        let len = u32::try_from(HASH_LEN).unwrap_or(u32::MAX);
        self.block.extend_from_slice(&encode_record_header(len, 0, FLAG_SEAL, self.next_seq, self.last_ts));
        self.block.extend_from_slice(&seal);
        let link = frame_link(self.link, &self.block[start..]);
        self.block.extend_from_slice(&link.to_le_bytes());
        self.write_out()?;
        self.block.clear();
        self.written = 0;
        self.link = link;
        self.last_hash = seal;
        self.unsealed = 0;
        self.seg_len += SEAL_FRAME_LEN as u64;
        self.total_bytes += SEAL_FRAME_LEN as u64;
        Ok(())
    }

    /// Make everything written out so far durable before returning.
    fn sync_file(&mut self) -> Result<(), JournalError> {
        let res = self.dur.sync(&self.out, self.next_seq);
        res.map_err(|e| self.poison(e))?;
        // Invariant: the durable prefix only grows, and never past the records written.
        debug_assert!(self.dur.durable_seq() <= self.next_seq, "durable seq past next {}", self.next_seq);
        Ok(())
    }

    /// Close the current segment and start the next one.
    fn roll(&mut self) -> Result<(), JournalError> {
        let Some(index) = self.seg_index.checked_add(1) else {
            return Err(JournalError::TooManySegments { dir: self.dir.clone() });
        };
        // Blocks never span segments.
        self.seal()?;
        self.write_out()?;
        if self.params.fsync != FsyncPolicy::Never {
            self.sync_file()?;
        }
        let (code, every) = fsync_to_code(self.params.fsync);
        let header = SegmentHeader {
            index,
            segment_bytes: self.params.segment_bytes,
            fsync_code: code,
            fsync_every: every,
            fsync_millis: fsync_millis(self.params.fsync),
            first_seq: self.next_seq,
            prev_hash: self.last_hash,
        };
        let (out, path) = match new_segment_file(&self.dir, &header, self.params.group_readable) {
            Ok(x) => x,
            Err(e) => {
                self.poisoned = true;
                return Err(e);
            }
        };
        if self.params.fsync != FsyncPolicy::Never {
            sync_dir(&self.dir)?;
        }
        tracing::debug!(segment = %path.display(), first_seq = self.next_seq, "journal segment started");
        self.out = out;
        self.seg_path = path;
        self.seg_index = index;
        self.seg_len = SEGMENT_HEADER_LEN as u64;
        self.seg_records = 0;
        self.total_bytes += SEGMENT_HEADER_LEN as u64;
        self.segments += 1;
        Ok(())
    }
}

/// Subdirectory of a journal holding content-addressed blobs.
pub const BLOB_DIR: &str = "blobs";

/// A blob stored with [`JournalWriter::store_blob`] in the journal `dir`:
/// `Ok(None)` if there is none with this hash, an error if the file does
/// not hash to its name.
pub fn read_blob(dir: &Path, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, JournalError> {
    let path = dir.join(BLOB_DIR).join(hex::encode(hash));
    match std::fs::read(&path) {
        Ok(bytes) if blake3::hash(&bytes).as_bytes() == hash => Ok(Some(bytes)),
        Ok(_) => Err(JournalError::BlobCorrupt { path }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(JournalError::io(&path, e)),
    }
}

/// Mode of the journal's directories and files (see [`JournalParams::group_readable`]).
fn modes(group_readable: bool) -> (u32, u32) {
    if group_readable { (0o750, 0o640) } else { (0o700, 0o600) }
}

/// Create the journal directory (parents as usual) with its mode, set
/// exactly (a umask cannot loosen or tighten it). An existing directory is
/// left as it is.
fn create_journal_dir(dir: &Path, group_readable: bool) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| JournalError::io(parent, e))?;
    }
    make_dir(dir, group_readable)
}

/// `mkdir` with the journal's mode, then the mode set exactly.
fn make_dir(dir: &Path, group_readable: bool) -> Result<(), JournalError> {
    let io = |e| JournalError::io(dir, e);
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        b.mode(modes(group_readable).0);
        match b.create(dir) {
            Ok(()) => {}
            // Someone made it between our check and now: theirs, leave it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
            Err(e) => return Err(io(e)),
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(modes(group_readable).0)).map_err(io)
    }
    #[cfg(not(unix))]
    {
        let _ = group_readable;
        b.recursive(true).create(dir).map_err(io)
    }
}

/// Create a file of the journal (segment, blob) with the journal's file
/// mode, set exactly. `create_new`: refuse an existing file; else truncate.
fn create_file(path: &Path, create_new: bool, group_readable: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = modes(group_readable).1;
        let f = o.mode(mode).open(path)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(f)
    }
    #[cfg(not(unix))]
    {
        let _ = group_readable;
        o.open(path)
    }
}

fn new_segment_file(
    dir: &Path,
    header: &SegmentHeader,
    group_readable: bool,
) -> Result<(Arc<File>, PathBuf), JournalError> {
    let path = dir.join(segment_file_name(header.index));
    let mut file = create_file(&path, true, group_readable).map_err(|e| JournalError::io(&path, e))?;
    file.write_all(&header.encode()).map_err(|e| JournalError::io(&path, e))?;
    Ok((Arc::new(file), path))
}

/// Initial capacity of the block buffer: one block and a typical record.
fn block_capacity(params: &JournalParams) -> usize {
    params.seal_bytes + 4096
}

impl Drop for JournalWriter {
    /// Best effort, like a `BufWriter`: write out what is buffered, unsealed
    /// and unsynced (as after a crash: `open_append` continues the block).
    fn drop(&mut self) {
        if !self.poisoned && self.written < self.block.len() {
            let _ = self.out.write_all(&self.block[self.written..]);
        }
    }
}

/// Open a segment for writing at its end, or truncated to `cut` bytes.
fn open_for_append(path: &Path, cut: Option<u64>) -> Result<File, JournalError> {
    let io = |e| JournalError::io(path, e);
    let mut file = OpenOptions::new().write(true).open(path).map_err(io)?;
    if let Some(cut) = cut {
        file.set_len(cut).map_err(io)?;
    }
    file.seek(SeekFrom::End(0)).map_err(io)?;
    Ok(file)
}

/// A torn tail at the end of a journal's last segment: what a crash in the
/// middle of a write leaves, and what [`JournalWriter::open_append`] cuts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The last segment, where the tail is.
    pub segment: u32,
    /// Byte offset in that segment file where the last whole record ends:
    /// everything from here to end of file is the tail (0: the segment's
    /// own header is torn).
    pub offset: u64,
    /// Bytes from `offset` to end of file.
    pub bytes: u64,
    /// The problem as the verifier saw it.
    pub problem: VerifyError,
}

/// Is the first problem `e` that verification found in the journal `dir` a
/// torn tail (a crash in the middle of a write), and where? Reads, never
/// writes.
///
/// A torn tail is in the **last** segment and runs to end of file with
/// nothing valid after it:
/// - a record (or the last segment's header) cut short at end of file: its
///   length runs past end of file and no intact record lies in the bytes it
///   claims (else the verifier reports
///   [`VerifyErrorKind::LengthOverIntactRecords`]: an altered length);
/// - a frame whole by its length whose link does not match, followed by
///   nothing but zeros (or by nothing): the last write's pages reached the
///   disk only in part;
/// - any damage from which the rest of the file is zeros (a preallocated
///   or extended file whose data never arrived).
///
/// Anything else (a bad link or length with data after it, a seal mismatch, damage in an
/// earlier segment, a missing segment, an I/O error) is corruption:
/// `Ok(None)`. A final record whose bytes were altered after it was written
/// cannot be told from a torn one; the chain cannot protect the very end
/// (see the crate docs: keep the last hash elsewhere).
pub fn torn_tail(dir: &Path, e: &VerifyError) -> Result<Option<TornTail>, JournalError> {
    let Some(&last_index) = crate::reader::list_segments(dir).map_err(JournalError::from)?.last() else {
        return Ok(None);
    };
    let (offset, header) = match e.location {
        Location::SegmentHeader { index } if index == last_index => (0, true),
        Location::Record { segment, offset, .. } if segment == last_index => (offset, false),
        _ => return Ok(None),
    };
    let path = dir.join(segment_file_name(last_index));
    let io = |err| JournalError::io(&path, err);
    let mut file = File::open(&path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let Some(bytes) = file_len.checked_sub(offset) else { return Ok(None) };
    let torn = Some(TornTail { segment: last_index, offset, bytes, problem: e.clone() });
    let mut rest_from = offset;
    match e.kind {
        VerifyErrorKind::TruncatedRecord { .. } | VerifyErrorKind::TruncatedHeader { .. } => return Ok(torn),
        VerifyErrorKind::LinkMismatch if !header => {
            // Whole by its length, bad link: torn if nothing but zeros follow it.
            let mut len = [0u8; 4];
            file.seek(SeekFrom::Start(offset)).map_err(io)?;
            file.read_exact(&mut len).map_err(io)?;
            let end = offset + RECORD_OVERHEAD as u64 + u64::from(u32::from_le_bytes(len));
            rest_from = end.min(file_len);
        }
        VerifyErrorKind::LengthOverIntactRecords { .. }
        | VerifyErrorKind::SealMismatch { .. }
        | VerifyErrorKind::UnsealedSegmentEnd { .. }
        | VerifyErrorKind::Io { .. }
        | VerifyErrorKind::MissingSegment
        | VerifyErrorKind::NoSegments
        | VerifyErrorKind::SegmentCutShort { .. } => return Ok(None),
        _ => {}
    }
    // The rest of the file must be zeros (file extended, data never written).
    file.seek(SeekFrom::Start(rest_from)).map_err(io)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = crate::reader::read_full(&mut file, &mut buf).map_err(io)?;
        if n == 0 {
            return Ok(torn);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(None);
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| JournalError::io(dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), JournalError> {
    Ok(())
}
