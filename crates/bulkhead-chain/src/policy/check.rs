//! The checks of a chain policy, before simulation ([`intent`], [`rate`])
//! and on the simulated state change ([`simulation`]). Read-only except
//! [`rate`]; every figure compared with checked or saturating arithmetic.

// `Refusal` is the API's error (the lead's shared type); a refusal is the
// cold path, so its size costs nothing on the accept path.
#![allow(clippy::result_large_err)]

use alloy_primitives::{Address, U256};
use bulkhead_abi::{CHAIN_MAX_ARGS, Reason};

use super::sig::{self, ParamType, hex4, show_address, show_word, word_of};
use super::{ChainPolicy, Cond, Rule, Spend};
use crate::types::{ContractKind, Intent, Refusal, SimOutcome};

/// A figure the check does not have.
const NA: &str = "-";

fn refuse(
    reason: Reason,
    field: impl Into<String>,
    limit: impl ToString,
    requested: impl ToString,
    current: impl ToString,
    message: String,
) -> Refusal {
    Refusal {
        reason,
        field: field.into(),
        limit: limit.to_string(),
        requested: requested.to_string(),
        current: current.to_string(),
        message,
    }
}

impl ChainPolicy {
    fn name(&self, i: usize) -> &str {
        self.book.get(i).map_or("?", |c| c.name.as_str())
    }

    fn is_token(&self, i: usize) -> bool {
        self.book.get(i).is_some_and(|c| matches!(c.kind, ContractKind::Token { .. }))
    }

    fn is_pool_swap(&self, intent: &Intent) -> bool {
        intent.selector == sig::POOL_SWAP
            && self.book.get(intent.contract).is_some_and(|c| matches!(c.kind, ContractKind::PoolV2 { .. }))
    }

    fn names(&self, idx: impl Iterator<Item = usize>) -> String {
        let v: Vec<&str> = idx.map(|i| self.name(i)).collect();
        if v.is_empty() { "none".into() } else { v.join(", ") }
    }
}

/// The rule for the intent's contract and selector, with the shape checks
/// that come first (a contract of the book, at most 8 words, the argument
/// count of the rule's signature).
fn rule_for<'a>(p: &'a ChainPolicy, intent: &Intent) -> Result<&'a Rule, Refusal> {
    let n = intent.args.len();
    if p.book.get(intent.contract).is_none() {
        let msg =
            format!("contract index {} is not one of the run's {} contracts", intent.contract, p.book.contracts.len());
        return Err(refuse(Reason::ChainMalformed, "contract", p.book.contracts.len(), intent.contract, NA, msg));
    }
    if n > CHAIN_MAX_ARGS {
        let msg = format!("{n} argument words; an intent carries at most {CHAIN_MAX_ARGS}");
        return Err(refuse(Reason::ChainMalformed, "nargs", CHAIN_MAX_ARGS, n, NA, msg));
    }
    if let Some((i, _)) = intent.deadline_in
        && i >= n
    {
        let msg = format!("the deadline fills argument {i} but the intent has {n}");
        return Err(refuse(Reason::ChainMalformed, "deadline_in", n, i, NA, msg));
    }
    let cname = p.name(intent.contract);
    let mut for_contract = p.rules.iter().filter(|r| r.contract == intent.contract).peekable();
    if for_contract.peek().is_none() {
        let allowed = p.names(
            p.rules
                .iter()
                .map(|r| r.contract)
                .fold(Vec::new(), |mut v, c| {
                    if !v.contains(&c) {
                        v.push(c);
                    }
                    v
                })
                .into_iter(),
        );
        let msg = format!("contract `{cname}` is not in the strategy's chain scope (allowed: {allowed})");
        return Err(refuse(Reason::ChainContractNotAllowed, "contract", NA, cname, NA, msg));
    }
    let mut sigs = Vec::new();
    for r in for_contract {
        if r.selector == intent.selector {
            if r.types.len() != n {
                let msg = format!("`{}` takes {} arguments, the intent has {n}", r.signature, r.types.len());
                return Err(refuse(Reason::ChainMalformed, "nargs", r.types.len(), n, NA, msg));
            }
            return Ok(r);
        }
        sigs.push(r.signature.as_str());
    }
    let sel = hex4(intent.selector);
    let msg = format!("function {sel} is not allowed on `{cname}` (allowed: {})", sigs.join(", "));
    Err(refuse(Reason::ChainFunctionNotAllowed, "selector", NA, sel, NA, msg))
}

