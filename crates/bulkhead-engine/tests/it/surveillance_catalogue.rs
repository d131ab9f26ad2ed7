//! Issue 16, item 6: the labelled evaluation set (`examples/surveillance/`,
//! modules in `strategies/hostile/`) run through the real engine on the
//! demo's market. Every manipulator is caught by its rule, acting on it, and
//! the benign strategies (the demo's market maker and momentum, a fast
//! honest quoter) raise no alert. The thresholds are the firm policy's
//! (`examples/surveillance/policies/firm.toml`), not the test's.

use super::surveillance::records;
use bulkhead_engine::decode::Decoded;
use bulkhead_engine::{JournalMode, LoadedConfig, PreparedRun, prepare_run_with};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Run `examples/surveillance/<case>.toml` on its first `events` events into `dir`.
fn run_case(dir: &Path, case: &str, events: u64) -> (LoadedConfig, Vec<String>) {
    let here = root().join("examples/surveillance");
    let text = std::fs::read_to_string(here.join(format!("{case}.toml")))
        .unwrap()
        .replace("\"../../strategies/", &format!("\"{}/strategies/", root().display()))
        .replace("\"policies/", &format!("\"{}/policies/", here.display()))
        .replace("events = 200_000", &format!("events = {events}"))
        .replace(&format!("journal = \"out/{case}.journal\""), "journal = \"journal\"")
        .replace("module_cache = \"out/module-cache\"", "");
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    let cfg =
        LoadedConfig::load(&path).unwrap_or_else(|e| panic!("{case}: {e} (did scripts/build-strategies.sh run?)"));
    let names: Vec<String> = cfg.strategies.iter().map(|s| s.name.clone()).collect();
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&cfg, JournalMode::Create).unwrap();
    engine.run(source.as_mut(), &mut |_| {}).unwrap();
    engine.finish().unwrap();
    (cfg, names)
}

/// (case, the manipulator, the rules that may catch it first, the one it is labelled with).
const CASES: &[(&str, &str, &[&str], &str)] = &[
    ("spoofer", "spoofer", &["spoofing"], "spoofing"),
    ("layerer", "layerer", &["layering", "spoofing"], "layering"),
    ("quote_stuffer", "quote-stuffer", &["quote_stuffing", "order_to_trade"], "quote stuffing"),
    ("wash", "wash-hit", &["wash_trade"], "wash trading"),
    ("momentum_igniter", "momentum-igniter", &["momentum_ignition"], "momentum ignition"),
    ("runaway", "runaway", &["repeated_execution", "runaway_fills", "wash_trade"], "runaway (Knight)"),
    (
        "runaway_oneway",
        "runaway-buy",
        &["repeated_execution", "runaway_position", "runaway_fills"],
        "runaway (one way)",
    ),
];

const BENIGN: &[&str] = &["market-maker", "momentum", "honest-quoter"];

#[test]
fn every_manipulator_is_caught_by_its_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let mut table = Vec::new();
    for &(case, who, rules, label) in CASES {
        let dir = tmp.path().join(case);
        std::fs::create_dir_all(&dir).unwrap();
        let (cfg, names) = run_case(&dir, case, 60_000);
        let sid = names.iter().position(|n| n == who).unwrap() as u32;
        let alerts: Vec<(u32, &'static str, &'static str)> = records(&cfg.journal_dir)
            .into_iter()
            .filter_map(|(_, d)| match d {
                Decoded::Alert { sid, rule, action, .. } => Some((sid, rule, action)),
                _ => None,
            })
            .collect();
        let first =
            alerts.iter().find(|a| a.0 == sid).unwrap_or_else(|| panic!("{case}: {who} not caught: {alerts:?}"));
        assert!(rules.contains(&first.1), "{case}: {who} first caught by {} (expected one of {rules:?})", first.1);
        assert!(matches!(first.2, "halt" | "disable"), "{case}: action {}", first.2);
        table.push(format!("{label:<20} {who:<17} {:<19} {}", first.1, first.2));
    }
    println!("{}", table.join("\n"));
}

#[test]
fn the_benign_strategies_raise_no_alert_on_the_demo_market() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, names) = run_case(tmp.path(), "benign", 200_000);
    assert_eq!(names, BENIGN);
    let recs = records(&cfg.journal_dir);
    let alerts: Vec<&Decoded> = recs.iter().map(|(_, d)| d).filter(|d| matches!(d, Decoded::Alert { .. })).collect();
    assert!(alerts.is_empty(), "{alerts:#?}");
    // They did trade: the rules had something to watch.
    let fills = recs.iter().filter(|(_, d)| matches!(d, Decoded::Venue { event, .. } if event.event == "fill")).count();
    assert!(fills > 10_000, "{fills} fills");
}
