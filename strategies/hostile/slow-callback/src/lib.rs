//! Hostile case: **a callback just under / just over its deadline**. On every
//! `every` [1000]-th market event from `at` on it busy-loops `spin_iters` [0]
//! iterations (no host calls, no memory: pure CPU). The containment test
//! calibrates `spin_iters` against the wall clock and gives the strategy ample
//! fuel, so only the wall-clock deadline (epoch interruption) can stop it.
//! Expected: clearly under the deadline → no fault, it keeps trading; clearly
//! over → `deadline`, quarantine, parked bid cancelled.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile,
    bulkhead_sdk::{Config, Ctx},
    spin,
};

pub struct SlowCallback {
    base: Base,
    every: u64,
    spin_iters: u64,
}

impl Default for SlowCallback {
    fn default() -> Self {
        SlowCallback { base: Base::default(), every: 1000, spin_iters: 0 }
    }
}

impl Hostile for SlowCallback {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.every = c.u64_or("every", self.every).max(1);
        self.spin_iters = c.u64_or("spin_iters", self.spin_iters);
    }
    fn misbehave(&mut self, _ctx: &mut Ctx) {
        if self.base.since() % self.every == 0 {
            core::hint::black_box(spin(self.spin_iters));
        }
    }
}

hostile_common::hostile_strategy!(SlowCallback);
