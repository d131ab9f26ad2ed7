//! The risk engine: per-strategy books of positions and open orders,
//! reference prices, trading states, throttles, firm-wide aggregates, PnL,
//! self-trade prevention and the ordered checks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bulkhead_abi::{OrderRequest, OrderType, Reason, Side};
use bulkhead_model::{HalfTicks, Instrument, Lots, Money, Position, Ticks, format_money};

use crate::decision::{Approved, Decision, NO_INSTRUMENT};
use crate::firm::FirmPolicy;
use crate::limits::{self, LimitChange, LimitError};
use crate::options::{GreeksError, lot_greeks};
use crate::policy::{CollarReference, InstrumentLimits, Policy, kind_index};
use crate::throttle::TokenBucket;

mod controls;
mod mmp;
use controls::Check;
pub use controls::{CONTROLS, Control, Part, RiskPart};
pub use mmp::MMP_MAX_ENTRIES;
use mmp::{Freeze, MmpWindow};

/// Trading state of a scope (R11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TradingState {
    /// Normal trading.
    Active,
    /// Only orders that cannot increase absolute worst-case exposure.
    Reducing,
    /// No new orders. Cancels are always allowed.
    Halted,
}

impl TradingState {
    /// Every state, in [`TradingState::code`] order: the one table of the
    /// states' codes and names.
    pub const ALL: [TradingState; 3] = [TradingState::Active, TradingState::Reducing, TradingState::Halted];

    const fn rank(self) -> u8 {
        self.code()
    }
    /// The state's code in journal `STATE` records and metrics: 0 active,
    /// 1 reducing, 2 halted (also its strictness: higher is stricter).
    pub const fn code(self) -> u8 {
        match self {
            TradingState::Active => 0,
            TradingState::Reducing => 1,
            TradingState::Halted => 2,
        }
    }
    /// The state of a [`TradingState::code`], if it is one.
    pub const fn from_code(code: u8) -> Option<TradingState> {
        match code {
            0 => Some(TradingState::Active),
            1 => Some(TradingState::Reducing),
            2 => Some(TradingState::Halted),
            _ => None,
        }
    }
    /// The name operators see (API, dashboard, `journal show`, state history).
    pub const fn name(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::Reducing => "reducing",
            TradingState::Halted => "halted",
        }
    }
}

/// Where a trading state applies (R11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One strategy (id from [`RiskEngine::add_strategy`]).
    Strategy(u32),
    /// One instrument, across all strategies.
    Instrument(u32),
    /// Everything.
    Global,
}

/// One open order of one strategy, as risk knows it (for mass cancels and
/// self-trade prevention). `order_id` is the id the engine passed to
/// [`RiskEngine::order_opened`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderRef {
    pub strategy: u32,
    pub order_id: u64,
}

/// Why risk changed a trading state on its own: the control's stable code
/// and a human sentence with the numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// `R8_LOSS_LIMIT_REDUCING`, `R8_LOSS_LIMIT_HALTED` or `R14_MMP_TRIGGERED`.
    pub reason: Reason,
    pub text: String,
}

/// A trading-state change decided by risk itself (R8 loss limit, R14 MMP),
/// to be journalled by the engine. Changes made through
/// [`RiskEngine::set_state`] / [`RiskEngine::kill`] are not reported: the
/// caller knows who caused them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub scope: Scope,
    pub from: TradingState,
    pub to: TradingState,
    /// Event time of the input that caused it.
    pub ts_ns: u64,
    pub cause: Cause,
}

/// Something the engine must do because of a risk decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskAction {
    /// Cancel every open order of `strategy` (cancel cause `reason`).
    CancelAll { strategy: u32, reason: Reason },
}

/// PnL of a strategy, money units (1e-8 quote).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pnl {
    pub realised: Money,
    pub unrealised: Money,
    pub fees: Money,
}

impl Pnl {
    /// realised − fees + unrealised (saturating).
    pub fn total(&self) -> Money {
        let (r, f, u) = (self.realised.get(), self.fees.get(), self.unrealised.get());
        Money::saturating_from_i128(i128::from(r) - i128::from(f) + i128::from(u))
    }
}

/// Money values above this are treated as "astronomical" (clamped); far above
/// any i64 limit, so clamping never turns a reject into an accept.
const MONEY_CLAMP: i128 = 1 << 100;

/// Worst-case bookkeeping of one strategy in one instrument (lots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
///
/// The worst cases are lots in `i128`: a sum of three `i64` lots never overflows.
struct Exposure {
    position: Lots,
    open_buy: Lots,
    open_sell: Lots,
}

/// `(buy, sell)` extra lots of an order of `qty` on `side` (the other side 0).
fn legs(side: Side, qty: Lots) -> (Lots, Lots) {
    match side {
        Side::Buy => (qty, Lots::ZERO),
        Side::Sell => (Lots::ZERO, qty),
    }
}

