//! Benchmark: operator halt latency, request to applied, with and without a
//! read flood.
//!
//! A live demo run (a throttled feed of ~1 000 events/s) with the control plane on loopback;
//! an operator sends `POST /api/v1/halt` then `POST /api/v1/resume`
//! (global scope) in turn on fresh connections. Each reply comes after the
//! engine journalled and applied the command and published the new state,
//! so request-to-reply is request-to-applied (visible in the state). Then
//! the same with a read flood: 16 threads of `GET /api/v1/status` with a
//! viewer token, plus 2 000 idle half-sent connections.
//!
//! `cargo run --release -p bulkhead-server --example halt_latency [-- N]`
//! (needs `scripts/build-strategies.sh`; N commands per phase, default 400).

use bulkhead_server::engine_control::EngineControl;
use bulkhead_server::{Role, ServerOptions, TokenStore, start};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn post(addr: SocketAddr, path: &str, token: &str, body: &str) -> (u16, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let took = t.elapsed();
    let status = std::str::from_utf8(&out[..12.min(out.len())]).ok().and_then(|h| h.get(9..12)?.parse().ok());
    (status.unwrap_or(0), took)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn phase(addr: SocketAddr, op: &str, n: usize) -> (Duration, Duration, Duration) {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let path = if i % 2 == 0 { "/api/v1/halt" } else { "/api/v1/resume" };
        let (status, took) = post(addr, path, op, r#"{"scope":"global"}"#);
        assert_eq!(status, 200, "{path}");
        v.push(took);
    }
    v.sort();
    (pct(&v, 0.5), pct(&v, 0.99), *v.last().unwrap())
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(400);
    let tmp = tempfile::tempdir().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo.toml");
    let mut cfg = bulkhead_engine::LoadedConfig::load(&path).expect("demo config (run scripts/build-strategies.sh)");
    cfg.journal_dir = tmp.path().join("journal");
    cfg.raw.run.overwrite_journal = false;
    if let bulkhead_engine::DataPlan::Generator(spec) = &mut cfg.data {
        spec.events = 100_000_000;
    }
    let mut store = TokenStore::new();
    let (viewer, e) = TokenStore::generate("watcher", Role::Viewer).unwrap();
    store.add(e).unwrap();
    let (op, e) = TokenStore::generate("ops", Role::Operator).unwrap();
    store.add(e).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let engine = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let bulkhead_engine::PreparedRun { mut engine, runtime, mut source, .. } =
                bulkhead_engine::prepare_run(&cfg).expect("prepare");
            let (handle, guard) = start("127.0.0.1:0".parse().unwrap(), store, ServerOptions::default()).unwrap();
            // A live feed of ~1 000 events/s (throttled here rather than with
            // `pace`, whose arithmetic can panic: issue 19 item 1).
            let mut control = EngineControl::new(handle, runtime, None, bulkhead_journal::FsyncPolicy::Never);
            control.publish(&engine);
            tx.send(guard.local_addr()).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let Some(ev) = source.next_event().unwrap() else { break };
                control.before_event(&mut engine, ev.ts_ns);
                engine.on_market(ev).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(control);
            guard.shutdown();
        })
    };
    let addr = rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let quiet = phase(addr, &op, n);
    println!("no flood:   p50 {:?}  p99 {:?}  max {:?}  ({n} commands)", quiet.0, quiet.1, quiet.2);

    let flooding = Arc::new(AtomicBool::new(true));
    let idle: Vec<TcpStream> = (0..2_000)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n").ok()?;
            Some(s)
        })
        .collect();
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let (flooding, viewer) = (flooding.clone(), viewer.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while flooding.load(Ordering::Relaxed) {
                    let Ok(mut s) = TcpStream::connect(addr) else { continue };
                    let req = format!("GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {viewer}\r\n\r\n");
                    let _ = s.write_all(req.as_bytes());
                    let mut out = Vec::new();
                    let _ = s.read_to_end(&mut out);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let flood = phase(addr, &op, n);
    let secs = t.elapsed().as_secs_f64();
    flooding.store(false, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    println!(
        "read flood: p50 {:?}  p99 {:?}  max {:?}  ({n} commands; {} idle connections held; {:.0} reads/s attempted)",
        flood.0,
        flood.1,
        flood.2,
        idle.len(),
        reads as f64 / secs
    );
    drop(idle);
    stop.store(true, Ordering::Relaxed);
    engine.join().unwrap();
}
