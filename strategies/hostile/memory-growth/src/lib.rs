//! Hostile case: **memory growth to the cap**. From market event `at` on it
//! grows its linear memory by `step_pages` [16 = 1 MiB] pages on every market
//! event (a leak), never giving up. Expected: the host's memory limit stops it
//! (`memory`), quarantine, parked bid cancelled.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile,
    bulkhead_sdk::{Config, Ctx},
};

pub struct MemoryGrowth {
    base: Base,
    step_pages: usize,
}

impl Default for MemoryGrowth {
    fn default() -> Self {
        MemoryGrowth { base: Base::default(), step_pages: 16 }
    }
}

impl Hostile for MemoryGrowth {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.step_pages = c.u64_or("step_pages", 16).clamp(1, 65_536) as usize;
    }
    fn misbehave(&mut self, _ctx: &mut Ctx) {
        #[cfg(target_arch = "wasm32")]
        {
            let old = core::arch::wasm32::memory_grow(0, self.step_pages);
            // Touch the new memory so it is really used.
            if old != usize::MAX {
                let p = (old * 65_536) as *mut u8;
                // SAFETY: the page just grown is ours and in bounds.
                unsafe { core::ptr::write_volatile(p, 0xAB) };
            }
        }
    }
}

hostile_common::hostile_strategy!(MemoryGrowth);
