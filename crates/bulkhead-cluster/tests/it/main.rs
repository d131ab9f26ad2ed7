//! bulkhead-cluster integration tests, against a real 3-server JetStream
//! cluster of `nats-server` processes (installed by `scripts/nats-setup.sh`).
//! Without nats-server they skip with a message, unless
//! `BULKHEAD_REQUIRE_NATS` is set: then they fail.

mod faults;
mod feed;
mod gateway;
mod lease;
mod mirror;
mod status;

use std::path::Path;

use bulkhead_cluster::ClusterConfig;
use bulkhead_cluster::local::{LocalCluster, nats_server_available};
use bulkhead_journal::{FsyncPolicy, JournalParams, JournalWriter, segment_files};

/// True when a missing nats-server must fail the test instead of skipping it.
pub fn require_nats() -> bool {
    std::env::var_os("BULKHEAD_REQUIRE_NATS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A fresh 3-server cluster, or `None` (skip) without nats-server.
pub fn cluster() -> Option<LocalCluster> {
    if !nats_server_available() {
        assert!(!require_nats(), "BULKHEAD_REQUIRE_NATS is set and nats-server is missing (scripts/nats-setup.sh)");
        eprintln!("SKIPPED: nats-server missing; run scripts/nats-setup.sh");
        return None;
    }
    Some(LocalCluster::start().expect("3-server JetStream cluster"))
}

pub fn config(c: &LocalCluster, node: &str) -> ClusterConfig {
    ClusterConfig::from_toml(&c.cluster_toml(node)).unwrap()
}

/// Appends `n` records of varied kinds and sizes (0 ..= ~3 KiB, a few of 40 KiB) from
/// record `from` on: deterministic content, event times increasing.
pub fn append_records(w: &mut JournalWriter, from: u64, n: u64) {
    for i in from..from + n {
        let len = if i % 97 == 0 { 40_000 } else { ((i * 7919) % 3000) as usize };
        let payload: Vec<u8> = (0..len).map(|j| (i as usize * 31 + j) as u8).collect();
        w.append((i % 17) as u16 + 1, 1_000_000 + i * 1000, &payload).unwrap();
    }
}

/// Small segments (many of them), group commit in the headers.
pub fn params() -> JournalParams {
    JournalParams { fsync: FsyncPolicy::Never, segment_bytes: 512 * 1024, ..JournalParams::default() }
}

/// Asserts two journal directories hold byte-identical segment files; on a
/// difference names the file and the first differing offset (not the bytes).
#[track_caller]
pub fn assert_same_segments(have: &Path, want: &Path) {
    let (a, b) = (segment_files(have).unwrap(), segment_files(want).unwrap());
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, b)| format!("{n}:{}", b.len())).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "segment files and sizes");
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        if let Some(at) = x.iter().zip(y).position(|(p, q)| p != q) {
            panic!(
                "{name} differs first at byte {at}: {:?} vs {:?}",
                &x[at..(at + 32).min(x.len())],
                &y[at..(at + 32).min(y.len())]
            );
        }
    }
}
