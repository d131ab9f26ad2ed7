//! Journal record kinds and payload layouts written by the engine: the one
//! place each layout is written down.
//!
//! The journal stores opaque `(kind, ts_ns, payload)`; this module gives them
//! meaning. A record is one [`Record`] value, and its layout lives in exactly
//! two functions side by side, [`Record::encode`] and [`Record::decode`],
//! which walk the fields in the same order with the sizes named below. The
//! engine's journal sink writes only `Record`s; `journal show`, replay and the
//! audits read them back through `Record::decode` (rendered by
//! [`crate::decode::Decoded`]). `decode` accepts exactly the bytes `encode`
//! produces (fixed layouts must not carry trailing bytes), so
//! `encode(decode(b)) == b` for every payload that decodes (proptested and
//! fuzzed).
//!
//! All integers little-endian; `sid` is the strategy's index in the run
//! config; order ids in records are the strategy-scoped ids the strategy
//! itself sees. Text fields are bytes (UTF-8 by convention, rendered lossily),
//! so a record read from a hostile journal round-trips exactly.

use bulkhead_abi::{EVENT_SIZE, Event, ORDER_REQUEST_SIZE, OrderRequest, OrderType, Reason};
use bulkhead_risk::{Scope, TradingState};
use bulkhead_surveillance::{AlertAction, Rule};

/// `RUN_START`: UTF-8 text: format version, config and policy hashes.
pub const RUN_START: u16 = 1;
/// `MODULE`: sid u32, blake3 hash of the module [32], ed25519 public key of
/// its verified signer [32] (all zero = unsigned: the run does not require
/// signatures, a native strategy, or a hot-deployed module), then the
/// strategy name (UTF-8). Written when a strategy is added and again on every
/// restart or redeploy by an operator. The first [`MODULE_HEAD`] bytes are fixed.
pub const MODULE: u16 = 2;
/// `MARKET`: one 64-byte ABI [`Event`] (trade or quote) as it entered the engine.
pub const MARKET: u16 = 3;
/// `ORDER`: sid u32, order id u64, reason u16, pad u16, limit i64,
/// requested i64, current i64, then the 32-byte ABI [`OrderRequest`].
/// Written before the order can reach the venue (reason 0 = accepted).
pub const ORDER: u16 = 4;
/// `CANCEL`: sid u32, order id u64 (0 = all), reason u16 (0 = passed), instrument i32 (-1 = all).
pub const CANCEL: u16 = 5;
/// `VENUE`: sid u32, then the 64-byte ABI [`Event`] the strategy receives
/// (accepted, rejected, cancelled, fill).
pub const VENUE: u16 = 6;
/// `FAULT`: sid u32, kind length u16, kind (UTF-8), message (UTF-8).
pub const FAULT: u16 = 7;
/// `STATE`: scope u8 (0 strategy, 1 instrument, 2 global), target u32,
/// state u8 (0 active, 1 reducing, 2 halted), cause (UTF-8).
pub const STATE: u16 = 8;
/// `LOG`: sid u32, level i32, bytes the strategy logged.
pub const LOG: u16 = 9;
/// `TIMER`: sid u32, at_ns u64, token u64, result i32.
pub const TIMER: u16 = 10;
/// `INVALID`: sid u32, then the decode error text (UTF-8).
pub const INVALID: u16 = 11;
/// `RUN_END`: UTF-8 text summary (events, orders, fills).
pub const RUN_END: u16 = 12;
/// `NOTICE`: an account event from the venue that is not an order event:
/// sid u32 (u32::MAX = none), notice u8 (1 funding, 2 liquidation,
/// 3 settlement, 4 instrument settled), instrument u32, qty i64, price i64,
/// amount i64 (funding amount, or realised PnL of the close), fee i64.
pub const NOTICE: u16 = 13;
/// `COMMAND`: an operator action, UTF-8 (`halt scope=global actor=ops role=operator`),
/// written before the action takes effect.
pub const COMMAND: u16 = 14;
/// `CONFIG`: a file the run was configured from, verbatim, journalled at
/// the start so the journal alone says what ran: name length u16, name
/// (UTF-8: `run_config`, `firm_policy`, `policy:<strategy>`), the file's bytes.
/// `bulkhead journal replay` rebuilds the run from these.
pub const CONFIG: u16 = 15;
/// `ALERT`: a surveillance rule fired (or a dead-man switch tripped):
/// rule u16, action u8, pad u8, sid u32, other sid u32 ([`NO_ACCOUNT`] =
/// none), instrument u32 ([`NO_ACCOUNT`] = all), window ns u64, observed
/// i64, threshold i64, evidence count u16, then that many (sid u32, order id
/// u64) pairs, then the text a person reads (UTF-8). Written before its
/// action (state change, cancels) takes effect.
pub const ALERT: u16 = 16;
/// `CHAIN`: one step of a smart-contract intent: sid u32, intent id u64,
/// step u8 ([`ChainStep`]), pad u8, reason u16 (0 = passed), body length
/// u16, body (per step), then text (UTF-8: the refusal's field, limit,
/// requested, current and message, or a summary). Steps from the node
/// (`simulated`, `signed`, `mined`, `failed`) are the inputs a replay
/// re-feeds; the others are decisions it re-derives and compares.
pub const CHAIN: u16 = 17;

