//! Wire framing of one journal-mirror message: a batch of consecutive records. Owns the
//! byte layout below; must never trust a length it has not checked against the bytes present.
//!
//! All integers little-endian. A message is a header and `count` records:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | `magic`, ASCII `BHCLB001` |
//! | 8 | 8 | `first_seq`: journal sequence number of the first record |
//! | 16 | 4 | `count`: records in the batch, 1..=[`MAX_BATCH_RECORDS`] |
//! | 20 | 8 | `last_link`: the source journal's link of the batch's last record |
//! | 28 | 1 | `flags`: bit 0 journal group-readable, bit 1 `final_seal` present; others 0 |
//! | 29 | 32 | `final_seal`: the source's last seal when this batch ended a sealed journal, else zeros |
//! | 61 | 8 | `segment_bytes` of the source journal (its segment headers) |
//! | 69 | 4 | `seal_bytes` the source was written with |
//! | 73 | 2 | `fsync` policy code (0 never, 1 always, 2 every:N, 3 every:N:Mms) |
//! | 75 | 2 | fsync M (ms) |
//! | 77 | 4 | fsync N (records) |
//! | 81 | 4 | `seals`: how many seal positions follow, 0..=`count` |
//! | 85 | 8 each | seal positions: record seqs of this batch (increasing) after which the source has a seal frame that does not close a segment |
//! | … | … | records: `kind` u16, `ts_ns` u64, `len` u32, `len` payload bytes |
//!
//! The journal parameters travel in every batch so a fetch rebuilds byte-identical segments
//! (segment headers record them) without any other state. Seals placed by the writer's own
//! rules (block size, segment end) follow from the records and parameters; a seal placed
//! by `finish` (a run that ended, then was resumed with `--resume`) does not, so the batch
//! names where they are and the fetch reproduces them (finish, reopen). Decoding checks every length
//! against the bytes present; nothing is trusted, nothing panics.

use bulkhead_journal::{FsyncPolicy, JournalParams, MAX_PAYLOAD};

/// `BHCLB001`.
pub const MAGIC: [u8; 8] = *b"BHCLB001";
/// Bytes of the fixed header (before the seal positions).
pub const HEADER_LEN: usize = 85;
/// Bytes of framing per record.
pub const RECORD_OVERHEAD: usize = 14;
/// Most records in one batch.
pub const MAX_BATCH_RECORDS: u32 = 4096;
/// A batch is cut once its encoded size reaches this (a bigger single record goes alone,
/// up to the server's `max_payload`).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

const FLAG_GROUP_READABLE: u8 = 1;
const FLAG_FINAL_SEAL: u8 = 2;

/// A malformed batch: which field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {problem}")]
pub struct FrameError {
    /// The field, e.g. `magic`, `count`, `record[3].len`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> FrameError {
    FrameError { field: field.into(), problem: problem.into() }
}

/// The journal parameters a batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireParams {
    pub segment_bytes: u64,
    pub seal_bytes: u32,
    pub fsync: FsyncPolicy,
    pub group_readable: bool,
}

impl WireParams {
    /// As the journal writer's parameters.
    pub fn journal_params(&self) -> JournalParams {
        JournalParams {
            fsync: self.fsync,
            segment_bytes: self.segment_bytes,
            group_readable: self.group_readable,
            seal_bytes: usize::try_from(self.seal_bytes).unwrap_or(usize::MAX),
        }
    }
}

/// One record as carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    pub kind: u16,
    pub ts_ns: u64,
    pub payload: Vec<u8>,
}

/// A decoded batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub first_seq: u64,
    pub last_link: u64,
    pub final_seal: Option<[u8; 32]>,
    pub params: WireParams,
    /// Record seqs after which the source has a seal that does not close a segment.
    pub seals: Vec<u64>,
    pub records: Vec<WireRecord>,
}

impl Batch {
    /// Sequence number of the last record.
    pub fn last_seq(&self) -> u64 {
        let n = u64::try_from(self.records.len()).unwrap_or(u64::MAX);
        self.first_seq.saturating_add(n.saturating_sub(1))
    }
}

