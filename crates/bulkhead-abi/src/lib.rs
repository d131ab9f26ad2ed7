//! # bulkhead-abi — the wire contract between a sandboxed strategy and the host
//!
//! Owns: the ABI version, the fixed-layout little-endian records that cross the
//! sandbox boundary (events in, order requests out, position / open-order
//! snapshots), the names and signatures of the host imports and guest exports,
//! and the stable result and reason codes.
//!
//! Must never: depend on anything but `core`, allocate, or know how the host
//! or the guest is implemented. Every decoder here is total: it takes untrusted
//! bytes and returns a typed error naming the offending field instead of
//! panicking.
//!
//! ## Calling convention (ABI version 1)
//! A strategy is a core wasm module with no WASI. It exports:
//! - `memory`
//! - `bulkhead_abi_version() -> i32` — must return [`ABI_VERSION`]
//! - `bulkhead_buffer(len: i32) -> i32` — returns a pointer to a guest-owned
//!   buffer of at least `len` bytes; the host writes config bytes and event
//!   batches there (the host bounds-checks the pointer before every use)
//! - `bulkhead_init(len: i32) -> i32` — config bytes are in the buffer; 0 = ok
//! - `bulkhead_on_events(count: i32) -> i32` — `count` [`Event`] records of
//!   [`EVENT_SIZE`] bytes are in the buffer; 0 = ok
//!
//! It may import only these functions from module [`IMPORT_MODULE`]:
//! | name | signature | result |
//! |---|---|---|
//! | `submit_order` | `(ptr: i32, len: i32) -> i64` | order id (> 0) or `-(reason code)` |
//! | `cancel_order` | `(id: i64) -> i32` | [`ResultCode`] |
//! | `cancel_all` | `(instrument: i32) -> i32` | number of cancels requested, or `-(ResultCode)`; instrument `-1` = all |
//! | `position` | `(instrument: i32, out_ptr: i32) -> i32` | [`ResultCode`]; writes a [`PositionRecord`] |
//! | `open_orders` | `(out_ptr: i32, max: i32) -> i32` | total open orders (writes at most `max` [`OpenOrderRecord`]s) or `-(ResultCode)` |
//! | `set_timer` | `(at_ns: i64, token: i64) -> i32` | [`ResultCode`] |
//! | `log` | `(level: i32, ptr: i32, len: i32) -> i32` | [`ResultCode`] |
//! | `chain_call` | `(ptr: i32, len: i32) -> i64` | intent id (> 0) or `-(reason code)`; takes a [`ChainIntent`] (appended by issue 17) |
//!
//! ## Versioning rule
//! [`ABI_VERSION`] changes only when an existing record layout, import,
//! export or the meaning of an existing field or code changes. Appending is
//! not a version change: new [`EventKind`]s and [`Reason`] codes get new
//! numbers (never reused or renumbered), and a guest must ignore an event
//! kind it does not know. [`Event::decode`] reports such a record as
//! [`DecodeError`] on field `kind` ([`DecodeError::is_unknown_kind`]);
//! `bulkhead-sdk` skips those silently (other malformed records are counted
//! and logged). Market kinds appended after version 1 shipped (`BookLevel`,
//! `BookClear`, `Ticker`) reach a strategy only when the run opts in (see
//! `bulkhead-engine`'s `[data] strategy_book_levels`), so a guest built with
//! an older SDK (which logs unknown kinds as malformed) sees exactly what it
//! saw before by default.
//!
//! All integers are little-endian. Prices are integer ticks of the
//! instrument, quantities integer lots, money in 1e-8 units of the quote
//! currency, times in nanoseconds of event time.
#![no_std]
#![forbid(unsafe_code)]

/// The ABI version a module must report from `bulkhead_abi_version`.
pub const ABI_VERSION: i32 = 1;

/// Import module name for every host function.
pub const IMPORT_MODULE: &str = "bulkhead";

/// Wasm value types used in the import table (kept host-agnostic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValType {
    I32,
    I64,
}

/// One host import: name, params and results.
#[derive(Clone, Copy, Debug)]
pub struct ImportSig {
    pub name: &'static str,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
}

use ValType::{I32, I64};

/// The complete list of host functions a strategy may import.
pub const IMPORTS: &[ImportSig] = &[
    ImportSig { name: "submit_order", params: &[I32, I32], results: &[I64] },
    ImportSig { name: "cancel_order", params: &[I64], results: &[I32] },
    ImportSig { name: "cancel_all", params: &[I32], results: &[I32] },
    ImportSig { name: "position", params: &[I32, I32], results: &[I32] },
    ImportSig { name: "open_orders", params: &[I32, I32], results: &[I32] },
    ImportSig { name: "set_timer", params: &[I64, I64], results: &[I32] },
    ImportSig { name: "log", params: &[I32, I32, I32], results: &[I32] },
    // --- appended by issue 17 ---
    ImportSig { name: "chain_call", params: &[I32, I32], results: &[I64] },
];

/// Guest exports the host requires, with their signatures.
pub const EXPORTS: &[ImportSig] = &[
    ImportSig { name: "bulkhead_abi_version", params: &[], results: &[I32] },
    ImportSig { name: "bulkhead_buffer", params: &[I32], results: &[I32] },
    ImportSig { name: "bulkhead_init", params: &[I32], results: &[I32] },
    ImportSig { name: "bulkhead_on_events", params: &[I32], results: &[I32] },
];

/// Name of the exported linear memory.
pub const EXPORT_MEMORY: &str = "memory";

/// Largest batch of events the host writes in one `bulkhead_on_events` call.
pub const MAX_BATCH: usize = 256;
/// Largest config blob handed to `bulkhead_init`.
pub const MAX_CONFIG_LEN: usize = 64 * 1024;

/// Result of a host call (non-negative codes; host calls return `-(code)`
/// where a count or id is otherwise expected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ResultCode {
    Ok = 0,
    /// The record failed validation (bad enum value, non-positive quantity, …).
    InvalidRecord = 1,
    /// Unknown order id: not this strategy's, or no longer open.
    UnknownOrder = 2,
    /// Unknown instrument id.
    UnknownInstrument = 3,
    /// The request was refused by pre-trade risk (the order path returns the
    /// specific [`Reason`] instead).
    Rejected = 4,
    /// A timer is already pending at the maximum count.
    TooManyTimers = 5,
    /// The timer is in the past.
    TimerInPast = 6,
}

