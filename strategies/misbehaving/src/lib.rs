//! # bh-misbehaving — behaves, then hangs (fault-isolation test subject)
//!
//! On the first two-sided quote of its instrument it places one small
//! post-only bid far below the market (`below_bps` under the mid, so it never
//! fills) — the order the host must cancel when the strategy faults. It counts
//! every event it is handed (any kind, any instrument); when the count reaches
//! `loop_at` it enters an infinite loop the optimizer cannot remove
//! (`core::hint::black_box` on a counter). The host's fuel / epoch limits must
//! turn that into a clean fault while the other strategies keep trading.
//!
//! ## Config (`key = value` lines; defaults in brackets)
//! - `instrument` [0]
//! - `loop_at` [1000] — 1-based index of the event that never returns (0 = never)
//! - `below_bps` [500] — bid distance below the mid in basis points (5%)
//! - `size_lots` [1]
#![cfg_attr(target_arch = "wasm32", no_std)]

use bulkhead_sdk::{Config, Ctx, Fill, Order, OrderUpdate, Quote, Reason, Strategy, Trade, log};

/// Tag on the parked bid.
pub const TAG: u64 = 0xBAD;

/// The misbehaving strategy.
#[derive(Debug)]
pub struct Misbehaving {
    pub instrument: u32,
    pub loop_at: u64,
    pub below_bps: i64,
    pub size_lots: i64,
    events: u64,
    placed: bool,
}

impl Default for Misbehaving {
    fn default() -> Self {
        Misbehaving { instrument: 0, loop_at: 1000, below_bps: 500, size_lots: 1, events: 0, placed: false }
    }
}

impl Misbehaving {
    /// Events seen so far.
    pub fn events(&self) -> u64 {
        self.events
    }
    /// Whether the parked bid has been placed.
    pub fn placed(&self) -> bool {
        self.placed
    }
    /// True if the next event handed in will never return.
    pub fn next_event_hangs(&self) -> bool {
        self.loop_at != 0 && self.events + 1 == self.loop_at
    }

    fn tick(&mut self) {
        self.events += 1;
        if self.loop_at != 0 && self.events == self.loop_at {
            spin();
        }
    }
}

/// Never returns; burns fuel until the host interrupts it.
#[inline(never)]
pub fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

impl Strategy for Misbehaving {
    fn init(&mut self, ctx: &mut Ctx, config: &[u8]) {
        let c = Config::parse(config);
        let d = Misbehaving::default();
        self.instrument = c.get_u64("instrument").and_then(|v| u32::try_from(v).ok()).unwrap_or(d.instrument);
        self.loop_at = c.u64_or("loop_at", d.loop_at);
        self.below_bps = c.get_i64("below_bps").filter(|v| (1..10_000).contains(v)).unwrap_or(d.below_bps);
        self.size_lots = c.get_i64("size_lots").filter(|v| *v > 0).unwrap_or(d.size_lots);
        log!(ctx, "misbehaving: will hang on event {} (instrument {})", self.loop_at, self.instrument);
    }

    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        self.tick();
        if self.placed || q.instrument != self.instrument {
            return;
        }
        let Some(mid) = q.mid() else { return };
        let px = (mid - mid * self.below_bps / 10_000).max(1);
        match ctx.place(Order::limit(bulkhead_sdk::Side::Buy, self.instrument, px, self.size_lots).post_only().tag(TAG))
        {
            Ok(_) => self.placed = true,
            Err(r) => log!(ctx, "misbehaving: parked bid refused: {}", r.name()),
        }
    }

    fn on_trade(&mut self, _: &mut Ctx, _: &Trade) {
        self.tick();
    }
    fn on_accepted(&mut self, _: &mut Ctx, _: &OrderUpdate) {
        self.tick();
    }
    fn on_rejected(&mut self, _: &mut Ctx, _: &OrderUpdate, _: Option<Reason>) {
        self.tick();
        // Try again on the next quote.
        self.placed = false;
    }
    fn on_cancelled(&mut self, _: &mut Ctx, _: &OrderUpdate) {
        self.tick();
    }
    fn on_fill(&mut self, _: &mut Ctx, _: &Fill) {
        self.tick();
    }
    fn on_timer(&mut self, _: &mut Ctx, _: u64) {
        self.tick();
    }
}

bulkhead_sdk::export_strategy!(Misbehaving);

#[cfg(test)]
mod tests {
    use bulkhead_sdk::testing::{self, RecordingHost};
    use bulkhead_sdk::{NativeRunner, Side, TimeInForce};

    use super::*;

    #[test]
    fn parks_one_far_bid_and_counts_down_to_the_hang() {
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(Misbehaving::default());
        assert_eq!(r.init(&mut host, 0, b"loop_at = 5\n"), 0);
        assert_eq!(r.strategy().loop_at, 5);
        let evs = [
            testing::quote(0, 1, 649_990, 1, 650_010, 1),
            testing::trade(0, 2, 650_000, 1, None),
            testing::quote(0, 3, 649_990, 1, 650_010, 1),
            testing::timer(4, 1),
        ];
        assert_eq!(r.on_events(&mut host, &evs), 0);
        let sub = host.submitted();
        assert_eq!(sub.len(), 1, "exactly one parked order");
        assert_eq!(
            (sub[0].1.side, sub[0].1.tif, sub[0].1.price, sub[0].1.qty),
            (Side::Buy, TimeInForce::PostOnly, 617_500, 1)
        );
        assert_eq!(r.strategy().events(), 4);
        // The 5th event would never return; do not deliver it natively.
        assert!(r.strategy().next_event_hangs());
    }

    #[test]
    fn defaults() {
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(Misbehaving::default());
        r.init(&mut host, 0, b"");
        let s = r.strategy();
        assert_eq!((s.instrument, s.loop_at, s.below_bps, s.size_lots), (0, 1000, 500, 1));
        assert!(!s.next_event_hangs());
    }
}
