//! Decision corpus: seeded random workloads (orders, fills, cancels, quotes,
//! trades, fees, state changes, kill switches, waits) against several policy
//! and firm-policy variants, every outcome written as one line: the decision
//! (reason, limit, requested, current, instrument), the R7 orders to cancel,
//! and the transitions and actions risk reports. The lines are compared with
//! `tests/data/decisions.golden`, recorded before `check` was split into one
//! function per control (`CONTROLS`): the same input must give the same first
//! failing reason with the same numbers, byte for byte.
//!
//! `BULKHEAD_BLESS=1 cargo test -p bulkhead-risk --test it corpus::` rewrites the
//! file (only for a deliberate change of a decision; say so in the commit).

use crate::common;

use std::fmt::Write as _;

use bulkhead_abi::{OrderRequest, OrderType, Side, TimeInForce};
use bulkhead_risk::{FirmPolicy, OrderRef, RiskEngine, Scope, TradingState};
use common::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

struct Variant {
    name: &'static str,
    overrides: &'static [(&'static str, &'static str)],
    firm: &'static str,
}

const TIGHT: &[(&str, &str)] = &[
    ("max_open_orders", "8"),
    ("max_orders_per_sec", "30"),
    ("max_messages_per_sec", "60"),
    ("price_collar_bps", "100"),
    ("max_position", r#""0.8""#),
    ("max_gross_notional", r#""90000""#),
    ("max_net_notional", r#""60000""#),
];

const EVERYTHING: &[(&str, &str)] = &[
    ("max_open_orders", "10"),
    ("max_orders_per_sec", "40"),
    ("max_messages_per_sec", "30"),
    ("duplicate_window_ms", "50"),
    ("capital", r#""6000""#),
    ("initial_margin_bps", "{ perpetual = 1000 }"),
    ("loss_limit_reducing", r#""400""#),
    ("loss_limit_halt", r#""1200""#),
    ("mmp_window_ms", "100"),
    ("mmp_qty", r#""0.9""#),
    ("mmp_delta", r#""0.6""#),
];

const DELTA: &[(&str, &str)] =
    &[("max_delta", r#""50000""#), ("duplicate_window_ms", "200"), ("max_open_orders", "12")];

const LAST_REF: &[(&str, &str)] = &[
    ("collar_reference", r#""last""#),
    ("sides", r#"["buy", "sell"]"#),
    ("order_types", r#"["limit"]"#),
    ("time_in_force", r#"["gtc", "ioc", "post_only"]"#),
    ("duplicate_window_ms", "20"),
    ("mmp_window_ms", "50"),
    ("mmp_qty", r#""0.4""#),
    ("mmp_action", r#""reducing""#),
];

const ONLY_BTC: &[(&str, &str)] = &[
    ("instruments", r#"["BTC-USDT-PERP"]"#),
    ("sides", r#"["buy"]"#),
    ("max_order_qty", r#""0.2""#),
    ("max_order_notional", r#""10000""#),
];

const FIRM_OLDEST: &str = r#"
max_position = "1.5"
max_gross_notional = "100000"
max_net_notional = "100000"
reference = "mid"
max_orders_per_sec = 60
max_messages_per_sec = 40
stp_mode = "cancel_oldest"
max_reference_age_ms = 400
max_jump_bps = 150
jump_cooldown_ms = 300
[instrument_limits."ETH-USDT-PERP"]
max_position = "25"
"#;

const FIRM_BOTH: &str = r#"
stp_mode = "cancel_both"
max_position = "1"
reference = "last"
max_reference_age_ms = 800
"#;

const FIRM_NEWEST: &str = r#"
stp_mode = "cancel_newest"
max_orders_per_sec = 20
max_net_notional = "70000"
max_jump_bps = 80
jump_cooldown_ms = 100
"#;

const VARIANTS: &[Variant] = &[
    Variant { name: "tight, no firm", overrides: TIGHT, firm: "" },
    Variant { name: "tight, firm cancel_oldest", overrides: TIGHT, firm: FIRM_OLDEST },
    Variant { name: "everything, firm cancel_both", overrides: EVERYTHING, firm: FIRM_BOTH },
    Variant { name: "everything, firm cancel_newest", overrides: EVERYTHING, firm: FIRM_NEWEST },
    Variant { name: "last reference, firm cancel_oldest", overrides: LAST_REF, firm: FIRM_OLDEST },
    Variant { name: "delta, no firm", overrides: DELTA, firm: "" },
    Variant { name: "only BTC buys, firm cancel_both", overrides: ONLY_BTC, firm: FIRM_BOTH },
];

const STRATEGIES: u32 = 3;
const OPS: usize = 1_200;
const SEEDS: [u64; 2] = [0x9E37_79B9_7F4A_7C15, 42];

/// One workload; appends its lines to `out`.
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
fn run(v: &Variant, seed: u64, out: &mut String) {
    let mut e = RiskEngine::new(instruments());
    for s in 0..STRATEGIES {
        assert_eq!(e.add_strategy(policy(v.overrides)), s);
    }
    if !v.firm.is_empty() {
        e.set_firm_policy(FirmPolicy::from_toml(v.firm, "firm.toml", &instruments()).unwrap());
    }
    let mut rng = Rng(seed);
    let mut mid = [650_000i64, 300_000];
    let mut now = 0u64;
    let mut next_id = 1u64;
    // (strategy, id, instrument, side, remaining)
    let mut open: Vec<(u32, u64, u32, Side, i64)> = Vec::new();
    let mut cancels: Vec<OrderRef> = Vec::new();
    let mut last: Option<OrderRequest> = None;
    e.on_quote_at(BTC, 0, Ticks::new(mid[0] - 5), Ticks::new(mid[0] + 5));
    e.on_quote_at(ETH, 0, Ticks::new(mid[1] - 1), Ticks::new(mid[1] + 1));
    let _ = writeln!(out, "## {} seed {seed:#x}", v.name);
    for n in 0..OPS {
        let s = rng.below(STRATEGIES as u64) as u32;
        let line = match rng.below(100) {
            0..=49 => {
                let inst = rng.below(2) as u32;
                let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
                let order_type = if rng.below(6) == 0 { OrderType::Market } else { OrderType::Limit };
                let tif = match rng.below(8) {
                    0 => TimeInForce::Ioc,
                    1 => TimeInForce::Fok,
                    2 => TimeInForce::PostOnly,
                    _ => TimeInForce::Gtc,
                };
                let m = mid[inst as usize];
                let price = match order_type {
                    OrderType::Market => 0,
                    // mostly near the mid, sometimes far, rarely invalid
                    OrderType::Limit => match rng.below(20) {
                        0 => -rng.range(0, 3),
                        1..=2 => m * (10_000 + rng.range(-400, 400)) / 10_000,
                        _ => m * (10_000 + rng.range(-60, 60)) / 10_000,
                    },
                };
                let qty = match (inst, rng.below(12)) {
                    (_, 0) => -rng.range(0, 2),
                    (BTC, 1) => rng.range(400, 2_500),
                    (BTC, _) => rng.range(1, 350),
                    (_, 1) => rng.range(500, 5_000),
                    (_, _) => rng.range(1, 900),
                };
                let fresh = OrderRequest {
                    instrument: if rng.below(40) == 0 { 7 } else { inst },
                    side,
                    order_type,
                    tif,
                    reduce_only: false,
                    price,
                    qty,
                    tag: 0,
                };
                // sometimes the same order again (R6 duplicates)
                let req = match last {
                    Some(prev) if rng.below(6) == 0 => prev,
                    _ => fresh,
                };
                last = Some(req);
                let d = e.check_order_stp(s, now, &req, &mut cancels);
                let mut l = format!("submit s{s} {} -> {}", order(&req), decision(&d));
                if !cancels.is_empty() {
                    let _ =
                        write!(l, " cancel {:?}", cancels.iter().map(|c| (c.strategy, c.order_id)).collect::<Vec<_>>());
                    // the engine cancels them at the venue; the venue's reply closes them
                    for c in &cancels {
                        e.order_closed(c.strategy, c.order_id);
                        open.retain(|o| !(o.0 == c.strategy && o.1 == c.order_id));
                    }
                }
                if accepted(&d) {
                    e.order_opened(s, next_id, &req);
                    open.push((s, next_id, req.instrument, side, qty));
                    next_id += 1;
                }
                l
            }
            50..=64 if !open.is_empty() => {
                let k = rng.below(open.len() as u64) as usize;
                let (os, id, inst, side, rem) = open[k];
                let q = rng.range(1, rem.max(1));
                let px = if inst < 2 { mid[inst as usize] + rng.range(-20, 20) } else { 100 };
                e.order_filled_at(os, id, now, Ticks::new(px), Lots::new(q));
                e.on_fee(os, Money::new(rng.range(-50_000, 400_000)));
                if q >= rem {
                    e.order_closed(os, id);
                    open.remove(k);
                } else {
                    open[k].4 -= q;
                }
                format!("fill s{os} #{id} {side:?} {q} @ {px}")
            }
            65..=72 if !open.is_empty() => {
                let k = rng.below(open.len() as u64) as usize;
                let (os, id, ..) = open[k];
                let d = e.check_cancel(os, now);
                if accepted(&d) {
                    e.order_closed(os, id);
                    open.remove(k);
                }
                format!("cancel s{os} #{id} -> {}", decision(&d))
            }
            73..=82 => {
                let inst = rng.below(2) as usize;
                let jump = if rng.below(10) == 0 { 300 } else { 40 };
                let m = &mut mid[inst];
                *m = (*m * (10_000 + rng.range(-jump, jump)) / 10_000).max(100);
                let half = if inst == 0 { 5 } else { 1 };
                e.on_quote_at(inst as u32, now, Ticks::new(*m - half), Ticks::new(*m + half));
                format!("quote {inst} {}/{}", *m - half, *m + half)
            }
            83..=87 => {
                let inst = rng.below(2) as usize;
                let px = mid[inst] + rng.range(-30, 30);
                e.on_trade_at(inst as u32, now, Ticks::new(px));
                format!("trade {inst} {px}")
            }
            88..=90 => {
                let scope = match rng.below(4) {
                    0 => Scope::Global,
                    1 => Scope::Instrument(rng.below(2) as u32),
                    _ => Scope::Strategy(s),
                };
                let state = match rng.below(6) {
                    0 => TradingState::Halted,
                    1 | 2 => TradingState::Reducing,
                    _ => TradingState::Active,
                };
                e.set_state(scope, state);
                format!("state {scope:?} {state:?}")
            }
            91 if rng.below(4) == 0 => {
                let killed = e.kill(Scope::Strategy(s));
                for r in &killed {
                    e.order_closed(r.strategy, r.order_id);
                    open.retain(|o| !(o.0 == r.strategy && o.1 == r.order_id));
                }
                e.set_state(Scope::Strategy(s), TradingState::Active);
                format!("kill s{s}: {} orders", killed.len())
            }
            _ => {
                let ns = match rng.below(10) {
                    0 => rng.range(200_000_000, 2_000_000_000),
                    _ => rng.range(0, 30_000_000),
                } as u64;
                now += ns;
                format!("wait {ns}")
            }
        };
        let _ = writeln!(out, "{n} {line}");
        for t in e.take_transitions().collect::<Vec<_>>() {
            let _ = writeln!(out, "  transition {t:?}");
        }
        for a in e.take_actions().collect::<Vec<_>>() {
            let _ = writeln!(out, "  action {a:?}");
            let bulkhead_risk::RiskAction::CancelAll { strategy, .. } = a;
            let ids: Vec<u64> = open.iter().filter(|o| o.0 == strategy).map(|o| o.1).collect();
            for id in ids {
                e.order_closed(strategy, id);
            }
            open.retain(|o| o.0 != strategy);
        }
    }
}

fn order(o: &OrderRequest) -> String {
    format!("{} {} {} {} {}x{}", o.instrument, o.side.name(), o.order_type.name(), o.tif.name(), o.price, o.qty)
}

fn decision(d: &Result<(), bulkhead_risk::Decision>) -> String {
    let d = d.seen();
    format!("{} {} {} {} {}", d.reason.name(), d.limit, d.requested, d.current, d.instrument)
}

fn accepted(d: &Result<(), bulkhead_risk::Decision>) -> bool {
    d.is_ok()
}

#[test]
fn decisions_match_the_recorded_corpus() {
    let mut out = String::new();
    for v in VARIANTS {
        for seed in SEEDS {
            run(v, seed, &mut out);
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/decisions.golden");
    if std::env::var_os("BULKHEAD_BLESS").is_some() {
        std::fs::write(path, &out).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(path).expect("tests/data/decisions.golden (BULKHEAD_BLESS=1 writes it)");
    for (i, (a, b)) in out.lines().zip(golden.lines()).enumerate() {
        assert_eq!(a, b, "line {} of decisions.golden differs", i + 1);
    }
    assert_eq!(out.lines().count(), golden.lines().count(), "decisions.golden has a different number of lines");
}

/// The corpus reaches every refusal a pre-trade check can give, so the
/// comparison above covers every control's numbers (not just accepts).
#[test]
fn corpus_reaches_every_control() {
    let golden = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/decisions.golden")).unwrap();
    let mut missing = Vec::new();
    for r in [
        "R1_INSTRUMENT_NOT_ALLOWED",
        "R1_SIDE_NOT_ALLOWED",
        "R1_ORDER_TYPE_NOT_ALLOWED",
        "R1_TIF_NOT_ALLOWED",
        "R2_MAX_ORDER_QTY",
        "R2_MAX_ORDER_NOTIONAL",
        "R3_PRICE_COLLAR",
        "R3_NO_REFERENCE_PRICE",
        "R4_MAX_POSITION",
        "R4_MAX_GROSS_NOTIONAL",
        "R4_MAX_NET_NOTIONAL",
        "R5_MAX_OPEN_ORDERS",
        "R5_ORDER_RATE",
        "R5_MESSAGE_RATE",
        "R5_FIRM_ORDER_RATE",
        "R5_FIRM_MESSAGE_RATE",
        "R6_DUPLICATE_ORDER",
        "R7_SELF_TRADE",
        "R9_MAX_DELTA",
        "R10_INITIAL_MARGIN",
        "R11_STRATEGY_HALTED",
        "R11_INSTRUMENT_HALTED",
        "R11_GLOBAL_HALTED",
        "R11_REDUCING_ONLY",
        "R12_FIRM_MAX_POSITION",
        "R12_FIRM_GROSS_NOTIONAL",
        "R12_FIRM_NET_NOTIONAL",
        "R13_STALE_REFERENCE",
        "R13_PRICE_JUMP",
        "SBX_INVALID_ORDER",
        "R8_LOSS_LIMIT_REDUCING",
        "R14_MMP_TRIGGERED",
    ] {
        if !golden.contains(r) {
            missing.push(r);
        }
    }
    assert!(missing.is_empty(), "the corpus never produces {missing:?}");
}
