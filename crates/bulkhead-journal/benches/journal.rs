//! Append throughput (64-byte payloads) per fsync policy, and verify
//! throughput. Journals are written under the target directory (a real disk,
//! not tmpfs) so that fsync costs what it costs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bulkhead_journal::{FsyncPolicy, JournalParams, JournalWriter, verify};
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

criterion_group!(benches, append, append_typical, verify_bench);
criterion_main!(benches);