/// Stable lowercase names of the record kinds, in kind order (`RUN_START` = 1
/// is `run_start`): the one table of kind names, for filters and display.
pub const KIND_NAMES: &[&str] = &[
    "run_start",
    "module",
    "market",
    "order",
    "cancel",
    "venue",
    "fault",
    "state",
    "log",
    "timer",
    "invalid",
    "run_end",
    "notice",
    "command",
    "config",
    "alert",
    "chain",
];

/// The kind's name from [`KIND_NAMES`]; `unknown` for a kind this engine
/// does not write.
pub fn kind_name(kind: u16) -> &'static str {
    usize::from(kind).checked_sub(1).and_then(|i| KIND_NAMES.get(i)).copied().unwrap_or("unknown")
}

// Sizes of the layouts' parts. Every call site names these; no literal sizes.

/// Strategy index.
const SID_LEN: usize = 4;
/// A blake3 hash or an ed25519 public key.
const KEY_LEN: usize = 32;
/// Length of the fixed part of a `MODULE` payload (sid, hash, signer key).
pub const MODULE_HEAD: usize = SID_LEN + KEY_LEN + KEY_LEN;
/// `MARKET` payload: one ABI event.
pub const MARKET_LEN: usize = EVENT_SIZE;
/// `ORDER` payload: sid, id, reason, pad, limit, requested, current, request.
pub const ORDER_LEN: usize = SID_LEN + 8 + 2 + 2 + 8 + 8 + 8 + ORDER_REQUEST_SIZE;
/// `CANCEL` payload: sid, id, reason, instrument.
pub const CANCEL_LEN: usize = SID_LEN + 8 + 2 + 4;
/// `VENUE` payload: sid, event.
pub const VENUE_LEN: usize = SID_LEN + EVENT_SIZE;
/// Fixed part of a `FAULT` payload: sid, kind length.
pub const FAULT_HEAD: usize = SID_LEN + 2;
/// Fixed part of a `STATE` payload: scope, target, state.
pub const STATE_HEAD: usize = 1 + 4 + 1;
/// Fixed part of a `LOG` payload: sid, level.
pub const LOG_HEAD: usize = SID_LEN + 4;
/// `TIMER` payload: sid, at, token, result.
pub const TIMER_LEN: usize = SID_LEN + 8 + 8 + 4;
/// Fixed part of an `INVALID` payload: sid.
pub const INVALID_HEAD: usize = SID_LEN;
/// `NOTICE` payload: sid, notice, instrument, qty, price, amount, fee.
pub const NOTICE_LEN: usize = SID_LEN + 1 + 4 + 8 * 4;
/// Fixed part of a `CONFIG` payload: name length.
pub const CONFIG_HEAD: usize = 2;
/// Fixed part of an `ALERT` payload: rule, action, pad, sid, other,
/// instrument, window, observed, threshold, evidence count.
pub const ALERT_HEAD: usize = 2 + 1 + 1 + SID_LEN + SID_LEN + 4 + 8 + 8 + 8 + 2;
/// One evidence entry of an `ALERT`: sid, order id.
pub const ALERT_ORDER_LEN: usize = SID_LEN + 8;
/// Fixed part of a `CHAIN` payload: sid, id, step, pad, reason, body length.
pub const CHAIN_HEAD: usize = SID_LEN + 8 + 1 + 1 + 2 + 2;
/// The longest fault kind or config name a `u16` length field can carry.
pub const MAX_SHORT_TEXT: usize = u16::MAX as usize;
/// Offset of `price` in the ABI [`OrderRequest`] (see its layout).
const ORDER_PRICE_AT: usize = 8;
/// `NOTICE` sid of a notice about no one account (instrument settled).
pub const NO_ACCOUNT: u32 = u32::MAX;

