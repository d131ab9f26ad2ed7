;; Hostile case: a `start` function that loops. The module is otherwise a
;; valid strategy; wasm runs `start` during instantiation, before the host
;; has called anything. Expected: the start function runs under the same fuel
;; limit as a callback, so instantiation faults (`fuel`), the strategy is
;; quarantined before its first event, and the run goes on.
(module
  (memory (export "memory") 1)
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  (func (export "bulkhead_on_events") (param i32) (result i32) (i32.const 0)))
