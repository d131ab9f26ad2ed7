//! Typed views of the ABI [`Event`] records, one per event kind.

use bulkhead_abi::{EVENT_FLAG_MAKER, EVENT_FLAG_SNAPSHOT, Event, EventKind, Reason, Side};

/// A trade printed in the market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    /// Instrument id.
    pub instrument: u32,
    /// Event time.
    pub ts_ns: u64,
    /// Price in ticks.
    pub price: i64,
    /// Quantity in lots.
    pub qty: i64,
    /// Aggressor side, if the feed knows it.
    pub aggressor: Option<Side>,
}

/// Best bid and ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Instrument id.
    pub instrument: u32,
    /// Event time.
    pub ts_ns: u64,
    /// Best bid price (ticks).
    pub bid_px: i64,
    /// Best bid quantity (lots).
    pub bid_qty: i64,
    /// Best ask price (ticks).
    pub ask_px: i64,
    /// Best ask quantity (lots).
    pub ask_qty: i64,
}

impl Quote {
    /// True when both sides are present and not crossed.
    pub fn is_two_sided(&self) -> bool {
        self.bid_px > 0 && self.ask_px > self.bid_px && self.bid_qty > 0 && self.ask_qty > 0
    }
    /// Mid price rounded down to a tick (`None` unless two-sided).
    pub fn mid(&self) -> Option<i64> {
        self.is_two_sided().then(|| self.bid_px + (self.ask_px - self.bid_px) / 2)
    }
}

/// One L2 book level (or a clear of the whole book before a snapshot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookLevel {
    /// Instrument id.
    pub instrument: u32,
    /// Event time.
    pub ts_ns: u64,
    /// `true`: the book was cleared (a snapshot follows); other fields are 0 / `None`.
    pub clear: bool,
    /// `Buy` = bid level, `Sell` = ask level.
    pub side: Option<Side>,
    /// Price in ticks.
    pub price: i64,
    /// Displayed lots now at that price (0 = level removed).
    pub qty: i64,
    /// The level is part of a snapshot.
    pub snapshot: bool,
}

impl BookLevel {
    pub(crate) fn from_event(e: &Event) -> BookLevel {
        BookLevel {
            instrument: e.instrument,
            ts_ns: e.ts_ns,
            clear: e.kind == EventKind::BookClear,
            side: e.side,
            price: e.price,
            qty: e.qty,
            snapshot: e.flags & EVENT_FLAG_SNAPSHOT != 0,
        }
    }
}

/// An accept, reject or cancel of one of our orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    /// Order id (as returned by [`crate::Ctx::submit`]).
    pub id: u64,
    /// The tag the strategy put on the order.
    pub tag: u64,
    /// Instrument id.
    pub instrument: u32,
    /// Event time.
    pub ts_ns: u64,
    /// Side (the host may omit it on cancels).
    pub side: Option<Side>,
    /// Limit price (ticks); 0 for market orders or when not carried.
    pub price: i64,
    /// Order quantity; for a cancel, the cancelled quantity.
    pub qty: i64,
    /// Raw reason code (0 on accepts).
    pub reason_code: u16,
}

impl OrderUpdate {
    /// The reason code as a [`Reason`], if known to this SDK version.
    pub fn reason(&self) -> Option<Reason> {
        Reason::from_code(self.reason_code)
    }
}

/// A (partial) fill of one of our orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    /// Order id.
    pub id: u64,
    /// The tag the strategy put on the order.
    pub tag: u64,
    /// Instrument id.
    pub instrument: u32,
    /// Event time.
    pub ts_ns: u64,
    /// Our side.
    pub side: Side,
    /// Fill price (ticks).
    pub price: i64,
    /// Filled quantity (lots).
    pub qty: i64,
    /// Fee paid in money units (1e-8 quote); negative = rebate.
    pub fee: i64,
    /// Quantity still open on the order after this fill.
    pub remaining: i64,
    /// We were the maker.
    pub maker: bool,
}

impl Fill {
    /// Signed quantity: + for buys, − for sells.
    pub fn signed_qty(&self) -> i64 {
        self.side.sign() * self.qty
    }
}

/// Clamp an `i64` reason field into the u16 code space (out-of-range → 0xFFFF,
/// which no [`Reason`] uses).
pub(crate) fn reason_code(v: i64) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

impl Trade {
    pub(crate) fn from_event(e: &Event) -> Trade {
        Trade { instrument: e.instrument, ts_ns: e.ts_ns, price: e.price, qty: e.qty, aggressor: e.side }
    }
}

impl Quote {
    pub(crate) fn from_event(e: &Event) -> Quote {
        Quote { instrument: e.instrument, ts_ns: e.ts_ns, bid_px: e.price, bid_qty: e.qty, ask_px: e.a, ask_qty: e.b }
    }
}

impl OrderUpdate {
    pub(crate) fn from_event(e: &Event, with_reason: bool) -> OrderUpdate {
        OrderUpdate {
            id: e.id,
            tag: e.tag,
            instrument: e.instrument,
            ts_ns: e.ts_ns,
            side: e.side,
            price: e.price,
            qty: e.qty,
            reason_code: if with_reason { reason_code(e.a) } else { 0 },
        }
    }
}

impl Fill {
    /// `None` when the record carries no side (malformed fill).
    pub(crate) fn from_event(e: &Event) -> Option<Fill> {
        Some(Fill {
            id: e.id,
            tag: e.tag,
            instrument: e.instrument,
            ts_ns: e.ts_ns,
            side: e.side?,
            price: e.price,
            qty: e.qty,
            fee: e.a,
            remaining: e.b,
            maker: e.flags & EVENT_FLAG_MAKER != 0,
        })
    }
}

/// What became of a smart-contract intent ([`crate::Ctx::chain_call`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainStatus {
    /// Refused (policy, simulation post-condition, node unavailable, halt).
    Rejected,
    /// Simulated cleanly and passed every check; the host signs and sends it.
    Simulated,
    /// Mined and succeeded.
    Mined,
    /// Mined but reverted, or no receipt in time.
    Reverted,
}

/// A chain event about one of our intents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainUpdate {
    /// The intent id `chain_call` returned.
    pub intent: u64,
    /// The intent's tag.
    pub tag: u64,
    /// Rejected, simulated, mined or reverted.
    pub status: ChainStatus,
    /// Raw reason code (0 unless refused or reverted).
    pub reason_code: u16,
    /// Outflow of our account in the token spent (base units, saturating):
    /// simulated for `Simulated`, actual for `Mined`.
    pub outflow: i64,
    /// Inflow of our account in the token received (base units, saturating).
    pub inflow: i64,
    /// Gas (simulated or used).
    pub gas: i64,
    /// Low 32 bits of the block number (`Mined`).
    pub block: u32,
}

impl ChainUpdate {
    /// The reason, if this SDK knows the code.
    pub fn reason(&self) -> Option<Reason> {
        Reason::from_code(self.reason_code)
    }

    pub(crate) fn from_event(e: &Event) -> ChainUpdate {
        let status = match e.kind {
            EventKind::ChainSimulated => ChainStatus::Simulated,
            EventKind::ChainMined => ChainStatus::Mined,
            EventKind::ChainReverted => ChainStatus::Reverted,
            _ => ChainStatus::Rejected,
        };
        ChainUpdate {
            intent: e.id,
            tag: e.tag,
            status,
            reason_code: reason_code(e.a),
            outflow: e.qty,
            inflow: e.b,
            gas: e.price,
            block: e.instrument,
        }
    }
}
