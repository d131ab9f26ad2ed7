//! Derivatives, latency, L2 queue and STP scenarios, each checked against
//! figures computed by hand in the comments.

#![allow(clippy::cast_possible_truncation, reason = "test fixtures: small indices and float references")]
use super::*;
use crate::tests::{level, quote};
use bulkhead_model::{InstrumentKind, InstrumentSpec, MONEY_SCALE, OptionType, black76, detmath};

const B: Side = Side::Buy;
const S: Side = Side::Sell;
const USD: i64 = MONEY_SCALE;

fn spec(sym: &str, kind: InstrumentKind) -> InstrumentSpec {
    InstrumentSpec {
        symbol: sym.into(),
        kind,
        tick_size: "1".into(),
        lot_size: "1".into(),
        multiplier: "1".into(),
        ..Default::default()
    }
}

fn build(specs: Vec<InstrumentSpec>, config: VenueConfig) -> SimVenue {
    let inst = specs.iter().enumerate().map(|(k, s)| Instrument::from_spec(k as u32, s).unwrap()).collect();
    SimVenue::with_config(inst, config)
}

fn order(id: u64, account: u32, instrument: u32, side: Side, price: i64, qty: i64) -> NewOrder {
    NewOrder {
        order_id: id,
        account,
        instrument,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        price,
        qty,
        reduce_only: false,
    }
}
fn market(id: u64, account: u32, instrument: u32, side: Side, qty: i64) -> NewOrder {
    NewOrder {
        order_type: OrderType::Market,
        tif: TimeInForce::Ioc,
        price: 0,
        ..order(id, account, instrument, side, 0, qty)
    }
}

/// Perpetual, tick 1 USD × lot 1: one tick·lot = 1 USD. IM 10 %, MM 5 %,
/// funding 0.01 % every 1000 ns.
fn perp() -> InstrumentSpec {
    InstrumentSpec {
        initial_margin_bps: 1000,
        maintenance_margin_bps: 500,
        funding_interval_ns: Some(1000),
        funding_rate: Some("0.0001".into()),
        ..spec("PERP", InstrumentKind::Perpetual)
    }
}

fn notices(v: &mut SimVenue) -> Vec<VenueNotice> {
    let mut n = Vec::new();
    v.take_notices(&mut n);
    n
}

#[test]
fn funding_is_paid_by_longs_to_shorts_at_mark() {
    let mut v = build(vec![perp()], VenueConfig::default());
    let mut out = Vec::new();
    v.on_quote(10, 0, quote(99, 50, 101, 50), &mut out);
    v.submit_order(10, &market(1, 1, 0, B, 10), &mut out); // long 10 @ 101
    v.submit_order(10, &market(2, 2, 0, S, 4), &mut out); // short 4 @ 99
    assert!(notices(&mut v).is_empty());
    out.clear();
    // Funding time 1000 (first multiple after the clock started at 10); mark =
    // mid (99 + 101) / 2 = 100. Long: 10 × 100 USD × 0.0001 = 0.1 USD paid;
    // short: 4 × 100 × 0.0001 = 0.04 USD received.
    v.on_quote(1500, 0, quote(99, 50, 101, 50), &mut out);
    let rate = Decimal::parse("0.0001").unwrap();
    assert_eq!(
        notices(&mut v),
        vec![
            VenueNotice::Funding {
                ts_ns: 1000,
                account: 1,
                instrument: 0,
                qty: 10,
                mark: 100,
                rate,
                amount: -USD / 10
            },
            VenueNotice::Funding {
                ts_ns: 1000,
                account: 2,
                instrument: 0,
                qty: -4,
                mark: 100,
                rate,
                amount: 4 * USD / 100
            },
        ]
    );
    let p = v.position(1, 0);
    assert_eq!((p.funding, p.realised), (-USD / 10, -USD / 10));
    // A negative rate from data: shorts pay. Two funding times (2000, 3000) pass.
    v.set_funding_rate(0, Decimal::parse("-0.0005").unwrap());
    v.advance(3000, &mut out);
    let n = notices(&mut v);
    assert_eq!(n.len(), 4);
    // long receives 2 × 10 × 100 × 0.0005 = 1 USD in total
    assert_eq!(v.position(1, 0).funding, -USD / 10 + USD);
    assert_eq!(v.position(2, 0).funding, 4 * USD / 100 - 2 * 4 * 100 * USD * 5 / 10_000);
}

