//! Smart-contract intents end to end (issue 17), on a real anvil with the
//! real fixture contracts: the AMM arbitrageur trades, the hostile drainer's
//! every attack ends refused or contained with its reason journalled and
//! nothing of its account moved; `journal replay` re-derives every chain
//! decision with the node gone; a node that is down and a bad `[chain]`
//! table. Skipped without anvil unless `BULKHEAD_REQUIRE_CHAIN` is set
//! (scripts/test.sh sets it, after scripts/chain-setup.sh installed anvil).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulkhead_chain::devnet::{Devnet, anvil_path};

use crate::common::{bulkhead, root};

fn anvil_or_skip() -> bool {
    match anvil_path() {
        Ok(_) => true,
        Err(e) if std::env::var_os("BULKHEAD_REQUIRE_CHAIN").is_some_and(|v| v != "0" && !v.is_empty()) => {
            panic!("BULKHEAD_REQUIRE_CHAIN is set and anvil is missing: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: anvil missing ({e}); run scripts/chain-setup.sh");
            false
        }
    }
}

/// The demo config (examples/chain/demo.toml.in) with absolute paths,
/// fewer events and the given `[chain]` table, written into `dir`.
fn config(dir: &Path, chain_toml: &str, events: u32) -> PathBuf {
    let r = root();
    let text = std::fs::read_to_string(r.join("examples/chain/demo.toml.in"))
        .unwrap()
        .replace("../../../strategies/", &format!("{}/strategies/", r.display()))
        .replace("../policies/", &format!("{}/examples/chain/policies/", r.display()))
        .replace("events = 20_000", &format!("events = {events}"));
    let path = dir.join("demo.toml");
    std::fs::write(&path, format!("{text}\n{chain_toml}")).unwrap();
    path
}

