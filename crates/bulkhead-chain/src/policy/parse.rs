//! Parsing and validating the `[chain]` table. Walks the TOML value by hand
//! so that every error names its full field path (serde loses it) and every
//! unknown key is refused.

use alloy_primitives::{I256, U256};
use bulkhead_abi::CHAIN_MAX_ARGS;
use toml::Value;

use super::sig::{self, ParamType, word_of};
use super::state::{Allowance, Bucket};
use super::{ChainPolicy, Cond, PolicyError, Rule};
use crate::types::{ContractBook, ContractKind};

const MAX_GAS: i64 = 30_000_000;
const MAX_DEADLINE_S: i64 = 86_400;
const MAX_SLIPPAGE_BPS: i64 = 5_000;
const MAX_RATE: i64 = 1_000;
const MAX_IN_FLIGHT: i64 = 1_000;
const MAX_PERIOD_S: i64 = 366 * 86_400;
const MAX_RULES: usize = 256;
const MAX_ONE_OF: usize = 64;
const MAX_ALLOWANCES: usize = 64;

fn err(field: impl Into<String>, problem: impl Into<String>) -> PolicyError {
    PolicyError { field: field.into(), problem: problem.into() }
}

fn table<'a>(v: &'a Value, path: &str, keys: &[&str]) -> Result<&'a toml::Table, PolicyError> {
    let t = v.as_table().ok_or_else(|| err(path, format!("expected a table, found {}", v.type_str())))?;
    for k in t.keys() {
        if !keys.contains(&k.as_str()) {
            return Err(err(format!("{path}.{k}"), format!("unknown key `{k}` (expected one of {})", keys.join(", "))));
        }
    }
    Ok(t)
}

fn int(t: &toml::Table, path: &str, key: &str, lo: i64, hi: i64, unit: &str) -> Result<Option<i64>, PolicyError> {
    let field = format!("{path}.{key}");
    match t.get(key) {
        None => Ok(None),
        Some(Value::Integer(i)) if (lo..=hi).contains(i) => Ok(Some(*i)),
        Some(Value::Integer(i)) => Err(err(field, format!("`{i}` must be between {lo} and {hi}{unit}"))),
        Some(v) => Err(err(field, format!("expected an integer between {lo} and {hi}{unit}, found {}", v.type_str()))),
    }
}

fn req<T>(v: Option<T>, field: String) -> Result<T, PolicyError> {
    v.ok_or_else(|| err(field, "missing (required)"))
}

fn string<'a>(t: &'a toml::Table, path: &str, key: &str) -> Result<Option<&'a str>, PolicyError> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(err(format!("{path}.{key}"), format!("expected a string, found {}", v.type_str()))),
    }
}

fn boolean(t: &toml::Table, path: &str, key: &str) -> Result<Option<bool>, PolicyError> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(v) => Err(err(format!("{path}.{key}"), format!("expected true or false, found {}", v.type_str()))),
    }
}

/// A decimal or `0x` hex number from a string, or a non-negative TOML integer.
fn number(v: &Value, field: &str) -> Result<U256, PolicyError> {
    let expected = "expected a non-negative integer, as a decimal string like \"5000000\" or a 0x hex word";
    match v {
        Value::Integer(i) => {
            u64::try_from(*i).map(U256::from).map_err(|_| err(field, format!("`{i}` is negative: {expected}")))
        }
        Value::String(s) => parse_number(s).ok_or_else(|| err(field, format!("`{s}`: {expected} (at most 2^256 - 1)"))),
        v => Err(err(field, format!("{expected}, found {}", v.type_str()))),
    }
}

fn parse_number(s: &str) -> Option<U256> {
    if let Some(h) = s.strip_prefix("0x") {
        if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return U256::from_str_radix(h, 16).ok();
    }
    if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    U256::from_str_radix(s, 10).ok()
}

fn contract_names(book: &ContractBook) -> String {
    let names: Vec<&str> = book.contracts.iter().map(|c| c.name.as_str()).collect();
    if names.is_empty() { "none configured".into() } else { names.join(", ") }
}