impl Exposure {
    /// Position if every open buy fills and no sell does.
    fn long_wc(&self, extra_buy: Lots) -> i128 {
        i128::from(self.position.get()) + i128::from(self.open_buy.get()) + i128::from(extra_buy.get())
    }
    /// Position if every open sell fills and no buy does.
    fn short_wc(&self, extra_sell: Lots) -> i128 {
        i128::from(self.position.get()) - i128::from(self.open_sell.get()) - i128::from(extra_sell.get())
    }
    /// Largest absolute position any subset of fills can produce.
    fn abs_wc(&self, side: Option<Side>, qty: Lots) -> i128 {
        let (b, s) = side.map_or((Lots::ZERO, Lots::ZERO), |side| legs(side, qty));
        self.long_wc(b).abs().max(self.short_wc(s).abs())
    }
    fn is_flat(&self) -> bool {
        self.position.is_zero() && self.open_buy.is_zero() && self.open_sell.is_zero()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct RefPrices {
    /// Last valid best bid/ask (both > 0, bid <= ask).
    quote: Option<(Ticks, Ticks)>,
    /// Last trade price.
    last: Option<Ticks>,
    /// The venue's mark, as the engine last gave it (`set_mark`).
    mark: Option<Ticks>,
    /// Event time of the last valid quote / trade.
    quote_ts: u64,
    last_ts: u64,
    /// Previous valid mid, for R13 jump detection.
    prev_mid2: Option<HalfTicks>,
    /// R13: new risk blocked until this event time, and the size of the jump (bps).
    quote_jump_until: u64,
    quote_jump_bps: i64,
    last_jump_until: u64,
    last_jump_bps: i64,
}

impl RefPrices {
    /// Reference price in half-ticks (2 × ticks), so a mid is exact.
    fn half_ticks(&self, r: CollarReference) -> Option<HalfTicks> {
        let mid = || self.quote.map(|(b, a)| Ticks::mid(b, a));
        match r {
            CollarReference::Mid => mid(),
            // The venue's mark; without one (no mark source yet), the mid.
            CollarReference::Mark => self.mark.map(Ticks::half_ticks).or_else(mid),
            CollarReference::Last => self.last.map(Ticks::half_ticks),
        }
    }
    fn updated_at(&self, r: CollarReference) -> u64 {
        match r {
            CollarReference::Mid | CollarReference::Mark => self.quote_ts,
            CollarReference::Last => self.last_ts,
        }
    }
    fn jump(&self, r: CollarReference) -> (u64, i64) {
        match r {
            CollarReference::Mid | CollarReference::Mark => (self.quote_jump_until, self.quote_jump_bps),
            CollarReference::Last => (self.last_jump_until, self.last_jump_bps),
        }
    }
}

/// Jump size in bps of `prev` (prev > 0), if it exceeds `max_bps`. (A
/// ratio: the same in half-ticks as in ticks.)
fn jump_bps(prev: HalfTicks, new: HalfTicks, max_bps: i64) -> Option<i64> {
    let (prev, d) = (prev.get(), (new - prev).get().abs());
    (d * 10_000 > i128::from(max_bps) * prev).then(|| to_i64(d * 10_000 / prev.max(1)))
}

/// Key of a resting limit order in the firm-wide STP book: price priority, then age.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RestKey {
    price: Ticks,
    seq: u64,
    strategy: u32,
    id: u64,
}

#[derive(Debug, Default)]
struct RestBook {
    buys: BTreeSet<RestKey>,
    sells: BTreeSet<RestKey>,
}

#[derive(Clone, Copy, Debug)]
struct OpenOrder {
    /// Engine slot of the instrument; `None` if the instrument is unknown
    /// (still counted towards R5 open orders, no exposure).
    slot: Option<usize>,
    side: Side,
    remaining: Lots,
    /// Limit orders: price and age, for self-trade prevention.
    rest: Option<RestKey>,
}

/// An order recently opened, for R6 duplicate detection.
#[derive(Clone, Copy, Debug)]
struct Recent {
    ts: u64,
    instrument: u32,
    side: Side,
    order_type: OrderType,
    price: Ticks,
    qty: Lots,
}

#[derive(Debug)]
struct StrategyBook {
    policy: Policy,
    /// Policy limits by engine slot (`None` = instrument not allowed).
    limits: Vec<Option<InstrumentLimits>>,
    /// R10 initial margin rate by slot, bps.
    margin_bps: Vec<i64>,
    state: TradingState,
    exposure: Vec<Exposure>,
    /// R8 accounting by slot.
    pnl: Vec<Position>,
    /// Last fill price by slot (fallback mark when there is no reference).
    last_fill: Vec<Ticks>,
    fees: Money,
    open: BTreeMap<u64, OpenOrder>,
    orders: TokenBucket,
    messages: TokenBucket,
    /// Event time of the last check (used by `order_opened` for R6).
    last_check_ts: u64,
    recent: VecDeque<Recent>,
    /// R14 windows by slot (instruments in no group).
    mmp: Vec<MmpWindow>,
    /// R14 windows by group (`policy.mmp_groups` order).
    mmp_groups: Vec<MmpWindow>,
    /// R14 group index by slot.
    mmp_group_of: Vec<Option<usize>>,
    /// R14 freeze in force (the state it set), if any.
    freeze: Option<Freeze>,
}

#[derive(Debug)]
struct Firm {
    policy: FirmPolicy,
    max_position: Vec<Option<Lots>>,
    orders: Option<TokenBucket>,
    messages: Option<TokenBucket>,
}

/// Pre-trade risk engine for all strategies of one process.
///
/// Deterministic: state changes only through the methods below, time is the
/// event time passed in, and all maps are ordered.
#[derive(Debug)]
pub struct RiskEngine {
    instruments: Vec<Instrument>,
    /// `instruments[i].id == i` for all i (the usual case): lookup is an index.
    dense: bool,
    /// Otherwise: (id, slot) sorted by id.
    id_index: Vec<(u32, usize)>,
    refs: Vec<RefPrices>,
    instrument_state: Vec<TradingState>,
    global: TradingState,
    strategies: Vec<StrategyBook>,
    /// Σ over strategies of position and open orders, by slot (R12).
    firm_exposure: Vec<Exposure>,
    /// Resting limit orders of every strategy by slot (R7).
    rest: Vec<RestBook>,
    firm: Option<Firm>,
    /// R9 implied volatility by slot, bps of vol.
    vols: Vec<Option<i64>>,
    /// Latest event time seen by any call.
    now: u64,
    seq: u64,
    transitions: Vec<Transition>,
    actions: Vec<RiskAction>,
    /// R14: earliest event time a freeze ends (`u64::MAX`: none pending).
    mmp_wake: u64,
    /// Which controls run (split between strategy nodes and a gateway).
    part: RiskPart,
}

/// Money value of `lots` (a worst case, `i128` lots) at a reference of
/// `ref2`: |lots| × ref × tlv, signed like `lots`, clamped at `MONEY_CLAMP`.
fn money_at(lots: i128, ref2: HalfTicks, tlv: i64) -> i128 {
    let v = lots
        .unsigned_abs()
        .checked_mul(ref2.get().unsigned_abs())
        .and_then(|v| v.checked_mul(tlv.unsigned_abs() as u128))
        .map_or(MONEY_CLAMP, |v| (v / 2).min(MONEY_CLAMP as u128) as i128);
    if lots < 0 { -v } else { v }
}

/// Clamped into `i64` (a worst case in `i128` lots or money, for a record).
/// A strategy's id from its index in the books. Ids are `u32` and a book is
/// added only through [`RiskEngine::add_strategy`], so an index always fits
/// (4 billion books would not fit in memory first).
fn sid(si: usize) -> u32 {
    u32::try_from(si).unwrap_or(u32::MAX)
}

fn to_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Worst-case totals of a book of exposures before and after one order.
#[derive(Clone, Copy, Default)]
struct Totals {
    gross_b: i128,
    gross_a: i128,
    net_b: i128,
    net_a: i128,
    margin_b: i128,
    margin_a: i128,
}

/// One order's lots on one side of one instrument (engine slot), as the
/// worst-case sums see it.
#[derive(Clone, Copy)]
struct Leg {
    slot: usize,
    side: Side,
    qty: Lots,
}

impl Leg {
    /// `(buy, sell)` extra lots in slot `k`.
    fn at(self, k: usize) -> (Lots, Lots) {
        if k == self.slot { legs(self.side, self.qty) } else { (Lots::ZERO, Lots::ZERO) }
    }
}

/// Gross / net notional (and margin when `margin_bps` is given) of `exps`
/// before and after adding `leg`, at `reference` (prices and instruments
/// from `eng`). `Err(instrument id)` if an exposed instrument has no reference.
fn totals(
    eng: &RiskEngine,
    exps: &[Exposure],
    reference: CollarReference,
    leg: Leg,
    margin_bps: Option<&[i64]>,
) -> Result<Totals, u32> {
    let mut t = Totals::default();
    let (mut long_b, mut long_a, mut short_b, mut short_a) = (0i128, 0i128, 0i128, 0i128);
    for (k, ek) in exps.iter().enumerate() {
        if k != leg.slot && ek.is_flat() {
            continue;
        }
        let Some(r2) = eng.refs[k].half_ticks(reference) else {
            return Err(eng.instruments[k].id);
        };
        let tlv = eng.instruments[k].tick_lot_value;
        let (bq, sq) = leg.at(k);
        let gb = money_at(ek.abs_wc(None, Lots::ZERO), r2, tlv);
        let ga = money_at(ek.long_wc(bq).abs().max(ek.short_wc(sq).abs()), r2, tlv);
        t.gross_b = t.gross_b.saturating_add(gb);
        t.gross_a = t.gross_a.saturating_add(ga);
        if let Some(m) = margin_bps {
            t.margin_b = t.margin_b.saturating_add(gb * i128::from(m[k]) / 10_000);
            t.margin_a = t.margin_a.saturating_add(ga * i128::from(m[k]) / 10_000);
        }
        long_b = long_b.saturating_add(money_at(ek.long_wc(Lots::ZERO), r2, tlv));
        long_a = long_a.saturating_add(money_at(ek.long_wc(bq), r2, tlv));
        short_b = short_b.saturating_add(money_at(ek.short_wc(Lots::ZERO), r2, tlv));
        short_a = short_a.saturating_add(money_at(ek.short_wc(sq), r2, tlv));
    }
    t.net_b = long_b.abs().max(short_b.abs());
    t.net_a = long_a.abs().max(short_a.abs());
    Ok(t)
}

fn increases(a: i128, b: i128) -> bool {
    a > b || a >= MONEY_CLAMP
}

/// Add (`sign` = 1) or remove (`sign` = −1) `qty` open lots on `side`.
fn adjust_open(e: &mut Exposure, side: Side, qty: Lots, sign: i64) {
    let q = qty.max(Lots::ZERO);
    let f = |v: Lots| if sign > 0 { v.saturating_add(q) } else { v.saturating_sub(q).max(Lots::ZERO) };
    match side {
        Side::Buy => e.open_buy = f(e.open_buy),
        Side::Sell => e.open_sell = f(e.open_sell),
    }
}

impl RiskEngine {
    /// `instruments` is the universe; instrument ids in orders, quotes and
    /// scopes refer to [`Instrument::id`].
    pub fn new(instruments: Vec<Instrument>) -> Self {
        let dense = instruments.iter().enumerate().all(|(i, inst)| inst.id as usize == i);
        let mut id_index: Vec<(u32, usize)> = Vec::new();
        if !dense {
            id_index = instruments.iter().enumerate().map(|(i, inst)| (inst.id, i)).collect();
            id_index.sort_unstable();
        }
        let n = instruments.len();
        RiskEngine {
            instruments,
            dense,
            id_index,
            refs: vec![RefPrices::default(); n],
            instrument_state: vec![TradingState::Active; n],
            global: TradingState::Active,
            strategies: Vec::new(),
            firm_exposure: vec![Exposure::default(); n],
            rest: (0..n).map(|_| RestBook::default()).collect(),
            firm: None,
            vols: vec![None; n],
            now: 0,
            seq: 0,
            transitions: Vec::new(),
            actions: Vec::new(),
            mmp_wake: u64::MAX,
            part: RiskPart::Whole,
        }
    }

    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    #[inline]
    fn slot(&self, id: u32) -> Option<usize> {
        if self.dense {
            ((id as usize) < self.instruments.len()).then_some(id as usize)
        } else {
            self.id_index.binary_search_by_key(&id, |&(i, _)| i).ok().map(|k| self.id_index[k].1)
        }
    }

