//! Split runs on a real 3-server JetStream cluster (issue 18): `bulkhead
//! gateway` owns the venue and the firm-wide checks, `bulkhead run
//! --gateway` nodes host the strategies. Skipped without nats-server unless
//! `BULKHEAD_REQUIRE_NATS` is set (then it fails).

use crate::cluster_cli::{cluster, write_cluster};
use crate::common::{bulkhead, demo_variant};
use bulkhead_cluster::local::LocalCluster;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Records of `kind` of a journal, as `journal show --json` renders them.
fn show(dir: &Path, kind: &str) -> Vec<Value> {
    let (code, out, err) = bulkhead(&["journal", "show", s(dir), "--kind", kind, "--json"]);
    assert_eq!(code, 0, "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A journal's fills of strategy `sid`, without their journal seq.
fn fills(dir: &Path, sid: u64) -> Vec<Value> {
    events(dir, sid, "fill")
}

/// A journal's venue events `event` of strategy `sid`, without their journal seq.
fn events(dir: &Path, sid: u64, event: &str) -> Vec<Value> {
    show(dir, "venue")
        .into_iter()
        .filter(|v| v["event"] == event && v["sid"] == sid)
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("seq");
            v
        })
        .collect()
}

/// Start gateway `gw` over config `cfg` for `nodes` (comma-separated),
/// its cluster file `<gw>-gw`, journal in `dir`.
fn spawn_gateway(
    c: &LocalCluster,
    tmp: &Path,
    cfg: &Path,
    (gw, nodes): (&str, &str),
    dir: &Path,
    extra: &[&str],
) -> Child {
    let gct = write_cluster(tmp, c, &format!("{gw}-gw"), "");
    let mut args =
        vec!["gateway", s(cfg), "--cluster", s(&gct), "--name", gw, "--nodes", nodes, "--journal-dir", s(dir)];
    args.extend_from_slice(extra);
    spawn(&args)
}

/// Start gateway `gw` for `nodes` ((cluster node name, strategies)) over
/// config `cfg`, run them all to the end; (gateway output, node outputs).
fn split_run(c: &LocalCluster, tmp: &Path, cfg: &Path, gw: &str, nodes: &[(&str, &str)]) -> (String, Vec<String>) {
    let names: Vec<&str> = nodes.iter().map(|n| n.0).collect();
    let gdir = journal(tmp, gw);
    let gateway = spawn_gateway(c, tmp, cfg, (gw, &names.join(",")), &gdir, &[]);
    let mut children = Vec::new();
    for (node, strategies) in nodes {
        children.push(spawn_node(c, tmp, cfg, (gw, node, strategies), None, &[]));
    }
    let outs: Vec<String> = children
        .into_iter()
        .map(|ch| {
            let (code, out) = finish(ch);
            assert_eq!(code, 0, "{out}");
            out
        })
        .collect();
    let (code, gout) = finish(gateway);
    assert_eq!(code, 0, "{gout}");
    (gout, outs)
}

/// Start node `node` of gateway `gw` hosting `strategies`, journal in
/// `dir` (`<node>-journal` under `tmp` when `None`).
fn spawn_node(
    c: &LocalCluster,
    tmp: &Path,
    cfg: &Path,
    (gw, node, strategies): (&str, &str, &str),
    dir: Option<&Path>,
    extra: &[&str],
) -> Child {
    let ct = write_cluster(tmp, c, node, "");
    let dir = dir.map_or_else(|| journal(tmp, node), Path::to_path_buf);
    let mut args = vec![
        "run",
        s(cfg),
        "--quiet",
        "--cluster",
        s(&ct),
        "--gateway",
        gw,
        "--strategies",
        strategies,
        "--journal-dir",
        s(&dir),
    ];
    args.extend_from_slice(extra);
    spawn(&args)
}

fn journal(tmp: &Path, name: &str) -> PathBuf {
    tmp.join(format!("{name}-journal"))
}

