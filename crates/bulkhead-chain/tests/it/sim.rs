//! Simulation, signing, sending and receipts against a real anvil with the
//! demo contracts (book: usdc 0, weth 1, pool 2, fee 3, fee_pool 4, rent 5,
//! rent_pool 6, drainer 7; strategy account alpha = dev 1).

use std::time::{Duration, Instant};

use bulkhead_chain::devnet::{units, word};
use bulkhead_chain::rpc::{SWAP_SELECTOR, v2_quote};
use bulkhead_chain::types::{I256, Intent, U256};

const USDC: usize = 0;
const WETH: usize = 1;
const POOL: usize = 2;
const FEE: usize = 3;
const FEE_POOL: usize = 4;
const RENT: usize = 5;
const RENT_POOL: usize = 6;
const DRAINER: usize = 7;
const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];

fn swap(
    pool: usize,
    token_in: bulkhead_chain::types::Address,
    amount_in: U256,
    min_out: U256,
    to: bulkhead_chain::types::Address,
) -> Intent {
    Intent {
        id: 1,
        tag: 7,
        contract: pool,
        selector: SWAP_SELECTOR,
        args: vec![word(token_in), amount_in, min_out, word(to), U256::ZERO],
        value: U256::ZERO,
        deadline_in: Some((4, 60)),
    }
}

fn approve(token: usize, spender: bulkhead_chain::types::Address, amount: U256) -> Intent {
    Intent {
        id: 2,
        tag: 0,
        contract: token,
        selector: APPROVE,
        args: vec![word(spender), amount],
        value: U256::ZERO,
        deadline_in: None,
    }
}

fn delta(deltas: &[(usize, I256)], token: usize) -> I256 {
    deltas.iter().find(|(t, _)| *t == token).map(|(_, d)| *d).expect("token in deltas")
}

fn pos(x: U256) -> I256 {
    I256::try_from(x).unwrap()
}

#[tokio::test]
async fn good_swap_simulates_then_mines_as_quoted() {
    let Some((net, demo)) = crate::demo() else { return };
    let (cfg, client) = crate::client(&demo).await;
    let book = cfg.book();
    let alpha = client.address_of("alpha").unwrap();
    assert_eq!(alpha, demo.alpha);

    // approve through the client: sign, broadcast, receipt
    let (_, ts) = client.latest().await.unwrap();
    let tx = client.sign(alpha, &approve(USDC, demo.pool, units(10_000, 6)), ts, 100_000).await.unwrap();
    client.broadcast(&tx).await.unwrap();
    let mined = client.receipt(&tx, alpha, &book, Duration::from_secs(10)).await.unwrap();
    assert!(mined.success && mined.gas_used > 0 && mined.block_number > 0, "{mined:?}");
    assert!(mined.token_deltas.iter().all(|(_, d)| d.is_zero()), "{mined:?}");

    let intent = swap(POOL, demo.usdc, units(1_000, 6), U256::ZERO, alpha);
    let t = Instant::now();
    let sim = client.simulate(alpha, &book, &intent).await.unwrap();
    eprintln!("simulate (72 reads + 3 pool reads + intent): {:?}", t.elapsed());
    assert!(sim.success, "{sim:?}");
    let (number, ts) = client.latest().await.unwrap();
    assert_eq!((sim.block_number, sim.block_timestamp), (number, ts));
    let quote = sim.pool_quote.expect("pool quote");
    assert_eq!(quote, v2_quote(units(1_000, 6), units(2_000_000, 6), units(1_000, 18)).unwrap());
    assert_eq!(delta(&sim.token_deltas, USDC), -pos(units(1_000, 6)));
    assert_eq!(delta(&sim.token_deltas, WETH), pos(quote));
    assert_eq!(sim.token_deltas.len(), 4, "every token, zeros included");
    assert_eq!(delta(&sim.token_deltas, FEE), I256::ZERO);
    // the allowance the swap used up shows as a changed allowance
    assert_eq!(sim.approvals, vec![(USDC, demo.pool, units(9_000, 6))]);
    assert!(sim.gas_used > 21_000 && sim.native_out.is_zero());

    let tx = client.sign(alpha, &intent, sim.block_timestamp, 300_000).await.unwrap();
    assert_eq!(tx.nonce, 1);
    client.broadcast(&tx).await.unwrap();
    let mined = client.receipt(&tx, alpha, &book, Duration::from_secs(10)).await.unwrap();
    assert!(mined.success);
    assert_eq!(mined.token_deltas, sim.token_deltas, "nobody moved the pool: mined = simulated");
    assert_eq!(net.balance(demo.weth, alpha).unwrap(), units(50, 18) + quote);

    // timing: a plain eth_call vs a full simulation
    let t = Instant::now();
    for _ in 0..20 {
        client.balance_at(&book, USDC, alpha, mined.block_number).await.unwrap();
    }
    let call = t.elapsed() / 20;
    let t = Instant::now();
    for _ in 0..20 {
        client.simulate(alpha, &book, &intent).await.unwrap();
    }
    eprintln!("anvil eth_call (balanceOf) mean {call:?}; full simulate mean {:?}", t.elapsed() / 20);
}

