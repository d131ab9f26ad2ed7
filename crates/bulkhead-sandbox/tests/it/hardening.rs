//! Hardened host calls (exact limits), resource accounting, pooling, the
//! precompiled-module cache, and property tests over random guest records
//! and random guest pointers.

use bulkhead_abi::{
    DecodeError, Event, EventKind, HostApi, OPEN_ORDER_SIZE, OpenOrderRecord, OrderRequest, POSITION_SIZE,
    PositionRecord, Reason, Side,
};
use bulkhead_sandbox::{Fault, Limits, RuntimeConfig, SandboxRuntime, StrategyModule};
use proptest::prelude::*;

#[derive(Default)]
struct Host {
    orders: Vec<OrderRequest>,
    invalid: Vec<DecodeError>,
    cancels: u64,
    logs: Vec<Vec<u8>>,
    open: Vec<OpenOrderRecord>,
}

impl HostApi for Host {
    fn submit_order(&mut self, req: &OrderRequest) -> i64 {
        self.orders.push(*req);
        1000 + self.orders.len() as i64
    }
    fn cancel_order(&mut self, _id: u64) -> i32 {
        self.cancels += 1;
        0
    }
    fn cancel_all(&mut self, _instrument: Option<u32>) -> i32 {
        0
    }
    fn position(&mut self, _instrument: u32, out: &mut PositionRecord) -> i32 {
        *out = PositionRecord { qty: 1, ..PositionRecord::default() };
        0
    }
    fn open_orders(&mut self, out: &mut [OpenOrderRecord]) -> i32 {
        for (o, r) in out.iter_mut().zip(&self.open) {
            *o = *r;
        }
        self.open.len() as i32
    }
    fn set_timer(&mut self, _at_ns: u64, _token: u64) -> i32 {
        0
    }
    fn log(&mut self, _level: i32, msg: &[u8]) -> i32 {
        self.logs.push(msg.to_vec());
        0
    }
    fn invalid_record(&mut self, err: DecodeError) {
        self.invalid.push(err);
    }
}

fn lim() -> Limits {
    Limits { deadline_us: 600_000_000, ..Limits::default() }
}

fn wasm(src: &str) -> Vec<u8> {
    wat::parse_str(src).unwrap_or_else(|e| panic!("bad WAT: {e}\n{src}"))
}

/// A strategy whose `bulkhead_on_events` body is `body`; the buffer is at
/// 16384, config is copied to 2048 by init.
fn module(imports: &str, body: &str) -> Vec<u8> {
    wasm(&format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 16384))
  (func (export "bulkhead_init") (param $len i32) (result i32)
    (memory.copy (i32.const 2048) (i32.const 16384) (local.get $len))
    (i32.const 0))
  (func (export "bulkhead_on_events") (param $n i32) (result i32)
    (local $ptr i32) (local $len i32) (local $which i64) (local $i i32)
    (local.set $ptr (i32.wrap_i64 (i64.load offset=32 (i32.const 16384))))
    (local.set $len (i32.wrap_i64 (i64.load offset=40 (i32.const 16384))))
    (local.set $which (i64.load offset=48 (i32.const 16384)))
    {body})
)"#
    ))
}

const IMPORTS: &str = r#"
  (import "bulkhead" "submit_order" (func $submit (param i32 i32) (result i64)))
  (import "bulkhead" "cancel_order" (func $cancel (param i64) (result i32)))
  (import "bulkhead" "position" (func $position (param i32 i32) (result i32)))
  (import "bulkhead" "open_orders" (func $open_orders (param i32 i32) (result i32)))
  (import "bulkhead" "log" (func $log (param i32 i32 i32) (result i32)))"#;

/// Event whose price/qty/a fields carry (ptr, len, which) to the guest.
fn ev(ptr: i64, len: i64, which: i64) -> Event {
    let mut e = Event::new(EventKind::Trade, 1, 1);
    e.side = Some(Side::Buy);
    e.price = ptr;
    e.qty = len;
    e.a = which;
    e
}

fn load(rt: &SandboxRuntime, bytes: &[u8]) -> StrategyModule {
    rt.load("t.wasm", bytes).unwrap_or_else(|e| panic!("{e}"))
}

// ------------------------------------------------------- exact limits

/// Calls `cancel_order` `len` times.
fn cancel_n() -> Vec<u8> {
    module(
        IMPORTS,
        "(block $d (loop $l (br_if $d (i32.ge_u (local.get $i) (local.get $len)))
           (drop (call $cancel (i64.const 1)))
           (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))
         (i32.const 0)",
    )
}

