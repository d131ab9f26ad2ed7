//! A local anvil for tests and the demo (cargo feature `devnet`).
//!
//! Owns: finding the pinned anvil binary (env `BULKHEAD_ANVIL`, else
//! `tools/chain/node_modules/...` installed by `scripts/chain-setup.sh`),
//! starting it on a free loopback port and killing it on drop, deploying
//! the fixture contracts from `contracts/artifacts`, funding the dev
//! accounts, and the levers a test needs to move the chain between a
//! simulation and a mining (automine off, a whale's front-running swap,
//! `evm_mine`). This is the only anvil-aware code of the project.
//! Must never: be compiled into a production path (it uses anvil's unlocked
//! dev accounts and its well-known, public dev keys).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use alloy_primitives::{Address, B256, U256};
use serde_json::{Value, json};

/// Anvil's well-known dev keys 0..=3 (public test keys, never real funds).
pub const DEV_KEYS: [&str; 4] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];
/// Anvil's default chain id.
pub const CHAIN_ID: u64 = 31337;

/// Why the devnet could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("devnet: {0}")]
pub struct DevnetError(pub String);

fn e<T>(m: impl Into<String>) -> Result<T, DevnetError> {
    Err(DevnetError(m.into()))
}

/// A constructor argument.
#[derive(Clone, Debug)]
pub enum Arg {
    Address(Address),
    Uint(U256),
    Str(String),
}

/// ABI-encodes static and string arguments (head/tail layout).
pub fn encode_args(args: &[Arg]) -> Vec<u8> {
    let mut head = Vec::new();
    let mut tail = Vec::new();
    for a in args {
        match a {
            Arg::Address(x) => head.extend_from_slice(&U256::from_be_slice(x.as_slice()).to_be_bytes::<32>()),
            Arg::Uint(x) => head.extend_from_slice(&x.to_be_bytes::<32>()),
            Arg::Str(s) => {
                let offset = U256::from(32 * args.len() + tail.len());
                head.extend_from_slice(&offset.to_be_bytes::<32>());
                tail.extend_from_slice(&U256::from(s.len()).to_be_bytes::<32>());
                tail.extend_from_slice(s.as_bytes());
                tail.resize(tail.len().div_ceil(32) * 32, 0);
            }
        }
    }
    head.extend_from_slice(&tail);
    head
}

/// Selector ‖ words.
pub fn calldata(signature: &str, words: &[U256]) -> Vec<u8> {
    let mut v = alloy_primitives::keccak256(signature)[..4].to_vec();
    for w in words {
        v.extend_from_slice(&w.to_be_bytes::<32>());
    }
    v
}

/// An address as an ABI word.
pub fn word(a: Address) -> U256 {
    U256::from_be_slice(a.as_slice())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn unhex(s: &str) -> Result<Vec<u8>, DevnetError> {
    let h = s.strip_prefix("0x").unwrap_or(s).as_bytes();
    if !h.len().is_multiple_of(2) {
        return e("odd hex");
    }
    let nib = |b: u8| (b as char).to_digit(16).map(|d| d as u8).ok_or_else(|| DevnetError("bad hex".into()));
    h.chunks_exact(2).map(|p| Ok(nib(p[0])? << 4 | nib(p[1])?)).collect()
}

/// The repository root (this crate sits in `crates/bulkhead-chain`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// The anvil binary: `BULKHEAD_ANVIL`, else the one `scripts/chain-setup.sh` installs.
pub fn anvil_path() -> Result<PathBuf, DevnetError> {
    if let Some(p) = std::env::var_os("BULKHEAD_ANVIL") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { e(format!("BULKHEAD_ANVIL={} is not a file", p.display())) };
    }
    let p = repo_root().join("tools/chain/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if p.is_file() {
        Ok(p)
    } else {
        e(format!("anvil not found at {}: run scripts/chain-setup.sh (or set BULKHEAD_ANVIL)", p.display()))
    }
}

