//! Streaming, verifying reader shared by [`verify`], [`JournalReader`] and recovery.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{JournalError, Location, VerifyError, VerifyErrorKind};
use crate::format::{
    HASH_LEN, MAX_PAYLOAD, ONE_CHUNK_PAYLOAD, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SegmentHeader, chain_hash,
    decode_record_header, genesis_hash, parse_segment_file_name, segment_file_name,
};

/// Read buffer for verification and reading: large, so that verify streams at disk/hash speed.
const READ_BUF: usize = 1 << 20;

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

/// Metadata of a record that verified; the payload (if requested) is in the caller's buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecMeta {
    pub seq: u64,
    pub kind: u16,
    pub ts_ns: u64,
    pub hash: [u8; 32],
    pub segment: u32,
    pub offset: u64,
}

struct Current {
    index: u32,
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
}

/// Walks a journal record by record, checking every header, length, sequence number and
/// hash link. Stops (fused) at the first problem. Memory use is one read buffer plus, when
/// the caller asks for payloads, one payload.
pub(crate) struct Scanner {
    dir: PathBuf,
    segments: Vec<u32>,
    pos: usize,
    cur: Option<Current>,
    /// Sequence number the next record must carry.
    pub next_seq: u64,
    /// Hash of the last good record (genesis before the first).
    pub chain: [u8; 32],
    /// Good records so far.
    pub records: u64,
    /// Bytes of good headers and records so far.
    pub bytes: u64,
    /// Segments whose header verified.
    pub segments_ok: u32,
    /// Good records in the current segment.
    pub seg_records: u64,
    /// Good bytes in the current (or last) segment, header included.
    pub seg_bytes: u64,
    done: bool,
}

impl Scanner {
    pub fn open(dir: &Path) -> Result<Self, ScanError> {
        let segments = list_segments(dir)?;
        let mut s = Scanner {
            dir: dir.to_path_buf(),
            segments,
            pos: 0,
            cur: None,
            next_seq: 0,
            chain: genesis_hash(),
            records: 0,
            bytes: 0,
            segments_ok: 0,
            seg_records: 0,
            seg_bytes: 0,
            done: false,
        };
        if s.segments.is_empty() {
            s.done = true;
            return Err(ScanError::Bad(s.bad(Location::Journal, VerifyErrorKind::NoSegments)));
        }
        Ok(s)
    }