    /// Register a strategy under `policy`; returns its id (0, 1, 2, …).
    /// Policy instruments unknown to this engine are simply not tradable.
    pub fn add_strategy(&mut self, policy: Policy) -> u32 {
        let n = self.instruments.len();
        let mut limits = vec![None; n];
        for l in &policy.instruments {
            if let Some(s) = self.slot(l.instrument) {
                limits[s] = Some(*l);
            }
        }
        let margin_bps = self
            .instruments
            .iter()
            .map(|i| {
                policy.initial_margin_bps[kind_index(i.kind)].unwrap_or(if i.initial_margin_bps > 0 {
                    i.initial_margin_bps as i64
                } else {
                    10_000
                })
            })
            .collect();
        let mut mmp_group_of = vec![None; n];
        for (g, group) in policy.mmp_groups.iter().enumerate() {
            for &id in &group.instruments {
                if let Some(s) = self.slot(id) {
                    mmp_group_of[s] = Some(g);
                }
            }
        }
        let book = StrategyBook {
            limits,
            margin_bps,
            state: TradingState::Active,
            exposure: vec![Exposure::default(); n],
            pnl: vec![Position::default(); n],
            last_fill: vec![Ticks::ZERO; n],
            fees: Money::ZERO,
            open: BTreeMap::new(),
            orders: TokenBucket::new(policy.max_orders_per_sec),
            messages: TokenBucket::new(policy.max_messages_per_sec),
            last_check_ts: 0,
            recent: VecDeque::new(),
            mmp: (0..n).map(|_| MmpWindow::default()).collect(),
            mmp_groups: policy.mmp_groups.iter().map(|_| MmpWindow::default()).collect(),
            mmp_group_of,
            freeze: None,
            policy,
        };
        self.strategies.push(book);
        sid(self.strategies.len() - 1)
    }

