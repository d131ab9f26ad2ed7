//! The API against a real server on a loopback port, with the real engine
//! behind it (the demo strategies, see [`start_live`]): roles, auth, bad
//! input, decision lists, `/metrics` and the live stream. The one test that
//! needs an engine that never answers (504, then 503 once it is gone) starts
//! the real server and holds its real `ControlHandle` without driving it.

use crate::common;

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
    "/api/v1/strategies/momentum",
    "/api/v1/positions",
    "/api/v1/orders",
    "/api/v1/decisions",
    "/api/v1/faults",
    "/api/v1/alerts",
    "/api/v1/chain/intents",
    "/api/v1/journal",
    "/openapi.json",
    "/metrics",
];

fn live() -> Live {
    start_live(LiveOptions::default())
}

fn module(name: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read(root.join("strategies/wasm").join(name)).unwrap()
}

#[test]
fn every_request_without_a_valid_token_is_refused() {
    let mut h = live();
    for path in READS.iter().chain(&["/api/v1/tokens"]) {
        let r = request(h.addr, "GET", path, None, None);
        assert_error(&r, 401, Some("Authorization"), "missing bearer token");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"bulkhead\""));
        let r = request(h.addr, "GET", path, Some("bh_not-a-real-token"), None);
        assert_error(&r, 401, Some("Authorization"), "invalid token");
        let r = request_with(h.addr, "GET", path, &[("Authorization".into(), "Basic dXNlcjpwdw==".into())], None);
        assert_error(&r, 401, Some("Authorization"), "malformed Authorization header");
    }
    for path in ["/api/v1/halt", "/api/v1/strategies/momentum/deploy", "/api/v1/tokens", "/api/v1/nope"] {
        let r = request(h.addr, "POST", path, None, Some(br#"{"scope":"global"}"#));
        assert_eq!(r.status, 401, "{path}: {}", r.text());
    }
    assert_eq!(request(h.addr, "DELETE", "/api/v1/tokens/root", None, None).status, 401);
    // The static page and its script carry no data and need no token.
    let r = request(h.addr, "GET", "/", None, None);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("data-testid=\"token-input\""));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(request(h.addr, "GET", "/dashboard.js", None, None).status, 200);
    assert!(h.stop().is_empty(), "nothing reached the engine's journal");
}

#[test]
fn viewers_read_everything() {
    let h = live();
    for path in READS {
        let r = request(h.addr, "GET", path, Some(&h.tokens.viewer), None);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
    }
    let v = request(h.addr, "GET", "/api/v1/whoami", Some(&h.tokens.viewer), None).json();
    assert_eq!(v, json!({"name": "watcher", "role": "viewer"}));
    // The run is over (2000 events) and lingering: its final state.
    let v = h.wait_for("/api/v1/status", |v| v["engine"]["phase"] == json!("finished"));
    assert!(v["engine"]["events_processed"].as_u64().unwrap() >= 2_000, "{v}");
    let v = request(h.addr, "GET", "/api/v1/strategies", Some(&h.tokens.viewer), None).json();
    let names: Vec<&str> = v["strategies"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, DEMO_STRATEGIES);
    let mm = &v["strategies"][0];
    assert_eq!(mm["state"], json!("active"), "{mm}");
    assert!(mm["resources"]["fuel_used"].as_u64().unwrap() > 0, "{mm}");
    assert!(mm["orders"]["submitted"].as_u64().unwrap() > 0, "{mm}");
    // misbehaving loops on its 1000th event: fuel stops it.
    assert_eq!(v["strategies"][2]["state"], json!("quarantined"), "{}", v["strategies"][2]);
    let v = request(h.addr, "GET", "/api/v1/strategies/market-maker", Some(&h.tokens.viewer), None).json();
    assert_eq!(v["strategy"]["name"], json!("market-maker"));
    assert_eq!(v["strategy"]["limits"]["max_order_qty"], json!("0.05"));
    let orders = request(h.addr, "GET", "/api/v1/orders?strategy=market-maker", Some(&h.tokens.viewer), None).json();
    assert_eq!(v["open_orders"], orders["orders"], "the detail's open orders are the order list's");
    let v = request(h.addr, "GET", "/api/v1/positions?strategy=momentum", Some(&h.tokens.viewer), None).json();
    assert!(v["positions"].as_array().unwrap().iter().all(|p| p["strategy"] == json!("momentum")), "{v}");
    let v = request(h.addr, "GET", "/api/v1/journal", Some(&h.tokens.viewer), None).json();
    assert!(v["journal"]["records"].as_u64().unwrap() > 2_000, "{v}");
    let v = request(h.addr, "GET", "/api/v1/chain/intents", Some(&h.tokens.viewer), None).json();
    assert_eq!((&v["intents"], &v["dropped"]), (&json!([]), &json!(0)), "the demo has no [chain]: {v}");
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
        "/api/v1/alerts",
        "/api/v1/chain/intents",
        "/api/v1/journal",
        "/api/v1/stream",
        "/api/v1/halt",
        "/api/v1/reduce",
        "/api/v1/resume",
        "/api/v1/cancel",
        "/api/v1/strategies/{name}/limits",
        "/api/v1/strategies/{name}/deploy",
        "/api/v1/strategies/{name}/restart",
        "/api/v1/tokens",
        "/api/v1/tokens/{name}",
        "/metrics",
        "/openapi.json",
        "/",
    ] {
        assert!(api["paths"][p].is_object(), "openapi.json lacks {p}");
    }
    for (p, m) in [("/api/v1/tokens", "get"), ("/api/v1/tokens", "post"), ("/api/v1/tokens/{name}", "delete")] {
        assert!(api["paths"][p][m].is_object(), "openapi.json lacks {m} {p}");
    }
}