#[test]
fn a_run_split_over_two_nodes_and_a_gateway_fills_as_one_process() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_variant(tmp.path(), |t| t);
    let one = tmp.path().join("one");
    assert_eq!(bulkhead(&["run", s(&cfg), "--quiet", "--journal-dir", s(&one)]).0, 0);
    let (gout, outs) =
        split_run(&c, tmp.path(), &cfg, "g2n", &[("node-a", "market-maker"), ("node-b", "momentum,misbehaving")]);
    assert!(gout.contains("0 malformed messages dropped"), "{gout}");
    assert!(outs[0].contains("gateway link:"), "{}", outs[0]);
    let (a, b, g) = (journal(tmp.path(), "node-a"), journal(tmp.path(), "node-b"), journal(tmp.path(), "g2n"));
    // Every fill of one process, and only those, on the node hosting the strategy and at the gateway.
    for (sid, node) in [(0, &a), (1, &b), (2, &b)] {
        let expected = fills(&one, sid);
        assert_eq!(fills(node, sid), expected, "strategy {sid}: fills differ from one process");
        assert_eq!(fills(&g, sid), expected, "strategy {sid}: the gateway's fills differ");
    }
    assert!(fills(&one, 0).len() > 100, "the market maker trades");
    // A node never sees another node's strategies' fills.
    assert!(fills(&a, 1).is_empty() && fills(&b, 0).is_empty());
    let modules = crate::common::root().join("strategies/wasm");
    for dir in [&a, &b, &g] {
        let (code, out, err) = bulkhead(&["journal", "verify", s(dir)]);
        assert_eq!(code, 0, "{out}{err}");
        // Its venue was another process's: replay says so instead of diverging.
        let (code, out, err) = bulkhead(&["journal", "replay", s(dir), "--modules", s(&modules)]);
        assert_ne!(code, 0, "{out}");
        assert!(err.contains("a split run's journal") && err.contains("role ="), "{err}");
    }
    // The misbehaving strategy is quarantined on its node and its resting
    // bid cancelled at the gateway's venue, as in one process.
    let cancelled = events(&one, 2, "order_cancelled");
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(events(&b, 2, "order_cancelled"), cancelled);
    assert_eq!(events(&g, 2, "order_cancelled"), cancelled);
}

#[test]
fn four_nodes_pushing_at_once_never_take_the_firm_past_its_limit() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // 30 lots firm-wide; four market makers quoting 10 lots each side.
    let firm = tmp.path().join("firm.toml");
    std::fs::write(&firm, "max_position = \"0.03\"\nreference = \"mid\"\n").unwrap();
    let cfg = demo_variant(tmp.path(), |t| {
        let start = t.find("[[strategies]]").unwrap();
        let mm_end = t[start..].find("\n[[strategies]]").unwrap() + start;
        let mm = &t[start..mm_end];
        let mut out = t[..start].replace("policies/firm.toml", "");
        out = out.replace(
            &out[out.find("firm_policy = ").unwrap()..].lines().next().unwrap().to_string(),
            &format!("firm_policy = \"{}\"", firm.display()),
        );
        for k in 0..4 {
            out.push_str(&mm.replace("name = \"market-maker\"", &format!("name = \"mm{k}\"")));
            out.push('\n');
        }
        out
    });
    let nodes = [("n0", "mm0"), ("n1", "mm1"), ("n2", "mm2"), ("n3", "mm3")];
    let (gout, _) = split_run(&c, tmp.path(), &cfg, "g4n", &nodes);
    let g = journal(tmp.path(), "g4n");
    // The gateway's venue records in venue order: the firm's position after each fill.
    let mut firm_pos = 0i64;
    let mut peak = 0i64;
    let mut fills_seen = 0;
    for v in show(&g, "venue") {
        if v["event"] == "fill" {
            let q = v["qty"].as_i64().unwrap();
            firm_pos += if v["side"] == "buy" { q } else { -q };
            peak = peak.max(firm_pos.abs());
            fills_seen += 1;
            assert!(firm_pos.abs() <= 30, "firm position {firm_pos} lots past the 30-lot limit: {v}");
        }
    }
    assert!(fills_seen > 20, "{fills_seen} fills");
    // Refused at the gateway, naming the firm limit, and heard by each node.
    let refused: Vec<Value> =
        show(&g, "order").into_iter().filter(|v| v["reason_name"] == "R12_FIRM_MAX_POSITION").collect();
    assert!(!refused.is_empty(), "no firm refusal: {gout}");
    assert!(refused.iter().all(|v| v["limit"] == 30), "{:?}", refused[0]);
    for (k, (node, _)) in nodes.iter().enumerate() {
        let at_gateway = refused.iter().filter(|v| v["sid"] == k as u64).count();
        let heard = show(&journal(tmp.path(), node), "venue")
            .into_iter()
            .filter(|v| v["sid"] == k as u64 && v["event"] == "order_rejected" && v["a"] == 1201)
            .count();
        assert_eq!(heard, at_gateway, "{node}: firm refusals heard");
        assert_eq!(fills(&journal(tmp.path(), node), k as u64), fills(&g, k as u64), "{node}: fills");
    }
    let refusing_nodes = (0..4).filter(|k| refused.iter().any(|v| v["sid"] == *k as u64)).count();
    eprintln!("firm peak {peak} lots, {} refusals over {refusing_nodes} nodes, {fills_seen} fills", refused.len());
}

