//! Instance benchmark: load (cold compile vs. precompiled cache),
//! instantiate/restart time, memory per idle strategy, and N concurrent
//! strategies handling events.
//!
//! ```text
//! ./scripts/build-strategies.sh            # builds strategies/wasm/*.wasm
//! cargo run --release -p bulkhead-sandbox --example instances -- [N] [MODULE.wasm ...]
//! ```
//! Defaults: N = 1000, modules = strategies/wasm/{market_maker,momentum}.wasm.
//! Set `BULKHEAD_BENCH_ON_DEMAND=1` to compare with wasmtime's on-demand
//! allocator instead of the pool.

use std::path::PathBuf;
use std::time::Instant;

use bulkhead_abi::{DecodeError, Event, EventKind, HostApi, OpenOrderRecord, OrderRequest, PositionRecord, Side};
use bulkhead_sandbox::{Limits, RuntimeConfig, Sandbox, SandboxRuntime, WallHistogram};

/// Accepts everything, remembers nothing (no allocation per call).
#[derive(Default)]
struct NullHost {
    next: i64,
    orders: u64,
}

impl HostApi for NullHost {
    fn submit_order(&mut self, _: &OrderRequest) -> i64 {
        self.next += 1;
        self.orders += 1;
        self.next
    }
    fn cancel_order(&mut self, _: u64) -> i32 {
        0
    }
    fn cancel_all(&mut self, _: Option<u32>) -> i32 {
        0
    }
    fn position(&mut self, _: u32, out: &mut PositionRecord) -> i32 {
        *out = PositionRecord::default();
        0
    }
    fn open_orders(&mut self, _: &mut [OpenOrderRecord]) -> i32 {
        0
    }
    fn set_timer(&mut self, _: u64, _: u64) -> i32 {
        0
    }
    fn log(&mut self, _: i32, _: &[u8]) -> i32 {
        0
    }
    fn invalid_record(&mut self, _: DecodeError) {}
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn report(label: &str, h: &WallHistogram) {
    println!(
        "  {label:<34} n={:<6} mean={:>8.1} µs  p50={:>8.1} µs  p99={:>8.1} µs  max={:>8.1} µs",
        h.count(),
        us(h.mean()),
        us(h.quantile(0.5)),
        us(h.quantile(0.99)),
        us(h.max())
    );
}

fn quotes(i: u64, ts: u64) -> [Event; 4] {
    let mut q = Event::new(EventKind::Quote, 0, ts);
    let mid = 100_000 + (i % 17) as i64 - 8;
    q.price = mid - 5;
    q.qty = 10;
    q.a = mid + 5;
    q.b = 10;
    let mut t = Event::new(EventKind::Trade, 0, ts + 1);
    t.side = Some(if i.is_multiple_of(2) { Side::Buy } else { Side::Sell });
    t.price = mid;
    t.qty = 2;
    let mut q2 = q;
    q2.ts_ns = ts + 2;
    q2.price += 1;
    let mut t2 = t;
    t2.ts_ns = ts + 3;
    [q, t, q2, t2]
}

#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mut paths: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    if paths.is_empty() {
        paths = ["market_maker", "momentum"].iter().map(|m| root.join(format!("strategies/wasm/{m}.wasm"))).collect();
    }
    let modules: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| {
            let bytes =
                std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e} (run ./scripts/build-strategies.sh)", p.display()));
            (p.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned()), bytes)
        })
        .collect();

    let on_demand = std::env::var_os("BULKHEAD_BENCH_ON_DEMAND").is_some();
    let cache_dir = std::env::temp_dir().join(format!("bulkhead-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache_dir);
    let cfg = RuntimeConfig {
        max_instances: if on_demand { 0 } else { (n as u32).max(1) },
        cache_dir: Some(cache_dir.clone()),
        ..RuntimeConfig::default()
    };
    println!(
        "allocator: {}  instances: {n}  reserved address space: {:.1} GiB  worst-case linear memory: {:.1} GiB",
        if on_demand { "on-demand" } else { "pooling" },
        cfg.reserved_address_space_bytes() as f64 / (1u64 << 30) as f64,
        cfg.worst_case_memory_bytes() as f64 / (1u64 << 30) as f64
    );

    // (0) load: cold compile vs. verified cache hit (fresh runtime each time).
    println!("\n(0) load (compile + validate) per module");
    for (name, bytes) in &modules {
        let _ = std::fs::remove_dir_all(&cache_dir);
        let rt = SandboxRuntime::with_config(cfg.clone()).expect("runtime");
        let t = Instant::now();
        let m = rt.load(name, bytes).expect("load");
        let cold = t.elapsed();
        assert!(!m.from_cache());
        let rt2 = SandboxRuntime::with_config(cfg.clone()).expect("runtime");
        let t = Instant::now();
        let m2 = rt2.load(name, bytes).expect("load");
        let warm = t.elapsed();
        assert!(m2.from_cache());
        println!(
            "  {name:<20} {:>7} bytes  compile {:>8.2} ms   cache hit {:>8.3} ms",
            bytes.len(),
            cold.as_secs_f64() * 1e3,
            warm.as_secs_f64() * 1e3
        );
    }

    let rt = SandboxRuntime::with_config(cfg.clone()).expect("runtime");
    let loaded: Vec<_> = modules.iter().map(|(name, b)| rt.load(name, b).expect("load")).collect();
    // Default limits except the wall-clock deadline: on a shared 2-core
    // machine a descheduled thread can overrun 5 ms of wall time while
    // burning no fuel, and this benchmark measures speed, not containment.
    let limits = Limits { deadline_us: 1_000_000, ..Limits::default() };
    let mut host = NullHost::default();

    // (a) instantiate / restart: instantiate (start, abi, buffer, init), drop, repeat.
    println!("\n(a) instantiate + init + drop (= restart), per strategy");
    for m in &loaded {
        let mut h = WallHistogram::default();
        for _ in 0..20 {
            drop(rt.instantiate(m, &limits, b"", 0, &mut host).expect("warm-up"));
        }
        for _ in 0..2000 {
            let t = Instant::now();
            let sb = rt.instantiate(m, &limits, b"", 0, &mut host).expect("instantiate");
            drop(sb);
            h.record(t.elapsed().as_nanos() as u64);
        }
        report(&m.name, &h);
    }

    // (b) memory per idle strategy.
    println!("\n(b) {n} idle strategies");
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut live: Vec<Sandbox> = Vec::with_capacity(n);
    let mut inst = WallHistogram::default();
    for i in 0..n {
        let m = &loaded[i % loaded.len()];
        let t1 = Instant::now();
        live.push(rt.instantiate(m, &limits, b"", 0, &mut host).expect("instantiate"));
        inst.record(t1.elapsed().as_nanos() as u64);
    }
    let took = t.elapsed();
    let rss1 = rss_bytes();
    let linear: u64 = live.iter().map(|s| s.stats().peak_memory_bytes).sum();
    report("instantiate while filling", &inst);
    println!("  all {n} instantiated in {:.1} ms", took.as_secs_f64() * 1e3);
    println!(
        "  RSS {:.1} MiB → {:.1} MiB: Δ {:.1} MiB = {:.1} KiB per strategy (linear memory declared: {:.2} MiB per strategy, mostly untouched)",
        rss0 as f64 / 1048576.0,
        rss1 as f64 / 1048576.0,
        (rss1.saturating_sub(rss0)) as f64 / 1048576.0,
        (rss1.saturating_sub(rss0)) as f64 / 1024.0 / n as f64,
        linear as f64 / 1048576.0 / n as f64
    );

    // (c) every strategy handles event batches.
    let rounds = 50u64;
    println!("\n(c) {n} concurrent strategies × {rounds} rounds × 4 events (quote, trade, quote, trade)");
    let t = Instant::now();
    for r in 0..rounds {
        let ts = 1_000_000_000 + r * 1_000_000;
        let evs = quotes(r, ts);
        for sb in live.iter_mut() {
            sb.on_events(&evs, ts + 3, &mut host).expect("callback");
        }
    }
    let el = t.elapsed();
    let calls = rounds * n as u64;
    let mut all = WallHistogram::default();
    let mut p99_max = 0u64;
    for sb in &live {
        p99_max = p99_max.max(sb.stats().wall_p99_ns());
        all.record(sb.stats().wall_p50_ns());
    }
    println!(
        "  {calls} callbacks in {:.1} ms: {:.2} µs per callback, {:.0} callbacks/s, {} orders; faults: {}",
        el.as_secs_f64() * 1e3,
        el.as_secs_f64() * 1e6 / calls as f64,
        calls as f64 / el.as_secs_f64(),
        host.orders,
        live.iter().filter(|s| s.fault().is_some()).count()
    );
    report("per-strategy callback p50 (spread)", &all);
    println!("  worst per-strategy callback p99: {:.1} µs", us(p99_max));
    println!("  RSS after events: {:.1} MiB", rss_bytes() as f64 / 1048576.0);
    drop(live);
    let _ = std::fs::remove_dir_all(&cache_dir);
}
