//! # bulkhead-venue — the simulated exchange
//!
//! Owns: one order book per instrument holding the strategies' resting orders
//! in price-time priority, the matching of incoming orders against those
//! orders and against the replayed market's displayed liquidity, the passive
//! fill model for resting orders, fees, and the per-account positions held at
//! the venue ([`bulkhead_model::Position`]).
//!
//! Must never: know about strategies (it sees opaque `account: u32` numbers and
//! engine-assigned `order_id: u64`s), make risk decisions or take an order
//! risk did not approve, read clocks, do I/O,
//! or let iteration order of a hash map reach its output. Every structure is a
//! `BTreeMap` / `BTreeSet` / `VecDeque`, so the same inputs always give the same
//! events in the same order. `on_quote`, `on_trade`, `cancel` and
//! `cancel_account` never allocate beyond the caller's `out` Vec; `submit`
//! allocates only to store an order that comes to rest (book storage) and the
//! first time an account trades an instrument (its position slot).
//!
//! Units: prices are integer ticks, quantities integer lots, money (fees) i64
//! units of 1e-8 quote currency (see `bulkhead-model`). Fees are
//! `bulkhead_model::fee(notional, ppm)` applied through
//! [`Position::apply_fill`]; a negative `maker_ppm` is a rebate (negative fee).
//!
//! ## Market liquidity
//! The replayed market is represented only by its last top-of-book quote
//! (`on_quote`): best bid/ask price with displayed size. A quote side is
//! *present* when its price > 0 and size > 0. Displayed size that strategy
//! orders consume (by aggressing, or by resting orders filling against a
//! crossing quote) is gone until the next quote for that instrument resets it.
//! Trade prints (`on_trade`) do not change displayed size. Strategy-vs-strategy
//! fills and strategy-vs-quote fills never feed back into the market data.
//!
//! ## Only approved orders
//! [`SimVenue::submit`] takes a [`bulkhead_risk::Approved`] and nothing else:
//! an order the risk crate checked and reserved, which no other crate can
//! make (private fields, no public constructor, not `Clone`). The approval
//! is consumed; its strategy is the account, its id the order id, and the
//! order is exactly what risk checked. This is the one type this crate takes
//! from `bulkhead-risk` (risk sits above the venue in ARCHITECTURE.md's
//! arrow order; risk never depends on the venue). The crate's own tests
//! drive matching with raw orders through the crate-private `submit_order`.
//!
//! ## Validation (in this order; a failure emits only `Rejected`)
//! 1. unknown instrument → `UnknownInstrument`
//! 2. `qty <= 0`, or limit `price <= 0` → `BadPriceOrQty`
//! 3. `order_id` already open at the venue → `InvalidOrder`
//! 4. market order with `PostOnly` TIF → `PostOnlyWouldCross` (a market order
//!    always takes); a market order with `Gtc` is treated as `Ioc`
//! 5. reduce-only whose qty exceeds what would bring the account's venue
//!    position to zero (buy: `qty > max(0, -pos)`, sell: `qty > max(0, pos)`)
//!    → `ReduceOnlyWouldIncrease`. Other open reduce-only orders are not counted
//!    at submit; instead reduce-only is enforced again at every fill (below).
//! 6. market order and the opposite side has no available displayed size and
//!    no resting order of any account → `NoLiquidity`
//! 7. post-only limit that would cross the opposite market quote price (if that
//!    side is present, whether or not its size was consumed) or the best
//!    resting opposite order of any account → `PostOnlyWouldCross`
//!
//! Every order that passes gets `Accepted` first, whatever its TIF.
//!
//! ## Aggressive matching (an incoming limit that crosses, or a market order)
//! Liquidity on the opposite side is taken best price first. At one price the
//! market's displayed size comes **before** resting strategy orders (a
//! strategy order joined that price behind the displayed queue; see queue
//! position below); resting strategy orders at one price go in time (arrival)
//! order. Every fill is at the resting price (the quote price for displayed
//! size). The aggressor pays `taker_ppm`; a resting strategy order it hits is
//! a maker and pays `maker_ppm`. For each match the aggressor's `Fill` is
//! emitted first, then the maker's `Fill`. Filling stops when the order is
//! done, the next price is beyond its limit, or liquidity runs out.
//!
//! Self-trade prevention (default `cancel_newest`): when the next resting
//! order in priority belongs to the aggressor's own account, matching stops
//! and the aggressor's remainder is `Cancelled` with `SelfTrade` (also for
//! GTC; the resting order is untouched). Other modes: see below.
//!
//! Internal (strategy-vs-strategy) fills do not change any order's queue
//! position.
//!
//! ## Time in force
//! - `Gtc`: the remainder after matching rests on the book (no extra event).
//! - `Ioc`: the remainder is `Cancelled` with `IocRemainder`.
//! - `Fok`: before touching anything the venue computes exactly how much could
//!   fill (same walk as matching, including self-trade stop and reduce-only
//!   limits of makers); if that is less than `qty` the order gets `Accepted`
//!   then `Cancelled { remaining: qty, reason: FokNotFilled }` and nothing
//!   fills; otherwise it fills completely.
//! - `PostOnly`: rejected if it would cross (validation 7), else rests.
//! - Market orders are `Ioc` or `Fok`; an `Ioc` market remainder is
//!   `Cancelled` with `IocRemainder` (even when displayed liquidity ran out).
//!
//! ## Queue position of a resting order
//! When an order starts resting at price `p` on side `s`, its `queue_ahead` is
//! the market's currently available displayed size on side `s` if `p` equals
//! that side's quote price; otherwise, with L2 depth (below), the displayed
//! size at `p`; otherwise 0 (better than the displayed best: it is first;
//! worse than the best without depth data: depth is unknown and the venue
//! assumes nothing is ahead). Afterwards `queue_ahead` only shrinks:
//! - trades printing at `p` against side `s` erode it (below);
//! - a trade printing strictly through `p` sets it to 0;
//! - a new quote whose side-`s` price equals `p` caps it at the displayed
//!   size (the lots ahead cannot exceed what the market shows at that price).
//!
//! ## Passive fill model for resting orders (maker fee, at the order's price)
//! 1. **Crossing quote.** On every quote, after resetting displayed sizes and
//!    capping queues: resting buys with `price >= ask_px` fill, best price
//!    first then time, against the displayed ask size as one shared budget;
//!    then resting sells with `price <= bid_px` against the displayed bid size.
//!    Each fill is at the resting order's own price and consumes displayed size.
//! 2. **Trade print** at price `P`, qty `Q`, aggressor side `A`. Only resting
//!    orders on side `A.opposite()` can fill, and `Q` is one budget shared in
//!    price-time order:
//!    - (a) orders strictly better than `P` (buys above `P` when the aggressor
//!      sold, sells below `P` when it bought) fill first, best price first,
//!      then time, ignoring their queue position (the print went through
//!      their price); any of them still open afterwards get `queue_ahead = 0`;
//!    - (b) with `V` the budget left, orders at exactly `P` are visited in time
//!      order. For each: `erode = min(queue_ahead, V)`, `queue_ahead -= erode`,
//!      then it fills `min(remaining, V - erode)` and `V` decreases by that
//!      fill only (queue erosion is not a fill: queues of different orders
//!      overlap, so each sees the same print volume). The walk stops when
//!      `V` reaches 0.
//!
//!    Orders worse than `P` are untouched.
//!
//! ## Reduce-only at fill time
//! Position can change after a reduce-only order rests. Whenever a reduce-only
//! order (resting or incoming) is about to fill, its fill is capped at what
//! brings the account's venue position to zero; if that is 0, or it is still
//! open after a fill that left nothing to reduce, it is `Cancelled` with
//! `ReduceOnlyWouldIncrease`. A reduce-only order therefore never increases or
//! flips its account's venue position.
//!
//! ## Clock and latency
//! Every time-carrying call (`on_quote`, `on_trade`, `on_book_level`,
//! `on_book_clear`, `submit`, `cancel`, `cancel_account`, `set_index`,
//! `set_mark`, `settle`, `advance`) first advances the venue clock to its
//! `ts_ns`, processing in time order everything due at or before it: expiries
//! (futures before options at the same instant), then funding times, then
//! order-entry arrivals in submission order. Only then is the call's own
//! event applied. A timestamp earlier than the clock processes nothing.
//!
//! With `L = md_latency_ns + order_latency_ns > 0`, `submit(ts)`, `cancel(ts)`
//! and `cancel_account(ts)` emit nothing at once: `ts` is the exchange time of
//! the information the decision was based on (the engine's `now`), the
//! strategy sees it `md_latency_ns` later and its message reaches the book
//! `order_latency_ns` after that, at `ts + L`. The action is processed when
//! the clock reaches `ts + L`, so a print at `t < ts + L` cannot fill the
//! order while one at `t >= ts + L` can (the order is at the book before the
//! market event of that instant is applied). Validation (`Rejected`/
//! `Accepted`) happens at arrival. `cancel` returns whether the order was open
//! or in flight at decision time; `cancel_account` returns how many were.
//! With `L = 0` (default) everything is immediate, as before. To drain
//! in-flight actions at the end of a run call `advance(last_ts + L)`.
//!
//! ## L2 depth and queue position (`on_book_level`, `on_depth`)
//! An L2 update sets the displayed size at one price. The venue keeps the
//! depth; `on_book_level` also derives the top-of-book quote from it (a
//! changed best level is applied like `on_quote`), `on_depth` does not: the
//! engine applies a whole exchange message of levels with `on_depth` and then
//! the message's top of book with `on_quote` (from `bulkhead-data`'s
//! `QuoteSource::with_levels`), so a half-applied message never looks
//! crossed. Aggressive orders still take only the best displayed level
//! (the quote's size); deeper levels feed queue positions only — walking
//! displayed depth is not modelled, so a large aggressive order's fill
//! beyond the best level is cancelled (IOC) or rests (GTC) instead. An order that
//! comes to rest at a displayed price is queued behind that level's size
//! (capped by the still available top size if it is the best level). At a
//! level update `old → new` of a level where prints of total `t` occurred
//! since its last update: `by_trades = clamp(old − new, 0, t)` is the
//! decrease the prints explain (they already eroded queues), the rest
//! `c = old − new − by_trades` (if > 0) are cancels, assumed spread
//! **proportionally** over the level: each order's `queue_ahead` loses
//! `floor(c × queue_ahead / (old − by_trades))`; growth joins behind. Finally
//! `queue_ahead = min(queue_ahead, new)`. `on_book_clear` (snapshot start)
//! forgets the depth, not the queues.
//!
//! ## Marks, funding, margin, liquidation (see `VenueConfig`)
//! - Mark: `set_mark` override if any; options: Black-76 (`bulkhead_model::
//!   black76`) from the underlying's mark, the expiry's vol (`set_vol`, else
//!   `default_vol`, else no mark), `rate`, time to expiry from the venue
//!   clock, rounded to the nearest tick; others by `MarkSource`: `mid`
//!   (`(bid+ask)/2` truncated, one side, else last print), `index_plus_basis`
//!   (`set_index` + `set_basis`), `external` (`set_mark` only). A settled
//!   instrument's mark is its settlement price.
//! - Funding (perpetuals): at every multiple of `funding_interval_ns` after
//!   the clock's first timestamp, each open position receives
//!   `amount = −sign(qty) × notional(mark, |qty|) × rate` (truncated toward
//!   zero; rate from the spec or `set_funding_rate`): positive rate → longs
//!   pay. Added to `Position::realised` and `Position::funding`; a `Funding`
//!   notice per position. No mark or zero rate → nothing.
//! - Margin applies only to accounts given collateral (`set_collateral`;
//!   one venue = one settlement currency, cross-margined across its
//!   instruments): equity = collateral + Σ(realised − fees + unrealised at
//!   mark); initial/maintenance = Σ mark notional × bps / 10 000.
//! - Validation 5b: a limit order whose notional is below the instrument's
//!   `min_notional` → `BelowMinNotional`. 5c: a collateralised account's
//!   order that is not reduce-only and does not only reduce its position is
//!   rejected with `InsufficientMargin` if equity < initial margin of the
//!   positions + the order's notional (limit price; market: opposite quote or
//!   mark) × IM bps. Other open orders are not reserved. 0: an order for an
//!   expired instrument → `InstrumentExpired` (checked right after 1).
//! - Liquidation: after every clock advance / market event, an account with
//!   maintenance > 0 and equity < maintenance is liquidated whole: its open
//!   orders are cancelled (`CancelledByLiquidation`), then every position
//!   with a mark is closed at the mark (not via the book) paying
//!   `liquidation_fee_ppm`; one `Liquidation` notice per position.
//! - Expiry: at `expiry` trading stops and the instrument settles at its mark
//!   (options: intrinsic value from the underlying's mark / settlement price,
//!   see `Instrument::intrinsic`) — or at the price given up front with
//!   `set_settlement_price` (run config `[[settlements]]`), which wins; with
//!   neither it waits for `settle`.
//!   `settle(ts, inst, price)` settles explicitly. Settlement cancels its
//!   orders (`CancelledAtExpiry`), closes every position at the price without
//!   fee (`Settlement` notices) and emits `InstrumentSettled`.
//! - Option fees (Deribit convention): `ppm × underlying notional`, capped in
//!   absolute value at `option_fee_cap_ppm × premium notional`.
//! - Self-trade prevention: `VenueConfig::stp` (`cancel_newest` default,
//!   `cancel_oldest`, `cancel_both`), see [`StpMode`]; the FOK pre-check skips
//!   own orders under `cancel_oldest` and stops at them otherwise.
//!
//! ## Events
//! All events are appended to `out` in the order they happen. `Fill.remaining`
//! is the order's open qty after that fill; `Cancelled.remaining` is the qty
//! that was still open. An order that is filled out or cancelled leaves the
//! book. `cancel` of an order that is not open emits nothing and returns
//! false.

