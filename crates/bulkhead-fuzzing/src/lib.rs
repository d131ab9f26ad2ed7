//! # bulkhead-fuzzing — generators and oracles for hostile-input testing
//!
//! Owns the pieces of the generative hostile test (issue 13, item 6), laid out
//! the way wasmtime's `fuzzing` crate is: [`generators`] turn a seed (or a
//! fuzzer's bytes) into a test case, [`scenario`] runs it for real (the demo
//! strategies plus the scripted attacker, `strategies/hostile/scripted`,
//! through `bulkhead_engine::run_config` with a real journal) and [`oracles`]
//! decide whether the run kept every promise: the host lived, journal bytes
//! per market event and per second of event time stayed inside the table of
//! bounds (ARCHITECTURE.md), host memory stayed bounded, and the well-behaved
//! strategies decided exactly as in a run without the attacker.
//!
//! Used by `tests/it/generative.rs` here (a short run in the suite, a long one
//! with `BULKHEAD_GENERATIVE_CASES`) and by `fuzz/fuzz_targets/hostile_script.rs`.
//!
//! Must never: be a dependency of a production crate (it is for tests and
//! fuzz targets only), or mock a component — every run uses the real engine,
//! sandbox, risk engine, venue and journal.

pub mod generators;
pub mod oracles;
pub mod scenario;
pub mod vopr;
