//! The mutable part of a chain policy: the intent rate bucket and the
//! allowances' spending per period. Pure integer arithmetic on event time;
//! time that goes backwards refills nothing and resets nothing.

use alloy_primitives::U256;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// `rate` intents per second of event time, burst = `rate`, starts full.
/// Level in nano-tokens so refill is exact (same arithmetic as the order
/// path's R5 bucket in `bulkhead-risk`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bucket {
    rate: u32,
    level: u128,
    last_ns: u64,
}

impl Bucket {
    pub(crate) fn new(rate: u32) -> Bucket {
        Bucket { rate, level: u128::from(rate) * NANOS_PER_SEC, last_ns: 0 }
    }

    pub(crate) fn rate(&self) -> u32 {
        self.rate
    }

    fn refilled(&self, now_ns: u64) -> Bucket {
        let mut b = *self;
        if let Some(dt) = now_ns.checked_sub(self.last_ns)
            && dt > 0
        {
            let cap = u128::from(self.rate) * NANOS_PER_SEC;
            b.level = b.level.saturating_add(u128::from(dt) * u128::from(self.rate)).min(cap);
            b.last_ns = now_ns;
        }
        b
    }

    /// Whole tokens available at `now_ns`.
    pub(crate) fn available(&self, now_ns: u64) -> u64 {
        u64::try_from(self.refilled(now_ns).level / NANOS_PER_SEC).unwrap_or(u64::MAX)
    }

    /// Refill up to `now_ns` and take one token; false (and nothing taken)
    /// when there is none.
    pub(crate) fn try_take(&mut self, now_ns: u64) -> bool {
        let mut b = self.refilled(now_ns);
        if b.level < NANOS_PER_SEC {
            *self = b;
            return false;
        }
        b.level -= NANOS_PER_SEC;
        *self = b;
        true
    }
}

/// One `[chain.allowances.NAME]`: an outflow budget of one token that
/// resets to `amount` at every period boundary of event time (multiples of
/// `period_ns` since event-time zero, so a day period with Unix event time
/// resets at 00:00 UTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Allowance {
    pub(crate) name: String,
    /// Token index in the book.
    pub(crate) token: usize,
    pub(crate) amount: U256,
    /// > 0 (validated).
    pub(crate) period_ns: u64,
    /// Period index the spending below belongs to.
    period: u64,
    spent: U256,
}

impl Allowance {
    pub(crate) fn new(name: String, token: usize, amount: U256, period_ns: u64) -> Allowance {
        Allowance { name, token, amount, period_ns: period_ns.max(1), period: 0, spent: U256::ZERO }
    }

    fn period_at(&self, now_ns: u64) -> u64 {
        now_ns / self.period_ns.max(1)
    }

    /// Spent in the period of `now_ns` (0 once a new period started).
    pub(crate) fn spent(&self, now_ns: u64) -> U256 {
        if self.period_at(now_ns) > self.period { U256::ZERO } else { self.spent }
    }

    pub(crate) fn remaining(&self, now_ns: u64) -> U256 {
        self.amount.saturating_sub(self.spent(now_ns))
    }

    pub(crate) fn consume(&mut self, amount: U256, now_ns: u64) {
        let p = self.period_at(now_ns);
        if p > self.period {
            self.period = p;
            self.spent = U256::ZERO;
        }
        self.spent = self.spent.saturating_add(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_on_event_time_and_never_backwards() {
        let mut b = Bucket::new(2);
        assert!(b.try_take(10) && b.try_take(10));
        assert!(!b.try_take(10));
        assert!(!b.try_take(499_999_999 + 10));
        assert!(b.try_take(500_000_010));
        assert_eq!(b.available(u64::MAX), 2);
        assert!(!b.try_take(0));
    }

    #[test]
    fn allowance_resets_at_period_boundaries() {
        let s = 1_000_000_000u64;
        let mut a = Allowance::new("d".into(), 0, U256::from(100u8), 10 * s);
        a.consume(U256::from(60u8), 3 * s);
        assert_eq!(a.remaining(9 * s), U256::from(40u8));
        assert_eq!(a.remaining(10 * s), U256::from(100u8));
        a.consume(U256::from(70u8), 12 * s);
        assert_eq!(a.remaining(19 * s), U256::from(30u8));
        // event time going back stays in the later period
        assert_eq!(a.remaining(5 * s), U256::from(30u8));
        a.consume(U256::MAX, 12 * s);
        assert_eq!(a.remaining(12 * s), U256::ZERO);
    }
}
