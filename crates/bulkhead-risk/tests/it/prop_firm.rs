//! Property: with three strategies under one firm policy, whatever orders,
//! fills (any quantity up to the remainder), cancels, quotes and waits
//! happen, (a) each strategy's worst-case |position ± open orders| stays
//! within its max_position and its open orders within max_open_orders,
//! (b) the firm's worst case stays within the firm max_position, and (c)
//! the messages that got through each token bucket never exceed
//! `rate × (1 + elapsed seconds)` (bucket starts full, burst one second).

use crate::common;

use std::collections::BTreeMap;

use bulkhead_abi::{Reason, Side};
use bulkhead_risk::{FirmPolicy, OrderRef, RiskEngine};
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Submit { strat: u32, buy: bool, qty: i64, off_bps: i64, market: bool },
    Fill { pick: usize, pct: i64 },
    Cancel { strat: u32, pick: usize },
    Quote { shift_bps: i64 },
    Wait { ns: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..3u32, any::<bool>(), 1..500i64, -150..150i64, prop::bool::weighted(0.2))
            .prop_map(|(strat, buy, qty, off_bps, market)| Op::Submit { strat, buy, qty, off_bps, market }),
        3 => (any::<usize>(), 1..=100i64).prop_map(|(pick, pct)| Op::Fill { pick, pct }),
        2 => (0..3u32, any::<usize>()).prop_map(|(strat, pick)| Op::Cancel { strat, pick }),
        1 => (-100..100i64).prop_map(|shift_bps| Op::Quote { shift_bps }),
        1 => (0..300_000_000u64).prop_map(|ns| Op::Wait { ns }),
    ]
}

