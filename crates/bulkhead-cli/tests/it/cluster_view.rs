//! The control plane over a cluster (issue 18): two node runs (`bulkhead run
//! --cluster`, paced so they stay alive) and `bulkhead cluster serve` on a
//! real 3-server JetStream cluster. The view lists both nodes with their
//! strategies and health, the consumers' lag, Prometheus text per node; one
//! kill halts both nodes (each journal carries the COMMAND, no order is
//! accepted after it); a viewer cannot kill; a malformed status value and a
//! malformed kill message are counted and dropped.
//! Skipped without nats-server unless `BULKHEAD_REQUIRE_NATS` is set.

pub(crate) use crate::cluster_cli::cluster;
use crate::common::{bulkhead, demo_variant};
use bulkhead_cluster::local::LocalCluster;
use bulkhead_engine::records::Record;
use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `METHOD path` with an optional bearer token and JSON body: (status, body).
pub(crate) fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    c.write_all(req.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = c.read_to_string(&mut text);
    let status = text.split(' ').nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (status, body)
}

pub(crate) fn json(addr: &str, path: &str, token: &str) -> Value {
    let (code, body) = http(addr, "GET", path, Some(token), None);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `GET path` until `ok` holds (within 30 s); the last answer.
pub(crate) fn wait_for(addr: &str, path: &str, token: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let v = json(addr, path, token);
        if ok(&v) {
            eprintln!("{what}: after {:?}", t.elapsed());
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{what}: not within 30 s: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn token(file: &Path, name: &str, role: &str) -> String {
    let (code, out, err) = bulkhead(&["token", "add", "--file", s(file), "--name", name, "--role", role]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

/// A paced node run of the demo (~20 s of market time at 2×), stopped by SIGTERM.
pub(crate) fn node(dir: &Path, c: &LocalCluster, name: &str) -> (Child, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = demo_variant(dir, |t| {
        t.replace("[run]\n", "[run]\nrelease_gate = \"durable\"\n").replace("events = 3_000", "events = 40_000")
    });
    let ct = dir.join("cluster.toml");
    std::fs::write(&ct, c.cluster_toml(name)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["run", s(&cfg), "--quiet", "--cluster", s(&ct), "--pace", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, dir.join("out/demo.journal"))
}

pub(crate) fn stop(child: Child) -> (i32, String) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts `bulkhead cluster serve`; its address.
pub(crate) fn view(tmp: &Path, c: &LocalCluster, tokens: &Path) -> (Child, String) {
    let ct = tmp.join("view.toml");
    std::fs::write(&ct, c.cluster_toml("view")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["cluster", "serve", "--cluster", s(&ct), "--listen", "127.0.0.1:0", "--tokens", s(tokens)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no cluster view address");
        if let Some(rest) = line.split("cluster view on http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || {
        for line in stderr.lines() {
            eprintln!("view: {}", line.unwrap_or_default());
        }
    });
    (child, addr)
}

pub(crate) fn node_of<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["nodes"].as_array()?.iter().find(|n| n["node"] == name)
}

/// The journal's COMMAND lines and, for the first `halt`, whether any order
/// was accepted after it: (commands, orders accepted after the halt).
pub(crate) fn after_halt(journal: &Path) -> (Vec<String>, usize) {
    let (mut commands, mut halted, mut accepted_after) = (Vec::new(), false, 0);
    for r in bulkhead_journal::JournalReader::open(journal).unwrap() {
        let r = r.unwrap();
        match Record::decode(r.kind, &r.payload).unwrap() {
            Record::Command { text } => {
                let line = String::from_utf8_lossy(text).into_owned();
                halted |= line.starts_with("halt ");
                commands.push(line);
            }
            Record::Order { reason: bulkhead_abi::Reason::Accepted, .. } if halted => accepted_after += 1,
            _ => {}
        }
    }
    (commands, accepted_after)
}

#[test]
fn the_cluster_view_lists_both_nodes_and_one_kill_halts_them_all() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens.toml");
    let viewer = token(&tokens, "watcher", "viewer");
    let ops = token(&tokens, "ops", "operator");
    let (view_proc, addr) = view(tmp.path(), &c, &tokens);
    let (a, ja) = node(&tmp.path().join("a"), &c, "node-a");
    let (b, jb) = node(&tmp.path().join("b"), &c, "node-b");

    // Both nodes, their strategies, ready.
    let nodes = wait_for(&addr, "/api/v1/cluster/nodes", &viewer, "both nodes ready", |v| {
        ["node-a", "node-b"].iter().all(|n| {
            node_of(v, n).is_some_and(|x| {
                x["status"]["ready"] == true && x["stale"] == false && x["status"]["events"].as_u64() > Some(0)
            })
        })
    });
    for n in ["node-a", "node-b"] {
        let st = &node_of(&nodes, n).unwrap()["status"];
        let names: Vec<&str> =
            st["strategies"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["market-maker", "momentum", "misbehaving"], "{n}");
        assert_eq!(st["global_state"], "active", "{st}");
        assert_eq!(st["role"], "node");
    }

    // Lag per consumer: a durable consumer that never reads lags by the whole stream.
    c.add_consumer("BHJ_node-a", "audit").unwrap();
    let streams = wait_for(&addr, "/api/v1/cluster/streams", &viewer, "consumer lag", |v| {
        v["streams"].as_array().unwrap().iter().any(|s| {
            s["name"] == "BHJ_node-a" && s["consumers"].as_array().unwrap().iter().any(|c| c["name"] == "audit")
        })
    });
    let bhj = streams["streams"].as_array().unwrap().iter().find(|s| s["name"] == "BHJ_node-a").unwrap();
    assert_eq!(bhj["kind"], "journal");
    let audit = &bhj["consumers"][0];
    assert!(audit["num_pending"].as_u64().unwrap() > 0 && audit["lag"] == audit["num_pending"], "{bhj}");
    let kinds: Vec<&str> = streams["streams"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"status") && kinds.contains(&"control"), "{kinds:?}");

    // Hostile input: a malformed status value and a malformed kill message are counted, dropped.
    c.publish("$KV.BULKHEAD_NODES.ghost", b"{\"node\":\"ghost\",\"role\":7}").unwrap();
    c.publish("bulkhead.ctl.kill", b"{\"scope\":\"everything\"}").unwrap();
    let v = wait_for(&addr, "/api/v1/cluster/nodes", &viewer, "malformed counted", |v| {
        v["status_malformed"] == 1
            && ["node-a", "node-b"].iter().all(|n| node_of(v, n).is_some_and(|x| x["status"]["ctl_malformed"] == 1))
    });
    assert!(node_of(&v, "ghost").is_none(), "a malformed value is not a node");
    assert!(["node-a", "node-b"].iter().all(|n| node_of(&v, n).unwrap()["status"]["global_state"] == "active"));

    // Access: no token 401, a viewer cannot kill (403), a bad body names the field.
    let kill = |tok: Option<&str>, body: &str| http(&addr, "POST", "/api/v1/cluster/kill", tok, Some(body));
    assert_eq!(kill(None, "{\"scope\":\"all\",\"reason\":\"x\"}").0, 401);
    let (code, body) = kill(Some(&viewer), "{\"scope\":\"all\",\"reason\":\"x\"}");
    assert_eq!(code, 403, "{body}");
    let (code, body) = kill(Some(&ops), "{\"scope\":\"all\"}");
    assert!(code == 422 && body.contains("reason"), "{code} {body}");
    let (code, body) = kill(Some(&ops), "{\"scope\":\"galaxy\",\"reason\":\"x\"}");
    assert!(code == 422 && body.contains("scope"), "{code} {body}");

    // One kill halts both nodes.
    let t = Instant::now();
    let (code, body) = kill(Some(&ops), "{\"scope\":\"all\",\"reason\":\"risk breach drill\"}");
    assert_eq!(code, 200, "{body}");
    let v = wait_for(&addr, "/api/v1/cluster/nodes", &viewer, "both nodes halted", |v| {
        ["node-a", "node-b"].iter().all(|n| {
            node_of(v, n).is_some_and(|x| x["status"]["global_state"] == "halted" && x["status"]["kills_applied"] == 1)
        })
    });
    eprintln!("kill to both nodes halted (as the view saw it): {:?}", t.elapsed());
    let last = node_of(&v, "node-a").unwrap()["status"]["last_kill"].as_str().unwrap().to_string();
    assert_eq!(last, "all by ops: risk breach drill");

    let (code, text) = http(&addr, "GET", "/metrics", Some(&viewer), None);
    assert_eq!(code, 200);
    for line in [
        "bulkhead_cluster_node_up{node=\"node-a\"} 1",
        "bulkhead_cluster_node_up{node=\"node-b\"} 1",
        "bulkhead_cluster_node_halted{node=\"node-a\"} 1",
        "bulkhead_cluster_node_kills_applied_total{node=\"node-b\"} 1",
        "bulkhead_cluster_node_ctl_malformed_total{node=\"node-a\"} 1",
        "bulkhead_cluster_consumer_pending_messages{stream=\"BHJ_node-a\",consumer=\"audit\"}",
        "bulkhead_cluster_status_malformed_total 1",
    ] {
        assert!(text.contains(line), "`{line}` not in:\n{text}");
    }
    assert!(text.contains("bulkhead_cluster_node_mirror_lag_records{node=\"node-a\"}"), "{text}");
    assert_eq!(http(&addr, "GET", "/metrics", None, None).0, 401);

    // Let both run on halted for a moment, then stop them.
    std::thread::sleep(Duration::from_millis(1000));
    let (code_a, out_a) = stop(a);
    let (code_b, out_b) = stop(b);
    assert_eq!(code_a, 0, "{out_a}");
    assert_eq!(code_b, 0, "{out_b}");
    for journal in [&ja, &jb] {
        let (commands, accepted_after) = after_halt(journal);
        assert_eq!(commands, ["halt scope=global actor=cluster.ops role=operator"], "{}", journal.display());
        assert_eq!(accepted_after, 0, "no order accepted after the kill");
    }
    // The view marks them finished (no longer up).
    wait_for(&addr, "/api/v1/cluster/nodes", &viewer, "nodes finished", |v| {
        ["node-a", "node-b"].iter().all(|n| node_of(v, n).is_some_and(|x| x["status"]["phase"] == "finished"))
    });
    let _ = stop(view_proc);
}