fn journal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
}

#[test]
fn a_gateway_killed_mid_run_and_restarted_resumes_from_the_stream_without_a_duplicate_order() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_variant(tmp.path(), |t| t.replace("events = 3_000", "events = 6_000"));
    let one = tmp.path().join("one");
    assert_eq!(bulkhead(&["run", s(&cfg), "--quiet", "--journal-dir", s(&one)]).0, 0);
    let gateway = |dir: &Path| spawn_gateway(&c, tmp.path(), &cfg, ("gr", "ra,rb"), dir, &[]);
    let (first, second) = (tmp.path().join("gw-first"), tmp.path().join("gw-second"));
    let mut g1 = gateway(&first);
    let mut nodes = Vec::new();
    for (node, strategies) in [("ra", "market-maker"), ("rb", "momentum,misbehaving")] {
        nodes.push(spawn_node(&c, tmp.path(), &cfg, ("gr", node, strategies), None, &[]));
    }
    // Mid-run: the gateway's journal has grown; kill -9 it, start another.
    let t = std::time::Instant::now();
    while journal_bytes(&first) < 150_000 {
        assert!(g1.try_wait().unwrap().is_none(), "the gateway ended before mid-run");
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    g1.kill().unwrap();
    g1.wait().unwrap();
    let g2 = gateway(&second);
    for n in nodes {
        let (code, out) = finish(n);
        assert_eq!(code, 0, "{out}");
    }
    let (code, gout) = finish(g2);
    assert_eq!(code, 0, "{gout}");
    // It re-derived the run from the stream: answers the nodes already had
    // are not sent again, no step or order was applied twice.
    assert!(gout.contains("0 duplicate steps and 0 duplicate orders dropped"), "{gout}");
    assert!(!gout.contains(" 0 answers already in the stream"), "{gout}");
    // Every order accepted once, fills as one process, on every side.
    let (a, b) = (journal(tmp.path(), "ra"), journal(tmp.path(), "rb"));
    for (sid, node) in [(0, &a), (1, &b), (2, &b)] {
        let expected = fills(&one, sid);
        assert_eq!(fills(node, sid), expected, "strategy {sid}: fills");
        assert_eq!(fills(&second, sid), expected, "strategy {sid}: the restarted gateway's fills");
        let accepted = events(node, sid, "order_accepted");
        let mut ids: Vec<&Value> = accepted.iter().map(|v| &v["id"]).collect();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "strategy {sid}: an order accepted twice");
        assert_eq!(accepted, events(&one, sid, "order_accepted"));
    }
    assert!(fills(&one, 0).len() > 100);
}

#[test]
fn a_node_killed_mid_run_is_replaced_through_its_lease_and_trades_on_with_no_order_sent_twice() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The live mirror needs the durable gate; one process runs the same config.
    let cfg = demo_variant(tmp.path(), |t| {
        t.replace("[run]\n", "[run]\nrelease_gate = \"durable\"\n").replace("events = 3_000", "events = 6_000")
    });
    let one = tmp.path().join("one");
    assert_eq!(bulkhead(&["run", s(&cfg), "--quiet", "--journal-dir", s(&one)]).0, 0);
    let gdir = journal(tmp.path(), "gf");
    let g = spawn_gateway(&c, tmp.path(), &cfg, ("gf", "fa,fb"), &gdir, &["--on-disconnect", "wait"]);
    let node = |name: &str, strategies: &str, dir: &Path, extra: &[&str]| {
        spawn_node(&c, tmp.path(), &cfg, ("gf", name, strategies), Some(dir), extra)
    };
    let (a_dir, b_dir, other) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("other"));
    let lease = |holder: &'static str| ["--lease", "--holder", holder, "--lease-ttl-ms", "1500"];
    let mut a = node("fa", "market-maker", &a_dir, &lease("a"));
    let rest = node("fb", "momentum,misbehaving", &other, &[]);
    let t = std::time::Instant::now();
    while journal_bytes(&a_dir) < 200_000 {
        assert!(a.try_wait().unwrap().is_none(), "A ended before mid-run");
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    a.kill().unwrap();
    a.wait().unwrap();
    // The standby takes the shard's lease, fetches A's journal, re-derives
    // it (its steps re-sent are stored once, the gateway's answers re-read)
    // and trades on.
    let resume = [&["--resume"][..], &lease("b")].concat();
    let (code, bout) = finish(node("fa", "market-maker", &b_dir, &resume));
    assert_eq!(code, 0, "{bout}");
    assert!(bout.contains("fetched the journal of fa"), "{bout}");
    let (code, out) = finish(rest);
    assert_eq!(code, 0, "{out}");
    let (code, gout) = finish(g);
    assert_eq!(code, 0, "{gout}");
    for (sid, dir) in [(0, &b_dir), (1, &other), (2, &other)] {
        assert_eq!(fills(dir, sid), fills(&one, sid), "strategy {sid}: fills");
        assert_eq!(fills(&gdir, sid), fills(&one, sid), "strategy {sid}: the gateway's fills");
    }
    // The gateway accepted every order once.
    let accepted: Vec<(u64, u64)> = show(&gdir, "order")
        .iter()
        .filter(|v| v["reason_name"] == "ACCEPTED")
        .map(|v| (v["sid"].as_u64().unwrap(), v["id"].as_u64().unwrap()))
        .collect();
    let mut unique = accepted.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), accepted.len(), "an order reached the venue twice");
    assert!(fills(&one, 0).len() > 100);
}