const STRAT_MAX_POS: i64 = 800;
const FIRM_MAX_POS: i64 = 1_500;
const MAX_OPEN: usize = 5;
const MSG_RATE: u64 = 15;
const FIRM_MSG_RATE: u64 = 30;
const FIRM_ORDER_RATE: u64 = 25;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn firm_and_strategy_limits_hold(ops in prop::collection::vec(op(), 1..250), stp in 0..4u8) {
        let overrides: &[(&str, &str)] = &[
            ("max_open_orders", "5"),
            ("max_orders_per_sec", "10"),
            ("max_messages_per_sec", "15"),
            ("price_collar_bps", "100"),
            ("max_position", r#""0.8""#),
            ("duplicate_window_ms", "5"),
        ];
        let mut e = RiskEngine::new(instruments());
        for _ in 0..3 {
            e.add_strategy(policy(overrides));
        }
        let stp_line = ["", "stp_mode = \"cancel_newest\"\n", "stp_mode = \"cancel_oldest\"\n", "stp_mode = \"cancel_both\"\n"][stp as usize];
        let firm = format!(
            "{stp_line}max_messages_per_sec = {FIRM_MSG_RATE}\nmax_orders_per_sec = {FIRM_ORDER_RATE}\n[instrument_limits.\"BTC-USDT-PERP\"]\nmax_position = \"1.5\"\n"
        );
        e.set_firm_policy(FirmPolicy::from_toml(&firm, "firm.toml", &instruments()).unwrap());
        let mut mid = 650_000i64;
        e.on_quote_at(BTC, 0, Ticks::new(mid - 5), Ticks::new(mid + 5));
        // (strategy, id) -> (side, remaining)
        let mut orders: BTreeMap<(u32, u64), (Side, i64)> = BTreeMap::new();
        let mut pos = [0i64; 3];
        let mut next_id = 1u64;
        let mut now = 0u64;
        let mut through_strategy = [0u64; 3]; // got through the strategy message bucket
        let mut through_firm = 0u64; // got through the firm message bucket
        let mut cancels: Vec<OrderRef> = Vec::new();
        for op in ops {
            match op {
                Op::Submit { strat, buy, qty, off_bps, market } => {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let req = if market { common::market(BTC, side, qty) } else { limit(BTC, side, (mid * (10_000 + off_bps) / 10_000).max(1), qty) };
                    let d = e.check_order_stp(strat, now, &req, &mut cancels);
                    if d.seen().reason != Reason::MessageRateThrottle { through_strategy[strat as usize] += 1; }
                    if !matches!(d.seen().reason, Reason::MessageRateThrottle | Reason::OrderRateThrottle | Reason::FirmMessageRateThrottle) { through_firm += 1; }
                    for c in &cancels {
                        prop_assert!(orders.remove(&(c.strategy, c.order_id)).is_some(), "cancel of an unknown order");
                        e.order_closed(c.strategy, c.order_id);
                    }
                    if d.is_ok() {
                        e.order_opened(strat, next_id, &req);
                        orders.insert((strat, next_id), (side, qty));
                        next_id += 1;
                    }
                }
                Op::Fill { pick, pct } => {
                    if !orders.is_empty() {
                        let key = *orders.keys().nth(pick % orders.len()).unwrap();
                        let (side, rem) = orders[&key];
                        let q = (rem * pct / 100).max(1);
                        e.order_filled_at(key.0, key.1, now, Ticks::new(mid), Lots::new(q));
                        pos[key.0 as usize] += side.sign() * q;
                        if q == rem { orders.remove(&key); } else { orders.get_mut(&key).unwrap().1 -= q; }
                    }
                }
                Op::Cancel { strat, pick } => {
                    let d = e.check_cancel(strat, now);
                    if d.seen().reason != Reason::MessageRateThrottle { through_strategy[strat as usize] += 1; }
                    if d.is_ok() {
                        through_firm += 1;
                        let mine: Vec<_> = orders.keys().filter(|k| k.0 == strat).copied().collect();
                        if !mine.is_empty() {
                            let key = mine[pick % mine.len()];
                            e.order_closed(key.0, key.1);
                            orders.remove(&key);
                        }
                    }
                }
                Op::Quote { shift_bps } => {
                    mid = (mid * (10_000 + shift_bps) / 10_000).max(10);
                    e.on_quote_at(BTC, now, Ticks::new(mid - 5), Ticks::new(mid + 5));
                }
                Op::Wait { ns } => now += ns,
            }
            let secs_cap = |rate: u64| rate + rate * now / 1_000_000_000;
            let (mut f_pos, mut f_buy, mut f_sell) = (0i64, 0i64, 0i64);
            for s in 0..3u32 {
                let i = s as usize;
                prop_assert_eq!(e.position(s, BTC).get(), pos[i]);
                let mine = orders.iter().filter(|(k, _)| k.0 == s);
                let ob: i64 = mine.clone().filter(|(_, o)| o.0 == Side::Buy).map(|(_, o)| o.1).sum();
                let os: i64 = mine.clone().filter(|(_, o)| o.0 == Side::Sell).map(|(_, o)| o.1).sum();
                prop_assert_eq!(raw2(e.open_qty(s, BTC)), (ob, os));
                prop_assert!(mine.count() <= MAX_OPEN);
                let worst = (pos[i] + ob).abs().max((pos[i] - os).abs());
                prop_assert!(worst <= STRAT_MAX_POS, "strategy {} worst {}", s, worst);
                prop_assert!(through_strategy[i] <= secs_cap(MSG_RATE), "strategy {} sent {} messages by {} ns", s, through_strategy[i], now);
                f_pos += pos[i]; f_buy += ob; f_sell += os;
            }
            prop_assert_eq!(raw3(e.firm_exposure(BTC)), (f_pos, f_buy, f_sell));
            let firm_worst = (f_pos + f_buy).abs().max((f_pos - f_sell).abs());
            prop_assert!(firm_worst <= FIRM_MAX_POS, "firm worst {}", firm_worst);
            prop_assert!(through_firm <= secs_cap(FIRM_MSG_RATE), "firm sent {} messages by {} ns", through_firm, now);
        }
    }
}
