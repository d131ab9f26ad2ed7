//! Evaluation case (issue 16, item 6): **wash pair**. Labelled manipulative.
//! One module run twice by the same firm, `role = "rest"` and `role = "hit"`
//! (the hit-side must come after the rest-side in config order). Both see the
//! same market events, so both decide the same thing at the same time: every
//! `every` [20] market events from `at` on, when the spread is at least 2
//! ticks, the rest-side rests a post-only order of `qty` [2] lots one tick
//! inside the spread (a bid at bid+1 or an ask at ask−1, alternating) and the
//! hit-side, on that very market event, sends the opposite limit IOC order at
//! that price and qty: the firm's two strategies (two venue accounts) trade
//! with each other. The venue's own STP only stops same-account matches; the
//! firm's cross-strategy STP (R7, `stp_mode`) must be off for this to happen.
//! A rest order the hit did not fill is cancelled at the next cycle.
//! Shared keys: see hostile-common (`park` is off by default here).
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Fill, Order, OrderUpdate, Quote, Reason, Side, Strategy, Trade},
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Rest,
    Hit,
}

pub struct WashPair {
    base: Base,
    role: Role,
    every: u64,
    qty: i64,
    buy_rest: bool,
    /// The rest-side's order still open.
    resting: Option<u64>,
}

impl Default for WashPair {
    fn default() -> Self {
        WashPair { base: Base::default(), role: Role::Rest, every: 20, qty: 2, buy_rest: true, resting: None }
    }
}

impl WashPair {
    fn step(&mut self, ctx: &mut Ctx) {
        if !self.base.tick() || !self.base.since().is_multiple_of(self.every) {
            return;
        }
        if let Some(id) = self.resting.take() {
            let _ = ctx.cancel(id);
        }
        let Some(q) = self.base.quote else { return };
        if q.ask_px - q.bid_px < 2 {
            return;
        }
        let (rest_side, px) = if self.buy_rest { (Side::Buy, q.bid_px + 1) } else { (Side::Sell, q.ask_px - 1) };
        self.buy_rest = !self.buy_rest;
        let inst = self.base.instrument;
        match self.role {
            Role::Rest => {
                let o = Order::limit(rest_side, inst, px, self.qty).post_only().tag(TAG_HOSTILE);
                self.resting = ctx.place(o).ok();
            }
            Role::Hit => {
                let o = Order::limit(rest_side.opposite(), inst, px, self.qty).ioc().tag(TAG_HOSTILE + 1);
                let _ = ctx.place(o);
            }
        }
    }

    fn forget(&mut self, id: u64) {
        if self.resting == Some(id) {
            self.resting = None;
        }
    }
}

impl Strategy for WashPair {
    fn init(&mut self, _ctx: &mut Ctx, config: &[u8]) {
        let c = Config::parse(config);
        self.base.configure(&c);
        if !c.contains("park") {
            self.base.park = false;
        }
        self.role = if c.get_str("role") == Some("hit") { Role::Hit } else { Role::Rest };
        self.every = c.u64_or("every", self.every).max(1);
        self.qty = c.i64_or("qty", self.qty).max(1);
    }
    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        self.base.on_quote(ctx, q);
        self.step(ctx);
    }
    fn on_trade(&mut self, ctx: &mut Ctx, _t: &Trade) {
        self.step(ctx);
    }
    fn on_fill(&mut self, _ctx: &mut Ctx, f: &Fill) {
        if f.remaining == 0 {
            self.forget(f.id);
        }
    }
    fn on_cancelled(&mut self, _ctx: &mut Ctx, o: &OrderUpdate) {
        self.forget(o.id);
    }
    fn on_rejected(&mut self, _ctx: &mut Ctx, o: &OrderUpdate, _reason: Option<Reason>) {
        self.forget(o.id);
    }
}

hostile_common::bulkhead_sdk::export_strategy!(WashPair);