#[test]
fn initial_margin_and_liquidation_at_mark() {
    let cfg = VenueConfig { liquidation_fee_ppm: 5000, ..VenueConfig::default() };
    let mut v = build(vec![perp()], cfg);
    let mut out = Vec::new();
    v.set_collateral(1, 100 * USD);
    v.on_quote(10, 0, quote(99, 50, 101, 50), &mut out);
    // IM of 10 @ 101 = 10 % × 1010 = 101 USD > 100 USD equity → rejected.
    v.submit_order(10, &market(1, 1, 0, B, 10), &mut out);
    assert_eq!(
        out,
        vec![VenueEvent::Rejected { order_id: 1, account: 1, instrument: 0, reason: Reason::InsufficientMargin }]
    );
    v.set_collateral(1, 150 * USD);
    out.clear();
    v.submit_order(10, &market(2, 1, 0, B, 10), &mut out); // long 10 @ 101, no fees
    v.submit_order(10, &order(3, 1, 0, S, 120, 1), &mut out); // reducing: no IM needed
    assert_eq!(v.order(3).map(|o| o.remaining), Some(1));
    // equity = 150 + 10 × (m − 101); maintenance = 5 % × 10 × m.
    // mid 91: equity 50 ≥ 45.5 → nothing.
    v.on_quote(20, 0, quote(90, 50, 92, 50), &mut out);
    assert_eq!(v.account_margin(1), Some((50 * USD, 91 * USD, 455 * USD / 10)));
    assert!(notices(&mut v).is_empty());
    // mid 90: equity 40 < 45 → liquidate at 90: PnL (90 − 101) × 10 = −110,
    // fee 0.5 % × 900 = 4.5 USD; the open order is cancelled first.
    out.clear();
    v.on_quote(30, 0, quote(89, 50, 91, 50), &mut out);
    assert_eq!(
        out,
        vec![VenueEvent::Cancelled {
            order_id: 3,
            account: 1,
            instrument: 0,
            remaining: Lots::new(1),
            reason: Reason::CancelledByLiquidation
        }]
    );
    assert_eq!(
        notices(&mut v),
        vec![VenueNotice::Liquidation {
            ts_ns: 30,
            account: 1,
            instrument: 0,
            side: S,
            qty: 10,
            price: 90,
            fee: 45 * USD / 10,
            pnl: -110 * USD,
            equity: 40 * USD,
            maintenance: 45 * USD,
        }]
    );
    let p = v.position(1, 0);
    assert_eq!((p.qty, p.realised, p.fees), (0, -110 * USD, 45 * USD / 10));
    // 150 − 110 − 4.5 = 35.5 USD left, no position → no maintenance.
    assert_eq!(v.account_margin(1), Some((355 * USD / 10, 0, 0)));
}

fn future(expiry: u64) -> InstrumentSpec {
    InstrumentSpec { expiry: Some(expiry), ..spec("FUT", InstrumentKind::Future) }
}

#[test]
fn future_settles_explicitly_and_then_rejects_orders() {
    let mut v = build(vec![future(5000)], VenueConfig::default());
    let mut out = Vec::new();
    v.on_quote(10, 0, quote(99, 50, 101, 50), &mut out);
    v.submit_order(10, &market(1, 1, 0, B, 2), &mut out); // long 2 @ 101
    v.submit_order(10, &market(2, 2, 0, S, 3), &mut out); // short 3 @ 99
    v.submit_order(10, &order(3, 2, 0, B, 90, 1), &mut out);
    out.clear();
    // Settle at 110: long (110 − 101) × 2 = +18 USD, short (99 − 110) × 3 = −33 USD.
    assert!(v.settle(5000, 0, 110, &mut out));
    assert_eq!(
        out,
        vec![VenueEvent::Cancelled {
            order_id: 3,
            account: 2,
            instrument: 0,
            remaining: Lots::new(1),
            reason: Reason::CancelledAtExpiry
        }]
    );
    assert_eq!(
        notices(&mut v),
        vec![
            VenueNotice::Settlement { ts_ns: 5000, account: 1, instrument: 0, qty: 2, price: 110, pnl: 18 * USD },
            VenueNotice::Settlement { ts_ns: 5000, account: 2, instrument: 0, qty: -3, price: 110, pnl: -33 * USD },
            VenueNotice::InstrumentSettled { ts_ns: 5000, instrument: 0, price: 110 },
        ]
    );
    assert_eq!((v.position(1, 0).qty, v.position(1, 0).realised), (0, 18 * USD));
    assert!(!v.settle(5001, 0, 111, &mut out));
    out.clear();
    v.submit_order(6000, &order(4, 1, 0, B, 100, 1), &mut out);
    assert_eq!(
        out,
        vec![VenueEvent::Rejected { order_id: 4, account: 1, instrument: 0, reason: Reason::InstrumentExpired }]
    );
}

