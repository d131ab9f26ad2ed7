//! The JSON-RPC client: simulate, sign, send and await receipts on any
//! Ethereum JSON-RPC endpoint (`eth_simulateV1` for simulation).
//!
//! Owns: the HTTP connection (alloy's RPC client over reqwest, rustls with
//! ring), the configured timeouts, one local nonce per account, EIP-1559
//! signing with the key file's signers, and turning the node's answers into
//! [`SimOutcome`] / [`Mined`].
//! Must never: trust the node — every answer is parsed defensively (a short
//! or malformed answer is a [`ChainError`], never a panic); log or return
//! key material; contain anything specific to one node implementation.

use std::collections::HashMap;
use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::Encodable2718;
use alloy::primitives::TxKind;
use alloy::rpc::client::RpcClient;
use alloy::signers::SignerSync;
use alloy::transports::TransportErrorKind;
use alloy_primitives::{Address, B256, Bytes, I256, U256, keccak256};
use serde_json::{Value, json};

use crate::config::ChainConfig;
use crate::keys::KeyFile;
use crate::transport::{CappedHttp, MAX_RESPONSE_BYTES};
use crate::types::{ContractBook, ContractKind, Intent, MAX_REVERT_BYTES, SimOutcome};

/// `swap(address,uint256,uint256,address,uint256)`.
pub const SWAP_SELECTOR: [u8; 4] = [0xac, 0xf0, 0xae, 0x03];
const BALANCE_OF: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];
const ALLOWANCE: [u8; 4] = [0xdd, 0x62, 0xed, 0x3e];
const GET_RESERVES: [u8; 4] = [0x09, 0x02, 0xf1, 0xac];
const TOKEN0: [u8; 4] = [0x0d, 0xfe, 0x16, 0x81];
const TOKEN1: [u8; 4] = [0xd2, 0x12, 0x20, 0xa7];
/// Gas for each read call of a simulation (a hostile token cannot eat the block).
const READ_GAS: u64 = 200_000;
/// Where `traceTransfers` reports native transfers (as ERC-20 `Transfer` logs).
const NATIVE_PSEUDO_TOKEN: Address = Address::new([0xee; 20]);
/// Longest node error message kept.
const MAX_MESSAGE: usize = 200;
/// Largest hex data accepted from the node in one field.
const MAX_DATA_BYTES: usize = 1 << 20;
/// Receipt polling backs off from the first to the last interval (a local
/// node mines at once; a public chain takes seconds per block).
const RECEIPT_POLL_FIRST: Duration = Duration::from_millis(2);
const RECEIPT_POLL_MAX: Duration = Duration::from_millis(250);

/// Why the client could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The node is unreachable, timed out or answered 5xx.
    #[error("chain node unavailable: {0}")]
    Unavailable(String),
    /// The node answered with an error.
    #[error("chain node error: {0}")]
    Rpc(String),
    /// The node's answer is malformed, short or inconsistent.
    #[error("bad answer from the chain node: {0}")]
    BadResponse(String),
    /// No key for this account.
    #[error("no key for this account")]
    UnknownAccount,
    /// The intent names a contract index outside the client's book.
    #[error("contract index {0} is not in the chain config")]
    UnknownContract(usize),
}

/// A signed transaction, ready to broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    pub hash: B256,
    pub nonce: u64,
    pub raw: Bytes,
}

pub use crate::types::Mined;

/// The chain client (one per run; shared by the strategies' accounts).
pub struct ChainClient {
    client: RpcClient,
    keys: KeyFile,
    book: ContractBook,
    chain_id: u64,
    /// `chain.max_fee_gwei` in wei.
    max_fee_wei: u128,
    rpc_timeout: Duration,
    nonces: tokio::sync::Mutex<HashMap<Address, u64>>,
}

impl std::fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainClient").field("chain_id", &self.chain_id).field("keys", &self.keys).finish()
    }
}

fn printable(s: &str) -> String {
    s.chars().take(MAX_MESSAGE).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
}

