//! Behaviour-level tests: real wasm (WAT compiled with the `wat` crate) run
//! through the public API against a recording host.

use bulkhead_abi::{
    DecodeError, Event, EventKind, HostApi, OPEN_ORDER_SIZE, OpenOrderRecord, OrderRequest, OrderType, PositionRecord,
    Reason, Side, TimeInForce,
};
use bulkhead_sandbox::{Fault, Limits, LoadError, Sandbox, SandboxRuntime, StrategyModule};
use serde::Deserialize;

// ------------------------------------------------------------------ helpers

#[derive(Default)]
struct Recorder {
    next_id: i64,
    orders: Vec<OrderRequest>,
    invalid: Vec<DecodeError>,
    cancels: Vec<u64>,
    cancel_alls: Vec<Option<u32>>,
    positions: Vec<u32>,
    position_rec: PositionRecord,
    open: Vec<OpenOrderRecord>,
    timers: Vec<(u64, u64)>,
    logs: Vec<(i32, Vec<u8>)>,
}

impl HostApi for Recorder {
    fn submit_order(&mut self, req: &OrderRequest) -> i64 {
        self.orders.push(*req);
        self.next_id += 1;
        1000 + self.next_id
    }
    fn cancel_order(&mut self, id: u64) -> i32 {
        self.cancels.push(id);
        0
    }
    fn cancel_all(&mut self, instrument: Option<u32>) -> i32 {
        self.cancel_alls.push(instrument);
        2
    }
    fn position(&mut self, instrument: u32, out: &mut PositionRecord) -> i32 {
        self.positions.push(instrument);
        *out = self.position_rec;
        0
    }
    fn open_orders(&mut self, out: &mut [OpenOrderRecord]) -> i32 {
        for (o, r) in out.iter_mut().zip(&self.open) {
            *o = *r;
        }
        self.open.len() as i32
    }
    fn set_timer(&mut self, at_ns: u64, token: u64) -> i32 {
        self.timers.push((at_ns, token));
        0
    }
    fn log(&mut self, level: i32, msg: &[u8]) -> i32 {
        self.logs.push((level, msg.to_vec()));
        0
    }
    fn invalid_record(&mut self, err: DecodeError) {
        self.invalid.push(err);
    }
}

/// Default limits except a wall-clock deadline so generous that it never
/// fires on a loaded CI machine: only the tests about the deadline rely on
/// wall-clock time, and they loop forever, so they cannot be flaky.
fn lim() -> Limits {
    Limits { deadline_us: 600_000_000, ..Limits::default() }
}

fn rt() -> SandboxRuntime {
    SandboxRuntime::new().expect("runtime")
}

fn wasm(wat_src: &str) -> Vec<u8> {
    wat::parse_str(wat_src).unwrap_or_else(|e| panic!("bad WAT in test: {e}\n{wat_src}"))
}

fn good_wasm() -> Vec<u8> {
    wat::parse_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/good.wat")).expect("good.wat")
}

/// A minimal valid strategy whose parts can be swapped out.
struct Wat<'a> {
    imports: &'a str,
    memory: &'a str,
    abi: i32,
    buffer: &'a str,
    on_events: &'a str,
    extra: &'a str,
}

impl Default for Wat<'_> {
    fn default() -> Self {
        Wat { imports: "", memory: "1", abi: 1, buffer: "(i32.const 1024)", on_events: "(i32.const 0)", extra: "" }
    }
}

impl Wat<'_> {
    fn build(&self) -> Vec<u8> {
        wasm(&format!(
            r#"(module
  {imports}
  (memory (export "memory") {memory})
  (func (export "bulkhead_abi_version") (result i32) (i32.const {abi}))
  (func (export "bulkhead_buffer") (param i32) (result i32) {buffer})
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  (func (export "bulkhead_on_events") (param $n i32) (result i32) {on_events})
  {extra}
)"#,
            imports = self.imports,
            memory = self.memory,
            abi = self.abi,
            buffer = self.buffer,
            on_events = self.on_events,
            extra = self.extra,
        ))
    }
}

fn load(rt: &SandboxRuntime, bytes: &[u8]) -> StrategyModule {
    rt.load("test.wasm", bytes).unwrap_or_else(|e| panic!("load failed: {e}"))
}