impl ResultCode {
    pub const fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            0 => Self::Ok,
            1 => Self::InvalidRecord,
            2 => Self::UnknownOrder,
            3 => Self::UnknownInstrument,
            4 => Self::Rejected,
            5 => Self::TooManyTimers,
            6 => Self::TimerInPast,
            _ => return None,
        })
    }
}

/// Stable reason codes for every accept, reject and cancel. The number is the
/// contract (journalled and sent to strategies); the name is for humans.
/// Risk codes are `id*100 + n` for control `Rid` of DESIGN.md §4; venue codes
/// are 9xxx; sandbox-side validation codes are 8xxx.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum Reason {
    Accepted = 0,
    // R1 capability allowlist
    InstrumentNotAllowed = 101,
    SideNotAllowed = 102,
    OrderTypeNotAllowed = 103,
    TimeInForceNotAllowed = 104,
    // R2 size
    MaxOrderQty = 201,
    MaxOrderNotional = 202,
    // R3 collar
    PriceCollar = 301,
    NoReferencePrice = 302,
    // R4 position / exposure
    MaxPosition = 401,
    MaxGrossNotional = 402,
    MaxNetNotional = 403,
    // R5 throttles
    MaxOpenOrders = 501,
    OrderRateThrottle = 502,
    MessageRateThrottle = 503,
    // R11 kill switches / trading states
    StrategyHalted = 1101,
    InstrumentHalted = 1102,
    GlobalHalted = 1103,
    ReducingOnly = 1104,
    // Sandbox-side validation
    InvalidOrder = 8001,
    // Venue
    PostOnlyWouldCross = 9001,
    FokNotFilled = 9002,
    ReduceOnlyWouldIncrease = 9003,
    NoLiquidity = 9004,
    UnknownInstrument = 9005,
    BadPriceOrQty = 9006,
    SelfTrade = 9007,
    // Cancel causes (carried in ORDER_CANCELLED events)
    CancelledByStrategy = 9101,
    IocRemainder = 9102,
    CancelledOnFault = 9103,
    CancelledByKillSwitch = 9104,
    CancelledAtEnd = 9105,
    // --- appended by issue 4 (risk R5 firm, R6–R10, R12–R14); never renumber ---
    // R5 firm-wide throttles
    FirmOrderRateThrottle = 504,
    FirmMessageRateThrottle = 505,
    // R6 duplicate orders
    DuplicateOrder = 601,
    // R7 self-trade prevention
    SelfTradePrevented = 701,
    /// Cancel cause of a resting order removed by self-trade prevention.
    CancelledBySelfTradePrevention = 702,
    // R8 loss limit (causes of trading-state transitions)
    LossLimitReducing = 801,
    LossLimitHalted = 802,
    // R9 options
    MaxPortfolioDelta = 901,
    MaxPortfolioVega = 902,
    MaxExpiryNotional = 903,
    NoGreeks = 904,
    // R10 margin
    InitialMargin = 1001,
    // R11 kill switch (cause of a mass cancel / transition)
    KillSwitch = 1105,
    // R12 firm-wide aggregates
    FirmMaxPosition = 1201,
    FirmGrossNotional = 1202,
    FirmNetNotional = 1203,
    // R13 market-data reasonability
    StaleReference = 1301,
    PriceJump = 1302,
    // R14 market-maker protection (cause of freeze + cancel of the quotes)
    MarketMakerProtection = 1401,
    // --- appended by issue 5 (venue: derivatives); never renumber ---
    InstrumentExpired = 9008,
    BelowMinNotional = 9009,
    InsufficientMargin = 9010,
    CancelledByLiquidation = 9106,
    CancelledAtExpiry = 9107,
    // --- appended by issue 16 (surveillance); never renumber ---
    /// A surveillance rule's action (reduce / halt / disable) and the
    /// cancel of the strategy's orders it causes.
    Surveillance = 1501,
    /// Cancelled because a dead-man switch or a strategy's liveness was lost.
    CancelledOnDisconnect = 9108,
    // --- appended by issue 17 (smart-contract intents); never renumber ---
    /// The intent record failed validation (the journal names the field).
    ChainMalformed = 1601,
    /// No `[chain]` policy for this strategy, or no chain in the run: refused.
    ChainNoPolicy = 1602,
    /// The contract (by configured name) is not in the strategy's scope.
    ChainContractNotAllowed = 1603,
    /// The contract is allowed, this function (selector) is not.
    ChainFunctionNotAllowed = 1604,
    /// A parameter breaks its condition (eq, one of, <=, >=, self, allowance).
    ChainParamNotAllowed = 1605,
    /// Native value above the policy's cap.
    ChainValueCap = 1606,
    /// Estimated or simulated gas above the policy's cap.
    ChainGasCap = 1607,
    /// A `deadline` parameter further out than the policy allows (or past).
    ChainDeadline = 1608,
    /// `amountOutMin` looser than the policy's slippage bound against on-chain reserves.
    ChainSlippage = 1609,
    /// An approval to a spender outside policy, or above its cap (no unlimited approve).
    ChainApproval = 1610,
    /// The token outflow would exceed what is left of its allowance this period.
    ChainAllowance = 1611,
    /// More intents per second of event time than the policy allows, or too many in flight.
    ChainRate = 1612,
    /// The simulation reverted.
    ChainSimulationReverted = 1613,
    /// The simulated state change breaks a post-condition (an outflow, allowance or
    /// native transfer the policy does not cover).
    ChainPostCondition = 1614,
    /// The node is down, slow or erred: new intents are refused, nothing half-sent.
    ChainUnavailable = 1615,
    /// The strategy's chain access is halted (kill switch or a deviation alert).
    ChainHalted = 1616,
    /// The mined state change differs from the simulation beyond tolerance.
    ChainDeviation = 1617,
    // --- appended by issue 18 (NATS JetStream cluster); never renumber ---
    /// The node's journal mirror (JetStream) did not acknowledge the records
    /// deciding this order within the cluster's ack timeout, or is behind:
    /// the order is refused, never released before its decision is replicated.
    ClusterUnavailable = 1701,
}

