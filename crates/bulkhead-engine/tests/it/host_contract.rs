//! The host contract as a strategy sees it, through the real engine (risk,
//! venue, journal; the strategies are native implementations of the same
//! `HostApi` the sandbox serves, so every result and event they see is the
//! engine's own):
//!
//! - a risk reject comes back both as the host call's `-(reason)` and as an
//!   `OrderRejected` event in the strategy's next batch (issue 4 item 3);
//! - a global kill cancels every open order of every strategy in one step,
//!   journalled after the kill's STATE record, and nothing a strategy tries
//!   afterwards reaches the venue (issue 4 scenario test; R11).

use std::sync::{Arc, Mutex};

use bulkhead_abi::{Event, EventKind, HostApi, OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_engine::decode::{Decoded, decode};
use bulkhead_engine::{Engine, NativeStrategy, StrategyKind, StrategySetup};
use bulkhead_journal::{FsyncPolicy, JournalParams, JournalReader, JournalWriter};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec};
use bulkhead_risk::Policy;
use bulkhead_venue::FeeSchedule;

const POLICY: &str = r#"
instruments = ["BTC-USDT-PERP"]
sides = ["buy", "sell"]
order_types = ["market", "limit"]
time_in_force = ["gtc", "ioc", "fok", "post_only"]
max_order_qty = "0.010"
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

/// What one strategy saw: every batch of events, and every submit's result.
#[derive(Default)]
struct Seen {
    batches: Vec<Vec<Event>>,
    /// (event time of the callback, request, result of submit_order)
    submits: Vec<(u64, OrderRequest, i64)>,
}

/// Rests `per_event` far-away bids on every market event (deep in the book:
/// they never fill), and once, on the first event, one order over
/// `max_order_qty` (0.011 against 0.010: over by one lot).
struct Rester {
    seen: Arc<Mutex<Seen>>,
    per_event: usize,
    oversize_sent: bool,
}

fn bid(price: i64, qty: i64, tag: u64) -> OrderRequest {
    OrderRequest {
        instrument: 0,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        price,
        qty,
        tag,
    }
}

impl NativeStrategy for Rester {
    fn init(&mut self, _host: &mut dyn HostApi, _now_ns: u64, _config: &[u8]) -> i32 {
        0
    }
    fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32 {
        let mut seen = self.seen.lock().unwrap();
        seen.batches.push(events.to_vec());
        let Some(m) = events.iter().rev().find(|e| e.kind == EventKind::Quote) else { return 0 };
        let mut send = |seen: &mut Seen, req: OrderRequest| {
            let r = host.submit_order(&req);
            seen.submits.push((m.ts_ns, req, r));
        };
        if !self.oversize_sent {
            self.oversize_sent = true;
            send(&mut seen, bid(m.price - 100, 11, 77));
        }
        for k in 0..self.per_event {
            send(&mut seen, bid(m.price - 200 - k as i64, 1, k as u64));
        }
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

/// A quote at 65 000.0 / 65 000.1 (ticks of 0.1), one per millisecond.
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
    seen: Vec<Arc<Mutex<Seen>>>,
    dir: tempfile::TempDir,
}

fn start(strategies: usize, per_event: usize) -> Run {
    let insts = instruments();
    let dir = tempfile::tempdir().unwrap();
    let params = JournalParams { fsync: FsyncPolicy::Never, ..JournalParams::default() };
    let journal = JournalWriter::create(&dir.path().join("j"), params).unwrap();
    let mut engine = Engine::new(insts.clone(), FeeSchedule { maker_ppm: 0, taker_ppm: 0 }, journal, "host").unwrap();
    let mut seen = Vec::new();
    for k in 0..strategies {
        let s = Arc::new(Mutex::new(Seen::default()));
        seen.push(s.clone());
        let policy = Policy::from_toml(POLICY, "policy.toml", &insts).unwrap();
        let kind = StrategyKind::Native(Box::new(Rester { seen: s, per_event, oversize_sent: false }));
        let name = format!("s{k}");
        engine
            .add_strategy(StrategySetup {
                name: &name,
                policy,
                config: b"",
                kind,
                signer: None,
                surveillance: Default::default(),
            })
            .unwrap();
    }
    Run { engine, seen, dir }
}

fn journal(dir: &tempfile::TempDir) -> Vec<(u64, Decoded)> {
    JournalReader::open(&dir.path().join("j"))
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.seq, decode(r.kind, &r.payload).unwrap())
        })
        .collect()
}