fn fsync_fields(p: FsyncPolicy) -> (u16, u16, u32) {
    match p {
        FsyncPolicy::Never => (0, 0, 0),
        FsyncPolicy::Always => (1, 0, 0),
        FsyncPolicy::EveryN(n) => (2, 0, n),
        FsyncPolicy::Group { records, millis } => (3, millis, records),
    }
}

/// Encodes a batch header; records are appended with [`push_record`].
pub fn encode_header(
    out: &mut Vec<u8>,
    first_seq: u64,
    count: u32,
    last_link: u64,
    final_seal: Option<[u8; 32]>,
    p: &WireParams,
    seals: &[u64],
) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&last_link.to_le_bytes());
    let mut flags = 0u8;
    if p.group_readable {
        flags |= FLAG_GROUP_READABLE;
    }
    if final_seal.is_some() {
        flags |= FLAG_FINAL_SEAL;
    }
    out.push(flags);
    out.extend_from_slice(&final_seal.unwrap_or([0; 32]));
    out.extend_from_slice(&p.segment_bytes.to_le_bytes());
    out.extend_from_slice(&p.seal_bytes.to_le_bytes());
    let (code, m, n) = fsync_fields(p.fsync);
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&m.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&u32::try_from(seals.len()).unwrap_or(u32::MAX).to_le_bytes());
    for s in seals {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

/// Appends one record's framing and payload. `payload.len()` must be ≤ 16 MiB
/// (the journal's own bound, so a journal record always fits the `u32`).
pub fn push_record(out: &mut Vec<u8>, kind: u16, ts_ns: u64, payload: &[u8]) {
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&ts_ns.to_le_bytes());
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Encodes a whole batch.
pub fn encode(b: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    let count = u32::try_from(b.records.len()).unwrap_or(u32::MAX);
    encode_header(&mut out, b.first_seq, count, b.last_link, b.final_seal, &b.params, &b.seals);
    for r in &b.records {
        push_record(&mut out, r.kind, r.ts_ns, &r.payload);
    }
    out
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &dyn Fn() -> String) -> Result<&'a [u8], FrameError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| {
            bad(field(), format!("cut short: needs {n} bytes at offset {}, message has {}", self.at, self.buf.len()))
        })?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self, field: &dyn Fn() -> String) -> Result<[u8; N], FrameError> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u16(&mut self, field: &dyn Fn() -> String) -> Result<u16, FrameError> {
        Ok(u16::from_le_bytes(self.arr(field)?))
    }
    fn u32(&mut self, field: &dyn Fn() -> String) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(self.arr(field)?))
    }
    fn u64(&mut self, field: &dyn Fn() -> String) -> Result<u64, FrameError> {
        Ok(u64::from_le_bytes(self.arr(field)?))
    }
}

fn name(s: &'static str) -> impl Fn() -> String {
    move || s.to_string()
}

fn decode_params(c: &mut Cursor<'_>, flags: u8) -> Result<WireParams, FrameError> {
    let segment_bytes = c.u64(&name("segment_bytes"))?;
    if segment_bytes == 0 {
        return Err(bad("segment_bytes", "0"));
    }
    let seal_bytes = c.u32(&name("seal_bytes"))?;
    if seal_bytes == 0 || usize::try_from(seal_bytes).map_or(true, |s| s > MAX_PAYLOAD) {
        return Err(bad("seal_bytes", format!("{seal_bytes} is not in 1..=16 MiB")));
    }
    let code = c.u16(&name("fsync"))?;
    let m = c.u16(&name("fsync_m"))?;
    let n = c.u32(&name("fsync_n"))?;
    let fsync = match (code, m, n) {
        (0, 0, 0) => FsyncPolicy::Never,
        (1, 0, 0) => FsyncPolicy::Always,
        (2, 0, n) if n > 0 => FsyncPolicy::EveryN(n),
        (3, m, n) if m > 0 && n > 0 => FsyncPolicy::Group { records: n, millis: m },
        _ => return Err(bad("fsync", format!("code {code} with M {m}, N {n} is not a policy"))),
    };
    Ok(WireParams { segment_bytes, seal_bytes, fsync, group_readable: flags & FLAG_GROUP_READABLE != 0 })
}

