//! One `check_order` through every check with a realistic policy (all
//! optional controls on: R6, R8, R9, R10, R14; firm R5, R7, R12, R13) and 100
//! open orders, for 1 / 10 / 100 strategies. Criterion gives the mean; the
//! custom loop at the end records per-call ns over 1e6 calls and prints
//! p50 / p99 along three axes: open orders of the checked strategy (0 to
//! 1 000, one strategy), strategies in the firm (each with 100 open orders,
//! so the firm-wide checks see 100 × N), and an option order (R9's Black-76
//! delta and vega over the portfolio) against a perpetual one.

use std::hint::black_box;
use std::time::Instant;

use bulkhead_abi::{OrderRequest, OrderType, Side, TimeInForce};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec, Lots, OptionType, Ticks, link_underlyings};
use bulkhead_risk::{FirmPolicy, OrderRef, Policy, RiskEngine};
use criterion::{Criterion, criterion_group, criterion_main};

const POLICY: &str = r#"
instruments = ["BTC-USDT-PERP", "ETH-USDT-PERP", "BTC-C-65000"]
sides = ["buy", "sell"]
order_types = ["limit", "market"]
time_in_force = ["gtc", "ioc", "fok", "post_only"]
max_order_qty = "0.5"
max_order_notional = "40000"
price_collar_bps = 200
collar_reference = "mid"
max_position = "100"
max_gross_notional = "100000000"
max_net_notional = "100000000"
max_open_orders = 2000
max_orders_per_sec = 1000000
max_messages_per_sec = 1000000
duplicate_window_ms = 5000
loss_limit_reducing = "100000"
loss_limit_halt = "200000"
capital = "100000000"
initial_margin_bps = { perpetual = 1000 }
mmp_window_ms = 100
mmp_qty = "50"
option_vol = "0.5"
max_delta = "100000000"
max_vega = "100000000"
max_expiry_notional = "100000000"
[instrument_limits."ETH-USDT-PERP"]
max_order_qty = "10"
max_position = "4000"
mmp_qty = "1000"
"#;

const FIRM: &str = r#"
max_gross_notional = "1000000000"
max_net_notional = "1000000000"
max_orders_per_sec = 1000000
max_messages_per_sec = 1000000
stp_mode = "cancel_oldest"
max_reference_age_ms = 600000
max_jump_bps = 500
jump_cooldown_ms = 1000
max_position = "100000"
"#;

const YEAR_NS: u64 = 365 * 86_400 * 1_000_000_000;
const OPTION: u32 = 2;

fn instruments() -> Vec<Instrument> {
    let spec = |symbol: &str, tick: &str, lot: &str| InstrumentSpec {
        symbol: symbol.into(),
        kind: InstrumentKind::Perpetual,
        tick_size: tick.into(),
        lot_size: lot.into(),
        multiplier: "1".into(),
        ..Default::default()
    };
    let call = InstrumentSpec {
        symbol: "BTC-C-65000".into(),
        kind: InstrumentKind::Option,
        tick_size: "0.1".into(),
        lot_size: "0.1".into(),
        multiplier: "1".into(),
        expiry: Some(YEAR_NS / 4),
        strike: Some("65000".into()),
        option_type: Some(OptionType::Call),
        underlying: Some("BTC-USDT-PERP".into()),
        ..Default::default()
    };
    let mut v = vec![
        Instrument::from_spec(0, &spec("BTC-USDT-PERP", "0.1", "0.001")).unwrap(),
        Instrument::from_spec(1, &spec("ETH-USDT-PERP", "0.01", "0.01")).unwrap(),
        Instrument::from_spec(OPTION, &call).unwrap(),
    ];
    link_underlyings(&mut v).unwrap();
    v
}

fn limit(instrument: u32, side: Side, price: i64, qty: i64) -> OrderRequest {
    OrderRequest {
        instrument,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        price,
        qty,
        tag: 0,
    }
}

/// `strategies` strategies; 100 open orders in total spread over them (at
/// least the measured strategy 0 holds 100 / strategies), resting away from
/// the mid on both sides and both perpetuals, some partly filled.
fn setup(strategies: u32) -> RiskEngine {
    let mut e = engine(strategies);
    for k in 0..100u64 {
        rest(&mut e, (k % strategies as u64) as u32, k);
    }
    e
}

fn engine(strategies: u32) -> RiskEngine {
    let insts = instruments();
    let mut e = RiskEngine::new(insts.clone());
    for _ in 0..strategies {
        e.add_strategy(Policy::from_toml(POLICY, "bench.toml", &insts).unwrap());
    }
    e.set_firm_policy(FirmPolicy::from_toml(FIRM, "firm.toml", &insts).unwrap());
    e.on_quote_at(0, 0, Ticks::new(649_995), Ticks::new(650_005));
    e.on_quote_at(1, 0, Ticks::new(299_999), Ticks::new(300_001));
    e.on_quote_at(OPTION, 0, Ticks::new(19_995), Ticks::new(20_005));
    e
}

