//! Evaluation case (issue 16, item 6): **runaway** (the Knight Capital
//! pattern). Labelled manipulative / out of control. From `at` on it sends
//! a marketable limit IOC order (at the opposite touch) of `lots` [1] on every `every`-th [1] market event:
//! `side` = `alternate` [default] | `buy` | `sell`. Thousands of executions in
//! minutes of event time; with `alternate` the position stays near zero, so
//! only execution counts (and the spread and fees it pays) give it away.
//! Shared keys: see hostile-common.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Order, Side},
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Alternate,
    Only(Side),
}

pub struct Runaway {
    base: Base,
    every: u64,
    lots: i64,
    mode: Mode,
    buy_next: bool,
}

impl Default for Runaway {
    fn default() -> Self {
        Runaway { base: Base::default(), every: 1, lots: 1, mode: Mode::Alternate, buy_next: true }
    }
}

impl Hostile for Runaway {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.every = c.u64_or("every", self.every).max(1);
        self.lots = c.i64_or("lots", self.lots).max(1);
        self.mode = match c.get_str("side") {
            Some("buy") => Mode::Only(Side::Buy),
            Some("sell") => Mode::Only(Side::Sell),
            _ => Mode::Alternate,
        };
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        if !self.base.since().is_multiple_of(self.every) {
            return;
        }
        let side = match self.mode {
            Mode::Only(s) => s,
            Mode::Alternate => {
                self.buy_next = !self.buy_next;
                if self.buy_next { Side::Sell } else { Side::Buy }
            }
        };
        let Some(q) = self.base.quote else { return };
        let px = if side == Side::Buy { q.ask_px } else { q.bid_px };
        let _ = ctx.place(Order::limit(side, self.base.instrument, px, self.lots).ioc().tag(TAG_HOSTILE));
    }
}

hostile_common::hostile_strategy!(Runaway);