fn decode_seals(c: &mut Cursor<'_>, first_seq: u64, count: u32) -> Result<Vec<u64>, FrameError> {
    let n = c.u32(&name("seals"))?;
    if n > count {
        return Err(bad("seals", format!("{n} seal positions for {count} records")));
    }
    let end = first_seq + u64::from(count);
    let mut seals = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for i in 0..n {
        let s = c.u64(&|| format!("seal[{i}]"))?;
        if s < first_seq || s >= end || seals.last().is_some_and(|&p| s <= p) {
            return Err(bad(
                format!("seal[{i}]"),
                format!("{s} is not an increasing record seq of {first_seq}..{end}"),
            ));
        }
        seals.push(s);
    }
    Ok(seals)
}

/// Decodes and checks one message.
pub fn decode(buf: &[u8]) -> Result<Batch, FrameError> {
    let mut c = Cursor { buf, at: 0 };
    if c.arr::<8>(&name("magic"))? != MAGIC {
        return Err(bad("magic", "not BHCLB001 (not a bulkhead journal batch)"));
    }
    let first_seq = c.u64(&name("first_seq"))?;
    let count = c.u32(&name("count"))?;
    if count == 0 || count > MAX_BATCH_RECORDS {
        return Err(bad("count", format!("{count} is not in 1..={MAX_BATCH_RECORDS}")));
    }
    if first_seq.checked_add(u64::from(count)).is_none() {
        return Err(bad("first_seq", format!("{first_seq} + {count} records overflows")));
    }
    let last_link = c.u64(&name("last_link"))?;
    let flags = c.arr::<1>(&name("flags"))?[0];
    if flags & !(FLAG_GROUP_READABLE | FLAG_FINAL_SEAL) != 0 {
        return Err(bad("flags", format!("unknown bits in {flags:#04x}")));
    }
    let seal = c.arr::<32>(&name("final_seal"))?;
    let final_seal = (flags & FLAG_FINAL_SEAL != 0).then_some(seal);
    let params = decode_params(&mut c, flags)?;
    let seals = decode_seals(&mut c, first_seq, count)?;
    let mut records = Vec::with_capacity(usize::try_from(count.min(64)).unwrap_or(64));
    for i in 0..count {
        let f = |what: &'static str| move || format!("record[{i}].{what}");
        let kind = c.u16(&f("kind"))?;
        let ts_ns = c.u64(&f("ts_ns"))?;
        let len = c.u32(&f("len"))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_PAYLOAD {
            return Err(bad(f("len")(), format!("{len} bytes, the journal's limit is {MAX_PAYLOAD}")));
        }
        let payload = c.take(len, &f("payload"))?.to_vec();
        records.push(WireRecord { kind, ts_ns, payload });
    }
    if c.at != buf.len() {
        return Err(bad("count", format!("{} bytes after record[{}]", buf.len() - c.at, count - 1)));
    }
    Ok(Batch { first_seq, last_link, final_seal, params, seals, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Batch {
        Batch {
            first_seq: 7,
            last_link: 0xdead_beef,
            final_seal: Some([9; 32]),
            params: WireParams {
                segment_bytes: 1 << 20,
                seal_bytes: 65536,
                fsync: FsyncPolicy::Group { records: 8, millis: 2 },
                group_readable: true,
            },
            seals: vec![8],
            records: vec![
                WireRecord { kind: 3, ts_ns: 11, payload: b"abc".to_vec() },
                WireRecord { kind: 4, ts_ns: 12, payload: vec![] },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let b = sample();
        let bytes = encode(&b);
        assert_eq!(bytes.len(), HEADER_LEN + 8 + 2 * RECORD_OVERHEAD + 3);
        assert_eq!(decode(&bytes).unwrap(), b);
        assert_eq!(b.last_seq(), 8);
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_an_error_naming_a_field() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            let e = decode(&bytes[..n]).unwrap_err();
            assert!(e.problem.contains("cut short") || e.field == "count", "{n}: {e}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err().field, "count");
        let mut m = bytes.clone();
        m[0] = b'X';
        assert_eq!(decode(&m).unwrap_err().field, "magic");
        let mut f = bytes;
        f[28] = 0x80;
        assert_eq!(decode(&f).unwrap_err().field, "flags");
    }
}
