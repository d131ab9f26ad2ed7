//! Run-time limit changes (`check_limit` / `apply_limit`): validated as the
//! policy file, capped by the firm policy, nothing half-applied, used by the
//! very next check.

use crate::common;

use bulkhead_abi::Reason;
use bulkhead_risk::{FirmPolicy, LimitError, RiskEngine, Scope, TradingState};
use common::*;

fn set(e: &mut RiskEngine, field: &str, value: &str) -> Result<String, LimitError> {
    let change = e.check_limit(0, field, value)?;
    let text = format!("{} {} -> {}", change.field(), change.before(), change.after());
    e.apply_limit(change);
    Ok(text)
}

fn invalid_field(r: Result<impl std::fmt::Debug, LimitError>) -> (String, String) {
    match r {
        Err(LimitError::Invalid { field, problem }) => (field, problem),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn with_firm(firm: &str) -> RiskEngine {
    let mut e = engine(&[]);
    e.set_firm_policy(FirmPolicy::from_toml(firm, "firm.toml", &instruments()).unwrap());
    e
}

#[test]
fn a_tighter_order_qty_is_used_by_the_very_next_check() {
    let mut e = engine(&[]);
    assert!(e.check_order(0, 1, &buy(650_000, 300)).is_ok());
    // BTC 0.5, ETH 10 (its own table) before.
    assert_eq!(set(&mut e, "max_order_qty", "0.2").unwrap(), "max_order_qty per instrument -> 0.2");
    let d = e.check_order(0, 2, &buy(650_000, 201));
    assert_eq!((d.seen().reason, d.seen().limit, d.seen().requested), (Reason::MaxOrderQty, 200, 201));
    assert!(e.check_order(0, 3, &buy(650_000, 200)).is_ok());
    // The top-level field sets every allowed instrument, overrides included
    // (ETH had 10 from its instrument_limits table): 0.2 ETH = 20 lots.
    let d = e.check_order(0, 4, &limit(ETH, bulkhead_abi::Side::Buy, 300_000, 21));
    assert_eq!((d.seen().reason, d.seen().limit), (Reason::MaxOrderQty, 20));
    // Loosening works the same way.
    set(&mut e, "max_order_qty", "1").unwrap();
    let d = e.check_order(0, 5, &buy(650_000, 600));
    assert!(d.is_ok(), "{}", d.seen().message(e.instruments()));
}

#[test]
fn one_instrument_can_be_changed_alone() {
    let mut e = engine(&[]);
    let r = set(&mut e, "instrument_limits.\"ETH-USDT-PERP\".max_position", "5").unwrap();
    assert_eq!(r, "instrument_limits.\"ETH-USDT-PERP\".max_position 40 -> 5");
    // unquoted form, same field
    let r = set(&mut e, "instrument_limits.ETH-USDT-PERP.max_order_qty", "3").unwrap();
    assert_eq!(r, "instrument_limits.\"ETH-USDT-PERP\".max_order_qty 10 -> 3");
    let d = e.check_order(0, 1, &limit(ETH, bulkhead_abi::Side::Buy, 300_000, 301));
    assert_eq!((d.seen().reason, d.seen().limit), (Reason::MaxOrderQty, 300));
    let eth = e.policy(0).unwrap().limits(ETH).copied().unwrap();
    assert_eq!((eth.max_order_qty.get(), eth.max_position.get()), (300, 500));
    // BTC untouched
    let btc = e.policy(0).unwrap().limits(BTC).copied().unwrap();
    assert_eq!((btc.max_order_qty.get(), btc.max_position.get()), (500, 2000));
    let values = e.limit_values(0);
    let get = |k: &str| values.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
    assert_eq!(get("instrument_limits.\"ETH-USDT-PERP\".max_position"), Some("5"));
    assert_eq!(get("instrument_limits.\"BTC-USDT-PERP\".max_position"), Some("2"));
    assert_eq!(get("max_position"), Some("per instrument"));
    assert_eq!(get("max_open_orders"), Some("20"));
    assert_eq!(get("max_gross_notional"), Some("250000.00"));
    assert_eq!(get("loss_limit_halt"), Some("off"));
}

#[test]
fn values_are_validated_like_the_policy_file_and_nothing_changes() {
    let mut e = engine(&[]);
    let before = e.policy(0).unwrap().clone();
    let cases: &[(&str, &str, &str, &str)] = &[
        ("max_order_qty", "0", "max_order_qty", "must be > 0"),
        ("max_order_qty", "-1", "max_order_qty", "must be > 0"),
        ("max_order_qty", "abc", "max_order_qty", "not a decimal number"),
        // 0.0005 BTC is not a multiple of the 0.001 lot
        ("max_position", "0.0005", "max_position", "not a multiple of lot size"),
        ("max_order_notional", "0.000000001", "max_order_notional", "8 decimals at most"),
        ("max_open_orders", "1.5", "max_open_orders", "not an integer"),
        ("max_open_orders", "0", "max_open_orders", "between 1 and 1000000"),
        ("max_orders_per_sec", "1000001", "max_orders_per_sec", "between 1 and 1000000"),
        ("price_collar_bps", "10001", "price_collar_bps", "between 1 and 10000"),
        (
            "instrument_limits.\"ETH-USDT-PERP\".max_order_qty",
            "0.001",
            "instrument_limits.\"ETH-USDT-PERP\".max_order_qty",
            "not a multiple of lot size",
        ),
    ];
    for (field, value, named, problem_has) in cases {
        let (f, p) = invalid_field(e.check_limit(0, field, value));
        assert_eq!(&f, named, "{field} = {value}");
        assert!(p.contains(problem_has), "{field} = {value}: {p}");
    }
    // A multi-instrument change fails whole if one instrument refuses it:
    // 0.005 is a BTC multiple but not an ETH one (lot 0.01).
    let (f, _) = invalid_field(e.check_limit(0, "max_order_qty", "0.005"));
    assert_eq!(f, "max_order_qty");
    // R8 ordering, as in the file.
    set(&mut e, "loss_limit_halt", "200").unwrap();
    let (f, p) = invalid_field(e.check_limit(0, "loss_limit_reducing", "200"));
    assert_eq!(f, "loss_limit_reducing");
    assert!(p.contains("smaller than `loss_limit_halt`"), "{p}");
    set(&mut e, "loss_limit_reducing", "100").unwrap();
    let (f, _) = invalid_field(e.check_limit(0, "loss_limit_halt", "50"));
    assert_eq!(f, "loss_limit_halt");
    // Unknown fields and instruments.
    for field in [
        "max_orders",
        "sides",
        "collar_reference",
        "instrument_limits.\"DOGE-USDT-PERP\".max_position",
        "instrument_limits.\"BTC-USDT-PERP\".price_collar_bps",
        "instrument_limits.BTC-USDT-PERP",
    ] {
        match e.check_limit(0, field, "1") {
            Err(LimitError::UnknownField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!(e.check_limit(7, "max_open_orders", "1"), Err(LimitError::UnknownStrategy(7)));
    // Only the two loss limits set above changed.
    let mut after = e.policy(0).unwrap().clone();
    after.loss_limit_halt = None;
    after.loss_limit_reducing = None;
    assert_eq!(after, before);
}

#[test]
fn values_above_the_firm_policy_are_refused() {
    let firm = "max_position = \"1\"\nmax_gross_notional = \"300000\"\nmax_net_notional = \"150000\"\n\
                max_orders_per_sec = 40\nmax_messages_per_sec = 100\n";
    let mut e = with_firm(firm);
    let before = e.policy(0).unwrap().clone();
    let cases: &[(&str, &str, &str)] = &[
        ("max_position", "1.001", "max_position"),
        ("max_order_qty", "2", "max_position"),
        ("instrument_limits.\"BTC-USDT-PERP\".max_position", "1.5", "max_position"),
        ("max_gross_notional", "300000.01", "max_gross_notional"),
        ("max_order_notional", "400000", "max_gross_notional"),
        ("max_net_notional", "150001", "max_net_notional"),
        ("max_orders_per_sec", "41", "max_orders_per_sec"),
        ("max_messages_per_sec", "101", "max_messages_per_sec"),
    ];
    for (field, value, firm_field) in cases {
        let (f, p) = invalid_field(e.check_limit(0, field, value));
        assert_eq!(&f, field);
        assert!(p.contains(&format!("above the firm policy's `{firm_field}`")), "{field}: {p}");
        assert!(p.contains("firm.toml"), "{p}");
    }
    assert_eq!(e.policy(0).unwrap(), &before);
    // At the cap is fine.
    set(&mut e, "max_position", "1").unwrap();
    set(&mut e, "max_orders_per_sec", "40").unwrap();
    set(&mut e, "max_gross_notional", "300000").unwrap();
    // Fields the firm does not cap are free.
    set(&mut e, "max_open_orders", "5000").unwrap();
}

#[test]
fn rate_changes_resize_the_token_buckets() {
    // 50 orders/s, 200 messages/s, starting full.
    let mut e = engine(&[("max_open_orders", "1000")]);
    for i in 0..10 {
        assert!(e.check_order(0, 1_000, &buy(650_000, 1 + i)).is_ok());
    }
    // 40 order tokens left; lowering to 5/s keeps at most 5.
    assert_eq!(set(&mut e, "max_orders_per_sec", "5").unwrap(), "max_orders_per_sec 50 -> 5");
    for i in 0..5 {
        let d = e.check_order(0, 1_000, &buy(650_000, 20 + i));
        assert!(d.is_ok(), "{i}: {}", d.seen().message(e.instruments()));
    }
    let d = e.check_order(0, 1_000, &buy(650_000, 30));
    assert_eq!((d.seen().reason, d.seen().limit), (Reason::OrderRateThrottle, 5));
    // 200 ms later one token at 5/s.
    assert!(e.check_order(0, 200_001_000, &buy(650_000, 31)).is_ok());
    assert_eq!(e.check_order(0, 200_001_000, &buy(650_000, 32)).seen().reason, Reason::OrderRateThrottle);
    // Message rate below the order rate: the message bucket decides first.
    // Lowering the message rate to 1/s leaves one message token (the new
    // burst), spent by the next check (which the empty order bucket refuses).
    set(&mut e, "max_messages_per_sec", "1").unwrap();
    assert_eq!(e.check_order(0, 200_001_000, &buy(650_000, 33)).seen().reason, Reason::OrderRateThrottle);
    let d = e.check_order(0, 200_001_000, &buy(650_000, 34));
    assert_eq!((d.seen().reason, d.seen().limit), (Reason::MessageRateThrottle, 1));
}

#[test]
fn open_orders_collar_and_notional_take_effect_at_once() {
    let mut e = engine(&[]);
    for id in 1..=3 {
        assert!(e.check_and_open(0, 1, id, &buy(650_000, id as i64)).is_ok());
    }
    set(&mut e, "max_open_orders", "3").unwrap();
    let d = e.check_order(0, 2, &buy(650_000, 9));
    assert_eq!((d.seen().reason, d.seen().limit), (Reason::MaxOpenOrders, 3));
    set(&mut e, "max_open_orders", "4").unwrap();
    // collar 200 bps -> 10 bps: 65100.0 is 15 bps over the mid
    assert!(e.check_order(0, 3, &buy(651_000, 9)).is_ok());
    set(&mut e, "price_collar_bps", "10").unwrap();
    assert_eq!(e.check_order(0, 4, &buy(651_000, 9)).seen().reason, Reason::PriceCollar);
    // order notional 40000 -> 1000: 0.02 BTC at 65000 = 1300
    set(&mut e, "max_order_notional", "1000").unwrap();
    let d = e.check_order(0, 5, &buy(650_000, 20));
    assert_eq!((d.seen().reason, d.seen().limit), (Reason::MaxOrderNotional, 1000 * 100_000_000));
    // gross notional: 6 lots open (390 USDT); 500 leaves room for 1 more lot only
    set(&mut e, "max_gross_notional", "500").unwrap();
    assert_eq!(e.check_order(0, 6, &buy(650_000, 2)).seen().reason, Reason::MaxGrossNotional);
}

#[test]
fn a_tightened_loss_limit_trips_at_once() {
    let mut e = engine(&[]);
    // long 1 BTC at 65000.0, then the mid falls to 64900.0: loss 100
    assert!(e.check_and_open(0, 1, 1, &buy(650_000, 500)).is_ok());
    assert!(e.check_and_open(0, 1, 2, &buy(650_000, 500)).is_ok());
    e.order_filled_at(0, 1, 1, Ticks::new(650_000), Lots::new(500));
    e.order_filled_at(0, 2, 1, Ticks::new(650_000), Lots::new(500));
    e.on_quote_at(BTC, 2, Ticks::new(648_995), Ticks::new(649_005));
    assert!(!e.has_pending());
    set(&mut e, "loss_limit_halt", "150").unwrap();
    assert!(!e.has_pending(), "loss 100 is under 150");
    set(&mut e, "loss_limit_halt", "99.99").unwrap();
    let t: Vec<_> = e.take_transitions().collect();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].scope, t[0].to, t[0].cause.reason),
        (Scope::Strategy(0), TradingState::Halted, Reason::LossLimitHalted)
    );
    assert_eq!(e.check_order(0, 3, &sell(649_000, 1)).seen().reason, Reason::StrategyHalted);
}