#[test]
fn host_call_budget_allows_exactly_the_limit_and_faults_one_over() {
    let rt = SandboxRuntime::new().expect("rt");
    let m = load(&rt, &cancel_n());
    let limits = Limits { host_calls_per_callback: 100, ..lim() };
    let mut host = Host::default();
    let mut sb = rt.instantiate(&m, &limits, b"", 0, &mut host).expect("instantiate");
    sb.on_events(&[ev(0, 100, 0)], 1, &mut host).expect("exactly the limit");
    // The budget is per callback: the next one gets a fresh 100.
    sb.on_events(&[ev(0, 100, 0)], 2, &mut host).expect("budget resets per callback");
    assert_eq!(host.cancels, 200);
    let f = sb.on_events(&[ev(0, 101, 0)], 3, &mut host).expect_err("one over");
    assert_eq!(f, Fault::HostCallBudget { limit: 100 });
    assert_eq!(host.cancels, 300, "the 101st call never reaches the host");
    assert_eq!(sb.stats().host_calls, 300);
    assert_eq!(sb.stats().host_calls_refused, 1);
}

#[test]
fn log_rate_allows_exactly_the_bucket_and_faults_one_byte_over() {
    let rt = SandboxRuntime::new().expect("rt");
    let m =
        load(&rt, &module(IMPORTS, "(drop (call $log (i32.const 3) (local.get $ptr) (local.get $len))) (i32.const 0)"));
    let limits = Limits { log_bytes_per_sec: 1000, ..lim() };
    let mut host = Host::default();
    let mut sb = rt.instantiate(&m, &limits, b"", 0, &mut host).expect("instantiate");
    sb.on_events(&[ev(0, 1000, 0)], 0, &mut host).expect("exactly one second's worth");
    // 1 ms of event time refills exactly one byte.
    sb.on_events(&[ev(0, 1, 0)], 1_000_000, &mut host).expect("refilled byte");
    let f = sb.on_events(&[ev(0, 1, 0)], 1_000_000, &mut host).expect_err("one byte over");
    assert_eq!(f, Fault::LogRate { limit_per_sec: 1000 });
    assert_eq!(host.logs.iter().map(Vec::len).sum::<usize>(), 1001);
    assert_eq!(sb.stats().log_bytes, 1001);

    // A single message one byte larger than the bucket is refused outright.
    let mut host = Host::default();
    let mut sb = rt.instantiate(&m, &limits, b"", 0, &mut host).expect("instantiate");
    let f = sb.on_events(&[ev(0, 1001, 0)], 0, &mut host).expect_err("over");
    assert_eq!(f, Fault::LogRate { limit_per_sec: 1000 });
    assert!(host.logs.is_empty());
}

#[test]
fn pointer_exactly_at_the_end_is_fine_one_past_is_bad() {
    let rt = SandboxRuntime::new().expect("rt");
    let m =
        load(&rt, &module(IMPORTS, "(drop (call $log (i32.const 3) (local.get $ptr) (local.get $len))) (i32.const 0)"));
    let mut host = Host::default();
    let mut sb = rt.instantiate(&m, &lim(), b"", 0, &mut host).expect("instantiate");
    sb.on_events(&[ev(65_536 - 8, 8, 0)], 0, &mut host).expect("last 8 bytes");
    sb.on_events(&[ev(65_536, 0, 0)], 0, &mut host).expect("empty slice at the end");
    let f = sb.on_events(&[ev(65_536 - 7, 8, 0)], 0, &mut host).expect_err("one past");
    assert_eq!(f, Fault::BadPointer { call: "log", ptr: 65_529, len: 8, memory_size: 65_536 });
}

// ------------------------------------------------------- accounting