fn start(rt: &SandboxRuntime, bytes: &[u8], limits: &Limits) -> Result<Sandbox, Fault> {
    let m = load(rt, bytes);
    rt.instantiate(&m, limits, b"", 0, &mut Recorder::default())
}

fn trade(ts_ns: u64, id: u64, price: i64) -> Event {
    let mut e = Event::new(EventKind::Trade, 7, ts_ns);
    e.side = Some(Side::Buy);
    e.id = id;
    e.price = price;
    e.qty = 3;
    e
}

/// Run one callback of a module built from `w` and return its fault.
fn fault_of(w: Wat<'_>, limits: &Limits) -> Fault {
    let rt = rt();
    let mut sb = start(&rt, &w.build(), limits).expect("instantiate");
    let mut host = Recorder::default();
    sb.on_events(&[trade(1, 1, 100)], 1, &mut host).expect_err("callback should fault")
}

const IMPORT_LOG: &str = r#"(import "bulkhead" "log" (func $log (param i32 i32 i32) (result i32)))"#;
const IMPORT_SUBMIT: &str = r#"(import "bulkhead" "submit_order" (func $submit (param i32 i32) (result i64)))"#;
const IMPORT_CANCEL: &str = r#"(import "bulkhead" "cancel_order" (func $cancel (param i64) (result i32)))"#;
const IMPORT_POSITION: &str = r#"(import "bulkhead" "position" (func $position (param i32 i32) (result i32)))"#;
const LOOP_FOREVER: &str = "(loop $l (br $l)) (i32.const 0)";

// ------------------------------------------------------- happy-path round trip

#[test]
fn good_module_round_trips_every_import() {
    let rt = rt();
    let module = load(&rt, &good_wasm());
    assert_eq!(module.hash, *blake3::hash(&good_wasm()).as_bytes());
    let mut host = Recorder {
        position_rec: PositionRecord {
            qty: -3,
            avg_price: 101,
            realised_pnl: 55,
            fees: -2,
            open_buy_qty: 4,
            open_sell_qty: 0,
        },
        open: vec![
            OpenOrderRecord { id: 11, tag: 1, instrument: 7, side: Side::Buy, price: 99, remaining_qty: 2 },
            OpenOrderRecord { id: 12, tag: 2, instrument: 7, side: Side::Sell, price: 103, remaining_qty: 1 },
        ],
        ..Recorder::default()
    };
    let mut sb = rt.instantiate(&module, &lim(), &[1, 2, 3], 0, &mut host).expect("instantiate");

    let events = [trade(5_000, 1, 123), trade(6_000, 2, 124), trade(7_000, 77, 125)];
    sb.on_events(&events, 7_000, &mut host).expect("callback");

    // submit_order: the host saw the decoded record; the id reached the guest
    // (it cancels exactly that id and reports it back).
    let want = OrderRequest {
        instrument: 7,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        price: 100,
        qty: 5,
        tag: 42,
    };
    assert_eq!(host.orders, vec![want]);
    assert_eq!(host.cancels, vec![1001]);
    assert_eq!(host.cancel_alls, vec![None, Some(3)]);
    assert_eq!(host.positions, vec![7]);
    assert_eq!(host.timers, vec![(6_000, 99)]);

    // The invalid record went to invalid_record, not to submit_order.
    assert_eq!(host.invalid.len(), 1);
    assert_eq!(host.invalid[0].field, "side");

    assert_eq!(host.logs.len(), 4);
    let (level, results) = &host.logs[0];
    assert_eq!(*level, 3);
    let r: Vec<i64> = results.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
    assert_eq!(r[0], 1001, "submit_order result reaches the guest");
    assert_eq!(r[1], -(Reason::InvalidOrder.code() as i64));
    assert_eq!(r[2], 0, "cancel_order result");
    assert_eq!(r[3], 2, "cancel_all(-1) result");
    assert_eq!(r[4], 2, "cancel_all(3) result");
    assert_eq!(r[5], 0, "position result");
    assert_eq!(r[6], 2, "open_orders total");
    assert_eq!(r[7], 0, "set_timer result");
    assert_eq!(r[8], 3, "config length seen by init");
    assert_eq!(r[9], 6, "config bytes seen by init");
    assert_eq!(r[10], 3, "event count");
    assert_eq!(r[11], 123, "event[0].price");
    assert_eq!(r[12], 77, "event[n-1].id");

    // position and open_orders records written into guest memory.
    assert_eq!(PositionRecord::decode(&host.logs[1].1), Ok(host.position_rec));
    let slots = &host.logs[2].1;
    assert_eq!(OpenOrderRecord::decode(&slots[..OPEN_ORDER_SIZE]), Ok(host.open[0]));
    assert_eq!(OpenOrderRecord::decode(&slots[OPEN_ORDER_SIZE..2 * OPEN_ORDER_SIZE]), Ok(host.open[1]));
    assert!(slots[2 * OPEN_ORDER_SIZE..].iter().all(|&b| b == 0), "only `total` records are written");
    assert_eq!(host.logs[3], (2, b"hello".to_vec()));

    let s = sb.stats();
    assert_eq!(s.callbacks, 1);
    assert_eq!(s.invalid_records, 1);
    assert_eq!(s.host_calls, 12);
    assert_eq!(s.log_bytes, 104 + 48 + 160 + 5);
    assert!(s.fuel_used > 0);
    assert!(s.peak_memory_bytes >= 65_536);
    assert!(s.wall_ns_max <= s.wall_ns_total);
    assert!(sb.fault().is_none());
}

