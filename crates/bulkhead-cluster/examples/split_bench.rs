//! Benchmark (not a test): one run config with four market makers, side by
//! side on a fresh 3-server loopback JetStream cluster — one process, then
//! a gateway with 1, 2 and 4 nodes (`bulkhead gateway` + `bulkhead run
//! --gateway`) — total strategy-events/s (market events × strategies / wall
//! time from spawn to the last exit, modules precompiled), the node →
//! gateway → venue → node round trip of each step that carried a new order
//! (p50 / p99 / p99.9, measured by the nodes), and NATS's own core
//! request-reply round trip on the same cluster as the floor.
//!
//! ```text
//! cargo build --release -p bulkhead
//! cargo run --release -p bulkhead-cluster --features localcluster --example split_bench -- \
//!     [--events 20000] [--bin PATH]
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bulkhead_cluster::local::LocalCluster;

const STRATEGIES: usize = 4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The demo's market and venue, four market makers mm0..mm3, no firm
/// policy, `events` events, a shared module cache.
fn write_config(dir: &Path, events: u64) -> PathBuf {
    let root = root();
    let text = std::fs::read_to_string(root.join("examples/demo.toml")).unwrap();
    let text = text
        .replace("\"../strategies/", &format!("\"{}/strategies/", root.display()))
        .replace("\"policies/", &format!("\"{}/examples/policies/", root.display()))
        .replace("events = 1_000_000", &format!("events = {events}"))
        .replace("\"out/module-cache\"", &format!("\"{}\"", dir.join("cache").display()));
    let start = text.find("[[strategies]]").unwrap();
    let end = text[start..].find("\n[[strategies]]").unwrap() + start;
    let mut out: String =
        text[..start].lines().filter(|l| !l.starts_with("firm_policy")).collect::<Vec<_>>().join("\n");
    out.push('\n');
    for k in 0..STRATEGIES {
        out.push_str(&text[start..end].replace("name = \"market-maker\"", &format!("name = \"mm{k}\"")));
        out.push('\n');
    }
    let path = dir.join("cfg.toml");
    std::fs::write(&path, out).unwrap();
    path
}

fn run(bin: &Path, args: &[&str]) -> std::process::Child {
    Command::new(bin).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn output(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

/// One split run: gateway + `nodes` nodes; (wall seconds, a node's `gateway link` line).
fn split(bin: &Path, c: &LocalCluster, dir: &Path, cfg: &Path, nodes: usize, tag: &str) -> (f64, String) {
    let toml = |node: &str| {
        let p = dir.join(format!("{node}.toml"));
        std::fs::write(&p, c.cluster_toml(node)).unwrap();
        p
    };
    let names: Vec<String> = (0..nodes).map(|k| format!("{tag}n{k}")).collect();
    let gw = format!("{tag}gw");
    let (gct, gdir) = (toml(&gw), dir.join(format!("{gw}-journal")));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let t = Instant::now();
    let g = run(
        bin,
        &[
            "gateway",
            &s(cfg),
            "--cluster",
            &s(&gct),
            "--name",
            &gw,
            "--nodes",
            &names.join(","),
            "--journal-dir",
            &s(&gdir),
        ],
    );
    let mut children = Vec::new();
    for (k, node) in names.iter().enumerate() {
        let hosted: Vec<String> = (0..STRATEGIES).filter(|i| i % nodes == k).map(|i| format!("mm{i}")).collect();
        let (ct, jdir) = (toml(node), dir.join(format!("{node}-journal")));
        children.push(run(
            bin,
            &[
                "run",
                &s(cfg),
                "--quiet",
                "--cluster",
                &s(&ct),
                "--gateway",
                &gw,
                "--strategies",
                &hosted.join(","),
                "--journal-dir",
                &s(&jdir),
            ],
        ));
    }
    let outs: Vec<String> = children.into_iter().map(output).collect();
    output(g);
    let wall = t.elapsed().as_secs_f64();
    let link = outs[0].lines().find(|l| l.starts_with("gateway link:")).unwrap_or("").to_string();
    (wall, link)
}

/// NATS core request-reply round trips on the cluster (p50, p99, p99.9 µs).
fn nats_floor(c: &LocalCluster) -> (f64, f64, f64) {
    use futures_util::StreamExt;
    let cfg = bulkhead_cluster::ClusterConfig::from_toml(&c.cluster_toml("rr")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let server = bulkhead_cluster::connect(&cfg).await.unwrap();
        let client = bulkhead_cluster::connect(&cfg).await.unwrap();
        let mut sub = server.subscribe("bench.rr").await.unwrap();
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if let Some(r) = m.reply {
                    let _ = server.publish(r, m.payload).await;
                }
            }
        });
        client.flush().await.unwrap();
        // The responder's interest reaches the other servers of the cluster
        // after a moment: wait for the first answer, then warm up.
        while client.request("bench.rr", vec![0u8; 64].into()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut ns = Vec::new();
        for i in 0..6000 {
            let t = Instant::now();
            client.request("bench.rr", vec![0u8; 64].into()).await.unwrap();
            if i >= 1000 {
                ns.push(t.elapsed().as_nanos() as f64 / 1000.0);
            }
        }
        ns.sort_by(f64::total_cmp);
        let q = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize];
        (q(0.5), q(0.99), q(0.999))
    })
}

fn main() {
    let mut events = 20_000u64;
    let mut bin = root().join("target/release/bulkhead");
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--events" => events = v.parse().unwrap_or_else(|_| panic!("--events: `{v}`")),
            "--bin" => bin = PathBuf::from(v),
            _ => panic!("unknown flag {flag}"),
        }
    }
    let c = LocalCluster::start().expect("3-server JetStream cluster (scripts/nats-setup.sh)");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), events);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // Warm the module cache, then the one-process run.
    output(run(&bin, &["run", &s(&cfg), "--quiet", "--journal-dir", &s(&tmp.path().join("warm"))]));
    let t = Instant::now();
    output(run(&bin, &["run", &s(&cfg), "--quiet", "--journal-dir", &s(&tmp.path().join("one"))]));
    let one = t.elapsed().as_secs_f64();
    let se = (events as f64) * STRATEGIES as f64;
    println!("{events} market events, {STRATEGIES} market makers (strategy-events = events x strategies)");
    println!("| setup | wall s | strategy-events/s | node -> gateway -> venue -> node (steps with a new order) |");
    println!("|---|---:|---:|---|");
    println!("| 1 process | {one:.2} | {:.0} | - |", se / one);
    for nodes in [1usize, 2, 4] {
        let (wall, link) = split(&bin, &c, tmp.path(), &cfg, nodes, &format!("s{nodes}"));
        let link = link.trim_start_matches("gateway link: ");
        println!("| gateway + {nodes} node(s) | {wall:.2} | {:.0} | {link} |", se / wall);
    }
    let (p50, p99, p999) = nats_floor(&c);
    println!(
        "NATS core request-reply on the same cluster (floor): p50 {p50:.0} us, p99 {p99:.0} us, p99.9 {p999:.0} us"
    );
}
