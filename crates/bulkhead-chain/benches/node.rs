//! The node's own floor, beside which the engine's chain latency is read
//! (bench/chain.sh prints both): on a local anvil with the demo contracts,
//! through the same client the engine uses, N sequential `eth_call`s
//! (`balanceOf`), N full simulations of a pool swap (`eth_simulateV1` with
//! the book's balance and allowance reads) and N sign + broadcast + receipt
//! rounds of that swap. Prints p50 / p99 / max of each. Not a criterion
//! bench: every sample is one round trip to a separate process.
//!
//! `cargo bench -p bulkhead-chain --bench node [-- N]` (default N = 500).

use std::time::{Duration, Instant};

use bulkhead_chain::config::ChainConfig;
use bulkhead_chain::devnet::{Devnet, U256, anvil_path, units};
use bulkhead_chain::keys::KeyFile;
use bulkhead_chain::rpc::{ChainClient, SWAP_SELECTOR};
use bulkhead_chain::types::Intent;

fn line(what: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let q = |p: f64| ns[((p * ns.len() as f64).ceil() as usize).clamp(1, ns.len()) - 1] as f64 / 1e3;
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1e3;
    println!(
        "{what:<44} n {:>5}  p50 {:>8.1} us  p99 {:>8.1} us  max {:>8.1} us  mean {:>8.1} us  ({:.0}/s)",
        ns.len(),
        q(0.5),
        q(0.99),
        q(1.0),
        mean,
        1e6 / mean
    );
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(500);
    if let Err(e) = anvil_path() {
        println!("SKIPPED: {e} (run scripts/chain-setup.sh)");
        return;
    }
    let net = Devnet::start().expect("anvil");
    let demo = net.deploy_demo().expect("demo contracts");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let doc: toml::Table = toml::from_str(&demo.chain_toml).expect("chain toml");
        let cfg = ChainConfig::from_toml(&doc["chain"], demo.dir.path()).expect("chain config");
        let client = ChainClient::connect(&cfg, KeyFile::load(&cfg.keys_file).expect("keys")).await.expect("connect");
        let book = cfg.book();
        let (usdc, pool) = (0usize, 2usize);
        net.approve(demo.alpha, demo.usdc, demo.pool, U256::MAX).expect("approve");
        let swap = |id| Intent {
            id,
            tag: 0,
            contract: pool,
            selector: SWAP_SELECTOR,
            args: vec![
                bulkhead_chain::devnet::word(demo.usdc),
                units(20, 6),
                U256::from(1),
                bulkhead_chain::devnet::word(demo.alpha),
                U256::ZERO,
            ],
            value: U256::ZERO,
            deadline_in: Some((4, 120)),
        };
        let (block, _) = client.latest().await.expect("latest");
        let mut calls = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            client.balance_at(&book, usdc, demo.alpha, block).await.expect("eth_call");
            calls.push(t.elapsed().as_nanos() as u64);
        }
        let mut sims = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            let s = client.simulate(demo.alpha, &book, &swap(i as u64)).await.expect("simulate");
            sims.push(t.elapsed().as_nanos() as u64);
            assert!(s.success, "{s:?}");
        }
        let mut rounds = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            let (_, ts) = client.latest().await.expect("latest");
            let tx = client.sign(demo.alpha, &swap(i as u64), ts, 300_000).await.expect("sign");
            client.broadcast(&tx).await.expect("broadcast");
            let m = client.receipt(&tx, demo.alpha, &book, Duration::from_secs(10)).await.expect("receipt");
            rounds.push(t.elapsed().as_nanos() as u64);
            assert!(m.success, "{m:?}");
        }
        println!("anvil at {} (same machine), client = bulkhead-chain's ChainClient", net.url());
        line("eth_call balanceOf (node floor)", calls);
        line("simulate a swap (eth_simulateV1 + reads)", sims);
        line("sign + broadcast + receipt of a swap", rounds);
    });
}