#[test]
fn each_role_is_allowed_and_refused_where_it_should_be() {
    let mut h = live();
    let wasm = module("momentum.wasm");
    let limit = br#"{"field":"max_open_orders","value":5}"#;
    let scope = br#"{"scope":"strategy","name":"momentum"}"#;
    // (method, path, body, least role)
    let cases: &[(&str, &str, &[u8], Role)] = &[
        ("POST", "/api/v1/halt", scope, Role::Operator),
        ("POST", "/api/v1/reduce", scope, Role::Operator),
        ("POST", "/api/v1/resume", scope, Role::Operator),
        ("POST", "/api/v1/cancel", scope, Role::Operator),
        ("POST", "/api/v1/strategies/momentum/restart", b"", Role::Operator),
        ("POST", "/api/v1/strategies/momentum/limits", limit, Role::Admin),
        ("POST", "/api/v1/strategies/momentum/deploy", &wasm, Role::Admin),
        ("GET", "/api/v1/tokens", b"", Role::Admin),
    ];
    let tokens =
        [(Role::Viewer, &h.tokens.viewer), (Role::Operator, &h.tokens.operator), (Role::Admin, &h.tokens.admin)];
    for (method, path, body, least) in cases {
        for (role, token) in tokens {
            let r = request(h.addr, method, path, Some(token), Some(body));
            if role >= *least {
                assert_eq!(r.status, 200, "{role:?} {path}: {}", r.text());
                if *method == "POST" {
                    assert_eq!(r.json()["ok"], json!(true));
                }
            } else {
                assert_error(&r, 403, None, &format!("role `{}` required", least.as_str()));
            }
        }
    }
    // Every accepted command was journalled with its actor; no refused one was.
    let expected: usize =
        cases.iter().filter(|c| c.0 == "POST").map(|c| tokens.iter().filter(|(r, _)| *r >= c.3).count()).sum();
    let journal = h.stop();
    assert_eq!(journal.len(), expected, "{journal:?}");
    assert!(journal.iter().all(|l| !l.ends_with("role=viewer")), "{journal:?}");
    assert_eq!(journal[0], "halt scope=strategy:momentum actor=ops role=operator");
    let deploys: Vec<_> = journal.iter().filter(|l| l.starts_with("deploy ")).collect();
    assert_eq!(deploys.len(), 1, "{journal:?}");
    assert!(deploys[0].ends_with("actor=root role=admin"), "{journal:?}");
}