    pub fn policy(&self, strategy: u32) -> Option<&Policy> {
        self.strategies.get(strategy as usize).map(|b| &b.policy)
    }

    /// Check a change of one limit of `strategy`'s policy at run time: the
    /// value is parsed and validated as the policy file would be (errors name
    /// the field) and refused if above the firm policy where it caps that
    /// quantity. Changes nothing; pass the result to
    /// [`RiskEngine::apply_limit`] (after journalling it) before any other
    /// limit change or policy update. Fields: see [`crate::STRATEGY_LIMIT_FIELDS`]
    /// and [`crate::INSTRUMENT_LIMIT_FIELDS`].
    pub fn check_limit(&self, strategy: u32, field: &str, value: &str) -> Result<LimitChange, LimitError> {
        let book = self.strategies.get(strategy as usize).ok_or(LimitError::UnknownStrategy(strategy))?;
        let firm = self.firm.as_ref().map(|f| &f.policy);
        let (field, before, after, policy) = limits::prepare(&book.policy, firm, &self.instruments, field, value)?;
        Ok(LimitChange { strategy, field, before, after, policy })
    }

    /// Put a change from [`RiskEngine::check_limit`] into force, whole: the
    /// very next check uses it. The R5 token buckets keep the tokens they
    /// have (refilled up to the latest event time, capped at the new burst)
    /// and refill at the new rate from then on. R8 is re-evaluated at once,
    /// so a tightened loss limit may leave a transition pending
    /// ([`RiskEngine::has_pending`]).
    pub fn apply_limit(&mut self, change: LimitChange) {
        let si = change.strategy as usize;
        if si >= self.strategies.len() {
            return;
        }
        let mut slots = vec![None; self.instruments.len()];
        for l in &change.policy.instruments {
            if let Some(s) = self.slot(l.instrument) {
                slots[s] = Some(*l);
            }
        }
        let now = self.now;
        let book = &mut self.strategies[si];
        book.limits = slots;
        book.orders.set_rate(change.policy.max_orders_per_sec, now);
        book.messages.set_rate(change.policy.max_messages_per_sec, now);
        book.policy = change.policy;
        self.eval_loss(si);
    }

    /// Every limit of `strategy` that [`RiskEngine::check_limit`] can change,
    /// with the value in force as text in the policy file's units, sorted by
    /// field name. Empty for an unknown strategy.
    pub fn limit_values(&self, strategy: u32) -> Vec<(String, String)> {
        self.strategies.get(strategy as usize).map_or_else(Vec::new, |b| limits::values(&b.policy, &self.instruments))
    }

    /// Install (or replace) the firm-wide policy: R5 firm throttles (buckets
    /// start full), R7 self-trade prevention, R12 aggregates, R13 guards.
    pub fn set_firm_policy(&mut self, policy: FirmPolicy) {
        let max_position = self.instruments.iter().map(|i| policy.max_position(i.id)).collect();
        self.firm = Some(Firm {
            max_position,
            orders: policy.max_orders_per_sec.map(TokenBucket::new),
            messages: policy.max_messages_per_sec.map(TokenBucket::new),
            policy,
        });
    }

    /// Split the controls between strategy nodes and a venue gateway
    /// ([`RiskPart`]); one process runs them all (the default).
    pub fn set_part(&mut self, part: RiskPart) {
        self.part = part;
    }

    pub fn part(&self) -> RiskPart {
        self.part
    }

    pub fn firm_policy(&self) -> Option<&FirmPolicy> {
        self.firm.as_ref().map(|f| &f.policy)
    }

    /// Best bid / ask in ticks at the latest event time seen. Prefer
    /// [`RiskEngine::on_quote_at`] (R13 needs the quote's own time).
    pub fn on_quote(&mut self, instrument: u32, bid: Ticks, ask: Ticks) {
        self.on_quote_at(instrument, self.now, bid, ask);
    }

    /// Best bid / ask in ticks at event time `ts_ns`. A quote with a missing
    /// side (≤ 0) or a crossed book (bid > ask) clears the mid reference until
    /// the next valid quote (and does not refresh its R13 age). A valid mid
    /// that moved more than `max_jump_bps` from the previous valid mid starts
    /// an R13 cooldown. Re-values R8 loss limits of strategies positioned here.
    pub fn on_quote_at(&mut self, instrument: u32, ts_ns: u64, bid: Ticks, ask: Ticks) {
        self.now = self.now.max(ts_ns);
        let Some(s) = self.slot(instrument) else { return };
        let valid = bid.is_positive() && ask.is_positive() && bid <= ask;
        let jump = self.firm.as_ref().and_then(|f| f.policy.max_jump_bps.map(|b| (b, f.policy.jump_cooldown_ns)));
        let r = &mut self.refs[s];
        r.quote = valid.then_some((bid, ask));
        if valid {
            let mid2 = Ticks::mid(bid, ask);
            if let (Some(prev), Some((max_bps, cool))) = (r.prev_mid2, jump)
                && let Some(bps) = jump_bps(prev, mid2, max_bps)
            {
                r.quote_jump_until = ts_ns.saturating_add(cool);
                r.quote_jump_bps = bps;
            }
            r.prev_mid2 = Some(mid2);
            r.quote_ts = ts_ns;
        }
        self.revalue(s);
        self.on_time(ts_ns);
    }

    /// The venue's current mark price of `instrument` in ticks (`None`: it
    /// has none). The R3 reference for `collar_reference = "mark"`; with no
    /// mark that reference falls back to the mid. The engine sets it right
    /// before every order check. Its R13 age and jump state are the quote's.
    pub fn set_mark(&mut self, instrument: u32, mark: Option<Ticks>) {
        if let Some(s) = self.slot(instrument) {
            self.refs[s].mark = mark.filter(|m| m.is_positive());
        }
    }

    /// Last trade price in ticks at the latest event time seen. Prefer
    /// [`RiskEngine::on_trade_at`].
    pub fn on_trade(&mut self, instrument: u32, price: Ticks) {
        self.on_trade_at(instrument, self.now, price);
    }

