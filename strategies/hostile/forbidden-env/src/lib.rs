//! Hostile case: **forbidden import (unknown module)**. Imports `env::now`
//! (a wall clock the host does not offer) and uses it on market event `at`.
//! Expected: refused at load with an error naming the module file and
//! `env::now`; nothing runs.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{
    Base, Hostile,
    bulkhead_sdk::{Ctx, log},
};

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn now() -> i64;
}

#[derive(Default)]
pub struct ForbiddenEnv {
    base: Base,
}

impl Hostile for ForbiddenEnv {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn misbehave(&mut self, _ctx: &mut Ctx) {
        #[cfg(target_arch = "wasm32")]
        {
            // SAFETY: never runs — the host refuses the module at load.
            let t = unsafe { now() };
            log!(_ctx, "wall clock says {}", t);
        }
    }
}

hostile_common::hostile_strategy!(ForbiddenEnv);