/// What a `NOTICE` record reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// Funding paid or received; `amount` is the funding amount.
    Funding,
    /// A position the venue closed under maintenance margin.
    Liquidation,
    /// A position settled at expiry.
    Settlement,
    /// The instrument itself settled (no account).
    InstrumentSettled,
}

impl NoticeKind {
    /// Every notice, in code order (1..=4).
    pub const ALL: [NoticeKind; 4] =
        [NoticeKind::Funding, NoticeKind::Liquidation, NoticeKind::Settlement, NoticeKind::InstrumentSettled];
    pub const fn code(self) -> u8 {
        match self {
            NoticeKind::Funding => 1,
            NoticeKind::Liquidation => 2,
            NoticeKind::Settlement => 3,
            NoticeKind::InstrumentSettled => 4,
        }
    }
    pub const fn from_code(code: u8) -> Option<NoticeKind> {
        match code {
            1 => Some(NoticeKind::Funding),
            2 => Some(NoticeKind::Liquidation),
            3 => Some(NoticeKind::Settlement),
            4 => Some(NoticeKind::InstrumentSettled),
            _ => None,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            NoticeKind::Funding => "funding",
            NoticeKind::Liquidation => "liquidation",
            NoticeKind::Settlement => "settlement",
            NoticeKind::InstrumentSettled => "instrument_settled",
        }
    }
}

/// The step of a smart-contract intent a `CHAIN` record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainStep {
    /// The strategy's account, at setup: body = its 20-byte address, text =
    /// the account's name (an input: the keys are never journalled).
    Account,
    /// The strategy stated an intent: body = the ABI record as passed;
    /// reason = the check before simulation.
    Intent,
    /// From the node: body = the simulation's outcome (`bulkhead_chain::codec`).
    Simulated,
    /// The decision on the simulation: reason 0 = sign and send.
    Decided,
    /// From the node: body = transaction hash [32] + nonce u64, journalled
    /// before the transaction is broadcast.
    Signed,
    /// From the node: body = the receipt's summary (`bulkhead_chain::codec`).
    Mined,
    /// The mined change compared with the simulation: reason 0, or
    /// `CHAIN_DEVIATION` / `CHAIN_SIMULATION_REVERTED`.
    Settled,
    /// From the node: a step failed; body = the step (u8) that failed,
    /// reason `CHAIN_UNAVAILABLE` (down, slow) or 0 (the node's error).
    Failed,
}

impl ChainStep {
    pub const ALL: [ChainStep; 8] = [
        ChainStep::Account,
        ChainStep::Intent,
        ChainStep::Simulated,
        ChainStep::Decided,
        ChainStep::Signed,
        ChainStep::Mined,
        ChainStep::Settled,
        ChainStep::Failed,
    ];
    pub const fn code(self) -> u8 {
        match self {
            ChainStep::Account => 0,
            ChainStep::Intent => 1,
            ChainStep::Simulated => 2,
            ChainStep::Decided => 3,
            ChainStep::Signed => 4,
            ChainStep::Mined => 5,
            ChainStep::Settled => 6,
            ChainStep::Failed => 7,
        }
    }
    pub fn from_code(c: u8) -> Option<ChainStep> {
        ChainStep::ALL.into_iter().find(|s| s.code() == c)
    }
    pub const fn name(self) -> &'static str {
        match self {
            ChainStep::Account => "account",
            ChainStep::Intent => "intent",
            ChainStep::Simulated => "simulated",
            ChainStep::Decided => "decided",
            ChainStep::Signed => "signed",
            ChainStep::Mined => "mined",
            ChainStep::Settled => "settled",
            ChainStep::Failed => "failed",
        }
    }
    /// Reported by the node (re-fed by a replay), not decided by the host.
    pub const fn is_input(self) -> bool {
        matches!(
            self,
            ChainStep::Account | ChainStep::Simulated | ChainStep::Signed | ChainStep::Mined | ChainStep::Failed
        )
    }
}

/// A `STATE` record's scope code (0 strategy, 1 instrument, 2 global) and target.
const fn scope_code(scope: Scope) -> (u8, u32) {
    match scope {
        Scope::Strategy(s) => (0, s),
        Scope::Instrument(i) => (1, i),
        Scope::Global => (2, 0),
    }
}

/// The name of a [`Scope`] as `journal show` and the API render it.
pub const fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Strategy(_) => "strategy",
        Scope::Instrument(_) => "instrument",
        Scope::Global => "global",
    }
}

