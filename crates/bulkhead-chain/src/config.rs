//! The run config's `[chain]` table: RPC endpoint, key file, timeouts and
//! the contracts a run may name.
//!
//! Owns: parsing and validating that table into a [`ChainConfig`] and the
//! run's [`ContractBook`]. Every error names the field
//! (`chain.contracts[2].address: ...`); unknown keys are refused.
//! Must never: read the key file (see `keys`) or talk to a node.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use alloy_primitives::Address;

use crate::types::{ContractBook, ContractInfo, ContractKind};

/// Most contracts a run may configure (the simulation reads every token's
/// balance and every token × contract allowance before and after an intent).
pub const MAX_CONTRACTS: usize = 16;
/// Longest contract / account name.
pub const MAX_NAME_LEN: usize = 32;
/// Longest RPC URL.
pub const MAX_URL_LEN: usize = 512;
/// Most decimals a token may declare.
pub const MAX_DECIMALS: i64 = 36;

/// A bad `[chain]` table: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

fn err<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError { field: field.into(), message: message.into() })
}

/// One `[[chain.contracts]]` entry, names resolved (a pool's tokens are
/// book indices).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractCfg {
    pub name: String,
    pub address: Address,
    pub kind: ContractKind,
}

/// The validated `[chain]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainConfig {
    pub rpc_url: String,
    /// When set, the node must report this chain id.
    pub chain_id: Option<u64>,
    /// Absolute, or relative to the run config's directory.
    pub keys_file: PathBuf,
    pub rpc_timeout_ms: u64,
    pub receipt_timeout_ms: u64,
    /// Tolerated deviation of the mined state change from the simulated one.
    pub deviation_bps: u32,
    /// Highest `maxFeePerGas` signed, in gwei: the node's fee figures are
    /// clamped to it, so a lying or spiking node cannot make a transaction
    /// cost more than `gas limit x max_fee_gwei`.
    pub max_fee_gwei: u64,
    pub contracts: Vec<ContractCfg>,
}

const TOP_KEYS: &[&str] = &[
    "rpc_url",
    "chain_id",
    "keys_file",
    "rpc_timeout_ms",
    "receipt_timeout_ms",
    "deviation_bps",
    "max_fee_gwei",
    "contracts",
];

impl ChainConfig {
    /// Parses the `[chain]` table; `base_dir` is the run config's directory
    /// (a relative `keys_file` is resolved against it).
    pub fn from_toml(chain: &toml::Value, base_dir: &Path) -> Result<ChainConfig, ConfigError> {
        let Some(t) = chain.as_table() else {
            return err("chain", "must be a table");
        };
        for k in t.keys() {
            if !TOP_KEYS.contains(&k.as_str()) {
                return err(format!("chain.{}", printable(k)), "unknown key");
            }
        }
        let rpc_url = parse_url(t.get("rpc_url"))?;
        let chain_id = match t.get("chain_id") {
            None => None,
            Some(v) => Some(int_in(v, "chain.chain_id", 1, i64::MAX)? as u64),
        };
        let keys_file = match t.get("keys_file") {
            None => return err("chain.keys_file", "missing (path of the accounts' key file)"),
            Some(toml::Value::String(s)) if !s.is_empty() && s.len() <= 4096 && !s.contains('\0') => {
                let p = Path::new(s);
                if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
            }
            Some(_) => return err("chain.keys_file", "must be a non-empty path string"),
        };
        let rpc_timeout_ms = opt_int(t.get("rpc_timeout_ms"), "chain.rpc_timeout_ms", 5000, 100, 60_000)?;
        let receipt_timeout_ms =
            opt_int(t.get("receipt_timeout_ms"), "chain.receipt_timeout_ms", 30_000, 1000, 600_000)?;
        let deviation_bps = opt_int(t.get("deviation_bps"), "chain.deviation_bps", 50, 0, 10_000)? as u32;
        let max_fee_gwei = opt_int(t.get("max_fee_gwei"), "chain.max_fee_gwei", 500, 1, 100_000)?;
        let contracts = parse_contracts(t.get("contracts"))?;
        Ok(ChainConfig {
            rpc_url,
            chain_id,
            keys_file,
            rpc_timeout_ms,
            receipt_timeout_ms,
            deviation_bps,
            max_fee_gwei,
            contracts,
        })
    }

