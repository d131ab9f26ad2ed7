//! Issue 8 agreement check, small data set, part of `cargo test`: the
//! benchmark strategy run natively (rlib behind `NativeStrategy`) and sandboxed
//! (`strategies/wasm/bench_ema.wasm`, built by `scripts/build-strategies.sh`)
//! through the whole engine (risk, venue, journal) over the same 50 000
//! generated events must submit the same orders and get the same fills and
//! final position. NautilusTrader is compared only by `bench/run.sh`.
//!
//! Without the wasm module the sandboxed half is skipped (with a message)
//! unless `BULKHEAD_REQUIRE_WASM` is set; `BULKHEAD_WASM_DIR` overrides the
//! directory.

use bh_bench_ema::BenchEma;
use bulkhead_abi::{Event, HostApi};
use bulkhead_data::{Generator, GeneratorSpec};
use bulkhead_engine::{Engine, NativeStrategy, RunReport, StrategyKind, StrategySetup};
use bulkhead_journal::{FsyncPolicy, JournalParams, JournalWriter};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec};
use bulkhead_risk::Policy;
use bulkhead_sandbox::{Limits, SandboxRuntime};
use bulkhead_sdk::NativeRunner;
use bulkhead_venue::FeeSchedule;
use std::path::PathBuf;

const EVENTS: u64 = 50_000;
const CONFIG: &[u8] = b""; // the defaults documented in the crate header
const POLICY: &str = r#"
instruments = ["BTC-USDT-PERP"]
sides = ["buy", "sell"]
order_types = ["market", "limit"]
time_in_force = ["gtc", "ioc", "fok", "post_only"]
max_order_qty = "100"
max_order_notional = "100000000"
price_collar_bps = 10000
collar_reference = "mid"
max_position = "1000"
max_gross_notional = "1000000000"
max_net_notional = "1000000000"
max_open_orders = 1000
max_orders_per_sec = 1000000
max_messages_per_sec = 1000000
"#;

struct Native(NativeRunner<BenchEma>);

impl NativeStrategy for Native {
    fn init(&mut self, host: &mut dyn HostApi, now_ns: u64, config: &[u8]) -> i32 {
        self.0.init(host, now_ns, config)
    }
    fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32 {
        self.0.on_events(host, events)
    }
}

fn instruments() -> Vec<Instrument> {
    vec![
        Instrument::from_spec(
            0,
            &InstrumentSpec {
                symbol: "BTC-USDT-PERP".into(),
                kind: InstrumentKind::Perpetual,
                tick_size: "0.1".into(),
                lot_size: "0.001".into(),
                multiplier: "1".into(),
                ..InstrumentSpec::default()
            },
        )
        .unwrap(),
    ]
}

fn run(events: &[Event], kind: StrategyKind<'_>) -> RunReport {
    let insts = instruments();
    let policy = Policy::from_toml(POLICY, "bench-policy.toml", &insts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let params = JournalParams { fsync: FsyncPolicy::Never, ..JournalParams::default() };
    let journal = JournalWriter::create(&dir.path().join("j"), params).unwrap();
    let fees = FeeSchedule { maker_ppm: -100, taker_ppm: 500 };
    let mut engine = Engine::new(insts, fees, journal, "agreement").unwrap();
    engine
        .add_strategy(StrategySetup {
            name: "bench-ema",
            policy,
            config: CONFIG,
            kind,
            signer: None,
            surveillance: Default::default(),
        })
        .unwrap();
    for e in events {
        engine.on_market(*e).unwrap();
    }
    engine.finish().unwrap()
}

/// (orders submitted, accepted, rejected, fills, positions, realised, fees)
type Summary = (u64, u64, u64, u64, Vec<(u32, i64)>, i64, i64);

fn summary(r: &RunReport) -> Summary {
    let s = &r.strategies[0];
    assert_eq!(s.status, bulkhead_engine::Status::Running, "{}: {:?}", s.name, s.status);
    (
        s.stats.submitted,
        s.stats.accepted,
        s.stats.rejected.values().sum(),
        s.stats.fills,
        s.positions.clone(),
        s.realised,
        s.fees,
    )
}

fn wasm_path() -> PathBuf {
    let dir = std::env::var_os("BULKHEAD_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasm"));
    dir.join("bench_ema.wasm")
}

#[test]
fn native_and_sandboxed_agree_on_orders_fills_and_position() {
    let events: Vec<Event> = Generator::new(GeneratorSpec { events: EVENTS, seed: 42, ..Default::default() }).collect();
    let native = summary(&run(&events, StrategyKind::Native(Box::new(Native(NativeRunner::new(BenchEma::default()))))));
    let (orders, _, rejected, fills, ..) = native;
    eprintln!("native: {native:?}");
    assert!(orders > 100 && fills > 10, "the strategy must trade for the check to mean anything: {native:?}");
    assert_eq!(rejected, 0, "the permissive policy must not bind: {native:?}");

    let path = wasm_path();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if std::env::var_os("BULKHEAD_REQUIRE_WASM").is_none() => {
            eprintln!("skipping the sandboxed half: {}: {e} (run scripts/build-strategies.sh)", path.display());
            return;
        }
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let rt = SandboxRuntime::new().unwrap();
    let module = rt.load("bench_ema.wasm", &bytes).unwrap();
    let limits = Limits { deadline_us: 1_000_000, ..Limits::default() };
    let sandboxed = summary(&run(&events, StrategyKind::Wasm { runtime: &rt, module: &module, limits: &limits }));
    eprintln!("sandboxed: {sandboxed:?}");
    assert_eq!(native, sandboxed, "native and sandboxed runs must do the same work");
}
