//! Append throughput (64-byte payloads) per fsync policy, and verify
//! throughput. Journals are written under the target directory (a real disk,
//! not tmpfs) so that fsync costs what it costs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bulkhead_journal::{
    DEFAULT_SEAL_BYTES, FsyncPolicy, JournalParams, JournalWriter, block_seal, frame_link, genesis_hash, genesis_link,
    verify,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1));
    let payload = [0x5Au8; 64];
    for (name, fsync) in [
        ("64B_never", FsyncPolicy::Never),
        ("64B_group_256_or_2ms", FsyncPolicy::Group { records: 256, millis: 2 }),
        ("64B_every_64", FsyncPolicy::EveryN(64)),
        ("64B_always", FsyncPolicy::Always),
    ] {
        if fsync == FsyncPolicy::Always || matches!(fsync, FsyncPolicy::EveryN(_)) {
            g.sample_size(10).measurement_time(Duration::from_secs(5));
        }
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
                let params = JournalParams { fsync, segment_bytes: 256 << 20, ..JournalParams::default() };
                let mut w = JournalWriter::create(tmp.path(), params).unwrap();
                let start = Instant::now();
                for i in 0..iters {
                    black_box(w.append(1, i, black_box(&payload)).unwrap());
                }
                w.flush().unwrap();
                let t = start.elapsed();
                w.finish().unwrap();
                t
            })
        });
    }
    g.finish();
}

/// Cost per record of the chain itself (no fsync): typical engine payloads
/// of 100-200 bytes, written under `Never` so the time is encoding, hashing
/// and buffering.
fn append_typical(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_typical");
    g.throughput(Throughput::Elements(1));
    for size in [100usize, 150, 200] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        g.bench_function(format!("{size}B_never"), |b| {
            b.iter_custom(|iters| {
                let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
                let params =
                    JournalParams { fsync: FsyncPolicy::Never, segment_bytes: 256 << 20, ..JournalParams::default() };
                let mut w = JournalWriter::create(tmp.path(), params).unwrap();
                let start = Instant::now();
                for i in 0..iters {
                    black_box(w.append(3, i, black_box(&payload)).unwrap());
                }
                let t = start.elapsed();
                w.finish().unwrap();
                t
            })
        });
    }
    g.finish();
}

/// The chain's cost per 150-byte record without any I/O, format 1 against
/// format 2 in the same run (robust to a busy machine): v1 hashed
/// `prev ‖ header ‖ payload` with BLAKE3 per record; v2 builds the frame in
/// the block buffer, links it with XXH3 and seals every 64 KiB with one
/// BLAKE3 update over the block.
fn chain_per_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain_per_record");
    g.throughput(Throughput::Elements(1));
    let payload: Vec<u8> = (0..150usize).map(|i| (i * 31 % 251) as u8).collect();
    g.bench_function("v1_blake3_per_record_150B", |b| {
        let mut prev = [7u8; 32];
        let mut i = 0u64;
        b.iter(|| {
            let mut buf = [0u8; 256];
            buf[..32].copy_from_slice(&prev);
            buf[32..40].copy_from_slice(&i.to_le_bytes());
            buf[56..206].copy_from_slice(black_box(&payload));
            prev = *blake3::hash(&buf[..206]).as_bytes();
            i += 1;
            black_box(prev)
        })
    });
    g.bench_function("v2_link_and_seal_150B", |b| {
        let mut block: Vec<u8> = Vec::with_capacity(DEFAULT_SEAL_BYTES + 4096);
        let (mut link, mut seal, mut i) = (genesis_link(), genesis_hash(), 0u64);
        b.iter(|| {
            let start = block.len();
            block.extend_from_slice(&[0u8; 8]);
            block.extend_from_slice(&i.to_le_bytes());
            block.extend_from_slice(&[0u8; 8]);
            block.extend_from_slice(black_box(&payload));
            link = frame_link(link, &block[start..]);
            block.extend_from_slice(&link.to_le_bytes());
            if block.len() >= DEFAULT_SEAL_BYTES {
                seal = block_seal(&seal, &block);
                block.clear();
            }
            i += 1;
            black_box(link)
        })
    });
    g.finish();
}

fn verify_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    g.measurement_time(Duration::from_secs(10)).sample_size(10);
    for (name, size, count) in [("4KiB_records", 4096usize, 32 * 1024u64), ("64B_records", 64, 1024 * 1024)] {
        let tmp = tempfile::tempdir().unwrap();
        let params = JournalParams { fsync: FsyncPolicy::Never, segment_bytes: 64 << 20, ..JournalParams::default() };
        let mut w = JournalWriter::create(tmp.path(), params).unwrap();
        let payload = vec![0xA5u8; size];
        for i in 0..count {
            w.append(2, i, &payload).unwrap();
        }
        let s = w.finish().unwrap();
        g.throughput(Throughput::Bytes(s.bytes));
        g.bench_function(name, |b| b.iter(|| black_box(verify(tmp.path()).unwrap())));
    }
    g.finish();
}

criterion_group!(benches, append, append_typical, chain_per_record, verify_bench);
criterion_main!(benches);
