//! Evaluation case (issue 16, item 6): **spoofer**. Labelled manipulative.
//! Every `every` [100] market events from `at` on it places one LARGE
//! post-only order (`large_lots` [30]) on side S, `offset_ticks` [2] behind
//! the touch (0 = at the touch); `small_delay` [1] market events later it
//! trades SMALL on the other side (`small_lots` [1], a limit IOC at the
//! opposite touch: marketable, but never crossing its own large order); it
//! cancels the large order `hold_events` [3] market events after placing it,
//! before it fills (unless the market ran through it meanwhile). S alternates
//! buy/sell each cycle when `alternate` [true], else it is always buy, so the
//! small trades net out. A large order the market ran through before the
//! cancel fills (a few per cent at `offset_ticks` 2); the position those
//! fills leave is a random walk the policy's R4 must allow. Pre-trade risk
//! must let all of it through (the policy in
//! examples/surveillance/policies/manipulator.toml does); surveillance must
//! flag it. Shared keys: see hostile-common.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Order, Side},
};

/// Tag on the large (spoof) order.
pub const TAG_LARGE: u64 = TAG_HOSTILE;
/// Tag on the small genuine trade.
pub const TAG_SMALL: u64 = TAG_HOSTILE + 1;

pub struct Spoofer {
    base: Base,
    every: u64,
    large_lots: i64,
    small_lots: i64,
    offset_ticks: i64,
    small_delay: u64,
    hold_events: u64,
    alternate: bool,
    buy_next: bool,
    /// The large order resting: id, event count when placed, side, price.
    large: Option<(u64, u64, Side, i64)>,
}

impl Default for Spoofer {
    fn default() -> Self {
        Spoofer {
            base: Base::default(),
            every: 100,
            large_lots: 30,
            small_lots: 1,
            offset_ticks: 2,
            small_delay: 1,
            hold_events: 3,
            alternate: true,
            buy_next: true,
            large: None,
        }
    }
}

impl Spoofer {
    /// The small genuine trade: a limit IOC at the opposite touch, but never
    /// at or through our own large order's price (`large_px`): R7 would cancel
    /// it (a market order would always cross it). If the market moved onto the
    /// large order the small one is not marketable and simply expires.
    fn small(&self, ctx: &mut Ctx, large_side: Side, large_px: i64) {
        let Some(q) = self.base.quote else { return };
        let side = large_side.opposite();
        let px = if side == Side::Buy { q.ask_px.min(large_px - 1) } else { q.bid_px.max(large_px + 1) };
        let _ = ctx.place(Order::limit(side, self.base.instrument, px, self.small_lots).ioc().tag(TAG_SMALL));
    }

    /// The side of the large order(s): alternating, or always buy.
    fn next_side(&mut self) -> Side {
        let side = if self.buy_next { Side::Buy } else { Side::Sell };
        if self.alternate {
            self.buy_next = !self.buy_next;
        }
        side
    }

    fn place_large(&mut self, ctx: &mut Ctx) {
        let Some(q) = self.base.quote else { return };
        let side = self.next_side();
        let px = match side {
            Side::Buy => q.bid_px - self.offset_ticks,
            Side::Sell => q.ask_px + self.offset_ticks,
        };
        let o = Order::limit(side, self.base.instrument, px.max(1), self.large_lots).post_only().tag(TAG_LARGE);
        if let Ok(id) = ctx.place(o) {
            self.large = Some((id, self.base.events, side, px.max(1)));
        }
    }
}

impl Hostile for Spoofer {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.every = c.u64_or("every", self.every).max(1);
        self.large_lots = c.i64_or("large_lots", self.large_lots).max(1);
        self.small_lots = c.i64_or("small_lots", self.small_lots).max(1);
        self.offset_ticks = c.i64_or("offset_ticks", self.offset_ticks).clamp(0, 1_000);
        self.hold_events = c.u64_or("hold_events", self.hold_events).clamp(1, 1_000);
        self.small_delay = c.u64_or("small_delay", self.small_delay).min(self.hold_events - 1);
        self.every = self.every.max(self.hold_events + 1);
        self.alternate = c.get_bool("alternate").unwrap_or(self.alternate);
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        if let Some((id, placed, side, large_px)) = self.large {
            let age = self.base.events - placed;
            if age == self.small_delay {
                self.small(ctx, side, large_px);
            }
            if age >= self.hold_events {
                let _ = ctx.cancel(id);
                self.large = None;
            } else {
                return;
            }
        }
        if self.base.since().is_multiple_of(self.every) {
            self.place_large(ctx);
            if self.small_delay == 0
                && let Some((_, _, side, large_px)) = self.large
            {
                self.small(ctx, side, large_px);
            }
        }
    }
}

hostile_common::hostile_strategy!(Spoofer);
