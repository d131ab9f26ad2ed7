//! Hostile case: **forbidden import (WASI)**. Imports
//! `wasi_snapshot_preview1::fd_write` and calls it on market event `at`
//! (so the import is really used). Expected: refused at load with an error
//! naming the module file and the import; nothing runs.
#![cfg_attr(target_arch = "wasm32", no_std)]
use hostile_common::{Base, Hostile, bulkhead_sdk::Ctx};

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn fd_write(fd: i32, iovs: i32, iovs_len: i32, nwritten: i32) -> i32;
}

#[derive(Default)]
pub struct ForbiddenWasi {
    base: Base,
}

impl Hostile for ForbiddenWasi {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
    fn misbehave(&mut self, _ctx: &mut Ctx) {
        #[cfg(target_arch = "wasm32")]
        {
            static MSG: &[u8] = b"escaped the sandbox\n";
            let iov: [u32; 2] = [MSG.as_ptr() as u32, MSG.len() as u32];
            let mut written = 0u32;
            // SAFETY: never runs — the host refuses the module at load.
            unsafe { fd_write(1, iov.as_ptr() as i32, 1, &mut written as *mut u32 as i32) };
            core::hint::black_box(written);
        }
    }
}

hostile_common::hostile_strategy!(ForbiddenWasi);
