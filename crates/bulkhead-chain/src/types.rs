//! Types shared by the chain policy, the client and the engine.

pub use alloy_primitives::{Address, B256, I256, U256};
use bulkhead_abi::Reason;

/// What the host knows a configured contract to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractKind {
    /// An ERC-20 token with its decimals.
    Token { decimals: u8 },
    /// A constant-product pool (Uniswap-v2 arithmetic, 0.3 % fee):
    /// `swap(address tokenIn, uint256 amountIn, uint256 amountOutMin, address to, uint256 deadline)`,
    /// `getReserves() -> (uint112, uint112)`, `token0()`, `token1()`. The
    /// two tokens are indices into the [`ContractBook`].
    PoolV2 { token0: usize, token1: usize },
    /// Anything else: only the generic policy applies.
    Other,
}

/// One contract of the run config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractInfo {
    pub name: String,
    pub address: Address,
    pub kind: ContractKind,
}

/// Every contract a run may name, in config order (indices are stable for a run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContractBook {
    pub contracts: Vec<ContractInfo>,
}

impl ContractBook {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.contracts.iter().position(|c| c.name == name)
    }
    pub fn by_address(&self, a: &Address) -> Option<usize> {
        self.contracts.iter().position(|c| &c.address == a)
    }
    pub fn get(&self, i: usize) -> Option<&ContractInfo> {
        self.contracts.get(i)
    }
    /// Indices of the ERC-20 tokens.
    pub fn tokens(&self) -> impl Iterator<Item = usize> + '_ {
        self.contracts.iter().enumerate().filter(|(_, c)| matches!(c.kind, ContractKind::Token { .. })).map(|(i, _)| i)
    }
}

/// An intent after decoding and name resolution (host side): `self` and
/// contract-name arguments are already replaced by addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    /// Per-strategy intent id (what `chain_call` returned).
    pub id: u64,
    pub tag: u64,
    /// Index of the target in the [`ContractBook`].
    pub contract: usize,
    pub selector: [u8; 4],
    /// ABI words, big-endian (at most 8).
    pub args: Vec<U256>,
    /// Native value (wei).
    pub value: U256,
    /// A `deadline_in` argument: `(argument index, seconds)`. Its word in
    /// `args` is a placeholder until [`Intent::calldata_at`] fills in the
    /// chain's block timestamp + seconds.
    pub deadline_in: Option<(usize, u64)>,
}

impl Intent {
    /// The argument words with any `deadline_in` resolved against a block
    /// timestamp (seconds).
    pub fn args_at(&self, block_timestamp: u64) -> Vec<U256> {
        let mut args = self.args.clone();
        if let Some((i, secs)) = self.deadline_in
            && let Some(a) = args.get_mut(i)
        {
            *a = U256::from(block_timestamp.saturating_add(secs));
        }
        args
    }

    /// Calldata (selector ‖ words) as it is simulated and signed on top of a
    /// block with this timestamp.
    pub fn calldata_at(&self, block_timestamp: u64) -> Vec<u8> {
        let args = self.args_at(block_timestamp);
        let mut v = Vec::with_capacity(4 + 32 * args.len());
        v.extend_from_slice(&self.selector);
        for a in &args {
            v.extend_from_slice(&a.to_be_bytes::<32>());
        }
        v
    }
}

/// Longest revert payload kept from a simulation or receipt.
pub const MAX_REVERT_BYTES: usize = 256;

/// What simulating an intent against current chain state measured. Filled
/// by the client, journalled by the engine, checked by the policy (so a
/// replay re-derives the decision from the journalled outcome, no node).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimOutcome {
    pub success: bool,
    /// Revert data (truncated to [`MAX_REVERT_BYTES`]).
    pub revert: Vec<u8>,
    pub gas_used: u64,
    /// The block the simulation ran on top of, and its timestamp (s).
    pub block_number: u64,
    pub block_timestamp: u64,
    /// Change of the strategy account's balance per token of the book
    /// (every token, zero deltas included), as `(book index, delta)`.
    pub token_deltas: Vec<(usize, I256)>,
    /// Native value that left the account (wei, excluding gas).
    pub native_out: U256,
    /// Allowances the account holds after the call that differ from before:
    /// `(token book index, spender, new allowance)`.
    pub approvals: Vec<(usize, Address, U256)>,
    /// For a pool swap: the output the pool's reserves give before the call
    /// (no slippage), from which the host measures `amountOutMin`.
    pub pool_quote: Option<U256>,
}

/// A refusal: the reason code, the field (parameter or condition) it names,
/// the limit, what was requested, the current figure and a message for humans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub field: String,
    pub limit: String,
    pub requested: String,
    pub current: String,
    pub message: String,
}

impl Refusal {
    /// A refusal with no figures (limit, requested, current left empty):
    /// malformed input, a halted state.
    pub fn plain(reason: Reason, field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            field: field.into(),
            limit: String::new(),
            requested: String::new(),
            current: String::new(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {} [limit {}, requested {}, current {}]",
            self.reason.name(),
            self.field,
            self.message,
            self.limit,
            self.requested,
            self.current
        )
    }
}

/// What a mined transaction did to the strategy's account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mined {
    pub success: bool,
    pub block_number: u64,
    pub gas_used: u64,
    /// Balance change per token of the book over the receipt's block, as
    /// `(book index, delta)`.
    pub token_deltas: Vec<(usize, I256)>,
}