    /// The run's contracts, in config order.
    pub fn book(&self) -> ContractBook {
        ContractBook {
            contracts: self
                .contracts
                .iter()
                .map(|c| ContractInfo { name: c.name.clone(), address: c.address, kind: c.kind.clone() })
                .collect(),
        }
    }
}

/// A key or value quoted back in an error: printable ASCII only, bounded.
fn printable(s: &str) -> String {
    s.chars().take(40).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect()
}

fn parse_url(v: Option<&toml::Value>) -> Result<String, ConfigError> {
    const F: &str = "chain.rpc_url";
    let Some(v) = v else { return err(F, "missing (e.g. \"http://127.0.0.1:8545\")") };
    let Some(s) = v.as_str() else { return err(F, "must be a string") };
    if s.len() > MAX_URL_LEN {
        return err(F, format!("longer than {MAX_URL_LEN} bytes"));
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return err(F, "must be printable ASCII without spaces");
    }
    let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => {}
        _ => return err(F, format!("\"{}\" is not an http:// or https:// URL with a host", printable(s))),
    }
    if reqwest::Url::parse(s).is_err() {
        return err(F, format!("\"{}\" is not a valid URL", printable(s)));
    }
    Ok(s.to_string())
}

fn int_in(v: &toml::Value, field: &str, lo: i64, hi: i64) -> Result<i64, ConfigError> {
    match v.as_integer() {
        Some(i) if (lo..=hi).contains(&i) => Ok(i),
        Some(i) => err(field, format!("{i} is outside {lo}..={hi}")),
        None => err(field, "must be an integer"),
    }
}

fn opt_int(v: Option<&toml::Value>, field: &str, default: u64, lo: i64, hi: i64) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => Ok(int_in(v, field, lo, hi)? as u64),
    }
}

/// A name: 1..=32 printable ASCII characters, no spaces.
pub fn check_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return Err(format!("must be 1..={MAX_NAME_LEN} characters"));
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(())
}

/// `0x` + 40 hex digits; mixed case must be a valid EIP-55 checksum; not zero.
pub fn parse_address(s: &str) -> Result<Address, String> {
    let Some(hex) = s.strip_prefix("0x") else {
        return Err(format!("\"{}\" must start with 0x", printable(s)));
    };
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("\"{}\" is not 0x + 40 hex digits", printable(s)));
    }
    let mixed = hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase());
    let a = if mixed {
        Address::parse_checksummed(s, None).map_err(|_| format!("\"{s}\" has a wrong EIP-55 checksum"))?
    } else {
        s.parse::<Address>().map_err(|_| format!("\"{}\" is not an address", printable(s)))?
    };
    if a.is_zero() {
        return Err("the zero address is not a contract".into());
    }
    Ok(a)
}

struct RawContract {
    name: String,
    address: Address,
    kind: String,
    decimals: Option<u8>,
    token0: Option<String>,
    token1: Option<String>,
}

const CONTRACT_KEYS: &[&str] = &["name", "address", "kind", "decimals", "token0", "token1"];

