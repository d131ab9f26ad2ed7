//! The deterministic whole-run simulator (`bulkhead_fuzzing::vopr`): from one
//! seed, market data, strategy parameters, an optional scripted attacker,
//! operator commands and a crash cut; the oracles compare the uninterrupted
//! run with a resumed one (byte for byte) and with a native run (decisions),
//! and audit every accepted order. Failing seeds are printed for replay.
//!
//! - Short (the suite): `SEEDS` seeds of `EVENTS` market events.
//! - Long: `BULKHEAD_VOPR_SEEDS=300 BULKHEAD_VOPR_EVENTS=20000 cargo test
//!   --release -p bulkhead-fuzzing --test it vopr::`; start elsewhere with
//!   `BULKHEAD_VOPR_SEED=N` (replay one seed with `…_SEED=N …_SEEDS=1`).
//!
//! Needs `scripts/build-strategies.sh` (the wasm modules).

use bulkhead_fuzzing::vopr::{Case, check};

const SEEDS: u64 = 6;
const EVENTS: u64 = 3_000;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.replace('_', "").parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")),
        Err(_) => default,
    }
}

#[test]
fn whole_runs_agree_across_crashes_and_runners() {
    let seeds = env_u64("BULKHEAD_VOPR_SEEDS", SEEDS);
    let events = env_u64("BULKHEAD_VOPR_EVENTS", EVENTS);
    let first = env_u64("BULKHEAD_VOPR_SEED", 0);
    let mut failures = Vec::new();
    for seed in first..first + seeds {
        let case = Case::generate(seed, events);
        let dir = tempfile::tempdir().unwrap();
        match check(&case, dir.path()) {
            Ok(s) => eprintln!(
                "seed {seed}: ok — {} records, cut at {}{}, {} commands, {} orders accepted, attacker {}",
                s.records,
                s.cut_at,
                if case.cut.torn { " (torn)" } else { "" },
                s.commands,
                s.accepted,
                match (&case.attacker, &s.attacker_fault) {
                    (None, _) => "none".to_string(),
                    (Some(_), None) => "running".to_string(),
                    (Some(_), Some(k)) => format!("quarantined ({k})"),
                }
            ),
            Err(e) => {
                eprintln!("seed {seed}: FAILED ({case:?})\n{e}");
                failures.push(seed);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing seeds (replay one with BULKHEAD_VOPR_SEED=N BULKHEAD_VOPR_SEEDS=1): {failures:?}"
    );
}
