//! The cost of one empty guest call (`bulkhead_on_events` of a module that
//! returns at once): fuel and deadline armed, one event written into the
//! guest buffer, the call, the accounting. With 1 instance, and with the
//! calls spread round-robin over 1 000 instances (each call then touches a
//! different store, vmctx and linear memory, as a 1 000-strategy run does);
//! each in the default pool (64 MiB slots) and in one sized to 1 MiB
//! strategies (as `RuntimeConfig::sized_for` sizes it for `bulkhead run`).
//!
//! `cargo bench -p bulkhead-sandbox --bench crossing`
//!
//! With `BULKHEAD_BENCH_CPU_TIME=1` each sample is this thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`) instead of wall time: on a machine shared
//! with other work, time spent descheduled is then not counted.

use std::hint::black_box;

use bulkhead_abi::{Event, EventKind, HostApi, OpenOrderRecord, OrderRequest, PositionRecord};
use bulkhead_sandbox::{Limits, RuntimeConfig, Sandbox, SandboxRuntime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EMPTY: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  (func (export "bulkhead_on_events") (param i32) (result i32) (i32.const 0)))"#;

struct NullHost;

impl HostApi for NullHost {
    fn submit_order(&mut self, _req: &OrderRequest) -> i64 {
        -1
    }
    fn cancel_order(&mut self, _id: u64) -> i32 {
        -1
    }
    fn cancel_all(&mut self, _instrument: Option<u32>) -> i32 {
        0
    }
    fn position(&mut self, _instrument: u32, _out: &mut PositionRecord) -> i32 {
        -1
    }
    fn open_orders(&mut self, _out: &mut [OpenOrderRecord]) -> i32 {
        0
    }
    fn set_timer(&mut self, _at_ns: u64, _token: u64) -> i32 {
        -1
    }
    fn log(&mut self, _level: i32, _msg: &[u8]) -> i32 {
        0
    }
}

fn instances(rt: &SandboxRuntime, n: usize, memory: u64) -> Vec<Sandbox> {
    let module = rt.load("empty.wasm", &wat::parse_str(EMPTY).unwrap()).unwrap();
    let limits = Limits { deadline_us: 1_000_000, memory_bytes: memory, ..Limits::default() };
    (0..n).map(|_| rt.instantiate(&module, &limits, &[], 0, &mut NullHost).unwrap()).collect()
}

fn bench(c: &mut Criterion) {
    let event = Event {
        kind: EventKind::Trade,
        side: None,
        flags: 0,
        instrument: 1,
        ts_ns: 1,
        id: 1,
        tag: 0,
        price: 100,
        qty: 1,
        a: 0,
        b: 0,
    };
    let cpu_time = std::env::var_os("BULKHEAD_BENCH_CPU_TIME").is_some_and(|v| v == "1");
    let mut g = c.benchmark_group("empty_crossing");
    g.throughput(Throughput::Elements(1));
    // The default pool (64 MiB slots), and one sized to 1 MiB strategies.
    for (label, slot) in [("", Limits::default().memory_bytes), ("_1mib_slots", 1 << 20)] {
        let rt =
            SandboxRuntime::with_config(RuntimeConfig { memory_bytes_per_instance: slot, ..RuntimeConfig::default() })
                .unwrap();
        for n in [1, 1_000] {
            let mut sbs = instances(&rt, n, slot);
            let mut i = 0;
            let mut one = || {
                let sb = &mut sbs[i];
                i = if i + 1 == n { 0 } else { i + 1 };
                sb.on_events(black_box(std::slice::from_ref(&event)), 1, &mut NullHost).unwrap();
            };
            g.bench_function(format!("{n}_instances{label}"), |b| {
                if cpu_time {
                    b.iter_custom(|iters| {
                        let began = thread_cpu_time();
                        for _ in 0..iters {
                            one();
                        }
                        thread_cpu_time().saturating_sub(began)
                    })
                } else {
                    b.iter(&mut one)
                }
            });
        }
    }
    g.finish();
}

/// This thread's CPU time.
fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

criterion_group!(benches, bench);
criterion_main!(benches);