#[test]
fn a_kill_reaches_the_engine_with_the_actor_and_returns_its_reply() {
    let mut h = live();
    let r = request(h.addr, "POST", "/api/v1/halt", Some(&h.tokens.operator), Some(br#"{"scope":"global"}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v["message"].as_str().unwrap().starts_with("global: halted"), "{v}");
    assert_eq!(v["actor"], json!("ops"));
    assert_eq!(v["command"], json!("halt"));
    assert_eq!(v["target"], json!({"scope": "global"}));
    // The engine republished: every open order is gone and the firm is halted.
    h.wait_for("/api/v1/orders", |v| v["orders"].as_array().is_some_and(|a| a.is_empty()));
    h.wait_for("/api/v1/strategies", |v| v["global_state"] == json!("halted"));
    // Halting one instrument and one strategy name the scope in the journal.
    let body = br#"{"scope":"instrument","symbol":"BTC-USDT-PERP"}"#;
    let r = request(h.addr, "POST", "/api/v1/halt", Some(&h.tokens.operator), Some(body));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = br#"{"scope":"strategy","name":"momentum"}"#;
    let r = request(h.addr, "POST", "/api/v1/halt", Some(&h.tokens.admin), Some(body));
    assert_eq!(r.status, 200, "{}", r.text());
    h.wait_for("/api/v1/strategies/momentum", |v| v["strategy"]["state"] == json!("halted"));
    assert_eq!(
        h.stop(),
        [
            "halt scope=global actor=ops role=operator",
            "halt scope=instrument:BTC-USDT-PERP actor=ops role=operator",
            "halt scope=strategy:momentum actor=root role=admin",
        ]
    );
}

#[test]
fn malformed_bodies_get_400_or_422_naming_the_field_and_change_nothing() {
    let mut h = live();
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
        (b"{\"scope\":\"strategy\",\"name\":[\"momentum\"]}", 422, "name", "must be a string"),
        (b"{\"scope\":\"strategy\",\"name\":\"\"}", 422, "name", "must not be empty"),
        (b"{\"scope\":\"instrument\",\"name\":\"x\"}", 422, "name", "unknown field `name`"),
        (b"{\"scope\":\"global\",\"force\":true}", 422, "force", "unknown field `force`"),
        (b"{\"scope\":\"global\",\"scope\":\"strategy\"}", 422, "scope", "appears more than once"),
        (b"{\"scope\":\"global\",\"x\":{\"a\":1,\"a\":2}}", 422, "a", "appears more than once"),
    ];
    for path in ["/api/v1/halt", "/api/v1/reduce", "/api/v1/resume", "/api/v1/cancel"] {
        for (body, status, field, msg) in cases {
            let r = request(h.addr, "POST", path, op, Some(body));
            assert_error(&r, *status, Some(field), msg);
        }
    }
    let admin = Some(h.tokens.admin.as_str());
    let limits = "/api/v1/strategies/market-maker/limits";
    let limit_cases: &[(&[u8], u16, &str, &str)] = &[
        (b"{\"value\":5}", 422, "field", "missing field `field`"),
        (b"{\"field\":\"max_order_qty\"}", 422, "value", "missing field `value`"),
        (b"{\"field\":\"max_order_qty\",\"value\":true}", 422, "value", "decimal string or a whole number"),
        // A JSON number with a fraction would go through f64
        // (1234567890.12345678 -> 1234567890.1234567): refused, never rounded.
        (b"{\"field\":\"max_order_qty\",\"value\":1234567890.12345678}", 422, "value", "binary float"),
        (b"{\"field\":\"max_order_qty\",\"value\":0.5}", 422, "value", "decimal string such as"),
        (b"{\"field\":\"max_order_qty\",\"value\":1e3}", 422, "value", "loses digits"),
        (b"{\"field\":\"max_order_qty\",\"value\":100000000000000000000}", 422, "value", "binary float"),
        // Duplicate keys are refused naming the key (serde_json would keep the last).
        (b"{\"field\":\"max_order_qty\",\"value\":\"0.01\",\"value\":\"9\"}", 422, "value", "more than once"),
        (
            b"{\"field\":\"max_order_qty\",\"field\":\"max_position\",\"value\":\"0.01\"}",
            422,
            "field",
            "more than once",
        ),
        (b"{\"field\":\"max_order_qty\",\"value\":\"lots\"}", 422, "value", "plain decimal"),
        (b"{\"field\":\"max_order_qty\",\"value\":\"1e3\"}", 422, "value", "plain decimal"),
        (b"{\"field\":\"max_warp\",\"value\":1}", 422, "field", "unknown limit `max_warp`"),
        (b"{\"field\":\"max_order_qty\",\"value\":1,\"also\":2}", 422, "also", "unknown field"),
        // Refused by the engine: outside the firm policy (max_position = "1").
        (b"{\"field\":\"max_position\",\"value\":\"1.5\"}", 422, "value", "firm policy"),
    ];
    for (body, status, field, msg) in limit_cases {
        let r = request(h.addr, "POST", limits, admin, Some(body));
        assert_error(&r, *status, Some(field), msg);
    }
    let deploy = "/api/v1/strategies/momentum/deploy";
    assert_error(&request(h.addr, "POST", deploy, admin, Some(b"")), 400, Some("body"), "empty body");
    assert_error(
        &request(h.addr, "POST", deploy, admin, Some(b"MZ\x90\0\x03\0\0\0")),
        422,
        Some("body"),
        "not a wasm module",
    );
    assert_error(&request(h.addr, "POST", deploy, admin, Some(b"\0asm\x0d\0\x01\0")), 422, Some("body"), "version");
    // A wasm module the sandbox refuses (no exports): refused by the engine.
    assert_error(&request(h.addr, "POST", deploy, admin, Some(b"\0asm\x01\0\0\0")), 422, Some("module"), "");
    // Nothing was applied: the limit and the state are unchanged.
    let v = request(h.addr, "GET", "/api/v1/strategies/market-maker", Some(&h.tokens.viewer), None).json();
    assert_eq!(v["strategy"]["limits"]["max_order_qty"], json!("0.05"));
    assert_eq!(v["strategy"]["limits"]["max_position"], json!("0.2"));
    assert_eq!(v["strategy"]["state"], json!("active"));
    // A valid change is applied and visible.
    let r = request(h.addr, "POST", limits, admin, Some(b"{\"field\":\"max_order_qty\",\"value\":\"0.005\"}"));
    assert_eq!(r.status, 200, "{}", r.text());
    h.wait_for("/api/v1/strategies/market-maker", |v| v["strategy"]["limits"]["max_order_qty"] == json!("0.005"));
    // Only it was journalled.
    assert_eq!(h.stop(), ["set_limit strategy=market-maker field=max_order_qty value=0.005 actor=root role=admin"]);
}

#[test]
fn unknown_strategies_instruments_and_paths_are_404() {
    let mut h = live();
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
    assert_error(&request(h.addr, "PUT", "/api/v1/tokens", a, Some(b"{}")), 405, None, "not allowed");
    assert!(h.stop().is_empty());
}

#[test]
fn query_parameters_are_checked() {
    let h = live();
    let v = Some(h.tokens.viewer.as_str());
    assert_eq!(request(h.addr, "GET", "/api/v1/decisions?strategy=momentum&kind=accept&limit=5", v, None).status, 200);
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
    // A parameter given twice has no single meaning: 422 naming it.
    for (q, field) in [
        ("decisions?kind=accept&kind=reject", "kind"),
        ("decisions?limit=5&strategy=momentum&limit=6", "limit"),
        ("faults?strategy=momentum&strategy=momentum", "strategy"),
    ] {
        assert_error(&request(h.addr, "GET", &format!("/api/v1/{q}"), v, None), 422, Some(field), "more than once");
    }
    // Fault kinds: only the kinds the sandbox and engine journal, named in the refusal.
    for k in ["fuel", "trap", "host_calls", "guest_error"] {
        assert_eq!(request(h.addr, "GET", &format!("/api/v1/faults?kind={k}"), v, None).status, 200, "{k}");
    }
    for k in ["nonsense", "fuel_exhausted", "", "FUEL"] {
        let r = request(h.addr, "GET", &format!("/api/v1/faults?kind={k}"), v, None);
        assert_error(&r, 422, Some("kind"), "one of: fuel, deadline, memory");
    }
}

/// A decimal limit is journalled exactly as sent (as a string), never
/// through a float.
#[test]
fn decimal_limits_are_journalled_exactly() {
    let mut h = live();
    let admin = Some(h.tokens.admin.as_str());
    let limits = "/api/v1/strategies/market-maker/limits";
    let r = request(h.addr, "POST", limits, admin, Some(br#"{"field":"max_order_qty","value":"0.007"}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(h.addr, "POST", limits, admin, Some(br#"{"field":"max_open_orders","value":7}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        h.stop(),
        [
            "set_limit strategy=market-maker field=max_order_qty value=0.007 actor=root role=admin",
            "set_limit strategy=market-maker field=max_open_orders value=7 actor=root role=admin",
        ]
    );
}

/// GET `path` as the viewer and return its `decisions` array.
fn decisions(h: &Live, path: &str) -> Vec<Value> {
    let r = request(h.addr, "GET", path, Some(&h.tokens.viewer), None);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()["decisions"].as_array().unwrap_or_else(|| panic!("{path}: {}", r.text())).clone()
}

#[test]
fn decision_filters_select_and_order() {
    let h = live();
    // The demo's market maker quotes from the first events on; the run
    // also has a reject or two (R4 on the market maker, R7 on momentum).
    // Once the run is over (2000 events) the lists no longer change.
    h.wait_for("/api/v1/status", |v| v["engine"]["phase"] == json!("finished"));
    let all = h.wait_for("/api/v1/decisions?limit=10000", |v| {
        let d = v["decisions"].as_array();
        d.is_some_and(|d| d.iter().filter(|x| x["kind"] == json!("reject")).count() >= 1)
            && d.is_some_and(|d| d.iter().filter(|x| x["kind"] == json!("accept")).count() >= 5)
    });
    let all = all["decisions"].as_array().unwrap();
    let rejects = decisions(&h, "/api/v1/decisions?kind=reject");
    assert!(!rejects.is_empty());
    for d in &rejects {
        assert_eq!(d["kind"], json!("reject"), "{d}");
        assert_ne!(d["reason"], json!("ACCEPTED"), "{d}");
        assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
    }
    let accepts = decisions(&h, "/api/v1/decisions?strategy=market-maker&kind=accept&limit=5");
    assert!(!accepts.is_empty() && accepts.len() <= 5, "{accepts:?}");
    for d in &accepts {
        assert_eq!((d["strategy"].as_str(), d["kind"].as_str()), (Some("market-maker"), Some("accept")), "{d}");
    }
    // Every list is newest first by seq; limit=2 is the two newest of all.
    for list in [all, &rejects, &accepts] {
        assert!(list.windows(2).all(|w| w[0]["seq"].as_u64() > w[1]["seq"].as_u64()), "{list:?}");
    }
    let two = decisions(&h, "/api/v1/decisions?limit=2");
    assert_eq!(two.len(), 2, "{two:?}");
    let newest = all.iter().filter_map(|d| d["seq"].as_u64()).max();
    assert_eq!(two[0]["seq"].as_u64(), newest, "newest first: {two:?}");
    let seqs = |l: &[Value]| l.iter().map(|d| d["seq"].as_u64().unwrap()).collect::<Vec<_>>();
    assert_eq!(seqs(&two), seqs(&all[..2]), "{two:?}");
    // The filters partition the list: every reject and every accept of it.
    let n = |kind: &str| all.iter().filter(|d| d["kind"] == json!(kind)).count();
    assert_eq!(rejects.len(), n("reject").min(100), "{rejects:?}");
    assert_eq!(n("accept") + n("reject"), all.len());
}

#[test]
fn oversized_bodies_are_413() {
    let mut h = live();
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
        "POST /api/v1/strategies/momentum/deploy HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\n\r\n\0asm\x01\0\0\0",
        h.tokens.admin,
        (16 << 20) + 1
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut raw);
    let r = parse_response(&raw);
    assert_error(&r, 413, Some("body"), "larger than 16777216 bytes");
    // Just under the deploy limit is read in full and handed on.
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.resize(2 << 20, 0);
    let r = request_with(
        h.addr,
        "POST",
        "/api/v1/strategies/momentum/deploy",
        &[
            ("Authorization".into(), format!("Bearer {}", h.tokens.admin)),
            ("Content-Type".into(), "application/wasm".into()),
        ],
        Some(&module),
    );
    // Not 413: it reached the engine, whose sandbox refuses it (no exports).
    assert_error(&r, 422, Some("module"), "");
    assert!(h.stop().is_empty(), "nothing was journalled");
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

/// The value of the `name` sample in family `fam` whose labels include
/// `labels`, if there is one.
fn sample(
    fams: &std::collections::BTreeMap<String, prom::Family>,
    fam: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let f = fams.get(fam).unwrap_or_else(|| panic!("no family {fam}"));
    f.samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

/// (strategy, family, labels, value).
type Figure = (String, String, Vec<(String, String)>, f64);

/// Per strategy, what both `/api/v1/strategies` and `/metrics` show.
fn strategy_figures(v: &Value) -> Vec<Figure> {
    let mut out = Vec::new();
    for st in v["strategies"].as_array().unwrap() {
        let name = st["name"].as_str().unwrap().to_string();
        let s = |l: &[(&str, &str)]| {
            let mut v = vec![("strategy".to_string(), name.clone())];
            v.extend(l.iter().map(|(a, b)| (a.to_string(), b.to_string())));
            v
        };
        let n = |x: &Value| x.as_u64().unwrap_or_else(|| panic!("not a count: {x} in {st}")) as f64;
        let o = "bulkhead_strategy_orders_total";
        out.push((
            name.clone(),
            o.into(),
            s(&[("outcome", "accepted"), ("reason", "none")]),
            n(&st["orders"]["accepted"]),
        ));
        for (reason, k) in st["orders"]["rejected"].as_object().unwrap() {
            out.push((name.clone(), o.into(), s(&[("outcome", "rejected"), ("reason", reason)]), n(k)));
        }
        for (fam, x) in [
            ("bulkhead_strategy_orders_submitted_total", &st["orders"]["submitted"]),
            ("bulkhead_strategy_fills_total", &st["orders"]["fills"]),
            ("bulkhead_strategy_cancels_total", &st["orders"]["cancels"]),
            ("bulkhead_strategy_events_total", &st["resources"]["events"]),
            ("bulkhead_strategy_callbacks_total", &st["resources"]["callbacks"]),
            ("bulkhead_strategy_fuel_used_total", &st["resources"]["fuel_used"]),
            ("bulkhead_strategy_faults_total", &st["resources"]["faults"]),
            ("bulkhead_strategy_memory_peak_bytes", &st["resources"]["peak_memory_bytes"]),
        ] {
            out.push((name.clone(), fam.into(), s(&[]), n(x)));
        }
    }
    out
}

#[test]
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
fn metrics_parse_as_prometheus_text() {
    let h = live();
    assert_eq!(request(h.addr, "GET", "/metrics", None, None).status, 401);
    // The run is over: its counts no longer move.
    h.wait_for("/api/v1/status", |v| v["engine"]["phase"] == json!("finished"));
    // One mass cancel, so that bulkhead_commands_total has a sample.
    let r = request(h.addr, "POST", "/api/v1/cancel", Some(&h.tokens.operator), Some(br#"{"scope":"global"}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    // A scrape between two equal reads of the strategies is of their figures.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (fams, strategies) = loop {
        let before = request(h.addr, "GET", "/api/v1/strategies", Some(&h.tokens.viewer), None).json();
        let r = request(h.addr, "GET", "/metrics", Some(&h.tokens.viewer), None);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
        let text = r.text();
        let fams = prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let after = request(h.addr, "GET", "/api/v1/strategies", Some(&h.tokens.viewer), None).json();
        if strategy_figures(&before) == strategy_figures(&after) {
            break (fams, after);
        }
        assert!(Instant::now() < deadline, "the strategies' figures kept moving");
    };
    for (kind, fams_of_kind) in [
        (
            "counter",
            &["bulkhead_strategy_orders_total", "bulkhead_strategy_fuel_used_total", "bulkhead_commands_total"][..],
        ),
        ("gauge", &["bulkhead_strategy_state", "bulkhead_strategy_pnl", "bulkhead_journal_fsync_max_seconds"][..]),
        ("histogram", &["bulkhead_strategy_callback_duration_seconds", "bulkhead_journal_fsync_duration_seconds"][..]),
    ] {
        for f in fams_of_kind {
            assert_eq!(fams.get(*f).map(|f| f.kind.as_str()), Some(kind), "{f}");
        }
    }
    // Every per-strategy figure the API shows is the scrape's.
    let figures = strategy_figures(&strategies);
    for (strategy, fam, labels, want) in &figures {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(sample(&fams, fam, fam, &labels), Some(*want), "{strategy}: {fam}{labels:?}");
    }
    // And they are consistent: the market maker traded; no strategy had
    // more orders accepted or rejected than it submitted.
    let get = |fam: &str, labels: &[(&str, &str)]| {
        sample(&fams, fam, fam, labels).unwrap_or_else(|| panic!("no sample {fam}{labels:?}"))
    };
    let o = "bulkhead_strategy_orders_total";
    for name in DEMO_STRATEGIES {
        let decided: f64 = fams[o].samples.iter().filter(|s| s.labels["strategy"] == name).map(|s| s.value).sum();
        let submitted = get("bulkhead_strategy_orders_submitted_total", &[("strategy", name)]);
        assert!(decided <= submitted, "{name}: {decided} decided of {submitted} submitted");
        assert!(get("bulkhead_strategy_fuel_used_total", &[("strategy", name)]) > 0.0, "{name}");
    }
    let mm = [("strategy", "market-maker")];
    assert!(get(o, &[("strategy", "market-maker"), ("outcome", "accepted")]) > 0.0);
    assert!(get("bulkhead_strategy_fills_total", &mm) > 0.0);
    // misbehaving ran out of fuel: one fault, quarantined (3).
    let bad = [("strategy", "misbehaving")];
    assert_eq!((get("bulkhead_strategy_faults_total", &bad), get("bulkhead_strategy_state", &bad)), (1.0, 3.0));
    // Callback latencies: cumulative, one series per strategy, never more
    // callbacks timed than run.
    let n = "bulkhead_strategy_callback_duration_seconds";
    let counts = prom::check_cumulative_histogram(&fams, n, "strategy", &DEMO_STRATEGIES);
    for (name, count) in DEMO_STRATEGIES.iter().zip(counts) {
        assert!(count <= get("bulkhead_strategy_callbacks_total", &[("strategy", name)]), "{name}: {count}");
    }
    let events = get("bulkhead_events_processed_total", &[]);
    assert!(events >= 2_000.0, "{events}");
    assert!(get("bulkhead_journal_records_total", &[]) > events);
    assert!(get("bulkhead_journal_fsync_seconds_total", &[]) >= get("bulkhead_journal_fsync_max_seconds", &[]));
    let n = "bulkhead_commands_total";
    assert_eq!(get(n, &[("command", "mass_cancel"), ("outcome", "ok")]), 1.0);
    // Every family in the metrics module's table.
    for f in [
        "bulkhead_strategy_state",
        "bulkhead_strategy_events_total",
        "bulkhead_strategy_callbacks_total",
        "bulkhead_strategy_orders_submitted_total",
        "bulkhead_strategy_orders_total",
        "bulkhead_strategy_cancels_total",
        "bulkhead_strategy_fills_total",
        "bulkhead_strategy_fuel_used_total",
        "bulkhead_strategy_host_calls_total",
        "bulkhead_strategy_memory_peak_bytes",
        "bulkhead_strategy_faults_total",
        "bulkhead_strategy_open_orders",
        "bulkhead_strategy_pnl",
        "bulkhead_strategy_callback_duration_seconds",
        "bulkhead_position_lots",
        "bulkhead_instrument_state",
        "bulkhead_global_state",
        "bulkhead_events_processed_total",
        "bulkhead_event_lag_seconds",
        "bulkhead_journal_records_total",
        "bulkhead_journal_bytes",
        "bulkhead_journal_fsyncs_total",
        "bulkhead_journal_fsync_seconds_total",
        "bulkhead_journal_fsync_max_seconds",
        "bulkhead_journal_fsync_duration_seconds",
        "bulkhead_snapshot_seq",
        "bulkhead_snapshot_age_seconds",
        "bulkhead_commands_total",
        "bulkhead_stream_subscribers",
        "bulkhead_stream_dropped_total",
    ] {
        assert!(fams.contains_key(f), "missing {f}");
    }
    // On top of prometheus-parse, the checks refuse what Prometheus (or its
    // conventions) would: each case is valid but for one thing.
    let ok = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 1\n";
    prom::parse(ok).unwrap();
    let hist =
        |buckets: &str, count: &str| format!("# HELP h H.\n# TYPE h histogram\n{buckets}h_sum 1\nh_count {count}\n");
    prom::parse(&hist("h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n", "2")).unwrap();
    for (bad, why) in [
        (format!("{ok}x_total{{a=\"1\"}} 2\n"), "duplicate series"),
        ("# HELP x X.\n# TYPE x counter\nx 1\n".to_string(), "_total"),
        ("# HELP x X.\n# TYPE x gauge\nx{a=\"\\q\"} 1\n".to_string(), "bad escape"),
        ("# HELP x X.\n# TYPE x gauge\nx 1".to_string(), "newline"),
        ("# HELP x X.\n# TYPE x gauge\nx one\n".to_string(), "bad value"),
        ("y 1\n".to_string(), "before any TYPE"),
        ("# TYPE x gauge\nx 1\n".to_string(), "without a HELP"),
        (
            "# HELP x X.\n# TYPE x gauge\nx 1\n# HELP z Z.\n# TYPE z gauge\nz 1\nx{b=\"2\"} 1\n".to_string(),
            "does not belong",
        ),
        (hist("h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n", "2"), "not increasing"),
        (hist("h_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 2\n", "2"), "+Inf"),
        (hist("h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n", "3"), "_count"),
    ] {
        let e = prom::parse(&bad).err().unwrap_or_else(|| panic!("accepted ({why}):\n{bad}"));
        assert!(e.contains(why), "{why}: {e}");
    }

    // With the opt-out, /metrics needs no token; everything else still does.
    drop(h);
    let server = ServerOptions { metrics_public: true, ..ServerOptions::default() };
    let open = start_live(LiveOptions { server, ..LiveOptions::default() });
    let r = request(open.addr, "GET", "/metrics", None, None);
    assert_eq!(r.status, 200);
    let fams = prom::parse(&r.text()).unwrap();
    let states = &fams["bulkhead_strategy_state"].samples;
    let names: Vec<&str> = states.iter().map(|s| s.labels["strategy"].as_str()).collect();
    assert_eq!(names, DEMO_STRATEGIES, "the real engine's strategies");
    assert_eq!(request(open.addr, "GET", "/api/v1/strategies", None, None).status, 401);
    assert_eq!(request(open.addr, "GET", "/api/v1/stream", None, None).status, 401);
}

/// The `data:` of every `event: {kind}` in an SSE transcript, as JSON.
fn sse_events(seen: &str, kind: &str) -> Vec<Value> {
    let head = format!("event: {kind}");
    let mut out = Vec::new();
    let mut lines = seen.lines();
    while let Some(l) = lines.next() {
        if l.trim_end() == head {
            let data = lines.by_ref().find_map(|l| l.strip_prefix("data: ")).expect("data line");
            out.push(serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")));
        }
    }
    out
}

#[test]
fn the_live_stream_delivers_state_changes() {
    let h = live();
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
    // The operator halts a real strategy; the engine applies it and the
    // stream carries its state change and the command.
    let r = request(
        h.addr,
        "POST",
        "/api/v1/halt",
        Some(&h.tokens.operator),
        Some(br#"{"scope":"strategy","name":"momentum"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let halted = |v: &Value| v["scope"] == json!("strategy") && v["name"] == json!("momentum");
    loop {
        // Complete events only: an event ends at a blank line.
        if seen.ends_with("\n\n") || seen.ends_with("\r\n\r\n") {
            let states = sse_events(&seen, "state_change");
            if states.iter().any(halted) && !sse_events(&seen, "command").is_empty() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no state_change/command events: {seen}");
        seen.push_str(&next_line(&mut reader));
    }
    let states = sse_events(&seen, "state_change");
    let v = states.iter().find(|v| halted(v)).unwrap();
    assert_eq!(v["type"], json!("state_change"), "{v}");
    assert_eq!(v["state"], json!("halted"), "{v}");
    let commands = sse_events(&seen, "command");
    assert!(
        commands.iter().any(|c| c["actor"]["name"] == json!("ops")
            && c["ok"] == json!(true)
            && c["command"].as_str().is_some_and(|c| c.starts_with("halt") && c.contains("momentum"))),
        "{commands:?}"
    );
    h.wait_for("/api/v1/strategies/momentum", |v| v["strategy"]["state"] == json!("halted"));
}
