//! End-to-end: the demo config with real wasm strategies, real files and a
//! real journal. Needs `scripts/build-strategies.sh` to have run.

use bulkhead_engine::{DataPlan, LoadedConfig, RunReport, Status, run_config};
use std::path::{Path, PathBuf};

fn demo_config() -> LoadedConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo.toml");
    LoadedConfig::load(&path).unwrap_or_else(|e| panic!("{e} (did scripts/build-strategies.sh run?)"))
}

/// The demo, shortened to `events`, journalling into `dir`.
fn short_demo(dir: &Path, events: u64) -> LoadedConfig {
    let mut cfg = demo_config();
    cfg.journal_dir = dir.join("journal");
    cfg.raw.run.overwrite_journal = false;
    if let DataPlan::Generator(spec) = &mut cfg.data {
        spec.events = events;
    }
    cfg
}

fn run(cfg: &LoadedConfig) -> RunReport {
    run_config(cfg, &mut |_, _| {}).unwrap()
}

fn journal_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| (p.file_name().unwrap().into(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn demo_runs_and_quarantines_the_misbehaving_strategy() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = demo_config();
    cfg.journal_dir = tmp.path().join("journal");
    let r = run(&cfg);
    assert_eq!(r.events, 1_000_000);
    let by_name = |n: &str| r.strategies.iter().find(|s| s.name == n).unwrap();
    let mm = by_name("market-maker");
    let mo = by_name("momentum");
    let bad = by_name("misbehaving");
    assert_eq!(mm.status, Status::Running);
    assert_eq!(mo.status, Status::Running);
    assert!(mm.stats.fills > 100, "market maker should trade: {:?}", mm.stats);
    assert!(mo.stats.fills > 10, "momentum should trade: {:?}", mo.stats);
    assert!(mm.stats.events >= 1_000_000 && mo.stats.events >= 1_000_000);
    match &bad.status {
        Status::Quarantined { kind, .. } => assert_eq!(kind, "fuel"),
        other => panic!("misbehaving should be quarantined, is {other:?}"),
    }
    // It handled 999 market events, faulted on the 1000th, and had a resting bid that was cancelled.
    assert!(bad.stats.events >= 1000 && bad.stats.events < 1100, "{}", bad.stats.events);
    assert!(bad.stats.accepted >= 1);
    assert!(bad.positions.iter().all(|&(_, q)| q == 0));
    let report = bulkhead_journal::verify(&cfg.journal_dir).expect("journal verifies");
    assert_eq!(report.records, r.journal.records);
    // The fault and the cancel-on-fault are in the journal.
    let mut fault = false;
    let mut cancelled_on_fault = false;
    for rec in bulkhead_journal::JournalReader::open(&cfg.journal_dir).unwrap() {
        let rec = rec.unwrap();
        if rec.kind == bulkhead_engine::records::FAULT {
            assert_eq!(u32::from_le_bytes(rec.payload[0..4].try_into().unwrap()), 2);
            assert!(String::from_utf8_lossy(&rec.payload[6..]).starts_with("fuel"));
            fault = true;
        }
        if rec.kind == bulkhead_engine::records::VENUE {
            let sid = u32::from_le_bytes(rec.payload[0..4].try_into().unwrap());
            let ev = bulkhead_abi::Event::decode(&rec.payload[4..]).unwrap();
            if sid == 2
                && ev.kind == bulkhead_abi::EventKind::OrderCancelled
                && ev.a == bulkhead_abi::Reason::CancelledOnFault.code() as i64
            {
                assert!(fault, "cancel-on-fault must follow the fault record");
                cancelled_on_fault = true;
            }
        }
    }
    assert!(fault && cancelled_on_fault);
    println!("{}", bulkhead_engine::report::render(&r));
}

#[test]
fn well_behaved_strategies_do_the_same_with_or_without_the_offender() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let with = run(&short_demo(a.path(), 150_000));
    let mut cfg = short_demo(b.path(), 150_000);
    cfg.strategies.retain(|s| s.name != "misbehaving");
    let without = run(&cfg);
    for name in ["market-maker", "momentum"] {
        let x = with.strategies.iter().find(|s| s.name == name).unwrap();
        let y = without.strategies.iter().find(|s| s.name == name).unwrap();
        assert_eq!(x.stats.submitted, y.stats.submitted, "{name}");
        assert_eq!(x.stats.accepted, y.stats.accepted, "{name}");
        assert_eq!(x.stats.rejected, y.stats.rejected, "{name}");
        assert_eq!(x.stats.fills, y.stats.fills, "{name}");
        assert_eq!(x.positions, y.positions, "{name}");
        assert_eq!((x.realised, x.unrealised, x.fees), (y.realised, y.unrealised, y.fees), "{name}");
        assert_eq!(x.fuel_used, y.fuel_used, "{name}");
        assert!(x.stats.fills > 0, "{name} should trade");
    }
}

