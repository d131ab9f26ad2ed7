//! Test drivers: [`start_live`], the real engine (the demo strategies on a
//! small generated market, a real journal) on its own thread behind a real
//! server, and a tiny blocking HTTP/1.1 client. There is no fake engine:
//! exact metric arithmetic is a unit test in `src/metrics.rs` on a
//! hand-built snapshot, and the one test that needs an engine that never
//! answers holds the real server's `ControlHandle` without driving it.
#![allow(dead_code)]

pub mod prom;

use bulkhead_server::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Tokens {
    pub viewer: String,
    pub operator: String,
    pub admin: String,
}

// ------------------------------------------------------------ real engine

/// The demo's strategies, in config order.
pub const DEMO_STRATEGIES: [&str; 3] = ["market-maker", "momentum", "misbehaving"];

/// The real engine, running on its own thread behind a real server.
pub struct Live {
    pub addr: SocketAddr,
    pub tokens: Tokens,
    /// The run's token file (the server's `tokens_file`).
    pub tokens_file: std::path::PathBuf,
    pub dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    engine: Option<JoinHandle<()>>,
}

/// What [`start_live`] runs.
pub struct LiveOptions {
    /// Market events to generate (the demo market: ~1 ms apart).
    pub events: u64,
    /// Paper mode: replay at this multiple of real time; `None`: as fast as
    /// possible, then linger (keep answering) until stopped.
    pub pace: Option<f64>,
    /// A live feed without `EngineControl` pacing: sleep this long between
    /// events (the engine stays `running` for the whole test).
    pub throttle: Option<Duration>,
    pub server: ServerOptions,
    /// A `[surveillance.<rule>]` policy text for the demo's market-maker
    /// (replaces its surveillance rules); `None`: the demo's own.
    pub surveillance: Option<&'static str>,
    /// Run this config file instead of examples/demo.toml (its journal goes
    /// to the test's directory; a generated market gets `events` events).
    pub config: Option<std::path::PathBuf>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            events: 2_000,
            pace: None,
            throttle: None,
            server: ServerOptions::default(),
            surveillance: None,
            config: None,
        }
    }
}

pub fn demo_config(dir: &std::path::Path, events: u64) -> bulkhead_engine::LoadedConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo.toml");
    config_at(&path, dir, events)
}

/// The run config at `path`, journalling into `dir`/journal, with `events`
/// market events if its market is generated.
pub fn config_at(path: &std::path::Path, dir: &std::path::Path, events: u64) -> bulkhead_engine::LoadedConfig {
    let mut cfg = bulkhead_engine::LoadedConfig::load(path)
        .unwrap_or_else(|e| panic!("{e} (did scripts/build-strategies.sh run?)"));
    cfg.journal_dir = dir.join("journal");
    cfg.raw.run.overwrite_journal = false;
    if let bulkhead_engine::DataPlan::Generator(spec) = &mut cfg.data {
        spec.events = events;
    }
    cfg
}

/// Start the demo strategies on a real engine behind a real server on a
/// loopback port, with one token per role saved to a token file. Returns
/// once the first snapshot is published.
pub fn start_live(opts: LiveOptions) -> Live {
    let dir = tempfile::tempdir().unwrap();
    let tokens_file = dir.path().join("tokens.toml");
    let mut store = TokenStore::new();
    let (viewer, e) = TokenStore::generate("watcher", Role::Viewer).unwrap();
    store.add(e).unwrap();
    let (operator, e) = TokenStore::generate("ops", Role::Operator).unwrap();
    store.add(e).unwrap();
    let (admin, e) = TokenStore::generate("root", Role::Admin).unwrap();
    store.add(e).unwrap();
    store.save(&tokens_file).unwrap();
    let mut server = opts.server;
    server.tokens_file.get_or_insert_with(|| tokens_file.clone());
    let mut cfg = match &opts.config {
        Some(path) => config_at(path, dir.path(), opts.events),
        None => demo_config(dir.path(), opts.events),
    };
    if let Some(text) = opts.surveillance {
        let rules = bulkhead_surveillance::Rules::from_policy_toml(text, "test policy", &cfg.instruments)
            .expect("a valid surveillance policy");
        let mm = cfg.strategies.iter_mut().find(|s| s.name == "market-maker").expect("the demo's market-maker");
        mm.surveillance = rules;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let engine = {
        let stop = stop.clone();
        let (pace, throttle) = (opts.pace, opts.throttle);
        std::thread::spawn(move || {
            let bulkhead_engine::PreparedRun { mut engine, runtime, mut source, .. } =
                bulkhead_engine::prepare_run(&cfg).expect("prepare the demo run");
            let (handle, guard) = start("127.0.0.1:0".parse().unwrap(), store, server).expect("start server");
            let mut control =
                engine_control::EngineControl::new(handle, runtime, pace, bulkhead_journal::FsyncPolicy::Never);
            control.publish(&engine);
            let _ = ready_tx.send(guard.local_addr());
            // As `bulkhead run --listen` drives it: `run_controlled` (which
            // also takes what a chain node answered at each boundary).
            let mut data = Stoppable { inner: source.as_mut(), stop: &stop, throttle, started: false };
            engine.run_controlled(&mut data, &mut |_| {}, &mut |e, ts| control.before_event(e, ts)).expect("engine");
            control.finished(&mut engine);
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
                control.finished(&mut engine);
            }
            drop(control);
            guard.shutdown();
            engine.finish().expect("finish the run");
        })
    };
    let addr = ready_rx.recv().expect("the engine thread started");
    Live { addr, tokens: Tokens { viewer, operator, admin }, tokens_file, dir, stop, engine: Some(engine) }
}