/// One journal record of the engine, typed. Variable parts are borrowed, so
/// building and encoding one allocates nothing. Text is bytes: UTF-8 as the
/// engine writes it, but a journal from elsewhere is kept byte for byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// `RUN_START`: format version, config and policy hashes.
    RunStart { text: &'a [u8] },
    /// `MODULE`: a strategy added, restarted or redeployed. `module` is the
    /// blake3 of its module (all zero for a native strategy); `signer` the
    /// ed25519 public key of its verified signer (all zero = unsigned).
    Module { sid: u32, module: [u8; 32], signer: [u8; 32], name: &'a [u8] },
    /// `MARKET`: the market event as it entered the engine.
    Market(Event),
    /// `ORDER`: risk's decision on an order, written before the order can
    /// reach the venue. The request is kept as journalled (a native
    /// strategy's market order may carry a price).
    Order { sid: u32, id: u64, reason: Reason, limit: i64, requested: i64, current: i64, order: OrderRequest },
    /// `CANCEL`: `id` 0 = cancel all; `reason` `Accepted` = passed;
    /// `instrument` -1 = all (or an unknown order).
    Cancel { sid: u32, id: u64, reason: Reason, instrument: i32 },
    /// `VENUE`: the venue's response the strategy receives.
    Venue { sid: u32, event: Event },
    /// `FAULT`: a contained fault, its kind (at most [`MAX_SHORT_TEXT`]
    /// bytes) and message.
    Fault { sid: u32, kind: &'a [u8], message: &'a [u8] },
    /// `STATE`: a trading state changed, and why.
    State { scope: Scope, state: TradingState, cause: &'a [u8] },
    /// `LOG`: what a strategy logged.
    Log { sid: u32, level: i32, message: &'a [u8] },
    /// `TIMER`: a timer request and its result code.
    Timer { sid: u32, at_ns: u64, token: u64, result: i32 },
    /// `INVALID`: an order record the sandbox could not decode.
    Invalid { sid: u32, error: &'a [u8] },
    /// `RUN_END`: summary of the run.
    RunEnd { text: &'a [u8] },
    /// `NOTICE`: an account event from the venue that is not an order
    /// event; `sid` [`NO_ACCOUNT`] = none.
    Notice { sid: u32, notice: NoticeKind, instrument: u32, qty: i64, price: i64, amount: i64, fee: i64 },
    /// `COMMAND`: an operator action in its text form.
    Command { text: &'a [u8] },
    /// `CONFIG`: a file the run was configured from; `name` at most
    /// [`MAX_SHORT_TEXT`] bytes.
    Config { name: &'a [u8], bytes: &'a [u8] },
    /// `ALERT`: a surveillance rule fired. `orders` is the evidence as
    /// journalled, [`ALERT_ORDER_LEN`] bytes per order (read it with
    /// [`alert_orders`]); `other` and `instrument` use [`NO_ACCOUNT`] for none.
    Alert {
        rule: Rule,
        action: AlertAction,
        sid: u32,
        other: u32,
        instrument: u32,
        window_ns: u64,
        observed: i64,
        threshold: i64,
        orders: &'a [u8],
        text: &'a [u8],
    },
    /// `CHAIN`: one step of a smart-contract intent (see [`ChainStep`]);
    /// `body` at most [`MAX_SHORT_TEXT`] bytes.
    Chain { sid: u32, id: u64, step: ChainStep, reason: Reason, body: &'a [u8], text: &'a [u8] },
}

/// The evidence of an `ALERT` record: (sid, strategy-scoped order id) pairs.
pub fn alert_orders(orders: &[u8]) -> impl Iterator<Item = (u32, u64)> + '_ {
    orders.chunks_exact(ALERT_ORDER_LEN).map(|c| {
        let mut sid = [0u8; SID_LEN];
        let mut id = [0u8; 8];
        sid.copy_from_slice(&c[..SID_LEN]);
        id.copy_from_slice(&c[SID_LEN..]);
        (u32::from_le_bytes(sid), u64::from_le_bytes(id))
    })
}

/// Lay out an alert's evidence as [`Record::Alert`]'s `orders` bytes.
pub fn alert_orders_bytes(orders: &[bulkhead_surveillance::OrderRef], out: &mut Vec<u8>) {
    out.clear();
    for o in orders {
        out.extend_from_slice(&o.sid.to_le_bytes());
        out.extend_from_slice(&o.id.to_le_bytes());
    }
}

/// A record that cannot be encoded: never silently truncated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{kind} record needs {needed} bytes, the buffer holds {capacity}")]
    Capacity { kind: &'static str, needed: usize, capacity: usize },
    #[error("{kind} record: {field} is {len} bytes, its length field holds at most {max}")]
    TooLong { kind: &'static str, field: &'static str, len: usize, max: usize },
}

/// A payload that does not match its kind's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} record: {field} at byte {offset}: {problem}")]
pub struct DecodeError {
    pub kind: &'static str,
    pub field: &'static str,
    pub offset: usize,
    pub problem: String,
}

impl<'a> Record<'a> {
    /// The record's kind (`RUN_START` …).
    pub const fn kind(&self) -> u16 {
        match self {
            Record::RunStart { .. } => RUN_START,
            Record::Module { .. } => MODULE,
            Record::Market(_) => MARKET,
            Record::Order { .. } => ORDER,
            Record::Cancel { .. } => CANCEL,
            Record::Venue { .. } => VENUE,
            Record::Fault { .. } => FAULT,
            Record::State { .. } => STATE,
            Record::Log { .. } => LOG,
            Record::Timer { .. } => TIMER,
            Record::Invalid { .. } => INVALID,
            Record::RunEnd { .. } => RUN_END,
            Record::Notice { .. } => NOTICE,
            Record::Command { .. } => COMMAND,
            Record::Config { .. } => CONFIG,
            Record::Alert { .. } => ALERT,
            Record::Chain { .. } => CHAIN,
        }
    }

    /// Bytes [`Record::encode`] writes.
    pub const fn encoded_len(&self) -> usize {
        match self {
            Record::RunStart { text } | Record::RunEnd { text } | Record::Command { text } => text.len(),
            Record::Module { name, .. } => MODULE_HEAD + name.len(),
            Record::Market(_) => MARKET_LEN,
            Record::Order { .. } => ORDER_LEN,
            Record::Cancel { .. } => CANCEL_LEN,
            Record::Venue { .. } => VENUE_LEN,
            Record::Fault { kind, message, .. } => FAULT_HEAD + kind.len() + message.len(),
            Record::State { cause, .. } => STATE_HEAD + cause.len(),
            Record::Log { message, .. } => LOG_HEAD + message.len(),
            Record::Timer { .. } => TIMER_LEN,
            Record::Invalid { error, .. } => INVALID_HEAD + error.len(),
            Record::Notice { .. } => NOTICE_LEN,
            Record::Config { name, bytes } => CONFIG_HEAD + name.len() + bytes.len(),
            Record::Alert { orders, text, .. } => ALERT_HEAD + orders.len() + text.len(),
            Record::Chain { body, text, .. } => CHAIN_HEAD + body.len() + text.len(),
        }
    }

    /// Write the payload into `out`, returning its length. An error (and
    /// nothing written) if `out` is too small or a length field cannot hold
    /// a variable part.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let kind = kind_name(self.kind());
        let needed = self.encoded_len();
        if needed > out.len() {
            return Err(EncodeError::Capacity { kind, needed, capacity: out.len() });
        }
        let short = |field: &'static str, b: &[u8]| {
            u16::try_from(b.len()).map_err(|_| EncodeError::TooLong { kind, field, len: b.len(), max: MAX_SHORT_TEXT })
        };
        let mut w = Wr { out: &mut out[..needed], at: 0 };
        match *self {
            Record::RunStart { text } | Record::RunEnd { text } | Record::Command { text } => {
                w.put(text);
            }
            Record::Module { sid, module, signer, name } => {
                w.u32(sid).put(&module).put(&signer).put(name);
            }
            Record::Market(e) => {
                w.put(&e.encode());
            }
            Record::Order { sid, id, reason, limit, requested, current, order } => {
                w.u32(sid)
                    .u64(id)
                    .u16(reason.code())
                    .u16(0)
                    .i64(limit)
                    .i64(requested)
                    .i64(current)
                    .put(&order.encode());
            }
            Record::Cancel { sid, id, reason, instrument } => {
                w.u32(sid).u64(id).u16(reason.code()).i32(instrument);
            }
            Record::Venue { sid, event } => {
                w.u32(sid).put(&event.encode());
            }
            Record::Fault { sid, kind, message } => {
                let n = short("fault kind", kind)?;
                w.u32(sid).u16(n).put(kind).put(message);
            }
            Record::State { scope, state, cause } => {
                let (code, target) = scope_code(scope);
                w.u8(code).u32(target).u8(state.code()).put(cause);
            }
            Record::Log { sid, level, message } => {
                w.u32(sid).i32(level).put(message);
            }
            Record::Timer { sid, at_ns, token, result } => {
                w.u32(sid).u64(at_ns).u64(token).i32(result);
            }
            Record::Invalid { sid, error } => {
                w.u32(sid).put(error);
            }
            Record::Notice { sid, notice, instrument, qty, price, amount, fee } => {
                w.u32(sid).u8(notice.code()).u32(instrument).i64(qty).i64(price).i64(amount).i64(fee);
            }
            Record::Config { name, bytes } => {
                let n = short("config name", name)?;
                w.u16(n).put(name).put(bytes);
            }
            Record::Alert { rule, action, sid, other, instrument, window_ns, observed, threshold, orders, text } => {
                if orders.len() % ALERT_ORDER_LEN != 0 {
                    let len = orders.len();
                    return Err(EncodeError::TooLong { kind, field: "evidence (not whole entries)", len, max: len });
                }
                let n = u16::try_from(orders.len() / ALERT_ORDER_LEN).map_err(|_| EncodeError::TooLong {
                    kind,
                    field: "evidence",
                    len: orders.len(),
                    max: MAX_SHORT_TEXT * ALERT_ORDER_LEN,
                })?;
                w.u16(rule.code())
                    .u8(action.code())
                    .u8(0)
                    .u32(sid)
                    .u32(other)
                    .u32(instrument)
                    .u64(window_ns)
                    .i64(observed)
                    .i64(threshold)
                    .u16(n)
                    .put(orders)
                    .put(text);
            }
            Record::Chain { sid, id, step, reason, body, text } => {
                let n = short("chain body", body)?;
                w.u32(sid).u64(id).u8(step.code()).u8(0).u16(reason.code()).u16(n).put(body).put(text);
            }
        };
        debug_assert_eq!(w.at, needed, "{kind}: encoded_len and encode disagree");
        Ok(needed)
    }

    /// Encode into `out` (cleared first; its allocation is reused, so a
    /// buffer kept across records allocates only when a record is longer
    /// than any before).
    pub fn encode_to_vec(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.clear();
        out.resize(self.encoded_len(), 0);
        match self.encode(out) {
            Ok(_) => Ok(()),
            Err(e) => {
                out.clear();
                Err(e)
            }
        }
    }

    /// Decode one record's payload by its kind. A payload that does not
    /// match the layout (short, trailing bytes, a bad code) is an error
    /// naming the kind, the field and the byte offset, never a panic; an
    /// unknown kind is an error on the field `kind`.
    pub fn decode(kind: u16, payload: &'a [u8]) -> Result<Record<'a>, DecodeError> {
        let mut r = Rd { kind: kind_name(kind), p: payload, at: 0 };
        let rec = match kind {
            RUN_START => Record::RunStart { text: r.rest() },
            RUN_END => Record::RunEnd { text: r.rest() },
            COMMAND => Record::Command { text: r.rest() },
            MODULE => Record::Module {
                sid: r.u32("sid")?,
                module: r.array("module hash")?,
                signer: r.array("signer key")?,
                name: r.rest(),
            },
            MARKET => Record::Market(r.event("event")?),
            ORDER => {
                let sid = r.u32("sid")?;
                let id = r.u64("order id")?;
                let reason = r.reason("reason")?;
                let pad = r.u16("pad")?;
                if pad != 0 {
                    return Err(r.bad("pad", r.at - 2, format!("{pad} is not 0")));
                }
                Record::Order {
                    sid,
                    id,
                    reason,
                    limit: r.i64("limit")?,
                    requested: r.i64("requested")?,
                    current: r.i64("current")?,
                    order: r.order("order request")?,
                }
            }
            CANCEL => Record::Cancel {
                sid: r.u32("sid")?,
                id: r.u64("order id")?,
                reason: r.reason("reason")?,
                instrument: r.i32("instrument")?,
            },
            VENUE => Record::Venue { sid: r.u32("sid")?, event: r.event("event")? },
            FAULT => {
                let sid = r.u32("sid")?;
                let n = usize::from(r.u16("fault kind length")?);
                Record::Fault { sid, kind: r.take("fault kind", n)?, message: r.rest() }
            }
            STATE => {
                let at = r.at;
                let code = r.u8("scope")?;
                let target = r.u32("target")?;
                let scope = match (code, target) {
                    (0, s) => Scope::Strategy(s),
                    (1, i) => Scope::Instrument(i),
                    (2, 0) => Scope::Global,
                    (2, t) => return Err(r.bad("target", at + 1, format!("{t}: a global state has target 0"))),
                    (s, _) => return Err(r.bad("scope", at, format!("{s} is not 0, 1 or 2"))),
                };
                let at = r.at;
                let s = r.u8("state")?;
                let state =
                    TradingState::from_code(s).ok_or_else(|| r.bad("state", at, format!("{s} is not 0, 1 or 2")))?;
                Record::State { scope, state, cause: r.rest() }
            }
            LOG => Record::Log { sid: r.u32("sid")?, level: r.i32("level")?, message: r.rest() },
            TIMER => Record::Timer {
                sid: r.u32("sid")?,
                at_ns: r.u64("at_ns")?,
                token: r.u64("token")?,
                result: r.i32("result")?,
            },
            INVALID => Record::Invalid { sid: r.u32("sid")?, error: r.rest() },
            NOTICE => {
                let sid = r.u32("sid")?;
                let at = r.at;
                let n = r.u8("notice")?;
                let notice =
                    NoticeKind::from_code(n).ok_or_else(|| r.bad("notice", at, format!("{n} is not a notice code")))?;
                Record::Notice {
                    sid,
                    notice,
                    instrument: r.u32("instrument")?,
                    qty: r.i64("qty")?,
                    price: r.i64("price")?,
                    amount: r.i64("amount")?,
                    fee: r.i64("fee")?,
                }
            }
            CONFIG => {
                let n = usize::from(r.u16("name length")?);
                Record::Config { name: r.take("name", n)?, bytes: r.rest() }
            }
            ALERT => r.alert()?,
            CHAIN => r.chain()?,
            k => return Err(r.bad("kind", 0, format!("{k} is not a record kind this engine writes"))),
        };
        r.end()?;
        Ok(rec)
    }
}

/// Payloads up to this size ([`ORDER_LEN`], [`VENUE_LEN`]: the records the
/// observer feed carries most) are held inline in a [`RecordBuf`], with no
/// allocation.
const INLINE_LEN: usize = if ORDER_LEN > VENUE_LEN { ORDER_LEN } else { VENUE_LEN };

/// One record's kind and payload bytes, owned: a [`Record`] kept past the
/// buffer it was encoded in (the engine's observer feed carries these).
/// [`RecordBuf::record`] reads it back through [`Record::decode`], so whoever
/// holds one sees exactly the typed record that was journalled.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordBuf {
    kind: u16,
    bytes: Bytes,
}

#[derive(Clone, PartialEq, Eq)]
enum Bytes {
    Inline { len: u8, buf: [u8; INLINE_LEN] },
    Heap(Box<[u8]>),
}

impl RecordBuf {
    /// Copy one record's payload (as written for `kind`).
    pub fn new(kind: u16, payload: &[u8]) -> RecordBuf {
        let bytes = match u8::try_from(payload.len()) {
            Ok(len) if payload.len() <= INLINE_LEN => {
                let mut buf = [0u8; INLINE_LEN];
                buf[..payload.len()].copy_from_slice(payload);
                Bytes::Inline { len, buf }
            }
            _ => Bytes::Heap(payload.into()),
        };
        RecordBuf { kind, bytes }
    }

    /// Encode `rec` into a new buffer.
    pub fn encode(rec: &Record<'_>) -> Result<RecordBuf, EncodeError> {
        let mut v = Vec::new();
        rec.encode_to_vec(&mut v)?;
        Ok(RecordBuf::new(rec.kind(), &v))
    }

    /// The record's kind (`ORDER` …).
    pub const fn kind(&self) -> u16 {
        self.kind
    }

    /// The payload as journalled.
    pub fn payload(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Inline { len, buf } => &buf[..usize::from(*len)],
            Bytes::Heap(b) => b,
        }
    }

    /// The typed record ([`Record::decode`] of kind and payload).
    pub fn record(&self) -> Result<Record<'_>, DecodeError> {
        Record::decode(self.kind, self.payload())
    }
}

impl std::fmt::Debug for RecordBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.record() {
            Ok(r) => r.fmt(f),
            Err(e) => write!(
                f,
                "RecordBuf {{ kind: {}, {} bytes, undecodable: {e} }}",
                kind_name(self.kind),
                self.payload().len()
            ),
        }
    }
}

