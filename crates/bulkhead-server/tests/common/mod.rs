//! Test drivers: [`start_live`], the real engine (the demo strategies on a
//! small generated market, a real journal) on its own thread behind a real
//! server; a fake engine loop ([`start_harness`]) kept only for what the
//! real engine does not publish yet (live state-change events, decision and
//! fault lists, fixed metric values); and a tiny blocking HTTP/1.1 client.
#![allow(dead_code)]

pub mod prom;

use bulkhead_server::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const STRATEGIES: [&str; 3] = ["alpha", "beta", "gamma"];
pub const SYMBOL: &str = "BTC-USDT-PERP";
/// The fake firm policy's cap for any limit.
pub const FIRM_MAX: f64 = 100.0;

pub struct Tokens {
    pub viewer: String,
    pub operator: String,
    pub admin: String,
}

pub struct Harness {
    pub addr: SocketAddr,
    pub tokens: Tokens,
    /// What the fake engine "journalled", in order: `Command::journal_line`.
    pub journal: Arc<Mutex<Vec<String>>>,
    /// The fake engine's snapshot as it last applied a command.
    pub applied: Arc<Mutex<Vec<(Command, Actor)>>>,
    stop: Arc<AtomicBool>,
    engine: Option<JoinHandle<()>>,
    guard: Option<ServerGuard>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
        if let Some(g) = self.guard.take() {
            g.shutdown();
        }
    }
}

fn initial_snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    s.engine.phase = "running".into();
    s.instruments.push(InstrumentSnapshot {
        symbol: SYMBOL.into(),
        state: TradingState::Active,
        reference_price: Some("50000.0".into()),
    });
    for (i, name) in STRATEGIES.iter().enumerate() {
        let mut limits = BTreeMap::new();
        limits.insert("max_order_qty".to_string(), "10".to_string());
        limits.insert("max_open_orders".to_string(), "20".to_string());
        let mut rejected = BTreeMap::new();
        rejected.insert("R2_MAX_ORDER_QTY".to_string(), i as u64 + 1);
        s.strategies.push(StrategySnapshot {
            name: name.to_string(),
            state: TradingState::Active,
            state_cause: None,
            module_hash: Some("ab".repeat(32)),
            limits,
            resources: Resources {
                events: 1000,
                callbacks: 900,
                fuel_used: 123_456,
                peak_memory_bytes: 1 << 20,
                callback_p50_ns: 4_000,
                callback_p99_ns: 40_000,
                ..Resources::default()
            },
            orders: OrderCounts { submitted: 10, accepted: 8, rejected, cancels: 2, fills: 5 },
            pnl: Pnl { realised: 150_000_000, unrealised: -20_000_000, fees: 1_000_000 },
            callback_latency: LatencyHistogram::default(),
        });
        s.positions.push(PositionSnapshot {
            strategy: name.to_string(),
            instrument: SYMBOL.into(),
            lots: 3,
            qty: "0.003".into(),
            avg_price: "50000.0".into(),
            pnl: Pnl { realised: 150_000_000, unrealised: -20_000_000, fees: 1_000_000 },
        });
        s.orders.push(OrderSnapshot {
            strategy: name.to_string(),
            id: 1,
            instrument: SYMBOL.into(),
            side: "buy".into(),
            price: "49000.0".into(),
            remaining: "0.001".into(),
            tag: 7,
        });
        s.decisions.push(std::sync::Arc::new(DecisionRecord {
            seq: 10 + i as u64,
            ts_ns: 1_000 + i as u64,
            strategy: name.to_string(),
            instrument: Some(SYMBOL.into()),
            source: "risk",
            order_id: Some(1),
            side: Some("buy".into()),
            price: Some("49000.0".into()),
            qty: Some("0.02".into()),
            kind: if i == 1 { DecisionKind::Reject } else { DecisionKind::Accept },
            reason: if i == 1 { "R2_MAX_ORDER_QTY".into() } else { "ACCEPTED".into() },
            reason_code: if i == 1 { 201 } else { 0 },
            limit: 10,
            requested: 20,
            current: 0,
            detail: "limit=10 requested=20 current=0".into(),
            message: "R2_MAX_ORDER_QTY: order qty 0.02 exceeds limit 0.01 (BTC-USDT-PERP)".into(),
        }));
    }
    s.faults.push(std::sync::Arc::new(FaultRecord {
        seq: 42,
        ts_ns: 2_000,
        strategy: "gamma".into(),
        kind: "fuel_exhausted".into(),
        message: "callback ran out of fuel".into(),
    }));
    s.journal = JournalStatus {
        records: 100,
        bytes: 4096,
        segments: 1,
        last_hash: "cd".repeat(32),
        fsync: "batch".into(),
        fsyncs: 4,
        fsync_total_ns: 600_000,
        fsync_max_ns: 250_000,
    };
    s
}

