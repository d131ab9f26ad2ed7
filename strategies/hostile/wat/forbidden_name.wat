;; Hostile case: a forbidden import inside module `bulkhead`: a host function
;; the ABI does not have (`bulkhead::now`, a wall clock). Expected: refused at
;; load, naming the module and `bulkhead::now`.
(module
  (import "bulkhead" "now" (func $now (result i64)))
  (memory (export "memory") 1)
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  (func (export "bulkhead_on_events") (param i32) (result i32)
    (i64.store (i32.const 0) (call $now))
    (i32.const 0)))