    /// Indices of the segment files present (sorted).
    pub fn segment_indices(&self) -> &[u32] {
        &self.segments
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

    /// A record whose header is whole but whose length runs past the end of
    /// its segment. A torn write looks like that, and so does an altered
    /// length field in the middle of a segment: tell them apart by looking
    /// for an intact record inside the bytes the length claims
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

    /// Book-keeping for one record whose chain hash checked out.
    fn accept(&mut self, hash: [u8; HASH_LEN], bytes: u64) {
        self.chain = hash;
        self.next_seq += 1;
        self.records += 1;
        self.seg_records += 1;
        self.bytes += bytes;
        self.seg_bytes += bytes;
    }

    /// Next verified record, `None` at the end of the journal (or after an error).
    /// If `payload` is given it is cleared and receives the record's payload.
    #[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
    pub fn next(&mut self, mut payload: Option<&mut Vec<u8>>) -> Option<Result<RecMeta, ScanError>> {
        loop {
            if self.done {
                return None;
            }
            if self.cur.is_none() {
                if let Some(r) = self.open_next_segment() {
                    return r.err().map(Err);
                }
                continue;
            }
            let cur = self.cur.as_mut().expect("checked above");
            let segment = cur.index;
            let offset = cur.offset;
            let loc = Location::Record { segment, seq: self.next_seq, offset };

            // Fast path: a small, well-formed record wholly inside the read
            // buffer is checked in place (no copies through `read`). Anything
            // else, including every kind of damage, takes the careful path
            // below from the same position, which reports it precisely.
            if let Ok(buf) = cur.reader.fill_buf()
                && buf.len() >= RECORD_HEADER_LEN
            {
                let hdr: [u8; RECORD_HEADER_LEN] = buf[..RECORD_HEADER_LEN].try_into().expect("length checked");
                let (len, kind, reserved, seq, ts_ns) = decode_record_header(&hdr);
                let len = len as usize;
                let needed = RECORD_HEADER_LEN + len + HASH_LEN;
                if len <= ONE_CHUNK_PAYLOAD && reserved == 0 && seq == self.next_seq && buf.len() >= needed {
                    let body = &buf[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
                    let computed = chain_hash(&self.chain, &hdr, body);
                    if computed[..] == buf[RECORD_HEADER_LEN + len..needed] {
                        if let Some(p) = payload.as_deref_mut() {
                            p.clear();
                            p.extend_from_slice(body);
                        }
                        cur.reader.consume(needed);
                        cur.offset += needed as u64;
                        self.accept(computed, needed as u64);
                        return Some(Ok(RecMeta { seq, kind, ts_ns, hash: computed, segment, offset }));
                    }
                }
            }

            let mut hdr = [0u8; RECORD_HEADER_LEN];
            let got = match read_full(&mut cur.reader, &mut hdr) {
                Ok(n) => n,
                Err(e) => {
                    let p = cur.path.clone();
                    return self.fail_io(p, e);
                }
            };
            if got == 0 {
                // Clean end of this segment.
                self.cur = None;
                continue;
            }
            if got < RECORD_HEADER_LEN {
                let kind = VerifyErrorKind::TruncatedRecord { needed: RECORD_HEADER_LEN as u64, available: got as u64 };
                return self.fail(loc, kind);
            }
            let (len, kind, reserved, seq, ts_ns) = decode_record_header(&hdr);
            if len as usize > MAX_PAYLOAD {
                return self.fail(loc, VerifyErrorKind::BadLength { len });
            }
            if reserved != 0 {
                return self.fail(loc, VerifyErrorKind::ReservedNonZero { found: reserved });
            }
            if seq != self.next_seq {
                return self.fail(loc, VerifyErrorKind::SequenceMismatch { found: seq });
            }
            let needed = (RECORD_HEADER_LEN + len as usize + HASH_LEN) as u64;

            if let Some(buf) = payload.as_deref_mut() {
                buf.clear();
                buf.reserve_exact(len as usize);
            }
            // Fast path: a small payload wholly in the read buffer is hashed
            // in one call (see `chain_hash`).
            let mut fast = None;
            if (len as usize) <= ONE_CHUNK_PAYLOAD
                && let Ok(chunk) = cur.reader.fill_buf()
                && chunk.len() >= len as usize
            {
                let body = &chunk[..len as usize];
                fast = Some(chain_hash(&self.chain, &hdr, body));
                if let Some(buf) = payload.as_deref_mut() {
                    buf.extend_from_slice(body);
                }
                cur.reader.consume(len as usize);
            }
            let mut hasher = fast.is_none().then(|| {
                let mut h = blake3::Hasher::new();
                h.update(&self.chain);
                h.update(&hdr);
                h
            });
            // Otherwise stream the payload straight out of the read buffer into the hasher.
            let mut left = if fast.is_some() { 0 } else { len as usize };
            while left > 0 {
                let chunk = match cur.reader.fill_buf() {
                    Ok(c) => c,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let p = cur.path.clone();
                        return self.fail_io(p, e);
                    }
                };
                if chunk.is_empty() {
                    let available = (RECORD_HEADER_LEN + len as usize - left) as u64;
                    return self.fail_truncated(loc, len, needed, available);
                }
                let n = chunk.len().min(left);
                if let Some(h) = hasher.as_mut() {
                    h.update(&chunk[..n]);
                }
                if let Some(buf) = payload.as_deref_mut() {
                    buf.extend_from_slice(&chunk[..n]);
                }
                cur.reader.consume(n);
                left -= n;
            }
            let mut stored = [0u8; HASH_LEN];
            let got = match read_full(&mut cur.reader, &mut stored) {
                Ok(n) => n,
                Err(e) => {
                    let p = cur.path.clone();
                    return self.fail_io(p, e);
                }
            };
            if got < HASH_LEN {
                let available = (RECORD_HEADER_LEN + len as usize + got) as u64;
                return self.fail_truncated(loc, len, needed, available);
            }
            let computed = match (fast, &hasher) {
                (Some(h), _) => h,
                (None, Some(h)) => *h.finalize().as_bytes(),
                (None, None) => unreachable!("a hasher exists whenever the fast path was not taken"),
            };
            if computed != stored {
                return self.fail(loc, VerifyErrorKind::HashMismatch);
            }
            cur.offset += needed;
            self.accept(computed, needed);
            return Some(Ok(RecMeta { seq, kind, ts_ns, hash: computed, segment, offset }));
        }
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
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => return self.fail_io(path, e),
        };
        let mut reader = BufReader::with_capacity(READ_BUF, file);
        let loc = Location::SegmentHeader { index };
        let mut hb = [0u8; SEGMENT_HEADER_LEN];
        let got = match read_full(&mut reader, &mut hb) {
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
        if index > 0 && h.first_seq > self.next_seq && h.prev_hash != self.chain {
            // The previous segment ended cleanly at a record boundary, but
            // this one says more records (with another last hash) came
            // before it: the previous segment was cut short. Name the place
            // the records are missing from, not the intact header.
            let at = Location::Record { segment: index - 1, seq: self.next_seq, offset: self.seg_bytes };
            return self.fail(at, VerifyErrorKind::SegmentCutShort { next_first_seq: h.first_seq });
        }
        if h.first_seq != self.next_seq {
            return self.fail(loc, VerifyErrorKind::SegmentSeqMismatch { found: h.first_seq });
        }
        let expected_prev = if index == 0 { [0u8; 32] } else { self.chain };
        if h.prev_hash != expected_prev {
            return self.fail(loc, VerifyErrorKind::SegmentChainBroken);
        }
        self.segments_ok += 1;
        self.seg_records = 0;
        self.seg_bytes = SEGMENT_HEADER_LEN as u64;
        self.bytes += SEGMENT_HEADER_LEN as u64;
        self.cur = Some(Current { index, path, reader, offset: SEGMENT_HEADER_LEN as u64 });
        None
    }
}

/// The first intact record after the record starting at `offset` of the
/// segment file `path` (which was expected to carry `seq`), as
/// `(seq, byte offset)`; `None` if there is none before end of file.
///
/// "Intact" needs no knowledge of the damaged record: a record whose
/// sequence number is after `seq`, whose reserved field is zero, whose
/// length fits in the file, and whose stored hash equals
/// `blake3(32 bytes before it ‖ header ‖ payload)`: its predecessor's
/// stored hash sits right before it, so an intact record proves itself.
/// Called only when a length runs past end of file, so what is read is at
/// most one record's worth (bounded by [`MAX_PAYLOAD`] + overhead).
pub(crate) fn intact_record_after(path: &Path, offset: u64, seq: u64) -> io::Result<Option<(u64, u64)>> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.take((MAX_PAYLOAD + RECORD_HEADER_LEN + HASH_LEN) as u64).read_to_end(&mut buf)?;
    let overhead = RECORD_HEADER_LEN + HASH_LEN;
    // Every record takes at least `overhead` bytes: a bound on how far the sequence can have moved.
    let max_seq = seq.saturating_add((buf.len() / overhead) as u64);
    // The damaged record has at least a header and a hash before any successor.
    let mut p = overhead;
    while p + overhead <= buf.len() {
        let hdr: [u8; RECORD_HEADER_LEN] = buf[p..p + RECORD_HEADER_LEN].try_into().expect("length checked");
        let (len, _, reserved, found, _) = decode_record_header(&hdr);
        let len = len as usize;
        if found > seq && found <= max_seq && reserved == 0 && len <= MAX_PAYLOAD && p + overhead + len <= buf.len() {
            let prev: [u8; HASH_LEN] = buf[p - HASH_LEN..p].try_into().expect("p >= overhead > HASH_LEN");
            let body = &buf[p + RECORD_HEADER_LEN..p + RECORD_HEADER_LEN + len];
            if chain_hash(&prev, &hdr, body)[..] == buf[p + RECORD_HEADER_LEN + len..p + overhead + len] {
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
    /// This record's chain hash.
    pub hash: [u8; 32],
    /// Index of the segment file holding it.
    pub segment: u32,
    /// Byte offset of the record within that segment file.
    pub offset: u64,
}

/// Streaming reader: yields every record in order, verifying the chain as it goes.
///
/// Memory is flat with journal size (one read buffer plus the record being returned). At the
/// first problem it yields `Err(JournalError::Corrupt(_))` (or `Io`) once, then ends: a
/// record is never returned unless it and everything before it verified.
pub struct JournalReader {
    scanner: Scanner,
}

impl JournalReader {
    /// Open the journal in `dir`. Fails if the directory cannot be listed or holds no segments.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        Ok(JournalReader { scanner: Scanner::open(dir)? })
    }

    /// Hash of the last record returned so far (the genesis hash before the first).
    pub fn last_hash(&self) -> [u8; 32] {
        self.scanner.chain
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
                hash: m.hash,
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
    /// Hash of the last record (the genesis hash for an empty journal). Compare it with a
    /// copy kept elsewhere to detect a journal whose tail was cut off or rewritten.
    pub last_hash: [u8; 32],
}

/// Verify the whole journal in `dir`, streaming. Returns the first problem found.
pub fn verify(dir: &Path) -> Result<VerifyReport, VerifyError> {
    verify_with(dir, &mut |_, _| {})
}

/// As [`verify`], calling `each(seq, hash)` for every record that verified
/// (e.g. to check signed checkpoints against the chain).
pub fn verify_with(dir: &Path, each: &mut dyn FnMut(u64, &[u8; 32])) -> Result<VerifyReport, VerifyError> {
    let mut s = Scanner::open(dir).map_err(|e| e.into_verify(dir))?;
    while let Some(r) = s.next(None) {
        let m = r.map_err(|e| e.into_verify(dir))?;
        each(m.seq, &m.hash);
    }
    Ok(VerifyReport { records: s.records, segments: s.segments_ok, bytes: s.bytes, last_hash: s.chain })
}