impl Reason {
    pub const ALL: &'static [Reason] = &[
        Reason::Accepted,
        Reason::InstrumentNotAllowed,
        Reason::SideNotAllowed,
        Reason::OrderTypeNotAllowed,
        Reason::TimeInForceNotAllowed,
        Reason::MaxOrderQty,
        Reason::MaxOrderNotional,
        Reason::PriceCollar,
        Reason::NoReferencePrice,
        Reason::MaxPosition,
        Reason::MaxGrossNotional,
        Reason::MaxNetNotional,
        Reason::MaxOpenOrders,
        Reason::OrderRateThrottle,
        Reason::MessageRateThrottle,
        Reason::StrategyHalted,
        Reason::InstrumentHalted,
        Reason::GlobalHalted,
        Reason::ReducingOnly,
        Reason::InvalidOrder,
        Reason::PostOnlyWouldCross,
        Reason::FokNotFilled,
        Reason::ReduceOnlyWouldIncrease,
        Reason::NoLiquidity,
        Reason::UnknownInstrument,
        Reason::BadPriceOrQty,
        Reason::SelfTrade,
        Reason::CancelledByStrategy,
        Reason::IocRemainder,
        Reason::CancelledOnFault,
        Reason::CancelledByKillSwitch,
        Reason::CancelledAtEnd,
        Reason::FirmOrderRateThrottle,
        Reason::FirmMessageRateThrottle,
        Reason::DuplicateOrder,
        Reason::SelfTradePrevented,
        Reason::CancelledBySelfTradePrevention,
        Reason::LossLimitReducing,
        Reason::LossLimitHalted,
        Reason::MaxPortfolioDelta,
        Reason::MaxPortfolioVega,
        Reason::MaxExpiryNotional,
        Reason::NoGreeks,
        Reason::InitialMargin,
        Reason::KillSwitch,
        Reason::FirmMaxPosition,
        Reason::FirmGrossNotional,
        Reason::FirmNetNotional,
        Reason::StaleReference,
        Reason::PriceJump,
        Reason::MarketMakerProtection,
        Reason::InstrumentExpired,
        Reason::BelowMinNotional,
        Reason::InsufficientMargin,
        Reason::CancelledByLiquidation,
        Reason::CancelledAtExpiry,
        Reason::Surveillance,
        Reason::CancelledOnDisconnect,
        Reason::ChainMalformed,
        Reason::ChainNoPolicy,
        Reason::ChainContractNotAllowed,
        Reason::ChainFunctionNotAllowed,
        Reason::ChainParamNotAllowed,
        Reason::ChainValueCap,
        Reason::ChainGasCap,
        Reason::ChainDeadline,
        Reason::ChainSlippage,
        Reason::ChainApproval,
        Reason::ChainAllowance,
        Reason::ChainRate,
        Reason::ChainSimulationReverted,
        Reason::ChainPostCondition,
        Reason::ChainUnavailable,
        Reason::ChainHalted,
        Reason::ChainDeviation,
        Reason::ClusterUnavailable,
    ];

    pub const fn code(self) -> u16 {
        self as u16
    }

    pub fn from_code(code: u16) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.code() == code)
    }

    /// Short stable name, e.g. `R2_MAX_ORDER_QTY`.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Accepted => "ACCEPTED",
            Reason::InstrumentNotAllowed => "R1_INSTRUMENT_NOT_ALLOWED",
            Reason::SideNotAllowed => "R1_SIDE_NOT_ALLOWED",
            Reason::OrderTypeNotAllowed => "R1_ORDER_TYPE_NOT_ALLOWED",
            Reason::TimeInForceNotAllowed => "R1_TIF_NOT_ALLOWED",
            Reason::MaxOrderQty => "R2_MAX_ORDER_QTY",
            Reason::MaxOrderNotional => "R2_MAX_ORDER_NOTIONAL",
            Reason::PriceCollar => "R3_PRICE_COLLAR",
            Reason::NoReferencePrice => "R3_NO_REFERENCE_PRICE",
            Reason::MaxPosition => "R4_MAX_POSITION",
            Reason::MaxGrossNotional => "R4_MAX_GROSS_NOTIONAL",
            Reason::MaxNetNotional => "R4_MAX_NET_NOTIONAL",
            Reason::MaxOpenOrders => "R5_MAX_OPEN_ORDERS",
            Reason::OrderRateThrottle => "R5_ORDER_RATE",
            Reason::MessageRateThrottle => "R5_MESSAGE_RATE",
            Reason::StrategyHalted => "R11_STRATEGY_HALTED",
            Reason::InstrumentHalted => "R11_INSTRUMENT_HALTED",
            Reason::GlobalHalted => "R11_GLOBAL_HALTED",
            Reason::ReducingOnly => "R11_REDUCING_ONLY",
            Reason::InvalidOrder => "SBX_INVALID_ORDER",
            Reason::PostOnlyWouldCross => "VENUE_POST_ONLY_WOULD_CROSS",
            Reason::FokNotFilled => "VENUE_FOK_NOT_FILLED",
            Reason::ReduceOnlyWouldIncrease => "VENUE_REDUCE_ONLY",
            Reason::NoLiquidity => "VENUE_NO_LIQUIDITY",
            Reason::UnknownInstrument => "VENUE_UNKNOWN_INSTRUMENT",
            Reason::BadPriceOrQty => "VENUE_BAD_PRICE_OR_QTY",
            Reason::SelfTrade => "VENUE_SELF_TRADE",
            Reason::CancelledByStrategy => "CANCEL_BY_STRATEGY",
            Reason::IocRemainder => "CANCEL_IOC_REMAINDER",
            Reason::CancelledOnFault => "CANCEL_ON_FAULT",
            Reason::CancelledByKillSwitch => "CANCEL_KILL_SWITCH",
            Reason::CancelledAtEnd => "CANCEL_AT_END",
            Reason::FirmOrderRateThrottle => "R5_FIRM_ORDER_RATE",
            Reason::FirmMessageRateThrottle => "R5_FIRM_MESSAGE_RATE",
            Reason::DuplicateOrder => "R6_DUPLICATE_ORDER",
            Reason::SelfTradePrevented => "R7_SELF_TRADE",
            Reason::CancelledBySelfTradePrevention => "R7_CANCEL_SELF_TRADE",
            Reason::LossLimitReducing => "R8_LOSS_LIMIT_REDUCING",
            Reason::LossLimitHalted => "R8_LOSS_LIMIT_HALTED",
            Reason::MaxPortfolioDelta => "R9_MAX_DELTA",
            Reason::MaxPortfolioVega => "R9_MAX_VEGA",
            Reason::MaxExpiryNotional => "R9_MAX_EXPIRY_NOTIONAL",
            Reason::NoGreeks => "R9_NO_GREEKS",
            Reason::InitialMargin => "R10_INITIAL_MARGIN",
            Reason::KillSwitch => "R11_KILL_SWITCH",
            Reason::FirmMaxPosition => "R12_FIRM_MAX_POSITION",
            Reason::FirmGrossNotional => "R12_FIRM_GROSS_NOTIONAL",
            Reason::FirmNetNotional => "R12_FIRM_NET_NOTIONAL",
            Reason::StaleReference => "R13_STALE_REFERENCE",
            Reason::PriceJump => "R13_PRICE_JUMP",
            Reason::MarketMakerProtection => "R14_MMP_TRIGGERED",
            Reason::InstrumentExpired => "VENUE_INSTRUMENT_EXPIRED",
            Reason::BelowMinNotional => "VENUE_BELOW_MIN_NOTIONAL",
            Reason::InsufficientMargin => "VENUE_INSUFFICIENT_MARGIN",
            Reason::CancelledByLiquidation => "CANCEL_LIQUIDATION",
            Reason::CancelledAtExpiry => "CANCEL_AT_EXPIRY",
            Reason::Surveillance => "S1_SURVEILLANCE",
            Reason::CancelledOnDisconnect => "CANCEL_ON_DISCONNECT",
            Reason::ChainMalformed => "CHAIN_MALFORMED",
            Reason::ChainNoPolicy => "CHAIN_NO_POLICY",
            Reason::ChainContractNotAllowed => "CHAIN_CONTRACT_NOT_ALLOWED",
            Reason::ChainFunctionNotAllowed => "CHAIN_FUNCTION_NOT_ALLOWED",
            Reason::ChainParamNotAllowed => "CHAIN_PARAM_NOT_ALLOWED",
            Reason::ChainValueCap => "CHAIN_VALUE_CAP",
            Reason::ChainGasCap => "CHAIN_GAS_CAP",
            Reason::ChainDeadline => "CHAIN_DEADLINE",
            Reason::ChainSlippage => "CHAIN_SLIPPAGE",
            Reason::ChainApproval => "CHAIN_APPROVAL",
            Reason::ChainAllowance => "CHAIN_ALLOWANCE",
            Reason::ChainRate => "CHAIN_RATE",
            Reason::ChainSimulationReverted => "CHAIN_SIMULATION_REVERTED",
            Reason::ChainPostCondition => "CHAIN_POST_CONDITION",
            Reason::ChainUnavailable => "CHAIN_UNAVAILABLE",
            Reason::ChainHalted => "CHAIN_HALTED",
            Reason::ChainDeviation => "CHAIN_DEVIATION",
            Reason::ClusterUnavailable => "CLUSTER_UNAVAILABLE",
        }
    }
}