/// A running anvil on a loopback port; killed on drop.
pub struct Devnet {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Devnet {
    /// Starts anvil (automine on) on a free port of 127.0.0.1.
    pub fn start() -> Result<Devnet, DevnetError> {
        let anvil = anvil_path()?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|x| DevnetError(format!("no free port: {x}")))?
                .port();
            let child = Command::new(&anvil)
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|x| DevnetError(format!("cannot start {}: {x}", anvil.display())))?;
            let mut me = Devnet { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = me.child.try_wait() {
                    last = format!("anvil exited with {status} (port {port} taken?)");
                    break;
                }
                if me.rpc("eth_chainId", json!([])).is_ok() {
                    return Ok(me);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if last.is_empty() {
                last = format!("anvil did not answer on port {port} within 15 s");
            }
        }
        e(last)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One blocking JSON-RPC call (HTTP/1.1, connection closed after).
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value, DevnetError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let io = |x: std::io::Error| DevnetError(format!("{method}: {x}"));
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(io)?;
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .map_err(io)?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).map_err(io)?;
        let text = String::from_utf8_lossy(&resp);
        let Some((_, body)) = text.split_once("\r\n\r\n") else { return e(format!("{method}: no HTTP body")) };
        let v: Value = serde_json::from_str(body).map_err(|x| DevnetError(format!("{method}: {x}")))?;
        if let Some(err) = v.get("error") {
            return e(format!("{method}: {err}"));
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    /// The address of dev account `i` (0..=3).
    pub fn dev(i: usize) -> Address {
        let key: B256 = DEV_KEYS[i].parse().unwrap_or_default();
        alloy::signers::local::PrivateKeySigner::from_bytes(&key).map(|s| s.address()).unwrap_or_default()
    }

    /// Sends a transaction from an unlocked dev account; returns its hash.
    /// `tip_gwei` sets the priority fee (and a max fee above it).
    pub fn send(
        &self,
        from: Address,
        to: Option<Address>,
        data: &[u8],
        tip_gwei: Option<u64>,
    ) -> Result<B256, DevnetError> {
        let mut tx = json!({"from": from, "data": hex(data), "gas": "0x7a1200"});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        if let Some(g) = tip_gwei {
            let tip = u128::from(g) * 1_000_000_000;
            tx["maxPriorityFeePerGas"] = json!(format!("{tip:#x}"));
            tx["maxFeePerGas"] = json!(format!("{:#x}", tip * 4 + 10_000_000_000));
        }
        let h = self.rpc("eth_sendTransaction", json!([tx]))?;
        h.as_str().and_then(|s| s.parse().ok()).map_or_else(|| e(format!("eth_sendTransaction returned {h}")), Ok)
    }

    /// Waits for a receipt (automine on) and requires success.
    pub fn wait_ok(&self, hash: B256) -> Result<Value, DevnetError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.rpc("eth_getTransactionReceipt", json!([hash]))?;
            if !r.is_null() {
                if r.get("status").and_then(Value::as_str) != Some("0x1") {
                    return e(format!("transaction {hash} reverted"));
                }
                return Ok(r);
            }
            if Instant::now() > deadline {
                return e(format!("no receipt for {hash}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends and waits for success.
    pub fn send_ok(&self, from: Address, to: Address, data: &[u8]) -> Result<Value, DevnetError> {
        let h = self.send(from, Some(to), data, None)?;
        self.wait_ok(h)
    }

    /// Deploys `contracts/artifacts/<artifact>.json` from `from`.
    pub fn deploy(&self, from: Address, artifact: &str, args: &[Arg]) -> Result<Address, DevnetError> {
        let path = repo_root().join("contracts/artifacts").join(format!("{artifact}.json"));
        let text = std::fs::read_to_string(&path).map_err(|x| DevnetError(format!("{}: {x}", path.display())))?;
        let v: Value = serde_json::from_str(&text).map_err(|x| DevnetError(format!("{}: {x}", path.display())))?;
        let Some(code) = v.get("bytecode").and_then(Value::as_str) else {
            return e(format!("{}: no bytecode", path.display()));
        };
        let mut data = unhex(code)?;
        data.extend_from_slice(&encode_args(args));
        let r = self.wait_ok(self.send(from, None, &data, None)?)?;
        r.get("contractAddress")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .map_or_else(|| e(format!("{artifact}: no contractAddress")), Ok)
    }

    /// Turns automine on or off (off: transactions wait in the pool for [`Devnet::mine`]).
    pub fn set_automine(&self, on: bool) -> Result<(), DevnetError> {
        self.rpc("evm_setAutomine", json!([on])).map(|_| ())
    }

    /// Mines one block with the pending transactions (highest tip first).
    pub fn mine(&self) -> Result<(), DevnetError> {
        self.rpc("evm_mine", json!([])).map(|_| ())
    }

    /// A front-runner: with automine off, the whale (dev 0) swaps
    /// `amount_in` of `token_in` on `pool` with a high priority fee, so the
    /// next [`Devnet::mine`] puts it before any pending transaction with a
    /// normal tip. Returns the whale's transaction hash.
    pub fn frontrun_swap(&self, pool: Address, token_in: Address, amount_in: U256) -> Result<B256, DevnetError> {
        let whale = Self::dev(0);
        let data = calldata(
            "swap(address,uint256,uint256,address,uint256)",
            &[word(token_in), amount_in, U256::ZERO, word(whale), U256::MAX],
        );
        self.send(whale, Some(pool), &data, Some(100))
    }

    /// A token balance (latest block).
    pub fn balance(&self, token: Address, owner: Address) -> Result<U256, DevnetError> {
        let data = calldata("balanceOf(address)", &[word(owner)]);
        let v = self.rpc("eth_call", json!([{"to": token, "data": hex(&data)}, "latest"]))?;
        let b = unhex(v.as_str().unwrap_or(""))?;
        if b.len() < 32 {
            return e("balanceOf: short answer");
        }
        Ok(U256::from_be_slice(&b[..32]))
    }
}

/// The demo chain: fixture contracts deployed, strategy accounts funded.
///
/// Accounts: dev 0 = deployer, liquidity provider and front-running whale;
/// dev 1 = strategy account `alpha`; dev 2 = strategy account `beta`;
/// dev 3 = the attacker (deployer of the Drainer, which pays it).
#[derive(Debug)]
pub struct DemoChain {
    pub usdc: Address,
    pub weth: Address,
    /// USDC/WETH pool, 2 000 000 USDC / 1 000 WETH.
    pub pool: Address,
    pub fee_token: Address,
    /// FEE/USDC pool, 100 000 FEE (less the 1 % burnt) / 100 000 USDC.
    pub fee_pool: Address,
    pub reentrant_token: Address,
    /// RENT/USDC pool; the token's transfers re-enter it (armed).
    pub reentrant_pool: Address,
    pub drainer: Address,
    pub whale: Address,
    pub attacker: Address,
    pub alpha: Address,
    pub beta: Address,
    /// Temp dir holding `keys.toml` (mode 0600, accounts alpha and beta).
    pub dir: tempfile::TempDir,
    pub keys_file: PathBuf,
    /// A `[chain]` table for a run config (contracts usdc, weth, pool, fee,
    /// fee_pool, rent, rent_pool, drainer).
    pub chain_toml: String,
}

/// `n` whole units of a token with `decimals`.
pub fn units(n: u64, decimals: u8) -> U256 {
    U256::from(n) * U256::from(10).pow(U256::from(decimals))
}

fn token_args(name: &str, decimals: u8, holder: Address, supply: U256) -> Vec<Arg> {
    vec![
        Arg::Str(name.into()),
        Arg::Str(name.into()),
        Arg::Uint(U256::from(decimals)),
        Arg::Address(holder),
        Arg::Uint(supply),
    ]
}

impl Devnet {
    /// Approves `spender` for `amount` of `token` from `owner` (unlocked).
    pub fn approve(&self, owner: Address, token: Address, spender: Address, amount: U256) -> Result<(), DevnetError> {
        self.send_ok(owner, token, &calldata("approve(address,uint256)", &[word(spender), amount])).map(|_| ())
    }

    /// Transfers `amount` of `token` from `from` (unlocked) to `to`.
    pub fn transfer(&self, from: Address, token: Address, to: Address, amount: U256) -> Result<(), DevnetError> {
        self.send_ok(from, token, &calldata("transfer(address,uint256)", &[word(to), amount])).map(|_| ())
    }

    fn pool_with(&self, a: Address, b: Address, amount_a: U256, amount_b: U256) -> Result<Address, DevnetError> {
        let lp = Self::dev(0);
        let pool = self.deploy(lp, "Pool", &[Arg::Address(a), Arg::Address(b)])?;
        self.approve(lp, a, pool, U256::MAX)?;
        self.approve(lp, b, pool, U256::MAX)?;
        self.send_ok(lp, pool, &calldata("addLiquidity(uint256,uint256)", &[amount_a, amount_b]))?;
        Ok(pool)
    }

    /// Deploys the demo contracts, funds `alpha` and `beta` (100 000 USDC,
    /// 50 WETH, 1 000 FEE (990 arrive), 1 000 RENT each), writes the keys
    /// file and the `[chain]` snippet. Automine must be on.
    pub fn deploy_demo(&self) -> Result<DemoChain, DevnetError> {
        let (whale, alpha, beta, attacker) = (Self::dev(0), Self::dev(1), Self::dev(2), Self::dev(3));
        let usdc = self.deploy(whale, "Token", &token_args("USDC", 6, whale, units(100_000_000, 6)))?;
        let weth = self.deploy(whale, "Token", &token_args("WETH", 18, whale, units(100_000, 18)))?;
        let fee_token = self.deploy(whale, "FeeToken", &token_args("FEE", 18, whale, units(10_000_000, 18)))?;
        let reentrant_token =
            self.deploy(whale, "ReentrantToken", &token_args("RENT", 18, whale, units(10_000_000, 18)))?;
        let pool = self.pool_with(usdc, weth, units(2_000_000, 6), units(1_000, 18))?;
        let fee_pool = self.pool_with(fee_token, usdc, units(100_000, 18), units(100_000, 6))?;
        let reentrant_pool = self.pool_with(reentrant_token, usdc, units(100_000, 18), units(100_000, 6))?;
        let drainer = self.deploy(attacker, "Drainer", &[])?;
        for who in [alpha, beta] {
            self.transfer(whale, usdc, who, units(100_000, 6))?;
            self.transfer(whale, weth, who, units(50, 18))?;
            self.transfer(whale, fee_token, who, units(1_000, 18))?;
            self.transfer(whale, reentrant_token, who, units(1_000, 18))?;
        }
        self.send_ok(whale, reentrant_token, &calldata("setPool(address)", &[word(reentrant_pool)]))?;
        let dir = tempfile::tempdir().map_err(|x| DevnetError(format!("temp dir: {x}")))?;
        let keys_file = dir.path().join("keys.toml");
        write_private(&keys_file, &format!("[accounts]\nalpha = \"{}\"\nbeta = \"{}\"\n", DEV_KEYS[1], DEV_KEYS[2]))?;
        let contracts = [
            ("usdc", usdc, "kind = \"token\"\ndecimals = 6"),
            ("weth", weth, "kind = \"token\"\ndecimals = 18"),
            ("pool", pool, "kind = \"pool_v2\"\ntoken0 = \"usdc\"\ntoken1 = \"weth\""),
            ("fee", fee_token, "kind = \"token\"\ndecimals = 18"),
            ("fee_pool", fee_pool, "kind = \"pool_v2\"\ntoken0 = \"fee\"\ntoken1 = \"usdc\""),
            ("rent", reentrant_token, "kind = \"token\"\ndecimals = 18"),
            ("rent_pool", reentrant_pool, "kind = \"pool_v2\"\ntoken0 = \"rent\"\ntoken1 = \"usdc\""),
            ("drainer", drainer, "kind = \"other\""),
        ];
        let mut chain_toml = format!(
            "[chain]\nrpc_url = \"{}\"\nchain_id = {CHAIN_ID}\nkeys_file = \"{}\"\n",
            self.url(),
            keys_file.display()
        );
        for (name, addr, kind) in contracts {
            chain_toml.push_str(&format!("\n[[chain.contracts]]\nname = \"{name}\"\naddress = \"{addr}\"\n{kind}\n"));
        }
        Ok(DemoChain {
            usdc,
            weth,
            pool,
            fee_token,
            fee_pool,
            reentrant_token,
            reentrant_pool,
            drainer,
            whale,
            attacker,
            alpha,
            beta,
            dir,
            keys_file,
            chain_toml,
        })
    }
}

/// Writes a file readable by its owner only (mode 0600 from creation).
pub fn write_private(path: &Path, text: &str) -> Result<(), DevnetError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|x| DevnetError(format!("{}: {x}", path.display())))?;
    f.write_all(text.as_bytes()).map_err(|x| DevnetError(format!("{}: {x}", path.display())))
}
