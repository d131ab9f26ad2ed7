//! Data-driven tables per control: each case builds a fresh engine (strategy
//! 0; BTC mid 65000.0 = 650000 ticks, ETH mid 3000.00 = 300000 ticks), runs a
//! setup, checks one order and asserts the reason code. Pass / fail pairs
//! differ by exactly one tick, one lot or one unit.

use crate::common;

use bulkhead_abi::{OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_risk::{RiskEngine, Scope, TradingState};
use common::*;

struct Case {
    name: &'static str,
    overrides: &'static [(&'static str, &'static str)],
    setup: fn(&mut RiskEngine),
    order: OrderRequest,
    expect: Reason,
}

fn none(_: &mut RiskEngine) {}

fn run(cases: &[Case]) {
    for c in cases {
        let mut e = engine(c.overrides);
        (c.setup)(&mut e);
        let d = e.check_order(0, 1_000, &c.order);
        assert_eq!(
            d.seen().reason,
            c.expect,
            "case `{}`: got {:?} ({})",
            c.name,
            d.seen().reason,
            d.seen().message(e.instruments())
        );
    }
}

/// Open `n` BTC orders of `qty` lots on `side` at the mid, ids 1..=n.
fn open_n(e: &mut RiskEngine, n: u64, side: Side, qty: i64) {
    for id in 1..=n {
        let d = e.check_and_open(0, 0, id, &limit(BTC, side, 650_000, qty));
        assert!(d.is_ok(), "setup order {id}: {}", d.seen().message(e.instruments()));
    }
}

const fn c(
    name: &'static str,
    overrides: &'static [(&'static str, &'static str)],
    setup: fn(&mut RiskEngine),
    order: OrderRequest,
    expect: Reason,
) -> Case {
    Case { name, overrides, setup, order, expect }
}

const fn lim(instrument: u32, side: Side, price: i64, qty: i64) -> OrderRequest {
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
const fn mkt(instrument: u32, side: Side, qty: i64) -> OrderRequest {
    OrderRequest {
        instrument,
        side,
        order_type: OrderType::Market,
        tif: TimeInForce::Ioc,
        reduce_only: false,
        price: 0,
        qty,
        tag: 0,
    }
}
const fn with_tif(mut o: OrderRequest, tif: TimeInForce) -> OrderRequest {
    o.tif = tif;
    o
}

use Reason::*;
use Side::{Buy, Sell};

#[test]
fn r1_allowlist() {
    const BTC_ONLY: &[(&str, &str)] = &[("instruments", r#"["BTC-USDT-PERP"]"#)];
    const BUY_ONLY: &[(&str, &str)] = &[("sides", r#"["buy"]"#)];
    const LIMIT_ONLY: &[(&str, &str)] = &[("order_types", r#"["limit"]"#)];
    const GTC_ONLY: &[(&str, &str)] = &[("time_in_force", r#"["gtc"]"#)];
    run(&[
        c("allowed instrument", BTC_ONLY, none, lim(BTC, Buy, 650_000, 1), Accepted),
        c("instrument not in allowlist", BTC_ONLY, none, lim(ETH, Buy, 300_000, 1), InstrumentNotAllowed),
        c("unknown instrument id", &[], none, lim(7, Buy, 650_000, 1), InstrumentNotAllowed),
        c("allowed side", BUY_ONLY, none, lim(BTC, Buy, 650_000, 1), Accepted),
        c("side not allowed", BUY_ONLY, none, lim(BTC, Sell, 650_000, 1), SideNotAllowed),
        c("allowed type", LIMIT_ONLY, none, lim(BTC, Buy, 650_000, 1), Accepted),
        c("type not allowed", LIMIT_ONLY, none, mkt(BTC, Buy, 1), OrderTypeNotAllowed),
        c("allowed tif", GTC_ONLY, none, lim(BTC, Buy, 650_000, 1), Accepted),
        c(
            "tif not allowed",
            GTC_ONLY,
            none,
            with_tif(lim(BTC, Buy, 650_000, 1), TimeInForce::PostOnly),
            TimeInForceNotAllowed,
        ),
        c("zero qty is invalid", &[], none, lim(BTC, Buy, 650_000, 0), InvalidOrder),
    ]);
}

#[test]
fn r2_size() {
    const NOTIONAL: &[(&str, &str)] = &[("max_order_notional", r#""32500""#)];
    const NOTIONAL_LESS: &[(&str, &str)] = &[("max_order_notional", r#""32499.99999999""#)];
    run(&[
        c("qty at limit (0.5 BTC)", &[], none, lim(BTC, Buy, 650_000, 500), Accepted),
        c("qty one lot over", &[], none, lim(BTC, Buy, 650_000, 501), MaxOrderQty),
        c("per-instrument override at limit (10 ETH)", &[], none, lim(ETH, Sell, 300_000, 1000), Accepted),
        c("per-instrument override one lot over", &[], none, lim(ETH, Sell, 300_000, 1001), MaxOrderQty),
        c("notional at limit", NOTIONAL, none, lim(BTC, Buy, 650_000, 500), Accepted),
        c("notional one tick over", NOTIONAL, none, lim(BTC, Buy, 650_001, 500), MaxOrderNotional),
        c("market notional at reference, at limit", NOTIONAL, none, mkt(BTC, Sell, 500), Accepted),
        c("market notional one money unit over", NOTIONAL_LESS, none, mkt(BTC, Sell, 500), MaxOrderNotional),
    ]);
}

#[test]
fn r3_collar() {
    fn half_tick_mid(e: &mut RiskEngine) {
        e.on_quote(BTC, Ticks::new(650_000), Ticks::new(650_001)); // mid 65000.05
    }
    fn one_sided(e: &mut RiskEngine) {
        e.on_quote(BTC, Ticks::new(0), Ticks::new(650_005));
    }
    fn crossed(e: &mut RiskEngine) {
        e.on_quote(BTC, Ticks::new(650_006), Ticks::new(650_005));
    }
    fn traded(e: &mut RiskEngine) {
        e.on_trade(BTC, Ticks::new(650_000));
    }
    const LAST: &[(&str, &str)] = &[("collar_reference", r#""last""#)];
    const MARK: &[(&str, &str)] = &[("collar_reference", r#""mark""#)];
    // 200 bps of 65000.0 = 1300.0 = 13000 ticks: band [637000, 663000].
    run(&[
        c("upper boundary", &[], none, lim(BTC, Buy, 663_000, 1), Accepted),
        c("upper boundary + 1 tick", &[], none, lim(BTC, Buy, 663_001, 1), PriceCollar),
        c("lower boundary", &[], none, lim(BTC, Sell, 637_000, 1), Accepted),
        c("lower boundary - 1 tick", &[], none, lim(BTC, Sell, 636_999, 1), PriceCollar),
        // mid 65000.05: band [63700.049, 66300.051]
        c("half-tick mid upper", &[], half_tick_mid, lim(BTC, Buy, 663_000, 1), Accepted),
        c("half-tick mid upper + 1", &[], half_tick_mid, lim(BTC, Buy, 663_001, 1), PriceCollar),
        c("half-tick mid lower", &[], half_tick_mid, lim(BTC, Buy, 637_001, 1), Accepted),
        c("half-tick mid lower - 1", &[], half_tick_mid, lim(BTC, Buy, 637_000, 1), PriceCollar),
        c("one-sided quote: no mid", &[], one_sided, lim(BTC, Buy, 650_000, 1), NoReferencePrice),
        c("crossed quote: no mid", &[], crossed, lim(BTC, Buy, 650_000, 1), NoReferencePrice),
        c("market order needs a reference", &[], one_sided, mkt(BTC, Buy, 1), NoReferencePrice),
        c("last: no trade yet", LAST, none, lim(BTC, Buy, 650_000, 1), NoReferencePrice),
        c("last: boundary", LAST, traded, lim(BTC, Buy, 663_000, 1), Accepted),
        c("last: boundary + 1 tick", LAST, traded, lim(BTC, Buy, 663_001, 1), PriceCollar),
        c("mark = mid: boundary", MARK, none, lim(BTC, Sell, 637_000, 1), Accepted),
        c("mark = mid: boundary - 1 tick", MARK, none, lim(BTC, Sell, 636_999, 1), PriceCollar),
    ]);
}

/// A collar refusal's `current` is the reference in half-ticks, and says so.
#[test]
fn r3_collar_reference_is_half_ticks() {
    let mut e = engine(&[]);
    e.on_quote(BTC, Ticks::new(650_000), Ticks::new(650_001)); // mid 65000.05 = 1_300_001 half-ticks
    let d = e.check_order(0, 1, &limit(BTC, Buy, 663_001, 1)).unwrap_err();
    assert_eq!(d.reason(), PriceCollar);
    assert_eq!(d.collar_reference(), Some(bulkhead_model::HalfTicks::new(1_300_001)));
    assert_eq!(d.current(), 1_300_001);
    assert!(d.message(&instruments()).contains("reference 65000.05"), "{}", d.message(&instruments()));
    // any other refusal has no collar reference
    let d = e.check_order(0, 1, &limit(BTC, Buy, 650_000, 1_000_000)).unwrap_err();
    assert_ne!(d.reason(), PriceCollar);
    assert_eq!(d.collar_reference(), None);
}

#[test]
fn r4_exposure() {
    fn three_buys(e: &mut RiskEngine) {
        open_n(e, 3, Buy, 500);
    }
    fn four_buys(e: &mut RiskEngine) {
        open_n(e, 4, Buy, 500);
    }
    fn four_sells(e: &mut RiskEngine) {
        open_n(e, 4, Sell, 500);
    }
    fn four_buys_two_filled(e: &mut RiskEngine) {
        open_n(e, 4, Buy, 500);
        e.order_filled(0, 1, Buy, Ticks::new(650_000), Lots::new(500));
        e.order_filled(0, 2, Buy, Ticks::new(650_000), Lots::new(200));
        e.order_filled(0, 2, Buy, Ticks::new(650_000), Lots::new(300));
        assert_eq!(e.position(0, BTC).get(), 1000);
        assert_eq!(e.open_orders(0), 2);
    }
    fn four_buys_one_closed(e: &mut RiskEngine) {
        four_buys_two_filled(e);
        e.order_closed(0, 3);
    }
    fn four_buys_one_eth(e: &mut RiskEngine) {
        open_n(e, 4, Buy, 500);
        assert!(e.check_and_open(0, 0, 9, &lim(ETH, Buy, 300_000, 1)).is_ok());
    }
    fn four_buys_no_btc_ref(e: &mut RiskEngine) {
        open_n(e, 4, Buy, 500);
        e.on_quote(BTC, Ticks::new(0), Ticks::new(0));
    }
    // gross: 2 BTC × 65000 = 130000 plus 1 lot ETH (0.01 × 3000 = 30)
    const GROSS: &[(&str, &str)] = &[("max_gross_notional", r#""130030""#), ("max_net_notional", r#""1000000""#)];
    const NET: &[(&str, &str)] = &[("max_gross_notional", r#""1000000""#), ("max_net_notional", r#""130000""#)];
    run(&[
        c("position: worst case reaches limit exactly", &[], three_buys, lim(BTC, Buy, 650_000, 500), Accepted),
        c("position: open orders + 1 lot over", &[], four_buys, lim(BTC, Buy, 650_000, 1), MaxPosition),
        c("position: other side does not add", &[], four_buys, lim(BTC, Sell, 650_000, 500), Accepted),
        c("position: short side 1 lot over", &[], four_sells, lim(BTC, Sell, 650_000, 1), MaxPosition),
        c("position: fills count as position", &[], four_buys_two_filled, lim(BTC, Buy, 650_000, 1), MaxPosition),
        c("position: closed order frees room", &[], four_buys_one_closed, lim(BTC, Buy, 650_000, 500), Accepted),
        c("gross: at limit", GROSS, four_buys, lim(ETH, Buy, 300_000, 1), Accepted),
        c("gross: one lot over", GROSS, four_buys_one_eth, lim(ETH, Buy, 300_000, 1), MaxGrossNotional),
        c("gross: sell of the same size adds nothing", GROSS, four_buys_one_eth, lim(ETH, Sell, 300_000, 1), Accepted),
        c("gross: larger sell adds", GROSS, four_buys_one_eth, lim(ETH, Sell, 300_000, 2), MaxGrossNotional),
        c("net: at limit", NET, three_buys, lim(BTC, Buy, 650_000, 500), Accepted),
        c("net: one lot over", NET, four_buys, lim(ETH, Buy, 300_000, 1), MaxNetNotional),
        c("net: offsetting sell passes", NET, four_buys, lim(ETH, Sell, 300_000, 1), Accepted),
        c("exposure needs every reference", &[], four_buys_no_btc_ref, lim(ETH, Buy, 300_000, 1), NoReferencePrice),
    ]);
}

#[test]
fn r5_open_orders() {
    fn three(e: &mut RiskEngine) {
        open_n(e, 3, Buy, 1);
    }
    fn two(e: &mut RiskEngine) {
        open_n(e, 2, Buy, 1);
    }
    fn three_one_filled(e: &mut RiskEngine) {
        open_n(e, 3, Buy, 1);
        e.order_filled(0, 2, Buy, Ticks::new(650_000), Lots::new(1));
    }
    const MAX3: &[(&str, &str)] = &[("max_open_orders", "3")];
    run(&[
        c("below limit", MAX3, two, lim(BTC, Buy, 650_000, 1), Accepted),
        c("one over", MAX3, three, lim(BTC, Buy, 650_000, 1), MaxOpenOrders),
        c("fully filled order leaves", MAX3, three_one_filled, lim(BTC, Buy, 650_000, 1), Accepted),
    ]);
}

#[test]
fn r11_states() {
    fn global_halt(e: &mut RiskEngine) {
        e.set_state(Scope::Global, TradingState::Halted);
    }
    fn strategy_halt(e: &mut RiskEngine) {
        e.set_state(Scope::Strategy(0), TradingState::Halted);
    }
    fn btc_halt(e: &mut RiskEngine) {
        e.set_state(Scope::Instrument(BTC), TradingState::Halted);
    }
    fn all_halt(e: &mut RiskEngine) {
        global_halt(e);
        strategy_halt(e);
        btc_halt(e);
    }
    /// Long 0.6 BTC with 0.5 BTC of sells open.
    fn long_600_with_sell_500(e: &mut RiskEngine) {
        assert!(e.check_and_open(0, 0, 1, &lim(BTC, Buy, 650_000, 500)).is_ok());
        assert!(e.check_and_open(0, 0, 2, &lim(BTC, Buy, 650_000, 100)).is_ok());
        e.order_filled(0, 1, Buy, Ticks::new(650_000), Lots::new(500));
        e.order_filled(0, 2, Buy, Ticks::new(650_000), Lots::new(100));
        assert!(e.check_and_open(0, 0, 3, &lim(BTC, Sell, 650_000, 500)).is_ok());
        assert_eq!(e.position(0, BTC).get(), 600);
    }
    fn btc_reducing(e: &mut RiskEngine) {
        long_600_with_sell_500(e);
        e.set_state(Scope::Instrument(BTC), TradingState::Reducing);
    }
    fn strategy_reducing(e: &mut RiskEngine) {
        long_600_with_sell_500(e);
        e.set_state(Scope::Strategy(0), TradingState::Reducing);
    }
    fn global_reducing(e: &mut RiskEngine) {
        long_600_with_sell_500(e);
        e.set_state(Scope::Global, TradingState::Reducing);
    }
    fn flat_reducing(e: &mut RiskEngine) {
        e.set_state(Scope::Global, TradingState::Reducing);
    }
    fn reducing_then_active(e: &mut RiskEngine) {
        btc_reducing(e);
        e.set_state(Scope::Instrument(BTC), TradingState::Active);
    }
    run(&[
        c("global halted", &[], global_halt, lim(BTC, Sell, 650_000, 1), GlobalHalted),
        c("strategy halted", &[], strategy_halt, lim(BTC, Sell, 650_000, 1), StrategyHalted),
        c("instrument halted", &[], btc_halt, lim(BTC, Sell, 650_000, 1), InstrumentHalted),
        c("other instrument still trades", &[], btc_halt, lim(ETH, Sell, 300_000, 1), Accepted),
        c("global decides first", &[], all_halt, lim(BTC, Sell, 650_000, 1), GlobalHalted),
        c("instrument reducing: sell to flat", &[], btc_reducing, lim(BTC, Sell, 650_000, 100), Accepted),
        c("instrument reducing: sell 1 lot past flat", &[], btc_reducing, lim(BTC, Sell, 650_000, 101), ReducingOnly),
        c("instrument reducing: buy increases", &[], btc_reducing, lim(BTC, Buy, 650_000, 1), ReducingOnly),
        c("instrument reducing: other instrument unaffected", &[], btc_reducing, lim(ETH, Buy, 300_000, 1), Accepted),
        c("strategy reducing: sell to flat", &[], strategy_reducing, lim(BTC, Sell, 650_000, 100), Accepted),
        c("strategy reducing: buy", &[], strategy_reducing, lim(BTC, Buy, 650_000, 1), ReducingOnly),
        c("strategy reducing: flat ETH", &[], strategy_reducing, lim(ETH, Sell, 300_000, 1), ReducingOnly),
        c("global reducing: sell to flat", &[], global_reducing, lim(BTC, Sell, 650_000, 100), Accepted),
        c("global reducing: sell past flat", &[], global_reducing, lim(BTC, Sell, 650_000, 101), ReducingOnly),
        c("reducing when flat: nothing", &[], flat_reducing, lim(BTC, Buy, 650_000, 1), ReducingOnly),
        c("back to active", &[], reducing_then_active, lim(BTC, Buy, 650_000, 1), Accepted),
    ]);
}

#[test]
fn r11_cancels_always_allowed() {
    let mut e = engine(&[]);
    assert!(e.check_and_open(0, 0, 1, &buy(650_000, 1)).is_ok());
    for scope in [Scope::Global, Scope::Strategy(0), Scope::Instrument(BTC)] {
        e.set_state(scope, TradingState::Halted);
        assert_eq!(e.state(scope), TradingState::Halted);
    }
    assert_eq!(e.check_order(0, 1, &buy(650_000, 1)).seen().reason, GlobalHalted);
    assert!(e.check_cancel(0, 1).is_ok());
    e.order_closed(0, 1);
    assert_eq!(e.open_orders(0), 0);
    assert_eq!(e.state(Scope::Instrument(ETH)), TradingState::Active);
    assert_eq!(e.state(Scope::Strategy(5)), TradingState::Active);
}

#[test]
fn r5_order_rate_refills_over_event_time() {
    let mut e = engine(&[("max_orders_per_sec", "2"), ("max_messages_per_sec", "100")]);
    let o = buy(650_000, 1);
    assert!(e.check_order(0, 0, &o).is_ok());
    assert!(e.check_order(0, 0, &o).is_ok());
    assert_eq!(e.check_order(0, 0, &o).seen().reason, OrderRateThrottle);
    // 1/2 s refills exactly one token; one nanosecond less does not.
    assert_eq!(e.check_order(0, 499_999_999, &o).seen().reason, OrderRateThrottle);
    assert!(e.check_order(0, 500_000_000, &o).is_ok());
    assert_eq!(e.check_order(0, 500_000_000, &o).seen().reason, OrderRateThrottle);
    // Rejected checks still consume tokens: a rejected-by-R1 order uses one.
    assert!(e.check_order(0, 1_500_000_000, &o).is_ok());
    assert_eq!(e.check_order(0, 1_500_000_000, &lim(7, Buy, 1, 1)).seen().reason, InstrumentNotAllowed);
    assert_eq!(e.check_order(0, 1_500_000_000, &o).seen().reason, OrderRateThrottle);
    // A long idle period refills only up to the burst (one second's worth).
    assert!(e.check_order(0, 100_000_000_000, &o).is_ok());
    assert!(e.check_order(0, 100_000_000_000, &o).is_ok());
    assert_eq!(e.check_order(0, 100_000_000_000, &o).seen().reason, OrderRateThrottle);
    // Cancels do not use order tokens.
    assert!(e.check_cancel(0, 100_000_000_000).is_ok());
}

#[test]
fn r5_message_rate_counts_submits_and_cancels() {
    let mut e = engine(&[("max_orders_per_sec", "100"), ("max_messages_per_sec", "3")]);
    e.set_state(Scope::Global, TradingState::Halted); // halted: cancels still throttled by messages only
    assert_eq!(e.check_order(0, 0, &buy(650_000, 1)).seen().reason, GlobalHalted);
    assert!(e.check_cancel(0, 0).is_ok());
    assert!(e.check_cancel(0, 0).is_ok());
    assert_eq!(e.check_cancel(0, 0).seen().reason, MessageRateThrottle);
    assert_eq!(e.check_order(0, 0, &buy(650_000, 1)).seen().reason, MessageRateThrottle);
    assert_eq!(e.check_cancel(0, 333_333_333).seen().reason, MessageRateThrottle);
    assert!(e.check_cancel(0, 333_333_334).is_ok());
    e.set_state(Scope::Global, TradingState::Active);
    assert!(e.check_order(0, 1_000_000_000, &buy(650_000, 1)).is_ok());
}

#[test]
fn throttles_are_per_strategy() {
    let mut e = engine(&[("max_orders_per_sec", "1")]);
    let s1 = e.add_strategy(policy(&[("max_orders_per_sec", "1")]));
    assert_eq!(s1, 1);
    assert!(e.check_order(0, 0, &buy(650_000, 1)).is_ok());
    assert_eq!(e.check_order(0, 0, &buy(650_000, 1)).seen().reason, OrderRateThrottle);
    assert!(e.check_order(s1, 0, &buy(650_000, 1)).is_ok());
}

#[test]
fn strategies_are_isolated() {
    let mut e = engine(&[]);
    let s1 = e.add_strategy(policy(&[]));
    open_n(&mut e, 4, Buy, 500);
    assert_eq!(e.check_order(0, 0, &buy(650_000, 1)).seen().reason, MaxPosition);
    assert!(e.check_order(s1, 0, &buy(650_000, 500)).is_ok());
    assert_eq!(e.check_order(9, 0, &buy(650_000, 1)).seen().reason, StrategyHalted);
}

#[test]
fn over_limit_exposure_can_still_be_reduced() {
    // Worst-case exposure above the gross limit after a price rise: orders that
    // shrink it pass, orders that grow it do not.
    let mut e = engine(&[("max_gross_notional", r#""130000""#)]);
    open_n(&mut e, 4, Buy, 500);
    for id in 1..=4 {
        e.order_filled(0, id, Buy, Ticks::new(650_000), Lots::new(500));
    }
    e.on_quote(BTC, Ticks::new(659_999), Ticks::new(660_001)); // mid 66000: gross 132000 > 130000
    assert_eq!(e.check_order(0, 0, &lim(ETH, Buy, 300_000, 1)).seen().reason, MaxGrossNotional);
    assert!(e.check_order(0, 0, &sell(660_000, 500)).is_ok());
}

#[test]
fn overflow_is_rejected_not_wrapped() {
    let mut e = engine(&[]);
    for (o, r) in [
        (buy(650_000, i64::MAX), MaxOrderQty),
        (buy(i64::MAX, 1), MaxOrderNotional),
        (buy(650_000 * 2, 1), PriceCollar),
        (buy(650_000, i64::MIN), InvalidOrder),
        (buy(i64::MIN, 1), InvalidOrder),
    ] {
        assert_eq!(e.check_order(0, 0, &o).seen().reason, r, "{o:?}");
    }
    // Absurd reference prices: exposure saturates, the order is refused.
    e.on_quote(BTC, Ticks::new(i64::MAX - 1), Ticks::new(i64::MAX));
    assert_eq!(e.check_order(0, 0, &market(BTC, Buy, 1)).seen().reason, MaxOrderNotional);
    // Absurd fills saturate the position instead of wrapping.
    e.on_quote(BTC, Ticks::new(649_995), Ticks::new(650_005));
    assert!(e.check_and_open(0, 0, 1, &buy(650_000, 500)).is_ok());
    e.order_filled(0, 1, Buy, Ticks::new(650_000), Lots::new(i64::MAX));
    e.order_filled(0, 1, Buy, Ticks::new(650_000), Lots::new(i64::MAX)); // no longer open: ignored
    assert_eq!(e.position(0, BTC).get(), i64::MAX);
    assert_eq!(e.open_orders(0), 0);
}

#[test]
fn decision_messages_use_decimal_units() {
    let mut e = engine(&[]);
    let insts = e.instruments().to_vec();
    let d = e.check_order(0, 0, &buy(650_000, 600));
    assert_eq!(d.seen().message(&insts), "R2_MAX_ORDER_QTY: order qty 0.6 exceeds limit 0.5 (BTC-USDT-PERP)");
    assert_eq!((d.seen().limit, d.seen().requested, d.seen().current), (500, 600, 0));
    let d = e.check_order(0, 0, &buy(663_001, 1));
    assert_eq!(
        d.seen().message(&insts),
        "R3_PRICE_COLLAR: limit price 66300.1 is more than 200 bps from reference 65000 (BTC-USDT-PERP)"
    );
    let d = e.check_order(0, 0, &buy(650_000, 500));
    assert!(d.is_ok());
    assert_eq!(d.seen().message(&insts), "ACCEPTED");
    open_n(&mut e, 4, Buy, 500);
    let d = e.check_order(0, 0, &buy(650_000, 1));
    assert_eq!(
        d.seen().message(&insts),
        "R4_MAX_POSITION: worst-case position 2.001 would exceed limit 2 (now 2) (BTC-USDT-PERP)"
    );
    let mut e2 = engine(&[("max_order_notional", r#""32500""#)]);
    let d = e2.check_order(0, 0, &buy(650_001, 500));
    assert_eq!(
        d.seen().message(&insts),
        "R2_MAX_ORDER_NOTIONAL: order notional 32500.05 exceeds limit 32500.00 (BTC-USDT-PERP)"
    );
    e2.on_quote(BTC, Ticks::new(650_000), Ticks::new(650_001));
    let d = e2.check_order(0, 0, &buy(663_001, 1));
    assert!(d.seen().message(&insts).contains("reference 65000.05"), "{}", d.seen().message(&insts));
}

#[test]
fn accepted_decision_is_plain_data() {
    let mut e = engine(&[]);
    let d = e.check_and_open(0, 0, 42, &buy(650_000, 3));
    assert!(d.is_ok());
    assert_eq!(e.open_orders(0), 1);
    assert_eq!(raw2(e.open_qty(0, BTC)), (3, 0));
    assert_eq!(e.open_order_ids(0, Some(BTC)).collect::<Vec<_>>(), vec![42]);
    assert_eq!(e.open_order_ids(0, Some(ETH)).count(), 0);
    assert_eq!(e.open_order_ids(0, None).count(), 1);
    // re-opening the same id replaces, it does not double count
    e.order_opened(0, 42, &buy(650_000, 5));
    assert_eq!(raw2(e.open_qty(0, BTC)), (5, 0));
    e.order_filled(0, 42, Buy, Ticks::new(650_000), Lots::new(2));
    assert_eq!((e.position(0, BTC).get(), raw2(e.open_qty(0, BTC)), e.open_orders(0)), (2, (3, 0), 1));
    e.order_closed(0, 42);
    assert_eq!((e.position(0, BTC).get(), raw2(e.open_qty(0, BTC)), e.open_orders(0)), (2, (0, 0), 0));
}

#[test]
fn fill_side_comes_from_the_recorded_order() {
    let mut e = engine(&[]);
    assert!(e.check_and_open(0, 0, 1, &sell(650_000, 10)).is_ok());
    e.order_filled(0, 1, Buy, Ticks::new(650_000), Lots::new(4)); // wrong side in the fill report
    assert_eq!(e.position(0, BTC).get(), -4);
    assert_eq!(raw2(e.open_qty(0, BTC)), (0, 6));
}
