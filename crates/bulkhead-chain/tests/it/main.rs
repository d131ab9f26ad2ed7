//! bulkhead-chain integration tests: against a real anvil (installed by
//! `scripts/chain-setup.sh`) and the real compiled fixture contracts.
//! Without anvil the chain tests skip with a message, unless
//! `BULKHEAD_REQUIRE_CHAIN` is set: then they fail.

mod artifacts;
mod config;
mod hostile_node;
mod keys;
mod policy;
mod sim;
mod unavailable;

use bulkhead_chain::config::ChainConfig;
use bulkhead_chain::devnet::{DemoChain, Devnet, anvil_path};
use bulkhead_chain::keys::KeyFile;
use bulkhead_chain::rpc::ChainClient;

/// True when missing chain tools must fail the test instead of skipping it.
pub fn require_chain() -> bool {
    std::env::var_os("BULKHEAD_REQUIRE_CHAIN").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Skips (returns false) or panics when a tool is missing.
pub fn tool_present(what: &str, present: Result<(), String>) -> bool {
    match present {
        Ok(()) => true,
        Err(m) if require_chain() => panic!("BULKHEAD_REQUIRE_CHAIN is set and {what} is missing: {m}"),
        Err(m) => {
            eprintln!("SKIPPED: {what} missing ({m}); run scripts/chain-setup.sh");
            false
        }
    }
}

/// A fresh anvil with the demo contracts, or `None` (skip) without anvil.
pub fn demo() -> Option<(Devnet, DemoChain)> {
    if !tool_present("anvil", anvil_path().map(|_| ()).map_err(|e| e.to_string())) {
        return None;
    }
    let net = Devnet::start().expect("start anvil");
    let demo = net.deploy_demo().expect("deploy demo contracts");
    Some((net, demo))
}

/// The demo's `[chain]` table as a config and a connected client.
pub async fn client(demo: &DemoChain) -> (ChainConfig, ChainClient) {
    let doc: toml::Table = toml::from_str(&demo.chain_toml).expect("demo chain toml");
    let cfg = ChainConfig::from_toml(&doc["chain"], demo.dir.path()).expect("demo chain config");
    let keys = KeyFile::load(&cfg.keys_file).expect("demo keys");
    let client = ChainClient::connect(&cfg, keys).await.expect("connect");
    (cfg, client)
}
