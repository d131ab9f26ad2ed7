//! Streaming, verifying reader shared by [`verify`], [`JournalReader`] and recovery.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{JournalError, Location, VerifyError, VerifyErrorKind};
use crate::format::{
    FLAG_SEAL, HASH_LEN, LINK_LEN, MAX_PAYLOAD, RECORD_HEADER_LEN, RECORD_OVERHEAD, SEAL_FRAME_LEN, SEGMENT_HEADER_LEN,
    SegmentHeader, block_seal, decode_record_header, frame_link, genesis_hash, genesis_link, hash_at, link_at,
    parse_segment_file_name, segment_file_name,
};

/// Read size for verification and reading: large, so that verify streams at disk/hash speed.
const READ_BUF: usize = 4 << 20;

/// A failure while scanning: either the OS failed us, or the journal is bad.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io { path: PathBuf, source: io::Error },
    Bad(VerifyError),
}

impl ScanError {
    pub(crate) fn into_verify(self, dir: &Path) -> VerifyError {
        match self {
            ScanError::Bad(e) => e,
            ScanError::Io { path, source } => VerifyError {
                journal: dir.to_path_buf(),
                location: Location::Journal,
                kind: VerifyErrorKind::Io { message: format!("{}: {source}", path.display()) },
            },
        }
    }
}

impl From<ScanError> for JournalError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Io { path, source } => JournalError::Io { path, source },
            ScanError::Bad(v) => JournalError::Corrupt(v),
        }
    }
}

/// List the segment indices present in `dir`, sorted. Non-segment files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u32>, ScanError> {
    let io_err = |source| ScanError::Io { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_segment_file_name(name) {
            Some(i) => out.push(i),
            None if name.ends_with(".bhj") => {
                tracing::warn!(dir = %dir.display(), file = name, "ignoring non-canonical .bhj file in journal")
            }
            None => {}
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Every segment file of the journal in `dir`, in order: its file name and its bytes, as
/// on disk (not verified; other files, such as blobs, are not included). Reads each file
/// whole: for comparing journals byte for byte (tests, tools), not for a running node.
pub fn segment_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, JournalError> {
    let mut out = Vec::new();
    for index in list_segments(dir)? {
        let name = segment_file_name(index);
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|source| JournalError::Io { path, source })?;
        out.push((name, bytes));
    }
    Ok(out)
}

/// Metadata of a record that verified; the payload (if requested) is in the caller's buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecMeta {
    pub seq: u64,
    pub kind: u16,
    pub ts_ns: u64,
    pub link: u64,
    pub segment: u32,
    pub offset: u64,
}

/// What [`Scanner::step`] found.
pub(crate) enum Step {
    /// A record that verified.
    Record(RecMeta),
    /// A seal that verified: (last record seq it covers, seal).
    Seal(u64, [u8; HASH_LEN]),
}

/// One seal to check: `blake3(prev ‖ buf[block]) == stored`, and where to
/// say it is wrong. The block is one contiguous slice of the read buffer:
/// one BLAKE3 update, which takes its multi-chunk (SIMD) path.
struct SealJob {
    block: std::ops::Range<usize>,
    prev: [u8; HASH_LEN],
    stored: [u8; HASH_LEN],
    segment: u32,
    first_seq: u64,
    last_seq: u64,
    block_offset: u64,
    seal_offset: u64,
}

impl SealJob {
    fn check(&self, buf: &[u8]) -> Result<(), (Location, VerifyErrorKind)> {
        if block_seal(&self.prev, &buf[self.block.clone()]) == self.stored {
            return Ok(());
        }
        let at = Location::Record { segment: self.segment, seq: self.first_seq, offset: self.block_offset };
        let kind = VerifyErrorKind::SealMismatch {
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            seal_offset: self.seal_offset,
        };
        Err((at, kind))
    }
}

struct Current {
    index: u32,
    path: PathBuf,
    file: File,
    eof: bool,
}