#[test]
fn options_settle_at_intrinsic_after_their_underlying_and_pay_deribit_fees() {
    let opt = |sym: &str, ty, strike: &str| InstrumentSpec {
        tick_size: "0.1".into(),
        expiry: Some(5000),
        strike: Some(strike.into()),
        option_type: Some(ty),
        underlying: Some("FUT".into()),
        ..spec(sym, InstrumentKind::Option)
    };
    let cfg = VenueConfig { fees: FeeSchedule { maker_ppm: 0, taker_ppm: 300 }, ..VenueConfig::default() };
    let mut v =
        build(vec![future(5000), opt("C100", OptionType::Call, "100"), opt("P105", OptionType::Put, "105")], cfg);
    let mut out = Vec::new();
    v.on_quote(10, 0, quote(109, 50, 111, 50), &mut out); // underlying mark 110
    v.on_quote(10, 1, quote(58, 50, 60, 50), &mut out); // call 5.8 / 6.0
    v.on_quote(10, 2, quote(1, 50, 2, 50), &mut out); // put 0.1 / 0.2
    out.clear();
    v.submit_order(10, &market(1, 1, 1, B, 1), &mut out); // buy call @ 6.0
    v.submit_order(10, &market(2, 1, 2, B, 1), &mut out); // buy put @ 0.2
    let fees: Vec<i64> =
        out.iter().filter_map(|e| if let VenueEvent::Fill { fee, .. } = e { Some(fee.get()) } else { None }).collect();
    // call: 0.03 % × 110 = 0.033 USD < cap 12.5 % × 6.0 = 0.75 → 0.033
    // put: 0.033 > cap 12.5 % × 0.2 = 0.025 → 0.025
    assert_eq!(fees, vec![33 * USD / 1000, 25 * USD / 1000]);
    notices(&mut v);
    // Automatic expiry at 5000 (reached by the next event): the future settles at
    // its mark 110 first, then the call at 110 − 100 = 10.0 (100 ticks): PnL
    // (10.0 − 6.0) × 1 = +4 USD; the put at 0: PnL −0.2 USD.
    v.advance(6000, &mut out);
    assert_eq!(
        notices(&mut v),
        vec![
            VenueNotice::InstrumentSettled { ts_ns: 5000, instrument: 0, price: 110 },
            VenueNotice::Settlement { ts_ns: 5000, account: 1, instrument: 1, qty: 1, price: 100, pnl: 4 * USD },
            VenueNotice::InstrumentSettled { ts_ns: 5000, instrument: 1, price: 100 },
            VenueNotice::Settlement { ts_ns: 5000, account: 1, instrument: 2, qty: 1, price: 0, pnl: -USD / 5 },
            VenueNotice::InstrumentSettled { ts_ns: 5000, instrument: 2, price: 0 },
        ]
    );
}

#[test]
fn option_marks_come_from_black76_with_per_expiry_vol() {
    let expiry = (black76::NS_PER_YEAR * 0.5) as u64;
    let call = InstrumentSpec {
        tick_size: "0.1".into(),
        expiry: Some(expiry),
        strike: Some("100".into()),
        option_type: Some(OptionType::Call),
        underlying: Some("PERP".into()),
        ..spec("C", InstrumentKind::Option)
    };
    let mut v = build(vec![perp(), call], VenueConfig::default());
    let mut out = Vec::new();
    v.on_quote(0, 0, quote(109, 5, 111, 5), &mut out);
    assert_eq!(v.mark(1), None, "no vol yet");
    v.set_vol(expiry, 0.5);
    let t = black76::years_between(0, expiry);
    let want = (black76::price(OptionType::Call, 110.0, 100.0, t, 0.5, 0.0) / 0.1).round() as i64;
    assert_eq!(v.mark(1), Some(want));
    // F=110, K=100, T=0.5, σ=50 %, r=0: d1 = 0.44637, d2 = 0.09282,
    // c = 110·N(d1) − 100·N(d2) = 20.2593 → 203 ticks of 0.1.
    assert_eq!(want, 203);
}

