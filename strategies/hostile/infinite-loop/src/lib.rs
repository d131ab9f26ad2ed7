//! Hostile case: **infinite loop**. Parks a far bid, then on market event `at`
//! spins forever in a loop the optimiser cannot remove. Expected: fuel fault
//! (`fuel`), quarantine, parked bid cancelled on fault.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{Base, Hostile, bulkhead_sdk::Ctx};

#[derive(Default)]
pub struct InfiniteLoop {
    base: Base,
}

impl Hostile for InfiniteLoop {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn misbehave(&mut self, _ctx: &mut Ctx) {
        let mut n: u64 = 0;
        loop {
            n = core::hint::black_box(n.wrapping_add(1));
        }
    }
}

hostile_common::hostile_strategy!(InfiniteLoop);