/// Walks a journal frame by frame, checking every header, length, sequence
/// number, link and seal. Stops (fused) at the first problem. Memory use is
/// one read buffer (which also holds the current block, so its seal is one
/// BLAKE3 call over a contiguous slice) plus, when the caller asks for
/// payloads, one payload.
pub(crate) struct Scanner {
    dir: PathBuf,
    segments: Vec<u32>,
    pos: usize,
    cur: Option<Current>,
    /// Bytes of the current segment file read so far and not yet dropped:
    /// `buf[..end]`; `buf[0]` is at file offset `buf_off`. (`buf` is
    /// allocated once and reused: no clearing per read.)
    buf: Vec<u8>,
    end: usize,
    buf_off: u64,
    /// Index in `buf` of the current (unsealed) block's first frame.
    block_start: usize,
    /// Index in `buf` of the next frame.
    p: usize,
    /// Sequence number the next frame must carry.
    pub next_seq: u64,
    /// The last good seal (genesis before the first): the chain value.
    pub seal: [u8; 32],
    /// Link of the last good frame (the genesis link before the first).
    pub link: u64,
    /// Event time of the last good record.
    pub last_ts: u64,
    /// Good records so far.
    pub records: u64,
    /// Good records after the last seal (the unsealed tail).
    pub unsealed: u64,
    /// Bytes of good headers and frames so far.
    pub bytes: u64,
    /// Segments whose header verified.
    pub segments_ok: u32,
    /// Good records in the current segment.
    pub seg_records: u64,
    /// Good bytes in the current (or last) segment, header included.
    pub seg_bytes: u64,
    done: bool,
    /// Stop (as at the end) on reaching this frame boundary: (segment, offset).
    stop_at: Option<(u32, u64)>,
    /// Whether it stopped there.
    stopped: bool,
}

impl Scanner {
    pub fn open(dir: &Path) -> Result<Self, ScanError> {
        let segments = list_segments(dir)?;
        let mut s = Scanner::at_start(dir, segments);
        if s.segments.is_empty() {
            s.done = true;
            return Err(ScanError::Bad(s.bad(Location::Journal, VerifyErrorKind::NoSegments)));
        }
        Ok(s)
    }

