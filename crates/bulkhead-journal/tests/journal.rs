//! Round-trip, tamper-detection and recovery tests.

use std::fs;
use std::path::{Path, PathBuf};

use bulkhead_journal::*;
use proptest::prelude::*;

fn params(segment_bytes: u64) -> JournalParams {
    JournalParams { fsync: FsyncPolicy::Never, segment_bytes, ..JournalParams::default() }
}

fn payload_for(i: u64) -> Vec<u8> {
    let len = (i * 37 % 97) as usize;
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// Write `n` records with varied payloads; returns what was written and the summary.
fn write_journal(dir: &Path, n: u64, segment_bytes: u64) -> (Vec<(u16, u64, Vec<u8>)>, JournalSummary) {
    let mut w = JournalWriter::create(dir, params(segment_bytes)).unwrap();
    let mut written = Vec::new();
    for i in 0..n {
        let p = payload_for(i);
        let kind = (i % 7) as u16;
        let ts = 1_700_000_000_000_000_000 + i * 1000;
        assert_eq!(w.append(kind, ts, &p).unwrap(), i);
        written.push((kind, ts, p));
    }
    (written, w.finish().unwrap())
}

fn read_all(dir: &Path) -> Vec<Record> {
    JournalReader::open(dir).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
}

fn seg(dir: &Path, i: u32) -> PathBuf {
    dir.join(segment_file_name(i))
}

fn seg_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

/// A journal of 400 records over several 2 KiB segments, plus its records.
fn fixture() -> (tempfile::TempDir, PathBuf, Vec<Record>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo.journal");
    write_journal(&dir, 400, 2048);
    let recs = read_all(&dir);
    assert!(recs.last().unwrap().segment >= 4, "fixture should span several segments");
    (tmp, dir, recs)
}

/// A record in the middle of segment 2 that is neither first nor last in it.
fn middle_record(recs: &[Record]) -> &Record {
    let in_seg: Vec<&Record> = recs.iter().filter(|r| r.segment == 2).collect();
    in_seg[in_seg.len() / 2]
}

fn flip(path: &Path, at: u64) {
    let mut b = fs::read(path).unwrap();
    b[at as usize] ^= 0x40;
    fs::write(path, b).unwrap();
}

fn rec_len(r: &Record) -> usize {
    RECORD_OVERHEAD + r.payload.len()
}

fn expect_record_error(dir: &Path, r: &Record, kind: VerifyErrorKind) -> VerifyError {
    let e = verify(dir).unwrap_err();
    assert_eq!(e.location, Location::Record { segment: r.segment, seq: r.seq, offset: r.offset }, "{e}");
    assert_eq!(e.kind, kind, "{e}");
    assert_eq!(e.seq(), Some(r.seq));
    assert_eq!(e.offset(), Some(r.offset));
    assert_eq!(e.segment_file().unwrap(), segment_file_name(r.segment));
    e
}

#[test]
fn round_trip_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (written, summary) = write_journal(&dir, 1000, 4096);
    let files = seg_files(&dir);
    assert!(files.len() > 5, "{files:?}");
    assert_eq!(summary.segments as usize, files.len());
    assert_eq!(summary.records, 1000);
    let on_disk: u64 = files.iter().map(|f| fs::metadata(dir.join(f)).unwrap().len()).sum();
    assert_eq!(summary.bytes, on_disk);
    for f in &files {
        assert!(fs::metadata(dir.join(f)).unwrap().len() <= 4096);
    }

    let recs = read_all(&dir);
    assert_eq!(recs.len(), written.len());
    for (i, (r, (kind, ts, p))) in recs.iter().zip(&written).enumerate() {
        assert_eq!(r.seq, i as u64);
        assert_eq!((r.kind, r.ts_ns, &r.payload), (*kind, *ts, p));
    }
    assert_ne!(summary.last_hash, genesis_hash());

    let rep = verify(&dir).unwrap();
    assert_eq!(
        rep,
        VerifyReport {
            records: 1000,
            segments: files.len() as u32,
            bytes: on_disk,
            last_hash: summary.last_hash,
            unsealed_records: 0
        }
    );
}

/// `segment_files`: every segment in index order, named and byte for byte as on disk;
/// blobs and stray files are not segments; a missing directory is an I/O error naming it.
#[test]
fn segment_files_lists_the_segments_in_order_with_their_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    write_journal(&dir, 1000, 4096);
    fs::write(dir.join("notes.txt"), b"not a segment").unwrap();
    let mut w = JournalWriter::open_append(&dir, params(4096)).unwrap().0;
    w.store_blob(b"a blob").unwrap();
    w.finish().unwrap();
    let segs = segment_files(&dir).unwrap();
    let names: Vec<String> = (0..segs.len() as u32).map(segment_file_name).collect();
    assert!(segs.len() > 5);
    assert_eq!(segs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), names);
    for (name, bytes) in &segs {
        assert_eq!(bytes, &fs::read(dir.join(name)).unwrap(), "{name}");
    }
    match segment_files(&tmp.path().join("missing")) {
        Err(JournalError::Io { path, .. }) => assert!(path.ends_with("missing"), "{}", path.display()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn record_layout_matches_documentation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mut w = JournalWriter::create(&dir, params(1 << 20)).unwrap();
    w.append(0x1234, 99, b"hello").unwrap();
    w.append(7, 100, b"").unwrap();
    let s = w.finish().unwrap();
    let b = fs::read(seg(&dir, 0)).unwrap();
    assert_eq!(&b[0..8], b"BHJRNL02");
    assert_eq!(&b[8..10], &2u16.to_le_bytes());
    assert_eq!(b.len(), SEGMENT_HEADER_LEN + 2 * RECORD_OVERHEAD + 5 + SEAL_FRAME_LEN);
    assert_eq!((RECORD_OVERHEAD, SEAL_FRAME_LEN), (32, 64));
    let r0 = &b[SEGMENT_HEADER_LEN..];
    assert_eq!(&r0[0..4], &5u32.to_le_bytes());
    assert_eq!(&r0[4..6], &0x1234u16.to_le_bytes());
    assert_eq!(&r0[6..8], &[0, 0]);
    assert_eq!(&r0[8..16], &0u64.to_le_bytes());
    assert_eq!(&r0[16..24], &99u64.to_le_bytes());
    assert_eq!(&r0[24..29], b"hello");
    let g = *blake3::hash(b"BHJRNL02").as_bytes();
    assert_eq!(genesis_hash(), g);
    assert_eq!(genesis_link(), u64::from_le_bytes(g[..8].try_into().unwrap()));
    let l0 = xxhash_rust::xxh3::xxh3_64_with_seed(&r0[0..29], genesis_link());
    assert_eq!(&r0[29..37], &l0.to_le_bytes());
    let r1 = &r0[37..];
    assert_eq!(&r1[6..8], &[0, 0]);
    let l1 = xxhash_rust::xxh3::xxh3_64_with_seed(&r1[0..24], l0);
    assert_eq!(&r1[24..32], &l1.to_le_bytes());
    // The seal frame: len 32, kind 0, flags 1, seq = next record's, ts = last record's.
    let sf = &r1[32..];
    assert_eq!(sf.len(), SEAL_FRAME_LEN);
    assert_eq!(&sf[0..4], &32u32.to_le_bytes());
    assert_eq!(&sf[4..6], &[0, 0]);
    assert_eq!(&sf[6..8], &1u16.to_le_bytes());
    assert_eq!(&sf[8..16], &2u64.to_le_bytes());
    assert_eq!(&sf[16..24], &100u64.to_le_bytes());
    let mut h = blake3::Hasher::new();
    h.update(&g);
    h.update(&b[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 37 + 32]);
    let seal = *h.finalize().as_bytes();
    assert_eq!(&sf[24..56], &seal);
    let l2 = xxhash_rust::xxh3::xxh3_64_with_seed(&sf[0..56], l1);
    assert_eq!(&sf[56..64], &l2.to_le_bytes());
    assert_eq!(s.last_hash, seal);
    // Records carry their links; seals are not records.
    let recs = read_all(&dir);
    assert_eq!(recs.iter().map(|r| r.link).collect::<Vec<_>>(), [l0, l1]);
}

#[test]
fn empty_journal_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let w = JournalWriter::create(&dir, JournalParams::default()).unwrap();
    assert_eq!(w.next_seq(), 0);
    assert_eq!(w.last_hash(), genesis_hash());
    let s = w.finish().unwrap();
    assert_eq!((s.records, s.segments, s.bytes), (0, 1, SEGMENT_HEADER_LEN as u64));
    let rep = verify(&dir).unwrap();
    assert_eq!((rep.records, rep.segments, rep.last_hash), (0, 1, genesis_hash()));
    assert_eq!(JournalReader::open(&dir).unwrap().count(), 0);
}

