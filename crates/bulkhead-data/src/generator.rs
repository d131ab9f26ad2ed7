//! Deterministic synthetic market: a random-walk mid with a 1–3 tick spread,
//! quote updates and trades at the touch, exponential-ish inter-arrival times.

use crate::{DataError, MarketSource};
use bulkhead_abi::{Event, EventKind, Side};

/// Generator parameters (all integers: ticks, lots, ns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneratorSpec {
    pub seed: u64,
    pub events: u64,
    pub instrument: u32,
    /// Starting mid in ticks.
    pub start_price: i64,
    pub start_ts_ns: u64,
    /// Mean gap between events in ns.
    pub mean_gap_ns: u64,
    /// Fraction of events that are trades, in per-mille.
    pub trade_per_mille: u32,
}

impl Default for GeneratorSpec {
    fn default() -> Self {
        GeneratorSpec {
            seed: 42,
            events: 1_000_000,
            instrument: 0,
            start_price: 650_000,
            start_ts_ns: 1_700_000_000_000_000_000,
            mean_gap_ns: 1_000_000,
            trade_per_mille: 400,
        }
    }
}

/// SplitMix64: tiny, fast, and fully specified, so the data set is the same
/// on every platform and every version of every dependency.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

/// Streams [`GeneratorSpec::events`] events; nothing is precomputed.
#[derive(Clone, Debug)]
pub struct Generator {
    spec: GeneratorSpec,
    rng: SplitMix64,
    emitted: u64,
    ts: u64,
    /// Mid in half-ticks so the spread can be odd.
    bid: i64,
    ask: i64,
    /// Slow drift regime: -1, 0, +1, changes now and then so momentum exists.
    drift: i64,
}

impl Generator {
    pub fn new(spec: GeneratorSpec) -> Generator {
        let bid = spec.start_price.max(10);
        Generator { spec, rng: SplitMix64(spec.seed), emitted: 0, ts: spec.start_ts_ns, bid, ask: bid + 1, drift: 0 }
    }

    fn step(&mut self) -> Event {
        let r = &mut self.rng;
        // inter-arrival: uniform 0..2×mean (mean preserved), at least 1 ns
        self.ts += 1 + r.below(2 * self.spec.mean_gap_ns.max(1));
        if r.below(5_000) == 0 {
            self.drift = r.below(3) as i64 - 1;
        }
        let is_trade = r.below(1000) < self.spec.trade_per_mille as u64;
        if is_trade {
            let aggressor = if r.below(100) < (50 + 10 * self.drift) as u64 { Side::Buy } else { Side::Sell };
            let price = if aggressor == Side::Buy { self.ask } else { self.bid };
            // 1..=50 lots, skewed small
            let qty = 1 + (r.below(50) * r.below(50)) as i64 / 50;
            let mut e = Event::new(EventKind::Trade, self.spec.instrument, self.ts);
            e.side = Some(aggressor);
            e.price = price;
            e.qty = qty;
            e
        } else {
            // move the touch: random walk with drift, spread 1..=3 ticks
            let mv = r.below(7) as i64 - 3 + self.drift;
            let mv = if mv.abs() <= 1 { mv } else { mv.signum() };
            self.bid = (self.bid + mv).max(10);
            let spread = 1 + (r.below(10) / 8) as i64 + (r.below(10) / 9) as i64;
            self.ask = self.bid + spread;
            let mut e = Event::new(EventKind::Quote, self.spec.instrument, self.ts);
            e.price = self.bid;
            e.qty = 1 + r.below(300) as i64;
            e.a = self.ask;
            e.b = 1 + r.below(300) as i64;
            e
        }
    }
}

impl Iterator for Generator {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        if self.emitted >= self.spec.events {
            return None;
        }
        self.emitted += 1;
        Some(self.step())
    }
}

impl MarketSource for Generator {
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        Ok(self.next())
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.spec.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_events_other_seed_other_events() {
        let spec = GeneratorSpec { events: 10_000, ..Default::default() };
        let a: Vec<Event> = Generator::new(spec).collect();
        let b: Vec<Event> = Generator::new(spec).collect();
        let c: Vec<Event> = Generator::new(GeneratorSpec { seed: 7, ..spec }).collect();
        assert_eq!(a.len(), 10_000);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn events_are_sane() {
        let spec = GeneratorSpec { events: 50_000, ..Default::default() };
        let mut last_ts = 0;
        let (mut trades, mut quotes) = (0, 0);
        for e in Generator::new(spec) {
            assert!(e.ts_ns > last_ts);
            last_ts = e.ts_ns;
            match e.kind {
                EventKind::Trade => {
                    trades += 1;
                    assert!(e.price > 0 && e.qty > 0 && e.side.is_some());
                }
                EventKind::Quote => {
                    quotes += 1;
                    assert!(e.price > 0 && e.a > e.price && e.qty > 0 && e.b > 0);
                }
                _ => unreachable!(),
            }
        }
        assert!(trades > 15_000 && quotes > 25_000, "{trades} {quotes}");
    }
}