/// Decoding error: names the field and its byte offset inside the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub field: &'static str,
    pub offset: usize,
    pub problem: &'static str,
}

impl DecodeError {
    /// The record is well-formed but its kind is newer than this decoder
    /// (guests must skip it silently; see "Versioning rule").
    pub const fn is_unknown_kind(&self) -> bool {
        self.offset == 0 && matches!(self.field.as_bytes(), b"kind")
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "field `{}` at byte {}: {}", self.field, self.offset, self.problem)
    }
}

#[inline]
fn rd_u16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
#[inline]
fn rd_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
#[inline]
fn rd_u64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
#[inline]
fn rd_i64(b: &[u8], o: usize) -> i64 {
    rd_u64(b, o) as i64
}
#[inline]
fn wr(b: &mut [u8], o: usize, v: &[u8]) {
    b[o..o + v.len()].copy_from_slice(v);
}

/// Order side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Side {
    Buy = 1,
    Sell = 2,
}

impl Side {
    pub const fn from_u8(v: u8) -> Option<Side> {
        match v {
            1 => Some(Side::Buy),
            2 => Some(Side::Sell),
            _ => None,
        }
    }
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// +1 for buy, -1 for sell.
    pub const fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// Order type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderType {
    Limit = 1,
    Market = 2,
}

impl OrderType {
    pub const fn from_u8(v: u8) -> Option<OrderType> {
        match v {
            1 => Some(OrderType::Limit),
            2 => Some(OrderType::Market),
            _ => None,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            OrderType::Limit => "limit",
            OrderType::Market => "market",
        }
    }
}

/// Time in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimeInForce {
    /// Good till cancelled: the remainder rests on the book.
    Gtc = 1,
    /// Immediate or cancel: fill what can be filled now, cancel the rest.
    Ioc = 2,
    /// Fill or kill: fill entirely now or not at all.
    Fok = 3,
    /// Post only: rest as maker or be rejected if it would take.
    PostOnly = 4,
}

impl TimeInForce {
    pub const fn from_u8(v: u8) -> Option<TimeInForce> {
        match v {
            1 => Some(TimeInForce::Gtc),
            2 => Some(TimeInForce::Ioc),
            3 => Some(TimeInForce::Fok),
            4 => Some(TimeInForce::PostOnly),
            _ => None,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "gtc",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
            TimeInForce::PostOnly => "post_only",
        }
    }
}

/// Size in bytes of an [`OrderRequest`] on the wire.
pub const ORDER_REQUEST_SIZE: usize = 32;

/// An order a strategy asks the host to submit.
///
/// Layout (32 bytes): `instrument u32 @0, side u8 @4, order_type u8 @5,
/// tif u8 @6, flags u8 @7 (bit0 = reduce-only, other bits must be 0),
/// price i64 @8 (ticks; ignored for market orders), qty i64 @16 (lots, > 0),
/// tag u64 @24 (opaque to the host, echoed in every event about the order)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    pub instrument: u32,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    pub price: i64,
    pub qty: i64,
    pub tag: u64,
}

pub const FLAG_REDUCE_ONLY: u8 = 1;

impl OrderRequest {
    pub fn encode(&self) -> [u8; ORDER_REQUEST_SIZE] {
        let mut b = [0u8; ORDER_REQUEST_SIZE];
        wr(&mut b, 0, &self.instrument.to_le_bytes());
        b[4] = self.side as u8;
        b[5] = self.order_type as u8;
        b[6] = self.tif as u8;
        b[7] = if self.reduce_only { FLAG_REDUCE_ONLY } else { 0 };
        wr(&mut b, 8, &self.price.to_le_bytes());
        wr(&mut b, 16, &self.qty.to_le_bytes());
        wr(&mut b, 24, &self.tag.to_le_bytes());
        b
    }

