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