/// Parameter indices holding a deadline: `deadline = true` ones, and a pool
/// swap's `deadline` (argument 4) even if no rule says so.
fn deadline_slots<'a>(p: &'a ChainPolicy, r: &'a Rule, intent: &'a Intent) -> impl Iterator<Item = usize> + 'a {
    let pool = (p.is_pool_swap(intent) && r.types.len() == 5).then_some(4);
    r.params
        .iter()
        .enumerate()
        .filter(move |(i, c)| c.contains(&Cond::Deadline) && Some(*i) != pool)
        .map(|(i, _)| i)
        .chain(pool)
}

pub(super) fn intent(p: &ChainPolicy, intent: &Intent, account: Address, now_ns: u64) -> Result<(), Refusal> {
    let r = rule_for(p, intent)?;
    let slot = intent.deadline_in.map(|(i, _)| i);
    for (i, (w, ty)) in intent.args.iter().zip(&r.types).enumerate() {
        if Some(i) != slot && !ty.fits(*w) {
            let msg = format!("argument {i} of `{}` is {w:#x}, not a clean {} word", r.signature, ty.name());
            return Err(refuse(Reason::ChainMalformed, format!("args[{i}]"), NA, format!("{w:#x}"), NA, msg));
        }
    }
    approval(p, intent)?;
    if p.is_pool_swap(intent) {
        pool_recipient(p, &intent.args, account)?;
    }
    deadline_in(p, r, intent)?;
    for (i, conds) in r.params.iter().enumerate() {
        if Some(i) == slot {
            continue;
        }
        let w = intent.args.get(i).copied().unwrap_or_default();
        for c in conds {
            cond(p, r, i, w, c, account, now_ns)?;
        }
    }
    if intent.value > p.max_value_wei {
        let msg = format!("native value {} wei is above the cap max_value_wei {}", intent.value, p.max_value_wei);
        return Err(refuse(Reason::ChainValueCap, "value", p.max_value_wei, intent.value, NA, msg));
    }
    Ok(())
}

/// The in-flight limit, then the rate bucket; takes a slot and a token.
pub(super) fn rate(p: &mut ChainPolicy, now_ns: u64) -> Result<(), Refusal> {
    if p.in_flight >= p.max_in_flight {
        let msg = format!("{} intents already in flight, the most max_in_flight allows", p.in_flight);
        return Err(refuse(
            Reason::ChainRate,
            "max_in_flight",
            p.max_in_flight,
            p.in_flight.saturating_add(1),
            p.in_flight,
            msg,
        ));
    }
    if !p.bucket.try_take(now_ns) {
        let rate = p.bucket.rate();
        let msg = format!("more than {rate} intents per second of event time (max_intents_per_s)");
        return Err(refuse(Reason::ChainRate, "max_intents_per_s", rate, 1, p.bucket.available(now_ns), msg));
    }
    p.in_flight = p.in_flight.saturating_add(1);
    Ok(())
}