#[test]
fn latency_holds_orders_until_arrival() {
    let cfg = VenueConfig { order_latency_ns: 100, md_latency_ns: 50, ..VenueConfig::default() };
    let mut v = build(vec![spec("X", InstrumentKind::Spot)], cfg);
    let mut out = Vec::new();
    v.on_quote(0, 0, quote(99, 5, 101, 5), &mut out);
    // Decided at 10, reaches the book at 10 + 50 + 100 = 160.
    v.submit_order(10, &order(1, 1, 0, B, 99, 3), &mut out);
    assert!(out.is_empty());
    assert_eq!(v.pending_len(), 1);
    // A print at 99 before arrival cannot fill it.
    v.on_trade(159, 0, Ticks::new(99), Lots::new(50), S, &mut out);
    assert!(out.is_empty());
    // At 160 the order arrives before the quote of that instant is applied;
    // it joins behind the 5 displayed lots.
    v.on_quote(160, 0, quote(99, 5, 101, 5), &mut out);
    assert_eq!(out, vec![VenueEvent::Accepted { order_id: 1, account: 1, instrument: 0 }]);
    assert_eq!(v.order(1).map(|o| o.queue_ahead), Some(5));
    out.clear();
    // Cancel decided at 200 arrives at 350; a print at 300 (7 lots: 5 ahead, 2
    // for us) fills 2 first, then the cancel takes the last lot.
    assert!(v.cancel(200, 1, Reason::CancelledByStrategy, &mut out));
    v.on_trade(300, 0, Ticks::new(99), Lots::new(7), S, &mut out);
    v.advance(350, &mut out);
    assert_eq!(
        out,
        vec![
            VenueEvent::Fill {
                order_id: 1,
                account: 1,
                instrument: 0,
                side: B,
                price: Ticks::new(99),
                qty: Lots::new(2),
                fee: Money::ZERO,
                maker: true,
                remaining: Lots::new(1)
            },
            VenueEvent::Cancelled {
                order_id: 1,
                account: 1,
                instrument: 0,
                remaining: Lots::new(1),
                reason: Reason::CancelledByStrategy
            },
        ]
    );
    assert!(!v.cancel(400, 1, Reason::CancelledByStrategy, &mut out));
}

#[test]
fn l2_queue_position_advances_on_prints_and_proportional_cancels() {
    let mut v = build(vec![spec("X", InstrumentKind::Spot)], VenueConfig::default());
    let mut out = Vec::new();
    v.on_book_level(1, 0, level(B, 99, 10), &mut out);
    v.on_book_level(1, 0, level(S, 101, 10), &mut out);
    v.on_book_level(1, 0, level(B, 98, 7), &mut out);
    assert_eq!(v.best_quote(0), Some(quote(99, 10, 101, 10)));
    v.submit_order(2, &order(1, 1, 0, B, 99, 3), &mut out);
    v.submit_order(2, &order(2, 1, 0, B, 98, 1), &mut out);
    let q = |v: &SimVenue| v.order(1).unwrap().queue_ahead;
    assert_eq!((q(&v), v.order(2).unwrap().queue_ahead), (10, 7), "behind the displayed size of each level");
    // Rows: (update or print, queue ahead afterwards, why)
    let steps: &[(char, i64, i64)] = &[
        ('L', 6, 6),  // 10 → 6, no print: 4 cancelled, all 10 were ahead: 10 − 4·10/10 = 6
        ('L', 16, 6), // growth joins behind us
        ('L', 8, 3),  // 8 cancelled of 16: cut 8·6/16 = 3
        ('T', 2, 1),  // print of 2 erodes the queue: 3 − 2 = 1
        ('L', 5, 1),  // 8 → 5: 2 explained by the print, 1 cancel of base 6: cut 1·1/6 = 0
    ];
    for &(k, n, want) in steps {
        match k {
            'L' => v.on_book_level(3, 0, level(B, 99, n), &mut out),
            _ => v.on_trade(3, 0, Ticks::new(99), Lots::new(n), S, &mut out),
        }
        assert_eq!(q(&v), want, "{k} {n}");
    }
    out.clear();
    // A print of 4 at 99: 1 ahead, then 3 fill us; nothing reaches 98.
    v.on_trade(4, 0, Ticks::new(99), Lots::new(4), S, &mut out);
    assert_eq!(
        out,
        vec![VenueEvent::Fill {
            order_id: 1,
            account: 1,
            instrument: 0,
            side: B,
            price: Ticks::new(99),
            qty: Lots::new(3),
            fee: Money::ZERO,
            maker: true,
            remaining: Lots::new(0)
        }]
    );
}

