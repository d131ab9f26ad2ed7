//! Smart-contract intents in the control plane (issue 17), against a real
//! server on a loopback port with the real engine behind it running the
//! chain demo (examples/chain/demo.toml.in) on a real anvil with the real
//! fixture contracts: `/api/v1/chain/intents` lists the arbitrageur's
//! intents mined and every attack of the hostile drainer refused with its
//! reason, and `/metrics` counts exactly what the API lists. Skipped without
//! anvil unless `BULKHEAD_REQUIRE_CHAIN` is set (scripts/test.sh sets it,
//! after scripts/chain-setup.sh installed anvil).

use crate::common;

use bulkhead_chain::devnet::{Devnet, anvil_path};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) fn anvil_or_skip() -> bool {
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

/// The chain demo's config with absolute paths and the deployment's
/// `[chain]` table, written into `dir`.
pub(crate) fn chain_config(dir: &Path, chain_toml: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let text = std::fs::read_to_string(root.join("examples/chain/demo.toml.in"))
        .unwrap()
        .replace("../../../strategies/", &format!("{}/strategies/", root.display()))
        .replace("../policies/", &format!("{}/examples/chain/policies/", root.display()));
    let path = dir.join("demo.toml");
    std::fs::write(&path, format!("{text}\n{chain_toml}")).unwrap();
    path
}

/// `bulkhead_chain_intents_total` samples: (strategy, outcome, reason) → n.
fn chain_metric(text: &str) -> BTreeMap<(String, String, String), u64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("bulkhead_chain_intents_total{")) {
        let (labels, n) = line.rsplit_once(' ').unwrap();
        let label = |k: &str| {
            let start = labels.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
            labels[start..].split('"').next().unwrap().to_string()
        };
        out.insert((label("strategy"), label("outcome"), label("reason")), n.parse().unwrap());
    }
    out
}

