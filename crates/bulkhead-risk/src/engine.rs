//! The risk engine: per-strategy books of positions and open orders,
//! reference prices, trading states, throttles, and the ordered checks.

use std::collections::BTreeMap;

use bulkhead_abi::{OrderRequest, OrderType, Reason, Side};
use bulkhead_model::Instrument;

use crate::decision::{Decision, NO_INSTRUMENT};
use crate::policy::{CollarReference, InstrumentLimits, Policy};
use crate::throttle::TokenBucket;

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

/// Money values above this are treated as "astronomical" (clamped); far above
/// any i64 limit, so clamping never turns a reject into an accept.
const MONEY_CLAMP: i128 = 1 << 100;

/// Worst-case bookkeeping of one strategy in one instrument (lots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Exposure {
    position: i64,
    open_buy: i64,
    open_sell: i64,
}

impl Exposure {
    /// Position if every open buy fills and no sell does.
    fn long_wc(&self, extra_buy: i64) -> i128 {
        self.position as i128 + self.open_buy as i128 + extra_buy as i128
    }
    /// Position if every open sell fills and no buy does.
    fn short_wc(&self, extra_sell: i64) -> i128 {
        self.position as i128 - self.open_sell as i128 - extra_sell as i128
    }
    /// Largest absolute position any subset of fills can produce.
    fn abs_wc(&self, side: Option<Side>, qty: i64) -> i128 {
        let (b, s) = match side {
            Some(Side::Buy) => (qty, 0),
            Some(Side::Sell) => (0, qty),
            None => (0, 0),
        };
        self.long_wc(b).abs().max(self.short_wc(s).abs())
    }
    fn is_flat(&self) -> bool {
        self.position == 0 && self.open_buy == 0 && self.open_sell == 0
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct RefPrices {
    /// Last valid best bid/ask (both > 0, bid <= ask).
    quote: Option<(i64, i64)>,
    /// Last trade price.
    last: Option<i64>,
}

impl RefPrices {
    /// Reference price in half-ticks (2 × ticks), so a mid is exact.
    fn half_ticks(&self, r: CollarReference) -> Option<i128> {
        match r {
            CollarReference::Mid | CollarReference::Mark => self.quote.map(|(b, a)| b as i128 + a as i128),
            CollarReference::Last => self.last.map(|p| 2 * p as i128),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct OpenOrder {
    /// Engine slot of the instrument; `None` if the instrument is unknown
    /// (still counted towards R5 open orders, no exposure).
    slot: Option<usize>,
    side: Side,
    remaining: i64,
}

#[derive(Debug)]
struct StrategyBook {
    policy: Policy,
    /// Policy limits by engine slot (`None` = instrument not allowed).
    limits: Vec<Option<InstrumentLimits>>,
    state: TradingState,
    exposure: Vec<Exposure>,
    open: BTreeMap<u64, OpenOrder>,
    orders: TokenBucket,
    messages: TokenBucket,
}

impl StrategyBook {
    fn remove_open(&mut self, id: u64) {
        if let Some(o) = self.open.remove(&id) {
            self.release(&o, o.remaining);
        }
    }
    /// Drop `qty` lots of `o` from the open worst-case totals.
    fn release(&mut self, o: &OpenOrder, qty: i64) {
        if let Some(e) = o.slot.and_then(|s| self.exposure.get_mut(s)) {
            match o.side {
                Side::Buy => e.open_buy = e.open_buy.saturating_sub(qty).max(0),
                Side::Sell => e.open_sell = e.open_sell.saturating_sub(qty).max(0),
            }
        }
    }
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
}

/// Money value of `lots` at a reference of `ref2` half-ticks: |lots| × ref × tlv, signed like `lots`.
fn money_at(lots: i128, ref2: i128, tlv: i64) -> i128 {
    let v = lots
        .unsigned_abs()
        .checked_mul(ref2.unsigned_abs())
        .and_then(|v| v.checked_mul(tlv.unsigned_abs() as u128))
        .map_or(MONEY_CLAMP, |v| (v / 2).min(MONEY_CLAMP as u128) as i128);
    if lots < 0 { -v } else { v }
}

fn to_i64(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
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
        let book = StrategyBook {
            limits,
            state: TradingState::Active,
            exposure: vec![Exposure::default(); n],
            open: BTreeMap::new(),
            orders: TokenBucket::new(policy.max_orders_per_sec),
            messages: TokenBucket::new(policy.max_messages_per_sec),
            policy,
        };
        self.strategies.push(book);
        (self.strategies.len() - 1) as u32
    }

    pub fn policy(&self, strategy: u32) -> Option<&Policy> {
        self.strategies.get(strategy as usize).map(|b| &b.policy)
    }

    /// Best bid / ask in ticks. A quote with a missing side (≤ 0) or a crossed
    /// book (bid > ask) clears the mid reference until the next valid quote.
    pub fn on_quote(&mut self, instrument: u32, bid: i64, ask: i64) {
        if let Some(s) = self.slot(instrument) {
            self.refs[s].quote = (bid > 0 && ask > 0 && bid <= ask).then_some((bid, ask));
        }
    }

    /// Last trade price in ticks (ignored if ≤ 0).
    pub fn on_trade(&mut self, instrument: u32, price: i64) {
        if let Some(s) = self.slot(instrument)
            && price > 0
        {
            self.refs[s].last = Some(price);
        }
    }

    /// Pre-trade check of a new order. Does **not** reserve the order: on
    /// accept the caller must call [`RiskEngine::order_opened`] before the next
    /// check for this strategy (or use [`RiskEngine::check_and_open`]).
    /// Every call takes one message token and one order token, accepted or not.
    /// See the crate docs for the order of checks; the first failure decides.
    pub fn check_order(&mut self, strategy: u32, ts_ns: u64, req: &OrderRequest) -> Decision {
        let Some(book) = self.strategies.get_mut(strategy as usize) else {
            // Unknown strategy: nothing may trade without a policy.
            return Decision::reject(Reason::StrategyHalted, NO_INSTRUMENT, 0, 0, 0);
        };
        // 1–2. R5 throttles: both buckets are charged on every check.
        let msg_ok = book.messages.try_take(ts_ns);
        let ord_ok = book.orders.try_take(ts_ns);
        if !msg_ok {
            return Decision::reject(Reason::MessageRateThrottle, req.instrument, book.messages.rate() as i64, 1, 0);
        }
        if !ord_ok {
            return Decision::reject(Reason::OrderRateThrottle, req.instrument, book.orders.rate() as i64, 1, 0);
        }
        let book = &self.strategies[strategy as usize];
        let policy = &book.policy;
        let inst_id = req.instrument;
        let slot = self.slot(inst_id);

        // 3. R11 halted: global, strategy, instrument.
        if self.global == TradingState::Halted {
            return Decision::reject(Reason::GlobalHalted, inst_id, 0, 0, 0);
        }
        if book.state == TradingState::Halted {
            return Decision::reject(Reason::StrategyHalted, inst_id, 0, 0, 0);
        }
        if let Some(s) = slot
            && self.instrument_state[s] == TradingState::Halted
        {
            return Decision::reject(Reason::InstrumentHalted, inst_id, 0, 0, 0);
        }

        // 4. R1 allowlist.
        let (Some(slot), Some(lim)) = (slot, slot.and_then(|s| book.limits[s])) else {
            return Decision::reject(Reason::InstrumentNotAllowed, inst_id, 0, inst_id as i64, 0);
        };
        if !policy.side_allowed(req.side) {
            return Decision::reject(Reason::SideNotAllowed, inst_id, 0, req.side as i64, 0);
        }
        if !policy.order_type_allowed(req.order_type) {
            return Decision::reject(Reason::OrderTypeNotAllowed, inst_id, 0, req.order_type as i64, 0);
        }
        if !policy.tif_allowed(req.tif) {
            return Decision::reject(Reason::TimeInForceNotAllowed, inst_id, 0, req.tif as i64, 0);
        }

        // 5. Sanity (defence in depth; the ABI decoder already enforces it).
        let is_limit = req.order_type == OrderType::Limit;
        if req.qty <= 0 || (is_limit && req.price <= 0) {
            return Decision::reject(Reason::InvalidOrder, inst_id, 0, req.qty, 0);
        }

        // 6. R3 reference price must exist.
        let Some(ref2) = self.refs[slot].half_ticks(policy.collar_reference) else {
            return Decision::reject(Reason::NoReferencePrice, inst_id, 0, 0, 0);
        };
        let inst = &self.instruments[slot];

        // 7. R2 size: quantity, then notional (limit price; market at reference).
        if req.qty > lim.max_order_qty {
            return Decision::reject(Reason::MaxOrderQty, inst_id, lim.max_order_qty, req.qty, 0);
        }
        let notional = if is_limit {
            money_at(req.qty as i128, 2 * req.price as i128, inst.tick_lot_value)
        } else {
            money_at(req.qty as i128, ref2, inst.tick_lot_value)
        };
        if notional > lim.max_order_notional as i128 {
            return Decision::reject(Reason::MaxOrderNotional, inst_id, lim.max_order_notional, to_i64(notional), 0);
        }

        // 8. R3 collar (limit orders): |price − ref| × 10000 ≤ bps × ref, in half-ticks.
        if is_limit {
            let dev2 = (2 * req.price as i128 - ref2).abs();
            if dev2 * 10_000 > policy.price_collar_bps as i128 * ref2 {
                return Decision::reject(
                    Reason::PriceCollar,
                    inst_id,
                    policy.price_collar_bps,
                    req.price,
                    to_i64(ref2),
                );
            }
        }

        // 9. R11 reducing: opposite side of the position and, with every
        // same-side open order filled too, never past flat.
        let e = book.exposure[slot];
        let reducing = self.global == TradingState::Reducing
            || book.state == TradingState::Reducing
            || self.instrument_state[slot] == TradingState::Reducing;
        if reducing {
            let (ok, same_side) = match req.side {
                Side::Buy => (e.position < 0 && e.long_wc(req.qty) <= 0, e.open_buy),
                Side::Sell => (e.position > 0 && e.short_wc(req.qty) >= 0, e.open_sell),
            };
            if !ok {
                return Decision::reject(
                    Reason::ReducingOnly,
                    inst_id,
                    e.position.saturating_abs(),
                    req.qty.saturating_add(same_side),
                    e.position,
                );
            }
        }

        // 10. R4 max position (worst case: position + open orders + this order).
        let before = e.abs_wc(None, 0);
        let after = e.abs_wc(Some(req.side), req.qty);
        if after > lim.max_position as i128 && after > before {
            return Decision::reject(Reason::MaxPosition, inst_id, lim.max_position, to_i64(after), to_i64(before));
        }

        // 11. R4 gross and net notional of the strategy, worst case, at reference prices.
        let (mut gross_b, mut gross_a) = (0i128, 0i128);
        let (mut long_b, mut long_a, mut short_b, mut short_a) = (0i128, 0i128, 0i128, 0i128);
        for (k, ek) in book.exposure.iter().enumerate() {
            if k != slot && ek.is_flat() {
                continue;
            }
            let Some(r2) = self.refs[k].half_ticks(policy.collar_reference) else {
                return Decision::reject(Reason::NoReferencePrice, self.instruments[k].id, 0, 0, 0);
            };
            let tlv = self.instruments[k].tick_lot_value;
            let (bq, sq) = match (k == slot, req.side) {
                (true, Side::Buy) => (req.qty, 0),
                (true, Side::Sell) => (0, req.qty),
                (false, _) => (0, 0),
            };
            gross_b = gross_b.saturating_add(money_at(ek.abs_wc(None, 0), r2, tlv));
            gross_a = gross_a.saturating_add(money_at(ek.long_wc(bq).abs().max(ek.short_wc(sq).abs()), r2, tlv));
            long_b = long_b.saturating_add(money_at(ek.long_wc(0), r2, tlv));
            long_a = long_a.saturating_add(money_at(ek.long_wc(bq), r2, tlv));
            short_b = short_b.saturating_add(money_at(ek.short_wc(0), r2, tlv));
            short_a = short_a.saturating_add(money_at(ek.short_wc(sq), r2, tlv));
        }
        let increases = |a: i128, b: i128| a > b || a >= MONEY_CLAMP;
        if gross_a > policy.max_gross_notional as i128 && increases(gross_a, gross_b) {
            return Decision::reject(
                Reason::MaxGrossNotional,
                inst_id,
                policy.max_gross_notional,
                to_i64(gross_a),
                to_i64(gross_b),
            );
        }
        let net_b = long_b.abs().max(short_b.abs());
        let net_a = long_a.abs().max(short_a.abs());
        if net_a > policy.max_net_notional as i128 && increases(net_a, net_b) {
            return Decision::reject(
                Reason::MaxNetNotional,
                inst_id,
                policy.max_net_notional,
                to_i64(net_a),
                to_i64(net_b),
            );
        }

        // 12. R5 max open orders.
        let open = book.open.len() as i64;
        if open >= policy.max_open_orders as i64 {
            return Decision::reject(Reason::MaxOpenOrders, inst_id, policy.max_open_orders as i64, open + 1, open);
        }

        Decision::ACCEPT
    }

    /// [`RiskEngine::check_order`] and, on accept, [`RiskEngine::order_opened`]
    /// in one step, so no other check can slip in between.
    pub fn check_and_open(&mut self, strategy: u32, ts_ns: u64, order_id: u64, req: &OrderRequest) -> Decision {
        let d = self.check_order(strategy, ts_ns, req);
        if d.accepted() {
            self.order_opened(strategy, order_id, req);
        }
        d
    }

    /// A cancel request: charges one message token (R5). Trading states never
    /// block cancels. Unknown strategies are accepted (there is nothing to cancel).
    pub fn check_cancel(&mut self, strategy: u32, ts_ns: u64) -> Decision {
        let Some(book) = self.strategies.get_mut(strategy as usize) else {
            return Decision::ACCEPT;
        };
        if !book.messages.try_take(ts_ns) {
            return Decision::reject(Reason::MessageRateThrottle, NO_INSTRUMENT, book.messages.rate() as i64, 1, 0);
        }
        Decision::ACCEPT
    }

    /// The order is live: it counts as open and as worst-case exposure until
    /// filled or closed. Re-opening an id already open replaces it.
    pub fn order_opened(&mut self, strategy: u32, order_id: u64, req: &OrderRequest) {
        let slot = self.slot(req.instrument);
        let Some(book) = self.strategies.get_mut(strategy as usize) else { return };
        book.remove_open(order_id);
        let remaining = req.qty.max(0);
        if let Some(e) = slot.map(|s| &mut book.exposure[s]) {
            match req.side {
                Side::Buy => e.open_buy = e.open_buy.saturating_add(remaining),
                Side::Sell => e.open_sell = e.open_sell.saturating_add(remaining),
            }
        }
        book.open.insert(order_id, OpenOrder { slot, side: req.side, remaining });
    }

    /// A fill: the position moves by `qty` lots (as reported, saturating) in
    /// the direction of the order's own side as recorded by `order_opened`
    /// (authoritative; `_side` is accepted for symmetry with fill events and
    /// not trusted); the order's open quantity drops by `qty` and it leaves the
    /// open set when nothing remains. A fill for an id that is not open is
    /// ignored (its instrument is unknown), so report fills before
    /// `order_closed`.
    pub fn order_filled(&mut self, strategy: u32, order_id: u64, _side: Side, _price: i64, qty: i64) {
        let Some(book) = self.strategies.get_mut(strategy as usize) else { return };
        let Some(o) = book.open.get(&order_id).copied() else { return };
        let qty = qty.max(0);
        if let Some(e) = o.slot.map(|s| &mut book.exposure[s]) {
            e.position = e.position.saturating_add(o.side.sign().saturating_mul(qty));
        }
        let used = qty.min(o.remaining);
        book.release(&o, used);
        let remaining = o.remaining - used;
        if remaining == 0 {
            book.open.remove(&order_id);
        } else if let Some(x) = book.open.get_mut(&order_id) {
            x.remaining = remaining;
        }
    }

    /// Cancelled, expired or rejected by the venue: the order leaves the open set.
    pub fn order_closed(&mut self, strategy: u32, order_id: u64) {
        if let Some(book) = self.strategies.get_mut(strategy as usize) {
            book.remove_open(order_id);
        }
    }

    /// Set a trading state. Unknown strategy or instrument ids are ignored
    /// (they cannot trade anyway).
    pub fn set_state(&mut self, scope: Scope, state: TradingState) {
        match scope {
            Scope::Global => self.global = state,
            Scope::Strategy(s) => {
                if let Some(b) = self.strategies.get_mut(s as usize) {
                    b.state = state;
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
    pub fn position(&self, strategy: u32, instrument: u32) -> i64 {
        self.exposure(strategy, instrument).position
    }

    /// Total open (unfilled) buy and sell lots of a strategy in an instrument.
    pub fn open_qty(&self, strategy: u32, instrument: u32) -> (i64, i64) {
        let e = self.exposure(strategy, instrument);
        (e.open_buy, e.open_sell)
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