#[test]
fn two_runs_give_byte_identical_journals() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ca = short_demo(a.path(), 100_000);
    let cb = short_demo(b.path(), 100_000);
    let ra = run(&ca);
    let rb = run(&cb);
    assert_eq!(ra.journal.last_hash, rb.journal.last_hash);
    let (ja, jb) = (journal_bytes(&ca.journal_dir), journal_bytes(&cb.journal_dir));
    assert!(!ja.is_empty());
    assert!(ja == jb, "journals differ");
}

#[test]
fn a_flipped_byte_is_found_at_the_right_record() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = short_demo(tmp.path(), 2_000);
    run(&cfg);
    // Find record #500 and flip a byte inside its payload.
    let rec = bulkhead_journal::JournalReader::open(&cfg.journal_dir).unwrap().nth(500).unwrap().unwrap();
    assert_eq!(rec.seq, 500);
    let seg = journal_bytes(&cfg.journal_dir)[rec.segment as usize].0.clone();
    let path = cfg.journal_dir.join(seg);
    let mut bytes = std::fs::read(&path).unwrap();
    // the payload starts after the 24-byte record header
    let at = rec.offset as usize + 24 + rec.payload.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let err = bulkhead_journal::verify(&cfg.journal_dir).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("#500"), "{msg}");
    assert!(msg.contains(&format!("byte {}", rec.offset)), "{msg}");
}

#[test]
fn supervisor_restarts_with_backoff_then_keeps_a_repeat_offender_down() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = short_demo(tmp.path(), 30_000);
    let bad = cfg.strategies.iter_mut().find(|s| s.name == "misbehaving").unwrap();
    bad.restart = bulkhead_engine::RestartPolicy { max_restarts: 2, backoff_ms: 100 };
    let r = run(&cfg);
    let bad = r.strategies.iter().find(|s| s.name == "misbehaving").unwrap();
    // Faults on its 1000th event each life: first life, then two restarts.
    assert_eq!(bad.stats.faults, 3, "{:?}", bad.history);
    assert_eq!(bad.restarts, 2);
    assert!(matches!(bad.status, Status::Quarantined { .. }), "{:?}", bad.status);
    let states: Vec<&str> = bad.history.iter().map(|c| c.state).collect();
    assert_eq!(states, ["running", "backoff", "running", "backoff", "running", "quarantined"]);
    assert!(bad.history.last().unwrap().reason.contains("restart budget of 2 spent"), "{:?}", bad.history);
    // Backoff doubles: the second wait is twice the first (event time).
    let gap = |i: usize| bad.history[i + 1].at_ns - bad.history[i].at_ns;
    assert!(gap(1) >= 100_000_000 && gap(3) >= 200_000_000, "{:?}", bad.history);
    // Every life's resting bid was cancelled on its fault; the others trade on.
    for s in r.strategies.iter().filter(|s| s.name != "misbehaving") {
        assert_eq!(s.status, Status::Running);
        assert!(s.stats.fills > 0);
    }
}

