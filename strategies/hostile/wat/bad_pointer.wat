;; Hostile case: out-of-bounds and overflowing pointer/length pairs passed to
;; the host. Parks one far bid on the first quote, then on its 50th callback
;; makes one bad host call chosen by the first digit of its config
;; (`mode = N`):
;;   0  submit_order(0xFFFF_FFF0, 32)        pointer near 4 GiB, past the memory
;;   1  submit_order(-1, -1)                 ptr + len overflows 32 bits
;;   2  log(3, 0, 0x7FFF_FFFF)               length far past the memory
;;   3  position(0, 65536 - 8)               48-byte out record straddles the end
;;   4  open_orders(60000, 1024)             1024 records × 40 bytes past the end
;;   5  submit_order(64, 31)                 in bounds but one byte short: a
;;                                           malformed record, not a breach
;;                                           (this mode parks no bid)
;; Expected for 0–4: `bad_pointer` naming the host call, quarantine, parked
;; bid cancelled. For 5: the record is refused (SBX_INVALID_ORDER, journalled
;; as INVALID) and the strategy keeps running.
(module
  (import "bulkhead" "submit_order" (func $submit (param i32 i32) (result i64)))
  (import "bulkhead" "position" (func $position (param i32 i32) (result i32)))
  (import "bulkhead" "open_orders" (func $open_orders (param i32 i32) (result i32)))
  (import "bulkhead" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (global $parked (mut i32) (i32.const 0))
  (global $mode (mut i32) (i32.const 0))
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  ;; mode = first ASCII digit in the config bytes (0 if none).
  (func (export "bulkhead_init") (param $len i32) (result i32)
    (local $i i32) (local $c i32)
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (i32.const 1024) (local.get $i))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
          (then (global.set $mode (i32.sub (local.get $c) (i32.const 48))) (br $done)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (i32.const 0))
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
    (i64.store (i32.const 88) (i64.const 0xBAD0))
    (if (i64.gt_s (call $submit (i32.const 64) (i32.const 32)) (i64.const 0))
      (then (global.set $parked (i32.const 1)))))
  (func $bad
    (block $b5 (block $b4 (block $b3 (block $b2 (block $b1 (block $b0
      (br_table $b0 $b1 $b2 $b3 $b4 $b5 $b0 (global.get $mode)))
      (drop (call $submit (i32.const 0xFFFFFFF0) (i32.const 32))) (return))
      (drop (call $submit (i32.const -1) (i32.const -1))) (return))
      (drop (call $log (i32.const 3) (i32.const 0) (i32.const 0x7FFFFFFF))) (return))
      (drop (call $position (i32.const 0) (i32.const 65528))) (return))
      (drop (call $open_orders (i32.const 60000) (i32.const 1024))) (return))
    (drop (call $submit (i32.const 64) (i32.const 31))))
  (func (export "bulkhead_on_events") (param $n i32) (result i32)
    (local $last i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.set $last (i32.add (i32.const 1024) (i32.mul (i32.sub (local.get $n) (i32.const 1)) (i32.const 64))))
    ;; Mode 5 is not a breach: it parks nothing, so the others' runs are untouched.
    (if (i32.and (i32.and (i32.eqz (global.get $parked)) (i32.ne (global.get $mode) (i32.const 5)))
                 (i32.and (i32.gt_s (local.get $n) (i32.const 0))
                          (i32.eq (i32.load16_u (local.get $last)) (i32.const 2))))
      (then (call $park (local.get $last))))
    (if (i32.eq (global.get $calls) (i32.const 50)) (then (call $bad)))
    (i32.const 0)))