/// Every `CHAIN` record of the journal, as JSON.
fn chain_records(journal: &Path) -> Vec<serde_json::Value> {
    let (code, out, err) = bulkhead(&["journal", "show", journal.to_str().unwrap(), "--kind", "chain", "--json"]);
    assert_eq!(code, 0, "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `journal replay` of `journal` with the given modules (paths under
/// strategies/wasm) copied into `dir/modules`: every decision reproduced.
fn replay_is_identical(dir: &Path, journal: &Path, modules: &[&str]) {
    let mods = dir.join("modules");
    std::fs::create_dir_all(&mods).unwrap();
    for m in modules {
        let p = root().join("strategies/wasm").join(m);
        std::fs::copy(&p, mods.join(p.file_name().unwrap())).unwrap();
    }
    let (code, out, err) =
        bulkhead(&["journal", "replay", "--modules", mods.to_str().unwrap(), journal.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("IDENTICAL"), "{out}");
}

#[test]
fn arbitrage_trades_the_drainer_is_contained_and_replay_needs_no_node() {
    if !anvil_or_skip() {
        return;
    }
    let net = Devnet::start().unwrap();
    let demo = net.deploy_demo().unwrap();
    let tokens = [demo.usdc, demo.weth, demo.fee_token, demo.reentrant_token];
    let before: Vec<_> = tokens.iter().map(|t| net.balance(*t, demo.beta).unwrap()).collect();
    let attacker_before: Vec<_> = tokens.iter().map(|t| net.balance(*t, demo.attacker).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &demo.chain_toml, 20_000);
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("chain intents:"), "{out}");

    // The drainer (sid 1): every attack refused with its reason, journalled.
    let journal = dir.path().join("journal");
    let recs = chain_records(&journal);
    let mut drainer: BTreeMap<String, u32> = BTreeMap::new();
    for r in recs.iter().filter(|r| r["sid"] == 1 && r["reason"] != 0) {
        *drainer.entry(r["reason_name"].as_str().unwrap().to_string()).or_default() += 1;
    }
    for reason in [
        "CHAIN_APPROVAL",
        "CHAIN_PARAM_NOT_ALLOWED",
        "CHAIN_CONTRACT_NOT_ALLOWED",
        "CHAIN_FUNCTION_NOT_ALLOWED",
        "CHAIN_SLIPPAGE",
        "CHAIN_SIMULATION_REVERTED",
        "CHAIN_RATE",
        "CHAIN_VALUE_CAP",
    ] {
        assert!(drainer.contains_key(reason), "no {reason} for the drainer: {drainer:?}");
    }
    let reentry = recs.iter().any(|r| r["sid"] == 1 && r["text"].as_str().unwrap().contains("Pool: LOCKED"));
    assert!(reentry, "the re-entrant token's revert is journalled");
    // The record that lies about its length is refused by name.
    let (_, invalid, _) = bulkhead(&["journal", "show", journal.to_str().unwrap(), "--kind", "invalid"]);
    assert!(invalid.contains("length"), "{invalid}");
    // Nothing left the drainer's account, nothing reached the attacker.
    let after: Vec<_> = tokens.iter().map(|t| net.balance(*t, demo.beta).unwrap()).collect();
    let attacker_after: Vec<_> = tokens.iter().map(|t| net.balance(*t, demo.attacker).unwrap()).collect();
    assert_eq!(before, after, "the drainer's balances moved");
    assert_eq!(attacker_before, attacker_after, "the attacker received something");

    // The arbitrageur (sid 0) swapped on the pool, each swap mined as simulated.
    let swaps = recs.iter().filter(|r| r["sid"] == 0 && r["step"] == "settled" && r["reason"] == 0).count();
    assert!(swaps >= 3, "approvals and at least one swap mined: {swaps}");
    assert!(recs.iter().all(|r| r["sid"] != 0 || r["reason_name"] != "CHAIN_DEVIATION"));

    // Replay with the node gone: every chain decision re-derived from the journal.
    drop(demo);
    drop(net);
    replay_is_identical(dir.path(), &journal, &["amm_arb.wasm", "hostile/chain_drainer.wasm"]);
}

#[test]
fn a_node_that_is_down_refuses_intents_and_a_bad_chain_table_names_its_field() {
    if !anvil_or_skip() {
        return;
    }
    // Addresses and keys of a real deployment, then the node goes away.
    let net = Devnet::start().unwrap();
    let demo = net.deploy_demo().unwrap();
    let url = net.url();
    drop(net);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &demo.chain_toml, 3_000);
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("node unavailable"), "{out}");
    let recs = chain_records(&dir.path().join("journal"));
    assert!(recs.iter().any(|r| r["reason_name"] == "CHAIN_UNAVAILABLE"), "{recs:?}");
    assert!(recs.iter().all(|r| r["step"] != "signed"), "nothing signed with the node down");

    // A node that accepts connections and never answers (slow or hung):
    // the same, after the RPC timeout, and the run finishes.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!("http://{}", hung.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = hung.incoming().take(1).collect();
        std::thread::sleep(std::time::Duration::from_secs(3));
        drop(conns);
    });
    let slow = demo.chain_toml.replace(&url, &hung_url).replacen("[chain]\n", "[chain]\nrpc_timeout_ms = 300\n", 1);
    let cfg = config(dir.path(), &slow, 3_000);
    let t = std::time::Instant::now();
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("node unavailable") && out.contains("300 ms"), "{out}");
    assert!(t.elapsed() < std::time::Duration::from_secs(30), "the timeout bounds the wait");
    let recs = chain_records(&dir.path().join("journal"));
    assert!(recs.iter().any(|r| r["reason_name"] == "CHAIN_UNAVAILABLE"), "{recs:?}");
    assert!(recs.iter().all(|r| r["step"] != "signed"), "nothing signed with the node hung");
    held.join().unwrap();

    let bad = demo.chain_toml.replacen("address = \"0x", "address = \"0xZZ", 1);
    let cfg = config(dir.path(), &bad, 3_000);
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("chain.contracts[0].address"), "{err}");
    assert!(!err.contains(&url) || err.contains("address"), "{err}");
}