/// A parameter value: a number (decimal, `0x` hex; `bytesN` hex of exactly
/// N bytes is left-aligned; a negative integer for `intN`), a bool for
/// `bool`, or a contract name of the book for `address`. Must fit the type.
fn param_value(v: &Value, field: &str, ty: ParamType, book: &ContractBook) -> Result<U256, PolicyError> {
    let w = match (v, ty) {
        (Value::Boolean(b), ParamType::Bool) => U256::from(u8::from(*b)),
        (Value::Integer(i), ParamType::Int(_)) if *i < 0 => {
            I256::try_from(*i).map(I256::into_raw).unwrap_or(U256::ZERO)
        }
        (Value::String(s), ParamType::FixedBytes(n)) if s.len() == 2 + 2 * usize::from(n) && s.starts_with("0x") => {
            number(v, field)? << (8 * (32 - usize::from(n)))
        }
        (Value::String(s), _) if !s.starts_with("0x") && !s.bytes().all(|b| b.is_ascii_digit()) => {
            let Some(i) = book.index_of(s) else {
                return Err(err(
                    field,
                    format!(
                        "`{s}` is neither a number nor a configured contract (contracts: {})",
                        contract_names(book)
                    ),
                ));
            };
            if ty != ParamType::Address {
                return Err(err(field, format!("`{s}` is a contract (an address) but the parameter is {}", ty.name())));
            }
            book.get(i).map_or(U256::ZERO, |c| word_of(&c.address))
        }
        _ => number(v, field)?,
    };
    if !ty.fits(w) {
        return Err(err(field, format!("{w:#x} does not fit the parameter type {}", ty.name())));
    }
    Ok(w)
}

fn must_be_true(v: &Value, field: &str) -> Result<(), PolicyError> {
    match v {
        Value::Boolean(true) => Ok(()),
        _ => Err(err(field, "must be `true` (leave the key out otherwise)")),
    }
}

const COND_KEYS: &[&str] = &["eq", "one_of", "le", "ge", "self", "allowance", "deadline", "any"];

