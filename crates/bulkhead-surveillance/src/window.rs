//! Fixed-size windows on event time. [`Buckets`] splits a window into
//! [`SPAN`] buckets plus the one being filled, so a sum or maximum over it
//! covers at least the whole window and at most one bucket (1/64 of it)
//! more: a count may be judged a little early, never missed. [`Stamps`]
//! keeps the last N event times exactly.

/// Buckets a window is split into.
pub(crate) const SPAN: u64 = 64;
const SLOTS: usize = SPAN as usize + 1;

/// Sum (or max) of values added over a sliding window.
#[derive(Clone, Debug)]
pub(crate) struct Buckets {
    width_ns: u64,
    /// Index (time / width) of the newest bucket.
    newest: u64,
    slots: [i64; SLOTS],
    /// Sum of `slots` (kept for sums; unused for maxima).
    total: i64,
    max_mode: bool,
    /// Maximum of `slots`, while it is known (max mode).
    peak: Option<Option<i64>>,
}

impl Buckets {
    pub(crate) fn sum(window_ns: u64) -> Buckets {
        Buckets {
            width_ns: window_ns.div_ceil(SPAN).max(1),
            newest: 0,
            slots: [0; SLOTS],
            total: 0,
            max_mode: false,
            peak: None,
        }
    }

    /// A window of maxima; empty buckets read as `i64::MIN`.
    pub(crate) fn max(window_ns: u64) -> Buckets {
        let mut b = Buckets::sum(window_ns);
        b.max_mode = true;
        b.slots = [i64::MIN; SLOTS];
        b
    }

    fn advance(&mut self, ts: u64) {
        let now = ts / self.width_ns;
        if now <= self.newest {
            return;
        }
        let empty = if self.max_mode { i64::MIN } else { 0 };
        let steps = (now - self.newest).min(SLOTS as u64);
        self.peak = None;
        for k in 1..=steps {
            let i = ((self.newest + k) % SLOTS as u64) as usize;
            self.total = self.total.saturating_sub(if self.max_mode { 0 } else { self.slots[i] });
            self.slots[i] = empty;
        }
        self.newest = now;
    }

    fn slot(&self) -> usize {
        (self.newest % SLOTS as u64) as usize
    }

    /// Add `v` at `ts` (sum mode) or raise the bucket's maximum to `v`.
    pub(crate) fn add(&mut self, ts: u64, v: i64) {
        self.advance(ts);
        let i = self.slot();
        if self.max_mode {
            self.slots[i] = self.slots[i].max(v);
            if let Some(p) = &mut self.peak {
                *p = Some(p.map_or(v, |m| m.max(v)));
            }
        } else {
            self.slots[i] = self.slots[i].saturating_add(v);
            self.total = self.total.saturating_add(v);
        }
    }

    /// The sum over the window ending at `ts`.
    pub(crate) fn total(&mut self, ts: u64) -> i64 {
        self.advance(ts);
        self.total
    }

    /// The maximum over the window ending at `ts` (`None` = nothing in it).
    pub(crate) fn peak(&mut self, ts: u64) -> Option<i64> {
        self.advance(ts);
        *self.peak.get_or_insert_with(|| self.slots.iter().copied().max().filter(|&m| m != i64::MIN))
    }
}

/// The last `cap` event times, exactly (a ring).
#[derive(Clone, Debug)]
pub(crate) struct Stamps {
    cap: usize,
    at: usize,
    ts: Vec<u64>,
}

impl Stamps {
    pub(crate) fn new(cap: u32) -> Stamps {
        Stamps { cap: (cap as usize).max(1), at: 0, ts: Vec::new() }
    }

    /// Record `ts`; `Some(oldest)` once `cap` times are held: the time of the
    /// `cap`-th most recent one (this one included).
    pub(crate) fn push(&mut self, ts: u64) -> Option<u64> {
        if self.ts.len() < self.cap {
            self.ts.push(ts);
            return (self.ts.len() == self.cap).then(|| self.ts[0]);
        }
        self.ts[self.at] = ts;
        self.at = (self.at + 1) % self.cap;
        Some(self.ts[self.at])
    }

    pub(crate) fn clear(&mut self) {
        self.ts.clear();
        self.at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cover_the_window_and_forget_what_left_it() {
        let mut b = Buckets::sum(64_000);
        for t in 0..64 {
            b.add(t * 1000, 1);
        }
        assert_eq!(b.total(63_999), 64);
        // 200 µs later everything but the newest ~ 64 µs has left.
        assert!(b.total(127_000 + 64_000) <= 1);
        assert_eq!(b.total(10_000_000), 0);
    }

    #[test]
    fn a_sum_never_undercounts_the_exact_window() {
        let w = 1_000_000u64;
        let mut b = Buckets::sum(w);
        let mut times = Vec::new();
        let mut t = 0u64;
        for k in 0..5000u64 {
            t += (k * 7919) % 40_000;
            times.push(t);
            b.add(t, 1);
            let exact = times.iter().filter(|&&x| t - x < w).count() as i64;
            assert!(b.total(t) >= exact, "at {t}: {} < {exact}", b.total(t));
        }
    }

    #[test]
    fn maxima() {
        let mut b = Buckets::max(1_000);
        assert_eq!(b.peak(0), None);
        b.add(10, 5);
        b.add(20, -3);
        assert_eq!(b.peak(30), Some(5));
        assert_eq!(b.peak(10_000), None);
    }

    #[test]
    fn stamps_give_the_nth_most_recent() {
        let mut s = Stamps::new(3);
        assert_eq!(s.push(1), None);
        assert_eq!(s.push(2), None);
        assert_eq!(s.push(3), Some(1));
        assert_eq!(s.push(4), Some(2));
        assert_eq!(s.push(9), Some(3));
    }
}
