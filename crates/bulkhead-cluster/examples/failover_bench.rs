//! Benchmark (not a test): failover time of a shard, kill to first new order (issue 18).
//!
//! On a fresh 3-server loopback JetStream cluster, each trial runs node A with the shard's
//! lease (`bulkhead run CFG --cluster C --pace P --lease --holder node-a`), SIGKILLs it once
//! its journal holds `--kill-after-bytes`, and starts standby B at once (its own journal
//! directory, `--resume --lease --holder node-b`, same pace). B's stderr lines are
//! timestamped as they arrive (the lease wait, "taken by", "fetched the journal", the
//! engine's "journal prefix reproduced" at `BULKHEAD_LOG=…journal=info`). B's first new
//! order is its first accepted `ORDER` record past the fetched prefix, seen two ways: on the
//! shard's journal subject (a core NATS subscription: the live mirror's batch as the server
//! receives it; with the durable gate the order is released after that batch's PubAck),
//! and in B's journal file (polled with the journal reader; with `fsync = "never"` the
//! writer writes whole 64 KiB blocks, so the file shows it later). Prints every trial and
//! p50 / max of each step. B is then stopped (SIGTERM).
//!
//! ```text
//! cargo build --release -p bulkhead
//! cargo run -p bulkhead-cluster --features localcluster --example failover_bench -- \
//!     [--trials 5] [--ttl-ms 1500] [--pace 4] [--events 40000] [--kill-after-bytes 1048576] [--bin PATH]
//! ```
//! `--bin` defaults to `target/release/bulkhead`; this driver's own profile does not matter
//! (it only reads pipes and polls a journal).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bulkhead_cluster::local::LocalCluster;
use bulkhead_engine::records::{self, Record};