fn classify(method: &str, e: alloy::transports::RpcError<TransportErrorKind>) -> ChainError {
    use alloy::transports::RpcError as E;
    match e {
        E::ErrorResp(p) => ChainError::Rpc(format!("{method}: {} (code {})", printable(&p.message), p.code)),
        E::NullResp => ChainError::BadResponse(format!("{method}: null result")),
        E::DeserError { err, .. } => ChainError::BadResponse(format!("{method}: {}", printable(&err.to_string()))),
        E::Transport(TransportErrorKind::HttpError(h))
        | E::Transport(TransportErrorKind::HttpErrorWithRetryAfter { error: h, .. })
            if h.status < 500 =>
        {
            ChainError::Rpc(format!("{method}: HTTP {}", h.status))
        }
        E::Transport(k) => ChainError::Unavailable(format!("{method}: {}", printable(&k.to_string()))),
        other => ChainError::Rpc(format!("{method}: {}", printable(&other.to_string()))),
    }
}

// ---- defensive parsing of the node's JSON -------------------------------

fn bad<T>(what: impl Into<String>) -> Result<T, ChainError> {
    Err(ChainError::BadResponse(what.into()))
}

fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a Value, ChainError> {
    match v.get(key) {
        Some(x) if !x.is_null() => Ok(x),
        _ => bad(format!("{what}: no field {key}")),
    }
}

fn hex_digits<'a>(v: &'a Value, what: &str) -> Result<&'a str, ChainError> {
    match v.as_str().and_then(|s| s.strip_prefix("0x")) {
        Some(h) if h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(h),
        _ => bad(format!("{what}: not a 0x hex string")),
    }
}

fn qty_u256(v: &Value, what: &str) -> Result<U256, ChainError> {
    let h = hex_digits(v, what)?;
    if h.is_empty() || h.len() > 64 {
        return bad(format!("{what}: not a quantity"));
    }
    U256::from_str_radix(h, 16).or_else(|_| bad(format!("{what}: not a quantity")))
}

fn qty_u64(v: &Value, what: &str) -> Result<u64, ChainError> {
    u64::try_from(qty_u256(v, what)?).or_else(|_| bad(format!("{what}: above 2^64")))
}

fn data(v: &Value, what: &str) -> Result<Vec<u8>, ChainError> {
    let h = hex_digits(v, what)?;
    if !h.len().is_multiple_of(2) || h.len() / 2 > MAX_DATA_BYTES {
        return bad(format!("{what}: odd or oversized hex data"));
    }
    let mut out = Vec::with_capacity(h.len() / 2);
    for pair in h.as_bytes().chunks_exact(2) {
        let s = std::str::from_utf8(pair).unwrap_or("zz");
        match u8::from_str_radix(s, 16) {
            Ok(b) => out.push(b),
            Err(_) => return bad(format!("{what}: bad hex")),
        }
    }
    Ok(out)
}

fn word(bytes: &[u8], i: usize, what: &str) -> Result<U256, ChainError> {
    match bytes.get(i * 32..(i + 1) * 32) {
        Some(w) => Ok(U256::from_be_slice(w)),
        None => bad(format!("{what}: returned {} bytes, expected at least {}", bytes.len(), (i + 1) * 32)),
    }
}

