//! Compile a generated module at the `ModuleLimits` defaults and print the
//! time (peak RSS: run under `/usr/bin/time -v`). Used for BENCHMARKS.md
//! "Compile bounds".
//!
//! `cargo run --release -p bulkhead-sandbox --example compile_bounds -- SHAPE`
//! with SHAPE one of: tiny (max functions, empty bodies), straight (max
//! module of max-size straight-line bodies), branchy (same, loops/ifs over
//! max locals), many (max functions sharing the max module size, branchy),
//! demo (the demo's three modules from strategies/wasm).

#[path = "../tests/it/support/gen.rs"]
mod generated;

use bulkhead_sandbox::{ModuleLimits, RuntimeConfig, SandboxRuntime};
use generated::{Gen, heavy_body};
use std::time::Instant;

fn at_limits(shape: &str, l: &ModuleLimits) -> Vec<u8> {
    let room = l.max_module_bytes as usize - 4096;
    let body = l.max_function_body_bytes as usize - 64;
    let locals = l.max_locals_per_function as u32;
    match shape {
        "tiny" => Gen { tiny_funcs: l.max_functions as u32 - 4, ..Gen::default() }.build(),
        "straight" | "branchy" => {
            let branchy = shape == "branchy";
            let n = room / body;
            let funcs = (0..n).map(|i| heavy_body(body - 8, locals, branchy, i as u64 + 1)).collect();
            Gen { funcs, ..Gen::default() }.build()
        }
        "many" => {
            let n = l.max_functions as usize - 4;
            let each = room / n / 2;
            let funcs = (0..n).map(|i| heavy_body(each.saturating_sub(16), 64, true, i as u64 + 1)).collect();
            Gen { funcs, ..Gen::default() }.build()
        }
        other => panic!("unknown shape {other}"),
    }
}

fn main() {
    let shape = std::env::args().nth(1).unwrap_or_else(|| "branchy".into());
    let cache = std::env::args().nth(2);
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let d = ModuleLimits::default();
    let limits = ModuleLimits {
        max_locals_per_function: env("BH_LOCALS", d.max_locals_per_function),
        max_function_body_bytes: env("BH_BODY", d.max_function_body_bytes),
        max_module_bytes: env("BH_MODULE", d.max_module_bytes),
        ..d
    };
    let cfg = RuntimeConfig {
        cache_dir: cache.map(Into::into),
        module_limits: ModuleLimits { compile_timeout_ms: 600_000, ..limits.clone() },
        ..RuntimeConfig::default()
    };
    let rt = SandboxRuntime::with_config(cfg).expect("runtime");
    let modules: Vec<(String, Vec<u8>)> = if shape == "demo" {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../strategies/wasm");
        ["market_maker", "momentum", "misbehaving"]
            .iter()
            .map(|n| (n.to_string(), std::fs::read(format!("{dir}/{n}.wasm")).expect("build-strategies.sh first")))
            .collect()
    } else {
        vec![(shape.clone(), at_limits(&shape, &limits))]
    };
    for (name, bytes) in &modules {
        let t = Instant::now();
        let counts = rt.check_module(name, bytes).expect("under the limits");
        let check = t.elapsed();
        let t = Instant::now();
        let m = rt.load(name, bytes).unwrap_or_else(|e| panic!("{e}"));
        let load = t.elapsed();
        println!(
            "{name}: {} bytes, {} functions, largest body {} bytes, {} locals max; check {:.2} ms, load {:.1} ms (from cache: {})",
            bytes.len(),
            counts.functions,
            counts.max_body_bytes,
            counts.max_locals,
            check.as_secs_f64() * 1e3,
            load.as_secs_f64() * 1e3,
            m.from_cache()
        );
    }
    if let Some(s) = rt.cache_stats() {
        println!("cache: {s:?}");
    }
}