    /// Decode and validate untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<OrderRequest, DecodeError> {
        if b.len() != ORDER_REQUEST_SIZE {
            return Err(DecodeError { field: "length", offset: 0, problem: "order request must be exactly 32 bytes" });
        }
        let side = Side::from_u8(b[4]).ok_or(DecodeError {
            field: "side",
            offset: 4,
            problem: "must be 1 (buy) or 2 (sell)",
        })?;
        let order_type = OrderType::from_u8(b[5]).ok_or(DecodeError {
            field: "order_type",
            offset: 5,
            problem: "must be 1 (limit) or 2 (market)",
        })?;
        let tif = TimeInForce::from_u8(b[6]).ok_or(DecodeError {
            field: "tif",
            offset: 6,
            problem: "must be 1..=4 (gtc, ioc, fok, post_only)",
        })?;
        if b[7] & !FLAG_REDUCE_ONLY != 0 {
            return Err(DecodeError { field: "flags", offset: 7, problem: "unknown flag bits set" });
        }
        let price = rd_i64(b, 8);
        let qty = rd_i64(b, 16);
        if qty <= 0 {
            return Err(DecodeError { field: "qty", offset: 16, problem: "must be > 0 lots" });
        }
        if order_type == OrderType::Limit && price <= 0 {
            return Err(DecodeError { field: "price", offset: 8, problem: "limit price must be > 0 ticks" });
        }
        if order_type == OrderType::Market && matches!(tif, TimeInForce::Gtc | TimeInForce::PostOnly) {
            return Err(DecodeError { field: "tif", offset: 6, problem: "market orders must be ioc or fok" });
        }
        Ok(OrderRequest {
            instrument: rd_u32(b, 0),
            side,
            order_type,
            tif,
            reduce_only: b[7] & FLAG_REDUCE_ONLY != 0,
            price: if order_type == OrderType::Market { 0 } else { price },
            qty,
            tag: rd_u64(b, 24),
        })
    }
}

/// Most ABI words a [`ChainIntent`] carries.
pub const CHAIN_MAX_ARGS: usize = 8;
/// Fixed head of a [`ChainIntent`] before its argument words.
pub const CHAIN_INTENT_HEAD: usize = 80;
/// Largest [`ChainIntent`] on the wire (head + 8 words).
pub const CHAIN_INTENT_MAX_SIZE: usize = CHAIN_INTENT_HEAD + 32 * CHAIN_MAX_ARGS;
/// Longest contract name (ASCII, as in the run config).
pub const CHAIN_NAME_LEN: usize = 32;

/// What a [`ChainIntent`] argument word holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ArgKind {
    /// A raw ABI word (big-endian, as Solidity encodes it).
    Word = 0,
    /// The strategy's own account address; the word must be zero. The host
    /// fills it in: a strategy never needs to know (or forge) an address.
    SelfAccount = 1,
    /// A contract's address, by its configured name (ASCII, NUL-padded in
    /// the word). The host resolves it; an unknown name is refused.
    Contract = 2,
    /// A deadline `N` seconds after the chain's latest block: the word holds
    /// `N` (a strategy has no chain clock). The host writes the timestamp.
    DeadlineIn = 3,
}

impl ArgKind {
    pub const fn from_u8(v: u8) -> Option<ArgKind> {
        Some(match v {
            0 => ArgKind::Word,
            1 => ArgKind::SelfAccount,
            2 => ArgKind::Contract,
            3 => ArgKind::DeadlineIn,
            _ => return None,
        })
    }
}

/// A smart-contract intent: "call this configured contract's function with
/// these static arguments". The host decides, simulates, signs and sends;
/// the strategy never holds a key, nonce, gas price, address or RPC URL.
///
/// Layout (`80 + 32 × nargs` bytes, at most [`CHAIN_INTENT_MAX_SIZE`]):
/// `contract [u8; 32] @0` (configured name, ASCII, NUL-padded),
/// `selector [u8; 4] @32`, `nargs u8 @36` (0..=8), `arg_kinds [u8; 8] @37`
/// ([`ArgKind`] per argument, unused ones 0), `reserved [u8; 3] @45` (0),
/// `value u128 @48` (native value, wei), `tag u64 @64` (echoed in every
/// chain event), `reserved u64 @72` (0), then `nargs` 32-byte ABI words @80.
/// Only static ABI types fit (address, uintN, intN, bool, bytesN): the
/// length must be exactly `80 + 32 × nargs`, so a record cannot claim more
/// (or fewer) arguments than it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainIntent {
    pub contract: [u8; CHAIN_NAME_LEN],
    pub selector: [u8; 4],
    pub nargs: u8,
    pub arg_kinds: [ArgKind; CHAIN_MAX_ARGS],
    pub value: u128,
    pub tag: u64,
    pub args: [[u8; 32]; CHAIN_MAX_ARGS],
}

impl ChainIntent {
    /// The contract name's bytes (without the NUL padding).
    pub fn contract_name(&self) -> &[u8] {
        let n = self.contract.iter().position(|&c| c == 0).unwrap_or(CHAIN_NAME_LEN);
        &self.contract[..n]
    }

    /// The argument words actually carried.
    pub fn words(&self) -> &[[u8; 32]] {
        &self.args[..(self.nargs as usize).min(CHAIN_MAX_ARGS)]
    }

    /// Bytes of this record on the wire.
    pub const fn wire_len(&self) -> usize {
        CHAIN_INTENT_HEAD + 32 * self.nargs as usize
    }

    /// Encode into `out`; returns the length used (`80 + 32 × nargs`).
    pub fn encode_into(&self, out: &mut [u8; CHAIN_INTENT_MAX_SIZE]) -> usize {
        out.fill(0);
        wr(out, 0, &self.contract);
        wr(out, 32, &self.selector);
        out[36] = self.nargs;
        let n = (self.nargs as usize).min(CHAIN_MAX_ARGS);
        for (i, k) in self.arg_kinds.iter().enumerate().take(n) {
            out[37 + i] = *k as u8;
        }
        wr(out, 48, &self.value.to_le_bytes());
        wr(out, 64, &self.tag.to_le_bytes());
        for i in 0..n {
            wr(out, CHAIN_INTENT_HEAD + 32 * i, &self.args[i]);
        }
        CHAIN_INTENT_HEAD + 32 * n
    }