fn scope_matches(scope: &Scope, strategy: &str) -> bool {
    match scope {
        Scope::Global | Scope::Instrument(_) => true,
        Scope::Strategy(n) => n == strategy,
    }
}

/// Apply a command to the fake engine's state, or refuse it unchanged.
fn apply(s: &mut Snapshot, cmd: &Command, actor: &Actor, h: &ControlHandle) -> CommandResult {
    let known = |n: &str| s.strategies.iter().any(|x| x.name == n);
    let set_state = |s: &mut Snapshot, scope: &Scope, state: TradingState| {
        match scope {
            Scope::Global => s.global_state = state,
            Scope::Instrument(sym) => {
                for i in s.instruments.iter_mut().filter(|i| &i.symbol == sym) {
                    i.state = state;
                }
            }
            Scope::Strategy(n) => {
                for x in s.strategies.iter_mut().filter(|x| &x.name == n) {
                    x.state = state;
                    x.state_cause = Some(format!("{} by {}", cmd.kind(), actor.name));
                }
            }
        }
        h.emit(LiveEvent::StateChange {
            seq: None,
            ts_ns: s.event_time_ns,
            scope: scope.clone(),
            state,
            cause: actor.name.clone(),
        });
    };
    match cmd {
        Command::Halt(scope) => {
            set_state(s, scope, TradingState::Halted);
            s.orders.retain(|o| !scope_matches(scope, &o.strategy));
            Ok(format!("halted {scope}; open orders cancelled"))
        }
        Command::Reduce(scope) => {
            set_state(s, scope, TradingState::Reducing);
            Ok(format!("reducing {scope}"))
        }
        Command::Resume(scope) => {
            set_state(s, scope, TradingState::Active);
            Ok(format!("resumed {scope}"))
        }
        Command::MassCancel(scope) => {
            let before = s.orders.len();
            s.orders.retain(|o| !scope_matches(scope, &o.strategy));
            Ok(format!("cancelled {} orders", before - s.orders.len()))
        }
        Command::SetLimit { strategy, field, value } => {
            if !known(strategy) {
                return Err(CommandError::not_found("strategy", strategy));
            }
            let v: f64 = value.parse().map_err(|_| CommandError::invalid("value", "not a number"))?;
            if v <= 0.0 || v > FIRM_MAX {
                return Err(CommandError::invalid(
                    "value",
                    format!("{field} must be in (0, {FIRM_MAX}] by firm policy"),
                ));
            }
            let st = s.strategies.iter_mut().find(|x| &x.name == strategy).unwrap();
            match st.limits.get_mut(field) {
                Some(slot) => *slot = value.clone(),
                None => return Err(CommandError::not_found("field", field)),
            }
            Ok(format!("{strategy}.{field} = {value}"))
        }
        Command::Deploy { strategy, module_bytes, .. } => {
            if !known(strategy) {
                return Err(CommandError::not_found("strategy", strategy));
            }
            let st = s.strategies.iter_mut().find(|x| &x.name == strategy).unwrap();
            st.module_hash = Some(blake3::hash(module_bytes).to_hex().to_string());
            Ok(format!("deployed {} bytes to {strategy}", module_bytes.len()))
        }
        Command::Tokens(_) => Ok("journalled".into()),
        Command::Restart { strategy } => {
            if !known(strategy) {
                return Err(CommandError::not_found("strategy", strategy));
            }
            let st = s.strategies.iter_mut().find(|x| &x.name == strategy).unwrap();
            st.state = TradingState::Active;
            Ok(format!("restarted {strategy}"))
        }
    }
}

