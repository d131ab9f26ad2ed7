//! The per-strategy `[chain]` policy: a scope in the manner of Zodiac Roles
//! v2 (allowed contracts, functions by signature, a condition per
//! parameter), caps on native value, gas, deadline and slippage, approvals
//! only to listed spenders below a cap, token allowances that reset per
//! period, and a rate / in-flight limit — checked before simulation
//! ([`ChainPolicy::check_intent`]) and on the simulated state change
//! ([`ChainPolicy::check_simulation`]), each refusal a [`Refusal`] with its
//! `CHAIN_*` reason, field, limit, requested, current and a message.
//!
//! Owns: parsing and validating the `[chain]` table against the run's
//! [`ContractBook`] (errors name the field path and the expected range), the
//! decisions, the rate bucket, the in-flight count and the allowances'
//! spending.
//!
//! Must never: do I/O, read a clock (every decision is on event time
//! `now_ns` and the journalled [`SimOutcome`], so a replay re-derives it),
//! panic or overflow on any intent or simulation (all arithmetic is checked
//! or saturating), or let anything through that a rule does not allow.
//!
//! Figures in a [`Refusal`]: amounts, gas, seconds and counts in decimal;
//! addresses checksummed `0x…`; `-` where the check has no such figure.
//! Fields: the policy key (`max_gas`, `approvals.max_amount`,
//! `allowances.NAME`), `params[i].COND` for a parameter condition, or what
//! was malformed (`contract`, `selector`, `nargs`, `args[i]`, `deadline_in`,
//! `sim.token_deltas`, `sim.approvals[i]`, `simulation`).
//!
//! ## Format (`[chain]` of a strategy policy file; unknown keys refused)
//! | key | type, range | default |
//! |---|---|---|
//! | `account` | account name in the keys file, 1–64 printable chars | required |
//! | `max_value_wei` | native value per intent, decimal string / integer | `0` |
//! | `max_gas` | 21 000 ..= 30 000 000 | required |
//! | `max_deadline_s` | 1 ..= 86 400 | required if a rule has a deadline or allows a pool swap |
//! | `max_slippage_bps` | 0 ..= 5 000 | required if a rule allows a pool swap |
//! | `max_intents_per_s` | 1 ..= 1 000 (token bucket on event time, burst = rate) | required |
//! | `max_in_flight` | 1 ..= 1 000 | required |
//! | `halt_on_deviation` | bool | `true` |
//! | `[chain.allowances.NAME]` | `token` (a token of the book), `amount` (base units), `period_s` (1 ..= 366 days) | none |
//! | `[chain.approvals]` | `spenders` (contract names), `max_amount` (< 2^256 − 1) | no approvals |
//! | `[[chain.allow]]` | `contract` (name), `function` (canonical signature, static types, ≤ 8), `params` (one per parameter) | at least one |
//!
//! A parameter entry holds one or more conditions, all of which must hold:
//! `eq`, `one_of` (1–64 values), `le`, `ge` (uintN only, unsigned), `self =
//! true` (address only), `allowance = "NAME"` (uintN; at most what is left of
//! it), `deadline = true` (uintN; checked after simulation: in
//! `(block_ts, block_ts + max_deadline_s]`), or `{ any = true }` alone; no
//! `params` = any. Values: decimal strings, `0x` hex words (for `bytesN`, hex
//! of exactly N bytes is left-aligned), non-negative integers (negative for
//! `intN`), booleans for `bool`, or a contract name of the book (an address).
//!
//! Built in, whatever the rules say: an `approve` / `increaseAllowance` on a
//! token goes to a listed spender, never 2^256 − 1, at most `max_amount`
//! (the increase before simulation, the resulting allowance after); a
//! `swap` on a `PoolV2` pays its output to the strategy's own account, its
//! deadline (argument 4) is bounded like a `deadline` parameter and its
//! `amountOutMin` is at least the pool's quote less `max_slippage_bps`; every
//! token that leaves the account needs an allowance; an outflow is never
//! above what the intent's `allowance`-bound parameters state (a
//! fee-on-transfer token charging the sender); a `deadline_in` may fill only a
//! deadline (or `any`) parameter, within `1..=max_deadline_s` seconds.

mod check;
mod parse;
mod sig;
mod state;

use alloy_primitives::{Address, U256};

pub use sig::{APPROVE, INCREASE_ALLOWANCE, POOL_SWAP, ParamType, selector};

use crate::types::{ContractBook, Intent, Refusal, SimOutcome};
use state::{Allowance, Bucket};

/// Why a `[chain]` table was refused: the field path (e.g.
/// `chain.allow[1].params[0].one_of[2]`) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct PolicyError {
    pub field: String,
    pub problem: String,
}

/// What a simulated intent will spend: the outflow per token (book index,
/// base units), to be committed to the allowances when the intent is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spend {
    pub outflows: Vec<(usize, U256)>,
}

