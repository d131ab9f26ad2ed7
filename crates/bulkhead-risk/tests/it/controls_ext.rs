//! Data-driven tables for the controls added by issue 4 (R5 firm-wide, R6,
//! R7, R8, R10, R12, R13, R14) and scenario tests (loss limit, kill switch,
//! self-trade prevention in each mode, MMP). Every engine has two strategies
//! (0 and 1) on the base policy plus overrides, BTC mid 65000.0 and ETH mid
//! 3000.00 quoted at event time 0, and optionally a firm policy. Pass / fail
//! pairs differ by one tick, one lot, one nanosecond or one money unit.

use crate::common;

use bulkhead_abi::{OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_risk::{FirmPolicy, OrderRef, RiskAction, RiskEngine, Scope, TradingState};
use common::*;

use Reason::*;
use Side::{Buy, Sell};

const MS: u64 = 1_000_000;

fn eng(overrides: &[(&str, &str)], firm: &str) -> RiskEngine {
    let mut e = RiskEngine::new(instruments());
    assert_eq!(e.add_strategy(policy(overrides)), 0);
    assert_eq!(e.add_strategy(policy(overrides)), 1);
    if !firm.is_empty() {
        e.set_firm_policy(FirmPolicy::from_toml(firm, "firm.toml", &instruments()).unwrap());
    }
    e.on_quote_at(BTC, 0, Ticks::new(649_995), Ticks::new(650_005));
    e.on_quote_at(ETH, 0, Ticks::new(299_999), Ticks::new(300_001));
    e
}

struct Case {
    name: &'static str,
    overrides: &'static [(&'static str, &'static str)],
    firm: &'static str,
    setup: fn(&mut RiskEngine),
    ts: u64,
    order: OrderRequest,
    expect: Reason,
}

const fn c(
    name: &'static str,
    overrides: &'static [(&'static str, &'static str)],
    firm: &'static str,
    setup: fn(&mut RiskEngine),
    ts: u64,
    order: OrderRequest,
    expect: Reason,
) -> Case {
    Case { name, overrides, firm, setup, ts, order, expect }
}

fn run(cases: &[Case]) {
    for k in cases {
        let mut e = eng(k.overrides, k.firm);
        (k.setup)(&mut e);
        let d = e.check_order(0, k.ts, &k.order);
        assert_eq!(
            d.seen().reason,
            k.expect,
            "case `{}`: got {:?} ({})",
            k.name,
            d.seen().reason,
            d.seen().message(e.instruments())
        );
        // every reject has a message naming its code
        assert!(d.seen().message(e.instruments()).starts_with(d.seen().reason.name()), "case `{}`", k.name);
    }
}

fn none(_: &mut RiskEngine) {}

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
const fn post_only(mut o: OrderRequest) -> OrderRequest {
    o.tif = TimeInForce::PostOnly;
    o
}

fn open(e: &mut RiskEngine, strategy: u32, ts: u64, id: u64, o: OrderRequest) {
    let d = e.check_and_open(strategy, ts, id, &o);
    assert!(d.is_ok(), "setup order {strategy}/{id}: {}", d.seen().message(e.instruments()));
}

// ---------------------------------------------------------------- R5 firm

#[test]
fn r5_firm_throttles() {
    const ORD: &str = "max_orders_per_sec = 2\n";
    const MSG: &str = "max_messages_per_sec = 2\n";
    fn s1_one_order(e: &mut RiskEngine) {
        assert!(e.check_order(1, 1_000, &buy(650_000, 1)).is_ok());
    }
    fn s1_two_orders(e: &mut RiskEngine) {
        s1_one_order(e);
        assert!(e.check_order(1, 1_000, &buy(650_000, 1)).is_ok());
    }
    fn s1_one_cancel(e: &mut RiskEngine) {
        assert!(e.check_cancel(1, 1_000).is_ok());
    }
    fn s1_two_cancels(e: &mut RiskEngine) {
        s1_one_cancel(e);
        assert!(e.check_cancel(1, 1_000).is_ok());
    }
    fn s1_throttled_by_own_bucket(e: &mut RiskEngine) {
        // strategy 1 has max_orders_per_sec 50: 60 checks, only 50 reach the firm bucket…
        for _ in 0..60 {
            let _ = e.check_order(1, 1_000, &buy(650_000, 1));
        }
    }
    run(&[
        c("firm orders: one left", &[], ORD, s1_one_order, 1_000, buy(650_000, 1), Accepted),
        c("firm orders: none left", &[], ORD, s1_two_orders, 1_000, buy(650_000, 1), FirmOrderRateThrottle),
        c("firm orders: refilled 0.5 s later", &[], ORD, s1_two_orders, 500_001_000, buy(650_000, 1), Accepted),
        c("firm messages: one left", &[], MSG, s1_one_cancel, 1_000, buy(650_000, 1), Accepted),
        c("firm messages: none left", &[], MSG, s1_two_cancels, 1_000, buy(650_000, 1), FirmMessageRateThrottle),
        c(
            "firm orders: 50 of s1's 60 checks reached the firm bucket",
            &[],
            "max_orders_per_sec = 51\n",
            s1_throttled_by_own_bucket,
            1_000,
            buy(650_000, 1),
            Accepted,
        ),
        c(
            "firm orders: … and exhausted a 50/s firm bucket",
            &[],
            "max_orders_per_sec = 50\n",
            s1_throttled_by_own_bucket,
            1_000,
            buy(650_000, 1),
            FirmOrderRateThrottle,
        ),
    ]);
}

// ---------------------------------------------------------------- R6

#[test]
fn r6_duplicates() {
    const DUP: &[(&str, &str)] = &[("duplicate_window_ms", "100")];
    fn one(e: &mut RiskEngine) {
        open(e, 0, 0, 1, buy(650_000, 1));
    }
    fn one_closed(e: &mut RiskEngine) {
        one(e);
        e.order_closed(0, 1);
    }
    fn other_strategy(e: &mut RiskEngine) {
        open(e, 1, 0, 1, buy(650_000, 1));
    }
    let w = 100 * MS;
    run(&[
        c("identical within window", DUP, "", one, w - 1, buy(650_000, 1), DuplicateOrder),
        c("identical at window end", DUP, "", one, w, buy(650_000, 1), Accepted),
        c("identical after close, within window", DUP, "", one_closed, 1, buy(650_000, 1), DuplicateOrder),
        c("one tick different", DUP, "", one, 1, buy(650_001, 1), Accepted),
        c("one lot different", DUP, "", one, 1, buy(650_000, 2), Accepted),
        c("other side", DUP, "", one, 1, sell(650_000, 1), Accepted),
        c("other instrument", DUP, "", one, 1, lim(ETH, Buy, 650_000 / 2 - 25_000, 1), Accepted),
        c("other strategy's order", DUP, "", other_strategy, 1, buy(650_000, 1), Accepted),
        c("control off by default", &[], "", one, 1, buy(650_000, 1), Accepted),
    ]);
}

// ---------------------------------------------------------------- R7

const NEWEST: &str = "stp_mode = \"cancel_newest\"\n";

fn s1_resting_sell(e: &mut RiskEngine) {
    open(e, 1, 0, 100, sell(650_000, 10));
}
fn s1_resting_buy(e: &mut RiskEngine) {
    open(e, 1, 0, 100, buy(649_990, 10));
}
fn own_resting_sell(e: &mut RiskEngine) {
    open(e, 0, 0, 100, sell(650_000, 10));
}
fn s1_resting_sell_filled(e: &mut RiskEngine) {
    s1_resting_sell(e);
    e.order_filled(1, 100, Sell, Ticks::new(650_000), Lots::new(10));
}

#[test]
fn r7_self_trade_table() {
    run(&[
        c("buy one tick below a resting sell", &[], NEWEST, s1_resting_sell, 1, buy(649_999, 1), Accepted),
        c("buy at a resting sell", &[], NEWEST, s1_resting_sell, 1, buy(650_000, 1), SelfTradePrevented),
        c("sell one tick above a resting buy", &[], NEWEST, s1_resting_buy, 1, sell(649_991, 1), Accepted),
        c("sell at a resting buy", &[], NEWEST, s1_resting_buy, 1, sell(649_990, 1), SelfTradePrevented),
        c("market buy vs resting sell", &[], NEWEST, s1_resting_sell, 1, mkt(BTC, Buy, 1), SelfTradePrevented),
        c("post-only never takes", &[], NEWEST, s1_resting_sell, 1, post_only(buy(650_000, 1)), Accepted),
        c("own resting order counts", &[], NEWEST, own_resting_sell, 1, buy(650_000, 1), SelfTradePrevented),
        c("filled order no longer rests", &[], NEWEST, s1_resting_sell_filled, 1, buy(650_000, 1), Accepted),
        c("same side never crosses", &[], NEWEST, s1_resting_sell, 1, sell(649_000, 1), Accepted),
        c("off without a firm policy", &[], "", s1_resting_sell, 1, buy(650_000, 1), Accepted),
        c(
            "old check_order under cancel_oldest rejects",
            &[],
            "stp_mode = \"cancel_oldest\"\n",
            s1_resting_sell,
            1,
            buy(650_000, 1),
            SelfTradePrevented,
        ),
    ]);
}

#[test]
fn r7_two_strategies_in_each_mode() {
    let r = |strategy, order_id| OrderRef { strategy, order_id };
    // cancel_newest: the new order is rejected, nothing to cancel.
    let mut e = eng(&[], NEWEST);
    open(&mut e, 1, 0, 100, sell(650_000, 10));
    open(&mut e, 1, 0, 101, sell(650_010, 10));
    let mut cancels = Vec::new();
    let d = e.check_order_stp(0, 1, &buy(650_010, 5), &mut cancels);
    assert_eq!(d.seen().reason, SelfTradePrevented);
    assert_eq!((d.seen().limit, d.seen().requested, d.seen().current), (2, 650_010, 650_000));
    assert!(cancels.is_empty());
    assert!(d.seen().message(e.instruments()).contains("2 resting order(s)"), "{}", d.seen().message(e.instruments()));

    // cancel_oldest: accepted; the crossed resting orders (best price first) must be cancelled first.
    let mut e = eng(&[], "stp_mode = \"cancel_oldest\"\n");
    open(&mut e, 1, 0, 100, sell(650_000, 10));
    open(&mut e, 1, 0, 101, sell(650_010, 10));
    open(&mut e, 1, 0, 102, sell(650_020, 10));
    let d = e.check_order_stp(0, 1, &buy(650_010, 5), &mut cancels);
    assert!(d.is_ok());
    assert_eq!(cancels, vec![r(1, 100), r(1, 101)]);
    e.order_opened(0, 1, &buy(650_010, 5));
    // returned orders no longer count as resting; 102 still does
    let d = e.check_order_stp(0, 2, &buy(650_010, 1), &mut cancels);
    assert!(d.is_ok() && cancels.is_empty());
    let d = e.check_order_stp(0, 3, &buy(650_020, 1), &mut cancels);
    assert!(d.is_ok());
    assert_eq!(cancels, vec![r(1, 102)]);
    // a resting buy of strategy 0 now stops strategy 1 selling into it
    let d = e.check_order_stp(1, 4, &sell(650_000, 1), &mut cancels);
    assert!(d.is_ok());
    assert_eq!(cancels, vec![r(0, 1)]);

    // cancel_both: rejected AND the resting orders are cancelled.
    let mut e = eng(&[], "stp_mode = \"cancel_both\"\n");
    open(&mut e, 1, 0, 100, sell(650_000, 10));
    let d = e.check_order_stp(0, 1, &mkt(BTC, Buy, 5), &mut cancels);
    assert_eq!(d.seen().reason, SelfTradePrevented);
    assert_eq!(cancels, vec![r(1, 100)]);
    // the cancelled order still counts as exposure until the venue closes it
    assert_eq!(e.open_orders(1), 1);
    e.order_closed(1, 100);
    assert_eq!(e.open_orders(1), 0);
    let d = e.check_order_stp(0, 2, &mkt(BTC, Buy, 5), &mut cancels);
    assert!(d.is_ok() && cancels.is_empty());
}

// ---------------------------------------------------------------- R8

/// Loss limits 100 / 200 USDT; strategy 0 long 1 BTC at 65000.0.
const LOSS: &[(&str, &str)] = &[("loss_limit_reducing", r#""100""#), ("loss_limit_halt", r#""200""#)];

fn long_one_btc(e: &mut RiskEngine) {
    open(e, 0, 0, 1, buy(650_000, 500));
    open(e, 0, 0, 2, buy(650_000, 500));
    e.order_filled_at(0, 1, 1, Ticks::new(650_000), Lots::new(500));
    e.order_filled_at(0, 2, 1, Ticks::new(650_000), Lots::new(500));
    assert_eq!(e.position(0, BTC).get(), 1000);
}
/// Mid 64900.0: loss exactly 100.
fn loss_100(e: &mut RiskEngine) {
    long_one_btc(e);
    e.on_quote_at(BTC, 2, Ticks::new(648_995), Ticks::new(649_005));
    assert_eq!(e.pnl(0).total().get(), -100 * 100_000_000);
}
/// Mid 64899.95: loss 100.05.
fn loss_100_05(e: &mut RiskEngine) {
    long_one_btc(e);
    e.on_quote_at(BTC, 2, Ticks::new(648_999), Ticks::new(649_000));
}
fn loss_100_plus_fee(e: &mut RiskEngine) {
    loss_100(e);
    e.on_fee(0, Money::new(1));
}
fn loss_200_05(e: &mut RiskEngine) {
    long_one_btc(e);
    e.on_quote_at(BTC, 2, Ticks::new(647_999), Ticks::new(648_000));
}

#[test]
fn r8_loss_limit_table() {
    run(&[
        c("loss at the reducing limit", LOSS, "", loss_100, 3, buy(649_000, 1), Accepted),
        c("loss 0.05 over: reducing", LOSS, "", loss_100_05, 3, buy(649_000, 1), ReducingOnly),
        c("reducing still sells", LOSS, "", loss_100_05, 3, sell(649_000, 500), Accepted),
        c("one money unit of fees over", LOSS, "", loss_100_plus_fee, 3, buy(649_000, 1), ReducingOnly),
        c("over the halt limit", LOSS, "", loss_200_05, 3, sell(648_000, 1), StrategyHalted),
        c("off by default", &[], "", loss_200_05, 3, buy(648_000, 1), Accepted),
    ]);
}

#[test]
fn r8_loss_limit_trips_reducing_then_halted() {
    let mut e = eng(LOSS, "");
    long_one_btc(&mut e);
    assert_eq!(e.take_transitions().count(), 0);
    e.on_quote_at(BTC, 10, Ticks::new(648_999), Ticks::new(649_000)); // loss 100.05
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].scope, t[0].from, t[0].to, t[0].ts_ns),
        (Scope::Strategy(0), TradingState::Active, TradingState::Reducing, 10)
    );
    assert_eq!(t[0].cause.reason, LossLimitReducing);
    assert_eq!(
        t[0].cause.text,
        "R8_LOSS_LIMIT_REDUCING: loss 100.05 exceeds loss_limit_reducing 100.00 (realised 0.00, unrealised -100.05, fees 0.00)"
    );
    assert_eq!(
        e.take_actions().collect::<Vec<_>>(),
        vec![RiskAction::CancelAll { strategy: 0, reason: LossLimitReducing }]
    );
    assert_eq!(e.state(Scope::Strategy(0)), TradingState::Reducing);
    // the other strategy is untouched
    assert_eq!(e.state(Scope::Strategy(1)), TradingState::Active);
    // sell half at a loss: realised −50.5 (64899.0), still reducing, no new transition
    open(&mut e, 0, 11, 3, sell(648_990, 500));
    e.order_filled_at(0, 3, 12, Ticks::new(648_990), Lots::new(500));
    assert_eq!(e.pnl(0).realised.get(), -5_050_000_000);
    assert_eq!(e.take_transitions().count(), 0);
    // fees push it over the halt limit
    e.on_fee(0, Money::new(150 * 100_000_000));
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].from, t[0].to, t[0].cause.reason),
        (TradingState::Reducing, TradingState::Halted, LossLimitHalted)
    );
    assert!(t[0].cause.text.contains("exceeds loss_limit_halt 200.00"), "{}", t[0].cause.text);
    assert!(t[0].cause.text.contains("fees 150.00"), "{}", t[0].cause.text);
    assert_eq!(e.check_order(0, 13, &sell(649_000, 1)).seen().reason, StrategyHalted);
    // a recovery does not re-activate on its own
    e.on_quote_at(BTC, 14, Ticks::new(700_000), Ticks::new(700_010));
    assert_eq!(e.state(Scope::Strategy(0)), TradingState::Halted);
    assert_eq!(e.take_transitions().count(), 0);
}