    /// Decode and validate untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<ChainIntent, DecodeError> {
        if b.len() < CHAIN_INTENT_HEAD {
            return Err(DecodeError { field: "length", offset: 0, problem: "chain intent must be at least 80 bytes" });
        }
        let mut contract = [0u8; CHAIN_NAME_LEN];
        contract.copy_from_slice(&b[..CHAIN_NAME_LEN]);
        let name_len = contract.iter().position(|&c| c == 0).unwrap_or(CHAIN_NAME_LEN);
        if name_len == 0 {
            return Err(DecodeError { field: "contract", offset: 0, problem: "empty contract name" });
        }
        if !contract[..name_len].iter().all(|c| c.is_ascii_graphic()) || contract[name_len..].iter().any(|&c| c != 0) {
            return Err(DecodeError {
                field: "contract",
                offset: 0,
                problem: "contract name must be printable ASCII, NUL-padded",
            });
        }
        let nargs = b[36];
        if nargs as usize > CHAIN_MAX_ARGS {
            return Err(DecodeError { field: "nargs", offset: 36, problem: "at most 8 argument words" });
        }
        if b.len() != CHAIN_INTENT_HEAD + 32 * nargs as usize {
            return Err(DecodeError {
                field: "length",
                offset: 0,
                problem: "length must be exactly 80 + 32 × nargs bytes",
            });
        }
        let mut arg_kinds = [ArgKind::Word; CHAIN_MAX_ARGS];
        for (i, k) in arg_kinds.iter_mut().enumerate() {
            let v = b[37 + i];
            *k = ArgKind::from_u8(v).ok_or(DecodeError {
                field: "arg_kinds",
                offset: 37 + i,
                problem: "must be 0 (word), 1 (self), 2 (contract) or 3 (deadline in s)",
            })?;
            if i >= nargs as usize && v != 0 {
                return Err(DecodeError { field: "arg_kinds", offset: 37 + i, problem: "kind set past nargs" });
            }
        }
        if b[45..48].iter().any(|&c| c != 0) {
            return Err(DecodeError { field: "reserved", offset: 45, problem: "must be zero" });
        }
        if b[72..80].iter().any(|&c| c != 0) {
            return Err(DecodeError { field: "reserved", offset: 72, problem: "must be zero" });
        }
        let mut args = [[0u8; 32]; CHAIN_MAX_ARGS];
        for (i, a) in args.iter_mut().enumerate().take(nargs as usize) {
            let o = CHAIN_INTENT_HEAD + 32 * i;
            a.copy_from_slice(&b[o..o + 32]);
            if arg_kinds[i] == ArgKind::SelfAccount && a.iter().any(|&c| c != 0) {
                return Err(DecodeError { field: "args", offset: o, problem: "a `self` argument's word must be zero" });
            }
        }
        let mut value = [0u8; 16];
        value.copy_from_slice(&b[48..64]);
        Ok(ChainIntent {
            contract,
            selector: [b[32], b[33], b[34], b[35]],
            nargs,
            arg_kinds,
            value: u128::from_le_bytes(value),
            tag: rd_u64(b, 64),
            args,
        })
    }
}

/// Size in bytes of an [`Event`] on the wire.
pub const EVENT_SIZE: usize = 64;

/// Event kinds delivered to a strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum EventKind {
    /// A trade printed in the market: `price`, `qty`, `side` = aggressor side.
    Trade = 1,
    /// Best bid/ask: `price`=bid px, `qty`=bid qty, `a`=ask px, `b`=ask qty.
    Quote = 2,
    /// The strategy's order reached the book: `id`, `tag`, `side`, `price`, `qty`.
    OrderAccepted = 3,
    /// The order was refused: `id`, `tag`, `side`, `price`, `qty`, `a` = reason code.
    OrderRejected = 4,
    /// The order left the book unfilled: `id`, `tag`, `qty` = cancelled qty, `a` = reason code.
    OrderCancelled = 5,
    /// The order (partly) filled: `id`, `tag`, `side`, `price`, `qty`, `a` = fee (money, may be
    /// negative for rebates), `b` = remaining open qty, `flags` bit0 = maker.
    Fill = 6,
    /// A timer the strategy set fired: `id` = token.
    Timer = 7,
    // --- appended by issue 5 (L2 depth, derivative tickers); never renumber ---
    /// One L2 book level now displays `qty` lots at `price` on `side`
    /// (`Buy` = bid, `Sell` = ask; `qty` 0 = level removed); `flags` bit1 =
    /// part of a snapshot. Top-of-book changes still come as `Quote`.
    BookLevel = 8,
    /// The instrument's displayed depth is cleared: a snapshot follows.
    BookClear = 9,
    /// Derivative ticker: `price` = mark (ticks), `a` = index (ticks), `qty`
    /// = funding rate in units of 1e-12 (positive: longs pay), `b` = predicted
    /// funding rate (1e-12), `id` = next funding time (ns, 0 = unknown);
    /// `flags` bits say which are present: [`TICKER_MARK`], [`TICKER_INDEX`],
    /// [`TICKER_FUNDING`], [`TICKER_PREDICTED`].
    Ticker = 10,
    // --- appended by issue 17 (smart-contract intents); never renumber ---
    // For every chain event: `id` = intent id (what `chain_call` returned),
    // `tag` = the intent's tag, `a` = reason code (0 unless refused / reverted).
    /// The intent was refused (policy, simulation post-condition, node down,
    /// halt): `a` = reason code.
    ChainRejected = 11,
    /// The intent simulated cleanly and passed every post-condition; the host
    /// signs and sends it next: `qty` = simulated outflow of the strategy's
    /// account in the intent's spent token (base units, saturating), `b` =
    /// simulated inflow, `price` = simulated gas.
    ChainSimulated = 12,
    /// Mined and succeeded: `qty` = actual outflow, `b` = actual inflow,
    /// `price` = gas used, `instrument` = low 32 bits of the block number.
    ChainMined = 13,
    /// Mined but reverted (or no receipt before the timeout: `a` =
    /// `CHAIN_UNAVAILABLE`): `price` = gas used.
    ChainReverted = 14,
}

impl EventKind {
    pub const fn from_u16(v: u16) -> Option<EventKind> {
        Some(match v {
            1 => EventKind::Trade,
            2 => EventKind::Quote,
            3 => EventKind::OrderAccepted,
            4 => EventKind::OrderRejected,
            5 => EventKind::OrderCancelled,
            6 => EventKind::Fill,
            7 => EventKind::Timer,
            8 => EventKind::BookLevel,
            9 => EventKind::BookClear,
            10 => EventKind::Ticker,
            11 => EventKind::ChainRejected,
            12 => EventKind::ChainSimulated,
            13 => EventKind::ChainMined,
            14 => EventKind::ChainReverted,
            _ => return None,
        })
    }
}