#[test]
fn a_nats_server_killed_mid_split_run_the_run_goes_on_and_fills_as_one_process() {
    let Some(mut c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_variant(tmp.path(), |t| t.replace("events = 3_000", "events = 6_000"));
    let one = tmp.path().join("one");
    assert_eq!(bulkhead(&["run", s(&cfg), "--quiet", "--journal-dir", s(&one)]).0, 0);
    // A leader election takes seconds: the heartbeat must outlast it.
    let gdir = journal(tmp.path(), "gk");
    let g = spawn_gateway(&c, tmp.path(), &cfg, ("gk", "ka,kb"), &gdir, &["--heartbeat-ms", "30000"]);
    let mut nodes = Vec::new();
    for (node, strategies) in [("ka", "market-maker"), ("kb", "momentum,misbehaving")] {
        nodes.push(spawn_node(&c, tmp.path(), &cfg, ("gk", node, strategies), None, &[]));
    }
    let t = std::time::Instant::now();
    while journal_bytes(&gdir) < 150_000 {
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    c.kill(0);
    for n in nodes {
        let (code, out) = finish(n);
        assert_eq!(code, 0, "{out}");
    }
    let (code, gout) = finish(g);
    assert_eq!(code, 0, "{gout}");
    for (sid, node) in [(0, "ka"), (1, "kb"), (2, "kb")] {
        assert_eq!(fills(&journal(tmp.path(), node), sid), fills(&one, sid), "strategy {sid}: fills");
        assert_eq!(fills(&gdir, sid), fills(&one, sid), "strategy {sid}: the gateway's fills");
    }
}

#[test]
fn one_cluster_kill_halts_every_node_of_a_split_run_and_the_run_completes() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_variant(tmp.path(), |t| t.replace("events = 3_000", "events = 6_000"));
    let gdir = journal(tmp.path(), "gx");
    let g = spawn_gateway(&c, tmp.path(), &cfg, ("gx", "xa,xb"), &gdir, &[]);
    let fast = ["--gateway-timeout-ms", "20000"];
    let nodes = [("xa", "market-maker"), ("xb", "momentum,misbehaving")]
        .map(|(node, strategies)| spawn_node(&c, tmp.path(), &cfg, ("gx", node, strategies), None, &fast));
    let t = std::time::Instant::now();
    while journal_bytes(&gdir) < 150_000 {
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The run-wide kill: each node halts its own strategies and cancels
    // their orders through the gateway (never another node's: its step
    // would be refused and the run would stall).
    let order =
        bulkhead_cluster::ctl::KillOrder::new(&bulkhead_cluster::ctl::KillScope::All, "ops", "test", 0).unwrap();
    c.publish(bulkhead_cluster::ctl::KILL_SUBJECT, &order.encode()).unwrap();
    for n in nodes {
        let (code, out) = finish(n);
        assert_eq!(code, 0, "{out}");
    }
    let (code, gout) = finish(g);
    assert_eq!(code, 0, "{gout}");
    assert!(gout.contains("0 malformed messages dropped"), "{gout}");
    for node in ["xa", "xb"] {
        let (commands, accepted_after) = crate::cluster_view::after_halt(&journal(tmp.path(), node));
        assert!(commands.iter().any(|l| l.starts_with("halt scope=global")), "{node}: {commands:?}");
        assert_eq!(accepted_after, 0, "{node}: an order accepted after the kill");
    }
    // The market maker's resting orders were cancelled by the kill at the gateway's venue.
    let killed = events(&gdir, 0, "order_cancelled")
        .iter()
        .filter(|v| v["a"] == i64::from(bulkhead_abi::Reason::CancelledByKillSwitch.code()))
        .count();
    assert!(killed > 0, "no order cancelled by the kill switch at the gateway");
}
