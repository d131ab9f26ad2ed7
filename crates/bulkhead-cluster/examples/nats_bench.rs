//! Benchmark (not a test): on a fresh 3-server loopback JetStream cluster, NATS core
//! request-reply round trip, JetStream publish→ack latency (3 replicas, file storage),
//! and journal push / fetch throughput.
//!
//! ```text
//! cargo run --release -p bulkhead-cluster --features localcluster --example nats_bench -- [JOURNAL_DIR]
//! ```
//! JOURNAL_DIR defaults to `examples/out/demo.journal` (run the demo first); without it a
//! synthetic journal of 200 000 records is written.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage, stream};
use bulkhead_cluster::local::LocalCluster;
use bulkhead_cluster::{ClusterConfig, connect, fetch_journal_async, push_journal_async};
use bulkhead_journal::{JournalParams, JournalWriter};
use futures_util::StreamExt;

fn pct(v: &mut [u64], p: f64) -> String {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.1} µs", v[i] as f64 / 1000.0)
}

fn summary(name: &str, v: &mut [u64]) {
    println!(
        "{name}: n={} p50 {} p99 {} p999 {} max {}",
        v.len(),
        pct(v, 0.5),
        pct(v, 0.99),
        pct(v, 0.999),
        pct(v, 1.0)
    );
}

async fn request_reply(client: &async_nats::Client, n: usize) -> Vec<u64> {
    let mut sub = client.subscribe("bench.rr").await.unwrap();
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            if let Some(reply) = m.reply {
                responder.publish(reply, m.payload).await.unwrap();
            }
        }
    });
    client.flush().await.unwrap();
    let payload = bytes::Bytes::from(vec![7u8; 64]);
    let mut v = Vec::with_capacity(n);
    for i in 0..n + 1000 {
        let t = Instant::now();
        client.request("bench.rr", payload.clone()).await.unwrap();
        if i >= 1000 {
            v.push(t.elapsed().as_nanos() as u64);
        }
    }
    v
}

async fn publish_ack(js: &jetstream::Context, n: usize, size: usize) -> Vec<u64> {
    let name = format!("BENCH_{size}");
    js.get_or_create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![format!("bench.js.{size}")],
        num_replicas: 3,
        storage: stream::StorageType::File,
        max_message_size: 1 << 20,
        ..Default::default()
    })
    .await
    .unwrap();
    let payload = bytes::Bytes::from(vec![1u8; size]);
    let mut v = Vec::with_capacity(n);
    for i in 0..n + 100 {
        let t = Instant::now();
        let m = PublishMessage::build().payload(payload.clone()).message_id(format!("m{i}"));
        js.send_publish(format!("bench.js.{size}"), m).await.unwrap().await.unwrap();
        if i >= 100 {
            v.push(t.elapsed().as_nanos() as u64);
        }
    }
    js.delete_stream(&name).await.unwrap();
    v
}

fn journal(tmp: &std::path::Path) -> PathBuf {
    let arg = std::env::args().nth(1).map(PathBuf::from);
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/out/demo.journal");
    if let Some(p) = arg.or_else(|| demo.exists().then_some(demo)) {
        return p;
    }
    let dir = tmp.join("synthetic.journal");
    let mut w = JournalWriter::create(&dir, JournalParams::default()).unwrap();
    for i in 0..200_000u64 {
        w.append((i % 16) as u16 + 1, i, &vec![(i % 251) as u8; 100 + (i % 200) as usize]).unwrap();
    }
    w.finish().unwrap();
    dir
}

fn main() {
    let cluster = LocalCluster::start().expect("nats-server (scripts/nats-setup.sh)");
    let tmp = tempfile::tempdir().unwrap();
    let src = journal(tmp.path());
    let cfg = ClusterConfig::from_toml(&cluster.cluster_toml("bench")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let client = connect(&cfg).await.unwrap();
        let mut rr = request_reply(&client, 20_000).await;
        summary("NATS core request-reply round trip (64 B)", &mut rr);
        let js = jetstream::new(client.clone());
        let mut small = publish_ack(&js, 10_000, 256).await;
        summary("JetStream publish→ack, R3 file, 256 B", &mut small);
        let mut big = publish_ack(&js, 1_000, 256 * 1024).await;
        summary("JetStream publish→ack, R3 file, 256 KiB (one full journal batch)", &mut big);

        let report = bulkhead_journal::verify(&src).unwrap();
        let t = Instant::now();
        let pushed = push_journal_async(&client, &cfg, &src).await.unwrap();
        let push_s = t.elapsed().as_secs_f64();
        let mb = report.bytes as f64 / 1e6;
        println!(
            "journal push {}: {} records, {:.1} MB in {} batches: {:.2} s, {:.0} records/s, {:.1} MB/s (journal bytes)",
            src.display(),
            pushed.sent,
            mb,
            pushed.batches,
            push_s,
            pushed.sent as f64 / push_s,
            mb / push_s
        );
        let out = tmp.path().join("fetched");
        let t = Instant::now();
        let fetched = fetch_journal_async(&client, &cfg, "bench", &out, false).await.unwrap();
        let fetch_s = t.elapsed().as_secs_f64();
        assert!(fetched.seal_checked && fetched.last_hash == report.last_hash);
        println!(
            "journal fetch (rebuild + link and seal checks): {:.2} s, {:.0} records/s, {:.1} MB/s",
            fetch_s,
            fetched.records as f64 / fetch_s,
            mb / fetch_s
        );
    });
    drop(cluster);
    std::thread::sleep(Duration::from_millis(10));
}