    /// Last trade price in ticks at event time `ts_ns` (ignored if ≤ 0).
    pub fn on_trade_at(&mut self, instrument: u32, ts_ns: u64, price: Ticks) {
        self.now = self.now.max(ts_ns);
        let Some(s) = self.slot(instrument) else { return };
        if !price.is_positive() {
            return;
        }
        let jump = self.firm.as_ref().and_then(|f| f.policy.max_jump_bps.map(|b| (b, f.policy.jump_cooldown_ns)));
        let r = &mut self.refs[s];
        if let (Some(prev), Some((max_bps, cool))) = (r.last, jump)
            && let Some(bps) = jump_bps(prev.half_ticks(), price.half_ticks(), max_bps)
        {
            r.last_jump_until = ts_ns.saturating_add(cool);
            r.last_jump_bps = bps;
        }
        r.last = Some(price);
        r.last_ts = ts_ns;
        self.revalue(s);
        self.on_time(ts_ns);
    }

    /// Re-check R8 for every strategy positioned in `slot` after a price change.
    fn revalue(&mut self, slot: usize) {
        for si in 0..self.strategies.len() {
            let b = &self.strategies[si];
            if (b.policy.loss_limit_reducing.is_some() || b.policy.loss_limit_halt.is_some()) && b.pnl[slot].qty != 0 {
                self.eval_loss(si);
            }
        }
    }

    /// Pre-trade check of a new order: `Ok(())` if every control passes.
    /// Does **not** reserve the order and approves nothing a venue would
    /// take: [`RiskEngine::check_and_open`] checks, reserves and returns the
    /// [`Approved`] order. Every call takes one message token and one order
    /// token, accepted or not.
    ///
    /// This form cannot hand back orders to cancel, so under R7
    /// `cancel_oldest` / `cancel_both` a crossing order is simply rejected
    /// (`R7_SELF_TRADE`, as cancel-newest). Use [`RiskEngine::check_order_stp`].
    pub fn check_order(&mut self, strategy: u32, ts_ns: u64, req: &OrderRequest) -> Result<(), Decision> {
        self.check_inner(strategy, ts_ns, req, None)
    }

    /// [`RiskEngine::check_order`] with R7 self-trade prevention fully
    /// applied. `cancels` is cleared, then filled with the resting orders
    /// (of any strategy) that the engine must cancel **before** it sends this
    /// order on (cancel cause `R7_CANCEL_SELF_TRADE`):
    /// - `cancel_oldest`: `Ok` and `cancels` is non-empty;
    /// - `cancel_both`: `Err(R7_SELF_TRADE)` and `cancels` is non-empty;
    /// - otherwise `cancels` stays empty.
    ///
    /// Orders returned here no longer count as resting for R7, but still count
    /// as open exposure until [`RiskEngine::order_closed`]. Reusing one `Vec`
    /// keeps the accept path allocation-free.
    pub fn check_order_stp(
        &mut self,
        strategy: u32,
        ts_ns: u64,
        req: &OrderRequest,
        cancels: &mut Vec<OrderRef>,
    ) -> Result<(), Decision> {
        cancels.clear();
        self.check_inner(strategy, ts_ns, req, Some(cancels))
    }

    /// The engine's submit path: [`RiskEngine::check_order_stp`] and, if
    /// it passes, [`RiskEngine::order_opened`] under `order_id`, in one step;
    /// the [`Approved`] order is what the venue takes. `cancels` as in
    /// [`RiskEngine::check_order_stp`] (cancel them before sending the order).
    pub fn check_and_open_stp(
        &mut self,
        strategy: u32,
        ts_ns: u64,
        order_id: u64,
        req: &OrderRequest,
        cancels: &mut Vec<OrderRef>,
    ) -> Result<Approved, Decision> {
        self.check_order_stp(strategy, ts_ns, req, cancels)?;
        self.order_opened(strategy, order_id, req);
        Ok(Approved::new(strategy, order_id, *req))
    }

    /// Run [`CONTROLS`] in order; the first refusal decides.
    fn check_inner(
        &mut self,
        strategy: u32,
        ts_ns: u64,
        req: &OrderRequest,
        cancels: Option<&mut Vec<OrderRef>>,
    ) -> Result<(), Decision> {
        self.now = self.now.max(ts_ns);
        let Some(book) = self.strategies.get_mut(strategy as usize) else {
            // Unknown strategy: nothing may trade without a policy.
            return Err(Decision::reject(Reason::StrategyHalted, NO_INSTRUMENT, 0, 0, 0));
        };
        book.last_check_ts = ts_ns;
        let mut check = Check::new(self, strategy as usize, ts_ns, req, cancels);
        let part = self.part;
        for control in CONTROLS.iter().filter(|c| part.runs(c.part)) {
            (control.check)(self, &mut check)?;
        }
        Ok(())
    }