    /// A scanner that starts right after a seal frame that has not been
    /// checked yet: in segment `index` at byte `offset` (just past the seal
    /// frame), with the chain state that frame carries. What it finds holds
    /// only if a scanner from the start reaches that frame with the same state.
    fn resume_at(
        dir: &Path,
        segments: Vec<u32>,
        index: u32,
        offset: u64,
        (next_seq, link, seal): ChainState,
    ) -> io::Result<Self> {
        use std::io::{Seek, SeekFrom};
        let pos = segments.iter().position(|&i| i == index).map_or(segments.len(), |p| p + 1);
        let path = dir.join(segment_file_name(index));
        let mut file = File::open(&path)?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Scanner {
            pos,
            cur: Some(Current { index, path, file, eof: false }),
            buf_off: offset,
            next_seq,
            seal,
            link,
            seg_bytes: offset,
            ..Scanner::at_start(dir, segments)
        })
    }

    /// A scanner before the first segment of `segments`, at the genesis chain state.
    fn at_start(dir: &Path, segments: Vec<u32>) -> Self {
        Scanner {
            dir: dir.to_path_buf(),
            segments,
            pos: 0,
            cur: None,
            buf: Vec::new(),
            end: 0,
            buf_off: 0,
            block_start: 0,
            p: 0,
            next_seq: 0,
            seal: genesis_hash(),
            link: genesis_link(),
            last_ts: 0,
            records: 0,
            unsealed: 0,
            bytes: 0,
            segments_ok: 0,
            seg_records: 0,
            seg_bytes: 0,
            done: false,
            stop_at: None,
            stopped: false,
        }
    }

    /// Indices of the segment files present (sorted).
    pub fn segment_indices(&self) -> &[u32] {
        &self.segments
    }

    /// The frames of the unsealed tail (after the last good seal, up to the
    /// last good frame) exactly as on disk, for a writer that continues the block.
    pub fn unsealed_block(&self) -> &[u8] {
        &self.buf[self.block_start.min(self.p)..self.p]
    }

    fn bad(&self, location: Location, kind: VerifyErrorKind) -> VerifyError {
        VerifyError { journal: self.dir.clone(), location, kind }
    }

    fn fail<T>(&mut self, location: Location, kind: VerifyErrorKind) -> Option<Result<T, ScanError>> {
        self.done = true;
        self.cur = None;
        Some(Err(ScanError::Bad(self.bad(location, kind))))
    }

    fn fail_io<T>(&mut self, path: PathBuf, source: io::Error) -> Option<Result<T, ScanError>> {
        self.done = true;
        self.cur = None;
        Some(Err(ScanError::Io { path, source }))
    }

    /// A frame whose header is whole but whose length runs past the end of
    /// its segment. A torn write looks like that, and so does an altered
    /// length field in the middle of a segment: tell them apart by looking
    /// for an intact frame inside the bytes the length claims
    /// ([`intact_record_after`]). Found one: the length was altered
    /// ([`VerifyErrorKind::LengthOverIntactRecords`]); none: truncated.
    fn fail_truncated<T>(
        &mut self,
        loc: Location,
        len: u32,
        needed: u64,
        available: u64,
    ) -> Option<Result<T, ScanError>> {
        let (Location::Record { seq, offset, .. }, Some(cur)) = (&loc, &self.cur) else {
            return self.fail(loc, VerifyErrorKind::TruncatedRecord { needed, available });
        };
        let path = cur.path.clone();
        match intact_record_after(&path, *offset, *seq) {
            Ok(Some((next_seq, next_offset))) => {
                self.fail(loc, VerifyErrorKind::LengthOverIntactRecords { len, next_seq, next_offset })
            }
            Ok(None) => self.fail(loc, VerifyErrorKind::TruncatedRecord { needed, available }),
            Err(e) => self.fail_io(path, e),
        }
    }

    fn cur_path(&self) -> PathBuf {
        self.cur.as_ref().map(|c| c.path.clone()).unwrap_or_else(|| self.dir.clone())
    }

    /// Make `buf[p..end]` hold at least `n` bytes if the file has them
    /// (reads in large chunks; keeps the current block, drops what is
    /// before it).
    fn ensure(&mut self, n: usize) -> io::Result<()> {
        let Some(cur) = self.cur.as_mut() else { return Ok(()) };
        if self.end - self.p >= n || cur.eof {
            return Ok(());
        }
        let keep = self.block_start;
        let live = self.end - keep;
        let cap = (self.p - keep + n).max(live + READ_BUF);
        self.buf.copy_within(keep..self.end, 0);
        if self.buf.len() < cap {
            self.buf.resize(cap, 0);
        }
        self.buf_off += keep as u64;
        self.p -= keep;
        self.block_start = 0;
        self.end = live;
        while self.end < self.p + n {
            let room = self.buf.len() - self.end;
            let got = read_full(&mut cur.file, &mut self.buf[self.end..])?;
            self.end += got;
            if got < room {
                cur.eof = true;
                break;
            }
        }
        Ok(())
    }

    /// Next verified record, `None` at the end of the journal (or after an error).
    /// If `payload` is given it is cleared and receives the record's payload.
    /// Seals are checked on the way and not returned.
    pub fn next(&mut self, mut payload: Option<&mut Vec<u8>>) -> Option<Result<RecMeta, ScanError>> {
        loop {
            match self.step(payload.as_deref_mut())? {
                Ok(Step::Record(m)) => return Some(Ok(m)),
                Ok(Step::Seal(..)) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Next verified frame (record or seal), `None` at the end of the journal (or after an error).
    pub fn step(&mut self, payload: Option<&mut Vec<u8>>) -> Option<Result<Step, ScanError>> {
        loop {
            if self.done {
                return None;
            }
            let Some(segment) = self.cur.as_ref().map(|c| c.index) else {
                if let Some(r) = self.open_next_segment() {
                    return r.err().map(Err);
                }
                continue;
            };
            let offset = self.buf_off + self.p as u64;
            if self.stop_at == Some((segment, offset)) && self.unsealed == 0 {
                self.stopped = true;
                self.done = true;
                return None;
            }
            let loc = Location::Record { segment, seq: self.next_seq, offset };
            if self.end - self.p < RECORD_OVERHEAD
                && let Err(e) = self.ensure(RECORD_OVERHEAD)
            {
                return self.fail_io(self.cur_path(), e);
            }
            let avail = self.end - self.p;
            if avail == 0 {
                // Clean end of this segment (the buffer keeps an unsealed tail for `unsealed_block`).
                self.cur = None;
                continue;
            }
            if avail < RECORD_HEADER_LEN {
                let kind =
                    VerifyErrorKind::TruncatedRecord { needed: RECORD_HEADER_LEN as u64, available: avail as u64 };
                return self.fail(loc, kind);
            }
            let (len, kind, flags, seq, ts_ns) = decode_record_header(&self.buf[self.p..self.p + RECORD_HEADER_LEN]);
            let plen = len as usize;
            if plen > MAX_PAYLOAD {
                return self.fail(loc, VerifyErrorKind::BadLength { len });
            }
            if flags & !FLAG_SEAL != 0 {
                return self.fail(loc, VerifyErrorKind::ReservedNonZero { found: flags });
            }
            if seq != self.next_seq {
                return self.fail(loc, VerifyErrorKind::SequenceMismatch { found: seq });
            }
            let needed = RECORD_OVERHEAD + plen;
            if avail < needed {
                if let Err(e) = self.ensure(needed) {
                    return self.fail_io(self.cur_path(), e);
                }
                let avail = self.end - self.p;
                if avail < needed {
                    return self.fail_truncated(loc, len, needed as u64, avail as u64);
                }
            }
            let p = self.p;
            let frame = &self.buf[p..p + RECORD_HEADER_LEN + plen];
            let link = frame_link(self.link, frame);
            if link != link_at(&self.buf, p + RECORD_HEADER_LEN + plen) {
                return self.fail(loc, VerifyErrorKind::LinkMismatch);
            }
            if flags & FLAG_SEAL != 0 {
                let r = self.seal_frame(segment, loc, kind, plen, ts_ns, link)?;
                return Some(r.map(|()| Step::Seal(self.next_seq.wrapping_sub(1), self.seal)));
            }
            if let Some(buf) = payload {
                buf.clear();
                buf.extend_from_slice(&self.buf[p + RECORD_HEADER_LEN..p + RECORD_HEADER_LEN + plen]);
            }
            self.p += needed;
            self.link = link;
            self.last_ts = ts_ns;
            self.next_seq += 1;
            self.records += 1;
            self.unsealed += 1;
            self.seg_records += 1;
            self.bytes += needed as u64;
            self.seg_bytes += needed as u64;
            return Some(Ok(Step::Record(RecMeta { seq, kind, ts_ns, link, segment, offset })));
        }
    }

    /// Check the seal frame at `p` (its link already matched): well formed,
    /// sealing at least one record, and equal to `blake3(prev seal ‖ block)`.
    /// `Some(Ok(()))` when it verified.
    fn seal_frame(
        &mut self,
        segment: u32,
        loc: Location,
        kind: u16,
        plen: usize,
        ts_ns: u64,
        link: u64,
    ) -> Option<Result<(), ScanError>> {
        if kind != 0 || plen != HASH_LEN {
            return self
                .fail(loc, VerifyErrorKind::BadSeal { reason: "a seal frame has kind 0 and a 32-byte payload" });
        }
        if self.unsealed == 0 || self.block_start >= self.p {
            return self.fail(loc, VerifyErrorKind::BadSeal { reason: "it seals no records" });
        }
        if ts_ns != self.last_ts {
            return self.fail(loc, VerifyErrorKind::BadSeal { reason: "its time is not its last record's" });
        }
        let p = self.p;
        let stored = hash_at(&self.buf, p + RECORD_HEADER_LEN);
        let first_seq = self.next_seq - self.unsealed;
        let job = SealJob {
            block: self.block_start..p,
            prev: self.seal,
            stored,
            segment,
            first_seq,
            last_seq: self.next_seq - 1,
            block_offset: self.buf_off + self.block_start as u64,
            seal_offset: self.buf_off + p as u64,
        };
        let computed = match job.check(&self.buf) {
            Ok(()) => stored,
            Err((at, kind)) => return self.fail(at, kind),
        };
        self.p += SEAL_FRAME_LEN;
        self.block_start = self.p;
        self.seal = computed;
        self.link = link;
        self.unsealed = 0;
        self.bytes += SEAL_FRAME_LEN as u64;
        self.seg_bytes += SEAL_FRAME_LEN as u64;
        Some(Ok(()))
    }

    /// Open and check the next segment. `None` when it opened fine; `Some(Ok(()))` at the end
    /// of the journal; `Some(Err(_))` on a problem.
    fn open_next_segment(&mut self) -> Option<Result<(), ScanError>> {
        if self.pos == self.segments.len() {
            self.done = true;
            return Some(Ok(()));
        }
        let Ok(index) = u32::try_from(self.pos) else {
            return self.fail(Location::Journal, VerifyErrorKind::BadHeader { reason: "too many segments" });
        };
        if self.segments[self.pos] != index {
            return self.fail(Location::Segment { index }, VerifyErrorKind::MissingSegment);
        }
        self.pos += 1;
        let path = self.dir.join(segment_file_name(index));
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => return self.fail_io(path, e),
        };
        let loc = Location::SegmentHeader { index };
        let mut hb = [0u8; SEGMENT_HEADER_LEN];
        let got = match read_full(&mut file, &mut hb) {
            Ok(n) => n,
            Err(e) => return self.fail_io(path, e),
        };
        if got < SEGMENT_HEADER_LEN {
            return self.fail(loc, VerifyErrorKind::TruncatedHeader { len: got as u64 });
        }
        let h = match SegmentHeader::decode(&hb) {
            Ok(h) => h,
            Err(kind) => return self.fail(loc, kind),
        };
        if h.index != index {
            return self.fail(loc, VerifyErrorKind::SegmentIndexMismatch { found: h.index });
        }
        if index > 0 && h.first_seq > self.next_seq && h.prev_hash != self.seal {
            // The previous segment ended cleanly at a frame boundary, but
            // this one says more records (with another seal) came before
            // it: the previous segment was cut short. Name the place the
            // records are missing from, not the intact header.
            let at = Location::Record { segment: index - 1, seq: self.next_seq, offset: self.seg_bytes };
            return self.fail(at, VerifyErrorKind::SegmentCutShort { next_first_seq: h.first_seq });
        }
        if index > 0 && self.unsealed > 0 {
            // Blocks never span segments: the previous one lost its closing seal.
            let at = Location::Record { segment: index - 1, seq: self.next_seq, offset: self.seg_bytes };
            let kind = VerifyErrorKind::UnsealedSegmentEnd {
                first_seq: self.next_seq - self.unsealed,
                last_seq: self.next_seq - 1,
            };
            return self.fail(at, kind);
        }
        if h.first_seq != self.next_seq {
            return self.fail(loc, VerifyErrorKind::SegmentSeqMismatch { found: h.first_seq });
        }
        let expected_prev = if index == 0 { [0u8; 32] } else { self.seal };
        if h.prev_hash != expected_prev {
            return self.fail(loc, VerifyErrorKind::SegmentChainBroken);
        }
        self.segments_ok += 1;
        self.seg_records = 0;
        self.seg_bytes = SEGMENT_HEADER_LEN as u64;
        self.bytes += SEGMENT_HEADER_LEN as u64;
        self.end = 0;
        self.buf_off = SEGMENT_HEADER_LEN as u64;
        self.block_start = 0;
        self.p = 0;
        self.cur = Some(Current { index, path, file, eof: false });
        None
    }
}

/// The first intact frame after the frame starting at `offset` of the
/// segment file `path` (which was expected to carry `seq`), as
/// `(seq, byte offset)`; `None` if there is none before end of file.
///
/// "Intact" needs no knowledge of the damaged frame: a frame whose
/// sequence number is after `seq`, whose flags are known, whose length fits
/// in the file, and whose stored link equals `xxh3(header ‖ payload, seed =
/// the 8 bytes before it)`: its predecessor's link sits right before it, so
/// an intact frame proves itself. Called only when a length runs past end
/// of file, so what is read is at most one frame's worth (bounded by
/// [`MAX_PAYLOAD`] + overhead).
pub(crate) fn intact_record_after(path: &Path, offset: u64, seq: u64) -> io::Result<Option<(u64, u64)>> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.take((MAX_PAYLOAD + RECORD_OVERHEAD) as u64).read_to_end(&mut buf)?;
    let overhead = RECORD_OVERHEAD;
    // Every frame takes at least `overhead` bytes: a bound on how far the sequence can have moved.
    let max_seq = seq.saturating_add((buf.len() / overhead) as u64);
    // The damaged frame has at least a header and a link before any successor.
    let mut p = overhead;
    while p + overhead <= buf.len() {
        let (len, _, flags, found, _) = decode_record_header(&buf[p..p + RECORD_HEADER_LEN]);
        let len = len as usize;
        if found > seq
            && found <= max_seq
            && flags & !FLAG_SEAL == 0
            && len <= MAX_PAYLOAD
            && p + overhead + len <= buf.len()
        {
            let prev = link_at(&buf, p - LINK_LEN);
            if frame_link(prev, &buf[p..p + RECORD_HEADER_LEN + len]) == link_at(&buf, p + RECORD_HEADER_LEN + len) {
                return Ok(Some((found, offset + p as u64)));
            }
        }
        p += 1;
    }
    Ok(None)
}