fn cond(p: &ChainPolicy, r: &Rule, i: usize, w: U256, c: &Cond, account: Address, now_ns: u64) -> Result<(), Refusal> {
    let ok = match c {
        Cond::Eq(v) => w == *v,
        Cond::OneOf(vs) => vs.contains(&w),
        Cond::Le(v) => w <= *v,
        Cond::Ge(v) => w >= *v,
        Cond::SelfAccount => w == word_of(&account),
        Cond::Allowance(k) => p.allowances.get(*k).is_none_or(|a| w <= a.remaining(now_ns)),
        Cond::Deadline => true,
    };
    if ok { Ok(()) } else { Err(cond_refusal(p, r, i, w, c, account, now_ns)) }
}

/// The refusal of a failed condition (strings built on the cold path only).
fn cond_refusal(p: &ChainPolicy, r: &Rule, i: usize, w: U256, c: &Cond, account: Address, now_ns: u64) -> Refusal {
    let ty = r.types.get(i).copied().unwrap_or(ParamType::Uint(256));
    let show = |v: U256| show_word(ty, v, &p.book);
    let (limit, what) = match c {
        Cond::Eq(v) => (show(*v), format!("must equal {}", show(*v))),
        Cond::OneOf(vs) => {
            let list: Vec<String> = vs.iter().map(|v| show(*v)).collect();
            (list.join(" | "), format!("must be one of {}", list.join(", ")))
        }
        Cond::Le(v) => (show(*v), format!("must be at most {}", show(*v))),
        Cond::Ge(v) => (show(*v), format!("must be at least {}", show(*v))),
        Cond::SelfAccount => (account.to_string(), format!("must be the strategy's own account {account}")),
        Cond::Allowance(k) => {
            let Some(a) = p.allowances.get(*k) else {
                return refuse(Reason::ChainParamNotAllowed, "params", NA, NA, NA, String::new());
            };
            let rem = a.remaining(now_ns);
            let msg = format!(
                "params[{i}] of `{}` is {w}, more than is left of allowance `{}` this period ({rem} of {})",
                r.signature, a.name, a.amount
            );
            let field = format!("params[{i}].allowance");
            return refuse(Reason::ChainParamNotAllowed, field, a.amount, w, a.spent(now_ns), msg);
        }
        Cond::Deadline => (NA.to_string(), "must be a deadline".to_string()),
    };
    let msg = format!("params[{i}] of `{}` on `{}` is {} but {what}", r.signature, p.name(r.contract), show(w));
    refuse(Reason::ChainParamNotAllowed, format!("params[{i}].{}", c.key()), limit, show(w), NA, msg)
}

/// `approve` / `increaseAllowance` on a token: a listed spender, never the
/// max uint, at most `approvals.max_amount` (for `increaseAllowance` the
/// increase; the resulting allowance is checked on the simulation).
fn approval(p: &ChainPolicy, intent: &Intent) -> Result<(), Refusal> {
    let is_approval = intent.selector == sig::APPROVE || intent.selector == sig::INCREASE_ALLOWANCE;
    if !is_approval || !p.is_token(intent.contract) || intent.args.len() < 2 {
        return Ok(());
    }
    let (spender, amount) = (intent.args[0], intent.args[1]);
    let token = p.name(intent.contract);
    let listed = p.spenders.iter().any(|&s| p.book.get(s).is_some_and(|c| word_of(&c.address) == spender));
    let who = || show_word(ParamType::Address, spender, &p.book);
    if !listed {
        let who = who();
        let msg = format!(
            "approval of `{token}` to {who}, which is not a spender the policy lists ({})",
            p.names(p.spenders.iter().copied())
        );
        return Err(refuse(
            Reason::ChainApproval,
            "approvals.spenders",
            p.names(p.spenders.iter().copied()),
            who,
            NA,
            msg,
        ));
    }
    let Some(max) = p.max_approval else {
        let msg = format!("approval of `{token}`: the policy has no [chain.approvals]");
        return Err(refuse(Reason::ChainApproval, "approvals", NA, amount, NA, msg));
    };
    if amount == U256::MAX || amount > max {
        let who = who();
        let what = if amount == U256::MAX {
            "an unlimited approval (2^256 - 1) is never allowed".to_string()
        } else {
            format!("above approvals.max_amount {max}")
        };
        let msg = format!("approval of {amount} `{token}` to {who}: {what}");
        return Err(refuse(Reason::ChainApproval, "approvals.max_amount", max, amount, NA, msg));
    }
    Ok(())
}

