;; Hostile case: a forbidden import of the wrong kind: the strategy asks the
;; host for a *memory* named like a host function (`bulkhead::log`), hoping to
;; share memory with the host. Expected: refused at load ("only functions may
;; be imported"), naming the module and `bulkhead::log`.
(module
  (import "bulkhead" "log" (memory 1))
  (export "memory" (memory 0))
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  (func (export "bulkhead_on_events") (param i32) (result i32) (i32.const 0)))
