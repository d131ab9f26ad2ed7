//! Evaluation case (issue 16, item 6): **honest quoter**. Labelled BENIGN
//! (it lives in the hostile catalogue so the same build and the same
//! evaluation table cover it). A fast two-sided quoter: from the first
//! two-sided quote on, it keeps one post-only bid at the best bid and one
//! post-only ask at the best ask (`offset_ticks` [0] further out), each
//! `size_lots` [1] lots, and re-quotes (cancel + replace) on every change of
//! the mid. It never takes, never places large orders, and stops quoting the
//! side that would push |position| past `max_position_lots` [10].
//!
//! Config keys: `instrument` [0], `size_lots` [1], `offset_ticks` [0],
//! `max_position_lots` [10].
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::bulkhead_sdk::{Config, Ctx, Fill, Order, OrderUpdate, Quote, Reason, Side, Strategy};

/// Tag on the quotes.
pub const TAG_QUOTE: u64 = 0x600D;

pub struct HonestQuoter {
    instrument: u32,
    size_lots: i64,
    offset_ticks: i64,
    max_position_lots: i64,
    position: i64,
    last_mid: Option<i64>,
    bid: Option<u64>,
    ask: Option<u64>,
}

impl Default for HonestQuoter {
    fn default() -> Self {
        HonestQuoter {
            instrument: 0,
            size_lots: 1,
            offset_ticks: 0,
            max_position_lots: 10,
            position: 0,
            last_mid: None,
            bid: None,
            ask: None,
        }
    }
}

impl HonestQuoter {
    fn forget(&mut self, id: u64) {
        if self.bid == Some(id) {
            self.bid = None;
        }
        if self.ask == Some(id) {
            self.ask = None;
        }
    }

    fn quote(&self, ctx: &mut Ctx, side: Side, px: i64) -> Option<u64> {
        let after = self.position + side.sign() * self.size_lots;
        if after.abs() > self.max_position_lots || px <= 0 {
            return None;
        }
        ctx.place(Order::limit(side, self.instrument, px, self.size_lots).post_only().tag(TAG_QUOTE)).ok()
    }
}

impl Strategy for HonestQuoter {
    fn init(&mut self, _ctx: &mut Ctx, config: &[u8]) {
        let c = Config::parse(config);
        self.instrument = c.get_u64("instrument").and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        self.size_lots = c.i64_or("size_lots", self.size_lots).clamp(1, 2);
        self.offset_ticks = c.i64_or("offset_ticks", self.offset_ticks).clamp(0, 1_000);
        self.max_position_lots = c.i64_or("max_position_lots", self.max_position_lots).max(1);
    }
    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        if q.instrument != self.instrument {
            return;
        }
        let Some(mid) = q.mid() else { return };
        if self.last_mid == Some(mid) {
            return;
        }
        self.last_mid = Some(mid);
        for id in [self.bid.take(), self.ask.take()].into_iter().flatten() {
            let _ = ctx.cancel(id);
        }
        self.bid = self.quote(ctx, Side::Buy, q.bid_px - self.offset_ticks);
        self.ask = self.quote(ctx, Side::Sell, q.ask_px + self.offset_ticks);
    }
    fn on_fill(&mut self, _ctx: &mut Ctx, f: &Fill) {
        self.position += f.signed_qty();
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

hostile_common::bulkhead_sdk::export_strategy!(HonestQuoter);
