//! # bulkhead-chain — smart-contract intents, contained like orders
//!
//! Owns: the run's chain configuration (RPC endpoint, contracts by name,
//! accounts), the per-strategy `[chain]` policy (allowed contracts,
//! functions and parameter conditions in the manner of Zodiac Roles v2,
//! value / gas / deadline / slippage caps, approvals, allowances that refill
//! per period), the checks before and after simulation, and the client that
//! simulates, signs and sends on any JSON-RPC endpoint.
//!
//! Must never: hand a key, nonce, gas price, address or RPC URL to a
//! strategy; sign anything that has not passed the policy and the
//! simulation's post-conditions; write the journal (the engine journals
//! every step before it takes effect); block the engine thread (the client
//! runs on its own worker).

// A `Refusal` (reason, field, limit, requested, current, message) is the
// normal outcome of a check on a cold path, returned by value on purpose.
#![allow(clippy::result_large_err)]

pub mod codec;
pub mod config;
#[cfg(feature = "devnet")]
pub mod devnet;
pub mod intent;
pub mod keys;
pub mod policy;
pub mod rpc;
pub mod transport;
pub mod types;
pub mod worker;

pub use policy::{ChainPolicy, PolicyError, Spend};
pub use types::{ContractBook, ContractInfo, ContractKind, Intent, Mined, Refusal, SimOutcome};