#[test]
fn partial_fills_across_resting_levels_and_market() {
    let mut v = build(vec![spec("X", InstrumentKind::Spot)], VenueConfig::default());
    let mut out = Vec::new();
    v.on_quote(0, 0, quote(90, 5, 102, 2), &mut out);
    v.submit_order(0, &order(1, 2, 0, S, 101, 1), &mut out);
    v.submit_order(0, &order(2, 3, 0, S, 102, 1), &mut out);
    v.submit_order(0, &order(3, 2, 0, S, 103, 5), &mut out);
    out.clear();
    // Buy 6 up to 103: 101 (order 1), 102 market 2 then order 2, 103 order 3 for 2.
    v.submit_order(1, &order(9, 1, 0, B, 103, 6).tif_ioc(), &mut out);
    let fills: Vec<(u64, i64, i64)> = out
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Fill { order_id, price, qty, .. } => Some((*order_id, price.get(), qty.get())),
            _ => None,
        })
        .collect();
    assert_eq!(fills, vec![(9, 101, 1), (1, 101, 1), (9, 102, 2), (9, 102, 1), (2, 102, 1), (9, 103, 2), (3, 103, 2)]);
    assert_eq!(v.order(3).unwrap().remaining, 3);
}

trait Ioc {
    fn tif_ioc(self) -> Self;
}
impl Ioc for NewOrder {
    fn tif_ioc(mut self) -> Self {
        self.tif = TimeInForce::Ioc;
        self
    }
}

#[test]
fn self_trade_prevention_modes() {
    let run = |stp| {
        let mut v = build(vec![spec("X", InstrumentKind::Spot)], VenueConfig { stp, ..VenueConfig::default() });
        let mut out = Vec::new();
        v.submit_order(0, &order(1, 1, 0, S, 101, 2), &mut out);
        v.submit_order(0, &order(2, 2, 0, S, 102, 2), &mut out);
        out.clear();
        v.submit_order(0, &order(3, 1, 0, B, 102, 3), &mut out);
        (out, v.order(1).is_some(), v.order(3).map(|o| o.remaining))
    };
    let acc = VenueEvent::Accepted { order_id: 3, account: 1, instrument: 0 };
    let cx = |id, rem| VenueEvent::Cancelled {
        order_id: id,
        account: 1,
        instrument: 0,
        remaining: Lots::new(rem),
        reason: Reason::SelfTrade,
    };
    assert_eq!(run(StpMode::CancelNewest), (vec![acc, cx(3, 3)], true, None));
    assert_eq!(run(StpMode::CancelBoth), (vec![acc, cx(1, 2), cx(3, 3)], false, None));
    let (ev, old_open, rest) = run(StpMode::CancelOldest);
    assert_eq!(&ev[..2], &[acc, cx(1, 2)]);
    assert_eq!(ev.len(), 4, "then taker + maker fills of 2 @ 102 from account 2: {ev:?}");
    assert_eq!((old_open, rest), (false, Some(1)));
}

#[test]
fn min_notional_is_enforced() {
    let s = InstrumentSpec { min_notional: Some("500".into()), ..spec("X", InstrumentKind::Spot) };
    let mut v = build(vec![s], VenueConfig::default());
    let mut out = Vec::new();
    v.submit_order(0, &order(1, 1, 0, B, 99, 5), &mut out); // 495 USD
    v.submit_order(0, &order(2, 1, 0, B, 100, 5), &mut out); // 500 USD
    assert_eq!(
        out,
        vec![
            VenueEvent::Rejected { order_id: 1, account: 1, instrument: 0, reason: Reason::BelowMinNotional },
            VenueEvent::Accepted { order_id: 2, account: 1, instrument: 0 },
        ]
    );
}