    /// R9 worst-case portfolio delta / vega and notional of the order's
    /// expiry; `Some(reject)` if a limit is breached and the order makes it worse.
    fn r9(&self, si: usize, leg: Leg, ts_ns: u64) -> Option<Decision> {
        let slot = leg.slot;
        let book = &self.strategies[si];
        let policy = &book.policy;
        let inst_id = self.instruments[slot].id;
        let expiry = self.instruments[slot].expiry;
        // (hi, lo) bounds of a linear sensitivity before / after the order.
        let (mut d_b, mut d_a, mut v_b, mut v_a) = ((0i128, 0i128), (0i128, 0i128), (0i128, 0i128), (0i128, 0i128));
        let (mut x_b, mut x_a) = (0i128, 0i128);
        let acc = |acc: &mut (i128, i128), long: i128, short: i128, per_lot: i128| {
            let (a, b) = (long.saturating_mul(per_lot), short.saturating_mul(per_lot));
            acc.0 = acc.0.saturating_add(a.max(b));
            acc.1 = acc.1.saturating_add(a.min(b));
        };
        let ref2 = |id: u32| self.slot(id).and_then(|s| self.refs[s].half_ticks(policy.collar_reference));
        for (k, ek) in book.exposure.iter().enumerate() {
            if k != slot && ek.is_flat() {
                continue;
            }
            let inst = &self.instruments[k];
            let und = inst.underlying.and_then(|u| self.slot(u)).map(|s| &self.instruments[s]);
            let g = match lot_greeks(inst, und, ref2, self.vols[k].or(policy.option_vol_bps), ts_ns) {
                Ok(g) => g,
                Err(GreeksError::NoReference(id)) => {
                    return Some(Decision::reject(Reason::NoReferencePrice, id, 0, 0, 0));
                }
                Err(GreeksError::NoVol) => return Some(Decision::reject(Reason::NoGreeks, inst.id, 0, 0, 0)),
            };
            let (bq, sq) = leg.at(k);
            let (lb, sb, la, sa) = (ek.long_wc(Lots::ZERO), ek.short_wc(Lots::ZERO), ek.long_wc(bq), ek.short_wc(sq));
            acc(&mut d_b, lb, sb, g.delta);
            acc(&mut d_a, la, sa, g.delta);
            acc(&mut v_b, lb, sb, g.vega);
            acc(&mut v_a, la, sa, g.vega);
            if expiry.is_some() && inst.expiry == expiry {
                x_b = x_b.saturating_add(lb.abs().max(sb.abs()).saturating_mul(g.underlying.abs()));
                x_a = x_a.saturating_add(la.abs().max(sa.abs()).saturating_mul(g.underlying.abs()));
            }
        }
        let worst = |(hi, lo): (i128, i128)| hi.saturating_abs().max(lo.saturating_abs());
        let checks = [
            (policy.max_delta, worst(d_a), worst(d_b), Reason::MaxPortfolioDelta),
            (policy.max_vega, worst(v_a), worst(v_b), Reason::MaxPortfolioVega),
            (policy.max_expiry_notional.filter(|_| expiry.is_some()), x_a, x_b, Reason::MaxExpiryNotional),
        ];
        for (limit, after, before, reason) in checks {
            if let Some(l) = limit
                && after > i128::from(l.get())
                && increases(after, before)
            {
                return Some(Decision::reject(reason, inst_id, l.get(), to_i64(after), to_i64(before)));
            }
        }
        None
    }

    /// R9: implied volatility of an option instrument, bps of vol (5000 =
    /// 50 %), used for its greeks instead of the policy's `option_vol`.
    /// Non-positive clears it.
    pub fn set_implied_vol(&mut self, instrument: u32, vol_bps: i64) {
        if let Some(s) = self.slot(instrument) {
            self.vols[s] = (vol_bps > 0).then_some(vol_bps);
        }
    }

    /// [`RiskEngine::check_order`] and, on accept, [`RiskEngine::order_opened`]
    /// under `order_id`, in one step, so no other check can slip in between.
    /// The [`Approved`] order is the only thing a venue takes.
    pub fn check_and_open(
        &mut self,
        strategy: u32,
        ts_ns: u64,
        order_id: u64,
        req: &OrderRequest,
    ) -> Result<Approved, Decision> {
        self.check_order(strategy, ts_ns, req)?;
        self.order_opened(strategy, order_id, req);
        Ok(Approved::new(strategy, order_id, *req))
    }

    /// A cancel request: charges one message token (R5), then one firm-wide
    /// message token. Trading states never block cancels. Unknown strategies
    /// are accepted (there is nothing to cancel).
    pub fn check_cancel(&mut self, strategy: u32, ts_ns: u64) -> Result<(), Decision> {
        self.now = self.now.max(ts_ns);
        let Some(book) = self.strategies.get_mut(strategy as usize) else {
            return Ok(());
        };
        if self.part != RiskPart::Gateway && !book.messages.try_take(ts_ns) {
            return Err(Decision::reject(
                Reason::MessageRateThrottle,
                NO_INSTRUMENT,
                book.messages.rate() as i64,
                1,
                0,
            ));
        }
        if self.part != RiskPart::Node
            && let Some(b) = self.firm.as_mut().and_then(|f| f.messages.as_mut())
            && !b.try_take(ts_ns)
        {
            return Err(Decision::reject(Reason::FirmMessageRateThrottle, NO_INSTRUMENT, b.rate() as i64, 1, 0));
        }
        Ok(())
    }

    /// The order is live: it counts as open and as worst-case exposure (of the
    /// strategy and of the firm) until filled or closed, rests in the R7 book
    /// if it is a limit order, and is remembered for R6. Re-opening an id
    /// already open replaces it.
    pub fn order_opened(&mut self, strategy: u32, order_id: u64, req: &OrderRequest) {
        let slot = self.slot(req.instrument);
        if strategy as usize >= self.strategies.len() {
            return;
        }
        self.remove_open(strategy, order_id);
        self.seq += 1;
        let seq = self.seq;
        let book = &mut self.strategies[strategy as usize];
        let remaining = Lots::new(req.qty).max(Lots::ZERO);
        let mut rest = None;
        if let Some(s) = slot {
            adjust_open(&mut book.exposure[s], req.side, remaining, 1);
            adjust_open(&mut self.firm_exposure[s], req.side, remaining, 1);
            if req.order_type == OrderType::Limit {
                let k = RestKey { price: Ticks::new(req.price), seq, strategy, id: order_id };
                match req.side {
                    Side::Buy => self.rest[s].buys.insert(k),
                    Side::Sell => self.rest[s].sells.insert(k),
                };
                rest = Some(k);
            }
        }
        book.open.insert(order_id, OpenOrder { slot, side: req.side, remaining, rest });
        if let Some(w) = book.policy.duplicate_window_ns {
            let now = book.last_check_ts;
            while book.recent.front().is_some_and(|r| now.saturating_sub(r.ts) >= w) {
                book.recent.pop_front();
            }
            book.recent.push_back(Recent {
                ts: now,
                instrument: req.instrument,
                side: req.side,
                order_type: req.order_type,
                price: Ticks::new(req.price),
                qty: Lots::new(req.qty),
            });
        }
    }

    /// Drop an open order entirely (strategy, firm and R7 books).
    fn remove_open(&mut self, strategy: u32, order_id: u64) {
        let Some(book) = self.strategies.get_mut(strategy as usize) else { return };
        let Some(o) = book.open.remove(&order_id) else { return };
        if let Some(s) = o.slot {
            adjust_open(&mut book.exposure[s], o.side, o.remaining, -1);
            adjust_open(&mut self.firm_exposure[s], o.side, o.remaining, -1);
            if let Some(k) = o.rest {
                match o.side {
                    Side::Buy => self.rest[s].buys.remove(&k),
                    Side::Sell => self.rest[s].sells.remove(&k),
                };
            }
        }
    }

