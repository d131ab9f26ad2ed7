//! R14 market-maker protection through the real engine (risk, venue,
//! journal; the strategy is a native implementation of the `HostApi` the
//! sandbox serves): a fill over the group's delta freezes the strategy and
//! the journal says why; with `frozen_ms = 0` it stays frozen until the
//! operator's `resume` command (journalled naming the operator) lifts it;
//! with a frozen time, quoting resumes by itself after that much event time,
//! journalled as a STATE record whose cause names R14 and the frozen time.

use std::sync::{Arc, Mutex};

use bulkhead_abi::{Event, EventKind, HostApi, OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_engine::decode::{Decoded, decode};
use bulkhead_engine::{Actor, Command, Engine, NativeStrategy, Outcome, Role, StrategyKind, StrategySetup, command};
use bulkhead_journal::{FsyncPolicy, JournalParams, JournalReader, JournalWriter};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec};
use bulkhead_risk::{Policy, Scope, TradingState};
use bulkhead_venue::FeeSchedule;

const POLICY: &str = r#"
instruments = ["BTC-USDT-PERP"]
sides = ["buy", "sell"]
order_types = ["market", "limit"]
time_in_force = ["gtc", "ioc", "fok", "post_only"]
max_order_qty = "1"
max_order_notional = "100000000"
price_collar_bps = 5000
collar_reference = "mid"
max_position = "1000"
max_gross_notional = "1000000000"
max_net_notional = "1000000000"
max_open_orders = 1000
max_orders_per_sec = 1000000
max_messages_per_sec = 1000000
"#;

/// Buys 0.051 BTC at market on every quote (over the group's delta of
/// 0.05 with one fill) and keeps every submit's result.
struct Taker {
    results: Arc<Mutex<Vec<(u64, i64)>>>,
}

impl NativeStrategy for Taker {
    fn init(&mut self, _host: &mut dyn HostApi, _now_ns: u64, _config: &[u8]) -> i32 {
        0
    }
    fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32 {
        let Some(m) = events.iter().rev().find(|e| e.kind == EventKind::Quote) else { return 0 };
        let req = OrderRequest {
            instrument: 0,
            side: Side::Buy,
            order_type: OrderType::Market,
            tif: TimeInForce::Ioc,
            reduce_only: false,
            price: 0,
            qty: 51,
            tag: 0,
        };
        let r = host.submit_order(&req);
        self.results.lock().unwrap().push((m.ts_ns, r));
        0
    }
}

fn instruments() -> Vec<Instrument> {
    let spec = InstrumentSpec {
        symbol: "BTC-USDT-PERP".into(),
        kind: InstrumentKind::Perpetual,
        tick_size: "0.1".into(),
        lot_size: "0.001".into(),
        multiplier: "1".into(),
        ..InstrumentSpec::default()
    };
    vec![Instrument::from_spec(0, &spec).unwrap()]
}

/// A quote at 65 000.0 / 65 000.1, one per millisecond from 1 s.
fn quote(i: u64) -> Event {
    let mut e = Event::new(EventKind::Quote, 0, 1_000_000_000 + i * 1_000_000);
    e.price = 650_000;
    e.qty = 5_000;
    e.a = 650_001;
    e.b = 5_000;
    e
}

struct Run {
    engine: Engine,
    results: Arc<Mutex<Vec<(u64, i64)>>>,
    dir: tempfile::TempDir,
}

fn start(frozen_ms: u64) -> Run {
    let insts = instruments();
    let dir = tempfile::tempdir().unwrap();
    let params = JournalParams { fsync: FsyncPolicy::Never, ..JournalParams::default() };
    let journal = JournalWriter::create(&dir.path().join("j"), params).unwrap();
    let mut engine = Engine::new(insts.clone(), FeeSchedule { maker_ppm: 0, taker_ppm: 0 }, journal, "mmp").unwrap();
    let text = format!(
        "{POLICY}\n[mmp_groups.btc]\nunderlying = \"BTC-USDT-PERP\"\nwindow_ms = 100\ndelta = \"0.05\"\nfrozen_ms = {frozen_ms}\n"
    );
    let policy = Policy::from_toml(&text, "mmp.toml", &insts).unwrap();
    let results = Arc::new(Mutex::new(Vec::new()));
    let kind = StrategyKind::Native(Box::new(Taker { results: results.clone() }));
    engine
        .add_strategy(StrategySetup {
            name: "mm",
            policy,
            config: b"",
            kind,
            signer: None,
            surveillance: Default::default(),
        })
        .unwrap();
    Run { engine, results, dir }
}