fn word_address(w: U256) -> Option<Address> {
    let b = w.to_be_bytes::<32>();
    b[..12].iter().all(|&x| x == 0).then(|| Address::from_slice(&b[12..]))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn encode(selector: [u8; 4], words: &[U256]) -> Vec<u8> {
    let mut v = selector.to_vec();
    for w in words {
        v.extend_from_slice(&w.to_be_bytes::<32>());
    }
    v
}

fn addr_word(a: Address) -> U256 {
    U256::from_be_slice(a.as_slice())
}

fn signed_delta(before: U256, after: U256, what: &str) -> Result<I256, ChainError> {
    let (Ok(b), Ok(a)) = (I256::try_from(before), I256::try_from(after)) else {
        return bad(format!("{what}: balance above 2^255"));
    };
    a.checked_sub(b).map_or_else(|| bad(format!("{what}: balance delta overflows")), Ok)
}

/// Uniswap-v2 output for `amount_in` against reserves (0.3 % fee); `None` on
/// overflow or empty reserves.
pub fn v2_quote(amount_in: U256, reserve_in: U256, reserve_out: U256) -> Option<U256> {
    let in_fee = amount_in.checked_mul(U256::from(997))?;
    let num = in_fee.checked_mul(reserve_out)?;
    let den = reserve_in.checked_mul(U256::from(1000))?.checked_add(in_fee)?;
    num.checked_div(den)
}

/// A read made before and after the intent in a simulation.
#[derive(Clone, Copy, Debug)]
enum Read {
    Balance(usize),
    Allowance(usize, usize),
}

/// One call's result in an `eth_simulateV1` answer.
struct CallResult {
    success: bool,
    data: Vec<u8>,
    gas_used: u64,
    logs: Vec<Value>,
}

fn call_result(v: &Value, what: &str) -> Result<CallResult, ChainError> {
    let status = qty_u64(field(v, "status", what)?, what)?;
    let data = data(field(v, "returnData", what)?, what)?;
    let gas_used = qty_u64(field(v, "gasUsed", what)?, what)?;
    let logs = match v.get("logs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return bad(format!("{what}: logs is not an array")),
    };
    Ok(CallResult { success: status == 1, data, gas_used, logs })
}

/// A log's emitter, topics and data.
fn log_parts(v: &Value) -> Result<(Address, Vec<U256>, Vec<u8>), ChainError> {
    let what = "simulated log";
    let a = data(field(v, "address", what)?, what)?;
    if a.len() != 20 {
        return bad("simulated log: address is not 20 bytes");
    }
    let Some(ts) = field(v, "topics", what)?.as_array() else { return bad("simulated log: topics not an array") };
    let mut topics = Vec::with_capacity(ts.len());
    for t in ts {
        let b = data(t, what)?;
        if b.len() != 32 {
            return bad("simulated log: topic is not 32 bytes");
        }
        topics.push(U256::from_be_slice(&b));
    }
    Ok((Address::from_slice(&a), topics, data(field(v, "data", what)?, what)?))
}

impl ChainClient {
    /// Connects to `cfg.rpc_url`, asks the chain id (and checks it when
    /// configured). Must run inside a tokio runtime.
    pub async fn connect(cfg: &ChainConfig, keys: KeyFile) -> Result<ChainClient, ChainError> {
        // reqwest is built without a bundled crypto provider: use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rpc_timeout = Duration::from_millis(cfg.rpc_timeout_ms);
        let url: reqwest::Url =
            cfg.rpc_url.parse().map_err(|_| ChainError::Unavailable("rpc_url is not a URL".into()))?;
        let http = reqwest::Client::builder()
            .timeout(rpc_timeout)
            .connect_timeout(rpc_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ChainError::Unavailable(format!("HTTP client: {}", printable(&e.to_string()))))?;
        let client = RpcClient::new(CappedHttp::new(http, url, MAX_RESPONSE_BYTES, rpc_timeout), false);
        let mut me = ChainClient {
            client,
            keys,
            book: cfg.book(),
            chain_id: 0,
            max_fee_wei: u128::from(cfg.max_fee_gwei) * 1_000_000_000,
            rpc_timeout,
            nonces: tokio::sync::Mutex::new(HashMap::new()),
        };
        let id = qty_u64(&me.call("eth_chainId", json!([])).await?, "eth_chainId")?;
        if let Some(want) = cfg.chain_id
            && want != id
        {
            return Err(ChainError::Rpc(format!("node reports chain id {id}, chain.chain_id is {want}")));
        }
        me.chain_id = id;
        Ok(me)
    }

    /// The chain id the node reported at connect.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The address of an account of the key file.
    pub fn address_of(&self, account: &str) -> Option<Address> {
        self.keys.address(account)
    }

    async fn call(&self, method: &'static str, params: Value) -> Result<Value, ChainError> {
        let fut = self.client.request::<Value, Value>(method, params);
        match tokio::time::timeout(self.rpc_timeout, fut).await {
            Err(_) => {
                Err(ChainError::Unavailable(format!("{method}: no answer within {} ms", self.rpc_timeout.as_millis())))
            }
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(method, e)),
        }
    }

    async fn block(&self, tag: Value) -> Result<Value, ChainError> {
        let b = self.call("eth_getBlockByNumber", json!([tag, false])).await?;
        if !b.is_object() {
            return bad("eth_getBlockByNumber: not a block object");
        }
        Ok(b)
    }

    /// The latest block's number and timestamp (s).
    pub async fn latest(&self) -> Result<(u64, u64), ChainError> {
        let b = self.block(json!("latest")).await?;
        let w = "latest block";
        Ok((qty_u64(field(&b, "number", w)?, w)?, qty_u64(field(&b, "timestamp", w)?, w)?))
    }

    /// Simulates `intent` sent by `from` on top of the latest block (in a
    /// block numbered latest + 1 with timestamp latest + 1 s), with its
    /// `deadline_in` resolved against the latest block's timestamp.
    pub async fn simulate(
        &self,
        from: Address,
        book: &ContractBook,
        intent: &Intent,
    ) -> Result<SimOutcome, ChainError> {
        let target = book.get(intent.contract).ok_or(ChainError::UnknownContract(intent.contract))?;
        let (number, ts) = self.latest().await?;
        let tokens: Vec<usize> = book.tokens().collect();
        let mut reads = Vec::new();
        for &t in &tokens {
            reads.push(Read::Balance(t));
            reads.extend((0..book.contracts.len()).map(|c| Read::Allowance(t, c)));
        }
        let pool_reads = matches!(target.kind, ContractKind::PoolV2 { .. }) && intent.selector == SWAP_SELECTOR;
        let read_call = |r: &Read| {
            let (token, data) = match *r {
                Read::Balance(t) => (t, encode(BALANCE_OF, &[addr_word(from)])),
                Read::Allowance(t, c) => {
                    (t, encode(ALLOWANCE, &[addr_word(from), addr_word(book.contracts[c].address)]))
                }
            };
            json!({"from": from, "to": book.contracts[token].address, "data": hex(&data), "gas": format!("{READ_GAS:#x}")})
        };
        let mut calls: Vec<Value> = reads.iter().map(read_call).collect();
        if pool_reads {
            for sel in [GET_RESERVES, TOKEN0, TOKEN1] {
                calls.push(
                    json!({"from": from, "to": target.address, "data": hex(&sel), "gas": format!("{READ_GAS:#x}")}),
                );
            }
        }
        let intent_at = calls.len();
        calls.push(json!({
            "from": from, "to": target.address, "value": format!("{:#x}", intent.value),
            "data": hex(&intent.calldata_at(ts)),
        }));
        calls.extend(reads.iter().map(read_call));
        let payload = json!([{
            "blockStateCalls": [{
                "blockOverrides": {"number": format!("{:#x}", number + 1), "time": format!("{:#x}", ts.saturating_add(1))},
                "calls": calls,
            }],
            "traceTransfers": true,
            "validation": false,
        }, format!("{number:#x}")]);
        let answer = self.call("eth_simulateV1", payload).await?;
        let results = sim_results(&answer, calls.len())?;
        let mut out = SimOutcome { block_number: number, block_timestamp: ts, ..SimOutcome::default() };
        fill_reads(&mut out, book, from, &reads, &results[..reads.len()], &results[intent_at + 1..])?;
        if pool_reads {
            out.pool_quote = pool_quote(intent, &results[reads.len()..intent_at])?;
        }
        fill_intent(&mut out, book, from, &results[intent_at])?;
        Ok(out)
    }

    /// Signs `intent` from `from` (its `deadline_in` resolved against
    /// `block_timestamp`) as an EIP-1559 transaction with the node's fees and
    /// this client's next nonce for the account. The target is looked up in
    /// the book of the config given to [`ChainClient::connect`].
    pub async fn sign(
        &self,
        from: Address,
        intent: &Intent,
        block_timestamp: u64,
        gas_limit: u64,
    ) -> Result<SignedTx, ChainError> {
        let signer = self.keys.signer_for(&from).ok_or(ChainError::UnknownAccount)?;
        let to = self.book.get(intent.contract).ok_or(ChainError::UnknownContract(intent.contract))?.address;
        let base = self.block(json!("latest")).await?;
        let base_fee = qty_u256(field(&base, "baseFeePerGas", "latest block")?, "baseFeePerGas")?;
        let tip = qty_u256(&self.call("eth_maxPriorityFeePerGas", json!([])).await?, "eth_maxPriorityFeePerGas")?;
        // The node's figures are clamped to the configured cap: a lying or
        // spiking node cannot make the account pay more than gas x cap (the
        // transaction then waits, or times out as CHAIN_UNAVAILABLE).
        let cap = U256::from(self.max_fee_wei);
        let max_fee = base_fee.saturating_mul(U256::from(2)).saturating_add(tip).min(cap);
        let tip = tip.min(max_fee);
        let (Ok(max_fee), Ok(tip)) = (u128::try_from(max_fee), u128::try_from(tip)) else {
            return bad("fees above 2^128 wei");
        };
        let mut nonces = self.nonces.lock().await;
        let nonce = match nonces.get(&from) {
            Some(n) => *n,
            None => qty_u64(&self.call("eth_getTransactionCount", json!([from, "pending"])).await?, "nonce")?,
        };
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(to),
            value: intent.value,
            access_list: Default::default(),
            input: Bytes::from(intent.calldata_at(block_timestamp)),
        };
        let sig = signer.sign_hash_sync(&tx.signature_hash()).map_err(|_| ChainError::Rpc("signing failed".into()))?;
        let envelope = TxEnvelope::from(tx.into_signed(sig));
        let signed = SignedTx { hash: *envelope.tx_hash(), nonce, raw: Bytes::from(envelope.encoded_2718()) };
        nonces.insert(from, nonce.saturating_add(1));
        Ok(signed)
    }

    /// Sends a signed transaction. After an error the local nonces are
    /// dropped and fetched again (pending count) at the next signature.
    pub async fn broadcast(&self, tx: &SignedTx) -> Result<(), ChainError> {
        let r = self.call("eth_sendRawTransaction", json!([hex(&tx.raw)])).await;
        let r = r.and_then(|v| match data(&v, "eth_sendRawTransaction") {
            Ok(h) if h.as_slice() == tx.hash.as_slice() => Ok(()),
            Ok(_) => bad("eth_sendRawTransaction: returned another hash"),
            Err(e) => Err(e),
        });
        if r.is_err() {
            self.nonces.lock().await.clear();
        }
        r
    }

    /// Waits (polling) for the receipt of `tx`, then measures `from`'s
    /// balance change per book token across the receipt's block.
    pub async fn receipt(
        &self,
        tx: &SignedTx,
        from: Address,
        book: &ContractBook,
        timeout: Duration,
    ) -> Result<Mined, ChainError> {
        let start = tokio::time::Instant::now();
        let mut poll = RECEIPT_POLL_FIRST;
        let receipt = loop {
            let r = self.call("eth_getTransactionReceipt", json!([tx.hash])).await?;
            if !r.is_null() {
                break r;
            }
            if start.elapsed() >= timeout {
                return Err(ChainError::Unavailable(format!(
                    "no receipt for {} within {} ms",
                    tx.hash,
                    timeout.as_millis()
                )));
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(RECEIPT_POLL_MAX);
        };
        let w = "receipt";
        let success = qty_u64(field(&receipt, "status", w)?, w)? == 1;
        let block_number = qty_u64(field(&receipt, "blockNumber", w)?, w)?;
        let gas_used = qty_u64(field(&receipt, "gasUsed", w)?, w)?;
        let mut token_deltas = Vec::new();
        for t in book.tokens() {
            let before = self.balance_at(book, t, from, block_number.saturating_sub(1)).await?;
            let after = self.balance_at(book, t, from, block_number).await?;
            token_deltas.push((t, signed_delta(before, after, "balanceOf")?));
        }
        Ok(Mined { success, block_number, gas_used, token_deltas })
    }

    /// `balanceOf(owner)` of a book token at a block.
    pub async fn balance_at(
        &self,
        book: &ContractBook,
        token: usize,
        owner: Address,
        block: u64,
    ) -> Result<U256, ChainError> {
        let t = book.get(token).ok_or(ChainError::UnknownContract(token))?;
        let data = encode(BALANCE_OF, &[addr_word(owner)]);
        let v = self.call("eth_call", json!([{"to": t.address, "data": hex(&data)}, format!("{block:#x}")])).await?;
        word(&self::data(&v, "balanceOf")?, 0, "balanceOf")
    }
}