    /// A fill at the latest event time seen; see [`RiskEngine::order_filled_at`].
    /// `_side` is accepted for symmetry with fill events and not trusted.
    pub fn order_filled(&mut self, strategy: u32, order_id: u64, _side: Side, price: Ticks, qty: Lots) {
        self.order_filled_at(strategy, order_id, self.now, price, qty);
    }

    /// A fill of `qty` lots at `price` ticks at event time `ts_ns`: the
    /// position moves in the direction of the order's own side as recorded by
    /// `order_opened` (authoritative); the order's open quantity drops by
    /// `qty` and it leaves the open set when nothing remains. Then R8 (PnL)
    /// and R14 (MMP window) are updated, which may report a [`Transition`]
    /// and a [`RiskAction`]. A fill for an id that is not open is ignored, so
    /// report fills before `order_closed`.
    pub fn order_filled_at(&mut self, strategy: u32, order_id: u64, ts_ns: u64, price: Ticks, qty: Lots) {
        self.now = self.now.max(ts_ns);
        let si = strategy as usize;
        let Some(book) = self.strategies.get_mut(si) else { return };
        let Some(o) = book.open.get(&order_id).copied() else { return };
        let qty = qty.max(Lots::ZERO);
        let signed = qty.saturating_mul_int(o.side.sign());
        let used = qty.min(o.remaining);
        if let Some(s) = o.slot {
            let e = &mut book.exposure[s];
            e.position = e.position.saturating_add(signed);
            adjust_open(e, o.side, used, -1);
            let fe = &mut self.firm_exposure[s];
            fe.position = fe.position.saturating_add(signed);
            adjust_open(fe, o.side, used, -1);
            let p = &mut book.pnl[s];
            if p.qty.checked_add(signed.get()).is_some() && price.is_positive() {
                p.apply_fill(&self.instruments[s], o.side, price.get(), qty.get(), 0);
                book.last_fill[s] = price;
            }
        }
        let remaining = o.remaining - used;
        if remaining.is_zero() {
            book.open.remove(&order_id);
            if let (Some(s), Some(k)) = (o.slot, o.rest) {
                match o.side {
                    Side::Buy => self.rest[s].buys.remove(&k),
                    Side::Sell => self.rest[s].sells.remove(&k),
                };
            }
        } else if let Some(x) = book.open.get_mut(&order_id) {
            x.remaining = remaining;
        }
        if let Some(s) = o.slot {
            self.mmp_fill(si, s, ts_ns, signed);
        }
        self.eval_loss(si);
        self.on_time(ts_ns);
    }

    /// Fees charged (or rebates, negative) to a strategy, money units: they
    /// count against its R8 loss limit.
    pub fn on_fee(&mut self, strategy: u32, money: Money) {
        let Some(b) = self.strategies.get_mut(strategy as usize) else { return };
        b.fees = b.fees.saturating_add(money);
        self.eval_loss(strategy as usize);
    }

    /// The venue changed a position without an order of the strategy's:
    /// a liquidation or an expiry settlement closed it (`close` = the
    /// strategy's signed position before, closed at `price` ticks), and/or
    /// funding moved `funding` money (+ received, − paid). Risk's position,
    /// firm exposure and R8 PnL follow the venue's, so R4, R8, R10 and R12
    /// keep judging the real book. An unknown strategy or instrument is ignored.
    pub fn position_changed_by_venue(
        &mut self,
        strategy: u32,
        instrument: u32,
        ts_ns: u64,
        close: Option<(Lots, Ticks)>,
        funding: Money,
    ) {
        self.now = self.now.max(ts_ns);
        let si = strategy as usize;
        let Some(s) = self.slot(instrument) else { return };
        let Some(book) = self.strategies.get_mut(si) else { return };
        if let Some((qty, price)) = close
            && !qty.is_zero()
        {
            let delta = qty.saturating_neg();
            book.exposure[s].position = book.exposure[s].position.saturating_add(delta);
            self.firm_exposure[s].position = self.firm_exposure[s].position.saturating_add(delta);
            let side = if qty.is_positive() { Side::Sell } else { Side::Buy };
            if price.is_positive() {
                book.pnl[s].apply_fill(&self.instruments[s], side, price.get(), qty.saturating_abs().get(), 0);
            }
        }
        if !funding.is_zero() {
            book.pnl[s].apply_funding(funding.get());
        }
        self.eval_loss(si);
    }

    /// Cancelled, expired or rejected by the venue: the order leaves the open set.
    pub fn order_closed(&mut self, strategy: u32, order_id: u64) {
        self.remove_open(strategy, order_id);
    }

    /// Current PnL of a strategy: realised and fees from fills / `on_fee`,
    /// unrealised at the strategy's reference (last fill price when none).
    pub fn pnl(&self, strategy: u32) -> Pnl {
        let Some(b) = self.strategies.get(strategy as usize) else { return Pnl::default() };
        let (mut realised, mut unrealised) = (0i128, 0i128);
        for (k, p) in b.pnl.iter().enumerate() {
            realised += i128::from(p.realised);
            if p.qty != 0 {
                let ref2 = self.refs[k]
                    .half_ticks(b.policy.collar_reference)
                    .unwrap_or_else(|| b.last_fill[k].half_ticks())
                    .get();
                let inst = &self.instruments[k];
                if inst.inverse {
                    unrealised += i128::from(p.unrealised(inst, to_i64(ref2 / 2)));
                } else {
                    let tlv = i128::from(inst.tick_lot_value);
                    unrealised += (ref2 * i128::from(p.qty) - 2 * p.entry_cost) * tlv / 2;
                }
            }
        }
        Pnl {
            realised: Money::saturating_from_i128(realised),
            unrealised: Money::saturating_from_i128(unrealised),
            fees: b.fees,
        }
    }

    /// R8: the state the strategy's loss calls for (`None`: within its
    /// limits or R8 off), with the reason, the limit, its field, the PnL
    /// and the loss.
    fn loss_breach(&self, si: usize) -> Option<(TradingState, Reason, Money, &'static str, Pnl, i128)> {
        let b = &self.strategies[si];
        let (red, halt) = (b.policy.loss_limit_reducing, b.policy.loss_limit_halt);
        if red.is_none() && halt.is_none() {
            return None;
        }
        let pnl = self.pnl(sid(si));
        let loss = -i128::from(pnl.total().get());
        if let Some(h) = halt.filter(|h| loss > i128::from(h.get())) {
            Some((TradingState::Halted, Reason::LossLimitHalted, h, "loss_limit_halt", pnl, loss))
        } else {
            red.filter(|r| loss > i128::from(r.get()))
                .map(|r| (TradingState::Reducing, Reason::LossLimitReducing, r, "loss_limit_reducing", pnl, loss))
        }
    }

