;; Hostile case: wasm's own integer-divide trap (the Rust `trap` module's
;; `div0` mode panics in Rust's checked division first, which is an
;; `unreachable`). Parks one far bid (95 % of the mid, 1 lot) on the first
;; quote, then on its 50th callback executes `i32.div_s` by a zero computed
;; at run time. Expected: a `trap` fault naming `integer divide by zero`,
;; the strategy quarantined, its parked bid cancelled, the run goes on.
(module
  (import "bulkhead" "submit_order" (func $submit (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (global $parked (mut i32) (i32.const 0))
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  ;; A limit GTC buy (OrderRequest, 32 bytes at 64) at 95 % of the quote's mid.
  (func $park (param $ev i32)
    (local $mid i64)
    (local.set $mid (i64.div_s (i64.add (i64.load offset=32 (local.get $ev))
                                        (i64.load offset=48 (local.get $ev)))
                               (i64.const 2)))
    (i32.store (i32.const 64) (i32.const 0))
    (i32.store8 (i32.const 68) (i32.const 1))
    (i32.store8 (i32.const 69) (i32.const 1))
    (i32.store8 (i32.const 70) (i32.const 4))
    (i32.store8 (i32.const 71) (i32.const 0))
    (i64.store (i32.const 72) (i64.div_s (i64.mul (local.get $mid) (i64.const 95)) (i64.const 100)))
    (i64.store (i32.const 80) (i64.const 1))
    (i64.store (i32.const 88) (i64.const 0xD1F0))
    (if (i64.gt_s (call $submit (i32.const 64) (i32.const 32)) (i64.const 0))
      (then (global.set $parked (i32.const 1)))))
  (func (export "bulkhead_on_events") (param $n i32) (result i32)
    (local $last i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.set $last (i32.add (i32.const 1024) (i32.mul (i32.sub (local.get $n) (i32.const 1)) (i32.const 64))))
    (if (i32.and (i32.eqz (global.get $parked))
                 (i32.and (i32.gt_s (local.get $n) (i32.const 0))
                          (i32.eq (i32.load16_u (local.get $last)) (i32.const 2))))
      (then (call $park (local.get $last))))
    ;; 50 - calls: zero on the 50th callback.
    (drop (i32.div_s (i32.const 1) (i32.sub (i32.const 50) (global.get $calls))))
    (i32.const 0)))
