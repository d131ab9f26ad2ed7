//! Hostile case: **position creep past its limit**. From market event `at`
//! on it adds one more one-lot bid on every market event, never cancelling.
//! With `mode = far` [default] the bids rest `bps` [500] below the mid (they
//! never fill, but pre-trade risk counts open orders as filled: worst-case
//! position); with `mode = take` it buys one lot IOC at the market's best ask
//! each time (position through fills against the market's displayed size, not
//! against the firm's other strategies, which R7 would refuse). Expected: R4 `MAX_POSITION` refusals once the
//! worst-case position would exceed the policy; no accepted order ever takes
//! it past the limit.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Order, Side},
};

pub struct PositionCreep {
    base: Base,
    market: bool,
    bps: i64,
}

impl Default for PositionCreep {
    fn default() -> Self {
        PositionCreep { base: Base::default(), market: false, bps: 500 }
    }
}

impl Hostile for PositionCreep {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.market = c.get_str("mode") == Some("take");
        self.bps = c.get_i64("bps").filter(|v| (1..10_000).contains(v)).unwrap_or(self.bps);
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        let inst = self.base.instrument;
        if self.market {
            if let Some(q) = self.base.quote {
                let _ = ctx.place(Order::limit(Side::Buy, inst, q.ask_px, 1).ioc().tag(TAG_HOSTILE));
            }
        } else if let Some(px) = self.base.below_mid(self.bps) {
            let _ = ctx.place(Order::limit(Side::Buy, inst, px, 1).post_only().tag(TAG_HOSTILE));
        }
    }
}

hostile_common::hostile_strategy!(PositionCreep);
