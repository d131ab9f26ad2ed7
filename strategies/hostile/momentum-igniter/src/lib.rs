//! Evaluation case (issue 16, item 6): **momentum igniter**. Labelled
//! manipulative. From `at` on, when the mid ticks up (or down, if
//! `both_ways` [true]) and no cycle is running and `every` [300] market
//! events passed since the last one began, it takes: `burst` [5] marketable
//! limit IOC orders (at the opposite touch) of `take_lots` [2] in the direction of the move on consecutive
//! market events (aggressive same-side fills during the move). Then it rests
//! a post-only order on the other side for the same total
//! (`burst × take_lots`), one tick inside the spread if the spread allows,
//! else at the touch, and waits up to `passive_events` [200] market events
//! for the move to fill it (passive opposite-side fills), then cancels what
//! is left. Our orders do not move the replayed market: the pattern is in
//! our own order flow. Shared keys: see hostile-common.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Fill, Order, OrderUpdate, Quote, Reason, Side, Strategy, Trade},
};

/// Tag on the aggressive orders.
pub const TAG_TAKE: u64 = TAG_HOSTILE;
/// Tag on the passive order.
pub const TAG_PASSIVE: u64 = TAG_HOSTILE + 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Watch,
    /// Taking in this direction; orders sent so far.
    Take(Side, u64),
    /// Resting the passive order (id) since this event count.
    Passive(u64, u64),
}

pub struct MomentumIgniter {
    base: Base,
    every: u64,
    burst: u64,
    take_lots: i64,
    passive_events: u64,
    both_ways: bool,
    phase: Phase,
    last_mid: Option<i64>,
    started: Option<u64>,
}

impl Default for MomentumIgniter {
    fn default() -> Self {
        MomentumIgniter {
            base: Base::default(),
            every: 300,
            burst: 5,
            take_lots: 2,
            passive_events: 200,
            both_ways: true,
            phase: Phase::Watch,
            last_mid: None,
            started: None,
        }
    }
}

impl MomentumIgniter {
    fn step(&mut self, ctx: &mut Ctx, tick: i64) {
        let inst = self.base.instrument;
        match self.phase {
            Phase::Watch => {
                let due = self.started.is_none_or(|s| self.base.events >= s + self.every);
                let dir = match tick {
                    t if t > 0 => Some(Side::Buy),
                    t if t < 0 && self.both_ways => Some(Side::Sell),
                    _ => None,
                };
                if let (true, Some(side)) = (due, dir) {
                    self.started = Some(self.base.events);
                    self.phase = Phase::Take(side, 0);
                    self.step(ctx, 0);
                }
            }
            Phase::Take(side, sent) if sent < self.burst => {
                let Some(q) = self.base.quote else { return };
                let px = if side == Side::Buy { q.ask_px } else { q.bid_px };
                let _ = ctx.place(Order::limit(side, inst, px, self.take_lots).ioc().tag(TAG_TAKE));
                self.phase = Phase::Take(side, sent + 1);
            }
            Phase::Take(side, _) => {
                let Some(q) = self.base.quote else { return };
                let other = side.opposite();
                let inside = q.ask_px - q.bid_px >= 2;
                let px = match (other, inside) {
                    (Side::Sell, true) => q.ask_px - 1,
                    (Side::Sell, false) => q.ask_px,
                    (Side::Buy, true) => q.bid_px + 1,
                    (Side::Buy, false) => q.bid_px,
                };
                let qty = self.take_lots * self.burst as i64;
                let o = Order::limit(other, inst, px, qty).post_only().tag(TAG_PASSIVE);
                self.phase = match ctx.place(o) {
                    Ok(id) => Phase::Passive(id, self.base.events),
                    Err(_) => Phase::Watch,
                };
            }
            Phase::Passive(id, since) if self.base.events >= since + self.passive_events => {
                let _ = ctx.cancel(id);
                self.phase = Phase::Watch;
            }
            Phase::Passive(..) => {}
        }
    }

    fn on_market(&mut self, ctx: &mut Ctx, tick: i64) {
        if self.base.tick() {
            self.step(ctx, tick);
        }
    }

    fn passive_done(&mut self, id: u64) {
        if matches!(self.phase, Phase::Passive(p, _) if p == id) {
            self.phase = Phase::Watch;
        }
    }
}

impl Strategy for MomentumIgniter {
    fn init(&mut self, _ctx: &mut Ctx, config: &[u8]) {
        let c = Config::parse(config);
        self.base.configure(&c);
        self.every = c.u64_or("every", self.every).max(1);
        self.burst = c.u64_or("burst", self.burst).clamp(1, 1_000);
        self.take_lots = c.i64_or("take_lots", self.take_lots).max(1);
        self.passive_events = c.u64_or("passive_events", self.passive_events).max(1);
        self.both_ways = c.get_bool("both_ways").unwrap_or(self.both_ways);
    }
    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        self.base.on_quote(ctx, q);
        let mid = if q.instrument == self.base.instrument { q.mid() } else { None };
        let tick = match (self.last_mid, mid) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        if mid.is_some() {
            self.last_mid = mid;
        }
        self.on_market(ctx, tick);
    }
    fn on_trade(&mut self, ctx: &mut Ctx, _t: &Trade) {
        self.on_market(ctx, 0);
    }
    fn on_fill(&mut self, _ctx: &mut Ctx, f: &Fill) {
        if f.remaining == 0 {
            self.passive_done(f.id);
        }
    }
    fn on_cancelled(&mut self, _ctx: &mut Ctx, o: &OrderUpdate) {
        self.passive_done(o.id);
    }
    fn on_rejected(&mut self, _ctx: &mut Ctx, o: &OrderUpdate, _reason: Option<Reason>) {
        self.passive_done(o.id);
    }
}

hostile_common::bulkhead_sdk::export_strategy!(MomentumIgniter);
