//! Hostile case: **fat-finger price and size**. Every `every` [10] market
//! events from `at` on it submits the next order of a fixed list of absurd
//! orders:
//! 0. buy 5 000 lots at the mid (size: R2 max order qty)
//! 1. buy 1 lot at twice the mid (price: R3 collar)
//! 2. sell 1 lot at 1 tick (price: R3 collar)
//! 3. market buy 1 000 000 lots (size: R2)
//! 4. buy 1 lot at `i64::MAX` ticks (R2 max order notional)
//! 5. sell `i64::MAX` lots at the mid (R2)
//! 6. buy 1 lot at a negative price (malformed: refused by the sandbox's
//!    record validation, `SBX_INVALID_ORDER`)
//!
//! Expected: every one refused before the venue; none accepted.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Order, OrderRequest, OrderType, Side, TimeInForce},
};

pub struct FatFinger {
    base: Base,
    every: u64,
    next: u64,
}

impl Default for FatFinger {
    fn default() -> Self {
        FatFinger { base: Base::default(), every: 10, next: 0 }
    }
}

impl Hostile for FatFinger {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.every = c.u64_or("every", self.every).max(1);
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        if self.base.since() % self.every != 0 {
            return;
        }
        let Some(mid) = self.base.mid() else { return };
        let inst = self.base.instrument;
        let req: OrderRequest = match self.next % 7 {
            0 => Order::limit(Side::Buy, inst, mid, 5_000).tag(TAG_HOSTILE).request(),
            1 => Order::limit(Side::Buy, inst, mid * 2, 1).tag(TAG_HOSTILE).request(),
            2 => Order::limit(Side::Sell, inst, 1, 1).tag(TAG_HOSTILE).request(),
            3 => Order::market(Side::Buy, inst, 1_000_000).tag(TAG_HOSTILE).request(),
            4 => Order::limit(Side::Buy, inst, i64::MAX, 1).tag(TAG_HOSTILE).request(),
            5 => Order::limit(Side::Sell, inst, mid, i64::MAX).tag(TAG_HOSTILE).request(),
            _ => OrderRequest {
                instrument: inst,
                side: Side::Buy,
                order_type: OrderType::Limit,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                price: -5,
                qty: 1,
                tag: TAG_HOSTILE,
            },
        };
        self.next += 1;
        let _ = ctx.submit(&req);
    }
}

hostile_common::hostile_strategy!(FatFinger);
