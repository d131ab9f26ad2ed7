//! Hostile case: **one giant allocation**. On market event `at` asks for
//! `pages` [60 000 ≈ 3.7 GiB] pages of linear memory at once. Expected: the
//! host's memory limit refuses it as a breach (`memory`), quarantine, parked
//! bid cancelled.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile,
    bulkhead_sdk::{Config, Ctx},
};

pub struct GiantAlloc {
    base: Base,
    pages: usize,
}

impl Default for GiantAlloc {
    fn default() -> Self {
        GiantAlloc { base: Base::default(), pages: 60_000 }
    }
}

impl Hostile for GiantAlloc {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.pages = c.u64_or("pages", 60_000).min(65_536) as usize;
    }
    fn misbehave(&mut self, _ctx: &mut Ctx) {
        #[cfg(target_arch = "wasm32")]
        {
            let old = core::arch::wasm32::memory_grow(0, core::hint::black_box(self.pages));
            core::hint::black_box(old);
        }
    }
}

hostile_common::hostile_strategy!(GiantAlloc);
