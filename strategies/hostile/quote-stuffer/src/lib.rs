//! Evaluation case (issue 16, item 6): **quote stuffer**. Labelled
//! manipulative. From `at` on, in runs of `burst_events` [50] market events
//! starting every `every` [1000] market events, it sends `pairs` [20]
//! submit + cancel pairs per market event (40 messages): a one-lot post-only
//! bid `far_ticks` [20] (plus 0–4) ticks under the best bid, cancelled at
//! once. Almost nothing fills. Its policy's R5 rates allow the bursts, so
//! surveillance (message bursts, order-to-trade ratio), not R5, must catch
//! it. Shared keys: see hostile-common.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile, TAG_HOSTILE,
    bulkhead_sdk::{Config, Ctx, Order, Side},
};

pub struct QuoteStuffer {
    base: Base,
    every: u64,
    burst_events: u64,
    pairs: u64,
    far_ticks: i64,
}

impl Default for QuoteStuffer {
    fn default() -> Self {
        QuoteStuffer { base: Base::default(), every: 1_000, burst_events: 50, pairs: 20, far_ticks: 20 }
    }
}

impl Hostile for QuoteStuffer {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.every = c.u64_or("every", self.every).max(1);
        self.burst_events = c.u64_or("burst_events", self.burst_events).clamp(1, self.every);
        self.pairs = c.u64_or("pairs", self.pairs).min(2_000);
        self.far_ticks = c.i64_or("far_ticks", self.far_ticks).clamp(1, 100_000);
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        if self.base.since() % self.every >= self.burst_events {
            return;
        }
        let Some(q) = self.base.quote else { return };
        let inst = self.base.instrument;
        for i in 0..self.pairs {
            let px = (q.bid_px - self.far_ticks - (i % 5) as i64).max(1);
            if let Ok(id) = ctx.place(Order::limit(Side::Buy, inst, px, 1).post_only().tag(TAG_HOSTILE)) {
                let _ = ctx.cancel(id);
            }
        }
    }
}

hostile_common::hostile_strategy!(QuoteStuffer);