/// The call results of the single simulated block; exactly `n` of them.
fn sim_results(answer: &Value, n: usize) -> Result<Vec<CallResult>, ChainError> {
    let w = "eth_simulateV1";
    let Some(blocks) = answer.as_array() else { return bad(format!("{w}: result is not an array")) };
    let [block] = blocks.as_slice() else { return bad(format!("{w}: {} blocks, expected 1", blocks.len())) };
    let Some(calls) = field(block, "calls", w)?.as_array() else { return bad(format!("{w}: calls is not an array")) };
    if calls.len() != n {
        return bad(format!("{w}: {} call results, expected {n}", calls.len()));
    }
    calls.iter().enumerate().map(|(i, c)| call_result(c, &format!("{w} call {i}"))).collect()
}

fn read_word(r: &CallResult, what: impl Fn() -> String) -> Result<U256, ChainError> {
    if !r.success {
        return bad(format!("{} reverted", what()));
    }
    word(&r.data, 0, &what())
}

/// Token deltas and changed allowances from the reads before and after.
fn fill_reads(
    out: &mut SimOutcome,
    book: &ContractBook,
    _from: Address,
    reads: &[Read],
    pre: &[CallResult],
    post: &[CallResult],
) -> Result<(), ChainError> {
    let name = |i: usize| book.contracts.get(i).map_or("?", |c| c.name.as_str()).to_string();
    for (k, r) in reads.iter().enumerate() {
        match *r {
            Read::Balance(t) => {
                let what = || format!("balanceOf on {}", name(t));
                let (b, a) = (read_word(&pre[k], what)?, read_word(&post[k], what)?);
                out.token_deltas.push((t, signed_delta(b, a, &what())?));
            }
            Read::Allowance(t, c) => {
                let what = || format!("allowance on {} for {}", name(t), name(c));
                let (b, a) = (read_word(&pre[k], what)?, read_word(&post[k], what)?);
                if a != b {
                    out.approvals.push((t, book.contracts[c].address, a));
                }
            }
        }
    }
    Ok(())
}

