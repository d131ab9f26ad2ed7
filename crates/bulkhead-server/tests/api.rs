//! The API against a real server on a loopback port, with a fake engine
//! loop answering commands through the `ControlHandle` contract.

mod common;

use bulkhead_server::{Command, Role, Scope, ServerOptions, TokenStore, start};
use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const READS: &[&str] = &[
    "/api/v1/status",
    "/api/v1/whoami",
    "/api/v1/strategies",
    "/api/v1/strategies/alpha",
    "/api/v1/positions",
    "/api/v1/orders",
    "/api/v1/decisions",
    "/api/v1/faults",
    "/api/v1/journal",
    "/openapi.json",
    "/metrics",
];

fn harness() -> Harness {
    start_harness(ServerOptions::default())
}

fn assert_error(r: &Resp, status: u16, field: Option<&str>, contains: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    let v = r.json();
    let msg = v["error"].as_str().unwrap_or_else(|| panic!("no error message: {v}"));
    assert!(msg.contains(contains), "error {msg:?} should contain {contains:?}");
    match field {
        Some(f) => assert_eq!(v["field"], json!(f), "{v}"),
        None => assert!(v["field"].is_null(), "{v}"),
    }
}

/// Wait until the published snapshot satisfies `pred` (it is republished
/// right after each command, but a read can race the publish).
fn wait_for(h: &Harness, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = request(h.addr, "GET", path, Some(&h.tokens.viewer), None).json();
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting on {path}: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_request_without_a_valid_token_is_refused() {
    let h = harness();
    for path in READS {
        let r = request(h.addr, "GET", path, None, None);
        assert_error(&r, 401, Some("Authorization"), "missing bearer token");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"bulkhead\""));
        let r = request(h.addr, "GET", path, Some("bh_not-a-real-token"), None);
        assert_error(&r, 401, Some("Authorization"), "invalid token");
        let r = request_with(h.addr, "GET", path, &[("Authorization".into(), "Basic dXNlcjpwdw==".into())], None);
        assert_error(&r, 401, Some("Authorization"), "malformed Authorization header");
    }
    for path in ["/api/v1/halt", "/api/v1/strategies/alpha/deploy", "/api/v1/nope"] {
        let r = request(h.addr, "POST", path, None, Some(br#"{"scope":"global"}"#));
        assert_eq!(r.status, 401, "{path}: {}", r.text());
    }
    // The static page and its script carry no data and need no token.
    let r = request(h.addr, "GET", "/", None, None);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("data-testid=\"token-input\""));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(request(h.addr, "GET", "/dashboard.js", None, None).status, 200);
    assert!(h.journal.lock().unwrap().is_empty(), "nothing reached the engine");
}

