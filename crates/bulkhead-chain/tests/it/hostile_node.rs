//! A node that answers garbage: every malformed answer is a `ChainError`
//! (BadResponse / Rpc / Unavailable), never a panic. The "node" is a real
//! HTTP server on a loopback port answering canned bodies.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use bulkhead_chain::config::ChainConfig;
use bulkhead_chain::devnet::{DEV_KEYS, word, write_private};
use bulkhead_chain::keys::KeyFile;
use bulkhead_chain::rpc::{ChainClient, ChainError, SWAP_SELECTOR};
use bulkhead_chain::types::{Intent, U256};

/// Serves `eth_chainId` and `eth_getBlockByNumber` sanely, and for any other
/// method the current `(HTTP status, result JSON)` of `answer`.
fn fake_node(answer: Arc<Mutex<(u16, String)>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = vec![0u8; 1 << 16];
            let mut got = Vec::new();
            while let Ok(n) = s.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let req = String::from_utf8_lossy(&got);
            let id = req.split("\"id\":").nth(1).and_then(|r| r.split([',', '}']).next()).unwrap_or("1").to_string();
            let (status, result) = if req.contains("eth_chainId") {
                (200, "\"0x7a69\"".to_string())
            } else if req.contains("eth_getTransactionCount") {
                (200, "\"0x0\"".to_string())
            } else if req.contains("eth_getBlockByNumber") {
                (200, r#"{"number":"0x5","timestamp":"0x10","baseFeePerGas":"0x1"}"#.to_string())
            } else {
                answer.lock().unwrap().clone()
            };
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[tokio::test]
async fn malformed_simulation_answers_are_errors_not_panics() {
    let answer = Arc::new(Mutex::new((200u16, "null".to_string())));
    let port = fake_node(answer.clone());
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("k.toml"), &format!("[accounts]\na = \"{}\"\n", DEV_KEYS[1])).unwrap();
    let text = format!(
        "[chain]\nrpc_url = \"http://127.0.0.1:{port}\"\nkeys_file = \"k.toml\"\nrpc_timeout_ms = 2000\n\
         [[chain.contracts]]\nname = \"t\"\naddress = \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\nkind = \"token\"\ndecimals = 6\n\
         [[chain.contracts]]\nname = \"u\"\naddress = \"0xe7f1725e7734ce288f8367e1bb143e90bb3f0512\"\nkind = \"token\"\ndecimals = 6\n\
         [[chain.contracts]]\nname = \"p\"\naddress = \"0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0\"\nkind = \"pool_v2\"\ntoken0 = \"t\"\ntoken1 = \"u\"\n"
    );
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let cfg = ChainConfig::from_toml(&doc["chain"], dir.path()).unwrap();
    let keys = KeyFile::load(&cfg.keys_file).unwrap();
    let from = keys.address("a").unwrap();
    let client = ChainClient::connect(&cfg, keys).await.unwrap();
    assert_eq!(client.chain_id(), 31337);
    assert_eq!(client.latest().await.unwrap(), (5, 16));
    let intent = Intent {
        id: 1,
        tag: 0,
        contract: 2,
        selector: SWAP_SELECTOR,
        args: vec![word(cfg.contracts[0].address), U256::from(5), U256::ZERO, word(from), U256::ZERO],
        value: U256::ZERO,
        deadline_in: Some((4, 60)),
    };
    let ok_call = r#"{"status":"0x1","returnData":"0x0000000000000000000000000000000000000000000000000000000000000001","gasUsed":"0x5208","logs":[]}"#;
    let n = 2 * (2 + 2 * 3) + 3 + 1;
    let calls = |k: usize, last: &str| {
        let mut v = vec![ok_call.to_string(); k];
        v.push(last.to_string());
        format!("[{{\"calls\":[{}]}}]", v.join(","))
    };
    let cases: Vec<(u16, String)> = vec![
        (200, "null".into()),
        (200, "[]".into()),
        (200, "\"0x\"".into()),
        (200, "[{\"calls\":[]}]".into()),
        (200, "[{\"calls\":7}]".into()),
        (200, calls(n - 1, r#"{"status":"0x1","returnData":"0x12","gasUsed":"0x1"}"#)),
        (200, calls(n - 1, r#"{"status":"0x1","returnData":"0xzz","gasUsed":"0x1"}"#)),
        (200, calls(n - 1, r#"{"status":"0x1","returnData":"0x","gasUsed":"0x1ffffffffffffffffff"}"#)),
        (200, calls(n - 1, r#"{"status":"0x1","returnData":"0x123","gasUsed":"0x1"}"#)),
        (200, calls(0, r#"{"status":"0x0","returnData":"0x","gasUsed":"0x1"}"#)),
        (
            200,
            calls(n - 1, ok_call)
                .replace("\"logs\":[]}]}]", "\"logs\":[{\"address\":\"0x01\",\"topics\":[],\"data\":\"0x\"}]}]}]"),
        ),
        (200, calls(n, ok_call)),
        (200, "{\"calls\": null}".into()),
        (404, "null".into()),
        (500, "null".into()),
        (503, "\"0x1\"".into()),
        // 9 MiB of answer: refused at the transport's cap, never read whole
        (200, format!("\"0x{}\"", "0".repeat(9 << 20))),
    ];
    for (status, result) in cases {
        *answer.lock().unwrap() = (status, result.clone());
        let r = client.simulate(from, &cfg.book(), &intent).await;
        match (status, &r) {
            (200, Err(ChainError::BadResponse(_))) | (404, Err(ChainError::Rpc(_))) => {}
            (500.., Err(ChainError::Unavailable(_))) => {}
            (200, Err(ChainError::Unavailable(m))) if result.len() > 1 << 20 && m.contains("the cap is") => {}
            _ => panic!("HTTP {status} {result:.80}: {r:?}"),
        }
    }
}

#[tokio::test]
async fn a_node_quoting_a_huge_fee_cannot_make_a_transaction_cost_more_than_the_cap() {
    use alloy::consensus::{Transaction, TxEnvelope};
    use alloy::eips::eip2718::Decodable2718;
    // eth_maxPriorityFeePerGas answers 2^120 wei: without the cap the signed
    // maxFeePerGas would be that (and the account would pay it as gas x fee).
    let answer = Arc::new(Mutex::new((200u16, "\"0x1000000000000000000000000000000\"".to_string())));
    let port = fake_node(answer);
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("k.toml"), &format!("[accounts]\na = \"{}\"\n", DEV_KEYS[1])).unwrap();
    let text = format!(
        "[chain]\nrpc_url = \"http://127.0.0.1:{port}\"\nkeys_file = \"k.toml\"\nmax_fee_gwei = 3\n\
         [[chain.contracts]]\nname = \"t\"\naddress = \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\nkind = \"token\"\ndecimals = 6\n"
    );
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let cfg = ChainConfig::from_toml(&doc["chain"], dir.path()).unwrap();
    assert_eq!(cfg.max_fee_gwei, 3);
    let keys = KeyFile::load(&cfg.keys_file).unwrap();
    let from = keys.address("a").unwrap();
    let client = ChainClient::connect(&cfg, keys).await.unwrap();
    let intent = Intent {
        id: 1,
        tag: 0,
        contract: 0,
        selector: [0xa9, 0x05, 0x9c, 0xbb],
        args: vec![word(from), U256::from(1)],
        value: U256::ZERO,
        deadline_in: None,
    };
    let tx = client.sign(from, &intent, 16, 100_000).await.unwrap();
    let env = TxEnvelope::decode_2718(&mut tx.raw.as_ref()).unwrap();
    assert_eq!(env.max_fee_per_gas(), 3_000_000_000, "maxFeePerGas clamped to 3 gwei");
    assert_eq!(env.max_priority_fee_per_gas(), Some(3_000_000_000), "the tip is never above the max fee");

    // and the field is validated by name
    let bad = text.replace("max_fee_gwei = 3", "max_fee_gwei = 0");
    let doc: toml::Table = toml::from_str(&bad).unwrap();
    let e = ChainConfig::from_toml(&doc["chain"], dir.path()).unwrap_err().to_string();
    assert!(e.contains("chain.max_fee_gwei"), "{e}");
}