#[test]
fn stats_track_wall_histogram_fuel_and_instantiate_time() {
    let rt = SandboxRuntime::new().expect("rt");
    let m = load(&rt, &cancel_n());
    let mut host = Host::default();
    let mut sb = rt.instantiate(&m, &lim(), b"", 0, &mut host).expect("instantiate");
    assert!(sb.stats().instantiate_ns > 0);
    assert_eq!(sb.stats().wall.count(), 0, "instantiation is not a callback sample");
    for i in 0..50 {
        sb.on_events(&[ev(0, (i % 5) as i64, 0)], i, &mut host).expect("cb");
    }
    let s = sb.stats();
    assert_eq!(s.callbacks, 50);
    // Wall time is sampled: the first callback, then one every 1 to
    // 2 × WALL_SAMPLE_EVERY calls.
    let every = u64::from(bulkhead_sandbox::WALL_SAMPLE_EVERY);
    assert!((1 + 49 / (2 * every)..=50).contains(&s.wall.count()), "{} timed", s.wall.count());
    assert!(s.wall_p50_ns() > 0);
    assert!(s.wall_p50_ns() <= s.wall_p99_ns());
    assert!(s.wall_p99_ns() <= s.wall_max_ns());
    assert!(s.wall_max_ns() <= s.wall_ns_max);
    assert!(s.fuel_used_max >= s.fuel_used_last && s.fuel_used_last > 0);
    assert_eq!(s.host_calls, 100);
    assert!(s.peak_memory_bytes >= 65_536);
}

// ------------------------------------------------------- pooling

#[test]
fn pool_exhaustion_is_a_clean_instantiate_fault_and_slots_are_reused() {
    let rt = SandboxRuntime::with_config(RuntimeConfig { max_instances: 3, ..RuntimeConfig::default() }).expect("rt");
    let m = load(&rt, &cancel_n());
    let mut host = Host::default();
    let live: Vec<_> = (0..3).map(|_| rt.instantiate(&m, &lim(), b"", 0, &mut host).expect("slot")).collect();
    let f = rt.instantiate(&m, &lim(), b"", 0, &mut host).err();
    assert!(matches!(&f, Some(Fault::Instantiate { message }) if message.contains("3")), "{f:?}");
    drop(live);
    let mut again = rt.instantiate(&m, &lim(), b"", 0, &mut host).expect("slot freed on drop");
    again.on_events(&[ev(0, 1, 0)], 1, &mut host).expect("runs");
}

#[test]
fn limits_larger_than_the_pool_slot_are_refused_by_name() {
    let rt = SandboxRuntime::with_config(RuntimeConfig {
        max_instances: 4,
        memory_bytes_per_instance: 1 << 20,
        ..RuntimeConfig::default()
    })
    .expect("rt");
    let m = load(&rt, &cancel_n());
    let f = rt.instantiate(&m, &lim(), b"", 0, &mut Host::default()).err();
    assert!(
        matches!(&f, Some(Fault::Instantiate { message }) if message.contains("memory_bytes_per_instance")),
        "{f:?}"
    );
    let small = Limits { memory_bytes: 1 << 20, ..lim() };
    rt.instantiate(&m, &small, b"", 0, &mut Host::default()).expect("fits");
    // A module whose initial memory exceeds the slot still loads (and is
    // validated) but cannot be instantiated: same fault as without a pool.
    let big = wasm(
        r#"(module (memory (export "memory") 100)
             (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
             (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 0))
             (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
             (func (export "bulkhead_on_events") (param i32) (result i32) (i32.const 0)))"#,
    );
    let m = load(&rt, &big);
    let f = rt.instantiate(&m, &small, b"", 0, &mut Host::default()).err();
    assert_eq!(f, Some(Fault::MemoryLimit { requested: 100 * 65_536, limit: 1 << 20 }));
    // ... and a forbidden import is still refused at load even then.
    let bad = wasm(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 100))"#,
    );
    assert!(matches!(rt.load("x", &bad), Err(bulkhead_sandbox::LoadError::ForbiddenImport { .. })));
}

#[test]
fn on_demand_allocator_still_works() {
    let rt = SandboxRuntime::with_config(RuntimeConfig { max_instances: 0, ..RuntimeConfig::default() }).expect("rt");
    let m = load(&rt, &cancel_n());
    let mut host = Host::default();
    let mut sb = rt.instantiate(&m, &lim(), b"", 0, &mut host).expect("instantiate");
    sb.on_events(&[ev(0, 3, 0)], 1, &mut host).expect("cb");
    assert_eq!(host.cancels, 3);
}

// ------------------------------------------------------- cache