struct Args {
    trials: usize,
    ttl_ms: u64,
    pace: f64,
    events: u64,
    kill_after: u64,
    bin: PathBuf,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn args() -> Args {
    let mut a = Args {
        trials: 5,
        ttl_ms: 1500,
        pace: 4.0,
        events: 40_000,
        kill_after: 1 << 20,
        bin: root().join("target/release/bulkhead"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let num = |v: &str| v.parse::<u64>().unwrap_or_else(|_| panic!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--trials" => a.trials = num(&v) as usize,
            "--ttl-ms" => a.ttl_ms = num(&v),
            "--pace" => a.pace = v.parse().unwrap_or_else(|_| panic!("--pace: `{v}`")),
            "--events" => a.events = num(&v),
            "--kill-after-bytes" => a.kill_after = num(&v),
            "--bin" => a.bin = PathBuf::from(v),
            _ => panic!("unknown flag {flag}"),
        }
    }
    assert!(a.trials > 0, "--trials must be at least 1");
    a
}

/// The demo config (absolute paths), durable release gate, `events` events, a shared
/// module cache (a standby's modules are precompiled), written to `dir/cfg.toml`.
fn write_config(dir: &Path, events: u64, cache: &Path) -> PathBuf {
    let root = root().canonicalize().unwrap();
    let text = std::fs::read_to_string(root.join("examples/demo.toml")).unwrap();
    let text = text
        .replace("\"../strategies/", &format!("\"{}/strategies/", root.display()))
        .replace("\"policies/", &format!("\"{}/examples/policies/", root.display()))
        .replace("events = 1_000_000", &format!("events = {events}"))
        .replace("\"out/module-cache\"", &format!("\"{}\"", cache.display()))
        .replace("[run]\n", "[run]\nrelease_gate = \"durable\"\n");
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("cfg.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn(a: &Args, cfg: &Path, cluster: &Path, holder: &str, resume: bool, stderr: Stdio) -> Child {
    let mut cmd = Command::new(&a.bin);
    cmd.args(["run", cfg.to_str().unwrap(), "--quiet", "--cluster", cluster.to_str().unwrap()])
        .args(["--pace", &a.pace.to_string(), "--lease", "--holder", holder, "--lease-ttl-ms", &a.ttl_ms.to_string()])
        .env("BULKHEAD_LOG", "error,bulkhead_engine::engine::journal=info")
        .stdout(Stdio::null())
        .stderr(stderr);
    if resume {
        cmd.arg("--resume");
    }
    cmd.spawn().unwrap_or_else(|e| panic!("{}: {e} (cargo build --release -p bulkhead)", a.bin.display()))
}

fn journal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn accepted_order(kind: u16, payload: &[u8]) -> bool {
    kind == records::ORDER
        && matches!(Record::decode(kind, payload), Ok(Record::Order { reason: bulkhead_abi::Reason::Accepted, .. }))
}

/// The first accepted `ORDER` record past record `from` that the (live) journal file
/// shows, if any yet: its seq and the market time (ns) from the last record before `from`.
fn first_order(dir: &Path, from: u64) -> Option<(u64, u64)> {
    let reader = bulkhead_journal::JournalReader::open(dir).ok()?;
    let mut last_ts = 0;
    for r in reader {
        let Ok(r) = r else { return None };
        if r.seq < from {
            last_ts = r.ts_ns;
        } else if accepted_order(r.kind, &r.payload) {
            return Some((r.seq, r.ts_ns.saturating_sub(last_ts)));
        }
    }
    None
}

/// Watches the shard's journal subject (core NATS: the live mirror's batches as the
/// server receives them, before its PubAck) and sends `(arrival, seq)` of every accepted
/// `ORDER` record. Ready once subscribed; ends when the receiver is gone.
fn watch_stream(cluster_toml: &Path, shard: &str) -> mpsc::Receiver<(Instant, u64)> {
    let cfg = bulkhead_cluster::ClusterConfig::load(cluster_toml).unwrap();
    let subject = bulkhead_cluster::journal_subject(shard);
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            use futures_util::StreamExt;
            let client = bulkhead_cluster::connect(&cfg).await.unwrap();
            let mut sub = client.subscribe(subject).await.unwrap();
            client.flush().await.unwrap();
            let _ = ready_tx.send(());
            loop {
                let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(1), sub.next()).await else {
                    if tx.send((Instant::now(), u64::MAX)).is_err() {
                        return;
                    }
                    continue;
                };
                let at = Instant::now();
                let Ok(b) = bulkhead_cluster::frame::decode(&m.payload) else { continue };
                for (seq, r) in (b.first_seq..).zip(&b.records) {
                    if accepted_order(r.kind, &r.payload) && tx.send((at, seq)).is_err() {
                        return;
                    }
                }
            }
        });
    });
    ready.recv().unwrap();
    rx
}

/// Messages in the shard's journal stream now (what a fetch reads one by one).
fn stream_messages(cluster_toml: &Path, shard: &str) -> u64 {
    let cfg = bulkhead_cluster::ClusterConfig::load(cluster_toml).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let js = async_nats::jetstream::new(bulkhead_cluster::connect(&cfg).await.unwrap());
        let mut stream = js.get_stream(bulkhead_cluster::journal_stream(shard)).await.unwrap();
        stream.info().await.unwrap().state.messages
    })
}

fn records_in(dir: &Path) -> u64 {
    bulkhead_journal::JournalReader::open(dir).map_or(0, |r| r.take_while(Result::is_ok).count() as u64)
}