/// The builder of the test chain (automine off): mines whatever is pending;
/// the first time the arbitrageur's swap waits in the pool, the whale
/// front-runs it first (same token in, same amount, higher tip), so the
/// swap is mined after the pool moved against it. Returns how many swaps
/// it front-ran.
fn sandwich_builder(net: &Devnet, pool: bulkhead_chain::devnet::Address, stop: &std::sync::atomic::AtomicBool) -> u32 {
    use std::sync::atomic::Ordering;
    let mut fronted = 0;
    let swap_selector = "0xacf0ae03"; // swap(address,uint256,uint256,address,uint256)
    let target = format!("{pool:#x}");
    while !stop.load(Ordering::Relaxed) {
        let content = net.rpc("txpool_content", serde_json::json!([])).unwrap();
        let pending: Vec<&serde_json::Value> = content["pending"]
            .as_object()
            .into_iter()
            .flat_map(|by_sender| by_sender.values())
            .flat_map(|by_nonce| by_nonce.as_object().into_iter().flat_map(|m| m.values()))
            .collect();
        if pending.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        for tx in &pending {
            let to = tx["to"].as_str().unwrap_or("").to_ascii_lowercase();
            let input = tx["input"].as_str().unwrap_or("");
            if fronted == 0 && to == target && input.starts_with(swap_selector) && input.len() >= 10 + 128 {
                let token_in: bulkhead_chain::devnet::Address =
                    format!("0x{}", &input[10 + 24..10 + 64]).parse().unwrap();
                let amount = bulkhead_chain::devnet::U256::from_str_radix(&input[10 + 64..10 + 128], 16).unwrap();
                net.frontrun_swap(pool, token_in, amount).unwrap();
                fronted += 1;
            }
        }
        net.mine().unwrap();
    }
    fronted
}

#[test]
fn a_pool_moved_between_simulation_and_mining_raises_an_alert_and_halts_chain_access() {
    if !anvil_or_skip() {
        return;
    }
    let net = Devnet::start().unwrap();
    let demo = net.deploy_demo().unwrap();
    net.set_automine(false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The arbitrageur alone; a tolerance (10 bps) below its own slippage
    // bound (50 bps), so a front-run of its own size (~20 bps against it)
    // is mined, not reverted, and shows as a deviation.
    let chain_toml = demo.chain_toml.replacen("[chain]\n", "[chain]\ndeviation_bps = 10\n", 1);
    let cfg = config(dir.path(), &chain_toml, 20_000);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let (head, tail) = text.split_once("[[strategies]]\nname = \"drainer\"").unwrap();
    let tail = &tail[tail.find("\n[chain]").unwrap()..];
    std::fs::write(&cfg, format!("{head}{tail}")).unwrap();

    let stop = std::sync::atomic::AtomicBool::new(false);
    let (fronted, (code, out, err)) = std::thread::scope(|s| {
        let builder = s.spawn(|| sandwich_builder(&net, demo.pool, &stop));
        let run = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (builder.join().unwrap(), run)
    });
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(fronted, 1, "the builder front-ran one swap");
    assert!(out.contains("deviations 1"), "{out}");

    let journal = dir.path().join("journal");
    let recs = chain_records(&journal);
    let deviated: Vec<_> = recs.iter().filter(|r| r["reason_name"] == "CHAIN_DEVIATION").collect();
    assert_eq!(deviated.len(), 1, "{deviated:?}");
    assert_eq!(deviated[0]["step"], "settled");
    assert!(deviated[0]["text"].as_str().unwrap().contains("chain access halted"), "{:?}", deviated[0]);
    let at = deviated[0]["seq"].as_u64().unwrap();
    // The ALERT is journalled with the rule and the halt action.
    let (code, alerts, err) = bulkhead(&["journal", "show", journal.to_str().unwrap(), "--kind", "alert", "--json"]);
    assert_eq!(code, 0, "{err}");
    let alerts: Vec<serde_json::Value> = alerts.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"], "chain_deviation", "{alerts:?}");
    assert_eq!(alerts[0]["action"], "halt", "{alerts:?}");
    // After it, every intent is refused with CHAIN_HALTED and nothing more is signed.
    let later: Vec<_> = recs.iter().filter(|r| r["seq"].as_u64().unwrap() > at).collect();
    assert!(later.iter().any(|r| r["reason_name"] == "CHAIN_HALTED"), "{later:?}");
    assert!(later.iter().all(|r| r["step"] != "signed"), "signed after the halt: {later:?}");

    // The node's answers are in the journal: replay needs no node.
    drop(demo);
    drop(net);
    replay_is_identical(dir.path(), &journal, &["amm_arb.wasm"]);
}
