//! # bulkhead-risk — pre-trade risk controls
//!
//! Owns: strategy risk policies (one TOML file per strategy, validated and
//! resolved to integer lots / ticks / money at load), the pre-trade checks,
//! throttles, trading states and kill switches, and the worst-case exposure
//! bookkeeping (positions + open orders) those checks need.
//!
//! Must never: talk to a venue, read a clock (time is the event time passed
//! in, so every decision replays identically), use floating point in a
//! decision, or allocate on the accept path.
//!
//! ## Implemented controls (DESIGN.md §4) and their reason codes
//! | control | what | reason codes |
//! |---|---|---|
//! | R1 | allowlist: instruments, sides, order types, time in force | `R1_INSTRUMENT_NOT_ALLOWED` 101, `R1_SIDE_NOT_ALLOWED` 102, `R1_ORDER_TYPE_NOT_ALLOWED` 103, `R1_TIF_NOT_ALLOWED` 104 |
//! | R2 | max order quantity, max order notional (limit orders at their limit price, market orders at the reference) | `R2_MAX_ORDER_QTY` 201, `R2_MAX_ORDER_NOTIONAL` 202 |
//! | R3 | price collar in bps around the reference (mid, last, or mark = mid for now); no reference → reject | `R3_PRICE_COLLAR` 301, `R3_NO_REFERENCE_PRICE` 302 |
//! | R4 | max worst-case position per instrument; max worst-case gross and net notional per strategy, valued at the reference | `R4_MAX_POSITION` 401, `R4_MAX_GROSS_NOTIONAL` 402, `R4_MAX_NET_NOTIONAL` 403 |
//! | R5 | max open orders; order-rate and message-rate token buckets over event time | `R5_MAX_OPEN_ORDERS` 501, `R5_ORDER_RATE` 502, `R5_MESSAGE_RATE` 503 |
//! | R11 | trading states ACTIVE / REDUCING / HALTED per strategy, per instrument, global | `R11_STRATEGY_HALTED` 1101, `R11_INSTRUMENT_HALTED` 1102, `R11_GLOBAL_HALTED` 1103, `R11_REDUCING_ONLY` 1104 |
//!
//! Also `SBX_INVALID_ORDER` 8001 for a non-positive quantity or limit price
//! (defence in depth: the ABI decoder already refuses those).
//!
//! ## Order of checks in [`RiskEngine::check_order`] (first failure decides)
//! 1. R5 message rate — one message token is taken on every check, accepted or not
//! 2. R5 order rate — one order token is taken on every check, accepted or not
//! 3. R11 HALTED: global, then strategy, then instrument
//! 4. R1 instrument, side, order type, time in force
//! 5. sanity: qty > 0, limit price > 0 (`SBX_INVALID_ORDER`)
//! 6. R3 a reference price exists for the instrument
//! 7. R2 order quantity, then order notional
//! 8. R3 collar (limit orders): `|price − ref| × 10000 ≤ bps × ref` — the boundary is accepted
//! 9. R11 REDUCING (any of global / strategy / instrument): the order must be on
//!    the side opposite the current position and, with every open order on its
//!    side filled, must not take the position past flat
//! 10. R4 max position
//! 11. R4 gross notional, then net notional (needs a reference for every
//!     instrument the strategy is exposed in, else `R3_NO_REFERENCE_PRICE`)
//! 12. R5 max open orders
//!
//! [`RiskEngine::check_cancel`] only takes a message token; no trading state
//! ever blocks a cancel.
//!
//! ## Worst case
//! For each instrument `long = position + open buys (+ this order if a buy)`,
//! `short = position − open sells (− this order if a sell)`; any subset of
//! fills ends between the two. Worst-case absolute position is
//! `max(|long|, |short|)`; gross notional is Σ of that × reference; net
//! notional is `max(|Σ long × ref|, |Σ short × ref|)`. A limit breach rejects
//! an order only if the order makes the worst case larger, so orders that
//! shrink an over-limit exposure (after a price move, say) still pass.
//!
//! ## Reservation
//! `check_order` does not reserve: after an accept the engine calls
//! [`RiskEngine::order_opened`] with the id it assigned, before the next check
//! for the same strategy; [`RiskEngine::check_and_open`] does both at once.

mod decision;
mod engine;
mod policy;
mod throttle;

pub use bulkhead_abi::Reason;
pub use decision::{Decision, NO_INSTRUMENT};
pub use engine::{RiskEngine, Scope, TradingState};
pub use policy::{CollarReference, InstrumentLimits, Policy, PolicyError};
pub use throttle::TokenBucket;