/// One condition on a parameter word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Eq(U256),
    OneOf(Vec<U256>),
    Le(U256),
    Ge(U256),
    /// Equals the strategy's account address.
    SelfAccount,
    /// `<=` what is left of this allowance (index into `allowances`).
    Allowance(usize),
    /// A deadline: checked after simulation against the block timestamp.
    Deadline,
}

impl Cond {
    pub(crate) fn key(&self) -> &'static str {
        match self {
            Cond::Eq(_) => "eq",
            Cond::OneOf(_) => "one_of",
            Cond::Le(_) => "le",
            Cond::Ge(_) => "ge",
            Cond::SelfAccount => "self",
            Cond::Allowance(_) => "allowance",
            Cond::Deadline => "deadline",
        }
    }
}

/// One `[[chain.allow]]`: a function of a contract and its parameter conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) contract: usize,
    pub(crate) signature: String,
    pub(crate) selector: [u8; 4],
    pub(crate) types: Vec<ParamType>,
    /// Conditions per parameter, all must hold; empty = any.
    pub(crate) params: Vec<Vec<Cond>>,
}

/// A validated `[chain]` policy with its rate, in-flight and allowance state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPolicy {
    account: String,
    max_value_wei: U256,
    max_gas: u64,
    /// Required when a rule has a deadline parameter or allows a pool swap.
    max_deadline_s: Option<u64>,
    /// Required when a rule allows a pool swap.
    max_slippage_bps: Option<u32>,
    max_in_flight: u32,
    halt_on_deviation: bool,
    /// Sorted by name.
    allowances: Vec<Allowance>,
    /// Contract indices approvals may go to.
    spenders: Vec<usize>,
    /// No approval above this; `None` (no `[chain.approvals]`) = no approval at all.
    max_approval: Option<U256>,
    /// One rule per (contract, selector).
    rules: Vec<Rule>,
    book: ContractBook,
    bucket: Bucket,
    in_flight: u32,
}

impl ChainPolicy {
    /// Parse and validate the `[chain]` table of a strategy policy against
    /// the run's contracts. Unknown keys are refused.
    pub fn from_toml(chain: &toml::Value, book: &ContractBook) -> Result<ChainPolicy, PolicyError> {
        parse::from_toml(chain, book)
    }

    /// The account name in the keys file.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Cap on simulated gas, and on the signing gas limit.
    pub fn max_gas(&self) -> u64 {
        self.max_gas
    }

    /// Native value cap per intent, wei.
    pub fn max_value_wei(&self) -> U256 {
        self.max_value_wei
    }

    /// Whether a mined result that differs from its simulation halts the
    /// strategy's chain access.
    pub fn halt_on_deviation(&self) -> bool {
        self.halt_on_deviation
    }

    /// Intents decided but not finished.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Before simulation: scope (contract, function, argument count and
    /// word types), approvals, parameter conditions, value cap, then the
    /// in-flight limit and the rate bucket. Takes a rate token and an
    /// in-flight slot only when everything passes.
    #[allow(clippy::result_large_err, reason = "Refusal is the shared refusal type; the cold path")]
    pub fn check_intent(&mut self, intent: &Intent, account: Address, now_ns: u64) -> Result<(), Refusal> {
        check::intent(self, intent, account, now_ns)?;
        check::rate(self, now_ns)
    }

    /// After simulation (read-only, re-derivable from the journalled
    /// outcome): revert, gas, deadlines, pool slippage and recipient, token
    /// outflows against the allowances, approvals granted, native value out.
    /// Returns the outflows to [`ChainPolicy::commit`].
    #[allow(clippy::result_large_err, reason = "Refusal is the shared refusal type; the cold path")]
    pub fn check_simulation(
        &self,
        intent: &Intent,
        sim: &SimOutcome,
        account: Address,
        now_ns: u64,
    ) -> Result<Spend, Refusal> {
        check::simulation(self, intent, sim, account, now_ns)
    }

    /// Consume the allowances of each token spent (every allowance of that
    /// token). An allowance resets to its amount at each period boundary of
    /// event time (multiples of `period_s` since event-time zero); event
    /// time going backwards resets nothing.
    pub fn commit(&mut self, spend: &Spend, now_ns: u64) {
        for &(token, amount) in &spend.outflows {
            for a in self.allowances.iter_mut().filter(|a| a.token == token) {
                a.consume(amount, now_ns);
            }
        }
    }

    /// An intent that passed [`ChainPolicy::check_intent`] finished (mined,
    /// reverted, or refused later): frees its in-flight slot.
    pub fn finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// What is left of each allowance at `now_ns`: `(name, token book index,
    /// remaining)`, by name.
    pub fn allowances(&self, now_ns: u64) -> Vec<(String, usize, U256)> {
        self.allowances.iter().map(|a| (a.name.clone(), a.token, a.remaining(now_ns))).collect()
    }
}