#[test]
fn flipped_payload_byte_names_the_record() {
    let (_t, dir, recs) = fixture();
    let r = recs.iter().filter(|r| r.segment == 2 && !r.payload.is_empty()).nth(3).unwrap();
    flip(&seg(&dir, r.segment), r.offset + RECORD_HEADER_LEN as u64 + 1);
    let e = expect_record_error(&dir, r, VerifyErrorKind::LinkMismatch);
    let msg = e.to_string();
    let want = format!(
        "journal `{}`: segment 00000002.bhj record #{} at byte {}: link mismatch (record altered, reordered or torn)",
        dir.display(),
        r.seq,
        r.offset
    );
    assert_eq!(msg, want);
}

#[test]
fn flipped_link_byte_names_the_record() {
    let (_t, dir, recs) = fixture();
    let r = middle_record(&recs);
    flip(&seg(&dir, r.segment), r.offset + (RECORD_HEADER_LEN + r.payload.len() + 5) as u64);
    expect_record_error(&dir, r, VerifyErrorKind::LinkMismatch);
}

#[test]
fn flipped_header_fields_are_caught() {
    // ts_ns and kind are covered by the link; seq by the sequence check; len by length/link.
    let (_t, dir, recs) = fixture();
    let r = middle_record(&recs);
    let p = seg(&dir, r.segment);
    let orig = fs::read(&p).unwrap();
    flip(&p, r.offset + 17); // ts_ns
    expect_record_error(&dir, r, VerifyErrorKind::LinkMismatch);
    fs::write(&p, &orig).unwrap();
    flip(&p, r.offset + 4); // kind
    expect_record_error(&dir, r, VerifyErrorKind::LinkMismatch);
    fs::write(&p, &orig).unwrap();
    flip(&p, r.offset + 6); // flags: an unknown bit
    expect_record_error(&dir, r, VerifyErrorKind::ReservedNonZero { found: 0x40 });
    fs::write(&p, &orig).unwrap();
    let mut b = orig.clone();
    b[r.offset as usize + 6] ^= 1; // flags: the seal bit (a record posing as a seal)
    fs::write(&p, &b).unwrap();
    expect_record_error(&dir, r, VerifyErrorKind::LinkMismatch);
    fs::write(&p, &orig).unwrap();
    flip(&p, r.offset + 9); // seq
    expect_record_error(&dir, r, VerifyErrorKind::SequenceMismatch { found: r.seq ^ (0x40 << 8) });
    fs::write(&p, &orig).unwrap();
    let mut b = orig.clone();
    b[r.offset as usize..r.offset as usize + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&p, &b).unwrap();
    expect_record_error(&dir, r, VerifyErrorKind::BadLength { len: u32::MAX });
    fs::write(&p, &orig).unwrap();
    verify(&dir).unwrap();
}

#[test]
fn deleted_record_is_found_where_it_was() {
    let (_t, dir, recs) = fixture();
    let r = middle_record(&recs);
    let p = seg(&dir, r.segment);
    let mut b = fs::read(&p).unwrap();
    b.drain(r.offset as usize..r.offset as usize + rec_len(r));
    fs::write(&p, b).unwrap();
    expect_record_error(&dir, r, VerifyErrorKind::SequenceMismatch { found: r.seq + 1 });
}

#[test]
fn swapped_records_are_found() {
    let (_t, dir, recs) = fixture();
    let a = middle_record(&recs);
    let b_rec = &recs[a.seq as usize + 1];
    assert_eq!(b_rec.segment, a.segment);
    let p = seg(&dir, a.segment);
    let bytes = fs::read(&p).unwrap();
    let (ao, al, bl) = (a.offset as usize, rec_len(a), rec_len(b_rec));
    let mut out = bytes[..ao].to_vec();
    out.extend_from_slice(&bytes[ao + al..ao + al + bl]);
    out.extend_from_slice(&bytes[ao..ao + al]);
    out.extend_from_slice(&bytes[ao + al + bl..]);
    assert_eq!(out.len(), bytes.len());
    fs::write(&p, out).unwrap();
    expect_record_error(&dir, a, VerifyErrorKind::SequenceMismatch { found: a.seq + 1 });
}

#[test]
fn truncated_last_segment_reports_truncated_record() {
    let (_t, dir, recs) = fixture();
    let last = recs.iter().rev().find(|r| r.payload.len() > 10).unwrap();
    let last = recs.iter().rev().find(|r| r.segment == last.segment).unwrap();
    let p = seg(&dir, last.segment);
    let f = fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(last.offset + 10).unwrap();
    let e = expect_record_error(&dir, last, VerifyErrorKind::TruncatedRecord { needed: 24, available: 10 });
    assert!(e.to_string().contains("truncated record"), "{e}");
    drop(f);
    // Cut inside the hash instead (fresh journal).
    let (_t2, dir2, recs2) = fixture();
    let last2 = recs2.last().unwrap();
    let f = fs::OpenOptions::new().write(true).open(seg(&dir2, last2.segment)).unwrap();
    f.set_len(last2.offset + rec_len(last2) as u64 - 1).unwrap();
    expect_record_error(
        &dir2,
        last2,
        VerifyErrorKind::TruncatedRecord { needed: rec_len(last2) as u64, available: rec_len(last2) as u64 - 1 },
    );
}

#[test]
fn deleted_middle_segment_is_reported() {
    let (_t, dir, _recs) = fixture();
    fs::remove_file(seg(&dir, 2)).unwrap();
    let e = verify(&dir).unwrap_err();
    assert_eq!(e.location, Location::Segment { index: 2 });
    assert_eq!(e.kind, VerifyErrorKind::MissingSegment);
    assert!(e.to_string().contains("segment 00000002.bhj: segment file missing"), "{e}");

    // Renaming the later segments down to close the gap is caught too.
    let mut i = 3;
    while seg(&dir, i).exists() {
        fs::rename(seg(&dir, i), seg(&dir, i - 1)).unwrap();
        i += 1;
    }
    let e = verify(&dir).unwrap_err();
    assert_eq!(e.location, Location::SegmentHeader { index: 2 });
    assert_eq!(e.kind, VerifyErrorKind::SegmentIndexMismatch { found: 3 });
}

#[test]
fn swapped_segment_files_are_found() {
    let (_t, dir, _recs) = fixture();
    let tmp = dir.join("tmp");
    fs::rename(seg(&dir, 1), &tmp).unwrap();
    fs::rename(seg(&dir, 2), seg(&dir, 1)).unwrap();
    fs::rename(&tmp, seg(&dir, 2)).unwrap();
    let e = verify(&dir).unwrap_err();
    assert_eq!(e.location, Location::SegmentHeader { index: 1 });
    assert_eq!(e.kind, VerifyErrorKind::SegmentIndexMismatch { found: 2 });
    assert_eq!(e.offset(), Some(0));
}

