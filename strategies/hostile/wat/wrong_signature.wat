;; Hostile case: a known import with the wrong signature. `submit_order` is
;; `(i32, i32) -> i64` in the ABI; this module declares `(i32) -> i32`, which
;; would make the host read a pointer it was never given. Expected: refused at
;; load, the error naming the module, `bulkhead::submit_order`, both signatures.
(module
  (import "bulkhead" "submit_order" (func $submit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  (func (export "bulkhead_on_events") (param i32) (result i32)
    (drop (call $submit (i32.const 1024)))
    (i32.const 0)))