#[test]
fn venues_are_independent_and_configs_deserialize() {
    let cfg: VenueConfig = toml::from_str(
        r#"
        name = "deribit-sim"
        fees = { maker_ppm = -100, taker_ppm = 500 }
        stp = "cancel_oldest"
        order_latency_ns = 2000000
        md_latency_ns = 1000000
        mark = "index_plus_basis"
        liquidation_fee_ppm = 5000
        option_fee_cap_ppm = 125000
        rate = 0.01
        default_vol = 0.6
        "#,
    )
    .unwrap();
    assert_eq!(cfg.stp, StpMode::CancelOldest);
    assert_eq!(cfg.mark, MarkSource::IndexPlusBasis);
    assert!(toml::from_str::<VenueConfig>("nme = \"x\"").is_err(), "unknown fields are refused");
    let d: VenueConfig = toml::from_str("name = \"b\"").unwrap();
    assert_eq!(d, VenueConfig { name: "b".into(), ..VenueConfig::default() });

    let mut a =
        build(vec![spec("X", InstrumentKind::Spot)], VenueConfig { name: "a".into(), ..VenueConfig::default() });
    let mut b = build(
        vec![spec("X", InstrumentKind::Spot)],
        VenueConfig { name: "b".into(), fees: FeeSchedule { maker_ppm: 0, taker_ppm: 1000 }, ..VenueConfig::default() },
    );
    let (mut oa, mut ob) = (Vec::new(), Vec::new());
    a.on_quote(0, 0, quote(99, 5, 101, 5), &mut oa);
    b.on_quote(0, 0, quote(99, 5, 101, 5), &mut ob);
    a.submit_order(0, &market(1, 1, 0, B, 1), &mut oa);
    b.submit_order(0, &market(1, 1, 0, B, 1), &mut ob);
    assert_eq!((a.name(), b.name()), ("a", "b"));
    assert_eq!((a.position(1, 0).fees, b.position(1, 0).fees), (0, 101 * USD / 1000));

    // Index + basis marks.
    let mut v = build(vec![perp()], cfg);
    v.set_index(0, 0, 100, &mut oa);
    v.set_basis(0, 3);
    assert_eq!(v.mark(0), Some(103));
}

#[test]
fn black76_greeks_match_hulls_published_figures() {
    // Hull, "Options, Futures, and Other Derivatives" (8th ed.), ch. 19 "The
    // Greek Letters", the running example: a European call on a
    // non-dividend stock, S0 = 49, K = 50, r = 5 %, σ = 20 %, T = 20 weeks
    // (0.3846 y). Published: price 2.40 (§19.1), delta 0.522 (§19.4), theta
    // −4.31 per year (§19.5), gamma 0.066 (§19.6), vega 12.1 (§19.8).
    // A stock option is Black-76 on the forward F = S0·e^{rT}, so
    // ∂C/∂S = e^{rT}·delta_F, Γ_S = e^{2rT}·Γ_F, vega is the same, and
    // Θ_S (S fixed) = Θ_F (F fixed) − r·S0·N(d1).
    let (s0, k, r, vol, t): (f64, f64, f64, f64, f64) = (49.0, 50.0, 0.05, 0.20, 20.0 / 52.0);
    let f = s0 * detmath::exp(r * t);
    let c = black76::price(OptionType::Call, f, k, t, vol, r);
    let g = black76::greeks(OptionType::Call, f, k, t, vol, r);
    let delta_s = g.delta * detmath::exp(r * t);
    let gamma_s = g.gamma * detmath::exp(2.0 * r * t);
    let theta_s = g.theta - r * s0 * delta_s;
    let near = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol;
    assert!(near(c, 2.40, 0.005), "price {c}");
    assert!(near(delta_s, 0.522, 0.0005), "delta {delta_s}");
    assert!(near(gamma_s, 0.066, 0.0005), "gamma {gamma_s}");
    assert!(near(g.vega, 12.1, 0.05), "vega {}", g.vega);
    assert!(near(theta_s, -4.31, 0.005), "theta {theta_s}");
    // Put-call parity of the greeks (Black-76): delta_c − delta_p = e^{-rT}.
    let p = black76::greeks(OptionType::Put, f, k, t, vol, r);
    assert!(near(g.delta - p.delta, detmath::exp(-r * t), 1e-12));
}

