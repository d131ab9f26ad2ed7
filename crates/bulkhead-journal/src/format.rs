//! On-disk layout: constants, segment header and record header encoding.
//!
//! Everything here is pure (no I/O) so the layout is easy to audit in one place.

use crate::FsyncPolicy;
use crate::error::VerifyErrorKind;

/// Magic bytes at the start of every segment file.
pub const MAGIC: [u8; 8] = *b"BHJRNL02";
/// Magic of the previous format (version 1, per-record BLAKE3 chain): refused with a clear error.
pub(crate) const MAGIC_V1: [u8; 8] = *b"BHJRNL01";
/// On-disk format version written into every segment header.
pub const FORMAT_VERSION: u16 = 2;
/// Size in bytes of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 104;
/// The header length as its `u16` field carries it.
const HEADER_LEN_FIELD: u16 = 104;
const _: () = assert!(HEADER_LEN_FIELD as usize == SEGMENT_HEADER_LEN);
/// Size in bytes of the fixed part of a frame that precedes the payload.
pub const RECORD_HEADER_LEN: usize = 24;
/// Size in bytes of a frame's link (xxh3-64) after the payload.
pub const LINK_LEN: usize = 8;
/// Size in bytes of a seal and of the segment header's hashes (BLAKE3).
pub const HASH_LEN: usize = 32;
/// Fixed bytes per record on disk in addition to the payload (header + link).
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + LINK_LEN;
/// Bytes of one seal frame on disk (header, 32-byte seal, link).
pub const SEAL_FRAME_LEN: usize = RECORD_OVERHEAD + HASH_LEN;
/// Flag bit 0 of a frame: the frame is a seal, not a record.
pub const FLAG_SEAL: u16 = 1;
/// Largest payload accepted by the writer and believed by the reader (16 MiB).
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
/// File extension of segment files.
pub const SEGMENT_EXT: &str = "bhj";

/// Number of header bytes covered by the header checksum (everything before it).
pub(crate) const HEADER_HASHED_LEN: usize = SEGMENT_HEADER_LEN - HASH_LEN;

/// The chain value before the first seal: `blake3(b"BHJRNL02")`.
pub fn genesis_hash() -> [u8; 32] {
    *blake3::hash(&MAGIC).as_bytes()
}

/// The seed of the very first frame's link: the first 8 bytes of
/// [`genesis_hash`], little-endian.
pub fn genesis_link() -> u64 {
    let g = genesis_hash();
    u64::from_le_bytes([g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]])
}

/// A frame's link: `xxh3_64_with_seed(header ‖ payload, seed = previous frame's link)`.
/// `frame` is the header and payload, contiguous as on disk.
#[inline]
pub fn frame_link(prev_link: u64, frame: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(frame, prev_link)
}

/// `blake3(prev_seal ‖ block)`: the seal over one block of frames, the
/// block hashed with one `update` so BLAKE3 takes its multi-chunk (SIMD) path.
#[inline]
pub fn block_seal(prev_seal: &[u8; HASH_LEN], block: &[u8]) -> [u8; HASH_LEN] {
    let mut h = blake3::Hasher::new();
    h.update(prev_seal);
    h.update(block);
    *h.finalize().as_bytes()
}

/// File name of segment `index`: eight (or more) decimal digits and `.bhj`, e.g. `00000042.bhj`.
pub fn segment_file_name(index: u32) -> String {
    format!("{index:08}.{SEGMENT_EXT}")
}

/// Inverse of [`segment_file_name`]; `None` for anything that is not a canonical segment name.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(".bhj")?;
    if stem.len() < 8 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: u32 = stem.parse().ok()?;
    // Only the canonical spelling counts (no extra leading zeros beyond the 8-digit width).
    (segment_file_name(index) == name).then_some(index)
}

pub(crate) fn fsync_to_code(p: FsyncPolicy) -> (u16, u32) {
    match p {
        FsyncPolicy::Never => (0, 0),
        FsyncPolicy::Always => (1, 0),
        FsyncPolicy::EveryN(n) => (2, n),
        FsyncPolicy::Group { records, .. } => (3, records),
    }
}

/// Bytes 26..28 of the segment header: the Group policy's millis, else 0.
pub(crate) fn fsync_millis(p: FsyncPolicy) -> u16 {
    match p {
        FsyncPolicy::Group { millis, .. } => millis,
        _ => 0,
    }
}

/// Decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub index: u32,
    pub segment_bytes: u64,
    pub fsync_code: u16,
    pub fsync_every: u32,
    /// Group policy's millis (header bytes 26..28), else 0.
    pub fsync_millis: u16,
    pub first_seq: u64,
    pub prev_hash: [u8; 32],
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[10..12].copy_from_slice(&HEADER_LEN_FIELD.to_le_bytes());
        b[12..16].copy_from_slice(&self.index.to_le_bytes());
        b[16..24].copy_from_slice(&self.segment_bytes.to_le_bytes());
        b[24..26].copy_from_slice(&self.fsync_code.to_le_bytes());
        b[26..28].copy_from_slice(&self.fsync_millis.to_le_bytes());
        b[28..32].copy_from_slice(&self.fsync_every.to_le_bytes());
        b[32..40].copy_from_slice(&self.first_seq.to_le_bytes());
        b[40..72].copy_from_slice(&self.prev_hash);
        let sum = blake3::hash(&b[..HEADER_HASHED_LEN]);
        b[72..104].copy_from_slice(sum.as_bytes());
        b
    }

    /// Decode and check self-consistency (magic, version, length, checksum, reserved fields).
    /// Chain checks (index, first seq, prev hash) are the caller's job.
    pub fn decode(b: &[u8; SEGMENT_HEADER_LEN]) -> Result<Self, VerifyErrorKind> {
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[0..8]);
        let version = u16_at(b, 8);
        if magic == MAGIC_V1 {
            return Err(VerifyErrorKind::OldFormatVersion { found: version });
        }
        if magic != MAGIC {
            return Err(VerifyErrorKind::BadMagic { found: magic });
        }
        if version != FORMAT_VERSION {
            return Err(VerifyErrorKind::UnsupportedVersion { found: version });
        }
        if usize::from(u16_at(b, 10)) != SEGMENT_HEADER_LEN {
            return Err(VerifyErrorKind::BadHeader { reason: "header length field is not 104" });
        }
        if blake3::hash(&b[..HEADER_HASHED_LEN]).as_bytes() != &b[72..104] {
            return Err(VerifyErrorKind::HeaderChecksum);
        }
        let fsync_code = u16_at(b, 24);
        let fsync_millis = u16_at(b, 26);
        if fsync_code != 3 && fsync_millis != 0 {
            return Err(VerifyErrorKind::BadHeader { reason: "reserved header field is not zero" });
        }
        let fsync_every = u32_at(b, 28);
        match (fsync_code, fsync_every) {
            (0 | 1, 0) => {}
            (2, n) if n > 0 => {}
            (3, n) if n > 0 && fsync_millis > 0 => {}
            _ => return Err(VerifyErrorKind::BadHeader { reason: "unknown fsync policy code" }),
        }
        let mut prev_hash = [0u8; 32];
        prev_hash.copy_from_slice(&b[40..72]);
        Ok(SegmentHeader {
            index: u32_at(b, 12),
            segment_bytes: u64_at(b, 16),
            fsync_code,
            fsync_every,
            fsync_millis,
            first_seq: u64_at(b, 32),
            prev_hash,
        })
    }
}

/// Encode the fixed 24-byte frame header.
#[inline]
pub(crate) fn encode_record_header(len: u32, kind: u16, flags: u16, seq: u64, ts_ns: u64) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[4..6].copy_from_slice(&kind.to_le_bytes());
    h[6..8].copy_from_slice(&flags.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&ts_ns.to_le_bytes());
    h
}

/// Decoded frame header fields: (len, kind, flags, seq, ts_ns).
#[inline]
pub(crate) fn decode_record_header(h: &[u8]) -> (u32, u16, u16, u64, u64) {
    (u32_at(h, 0), u16_at(h, 4), u16_at(h, 6), u64_at(h, 8), u64_at(h, 16))
}

/// The little-endian `u64` at `at` (a stored link).
#[inline]
pub(crate) fn link_at(b: &[u8], at: usize) -> u64 {
    u64_at(b, at)
}

/// The 32-byte hash (a seal's payload) stored at `b[at..at + 32]`.
#[inline]
pub(crate) fn hash_at(b: &[u8], at: usize) -> [u8; HASH_LEN] {
    let mut h = [0u8; HASH_LEN];
    h.copy_from_slice(&b[at..at + HASH_LEN]);
    h
}

#[inline]
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}
#[inline]
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = SegmentHeader {
            index: 7,
            segment_bytes: 1 << 20,
            fsync_code: 2,
            fsync_every: 64,
            fsync_millis: 0,
            first_seq: 1234,
            prev_hash: [9; 32],
        };
        assert_eq!(SegmentHeader::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(0), "00000000.bhj");
        assert_eq!(parse_segment_file_name("00000042.bhj"), Some(42));
        assert_eq!(parse_segment_file_name("4294967295.bhj"), Some(u32::MAX));
        assert_eq!(parse_segment_file_name("0000042.bhj"), None);
        assert_eq!(parse_segment_file_name("000000042.bhj"), None);
        assert_eq!(parse_segment_file_name("0000004a.bhj"), None);
        assert_eq!(parse_segment_file_name("00000042.bhj.tmp"), None);
    }
}
