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

    /// Change the rate (and so the burst) at `now_ns`: the bucket first
    /// refills up to `now_ns` at the old rate, then keeps the tokens it has,
    /// capped at the new burst, and refills at the new rate from then on. A
    /// lower rate never leaves more than one second's worth; a higher one
    /// does not hand out a fresh full burst.
    pub fn set_rate(&mut self, rate_per_sec: u32, now_ns: u64) {
        self.refill(now_ns);
        self.rate = rate_per_sec;
        self.level = self.level.min(Self::cap(rate_per_sec));
    }

    /// Whole tokens available at `now_ns` (without taking any).
    pub fn available(&self, now_ns: u64) -> u64 {
        let mut b = *self;
        b.refill(now_ns);
        u64::try_from(b.level / NANOS_PER_SEC).unwrap_or(u64::MAX)
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

    #[test]
    fn set_rate_keeps_tokens_capped_at_the_new_burst() {
        let mut b = TokenBucket::new(10);
        for _ in 0..4 {
            assert!(b.try_take(0));
        }
        // 6 left; lowering to 3/s caps them at 3.
        b.set_rate(3, 0);
        assert_eq!((b.rate(), b.available(0)), (3, 3));
        for _ in 0..3 {
            assert!(b.try_take(0));
        }
        assert!(!b.try_take(0));
        // Raising to 100/s does not refill at once …
        b.set_rate(100, 0);
        assert_eq!(b.available(0), 0);
        // … but refills at the new rate: 10 ms = 1 token.
        assert_eq!(b.available(10_000_000), 1);
        assert_eq!(b.available(2_000_000_000), 100);
        // Tokens earned before the change at the old rate are kept.
        let mut c = TokenBucket::new(2);
        assert!(c.try_take(0) && c.try_take(0));
        c.set_rate(50, 1_000_000_000); // 1 s at 2/s = 2 tokens
        assert_eq!(c.available(1_000_000_000), 2);
    }
}
