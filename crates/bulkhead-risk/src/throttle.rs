//! Token bucket over event time (R5). Pure integer arithmetic, no clock.

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// `rate` tokens per second, burst capacity of one second's worth (`rate`
/// tokens). The level is kept in nano-tokens so refill is exact: every
/// nanosecond of event time adds `rate` nano-tokens, a message costs 1e9.
/// Starts full. Event time that goes backwards refills nothing (and does
/// not move the bucket's clock back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u32,
    level: u128,
    last_ns: u64,
}

impl TokenBucket {
    pub fn new(rate_per_sec: u32) -> TokenBucket {
        TokenBucket { rate: rate_per_sec, level: Self::cap(rate_per_sec), last_ns: 0 }
    }

    fn cap(rate: u32) -> u128 {
        rate as u128 * NANOS_PER_SEC
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let add = (now_ns - self.last_ns) as u128 * self.rate as u128;
            self.level = self.level.saturating_add(add).min(Self::cap(self.rate));
            self.last_ns = now_ns;
        }
    }

    /// Refill up to `now_ns`, then take one token if there is one.
    pub fn try_take(&mut self, now_ns: u64) -> bool {
        self.refill(now_ns);
        if self.level >= NANOS_PER_SEC {
            self.level -= NANOS_PER_SEC;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now_ns` (without taking any).
    pub fn available(&self, now_ns: u64) -> u64 {
        let mut b = *self;
        b.refill(now_ns);
        (b.level / NANOS_PER_SEC) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_over_event_time() {
        let mut b = TokenBucket::new(2);
        assert!(b.try_take(0));
        assert!(b.try_take(0));
        assert!(!b.try_take(0));
        assert!(!b.try_take(499_999_999)); // 0.999… tokens
        assert!(b.try_take(500_000_000)); // exactly one token
        assert!(!b.try_take(500_000_000));
        // long idle: capped at the burst of 2
        assert_eq!(b.available(100_000_000_000), 2);
        // time going backwards refills nothing
        assert!(!b.try_take(1));
    }
}
