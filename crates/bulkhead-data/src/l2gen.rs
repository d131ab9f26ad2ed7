//! Deterministic synthetic L2 data: an initial snapshot, then a stream of
//! incremental updates shaped like a real perpetual's book — most activity
//! within a few levels of the touch, levels appearing inside the spread and
//! being consumed at the touch (so the mid wanders), depth held near a target,
//! 1–3 updates per exchange message (sharing a timestamp).

use crate::generator::SplitMix64;
use crate::{BookDelta, BookSide, DataError, L2Book, MarketEvent, MarketEventSource};
use std::collections::VecDeque;

/// L2 generator parameters (integers: ticks, lots, ns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2GeneratorSpec {
    pub seed: u64,
    /// Incremental (non-snapshot) updates to produce after the initial snapshot.
    pub updates: u64,
    pub instrument: u32,
    /// Starting best bid in ticks (best ask one tick above).
    pub start_price: i64,
    /// Target number of levels per side.
    pub depth: usize,
    /// Whole microseconds so the data round-trips through µs formats.
    pub start_ts_ns: u64,
    /// Mean gap between messages, rounded to whole µs.
    pub mean_gap_ns: u64,
    /// Emit a fresh full snapshot every this many updates (0 = only the first).
    pub snapshot_every: u64,
    /// Largest level quantity in lots.
    pub max_qty: i64,
}

impl Default for L2GeneratorSpec {
    fn default() -> Self {
        L2GeneratorSpec {
            seed: 42,
            updates: 1_000_000,
            instrument: 0,
            start_price: 650_000,
            depth: 100,
            start_ts_ns: 1_700_000_000_000_000_000,
            mean_gap_ns: 100_000,
            snapshot_every: 0,
            max_qty: 5_000,
        }
    }
}

/// Streams book events; yields `BookSnapshotStart` + snapshot deltas first.
#[derive(Clone, Debug)]
pub struct L2Generator {
    spec: L2GeneratorSpec,
    rng: SplitMix64,
    book: L2Book,
    ts: u64,
    emitted: u64,
    since_snapshot: u64,
    queue: VecDeque<MarketEvent>,
}

impl L2Generator {
    pub fn new(spec: L2GeneratorSpec) -> L2Generator {
        let mut g = L2Generator {
            spec,
            rng: SplitMix64(spec.seed ^ 0x4c32_4c32_4c32_4c32),
            book: L2Book::new(),
            ts: spec.start_ts_ns / 1000 * 1000,
            emitted: 0,
            since_snapshot: 0,
            queue: VecDeque::new(),
        };
        let depth = spec.depth.max(1) as i64;
        let bid0 = spec.start_price.max(depth * 3 + 10);
        let (mut b, mut a) = (bid0, bid0 + 1);
        for _ in 0..depth {
            let q = g.qty();
            g.book.set(BookSide::Bid, b, q);
            let q = g.qty();
            g.book.set(BookSide::Ask, a, q);
            b -= 1 + (g.rng.below(4) == 0) as i64;
            a += 1 + (g.rng.below(4) == 0) as i64;
        }
        g.push_snapshot();
        g
    }

    /// The generator's own view of the book (after the events yielded so far
    /// and any queued ones of the current message).
    pub fn book(&self) -> &L2Book {
        &self.book
    }

    fn qty(&mut self) -> i64 {
        // skewed small, occasionally large
        let m = self.spec.max_qty.max(1) as u64;
        1 + (self.rng.below(m) * self.rng.below(m) / m) as i64
    }

    /// Level index from the touch, mostly 0..4, rarely deep.
    fn near(&mut self, depth: usize) -> usize {
        let r = self.rng.below(16) * self.rng.below(16);
        ((r / 16) as usize).min(depth.saturating_sub(1))
    }

    fn push_snapshot(&mut self) {
        let ts = self.ts;
        let instrument = self.spec.instrument;
        self.queue.push_back(MarketEvent::BookSnapshotStart { ts_ns: ts, instrument });
        for side in [BookSide::Bid, BookSide::Ask] {
            for l in self.book.levels(side) {
                self.queue.push_back(MarketEvent::BookDelta(BookDelta {
                    ts_ns: ts,
                    instrument,
                    side,
                    price: l.price,
                    qty: l.qty,
                    is_snapshot: true,
                }));
            }
        }
    }

    fn set(&mut self, side: BookSide, price: i64, qty: i64) {
        self.book.set(side, price, qty);
        self.queue.push_back(MarketEvent::BookDelta(BookDelta {
            ts_ns: self.ts,
            instrument: self.spec.instrument,
            side,
            price,
            qty,
            is_snapshot: false,
        }));
        self.emitted += 1;
        self.since_snapshot += 1;
    }