/// Read until `buf` is full or EOF; returns bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One verified record, as returned by [`JournalReader`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Global sequence number (0, 1, 2, ... across all segments).
    pub seq: u64,
    /// Engine-defined record kind; opaque to the journal.
    pub kind: u16,
    /// Event time supplied by the writer.
    pub ts_ns: u64,
    /// The payload bytes, exactly as appended.
    pub payload: Vec<u8>,
    /// This record's link (xxh3-64 chained from the previous frame's):
    /// equal links at the same `seq` in two journals mean equal journals up
    /// to that record (as far as a 64-bit non-cryptographic hash says; the
    /// seals are the cryptographic proof).
    pub link: u64,
    /// Index of the segment file holding it.
    pub segment: u32,
    /// Byte offset of the record within that segment file.
    pub offset: u64,
}

/// Streaming reader: yields every record in order, verifying links and seals as it goes.
///
/// Memory is flat with journal size (one read buffer holding at most one
/// block plus a read chunk, and the record being returned). At the first
/// problem it yields `Err(JournalError::Corrupt(_))` (or `Io`) once, then
/// ends: a record is never returned unless it and everything before it
/// verified. A record is returned when its link checks; the seal that covers
/// it is checked when the reader reaches it (a forged block is reported
/// there, after its records were returned: check [`verify`] first where that matters).
pub struct JournalReader {
    scanner: Scanner,
}

