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
//! ## On-disk format, version 2
//!
//! All integers are **little-endian**. Hashes are 32-byte BLAKE3; links are 64-bit XXH3
//! (`xxh3_64_with_seed`, the `xxhash-rust` crate).
//!
//! A journal is a **directory** of segment files named `00000000.bhj`, `00000001.bhj`, ...
//! (the segment index in decimal, zero-padded to 8 digits, wider if ever needed). Indices
//! start at 0 and are contiguous. Other files in the directory are ignored by the chain.
//!
//! Version 1 (magic `BHJRNL01`, a BLAKE3 hash after every record) is not read: its segments
//! are refused with [`VerifyErrorKind::OldFormatVersion`] ("format version 1 journal: written
//! by an older bulkhead").
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
//! | 0 | 8 | magic, ASCII `BHJRNL02` |
//! | 8 | 2 | format version, `2` |
//! | 10 | 2 | header length, `104` |
//! | 12 | 4 | segment index (must equal the index in the file name) |
//! | 16 | 8 | segment size limit in bytes the writer was using (informational) |
//! | 24 | 2 | fsync policy code: `0` Never, `1` Always, `2` EveryN, `3` Group (informational) |
//! | 26 | 2 | Group: M (milliseconds), else reserved `0` |
//! | 28 | 4 | N for EveryN and Group (records), else `0` |
//! | 32 | 8 | `first_seq`: sequence number of the first record in this segment (= records in all earlier segments) |
//! | 40 | 32 | `prev_hash`: the last seal of the previous segment (which always ends with one); all zeros in segment 0. If the previous segment had no records, the chain value it carried (its own `prev_hash`, or the genesis hash below for segment 0) |
//! | 72 | 32 | header checksum: `blake3(bytes 0..72)` |
//!
//! ### Frames (immediately after the header, back to back, to end of file)
//!
//! Records and seals are both frames:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | `len`: payload length, at most 16 MiB (16 777 216) |
//! | 4 | 2 | `kind` (opaque for a record; `0` for a seal) |
//! | 6 | 2 | `flags`: bit 0 set = seal frame; every other bit `0` |
//! | 8 | 8 | `seq`: a record's global sequence number, 0, 1, 2, ... contiguous across segments; a seal's is the sequence number the next record will have |
//! | 16 | 8 | `ts_ns`: event time in nanoseconds, as supplied by the writer (a seal: its last record's) |
//! | 24 | `len` | payload (a seal: the 32-byte seal) |
//! | 24+`len` | 8 | `link = xxh3_64_with_seed(bytes 0..24+len of this frame, seed = previous frame's link)` |
//!
//! The first frame's seed is the **genesis link**, the first 8 bytes (little-endian) of the
//! **genesis hash** `blake3(b"BHJRNL02")` ([`genesis_link`], [`genesis_hash`]); links chain
//! across segment boundaries and through seal frames. A record occupies `32 + len` bytes
//! ([`RECORD_OVERHEAD`]); a seal frame 64 ([`SEAL_FRAME_LEN`]).
//!
//! A **block** is the frames since the previous seal frame (or since the segment header), up
//! to the next seal frame. The seal frame's payload is
//! `seal = blake3(prev_seal ‖ all bytes of the block, exactly as on disk)` ([`block_seal`]),
//! where `prev_seal` is the previous seal in the journal (across segments; the genesis hash
//! for the first). A block holds at least one record and never spans segments. Seals are
//! placed deterministically by the writer: after the record that brings the block to
//! [`JournalParams::seal_bytes`] (default 64 KiB) or more, before a new segment is started,
//! and at [`JournalWriter::finish`]; never at fsync points, so the same records give the same
//! bytes whatever the fsync policy. Seals are not records: readers skip them and record
//! counts and sequence numbers ignore them.
//!
//! Links are cheap (XXH3 over ~150 bytes) and name damage at its exact record: an altered
//! byte, a torn write, a reordered or deleted record breaks the next link. They are not
//! cryptographic: someone who edits a record can recompute the links after it. Seals are: an
//! edit with recomputed links still breaks the block's seal
//! ([`VerifyErrorKind::SealMismatch`], naming the block's records), and each seal covers
//! every seal before it.
//!
//! ### Verifying
//!
//! A reader walks segments 0, 1, 2, ... and, for each, checks: file present; header complete;
//! magic (and not version 1's); version; header length; header checksum; reserved zero;
//! index = file name; `first_seq` = records seen so far; `prev_hash` = zeros (segment 0) or
//! the current seal; the previous segment ended with a seal. Then for each frame: 24 header
//! bytes present (0 bytes = end of segment); `len` ≤ 16 MiB; no unknown flag; `seq` =
//! expected; `len + 8` more bytes present; link matches. For a seal frame also: kind 0,
//! `len` 32, at least one record in its block, `ts_ns` its last record's, and the seal equals
//! `blake3(prev_seal ‖ block)` (one BLAKE3 update over the block in the read buffer). The
//! chain value becomes the seal. The **first** failure is reported ([`VerifyError`]: segment,
//! expected sequence number, byte offset in the segment file, and what is wrong; for a seal
//! mismatch the block's first record and its offset). Records after the last seal of the
//! last segment (a crashed run, or a writer dropped without `finish`) are not an error: their
//! links are checked and [`VerifyReport::unsealed_records`] counts them.
//!
//! [`verify`] reads 4 MiB at a time and checks a journal of [`SPLIT_MIN_BYTES`] (16 MiB) or
//! more with two threads: one from the start to a seal frame near the middle (found by its
//! link, which proves itself), one from there to the end starting from the state that frame
//! carries; the second half counts only if the first reaches that frame with that state, so
//! the first failure reported is exactly a single pass's. [`JournalReader`] and
//! [`JournalWriter::open_append`] make one pass.
//!
//! A segment that ends cleanly at a frame boundary but is followed by a segment whose header
//! says more records (with another `prev_hash`) came before it was cut short: that is reported
//! at the place the records are missing (the end of the short segment, the first missing
//! sequence number: [`VerifyErrorKind::SegmentCutShort`]), not at the intact header after it.
//! One that lost only its closing seal is [`VerifyErrorKind::UnsealedSegmentEnd`], at the same
//! place. A header whose `first_seq` alone disagrees is [`VerifyErrorKind::SegmentSeqMismatch`].
//!
//! The chain proves order and integrity of everything up to the last seal (and, against
//! accidents, of the unsealed records after it). It cannot, on its own, detect that whole
//! blocks or segments were cut off the **end**, or that the whole journal was rewritten: keep
//! [`VerifyReport::last_hash`] (the last seal; or [`JournalSummary::last_hash`]) somewhere else
//! and compare.
//!
//! ### Writing and durability
//!
//! A writer starts a new segment when the next record and the seal that closes the segment
//! would make the current one exceed `segment_bytes` (a segment always holds at least one
//! record, so oversized records get their own). Frames are built in the current block's
//! buffer, which is also the write buffer (bounded by `seal_bytes` plus one record); it is
//! written out at each seal and whenever the policy syncs. [`FsyncPolicy`] says when records
//! are fsynced; a sync may make records durable before their seal (their links protect them
//! until it follows). Under group commit (`every:N`, `every:N:Mms`) the writer writes a due
//! group out to the OS and a syncer thread runs the fsync while the appender goes on (requests
//! coalesce; the appender waits only when more than [`MAX_GROUPS_IN_FLIGHT`] groups, at least
//! [`MIN_RECORDS_IN_FLIGHT`] records, are not yet durable: the bound on what a crash loses);
//! [`JournalWriter::durable_seq`] moves when an fsync completes. Group commit's time bound is
//! checked at each append and by [`JournalWriter::tick`], which a caller that idles (no
//! appends) calls so records never wait longer than `M` ms for their fsync to start;
//! [`JournalWriter::sync`] makes everything durable before it returns (the engine's gate
//! before an operator command takes effect or an action leaves for a venue outside the
//! process). A crash can leave a torn frame at the
//! end of the last segment and an unsealed block before it; [`JournalWriter::open_append`]
//! truncates the torn frame (and reports what it dropped), reads the unsealed records back
//! into the block buffer so the next seal covers them, and refuses any other damage.
//! [`torn_tail`] says what counts as torn (read-only): the tail of the **last** segment from
//! the first bad frame to end of file, when that frame is cut short at end of file or is
//! followed only by zeros. A length field that runs past end of file while an intact frame
//! (its stored link equals `xxh3(header ‖ payload, seed = the 8 bytes before it)`) lies inside
//! the bytes it claims is an altered length, not a torn write
//! ([`VerifyErrorKind::LengthOverIntactRecords`]); the search reads at most one maximal frame
//! (16 MiB + 32 bytes), only when a length runs past EOF. A seal mismatch is never torn.
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
    FLAG_SEAL, FORMAT_VERSION, HASH_LEN, LINK_LEN, MAGIC, MAX_PAYLOAD, RECORD_HEADER_LEN, RECORD_OVERHEAD,
    SEAL_FRAME_LEN, SEGMENT_EXT, SEGMENT_HEADER_LEN, block_seal, frame_link, genesis_hash, genesis_link,
    segment_file_name,
};
pub use reader::{JournalReader, Record, SPLIT_MIN_BYTES, VerifyReport, segment_files, verify, verify_with};
pub use writer::{
    BLOB_DIR, DEFAULT_SEAL_BYTES, FsyncParseError, FsyncPolicy, FsyncStats, JournalParams, JournalSummary,
    JournalWriter, RecoveryReport, TornTail, read_blob, torn_tail,
};
