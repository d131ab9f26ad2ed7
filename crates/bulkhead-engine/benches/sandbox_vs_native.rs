//! The cost of isolation: the same momentum strategy over the same events,
//! (1) through the whole pipeline (risk, venue, journal) natively and
//! sandboxed, and (2) the strategy callback alone against a trivial host.
//!
//! `cargo bench -p bulkhead-engine --bench sandbox_vs_native`
//! (build the wasm first: `./scripts/build-strategies.sh`).

use bh_momentum::Momentum;
use bulkhead_abi::{Event, HostApi, OpenOrderRecord, OrderRequest, PositionRecord};
use bulkhead_data::{Generator, GeneratorSpec};
use bulkhead_engine::{Engine, NativeStrategy, StrategyKind, StrategySetup};
use bulkhead_journal::{JournalParams, JournalWriter};
use bulkhead_model::{Instrument, InstrumentSpec};
use bulkhead_risk::Policy;
use bulkhead_sandbox::{Limits, SandboxRuntime, StrategyModule};
use bulkhead_sdk::NativeRunner;
use bulkhead_venue::FeeSchedule;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;

const EVENTS: u64 = 100_000;
const CONFIG: &[u8] = b"instrument = 0\nfast = 20\nslow = 200\ntarget_lots = 50\ncooldown_ns = 2000000000\n";

struct Native(NativeRunner<Momentum>);

impl NativeStrategy for Native {
    fn init(&mut self, host: &mut dyn HostApi, now_ns: u64, config: &[u8]) -> i32 {
        self.0.init(host, now_ns, config)
    }
    fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32 {
        self.0.on_events(host, events)
    }
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn instruments() -> Vec<Instrument> {
    let spec: InstrumentSpec =
        toml::from_str("symbol = \"BTC-USDT-PERP\"\nkind = \"perpetual\"\ntick_size = \"0.1\"\nlot_size = \"0.001\"\n")
            .unwrap();
    vec![Instrument::from_spec(0, &spec).unwrap()]
}

fn policy(insts: &[Instrument]) -> Policy {
    let text = std::fs::read_to_string(root().join("examples/policies/momentum.toml")).unwrap();
    Policy::from_toml(&text, "momentum.toml", insts).unwrap()
}

fn events() -> Vec<Event> {
    Generator::new(GeneratorSpec { events: EVENTS, ..GeneratorSpec::default() }).collect()
}

fn run_pipeline(events: &[Event], kind: StrategyKind<'_>) -> u64 {
    let insts = instruments();
    let dir = tempfile::tempdir().unwrap();
    let journal = JournalWriter::create(&dir.path().join("j"), JournalParams::default()).unwrap();
    let mut engine =
        Engine::new(insts.clone(), FeeSchedule { maker_ppm: -100, taker_ppm: 500 }, journal, "bench").unwrap();
    engine
        .add_strategy(StrategySetup {
            name: "momentum",
            policy: policy(&insts),
            config: CONFIG,
            kind,
            signer: None,
            surveillance: Default::default(),
        })
        .unwrap();
    for e in events {
        engine.on_market(*e).unwrap();
    }
    let report = engine.finish().unwrap();
    report.strategies[0].stats.fills
}

/// A host that accepts every order and answers queries with zeros.
#[derive(Default)]
struct NullHost(u64);

impl HostApi for NullHost {
    fn submit_order(&mut self, _req: &OrderRequest) -> i64 {
        self.0 += 1;
        self.0 as i64
    }
    fn cancel_order(&mut self, _id: u64) -> i32 {
        0
    }
    fn cancel_all(&mut self, _instrument: Option<u32>) -> i32 {
        0
    }
    fn position(&mut self, _instrument: u32, out: &mut PositionRecord) -> i32 {
        *out = PositionRecord::default();
        0
    }
    fn open_orders(&mut self, _out: &mut [OpenOrderRecord]) -> i32 {
        0
    }
    fn set_timer(&mut self, _at_ns: u64, _token: u64) -> i32 {
        0
    }
    fn log(&mut self, _level: i32, _msg: &[u8]) -> i32 {
        0
    }
}

fn load_module(rt: &SandboxRuntime) -> StrategyModule {
    let path = root().join("strategies/wasm/momentum.wasm");
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-strategies.sh)", path.display()));
    rt.load("momentum.wasm", &bytes).unwrap()
}

fn bench(c: &mut Criterion) {
    let events = events();
    let rt = SandboxRuntime::new().unwrap();
    let module = load_module(&rt);
    let limits = Limits { deadline_us: 1_000_000, ..Limits::default() };

    // Both variants must do the same work.
    let native_fills =
        run_pipeline(&events, StrategyKind::Native(Box::new(Native(NativeRunner::new(Momentum::default())))));
    let wasm_fills = run_pipeline(&events, StrategyKind::Wasm { runtime: &rt, module: &module, limits: &limits });
    assert_eq!(native_fills, wasm_fills, "native and sandboxed runs must agree");

    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("native", |b| {
        b.iter(|| run_pipeline(&events, StrategyKind::Native(Box::new(Native(NativeRunner::new(Momentum::default()))))))
    });
    g.bench_function("sandboxed", |b| {
        b.iter(|| run_pipeline(&events, StrategyKind::Wasm { runtime: &rt, module: &module, limits: &limits }))
    });
    g.finish();

    let mut g = c.benchmark_group("callback_only");
    g.sample_size(20);
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("native", |b| {
        b.iter(|| {
            let mut host = NullHost::default();
            let mut s = NativeRunner::new(Momentum::default());
            s.init(&mut host, 0, CONFIG);
            for e in &events {
                s.on_events(&mut host, std::slice::from_ref(e));
            }
            host.0
        })
    });
    g.bench_function("sandboxed", |b| {
        b.iter(|| {
            let mut host = NullHost::default();
            let mut sb = rt.instantiate(&module, &limits, CONFIG, 0, &mut host).unwrap();
            for e in &events {
                sb.on_events(std::slice::from_ref(e), e.ts_ns, &mut host).unwrap();
            }
            host.0
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
