//! `bulkhead journal push` / `journal fetch` against a real 3-server JetStream cluster:
//! a backtest's journal is mirrored, a server dies, the push is repeated (nothing
//! duplicated), and the fetched journal is byte-identical, verifies and replays.
//! Skipped without nats-server unless `BULKHEAD_REQUIRE_NATS` is set (then it fails).

use crate::common::{assert_user_error, bulkhead, demo_variant, root};
use bulkhead_cluster::local::{LocalCluster, nats_server_available};
use std::path::Path;

fn cluster() -> Option<LocalCluster> {
    if !nats_server_available() {
        let required = std::env::var_os("BULKHEAD_REQUIRE_NATS").is_some_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "BULKHEAD_REQUIRE_NATS is set and nats-server is missing (scripts/nats-setup.sh)");
        eprintln!("SKIPPED: nats-server missing; run scripts/nats-setup.sh");
        return None;
    }
    Some(LocalCluster::start().expect("3-server JetStream cluster"))
}

fn segments(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bhj"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn push_lose_a_server_push_again_fetch_verify_and_replay() {
    let Some(mut c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_variant(tmp.path(), |t| t);
    assert_eq!(bulkhead(&["run", s(&cfg), "--quiet"]).0, 0);
    let journal = cfg.parent().unwrap().join("out/demo.journal");
    let cluster_toml = tmp.path().join("cluster.toml");
    std::fs::write(&cluster_toml, c.cluster_toml("demo")).unwrap();

    let (code, out, err) = bulkhead(&["journal", "push", s(&journal), "--cluster", s(&cluster_toml)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("to BHJ_demo") && out.contains("0 duplicates), 0 already there"), "{out}");

    c.kill(2);
    let (code, out, err) = bulkhead(&["journal", "push", s(&journal), "--cluster", s(&cluster_toml)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": 0 records sent in 0 batches"), "{out}");

    let fetched = tmp.path().join("fetched.journal");
    let (code, out, err) = bulkhead(&["journal", "fetch", "demo", s(&fetched), "--cluster", s(&cluster_toml)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(equals the pushed journal's)"), "{out}");
    assert_eq!(segments(&fetched), segments(&journal), "fetched segments byte-identical");

    let (code, want, _) = bulkhead(&["journal", "verify", s(&journal)]);
    assert_eq!(code, 0);
    let (code, have, err) = bulkhead(&["journal", "verify", s(&fetched)]);
    assert_eq!(code, 0, "{have}{err}");
    assert_eq!(have.replace(s(&fetched), "J"), want.replace(s(&journal), "J"));

    let modules = root().join("strategies/wasm");
    let (code, out, err) = bulkhead(&["journal", "replay", s(&fetched), "--modules", s(&modules)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("IDENTICAL"), "{out}");
}

#[test]
fn a_bad_or_unreachable_cluster_config_exits_2_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[cluster]\nservers = [\"nats://127.0.0.1:4222\"]\nnode = \"n1\"\nreplicas = 2\n").unwrap();
    let (code, _, err) = bulkhead(&["journal", "push", s(&j), "--cluster", s(&bad)]);
    assert_user_error(code, &err, &["cluster.replicas", "1 or 3"]);
    std::fs::write(&bad, "[cluster]\nservers = [\"127.0.0.1\"]\nnode = \"n1\"\n").unwrap();
    let (code, _, err) = bulkhead(&["journal", "fetch", "n1", s(&j), "--cluster", s(&bad)]);
    assert_user_error(code, &err, &["cluster.servers[0]", "port"]);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = tmp.path().join("down.toml");
    let url = format!("nats://127.0.0.1:{port}");
    std::fs::write(&down, format!("[cluster]\nservers = [\"{url}\"]\nnode = \"n1\"\nconnect_timeout_ms = 500\n"))
        .unwrap();
    let t = std::time::Instant::now();
    let (code, _, err) = bulkhead(&["journal", "fetch", "n1", s(&j), "--cluster", s(&down)]);
    assert_user_error(code, &err, &["cannot reach NATS", &url]);
    assert!(t.elapsed() < std::time::Duration::from_secs(3), "{:?}", t.elapsed());
}

// --- live mirror of a running node (`bulkhead run --cluster`) ---

use bulkhead_abi::EventKind;
use bulkhead_engine::records::{self, Record};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use std::process::{Command, Stdio};

/// The demo, `events` events, with the release gate on (`--cluster` requires it).
fn gated(dir: &Path, events: u64) -> std::path::PathBuf {
    demo_variant(dir, |t| {
        t.replace("[run]\n", "[run]\nrelease_gate = \"durable\"\n")
            .replace("events = 3_000", &format!("events = {events}"))
    })
}

fn write_cluster(dir: &Path, c: &LocalCluster, node: &str, extra: &str) -> std::path::PathBuf {
    let p = dir.join(format!("{node}.cluster.toml"));
    std::fs::write(&p, format!("{}{extra}", c.cluster_toml(node))).unwrap();
    p
}

struct Orders {
    /// Accepted `ORDER` records: (sid, id) -> journal seq.
    decided: Vec<((u32, u64), u64)>,
    /// Orders the venue saw (accepted or filled).
    reached: HashSet<(u32, u64)>,
    /// Orders refused with CLUSTER_UNAVAILABLE (seq of the rejection).
    refused: Vec<u64>,
    records: Vec<(u16, u64, Vec<u8>)>,
}

fn orders(dir: &Path) -> Orders {
    let mut o = Orders { decided: Vec::new(), reached: HashSet::new(), refused: Vec::new(), records: Vec::new() };
    for r in bulkhead_journal::JournalReader::open(dir).unwrap() {
        let r = r.unwrap();
        match Record::decode(r.kind, &r.payload).unwrap() {
            Record::Order { sid, id, reason: bulkhead_abi::Reason::Accepted, .. } => o.decided.push(((sid, id), r.seq)),
            Record::Venue { sid, event } => match event.kind {
                EventKind::OrderAccepted | EventKind::Fill => {
                    o.reached.insert((sid, event.id));
                }
                EventKind::OrderRejected if event.a == i64::from(bulkhead_abi::Reason::ClusterUnavailable.code()) => {
                    o.refused.push(r.seq);
                }
                _ => {}
            },
            _ => {}
        }
        o.records.push((r.kind, r.ts_ns, r.payload));
    }
    assert!(o.records.iter().all(|r| r.0 <= records::CHAIN), "known kinds");
    o
}

fn fetch(tmp: &Path, cluster_toml: &Path, node: &str, name: &str) -> (std::path::PathBuf, String) {
    let out = tmp.join(name);
    let (code, stdout, err) = bulkhead(&["journal", "fetch", node, s(&out), "--cluster", s(cluster_toml)]);
    assert_eq!(code, 0, "{stdout}{err}");
    (out, stdout)
}

#[test]
fn a_gated_run_mirrors_live_and_the_fetched_journal_is_identical_verifies_and_replays() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = gated(tmp.path(), 3_000);
    let ct = write_cluster(tmp.path(), &c, "live", "");
    let t = Instant::now();
    let (code, out, err) = bulkhead(&["run", s(&cfg), "--quiet", "--cluster", s(&ct)]);
    assert_eq!(code, 0, "{out}{err}");
    eprintln!("gated run with mirror: {:?}", t.elapsed());
    assert!(out.contains("cluster mirror: BHJ_live holds all"), "{out}");
    assert!(out.contains("CLUSTER_UNAVAILABLE: 0"), "{out}");
    let journal = tmp.path().join("out/demo.journal");
    let o = orders(&journal);
    assert!(o.reached.len() > 10 && o.refused.is_empty(), "{} orders reached the venue", o.reached.len());

    let (fetched, _) = fetch(tmp.path(), &ct, "live", "fetched.journal");
    assert_eq!(segments(&fetched), segments(&journal), "fetched segments byte-identical");
    let (code, want, _) = bulkhead(&["journal", "verify", s(&journal)]);
    assert_eq!(code, 0);
    let (code, have, err) = bulkhead(&["journal", "verify", s(&fetched)]);
    assert_eq!(code, 0, "{have}{err}");
    assert_eq!(have.replace(s(&fetched), "J"), want.replace(s(&journal), "J"));
    let modules = root().join("strategies/wasm");
    let (code, out, err) = bulkhead(&["journal", "replay", s(&fetched), "--modules", s(&modules)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("IDENTICAL"), "{out}");

    // Without `release_gate = "durable"` the run is refused (its journal must say the gate).
    let plain = demo_variant(tmp.path(), |t| t);
    let (code, _, err) = bulkhead(&["run", s(&plain), "--quiet", "--cluster", s(&ct)]);
    assert_user_error(code, &err, &["--cluster", "release_gate"]);
}
