//! # bulkhead-surveillance — patterns across orders, on event time
//!
//! Owns the surveillance rules (MiFID II RTS 6 Art. 13, 15, 16; DESIGN.md
//! §10): what they watch, their thresholds (the `[surveillance]` tables of a
//! strategy policy and of the firm policy, validated here), their state, and
//! the [`Alert`]s they raise with their evidence and the action policy asks
//! for. The engine feeds it what happened — orders decided, cancels asked
//! for, cancels done, fills, quotes — and journals and carries out the
//! alerts it takes back.
//!
//! It must never read a clock (everything runs on the event time it is
//! handed, so a replay raises the same alerts at the same records), talk to
//! a venue or the journal, or grow without bound: every window is a fixed
//! ring or a deque capped by a validated policy field (see the table of
//! bounds in ARCHITECTURE.md), and each rule raises at most one alert per
//! strategy per window (a rule that fired is muted for its window).
//!
//! ## Rules
//!
//! | rule | watches | fires when | policy table |
//! |---|---|---|---|
//! | `spoofing` | large orders (≥ `min_qty`) cancelled unfilled within `max_lifetime_ms` of being placed | `min_cancels` such cancels on one side within `window_ms`, and a fill of the same strategy on the other side within that window | `[surveillance.spoofing]` |
//! | `layering` | the same quick cancels, counting the distinct prices the strategy's large orders on that side rested at, at once | `min_levels` levels in the window, and a fill on the other side | `[surveillance.layering]` |
//! | `quote_stuffing` | messages (orders and cancels asked for, refused ones too) | more than `max_messages` within `window_ms` | `[surveillance.quote_stuffing]` |
//! | `order_to_trade` | messages per fill | ratio above `max_order_to_trade` once `min_messages` were sent in `window_ms` | `[surveillance.quote_stuffing]` |
//! | `wash_trade` | fills of different strategies of the firm | opposite sides, one taker and one maker, same instrument, same quantity, prices within `price_ticks`, within `window_ms` (firm policy only) | `[surveillance.wash_trade]` |
//! | `momentum_ignition` | taker fills | `min_aggressive_fills` on one side within `window_ms` while the mid moved `min_move_ticks` their way, then a maker fill on the other side within `follow_ms` | `[surveillance.momentum_ignition]` |
//! | `runaway_fills` | fills | more than `max_fills` within `window_ms` | `[surveillance.runaway]` |
//! | `runaway_position` | net filled quantity per instrument | \|change\| above `max_position_change` within `window_ms` | `[surveillance.runaway]` |
//! | `runaway_loss` | PnL (realised + unrealised at the mid, or the last trade) | a fall above `max_loss` from the window's high within `window_ms` | `[surveillance.runaway]` |
//! | `repeated_execution` | fills per instrument and side | `fills` of them within `window_ms`: the strategy is disabled until an operator re-enables it (RTS 6 Art. 15) | `[surveillance.repeated_execution]` |
//! | `cancel_on_disconnect` | host calls of a strategy with open orders | none for `max_silence_ms` of event time: its orders are cancelled, then `action` (default `alert`) | `[surveillance.cancel_on_disconnect]` |
//! | `unevaluable` | a rule that needs a reference it does not have (a mid for `momentum_ignition`, a price for `runaway_loss`) | once per strategy and rule; halts the strategy unless `on_unevaluable = "alert"` | `[surveillance]` |
//!
//! A strategy's own table wins; a rule it does not set falls back to the
//! firm policy's table of the same name (firm-wide defaults). `wash_trade`
//! is firm-wide only.

mod policy;
mod state;
mod window;

pub use policy::{
    FirmSurveillance, Layering, Liveness, MomentumIgnition, OnUnevaluable, QuoteStuffing, RepeatedExecution, Rules,
    Runaway, Spoofing, StrategySurveillance, WashTrade,
};
pub use state::Surveillance;

use bulkhead_model::Side;

/// Most order ids one alert carries as evidence (the first ones of its window).
pub const MAX_EVIDENCE: usize = 16;

/// What an alert asks the engine to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertAction {
    /// Journal and show it; nothing else.
    Alert,
    /// The strategy goes to REDUCING and its open orders are cancelled.
    Reduce,
    /// The strategy is HALTED and its open orders are cancelled.
    Halt,
    /// As `Halt`, and only an operator's journalled `resume` lifts it
    /// (the supervisor never does): RTS 6 Art. 15.
    Disable,
}

impl AlertAction {
    pub const ALL: [AlertAction; 4] =
        [AlertAction::Alert, AlertAction::Reduce, AlertAction::Halt, AlertAction::Disable];
    pub const fn code(self) -> u8 {
        match self {
            AlertAction::Alert => 0,
            AlertAction::Reduce => 1,
            AlertAction::Halt => 2,
            AlertAction::Disable => 3,
        }
    }
    pub fn from_code(code: u8) -> Option<AlertAction> {
        AlertAction::ALL.into_iter().find(|a| a.code() == code)
    }
    pub const fn name(self) -> &'static str {
        match self {
            AlertAction::Alert => "alert",
            AlertAction::Reduce => "reduce",
            AlertAction::Halt => "halt",
            AlertAction::Disable => "disable",
        }
    }
}