#[test]
fn middle_segment_truncated_at_a_record_boundary_is_found_where_records_are_missing() {
    let (_t, dir, recs) = fixture();
    // Cut segment 2 cleanly just before its middle record: what is left of
    // it verifies on its own; the records after the cut are gone.
    let r = middle_record(&recs);
    let last_in_seg = recs.iter().rfind(|x| x.segment == 2).unwrap();
    fs::OpenOptions::new().write(true).open(seg(&dir, 2)).unwrap().set_len(r.offset).unwrap();
    let e = expect_record_error(&dir, r, VerifyErrorKind::SegmentCutShort { next_first_seq: last_in_seg.seq + 1 });
    assert!(
        e.to_string()
            .contains(&format!("segment 00000002.bhj record #{} at byte {}: segment ends early", r.seq, r.offset)),
        "{e}"
    );
    // The reader yields exactly the records before the cut, then the error.
    let got: Vec<_> = JournalReader::open(&dir).unwrap().collect();
    assert_eq!(got.iter().filter(|x| x.is_ok()).count() as u64, r.seq);
    assert!(got.last().unwrap().is_err());
    // Not a torn tail: recovery refuses to "repair" it.
    assert!(matches!(JournalWriter::open_append(&dir, params(2048)), Err(JournalError::Corrupt(_))));

    // Cut down to the bare header: the first record of the segment is named.
    let (_t2, dir2, recs2) = fixture();
    let first = recs2.iter().find(|x| x.segment == 3).unwrap();
    let last = recs2.iter().rfind(|x| x.segment == 3).unwrap();
    fs::OpenOptions::new().write(true).open(seg(&dir2, 3)).unwrap().set_len(SEGMENT_HEADER_LEN as u64).unwrap();
    expect_record_error(&dir2, first, VerifyErrorKind::SegmentCutShort { next_first_seq: last.seq + 1 });
}

/// Rewrite a segment header field and recompute the header checksum (a deliberate forger).
fn forge_header(p: &Path, edit: impl FnOnce(&mut [u8])) {
    let mut b = fs::read(p).unwrap();
    edit(&mut b[..SEGMENT_HEADER_LEN]);
    let sum = *blake3::hash(&b[..72]).as_bytes();
    b[72..104].copy_from_slice(&sum);
    fs::write(p, b).unwrap();
}

#[test]
fn segment_header_tampering() {
    let (_t, dir, recs) = fixture();
    let p = seg(&dir, 3);
    let orig = fs::read(&p).unwrap();

    flip(&p, 17); // segment_bytes, not re-checksummed
    let e = verify(&dir).unwrap_err();
    assert_eq!(
        (e.location.clone(), e.kind.clone()),
        (Location::SegmentHeader { index: 3 }, VerifyErrorKind::HeaderChecksum)
    );
    fs::write(&p, &orig).unwrap();

    flip(&p, 0);
    assert!(matches!(verify(&dir).unwrap_err().kind, VerifyErrorKind::BadMagic { .. }));
    fs::write(&p, &orig).unwrap();

    forge_header(&p, |h| h[45] ^= 1); // prev_hash
    let e = verify(&dir).unwrap_err();
    assert_eq!(
        (e.location.clone(), e.kind.clone()),
        (Location::SegmentHeader { index: 3 }, VerifyErrorKind::SegmentChainBroken)
    );
    fs::write(&p, &orig).unwrap();

    let first = recs.iter().find(|r| r.segment == 3).unwrap().seq;
    forge_header(&p, |h| h[32..40].copy_from_slice(&(first + 1).to_le_bytes()));
    let e = verify(&dir).unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::SegmentSeqMismatch { found: first + 1 });
    fs::write(&p, &orig).unwrap();

    fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(50).unwrap();
    let e = verify(&dir).unwrap_err();
    assert_eq!(
        (e.location, e.kind),
        (Location::SegmentHeader { index: 3 }, VerifyErrorKind::TruncatedHeader { len: 50 })
    );
    fs::write(&p, &orig).unwrap();
    verify(&dir).unwrap();
}

#[test]
fn reader_yields_good_prefix_then_error_then_ends() {
    let (_t, dir, recs) = fixture();
    let r = middle_record(&recs);
    flip(&seg(&dir, r.segment), r.offset + (RECORD_HEADER_LEN + r.payload.len()) as u64);
    let mut rd = JournalReader::open(&dir).unwrap();
    for want in &recs[..r.seq as usize] {
        assert_eq!(&rd.next().unwrap().unwrap(), want);
    }
    match rd.next() {
        Some(Err(JournalError::Corrupt(e))) => assert_eq!(e.seq(), Some(r.seq)),
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(rd.next().is_none());
    assert!(rd.next().is_none());
}

#[test]
fn create_refuses_existing_journal() {
    let (_t, dir, _recs) = fixture();
    match JournalWriter::create(&dir, params(4096)) {
        Err(e @ JournalError::AlreadyExists { .. }) => {
            assert!(e.to_string().contains("00000000.bhj"), "{e}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("create over an existing journal must fail"),
    }
    verify(&dir).unwrap();
}

#[test]
fn create_tolerates_unrelated_files_and_verify_ignores_them() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("README"), "x").unwrap();
    let mut w = JournalWriter::create(tmp.path(), params(1024)).unwrap();
    w.append(1, 2, b"abc").unwrap();
    w.finish().unwrap();
    verify(tmp.path()).unwrap();
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mut w = JournalWriter::create(&dir, params(1 << 30)).unwrap();
    let big = vec![0u8; MAX_PAYLOAD + 1];
    assert!(matches!(w.append(0, 0, &big), Err(JournalError::PayloadTooLarge { .. })));
    assert_eq!(w.append(0, 0, &big[..MAX_PAYLOAD]).unwrap(), 0);
    w.finish().unwrap();
    assert_eq!(read_all(&dir)[0].payload.len(), MAX_PAYLOAD);

    assert!(matches!(
        JournalWriter::create(
            &tmp.path().join("k"),
            JournalParams { fsync: FsyncPolicy::EveryN(0), segment_bytes: 10, ..JournalParams::default() }
        ),
        Err(JournalError::InvalidParams(_))
    ));
    assert!(matches!(JournalWriter::create(&tmp.path().join("k"), params(0)), Err(JournalError::InvalidParams(_))));

    let e = verify(&tmp.path().join("nope")).unwrap_err();
    assert!(matches!(e.kind, VerifyErrorKind::Io { .. }), "{e}");
    assert!(matches!(JournalReader::open(&tmp.path().join("nope")), Err(JournalError::Io { .. })));
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert_eq!(verify(&empty).unwrap_err().kind, VerifyErrorKind::NoSegments);

    // Garbage segment file.
    let g = tmp.path().join("garbage");
    fs::create_dir(&g).unwrap();
    fs::write(seg(&g, 0), vec![0xAB; 1000]).unwrap();
    assert!(matches!(verify(&g).unwrap_err().kind, VerifyErrorKind::BadMagic { .. }));
}

#[test]
fn oversized_record_gets_its_own_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::create(tmp.path(), params(300)).unwrap();
    w.append(1, 1, &[1; 10]).unwrap();
    w.append(1, 2, &[2; 1000]).unwrap();
    w.append(1, 3, &[3; 10]).unwrap();
    let s = w.finish().unwrap();
    assert_eq!(s.segments, 3);
    let recs = read_all(tmp.path());
    assert_eq!(recs.iter().map(|r| r.segment).collect::<Vec<_>>(), [0, 1, 2]);
    verify(tmp.path()).unwrap();
}

#[test]
fn fsync_policies_round_trip() {
    for fsync in
        [FsyncPolicy::Always, FsyncPolicy::EveryN(3), FsyncPolicy::Group { records: 4, millis: 7 }, FsyncPolicy::Never]
    {
        let tmp = tempfile::tempdir().unwrap();
        let mut w =
            JournalWriter::create(tmp.path(), JournalParams { fsync, segment_bytes: 512, ..JournalParams::default() })
                .unwrap();
        for i in 0..20u64 {
            w.append(3, i, &payload_for(i)).unwrap();
        }
        w.flush().unwrap();
        let s = w.finish().unwrap();
        assert_eq!(verify(tmp.path()).unwrap().last_hash, s.last_hash);
        let b = fs::read(seg(tmp.path(), 1)).unwrap();
        let code = u16::from_le_bytes([b[24], b[25]]);
        assert_eq!(
            code,
            match fsync {
                FsyncPolicy::Never => 0,
                FsyncPolicy::Always => 1,
                FsyncPolicy::EveryN(_) => 2,
                FsyncPolicy::Group { .. } => 3,
            }
        );
        let millis = u16::from_le_bytes([b[26], b[27]]);
        assert_eq!(millis, if let FsyncPolicy::Group { millis, .. } = fsync { millis } else { 0 });
    }
}

