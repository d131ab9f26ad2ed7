//! Hostile case: **deep recursion**. On market event `at` recurses `depth`
//! [2^40] levels deep (a non-tail call on an opaque value, so it can be
//! neither inlined nor turned into a loop). Expected: wasm stack overflow
//! (`stack`), quarantine, parked bid cancelled.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile,
    bulkhead_sdk::{Config, Ctx},
};

pub struct DeepRecursion {
    base: Base,
    depth: u64,
}

impl Default for DeepRecursion {
    fn default() -> Self {
        DeepRecursion { base: Base::default(), depth: 1 << 40 }
    }
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if core::hint::black_box(n) == 0 {
        return 0;
    }
    let r = recurse(n - 1);
    core::hint::black_box(r).wrapping_mul(31).wrapping_add(n)
}

impl Hostile for DeepRecursion {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.depth = c.u64_or("depth", self.depth);
    }
    fn misbehave(&mut self, _ctx: &mut Ctx) {
        core::hint::black_box(recurse(self.depth));
    }
}

hostile_common::hostile_strategy!(DeepRecursion);