#[test]
fn batches_over_max_are_split_and_empty_batches_skip_the_guest() {
    let rt = rt();
    let module = load(&rt, &good_wasm());
    let mut host = Recorder::default();
    let mut sb = rt.instantiate(&module, &lim(), b"", 0, &mut host).expect("instantiate");
    sb.on_events(&[], 0, &mut host).expect("empty");
    assert_eq!(sb.stats().callbacks, 0);
    let events: Vec<Event> = (0..300).map(|i| trade(i, i, 1)).collect();
    sb.on_events(&events, 300, &mut host).expect("callback");
    assert_eq!(sb.stats().callbacks, 2);
    assert_eq!(host.orders.len(), 2);
}

#[test]
fn init_error_code_is_a_guest_error() {
    let rt = rt();
    let module = load(&rt, &good_wasm());
    let err = rt.instantiate(&module, &lim(), &[0xFF, 1], 0, &mut Recorder::default()).err();
    assert_eq!(err, Some(Fault::GuestError { callback: "bulkhead_init", code: 7 }));
}

#[test]
fn on_events_error_code_is_a_guest_error() {
    let f = fault_of(Wat { on_events: "(i32.const 3)", ..Wat::default() }, &lim());
    assert_eq!(f, Fault::GuestError { callback: "bulkhead_on_events", code: 3 });
    assert_eq!(f.kind(), "guest_error");
}

