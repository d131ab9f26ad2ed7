//! # bulkhead-risk — pre-trade risk controls
//!
//! Owns: strategy risk policies (one TOML file per strategy, validated and
//! resolved to integer lots / ticks / money at load), the pre-trade checks,
//! throttles, trading states and kill switches, and the worst-case exposure
//! bookkeeping (positions + open orders) those checks need; and the only
//! way to approve an order: [`Approved`], which no other crate can make and
//! which is the only thing a venue accepts.
//!
//! Must never: talk to a venue, read a clock (time is the event time passed
//! in, so every decision replays identically), use floating point in a
//! decision, or allocate on the accept path.
//!
//! ## Implemented controls (DESIGN.md §4) and their reason codes
//! Strategy policy = one TOML per strategy ([`Policy`]); firm policy = one
//! TOML per process ([`FirmPolicy`], installed with
//! [`RiskEngine::set_firm_policy`]). Every field added by issue 4 is optional
//! (absent = control off), so older policy files keep loading.
//!
//! | control | what | policy fields | reason codes |
//! |---|---|---|---|
//! | R1 | allowlist: instruments, sides, order types, time in force | strategy | `R1_INSTRUMENT_NOT_ALLOWED` 101, `R1_SIDE_NOT_ALLOWED` 102, `R1_ORDER_TYPE_NOT_ALLOWED` 103, `R1_TIF_NOT_ALLOWED` 104 |
//! | R2 | max order quantity, max order notional (limit orders at their limit price, market orders at the reference) | strategy | `R2_MAX_ORDER_QTY` 201, `R2_MAX_ORDER_NOTIONAL` 202 |
//! | R3 | price collar in bps around the reference (mid, last, or mark = mid for now); no reference → reject | strategy | `R3_PRICE_COLLAR` 301, `R3_NO_REFERENCE_PRICE` 302 |
//! | R4 | max worst-case position per instrument; max worst-case gross and net notional per strategy, valued at the reference | strategy | `R4_MAX_POSITION` 401, `R4_MAX_GROSS_NOTIONAL` 402, `R4_MAX_NET_NOTIONAL` 403 |
//! | R5 | max open orders; order-rate and message-rate token buckets over event time, per strategy and firm-wide | strategy; firm `max_orders_per_sec`, `max_messages_per_sec` | `R5_MAX_OPEN_ORDERS` 501, `R5_ORDER_RATE` 502, `R5_MESSAGE_RATE` 503, `R5_FIRM_ORDER_RATE` 504, `R5_FIRM_MESSAGE_RATE` 505 |
//! | R6 | same strategy, instrument, side, type, price (limit) and qty as an order it opened less than the window ago | `duplicate_window_ms` | `R6_DUPLICATE_ORDER` 601 |
//! | R7 | self-trade prevention against resting limit orders of every strategy (own included); post-only orders exempt | firm `stp_mode` | `R7_SELF_TRADE` 701; cancel cause of the resting orders `R7_CANCEL_SELF_TRADE` 702 |
//! | R8 | loss = −(realised − fees + unrealised at the reference) above a limit moves the strategy to REDUCING / HALTED (reported as a [`Transition`] + [`RiskAction::CancelAll`]) | `loss_limit_reducing`, `loss_limit_halt` | transition causes `R8_LOSS_LIMIT_REDUCING` 801, `R8_LOSS_LIMIT_HALTED` 802; later orders get R11 codes |
//! | R9 | worst-case portfolio delta-notional and vega (Black-76 from `bulkhead_model::black76`, vol from [`RiskEngine::set_implied_vol`] or `option_vol`), underlying notional per expiry | `max_delta`, `max_vega`, `max_expiry_notional`, `option_vol` | `R9_MAX_DELTA` 901, `R9_MAX_VEGA` 902, `R9_MAX_EXPIRY_NOTIONAL` 903, `R9_NO_GREEKS` 904 |
//! | R10 | worst-case initial margin (Σ worst-case notional × rate of the instrument kind) within allocated capital | `capital`, `initial_margin_bps = { perpetual = 1000, … }` | `R10_INITIAL_MARGIN` 1001 |
//! | R11 | trading states ACTIVE / REDUCING / HALTED per strategy, per instrument, global; [`RiskEngine::kill`] = HALTED + every open order in scope | — | `R11_STRATEGY_HALTED` 1101, `R11_INSTRUMENT_HALTED` 1102, `R11_GLOBAL_HALTED` 1103, `R11_REDUCING_ONLY` 1104, `R11_KILL_SWITCH` 1105 (cause) |
//! | R12 | firm worst-case position per instrument, gross and net notional (Σ over all strategies) | firm `max_position`, `[instrument_limits."SYM"] max_position`, `max_gross_notional`, `max_net_notional`, `reference` | `R12_FIRM_MAX_POSITION` 1201, `R12_FIRM_GROSS_NOTIONAL` 1202, `R12_FIRM_NET_NOTIONAL` 1203 |
//! | R13 | reference older than the max age, or within the cooldown after a jump larger than the max between two consecutive updates, blocks new risk (orders that only reduce pass) | firm `max_reference_age_ms`, `max_jump_bps`, `jump_cooldown_ms` | `R13_STALE_REFERENCE` 1301, `R13_PRICE_JUMP` 1302 |
//! | R14 | market-maker protection (Deribit's MMP): fills of a strategy within the window — per instrument group, or per instrument outside any group — above a summed \|qty\|, \|net delta\| or summed \|vega\| freeze it (REDUCING or HALTED) and cancel its quotes; after the frozen time (event time) it resumes by itself, with 0 only an operator `resume` lifts it | `mmp_window_ms`, `mmp_qty`, `mmp_delta`, `mmp_vega` (per-instrument overridable), `mmp_frozen_ms`, `mmp_action`, `[mmp_groups.NAME]` (`instruments` or `underlying`, `window_ms`, `qty`, `delta`, `vega`, `frozen_ms`) | `R14_MMP_TRIGGERED` 1401 (cause of the freeze and of its end) |
//!
//! ### R14 in detail
//! - **Units.** Per instrument (no group): `mmp_qty` / `mmp_delta` in that
//!   instrument's lots (delta = signed quantity), `mmp_vega` money per vol
//!   point. In a group, `qty` and `delta` are units of the underlying at 8
//!   decimals (`"0.5"` = 0.5 BTC): a fill of `n` lots counts
//!   `|n| × lot_size × multiplier` (exact, rounded up past 8 decimals) and a
//!   delta of `n × lot_size × multiplier × option delta` (Black-76 as R9,
//!   rounded to 1e-8; linear instruments delta 1), so a group can mix a
//!   perpetual with its options; `vega` is `|n| ×` the per-lot vega R9 uses
//!   (money per vol point, rounded to 1e-8 per lot; linear instruments 0).
//!   An option fill whose delta / vega is needed but cannot be computed (no
//!   vol, no reference for its underlying) trips: the window cannot be
//!   evaluated, so it refuses by default.
//! - **Groups.** `[mmp_groups.NAME]` with `instruments = [...]` or
//!   `underlying = "SYM"` (that instrument and every allowed instrument on
//!   it); `window_ms` (1 ms .. 24 h, default `mmp_window_ms`), at least one
//!   of `qty`, `delta`, `vega` (> 0), `frozen_ms` (0 .. 24 h, default
//!   `mmp_frozen_ms`). Every member must be in `instruments`, and in one
//!   group only; a grouped instrument ignores the top-level `mmp_*` defaults
//!   and may not carry an `[instrument_limits]` R14 override. Policies
//!   without groups load and decide as before.
//! - **Frozen time.** A trip sets the state `mmp_action` names (reported
//!   as a [`Transition`], plus [`RiskAction::CancelAll`]). With a frozen time
//!   above 0 the freeze ends once event time reaches trip + frozen time
//!   ([`RiskEngine::on_time`], also run by quotes, trades and fills): the
//!   strategy goes back to the state it had before the trip (or what R8
//!   still calls for, if stricter), as a [`Transition`] with cause
//!   `R14_MMP_TRIGGERED` and the frozen time — but only while it is still in
//!   the state R14 set: any [`RiskEngine::set_state`] / [`RiskEngine::kill`]
//!   (operator, fault, restart) or R8 escalation since then owns the state,
//!   and the freeze is dropped. Tripping again while frozen restarts the
//!   frozen time. With 0 (the default) only an operator `resume` lifts it.
//! - **Bound.** A window holds at most [`MMP_MAX_ENTRIES`] (65 536) entries;
//!   past that its two oldest entries merge (sums exact, the merged fills
//!   expire with the later of them): a window never under-counts.
//!
//! Also `SBX_INVALID_ORDER` 8001 for a non-positive quantity or limit price
//! (defence in depth: the ABI decoder already refuses those).
//!
//! ## Order of checks in [`RiskEngine::check_order`] (first failure decides)
//! One function per control, applied in the order of [`CONTROLS`] (each
//! entry names its control, what it checks and the reasons it can give);
//! this list is tested against that table. An unknown strategy is refused
//! first (`R11_STRATEGY_HALTED`): nothing trades without a policy.
//! 1. **R5** strategy message rate, then order rate — one message token and one order token are taken on every check, accepted or not
//! 2. **R5** firm message rate, then firm order rate — charged only when 1 passed
//! 3. **R11** halted: global, then strategy, then instrument
//! 4. **R1** allowlist: instrument, side, order type, time in force
//! 5. **SBX** sanity: qty > 0, limit price > 0 — `SBX_INVALID_ORDER`
//! 6. **R3** a reference price exists for the instrument
//! 7. **R13** stale reference, then price-jump cooldown — skipped for an order that only reduces
//! 8. **R2** order quantity, then order notional
//! 9. **R3** price collar — limit orders: `|price − ref| × 10000 ≤ bps × ref`; the boundary is accepted
//! 10. **R6** duplicate order
//! 11. **R11** reducing only — under REDUCING (any of global / strategy /
//!     instrument) the order must be on the side opposite the current
//!     position and, with every open order on its side filled, must not take
//!     the position past flat
//! 12. **R4** max position
//! 13. **R4** gross notional, then net notional — needs a reference for every
//!     instrument the strategy is exposed in, else `R3_NO_REFERENCE_PRICE`
//! 14. **R10** initial margin
//! 15. **R9** delta, vega, notional per expiry
//! 16. **R5** max open orders
//! 17. **R12** firm position, firm gross, firm net
//! 18. **R7** self-trade prevention — last, so resting orders are only ever
//!     cancelled for an order that passed everything else
//!
//! [`RiskEngine::check_cancel`] takes a strategy message token, then a firm
//! message token; no trading state ever blocks a cancel.
//!
//! ## Worst case
//! For each instrument `long = position + open buys (+ this order if a buy)`,
//! `short = position − open sells (− this order if a sell)`; any subset of
//! fills ends between the two. Worst-case absolute position is
//! `max(|long|, |short|)`; gross notional is Σ of that × reference; net
//! notional is `max(|Σ long × ref|, |Σ short × ref|)`; margin is Σ gross ×
//! rate; delta / vega bounds are Σ max / Σ min of `long × g` and `short × g`.
//! The firm's worst case uses the same formulas on the sums over all
//! strategies. A limit breach rejects an order only if the order makes the
//! worst case larger, so orders that shrink an over-limit exposure (after a
//! price move, say) still pass.
//!
//! ## Approval and reservation: only risk can approve
//! [`RiskEngine::check_and_open`] / [`RiskEngine::check_and_open_stp`] run
//! the controls and, if all pass, reserve the order (it counts as open
//! exposure under the id the engine assigned) and return `Ok(`[`Approved`]`)`;
//! otherwise `Err(`[`Decision`]`)`, the refusal. `Approved` has private
//! fields, no public constructor, no `Default`, no `Clone`: an approval is
//! minted here, used once, and carries the order exactly as checked.
//! `bulkhead_venue::SimVenue::submit` takes nothing else, so no order
//! reaches a venue unchecked or unreserved, and a `Decision` (private fields,
//! made only here, never `ACCEPTED`) cannot be turned into one.
//! [`Outcome`] is the plain record of either result for the journal and
//! the observer feed; it authorises nothing. The venue depends on this
//! crate for the type (ARCHITECTURE.md: risk sits above the venue in the
//! arrow order); this crate still never talks to a venue.
//! [`RiskEngine::check_order`] / [`RiskEngine::check_order_stp`] only ask
//! (`Result<(), Decision>`) and reserve nothing; [`RiskEngine::order_opened`]
//! reserves without approving (tests, replays of venue state).
//!
//! ## What the engine must call (integration contract)
//! 1. At start: [`RiskEngine::add_strategy`] per strategy, then
//!    [`RiskEngine::set_firm_policy`] if a firm policy file is configured.
//! 2. Market data: [`RiskEngine::on_quote_at`] / [`RiskEngine::on_trade_at`]
//!    with the event's time (the old `on_quote` / `on_trade` use the latest
//!    time seen, which makes R13 ages wrong).
//! 3. Submit: [`RiskEngine::check_and_open_stp`] with the order id and a
//!    reused `Vec<OrderRef>`; first cancel every returned order at the venue
//!    (cause `R7_CANCEL_SELF_TRADE`), then send the [`Approved`] order; if
//!    refused, send the reject event.
//! 4. Cancel requests: [`RiskEngine::check_cancel`].
//! 5. Venue events: fills → [`RiskEngine::order_filled_at`] (event time) and
//!    the fill's fee → [`RiskEngine::on_fee`]; cancel / expire / reject →
//!    [`RiskEngine::order_closed`] (after the last fill).
//! 6. After every input that can change risk state (market data, fills,
//!    fees): if [`RiskEngine::has_pending`], journal each of
//!    [`RiskEngine::take_transitions`] (scope, from, to, cause code + text)
//!    and carry out each of [`RiskAction::CancelAll`] from
//!    [`RiskEngine::take_actions`] (cancel cause = its `reason`).
//! 7. Kill switch: [`RiskEngine::kill`] returns every open order in scope;
//!    cancel them all in the same step (cause `CANCEL_KILL_SWITCH`) and
//!    journal the transition with the operator as cause (risk does not
//!    report kill / `set_state` transitions: the caller knows who did it).
//! 8. Options: [`RiskEngine::set_implied_vol`] when an implied vol is known.
//!    Every market event: [`RiskEngine::on_time`] (R14 freezes end on
//!    it), then handle pending transitions as in 6.
//! 9. Operator limit changes: [`RiskEngine::check_limit`] (validates, changes
//!    nothing), journal the command, then [`RiskEngine::apply_limit`] (the
//!    next check uses the new limit), then handle pending transitions as in 6
//!    (a tightened loss limit may trip R8 at once). See the `limits` module
//!    docs for the fields and the firm caps.

// Guardrail (issue 14): no silently truncating casts in this crate; a cast
// that cannot lose bits says why (`#[expect]`), the rest use `try_from` or
// a named saturating helper.
#![deny(clippy::cast_possible_truncation)]

mod decision;
mod engine;
mod firm;
mod limits;
mod options;
mod policy;
mod throttle;

pub use bulkhead_abi::Reason;
pub use decision::{Approved, Decision, NO_INSTRUMENT, Outcome};
pub use engine::{
    CONTROLS, Cause, Control, MMP_MAX_ENTRIES, OrderRef, Part, Pnl, RiskAction, RiskEngine, RiskPart, Scope,
    TradingState, Transition,
};
pub use firm::{FirmPolicy, StpMode};
pub use limits::{INSTRUMENT_LIMIT_FIELDS, LimitChange, LimitError, STRATEGY_LIMIT_FIELDS};
pub use policy::{
    CollarReference, InstrumentLimits, KIND_NAMES, MmpAction, MmpGroup, Policy, PolicyError, describe_toml_error,
    kind_index,
};
pub use throttle::TokenBucket;
