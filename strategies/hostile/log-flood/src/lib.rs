//! Hostile case: **log flood**. From market event `at` on it logs `calls` [1]
//! messages of `bytes` [16384] bytes on every market event. Expected: the
//! host's log-rate limit (64 KiB per second of event time by default) stops it
//! (`log_rate`), quarantine, parked bid cancelled.
#![cfg_attr(target_arch = "wasm32", no_std)]
use core::cell::UnsafeCell;

use hostile_common::{
    Base, Hostile,
    bulkhead_sdk::{Config, Ctx, LOG_INFO},
};

const MAX: usize = 64 * 1024;
struct Junk(UnsafeCell<[u8; MAX]>);
// SAFETY: wasm32 is single-threaded.
unsafe impl Sync for Junk {}
static JUNK: Junk = Junk(UnsafeCell::new([b'!'; MAX]));

pub struct LogFlood {
    base: Base,
    calls: u64,
    bytes: usize,
}

impl Default for LogFlood {
    fn default() -> Self {
        LogFlood { base: Base::default(), calls: 1, bytes: 16 * 1024 }
    }
}

impl Hostile for LogFlood {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.calls = c.u64_or("calls", self.calls);
        self.bytes = (c.u64_or("bytes", self.bytes as u64) as usize).min(MAX);
    }
    fn misbehave(&mut self, ctx: &mut Ctx) {
        // SAFETY: single-threaded; only read here.
        let junk = unsafe { &*JUNK.0.get() };
        for _ in 0..self.calls {
            ctx.log_bytes(LOG_INFO, &junk[..self.bytes]);
        }
    }
}

hostile_common::hostile_strategy!(LogFlood);
