//! Error types.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::format::{MAX_PAYLOAD, SEGMENT_HEADER_LEN, segment_file_name};

/// Errors from writing or reading a journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// An operating-system I/O error, with the file or directory it happened on.
    #[error("journal I/O error on `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `append` was given a payload larger than [`MAX_PAYLOAD`](crate::MAX_PAYLOAD).
    #[error("journal payload of {len} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge { len: usize, max: usize },
    /// `create` found an existing segment in the target directory.
    #[error("journal `{}` already holds segment `{file}`; refusing to create over it", dir.display())]
    AlreadyExists { dir: PathBuf, file: String },
    /// The journal on disk failed verification.
    #[error(transparent)]
    Corrupt(#[from] VerifyError),
    /// Unusable [`JournalParams`](crate::JournalParams).
    #[error("invalid journal parameters: {0}")]
    InvalidParams(&'static str),
    /// The segment index space (u32) is exhausted.
    #[error("journal `{}` has reached the maximum number of segments", dir.display())]
    TooManySegments { dir: PathBuf },
    /// A stored blob ([`JournalWriter::store_blob`](crate::JournalWriter::store_blob)) does not
    /// hash to its name: altered or damaged.
    #[error("journal blob `{}` is damaged: its content does not hash to its name", path.display())]
    BlobCorrupt { path: PathBuf },
    /// An earlier I/O error left the writer in an unknown state; it refuses further writes.
    /// Reopen with `JournalWriter::open_append`, which repairs a torn tail.
    #[error("journal writer for `{}` is unusable after an earlier I/O error; reopen it", dir.display())]
    Poisoned { dir: PathBuf },
}

impl JournalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io { path: path.into(), source }
    }
}

/// Where in the journal a [`VerifyError`] was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The journal directory as a whole.
    Journal,
    /// A whole segment file (e.g. a missing one).
    Segment { index: u32 },
    /// The header of a segment file (always at byte 0).
    SegmentHeader { index: u32 },
    /// A record: the segment it is in, the sequence number that was expected there, and the
    /// byte offset of the record's first byte within the segment file.
    Record { segment: u32, seq: u64, offset: u64 },
}

/// What is wrong, see [`VerifyError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    #[error("no segment files (`00000000.bhj`, ...) found")]
    NoSegments,
    #[error("segment file missing (segment chain broken)")]
    MissingSegment,
    #[error("truncated segment header ({len} of {SEGMENT_HEADER_LEN} bytes)")]
    TruncatedHeader { len: u64 },
    #[error("bad magic {found:02x?} (not a Bulkhead journal segment)")]
    BadMagic { found: [u8; 8] },
    #[error("unsupported format version {found}")]
    UnsupportedVersion { found: u16 },
    /// A segment of an older format (magic `BHJRNL01`): this build reads version 2 only.
    #[error("format version {found} journal: written by an older bulkhead (this one reads format version 2 only)")]
    OldFormatVersion { found: u16 },
    #[error("bad segment header: {reason}")]
    BadHeader { reason: &'static str },
    #[error("segment header checksum mismatch (header altered)")]
    HeaderChecksum,
    #[error("header says this is segment {found} (segment files renamed, swapped or missing)")]
    SegmentIndexMismatch { found: u32 },
    #[error("header says the segment starts at record #{found} (segments missing, swapped or reordered)")]
    SegmentSeqMismatch { found: u64 },
    #[error(
        "segment ends early: the next segment starts at record #{next_first_seq} (records cut off the end of this segment)"
    )]
    SegmentCutShort { next_first_seq: u64 },
    #[error("previous-segment hash in header does not match the previous segment's last record (segment chain broken)")]
    SegmentChainBroken,
    #[error("bad length {len} (maximum payload is {MAX_PAYLOAD})")]
    BadLength { len: u32 },
    /// The frame's flags have a bit set other than bit 0 (seal).
    #[error("reserved flag bits set in {found:#06x} (record altered)")]
    ReservedNonZero { found: u16 },
    #[error("sequence gap or reorder: found #{found} (record missing, duplicated or reordered)")]
    SequenceMismatch { found: u64 },
    #[error("truncated record: needs {needed} bytes, only {available} remain (torn write or altered length)")]
    TruncatedRecord { needed: u64, available: u64 },
    /// The frame's stored link is not `xxh3(header ‖ payload, seed = previous link)`.
    #[error("link mismatch (record altered, reordered or torn)")]
    LinkMismatch,
    /// Every link of a block checks out but its seal does not: the records
    /// were edited and their links recomputed (deliberately), or the seal
    /// itself was replaced. The location is the block's first record.
    #[error(
        "seal mismatch: records #{first_seq}..=#{last_seq} were altered and their links recomputed (their seal at byte {seal_offset} does not match)"
    )]
    SealMismatch { first_seq: u64, last_seq: u64, seal_offset: u64 },
    /// A seal frame that is malformed (kind, length, time) or seals nothing.
    #[error("bad seal frame: {reason}")]
    BadSeal { reason: &'static str },
    /// A segment that another segment follows ends with records no seal
    /// covers: its closing seal was cut off. The location is where the seal should be.
    #[error(
        "segment ends without the seal over records #{first_seq}..=#{last_seq} though another segment follows (seal cut off)"
    )]
    UnsealedSegmentEnd { first_seq: u64, last_seq: u64 },
    /// The length field points past the end of the segment, but an intact
    /// frame (one whose link chains from the 8 bytes before it) follows
    /// inside the bytes it claims: the length was altered, this is not a
    /// torn write, and cutting here would throw those records away.
    #[error(
        "bad length {len}: it runs past the end of the segment, but intact record #{next_seq} follows at byte {next_offset} (length field altered, not a torn tail)"
    )]
    LengthOverIntactRecords { len: u32, next_seq: u64, next_offset: u64 },
    #[error("I/O error: {message}")]
    Io { message: String },
}

/// The first place a journal fails verification.
///
/// Display reads e.g. ``journal `out/demo.journal`: segment 00000000.bhj record #1234 at byte
/// 78901: link mismatch (record altered, reordered or torn)``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The journal directory.
    pub journal: PathBuf,
    pub location: Location,
    pub kind: VerifyErrorKind,
}

impl VerifyError {
    /// Index of the segment the problem is in, if it is in one.
    pub fn segment(&self) -> Option<u32> {
        match self.location {
            Location::Journal => None,
            Location::Segment { index } | Location::SegmentHeader { index } => Some(index),
            Location::Record { segment, .. } => Some(segment),
        }
    }
    /// File name of that segment, e.g. `00000003.bhj`.
    pub fn segment_file(&self) -> Option<String> {
        self.segment().map(segment_file_name)
    }
    /// Sequence number expected at the bad record.
    pub fn seq(&self) -> Option<u64> {
        match self.location {
            Location::Record { seq, .. } => Some(seq),
            _ => None,
        }
    }
    /// Byte offset of the bad record (or header: 0) within its segment file.
    pub fn offset(&self) -> Option<u64> {
        match self.location {
            Location::Record { offset, .. } => Some(offset),
            Location::SegmentHeader { .. } => Some(0),
            _ => None,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "journal `{}`: ", self.journal.display())?;
        match self.location {
            Location::Journal => {}
            Location::Segment { index } => write!(f, "segment {}: ", segment_file_name(index))?,
            Location::SegmentHeader { index } => write!(f, "segment {} header at byte 0: ", segment_file_name(index))?,
            Location::Record { segment, seq, offset } => {
                write!(f, "segment {} record #{seq} at byte {offset}: ", segment_file_name(segment))?
            }
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for VerifyError {}
