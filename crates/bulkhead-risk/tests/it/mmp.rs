//! R14 market-maker protection to Deribit's semantics (issue 16 item 3):
//! vega beside quantity and delta, instrument groups (`[mmp_groups.NAME]`,
//! quantity and delta in units of the underlying), the frozen time after
//! which quoting resumes by itself on event time, `frozen_ms = 0` until an
//! operator resumes, and the policy errors of the new fields.
//!
//! Universe: the common BTC / ETH perpetuals, and two 3-month BTC options on
//! the perpetual (0.1 BTC lots), quoted at event time 0 with the perpetual's
//! mid at 65 000; vol 50 % (`option_vol`). Per lot: the ATM call has delta
//! 0.549738 (0.05497 BTC) and vega 12.86 per vol point; the 60 000 put
//! delta −0.3281 (−0.03281 BTC) and vega 11.74.

use crate::common;

use bulkhead_abi::{OrderRequest, Reason, Side};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec, OptionType, link_underlyings};
use bulkhead_risk::{Policy, RiskAction, RiskEngine, Scope, TradingState};
use common::*;

use Side::{Buy, Sell};
use TradingState::{Active, Halted, Reducing};

const MS: u64 = 1_000_000;
const CALL: u32 = 2;
const PUT: u32 = 3;
const YEAR_NS: u64 = 365 * 86_400 * 1_000_000_000;
const ALL: (&str, &str) = ("instruments", r#"["BTC-USDT-PERP", "ETH-USDT-PERP", "BTC-C-65000", "BTC-P-60000"]"#);
const VOL: (&str, &str) = ("option_vol", r#""0.5""#);

fn universe() -> Vec<Instrument> {
    let mut v = instruments();
    let option = |symbol: &str, strike: &str, option_type| InstrumentSpec {
        symbol: symbol.into(),
        kind: InstrumentKind::Option,
        tick_size: "0.1".into(),
        lot_size: "0.1".into(),
        multiplier: "1".into(),
        expiry: Some(YEAR_NS / 4),
        strike: Some(strike.into()),
        option_type: Some(option_type),
        underlying: Some("BTC-USDT-PERP".into()),
        ..Default::default()
    };
    v.push(Instrument::from_spec(CALL, &option("BTC-C-65000", "65000", OptionType::Call)).unwrap());
    v.push(Instrument::from_spec(PUT, &option("BTC-P-60000", "60000", OptionType::Put)).unwrap());
    link_underlyings(&mut v).unwrap();
    v
}

fn load(extra: &[(&str, &str)]) -> Result<Policy, String> {
    let mut ov = extra.to_vec();
    ov.push(ALL); // an `instruments` in `extra` comes first and wins
    Policy::from_toml(&policy_text(&ov), "mmp.toml", &universe()).map_err(|e| e.to_string())
}

fn eng(extra: &[(&str, &str)]) -> RiskEngine {
    let mut e = RiskEngine::new(universe());
    assert_eq!(e.add_strategy(load(extra).unwrap()), 0);
    e.on_quote_at(BTC, 0, Ticks::new(649_995), Ticks::new(650_005));
    e.on_quote_at(ETH, 0, Ticks::new(299_999), Ticks::new(300_001));
    e
}

/// One fill: (instrument, side, lots, event time in ms).
type Fill = (u32, Side, i64, u64);

/// Open and fill each order in turn (ids 1, 2, …; prices are irrelevant to R14).
fn fill(e: &mut RiskEngine, fills: &[Fill]) {
    for &(instrument, side, qty, ms) in fills {
        let id = 100 + ms * 10 + u64::from(instrument);
        e.order_opened(0, id, &limit(instrument, side, 1, qty));
        e.order_filled_at(0, id, ms * MS, Ticks::new(1), Lots::new(qty));
    }
}

/// A group `btc` with `table` (an inline TOML table body) and a 100 ms window.
fn group(table: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![VOL, ("mmp_groups", table)]
}

#[test]
fn group_quantity_delta_and_vega_table() {
    const DELTA: &str =
        r#"{ btc = { instruments = ["BTC-USDT-PERP", "BTC-C-65000"], window_ms = 100, delta = "0.1" } }"#;
    const QTY: &str = r#"{ btc = { instruments = ["BTC-USDT-PERP", "BTC-C-65000"], window_ms = 100, qty = "0.15" } }"#;
    const VEGA: &str = r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, vega = "20" } }"#;
    let cases: &[(&str, &str, &[Fill], TradingState)] = &[
        // delta: 0.06 BTC of perp + 0.05497 of call = 0.11497 > 0.1
        ("delta: perp and call add up", DELTA, &[(BTC, Buy, 60, 0), (CALL, Buy, 1, 10)], Halted),
        ("delta: 0.04 + 0.05497 is within", DELTA, &[(BTC, Buy, 40, 0), (CALL, Buy, 1, 10)], Active),
        ("delta: a sold perp hedges the call", DELTA, &[(BTC, Sell, 60, 0), (CALL, Buy, 1, 10)], Active),
        ("delta: ETH is not in the group", DELTA, &[(BTC, Buy, 60, 0), (ETH, Buy, 100, 10)], Active),
        ("delta: the window slides", DELTA, &[(BTC, Buy, 60, 0), (CALL, Buy, 1, 100)], Active),
        ("delta: one instrument alone", DELTA, &[(BTC, Buy, 101, 0)], Halted),
        // qty: 0.06 + 0.1 BTC = 0.16 > 0.15, whatever the sides
        ("qty: both sides add up", QTY, &[(BTC, Sell, 60, 0), (CALL, Buy, 1, 10)], Halted),
        ("qty: 0.05 + 0.1 is at the limit", QTY, &[(BTC, Sell, 50, 0), (CALL, Buy, 1, 10)], Active),
        // vega: 12.86 (call) + 11.74 (put) = 24.60 > 20, sides do not net
        ("vega: call and sold put add up", VEGA, &[(CALL, Buy, 1, 0), (PUT, Sell, 1, 10)], Halted),
        ("vega: one call is within", VEGA, &[(CALL, Buy, 1, 0)], Active),
        ("vega: linear fills have none", VEGA, &[(CALL, Buy, 1, 0), (BTC, Buy, 1_000, 10)], Active),
        ("vega: two calls", VEGA, &[(CALL, Buy, 1, 0), (CALL, Sell, 1, 50)], Halted),
    ];
    for &(name, table, fills, want) in cases {
        let mut e = eng(&group(table));
        fill(&mut e, fills);
        assert_eq!(e.state(Scope::Strategy(0)), want, "{name}");
        let t: Vec<_> = e.take_transitions().collect();
        assert_eq!(t.len(), usize::from(want == Halted), "{name}: {t:?}");
        let a: Vec<_> = e.take_actions().collect();
        if want == Halted {
            assert_eq!(a, vec![RiskAction::CancelAll { strategy: 0, reason: Reason::MarketMakerProtection }], "{name}");
            assert_eq!(t[0].cause.reason, Reason::MarketMakerProtection, "{name}");
        }
    }
}

