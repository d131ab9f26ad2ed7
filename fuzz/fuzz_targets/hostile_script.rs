//! Fuzzer's bytes → a script for the scripted attacker
//! (`strategies/hostile/scripted`, via `bulkhead_fuzzing::generators::Script::from_fuzz`),
//! run beside the demo's well-behaved strategies for 300 market events with
//! the real engine, risk, venue and journal. Properties (the oracles of
//! `bulkhead_fuzzing::oracles`, as in the generative test): the run completes,
//! the journal verifies, only the attacker faults and with a known kind, its
//! journal bytes stay inside the per-event and per-second budgets, nothing
//! beyond its policy is accepted, and the well-behaved strategies decide
//! byte-for-byte as in a run without it. Host memory: run with `-rss_limit_mb`.
#![no_main]

use std::sync::OnceLock;

use bulkhead_fuzzing::generators::Script;
use bulkhead_fuzzing::oracles::{self, Bounds};
use bulkhead_fuzzing::scenario::{self, Run};
use libfuzzer_sys::fuzz_target;

const EVENTS: u64 = 300;

fn baseline() -> &'static Run {
    static B: OnceLock<(tempfile::TempDir, Run)> = OnceLock::new();
    &B.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = scenario::run(dir.path(), EVENTS, None).expect("baseline run");
        (dir, run)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let script = Script::from_fuzz(data);
    let dir = tempfile::tempdir().expect("tempdir");
    let run = scenario::run(dir.path(), EVENTS, Some(&script)).unwrap_or_else(|e| panic!("{e}"));
    let m = oracles::check_attacked(&run, EVENTS, &Bounds::default()).unwrap_or_else(|e| panic!("{e}"));
    if m.fills == 0 {
        oracles::same_decisions(baseline(), &run).unwrap_or_else(|e| panic!("{e}"));
    }
});
