//! Connection limits against a real server on loopback with the real engine
//! behind it: header-read, idle and body timeouts, the general and per-IP
//! caps, the operator reserve, health probes, and the issue-19 scenario —
//! 2 000 idle half-sent connections plus a read flood, and an operator halt
//! is still answered and applied within 1 s.
//!
//! The flood test holds ~2 000 client sockets in this process besides the
//! server's own: it raises the soft RLIMIT_NOFILE to at least 8 192 (up to
//! the hard limit) and fails loudly if it cannot.

use crate::common;

use bulkhead_server::ServerOptions;
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Raise the soft open-files limit to `want` (at most the hard limit).
fn raise_nofile(want: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    let max = lim.maximum.unwrap_or(u64::MAX);
    if lim.current.is_some_and(|c| c < want) {
        lim.current = Some(want.min(max));
        setrlimit(Resource::Nofile, lim).expect("setrlimit(RLIMIT_NOFILE)");
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(now >= want, "RLIMIT_NOFILE hard limit {max} is below the {want} this test needs");
}

/// True once the peer closed `s` (EOF or reset), false while it is open;
/// waits at most `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn half_sent(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthor").unwrap();
    s
}

#[test]
fn half_sent_idle_and_stalled_connections_are_closed_after_their_timeouts() {
    let server = ServerOptions {
        header_read_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_secs(3),
        body_timeout: Duration::from_millis(800),
        command_timeout: Duration::from_secs(1),
        ..ServerOptions::default()
    };
    let h = start_live(LiveOptions { server, ..LiveOptions::default() });
    // A head that never ends.
    let mut head = half_sent(h.addr);
    // A kept-alive connection idle after one answered request.
    let mut kept = TcpStream::connect(h.addr).unwrap();
    write!(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A body that stops halfway.
    let mut body = TcpStream::connect(h.addr).unwrap();
    write!(
        body,
        "POST /api/v1/halt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{\"sco",
        h.tokens.operator
    )
    .unwrap();
    let t = Instant::now();
    assert!(closed_within(&mut head, Duration::from_secs(10)), "a half-sent head is closed");
    assert!(closed_within(&mut kept, Duration::from_secs(10)), "an idle kept-alive connection is closed");
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(500), "not closed before the timeout ({waited:?})");
    body.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = parse_response(&read_response(&mut body));
    assert_error(&r, 408, Some("body"), "did not arrive within");
    // The server still serves.
    assert_eq!(request(h.addr, "GET", "/healthz", None, None).status, 200);
}