#[test]
fn group_trip_names_the_group_figures_and_limits() {
    let mut e = eng(&group(
        r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, delta = "0.1", vega = "20", frozen_ms = 500 } }"#,
    ));
    fill(&mut e, &[(CALL, Buy, 1, 0), (PUT, Sell, 1, 10)]);
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!(
        t[0].cause.text,
        "R14_MMP_TRIGGERED: group `btc`: 2 fills of 0.20 (net delta 0.08778364, vega 24.60720466) within 100 ms exceed vega 20.00; strategy 0 frozen for 500 ms of event time and its quotes cancelled"
    );
}

#[test]
fn option_greeks_that_cannot_be_evaluated_trip() {
    // No option_vol and no implied vol: the group cannot value the fill.
    let mut e = eng(&[("mmp_groups", r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, vega = "20" } }"#)]);
    fill(&mut e, &[(CALL, Buy, 1, 0)]);
    assert_eq!(e.state(Scope::Strategy(0)), Halted);
    let t: Vec<_> = e.take_transitions().collect();
    assert!(t[0].cause.text.contains("cannot be evaluated"), "{}", t[0].cause.text);
    // With an implied vol it can; a quantity-only group never needs greeks.
    let mut e = eng(&[("mmp_groups", r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, vega = "20" } }"#)]);
    e.set_implied_vol(CALL, 5000);
    fill(&mut e, &[(CALL, Buy, 1, 0)]);
    assert_eq!(e.state(Scope::Strategy(0)), Active);
    let mut e = eng(&[("mmp_groups", r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, qty = "1" } }"#)]);
    fill(&mut e, &[(CALL, Buy, 1, 0)]);
    assert_eq!(e.state(Scope::Strategy(0)), Active);
}

#[test]
fn per_instrument_vega_beside_qty_and_delta() {
    let mk = |vega: &'static str| {
        eng(&[VOL, ("mmp_window_ms", "100"), ("mmp_qty", r#""5""#), ("mmp_vega", vega), ("mmp_frozen_ms", "0")])
    };
    let mut e = mk(r#""20""#);
    fill(&mut e, &[(CALL, Buy, 1, 0), (CALL, Sell, 1, 10)]);
    assert_eq!(e.state(Scope::Strategy(0)), Halted);
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!(
        t[0].cause.text,
        "R14_MMP_TRIGGERED: 2 fills of 0.2 BTC-C-65000 (net 0, vega 25.72944965) within 100 ms exceed mmp_vega 20.00; strategy 0 frozen and its quotes cancelled"
    );
    // The put's window is its own (no group): one call + one put stay within.
    let mut e = mk(r#""20""#);
    fill(&mut e, &[(CALL, Buy, 1, 0), (PUT, Sell, 1, 10)]);
    assert_eq!(e.state(Scope::Strategy(0)), Active);
}

/// Trip at 10 ms (group `btc`, frozen 500 ms), `between` at 100 ms, then
/// time reaches `at_ms`: the state, and the transitions after the trip.
fn freeze_case(
    action: &'static str,
    frozen: &'static str,
    between: fn(&mut RiskEngine),
    at_ms: u64,
) -> (TradingState, Vec<bulkhead_risk::Transition>) {
    let table: &'static str = match frozen {
        "500" => r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, delta = "0.05", frozen_ms = 500 } }"#,
        _ => r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, delta = "0.05", frozen_ms = 0 } }"#,
    };
    let mut e = eng(&[VOL, ("mmp_groups", table), ("mmp_action", action)]);
    fill(&mut e, &[(BTC, Buy, 51, 10)]);
    assert_eq!(e.take_transitions().count(), 1);
    e.on_quote_at(ETH, 100 * MS, Ticks::new(299_999), Ticks::new(300_001));
    between(&mut e);
    e.on_quote_at(BTC, at_ms * MS, Ticks::new(649_995), Ticks::new(650_005));
    (e.state(Scope::Strategy(0)), e.take_transitions().collect())
}

#[test]
fn freeze_ends_after_frozen_ms_of_event_time() {
    let nothing: fn(&mut RiskEngine) = |_| {};
    // Not yet at 509 ms, at 510 ms it lifts with a cause naming R14 and the frozen time.
    let (s, t) = freeze_case(r#""halted""#, "500", nothing, 509);
    assert_eq!((s, t.len()), (Halted, 0));
    let (s, t) = freeze_case(r#""halted""#, "500", nothing, 510);
    assert_eq!(s, Active);
    assert_eq!((t[0].scope, t[0].from, t[0].to, t[0].ts_ns), (Scope::Strategy(0), Halted, Active, 510 * MS));
    assert_eq!(t[0].cause.reason, Reason::MarketMakerProtection);
    assert_eq!(
        t[0].cause.text,
        "R14_MMP_TRIGGERED: frozen time 500 ms since the trip at 10000000 ns has ended; strategy 0 back to active"
    );
    // The strategy quotes again.
    let mut e =
        eng(&group(r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, delta = "0.05", frozen_ms = 500 } }"#));
    fill(&mut e, &[(BTC, Buy, 51, 10)]);
    assert_eq!(e.check_order(0, 20 * MS, &buy(649_990, 1)).seen().reason, Reason::StrategyHalted);
    e.on_time(510 * MS);
    assert!(e.check_order(0, 510 * MS, &buy(649_990, 1)).is_ok());
}

#[test]
fn freeze_lifts_only_the_state_r14_set() {
    type Between = fn(&mut RiskEngine);
    let cases: &[(&str, &str, &str, Between, u64, TradingState, usize)] = &[
        (
            "operator halts meanwhile",
            r#""reducing""#,
            "500",
            |e| e.set_state(Scope::Strategy(0), Halted),
            600,
            Halted,
            0,
        ),
        (
            "kill switch meanwhile",
            r#""reducing""#,
            "500",
            |e| {
                e.kill(Scope::Strategy(0));
            },
            600,
            Halted,
            0,
        ),
        ("operator resumes early", r#""halted""#, "500", |e| e.set_state(Scope::Strategy(0), Active), 600, Active, 0),
        (
            "operator re-halts (same state)",
            r#""halted""#,
            "500",
            |e| e.set_state(Scope::Strategy(0), Halted),
            600,
            Halted,
            0,
        ),
        (
            "tripped again at 300 ms: still frozen at 600 ms",
            r#""halted""#,
            "500",
            |e| fill(e, &[(BTC, Buy, 51, 300)]),
            600,
            Halted,
            0,
        ),
        ("tripped again: lifts at 800 ms", r#""halted""#, "500", |e| fill(e, &[(BTC, Buy, 51, 300)]), 800, Active, 1),
        ("reducing lifts too", r#""reducing""#, "500", |_| {}, 600, Active, 1),
        ("frozen_ms = 0: a day later still frozen", r#""halted""#, "0", |_| {}, 86_400_000, Halted, 0),
        (
            "frozen_ms = 0: the operator resumes",
            r#""halted""#,
            "0",
            |e| e.set_state(Scope::Strategy(0), Active),
            600,
            Active,
            0,
        ),
    ];
    for &(name, action, frozen, between, at, want, n) in cases {
        let (s, t) = freeze_case(action, frozen, between, at);
        assert_eq!((s, t.len()), (want, n), "{name}: {t:?}");
    }
}

#[test]
fn freeze_ends_at_the_state_before_the_trip_or_what_r8_still_calls_for() {
    // R8 had moved the strategy to REDUCING before R14 halted it: the freeze
    // ends back at REDUCING, not ACTIVE.
    let mut e =
        eng(&group(r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, delta = "0.05", frozen_ms = 500 } }"#));
    e.set_state(Scope::Strategy(0), Reducing);
    fill(&mut e, &[(BTC, Sell, 51, 10)]);
    assert_eq!(e.state(Scope::Strategy(0)), Halted);
    e.on_time(510 * MS);
    assert_eq!(e.state(Scope::Strategy(0)), Reducing);
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!((t[1].from, t[1].to), (Halted, Reducing));
    // A loss over `loss_limit_halt` when the freeze ends: it stays HALTED.
    let mut e = eng(&[
        VOL,
        (
            "mmp_groups",
            r#"{ btc = { underlying = "BTC-USDT-PERP", window_ms = 100, delta = "0.05", frozen_ms = 500 } }"#,
        ),
        ("loss_limit_halt", r#""1""#),
    ]);
    e.order_opened(0, 1, &buy(650_000, 51));
    e.order_filled_at(0, 1, 10 * MS, Ticks::new(650_000), Lots::new(51));
    assert_eq!(e.state(Scope::Strategy(0)), Halted);
    e.on_quote_at(BTC, 510 * MS, Ticks::new(600_000), Ticks::new(600_010)); // 5000 down: loss 255
    assert_eq!(e.state(Scope::Strategy(0)), Halted);
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!(t.len(), 1, "only the trip: {t:?}");
}

#[test]
fn old_per_instrument_fields_keep_their_decisions() {
    // No group: each instrument is its own, in its own lots, text unchanged.
    let mut e = eng(&[("mmp_window_ms", "100"), ("mmp_delta", r#""0.3""#)]);
    fill(&mut e, &[(BTC, Buy, 200, 0), (ETH, Buy, 1, 10), (BTC, Buy, 101, 20)]);
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!(
        t[0].cause.text,
        "R14_MMP_TRIGGERED: 2 fills of 0.301 BTC-USDT-PERP (net 0.301) within 100 ms exceed mmp_delta 0.3; strategy 0 frozen and its quotes cancelled"
    );
    // Grouped instruments leave their per-instrument window: ETH keeps its own.
    let mut e = eng(&[
        ("mmp_window_ms", "100"),
        ("mmp_delta", r#""0.3""#),
        ("mmp_groups", r#"{ btc = { instruments = ["BTC-USDT-PERP"], delta = "1" } }"#),
    ]);
    fill(&mut e, &[(BTC, Buy, 301, 0)]);
    assert_eq!(e.state(Scope::Strategy(0)), Active);
    fill(&mut e, &[(ETH, Buy, 31, 10)]);
    assert_eq!(e.state(Scope::Strategy(0)), Halted);
}

#[test]
fn policy_errors_name_the_field_and_the_range() {
    let g = |t: &'static str| ("mmp_groups", t);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[g(r#"{ btc = { instruments = ["DOGE-PERP"], window_ms = 100, qty = "1" } }"#)],
            "field `mmp_groups.btc.instruments`: unknown instrument `DOGE-PERP`",
        ),
        (
            &[
                ("instruments", r#"["BTC-USDT-PERP", "ETH-USDT-PERP"]"#),
                g(r#"{ btc = { instruments = ["BTC-C-65000"], window_ms = 100, qty = "1" } }"#),
            ],
            "field `mmp_groups.btc.instruments`: `BTC-C-65000` is not listed in `instruments`",
        ),
        (
            &[g(
                r#"{ a = { instruments = ["BTC-USDT-PERP"], window_ms = 100, qty = "1" }, b = { underlying = "BTC-USDT-PERP", window_ms = 100, qty = "1" } }"#,
            )],
            "field `mmp_groups.b.instruments`: `BTC-USDT-PERP` is already in group `a` (an instrument may be in one group only)",
        ),
        (
            &[g(r#"{ btc = { instruments = ["BTC-USDT-PERP"], window_ms = 0, qty = "1" } }"#)],
            "field `mmp_groups.btc.window_ms`: `0` must be between 1 and 86400000 (milliseconds)",
        ),
        (
            &[g(r#"{ btc = { instruments = ["BTC-USDT-PERP"], window_ms = 100, qty = "1", frozen_ms = 86400001 } }"#)],
            "field `mmp_groups.btc.frozen_ms`: `86400001` must be between 0 (until an operator resumes) and 86400000 (milliseconds)",
        ),
        (
            &[g(r#"{ btc = { instruments = ["BTC-USDT-PERP"], window_ms = 100, vega = "0" } }"#)],
            "field `mmp_groups.btc.vega`: `0` must be > 0",
        ),
        (
            &[g(r#"{ btc = { instruments = ["BTC-USDT-PERP"], window_ms = 100, delta = "-1" } }"#)],
            "field `mmp_groups.btc.delta`: `-1` must be > 0",
        ),
        (
            &[g(r#"{ btc = { instruments = ["BTC-USDT-PERP"], window_ms = 100 } }"#)],
            "field `mmp_groups.btc`: sets none of `qty`, `delta`, `vega` (at least one)",
        ),
        (
            &[g(r#"{ btc = { instruments = ["BTC-USDT-PERP"], qty = "1" } }"#)],
            "field `mmp_groups.btc.window_ms`: missing (required unless `mmp_window_ms` is set)",
        ),
        (
            &[g(
                r#"{ btc = { underlying = "ETH-USDT-PERP", instruments = ["BTC-USDT-PERP"], window_ms = 1, qty = "1" } }"#,
            )],
            "field `mmp_groups.btc.instruments`: set `instruments` or `underlying`, not both",
        ),
        (
            &[g(r#"{ "b c" = { instruments = ["BTC-USDT-PERP"], window_ms = 1, qty = "1" } }"#)],
            "field `mmp_groups.b c`: group name must be 1 to 64 characters of A-Z a-z 0-9 _ -",
        ),
        (
            &[("mmp_vega", r#""1""#)],
            "field `mmp_window_ms`: missing (required when `mmp_qty`, `mmp_delta` or `mmp_vega` is set)",
        ),
        (
            &[("mmp_window_ms", "10"), ("mmp_qty", r#""1""#), ("mmp_frozen_ms", "-1")],
            "field `mmp_frozen_ms`: `-1` must be between 0 (until an operator resumes) and 86400000 (milliseconds)",
        ),
        (&[("mmp_frozen_ms", "100")], "field `mmp_frozen_ms`: set, but `mmp_window_ms` is not (R14 is off)"),
        (
            &[
                ("mmp_window_ms", "10"),
                ("mmp_qty", r#""1""#),
                g(r#"{ all = { underlying = "BTC-USDT-PERP", qty = "1" } }"#),
            ],
            "",
        ),
    ];
    for (extra, want) in cases {
        match load(extra) {
            Ok(_) => assert!(want.is_empty(), "{extra:?} loaded, expected {want}"),
            Err(e) => assert_eq!(e, format!("mmp.toml: {want}"), "{extra:?}"),
        }
    }
    // An R14 override of a grouped instrument (the ETH table comes last in the text).
    let mut text = policy_text(&[
        ("instruments", r#"["BTC-USDT-PERP", "ETH-USDT-PERP"]"#),
        ("mmp_window_ms", "10"),
        ("mmp_groups", r#"{ eth = { instruments = ["ETH-USDT-PERP"], qty = "1" } }"#),
    ]);
    text.push_str("mmp_qty = \"1\"\n");
    assert_eq!(
        Policy::from_toml(&text, "mmp.toml", &universe()).unwrap_err().to_string(),
        "mmp.toml: field `instrument_limits.\"ETH-USDT-PERP\"`: `ETH-USDT-PERP` is in mmp group `eth`: set its R14 limits in `mmp_groups.eth`"
    );
    // Every instrument grouped: the top-level per-instrument default applies to none.
    let all =
        r#"{ a = { underlying = "BTC-USDT-PERP", qty = "1" }, e = { instruments = ["ETH-USDT-PERP"], qty = "1" } }"#;
    assert_eq!(
        load(&[("mmp_window_ms", "10"), ("mmp_qty", r#""1""#), ("mmp_groups", all)]).unwrap_err(),
        "mmp.toml: field `mmp_qty`: applies to no instrument (every instrument is in an `mmp_groups` table)"
    );
}

#[test]
fn groups_resolve_to_ids_and_units() {
    let p = load(&[
        ("mmp_window_ms", "250"),
        ("mmp_frozen_ms", "1000"),
        ("mmp_groups", r#"{ btc = { underlying = "BTC-USDT-PERP", qty = "1.5", delta = "0.5", vega = "100", frozen_ms = 0 }, eth = { instruments = ["ETH-USDT-PERP"], qty = "10", window_ms = 50 } }"#),
    ])
    .unwrap();
    let g = &p.mmp_groups;
    assert_eq!((g[0].name.as_str(), g[0].instruments.clone()), ("btc", vec![BTC, CALL, PUT]));
    assert_eq!((g[0].window_ns, g[0].frozen_ns), (250 * MS, 0));
    assert_eq!(
        (g[0].qty, g[0].delta, g[0].vega.map(Money::get)),
        (Some(150_000_000), Some(50_000_000), Some(10_000_000_000))
    );
    assert_eq!(
        (g[1].name.as_str(), g[1].instruments.clone(), g[1].window_ns, g[1].frozen_ns),
        ("eth", vec![ETH], 50 * MS, 1000 * MS)
    );
    assert_eq!(p.mmp_frozen_ns, 1000 * MS);
}

fn limit(instrument: u32, side: Side, price: i64, qty: i64) -> OrderRequest {
    common::limit(instrument, side, price, qty)
}