fn parse_raw(i: usize, v: &toml::Value) -> Result<RawContract, ConfigError> {
    let f = format!("chain.contracts[{i}]");
    let Some(t) = v.as_table() else { return err(f, "must be a table") };
    for k in t.keys() {
        if !CONTRACT_KEYS.contains(&k.as_str()) {
            return err(format!("{f}.{}", printable(k)), "unknown key");
        }
    }
    let string = |k: &str| -> Result<Option<String>, ConfigError> {
        match t.get(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => err(format!("{f}.{k}"), "must be a string"),
        }
    };
    let Some(name) = string("name")? else { return err(format!("{f}.name"), "missing") };
    check_name(&name).map_err(|m| ConfigError { field: format!("{f}.name"), message: m })?;
    let Some(addr) = string("address")? else { return err(format!("{f}.address"), "missing") };
    let address = parse_address(&addr).map_err(|m| ConfigError { field: format!("{f}.address"), message: m })?;
    let Some(kind) = string("kind")? else {
        return err(format!("{f}.kind"), "missing (token, pool_v2 or other)");
    };
    let decimals = match t.get("decimals") {
        None => None,
        Some(v) => Some(int_in(v, &format!("{f}.decimals"), 0, MAX_DECIMALS)? as u8),
    };
    Ok(RawContract { name, address, kind, decimals, token0: string("token0")?, token1: string("token1")? })
}

fn parse_contracts(v: Option<&toml::Value>) -> Result<Vec<ContractCfg>, ConfigError> {
    const F: &str = "chain.contracts";
    let list = match v {
        None => return err(F, "missing (at least one [[chain.contracts]])"),
        Some(toml::Value::Array(a)) => a,
        Some(_) => return err(F, "must be an array of tables ([[chain.contracts]])"),
    };
    if list.is_empty() || list.len() > MAX_CONTRACTS {
        return err(F, format!("{} contracts; must be 1..={MAX_CONTRACTS}", list.len()));
    }
    let raw = list.iter().enumerate().map(|(i, v)| parse_raw(i, v)).collect::<Result<Vec<_>, _>>()?;
    let (mut names, mut addrs) = (HashSet::new(), HashSet::new());
    for (i, r) in raw.iter().enumerate() {
        if !names.insert(r.name.as_str()) {
            return err(format!("{F}[{i}].name"), format!("\"{}\" is already used by another contract", r.name));
        }
        if !addrs.insert(r.address) {
            return err(format!("{F}[{i}].address"), format!("{} is already used by another contract", r.address));
        }
    }
    let token_index = |i: usize, key: &str, v: &Option<String>| -> Result<usize, ConfigError> {
        let field = format!("{F}[{i}].{key}");
        let Some(n) = v else { return err(field, "missing (name of a token contract)") };
        match raw.iter().position(|r| &r.name == n) {
            Some(j) if raw[j].kind == "token" => Ok(j),
            Some(_) => err(field, format!("\"{}\" is not a token", printable(n))),
            None => err(field, format!("\"{}\" names no contract", printable(n))),
        }
    };
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let only = |allowed: &[&str]| -> Result<(), ConfigError> {
            for (k, present) in
                [("decimals", r.decimals.is_some()), ("token0", r.token0.is_some()), ("token1", r.token1.is_some())]
            {
                if present && !allowed.contains(&k) {
                    return err(format!("{F}[{i}].{k}"), format!("not allowed for kind \"{}\"", r.kind));
                }
            }
            Ok(())
        };
        let kind = match r.kind.as_str() {
            "token" => {
                only(&["decimals"])?;
                let Some(decimals) = r.decimals else {
                    return err(format!("{F}[{i}].decimals"), "missing for a token");
                };
                ContractKind::Token { decimals }
            }
            "pool_v2" => {
                only(&["token0", "token1"])?;
                let token0 = token_index(i, "token0", &r.token0)?;
                let token1 = token_index(i, "token1", &r.token1)?;
                if token0 == token1 {
                    return err(format!("{F}[{i}].token1"), "must differ from token0");
                }
                ContractKind::PoolV2 { token0, token1 }
            }
            "other" => {
                only(&[])?;
                ContractKind::Other
            }
            k => return err(format!("{F}[{i}].kind"), format!("\"{}\" is not token, pool_v2 or other", printable(k))),
        };
        out.push(ContractCfg { name: r.name.clone(), address: r.address, kind });
    }
    Ok(out)
}
