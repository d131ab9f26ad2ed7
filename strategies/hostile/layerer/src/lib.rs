//! Evaluation case (issue 16, item 6): **layerer**. Labelled manipulative.
//! Every `every` [100] market events from `at` on it places `levels` [4]
//! LARGE post-only orders (`large_lots` [25] each) on side S at consecutive
//! price levels starting `offset_ticks` [2] behind the touch, all resting at
//! once; `small_delay` [1] market events later it trades SMALL on the other
//! side (`small_lots` [1], a limit IOC at the
//! opposite touch); `hold_events` [3] market events after
//! placing them it cancels every layer still open. S alternates buy/sell each
//! cycle when `alternate` [true]. Layers the market ran through before the
//! cancel fill (a few per cent at `offset_ticks` 2). Shared keys: see hostile-common.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Order, Side},
};

/// Most layers one cycle may place.
pub const MAX_LEVELS: usize = 16;
/// Tag on the layers (plus the level index).
pub const TAG_LAYER: u64 = TAG_HOSTILE;
/// Tag on the small genuine trade.
pub const TAG_SMALL: u64 = TAG_HOSTILE + 0x100;

pub struct Layerer {
    base: Base,
    every: u64,
    levels: usize,
    large_lots: i64,
    small_lots: i64,
    offset_ticks: i64,
    small_delay: u64,
    hold_events: u64,
    alternate: bool,
    buy_next: bool,
    /// Ids of the layers resting (0 = none).
    layers: [u64; MAX_LEVELS],
    /// Event count when the layers were placed, their side, the best layer's price.
    placed: Option<(u64, Side, i64)>,
}

impl Default for Layerer {
    fn default() -> Self {
        Layerer {
            base: Base::default(),
            every: 100,
            levels: 4,
            large_lots: 25,
            small_lots: 1,
            offset_ticks: 2,
            small_delay: 1,
            hold_events: 3,
            alternate: true,
            buy_next: true,
            layers: [0; MAX_LEVELS],
            placed: None,
        }
    }
}

impl Layerer {
    /// The side of the large order(s): alternating, or always buy.
    fn next_side(&mut self) -> Side {
        let side = if self.buy_next { Side::Buy } else { Side::Sell };
        if self.alternate {
            self.buy_next = !self.buy_next;
        }
        side
    }

    fn place_layers(&mut self, ctx: &mut Ctx) {
        let Some(q) = self.base.quote else { return };
        let side = self.next_side();
        for i in 0..self.levels {
            let away = self.offset_ticks + i as i64;
            let px = match side {
                Side::Buy => q.bid_px - away,
                Side::Sell => q.ask_px + away,
            };
            let o = Order::limit(side, self.base.instrument, px.max(1), self.large_lots)
                .post_only()
                .tag(TAG_LAYER + i as u64);
            self.layers[i] = ctx.place(o).unwrap_or(0);
        }
        let best = match side {
            Side::Buy => q.bid_px - self.offset_ticks,
            Side::Sell => q.ask_px + self.offset_ticks,
        };
        self.placed = Some((self.base.events, side, best.max(1)));
    }

    /// The small trade: a limit IOC at the opposite touch, never at or through
    /// our best layer (`best`), which R7 would cancel.
    fn small(&self, ctx: &mut Ctx, layer_side: Side, best: i64) {
        let Some(q) = self.base.quote else { return };
        let side = layer_side.opposite();
        let px = if side == Side::Buy { q.ask_px.min(best - 1) } else { q.bid_px.max(best + 1) };
        let _ = ctx.place(Order::limit(side, self.base.instrument, px, self.small_lots).ioc().tag(TAG_SMALL));
    }
}

impl Hostile for Layerer {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.every = c.u64_or("every", self.every).max(1);
        self.levels = (c.u64_or("levels", self.levels as u64) as usize).clamp(1, MAX_LEVELS);
        self.large_lots = c.i64_or("large_lots", self.large_lots).max(1);
        self.small_lots = c.i64_or("small_lots", self.small_lots).max(1);
        self.offset_ticks = c.i64_or("offset_ticks", self.offset_ticks).clamp(0, 1_000);
        self.hold_events = c.u64_or("hold_events", self.hold_events).clamp(1, 1_000);
        self.small_delay = c.u64_or("small_delay", self.small_delay).min(self.hold_events - 1);
        self.every = self.every.max(self.hold_events + 1);
        self.alternate = c.get_bool("alternate").unwrap_or(self.alternate);
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        if let Some((placed, side, best)) = self.placed {
            let age = self.base.events - placed;
            if age == self.small_delay {
                self.small(ctx, side, best);
            }
            if age < self.hold_events {
                return;
            }
            for id in self.layers.iter_mut().take(self.levels) {
                if *id != 0 {
                    let _ = ctx.cancel(*id);
                    *id = 0;
                }
            }
            self.placed = None;
        }
        if self.base.since().is_multiple_of(self.every) {
            self.place_layers(ctx);
            if self.small_delay == 0
                && let Some((_, side, best)) = self.placed
            {
                self.small(ctx, side, best);
            }
        }
    }
}

hostile_common::hostile_strategy!(Layerer);