#[test]
fn a_risk_reject_comes_back_as_the_calls_result_and_as_an_event() {
    let mut run = start(1, 1);
    for i in 0..3 {
        run.engine.on_market(quote(i)).unwrap();
    }
    let seen = run.seen[0].lock().unwrap();
    let (_, req, r) = seen.submits[0];
    assert_eq!(req.qty, 11);
    assert_eq!(r, -(Reason::MaxOrderQty.code() as i64), "the call's result names the reason");
    let local = seen.submits.iter().position(|s| s.2 > 0).map(|k| seen.submits[k].2).unwrap();
    assert_eq!(local, 2, "ids are per strategy and the refused order used id 1");

    // The next batch carries the reject, before the market event, with the
    // order's fields and the reason code; the accepted order's ack follows.
    let next = &seen.batches[1];
    let rej: Vec<&Event> = next.iter().filter(|e| e.kind == EventKind::OrderRejected).collect();
    assert_eq!(rej.len(), 1, "{next:?}");
    let e = rej[0];
    assert_eq!((e.id, e.tag, e.price, e.qty, e.side), (1, 77, req.price, 11, Some(Side::Buy)));
    assert_eq!(e.a, Reason::MaxOrderQty.code() as i64);
    assert!(next.iter().any(|e| e.kind == EventKind::OrderAccepted && e.id == 2), "{next:?}");
    assert_eq!(next.last().unwrap().kind, EventKind::Quote, "queued events come before the market event");
    drop(seen);
    run.engine.finish().unwrap();

    // The journal holds the decision with its numbers: limit 10 lots, asked 11.
    let recs = journal(&run.dir);
    let refused: Vec<_> = recs
        .iter()
        .filter_map(|(_, d)| match d {
            Decoded::Order { reason, limit, requested, .. } if *reason != 0 => Some((*reason, *limit, *requested)),
            _ => None,
        })
        .collect();
    assert_eq!(refused, vec![(Reason::MaxOrderQty.code(), 10, 11)]);
}

#[test]
fn a_global_kill_cancels_every_order_at_once_and_nothing_after_reaches_the_venue() {
    let mut run = start(3, 2);
    for i in 0..5 {
        run.engine.on_market(quote(i)).unwrap();
    }
    // 3 strategies × 5 events × 2 resting bids (the oversize one was refused).
    let open: usize = (0..3).map(|s| run.engine.open_orders(s).len()).sum();
    assert_eq!(open, 30);

    let actor = bulkhead_engine::Actor { name: "test".into(), role: bulkhead_engine::Role::Operator };
    let halt = bulkhead_engine::Command::Halt(bulkhead_engine::command::Scope::Global);
    let cancelled = match run.engine.execute(&halt, &actor).unwrap() {
        bulkhead_engine::Outcome::State { cancelled, .. } => cancelled,
        other => panic!("halt answered {other:?}"),
    };
    assert_eq!(cancelled, 30, "one step cancels every open order of every strategy");
    assert!((0..3).all(|s| run.engine.open_orders(s).is_empty()));

    // The strategies keep trying: every attempt is refused by R11.
    let before: Vec<usize> = run.seen.iter().map(|s| s.lock().unwrap().submits.len()).collect();
    for i in 5..15 {
        run.engine.on_market(quote(i)).unwrap();
    }
    let report = run.engine.finish().unwrap();
    let mut attempts = 0;
    for (k, s) in run.seen.iter().enumerate() {
        let s = s.lock().unwrap();
        for (_, _, r) in &s.submits[before[k]..] {
            attempts += 1;
            assert_eq!(*r, -(Reason::GlobalHalted.code() as i64));
        }
    }
    assert_eq!(attempts, 3 * 10 * 2, "the strategies did try after the kill");
    assert!(report.strategies.iter().all(|s| s.stats.rejected.get(&Reason::GlobalHalted.code()) == Some(&20)));

    // In the journal: every cancel of the kill comes after its STATE record,
    // names the kill switch, and no order is accepted or filled afterwards.
    let recs = journal(&run.dir);
    let kill_seq = recs
        .iter()
        .find(|(_, d)| matches!(d, Decoded::State { scope: "global", state: "halted", .. }))
        .map(|(s, _)| *s)
        .expect("the kill is journalled");
    let mut kill_cancels = 0;
    for (seq, d) in &recs {
        match d {
            Decoded::Venue { event, .. } if event.event == "order_cancelled" => {
                assert!(*seq > kill_seq);
                assert_eq!(event.a, Reason::CancelledByKillSwitch.code() as i64);
                kill_cancels += 1;
            }
            Decoded::Venue { event, .. } if *seq > kill_seq => {
                panic!("#{seq}: {} reached a strategy from the venue after the kill", event.event)
            }
            Decoded::Order { reason, .. } if *seq > kill_seq => assert_eq!(*reason, Reason::GlobalHalted.code()),
            _ => {}
        }
    }
    assert_eq!(kill_cancels, 30);
    assert!(recs.iter().any(|(_, d)| matches!(d, Decoded::Order { reason: 0, .. })));
}