// Guardrail (issue 14): no silently truncating casts in this crate; a cast
// that cannot lose bits says why (`#[expect]`), the rest use `try_from` or
// a named saturating helper.
#![deny(clippy::cast_possible_truncation)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;

pub use bulkhead_abi::{OrderType, Reason, Side, TimeInForce};
use bulkhead_model::{Decimal, Instrument, Lots, Money, Position, Ticks};
pub use bulkhead_risk::Approved;

mod config;
mod derivatives;
pub use config::{MarkSource, StpMode, VenueConfig, VenueNotice};

/// Fees in parts per million of notional; negative maker = rebate.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FeeSchedule {
    pub maker_ppm: i64,
    pub taker_ppm: i64,
}

/// An order inside the venue (built from an [`Approved`] one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewOrder {
    /// Unique, engine-assigned.
    pub order_id: u64,
    pub account: u32,
    pub instrument: u32,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    /// Ticks; ignored for market orders.
    pub price: i64,
    /// Lots, > 0.
    pub qty: i64,
    pub reduce_only: bool,
}

/// What the venue reports back, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VenueEvent {
    /// The order passed venue validation (emitted first for every valid order, even IOC).
    Accepted {
        order_id: u64,
        account: u32,
        instrument: u32,
    },
    Rejected {
        order_id: u64,
        account: u32,
        instrument: u32,
        reason: Reason,
    },
    Fill {
        order_id: u64,
        account: u32,
        instrument: u32,
        side: Side,
        price: Ticks,
        qty: Lots,
        /// Negative = rebate.
        fee: Money,
        maker: bool,
        /// Open qty after this fill.
        remaining: Lots,
    },
    Cancelled {
        order_id: u64,
        account: u32,
        instrument: u32,
        remaining: Lots,
        reason: Reason,
    },
}