/// The rule an alert comes from (codes are journalled: append only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    Spoofing,
    Layering,
    QuoteStuffing,
    OrderToTrade,
    WashTrade,
    MomentumIgnition,
    RunawayFills,
    RunawayPosition,
    RunawayLoss,
    RepeatedExecution,
    Unevaluable,
    /// An operator's dead-man switch (or a strategy's liveness) was lost:
    /// raised by the engine, not by a rule here.
    CancelOnDisconnect,
    /// A mined smart-contract call changed the account differently from its
    /// simulation (front-run / sandwich): raised by the engine.
    ChainDeviation,
}

impl Rule {
    pub const ALL: [Rule; 13] = [
        Rule::Spoofing,
        Rule::Layering,
        Rule::QuoteStuffing,
        Rule::OrderToTrade,
        Rule::WashTrade,
        Rule::MomentumIgnition,
        Rule::RunawayFills,
        Rule::RunawayPosition,
        Rule::RunawayLoss,
        Rule::RepeatedExecution,
        Rule::Unevaluable,
        Rule::CancelOnDisconnect,
        Rule::ChainDeviation,
    ];
    pub const fn code(self) -> u16 {
        match self {
            Rule::Spoofing => 1,
            Rule::Layering => 2,
            Rule::QuoteStuffing => 3,
            Rule::OrderToTrade => 4,
            Rule::WashTrade => 5,
            Rule::MomentumIgnition => 6,
            Rule::RunawayFills => 7,
            Rule::RunawayPosition => 8,
            Rule::RunawayLoss => 9,
            Rule::RepeatedExecution => 10,
            Rule::Unevaluable => 11,
            Rule::CancelOnDisconnect => 12,
            Rule::ChainDeviation => 13,
        }
    }
    pub fn from_code(code: u16) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.code() == code)
    }
    pub const fn name(self) -> &'static str {
        match self {
            Rule::Spoofing => "spoofing",
            Rule::Layering => "layering",
            Rule::QuoteStuffing => "quote_stuffing",
            Rule::OrderToTrade => "order_to_trade",
            Rule::WashTrade => "wash_trade",
            Rule::MomentumIgnition => "momentum_ignition",
            Rule::RunawayFills => "runaway_fills",
            Rule::RunawayPosition => "runaway_position",
            Rule::RunawayLoss => "runaway_loss",
            Rule::RepeatedExecution => "repeated_execution",
            Rule::Unevaluable => "unevaluable",
            Rule::CancelOnDisconnect => "cancel_on_disconnect",
            Rule::ChainDeviation => "chain_deviation",
        }
    }
    /// Index into per-rule tables.
    pub(crate) const fn index(self) -> usize {
        self.code() as usize - 1
    }
}

/// One order named as evidence: the strategy and its own (scoped) order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRef {
    pub sid: u32,
    pub id: u64,
}

/// A rule fired. Everything needed to judge it later is here: the rule, who,
/// the window, the figure against its threshold, the orders, and the action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub rule: Rule,
    pub action: AlertAction,
    /// Event time it fired at.
    pub ts_ns: u64,
    /// The strategy it is about.
    pub sid: u32,
    /// The other strategy of a wash trade (the action applies to it too).
    pub other: Option<u32>,
    /// Instrument id; `None` = all of the strategy's.
    pub instrument: Option<u32>,
    /// The window the figure was measured over, ns.
    pub window_ns: u64,
    /// The figure measured (count, lots, money units, or ratio × 100, see `text`).
    pub observed: i64,
    /// The threshold it crossed, in the same unit.
    pub threshold: i64,
    /// The first [`MAX_EVIDENCE`] orders of the pattern.
    pub orders: Vec<OrderRef>,
    /// One line a person reads: the figures with their units.
    pub text: String,
}

/// An order the engine decided on (risk accepted or refused it).
#[derive(Clone, Copy, Debug)]
pub struct OrderSeen {
    pub sid: u32,
    /// The strategy-scoped id.
    pub id: u64,
    pub instrument: u32,
    pub side: Side,
    /// Limit price in ticks; 0 for a market order.
    pub price: i64,
    pub qty: i64,
    pub accepted: bool,
}

/// A fill the venue reported to a strategy.
#[derive(Clone, Copy, Debug)]
pub struct FillSeen {
    pub sid: u32,
    pub id: u64,
    pub instrument: u32,
    pub side: Side,
    pub price: i64,
    pub qty: i64,
    pub maker: bool,
    /// Fee paid (negative = rebate), money units.
    pub fee: i64,
    /// Open quantity of the order after this fill.
    pub remaining: i64,
}