/// (event time, decoded) of every STATE and COMMAND record.
fn states_and_commands(dir: &tempfile::TempDir) -> Vec<(u64, Decoded)> {
    JournalReader::open(&dir.path().join("j"))
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.ts_ns, decode(r.kind, &r.payload).unwrap())
        })
        .filter(|(_, d)| matches!(d, Decoded::State { .. } | Decoded::Command { .. }))
        .collect()
}

fn accepted(run: &Run) -> Vec<u64> {
    run.results.lock().unwrap().iter().filter(|(_, r)| *r > 0).map(|(ts, _)| *ts).collect()
}

const HALTED: i64 = -(Reason::StrategyHalted.code() as i64);

#[test]
fn frozen_ms_zero_stays_frozen_until_the_operator_resumes() {
    let mut run = start(0);
    for i in 0..50 {
        run.engine.on_market(quote(i)).unwrap();
    }
    assert_eq!(run.engine.risk().state(Scope::Strategy(0)), TradingState::Halted);
    assert_eq!(accepted(&run).len(), 1, "one buy, then frozen");
    assert!(run.results.lock().unwrap()[2..].iter().all(|(_, r)| *r == HALTED));

    let ops = Actor { name: "alice".into(), role: Role::Operator };
    let resume = Command::Resume(command::Scope::Strategy("mm".into()));
    match run.engine.execute(&resume, &ops).unwrap() {
        Outcome::State { state, .. } => assert_eq!(state, TradingState::Active),
        other => panic!("resume answered {other:?}"),
    }
    assert_eq!(run.engine.risk().state(Scope::Strategy(0)), TradingState::Active);
    run.engine.on_market(quote(50)).unwrap();
    assert_eq!(accepted(&run).len(), 2, "quoting again after the operator's resume");
    run.engine.finish().unwrap();

    let recs = states_and_commands(&run.dir);
    let text: Vec<String> = recs
        .iter()
        .map(|(_, d)| match d {
            Decoded::State { scope, target, state, cause } => format!("STATE {scope} {target} {state}: {cause}"),
            Decoded::Command { text } => format!("COMMAND {text}"),
            _ => unreachable!(),
        })
        .collect();
    assert!(
        text[0].starts_with(
            "STATE strategy 0 halted: R14_MMP_TRIGGERED (1401): R14_MMP_TRIGGERED: group `btc`: 1 fills of 0.051"
        ),
        "{text:#?}"
    );
    assert_eq!(text[1], "COMMAND resume scope=strategy:mm actor=alice role=operator", "{text:#?}");
    assert_eq!(text[2], "STATE strategy 0 active: resume scope=strategy:mm actor=alice role=operator", "{text:#?}");
    assert!(!text.iter().any(|t| t.contains("frozen time")), "no automatic resume: {text:#?}");
}

#[test]
fn a_frozen_time_resumes_quoting_by_itself_on_event_time() {
    let mut run = start(5);
    for i in 0..20 {
        run.engine.on_market(quote(i)).unwrap();
    }
    let buys = accepted(&run);
    run.engine.finish().unwrap();
    let recs = states_and_commands(&run.dir);
    let states: Vec<(u64, &str, &str)> = recs
        .iter()
        .filter_map(|(ts, d)| match d {
            Decoded::State { state, cause, .. } => Some((*ts, *state, cause.as_str())),
            _ => None,
        })
        .collect();
    // Trip, 5 ms frozen, resume, buy, trip … each resume exactly 5 ms of
    // event time after its trip, named after R14 and the frozen time.
    assert!(states.len() >= 4, "{states:#?}");
    for pair in states.chunks(2) {
        assert_eq!(pair[0].1, "halted", "{states:#?}");
        assert!(pair[0].2.contains("frozen for 5 ms of event time"), "{states:#?}");
        if let Some(end) = pair.get(1) {
            assert_eq!(end.1, "active", "{states:#?}");
            assert_eq!(end.0 - pair[0].0, 5_000_000, "{states:#?}");
            assert!(end.2.starts_with("R14_MMP_TRIGGERED (1401): R14_MMP_TRIGGERED: frozen time 5 ms"), "{states:#?}");
        }
    }
    assert_eq!(buys.len(), states.len().div_ceil(2), "one buy per freeze: {buys:?} {states:#?}");
    assert!(!recs.iter().any(|(_, d)| matches!(d, Decoded::Command { .. })), "no operator involved");
}
