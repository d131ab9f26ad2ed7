//! Hostile case: **self-trade (wash) attempt**. Every `every` [50] market
//! events from `at` on, when the spread is at least 2 ticks, it rests a
//! one-lot post-only order one tick inside the spread and, in the same
//! callback, sends a GTC order on the other side at that very price (crossing
//! itself and nothing else), then cancels the resting one. It alternates
//! buy-then-sell and sell-then-buy. Expected: the venue's self-trade
//! prevention cancels the aggressor (`VENUE_SELF_TRADE`); the strategy never
//! trades with itself; nothing it did outlives the callback.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Order, Side},
};

pub struct WashTrade {
    base: Base,
    every: u64,
    flip: bool,
}

impl Default for WashTrade {
    fn default() -> Self {
        WashTrade { base: Base::default(), every: 50, flip: false }
    }
}

impl Hostile for WashTrade {
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
        let Some(q) = self.base.quote else { return };
        if q.ask_px - q.bid_px < 2 {
            return;
        }
        let inst = self.base.instrument;
        let (rest_side, px) = if self.flip { (Side::Sell, q.ask_px - 1) } else { (Side::Buy, q.bid_px + 1) };
        self.flip = !self.flip;
        let Ok(resting) = ctx.place(Order::limit(rest_side, inst, px, 1).post_only().tag(TAG_HOSTILE)) else {
            return;
        };
        let _ = ctx.place(Order::limit(rest_side.opposite(), inst, px, 1).tag(TAG_HOSTILE + 1));
        let _ = ctx.cancel(resting);
    }
}

hostile_common::hostile_strategy!(WashTrade);