/// A pool swap pays out to the strategy's own account only (argument 3).
fn pool_recipient(p: &ChainPolicy, args: &[U256], account: Address) -> Result<(), Refusal> {
    let Some(&to) = args.get(3) else { return Ok(()) };
    if to == word_of(&account) {
        return Ok(());
    }
    let who = show_word(ParamType::Address, to, &p.book);
    let msg = format!("swap recipient `to` is {who}, not the strategy's own account {account}");
    Err(refuse(Reason::ChainParamNotAllowed, "params[3].self", account, who, NA, msg))
}

/// A `deadline_in` may only fill a deadline parameter (or an `any` one), and
/// its seconds must be within `1..=max_deadline_s`.
fn deadline_in(p: &ChainPolicy, r: &Rule, intent: &Intent) -> Result<(), Refusal> {
    let Some((i, secs)) = intent.deadline_in else { return Ok(()) };
    let is_slot = deadline_slots(p, r, intent).any(|s| s == i);
    let conds = r.params.get(i).map_or(&[][..], Vec::as_slice);
    if !is_slot && !conds.is_empty() {
        let msg =
            format!("params[{i}] of `{}` is filled with a deadline but its rule is not `deadline = true`", r.signature);
        return Err(refuse(Reason::ChainParamNotAllowed, format!("params[{i}]"), NA, NA, NA, msg));
    }
    if !is_slot {
        return Ok(());
    }
    let max = p.max_deadline_s.unwrap_or(0);
    if secs == 0 || secs > max {
        let msg = format!("a deadline {secs} s after the block must be within 1..={max} s (max_deadline_s)");
        return Err(refuse(Reason::ChainDeadline, format!("params[{i}].deadline"), max, secs, NA, msg));
    }
    Ok(())
}

pub(super) fn simulation(
    p: &ChainPolicy,
    intent: &Intent,
    sim: &SimOutcome,
    account: Address,
    now_ns: u64,
) -> Result<Spend, Refusal> {
    let r = rule_for(p, intent)?;
    if !sim.success {
        let msg = format!("the simulation reverted: {}", revert_reason(&sim.revert));
        return Err(refuse(Reason::ChainSimulationReverted, "simulation", NA, NA, sim.block_number, msg));
    }
    if sim.gas_used > p.max_gas {
        let msg = format!("the simulation used {} gas, above max_gas {}", sim.gas_used, p.max_gas);
        return Err(refuse(Reason::ChainGasCap, "max_gas", p.max_gas, sim.gas_used, NA, msg));
    }
    let ts = sim.block_timestamp;
    let args = intent.args_at(ts);
    for i in deadline_slots(p, r, intent) {
        deadline(p, i, args.get(i).copied().unwrap_or_default(), ts)?;
    }
    if p.is_pool_swap(intent) && args.len() >= 5 {
        pool_recipient(p, &args, account)?;
        slippage(p, args[2], sim.pool_quote)?;
    }
    let spend = outflows(p, r, &args, sim, now_ns)?;
    sim_approvals(p, sim)?;
    if sim.native_out > p.max_value_wei {
        let msg = format!(
            "the simulation sends {} wei out of the account, above max_value_wei {}",
            sim.native_out, p.max_value_wei
        );
        return Err(refuse(Reason::ChainPostCondition, "max_value_wei", p.max_value_wei, sim.native_out, NA, msg));
    }
    Ok(spend)
}

