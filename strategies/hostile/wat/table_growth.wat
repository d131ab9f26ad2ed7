;; Hostile case: table growth. Parks one far bid on the first quote (5% under
;; the mid, post-only), then from its 20th callback on grows its table by 1000
;; elements per callback, forever. Expected: the host's table limit (10 000
;; elements by default) turns the growth into a fault (`table`), the strategy
;; is quarantined and its parked bid cancelled.
(module
  (import "bulkhead" "submit_order" (func $submit (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (global $calls (mut i32) (i32.const 0))
  (global $parked (mut i32) (i32.const 0))
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  ;; One post-only 1-lot bid 5% under the mid of the quote at $ev.
  (func $park (param $ev i32)
    (local $mid i64)
    (local.set $mid (i64.div_s (i64.add (i64.load offset=32 (local.get $ev))
                                        (i64.load offset=48 (local.get $ev)))
                               (i64.const 2)))
    (i32.store (i32.const 64) (i32.const 0))          ;; instrument 0
    (i32.store8 (i32.const 68) (i32.const 1))         ;; buy
    (i32.store8 (i32.const 69) (i32.const 1))         ;; limit
    (i32.store8 (i32.const 70) (i32.const 4))         ;; post-only
    (i32.store8 (i32.const 71) (i32.const 0))         ;; flags
    (i64.store (i32.const 72) (i64.div_s (i64.mul (local.get $mid) (i64.const 95)) (i64.const 100)))
    (i64.store (i32.const 80) (i64.const 1))          ;; qty
    (i64.store (i32.const 88) (i64.const 0xBAD0))     ;; tag
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
    (if (i32.ge_u (global.get $calls) (i32.const 20))
      (then (drop (table.grow $t (ref.null func) (i32.const 1000)))))
    (i32.const 0)))
