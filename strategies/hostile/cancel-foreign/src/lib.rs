//! Hostile case: **cancelling ids it does not own**. Parks its own far bid,
//! then from market event `at` on cancels `per_event` [100] guessed ids per
//! market event: 1..=`max_guess` [1000] (skipping its own), then ids shaped
//! like other strategies' venue ids (`(sid + 1) << 40 | n`), 0, `u64::MAX`
//! and `i64::MAX`, and finally `cancel_all` on an instrument that does not
//! exist. When done it logs `foreign_ok=N`, the number of guesses the host
//! the host accepted (expected 0; `UnknownOrder` and a throttle's `Rejected` are
//! the right answers). Expected: every
//! guess journalled as a refused CANCEL; no other strategy loses an order.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile,
    bulkhead_sdk::{Config, Ctx, ResultCode, log},
};

pub struct CancelForeign {
    base: Base,
    per_event: u64,
    max_guess: u64,
    next: u64,
    ok: u64,
    done: bool,
}

impl Default for CancelForeign {
    fn default() -> Self {
        CancelForeign { base: Base::default(), per_event: 100, max_guess: 1000, next: 1, ok: 0, done: false }
    }
}

const SPECIAL: [u64; 9] =
    [0, u64::MAX, i64::MAX as u64, (1 << 40) | 1, (2 << 40) | 1, (3 << 40) | 1, (1 << 40) | 2, (2 << 40) | 3, 1 << 39];

impl CancelForeign {
    fn guess(&mut self, ctx: &mut Ctx, id: u64) {
        if self.base.parked == Some(id) {
            return;
        }
        // Refused (unknown id, or throttled) is the expected answer; only a
        // cancel the host accepted would be a breach.
        match ctx.cancel(id) {
            Err(ResultCode::UnknownOrder | ResultCode::Rejected) => {}
            _ => self.ok += 1,
        }
    }
}

impl Hostile for CancelForeign {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.per_event = c.u64_or("per_event", self.per_event).max(1);
        self.max_guess = c.u64_or("max_guess", self.max_guess);
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        if self.done {
            return;
        }
        for _ in 0..self.per_event {
            let n = self.next;
            self.next += 1;
            if n <= self.max_guess {
                self.guess(ctx, n);
            } else if let Some(&id) = SPECIAL.get((n - self.max_guess - 1) as usize) {
                self.guess(ctx, id);
            } else {
                // An instrument that does not exist: nothing of anyone's may go.
                if matches!(ctx.cancel_all(Some(7)), Ok(n) if n > 0) {
                    self.ok += 1;
                }
                self.done = true;
                log!(ctx, "cancel-foreign: foreign_ok={}", self.ok);
                return;
            }
        }
    }
}

hostile_common::hostile_strategy!(CancelForeign);