    /// R8: escalate the strategy if its loss is above a limit.
    fn eval_loss(&mut self, si: usize) {
        let Some((to, reason, limit, which, pnl, loss)) = self.loss_breach(si) else { return };
        if to.rank() <= self.strategies[si].state.rank() {
            return;
        }
        let text = format!(
            "{}: loss {} exceeds {which} {} (realised {}, unrealised {}, fees {})",
            reason.name(),
            format_money(to_i64(loss)),
            format_money(limit.get()),
            format_money(pnl.realised.get()),
            format_money(pnl.unrealised.get()),
            format_money(pnl.fees.get()),
        );
        if self.escalate(si, to, reason, text) {
            self.actions.push(RiskAction::CancelAll { strategy: sid(si), reason });
        }
    }

    /// Move a strategy to a stricter state and report it. False if it was
    /// already at least that strict.
    fn escalate(&mut self, si: usize, to: TradingState, reason: Reason, text: String) -> bool {
        let b = &mut self.strategies[si];
        let from = b.state;
        if to.rank() <= from.rank() {
            return false;
        }
        b.state = to;
        self.transitions.push(Transition {
            scope: Scope::Strategy(sid(si)),
            from,
            to,
            ts_ns: self.now,
            cause: Cause { reason, text },
        });
        true
    }

    /// Trading-state changes risk made on its own since the last call (R8,
    /// R14), oldest first. The engine journals each one.
    pub fn take_transitions(&mut self) -> impl Iterator<Item = Transition> + '_ {
        self.transitions.drain(..)
    }

    /// Actions the engine must carry out since the last call, oldest first.
    pub fn take_actions(&mut self) -> impl Iterator<Item = RiskAction> + '_ {
        self.actions.drain(..)
    }

    /// True if transitions or actions are waiting (cheap; no allocation).
    pub fn has_pending(&self) -> bool {
        !self.transitions.is_empty() || !self.actions.is_empty()
    }

    /// R11 kill switch: set `scope` HALTED and return every open order in
    /// scope (global: all; strategy: its orders; instrument: every strategy's
    /// orders in it), sorted by (strategy, id), for one mass cancel with cause
    /// `CANCEL_KILL_SWITCH`. Nothing new passes in scope afterwards; cancels
    /// still do. The orders stay open in risk until `order_closed`.
    pub fn kill(&mut self, scope: Scope) -> Vec<OrderRef> {
        self.set_state(scope, TradingState::Halted);
        let slot = match scope {
            Scope::Instrument(i) => match self.slot(i) {
                Some(s) => Some(s),
                None => return Vec::new(),
            },
            _ => None,
        };
        let mut out = Vec::new();
        for (si, b) in self.strategies.iter().enumerate() {
            if let Scope::Strategy(s) = scope
                && s as usize != si
            {
                continue;
            }
            for (&id, o) in &b.open {
                if slot.is_none_or(|s| o.slot == Some(s)) {
                    out.push(OrderRef { strategy: sid(si), order_id: id });
                }
            }
        }
        out
    }

    /// Set a trading state. Unknown strategy or instrument ids are ignored
    /// (they cannot trade anyway).
    pub fn set_state(&mut self, scope: Scope, state: TradingState) {
        match scope {
            Scope::Global => self.global = state,
            Scope::Strategy(s) => {
                if let Some(b) = self.strategies.get_mut(s as usize) {
                    b.state = state;
                    // The caller (operator, fault, restart) now owns the
                    // state: an R14 freeze never lifts it.
                    b.freeze = None;
                }
            }
            Scope::Instrument(i) => {
                if let Some(s) = self.slot(i) {
                    self.instrument_state[s] = state;
                }
            }
        }
    }

    /// Current state of one scope (not combined with the others). Unknown ids read as `Active`.
    pub fn state(&self, scope: Scope) -> TradingState {
        match scope {
            Scope::Global => self.global,
            Scope::Strategy(s) => self.strategies.get(s as usize).map_or(TradingState::Active, |b| b.state),
            Scope::Instrument(i) => self.slot(i).map_or(TradingState::Active, |s| self.instrument_state[s]),
        }
    }

    /// Signed position in lots.
    pub fn position(&self, strategy: u32, instrument: u32) -> Lots {
        self.exposure(strategy, instrument).position
    }

    /// Total open (unfilled) buy and sell lots of a strategy in an instrument.
    pub fn open_qty(&self, strategy: u32, instrument: u32) -> (Lots, Lots) {
        let e = self.exposure(strategy, instrument);
        (e.open_buy, e.open_sell)
    }

    /// Firm-wide (all strategies) signed position and open buy / sell lots in an instrument.
    pub fn firm_exposure(&self, instrument: u32) -> (Lots, Lots, Lots) {
        self.slot(instrument).map_or((Lots::ZERO, Lots::ZERO, Lots::ZERO), |s| {
            let e = self.firm_exposure[s];
            (e.position, e.open_buy, e.open_sell)
        })
    }

    fn exposure(&self, strategy: u32, instrument: u32) -> Exposure {
        match (self.strategies.get(strategy as usize), self.slot(instrument)) {
            (Some(b), Some(s)) => b.exposure[s],
            _ => Exposure::default(),
        }
    }

    pub fn open_orders(&self, strategy: u32) -> usize {
        self.strategies.get(strategy as usize).map_or(0, |b| b.open.len())
    }

    /// Ids of a strategy's open orders, ascending; `instrument` = `None` for all
    /// (for mass cancel on a kill switch).
    pub fn open_order_ids(&self, strategy: u32, instrument: Option<u32>) -> impl Iterator<Item = u64> + '_ {
        let slot = instrument.map(|i| self.slot(i));
        self.strategies.get(strategy as usize).into_iter().flat_map(move |b| {
            b.open.iter().filter(move |(_, o)| slot.is_none_or(|s| s.is_some() && o.slot == s)).map(|(id, _)| *id)
        })
    }
}