/// Strategy `s` opens its `k`-th resting order (ids unique per strategy).
fn rest(e: &mut RiskEngine, s: u32, k: u64) {
    let (side, off) = if k.is_multiple_of(2) { (Side::Buy, -(10 + k as i64)) } else { (Side::Sell, 10 + k as i64) };
    let o = if k % 4 < 2 { limit(0, side, 650_000 + off, 10) } else { limit(1, side, 300_000 + off, 10) };
    let d = e.check_and_open(s, 1, 1_000 + k, &o);
    assert!(d.is_ok(), "{:?}", d.as_ref().err().map(|d| d.message(&instruments())));
    if k.is_multiple_of(5) {
        e.order_filled_at(s, 1_000 + k, 1, Ticks::new(o.price), Lots::new(3));
    }
}

/// The measured order: accepted after every check (never opened, so the
/// state does not drift), strategy 0, varying price so R6 never matches
/// (but scans every order strategy 0 opened in the 5 s window: 100 / strategies).
fn order(i: u64) -> OrderRequest {
    limit(0, if i.is_multiple_of(2) { Side::Buy } else { Side::Sell }, 649_000 + (i % 7) as i64 * 300 - 900, 5)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("check_order");
    for n in [1u32, 10, 100] {
        let mut e = setup(n);
        let mut cancels: Vec<OrderRef> = Vec::with_capacity(16);
        let mut i = 0u64;
        assert!(e.check_order_stp(0, 2, &order(0), &mut cancels).is_ok());
        g.bench_function(format!("100_open_orders/{n}_strategies"), |b| {
            b.iter(|| {
                i += 1;
                // 1 µs of event time per call: the 1e6/s buckets refill exactly as fast as they drain.
                let d = e.check_order_stp(0, 2 + i * 1_000, black_box(&order(i)), &mut cancels);
                assert!(d.is_ok());
                black_box(d)
            })
        });
    }
    g.finish();
    // Only under `cargo bench` (which passes `--bench`): `cargo test
    // --all-targets` runs this binary once in test mode and needs no 11 M calls.
    if std::env::args().any(|a| a == "--bench") {
        percentiles();
    }
}

/// p50 / p99 / p99.9 / max of 1e6 timed calls of `order(i)` by strategy 0.
fn timed(label: &str, mut e: RiskEngine, order: impl Fn(u64) -> OrderRequest) {
    let mut cancels: Vec<OrderRef> = Vec::with_capacity(16);
    let calls = 1_000_000usize;
    let mut ns = Vec::with_capacity(calls);
    for i in 0..calls as u64 {
        let o = order(i);
        let t = Instant::now();
        let d = e.check_order_stp(0, 2 + i * 1_000, &o, &mut cancels);
        ns.push(t.elapsed().as_nanos() as u64);
        assert!(d.is_ok(), "{label}: {:?}", d.err().map(|d| d.message(&instruments())));
    }
    ns.sort_unstable();
    let p = |q: f64| ns[((calls as f64 - 1.0) * q) as usize];
    println!(
        "check_order, {label:<44}: p50 {:>5} ns, p99 {:>5} ns, p99.9 {:>6} ns, max {:>7} ns ({calls} calls)",
        p(0.50),
        p(0.99),
        p(0.999),
        ns[calls - 1]
    );
}

fn percentiles() {
    for n in [1u32, 10, 100] {
        timed(&format!("100 open orders, {n} strategies (spread)"), setup(n), order);
    }
    // Open orders of the checked strategy, one strategy.
    for open in [0u64, 10, 100, 1000] {
        let mut e = engine(1);
        (0..open).for_each(|k| rest(&mut e, 0, k));
        timed(&format!("{open} open orders, 1 strategy"), e, order);
    }
    // Strategies in the firm, each holding 100 open orders.
    for n in [1u32, 10, 100] {
        let mut e = engine(n);
        (0..n).for_each(|s| (0..100).for_each(|k| rest(&mut e, s, k)));
        timed(&format!("{n} strategies x 100 open orders each"), e, order);
    }
    // An option order: R9 prices the portfolio's delta and vega.
    let option = |i: u64| {
        limit(OPTION, if i.is_multiple_of(2) { Side::Buy } else { Side::Sell }, 19_990 + (i % 7) as i64 * 3, 1)
    };
    timed("option order, 100 open orders, 1 strategy", setup(1), option);
}

criterion_group!(benches, bench);
criterion_main!(benches);
