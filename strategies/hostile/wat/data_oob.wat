;; Hostile case: a data segment that does not fit its own memory: one page
;; declared, a segment written across its end. Expected: instantiation traps
;; (`out of bounds memory access`), the strategy is quarantined before its
;; first event, the host is untouched and the run goes on.
(module
  (memory (export "memory") 1)
  (data (i32.const 65530) "0123456789abcdef0123456789abcdef")
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  (func (export "bulkhead_on_events") (param i32) (result i32) (i32.const 0)))