impl JournalReader {
    /// Open the journal in `dir`. Fails if the directory cannot be listed or holds no segments.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        Ok(JournalReader { scanner: Scanner::open(dir)? })
    }

    /// The last seal read so far (the genesis hash before the first).
    pub fn last_hash(&self) -> [u8; 32] {
        self.scanner.seal
    }

    /// Sequence number of the next record to be returned.
    pub fn next_seq(&self) -> u64 {
        self.scanner.next_seq
    }
}

impl Iterator for JournalReader {
    type Item = Result<Record, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut payload = Vec::new();
        match self.scanner.next(Some(&mut payload))? {
            Ok(m) => Some(Ok(Record {
                seq: m.seq,
                kind: m.kind,
                ts_ns: m.ts_ns,
                payload,
                link: m.link,
                segment: m.segment,
                offset: m.offset,
            })),
            Err(e) => Some(Err(e.into())),
        }
    }
}

impl std::iter::FusedIterator for JournalReader {}

/// Result of a successful [`verify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of records.
    pub records: u64,
    /// Number of segment files.
    pub segments: u32,
    /// Total bytes of all segment files.
    pub bytes: u64,
    /// The last seal (the genesis hash if nothing is sealed). It covers
    /// every record but the `unsealed_records` after it. Compare it with a
    /// copy kept elsewhere to detect a journal whose tail was cut off or rewritten.
    pub last_hash: [u8; 32],
    /// Records after the last seal: a run that crashed (or a writer dropped
    /// without `finish`) leaves them; their links checked, but no seal
    /// covers them yet (`open_append` continues their block). 0 for a
    /// journal closed with `finish`.
    pub unsealed_records: u64,
}

