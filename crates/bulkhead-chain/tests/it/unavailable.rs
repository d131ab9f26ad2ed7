//! A node that is down: `ChainError::Unavailable`, quickly.

use std::path::Path;
use std::time::{Duration, Instant};

use bulkhead_chain::config::ChainConfig;
use bulkhead_chain::devnet::{DEV_KEYS, write_private};
use bulkhead_chain::keys::KeyFile;
use bulkhead_chain::rpc::{ChainClient, ChainError};

#[tokio::test]
async fn closed_port_is_unavailable_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("k.toml"), &format!("[accounts]\na = \"{}\"\n", DEV_KEYS[1])).unwrap();
    let text = format!(
        "[chain]\nrpc_url = \"http://127.0.0.1:{port}\"\nkeys_file = \"k.toml\"\nrpc_timeout_ms = 1000\n\
         [[chain.contracts]]\nname = \"t\"\naddress = \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\nkind = \"token\"\ndecimals = 6\n"
    );
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let cfg = ChainConfig::from_toml(&doc["chain"], dir.path()).unwrap();
    let keys = KeyFile::load(&cfg.keys_file).unwrap();
    let t = Instant::now();
    let e = ChainClient::connect(&cfg, keys).await.unwrap_err();
    assert!(matches!(e, ChainError::Unavailable(_)), "{e:?}");
    assert!(t.elapsed() < Duration::from_millis(1500), "took {:?}", t.elapsed());
    assert!(Path::new(&cfg.keys_file).exists());
}

#[tokio::test]
async fn silent_node_times_out_as_unavailable() {
    // Accepts connections and never answers.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("k.toml"), &format!("[accounts]\na = \"{}\"\n", DEV_KEYS[1])).unwrap();
    let text = format!(
        "[chain]\nrpc_url = \"http://127.0.0.1:{port}\"\nkeys_file = \"k.toml\"\nrpc_timeout_ms = 300\n\
         [[chain.contracts]]\nname = \"t\"\naddress = \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\nkind = \"token\"\ndecimals = 6\n"
    );
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let cfg = ChainConfig::from_toml(&doc["chain"], dir.path()).unwrap();
    let t = Instant::now();
    let e = ChainClient::connect(&cfg, KeyFile::load(&cfg.keys_file).unwrap()).await.unwrap_err();
    assert!(matches!(e, ChainError::Unavailable(_)), "{e:?}");
    assert!(t.elapsed() < Duration::from_millis(1500), "took {:?}", t.elapsed());
    drop(l);
}