/// The run's market, ending early once `stop` is set, with an optional
/// sleep between events (`LiveOptions::throttle`).
struct Stoppable<'a> {
    inner: &'a mut dyn bulkhead_data::MarketSource,
    stop: &'a AtomicBool,
    throttle: Option<Duration>,
    started: bool,
}

impl bulkhead_data::MarketSource for Stoppable<'_> {
    fn next_event(&mut self) -> Result<Option<bulkhead_abi::Event>, bulkhead_data::DataError> {
        if self.stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if let Some(t) = self.throttle.filter(|_| self.started) {
            std::thread::sleep(t);
        }
        self.started = true;
        self.inner.next_event()
    }
    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }
}

impl Live {
    /// Stop the engine, finish the run (journal flushed) and return the
    /// journalled operator commands, in order.
    pub fn stop(&mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(e) = self.engine.take() {
            e.join().expect("engine thread");
        }
        self.journal()
            .into_iter()
            .filter(|r| r.kind == bulkhead_engine::records::COMMAND)
            .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
            .collect()
    }
    /// Every journal record (after [`Live::stop`]).
    pub fn journal(&self) -> Vec<bulkhead_journal::Record> {
        bulkhead_journal::JournalReader::open(&self.dir.path().join("journal")).unwrap().map(|r| r.unwrap()).collect()
    }
    /// GET `path` as the viewer until `pred` holds (snapshots are published
    /// right after each command, but a read can race the publish).
    pub fn wait_for(&self, path: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v = request(self.addr, "GET", path, Some(&self.tokens.viewer), None).json();
            if pred(&v) {
                return v;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting on {path}: {v}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
    }
}

// ------------------------------------------------------------------ HTTP

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An API error answer: this status, a message containing `contains`, and
/// `field` naming the offending field (or none).
pub fn assert_error(r: &Resp, status: u16, field: Option<&str>, contains: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    let v = r.json();
    let msg = v["error"].as_str().unwrap_or_else(|| panic!("no error message: {v}"));
    assert!(msg.contains(contains), "error {msg:?} should contain {contains:?}");
    match field {
        Some(f) => assert_eq!(v["field"], serde_json::json!(f), "{v}"),
        None => assert!(v["field"].is_null(), "{v}"),
    }
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn decode_chunked(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size_line = std::str::from_utf8(&b[..pos]).unwrap();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).unwrap();
        b = &b[pos + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
    out
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no header end in response");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { decode_chunked(body) } else { body.to_vec() };
    Resp { status, headers, body }
}

/// One request with `Connection: close`; `token` becomes a Bearer header.
pub fn request(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> Resp {
    let mut headers = Vec::new();
    if let Some(t) = token {
        headers.push(("Authorization".to_string(), format!("Bearer {t}")));
    }
    request_with(addr, method, path, &headers, body)
}

pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    if let Some(b) = body {
        // The server may answer (413) and close before reading it all.
        let _ = s.write_all(b);
    }
    let raw = read_response(&mut s);
    assert!(!raw.is_empty(), "{method} {path}: empty response");
    parse_response(&raw)
}

/// Read one response: up to its Content-Length, to the end of a chunked
/// body, or to EOF (some servers ignore `Connection: close`).
pub fn read_response(s: &mut impl Read) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let body = raw.len() - end - 4;
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)));
            match len {
                Some(n) if body >= n => return raw,
                None if head.contains("transfer-encoding: chunked") && raw.ends_with(b"0\r\n\r\n") => return raw,
                _ => {}
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// Send raw request bytes (for malformed or chunked requests).
pub fn raw_request(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let raw = read_response(&mut s);
    assert!(!raw.is_empty(), "empty response");
    parse_response(&raw)
}