pub const EVENT_FLAG_MAKER: u8 = 1;
/// `BookLevel` flag: the level is part of a snapshot.
pub const EVENT_FLAG_SNAPSHOT: u8 = 2;
/// `Ticker` flags: which fields carry a value.
pub const TICKER_MARK: u8 = 1;
pub const TICKER_INDEX: u8 = 2;
pub const TICKER_FUNDING: u8 = 4;
pub const TICKER_PREDICTED: u8 = 8;
/// Scale of `Ticker` funding rates: `qty` = rate × 10^12.
pub const FUNDING_RATE_SCALE: u32 = 12;

/// A fixed-layout event record (64 bytes).
///
/// Layout: `kind u16 @0, side u8 @2 (0 = none), flags u8 @3, instrument u32 @4,
/// ts_ns u64 @8, id u64 @16, tag u64 @24, price i64 @32, qty i64 @40,
/// a i64 @48, b i64 @56`. The meaning of each field per kind is on
/// [`EventKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub side: Option<Side>,
    pub flags: u8,
    pub instrument: u32,
    pub ts_ns: u64,
    pub id: u64,
    pub tag: u64,
    pub price: i64,
    pub qty: i64,
    pub a: i64,
    pub b: i64,
}

impl Event {
    pub const fn new(kind: EventKind, instrument: u32, ts_ns: u64) -> Event {
        Event { kind, side: None, flags: 0, instrument, ts_ns, id: 0, tag: 0, price: 0, qty: 0, a: 0, b: 0 }
    }

    pub fn encode_into(&self, b: &mut [u8; EVENT_SIZE]) {
        wr(b, 0, &(self.kind as u16).to_le_bytes());
        b[2] = self.side.map_or(0, |s| s as u8);
        b[3] = self.flags;
        wr(b, 4, &self.instrument.to_le_bytes());
        wr(b, 8, &self.ts_ns.to_le_bytes());
        wr(b, 16, &self.id.to_le_bytes());
        wr(b, 24, &self.tag.to_le_bytes());
        wr(b, 32, &self.price.to_le_bytes());
        wr(b, 40, &self.qty.to_le_bytes());
        wr(b, 48, &self.a.to_le_bytes());
        wr(b, 56, &self.b.to_le_bytes());
    }

    pub fn encode(&self) -> [u8; EVENT_SIZE] {
        let mut b = [0u8; EVENT_SIZE];
        self.encode_into(&mut b);
        b
    }

    pub fn decode(b: &[u8]) -> Result<Event, DecodeError> {
        if b.len() < EVENT_SIZE {
            return Err(DecodeError { field: "length", offset: 0, problem: "event record must be 64 bytes" });
        }
        let kind = EventKind::from_u16(rd_u16(b, 0)).ok_or(DecodeError {
            field: "kind",
            offset: 0,
            problem: "unknown event kind",
        })?;
        let side = match b[2] {
            0 => None,
            v => {
                Some(Side::from_u8(v).ok_or(DecodeError { field: "side", offset: 2, problem: "must be 0, 1 or 2" })?)
            }
        };
        Ok(Event {
            kind,
            side,
            flags: b[3],
            instrument: rd_u32(b, 4),
            ts_ns: rd_u64(b, 8),
            id: rd_u64(b, 16),
            tag: rd_u64(b, 24),
            price: rd_i64(b, 32),
            qty: rd_i64(b, 40),
            a: rd_i64(b, 48),
            b: rd_i64(b, 56),
        })
    }
}

/// Size in bytes of a [`PositionRecord`].
pub const POSITION_SIZE: usize = 48;

/// The strategy's own position in one instrument.
///
/// Layout: `qty i64 @0 (lots, signed), avg_price i64 @8 (ticks, rounded),
/// realised_pnl i64 @16 (money), fees i64 @24 (money paid, negative = rebate),
/// open_buy_qty i64 @32, open_sell_qty i64 @40`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PositionRecord {
    pub qty: i64,
    pub avg_price: i64,
    pub realised_pnl: i64,
    pub fees: i64,
    pub open_buy_qty: i64,
    pub open_sell_qty: i64,
}

impl PositionRecord {
    pub fn encode(&self) -> [u8; POSITION_SIZE] {
        let mut b = [0u8; POSITION_SIZE];
        for (i, v) in [self.qty, self.avg_price, self.realised_pnl, self.fees, self.open_buy_qty, self.open_sell_qty]
            .iter()
            .enumerate()
        {
            wr(&mut b, i * 8, &v.to_le_bytes());
        }
        b
    }
    pub fn decode(b: &[u8]) -> Result<PositionRecord, DecodeError> {
        if b.len() < POSITION_SIZE {
            return Err(DecodeError { field: "length", offset: 0, problem: "position record must be 48 bytes" });
        }
        Ok(PositionRecord {
            qty: rd_i64(b, 0),
            avg_price: rd_i64(b, 8),
            realised_pnl: rd_i64(b, 16),
            fees: rd_i64(b, 24),
            open_buy_qty: rd_i64(b, 32),
            open_sell_qty: rd_i64(b, 40),
        })
    }
}

/// Size in bytes of an [`OpenOrderRecord`].
pub const OPEN_ORDER_SIZE: usize = 40;

/// One of the strategy's own open orders.
///
/// Layout: `id u64 @0, tag u64 @8, instrument u32 @16, side u8 @20,
/// reserved [u8;3] @21, price i64 @24, remaining_qty i64 @32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOrderRecord {
    pub id: u64,
    pub tag: u64,
    pub instrument: u32,
    pub side: Side,
    pub price: i64,
    pub remaining_qty: i64,
}