/// Start the server on a loopback port with one token per role and a fake
/// engine thread.
pub fn start_harness(options: ServerOptions) -> Harness {
    let mut store = TokenStore::new();
    let (viewer, e) = TokenStore::generate("watcher", Role::Viewer).unwrap();
    store.add(e).unwrap();
    let (operator, e) = TokenStore::generate("ops", Role::Operator).unwrap();
    store.add(e).unwrap();
    let (admin, e) = TokenStore::generate("root", Role::Admin).unwrap();
    store.add(e).unwrap();
    let (mut handle, guard) = start("127.0.0.1:0".parse().unwrap(), store, options).expect("start server");
    let addr = guard.local_addr();
    let journal = Arc::new(Mutex::new(Vec::new()));
    let applied = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // The first snapshot is published before the harness is handed out:
    // a test's first read must not race it.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let engine = {
        let (journal, applied, stop) = (journal.clone(), applied.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut snap = initial_snapshot();
            // The fake engine's callback wall times, as a sandbox records them.
            let mut walls: Vec<bulkhead_sandbox::WallHistogram> =
                STRATEGIES.iter().map(|_| bulkhead_sandbox::WallHistogram::default()).collect();
            for (w, st) in walls.iter_mut().zip(snap.strategies.iter_mut()) {
                w.record(5_000);
                st.callback_latency = LatencyHistogram::from_wall(w);
            }
            handle.metrics().journal_fsync().observe_ns(150_000);
            handle.publish(snap.clone());
            let _ = ready_tx.send(());
            let mut tick = 0u64;
            while !stop.load(Ordering::SeqCst) {
                // "events"
                tick += 1;
                snap.engine.events_processed += 100;
                snap.event_time_ns += 1_000_000;
                for st in snap.strategies.iter_mut() {
                    if st.state == TradingState::Active {
                        st.resources.events += 100;
                        st.pnl.unrealised += if tick % 7 < 4 { 1_000_000 } else { -700_000 };
                    }
                }
                walls[0].record(3_000 + tick % 50_000);
                snap.strategies[0].callback_latency = LatencyHistogram::from_wall(&walls[0]);
                // between events: drain commands
                let mut changed = false;
                while let Some((cmd, actor, reply)) = handle.try_recv() {
                    // Check and apply on a copy; only a command that passes
                    // is journalled (with its actor), then takes effect.
                    let mut next = snap.clone();
                    let r = apply(&mut next, &cmd, &actor, &handle);
                    if r.is_ok() {
                        journal.lock().unwrap().push(cmd.journal_line(&actor));
                        snap = next;
                        applied.lock().unwrap().push((cmd, actor));
                        changed = true;
                    }
                    reply.send(r);
                }
                snap.pnl = Pnl::default();
                for st in &snap.strategies {
                    snap.pnl.realised += st.pnl.realised;
                    snap.pnl.unrealised += st.pnl.unrealised;
                    snap.pnl.fees += st.pnl.fees;
                }
                if changed || tick.is_multiple_of(5) {
                    handle.publish(snap.clone());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    ready_rx.recv().expect("fake engine thread started");
    Harness {
        addr,
        tokens: Tokens { viewer, operator, admin },
        journal,
        applied,
        stop,
        engine: Some(engine),
        guard: Some(guard),
    }
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
    pub server: ServerOptions,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions { events: 2_000, pace: None, server: ServerOptions::default() }
    }
}

pub fn demo_config(dir: &std::path::Path, events: u64) -> bulkhead_engine::LoadedConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo.toml");
    let mut cfg = bulkhead_engine::LoadedConfig::load(&path)
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
    let cfg = demo_config(dir.path(), opts.events);
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let engine = {
        let stop = stop.clone();
        let pace = opts.pace;
        std::thread::spawn(move || {
            let bulkhead_engine::PreparedRun { mut engine, runtime, mut source, .. } =
                bulkhead_engine::prepare_run(&cfg).expect("prepare the demo run");
            let (handle, guard) = start("127.0.0.1:0".parse().unwrap(), store, server).expect("start server");
            let mut control = engine_control::EngineControl::new(handle, runtime, pace, "never");
            control.publish(&engine);
            let _ = ready_tx.send(guard.local_addr());
            while !stop.load(Ordering::SeqCst) {
                let Some(ev) = source.next_event().expect("market data") else { break };
                control.before_event(&mut engine, ev.ts_ns);
                engine.on_market(ev).expect("engine");
            }
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