/// Group commit fsyncs on the syncer thread: wait (bounded) until records
/// below `seq` are durable.
fn wait_durable(w: &JournalWriter, seq: u64) {
    let t = std::time::Instant::now();
    while w.durable_seq() < seq {
        assert!(t.elapsed().as_secs() < 30, "durable seq stuck at {} (want {seq})", w.durable_seq());
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(w.durable_seq(), seq, "durable past what was written");
}

/// The appending thread does not wait for the disk under group commit:
/// many groups are requested while fsyncs run, the syncer coalesces them
/// (at most one fsync per group) and the durable prefix never runs more than
/// `MAX_GROUPS_IN_FLIGHT` groups behind what was appended.
#[test]
fn group_commit_runs_fsyncs_off_the_appending_thread_within_the_lag_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let fsync = FsyncPolicy::Group { records: 4, millis: 60_000 };
    let mut w =
        JournalWriter::create(tmp.path(), JournalParams { fsync, segment_bytes: 1 << 30, ..JournalParams::default() })
            .unwrap();
    let n = 200_000u64;
    let mut worst_lag = 0;
    for i in 0..n {
        w.append(1, i, &payload_for(i)).unwrap();
        worst_lag = worst_lag.max(w.next_seq() - w.durable_seq());
    }
    let bound = (4 * bulkhead_journal::MAX_GROUPS_IN_FLIGHT).max(bulkhead_journal::MIN_RECORDS_IN_FLIGHT) + 4;
    assert!(worst_lag <= bound, "durable prefix {worst_lag} records behind, bound {bound}");
    w.sync().unwrap();
    assert_eq!(w.durable_seq(), n);
    let fsyncs = w.fsync_stats().count;
    // One fsync per group at most (fewer when they coalesce behind a slow disk).
    assert!(fsyncs > 0 && fsyncs <= n / 4 + 1, "{fsyncs} fsyncs for {} groups", n / 4);
    w.finish().unwrap();
    assert_eq!(verify(tmp.path()).unwrap().records, n);
}

#[test]
fn group_commit_tracks_what_is_durable() {
    let tmp = tempfile::tempdir().unwrap();
    // A group so large it never fills: only explicit syncs make records durable.
    let fsync = FsyncPolicy::Group { records: 1000, millis: 60_000 };
    let mut w =
        JournalWriter::create(tmp.path(), JournalParams { fsync, segment_bytes: 1 << 20, ..JournalParams::default() })
            .unwrap();
    for i in 0..10u64 {
        w.append(1, i, &payload_for(i)).unwrap();
    }
    assert_eq!(w.durable_seq(), 0, "nothing fsynced yet");
    let before = w.fsync_stats().count;
    w.sync().unwrap();
    assert_eq!(w.durable_seq(), 10);
    assert_eq!(w.fsync_stats().count, before + 1);
    w.sync().unwrap();
    assert_eq!(w.fsync_stats().count, before + 1, "nothing pending: no fsync");
    // The record bound: the 1000th pending append triggers a group commit.
    for i in 10..1010u64 {
        w.append(1, i, b"x").unwrap();
    }
    // Committed off the appending thread (the syncer): durable soon, not at once.
    wait_durable(&w, 1010);
    // The time bound (1 ms): an append after the deadline commits the group.
    let tmp2 = tempfile::tempdir().unwrap();
    let fsync = FsyncPolicy::Group { records: 1_000_000, millis: 1 };
    let mut w2 =
        JournalWriter::create(tmp2.path(), JournalParams { fsync, segment_bytes: 1 << 20, ..JournalParams::default() })
            .unwrap();
    w2.append(1, 0, b"a").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    w2.append(1, 1, b"b").unwrap();
    wait_durable(&w2, 2);
    w2.finish().unwrap();
    w.finish().unwrap();
    assert!(
        JournalWriter::create(
            &tmp.path().join("bad"),
            JournalParams {
                fsync: FsyncPolicy::Group { records: 0, millis: 5 },
                segment_bytes: 1 << 20,
                ..JournalParams::default()
            }
        )
        .is_err()
    );
}

#[test]
fn tick_enforces_the_group_time_bound_while_nothing_is_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let fsync = FsyncPolicy::Group { records: 1_000_000, millis: 5 };
    let mut w =
        JournalWriter::create(tmp.path(), JournalParams { fsync, segment_bytes: 1 << 20, ..JournalParams::default() })
            .unwrap();
    assert!(!w.tick().unwrap(), "nothing pending");
    w.append(1, 0, b"a").unwrap();
    w.append(1, 1, b"b").unwrap();
    assert!(!w.tick().unwrap(), "younger than the bound");
    assert_eq!(w.durable_seq(), 0);
    std::thread::sleep(std::time::Duration::from_millis(10));
    let before = w.fsync_stats().count;
    assert!(w.tick().unwrap(), "past the bound: committed without another append");
    wait_durable(&w, 2);
    assert_eq!(w.fsync_stats().count, before + 1);
    assert!(!w.tick().unwrap(), "nothing pending again");
    w.finish().unwrap();
    // Other policies have no time bound: tick never syncs.
    let tmp2 = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::create(
        tmp2.path(),
        JournalParams { fsync: FsyncPolicy::EveryN(100), segment_bytes: 1 << 20, ..JournalParams::default() },
    )
    .unwrap();
    w.append(1, 0, b"a").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert!(!w.tick().unwrap());
    assert_eq!(w.durable_seq(), 0);
}

#[test]
fn blobs_are_content_addressed_beside_the_segments_and_checked_on_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let fsync = FsyncPolicy::Group { records: 10, millis: 5 };
    let mut w =
        JournalWriter::create(&dir, JournalParams { fsync, segment_bytes: 1 << 20, ..JournalParams::default() })
            .unwrap();
    let bytes = b"\0asm module bytes".to_vec();
    let h = w.store_blob(&bytes).unwrap();
    assert_eq!(&h, blake3::hash(&bytes).as_bytes());
    assert_eq!(w.store_blob(&bytes).unwrap(), h, "idempotent");
    w.append(1, 0, &h).unwrap();
    w.finish().unwrap();
    assert_eq!(read_blob(&dir, &h).unwrap().as_deref(), Some(&bytes[..]));
    assert_eq!(read_blob(&dir, &[7; 32]).unwrap(), None);
    // Blobs are not segments: verify and append ignore them.
    assert_eq!(verify(&dir).unwrap().records, 1);
    JournalWriter::open_append(&dir, params(1 << 20)).unwrap();
    // An altered blob is refused, not believed.
    let path = dir.join(BLOB_DIR).join(blake3::Hash::from(h).to_hex().as_str());
    fs::write(&path, b"other bytes").unwrap();
    assert!(matches!(read_blob(&dir, &h), Err(JournalError::BlobCorrupt { .. })));
}

#[test]
fn flush_makes_records_visible_to_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::create(tmp.path(), params(1 << 20)).unwrap();
    w.append(1, 1, b"a").unwrap();
    w.flush().unwrap();
    assert_eq!(verify(tmp.path()).unwrap().records, 1);
    assert_eq!(verify(tmp.path()).unwrap().last_hash, w.last_hash());
    w.finish().unwrap();
}

// ---- open_append / recovery ----

#[test]
fn open_append_continues_a_clean_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (_, s1) = write_journal(&dir, 100, 1024);
    let (mut w, rep) = JournalWriter::open_append(&dir, params(1024)).unwrap();
    assert_eq!((rep.records, rep.dropped_bytes, rep.torn_tail.clone()), (100, 0, None));
    assert_eq!((rep.last_hash, rep.next_seq), (s1.last_hash, 100));
    assert_eq!(w.next_seq(), 100);
    for i in 100..250 {
        assert_eq!(w.append(1, i, &payload_for(i)).unwrap(), i);
    }
    let s2 = w.finish().unwrap();
    let v = verify(&dir).unwrap();
    assert_eq!((v.records, v.last_hash, v.segments, v.bytes), (250, s2.last_hash, s2.segments, s2.bytes));
    let recs = read_all(&dir);
    assert!(recs.iter().enumerate().all(|(i, r)| r.seq == i as u64 && r.payload == payload_for(i as u64)));
}