/// Verify the whole journal in `dir`, streaming. Returns the first problem found.
pub fn verify(dir: &Path) -> Result<VerifyReport, VerifyError> {
    verify_with(dir, &mut |_, _| {})
}

/// As [`verify`], calling `each(seq, seal)` for every seal that verified,
/// `seq` being the last record it covers (e.g. to check signed checkpoints
/// against the chain).
///
/// A journal of [`SPLIT_MIN_BYTES`] or more is checked by two threads: one
/// from the start up to a seal frame near the middle (found by its link,
/// which proves itself, as in the torn-tail check), one from just after
/// that frame to the end, starting from the chain state the frame carries.
/// The second half counts only if the first reaches that very frame with
/// that state; the first half's failure, if any, comes first. So the report
/// is the one a single pass gives, exactly.
pub fn verify_with(dir: &Path, each: &mut dyn FnMut(u64, &[u8; 32])) -> Result<VerifyReport, VerifyError> {
    let mut first = Scanner::open(dir).map_err(|e| e.into_verify(dir))?;
    let split = split_point(dir, first.segment_indices()).ok().flatten();
    let Some((index, offset, state)) = split else {
        return finish_walk(first, dir, each);
    };
    let second = Scanner::resume_at(dir, first.segment_indices().to_vec(), index, offset, state);
    first.stop_at = Some((index, offset));
    let (head, tail) = std::thread::scope(|scope| {
        let tail = scope.spawn(move || {
            let mut seals = Vec::new();
            let r = second.map(|mut s| {
                let r = walk(&mut s, &mut |q, h| seals.push((q, *h)));
                (s, r)
            });
            (r, seals)
        });
        let mut seals = Vec::new();
        let r = walk(&mut first, &mut |q, h| seals.push((q, *h)));
        let tail = match tail.join() {
            Ok(t) => t,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        ((r, seals), tail)
    });
    let ((r, seals), (tail, tail_seals)) = (head, tail);
    for (q, h) in &seals {
        each(*q, h);
    }
    r.map_err(|e| e.into_verify(dir))?;
    if !first.stopped {
        // The split frame was not where the first pass went: it went on to
        // the end by itself.
        return Ok(report(&first, None));
    }
    match tail {
        Ok((second, r2)) if (first.next_seq, first.link, first.seal) == state => {
            for (q, h) in &tail_seals {
                each(*q, h);
            }
            r2.map_err(|e| e.into_verify(dir))?;
            Ok(report(&first, Some(&second)))
        }
        // The second half could not start, or not from that state: finish in one pass.
        _ => {
            first.stop_at = None;
            first.stopped = false;
            first.done = false;
            finish_walk(first, dir, each)
        }
    }
}

/// Journals smaller than this are verified by one thread.
pub const SPLIT_MIN_BYTES: u64 = 16 << 20;

/// Walk to the end (or the stop), calling `each` per seal.
fn walk(s: &mut Scanner, each: &mut dyn FnMut(u64, &[u8; 32])) -> Result<(), ScanError> {
    while let Some(r) = s.step(None) {
        if let Step::Seal(seq, seal) = r? {
            each(seq, &seal);
        }
    }
    Ok(())
}

fn finish_walk(mut s: Scanner, dir: &Path, each: &mut dyn FnMut(u64, &[u8; 32])) -> Result<VerifyReport, VerifyError> {
    walk(&mut s, each).map_err(|e| e.into_verify(dir))?;
    Ok(report(&s, None))
}

fn report(first: &Scanner, second: Option<&Scanner>) -> VerifyReport {
    let last = second.unwrap_or(first);
    VerifyReport {
        records: first.records + second.map_or(0, |s| s.records),
        segments: first.segments_ok + second.map_or(0, |s| s.segments_ok),
        bytes: first.bytes + second.map_or(0, |s| s.bytes),
        last_hash: last.seal,
        unsealed_records: last.unsealed,
    }
}

/// A seal frame near the middle of the journal's bytes: (segment, offset
/// just past it, the chain state after it: next seq, link, seal). `None`
/// for a small journal or when none is found near the middle (then one
/// thread verifies).
/// The chain state after a seal frame: (next seq, link, seal).
type ChainState = (u64, u64, [u8; 32]);

fn split_point(dir: &Path, segments: &[u32]) -> io::Result<Option<(u32, u64, ChainState)>> {
    use std::io::{Seek, SeekFrom};
    let mut sizes = Vec::with_capacity(segments.len());
    for &i in segments {
        sizes.push(std::fs::metadata(dir.join(segment_file_name(i)))?.len());
    }
    let total: u64 = sizes.iter().sum();
    if total < SPLIT_MIN_BYTES {
        return Ok(None);
    }
    let mut mid = total / 2;
    let Some((k, &size)) = sizes.iter().enumerate().find(|&(_, &n)| {
        let here = mid < n;
        if !here {
            mid -= n;
        }
        here
    }) else {
        return Ok(None);
    };
    let index = segments[k];
    let from = mid.max(SEGMENT_HEADER_LEN as u64);
    let mut file = File::open(dir.join(segment_file_name(index)))?;
    file.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    file.take((4 * MAX_SPLIT_SEARCH) as u64).read_to_end(&mut buf)?;
    let mut p = LINK_LEN;
    while p + SEAL_FRAME_LEN <= buf.len() {
        let (len, kind, flags, seq, _) = decode_record_header(&buf[p..p + RECORD_HEADER_LEN]);
        if flags == FLAG_SEAL && kind == 0 && len as usize == HASH_LEN {
            let link = link_at(&buf, p + RECORD_HEADER_LEN + HASH_LEN);
            if frame_link(link_at(&buf, p - LINK_LEN), &buf[p..p + RECORD_HEADER_LEN + HASH_LEN]) == link {
                let seal = hash_at(&buf, p + RECORD_HEADER_LEN);
                let end = from + (p + SEAL_FRAME_LEN) as u64;
                debug_assert!(end <= size);
                return Ok(Some((index, end, (seq, link, seal))));
            }
        }
        p += 1;
    }
    Ok(None)
}

/// How far past the middle [`split_point`] looks for a seal frame (x4).
const MAX_SPLIT_SEARCH: usize = 256 * 1024;
