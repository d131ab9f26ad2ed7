//! The control plane wired to the real engine: real wasm strategies, a real
//! journal, a real server on loopback. Needs `scripts/build-strategies.sh`.

#[allow(dead_code)]
mod common;

use bulkhead_engine::{DataPlan, Engine, LoadedConfig, PreparedRun, prepare_run, records};
use bulkhead_journal::JournalReader;
use bulkhead_risk::{Scope, TradingState};
use bulkhead_server::engine_control::EngineControl;
use bulkhead_server::{Role, ServerOptions, TokenStore, start};
use common::request;
use std::path::Path;

fn demo(dir: &Path, events: u64) -> LoadedConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo.toml");
    let mut cfg = LoadedConfig::load(&path).unwrap_or_else(|e| panic!("{e} (did scripts/build-strategies.sh run?)"));
    cfg.journal_dir = dir.join("journal");
    cfg.raw.run.overwrite_journal = false;
    if let DataPlan::Generator(spec) = &mut cfg.data {
        spec.events = events;
    }
    cfg
}

struct Live {
    engine: Engine,
    control: EngineControl,
    source: Box<dyn bulkhead_data::MarketSource>,
    addr: std::net::SocketAddr,
    _guard: bulkhead_server::ServerGuard,
    operator: String,
    admin: String,
}

fn live(cfg: &LoadedConfig) -> Live {
    let PreparedRun { engine, runtime, source } = prepare_run(cfg).unwrap();
    let mut store = TokenStore::default();
    let (operator, e) = TokenStore::generate("ops", Role::Operator).unwrap();
    store.add(e).unwrap();
    let (admin, e) = TokenStore::generate("root", Role::Admin).unwrap();
    store.add(e).unwrap();
    let (handle, guard) = start("127.0.0.1:0".parse().unwrap(), store, ServerOptions::default()).unwrap();
    let addr = guard.local_addr();
    Live { engine, control: EngineControl::new(handle, runtime, None, "never"), source, addr, _guard: guard, operator, admin }
}

impl Live {
    /// Feed `n` events (or to the end) through the controlled engine.
    fn step(&mut self, n: u64) {
        for _ in 0..n {
            let Some(ev) = self.source.next_event().unwrap() else { return };
            self.control.before_event(&mut self.engine, ev.ts_ns);
            self.engine.on_market(ev).unwrap();
        }
    }
    /// Send a request from another thread while the engine loop keeps
    /// draining commands between events (here: without advancing the market).
    fn call(&mut self, method: &str, path: &str, token: &str, body: &[u8]) -> common::Resp {
        let (addr, method, path, token, body) =
            (self.addr, method.to_string(), path.to_string(), token.to_string(), body.to_vec());
        let t = std::thread::spawn(move || request(addr, &method, &path, Some(&token), Some(&body)));
        while !t.is_finished() {
            let now = self.engine.now_ns();
            self.control.before_event(&mut self.engine, now);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        t.join().unwrap()
    }
}

fn journal(dir: &Path) -> Vec<bulkhead_journal::Record> {
    JournalReader::open(&dir.join("journal")).unwrap().map(|r| r.unwrap()).collect()
}

#[test]
fn a_kill_through_the_api_cancels_every_open_order_and_is_journalled_first() {
    let tmp = tempfile::tempdir().unwrap();
    let mut l = live(&demo(tmp.path(), 6_000));
    l.step(3_000);
    let open_before: usize = (0..l.engine.strategy_count() as u32).map(|s| l.engine.open_orders(s).len()).sum();
    assert!(open_before > 0, "the market maker should have quotes resting");

    let r = l.call("POST", "/api/v1/halt", &l.operator.clone(), br#"{"scope":"global"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("open orders cancelled"), "{}", r.text());
    for s in 0..l.engine.strategy_count() as u32 {
        assert!(l.engine.open_orders(s).is_empty(), "strategy {s} still has open orders");
    }
    assert_eq!(l.engine.trading_state(Scope::Global), TradingState::Halted);
    l.step(u64::MAX);
    l.engine.finish().unwrap();

    let recs = journal(tmp.path());
    let cmd = recs
        .iter()
        .position(|r| r.kind == records::COMMAND)
        .expect("the command is journalled");
    assert_eq!(String::from_utf8_lossy(&recs[cmd].payload), "halt scope=global actor=ops role=operator");
    let mut kill_cancels = 0;
    for r in &recs[..cmd] {
        if r.kind == records::VENUE {
            let ev = bulkhead_abi::Event::decode(&r.payload[4..]).unwrap();
            assert_ne!(ev.a, bulkhead_abi::Reason::CancelledByKillSwitch.code() as i64, "cancel before the command");
        }
    }
    for r in &recs[cmd + 1..] {
        match r.kind {
            records::VENUE => {
                let ev = bulkhead_abi::Event::decode(&r.payload[4..]).unwrap();
                if ev.kind == bulkhead_abi::EventKind::OrderCancelled
                    && ev.a == bulkhead_abi::Reason::CancelledByKillSwitch.code() as i64
                {
                    kill_cancels += 1;
                }
                assert_ne!(ev.kind, bulkhead_abi::EventKind::Fill, "nothing trades after a global kill");
            }
            records::ORDER => {
                let reason = u16::from_le_bytes([r.payload[12], r.payload[13]]);
                assert_ne!(reason, 0, "no order is accepted after a global kill");
            }
            _ => {}
        }
    }
    assert_eq!(kill_cancels, open_before);
}

#[test]
fn hot_deploy_of_one_strategy_leaves_the_others_decisions_unchanged() {
    let decisions_of_others = |tmp: &Path| -> Vec<Vec<u8>> {
        journal(tmp)
            .into_iter()
            .filter(|r| r.kind == records::ORDER || r.kind == records::VENUE)
            .filter(|r| u32::from_le_bytes(r.payload[0..4].try_into().unwrap()) < 2)
            .map(|r| r.payload)
            .collect()
    };
    let a = tempfile::tempdir().unwrap();
    let mut plain = live(&demo(a.path(), 8_000));
    plain.step(u64::MAX);
    plain.engine.finish().unwrap();

    let b = tempfile::tempdir().unwrap();
    let mut l = live(&demo(b.path(), 8_000));
    l.step(500);
    let accepted_before = l.engine.strategy_report(2).unwrap().stats.accepted;
    // Replace the third strategy's module with the market maker's: its policy
    // (one lot, buy only) refuses everything the new module tries.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm = std::fs::read(root.join("strategies/wasm/market_maker.wasm")).unwrap();
    let r = l.call("POST", "/api/v1/strategies/misbehaving/deploy", &l.admin.clone(), &wasm);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&blake3::hash(&wasm).to_hex().to_string()), "{}", r.text());
    // An operator may not deploy.
    let r = l.call("POST", "/api/v1/strategies/misbehaving/deploy", &l.operator.clone(), &wasm);
    assert_eq!(r.status, 403);
    l.step(u64::MAX);
    let report = l.engine.finish().unwrap();
    let swapped = &report.strategies[2];
    assert!(swapped.stats.events > 7_000, "the new module ran: {:?}", swapped.stats);
    assert!(swapped.stats.submitted > 0, "the new module tried to trade");
    assert_eq!(swapped.stats.accepted, accepted_before, "its policy let nothing new through");
    assert_eq!(decisions_of_others(a.path()), decisions_of_others(b.path()));
}