#[test]
fn cache_hits_on_second_runtime_and_rebuilds_corrupt_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = RuntimeConfig { cache_dir: Some(dir.path().join("cache")), ..RuntimeConfig::default() };
    let bytes = cancel_n();

    let rt = SandboxRuntime::with_config(cfg.clone()).expect("rt");
    let m = load(&rt, &bytes);
    assert!(!m.from_cache());
    let s = rt.cache_stats().expect("cache on");
    assert_eq!((s.misses, s.writes, s.hits), (1, 1, 0));
    let entries: Vec<_> =
        std::fs::read_dir(dir.path().join("cache")).expect("dir").map(|e| e.expect("e").path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("cache")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "cache dir is private");
    }

    // A second runtime with the same config hits, and the module works.
    let rt2 = SandboxRuntime::with_config(cfg.clone()).expect("rt");
    let m2 = load(&rt2, &bytes);
    assert!(m2.from_cache());
    assert_eq!(m2.hash, m.hash);
    let mut host = Host::default();
    let mut sb = rt2.instantiate(&m2, &lim(), b"", 0, &mut host).expect("instantiate cached");
    sb.on_events(&[ev(0, 4, 0)], 1, &mut host).expect("cb");
    assert_eq!(host.cancels, 4);

    // Flip one byte in the artifact: refused, recompiled, rewritten.
    let path = &entries[0];
    let mut raw = std::fs::read(path).expect("read");
    let n = raw.len();
    raw[n - 100] ^= 0xFF;
    std::fs::write(path, &raw).expect("corrupt");
    let rt3 = SandboxRuntime::with_config(cfg.clone()).expect("rt");
    let m3 = load(&rt3, &bytes);
    assert!(!m3.from_cache());
    assert_eq!(rt3.cache_stats().expect("on").rejected, 1);
    rt3.instantiate(&m3, &lim(), b"", 0, &mut Host::default()).expect("rebuilt module runs");
    // Truncated to the header: refused too.
    std::fs::write(path, &raw[..20]).expect("truncate");
    let rt4 = SandboxRuntime::with_config(cfg.clone()).expect("rt");
    assert!(!load(&rt4, &bytes).from_cache());
    assert_eq!(rt4.cache_stats().expect("on").rejected, 1);
    // And the rewritten entry is good again.
    let rt5 = SandboxRuntime::with_config(cfg).expect("rt");
    assert!(load(&rt5, &bytes).from_cache());

    // A different engine configuration never shares entries.
    let other = RuntimeConfig {
        cache_dir: Some(dir.path().join("cache")),
        memory_bytes_per_instance: 32 << 20,
        ..RuntimeConfig::default()
    };
    let rt6 = SandboxRuntime::with_config(other).expect("rt");
    assert!(!load(&rt6, &bytes).from_cache());
    // Invalid modules are never cached and still refused.
    assert!(rt6.load("x", b"\0asm\x01\0\0\0\xff").is_err());
}

// ------------------------------------------------------- properties

fn submit_from_config() -> Vec<u8> {
    module(
        IMPORTS,
        "(i64.store (i32.const 4096) (call $submit (i32.const 2048) (i32.const 32)))
         (drop (call $log (i32.const 3) (i32.const 4096) (i32.const 8)))
         (i32.const 0)",
    )
}

/// Random pointer / length passed to each pointer-taking import.
fn pointer_probe() -> Vec<u8> {
    module(
        IMPORTS,
        "(if (i64.eq (local.get $which) (i64.const 0)) (then (drop (call $submit (local.get $ptr) (local.get $len)))))
         (if (i64.eq (local.get $which) (i64.const 1)) (then (drop (call $log (i32.const 3) (local.get $ptr) (local.get $len)))))
         (if (i64.eq (local.get $which) (i64.const 2)) (then (drop (call $position (i32.const 1) (local.get $ptr)))))
         (if (i64.eq (local.get $which) (i64.const 3)) (then (drop (call $open_orders (local.get $ptr) (local.get $len)))))
         (i32.const 0)",
    )
}

