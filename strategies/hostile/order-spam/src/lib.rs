//! Hostile case: **order spam**. From market event `at` on it submits
//! `per_event` [50] one-lot post-only bids `bps` [500] below the mid on every
//! market event, whatever the answers. Expected with a moderate `per_event`:
//! pre-trade risk refuses the excess with R5 reasons (max open orders, order
//! rate, message rate), every one journalled; with `per_event` above the host
//! call budget (10 000) the callback faults (`host_calls`).
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Order, Side},
};

pub struct OrderSpam {
    base: Base,
    per_event: u64,
    bps: i64,
}

impl Default for OrderSpam {
    fn default() -> Self {
        OrderSpam { base: Base::default(), per_event: 50, bps: 500 }
    }
}

impl Hostile for OrderSpam {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.per_event = c.u64_or("per_event", self.per_event);
        self.bps = c.get_i64("bps").filter(|v| (1..10_000).contains(v)).unwrap_or(self.bps);
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        let Some(px) = self.base.below_mid(self.bps) else { return };
        let inst = self.base.instrument;
        for i in 0..self.per_event {
            let _ = ctx.place(Order::limit(Side::Buy, inst, px - (i as i64 % 16), 1).post_only().tag(TAG_HOSTILE));
        }
    }
}

hostile_common::hostile_strategy!(OrderSpam);
