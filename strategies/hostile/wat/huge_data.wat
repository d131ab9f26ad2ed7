;; Hostile case: huge data segments. The module declares 1025 pages (64 MiB +
;; 64 KiB) of initial memory, one page over the default cap, and a data
;; segment that only fits at the very top of it. Expected: instantiation is
;; refused by the memory limit (`memory`) before any data is copied; the
;; strategy is quarantined before its first event and the run goes on.
(module
  (memory (export "memory") 1025)
  (data (i32.const 0x4000000) "hostile: data beyond the memory cap")
  (func (export "bulkhead_abi_version") (result i32) (i32.const 1))
  (func (export "bulkhead_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "bulkhead_init") (param i32) (result i32) (i32.const 0))
  (func (export "bulkhead_on_events") (param i32) (result i32) (i32.const 0)))