#[test]
fn viewers_read_everything() {
    let h = harness();
    for path in READS {
        let r = request(h.addr, "GET", path, Some(&h.tokens.viewer), None);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
    }
    let v = request(h.addr, "GET", "/api/v1/whoami", Some(&h.tokens.viewer), None).json();
    assert_eq!(v, json!({"name": "watcher", "role": "viewer"}));
    let v = request(h.addr, "GET", "/api/v1/strategies", Some(&h.tokens.viewer), None).json();
    let names: Vec<&str> = v["strategies"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, STRATEGIES);
    assert_eq!(v["strategies"][0]["resources"]["fuel_used"], json!(123_456));
    assert_eq!(v["strategies"][0]["state"], json!("active"));
    let v = request(h.addr, "GET", "/api/v1/strategies/beta", Some(&h.tokens.viewer), None).json();
    assert_eq!(v["strategy"]["name"], json!("beta"));
    assert_eq!(v["open_orders"].as_array().unwrap().len(), 1);
    let v = request(h.addr, "GET", "/api/v1/positions?strategy=gamma", Some(&h.tokens.viewer), None).json();
    assert_eq!(v["positions"].as_array().unwrap().len(), 1);
    let v = request(h.addr, "GET", "/api/v1/journal", Some(&h.tokens.viewer), None).json();
    assert_eq!(v["journal"]["records"], json!(100));
    let v = request(h.addr, "GET", "/api/v1/faults", Some(&h.tokens.viewer), None).json();
    assert_eq!(v["faults"][0]["kind"], json!("fuel_exhausted"));
    // The OpenAPI document describes every route the server has.
    let api = request(h.addr, "GET", "/openapi.json", Some(&h.tokens.viewer), None).json();
    assert_eq!(api["openapi"], json!("3.1.0"));
    for p in [
        "/api/v1/status",
        "/api/v1/whoami",
        "/api/v1/strategies",
        "/api/v1/strategies/{name}",
        "/api/v1/positions",
        "/api/v1/orders",
        "/api/v1/decisions",
        "/api/v1/faults",
        "/api/v1/journal",
        "/api/v1/stream",
        "/api/v1/halt",
        "/api/v1/reduce",
        "/api/v1/resume",
        "/api/v1/cancel",
        "/api/v1/strategies/{name}/limits",
        "/api/v1/strategies/{name}/deploy",
        "/api/v1/strategies/{name}/restart",
        "/metrics",
        "/openapi.json",
        "/",
    ] {
        assert!(api["paths"][p].is_object(), "openapi.json lacks {p}");
    }
}

#[test]
fn each_role_is_allowed_and_refused_where_it_should_be() {
    let h = harness();
    let wasm: &[u8] = b"\0asm\x01\0\0\0";
    let limit = br#"{"field":"max_order_qty","value":5}"#;
    let scope = br#"{"scope":"strategy","name":"beta"}"#;
    // (method, path, body, least role)
    let cases: &[(&str, &str, &[u8], Role)] = &[
        ("POST", "/api/v1/halt", scope, Role::Operator),
        ("POST", "/api/v1/reduce", scope, Role::Operator),
        ("POST", "/api/v1/resume", scope, Role::Operator),
        ("POST", "/api/v1/cancel", scope, Role::Operator),
        ("POST", "/api/v1/strategies/beta/restart", b"", Role::Operator),
        ("POST", "/api/v1/strategies/beta/limits", limit, Role::Admin),
        ("POST", "/api/v1/strategies/beta/deploy", wasm, Role::Admin),
    ];
    let tokens =
        [(Role::Viewer, &h.tokens.viewer), (Role::Operator, &h.tokens.operator), (Role::Admin, &h.tokens.admin)];
    for (method, path, body, least) in cases {
        for (role, token) in tokens {
            let r = request(h.addr, method, path, Some(token), Some(body));
            if role >= *least {
                assert_eq!(r.status, 200, "{role:?} {path}: {}", r.text());
                assert_eq!(r.json()["ok"], json!(true));
            } else {
                assert_error(&r, 403, None, &format!("role `{}` required", least.as_str()));
            }
        }
    }
    // Every accepted command reached the engine with its actor; no refused one did.
    let applied = h.applied.lock().unwrap();
    let expected: usize = cases.iter().map(|c| tokens.iter().filter(|(r, _)| *r >= c.3).count()).sum();
    assert_eq!(applied.len(), expected);
    assert!(applied.iter().all(|(_, a)| a.role != Role::Viewer));
    assert!(applied.iter().any(|(c, a)| matches!(c, Command::Deploy { .. }) && a.name == "root"));
}