#[test]
fn limits_deserialize_with_defaults_and_refuse_unknown_fields() {
    use serde::de::value::{Error as DeError, MapDeserializer};
    let map = |pairs: Vec<(&'static str, u64)>| MapDeserializer::<_, DeError>::new(pairs.into_iter());
    let l = Limits::deserialize(map(vec![("fuel_per_callback", 5), ("table_elements", 9)])).expect("limits");
    assert_eq!(l, Limits { fuel_per_callback: 5, table_elements: 9, ..Limits::default() });
    assert!(Limits::deserialize(map(vec![("fuel", 5)])).is_err());
}

// ------------------------------------------------------------- load refusals

fn refused(bytes: &[u8]) -> LoadError {
    rt().load("evil.wasm", bytes).expect_err("load should refuse")
}

#[test]
fn wasi_import_is_forbidden_and_named() {
    let e = refused(
        &Wat {
            imports: r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
            ..Wat::default()
        }
        .build(),
    );
    assert_eq!(
        e,
        LoadError::ForbiddenImport {
            name: "evil.wasm".into(),
            module: "wasi_snapshot_preview1".into(),
            field: "fd_write".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "module `evil.wasm`: import `wasi_snapshot_preview1::fd_write` is not allowed (only module `bulkhead` may be imported)"
    );
}

#[test]
fn unknown_bulkhead_import_is_forbidden() {
    let e = refused(&Wat { imports: r#"(import "bulkhead" "foo" (func))"#, ..Wat::default() }.build());
    assert!(matches!(&e, LoadError::ForbiddenImport { module, field, .. } if module == "bulkhead" && field == "foo"));
    assert!(e.to_string().contains("`bulkhead::foo`"), "{e}");
}

#[test]
fn non_function_import_is_forbidden() {
    let e = refused(&Wat { imports: r#"(import "bulkhead" "log" (global i32))"#, ..Wat::default() }.build());
    assert!(matches!(&e, LoadError::ForbiddenImport { field, .. } if field == "log"), "{e}");
}

#[test]
fn wrong_import_signature_is_refused() {
    let e = refused(
        &Wat { imports: r#"(import "bulkhead" "submit_order" (func (param i32) (result i32)))"#, ..Wat::default() }
            .build(),
    );
    match &e {
        LoadError::WrongSignature { name, field, expected, found } => {
            assert_eq!(name, "evil.wasm");
            assert_eq!(field, "submit_order");
            assert_eq!(expected, "(i32, i32) -> (i64)");
            assert_eq!(found, "(i32) -> (i32)");
        }
        other => panic!("expected WrongSignature, got {other:?}"),
    }
    assert!(e.to_string().contains("submit_order"), "{e}");
}

#[test]
fn missing_and_mistyped_exports_are_refused() {
    let no_on_events = wasm(
        r#"(module (memory (export "memory") 1)
             (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
             (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 0))
             (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert_eq!(
        refused(&no_on_events),
        LoadError::MissingExport { name: "evil.wasm".into(), export: "bulkhead_on_events".into() }
    );

    let no_memory = wasm(
        r#"(module
             (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
             (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 0))
             (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
             (func (export "bulkhead_on_events") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert_eq!(refused(&no_memory), LoadError::MissingExport { name: "evil.wasm".into(), export: "memory".into() });

    let wrong_type = wasm(
        r#"(module (memory (export "memory") 1)
             (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
             (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 0))
             (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
             (func (export "bulkhead_on_events") (param i64) (result i32) (i32.const 0)))"#,
    );
    let e = refused(&wrong_type);
    assert!(matches!(&e, LoadError::WrongExportType { export, .. } if export == "bulkhead_on_events"), "{e:?}");
}

#[test]
fn non_wasm_bytes_are_refused() {
    let e = refused(b"#!/bin/sh\nrm -rf /\n");
    assert!(matches!(&e, LoadError::NotWasm { name, .. } if name == "evil.wasm"), "{e:?}");
    // Malformed bytes are refused by the pre-compile pass, with the offset.
    let e = refused(b"\0asm\x01\0\0\0\xff\xff");
    assert!(matches!(&e, LoadError::Malformed { name, offset: 8, .. } if name == "evil.wasm"), "{e:?}");
}

#[test]
fn wrong_abi_version_is_a_fault() {
    let f = start(&rt(), &Wat { abi: 2, ..Wat::default() }.build(), &lim()).err();
    assert_eq!(f, Some(Fault::AbiVersion { found: 2, expected: 1 }));
}

#[test]
fn buffer_outside_memory_is_missing_buffer() {
    let f = start(&rt(), &Wat { buffer: "(i32.const 65000)", ..Wat::default() }.build(), &lim()).err();
    assert_eq!(f, Some(Fault::MissingBuffer));
}

// ------------------------------------------------------------------- limits

#[test]
fn infinite_loop_exhausts_fuel() {
    // Default fuel; the deadline is lifted so that fuel, which is
    // deterministic, is what stops the loop on any machine.
    let limits = lim();
    let f = fault_of(Wat { on_events: LOOP_FOREVER, ..Wat::default() }, &limits);
    assert_eq!(f, Fault::FuelExhausted { limit: 10_000_000 });
    assert_eq!(f.kind(), "fuel");
    assert!(f.to_string().contains("10000000"), "{f}");
}

#[test]
fn infinite_loop_with_huge_fuel_hits_the_deadline() {
    let limits = Limits { fuel_per_callback: 1 << 62, fuel_per_event: 1 << 62, deadline_us: 20_000, ..lim() };
    let f = fault_of(Wat { on_events: LOOP_FOREVER, ..Wat::default() }, &limits);
    assert_eq!(f, Fault::Deadline { limit_us: 20_000 });
    assert_eq!(f.kind(), "deadline");
}

#[test]
fn memory_grow_past_cap_is_memory_limit() {
    let limits = Limits { memory_bytes: 2 << 20, ..lim() };
    let f =
        fault_of(Wat { on_events: "(drop (memory.grow (i32.const 100))) (i32.const 0)", ..Wat::default() }, &limits);
    assert_eq!(f, Fault::MemoryLimit { requested: 101 * 65_536, limit: 2 << 20 });
    assert_eq!(f.kind(), "memory");
}

#[test]
fn memory_grow_within_cap_is_fine_and_counted() {
    let rt = rt();
    let w = Wat { on_events: "(drop (memory.grow (i32.const 3))) (i32.const 0)", ..Wat::default() };
    let mut sb = start(&rt, &w.build(), &lim()).expect("instantiate");
    sb.on_events(&[trade(1, 1, 1)], 1, &mut Recorder::default()).expect("callback");
    assert_eq!(sb.stats().peak_memory_bytes, 4 * 65_536);
}

/// Pool slots sized to the strategies' limits (`RuntimeConfig::sized_for`,
/// what `bulkhead run` does): the largest memory limit rounded up to whole
/// pages, the largest table. Inside such a pool a strategy runs to its
/// limit, and growing past it is the same `memory` fault as in the default
/// pool.
#[test]
fn pool_slots_sized_to_the_strategies_hold_each_up_to_its_limit() {
    use bulkhead_sandbox::RuntimeConfig;
    let small = Limits { memory_bytes: 1_000_000, table_elements: 100, ..lim() };
    let big = Limits { memory_bytes: 2 << 20, ..small.clone() };
    let c = RuntimeConfig::default().sized_for([&small, &big]);
    assert_eq!((c.memory_bytes_per_instance, c.table_elements_per_instance), (2 << 20, 100));
    let c = RuntimeConfig::default().sized_for([&small]);
    assert_eq!(c.memory_bytes_per_instance, 16 * 65_536, "1 000 000 bytes round up to 16 pages");
    assert_eq!(RuntimeConfig::default().sized_for([]), RuntimeConfig::default());
    // Never larger than the configured slots: asking for more stays a refusal.
    let huge = Limits { memory_bytes: 1 << 40, table_elements: u32::MAX, ..lim() };
    assert_eq!(RuntimeConfig::default().sized_for([&huge]), RuntimeConfig::default());

    let rt = SandboxRuntime::with_config(RuntimeConfig::default().sized_for([&big])).expect("runtime");
    let grow = |pages: u32| Wat {
        on_events: format!("(drop (memory.grow (i32.const {pages}))) (i32.const 0)").leak(),
        ..Wat::default()
    };
    let mut sb = start(&rt, &grow(31).build(), &big).expect("instantiate");
    sb.on_events(&[trade(1, 1, 1)], 1, &mut Recorder::default()).expect("to the limit");
    assert_eq!(sb.stats().peak_memory_bytes, 2 << 20);
    let mut sb = start(&rt, &grow(32).build(), &big).expect("instantiate");
    let f = sb.on_events(&[trade(1, 1, 1)], 1, &mut Recorder::default()).unwrap_err();
    assert_eq!(f, Fault::MemoryLimit { requested: 33 * 65_536, limit: 2 << 20 });
}

#[test]
fn huge_initial_memory_is_memory_limit() {
    let f = start(&rt(), &Wat { memory: "2000", ..Wat::default() }.build(), &lim()).err();
    assert_eq!(f, Some(Fault::MemoryLimit { requested: 2000 * 65_536, limit: 64 << 20 }));
}

#[test]
fn deep_recursion_is_stack_overflow() {
    let f = fault_of(
        Wat {
            on_events: "(call $r (i32.const 0))",
            extra: "(func $r (param i32) (result i32) (call $r (i32.add (local.get 0) (i32.const 1))))",
            ..Wat::default()
        },
        &lim(),
    );
    assert_eq!(f, Fault::StackOverflow { limit_bytes: 512 * 1024 });
    assert_eq!(f.kind(), "stack");
    assert!(f.to_string().contains("524288 bytes"), "{f}");
}

#[test]
fn unreachable_is_a_named_trap() {
    let f = fault_of(Wat { on_events: "unreachable", ..Wat::default() }, &lim());
    assert_eq!(f, Fault::Trap { code: "unreachable".into() });
    assert_eq!(f.kind(), "trap");
    assert!(f.to_string().contains("unreachable"), "{f}");
}

#[test]
fn divide_by_zero_and_oob_are_named_traps() {
    let f = fault_of(Wat { on_events: "(i32.div_u (i32.const 1) (i32.const 0))", ..Wat::default() }, &lim());
    assert_eq!(f, Fault::Trap { code: "integer divide by zero".into() });
    let f = fault_of(Wat { on_events: "(i32.load (i32.const 70000))", ..Wat::default() }, &lim());
    assert_eq!(f, Fault::Trap { code: "out of bounds memory access".into() });
}

#[test]
fn looping_start_function_faults_at_instantiate() {
    let w = Wat { extra: "(func $s (loop $l (br $l))) (start $s)", ..Wat::default() };
    let limits = lim();
    let f = start(&rt(), &w.build(), &limits).err();
    assert_eq!(f, Some(Fault::FuelExhausted { limit: 10_000_000 }));
    // Also with effectively unlimited fuel: the deadline stops it.
    let limits = Limits { fuel_per_callback: 1 << 62, deadline_us: 10_000, ..lim() };
    let f = start(&rt(), &w.build(), &limits).err();
    assert_eq!(f, Some(Fault::Deadline { limit_us: 10_000 }));
}

#[test]
fn overflowing_pointer_to_submit_order_is_bad_pointer() {
    let f = fault_of(
        Wat {
            imports: IMPORT_SUBMIT,
            on_events: "(drop (call $submit (i32.const -16) (i32.const 0x7fffffff))) (i32.const 0)",
            ..Wat::default()
        },
        &lim(),
    );
    assert_eq!(f, Fault::BadPointer { call: "submit_order", ptr: 0xFFFF_FFF0, len: 0x7FFF_FFFF, memory_size: 65_536 });
    assert_eq!(f.kind(), "bad_pointer");
}

#[test]
fn negative_length_and_out_pointer_past_the_end_are_bad_pointers() {
    let f = fault_of(
        Wat {
            imports: IMPORT_LOG,
            on_events: "(drop (call $log (i32.const 3) (i32.const 16) (i32.const -1))) (i32.const 0)",
            ..Wat::default()
        },
        &lim(),
    );
    assert_eq!(f, Fault::BadPointer { call: "log", ptr: 16, len: 0xFFFF_FFFF, memory_size: 65_536 });
    let f = fault_of(
        Wat {
            imports: IMPORT_POSITION,
            on_events: "(drop (call $position (i32.const 1) (i32.const 65500))) (i32.const 0)",
            ..Wat::default()
        },
        &lim(),
    );
    assert_eq!(f, Fault::BadPointer { call: "position", ptr: 65_500, len: 48, memory_size: 65_536 });
}

#[test]
fn host_call_spam_exhausts_the_budget() {
    let rt = rt();
    let w = Wat {
        imports: IMPORT_CANCEL,
        on_events: "(loop $l (drop (call $cancel (i64.const 5))) (br $l)) (i32.const 0)",
        ..Wat::default()
    };
    let mut sb = start(&rt, &w.build(), &lim()).expect("instantiate");
    let mut host = Recorder::default();
    let f = sb.on_events(&[trade(1, 1, 1)], 1, &mut host).expect_err("fault");
    assert_eq!(f, Fault::HostCallBudget { limit: 10_000 });
    assert_eq!(f.kind(), "host_calls");
    assert_eq!(host.cancels.len(), 10_000, "the call over budget never reaches the host");
}

#[test]
fn log_flood_hits_the_rate_limit() {
    let rt = rt();
    let w = Wat {
        imports: IMPORT_LOG,
        on_events: "(loop $l (drop (call $log (i32.const 3) (i32.const 0) (i32.const 1024))) (br $l)) (i32.const 0)",
        ..Wat::default()
    };
    let mut sb = start(&rt, &w.build(), &lim()).expect("instantiate");
    let mut host = Recorder::default();
    let f = sb.on_events(&[trade(1, 1, 1)], 1, &mut host).expect_err("fault");
    assert_eq!(f, Fault::LogRate { limit_per_sec: 65_536 });
    assert_eq!(f.kind(), "log_rate");
    assert_eq!(host.logs.len(), 64, "exactly one second's worth of bytes gets through");
}

#[test]
fn log_budget_refills_over_event_time() {
    let rt = rt();
    // Logs event[0].qty bytes.
    let w = Wat {
        imports: IMPORT_LOG,
        on_events: "(drop (call $log (i32.const 3) (i32.const 0) (i32.wrap_i64 (i64.load offset=40 (i32.const 1024))))) (i32.const 0)",
        ..Wat::default()
    };
    let mut sb = start(&rt, &w.build(), &lim()).expect("instantiate");
    let mut host = Recorder::default();
    let mut ev = trade(0, 1, 1);
    ev.qty = 60_000;
    sb.on_events(&[ev], 0, &mut host).expect("first second");
    sb.on_events(&[ev], 1_000_000_000, &mut host).expect("bucket refilled after 1 s of event time");
    let f = sb.on_events(&[ev], 1_500_000_000, &mut host).expect_err("only half a second refilled");
    assert_eq!(f, Fault::LogRate { limit_per_sec: 65_536 });
    assert_eq!(host.logs.len(), 2);
    assert_eq!(sb.stats().log_bytes, 120_000);
}

#[test]
fn table_growth_past_cap_is_table_limit() {
    let f = fault_of(
        Wat {
            on_events: "(drop (table.grow $t (ref.null func) (i32.const 20000))) (i32.const 0)",
            extra: "(table $t 1 funcref)",
            ..Wat::default()
        },
        &lim(),
    );
    assert_eq!(f, Fault::TableLimit { requested: 20_001, limit: 10_000 });
    assert_eq!(f.kind(), "table");
    // A table that starts over the cap fails at instantiation.
    let w = Wat { extra: "(table $t 20000 funcref)", ..Wat::default() };
    let f = start(&rt(), &w.build(), &lim()).err();
    assert_eq!(f, Some(Fault::TableLimit { requested: 20_000, limit: 10_000 }));
}

#[test]
fn stack_request_over_runtime_stack_is_refused() {
    let limits = Limits { stack_bytes: 8 << 20, ..lim() };
    let f = start(&rt(), &Wat::default().build(), &limits).err();
    assert!(matches!(f, Some(Fault::Instantiate { .. })), "{f:?}");
}

// ------------------------------------------------------ isolation / recovery

#[test]
fn after_a_fault_the_host_carries_on_and_the_faulted_sandbox_stays_frozen() {
    let rt = rt();
    let mut bad = start(&rt, &Wat { on_events: "unreachable", ..Wat::default() }.build(), &lim()).expect("instantiate");
    let good_module = load(&rt, &good_wasm());
    let mut host = Recorder::default();
    let mut good = rt.instantiate(&good_module, &lim(), b"", 0, &mut host).expect("instantiate");

    let events = [trade(1, 1, 1)];
    let f = bad.on_events(&events, 1, &mut host).expect_err("fault");
    assert_eq!(bad.fault(), Some(&f));
    good.on_events(&events, 1, &mut host).expect("other strategy unaffected");
    // Frozen: the guest is not entered again, the same fault comes back.
    assert_eq!(bad.on_events(&events, 2, &mut host), Err(f));
    assert_eq!(bad.stats().callbacks, 1);

    // A fresh sandbox from a module that faulted before runs normally.
    let mut again = rt.instantiate(&good_module, &lim(), b"", 0, &mut host).expect("instantiate");
    again.on_events(&events, 3, &mut host).expect("fresh sandbox");
    assert_eq!(host.orders.len(), 2);
}

#[test]
fn runtime_and_sandbox_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Sandbox>();
    assert_send::<SandboxRuntime>();
    assert_send::<StrategyModule>();
}

#[test]
fn start_function_may_call_host_imports_under_the_same_checks() {
    let rt = rt();
    let w = Wat {
        imports: IMPORT_LOG,
        extra: r#"(data (i32.const 64) "boot")
                  (func $s (drop (call $log (i32.const 3) (i32.const 64) (i32.const 4))))
                  (start $s)"#,
        ..Wat::default()
    };
    let m = load(&rt, &w.build());
    let mut host = Recorder::default();
    let sb = rt.instantiate(&m, &lim(), b"", 0, &mut host).expect("instantiate");
    assert_eq!(host.logs, vec![(3, b"boot".to_vec())]);
    assert_eq!(sb.stats().host_calls, 1);

    let w = Wat {
        imports: IMPORT_LOG,
        extra: "(func $s (drop (call $log (i32.const 3) (i32.const 65535) (i32.const 4)))) (start $s)",
        ..Wat::default()
    };
    let f = start(&rt, &w.build(), &lim()).err();
    assert_eq!(f, Some(Fault::BadPointer { call: "log", ptr: 65_535, len: 4, memory_size: 65_536 }));
}
