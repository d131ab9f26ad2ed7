//! Arbitrary bytes → `SandboxRuntime::load` must return Ok or a typed
//! `LoadError`, never panic. Inputs that load are also instantiated and fed
//! one event under tight limits: any outcome but a panic is fine.
#![no_main]

use std::sync::OnceLock;

use bulkhead_abi::{DecodeError, Event, EventKind, HostApi, OpenOrderRecord, OrderRequest, PositionRecord};
use bulkhead_sandbox::{Limits, RuntimeConfig, SandboxRuntime};
use libfuzzer_sys::fuzz_target;

struct Null;
impl HostApi for Null {
    fn submit_order(&mut self, _: &OrderRequest) -> i64 {
        1
    }
    fn cancel_order(&mut self, _: u64) -> i32 {
        0
    }
    fn cancel_all(&mut self, _: Option<u32>) -> i32 {
        0
    }
    fn position(&mut self, _: u32, _: &mut PositionRecord) -> i32 {
        0
    }
    fn open_orders(&mut self, _: &mut [OpenOrderRecord]) -> i32 {
        0
    }
    fn set_timer(&mut self, _: u64, _: u64) -> i32 {
        0
    }
    fn log(&mut self, _: i32, _: &[u8]) -> i32 {
        0
    }
    fn invalid_record(&mut self, _: DecodeError) {}
}

fn runtime() -> &'static SandboxRuntime {
    static RT: OnceLock<SandboxRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        SandboxRuntime::with_config(RuntimeConfig { max_instances: 16, ..RuntimeConfig::default() }).expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let rt = runtime();
    // Half the corpus gets the magic header so the fuzzer reaches the parser.
    let owned;
    let bytes = if data.first().is_some_and(|b| b & 1 == 1) {
        owned = [b"\0asm\x01\0\0\0".as_slice(), &data[1..]].concat();
        &owned[..]
    } else {
        data
    };
    if let Ok(m) = rt.load("fuzz.wasm", bytes) {
        let limits = Limits { fuel_per_callback: 100_000, memory_bytes: 4 << 20, ..Limits::default() };
        if let Ok(mut sb) = rt.instantiate(&m, &limits, b"", 0, &mut Null) {
            let _ = sb.on_events(&[Event::new(EventKind::Trade, 1, 1)], 1, &mut Null);
        }
    }
});