/// A resting order as the venue holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOrder {
    pub order_id: u64,
    pub account: u32,
    pub instrument: u32,
    pub side: Side,
    /// Ticks.
    pub price: i64,
    /// Original qty in lots.
    pub qty: i64,
    /// Open qty in lots (> 0 while the order is on the book).
    pub remaining: i64,
    pub reduce_only: bool,
    /// Market lots estimated ahead of this order at its price (see crate docs).
    pub queue_ahead: i64,
}

/// A top-of-book market quote: best bid and ask with their displayed
/// sizes ([`SimVenue::on_quote`], [`SimVenue::best_quote`]). A side with a
/// price or size ≤ 0 is absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quote {
    pub bid_px: Ticks,
    pub bid_qty: Lots,
    pub ask_px: Ticks,
    pub ask_qty: Lots,
}

impl Quote {
    pub const fn new(bid_px: Ticks, bid_qty: Lots, ask_px: Ticks, ask_qty: Lots) -> Quote {
        Quote { bid_px, bid_qty, ask_px, ask_qty }
    }

    /// Price and size of side `s` (`Buy` = the bid), if that side is present.
    pub fn side(&self, s: Side) -> Option<(Ticks, Lots)> {
        let (px, qty) = match s {
            Side::Buy => (self.bid_px, self.bid_qty),
            Side::Sell => (self.ask_px, self.ask_qty),
        };
        (px.is_positive() && qty.is_positive()).then_some((px, qty))
    }

    /// Raw price of side `s` if that side is present (the book's keys are raw ticks).
    fn px(&self, s: Side) -> Option<i64> {
        self.side(s).map(|(px, _)| px.get())
    }
}

/// One L2 level update: the market displays `qty` lots at `price` on `side`
/// (`qty` ≤ 0 deletes the level) ([`SimVenue::on_book_level`], [`SimVenue::on_depth`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub side: Side,
    pub price: Ticks,
    pub qty: Lots,
}

type Levels = BTreeMap<i64, VecDeque<u64>>;

#[derive(Default)]
struct Book {
    bids: Levels,
    asks: Levels,
    quote: Option<Quote>,
    /// Displayed market size still available to strategy orders.
    avail_bid: i64,
    avail_ask: i64,
    /// L2 mode (any `on_book_level` seen): displayed size per price.
    l2: bool,
    depth_bid: BTreeMap<i64, i64>,
    depth_ask: BTreeMap<i64, i64>,
    /// L2 mode: print volume at a price since that level's last update.
    traded_bid: BTreeMap<i64, i64>,
    traded_ask: BTreeMap<i64, i64>,
    last_trade: Option<i64>,
}

