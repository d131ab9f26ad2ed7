//! `bulkhead journal push` / `journal fetch` against a real 3-server JetStream cluster:
//! a backtest's journal is mirrored, a server dies, the push is repeated (nothing
//! duplicated), and the fetched journal is byte-identical, verifies and replays.
//! Skipped without nats-server unless `BULKHEAD_REQUIRE_NATS` is set (then it fails).

use crate::common::{assert_user_error, bulkhead, demo_variant, root};
use bulkhead_cluster::local::{LocalCluster, nats_server_available};
use bulkhead_journal::segment_files;
use std::path::Path;

pub(crate) fn cluster() -> Option<LocalCluster> {
    if !nats_server_available() {
        let required = std::env::var_os("BULKHEAD_REQUIRE_NATS").is_some_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "BULKHEAD_REQUIRE_NATS is set and nats-server is missing (scripts/nats-setup.sh)");
        eprintln!("SKIPPED: nats-server missing; run scripts/nats-setup.sh");
        return None;
    }
    Some(LocalCluster::start().expect("3-server JetStream cluster"))
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
    assert_eq!(segment_files(&fetched).unwrap(), segment_files(&journal).unwrap(), "fetched segments byte-identical");

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

/// `bulkhead feed`: the demo config's market data published to `MD_demo`
/// reads back (as a `MarketSource`) event for event as the config's own
/// source yields it; a second publish sends nothing; a bad `[cluster]`
/// exits 2 naming the field.
#[test]
fn feed_publishes_a_configs_market_data_in_order() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_variant(tmp.path(), |t| t);
    let cluster_toml = tmp.path().join("cluster.toml");
    std::fs::write(&cluster_toml, c.cluster_toml("feeder")).unwrap();
    let (code, out, err) = bulkhead(&["feed", s(&cfg), "--name", "demo", "--cluster", s(&cluster_toml)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("feed demo: 3000 events in stream MD_demo (0 already there, 1 batches sent)"), "{out}");
    let (code, out, err) = bulkhead(&["feed", s(&cfg), "--name", "demo", "--cluster", s(&cluster_toml)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(3000 already there, 0 batches sent)"), "{out}");

    use bulkhead_data::MarketSource;
    let loaded = bulkhead_engine::LoadedConfig::load(&cfg).unwrap();
    let mut want = bulkhead_engine::open_source(&loaded).unwrap();
    let ccfg = bulkhead_cluster::ClusterConfig::load(&cluster_toml).unwrap();
    let mut got = bulkhead_cluster::feed::FeedSource::open(&ccfg, "demo", std::time::Duration::from_secs(5)).unwrap();
    let mut n = 0;
    loop {
        let (a, b) = (want.next_event().unwrap(), got.next_event().unwrap());
        assert_eq!(a, b, "event {n}");
        if a.is_none() {
            break;
        }
        n += 1;
    }
    assert_eq!(n, 3000);

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[cluster]\nservers = []\nnode = \"x\"\n").unwrap();
    let (code, _, err) = bulkhead(&["feed", s(&cfg), "--name", "demo", "--cluster", s(&bad)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cluster.servers"), "{err}");
}

// --- live mirror of a running node (`bulkhead run --cluster`) ---

use bulkhead_abi::EventKind;
use bulkhead_engine::records::{self, Record};
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The demo, `events` events, with the release gate on (`--cluster` requires it).
fn gated(dir: &Path, events: u64) -> std::path::PathBuf {
    demo_variant(dir, |t| {
        t.replace("[run]\n", "[run]\nrelease_gate = \"durable\"\n")
            .replace("events = 3_000", &format!("events = {events}"))
    })
}

pub(crate) fn write_cluster(dir: &Path, c: &LocalCluster, node: &str, extra: &str) -> std::path::PathBuf {
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
    assert_eq!(segment_files(&fetched).unwrap(), segment_files(&journal).unwrap(), "fetched segments byte-identical");
    let (code, want, _) = bulkhead(&["journal", "verify", s(&journal)]);
    assert_eq!(code, 0);
    let (code, have, err) = bulkhead(&["journal", "verify", s(&fetched)]);
    assert_eq!(code, 0, "{have}{err}");
    assert_eq!(have.replace(s(&fetched), "J"), want.replace(s(&journal), "J"));
    let modules = root().join("strategies/wasm");
    let (code, out, err) = bulkhead(&["journal", "replay", s(&fetched), "--modules", s(&modules)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("IDENTICAL"), "{out}");

    // A new run may not write into a stream holding another run's records.
    let (code, _, err) = bulkhead(&["run", s(&cfg), "--quiet", "--cluster", s(&ct)]);
    assert_user_error(code, &err, &["BHJ_live", "already holds records", "name another node"]);

    // Without `release_gate = "durable"` the run is refused (its journal must say the gate).
    let plain = demo_variant(tmp.path(), |t| t);
    let (code, _, err) = bulkhead(&["run", s(&plain), "--quiet", "--cluster", s(&ct)]);
    assert_user_error(code, &err, &["--cluster", "release_gate"]);
}

/// Test timeouts: an outage is noticed within 500 ms, the end of the run waits 1 s.
const FAST: &str = "ack_timeout_ms = 500\nrequest_timeout_ms = 1000\nfailover_ms = 1000\nconnect_timeout_ms = 1000\n";

fn spawn_run(cfg: &Path, cluster_toml: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["run", s(cfg), "--quiet", "--cluster", s(cluster_toml)])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn journal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
}

/// Waits until the running node's journal holds `bytes` (it is mid-run then).
fn wait_mid_run(dir: &Path, bytes: u64, child: &mut std::process::Child) {
    let t = Instant::now();
    while journal_bytes(dir) < bytes {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before {bytes} journal bytes");
        assert!(t.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("mid-run after {:?} ({} bytes)", t.elapsed(), journal_bytes(dir));
}

fn finish(child: std::process::Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

const EVENTS: u64 = 40_000;
const MID_RUN_BYTES: u64 = 1 << 20;

#[test]
fn a_server_dies_mid_run_the_run_goes_on_and_the_mirror_stays_complete() {
    let Some(mut c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = gated(tmp.path(), EVENTS);
    // A leader election takes a few seconds: the gate waits it out instead of refusing.
    let ct = write_cluster(tmp.path(), &c, "one", "ack_timeout_ms = 15000\n");
    let journal = tmp.path().join("out/demo.journal");
    let t = Instant::now();
    let mut child = spawn_run(&cfg, &ct, &[]);
    wait_mid_run(&journal, MID_RUN_BYTES, &mut child);
    c.kill(0);
    let (code, out, err) = finish(child);
    eprintln!("run with a server killed: {:?}", t.elapsed());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cluster mirror: BHJ_one holds all"), "{out}");
    assert!(out.contains("CLUSTER_UNAVAILABLE: 0"), "{out}");
    let (fetched, _) = fetch(tmp.path(), &ct, "one", "fetched.journal");
    assert_eq!(segment_files(&fetched).unwrap(), segment_files(&journal).unwrap(), "fetched segments byte-identical");
}

#[test]
fn nats_gone_mid_run_orders_are_refused_never_released_unacked_and_the_run_completes() {
    let Some(mut c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = gated(tmp.path(), EVENTS);
    let ct = write_cluster(tmp.path(), &c, "gone", FAST);
    let journal = tmp.path().join("out/demo.journal");
    let mut child = spawn_run(&cfg, &ct, &[]);
    wait_mid_run(&journal, MID_RUN_BYTES, &mut child);
    // Every server goes away. Stopped, not SIGKILLed: nats-server 2.9 acks
    // before its disk write, so a SIGKILL of all three at once can lose
    // acknowledged records (ARCHITECTURE.md) — a NATS property, not the gate's.
    for i in 0..3 {
        c.stop(i);
    }
    let (code, out, err) = finish(child);
    // Exit 3: the run completed, its local journal is complete, the mirror is not.
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("INCOMPLETE") && err.contains("journal push --cluster"), "{out}{err}");
    let refused: u64 =
        out.split("CLUSTER_UNAVAILABLE: ").nth(1).unwrap().split([' ', '\n']).next().unwrap().parse().unwrap();
    assert!(refused > 0, "{out}");
    let local = orders(&journal);
    assert_eq!(local.refused.len() as u64, refused, "every refusal journalled");

    // NATS back: the stream holds what was acknowledged before the outage, and every
    // order the venue saw was decided by a record in it (released only after the ack).
    for i in 0..3 {
        c.restart(i).unwrap();
    }
    c.wait_ready(Duration::from_secs(20)).unwrap();
    // Default timeouts: the restarted servers elect their leaders first.
    let ct = write_cluster(tmp.path(), &c, "gone", "");
    let (prefix, _) = fetch(tmp.path(), &ct, "gone", "prefix.journal");
    let mirrored = orders(&prefix);
    let n = mirrored.records.len();
    assert!(n > 0 && n < local.records.len(), "{n} of {}", local.records.len());
    assert_eq!(mirrored.records[..], local.records[..n], "the stream holds a prefix of the journal");
    let mut released = 0;
    for (order, seq) in &local.decided {
        if local.reached.contains(order) {
            released += 1;
            assert!(
                (*seq as usize) < n,
                "order {order:?} (record {seq}) reached the venue, its record is not mirrored"
            );
        }
    }
    assert!(released > 10, "{released}");
    assert!(local.refused.iter().all(|&seq| seq as usize >= n), "refused only once the mirror stopped acking");

    // And the mirror is completed from the local journal: identical.
    let (code, out, err) = bulkhead(&["journal", "push", s(&journal), "--cluster", s(&ct)]);
    assert_eq!(code, 0, "{out}{err}");
    let (full, _) = fetch(tmp.path(), &ct, "gone", "full.journal");
    assert_eq!(segment_files(&full).unwrap(), segment_files(&journal).unwrap());
}

/// `GET path` on the control plane (no token: the health probes); the body.
fn probe(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(addr) else { return String::new() };
    let _ = write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = c.read_to_string(&mut text);
    text.split("\r\n\r\n").nth(1).unwrap_or("").trim().to_string()
}

/// Polls `/readyz` until it answers `word` (within 20 s).
fn wait_ready_word(addr: &str, word: &str) {
    let t = Instant::now();
    loop {
        let got = probe(addr, "/readyz");
        if got == word {
            eprintln!("/readyz: {word} after {:?}", t.elapsed());
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "/readyz says `{got}`, waited for `{word}`");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn nats_back_mid_run_the_mirror_catches_up_and_orders_flow_again() {
    let Some(mut c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = gated(tmp.path(), EVENTS);
    let tokens = tmp.path().join("tokens.toml");
    let (code, _, err) = bulkhead(&["token", "add", "--file", s(&tokens), "--name", "ops", "--role", "admin"]);
    assert_eq!(code, 0, "{err}");
    // Paced (2x the data's time, ~1 ms per event: ~20 s): the run is still going when NATS
    // is back; stopped with SIGTERM once orders flow again.
    let ct = write_cluster(tmp.path(), &c, "back", "ack_timeout_ms = 500\nrequest_timeout_ms = 1000\n");
    let journal = tmp.path().join("out/demo.journal");
    let listen = ["--pace", "2", "--listen", "127.0.0.1:0", "--tokens", s(&tokens)];
    let mut child = spawn_run(&cfg, &ct, &listen);
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "no control plane address");
        if let Some(rest) = line.split("control plane on http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    let drain = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    wait_ready_word(&addr, "ready");
    wait_mid_run(&journal, MID_RUN_BYTES / 4, &mut child);
    // Two of three servers gone: no quorum, no acks (a whole-cluster restart also works,
    // but JetStream then takes 10+ s to recover the stream: the end-of-run catch-up's case).
    c.kill(1);
    c.kill(2);
    wait_ready_word(&addr, "cluster_unavailable");
    std::thread::sleep(Duration::from_millis(500));
    c.restart(1).unwrap();
    c.restart(2).unwrap();
    wait_ready_word(&addr, "ready");
    // Orders flow again; then a graceful stop (SIGTERM) ends the run early.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let (code, out, _) = finish(child);
    let err = drain.join().unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cluster mirror: BHJ_back holds all"), "{out}");
    let local = orders(&journal);
    let last_refusal = *local.refused.last().expect("orders refused during the outage");
    eprintln!(
        "refused {} (records {}..={last_refusal}) of {}",
        local.refused.len(),
        local.refused[0],
        local.records.len()
    );
    let after = local.decided.iter().filter(|(o, seq)| *seq > last_refusal && local.reached.contains(o)).count();
    assert!(after > 0, "orders reach the venue again once NATS is back");
    let (fetched, _) = fetch(tmp.path(), &ct, "back", "fetched.journal");
    assert_eq!(segment_files(&fetched).unwrap(), segment_files(&journal).unwrap(), "fetched segments byte-identical");
}

#[test]
fn a_full_mirror_buffer_refuses_orders_and_the_end_of_the_run_pushes_the_rest() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = gated(tmp.path(), 3_000);
    // 16 records of buffer: the config records and the first events' fill it at once.
    let ct = write_cluster(tmp.path(), &c, "small", "buffer_records = 16\nack_timeout_ms = 200\n");
    let (code, out, err) = bulkhead(&["run", s(&cfg), "--quiet", "--cluster", s(&ct)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("mirror buffer full (16 records)"), "{out}");
    assert!(out.contains("pushed from the journal files at the end"), "{out}");
    let journal = tmp.path().join("out/demo.journal");
    let local = orders(&journal);
    let first = *local.refused.first().expect("orders refused once the mirror is behind");
    let late = local.decided.iter().filter(|(o, seq)| *seq > first && local.reached.contains(o)).count();
    assert_eq!(late, 0, "no order reaches the venue once the mirror is behind");
    let (fetched, _) = fetch(tmp.path(), &ct, "small", "fetched.journal");
    assert_eq!(
        segment_files(&fetched).unwrap(),
        segment_files(&journal).unwrap(),
        "nothing journalled is missing from the mirror"
    );
}

#[test]
fn a_node_that_cannot_reach_nats_refuses_every_order_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = gated(tmp.path(), 3_000);
    // Nobody listens there: the node starts anyway, with the cluster unavailable.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ct = tmp.path().join("down.toml");
    std::fs::write(
        &ct,
        format!("[cluster]\nservers = [\"nats://127.0.0.1:{port}\"]\nnode = \"down\"\n{FAST}")
            .replace("ack_timeout_ms = 500", "ack_timeout_ms = 200"),
    )
    .unwrap();
    let t = Instant::now();
    let (code, out, err) = bulkhead(&["run", s(&cfg), "--quiet", "--cluster", s(&ct)]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(out.contains("first outage: no JetStream ack within 200 ms") && out.contains("NATS unreachable"), "{out}");
    assert!(out.contains("BHJ_down INCOMPLETE: 0 of"), "{out}");
    let local = orders(&tmp.path().join("out/demo.journal"));
    assert!(local.reached.is_empty() && !local.refused.is_empty(), "every order refused");
    assert_eq!(local.refused.len(), local.decided.len(), "each accepted order refused once");
}

/// Failover: node A runs shard `fo` holding its lease and is killed with
/// SIGKILL mid-run; node B — another holder, another journal directory (as
/// on another host) — waits out A's lease, fetches the shard's journal from
/// its stream, resumes by re-derivation and completes. B's journal holds
/// exactly the records of an uninterrupted run (the chain verifies, replay
/// IDENTICAL), byte for byte, and the stream holds all of it; while A
/// held the lease a third node could not take it.
#[test]
fn a_killed_node_is_replaced_through_its_lease_and_the_run_completes_as_uninterrupted() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| {
        let d = tmp.path().join(n);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let lease = |holder: &'static str| ["--lease", "--holder", holder, "--lease-ttl-ms", "1500"];
    // The uninterrupted run (its own shard), for comparison.
    let (ref_dir, a_dir, b_dir) = (dir("ref"), dir("a"), dir("b"));
    let ref_cfg = gated(&ref_dir, EVENTS);
    let ref_ct = write_cluster(&ref_dir, &c, "fo-ref", "");
    let (code, out, err) = finish(spawn_run(&ref_cfg, &ref_ct, &lease("node-r")));
    assert_eq!(code, 0, "{out}{err}");

    let ct = write_cluster(tmp.path(), &c, "fo", "");
    // A runs paced (10 s of market time), so it is alive while C tries.
    let a_cfg = gated(&a_dir, EVENTS);
    let mut a = spawn_run(&a_cfg, &ct, &[&["--pace", "4"][..], &lease("node-a")].concat());
    wait_mid_run(&a_dir.join("out/demo.journal"), MID_RUN_BYTES, &mut a);
    // While A holds the shard and renews it, a third node is refused (it
    // waits one TTL plus its failover time, 100 ms here, then gives up).
    let c_dir = dir("c");
    let c_ct = write_cluster(&c_dir, &c, "fo", "failover_ms = 100\n");
    let c_args = [&["--resume"][..], &lease("node-c")].concat();
    let (code, out, err) = finish(spawn_run(&gated(&c_dir, EVENTS), &c_ct, &c_args));
    assert_eq!(code, 2, "a third node ran the shard: {out}{err}");
    assert!(err.contains("held by node-a"), "{err}");
    assert!(a.try_wait().unwrap().is_none(), "A ended before the check");
    a.kill().unwrap(); // SIGKILL: no release, no goodbye
    a.wait().unwrap();
    let killed = Instant::now();

    let b_cfg = gated(&b_dir, EVENTS);
    let b = spawn_run(&b_cfg, &ct, &[&["--resume"][..], &lease("node-b")].concat());
    let (b_code, b_out, b_err) = finish(b);
    eprintln!("failover: SIGKILL to B's end {:?}", killed.elapsed());
    assert_eq!(b_code, 0, "{b_out}{b_err}");
    assert!(b_err.contains("held by node-a") && b_err.contains("taken by node-b"), "{b_err}");
    assert!(b_err.contains("fetched the journal of fo"), "{b_err}");
    assert!(b_out.contains("cluster mirror: BHJ_fo holds all"), "{b_out}");

    // The same records as the uninterrupted run, a chain that verifies, a
    // replay that reproduces every decision; the stream holds B's journal.
    let b_journal = b_dir.join("out/demo.journal");
    let show = |j: &Path| bulkhead(&["journal", "show", s(j), "--json"]).1;
    let (have, want) = (show(&b_journal), show(&ref_dir.join("out/demo.journal")));
    assert_eq!(have.lines().count(), want.lines().count(), "record count");
    assert!(have == want, "B's records differ from the uninterrupted run's");
    // Byte for byte: the fetched prefix kept A's unsealed tail, so B went on
    // exactly as A would have.
    assert_eq!(
        segment_files(&b_journal).unwrap(),
        segment_files(&ref_dir.join("out/demo.journal")).unwrap(),
        "B's journal bytes"
    );
    assert_eq!(bulkhead(&["journal", "verify", s(&b_journal)]).0, 0);
    let modules = root().join("strategies/wasm");
    let (code, out, err) = bulkhead(&["journal", "replay", s(&b_journal), "--modules", s(&modules)]);
    assert!(code == 0 && out.contains("IDENTICAL"), "{out}{err}");
    let (fetched, _) = fetch(tmp.path(), &ct, "fo", "fetched.journal");
    assert_eq!(segment_files(&fetched).unwrap(), segment_files(&b_journal).unwrap(), "the stream holds B's journal");
}

/// A node reading its market data from a feed (`run --feed`) decides and
/// fills exactly as a run over the config's own data: the same data in the
/// same order gives the same orders, venue events and fills (the journal
/// differs only by the `data_feed` config record saying where the data
/// came from).
#[test]
fn a_run_fed_from_the_stream_fills_as_the_run_from_the_config() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let own = tmp.path().join("own");
    let fed = tmp.path().join("fed");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::create_dir_all(&fed).unwrap();
    let own_cfg = gated(&own, 20_000);
    let fed_cfg = gated(&fed, 20_000);
    let ct = write_cluster(tmp.path(), &c, "fed-node", "");
    let (code, out, err) = bulkhead(&["feed", s(&own_cfg), "--name", "md20k", "--cluster", s(&ct)]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(bulkhead(&["run", s(&own_cfg), "--quiet"]).0, 0);
    let (code, out, err) = bulkhead(&["run", s(&fed_cfg), "--quiet", "--cluster", s(&ct), "--feed", "md20k"]);
    assert_eq!(code, 0, "{out}{err}");
    let show = |dir: &Path, kind: &str| {
        let (code, out, err) =
            bulkhead(&["journal", "show", s(&dir.join("out/demo.journal")), "--kind", kind, "--json"]);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("seq");
                v
            })
            .collect::<Vec<_>>()
    };
    for kind in ["market", "order", "venue"] {
        let (a, b) = (show(&own, kind), show(&fed, kind));
        assert!(a.len() > 100, "{kind}: {}", a.len());
        assert!(a == b, "{kind} records differ between the config's data and the feed");
    }
    let (_, cfgs, _) = bulkhead(&["journal", "show", s(&fed.join("out/demo.journal")), "--kind", "config"]);
    assert!(cfgs.contains("data_feed"), "{cfgs}");
    // A feed that does not exist: a clear error.
    let (code, _, err) = bulkhead(&["run", s(&fed_cfg), "--quiet", "--cluster", s(&ct), "--feed", "nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("--feed nope") && err.contains("MD_nope"), "{err}");
}