/// Sequential writer over a slice whose length [`Record::encode`] checked.
struct Wr<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Wr<'_> {
    fn put(&mut self, b: &[u8]) -> &mut Self {
        // In bounds: `encode` sized `out` to `encoded_len`, which counts
        // every byte put here (debug-asserted after each record).
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
        self
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.put(&[v])
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
}

/// Sequential, checked reader of one payload.
struct Rd<'a> {
    kind: &'static str,
    p: &'a [u8],
    at: usize,
}

impl<'a> Rd<'a> {
    fn bad(&self, field: &'static str, offset: usize, problem: String) -> DecodeError {
        DecodeError { kind: self.kind, field, offset, problem }
    }
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        let at = self.at;
        let b = self
            .p
            .get(at..at.saturating_add(n))
            .ok_or_else(|| self.bad(field, at, format!("needs {n} bytes, payload is {} bytes", self.p.len())))?;
        self.at += n;
        Ok(b)
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(field, N)?);
        Ok(a)
    }
    fn rest(&mut self) -> &'a [u8] {
        let b = self.p.get(self.at..).unwrap_or_default();
        self.at = self.p.len();
        b
    }
    fn end(&self) -> Result<(), DecodeError> {
        match self.p.len() - self.at {
            0 => Ok(()),
            n => Err(self.bad("end", self.at, format!("{n} bytes past the end of the layout"))),
        }
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(u8::from_le_bytes(self.array(field)?))
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array(field)?))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }
    fn alert(&mut self) -> Result<Record<'a>, DecodeError> {
        let at = self.at;
        let code = self.u16("rule")?;
        let rule = Rule::from_code(code).ok_or_else(|| self.bad("rule", at, format!("{code} is not a rule code")))?;
        let at = self.at;
        let a = self.u8("action")?;
        let action = AlertAction::from_code(a).ok_or_else(|| self.bad("action", at, format!("{a} is not 0..=3")))?;
        let pad = self.u8("pad")?;
        if pad != 0 {
            return Err(self.bad("pad", self.at - 1, format!("{pad} is not 0")));
        }
        let (sid, other, instrument) = (self.u32("sid")?, self.u32("other")?, self.u32("instrument")?);
        let (window_ns, observed, threshold) = (self.u64("window_ns")?, self.i64("observed")?, self.i64("threshold")?);
        let n = usize::from(self.u16("evidence count")?);
        let orders = self.take("evidence", n * ALERT_ORDER_LEN)?;
        Ok(Record::Alert {
            rule,
            action,
            sid,
            other,
            instrument,
            window_ns,
            observed,
            threshold,
            orders,
            text: self.rest(),
        })
    }
    fn chain(&mut self) -> Result<Record<'a>, DecodeError> {
        let (sid, id) = (self.u32("sid")?, self.u64("intent id")?);
        let at = self.at;
        let c = self.u8("step")?;
        let step = ChainStep::from_code(c).ok_or_else(|| self.bad("step", at, format!("{c} is not 0..=7")))?;
        let pad = self.u8("pad")?;
        if pad != 0 {
            return Err(self.bad("pad", self.at - 1, format!("{pad} is not 0")));
        }
        let reason = self.reason("reason")?;
        let n = usize::from(self.u16("body length")?);
        Ok(Record::Chain { sid, id, step, reason, body: self.take("body", n)?, text: self.rest() })
    }
    fn reason(&mut self, field: &'static str) -> Result<Reason, DecodeError> {
        let at = self.at;
        let code = self.u16(field)?;
        Reason::from_code(code).ok_or_else(|| self.bad(field, at, format!("{code} is not a reason code")))
    }
    fn event(&mut self, field: &'static str) -> Result<Event, DecodeError> {
        let at = self.at;
        let b = self.take(field, EVENT_SIZE)?;
        Event::decode(b).map_err(|e| self.bad(field, at, format!("{e:?}")))
    }
    /// The ABI request as journalled: validated like one from a guest, but
    /// a market order's price is kept (the ABI decoder zeroes it).
    fn order(&mut self, field: &'static str) -> Result<OrderRequest, DecodeError> {
        let at = self.at;
        let b = self.take(field, ORDER_REQUEST_SIZE)?;
        let mut req = OrderRequest::decode(b).map_err(|e| self.bad(field, at, format!("{e:?}")))?;
        if req.order_type == OrderType::Market {
            let mut price = [0u8; 8];
            price.copy_from_slice(&b[ORDER_PRICE_AT..ORDER_PRICE_AT + 8]);
            req.price = i64::from_le_bytes(price);
        }
        Ok(req)
    }
}