fn deadline(p: &ChainPolicy, i: usize, d: U256, ts: u64) -> Result<(), Refusal> {
    let max = p.max_deadline_s.unwrap_or(0);
    let t = U256::from(ts);
    let hi = t.saturating_add(U256::from(max));
    if d > t && d <= hi {
        return Ok(());
    }
    let msg = if d <= t {
        format!("deadline {d} is not after the block's timestamp {ts}")
    } else {
        format!(
            "deadline {d} is {} s after the block's timestamp {ts}, more than max_deadline_s {max}",
            d.saturating_sub(t)
        )
    };
    Err(refuse(Reason::ChainDeadline, format!("params[{i}].deadline"), hi, d, ts, msg))
}

/// `amountOutMin >= quote × (10000 − bps) / 10000` (floored, no overflow).
fn slippage(p: &ChainPolicy, min_out: U256, quote: Option<U256>) -> Result<(), Refusal> {
    let bps = p.max_slippage_bps.unwrap_or(0).min(10_000);
    let Some(q) = quote else {
        let msg = "the simulation has no pool quote: the slippage bound cannot be measured".to_string();
        return Err(refuse(Reason::ChainSlippage, "max_slippage_bps", NA, min_out, NA, msg));
    };
    let k = U256::from(10_000 - bps);
    let d = U256::from(10_000u32);
    // q = a·10000 + b: floor(q·k/10000) = a·k + floor(b·k/10000), neither term overflows.
    let bound = (q / d).saturating_mul(k).saturating_add((q % d) * k / d);
    if min_out >= bound {
        return Ok(());
    }
    let msg =
        format!("amountOutMin {min_out} is looser than {} below the pool's quote {q} (at least {bound})", percent(bps));
    Err(refuse(Reason::ChainSlippage, "max_slippage_bps", bound, min_out, q, msg))
}

fn percent(bps: u32) -> String {
    let (whole, frac) = (bps / 100, bps % 100);
    if frac == 0 { format!("{whole}%") } else { format!("{whole}.{}%", format!("{frac:02}").trim_end_matches('0')) }
}

/// Outflows per token (negative deltas, summed per token): each token that
/// leaves needs an allowance, within what is left of every allowance of it,
/// and within what the intent's allowance-bound parameters state.
fn outflows(p: &ChainPolicy, r: &Rule, args: &[U256], sim: &SimOutcome, now_ns: u64) -> Result<Spend, Refusal> {
    let mut out: Vec<(usize, U256)> = Vec::new();
    for &(tok, delta) in &sim.token_deltas {
        if !delta.is_negative() {
            continue;
        }
        let amt = delta.unsigned_abs();
        match out.iter_mut().find(|(t, _)| *t == tok) {
            Some((_, a)) => *a = a.saturating_add(amt),
            None => out.push((tok, amt)),
        }
    }
    out.sort_unstable_by_key(|(t, _)| *t);
    for &(tok, amt) in &out {
        let name = p.name(tok);
        let mut covered = false;
        for a in p.allowances.iter().filter(|a| a.token == tok && p.is_token(tok)) {
            covered = true;
            let rem = a.remaining(now_ns);
            if amt > rem {
                let msg = format!(
                    "outflow of {amt} `{name}` exceeds what is left of allowance `{}` this period ({rem} of {})",
                    a.name, a.amount
                );
                return Err(refuse(
                    Reason::ChainAllowance,
                    format!("allowances.{}", a.name),
                    a.amount,
                    amt,
                    a.spent(now_ns),
                    msg,
                ));
            }
        }
        if !covered {
            let msg =
                format!("the simulation moves {amt} `{name}` out of the account and no allowance covers `{name}`");
            return Err(refuse(Reason::ChainPostCondition, "sim.token_deltas", 0, amt, NA, msg));
        }
        declared(p, r, args, tok, amt)?;
    }
    Ok(Spend { outflows: out })
}