    fn update(&mut self) {
        let side = if self.rng.below(2) == 0 { BookSide::Bid } else { BookSide::Ask };
        let sign = if side == BookSide::Bid { 1 } else { -1 };
        let depth = self.book.depth(side);
        let target = self.spec.depth.max(2);
        let (Some(bb), Some(ba)) = (self.book.best_bid(), self.book.best_ask()) else {
            // an empty side: refill at one tick outside the other side
            let px = match (self.book.best_bid(), self.book.best_ask()) {
                (Some(b), None) => (BookSide::Ask, b.price + 1),
                (None, Some(a)) => (BookSide::Bid, a.price - 1),
                _ => (BookSide::Bid, self.spec.start_price),
            };
            let q = self.qty();
            return self.set(px.0, px.1, q);
        };
        let best = if side == BookSide::Bid { bb.price } else { ba.price };
        let r = self.rng.below(100);
        if r < 50 && depth > 0 {
            // modify a level near the touch
            let i = self.near(depth);
            let l = self.book.level(side, i).unwrap();
            let q = self.qty();
            self.set(side, l.price, q);
        } else if r < 72 && depth > 3 {
            // a level disappears (consumed or cancelled), mostly at the touch
            let i = if self.rng.below(2) == 0 { 0 } else { self.near(depth) };
            let l = self.book.level(side, i).unwrap();
            self.set(side, l.price, 0);
        } else if r < 94 {
            // a new level: inside the spread if there is room, else near the touch
            let spread = ba.price - bb.price;
            let price = if spread > 1 && self.rng.below(3) != 0 {
                best + sign * (1 + self.rng.below((spread - 1) as u64) as i64)
            } else {
                best - sign * (1 + self.near(target) as i64)
            };
            if price > 0 {
                let q = self.qty();
                self.set(side, price, q);
            }
        } else if depth > target {
            let l = self.book.level(side, depth - 1).unwrap();
            self.set(side, l.price, 0);
        } else {
            let worst = self.book.level(side, depth.saturating_sub(1)).map_or(best, |l| l.price);
            let price = worst - sign * (1 + self.rng.below(2) as i64);
            if price > 0 {
                let q = self.qty();
                self.set(side, price, q);
            }
        }
    }

    fn message(&mut self) {
        let gap_us = (self.spec.mean_gap_ns / 1000).max(1);
        self.ts += (1 + self.rng.below(2 * gap_us)) * 1000;
        if self.spec.snapshot_every > 0 && self.since_snapshot >= self.spec.snapshot_every {
            self.since_snapshot = 0;
            self.push_snapshot();
            return;
        }
        let n = 1 + self.rng.below(3);
        for _ in 0..n {
            if self.emitted >= self.spec.updates {
                break;
            }
            self.update();
        }
    }
}

impl Iterator for L2Generator {
    type Item = MarketEvent;
    #[inline]
    fn next(&mut self) -> Option<MarketEvent> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.emitted >= self.spec.updates {
                return None;
            }
            self.message();
        }
    }
}

impl MarketEventSource for L2Generator {
    fn next_market_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        Ok(self.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_sane_and_realistic() {
        let spec = L2GeneratorSpec { updates: 100_000, depth: 50, snapshot_every: 30_000, ..Default::default() };
        let a: Vec<MarketEvent> = L2Generator::new(spec).collect();
        let b: Vec<MarketEvent> = L2Generator::new(spec).collect();
        assert_eq!(a, b);
        assert_ne!(a, L2Generator::new(L2GeneratorSpec { seed: 1, ..spec }).collect::<Vec<_>>());
        let mut book = L2Book::new();
        let (mut updates, mut snapshots, mut crossed, mut top_changes) = (0, 0, 0, 0);
        let mut last_ts = 0;
        let mut last_top = None;
        for e in &a {
            assert!(e.ts_ns() >= last_ts && e.ts_ns() % 1000 == 0);
            last_ts = e.ts_ns();
            book.apply(e);
            match e {
                MarketEvent::BookSnapshotStart { .. } => snapshots += 1,
                MarketEvent::BookDelta(d) if !d.is_snapshot => updates += 1,
                _ => {}
            }
            crossed += book.is_crossed() as u32;
            let top = (book.best_bid(), book.best_ask());
            if Some(top) != last_top {
                top_changes += 1;
                last_top = Some(top);
            }
        }
        assert_eq!(updates, 100_000);
        assert_eq!(snapshots, 4);
        assert_eq!(crossed, 0);
        // the touch is busy but most updates are elsewhere
        assert!(top_changes > 20_000 && top_changes < 80_000, "{top_changes}");
        for side in [BookSide::Bid, BookSide::Ask] {
            let d = book.depth(side);
            assert!((25..=80).contains(&d), "{side:?} depth {d}");
        }
        let spread = book.best_ask().unwrap().price - book.best_bid().unwrap().price;
        assert!((1..20).contains(&spread), "{spread}");
    }
}