#[test]
fn open_append_truncates_torn_tail() {
    let (_t, dir, recs) = fixture();
    let last = recs.last().unwrap();
    let p = seg(&dir, last.segment);
    let full = fs::metadata(&p).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(last.offset + 30).unwrap();
    drop(f);
    let (mut w, rep) = JournalWriter::open_append(&dir, params(2048)).unwrap();
    assert_eq!(rep.dropped_bytes, 30);
    assert_eq!(rep.records, last.seq);
    assert_eq!(rep.next_seq, last.seq);
    // Kept: everything before the cut; the last segment's block (sealed only
    // at the end) is now an unsealed tail that the writer continues.
    let in_last = recs.iter().filter(|r| r.segment == last.segment).count() as u64;
    assert_eq!(rep.unsealed_records, in_last - 1);
    assert_eq!(rep.last_hash, verify(&dir).unwrap().last_hash);
    let torn = rep.torn_tail.unwrap();
    assert_eq!(torn.seq(), Some(last.seq));
    assert!(matches!(torn.kind, VerifyErrorKind::TruncatedRecord { .. }));
    assert_eq!(fs::metadata(&p).unwrap().len(), last.offset);
    assert!(full > last.offset);
    // Re-append the lost record and more; the chain continues.
    for i in last.seq..last.seq + 50 {
        assert_eq!(w.append(9, i, &payload_for(i)).unwrap(), i);
    }
    let s = w.finish().unwrap();
    let v = verify(&dir).unwrap();
    assert_eq!((v.records, v.last_hash), (last.seq + 50, s.last_hash));
}

#[test]
fn open_append_truncates_zero_filled_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    write_journal(&dir, 10, 1 << 20);
    let p = seg(&dir, 0);
    let len = fs::metadata(&p).unwrap().len();
    fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len + 4096).unwrap();
    assert_eq!(verify(&dir).unwrap_err().kind, VerifyErrorKind::SequenceMismatch { found: 0 });
    let (w, rep) = JournalWriter::open_append(&dir, params(1 << 20)).unwrap();
    assert_eq!((rep.records, rep.dropped_bytes), (10, 4096));
    w.finish().unwrap();
    assert_eq!(verify(&dir).unwrap().records, 10);
}

#[test]
fn open_append_drops_last_record_with_torn_middle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    // A crashed writer: no closing seal after the last record.
    let mut w = JournalWriter::create(&dir, params(1 << 20)).unwrap();
    for i in 0..10 {
        w.append(1, i, &payload_for(i + 3)).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    assert_eq!(verify(&dir).unwrap().unsealed_records, 10);
    let recs = read_all(&dir);
    let last = recs.last().unwrap();
    flip(&seg(&dir, 0), last.offset + RECORD_HEADER_LEN as u64);
    let (_w, rep) = JournalWriter::open_append(&dir, params(1 << 20)).unwrap();
    assert_eq!((rep.records, rep.dropped_bytes), (9, rec_len(last) as u64));
    assert_eq!(rep.torn_tail.unwrap().kind, VerifyErrorKind::LinkMismatch);
}

#[test]
fn open_append_rewrites_torn_segment_header() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (_, s) = write_journal(&dir, 50, 1024);
    let next = s.segments;
    fs::write(seg(&dir, next), b"BHJRNL02\x02\x00").unwrap(); // crash while starting a segment
    let e = verify(&dir).unwrap_err();
    assert_eq!(e.location, Location::SegmentHeader { index: next });
    let (mut w, rep) = JournalWriter::open_append(&dir, params(1024)).unwrap();
    assert_eq!((rep.records, rep.dropped_bytes, rep.segments), (50, 10, next + 1));
    w.append(1, 1, b"after").unwrap();
    let s2 = w.finish().unwrap();
    let v = verify(&dir).unwrap();
    assert_eq!((v.records, v.segments, v.bytes, v.last_hash), (51, s2.segments, s2.bytes, s2.last_hash));
    assert_eq!(read_all(&dir).last().unwrap().payload, b"after");
}

#[test]
fn open_append_refuses_damage_that_is_not_a_torn_tail() {
    let (_t, dir, recs) = fixture();
    // Damage in an earlier segment.
    let r = middle_record(&recs);
    flip(&seg(&dir, r.segment), r.offset + RECORD_HEADER_LEN as u64);
    let before: Vec<Vec<u8>> = seg_files(&dir).iter().map(|f| fs::read(dir.join(f)).unwrap()).collect();
    match JournalWriter::open_append(&dir, params(2048)) {
        Err(JournalError::Corrupt(e)) => assert_eq!(e.seq(), Some(r.seq)),
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("must refuse"),
    }
    let after: Vec<Vec<u8>> = seg_files(&dir).iter().map(|f| fs::read(dir.join(f)).unwrap()).collect();
    assert_eq!(before, after, "refusal must not modify anything");

    // Damage in the middle of the last segment, with good data after it.
    let (_t2, dir2, recs2) = fixture();
    let last_seg = recs2.last().unwrap().segment;
    let in_last: Vec<&Record> = recs2.iter().filter(|r| r.segment == last_seg).collect();
    assert!(in_last.len() >= 3);
    let r = in_last[0];
    flip(&seg(&dir2, last_seg), r.offset + RECORD_HEADER_LEN as u64);
    assert!(matches!(JournalWriter::open_append(&dir2, params(2048)), Err(JournalError::Corrupt(_))));
}

/// Opt-in fsync timings: one sample per fsync, bounded, counted when full;
/// bytes and segments as the summary will report them.
#[test]
fn fsync_samples_bytes_and_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let p = JournalParams { fsync: FsyncPolicy::Always, segment_bytes: 400, ..JournalParams::default() };
    let mut w = JournalWriter::create(tmp.path(), p).unwrap();
    w.append(1, 1, b"before sampling").unwrap();
    let mut got = Vec::new();
    assert_eq!(w.take_fsync_samples(&mut got), 0);
    assert!(got.is_empty(), "nothing is kept unless asked for");
    let before = w.fsync_stats().count;
    w.record_fsync_samples(3);
    for i in 0..5u64 {
        w.append(1, i, &[7; 100]).unwrap();
    }
    let dropped = w.take_fsync_samples(&mut got);
    assert_eq!(got.len() as u64 + dropped, w.fsync_stats().count - before, "every fsync from then on");
    assert_eq!(got.len(), 3, "at most the cap is kept");
    assert!(dropped >= 2);
    assert!(got.iter().all(|&ns| ns <= w.fsync_stats().max_ns));
    got.clear();
    assert_eq!(w.take_fsync_samples(&mut got), 0);
    assert!(got.is_empty());
    let (bytes, segments) = (w.bytes(), w.segments());
    assert!(segments > 1, "400-byte segments roll");
    // finish adds the seal over the records not yet sealed.
    let closing = if w.unsealed_records() > 0 { SEAL_FRAME_LEN as u64 } else { 0 };
    let s = w.finish().unwrap();
    assert_eq!((bytes + closing, segments), (s.bytes, s.segments));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn what_is_read_is_what_was_written(
        recs in proptest::collection::vec(
            (any::<u16>(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..300)),
            0..120,
        ),
        segment_bytes in 1u64..2000,
        reopen_at in 0usize..120,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut w = JournalWriter::create(dir, params(segment_bytes)).unwrap();
        for (i, (kind, ts, p)) in recs.iter().enumerate() {
            if i == reopen_at {
                w.finish().unwrap();
                let (w2, rep) = JournalWriter::open_append(dir, params(segment_bytes)).unwrap();
                prop_assert_eq!(rep.dropped_bytes, 0);
                w = w2;
            }
            prop_assert_eq!(w.append(*kind, *ts, p).unwrap(), i as u64);
        }
        let s = w.finish().unwrap();
        let got = read_all(dir);
        prop_assert_eq!(got.len(), recs.len());
        for (r, (kind, ts, p)) in got.iter().zip(&recs) {
            prop_assert_eq!((r.kind, r.ts_ns, &r.payload), (*kind, *ts, p));
        }
        let v = verify(dir).unwrap();
        prop_assert_eq!((v.records, v.last_hash, v.segments, v.bytes), (s.records, s.last_hash, s.segments, s.bytes));
    }
}

// ---- issue 19: torn tail vs corruption, file modes ----

/// One big segment of 4 000 records; the bytes of every segment file.
fn big_segment() -> (tempfile::TempDir, PathBuf, Vec<Record>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    write_journal(&dir, 4000, 1 << 30);
    let recs = read_all(&dir);
    (tmp, dir, recs)
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    seg_files(dir).into_iter().map(|f| (f.clone(), fs::read(dir.join(&f)).unwrap())).collect()
}