#[tokio::test]
async fn approve_max_to_drainer_shows_in_approvals() {
    let Some((_net, demo)) = crate::demo() else { return };
    let (cfg, client) = crate::client(&demo).await;
    let book = cfg.book();
    let sim = client.simulate(demo.alpha, &book, &approve(USDC, demo.drainer, U256::MAX)).await.unwrap();
    assert!(sim.success, "{sim:?}");
    assert_eq!(sim.approvals, vec![(USDC, book.contracts[DRAINER].address, U256::MAX)]);
    assert!(sim.token_deltas.iter().all(|(_, d)| d.is_zero()));
    assert_eq!(sim.pool_quote, None);
    // a spender outside the book is seen through the Approval log
    let stranger = demo.attacker;
    let sim = client.simulate(demo.alpha, &book, &approve(WETH, stranger, U256::from(5))).await.unwrap();
    assert_eq!(sim.approvals, vec![(WETH, stranger, U256::from(5))]);
}

#[tokio::test]
async fn fee_token_shortfall_is_visible_in_token_deltas() {
    let Some((net, demo)) = crate::demo() else { return };
    let (cfg, client) = crate::client(&demo).await;
    net.approve(demo.alpha, demo.fee_token, demo.fee_pool, U256::MAX).unwrap();
    let amount = units(100, 18);
    let sim = client
        .simulate(demo.alpha, &cfg.book(), &swap(FEE_POOL, demo.fee_token, amount, U256::ZERO, demo.alpha))
        .await
        .unwrap();
    assert!(sim.success, "{sim:?}");
    let quote = sim.pool_quote.expect("quote");
    let got = delta(&sim.token_deltas, USDC);
    assert_eq!(delta(&sim.token_deltas, FEE), -pos(amount), "the account pays the full amount");
    assert!(got > I256::ZERO && got < pos(quote), "received {got} must fall short of the quote {quote}");
    let shortfall_bps = (pos(quote) - got) * I256::try_from(10_000).unwrap() / pos(quote);
    assert!(shortfall_bps >= I256::try_from(90).unwrap(), "shortfall {shortfall_bps} bps");
}

#[tokio::test]
async fn reentrant_token_swap_reverts_in_simulation() {
    let Some((net, demo)) = crate::demo() else { return };
    let (cfg, client) = crate::client(&demo).await;
    net.approve(demo.alpha, demo.reentrant_token, demo.reentrant_pool, U256::MAX).unwrap();
    let intent = swap(RENT_POOL, demo.reentrant_token, units(10, 18), U256::ZERO, demo.alpha);
    let sim = client.simulate(demo.alpha, &cfg.book(), &intent).await.unwrap();
    assert!(!sim.success, "{sim:?}");
    assert!(String::from_utf8_lossy(&sim.revert).contains("Pool: LOCKED"), "revert {:?}", sim.revert);
    assert!(sim.token_deltas.iter().all(|(_, d)| d.is_zero()), "{sim:?}");
    assert_eq!(delta(&sim.token_deltas, RENT), I256::ZERO);
}

