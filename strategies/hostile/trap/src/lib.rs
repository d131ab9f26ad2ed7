//! Hostile case: **trap / panic / `unreachable`**. On market event `at` it
//! dies the way `how` says:
//! - `panic` [default] — a Rust panic (the SDK's panic handler is `unreachable`);
//! - `unreachable` — the `unreachable` instruction directly;
//! - `oob` — a load far outside linear memory (`out of bounds memory access`);
//! - `div0` — integer division by zero (Rust turns it into a panic).
//!
//! Expected: `trap` with the trap code in the message, quarantine, parked bid
//! cancelled.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile,
    bulkhead_sdk::{Config, Ctx},
};

#[derive(Default, Clone, Copy)]
enum How {
    #[default]
    Panic,
    Unreachable,
    Oob,
    Div0,
}

#[derive(Default)]
pub struct Trap {
    base: Base,
    how: How,
}

impl Hostile for Trap {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn configure(&mut self, _ctx: &mut Ctx, c: &Config) {
        self.how = match c.get_str("how") {
            Some("unreachable") => How::Unreachable,
            Some("oob") => How::Oob,
            Some("div0") => How::Div0,
            _ => How::Panic,
        };
    }
    fn misbehave(&mut self, _ctx: &mut Ctx) {
        match self.how {
            How::Panic => panic!("hostile: deliberate panic"),
            How::Unreachable => {
                #[cfg(target_arch = "wasm32")]
                core::arch::wasm32::unreachable();
            }
            How::Oob => {
                let p = core::hint::black_box(0xFFFF_FFF0usize) as *const u64;
                // SAFETY: deliberately not safe — this is the hostile case.
                core::hint::black_box(unsafe { core::ptr::read_volatile(p) });
            }
            How::Div0 => {
                let d = core::hint::black_box(0u64);
                core::hint::black_box(core::hint::black_box(1u64) / d);
            }
        }
    }
}

hostile_common::hostile_strategy!(Trap);