fn refused(dir: &Path) -> VerifyError {
    let before = snapshot(dir);
    let e = match JournalWriter::open_append(dir, params(1 << 30)) {
        Err(JournalError::Corrupt(e)) => e,
        Err(e) => panic!("unexpected {e}"),
        Ok((_, rep)) => panic!("must refuse, cut {} bytes", rep.dropped_bytes),
    };
    assert_eq!(snapshot(dir), before, "a refused resume changes nothing");
    e
}

#[test]
fn altered_length_mid_segment_is_refused_not_cut() {
    let (_t, dir, recs) = big_segment();
    let r = &recs[2000];
    // A length that points past end of file: looks like a torn record, is not.
    let p = seg(&dir, 0);
    let mut bytes = fs::read(&p).unwrap();
    let o = r.offset as usize;
    bytes[o..o + 4].copy_from_slice(&(MAX_PAYLOAD as u32).to_le_bytes());
    fs::write(&p, &bytes).unwrap();
    let e = refused(&dir);
    assert_eq!(e.location, Location::Record { segment: 0, seq: 2000, offset: r.offset });
    assert_eq!(
        e.kind,
        VerifyErrorKind::LengthOverIntactRecords {
            len: MAX_PAYLOAD as u32,
            next_seq: 2001,
            next_offset: recs[2001].offset
        }
    );
    let msg = e.to_string();
    assert!(msg.contains("00000000.bhj") && msg.contains("#2000") && msg.contains(&r.offset.to_string()), "{msg}");
    // verify says the same.
    assert_eq!(verify(&dir).unwrap_err(), e);
    assert!(torn_tail(&dir, &e).unwrap().is_none());
}

#[test]
fn altered_payload_mid_segment_is_refused() {
    let (_t, dir, recs) = big_segment();
    let r = &recs[1234];
    flip(&seg(&dir, 0), r.offset + RECORD_HEADER_LEN as u64 + 1);
    let e = refused(&dir);
    assert_eq!((e.segment(), e.seq(), e.offset()), (Some(0), Some(1234), Some(r.offset)));
    assert_eq!(e.kind, VerifyErrorKind::LinkMismatch);
}

#[test]
fn torn_last_record_is_cut_and_the_rest_kept() {
    let (_t, dir, recs) = big_segment();
    let last = recs.last().unwrap();
    let p = seg(&dir, 0);
    // The last record ends where the closing seal begins; cut inside the record.
    let len = last.offset + (RECORD_OVERHEAD + last.payload.len()) as u64;
    assert_eq!(fs::metadata(&p).unwrap().len(), len + SEAL_FRAME_LEN as u64);
    fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len - 5).unwrap();
    let e = verify(&dir).unwrap_err();
    let t = torn_tail(&dir, &e).unwrap().expect("a torn tail");
    assert_eq!((t.segment, t.offset, t.bytes), (0, last.offset, len - 5 - last.offset));
    let (w, rep) = JournalWriter::open_append(&dir, params(1 << 30)).unwrap();
    assert_eq!((rep.records, rep.dropped_bytes), (3999, len - 5 - last.offset));
    w.finish().unwrap();
    assert_eq!(verify(&dir).unwrap().records, 3999);
}

#[test]
fn a_torn_tail_in_an_earlier_segment_is_refused() {
    let (_t, dir, recs) = fixture();
    let first_seg_last = recs.iter().rfind(|r| r.segment == 0).unwrap();
    let p = seg(&dir, 0);
    fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(first_seg_last.offset + 30).unwrap();
    let e = refused(&dir);
    assert_eq!(e.segment(), Some(0));
}

#[cfg(unix)]
#[test]
fn journal_files_are_owner_only_unless_group_readable() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for (group_readable, dmode, fmode) in [(false, 0o700, 0o600), (true, 0o750, 0o640)] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("j");
        let p = JournalParams {
            fsync: FsyncPolicy::Always,
            segment_bytes: 300,
            group_readable,
            ..JournalParams::default()
        };
        let mut w = JournalWriter::create(&dir, p).unwrap();
        for i in 0..20 {
            w.append(1, i, &[7; 100]).unwrap();
        }
        let h = w.store_blob(b"module bytes").unwrap();
        w.finish().unwrap();
        assert_eq!(mode(&dir), dmode);
        assert_eq!(mode(&dir.join(BLOB_DIR)), dmode);
        let files: Vec<String> = seg_files(&dir).into_iter().filter(|f| f.ends_with(".bhj")).collect();
        assert!(files.len() > 2);
        for f in files {
            assert_eq!(mode(&dir.join(&f)), fmode, "{f}");
        }
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(mode(&dir.join(BLOB_DIR).join(hex)), fmode);
    }
}

/// `run.fsync` text: every accepted form round-trips through `Display`, and
/// the refusals name the text.
#[test]
fn fsync_policy_text_round_trips_and_refuses_garbage() {
    use bulkhead_journal::FsyncPolicy;
    for (text, policy) in [
        ("never", FsyncPolicy::Never),
        ("always", FsyncPolicy::Always),
        ("every:1", FsyncPolicy::EveryN(1)),
        ("every:4294967295", FsyncPolicy::EveryN(u32::MAX)),
        ("every:256:2ms", FsyncPolicy::Group { records: 256, millis: 2 }),
        ("every:1:65535ms", FsyncPolicy::Group { records: 1, millis: 65_535 }),
    ] {
        assert_eq!(text.parse::<FsyncPolicy>(), Ok(policy), "{text}");
        assert_eq!(policy.to_string(), text);
    }
    for bad in [
        "",
        "Never",
        "every:",
        "every:0",
        "every:-1",
        "every:1:0ms",
        "every:1:65536ms",
        "every:1:5",
        "every:1:ms",
        "every:4294967296",
        "every:1:2ms:3",
        " always",
    ] {
        let e = bad.parse::<FsyncPolicy>().expect_err(bad);
        assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
    }
}

// ---- issue 15 item 4: format 2, links and seals ----

/// Small seals so that a journal has many blocks per segment.
fn sealed_params(segment_bytes: u64, seal_bytes: usize) -> JournalParams {
    JournalParams { fsync: FsyncPolicy::Never, segment_bytes, seal_bytes, ..JournalParams::default() }
}

fn write_with(dir: &Path, n: u64, p: JournalParams) -> JournalSummary {
    let mut w = JournalWriter::create(dir, p).unwrap();
    for i in 0..n {
        w.append((i % 5) as u16, 1_000 + i, &payload_for(i)).unwrap();
    }
    w.finish().unwrap()
}

/// Offsets of the seal frames of one segment file (walking the frames).
fn seal_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut p = SEGMENT_HEADER_LEN;
    while p + RECORD_OVERHEAD <= bytes.len() {
        let len = u32::from_le_bytes(bytes[p..p + 4].try_into().unwrap()) as usize;
        if u16::from_le_bytes([bytes[p + 6], bytes[p + 7]]) & FLAG_SEAL != 0 {
            out.push(p);
        }
        p += RECORD_OVERHEAD + len;
    }
    out
}

#[test]
fn seals_are_placed_by_size_at_segment_ends_and_at_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let s = write_with(&dir, 2000, sealed_params(16 * 1024, 1024));
    assert!(s.segments > 3);
    let mut all = 0;
    for i in 0..s.segments {
        let b = fs::read(seg(&dir, i)).unwrap();
        let seals = seal_offsets(&b);
        all += seals.len();
        // Every segment ends with a seal; no block spans segments.
        assert_eq!(*seals.last().unwrap() + SEAL_FRAME_LEN, b.len(), "segment {i}");
        // Each block but a segment's last reaches the size bound, and none is much over it.
        let mut start = SEGMENT_HEADER_LEN;
        for (k, &o) in seals.iter().enumerate() {
            let block = o - start;
            assert!(block <= 1024 + RECORD_OVERHEAD + 97, "block of {block} bytes");
            if k + 1 < seals.len() {
                assert!(block >= 1024, "block of {block} bytes sealed early");
            }
            start = o + SEAL_FRAME_LEN;
        }
        assert!(b.len() as u64 <= 16 * 1024);
    }
    assert!(all > 2 * s.segments as usize, "several seals per segment");
    let v = verify(&dir).unwrap();
    assert_eq!((v.records, v.unsealed_records, v.last_hash, v.bytes), (2000, 0, s.last_hash, s.bytes));
    // verify_with sees every seal, with the last record it covers.
    let mut seen = Vec::new();
    verify_with(&dir, &mut |seq, h| seen.push((seq, *h))).unwrap();
    assert_eq!(seen.len(), all);
    assert_eq!(seen.last().unwrap(), &(1999, s.last_hash));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
}

