//! `[chain]` config: a good table parses; every error names its field.

use std::path::Path;

use bulkhead_chain::config::ChainConfig;
use bulkhead_chain::types::ContractKind;

const GOOD: &str = r#"
[chain]
rpc_url = "http://127.0.0.1:8545"
keys_file = "secrets/keys.toml"
deviation_bps = 25

[[chain.contracts]]
name = "usdc"
address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
kind = "token"
decimals = 6

[[chain.contracts]]
name = "weth"
address = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"
kind = "token"
decimals = 18

[[chain.contracts]]
name = "pool"
address = "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0"
kind = "pool_v2"
token0 = "usdc"
token1 = "weth"

[[chain.contracts]]
name = "router"
address = "0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9"
kind = "other"
"#;

fn parse(text: &str) -> Result<ChainConfig, String> {
    let doc: toml::Table = toml::from_str(text).expect("test toml");
    ChainConfig::from_toml(&doc["chain"], Path::new("/run/cfg")).map_err(|e| e.to_string())
}

fn expect_err(from: &str, to: &str, field: &str) {
    assert!(GOOD.contains(from), "fixture lacks {from}");
    let text = GOOD.replacen(from, to, 1);
    let e = parse(&text).expect_err(&format!("{to} must be refused"));
    assert!(e.starts_with(&format!("{field}: ")), "error {e:?} must name {field}");
}

#[test]
fn good_table_parses_with_defaults_and_book() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.rpc_url, "http://127.0.0.1:8545");
    assert_eq!(c.keys_file, Path::new("/run/cfg/secrets/keys.toml"));
    assert_eq!((c.chain_id, c.rpc_timeout_ms, c.receipt_timeout_ms, c.deviation_bps), (None, 5000, 30_000, 25));
    let book = c.book();
    assert_eq!(book.contracts.len(), 4);
    assert_eq!(book.contracts[0].kind, ContractKind::Token { decimals: 6 });
    assert_eq!(book.contracts[2].kind, ContractKind::PoolV2 { token0: 0, token1: 1 });
    assert_eq!(book.contracts[3].kind, ContractKind::Other);
    assert_eq!(book.tokens().collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(book.index_of("pool"), Some(2));
}

#[test]
fn errors_name_the_field() {
    expect_err("rpc_url = \"http://127.0.0.1:8545\"", "rpc_url = \"ftp://x\"", "chain.rpc_url");
    expect_err("rpc_url = \"http://127.0.0.1:8545\"", "rpc_url = 5", "chain.rpc_url");
    expect_err("deviation_bps = 25", "deviation_bps = 10001", "chain.deviation_bps");
    expect_err("deviation_bps = 25", "rpc_timeout_ms = 99", "chain.rpc_timeout_ms");
    expect_err("deviation_bps = 25", "receipt_timeout_ms = 600001", "chain.receipt_timeout_ms");
    expect_err("deviation_bps = 25", "chain_id = 0", "chain.chain_id");
    expect_err("deviation_bps = 25", "rcp_url = \"x\"", "chain.rcp_url");
    expect_err("keys_file = \"secrets/keys.toml\"\n", "", "chain.keys_file");
    expect_err(
        "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0",
        "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e",
        "chain.contracts[2].address",
    );
    expect_err(
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "0x5FbDB2315678afecb367f032d93F642f64180AA3",
        "chain.contracts[0].address",
    );
    expect_err(
        "0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9",
        "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0",
        "chain.contracts[3].address",
    );
    expect_err("name = \"router\"", "name = \"pool\"", "chain.contracts[3].name");
    expect_err("name = \"router\"", "name = \"a b\"", "chain.contracts[3].name");
    expect_err("name = \"router\"", &format!("name = \"{}\"", "x".repeat(33)), "chain.contracts[3].name");
    expect_err("token1 = \"weth\"", "token1 = \"router\"", "chain.contracts[2].token1");
    expect_err("token1 = \"weth\"", "token1 = \"nope\"", "chain.contracts[2].token1");
    expect_err("token1 = \"weth\"", "token1 = \"usdc\"", "chain.contracts[2].token1");
    expect_err("decimals = 6", "decimals = 37", "chain.contracts[0].decimals");
    expect_err("decimals = 6", "", "chain.contracts[0].decimals");
    expect_err("kind = \"other\"", "kind = \"other\"\ndecimals = 3", "chain.contracts[3].decimals");
    expect_err("kind = \"other\"", "kind = \"vault\"", "chain.contracts[3].kind");
    expect_err("kind = \"other\"", "kind = \"other\"\nowner = \"me\"", "chain.contracts[3].owner");
}

#[test]
fn missing_contracts_and_non_table_refused() {
    let e = parse("[chain]\nrpc_url = \"http://h:1\"\nkeys_file = \"k\"\n").unwrap_err();
    assert!(e.starts_with("chain.contracts: "), "{e}");
    let doc: toml::Table = toml::from_str("chain = 3").unwrap();
    let e = ChainConfig::from_toml(&doc["chain"], Path::new("/")).unwrap_err();
    assert_eq!(e.field, "chain");
}