#[test]
fn beyond_the_caps_only_operator_commands_and_health_probes_get_through() {
    let server = ServerOptions {
        max_connections: 4,
        max_connections_per_ip: 3,
        reserve_connections: 2,
        ..ServerOptions::default()
    };
    let h = start_live(LiveOptions { server, ..LiveOptions::default() });
    // Three idle connections use this peer's share of the general pool.
    let idle: Vec<TcpStream> = (0..3).map(|_| half_sent(h.addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let v = Some(h.tokens.viewer.as_str());
    let o = Some(h.tokens.operator.as_str());
    let r = request(h.addr, "GET", "/api/v1/status", v, None);
    assert_error(&r, 503, None, "connection limit reached");
    assert_eq!(r.header("retry-after"), Some("1"));
    // A viewer cannot use the reserve for a command, nor can a bad token.
    assert_error(&request(h.addr, "POST", "/api/v1/halt", v, Some(br#"{"scope":"global"}"#)), 503, None, "limit");
    let bad = request(h.addr, "POST", "/api/v1/halt", Some("bh_nope"), Some(br#"{"scope":"global"}"#));
    assert_eq!(bad.status, 503, "{}", bad.text());
    // Health probes and an operator's halt do.
    assert_eq!(request(h.addr, "GET", "/healthz", None, None).text(), "ok\n");
    let r = request(h.addr, "POST", "/api/v1/halt", o, Some(br#"{"scope":"strategy","name":"momentum"}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    // /metrics counts the pools.
    drop(idle);
    let m = h.wait_for("/api/v1/status", |v| v["seq"].as_u64().is_some());
    assert!(m["seq"].as_u64().unwrap() > 0);
    let text = request(h.addr, "GET", "/metrics", v, None).text();
    assert!(text.contains("bulkhead_http_connections{pool=\"general\"}"), "{text}");
    assert!(text.contains("bulkhead_http_accept_errors_total 0"), "{text}");
}

#[test]
fn health_and_readiness_need_no_token_and_say_one_word() {
    // A live (throttled) run is running: ready.
    let mut h = start_live(running());
    let r = request(h.addr, "GET", "/healthz", None, None);
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = request(h.addr, "GET", "/readyz", None, None);
        if r.status == 200 {
            assert_eq!(r.text(), "ready\n");
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {} {}", r.status, r.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    h.stop();
    // A finished run (2 000 events, unpaced, lingering) is not ready.
    let h = start_live(LiveOptions::default());
    h.wait_for("/api/v1/status", |v| v["engine"]["phase"] == json!("finished"));
    let r = request(h.addr, "GET", "/readyz", None, None);
    assert_eq!((r.status, r.text().as_str()), (503, "finished\n"));
    assert_eq!(request(h.addr, "GET", "/healthz", None, None).status, 200);
}

/// Issue 19: 2 000 idle half-sent connections plus a read flood (16
/// threads of GETs with a valid viewer token), then operator commands on
/// fresh connections: each is answered 200 (applied: the engine answers
/// after journalling and applying) within 1 s, and the state shows it.
#[test]
fn an_operator_halt_gets_through_2000_idle_connections_and_a_read_flood() {
    raise_nofile(8_192);
    let mut h = start_live(running());
    h.wait_for("/api/v1/status", |v| v["engine"]["phase"] == json!("running"));
    let addr = h.addr;
    let idle: Vec<TcpStream> = (0..2_000).map(|_| half_sent(addr)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, busy) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let (stop, ok, busy, token) = (stop.clone(), ok.clone(), busy.clone(), h.tokens.viewer.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut s) = TcpStream::connect(addr) else { continue };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let req =
                        format!("GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
                    if s.write_all(req.as_bytes()).is_err() {
                        continue;
                    }
                    let mut head = [0u8; 12];
                    match s.read_exact(&mut head) {
                        Ok(()) if &head[9..12] == b"200" => ok.fetch_add(1, Ordering::Relaxed),
                        _ => busy.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let op = h.tokens.operator.clone();
    let mut worst = Duration::ZERO;
    for body in [
        br#"{"scope":"strategy","name":"momentum"}"#.as_slice(),
        br#"{"scope":"global"}"#.as_slice(),
        br#"{"scope":"instrument","symbol":"BTC-USDT-PERP"}"#.as_slice(),
    ] {
        let t = Instant::now();
        let r = request(addr, "POST", "/api/v1/halt", Some(&op), Some(body));
        let took = t.elapsed();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["ok"], json!(true), "{}", r.text());
        assert!(took < Duration::from_secs(1), "halt answered in {took:?} under the flood");
        worst = worst.max(took);
    }
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.join().unwrap();
    }
    eprintln!(
        "operator halt under 2 000 idle connections + read flood: worst {worst:?} (bound 1 s); flood answered {} / refused or cut {}",
        ok.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed)
    );
    drop(idle);
    // Applied: the state shows it, and the journal has all three.
    h.wait_for("/api/v1/status", |v| v["global_state"] == json!("halted"));
    let commands = h.stop();
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert!(commands.iter().all(|c| c.starts_with("halt ") && c.contains("actor=ops")), "{commands:?}");
}

/// A live run that stays `running` for the whole test: a throttled feed of
/// about 1 000 events/s. (Not `pace`: `EngineControl::before_event`'s
/// pacing can panic on a busy machine, issue 19 item 1, fixed elsewhere.)
fn running() -> LiveOptions {
    LiveOptions { events: 600_000, throttle: Some(Duration::from_millis(1)), ..LiveOptions::default() }
}

/// A live stream never drops silently: a subscriber that stops reading
/// while 100 000 events (about 100 MB, far beyond any socket buffer) are
/// emitted loses the oldest and is told how many, so what it receives
/// plus what `lagged` reports is exactly what was emitted. (The real
/// server; the test holds its `ControlHandle` as the engine would.)
#[test]
fn a_slow_stream_subscriber_is_told_exactly_how_many_events_it_missed() {
    use bulkhead_server::{LiveEvent, Role, TokenStore, start};
    let mut store = TokenStore::new();
    let (viewer, e) = TokenStore::generate("watcher", Role::Viewer).unwrap();
    store.add(e).unwrap();
    let opts = ServerOptions { stream_capacity: 8, ..ServerOptions::default() };
    let (handle, guard) = start("127.0.0.1:0".parse().unwrap(), store, opts).unwrap();
    let mut s = TcpStream::connect(guard.local_addr()).unwrap();
    write!(s, "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {viewer}\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while !String::from_utf8_lossy(&seen).contains("event: hello") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream closed before hello");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(handle.has_subscribers());
    const N: u64 = 100_000;
    let message = "x".repeat(1_000);
    for seq in 1..=N {
        handle.emit(LiveEvent::Fault {
            seq,
            ts_ns: seq,
            strategy: "s".into(),
            kind: "trap".into(),
            message: message.clone(),
        });
    }
    // Read until the last event arrives (it is the newest: never dropped).
    let last = format!("\"seq\":{N},");
    let (mut delivered, mut dropped, mut text) = (0u64, 0u64, String::from_utf8_lossy(&seen).into_owned());
    loop {
        // Count complete lines only; keep a partial tail for the next read.
        let cut = text.rfind('\n').map_or(0, |i| i + 1);
        for line in text[..cut].lines() {
            if line == "event: fault" {
                delivered += 1;
            } else if let Some(d) = line.strip_prefix("data: ").filter(|d| d.contains("\"lagged\"")) {
                let v: serde_json::Value = serde_json::from_str(d).unwrap();
                assert_eq!(v["type"], "lagged", "{v}");
                dropped += v["dropped"].as_u64().unwrap();
            }
        }
        let done = text[..cut].contains(&last);
        text.drain(..cut);
        if done {
            break;
        }
        let n = s.read(&mut buf).expect("the stream goes on until the last event");
        assert!(n > 0, "stream closed early: {delivered} delivered, {dropped} reported dropped");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(dropped > 0, "100 MB never fit in the socket buffers: something must have been dropped");
    assert_eq!(delivered + dropped, N, "delivered {delivered} + reported dropped {dropped}");
    drop(handle);
    guard.shutdown();
}