/// The same records give the same bytes whatever the fsync policy: seals
/// never follow sync points.
#[test]
fn seals_do_not_depend_on_the_fsync_policy() {
    let mut images = Vec::new();
    for fsync in [FsyncPolicy::Never, FsyncPolicy::Always, FsyncPolicy::EveryN(7)] {
        let tmp = tempfile::tempdir().unwrap();
        let p = JournalParams { fsync, segment_bytes: 8192, seal_bytes: 700, ..JournalParams::default() };
        let mut w = JournalWriter::create(tmp.path(), p).unwrap();
        for i in 0..300u64 {
            w.append(2, i, &payload_for(i)).unwrap();
            if i % 13 == 0 {
                w.sync().unwrap();
            }
        }
        w.finish().unwrap();
        let mut img: Vec<Vec<u8>> =
            seg_files(tmp.path()).iter().map(|f| fs::read(tmp.path().join(f)).unwrap()).collect();
        // Header bytes 24..32 and the checksum name the policy; compare the frames.
        for b in &mut img {
            b.drain(..SEGMENT_HEADER_LEN);
        }
        images.push(img);
    }
    assert_eq!(images[0], images[1]);
    assert_eq!(images[0], images[2]);
}

/// Edit a record and recompute every link after it (a forger who knows the
/// format): the links all match, the block's seal does not.
#[test]
fn an_edit_with_recomputed_links_is_caught_by_the_seal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    write_with(&dir, 600, sealed_params(1 << 20, 2048));
    let recs = read_all(&dir);
    let p = seg(&dir, 0);
    let mut b = fs::read(&p).unwrap();
    let seals = seal_offsets(&b);
    let target = recs.iter().find(|r| r.seq > 300 && r.payload.len() > 4).unwrap();
    let t = target.offset as usize;
    b[t + RECORD_HEADER_LEN + 2] ^= 0x01;
    // Recompute every link from the target on (records and seals).
    let mut prev = u64::from_le_bytes(b[t - LINK_LEN..t].try_into().unwrap());
    let mut q = t;
    while q < b.len() {
        let len = u32::from_le_bytes(b[q..q + 4].try_into().unwrap()) as usize;
        let end = q + RECORD_HEADER_LEN + len;
        prev = frame_link(prev, &b[q..end]);
        b[end..end + LINK_LEN].copy_from_slice(&prev.to_le_bytes());
        q = end + LINK_LEN;
    }
    fs::write(&p, &b).unwrap();
    // The block holding the target: from the seal before it to the seal after it.
    let seal_at = *seals.iter().find(|&&o| o > t).unwrap();
    let block_start = seals.iter().rev().find(|&&o| o < t).map_or(SEGMENT_HEADER_LEN, |&o| o + SEAL_FRAME_LEN);
    let first = recs.iter().find(|r| r.offset as usize == block_start).unwrap();
    let last = recs.iter().rfind(|r| (r.offset as usize) < seal_at).unwrap();
    let e = verify(&dir).unwrap_err();
    assert_eq!(e.location, Location::Record { segment: 0, seq: first.seq, offset: block_start as u64 }, "{e}");
    assert_eq!(
        e.kind,
        VerifyErrorKind::SealMismatch { first_seq: first.seq, last_seq: last.seq, seal_offset: seal_at as u64 }
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("records #{}..=#{} were altered and their links recomputed", first.seq, last.seq)),
        "{msg}"
    );
    // Not a torn tail: resume refuses it.
    assert!(torn_tail(&dir, &e).unwrap().is_none());
    assert!(matches!(JournalWriter::open_append(&dir, sealed_params(1 << 20, 2048)), Err(JournalError::Corrupt(_))));
}

/// A crashed writer leaves an unsealed tail: verify reports it (not an
/// error), and resuming continues the block so the result is byte for byte
/// what an uninterrupted writer would have written.
#[test]
fn resume_continues_the_unsealed_block() {
    let p = sealed_params(8192, 1500);
    let straight = tempfile::tempdir().unwrap();
    write_with(straight.path(), 500, p);
    for stop in [1u64, 17, 123, 250, 499] {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::create(tmp.path(), p).unwrap();
        for i in 0..stop {
            w.append((i % 5) as u16, 1_000 + i, &payload_for(i)).unwrap();
        }
        let unsealed = w.unsealed_records();
        drop(w); // no finish: no closing seal, as after a crash
        let v = verify(tmp.path()).unwrap();
        assert_eq!((v.records, v.unsealed_records), (stop, unsealed));
        let (mut w, rep) = JournalWriter::open_append(tmp.path(), p).unwrap();
        assert_eq!((rep.records, rep.unsealed_records, rep.dropped_bytes), (stop, unsealed, 0));
        for i in stop..500 {
            w.append((i % 5) as u16, 1_000 + i, &payload_for(i)).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(snapshot(tmp.path()), snapshot(straight.path()), "stopped after {stop}");
    }
}

#[test]
fn a_segment_that_lost_its_closing_seal_is_named() {
    let (_t, dir, recs) = fixture();
    let p = seg(&dir, 1);
    let len = fs::metadata(&p).unwrap().len();
    fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len - SEAL_FRAME_LEN as u64).unwrap();
    let first = recs.iter().find(|r| r.segment == 1).unwrap();
    let last = recs.iter().rfind(|r| r.segment == 1).unwrap();
    let e = verify(&dir).unwrap_err();
    assert_eq!(e.location, Location::Record { segment: 1, seq: last.seq + 1, offset: len - SEAL_FRAME_LEN as u64 });
    assert_eq!(e.kind, VerifyErrorKind::UnsealedSegmentEnd { first_seq: first.seq, last_seq: last.seq });
}

#[test]
fn format_version_1_is_refused_clearly() {
    let (_t, dir, _recs) = fixture();
    forge_header(&seg(&dir, 0), |h| {
        h[0..8].copy_from_slice(b"BHJRNL01");
        h[8..10].copy_from_slice(&1u16.to_le_bytes());
    });
    let e = verify(&dir).unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::OldFormatVersion { found: 1 });
    assert!(e.to_string().contains("format version 1 journal: written by an older bulkhead"), "{e}");
    assert!(matches!(JournalWriter::open_append(&dir, params(2048)), Err(JournalError::Corrupt(_))));
}

#[test]
fn seal_bytes_is_validated() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [0, MAX_PAYLOAD + 1] {
        let p = JournalParams { seal_bytes: bad, ..JournalParams::default() };
        assert!(matches!(JournalWriter::create(&tmp.path().join("x"), p), Err(JournalError::InvalidParams(_))));
    }
    assert_eq!(JournalParams::default().seal_bytes, DEFAULT_SEAL_BYTES);
    // One record per block is allowed.
    let s = write_with(&tmp.path().join("y"), 20, sealed_params(1 << 20, 1));
    let b = fs::read(seg(&tmp.path().join("y"), 0)).unwrap();
    assert_eq!(seal_offsets(&b).len(), 20);
    assert_eq!(verify(&tmp.path().join("y")).unwrap().last_hash, s.last_hash);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any single flipped byte anywhere in any segment file is detected.
    #[test]
    fn any_single_byte_flip_is_detected(at in any::<prop::sample::Index>(), bit in 0u8..8, seal_bytes in 1usize..3000) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_with(dir, 120, sealed_params(2048, seal_bytes));
        let files = seg_files(dir);
        let total: usize = files.iter().map(|f| fs::metadata(dir.join(f)).unwrap().len() as usize).sum();
        let mut k = at.index(total);
        for f in &files {
            let path = dir.join(f);
            let n = fs::metadata(&path).unwrap().len() as usize;
            if k < n {
                let mut b = fs::read(&path).unwrap();
                b[k] ^= 1 << bit;
                fs::write(&path, b).unwrap();
                break;
            }
            k -= n;
        }
        prop_assert!(verify(dir).is_err());
    }
}