impl OpenOrderRecord {
    pub fn encode(&self) -> [u8; OPEN_ORDER_SIZE] {
        let mut b = [0u8; OPEN_ORDER_SIZE];
        wr(&mut b, 0, &self.id.to_le_bytes());
        wr(&mut b, 8, &self.tag.to_le_bytes());
        wr(&mut b, 16, &self.instrument.to_le_bytes());
        b[20] = self.side as u8;
        wr(&mut b, 24, &self.price.to_le_bytes());
        wr(&mut b, 32, &self.remaining_qty.to_le_bytes());
        b
    }
    pub fn decode(b: &[u8]) -> Result<OpenOrderRecord, DecodeError> {
        if b.len() < OPEN_ORDER_SIZE {
            return Err(DecodeError { field: "length", offset: 0, problem: "open order record must be 40 bytes" });
        }
        Ok(OpenOrderRecord {
            id: rd_u64(b, 0),
            tag: rd_u64(b, 8),
            instrument: rd_u32(b, 16),
            side: Side::from_u8(b[20]).ok_or(DecodeError { field: "side", offset: 20, problem: "must be 1 or 2" })?,
            price: rd_i64(b, 24),
            remaining_qty: rd_i64(b, 32),
        })
    }
}

/// The host side of the ABI as a Rust trait: what a strategy can ask of its
/// host. The sandbox implements the wasm imports by decoding guest memory and
/// calling this trait; the SDK's native backend calls it directly, so the same
/// strategy code runs sandboxed or native against one host implementation.
/// Return values are exactly those of the wasm imports (see the crate docs).
pub trait HostApi {
    /// `req` is already decoded and validated. Returns the order id (> 0) or
    /// `-(reason code)`.
    fn submit_order(&mut self, req: &OrderRequest) -> i64;
    /// Returns a [`ResultCode`] as i32.
    fn cancel_order(&mut self, id: u64) -> i32;
    /// `None` = every instrument. Returns the number of cancels requested or `-(ResultCode)`.
    fn cancel_all(&mut self, instrument: Option<u32>) -> i32;
    /// Fills `out`; returns a [`ResultCode`] as i32.
    fn position(&mut self, instrument: u32, out: &mut PositionRecord) -> i32;
    /// Writes up to `out.len()` records; returns the total number of open orders.
    fn open_orders(&mut self, out: &mut [OpenOrderRecord]) -> i32;
    /// Returns a [`ResultCode`] as i32.
    fn set_timer(&mut self, at_ns: u64, token: u64) -> i32;
    /// `msg` is the raw bytes the strategy logged (not necessarily UTF-8).
    fn log(&mut self, level: i32, msg: &[u8]) -> i32;
    /// A smart-contract intent (already decoded and validated as a record).
    /// Returns the intent id (> 0) or `-(reason code)`. Hosts without a
    /// chain refuse with `CHAIN_NO_POLICY`.
    fn chain_call(&mut self, _intent: &ChainIntent) -> i64 {
        -(Reason::ChainNoPolicy as i64)
    }
    /// The strategy passed an order record that failed validation; the
    /// strategy gets `-(Reason::InvalidOrder)` back. Hosts journal this.
    fn invalid_record(&mut self, _err: DecodeError) {}
    /// Polled by the sandbox after every host call: `Some` once the host has
    /// cut the strategy off because a budget the *host* keeps (journal bytes,
    /// inbox) is spent. The guest is then trapped with it at once; nothing
    /// the refused call asked for was journalled or done.
    fn breach(&self) -> Option<Breach> {
        None
    }
}

/// A host-kept budget a strategy has spent ([`HostApi::breach`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Breach {
    pub budget: HostBudget,
    /// What the strategy asked for in all (at least `limit + 1`).
    pub used: u64,
    pub limit: u64,
}

/// The budgets a host keeps per strategy (the sandbox keeps fuel, host
/// calls and guest calls itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostBudget {
    /// Journal bytes the strategy's host calls cause in one market event.
    JournalBytesPerEvent,
    /// Journal bytes the strategy causes per second of event time (token
    /// bucket, one second deep).
    JournalBytesPerSec,
    /// Events waiting for the strategy (its inbox: rejects, order updates,
    /// fills, timers) between two deliveries.
    InboxEvents,
}

impl HostBudget {
    /// Stable snake_case fault kind (journal, metrics, API filters).
    pub const fn kind(self) -> &'static str {
        match self {
            HostBudget::JournalBytesPerEvent => "journal_bytes",
            HostBudget::JournalBytesPerSec => "journal_rate",
            HostBudget::InboxEvents => "inbox_overflow",
        }
    }
    /// What the limit counts, for messages.
    pub const fn unit(self) -> &'static str {
        match self {
            HostBudget::JournalBytesPerEvent => "journal bytes per market event",
            HostBudget::JournalBytesPerSec => "journal bytes per second of event time",
            HostBudget::InboxEvents => "queued events (inbox)",
        }
    }
}

/// Log levels for the `log` import.
pub const LOG_ERROR: i32 = 1;
pub const LOG_WARN: i32 = 2;
pub const LOG_INFO: i32 = 3;
pub const LOG_DEBUG: i32 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_request_round_trips() {
        let r = OrderRequest {
            instrument: 7,
            side: Side::Sell,
            order_type: OrderType::Limit,
            tif: TimeInForce::PostOnly,
            reduce_only: true,
            price: 123_456,
            qty: 42,
            tag: u64::MAX,
        };
        assert_eq!(OrderRequest::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn order_request_rejects_bad_fields_by_name() {
        let good = OrderRequest {
            instrument: 0,
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            price: 1,
            qty: 1,
            tag: 0,
        }
        .encode();
        let cases: &[(usize, u8, &str)] = &[(4, 9, "side"), (5, 0, "order_type"), (6, 5, "tif"), (7, 0x80, "flags")];
        for &(off, val, field) in cases {
            let mut b = good;
            b[off] = val;
            assert_eq!(OrderRequest::decode(&b).unwrap_err().field, field);
        }
        let mut b = good;
        b[16..24].copy_from_slice(&0i64.to_le_bytes());
        assert_eq!(OrderRequest::decode(&b).unwrap_err().field, "qty");
        assert_eq!(OrderRequest::decode(&good[..31]).unwrap_err().field, "length");
    }

    #[test]
    fn event_round_trips() {
        let mut e = Event::new(EventKind::Fill, 3, 99);
        e.side = Some(Side::Buy);
        e.flags = EVENT_FLAG_MAKER;
        e.id = 5;
        e.tag = 6;
        e.price = -7;
        e.qty = 8;
        e.a = -9;
        e.b = 10;
        assert_eq!(Event::decode(&e.encode()), Ok(e));
    }

    #[test]
    fn reason_codes_are_unique_and_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(*r));
            assert_eq!(Reason::ALL.iter().filter(|x| x.code() == r.code()).count(), 1);
        }
    }
}