#[test]
fn chain_intents_are_listed_filtered_and_counted_by_outcome_and_reason() {
    if !anvil_or_skip() {
        return;
    }
    let net = Devnet::start().unwrap();
    let demo = net.deploy_demo().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = chain_config(tmp.path(), &demo.chain_toml);
    let mut h = start_live(LiveOptions { events: 20_000, config: Some(config), ..LiveOptions::default() });
    h.wait_for("/api/v1/status", |v| v["engine"]["phase"] == json!("finished"));
    let v = h.wait_for("/api/v1/chain/intents?limit=1000", |_| true);
    assert_eq!(v["dropped"], json!(0), "{v}");
    let rows = v["intents"].as_array().unwrap().clone();
    let firsts: Vec<u64> = rows.iter().map(|r| r["first_seq"].as_u64().unwrap()).collect();
    assert!(firsts.windows(2).all(|w| w[0] > w[1]), "newest first: {firsts:?}");
    assert!(rows.iter().all(|r| r["outcome"] != "pending"), "the run is over, every intent ended: {v}");
    let of = |s: &'static str| rows.iter().filter(move |r| r["strategy"] == s);

    // The drainer: each attack ends refused with its own reason; only
    // approvals of the pools are signed and mined (its honest ones in
    // `init`, before the control plane attached, and the few of its flood
    // the rate limit lets through).
    let mut drainer: BTreeMap<(String, String), u32> = BTreeMap::new();
    for r in of("drainer") {
        let key = (r["outcome"].as_str().unwrap().to_string(), r["reason"].as_str().unwrap().to_string());
        *drainer.entry(key).or_default() += 1;
    }
    for (outcome, reason) in [
        ("rejected", "CHAIN_APPROVAL"),
        ("rejected", "CHAIN_PARAM_NOT_ALLOWED"),
        ("rejected", "CHAIN_CONTRACT_NOT_ALLOWED"),
        ("rejected", "CHAIN_FUNCTION_NOT_ALLOWED"),
        ("rejected", "CHAIN_RATE"),
        ("rejected", "CHAIN_VALUE_CAP"),
        // Measured by the host against the pool's reserves in the simulation.
        ("refused", "CHAIN_SLIPPAGE"),
        ("refused", "CHAIN_SIMULATION_REVERTED"),
    ] {
        assert!(drainer.contains_key(&(outcome.into(), reason.into())), "no {outcome} {reason}: {drainer:?}");
    }
    for r in of("drainer").filter(|r| r["outcome"] != "mined") {
        assert!(r["tx_hash"].is_null(), "a refused intent was signed: {r}");
        assert_ne!(r["reason"], "ACCEPTED", "{r}");
        assert!(r["reason_code"].as_u64().unwrap() > 1600, "{r}");
        assert!(!r["text"].as_str().unwrap().is_empty(), "{r}");
    }
    for r in of("drainer").filter(|r| r["outcome"] == "mined") {
        assert_eq!(r["reason"], "ACCEPTED", "{r}");
        let call = r["call"].as_str();
        assert!(call.is_none_or(|c| c.ends_with(" selector 0x095ea7b3")), "only approvals mined: {r}");
    }
    let reentry = of("drainer").any(|r| r["outcome"] == "refused" && r["text"].as_str().unwrap().contains("LOCKED"));
    assert!(reentry, "the re-entrant token's revert is named: {drainer:?}");
    let approval = of("drainer").find(|r| r["reason"] == "CHAIN_APPROVAL").unwrap();
    assert_eq!((approval["step"].clone(), approval["reason_code"].clone()), (json!("intent"), json!(1610)));
    assert_eq!(approval["records"], json!(1), "{approval}");

    // The arbitrageur: its intents mined as simulated, each with its tx hash
    // and its journal records from the simulation to the settlement.
    let mined: Vec<&Value> = of("amm-arb").filter(|r| r["outcome"] == "mined").collect();
    assert!(mined.len() >= 3, "the approvals and at least one swap mined: {rows:?}");
    for r in &mined {
        assert_eq!((r["reason"].clone(), r["step"].clone()), (json!("ACCEPTED"), json!("settled")), "{r}");
        let hash = r["tx_hash"].as_str().unwrap();
        assert!(hash.len() == 66 && hash.starts_with("0x"), "{r}");
        assert!(r["records"].as_u64().unwrap() >= 5, "simulated, decided, signed, mined, settled: {r}");
        assert!(r["last_seq"].as_u64().unwrap() > r["first_seq"].as_u64().unwrap(), "{r}");
    }
    let swaps =
        mined.iter().filter(|r| r["call"].as_str().is_some_and(|c| c.ends_with(" selector 0xacf0ae03"))).count();
    assert!(swaps >= 1, "a swap on the pool (taken after the control plane attached): {mined:?}");

    // Filters, and bad values named.
    let v = h.wait_for("/api/v1/chain/intents?strategy=drainer&outcome=rejected&limit=2", |_| true);
    let some = v["intents"].as_array().unwrap();
    assert_eq!(some.len(), 2, "{v}");
    assert!(some.iter().all(|r| r["strategy"] == "drainer" && r["outcome"] == "rejected"), "{v}");
    assert_eq!(some[0], *of("drainer").find(|r| r["outcome"] == "rejected").unwrap(), "the newest first");
    let v = h.wait_for("/api/v1/chain/intents?strategy=amm-arb&outcome=rejected", |_| true);
    assert!(v["intents"].as_array().unwrap().iter().all(|r| r["strategy"] == "amm-arb"), "{v}");
    let bad = |q: &str| request(h.addr, "GET", &format!("/api/v1/chain/intents?{q}"), Some(&h.tokens.viewer), None);
    assert_error(&bad("outcome=drained"), 422, Some("outcome"), "unknown outcome `drained`");
    assert_error(&bad("limit=0"), 422, Some("limit"), "limit must be an integer from 1 to 1000");
    assert_error(&bad("limit=1001"), 422, Some("limit"), "limit must be an integer");
    assert_error(&bad("since=1"), 422, Some("since"), "unknown query parameter");
    assert_error(&bad("strategy=nobody"), 404, Some("strategy"), "unknown strategy");
    let r = request(h.addr, "GET", "/api/v1/chain/intents", None, None);
    assert_error(&r, 401, Some("Authorization"), "missing bearer token");

    // /metrics counts exactly what the API lists (nothing was dropped).
    let m = request(h.addr, "GET", "/metrics", Some(&h.tokens.viewer), None).text();
    let mut listed: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap().to_string();
        *listed.entry((s("strategy"), s("outcome"), s("reason"))).or_default() += 1;
    }
    assert_eq!(chain_metric(&m), listed, "{m}");
    let key = |s: &str, o: &str, r: &str| (s.to_string(), o.to_string(), r.to_string());
    assert_eq!(listed.get(&key("drainer", "rejected", "CHAIN_APPROVAL")), Some(&1), "{listed:?}");
    assert!(listed.get(&key("drainer", "rejected", "CHAIN_RATE")).is_some_and(|n| *n >= 1), "{listed:?}");

    // Each row is the journal's: its last record is a CHAIN record at `last_seq`.
    h.stop();
    let journal = h.journal();
    for r in &rows {
        let seq = r["last_seq"].as_u64().unwrap();
        assert!(
            journal.iter().any(|j| j.seq == seq && j.kind == bulkhead_engine::records::CHAIN),
            "no CHAIN record at {seq}: {r}"
        );
    }
    drop(demo);
    drop(net);
}