#[test]
fn a_kill_reaches_the_engine_with_the_actor_and_returns_its_reply() {
    let h = harness();
    let r = request(h.addr, "POST", "/api/v1/halt", Some(&h.tokens.operator), Some(br#"{"scope":"global"}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["message"], json!("halted global; open orders cancelled"));
    assert_eq!(v["actor"], json!("ops"));
    assert_eq!(v["command"], json!("halt"));
    assert_eq!(v["target"], json!({"scope": "global"}));
    let journal = h.journal.lock().unwrap().clone();
    assert_eq!(journal, vec!["halt scope=global actor=ops role=operator".to_string()]);
    let applied = h.applied.lock().unwrap().clone();
    assert_eq!(applied[0].0, Command::Halt(Scope::Global));
    assert_eq!(applied[0].1.name, "ops");
    // The engine republished: every open order is gone and the firm is halted.
    wait_for(&h, "/api/v1/orders", |v| v["orders"].as_array().is_some_and(|a| a.is_empty()));
    wait_for(&h, "/api/v1/strategies", |v| v["global_state"] == json!("halted"));
    // Halting one instrument and one strategy name the scope in the journal.
    let r = request(
        h.addr,
        "POST",
        "/api/v1/halt",
        Some(&h.tokens.operator),
        Some(format!(r#"{{"scope":"instrument","symbol":"{SYMBOL}"}}"#).as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r =
        request(h.addr, "POST", "/api/v1/halt", Some(&h.tokens.admin), Some(br#"{"scope":"strategy","name":"gamma"}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    let journal = h.journal.lock().unwrap().clone();
    assert_eq!(journal[1], format!("halt scope=instrument:{SYMBOL} actor=ops role=operator"));
    assert_eq!(journal[2], "halt scope=strategy:gamma actor=root role=admin");
    wait_for(&h, "/api/v1/strategies/gamma", |v| v["strategy"]["state"] == json!("halted"));
}

#[test]
fn malformed_bodies_get_400_or_422_naming_the_field_and_change_nothing() {
    let h = harness();
    let op = Some(h.tokens.operator.as_str());
    let cases: &[(&[u8], u16, &str, &str)] = &[
        (b"{\"scope\":", 400, "body", "malformed JSON"),
        (b"not json", 400, "body", "malformed JSON"),
        (b"", 400, "body", "empty body"),
        (b"[1,2]", 422, "body", "expected a JSON object"),
        (b"{}", 422, "scope", "missing field `scope`"),
        (b"{\"scope\":7}", 422, "scope", "must be a string"),
        (b"{\"scope\":\"everything\"}", 422, "scope", "must be `global`, `strategy` or `instrument`"),
        (b"{\"scope\":\"strategy\"}", 422, "name", "missing field `name`"),
        (b"{\"scope\":\"strategy\",\"name\":[\"alpha\"]}", 422, "name", "must be a string"),
        (b"{\"scope\":\"strategy\",\"name\":\"\"}", 422, "name", "must not be empty"),
        (b"{\"scope\":\"instrument\",\"name\":\"x\"}", 422, "name", "unknown field `name`"),
        (b"{\"scope\":\"global\",\"force\":true}", 422, "force", "unknown field `force`"),
    ];
    for path in ["/api/v1/halt", "/api/v1/reduce", "/api/v1/resume", "/api/v1/cancel"] {
        for (body, status, field, msg) in cases {
            let r = request(h.addr, "POST", path, op, Some(body));
            assert_error(&r, *status, Some(field), msg);
        }
    }
    let admin = Some(h.tokens.admin.as_str());
    let limits = "/api/v1/strategies/alpha/limits";
    let limit_cases: &[(&[u8], u16, &str, &str)] = &[
        (b"{\"value\":5}", 422, "field", "missing field `field`"),
        (b"{\"field\":\"max_order_qty\"}", 422, "value", "missing field `value`"),
        (b"{\"field\":\"max_order_qty\",\"value\":true}", 422, "value", "number or a decimal string"),
        (b"{\"field\":\"max_order_qty\",\"value\":\"lots\"}", 422, "value", "plain decimal"),
        (b"{\"field\":\"max_order_qty\",\"value\":\"1e3\"}", 422, "value", "plain decimal"),
        (b"{\"field\":\"max_warp\",\"value\":1}", 422, "field", "unknown limit `max_warp`"),
        (b"{\"field\":\"max_order_qty\",\"value\":1,\"also\":2}", 422, "also", "unknown field"),
        // Refused by the engine: outside the firm policy.
        (b"{\"field\":\"max_order_qty\",\"value\":\"500\"}", 422, "value", "firm policy"),
    ];
    for (body, status, field, msg) in limit_cases {
        let r = request(h.addr, "POST", limits, admin, Some(body));
        assert_error(&r, *status, Some(field), msg);
    }
    let deploy = "/api/v1/strategies/alpha/deploy";
    assert_error(&request(h.addr, "POST", deploy, admin, Some(b"")), 400, Some("body"), "empty body");
    assert_error(
        &request(h.addr, "POST", deploy, admin, Some(b"MZ\x90\0\x03\0\0\0")),
        422,
        Some("body"),
        "not a wasm module",
    );
    assert_error(&request(h.addr, "POST", deploy, admin, Some(b"\0asm\x0d\0\x01\0")), 422, Some("body"), "version");
    // Nothing was applied or journalled, and the limit is unchanged.
    assert!(h.journal.lock().unwrap().is_empty(), "{:?}", h.journal.lock().unwrap());
    let v = request(h.addr, "GET", "/api/v1/strategies/alpha", Some(&h.tokens.viewer), None).json();
    assert_eq!(v["strategy"]["limits"]["max_order_qty"], json!("10"));
    assert_eq!(v["strategy"]["state"], json!("active"));
    // A valid change is applied and visible.
    let r = request(h.addr, "POST", limits, admin, Some(b"{\"field\":\"max_order_qty\",\"value\":\"2.5\"}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        h.journal.lock().unwrap()[0],
        "set_limit strategy=alpha field=max_order_qty value=2.5 actor=root role=admin"
    );
    wait_for(&h, "/api/v1/strategies/alpha", |v| v["strategy"]["limits"]["max_order_qty"] == json!("2.5"));
}

#[test]
fn unknown_strategies_instruments_and_paths_are_404() {
    let h = harness();
    let (v, o, a) = (Some(h.tokens.viewer.as_str()), Some(h.tokens.operator.as_str()), Some(h.tokens.admin.as_str()));
    assert_error(
        &request(h.addr, "GET", "/api/v1/strategies/delta", v, None),
        404,
        Some("name"),
        "unknown strategy `delta`",
    );
    for q in [
        "/api/v1/decisions?strategy=delta",
        "/api/v1/positions?strategy=delta",
        "/api/v1/orders?strategy=delta",
        "/api/v1/faults?strategy=delta",
    ] {
        assert_error(&request(h.addr, "GET", q, v, None), 404, Some("strategy"), "unknown strategy `delta`");
    }
    let r = request(h.addr, "POST", "/api/v1/halt", o, Some(br#"{"scope":"strategy","name":"delta"}"#));
    assert_error(&r, 404, Some("name"), "unknown strategy `delta`");
    let r = request(h.addr, "POST", "/api/v1/halt", o, Some(br#"{"scope":"instrument","symbol":"DOGE"}"#));
    assert_error(&r, 404, Some("symbol"), "unknown instrument `DOGE`");
    let r = request(h.addr, "POST", "/api/v1/strategies/delta/restart", o, Some(b""));
    assert_error(&r, 404, Some("name"), "unknown strategy");
    let r =
        request(h.addr, "POST", "/api/v1/strategies/delta/limits", a, Some(br#"{"field":"max_order_qty","value":1}"#));
    assert_error(&r, 404, Some("name"), "unknown strategy");
    let r = request(h.addr, "POST", "/api/v1/strategies/delta/deploy", a, Some(b"\0asm\x01\0\0\0"));
    assert_error(&r, 404, Some("name"), "unknown strategy");
    assert_error(&request(h.addr, "GET", "/api/v1/nothing", v, None), 404, Some("path"), "no such endpoint");
    assert_error(&request(h.addr, "DELETE", "/api/v1/halt", o, None), 405, None, "not allowed");
    assert!(h.journal.lock().unwrap().is_empty());
}

#[test]
fn query_parameters_are_checked() {
    let h = harness();
    let v = Some(h.tokens.viewer.as_str());
    let r = request(h.addr, "GET", "/api/v1/decisions?kind=reject", v, None).json();
    let d = r["decisions"].as_array().unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["strategy"], json!("beta"));
    assert_eq!(d[0]["reason"], json!("R2_MAX_ORDER_QTY"));
    let r = request(h.addr, "GET", "/api/v1/decisions?strategy=alpha&kind=accept&limit=5", v, None).json();
    assert_eq!(r["decisions"].as_array().unwrap().len(), 1);
    let r = request(h.addr, "GET", "/api/v1/decisions?limit=2", v, None).json();
    let d = r["decisions"].as_array().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0]["strategy"], json!("gamma"), "newest first");
    assert_error(&request(h.addr, "GET", "/api/v1/decisions?limit=0", v, None), 422, Some("limit"), "limit must be");
    assert_error(&request(h.addr, "GET", "/api/v1/decisions?limit=ten", v, None), 422, Some("limit"), "limit must be");
    assert_error(
        &request(h.addr, "GET", "/api/v1/decisions?kind=maybe", v, None),
        422,
        Some("kind"),
        "`accept` or `reject`",
    );
    assert_error(
        &request(h.addr, "GET", "/api/v1/faults?since=3", v, None),
        422,
        Some("since"),
        "unknown query parameter",
    );
}

#[test]
fn oversized_bodies_are_413() {
    let h = harness();
    let o = Some(h.tokens.operator.as_str());
    // A JSON body over 1 MiB, declared with Content-Length.
    let mut big = br#"{"scope":"global","pad":""#.to_vec();
    big.resize((1 << 20) + 100, b'x');
    big.extend_from_slice(b"\"}");
    let r = request(h.addr, "POST", "/api/v1/halt", o, Some(&big));
    assert_error(&r, 413, Some("body"), "larger than 1048576 bytes");
    // The same, chunked (no Content-Length): refused while reading.
    let mut raw = format!(
        "POST /api/v1/halt HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n",
        h.tokens.operator
    )
    .into_bytes();
    for chunk in big.chunks(64 * 1024) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = raw_request(h.addr, &raw);
    assert_error(&r, 413, Some("body"), "larger than");
    // A module over 16 MiB: refused from its Content-Length, before upload.
    let mut s = TcpStream::connect(h.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/v1/strategies/alpha/deploy HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\n\r\n\0asm\x01\0\0\0",
        h.tokens.admin,
        (16 << 20) + 1
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut raw);
    let r = parse_response(&raw);
    assert_error(&r, 413, Some("body"), "larger than 16777216 bytes");
    // Just under the deploy limit is accepted.
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.resize(2 << 20, 0);
    let r = request_with(
        h.addr,
        "POST",
        "/api/v1/strategies/alpha/deploy",
        &[
            ("Authorization".into(), format!("Bearer {}", h.tokens.admin)),
            ("Content-Type".into(), "application/wasm".into()),
        ],
        Some(&module),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let hash = blake3::hash(&module).to_hex().to_string();
    assert_eq!(r.json()["target"]["module_blake3"], json!(hash));
    let journal = h.journal.lock().unwrap().clone();
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!(
        journal[0],
        format!("deploy strategy=alpha module_blake3={hash} module_len={} actor=root role=admin", 2 << 20)
    );
}

#[test]
fn engine_not_running_is_503_and_silent_engine_is_504() {
    let mut store = TokenStore::new();
    let (op, e) = TokenStore::generate("ops", Role::Operator).unwrap();
    store.add(e).unwrap();
    // The engine never drains: the request gives up after the timeout.
    let opts = ServerOptions { command_timeout: Duration::from_millis(300), ..ServerOptions::default() };
    let (mut handle, guard) = start("127.0.0.1:0".parse().unwrap(), store.clone(), opts).unwrap();
    let r = request(guard.local_addr(), "POST", "/api/v1/halt", Some(&op), Some(br#"{"scope":"global"}"#));
    assert_error(&r, 504, None, "may still be applied");
    // …and the halt is still delivered to the engine: a kill is never dropped.
    let (cmd, actor, reply) = handle.try_recv().expect("the timed-out halt is still queued");
    assert_eq!(cmd, Command::Halt(Scope::Global));
    assert_eq!(actor.name, "ops");
    assert!(reply.requester_gone());
    // Reads work before the first publish (an empty snapshot, seq 0).
    let v = request(guard.local_addr(), "GET", "/api/v1/strategies", Some(&op), None).json();
    assert_eq!(v["seq"], json!(0));
    // The engine has gone away: commands are refused at once.
    drop(handle);
    let r = request(guard.local_addr(), "POST", "/api/v1/halt", Some(&op), Some(br#"{"scope":"global"}"#));
    assert_error(&r, 503, None, "engine is not running");
    drop(guard);
    assert!(matches!(
        start("127.0.0.1:0".parse().unwrap(), TokenStore::new(), ServerOptions::default()),
        Err(bulkhead_server::ServerError::NoTokens)
    ));
}

use common::prom;

#[test]
fn metrics_parse_as_prometheus_text() {
    let h = harness();
    assert_eq!(request(h.addr, "GET", "/metrics", None, None).status, 401);
    // Wait until the fake engine has observed a few callbacks.
    std::thread::sleep(Duration::from_millis(100));
    // A command so that bulkhead_commands_total has a sample.
    request(h.addr, "POST", "/api/v1/cancel", Some(&h.tokens.operator), Some(br#"{"scope":"global"}"#));
    let r = request(h.addr, "GET", "/metrics", Some(&h.tokens.viewer), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = r.text();
    let fams = prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let get = |fam: &str, name: &str, labels: &[(&str, &str)]| -> f64 {
        let f = fams.get(fam).unwrap_or_else(|| panic!("no family {fam}"));
        f.samples
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
            .value
    };
    assert_eq!(fams["bulkhead_strategy_orders_total"].kind, "counter");
    let o = "bulkhead_strategy_orders_total";
    assert_eq!(get(o, o, &[("strategy", "beta"), ("outcome", "rejected"), ("reason", "R2_MAX_ORDER_QTY")]), 2.0);
    assert_eq!(get(o, o, &[("strategy", "alpha"), ("outcome", "accepted"), ("reason", "none")]), 8.0);
    let n = "bulkhead_strategy_fuel_used_total";
    assert_eq!(get(n, n, &[("strategy", "gamma")]), 123_456.0);
    let n = "bulkhead_strategy_pnl";
    assert_eq!(get(n, n, &[("strategy", "alpha"), ("component", "realised")]), 1.5);
    let n = "bulkhead_strategy_memory_peak_bytes";
    assert_eq!(get(n, n, &[("strategy", "alpha")]), 1048576.0);
    let n = "bulkhead_strategy_callback_duration_seconds";
    assert_eq!(fams[n].kind, "histogram");
    assert!(get(n, &format!("{n}_count"), &[("strategy", "alpha")]) >= 2.0);
    // beta: one callback of 5 µs, recorded in the sandbox bucket 4608..=5119 ns,
    // so it counts from the 10 µs bucket on (never understated).
    let beta = |le: &str| get(n, &format!("{n}_bucket"), &[("strategy", "beta"), ("le", le)]);
    assert_eq!((beta("0.0000025"), beta("0.000005"), beta("0.00001"), beta("+Inf")), (0.0, 0.0, 1.0, 1.0));
    assert_eq!(get(n, &format!("{n}_sum"), &[("strategy", "beta")]), 0.000005);
    prom::check_cumulative_histogram(&fams, n, "strategy", &["alpha", "beta", "gamma"]);
    let n = "bulkhead_journal_fsync_duration_seconds";
    assert_eq!(get(n, &format!("{n}_bucket"), &[("le", "0.00025")]), 1.0);
    assert_eq!(get("bulkhead_journal_fsyncs_total", "bulkhead_journal_fsyncs_total", &[]), 4.0);
    let n = "bulkhead_journal_fsync_seconds_total";
    assert_eq!(get(n, n, &[]), 0.0006);
    let n = "bulkhead_journal_fsync_max_seconds";
    assert_eq!((fams[n].kind.as_str(), get(n, n, &[])), ("gauge", 0.00025));
    let n = "bulkhead_commands_total";
    assert_eq!(get(n, n, &[("command", "mass_cancel"), ("outcome", "ok")]), 1.0);
    for f in [
        "bulkhead_strategy_state",
        "bulkhead_strategy_events_total",
        "bulkhead_strategy_fills_total",
        "bulkhead_strategy_faults_total",
        "bulkhead_events_processed_total",
        "bulkhead_event_lag_seconds",
        "bulkhead_journal_records_total",
        "bulkhead_position_lots",
        "bulkhead_snapshot_age_seconds",
    ] {
        assert!(fams.contains_key(f), "missing {f}");
    }
    // The parser is strict: it refuses what Prometheus would.
    assert!(prom::parse("# TYPE x_total counter\nx_total{a=\"1\"} 1\nx_total{a=\"1\"} 2\n").is_err());
    assert!(prom::parse("# TYPE x counter\nx 1\n").is_err());
    assert!(prom::parse("# TYPE x gauge\nx{a=\"\\q\"} 1\n").is_err());
    assert!(prom::parse("# TYPE x gauge\nx 1").is_err());
    assert!(prom::parse("y 1\n").is_err());

    // With the opt-out, /metrics needs no token; everything else still does.
    let open = start_harness(ServerOptions { metrics_public: true, ..ServerOptions::default() });
    let r = request(open.addr, "GET", "/metrics", None, None);
    assert_eq!(r.status, 200);
    prom::parse(&r.text()).unwrap();
    assert_eq!(request(open.addr, "GET", "/api/v1/strategies", None, None).status, 401);
}

#[test]
fn the_live_stream_delivers_state_changes() {
    let h = harness();
    assert_eq!(request(h.addr, "GET", "/api/v1/stream", None, None).status, 401);
    let mut s = TcpStream::connect(h.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        h.tokens.viewer
    )
    .unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut seen = String::new();
    let next_line = |reader: &mut BufReader<TcpStream>| {
        let mut l = String::new();
        reader.read_line(&mut l).expect("stream read");
        l
    };
    // Headers, then the hello event.
    let status = next_line(&mut reader);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("event: hello") {
        assert!(Instant::now() < deadline, "no hello: {seen}");
        seen.push_str(&next_line(&mut reader));
    }
    assert!(seen.to_ascii_lowercase().contains("content-type: text/event-stream"), "{seen}");
    let r = request(
        h.addr,
        "POST",
        "/api/v1/halt",
        Some(&h.tokens.operator),
        Some(br#"{"scope":"strategy","name":"alpha"}"#),
    );
    assert_eq!(r.status, 200);
    while !(seen.contains("event: state_change") && seen.contains("event: command")) {
        assert!(Instant::now() < deadline, "no state_change/command events: {seen}");
        seen.push_str(&next_line(&mut reader));
    }
    let data = seen
        .lines()
        .skip_while(|l| !l.starts_with("event: state_change"))
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["type"], json!("state_change"));
    assert_eq!(v["scope"], json!("strategy"));
    assert_eq!(v["name"], json!("alpha"));
    assert_eq!(v["state"], json!("halted"));
}
