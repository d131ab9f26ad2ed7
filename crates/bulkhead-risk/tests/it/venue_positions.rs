//! Positions the venue changes on its own (liquidation, expiry settlement,
//! funding) reach risk, so R4 and R8 judge the real book.

use crate::common;

use bulkhead_abi::{Reason, Side::Buy};
use bulkhead_risk::{Scope, TradingState};
use common::*;

#[test]
fn a_liquidated_position_frees_the_position_limit() {
    let mut e = engine(&[]);
    // Long 2 BTC (the max): four 0.5 buys, filled.
    for id in 1..=4 {
        let req = buy(650_000, 500);
        assert!(e.check_order(0, id, &req).is_ok());
        e.order_opened(0, id, &req);
        e.order_filled(0, id, Buy, Ticks::new(650_000), Lots::new(500));
    }
    assert_eq!(e.position(0, BTC).get(), 2000);
    let d = e.check_order(0, 10, &buy(650_000, 1));
    assert_eq!(d.seen().reason, Reason::MaxPosition);
    // The venue liquidates the whole long at 640 000 ticks.
    e.position_changed_by_venue(
        0,
        BTC,
        11,
        Some((2000, 640_000)).map(|(q, p)| (Lots::new(q), Ticks::new(p))),
        Money::new(0),
    );
    assert_eq!(e.position(0, BTC).get(), 0);
    assert!(e.check_order(0, 12, &buy(650_000, 500)).is_ok());
    // The loss is realised in R8's books: 2 BTC × 1 000 USDT.
    assert_eq!(e.pnl(0).realised.get(), -2_000 * 100_000_000);
}

#[test]
fn funding_paid_counts_toward_the_loss_limit() {
    let mut e = engine(&[("loss_limit_reducing", r#""100""#), ("loss_limit_halt", r#""500""#)]);
    e.position_changed_by_venue(
        0,
        BTC,
        1,
        None.map(|(q, p)| (Lots::new(q), Ticks::new(p))),
        Money::new(-150 * 100_000_000),
    );
    assert_eq!(e.state(Scope::Strategy(0)), TradingState::Reducing);
    e.position_changed_by_venue(
        0,
        BTC,
        2,
        None.map(|(q, p)| (Lots::new(q), Ticks::new(p))),
        Money::new(-400 * 100_000_000),
    );
    assert_eq!(e.state(Scope::Strategy(0)), TradingState::Halted);
    // Unknown strategy or instrument: ignored, no panic.
    e.position_changed_by_venue(9, BTC, 3, Some((1, 1)).map(|(q, p)| (Lots::new(q), Ticks::new(p))), Money::new(1));
    e.position_changed_by_venue(0, 99, 3, Some((1, 1)).map(|(q, p)| (Lots::new(q), Ticks::new(p))), Money::new(1));
}