// ---------------------------------------------------------------- R10

const MARGIN: &[(&str, &str)] = &[("capital", r#""6500""#), ("initial_margin_bps", "{ perpetual = 1000 }")];
const MARGIN_FULL: &[(&str, &str)] = &[("capital", r#""65000""#)];

fn open_999(e: &mut RiskEngine) {
    open(e, 0, 0, 1, buy(650_000, 500));
    open(e, 0, 0, 2, buy(650_000, 499));
}

#[test]
fn r10_margin_table() {
    run(&[
        c("10% margin of 1 BTC = capital", MARGIN, "", open_999, 1, buy(650_000, 1), Accepted),
        c("one lot over", MARGIN, "", open_999, 1, buy(650_000, 2), InitialMargin),
        c("other side does not add", MARGIN, "", open_999, 1, sell(650_000, 500), Accepted),
        c("no table: full notional, at capital", MARGIN_FULL, "", open_999, 1, buy(650_000, 1), Accepted),
        c("no table: full notional, one lot over", MARGIN_FULL, "", open_999, 1, buy(650_000, 2), InitialMargin),
        c("off by default", &[], "", open_999, 1, buy(650_000, 2), Accepted),
    ]);
}

// ---------------------------------------------------------------- R12

const FIRM_POS: &str = "[instrument_limits.\"BTC-USDT-PERP\"]\nmax_position = \"1\"\n";
const FIRM_GROSS: &str = "max_gross_notional = \"65000\"\n";
const FIRM_NET: &str = "max_net_notional = \"65000\"\n";

fn s1_500_s0_400(e: &mut RiskEngine) {
    open(e, 1, 0, 1, buy(650_000, 500));
    open(e, 0, 0, 1, buy(650_000, 400));
}
fn s1_long_500(e: &mut RiskEngine) {
    open(e, 1, 0, 1, buy(650_000, 500));
    e.order_filled_at(1, 1, 0, Ticks::new(650_000), Lots::new(500));
}
/// Strategy 1 long 0.5 BTC, strategy 0 has a 0.001 BTC buy open: firm worst case 0.501.
fn s1_long_500_s0_1(e: &mut RiskEngine) {
    s1_long_500(e);
    open(e, 0, 0, 1, buy(650_000, 1));
}

#[test]
fn r12_firm_aggregates_table() {
    run(&[
        c("firm position at limit", &[], FIRM_POS, s1_500_s0_400, 1, buy(650_000, 100), Accepted),
        c("firm position one lot over", &[], FIRM_POS, s1_500_s0_400, 1, buy(650_000, 101), FirmMaxPosition),
        c("firm position: fills count, at limit", &[], FIRM_POS, s1_long_500_s0_1, 1, buy(650_000, 499), Accepted),
        c(
            "firm position: fills count, one over",
            &[],
            FIRM_POS,
            s1_long_500_s0_1,
            1,
            buy(650_000, 500),
            FirmMaxPosition,
        ),
        c("firm position: opposite side nets", &[], FIRM_POS, s1_long_500_s0_1, 1, sell(650_000, 500), Accepted),
        c("firm gross at limit", &[], FIRM_GROSS, s1_long_500_s0_1, 1, buy(650_000, 499), Accepted),
        c("firm gross one lot over", &[], FIRM_GROSS, s1_long_500_s0_1, 1, buy(650_000, 500), FirmGrossNotional),
        c("firm net at limit", &[], FIRM_NET, s1_long_500_s0_1, 1, buy(650_000, 499), Accepted),
        c("firm net one lot over", &[], FIRM_NET, s1_long_500_s0_1, 1, buy(650_000, 500), FirmNetNotional),
        c("firm net: a sell reduces", &[], FIRM_NET, s1_long_500_s0_1, 1, sell(650_000, 500), Accepted),
        c("strategy alone within its own limits", &[], "", s1_long_500, 1, buy(650_000, 500), Accepted),
    ]);
}

// ---------------------------------------------------------------- R13

const STALE: &str = "max_reference_age_ms = 100\n";
const JUMP: &str = "max_jump_bps = 50\njump_cooldown_ms = 1000\n";

fn long_btc(e: &mut RiskEngine) {
    open(e, 0, 0, 1, buy(650_000, 10));
    e.order_filled_at(0, 1, 0, Ticks::new(650_000), Lots::new(10));
}
/// Mid 650000 → 653250 at t = 10 ms: exactly 50 bps.
fn jump_50(e: &mut RiskEngine) {
    e.on_quote_at(BTC, 10 * MS, Ticks::new(653_245), Ticks::new(653_255));
}
/// Mid 650000 → 653250.5: just over 50 bps.
fn jump_over(e: &mut RiskEngine) {
    e.on_quote_at(BTC, 10 * MS, Ticks::new(653_245), Ticks::new(653_256));
}
fn jump_over_long(e: &mut RiskEngine) {
    long_btc(e);
    jump_over(e);
}
fn trade_jump(e: &mut RiskEngine) {
    e.on_trade_at(BTC, 0, Ticks::new(650_000));
    e.on_trade_at(BTC, 10 * MS, Ticks::new(646_749)); // −50.01 bps
}

#[test]
fn r13_market_data_table() {
    const LAST: &[(&str, &str)] = &[("collar_reference", r#""last""#)];
    run(&[
        c("reference exactly max age", &[], STALE, none, 100 * MS, mkt(BTC, Buy, 1), Accepted),
        c("reference 1 ns too old", &[], STALE, none, 100 * MS + 1, mkt(BTC, Buy, 1), StaleReference),
        c("stale: reducing order passes", &[], STALE, long_btc, 200 * MS, mkt(BTC, Sell, 10), Accepted),
        c("stale: reducing past flat blocked", &[], STALE, long_btc, 200 * MS, mkt(BTC, Sell, 11), StaleReference),
        c("move of exactly max_jump_bps", &[], JUMP, jump_50, 11 * MS, mkt(BTC, Buy, 1), Accepted),
        c("move just over max_jump_bps", &[], JUMP, jump_over, 11 * MS, mkt(BTC, Buy, 1), PriceJump),
        c("cooldown last ns", &[], JUMP, jump_over, 1010 * MS - 1, mkt(BTC, Buy, 1), PriceJump),
        c("cooldown over", &[], JUMP, jump_over, 1010 * MS, mkt(BTC, Buy, 1), Accepted),
        c("jump: reducing order passes", &[], JUMP, jump_over_long, 11 * MS, mkt(BTC, Sell, 10), Accepted),
        c("jump: other instrument unaffected", &[], JUMP, jump_over, 11 * MS, mkt(ETH, Buy, 1), Accepted),
        c("trade jump, last reference", LAST, JUMP, trade_jump, 11 * MS, mkt(BTC, Buy, 1), PriceJump),
        c("trade jump, mid reference unaffected", &[], JUMP, trade_jump, 11 * MS, mkt(BTC, Buy, 1), Accepted),
        c("off without firm policy", &[], "", jump_over, 10_000 * MS, mkt(BTC, Buy, 1), Accepted),
    ]);
}

#[test]
fn r13_message_has_numbers() {
    let mut e = eng(&[], "max_reference_age_ms = 100\n");
    let d = e.check_order(0, 150 * MS, &mkt(BTC, Buy, 1));
    assert_eq!(
        d.seen().message(e.instruments()),
        "R13_STALE_REFERENCE: reference price is 150 ms old, limit 100 ms (BTC-USDT-PERP)"
    );
    let mut e = eng(&[], JUMP);
    jump_over(&mut e);
    let d = e.check_order(0, 510 * MS, &mkt(BTC, Buy, 1));
    assert_eq!(
        d.seen().message(e.instruments()),
        "R13_PRICE_JUMP: reference moved 50 bps in one update (limit 50 bps); new risk blocked for another 500 ms (BTC-USDT-PERP)"
    );
}

// ---------------------------------------------------------------- R14

const MMP: &[(&str, &str)] = &[("mmp_window_ms", "100"), ("mmp_qty", r#""0.5""#), ("mmp_delta", r#""0.3""#)];

fn quotes(e: &mut RiskEngine) {
    open(e, 0, 0, 1, buy(649_990, 500));
    open(e, 0, 0, 2, sell(650_010, 500));
}
fn fills_500_net_100(e: &mut RiskEngine) {
    quotes(e);
    e.order_filled_at(0, 1, 0, Ticks::new(649_990), Lots::new(300));
    e.order_filled_at(0, 2, 50 * MS, Ticks::new(650_010), Lots::new(200));
}
fn fills_501(e: &mut RiskEngine) {
    fills_500_net_100(e);
    e.order_filled_at(0, 2, 60 * MS, Ticks::new(650_010), Lots::new(1));
}
fn delta_300(e: &mut RiskEngine) {
    quotes(e);
    e.order_filled_at(0, 1, 0, Ticks::new(649_990), Lots::new(300));
}
fn delta_301(e: &mut RiskEngine) {
    quotes(e);
    e.order_filled_at(0, 1, 0, Ticks::new(649_990), Lots::new(301));
}
fn window_slides(e: &mut RiskEngine) {
    quotes(e);
    e.order_filled_at(0, 1, 0, Ticks::new(649_990), Lots::new(300));
    e.order_filled_at(0, 2, 100 * MS, Ticks::new(650_010), Lots::new(201)); // the first fill is out of the window
}

#[test]
fn r14_mmp_table() {
    run(&[
        c("qty at threshold", MMP, "", fills_500_net_100, 70 * MS, buy(649_990, 1), Accepted),
        c("qty one lot over: halted", MMP, "", fills_501, 70 * MS, buy(649_990, 1), StrategyHalted),
        c("delta at threshold", MMP, "", delta_300, 70 * MS, buy(649_990, 1), Accepted),
        c("delta one lot over", MMP, "", delta_301, 70 * MS, buy(649_990, 1), StrategyHalted),
        c("window slides", MMP, "", window_slides, 110 * MS, buy(649_990, 1), Accepted),
    ]);
    // mmp_action = "reducing"
    let mut e = eng(&[MMP[0], MMP[1], MMP[2], ("mmp_action", r#""reducing""#)], "");
    delta_301(&mut e);
    assert_eq!(e.state(Scope::Strategy(0)), TradingState::Reducing);
    // the engine carries out the CancelAll action
    assert_eq!(
        e.take_actions().collect::<Vec<_>>(),
        vec![RiskAction::CancelAll { strategy: 0, reason: MarketMakerProtection }]
    );
    e.order_closed(0, 1);
    e.order_closed(0, 2);
    assert_eq!(e.check_order(0, 1, &buy(649_990, 1)).seen().reason, ReducingOnly);
    assert!(e.check_order(0, 1, &sell(649_990, 301)).is_ok());
}

#[test]
fn r14_mmp_freezes_and_cancels_quotes() {
    let mut e = eng(MMP, "");
    quotes(&mut e);
    open(&mut e, 1, 0, 1, buy(649_990, 500));
    e.order_filled_at(1, 1, 0, Ticks::new(649_990), Lots::new(400)); // strategy 1 trips its own MMP: only it is frozen
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].scope, t[0].to, t[0].cause.reason),
        (Scope::Strategy(1), TradingState::Halted, MarketMakerProtection)
    );
    assert_eq!(
        t[0].cause.text,
        "R14_MMP_TRIGGERED: 1 fills of 0.4 BTC-USDT-PERP (net 0.4) within 100 ms exceed mmp_delta 0.3; strategy 1 frozen and its quotes cancelled"
    );
    assert_eq!(
        e.take_actions().collect::<Vec<_>>(),
        vec![RiskAction::CancelAll { strategy: 1, reason: MarketMakerProtection }]
    );
    assert_eq!(e.state(Scope::Strategy(0)), TradingState::Active);
    assert!(!e.has_pending());
}

// ---------------------------------------------------------------- R11 kill

#[test]
fn kill_switch_returns_every_open_order_and_blocks_new_risk() {
    let r = |strategy, order_id| OrderRef { strategy, order_id };
    let setup = || {
        let mut e = eng(&[], "");
        open(&mut e, 0, 0, 1, buy(649_000, 1));
        open(&mut e, 0, 0, 2, lim(ETH, Sell, 300_100, 1));
        open(&mut e, 1, 0, 7, sell(651_000, 1));
        open(&mut e, 1, 0, 8, lim(ETH, Buy, 299_900, 1));
        e
    };
    // instrument kill: every strategy's orders in it
    let mut e = setup();
    assert_eq!(e.kill(Scope::Instrument(BTC)), vec![r(0, 1), r(1, 7)]);
    assert_eq!(e.check_order(1, 1, &buy(649_000, 1)).seen().reason, InstrumentHalted);
    assert!(e.check_order(1, 1, &lim(ETH, Buy, 299_900, 1)).is_ok());
    // strategy kill
    let mut e = setup();
    assert_eq!(e.kill(Scope::Strategy(1)), vec![r(1, 7), r(1, 8)]);
    assert_eq!(e.check_order(1, 1, &buy(649_000, 1)).seen().reason, StrategyHalted);
    assert!(e.check_order(0, 1, &buy(649_000, 1)).is_ok());
    // global kill: all four in one step; nothing new passes afterwards, cancels still do
    let mut e = setup();
    let all = e.kill(Scope::Global);
    assert_eq!(all, vec![r(0, 1), r(0, 2), r(1, 7), r(1, 8)]);
    for s in [0, 1] {
        for o in [buy(649_000, 1), sell(651_000, 1), mkt(ETH, Buy, 1)] {
            assert_eq!(e.check_order(s, 2, &o).seen().reason, GlobalHalted);
        }
        assert!(e.check_cancel(s, 2).is_ok());
    }
    for x in all {
        e.order_closed(x.strategy, x.order_id);
    }
    assert_eq!(e.open_orders(0) + e.open_orders(1), 0);
    assert_eq!(raw3(e.firm_exposure(BTC)), (0, 0, 0));
    assert_eq!(e.kill(Scope::Instrument(99)), vec![]);
}

// ---------------------------------------------------------------- R9

mod r9 {
    use super::*;
    use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec, OptionType, link_underlyings};
    use bulkhead_risk::Policy;

    pub const CALL: u32 = 2;
    const YEAR_NS: u64 = 365 * 86_400 * 1_000_000_000;

    fn universe() -> Vec<Instrument> {
        let mut v = instruments();
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
        v.push(Instrument::from_spec(CALL, &call).unwrap());
        link_underlyings(&mut v).unwrap();
        v
    }

    /// Strategy 0 trading BTC, ETH and an ATM 3-month BTC call (0.1 BTC lots,
    /// premium mid 2000.0), vol 50 %: per lot delta-notional 3573.30,
    /// vega 12.86 per vol point, underlying notional 6500.
    fn eng(extra: &[(&str, &str)]) -> RiskEngine {
        let mut ov: Vec<(&str, &str)> = vec![("instruments", r#"["BTC-USDT-PERP", "ETH-USDT-PERP", "BTC-C-65000"]"#)];
        ov.extend_from_slice(extra);
        let u = universe();
        let mut e = RiskEngine::new(u.clone());
        e.add_strategy(Policy::from_toml(&policy_text(&ov), "r9.toml", &u).unwrap());
        e.on_quote_at(BTC, 0, Ticks::new(649_995), Ticks::new(650_005));
        e.on_quote_at(ETH, 0, Ticks::new(299_999), Ticks::new(300_001));
        e.on_quote_at(CALL, 0, Ticks::new(19_995), Ticks::new(20_005));
        e
    }

    fn call(side: Side, qty: i64) -> OrderRequest {
        lim(CALL, side, 20_000, qty)
    }

    #[test]
    fn r9_options_table() {
        let vol: (&str, &str) = ("option_vol", r#""0.5""#);
        type Case = (&'static str, Vec<(&'static str, &'static str)>, fn(&mut RiskEngine), OrderRequest, Reason);
        let cases: &[Case] = &[
            ("delta: 2 lots", vec![vol, ("max_delta", r#""10000""#)], |_| {}, call(Buy, 2), Accepted),
            ("delta: 3 lots", vec![vol, ("max_delta", r#""10000""#)], |_| {}, call(Buy, 3), MaxPortfolioDelta),
            (
                "delta: sold calls count too",
                vec![vol, ("max_delta", r#""10000""#)],
                |_| {},
                call(Sell, 3),
                MaxPortfolioDelta,
            ),
            (
                "delta: a filled perp short hedges",
                vec![vol, ("max_delta", r#""10000""#)],
                |e| {
                    assert!(e.check_and_open(0, 0, 1, &sell(650_000, 110)).is_ok());
                    e.order_filled_at(0, 1, 0, Ticks::new(650_000), Lots::new(110));
                },
                call(Buy, 3),
                Accepted,
            ),
            (
                "delta: an open (unfilled) perp short does not",
                vec![vol, ("max_delta", r#""10000""#)],
                |e| assert!(e.check_and_open(0, 0, 1, &sell(650_000, 110)).is_ok()),
                call(Buy, 3),
                MaxPortfolioDelta,
            ),
            (
                "delta: linear orders count (0.153 BTC)",
                vec![vol, ("max_delta", r#""10000""#)],
                |_| {},
                buy(650_000, 153),
                Accepted,
            ),
            (
                "delta: linear one lot over",
                vec![vol, ("max_delta", r#""10000""#)],
                |_| {},
                buy(650_000, 154),
                MaxPortfolioDelta,
            ),
            ("vega: 2 lots", vec![vol, ("max_vega", r#""30""#)], |_| {}, call(Buy, 2), Accepted),
            ("vega: 3 lots", vec![vol, ("max_vega", r#""30""#)], |_| {}, call(Buy, 3), MaxPortfolioVega),
            (
                "expiry notional at limit",
                vec![vol, ("max_expiry_notional", r#""13000""#)],
                |_| {},
                call(Buy, 2),
                Accepted,
            ),
            (
                "expiry notional one lot over",
                vec![vol, ("max_expiry_notional", r#""13000""#)],
                |_| {},
                call(Buy, 3),
                MaxExpiryNotional,
            ),
            (
                "expiry notional: perpetuals have none",
                vec![vol, ("max_expiry_notional", r#""1""#)],
                |_| {},
                buy(650_000, 500),
                Accepted,
            ),
            ("no vol: no greeks", vec![("max_vega", r#""30""#)], |_| {}, call(Buy, 1), NoGreeks),
            (
                "implied vol set",
                vec![("max_vega", r#""30""#)],
                |e| e.set_implied_vol(CALL, 5000),
                call(Buy, 2),
                Accepted,
            ),
            // ATM delta N(σ√T/2) grows with vol: 2 lots are 7146.6 at 50 %, 7658 at 90 %.
            ("policy vol, 2 lots under 7500", vec![vol, ("max_delta", r#""7500""#)], |_| {}, call(Buy, 2), Accepted),
            (
                "implied vol overrides policy vol",
                vec![vol, ("max_delta", r#""7500""#)],
                |e| e.set_implied_vol(CALL, 9000),
                call(Buy, 2),
                MaxPortfolioDelta,
            ),
            ("off by default", vec![vol], |_| {}, call(Buy, 5), Accepted),
        ];
        for (name, ov, setup, order, expect) in cases {
            let mut e = eng(ov);
            setup(&mut e);
            let d = e.check_order(0, 0, order);
            assert_eq!(d.seen().reason, *expect, "case `{name}`: {}", d.seen().message(e.instruments()));
        }
        let e = &mut eng(&[vol, ("max_delta", r#""10000""#)]);
        let d = e.check_order(0, 0, &call(Buy, 3));
        // 3 × 0.549738 × 65000 × 0.1 = 10719.9 (f64 greeks: compare the stable parts)
        let m = d.seen().message(e.instruments());
        assert!(m.starts_with("R9_MAX_DELTA: worst-case portfolio delta-notional 10719.8"), "{m}");
        assert!(m.ends_with(" would exceed limit 10000.00 (now 0.00)"), "{m}");
    }
}