#[test]
fn inverse_perpetual_funding_and_margin_in_base_currency() {
    // BTCUSD inverse perpetual: tick 0.5 USD, 1 contract = 100 USD, margined
    // and settled in BTC (money units 1e-8 BTC). IM 1 %, MM 5 %, funding
    // 0.01 % every 1000 ns; marks from data (`external`).
    let spec = InstrumentSpec {
        tick_size: "0.5".into(),
        multiplier: "100".into(),
        inverse: true,
        initial_margin_bps: 100,
        maintenance_margin_bps: 500,
        funding_interval_ns: Some(1000),
        funding_rate: Some("0.0001".into()),
        ..spec("BTCUSD", InstrumentKind::Perpetual)
    };
    let mut v = build(vec![spec], VenueConfig { mark: MarkSource::External, ..VenueConfig::default() });
    let mut out = Vec::new();
    let btc = USD; // 1e8 money units = 1 BTC here
    v.set_collateral(1, 6 * btc / 10); // 0.6 BTC
    v.set_mark(10, 0, Some(100_000), &mut out); // 50 000 USD
    v.on_quote(10, 0, quote(99_998, 5_000, 100_000, 5_000), &mut out);
    v.submit_order(10, &market(1, 1, 0, B, 1_000), &mut out); // long 1000 × 100 USD @ 50 000
    assert_eq!(v.position(1, 0).qty, 1_000);
    // Value = 100 000 USD / 50 000 = 2 BTC. Funding at 1000: the long pays
    // 2 BTC × 0.0001 = 0.0002 BTC = 20 000 units.
    v.advance(1500, &mut out);
    match notices(&mut v).as_slice() {
        [VenueNotice::Funding { ts_ns: 1000, account: 1, qty: 1_000, mark: 100_000, amount, .. }] => {
            assert_eq!(*amount, -20_000)
        }
        other => panic!("{other:?}"),
    }
    // Equity 0.6 − 0.0002 BTC; IM 1 % × 2 BTC = 0.02; MM 5 % × 2 = 0.1 BTC.
    assert_eq!(v.account_margin(1), Some((59_980_000, 2_000_000, 10_000_000)));
    // Mark 62 500: value 1.6 BTC, the long gains 2 − 1.6 = 0.4 BTC; MM 0.08 BTC.
    v.set_mark(1600, 0, Some(125_000), &mut out);
    assert_eq!(v.account_margin(1), Some((99_980_000, 1_600_000, 8_000_000)));
    // Mark 40 000: value 2.5 BTC, loss 0.5 BTC → equity 0.0998 BTC < MM
    // 5 % × 2.5 = 0.125 BTC: liquidated at the mark, realising −0.5 BTC.
    v.set_mark(1700, 0, Some(80_000), &mut out);
    match notices(&mut v).as_slice() {
        [
            VenueNotice::Liquidation {
                account: 1, qty: 1_000, price: 80_000, pnl, equity, maintenance, side: S, ..
            },
        ] => {
            assert_eq!((*pnl, *equity, *maintenance), (-50_000_000, 9_980_000, 12_500_000))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(v.position(1, 0).qty, 0);
}

#[test]
fn configured_settlement_price_settles_a_future_without_quotes() {
    // A future whose market went quiet: no quote, no mark at expiry (mid
    // source, never quoted). Without a settlement price it would only stop
    // trading; with one it settles at it.
    let mut v = build(vec![future(1000)], VenueConfig::default());
    v.set_settlement_price(0, 105);
    let mut out = Vec::new();
    // Two accounts trade with each other (no market quote at all).
    v.submit_order(10, &order(1, 1, 0, S, 100, 3), &mut out);
    v.submit_order(10, &order(2, 2, 0, B, 100, 3), &mut out);
    assert_eq!(v.mark(0), None);
    v.advance(1000, &mut out);
    let n = notices(&mut v);
    // long 3 @ 100 settles at 105: +15 USD; the short −15 USD.
    assert_eq!(
        n,
        vec![
            VenueNotice::Settlement { ts_ns: 1000, account: 1, instrument: 0, qty: -3, price: 105, pnl: -15 * USD },
            VenueNotice::Settlement { ts_ns: 1000, account: 2, instrument: 0, qty: 3, price: 105, pnl: 15 * USD },
            VenueNotice::InstrumentSettled { ts_ns: 1000, instrument: 0, price: 105 },
        ]
    );
}