/// One entry of `params`: all its conditions must hold; `{ any = true }` = none.
fn param_conds(
    v: &Value,
    path: &str,
    ty: ParamType,
    book: &ContractBook,
    allowances: &[Allowance],
) -> Result<Vec<Cond>, PolicyError> {
    let t = table(v, path, COND_KEYS)?;
    if t.is_empty() {
        return Err(err(path, "empty: give a condition or `{ any = true }`"));
    }
    if let Some(a) = t.get("any") {
        must_be_true(a, &format!("{path}.any"))?;
        if t.len() > 1 {
            return Err(err(format!("{path}.any"), "`any` cannot be combined with other conditions"));
        }
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(t.len());
    for (k, v) in t {
        let field = format!("{path}.{k}");
        let uint_only = |c: Cond| {
            if ty.is_uint() {
                Ok(c)
            } else {
                Err(err(&field, format!("`{k}` needs a uintN parameter, this one is {}", ty.name())))
            }
        };
        out.push(match k.as_str() {
            "eq" => Cond::Eq(param_value(v, &field, ty, book)?),
            "le" => uint_only(Cond::Le(param_value(v, &field, ty, book)?))?,
            "ge" => uint_only(Cond::Ge(param_value(v, &field, ty, book)?))?,
            "one_of" => Cond::OneOf(one_of(v, &field, ty, book)?),
            "self" => {
                must_be_true(v, &field)?;
                if ty != ParamType::Address {
                    return Err(err(field, format!("`self` needs an address parameter, this one is {}", ty.name())));
                }
                Cond::SelfAccount
            }
            "deadline" => {
                must_be_true(v, &field)?;
                uint_only(Cond::Deadline)?
            }
            _ => {
                let name =
                    v.as_str().ok_or_else(|| err(&field, "expected the name of a [chain.allowances.NAME] table"))?;
                let Some(i) = allowances.iter().position(|a| a.name == name) else {
                    let known: Vec<&str> = allowances.iter().map(|a| a.name.as_str()).collect();
                    return Err(err(field, format!("no allowance `{name}` (defined: {})", known.join(", "))));
                };
                uint_only(Cond::Allowance(i))?
            }
        });
    }
    Ok(out)
}

fn one_of(v: &Value, field: &str, ty: ParamType, book: &ContractBook) -> Result<Vec<U256>, PolicyError> {
    let arr = v.as_array().ok_or_else(|| err(field, format!("expected an array of values, found {}", v.type_str())))?;
    if arr.is_empty() || arr.len() > MAX_ONE_OF {
        return Err(err(field, format!("must list between 1 and {MAX_ONE_OF} values")));
    }
    arr.iter().enumerate().map(|(j, x)| param_value(x, &format!("{field}[{j}]"), ty, book)).collect()
}

fn rule(v: &Value, path: &str, book: &ContractBook, allowances: &[Allowance]) -> Result<Rule, PolicyError> {
    let t = table(v, path, &["contract", "function", "params"])?;
    let name = req(string(t, path, "contract")?, format!("{path}.contract"))?;
    let contract = book.index_of(name).ok_or_else(|| {
        err(
            format!("{path}.contract"),
            format!("no contract `{name}` in the run (contracts: {})", contract_names(book)),
        )
    })?;
    let signature = req(string(t, path, "function")?, format!("{path}.function"))?;
    let types = sig::parse_signature(signature, CHAIN_MAX_ARGS).map_err(|p| err(format!("{path}.function"), p))?;
    let params = match t.get("params") {
        None => vec![Vec::new(); types.len()],
        Some(p) => {
            let field = format!("{path}.params");
            let arr = p.as_array().ok_or_else(|| err(&field, format!("expected an array, found {}", p.type_str())))?;
            if arr.len() != types.len() {
                return Err(err(
                    field,
                    format!(
                        "{} conditions for {} parameters of `{signature}` (one per parameter)",
                        arr.len(),
                        types.len()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(arr.len());
            for (i, (c, ty)) in arr.iter().zip(&types).enumerate() {
                out.push(param_conds(c, &format!("{field}[{i}]"), *ty, book, allowances)?);
            }
            out
        }
    };
    Ok(Rule { contract, signature: signature.to_string(), selector: sig::selector(signature), types, params })
}

fn allowances(t: &toml::Table, book: &ContractBook) -> Result<Vec<Allowance>, PolicyError> {
    let Some(v) = t.get("allowances") else { return Ok(Vec::new()) };
    let all =
        v.as_table().ok_or_else(|| err("chain.allowances", format!("expected a table, found {}", v.type_str())))?;
    if all.len() > MAX_ALLOWANCES {
        return Err(err("chain.allowances", format!("at most {MAX_ALLOWANCES} allowances")));
    }
    let mut out = Vec::with_capacity(all.len());
    for (name, v) in all {
        let path = format!("chain.allowances.{name}");
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(err(path, "name must be 1 to 64 of A-Z a-z 0-9 _ -"));
        }
        let a = table(v, &path, &["token", "amount", "period_s"])?;
        let tok = req(string(a, &path, "token")?, format!("{path}.token"))?;
        let token = book
            .index_of(tok)
            .filter(|&i| book.get(i).is_some_and(|c| matches!(c.kind, ContractKind::Token { .. })))
            .ok_or_else(|| err(format!("{path}.token"), format!("`{tok}` is not a token of the run")))?;
        let amount = number(req(a.get("amount"), format!("{path}.amount"))?, &format!("{path}.amount"))?;
        let period_s = req(int(a, &path, "period_s", 1, MAX_PERIOD_S, " (seconds)")?, format!("{path}.period_s"))?;
        let period_ns = u64::try_from(period_s).unwrap_or(1).saturating_mul(1_000_000_000);
        out.push(Allowance::new(name.clone(), token, amount, period_ns));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `[chain.approvals]`: spender contract indices and the cap (`None` = no section).
fn approvals(t: &toml::Table, book: &ContractBook) -> Result<(Vec<usize>, Option<U256>), PolicyError> {
    let Some(v) = t.get("approvals") else { return Ok((Vec::new(), None)) };
    let path = "chain.approvals";
    let a = table(v, path, &["spenders", "max_amount"])?;
    let field = format!("{path}.spenders");
    let list = req(a.get("spenders"), field.clone())?;
    let arr = list.as_array().ok_or_else(|| err(&field, "expected an array of contract names"))?;
    let mut spenders = Vec::with_capacity(arr.len());
    for (i, s) in arr.iter().enumerate() {
        let name = s.as_str().ok_or_else(|| err(format!("{field}[{i}]"), "expected a contract name"))?;
        let idx = book.index_of(name).ok_or_else(|| {
            err(
                format!("{field}[{i}]"),
                format!("no contract `{name}` in the run (contracts: {})", contract_names(book)),
            )
        })?;
        if !spenders.contains(&idx) {
            spenders.push(idx);
        }
    }
    let field = format!("{path}.max_amount");
    let max = number(req(a.get("max_amount"), field.clone())?, &field)?;
    if max == U256::MAX {
        return Err(err(field, "must be below 2^256 - 1: an unlimited approval is never allowed"));
    }
    Ok((spenders, Some(max)))
}

const CHAIN_KEYS: &[&str] = &[
    "account",
    "max_value_wei",
    "max_gas",
    "max_deadline_s",
    "max_slippage_bps",
    "max_intents_per_s",
    "max_in_flight",
    "halt_on_deviation",
    "allowances",
    "approvals",
    "allow",
];

fn rules(t: &toml::Table, book: &ContractBook, allowances: &[Allowance]) -> Result<Vec<Rule>, PolicyError> {
    let v = req(t.get("allow"), "chain.allow".into())?;
    let arr = v.as_array().ok_or_else(|| err("chain.allow", "expected [[chain.allow]] tables"))?;
    if arr.is_empty() || arr.len() > MAX_RULES {
        return Err(err("chain.allow", format!("must have between 1 and {MAX_RULES} [[chain.allow]] rules")));
    }
    let mut out: Vec<Rule> = Vec::with_capacity(arr.len());
    for (i, r) in arr.iter().enumerate() {
        let path = format!("chain.allow[{i}]");
        let r = rule(r, &path, book, allowances)?;
        if let Some(j) = out.iter().position(|o| o.contract == r.contract && o.selector == r.selector) {
            return Err(err(
                format!("{path}.function"),
                format!(
                    "`{}` on this contract is already allowed by chain.allow[{j}] (one rule per function)",
                    r.signature
                ),
            ));
        }
        out.push(r);
    }
    Ok(out)
}

fn is_pool_swap(r: &Rule, book: &ContractBook) -> bool {
    r.selector == sig::POOL_SWAP && book.get(r.contract).is_some_and(|c| matches!(c.kind, ContractKind::PoolV2 { .. }))
}

fn is_approval(r: &Rule, book: &ContractBook) -> bool {
    (r.selector == sig::APPROVE || r.selector == sig::INCREASE_ALLOWANCE)
        && book.get(r.contract).is_some_and(|c| matches!(c.kind, ContractKind::Token { .. }))
}

/// Fields required only by some rules: the first rule that needs it is named.
fn needed_by(rules: &[Rule], what: impl Fn(&Rule) -> bool, field: &str, why: &str) -> Result<(), PolicyError> {
    match rules.iter().position(what) {
        Some(i) => Err(err(field, format!("missing (required because chain.allow[{i}] {why})"))),
        None => Ok(()),
    }
}

pub(super) fn from_toml(chain: &Value, book: &ContractBook) -> Result<ChainPolicy, PolicyError> {
    let p = "chain";
    let t = table(chain, p, CHAIN_KEYS)?;
    let account = req(string(t, p, "account")?, "chain.account".into())?;
    if account.is_empty() || account.len() > 64 || !account.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err("chain.account", "must be 1 to 64 printable characters (an account name of the keys file)"));
    }
    let max_value_wei =
        t.get("max_value_wei").map(|v| number(v, "chain.max_value_wei")).transpose()?.unwrap_or(U256::ZERO);
    let max_gas = req(int(t, p, "max_gas", 21_000, MAX_GAS, " (gas)")?, "chain.max_gas".into())?;
    let max_deadline_s = int(t, p, "max_deadline_s", 1, MAX_DEADLINE_S, " (seconds)")?;
    let max_slippage_bps = int(t, p, "max_slippage_bps", 0, MAX_SLIPPAGE_BPS, " (basis points)")?;
    let rate = req(int(t, p, "max_intents_per_s", 1, MAX_RATE, "")?, "chain.max_intents_per_s".into())?;
    let max_in_flight = req(int(t, p, "max_in_flight", 1, MAX_IN_FLIGHT, "")?, "chain.max_in_flight".into())?;
    let halt_on_deviation = boolean(t, p, "halt_on_deviation")?.unwrap_or(true);
    let allowances = allowances(t, book)?;
    let (spenders, max_approval) = approvals(t, book)?;
    let rules = rules(t, book, &allowances)?;
    if max_deadline_s.is_none() {
        let deadline = |r: &Rule| is_pool_swap(r, book) || r.params.iter().flatten().any(|c| *c == Cond::Deadline);
        needed_by(&rules, deadline, "chain.max_deadline_s", "has a deadline parameter")?;
    }
    if max_slippage_bps.is_none() {
        needed_by(&rules, |r| is_pool_swap(r, book), "chain.max_slippage_bps", "allows a pool swap")?;
    }
    if max_approval.is_none() {
        needed_by(&rules, |r| is_approval(r, book), "chain.approvals", "allows an approval")?;
    }
    let to_u32 = |v: i64| u32::try_from(v).unwrap_or(1);
    Ok(ChainPolicy {
        account: account.to_string(),
        max_value_wei,
        max_gas: u64::try_from(max_gas).unwrap_or(0),
        max_deadline_s: max_deadline_s.and_then(|v| u64::try_from(v).ok()),
        max_slippage_bps: max_slippage_bps.and_then(|v| u32::try_from(v).ok()),
        max_in_flight: to_u32(max_in_flight),
        halt_on_deviation,
        allowances,
        spenders,
        max_approval,
        rules,
        book: book.clone(),
        bucket: Bucket::new(to_u32(rate)),
        in_flight: 0,
    })
}
