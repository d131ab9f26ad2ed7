//! Property: whatever sequence of orders, fills, cancels, quotes and state
//! changes a strategy goes through, the orders the engine accepts never let
//! worst-case |position + open orders| exceed max_position, and open orders
//! never exceed max_open_orders. The model below tracks orders and positions
//! independently of the engine.

use crate::common;

use std::collections::BTreeMap;

use bulkhead_abi::Side;
use bulkhead_risk::{Scope, TradingState};
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Submit { inst: u32, buy: bool, qty: i64, off_bps: i64, market: bool },
    Fill { pick: usize, pct: i64 },
    Cancel { pick: usize },
    Quote { inst: u32, shift_bps: i64 },
    State { scope: u8, state: u8 },
    Wait { ns: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2u32, any::<bool>(), 1..700i64, -250..250i64, prop::bool::weighted(0.2))
            .prop_map(|(inst, buy, qty, off_bps, market)| Op::Submit { inst, buy, qty, off_bps, market }),
        3 => (any::<usize>(), 1..=100i64).prop_map(|(pick, pct)| Op::Fill { pick, pct }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        1 => (0..2u32, -300..300i64).prop_map(|(inst, shift_bps)| Op::Quote { inst, shift_bps }),
        1 => (0..4u8, 0..8u8).prop_map(|(scope, state)| Op::State { scope, state }),
        1 => (0..2_000_000_000u64).prop_map(|ns| Op::Wait { ns }),
    ]
}

const MAX_OPEN: usize = 6;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn accepted_orders_never_breach_position_or_open_order_limits(ops in prop::collection::vec(op(), 1..200)) {
        let mut e = engine(&[
            ("max_open_orders", "6"),
            ("max_orders_per_sec", "20"),
            ("max_messages_per_sec", "40"),
            ("price_collar_bps", "100"),
            ("max_position", r#""0.8""#),
        ]);
        let max_pos = [800i64, 4000]; // 0.8 BTC, 40 ETH in lots
        let mut mid = [650_000i64, 300_000];
        let mut orders: BTreeMap<u64, (u32, Side, i64)> = BTreeMap::new();
        let mut pos = [0i64; 2];
        let mut next_id = 1u64;
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Submit { inst, buy, qty, off_bps, market } => {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let req = if market {
                        common::market(inst, side, qty)
                    } else {
                        limit(inst, side, (mid[inst as usize] * (10_000 + off_bps) / 10_000).max(1), qty)
                    };
                    let d = e.check_order(0, now, &req);
                    if d.is_ok() {
                        e.order_opened(0, next_id, &req);
                        orders.insert(next_id, (inst, side, qty));
                        next_id += 1;
                    }
                }
                Op::Fill { pick, pct } => {
                    if !orders.is_empty() {
                        let id = *orders.keys().nth(pick % orders.len()).unwrap();
                        let (inst, side, rem) = orders[&id];
                        let q = (rem * pct / 100).max(1);
                        e.order_filled(0, id, side, Ticks::new(mid[inst as usize]), Lots::new(q));
                        pos[inst as usize] += side.sign() * q;
                        if q == rem { orders.remove(&id); } else { orders.get_mut(&id).unwrap().2 -= q; }
                    }
                }
                Op::Cancel { pick } => {
                    if !orders.is_empty() && e.check_cancel(0, now).is_ok() {
                        let id = *orders.keys().nth(pick % orders.len()).unwrap();
                        e.order_closed(0, id);
                        orders.remove(&id);
                    }
                }
                Op::Quote { inst, shift_bps } => {
                    let m = &mut mid[inst as usize];
                    *m = (*m * (10_000 + shift_bps) / 10_000).max(10);
                    e.on_quote(inst, Ticks::new(*m - 5), Ticks::new(*m + 5));
                    *m = (*m - 5 + *m + 5) / 2;
                }
                Op::State { scope, state } => {
                    let scope = match scope { 0 => Scope::Global, 1 => Scope::Strategy(0), 2 => Scope::Instrument(BTC), _ => Scope::Instrument(ETH) };
                    let state = match state { 0..=5 => TradingState::Active, 6 => TradingState::Reducing, _ => TradingState::Halted };
                    e.set_state(scope, state);
                }
                Op::Wait { ns } => now += ns,
            }
            // The model agrees with the engine…
            prop_assert_eq!(e.open_orders(0), orders.len());
            for inst in [BTC, ETH] {
                prop_assert_eq!(e.position(0, inst).get(), pos[inst as usize]);
            }
            // …and the limits hold.
            prop_assert!(orders.len() <= MAX_OPEN);
            for inst in [BTC, ETH] {
                let i = inst as usize;
                let open_buy: i64 = orders.values().filter(|o| o.0 == inst && o.1 == Side::Buy).map(|o| o.2).sum();
                let open_sell: i64 = orders.values().filter(|o| o.0 == inst && o.1 == Side::Sell).map(|o| o.2).sum();
                prop_assert_eq!(raw2(e.open_qty(0, inst)), (open_buy, open_sell));
                let worst = (pos[i] + open_buy).abs().max((pos[i] - open_sell).abs());
                prop_assert!(worst <= max_pos[i], "inst {} worst {} > {}", inst, worst, max_pos[i]);
            }
        }
    }
}