/// The v2 quote from the pool reads (getReserves, token0, token1) before the intent.
fn pool_quote(intent: &Intent, r: &[CallResult]) -> Result<Option<U256>, ChainError> {
    let [reserves, t0, t1] = r else { return bad("pool reads missing") };
    let r0 = read_word(reserves, || "getReserves".into())?;
    let r1 = word(&reserves.data, 1, "getReserves")?;
    let t0 = word_address(read_word(t0, || "token0".into())?);
    let t1 = word_address(read_word(t1, || "token1".into())?);
    let (Some(token_in), Some(&amount_in)) = (intent.args.first().and_then(|w| word_address(*w)), intent.args.get(1))
    else {
        return Ok(None);
    };
    Ok(if Some(token_in) == t0 {
        v2_quote(amount_in, r0, r1)
    } else if Some(token_in) == t1 {
        v2_quote(amount_in, r1, r0)
    } else {
        None
    })
}

/// Success, revert data, gas, native outflow and Approval logs of the intent call.
fn fill_intent(out: &mut SimOutcome, book: &ContractBook, from: Address, r: &CallResult) -> Result<(), ChainError> {
    let transfer = U256::from_be_bytes(keccak256("Transfer(address,address,uint256)").0);
    let approval = U256::from_be_bytes(keccak256("Approval(address,address,uint256)").0);
    let from_word = addr_word(from);
    out.success = r.success;
    out.gas_used = r.gas_used;
    if !r.success {
        out.revert = r.data[..r.data.len().min(MAX_REVERT_BYTES)].to_vec();
    }
    for log in &r.logs {
        let (emitter, topics, data) = log_parts(log)?;
        if topics.len() != 3 || topics[1] != from_word {
            continue;
        }
        let value = || word(&data, 0, "log data");
        if emitter == NATIVE_PSEUDO_TOKEN && topics[0] == transfer {
            out.native_out = out.native_out.saturating_add(value()?);
        } else if topics[0] == approval
            && let Some(t) = book.by_address(&emitter)
            && matches!(book.contracts[t].kind, ContractKind::Token { .. })
        {
            let Some(spender) = word_address(topics[2]) else { continue };
            if !out.approvals.iter().any(|(tt, s, _)| *tt == t && *s == spender) {
                out.approvals.push((t, spender, value()?));
            }
        }
    }
    Ok(())
}