#[test]
fn order_entry_latency_delays_orders_and_stays_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let zero = run(&short_demo(a.path(), 30_000));
    let slow_cfg = |dir: &Path| {
        let mut cfg = short_demo(dir, 30_000);
        cfg.venues[0].0.order_latency_ns = 5_000_000;
        cfg
    };
    let slow = run(&slow_cfg(b.path()));
    let c = tempfile::tempdir().unwrap();
    let slow_again = run(&slow_cfg(c.path()));
    assert_eq!(slow.journal.last_hash, slow_again.journal.last_hash, "latency must stay deterministic");
    assert_ne!(slow.journal.last_hash, zero.journal.last_hash, "latency must change what happens");
    let mm = |r: &RunReport| r.strategies.iter().find(|s| s.name == "market-maker").unwrap().stats.clone();
    assert!(mm(&slow).fills > 0 && mm(&zero).fills > 0);
    bulkhead_journal::verify(&b.path().join("journal")).unwrap();
}

/// The observer feed only copies what was journalled: a run with it on
/// writes the same bytes as one with it off, and what it saw is exactly the
/// journal's records of the kinds it carries (decisions, invalid records,
/// venue rejects and fills, faults, state changes), byte for byte, with the
/// journal's own sequence numbers and times, plus the supervisor.
#[test]
fn the_observer_feed_changes_no_journal_byte() {
    use bulkhead_abi::EventKind;
    use bulkhead_engine::records::{self, Record};
    use bulkhead_engine::{Observed, prepare_run};
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(&short_demo(a.path(), 5_000));
    let cfg = short_demo(b.path(), 5_000);
    let bulkhead_engine::PreparedRun { mut engine, mut source, .. } = prepare_run(&cfg).unwrap();
    engine.enable_observer(1 << 20);
    let mut seen = Vec::new();
    engine
        .run_controlled(source.as_mut(), &mut |_| {}, &mut |e, _| {
            e.drain_observed(&mut seen);
        })
        .unwrap();
    assert_eq!(engine.drain_observed(&mut seen), 0, "nothing dropped");
    engine.finish().unwrap();
    assert_eq!(journal_bytes(&a.path().join("journal")), journal_bytes(&b.path().join("journal")));
    let recs: Vec<_> =
        bulkhead_journal::JournalReader::open(&b.path().join("journal")).unwrap().map(|r| r.unwrap()).collect();
    let wanted = |r: &Record<'_>| match r {
        Record::Order { .. } | Record::Invalid { .. } | Record::Fault { .. } | Record::State { .. } => true,
        Record::Venue { event, .. } => matches!(event.kind, EventKind::OrderRejected | EventKind::Fill),
        _ => false,
    };
    let expected: Vec<u64> =
        recs.iter().filter(|r| wanted(&Record::decode(r.kind, &r.payload).unwrap())).map(|r| r.seq).collect();
    let (mut observed, mut fills, mut faults, mut supervisor) = (Vec::new(), 0, 0, 0);
    for o in &seen {
        match o {
            Observed::Journalled { seq, ts_ns, record, decision_instrument } => {
                let j = &recs[*seq as usize];
                assert_eq!((j.kind, j.ts_ns, &j.payload[..]), (record.kind(), *ts_ns, record.payload()), "{o:?}");
                match record.record().unwrap() {
                    Record::Venue { event, .. } if event.kind == EventKind::Fill => fills += 1,
                    Record::Fault { kind, .. } => {
                        assert_eq!(kind, b"fuel");
                        faults += 1;
                    }
                    Record::Order { reason, order, .. } => {
                        let d = Observed::decision(&record.record().unwrap(), *decision_instrument).unwrap();
                        assert_eq!(d.reason, reason);
                        if reason.code() == 0 {
                            assert_eq!(*decision_instrument, bulkhead_risk::NO_INSTRUMENT);
                        } else {
                            assert!([order.instrument, bulkhead_risk::NO_INSTRUMENT].contains(decision_instrument));
                        }
                    }
                    _ => {}
                }
                observed.push(*seq);
            }
            Observed::Supervisor { .. } => supervisor += 1,
        }
    }
    assert_eq!(observed, expected, "every wanted record, in journal order, and nothing else");
    assert_eq!((faults, supervisor), (1, 1));
    assert!(fills > 0);
    assert!(recs.iter().any(|r| r.kind == records::ORDER));
}
