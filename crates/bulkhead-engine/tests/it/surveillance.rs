//! Surveillance in the engine, on the demo data with the real wasm
//! strategies: alerts are journalled before their action, the
//! repeated-execution throttle holds until a named operator re-enables the
//! strategy (the supervisor never does), runs stay deterministic, and replay
//! re-derives every alert. The labelled catalogue of manipulators is
//! `surveillance_catalogue.rs`.

use bulkhead_engine::decode::{Decoded, decode};
use bulkhead_engine::{Actor, Command, JournalMode, LoadedConfig, PreparedRun, Role, prepare_run_with};
use bulkhead_journal::JournalReader;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The demo, shortened, with `extra` appended to strategy `who`'s policy
/// (written beside the config, so the journalled policy is what ran).
pub fn demo_with_policy(dir: &Path, events: u64, who: &str, extra: &str) -> LoadedConfig {
    let examples = root().join("examples");
    let policy = std::fs::read_to_string(examples.join(format!("policies/{who}.toml"))).unwrap();
    std::fs::write(dir.join(format!("{who}.toml")), format!("{policy}\n{extra}")).unwrap();
    let text = std::fs::read_to_string(examples.join("demo.toml"))
        .unwrap()
        .replace("\"../strategies/", &format!("\"{}/strategies/", root().display()))
        .replace(&format!("\"policies/{who}.toml\""), &format!("\"{}\"", dir.join(format!("{who}.toml")).display()))
        .replace("\"policies/", &format!("\"{}/policies/", examples.display()))
        .replace("events = 1_000_000", &format!("events = {events}"))
        .replace("journal = \"out/demo.journal\"", "journal = \"journal\"")
        .replace("module_cache = \"out/module-cache\"", "");
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    LoadedConfig::load(&path).unwrap_or_else(|e| panic!("{e} (did scripts/build-strategies.sh run?)"))
}

/// Every record of a journal, decoded, with its sequence number.
pub fn records(dir: &Path) -> Vec<(u64, Decoded)> {
    JournalReader::open(dir)
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| (r.seq, decode(r.kind, &r.payload).unwrap()))
        .collect()
}

const THROTTLE: &str = "[surveillance.repeated_execution]\nfills = 3\nwindow_ms = 600000\n";

#[test]
fn the_throttle_disables_momentum_until_a_named_operator_resumes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_with_policy(tmp.path(), 200_000, "momentum", THROTTLE);
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&cfg, JournalMode::Create).unwrap();
    let sid = engine.strategy_id("momentum").unwrap();
    // Run until the throttle fires.
    while !engine.is_disabled(sid) {
        let ev = source.next_event().unwrap().expect("the throttle fires within the data");
        engine.on_market(ev).unwrap();
    }
    assert_eq!(engine.trading_state(bulkhead_risk::Scope::Strategy(sid)), bulkhead_risk::TradingState::Halted);
    assert_eq!(engine.alerts(sid), 1);
    // It stays off while the market moves on: no accepted order.
    for _ in 0..50_000 {
        let Some(ev) = source.next_event().unwrap() else { break };
        engine.on_market(ev).unwrap();
    }
    assert!(engine.is_disabled(sid));
    let ops = Actor { name: "alice".into(), role: Role::Operator };
    engine.execute(&Command::Resume(bulkhead_engine::command::Scope::Strategy("momentum".into())), &ops).unwrap();
    assert!(!engine.is_disabled(sid));
    assert_eq!(engine.trading_state(bulkhead_risk::Scope::Strategy(sid)), bulkhead_risk::TradingState::Active);
    engine.run(source.as_mut(), &mut |_| {}).unwrap();
    engine.finish().unwrap();

    let recs = records(&cfg.journal_dir);
    let alert = recs.iter().position(|(_, d)| matches!(d, Decoded::Alert { rule: "repeated_execution", .. })).unwrap();
    let Decoded::Alert { action, sid: asid, orders, text, observed, threshold, .. } = &recs[alert].1 else {
        unreachable!()
    };
    assert_eq!((*action, *asid, *observed, *threshold), ("disable", sid, 3, 3));
    assert!(text.contains("disabled until an operator re-enables it"), "{text}");
    assert_eq!(orders.len(), 1);
    // Journal first: the ALERT precedes the state change and the cancels it causes.
    let (halt, _) = recs[alert..]
        .iter()
        .find(|(_, d)| matches!(d, Decoded::State { scope: "strategy", state: "halted", cause, .. } if cause.contains("S1_SURVEILLANCE")))
        .unwrap();
    assert!(*halt > recs[alert].0);
    // Between the alert and the operator's resume: no order of momentum accepted.
    let resume = recs.iter().position(|(_, d)| matches!(d, Decoded::Command { text } if text.starts_with("resume") && text.contains("actor=alice"))).unwrap();
    assert!(resume > alert);
    let accepted_while_off = recs[alert..resume]
        .iter()
        .filter(|(_, d)| matches!(d, Decoded::Order { sid: s, reason: 0, .. } if *s == sid))
        .count();
    assert_eq!(accepted_while_off, 0);
    let refused_while_off = recs[alert..resume]
        .iter()
        .filter(|(_, d)| matches!(d, Decoded::Order { sid: s, reason_name: "R11_STRATEGY_HALTED", .. } if *s == sid))
        .count();
    assert!(refused_while_off > 0, "momentum kept trying and was refused");
    // After the resume it trades again.
    assert!(recs[resume..].iter().any(|(_, d)| matches!(d, Decoded::Order { sid: s, reason: 0, .. } if *s == sid)));
}

#[test]
fn alerts_are_deterministic_and_replay_re_derives_them() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = "[surveillance.quote_stuffing]\nwindow_ms = 1000\nmax_messages = 8\naction = \"alert\"\n\
                 [surveillance.runaway]\nwindow_ms = 10000\nmax_fills = 5\naction = \"alert\"\n";
    let mut journals = Vec::new();
    for n in 0..2 {
        let dir = tmp.path().join(format!("run{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = demo_with_policy(&dir, 30_000, "market_maker", extra);
        let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&cfg, JournalMode::Create).unwrap();
        engine.run(source.as_mut(), &mut |_| {}).unwrap();
        engine.finish().unwrap();
        journals.push(cfg.journal_dir.clone());
    }
    let a = records(&journals[0]);
    let alerts = a.iter().filter(|(_, d)| matches!(d, Decoded::Alert { .. })).count();
    assert!(alerts >= 2, "{alerts} alerts");
    // The two runs differ only in where their policy files were (CONFIG, RUN_START).
    let same = |v: Vec<(u64, Decoded)>| {
        v.into_iter()
            .filter(|(_, d)| !matches!(d, Decoded::Config { .. } | Decoded::RunStart { .. }))
            .collect::<Vec<_>>()
    };
    let b = records(&journals[1]);
    assert!(same(a) == same(b), "same inputs, same journal");
    let report = bulkhead_engine::replay::replay(&journals[0], &root().join("strategies/wasm")).unwrap();
    assert!(report.identical(), "{report:#?}");
}