/// Recompute every link from the frame at `from` to the end of `b`.
fn relink_from(b: &mut [u8], from: usize) {
    let mut prev = u64::from_le_bytes(b[from - LINK_LEN..from].try_into().unwrap());
    let mut q = from;
    while q < b.len() {
        let len = u32::from_le_bytes(b[q..q + 4].try_into().unwrap()) as usize;
        let end = q + RECORD_HEADER_LEN + len;
        prev = frame_link(prev, &b[q..end]);
        b[end..end + LINK_LEN].copy_from_slice(&prev.to_le_bytes());
        q = end + LINK_LEN;
    }
}

/// The first error the serial reader (seals checked in place) reports.
fn serial_error(dir: &Path) -> VerifyError {
    match JournalReader::open(dir).unwrap().find_map(Result::err) {
        Some(JournalError::Corrupt(e)) => e,
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// A segment well over the 4 MiB read size (blocks carried across reads)
/// and over `SPLIT_MIN_BYTES` (`verify` splits it between two threads at a
/// seal near the middle): `verify` and the single-pass reader report
/// exactly the same first failure: a forged block before a flipped byte, a
/// flipped byte before a forged block, damage at the split seal itself.
#[test]
fn first_failure_is_exact_across_read_buffers_and_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let p = JournalParams { fsync: FsyncPolicy::Never, segment_bytes: 1 << 30, ..JournalParams::default() };
    let mut w = JournalWriter::create(&dir, p).unwrap();
    for i in 0..95_000u64 {
        w.append(1, i, &[(i % 251) as u8; 180]).unwrap();
    }
    let s = w.finish().unwrap();
    assert!(s.bytes > SPLIT_MIN_BYTES);
    let v = verify(&dir).unwrap();
    assert_eq!(
        v,
        VerifyReport { records: 95_000, segments: 1, bytes: s.bytes, last_hash: s.last_hash, unsealed_records: 0 }
    );
    let mut seals = Vec::new();
    verify_with(&dir, &mut |q, h| seals.push((q, *h))).unwrap();
    let clean_seals = seal_offsets(&fs::read(seg(&dir, 0)).unwrap());
    assert_eq!(seals.len(), clean_seals.len());
    assert!(seals.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(seals.last().unwrap(), &(94_999, s.last_hash));
    let recs = read_all(&dir);
    let path = seg(&dir, 0);
    let clean = fs::read(&path).unwrap();

    // A forged record deep in the file (links recomputed): the seal catches it.
    // Damage at the seal near the middle (where verify splits): reported as one pass does.
    let mid = clean_seals.iter().copied().find(|&o| o as u64 >= s.bytes / 2).unwrap();
    for at in [mid + 3, mid + RECORD_HEADER_LEN + 5, mid + SEAL_FRAME_LEN - 1, mid + SEAL_FRAME_LEN + 2] {
        let mut b = clean.clone();
        b[at] ^= 0x04;
        fs::write(&path, &b).unwrap();
        assert_eq!(verify(&dir).unwrap_err(), serial_error(&dir), "flip at {at} (split seal at {mid})");
    }
    let forged_at = recs[62_000].offset as usize;
    let mut b = clean.clone();
    b[forged_at + RECORD_HEADER_LEN + 7] ^= 0x10;
    relink_from(&mut b, forged_at);
    fs::write(&path, &b).unwrap();
    let e = verify(&dir).unwrap_err();
    assert!(
        matches!(e.kind, VerifyErrorKind::SealMismatch { first_seq, last_seq, .. } if first_seq <= 62_000 && 62_000 <= last_seq),
        "{e}"
    );
    assert_eq!(e, serial_error(&dir));

    // ...and also a plain flipped byte after it: the earlier seal mismatch is still first.
    let later = recs[86_000].offset as usize;
    b[later + RECORD_HEADER_LEN + 1] ^= 0x01;
    fs::write(&path, &b).unwrap();
    let e2 = verify(&dir).unwrap_err();
    assert_eq!(e2, e);
    assert_eq!(e2, serial_error(&dir));

    // A plain flipped byte before the forged block is first instead.
    let earlier = recs[20_000].offset as usize;
    b[earlier + RECORD_HEADER_LEN + 1] ^= 0x01;
    fs::write(&path, &b).unwrap();
    let e3 = verify(&dir).unwrap_err();
    assert_eq!(
        (e3.kind.clone(), e3.seq(), e3.offset()),
        (VerifyErrorKind::LinkMismatch, Some(20_000), Some(recs[20_000].offset))
    );
    assert_eq!(e3, serial_error(&dir));
}

/// The two-thread verify over many segments: the split lands inside a
/// later segment; totals, seals and first failures are a single pass's.
#[test]
fn split_verify_over_many_segments_matches_a_single_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let p = JournalParams { fsync: FsyncPolicy::Never, segment_bytes: 3 << 20, ..JournalParams::default() };
    let mut w = JournalWriter::create(&dir, p).unwrap();
    for i in 0..95_000u64 {
        w.append(1, i, &payload_for(i % 1000 + 100)).unwrap();
        w.append(2, i, &[(i % 251) as u8; 150]).unwrap();
    }
    let s = w.finish().unwrap();
    assert!(s.bytes > SPLIT_MIN_BYTES && s.segments > 5, "{s:?}");
    let v = verify(&dir).unwrap();
    assert_eq!((v.records, v.segments, v.bytes, v.last_hash), (s.records, s.segments, s.bytes, s.last_hash));
    let mut n = 0;
    verify_with(&dir, &mut |_, _| n += 1).unwrap();
    let all: usize = (0..s.segments).map(|i| seal_offsets(&fs::read(seg(&dir, i)).unwrap()).len()).sum();
    assert_eq!(n, all);
    let recs = read_all(&dir);
    for seq in [1_000usize, 100_000, 150_000, 189_000] {
        let r = &recs[seq];
        let path = seg(&dir, r.segment);
        let clean = fs::read(&path).unwrap();
        flip(&path, r.offset + RECORD_HEADER_LEN as u64);
        let e = verify(&dir).unwrap_err();
        assert_eq!((e.seq(), e.offset(), e.kind.clone()), (Some(r.seq), Some(r.offset), VerifyErrorKind::LinkMismatch));
        assert_eq!(e, serial_error(&dir));
        fs::write(&path, clean).unwrap();
    }
    // A whole segment after the split removed: named, as by one pass.
    fs::remove_file(seg(&dir, s.segments - 2)).unwrap();
    assert_eq!(verify(&dir).unwrap_err(), serial_error(&dir));
}

/// `close_unsealed` leaves the journal as a writer that died would: it
/// verifies, and `open_append` continues it so that the finished journal is
/// byte-identical to one written in one go (no seal where it stopped).
#[test]
fn a_journal_closed_unsealed_and_continued_equals_one_written_in_one_go() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    let p = params(64 * 1024);
    let mut w = JournalWriter::create(&whole, p).unwrap();
    for i in 0..2_000u64 {
        w.append(1 + (i % 5) as u16, i * 10, &payload_for(i)).unwrap();
    }
    w.finish().unwrap();
    let mut w = JournalWriter::create(&cut, p).unwrap();
    for i in 0..1_234u64 {
        w.append(1 + (i % 5) as u16, i * 10, &payload_for(i)).unwrap();
    }
    let s = w.close_unsealed().unwrap();
    assert_eq!(s.records, 1_234);
    assert!(verify(&cut).is_ok(), "an unsealed tail verifies");
    let (mut w, rec) = JournalWriter::open_append(&cut, p).unwrap();
    assert!(rec.unsealed_records > 0 && rec.dropped_bytes == 0, "{rec:?}");
    for i in 1_234..2_000u64 {
        w.append(1 + (i % 5) as u16, i * 10, &payload_for(i)).unwrap();
    }
    w.finish().unwrap();
    let files = seg_files(&whole);
    assert_eq!(files, seg_files(&cut));
    for f in files {
        assert!(fs::read(whole.join(&f)).unwrap() == fs::read(cut.join(&f)).unwrap(), "{f} differs");
    }
}