/// One failover, times from the SIGKILL in milliseconds.
#[derive(Default, Clone, Copy)]
struct Trial {
    /// The dead holder's lease expiry, after the kill (from B's "held by … until" line).
    expiry: f64,
    lease: f64,
    fetched: f64,
    opened: f64,
    resumed: f64,
    order: f64,
    /// Time of the journal poll that found the order (the resolution of `order`).
    poll: f64,
    /// B's first new accepted order seen on the journal subject (sent for JetStream's ack).
    sent: f64,
    prefix: u64,
    /// Messages (batches) the prefix was in.
    messages: u64,
    a_records: u64,
    order_seq: u64,
    /// Market time from the end of the prefix to the order, at the run's pace (ms of wall).
    market: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn trial(a: &Args, c: &LocalCluster, base: &Path, cache: &Path, i: usize) -> Trial {
    let shard = format!("fo{i}");
    let dir = base.join(&shard);
    std::fs::create_dir_all(&dir).unwrap();
    let ct = dir.join("cluster.toml");
    std::fs::write(&ct, c.cluster_toml(&shard)).unwrap();
    let (a_cfg, b_cfg) = (write_config(&dir.join("a"), a.events, cache), write_config(&dir.join("b"), a.events, cache));
    let (a_journal, b_journal) = (dir.join("a/out/demo.journal"), dir.join("b/out/demo.journal"));

    let mut node_a = spawn(a, &a_cfg, &ct, "node-a", false, Stdio::null());
    let t = Instant::now();
    while journal_bytes(&a_journal) < a.kill_after {
        assert!(node_a.try_wait().unwrap().is_none(), "A ended before {} journal bytes", a.kill_after);
        assert!(t.elapsed() < Duration::from_secs(120), "A made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    node_a.kill().unwrap(); // SIGKILL: no release of the lease, no goodbye
    let killed = Instant::now();
    let killed_ms = unix_ms();
    node_a.wait().unwrap();
    let orders = watch_stream(&ct, &shard);
    let mut node_b = spawn(a, &b_cfg, &ct, "node-b", true, Stdio::piped());
    let lines = node_b.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let log = dir.join("b.stderr");
    std::thread::spawn(move || {
        let mut keep = String::new();
        for line in std::io::BufReader::new(lines).lines().map_while(Result::ok) {
            keep.push_str(&line);
            keep.push('\n');
            let _ = tx.send((Instant::now(), line));
        }
        let _ = std::fs::write(log, keep);
    });
    // B waits out A's lease (at least 2/3 of a TTL): the stream is still A's prefix.
    let mut tr = Trial { messages: stream_messages(&ct, &shard), ..Trial::default() };
    watch_b(&rx, &mut node_b, killed, killed_ms, &b_journal, a.pace, &mut tr);
    let until = Instant::now() + Duration::from_secs(10);
    let sent = std::iter::from_fn(|| orders.recv_timeout(until.saturating_duration_since(Instant::now())).ok())
        .find(|&(_, seq)| seq != u64::MAX && seq >= tr.prefix);
    tr.sent = sent.map_or(f64::NAN, |(at, _)| ms(at.duration_since(killed)));
    let _ = Command::new("kill").args(["-TERM", &node_b.id().to_string()]).status();
    let stop = Instant::now();
    while node_b.try_wait().unwrap().is_none() {
        if stop.elapsed() > Duration::from_secs(20) {
            let _ = node_b.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tr.a_records = records_in(&a_journal);
    tr
}

/// Follows B's stderr and journal until its first new order.
fn watch_b(
    rx: &mpsc::Receiver<(Instant, String)>,
    node_b: &mut Child,
    killed: Instant,
    killed_ms: u64,
    journal: &Path,
    pace: f64,
    tr: &mut Trial,
) {
    let since = |t: Instant| ms(t.duration_since(killed));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut reproduced = false;
    loop {
        assert!(Instant::now() < deadline, "no new order within 120 s (see b.stderr)");
        if let Some(status) = node_b.try_wait().unwrap() {
            panic!("B exited ({status}) before its first new order (see b.stderr)");
        }
        let wait = if reproduced { Duration::ZERO } else { Duration::from_millis(50) };
        while let Ok((at, line)) = rx.recv_timeout(wait) {
            if line.contains("waiting for it to expire") {
                tr.expiry = number_after(&line, " until ").map_or(0.0, |e| e.saturating_sub(killed_ms) as f64);
            } else if line.contains("taken by node-b") {
                tr.lease = since(at);
            } else if line.contains("fetched the journal") {
                tr.fetched = since(at);
                tr.prefix = number_after(&line, ": ").unwrap_or(0);
            } else if line.starts_with("resuming ") {
                tr.opened = since(at);
            } else if line.contains("journal prefix reproduced") {
                tr.resumed = since(at);
                reproduced = true;
            }
            if reproduced {
                break;
            }
        }
        if reproduced {
            let poll = Instant::now();
            if let Some((seq, market_ns)) = first_order(journal, tr.prefix) {
                tr.order = since(Instant::now());
                tr.poll = ms(poll.elapsed());
                tr.order_seq = seq;
                tr.market = market_ns as f64 / 1e6 / pace;
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn p50_max(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[(s.len() - 1) / 2], s[s.len() - 1])
}

fn report(a: &Args, trials: &[Trial]) {
    println!(
        "\n{} trials, lease TTL {} ms (renewed every {} ms), pace {}, {} events, kill after {} journal bytes",
        trials.len(),
        a.ttl_ms,
        a.ttl_ms / 3,
        a.pace,
        a.events,
        a.kill_after
    );
    type Row = (&'static str, fn(&Trial) -> f64);
    let rows: [Row; 14] = [
        ("kill → B holds the lease", |t| t.lease),
        ("kill → B fetched the prefix", |t| t.fetched),
        ("kill → B re-derived the prefix (resumed)", |t| t.resumed),
        ("kill → B's first new ORDER sent to JetStream (subject)", |t| t.sent),
        ("kill → B's first new ORDER in its journal file", |t| t.order),
        ("  lease expiry wait (A's expiry − kill)", |t| t.expiry),
        ("  lease taken after expiry (100 ms polling, connect)", |t| t.lease - t.expiry),
        ("  fetch of the prefix from the stream", |t| t.fetched - t.lease),
        ("  open: config, modules (cache), journal", |t| t.opened - t.fetched),
        ("  re-derivation of the prefix", |t| t.resumed - t.opened),
        ("  resumed → first new ORDER sent to JetStream", |t| t.sent - t.resumed),
        ("    market time to it at the pace", |t| t.market),
        ("  resumed → first new ORDER in the file (64 KiB blocks)", |t| t.order - t.resumed),
        ("  fetch per stream message (one get each)", |t| (t.fetched - t.lease) / t.messages.max(1) as f64),
    ];
    for (name, f) in rows {
        let v: Vec<f64> = trials.iter().map(f).collect();
        let (p50, max) = p50_max(&v);
        println!("{name:<55} p50 {p50:>8.1} ms  max {max:>8.1} ms");
    }
    let polls: Vec<f64> = trials.iter().map(|t| t.poll).collect();
    println!("journal poll that found the order (resolution of the last step): max {:.1} ms", p50_max(&polls).1);
}

fn main() {
    let a = args();
    assert!(a.bin.exists(), "{} missing: cargo build --release -p bulkhead", a.bin.display());
    let cluster = LocalCluster::start().expect("nats-server (scripts/nats-setup.sh)");
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("module-cache");
    let mut trials = Vec::new();
    for i in 0..a.trials {
        let t = trial(&a, &cluster, tmp.path(), &cache, i);
        println!(
            "trial {i}: expiry {:.0}  lease {:.0}  fetched {:.0}  opened {:.0}  resumed {:.0}  first order sent {:.0}, in the file {:.0} \
             ms after the kill (prefix {} records in {} messages; A's local file {}; order at seq {})",
            t.expiry,
            t.lease,
            t.fetched,
            t.opened,
            t.resumed,
            t.sent,
            t.order,
            t.prefix,
            t.messages,
            t.a_records,
            t.order_seq
        );
        trials.push(t);
    }
    report(&a, &trials);
}