/// An outflow of a token larger than the parameters bound to its allowances
/// state (a fee-on-transfer token charging the sender on top).
fn declared(p: &ChainPolicy, r: &Rule, args: &[U256], tok: usize, amt: U256) -> Result<(), Refusal> {
    let mut stated: Option<(U256, usize)> = None;
    for (i, conds) in r.params.iter().enumerate() {
        let bound = conds
            .iter()
            .any(|c| matches!(c, Cond::Allowance(k) if p.allowances.get(*k).is_some_and(|a| a.token == tok)));
        if bound {
            let w = args.get(i).copied().unwrap_or_default();
            stated = Some(stated.map_or((w, i), |(s, j)| (s.saturating_add(w), j)));
        }
    }
    match stated {
        Some((s, i)) if amt > s => {
            let msg = format!(
                "the simulation moves {amt} `{}` out of the account, more than the {s} the intent states (params[{i}])",
                p.name(tok)
            );
            Err(refuse(Reason::ChainAllowance, format!("params[{i}].allowance"), s, amt, NA, msg))
        }
        _ => Ok(()),
    }
}

/// Allowances the call leaves (other than revoked to zero): a listed spender
/// and within the cap.
fn sim_approvals(p: &ChainPolicy, sim: &SimOutcome) -> Result<(), Refusal> {
    for (i, (tok, spender, amt)) in sim.approvals.iter().enumerate() {
        if amt.is_zero() {
            continue;
        }
        let token = p.name(*tok);
        let who = || show_address(spender, &p.book);
        let listed = p.spenders.iter().any(|&s| p.book.get(s).is_some_and(|c| &c.address == spender));
        if !listed {
            let who = who();
            let msg = format!(
                "the simulation leaves an allowance of {amt} `{token}` to {who}, not a spender the policy lists"
            );
            return Err(refuse(Reason::ChainPostCondition, format!("sim.approvals[{i}]"), NA, who, amt, msg));
        }
        let max = p.max_approval.unwrap_or(U256::ZERO);
        if *amt == U256::MAX || *amt > max {
            let who = who();
            let msg = format!(
                "the simulation leaves an allowance of {amt} `{token}` to {who}, above approvals.max_amount {max}"
            );
            return Err(refuse(Reason::ChainApproval, "approvals.max_amount", max, amt, NA, msg));
        }
    }
    Ok(())
}

/// A revert payload for humans: `Error(string)` decoded (control characters
/// replaced, at most 120 chars), else the first bytes in hex.
fn revert_reason(data: &[u8]) -> String {
    const ERROR_STRING: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    if data.len() >= 68 && data[..4] == ERROR_STRING {
        let len = usize::try_from(U256::from_be_slice(&data[36..68])).unwrap_or(usize::MAX);
        if let Some(s) = 68usize.checked_add(len).and_then(|end| data.get(68..end)) {
            let text: String =
                String::from_utf8_lossy(s).chars().take(120).map(|c| if c.is_control() { '?' } else { c }).collect();
            return format!("\"{text}\"");
        }
    }
    if data.is_empty() {
        return "no revert data".into();
    }
    let hex: String = data.iter().take(64).map(|b| format!("{b:02x}")).collect();
    format!("0x{hex}{}", if data.len() > 64 { "…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_revert_text() {
        assert_eq!(percent(100), "1%");
        assert_eq!(percent(50), "0.5%");
        assert_eq!(percent(1), "0.01%");
        assert_eq!(percent(0), "0%");
        let mut d = vec![0x08, 0xc3, 0x79, 0xa0];
        d.extend_from_slice(&U256::from(32u8).to_be_bytes::<32>());
        d.extend_from_slice(&U256::from(5u8).to_be_bytes::<32>());
        d.extend_from_slice(b"K\nLOW\0\0\0");
        assert_eq!(revert_reason(&d), "\"K?LOW\"");
        d[67] = 0xff; // length past the data
        assert!(revert_reason(&d).starts_with("0x08c379a0"));
        assert_eq!(revert_reason(&[]), "no revert data");
    }
}
