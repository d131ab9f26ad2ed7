//! # bulkhead-journal — the append-only, hash-chained audit journal
//!
//! **Owns:** the on-disk format, appending ([`JournalWriter`]), verification ([`verify`]),
//! streaming reading ([`JournalReader`]), torn-tail recovery
//! ([`JournalWriter::open_append`]) and content-addressed blobs stored beside the segments
//! ([`JournalWriter::store_blob`], [`read_blob`]).
//!
//! **Must never:** interpret the payloads it stores (a record's `kind` is an opaque `u16`
//! defined by the engine), read the clock (event time is supplied by the caller), silently
//! keep or silently drop bad data, or panic on bad input.
//!
//! ## On-disk format, version 1
//!
//! All integers are **little-endian**. Hashes are 32-byte BLAKE3.
//!
//! A journal is a **directory** of segment files named `00000000.bhj`, `00000001.bhj`, ...
//! (the segment index in decimal, zero-padded to 8 digits, wider if ever needed). Indices
//! start at 0 and are contiguous. Other files in the directory are ignored by the chain.
//!
//! ### Blobs (`blobs/` subdirectory)
//!
//! Opaque byte strings a record refers to by hash (the engine stores hot-deployed modules):
//! the file `blobs/<64 lowercase hex digits of blake3(content)>`, the content verbatim. A blob
//! is written to a temporary name, fsynced, renamed and its directory fsynced (unless the
//! policy is `Never`) before [`JournalWriter::store_blob`] returns, so a record naming it can
//! be made durable after it. Blobs are not part of the chain; the name is the check:
//! [`read_blob`] refuses a file whose content does not hash to its name.
//!
//! ### Segment header (104 bytes, at offset 0 of every segment)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic, ASCII `BHJRNL01` |
//! | 8 | 2 | format version, `1` |
//! | 10 | 2 | header length, `104` |
//! | 12 | 4 | segment index (must equal the index in the file name) |
//! | 16 | 8 | segment size limit in bytes the writer was using (informational) |
//! | 24 | 2 | fsync policy code: `0` Never, `1` Always, `2` EveryN, `3` Group (informational) |
//! | 26 | 2 | Group: M (milliseconds), else reserved `0` |
//! | 28 | 4 | N for EveryN and Group (records), else `0` |
//! | 32 | 8 | `first_seq`: sequence number of the first record in this segment (= records in all earlier segments) |
//! | 40 | 32 | `prev_hash`: hash of the last record of the previous segment; all zeros in segment 0. If the previous segment had no records, the chain value it carried (its own `prev_hash`, or the genesis hash below for segment 0) |
//! | 72 | 32 | header checksum: `blake3(bytes 0..72)` |
//!
//! ### Records (immediately after the header, back to back, to end of file)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | `len`: payload length, at most 16 MiB (16 777 216) |
//! | 4 | 2 | `kind` (opaque) |
//! | 6 | 2 | reserved, `0` |
//! | 8 | 8 | `seq`: global sequence number, 0, 1, 2, ... contiguous across segments |
//! | 16 | 8 | `ts_ns`: event time in nanoseconds, as supplied by the writer |
//! | 24 | `len` | payload |
//! | 24+`len` | 32 | `hash = blake3(prev ‖ bytes 0..24 of this record ‖ payload)` |
//!
//! `prev` is the `hash` of the previous record in the journal (across segment boundaries);
//! for the very first record (seq 0) it is the **genesis hash** `blake3(b"BHJRNL01")`
//! ([`genesis_hash`]). A record occupies `56 + len` bytes.
//!
//! ### Verifying
//!
//! A reader walks segments 0, 1, 2, ... and, for each, checks: file present; header complete;
//! magic; version; header length; header checksum; reserved zero; index = file name;
//! `first_seq` = records seen so far; `prev_hash` = zeros (segment 0) or the current chain
//! value. Then for each record: 24 header bytes present (0 bytes = end of segment); `len` ≤
//! 16 MiB; reserved zero; `seq` = expected; `len + 32` more bytes present; hash matches. The
//! chain value becomes the record's hash. The **first** failure is reported ([`VerifyError`]:
//! segment, expected sequence number, byte offset in the segment file, and what is wrong).
//!
//! A segment that ends cleanly at a record boundary but is followed by a segment whose header
//! says more records (with another `prev_hash`) came before it was cut short: that is reported
//! at the place the records are missing (the end of the short segment, the first missing
//! sequence number: [`VerifyErrorKind::SegmentCutShort`]), not at the intact header after it.
//! A header whose `first_seq` alone disagrees is [`VerifyErrorKind::SegmentSeqMismatch`].
//!
//! The chain proves order and integrity of everything up to the last record. It cannot, on
//! its own, detect that whole records or segments were cut off the **end**, or that the
//! whole journal was rewritten: keep [`VerifyReport::last_hash`] (or
//! [`JournalSummary::last_hash`]) somewhere else and compare.
//!
//! ### Writing and durability
//!
//! A writer starts a new segment when the next record would make the current one exceed
//! `segment_bytes` (a segment always holds at least one record, so oversized records get their
//! own). Appends are buffered; [`FsyncPolicy`] says when they are fsynced. Under group commit
//! (`every:N`, `every:N:Mms`) the writer writes a due group out to the OS and a syncer thread
//! runs the fsync while the appender goes on (requests coalesce; the appender waits only when
//! more than [`MAX_GROUPS_IN_FLIGHT`] groups, at least [`MIN_RECORDS_IN_FLIGHT`] records, are
//! not yet durable: the bound on what a crash loses); [`JournalWriter::durable_seq`] moves when
//! an fsync completes. Group commit's time bound is checked at each append and by
//! [`JournalWriter::tick`], which a caller that idles (no appends) calls so records never wait
//! longer than `M` ms for their fsync to start; [`JournalWriter::sync`] makes everything
//! durable before it returns (the engine's gate before an operator command takes effect or an
//! action leaves for a venue outside the process). A crash can leave a torn record at the end of the last segment; [`JournalWriter::open_append`] truncates it
//! (and reports what it dropped) and refuses any other damage. [`torn_tail`] says what counts
//! as torn (read-only): the tail of the **last** segment from the first bad record to end of
//! file, when that record is cut short at end of file or is followed only by zeros. A length
//! field that runs past end of file while an intact record (its stored hash equals
//! `blake3(32 bytes before it ‖ header ‖ payload)`) lies inside the bytes it claims is an
//! altered length, not a torn write ([`VerifyErrorKind::LengthOverIntactRecords`]); the search
//! reads at most one maximal record (16 MiB + 56 bytes), only when a length runs past EOF.
//!
//! ### File modes (Unix)
//!
//! The journal directory and `blobs/` are created `0700` and every file `0600`, set exactly
//! whatever the umask; [`JournalParams::group_readable`] makes them `0750` / `0640`. A directory
//! that already exists keeps its mode.

// Guardrail (issue 14): no silently truncating casts in this crate; a cast
// that cannot lose bits says why (`#[expect]`), the rest use `try_from` or
// a named saturating helper.
#![deny(clippy::cast_possible_truncation)]

mod durability;
mod error;
mod format;
mod reader;
mod writer;

pub use durability::{MAX_GROUPS_IN_FLIGHT, MIN_RECORDS_IN_FLIGHT};
pub use error::{JournalError, Location, VerifyError, VerifyErrorKind};
pub use format::{
    FORMAT_VERSION, HASH_LEN, MAGIC, MAX_PAYLOAD, RECORD_HEADER_LEN, RECORD_OVERHEAD, SEGMENT_EXT, SEGMENT_HEADER_LEN,
    genesis_hash, segment_file_name,
};
pub use reader::{JournalReader, Record, VerifyReport, verify, verify_with};
pub use writer::{
    BLOB_DIR, FsyncParseError, FsyncPolicy, FsyncStats, JournalParams, JournalSummary, JournalWriter, RecoveryReport,
    TornTail, read_blob, torn_tail,
};
