//! Venue configuration and the notices the venue emits besides order events.

use bulkhead_model::Decimal;
use serde::{Deserialize, Serialize};

use crate::{FeeSchedule, Side};

/// Self-trade prevention when an incoming order would match a resting order
/// of the same account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StpMode {
    /// The incoming order's remainder is cancelled (`SelfTrade`); the resting
    /// order stays.
    #[default]
    CancelNewest,
    /// The resting own order is cancelled (`SelfTrade`) and matching
    /// continues with the next order in priority.
    CancelOldest,
    /// Both the resting own order and the incoming remainder are cancelled.
    CancelBoth,
}

/// Where a non-option instrument's mark price comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkSource {
    /// Mid of the last market quote, `(bid + ask) / 2` truncated; one side
    /// only → that side; no quote → last trade price; nothing → no mark.
    #[default]
    Mid,
    /// Index (`SimVenue::set_index`) plus basis (`SimVenue::set_basis`, default 0).
    IndexPlusBasis,
    /// Only what `SimVenue::set_mark` provides (e.g. a data feed's mark price).
    External,
}

/// One venue's configuration (serde: every field optional).
///
/// ```toml
/// [[venues]]
/// name = "deribit-sim"
/// fees = { maker_ppm = -100, taker_ppm = 500 }
/// stp = "cancel_oldest"
/// order_latency_ns = 2000000   # 2 ms to reach the book
/// md_latency_ns = 1000000      # 1 ms for data to reach the strategy
/// mark = "mid"
/// liquidation_fee_ppm = 5000
/// option_fee_cap_ppm = 125000  # option fee ≤ 12.5 % of premium
/// rate = 0.0
/// default_vol = 0.6
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VenueConfig {
    pub name: String,
    pub fees: FeeSchedule,
    pub stp: StpMode,
    /// Order-entry latency: decision → book.
    pub order_latency_ns: u64,
    /// Market-data latency: exchange event → strategy. See crate docs "Latency".
    pub md_latency_ns: u64,
    pub mark: MarkSource,
    /// Fee charged on liquidation closes, ppm of the closed notional.
    pub liquidation_fee_ppm: i64,
    /// Option fee cap, ppm of the premium notional (Deribit: 12.5 % = 125_000).
    pub option_fee_cap_ppm: i64,
    /// Continuously compounded rate for Black-76 option marks.
    pub rate: f64,
    /// Volatility for expiries without a `set_vol` (None: such options have no mark).
    pub default_vol: Option<f64>,
}

impl Default for VenueConfig {
    fn default() -> Self {
        VenueConfig {
            name: "sim".to_string(),
            fees: FeeSchedule::default(),
            stp: StpMode::CancelNewest,
            order_latency_ns: 0,
            md_latency_ns: 0,
            mark: MarkSource::Mid,
            liquidation_fee_ppm: 0,
            option_fee_cap_ppm: 125_000,
            rate: 0.0,
            default_vol: None,
        }
    }
}

/// Account-level events that are not order events: drained with
/// `SimVenue::take_notices`, in the order they happened. Money in money units
/// of the instrument's settlement currency (see `bulkhead-model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VenueNotice {
    /// Funding exchanged at funding time `ts_ns` for a position of `qty` lots.
    /// `amount` > 0 received, < 0 paid; already in `Position::realised` and
    /// `Position::funding`.
    Funding { ts_ns: u64, account: u32, instrument: u32, qty: i64, mark: i64, rate: Decimal, amount: i64 },
    /// A position closed by liquidation at `price` (the mark): `side` is the
    /// closing side, `pnl` the PnL realised by the close, `fee` the liquidation
    /// fee. `equity` and `maintenance` are the account figures that triggered it.
    Liquidation {
        ts_ns: u64,
        account: u32,
        instrument: u32,
        side: Side,
        qty: i64,
        price: i64,
        fee: i64,
        pnl: i64,
        equity: i64,
        maintenance: i64,
    },
    /// A position of `qty` lots closed by expiry settlement at `price` ticks.
    Settlement { ts_ns: u64, account: u32, instrument: u32, qty: i64, price: i64, pnl: i64 },
    /// The instrument expired and settled at `price` ticks (after its Settlement notices).
    InstrumentSettled { ts_ns: u64, instrument: u32, price: i64 },
}