impl Book {
    fn levels(&self, s: Side) -> &Levels {
        match s {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }
    fn levels_mut(&mut self, s: Side) -> &mut Levels {
        match s {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
    /// Best resting price on side `s`.
    fn best(&self, s: Side) -> Option<i64> {
        match s {
            Side::Buy => self.bids.last_key_value().map(|(p, _)| *p),
            Side::Sell => self.asks.first_key_value().map(|(p, _)| *p),
        }
    }
    fn front(&self, s: Side, px: i64) -> Option<u64> {
        self.levels(s).get(&px).and_then(|l| l.front().copied())
    }
    fn avail(&self, s: Side) -> i64 {
        match s {
            Side::Buy => self.avail_bid,
            Side::Sell => self.avail_ask,
        }
    }
    fn avail_mut(&mut self, s: Side) -> &mut i64 {
        match s {
            Side::Buy => &mut self.avail_bid,
            Side::Sell => &mut self.avail_ask,
        }
    }
    fn depth(&self, s: Side) -> &BTreeMap<i64, i64> {
        match s {
            Side::Buy => &self.depth_bid,
            Side::Sell => &self.depth_ask,
        }
    }
    fn depth_mut(&mut self, s: Side) -> (&mut BTreeMap<i64, i64>, &mut BTreeMap<i64, i64>) {
        match s {
            Side::Buy => (&mut self.depth_bid, &mut self.traded_bid),
            Side::Sell => (&mut self.depth_ask, &mut self.traded_ask),
        }
    }
    /// Market displayed liquidity on side `s`: (price, available size), if any is left.
    fn market(&self, s: Side) -> Option<(i64, i64)> {
        let px = self.quote?.px(s)?;
        let a = self.avail(s);
        (a > 0).then_some((px, a))
    }
}

/// Levels of one side in priority order, without boxing.
enum LevelIter<'a> {
    Up(std::collections::btree_map::Iter<'a, i64, VecDeque<u64>>),
    Down(std::iter::Rev<std::collections::btree_map::Iter<'a, i64, VecDeque<u64>>>),
}

impl<'a> Iterator for LevelIter<'a> {
    type Item = (&'a i64, &'a VecDeque<u64>);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            LevelIter::Up(it) => it.next(),
            LevelIter::Down(it) => it.next(),
        }
    }
}

/// Would an order on `side` with limit `limit` trade at `px`?
#[inline]
fn crosses(side: Side, limit: i64, px: i64) -> bool {
    match side {
        Side::Buy => px <= limit,
        Side::Sell => px >= limit,
    }
}

/// Is price `a` strictly better than `b` for a resting order on side `s`?
#[inline]
fn strictly_better(s: Side, a: i64, b: i64) -> bool {
    match s {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

/// How much `side` may trade without increasing |pos| or flipping it.
#[inline]
fn reducible(pos_qty: i64, side: Side) -> i64 {
    match side {
        Side::Buy => (-pos_qty).max(0),
        Side::Sell => pos_qty.max(0),
    }
}

/// An order-entry action on its way to the book (latency > 0).
#[derive(Clone, Copy, Debug)]
enum Pending {
    Submit(NewOrder),
    Cancel(u64, Reason),
    CancelAccount(u32, Option<u32>, Reason),
}

/// Per-instrument derivative state.
#[derive(Clone, Debug)]
struct InstState {
    index: Option<i64>,
    basis: i64,
    ext_mark: Option<i64>,
    funding_rate: Decimal,
    /// Next funding time (0 = not yet initialised).
    next_funding: u64,
    /// Trading closed (expiry reached or settled).
    expired: bool,
    settled: Option<i64>,
    /// Settlement price given up front (`set_settlement_price`).
    settle_at: Option<i64>,
}

/// The simulated exchange. See the crate docs for the exact fill model.
/// Nothing is global: every venue owns its config, instruments, books,
/// accounts and clock, so several venues run side by side.
pub struct SimVenue {
    instruments: Vec<Instrument>,
    fees: FeeSchedule,
    config: VenueConfig,
    books: Vec<Book>,
    orders: BTreeMap<u64, OpenOrder>,
    by_account: BTreeSet<(u32, u64)>,
    positions: BTreeMap<(u32, u32), Position>,
    /// Per-maker-account lots used during a FOK pre-check (reused, cleared each time).
    scratch: Vec<(u32, i64)>,
    /// Venue clock: the latest timestamp processed.
    now: u64,
    /// The clock has seen its first timestamp.
    started: bool,
    /// Actions in flight, in (arrival, sequence) order.
    pending: VecDeque<(u64, Pending)>,
    state: Vec<InstState>,
    vols: BTreeMap<u64, f64>,
    collateral: BTreeMap<u32, i64>,
    notices: Vec<VenueNotice>,
    /// Reusable id buffer for settlement / liquidation walks.
    ids: Vec<u64>,
    accts: Vec<u32>,
}

impl SimVenue {
    /// Instrument ids are indices `0..n` of `instruments`. Equivalent to
    /// [`SimVenue::with_config`] with default config and these fees.
    pub fn new(instruments: Vec<Instrument>, fees: FeeSchedule) -> Self {
        Self::with_config(instruments, VenueConfig { fees, ..VenueConfig::default() })
    }

    /// A venue with its own config. Option underlyings are linked by symbol
    /// among `instruments` (an option whose underlying is missing keeps
    /// `underlying = None` and has no mark).
    pub fn with_config(mut instruments: Vec<Instrument>, config: VenueConfig) -> Self {
        for k in 0..instruments.len() {
            if instruments[k].underlying.is_none()
                && let Some(u) = instruments[k].underlying_symbol.clone()
            {
                instruments[k].underlying = instruments
                    .iter()
                    .position(|i| i.symbol == u)
                    .filter(|&j| j != k)
                    .and_then(|j| u32::try_from(j).ok());
            }
        }
        let books = instruments.iter().map(|_| Book::default()).collect();
        let state = instruments
            .iter()
            .map(|i| InstState {
                index: None,
                basis: 0,
                ext_mark: None,
                funding_rate: i.funding_rate,
                next_funding: 0,
                expired: false,
                settled: None,
                settle_at: None,
            })
            .collect();
        SimVenue {
            instruments,
            fees: config.fees,
            config,
            books,
            orders: BTreeMap::new(),
            by_account: BTreeSet::new(),
            positions: BTreeMap::new(),
            scratch: Vec::new(),
            now: 0,
            started: false,
            pending: VecDeque::new(),
            state,
            vols: BTreeMap::new(),
            collateral: BTreeMap::new(),
            notices: Vec::new(),
            ids: Vec::new(),
            accts: Vec::new(),
        }
    }

    pub fn config(&self) -> &VenueConfig {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The venue clock (latest timestamp processed).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Number of order-entry actions still in flight.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Move every notice emitted so far into `out` (appended, in order).
    pub fn take_notices(&mut self, out: &mut Vec<VenueNotice>) {
        out.append(&mut self.notices);
    }

    pub fn fees(&self) -> FeeSchedule {
        self.fees
    }

    pub fn instrument(&self, id: u32) -> Option<&Instrument> {
        self.instruments.get(id as usize)
    }

    /// Last replayed market quote (as given, not reduced by strategy
    /// consumption). `None` before the first quote.
    pub fn best_quote(&self, instrument: u32) -> Option<Quote> {
        self.books.get(instrument as usize)?.quote
    }

    /// The account's venue position (default = flat, never traded).
    pub fn position(&self, account: u32, instrument: u32) -> Position {
        self.positions.get(&(account, instrument)).copied().unwrap_or_default()
    }

    /// The account's open orders in order-id order.
    pub fn open_orders(&self, account: u32) -> impl Iterator<Item = OpenOrder> + '_ {
        self.by_account.range((account, 0)..=(account, u64::MAX)).map(move |(_, id)| self.orders[id])
    }

    /// One open order by id.
    pub fn order(&self, order_id: u64) -> Option<OpenOrder> {
        self.orders.get(&order_id).copied()
    }

    /// A new top-of-book quote: resets displayed sizes, caps queue positions,
    /// then fills resting orders the quote crosses (fill model rule 1).
    pub fn on_quote(&mut self, ts_ns: u64, instrument: u32, quote: Quote, out: &mut Vec<VenueEvent>) {
        self.advance_to(ts_ns, None, out);
        self.apply_quote(instrument, quote, out);
        self.check_margin(out);
    }

    /// One L2 level update: the market now displays `level.qty` lots at
    /// `level.price` on `level.side` (`qty <= 0` deletes the level). Updates
    /// queue positions at that price (see "Queue position"); if the best bid
    /// or ask (price or size) changed, it is applied as a new top-of-book
    /// quote (`on_quote` rules).
    pub fn on_book_level(&mut self, ts_ns: u64, instrument: u32, level: Level, out: &mut Vec<VenueEvent>) {
        self.on_depth(ts_ns, instrument, level, out);
        let i = instrument as usize;
        if i >= self.books.len() || !level.price.is_positive() {
            return;
        }
        let book = &self.books[i];
        let top = |s: Side| -> (i64, i64) {
            let d = book.depth(s);
            let e = match s {
                Side::Buy => d.last_key_value(),
                Side::Sell => d.first_key_value(),
            };
            e.map_or((0, 0), |(p, q)| (*p, *q))
        };
        let (bp, bq) = top(Side::Buy);
        let (ap, aq) = top(Side::Sell);
        let q = Quote::new(Ticks::new(bp), Lots::new(bq), Ticks::new(ap), Lots::new(aq));
        if book.quote != Some(q) {
            self.apply_quote(instrument, q, out);
        }
        self.check_margin(out);
    }

    /// As [`SimVenue::on_book_level`] but only the depth and the queue
    /// positions at that price change: the top-of-book quote is left to the
    /// caller's next `on_quote` (the engine's path: a data source applies a
    /// whole exchange message of levels, then sends the resulting top of
    /// book once, so a half-applied message never shows a crossed book).
    pub fn on_depth(&mut self, ts_ns: u64, instrument: u32, level: Level, out: &mut Vec<VenueEvent>) {
        let (side, price, qty) = (level.side, level.price.get(), level.qty.get());
        self.advance_to(ts_ns, None, out);
        let i = instrument as usize;
        if i >= self.books.len() || price <= 0 {
            return;
        }
        let book = &mut self.books[i];
        book.l2 = true;
        let (depth, traded) = book.depth_mut(side);
        let old = depth.get(&price).copied().unwrap_or(0);
        let new = qty.max(0);
        if new == 0 {
            depth.remove(&price);
        } else {
            depth.insert(price, new);
        }
        let t = traded.remove(&price).unwrap_or(0);
        let d = old - new;
        // Decrease not explained by prints = cancels, spread over the level.
        let by_trades = d.clamp(0, t);
        let cancelled = d - by_trades;
        let base = old - by_trades;
        if let Some(level) = self.books[i].levels(side).get(&price) {
            for id in level {
                if let Some(o) = self.orders.get_mut(id) {
                    if cancelled > 0 && base > 0 {
                        // At most queue_ahead: cancelled ≤ base.
                        let cut = bulkhead_model::units::saturate_i64(
                            cancelled as i128 * o.queue_ahead as i128 / base as i128,
                        );
                        o.queue_ahead -= cut;
                    }
                    o.queue_ahead = o.queue_ahead.min(new);
                }
            }
        }
    }

    /// Start of an L2 snapshot: forget the displayed depth of `instrument`
    /// (queue positions are kept; the snapshot's levels then cap them).
    pub fn on_book_clear(&mut self, ts_ns: u64, instrument: u32, out: &mut Vec<VenueEvent>) {
        self.advance_to(ts_ns, None, out);
        if let Some(b) = self.books.get_mut(instrument as usize) {
            b.depth_bid.clear();
            b.depth_ask.clear();
            b.traded_bid.clear();
            b.traded_ask.clear();
        }
    }

    fn apply_quote(&mut self, instrument: u32, q: Quote, out: &mut Vec<VenueEvent>) {
        let i = instrument as usize;
        let Some(book) = self.books.get_mut(i) else { return };
        book.quote = Some(q);
        book.avail_bid = q.side(Side::Buy).map_or(0, |(_, qty)| qty.get());
        book.avail_ask = q.side(Side::Sell).map_or(0, |(_, qty)| qty.get());
        for s in [Side::Buy, Side::Sell] {
            if let Some(px) = q.px(s) {
                let shown = book.avail(s);
                if let Some(level) = book.levels(s).get(&px) {
                    for id in level {
                        if let Some(o) = self.orders.get_mut(id) {
                            o.queue_ahead = o.queue_ahead.min(shown);
                        }
                    }
                }
            }
        }
        // Resting buys against the ask, then resting sells against the bid.
        for s in [Side::Buy, Side::Sell] {
            let Some(mpx) = q.px(s.opposite()) else { continue };
            loop {
                let book = &self.books[i];
                let budget = book.avail(s.opposite());
                if budget <= 0 {
                    break;
                }
                let Some(best) = book.best(s) else { break };
                if !crosses(s, best, mpx) {
                    break;
                }
                let id = book.front(s, best).expect("non-empty level");
                let Some(qty) = self.passive_qty(id, budget, out) else { continue };
                *self.books[i].avail_mut(s.opposite()) -= qty;
                self.fill_resting(id, best, qty, out);
            }
        }
    }

    /// A market trade print (fill model rule 2).
    pub fn on_trade(
        &mut self,
        ts_ns: u64,
        instrument: u32,
        price: Ticks,
        qty: Lots,
        aggressor: Side,
        out: &mut Vec<VenueEvent>,
    ) {
        self.advance_to(ts_ns, None, out);
        self.apply_trade(instrument, price.get(), qty.get(), aggressor, out);
        self.check_margin(out);
    }

    fn apply_trade(&mut self, instrument: u32, price: i64, qty: i64, aggressor: Side, out: &mut Vec<VenueEvent>) {
        let i = instrument as usize;
        if i >= self.books.len() || qty <= 0 {
            return;
        }
        let s = aggressor.opposite(); // resting side that gets hit
        {
            let book = &mut self.books[i];
            book.last_trade = Some(price);
            if book.l2 {
                *book.depth_mut(s).1.entry(price).or_default() += qty;
            }
        }
        let mut budget = qty;
        // (a) strictly better than the print, best price then time.
        while budget > 0 {
            let book = &self.books[i];
            let Some(best) = book.best(s) else { break };
            if !strictly_better(s, best, price) {
                break;
            }
            let id = book.front(s, best).expect("non-empty level");
            let Some(f) = self.passive_qty(id, budget, out) else { continue };
            budget -= f;
            self.fill_resting(id, best, f, out);
        }
        // The print went through every strictly better price: nothing is ahead there any more.
        let book = &self.books[i];
        let better = match s {
            Side::Buy => book.bids.range((Bound::Excluded(price), Bound::Unbounded)),
            Side::Sell => book.asks.range((Bound::Unbounded, Bound::Excluded(price))),
        };
        for (_, level) in better {
            for id in level {
                if let Some(o) = self.orders.get_mut(id) {
                    o.queue_ahead = 0;
                }
            }
        }
        // (b) exactly at the print price, time order, queue first.
        let mut v = budget;
        let mut idx = 0;
        while v > 0 {
            let Some(id) = self.books[i].levels(s).get(&price).and_then(|l| l.get(idx)).copied() else { break };
            let o = self.orders.get_mut(&id).expect("booked order exists");
            let erode = o.queue_ahead.min(v);
            o.queue_ahead -= erode;
            let avail = v - erode;
            if avail == 0 {
                idx += 1;
                continue;
            }
            let Some(f) = self.passive_qty(id, avail, out) else { continue }; // cancelled: same idx
            v -= f;
            if self.fill_resting(id, price, f, out) {
                idx += 1;
            }
        }
    }

    /// Validate, match and (for GTC / post-only) rest an order risk
    /// approved (the approval is used up). With latency
    /// (`md_latency_ns + order_latency_ns > 0`) the order is held and
    /// processed when the clock reaches its arrival time (crate docs).
    pub fn submit(&mut self, ts_ns: u64, order: Approved, out: &mut Vec<VenueEvent>) {
        let o = order.order();
        let order = NewOrder {
            order_id: order.order_id(),
            account: order.strategy(),
            instrument: o.instrument,
            side: o.side,
            order_type: o.order_type,
            tif: o.tif,
            price: o.price,
            qty: o.qty,
            reduce_only: o.reduce_only,
        };
        self.submit_order(ts_ns, &order, out);
    }

    /// [`SimVenue::submit`] of a raw order: the crate's own tests of matching.
    pub(crate) fn submit_order(&mut self, ts_ns: u64, order: &NewOrder, out: &mut Vec<VenueEvent>) {
        self.advance_to(ts_ns, None, out);
        match self.latency() {
            0 => self.submit_now(order, out),
            l => self.enqueue(ts_ns.saturating_add(l), Pending::Submit(*order)),
        }
    }

    fn submit_now(&mut self, order: &NewOrder, out: &mut Vec<VenueEvent>) {
        let o = *order;
        let reject = |out: &mut Vec<VenueEvent>, reason| {
            out.push(VenueEvent::Rejected {
                order_id: o.order_id,
                account: o.account,
                instrument: o.instrument,
                reason,
            })
        };
        let i = o.instrument as usize;
        if i >= self.books.len() {
            return reject(out, Reason::UnknownInstrument);
        }
        if self.state[i].expired {
            return reject(out, Reason::InstrumentExpired);
        }
        let market = o.order_type == OrderType::Market;
        if o.qty <= 0 || (!market && o.price <= 0) {
            return reject(out, Reason::BadPriceOrQty);
        }
        let inst = &self.instruments[i];
        if !market
            && inst.min_notional.is_positive()
            && inst.notional(Ticks::new(o.price), Lots::new(o.qty)) < inst.min_notional
        {
            return reject(out, Reason::BelowMinNotional);
        }
        if self.orders.contains_key(&o.order_id) {
            return reject(out, Reason::InvalidOrder);
        }
        if market && o.tif == TimeInForce::PostOnly {
            return reject(out, Reason::PostOnlyWouldCross);
        }
        if o.reduce_only && o.qty > reducible(self.position(o.account, o.instrument).qty, o.side) {
            return reject(out, Reason::ReduceOnlyWouldIncrease);
        }
        if !self.initial_margin_ok(&o) {
            return reject(out, Reason::InsufficientMargin);
        }
        let opp = o.side.opposite();
        let book = &self.books[i];
        if market && book.market(opp).is_none() && book.best(opp).is_none() {
            return reject(out, Reason::NoLiquidity);
        }
        if o.tif == TimeInForce::PostOnly {
            let q = book.quote.and_then(|q| q.px(opp));
            if q.into_iter().chain(book.best(opp)).any(|px| crosses(o.side, o.price, px)) {
                return reject(out, Reason::PostOnlyWouldCross);
            }
        }
        out.push(VenueEvent::Accepted { order_id: o.order_id, account: o.account, instrument: o.instrument });
        let cancel = |out: &mut Vec<VenueEvent>, remaining, reason| {
            out.push(VenueEvent::Cancelled {
                order_id: o.order_id,
                account: o.account,
                instrument: o.instrument,
                remaining: Lots::new(remaining),
                reason,
            })
        };
        if o.tif == TimeInForce::PostOnly {
            self.rest(&o, o.qty);
            return;
        }
        let limit = if market { None } else { Some(o.price) };
        if o.tif == TimeInForce::Fok && self.fillable(&o, limit) < o.qty {
            return cancel(out, o.qty, Reason::FokNotFilled);
        }
        let (rem, stop) = self.take(&o, limit, out);
        if rem == 0 {
            return;
        }
        match stop {
            Some(reason) => cancel(out, rem, reason),
            None if market || o.tif != TimeInForce::Gtc => {
                debug_assert_ne!(o.tif, TimeInForce::Fok, "FOK pre-check guaranteed a full fill");
                cancel(out, rem, Reason::IocRemainder)
            }
            None => self.rest(&o, rem),
        }
    }

    /// Cancel one open order. Returns false (and emits nothing) if it is not open.
    /// With latency: returns whether the order is open or in flight now; the
    /// cancel takes effect at its arrival (nothing is emitted then if the
    /// order is no longer open).
    pub fn cancel(&mut self, ts_ns: u64, order_id: u64, reason: Reason, out: &mut Vec<VenueEvent>) -> bool {
        self.advance_to(ts_ns, None, out);
        match self.latency() {
            0 => self.cancel_resting(order_id, reason, out),
            l => {
                let known = self.orders.contains_key(&order_id)
                    || self.pending.iter().any(|(_, p)| matches!(p, Pending::Submit(o) if o.order_id == order_id));
                if known {
                    self.enqueue(ts_ns.saturating_add(l), Pending::Cancel(order_id, reason));
                }
                known
            }
        }
    }

    /// Mass cancel of one account's open orders (optionally one instrument), in
    /// order-id order. Returns how many were cancelled. With latency: returns
    /// how many are open or in flight now; the mass cancel takes effect at its
    /// arrival and then cancels whatever of the account is open.
    pub fn cancel_account(
        &mut self,
        ts_ns: u64,
        account: u32,
        instrument: Option<u32>,
        reason: Reason,
        out: &mut Vec<VenueEvent>,
    ) -> usize {
        self.advance_to(ts_ns, None, out);
        match self.latency() {
            0 => self.cancel_account_now(account, instrument, reason, out),
            l => {
                let open = self.open_orders(account).filter(|o| instrument.is_none_or(|i| o.instrument == i)).count();
                let flying = self
                    .pending
                    .iter()
                    .filter(|(_, p)| {
                        matches!(p, Pending::Submit(o) if o.account == account
                            && instrument.is_none_or(|i| o.instrument == i))
                    })
                    .count();
                self.enqueue(ts_ns.saturating_add(l), Pending::CancelAccount(account, instrument, reason));
                open + flying
            }
        }
    }

    fn cancel_account_now(
        &mut self,
        account: u32,
        instrument: Option<u32>,
        reason: Reason,
        out: &mut Vec<VenueEvent>,
    ) -> usize {
        let mut n = 0;
        let mut from = 0u64;
        while let Some(&(_, id)) = self.by_account.range((account, from)..=(account, u64::MAX)).next() {
            if instrument.is_none_or(|ins| self.orders[&id].instrument == ins) {
                self.cancel_resting(id, reason, out);
                n += 1;
            }
            match id.checked_add(1) {
                Some(next) => from = next,
                None => break,
            }
        }
        n
    }

    // ---- internals -------------------------------------------------------

    /// Apply a fill to an account's venue position; returns the fee.
    fn book_fill(&mut self, account: u32, instrument: u32, side: Side, price: i64, qty: i64, maker: bool) -> i64 {
        let ppm = if maker { self.fees.maker_ppm } else { self.fees.taker_ppm };
        let fee = self.fill_fee(instrument, price, qty, ppm);
        let inst = &self.instruments[instrument as usize];
        self.positions.entry((account, instrument)).or_default().apply_fill_with_fee(inst, side, price, qty, fee)
    }

    /// How much resting order `id` may fill now out of `budget`, after its
    /// reduce-only cap. `None` = it was cancelled (reduce-only with nothing
    /// left to reduce).
    fn passive_qty(&mut self, id: u64, budget: i64, out: &mut Vec<VenueEvent>) -> Option<i64> {
        let o = self.orders[&id];
        let mut q = o.remaining.min(budget);
        if o.reduce_only {
            let r = reducible(self.position(o.account, o.instrument).qty, o.side);
            if r == 0 {
                self.cancel_resting(id, Reason::ReduceOnlyWouldIncrease, out);
                return None;
            }
            q = q.min(r);
        }
        Some(q)
    }

    /// Fill a resting order as maker. Returns whether it is still open.
    fn fill_resting(&mut self, id: u64, price: i64, qty: i64, out: &mut Vec<VenueEvent>) -> bool {
        let o = {
            let o = self.orders.get_mut(&id).expect("resting order exists");
            o.remaining -= qty;
            *o
        };
        debug_assert!(qty > 0 && o.remaining >= 0);
        let fee = self.book_fill(o.account, o.instrument, o.side, price, qty, true);
        out.push(VenueEvent::Fill {
            order_id: id,
            account: o.account,
            instrument: o.instrument,
            side: o.side,
            price: Ticks::new(price),
            qty: Lots::new(qty),
            fee: Money::new(fee),
            maker: true,
            remaining: Lots::new(o.remaining),
        });
        if o.remaining == 0 {
            self.remove_resting(id);
            false
        } else if o.reduce_only && reducible(self.position(o.account, o.instrument).qty, o.side) == 0 {
            self.cancel_resting(id, Reason::ReduceOnlyWouldIncrease, out);
            false
        } else {
            true
        }
    }

    fn remove_resting(&mut self, id: u64) -> Option<OpenOrder> {
        let o = self.orders.remove(&id)?;
        self.by_account.remove(&(o.account, id));
        let levels = self.books[o.instrument as usize].levels_mut(o.side);
        if let Some(level) = levels.get_mut(&o.price) {
            if let Some(pos) = level.iter().position(|&x| x == id) {
                level.remove(pos);
            }
            if level.is_empty() {
                levels.remove(&o.price);
            }
        }
        Some(o)
    }

    fn cancel_resting(&mut self, id: u64, reason: Reason, out: &mut Vec<VenueEvent>) -> bool {
        match self.remove_resting(id) {
            Some(o) => {
                out.push(VenueEvent::Cancelled {
                    order_id: id,
                    account: o.account,
                    instrument: o.instrument,
                    remaining: Lots::new(o.remaining),
                    reason,
                });
                true
            }
            None => false,
        }
    }

    /// Put `remaining` of `o` on the book with its initial queue position.
    fn rest(&mut self, o: &NewOrder, remaining: i64) {
        let book = &mut self.books[o.instrument as usize];
        let top = match book.quote.and_then(|q| q.px(o.side)) {
            Some(px) if px == o.price => Some(book.avail(o.side)),
            _ => None,
        };
        let shown = if book.l2 { book.depth(o.side).get(&o.price).copied() } else { None };
        let queue_ahead = match (top, shown) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => 0,
        };
        book.levels_mut(o.side).entry(o.price).or_default().push_back(o.order_id);
        self.orders.insert(
            o.order_id,
            OpenOrder {
                order_id: o.order_id,
                account: o.account,
                instrument: o.instrument,
                side: o.side,
                price: o.price,
                qty: o.qty,
                remaining,
                reduce_only: o.reduce_only,
                queue_ahead,
            },
        );
        self.by_account.insert((o.account, o.order_id));
    }

    /// Exactly how much `o` would fill right now (read-only twin of `take`).
    fn fillable(&mut self, o: &NewOrder, limit: Option<i64>) -> i64 {
        let mut used = std::mem::take(&mut self.scratch);
        used.clear();
        let book = &self.books[o.instrument as usize];
        let opp = o.side.opposite();
        let ok = |px: i64| limit.is_none_or(|l| crosses(o.side, l, px));
        let mut mkt = book.market(opp);
        let mut total: i64 = 0;
        let levels = match opp {
            Side::Sell => LevelIter::Up(book.asks.iter()),
            Side::Buy => LevelIter::Down(book.bids.iter().rev()),
        };
        'walk: for (&px, level) in levels {
            if let Some((mp, ma)) = mkt
                && !strictly_better(opp, px, mp)
            {
                if ok(mp) {
                    total = total.saturating_add(ma);
                }
                mkt = None;
            }
            if total >= o.qty || !ok(px) {
                break;
            }
            for id in level {
                let m = &self.orders[id];
                if m.account == o.account {
                    if self.config.stp == StpMode::CancelOldest {
                        continue; // it would be cancelled, matching goes on
                    }
                    mkt = None; // self-trade stop: nothing after this counts
                    break 'walk;
                }
                let slot = match used.iter().position(|(a, _)| *a == m.account) {
                    Some(k) => k,
                    None => {
                        used.push((m.account, 0));
                        used.len() - 1
                    }
                };
                let mut f = m.remaining;
                if m.reduce_only {
                    let pos = self.positions.get(&(m.account, m.instrument)).map_or(0, |p| p.qty);
                    f = f.min((reducible(pos, m.side) - used[slot].1).max(0));
                }
                used[slot].1 += f;
                total = total.saturating_add(f);
                if total >= o.qty {
                    break 'walk;
                }
            }
        }
        if let Some((mp, ma)) = mkt
            && ok(mp)
        {
            total = total.saturating_add(ma);
        }
        self.scratch = used;
        total
    }

    /// Match `o` as aggressor. Returns the unfilled qty and the reason matching
    /// was stopped early (self-trade, reduce-only), if any.
    fn take(&mut self, o: &NewOrder, limit: Option<i64>, out: &mut Vec<VenueEvent>) -> (i64, Option<Reason>) {
        let i = o.instrument as usize;
        let opp = o.side.opposite();
        let mut rem = o.qty;
        while rem > 0 {
            let book = &self.books[i];
            let mkt = book.market(opp);
            let rest = book.best(opp);
            let (px, from_market) = match (mkt, rest) {
                (None, None) => break,
                (Some((mp, _)), None) => (mp, true),
                (None, Some(rp)) => (rp, false),
                (Some((mp, _)), Some(rp)) => {
                    if strictly_better(opp, rp, mp) {
                        (rp, false)
                    } else {
                        (mp, true)
                    }
                }
            };
            if limit.is_some_and(|l| !crosses(o.side, l, px)) {
                break;
            }
            let mut cap = rem;
            if o.reduce_only {
                let r = reducible(self.position(o.account, o.instrument).qty, o.side);
                if r == 0 {
                    return (rem, Some(Reason::ReduceOnlyWouldIncrease));
                }
                cap = cap.min(r);
            }
            let (q, maker) = if from_market {
                let q = cap.min(self.books[i].avail(opp));
                *self.books[i].avail_mut(opp) -= q;
                (q, None)
            } else {
                let id = book.front(opp, px).expect("non-empty level");
                if self.orders[&id].account == o.account {
                    match self.config.stp {
                        StpMode::CancelNewest => return (rem, Some(Reason::SelfTrade)),
                        StpMode::CancelOldest => {
                            self.cancel_resting(id, Reason::SelfTrade, out);
                            continue;
                        }
                        StpMode::CancelBoth => {
                            self.cancel_resting(id, Reason::SelfTrade, out);
                            return (rem, Some(Reason::SelfTrade));
                        }
                    }
                }
                let Some(mq) = self.passive_qty(id, cap, out) else { continue };
                (mq, Some(id))
            };
            rem -= q;
            let fee = self.book_fill(o.account, o.instrument, o.side, px, q, false);
            out.push(VenueEvent::Fill {
                order_id: o.order_id,
                account: o.account,
                instrument: o.instrument,
                side: o.side,
                price: Ticks::new(px),
                qty: Lots::new(q),
                fee: Money::new(fee),
                maker: false,
                remaining: Lots::new(rem),
            });
            if let Some(id) = maker {
                self.fill_resting(id, px, q, out);
            }
        }
        (rem, None)
    }
}

#[cfg(test)]
mod derivs_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