#[tokio::test]
async fn pool_moved_between_simulation_and_mining() {
    let Some((net, demo)) = crate::demo() else { return };
    let (cfg, client) = crate::client(&demo).await;
    let book = cfg.book();
    net.approve(demo.alpha, demo.usdc, demo.pool, U256::MAX).unwrap();
    let intent = swap(POOL, demo.usdc, units(10_000, 6), U256::ZERO, demo.alpha);
    let sim = client.simulate(demo.alpha, &book, &intent).await.unwrap();
    assert!(sim.success);
    let simulated = delta(&sim.token_deltas, WETH);

    net.set_automine(false).unwrap();
    let tx = client.sign(demo.alpha, &intent, sim.block_timestamp, 300_000).await.unwrap();
    client.broadcast(&tx).await.unwrap();
    let whale = net.frontrun_swap(demo.pool, demo.usdc, units(500_000, 6)).unwrap();
    net.mine().unwrap();
    net.set_automine(true).unwrap();
    let mined = client.receipt(&tx, demo.alpha, &book, Duration::from_secs(10)).await.unwrap();
    let whale_block = net.wait_ok(whale).unwrap()["blockNumber"].clone();
    assert_eq!(whale_block, serde_json::json!(format!("{:#x}", mined.block_number)), "same block");
    assert!(mined.success);
    let got = delta(&mined.token_deltas, WETH);
    let deviation_bps = (simulated - got) * I256::try_from(10_000).unwrap() / simulated;
    eprintln!("front-run: simulated {simulated} WETH wei, mined {got}, deviation {deviation_bps} bps");
    assert!(deviation_bps > I256::try_from(cfg.deviation_bps).unwrap(), "deviation {deviation_bps} bps");

    // with amountOutMin at the simulated output, the same front-run makes it revert
    let probe = swap(POOL, demo.usdc, units(10_000, 6), U256::ZERO, demo.alpha);
    let quote = client.simulate(demo.alpha, &book, &probe).await.unwrap().pool_quote.unwrap();
    let intent = swap(POOL, demo.usdc, units(10_000, 6), quote, demo.alpha);
    let sim = client.simulate(demo.alpha, &book, &intent).await.unwrap();
    assert!(sim.success, "{sim:?}");
    assert_eq!(delta(&sim.token_deltas, WETH), pos(quote));
    net.set_automine(false).unwrap();
    let tx = client.sign(demo.alpha, &intent, sim.block_timestamp, 300_000).await.unwrap();
    client.broadcast(&tx).await.unwrap();
    net.frontrun_swap(demo.pool, demo.usdc, units(100_000, 6)).unwrap();
    net.mine().unwrap();
    net.set_automine(true).unwrap();
    let mined = client.receipt(&tx, demo.alpha, &book, Duration::from_secs(10)).await.unwrap();
    assert!(!mined.success && mined.token_deltas.iter().all(|(_, d)| d.is_zero()), "{mined:?}");
}

#[tokio::test]
async fn native_value_sent_shows_as_native_out() {
    let Some((_net, demo)) = crate::demo() else { return };
    let (cfg, client) = crate::client(&demo).await;
    let wei = units(3, 18);
    let intent = Intent {
        id: 3,
        tag: 0,
        contract: DRAINER,
        selector: [0xde, 0xad, 0xbe, 0xef],
        args: vec![],
        value: wei,
        deadline_in: None,
    };
    let sim = client.simulate(demo.alpha, &cfg.book(), &intent).await.unwrap();
    assert!(sim.success, "{sim:?}");
    assert_eq!(sim.native_out, wei);
    assert!(sim.approvals.is_empty() && sim.token_deltas.iter().all(|(_, d)| d.is_zero()));
}

#[tokio::test]
async fn unknown_account_and_contract_are_errors() {
    let Some((_net, demo)) = crate::demo() else { return };
    let (cfg, client) = crate::client(&demo).await;
    let e = client.sign(demo.attacker, &approve(USDC, demo.pool, U256::from(1)), 0, 100_000).await.unwrap_err();
    assert_eq!(e, bulkhead_chain::rpc::ChainError::UnknownAccount);
    let mut bad = approve(USDC, demo.pool, U256::from(1));
    bad.contract = 99;
    assert!(client.simulate(demo.alpha, &cfg.book(), &bad).await.is_err());
    assert!(client.address_of("nobody").is_none());
    let _ = (RENT, FEE);
}