fn record_bytes() -> impl Strategy<Value = [u8; 32]> {
    // Bias towards the valid region so both outcomes are well covered.
    (any::<[u8; 32]>(), 0u8..4, 0u8..3, 0u8..5, 0u8..3, any::<bool>()).prop_map(
        |(mut b, side, ot, tif, flags, sane_qty)| {
            b[4] = side;
            b[5] = ot;
            b[6] = tif;
            b[7] = [0, 1, 0x80][flags as usize];
            if sane_qty {
                let (qty, price) = (1 + b[16] as i64, b[9] as i64 - 8);
                b[16..24].copy_from_slice(&qty.to_le_bytes());
                b[8..16].copy_from_slice(&price.to_le_bytes());
            }
            b
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// A random 32-byte order record through a real module's submit_order:
    /// the host sees exactly the decoded order, or the strategy gets
    /// -(InvalidOrder) and the host hears about the invalid record.
    #[test]
    fn random_order_records_are_decoded_or_refused(rec in record_bytes()) {
        thread_local! {
            static RT: (SandboxRuntime, StrategyModule) = {
                let rt = SandboxRuntime::new().expect("rt");
                let m = rt.load("p.wasm", &submit_from_config()).expect("load");
                (rt, m)
            };
        }
        RT.with(|(rt, m)| {
            let mut host = Host::default();
            let mut sb = rt.instantiate(m, &lim(), &rec, 0, &mut host).expect("instantiate");
            sb.on_events(&[ev(0, 0, 0)], 1, &mut host).expect("never a fault");
            let ret = i64::from_le_bytes(host.logs[0][..8].try_into().expect("8"));
            match OrderRequest::decode(&rec) {
                Ok(o) => {
                    prop_assert_eq!(&host.orders, &vec![o]);
                    prop_assert_eq!(ret, 1001);
                    prop_assert!(host.invalid.is_empty());
                }
                Err(e) => {
                    prop_assert!(host.orders.is_empty());
                    prop_assert_eq!(ret, -(Reason::InvalidOrder.code() as i64));
                    prop_assert_eq!(&host.invalid, &vec![e]);
                    prop_assert_eq!(sb.stats().invalid_records, 1);
                }
            }
            Ok(())
        })?;
    }

    /// Random (ptr, len) to every pointer-taking import: success exactly when
    /// the range is inside memory, otherwise a BadPointer fault naming it.
    #[test]
    fn random_pointers_are_bad_pointer_or_success(
        ptr in prop_oneof![any::<u32>(), 65_000u32..66_000, 0u32..64],
        len in prop_oneof![any::<u32>(), 0u32..2_000, (-8i32..0).prop_map(|v| v as u32)],
        which in 0i64..4,
    ) {
        thread_local! {
            static RT: (SandboxRuntime, StrategyModule) = {
                let rt = SandboxRuntime::new().expect("rt");
                let m = rt.load("p.wasm", &pointer_probe()).expect("load");
                (rt, m)
            };
        }
        RT.with(|(rt, m)| {
            let limits = Limits { log_bytes_per_sec: 1 << 40, ..lim() };
            let mut host = Host { open: vec![OpenOrderRecord { id: 1, tag: 2, instrument: 3, side: Side::Sell, price: 4, remaining_qty: 5 }; 3], ..Host::default() };
            let mut sb = rt.instantiate(m, &limits, b"", 0, &mut host).expect("instantiate");
            let r = sb.on_events(&[ev(ptr as i32 as i64, len as i32 as i64, which)], 1, &mut host);
            let mem = 65_536u64;
            let (call, need): (&str, Option<u64>) = match which {
                0 => ("submit_order", Some(len as u64)),
                1 => ("log", Some(len as u64)),
                2 => ("position", Some(POSITION_SIZE as u64)),
                _ => ("open_orders", if (len as i32) < 0 { None } else { Some((len as u64).min(1024) * OPEN_ORDER_SIZE as u64) }),
            };
            match need {
                Some(n) if ptr as u64 + n > mem => {
                    prop_assert_eq!(r, Err(Fault::BadPointer { call, ptr: ptr as u64, len: n, memory_size: mem }));
                }
                _ => prop_assert_eq!(r, Ok(())),
            }
            Ok(())
        })?;
    }

    /// Decoders are total and encode∘decode is the identity on what they accept.
    #[test]
    fn record_decoders_never_panic_and_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(o) = OrderRequest::decode(&bytes) {
            prop_assert_eq!(OrderRequest::decode(&o.encode()), Ok(o));
        }
        if let Ok(e) = Event::decode(&bytes) {
            prop_assert_eq!(&e.encode()[..], &bytes[..64]);
        }
        if let Ok(p) = PositionRecord::decode(&bytes) {
            prop_assert_eq!(&p.encode()[..], &bytes[..48]);
        }
        if let Ok(o) = OpenOrderRecord::decode(&bytes) {
            prop_assert_eq!(OpenOrderRecord::decode(&o.encode()), Ok(o));
        }
    }

    /// Mutated real modules (the stable-toolchain twin of the `load_module`
    /// fuzz target): load returns Ok or a typed error, never panics; what
    /// loads runs one callback under tight limits without panicking.
    #[test]
    fn mutated_modules_never_panic_the_loader(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        thread_local! {
            static RT: SandboxRuntime =
                SandboxRuntime::with_config(RuntimeConfig { max_instances: 8, ..RuntimeConfig::default() }).expect("rt");
        }
        let mut bytes = cancel_n();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        if let Some(t) = truncate {
            bytes.truncate(t.index(bytes.len()));
        }
        RT.with(|rt| {
            if let Ok(m) = rt.load("mutant.wasm", &bytes) {
                let limits = Limits { fuel_per_callback: 100_000, ..lim() };
                let mut host = Host::default();
                if let Ok(mut sb) = rt.instantiate(&m, &limits, b"", 0, &mut host) {
                    let _ = sb.on_events(&[ev(0, 3, 0)], 1, &mut host);
                }
            }
        });
    }
}

// ------------------------------------------------------- float determinism

/// NaNs made by float arithmetic (scalar and SIMD) come out canonical, and
/// relaxed SIMD takes its deterministic lowering: the guest logs the raw
/// bits of what it computed and the host checks them. On x86-64 without
/// these settings, `0.0 / 0.0` is the *negative* quiet NaN, a payload NaN
/// keeps its payload, `i32x4.relaxed_trunc_f32x4_s` gives `0x80000000` for
/// NaN and out-of-range lanes and `i8x16.relaxed_swizzle` wraps indices ≥ 16.
#[test]
fn float_results_are_canonical_and_relaxed_simd_is_deterministic() {
    let body = r#"
    (f64.store (i32.const 4096) (f64.div (f64.const 0) (f64.const 0)))
    (f64.store (i32.const 4104) (f64.sqrt (f64.const -1)))
    (f64.store (i32.const 4112) (f64.add (f64.reinterpret_i64 (i64.const 0xfff0000000000123)) (f64.const 1)))
    (f32.store (i32.const 4120) (f32.div (f32.const 0) (f32.const 0)))
    (f32.store (i32.const 4124) (f32.mul (f32.const inf) (f32.const 0)))
    (f64.store (i32.const 4128) (f64.div (f64.reinterpret_i64 (i64.const 0x7ff0000000000001)) (f64.const 2)))
    (v128.store (i32.const 4136) (f32x4.div (v128.const f32x4 0 -0 0 -0) (v128.const f32x4 0 0 -0 -0)))
    (v128.store (i32.const 4152) (i32x4.relaxed_trunc_f32x4_s (v128.const f32x4 nan 3e9 -3e9 1.5)))
    (v128.store (i32.const 4168) (i8x16.relaxed_swizzle
        (v128.const i8x16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
        (v128.const i8x16 16 32 127 -128 0 1 2 3 15 14 17 -1 4 5 6 7)))
    (drop (call $log (i32.const 3) (i32.const 4096) (i32.const 88)))
    (i32.const 0)"#;
    let rt = SandboxRuntime::new().expect("rt");
    let m = load(&rt, &module(IMPORTS, body));
    let mut host = Host::default();
    let mut sb = rt.instantiate(&m, &lim(), b"", 0, &mut host).expect("instantiate");
    sb.on_events(&[ev(0, 0, 0)], 0, &mut host).expect("runs");
    let b = &host.logs[0];
    assert_eq!(b.len(), 88);
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    const F64_NAN: u64 = 0x7ff8_0000_0000_0000;
    const F32_NAN: u32 = 0x7fc0_0000;
    for (at, what) in [(0, "0/0"), (8, "sqrt(-1)"), (16, "payload NaN + 1"), (32, "payload NaN / 2")] {
        assert_eq!(u64_at(at), F64_NAN, "f64 {what}: {:#018x}", u64_at(at));
    }
    assert_eq!(u32_at(24), F32_NAN, "f32 0/0: {:#010x}", u32_at(24));
    assert_eq!(u32_at(28), F32_NAN, "f32 inf*0: {:#010x}", u32_at(28));
    for lane in 0..4 {
        assert_eq!(u32_at(40 + 4 * lane), F32_NAN, "f32x4.div lane {lane}: {:#010x}", u32_at(40 + 4 * lane));
    }
    // Deterministic relaxed truncation = i32x4.trunc_sat_f32x4_s.
    let trunc: Vec<i32> = (0..4).map(|l| u32_at(56 + 4 * l) as i32).collect();
    assert_eq!(trunc, [0, i32::MAX, i32::MIN, 1]);
    // Deterministic relaxed swizzle = i8x16.swizzle: indices ≥ 16 give 0.
    assert_eq!(&b[72..88], &[0, 0, 0, 0, 1, 2, 3, 4, 16, 15, 0, 0, 5, 6, 7, 8]);
}
