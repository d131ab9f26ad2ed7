//! The pre-trade controls of a new order, one function each, in the order
//! they are applied ([`CONTROLS`]). The first control that refuses decides;
//! a control that passes may leave what it resolved (the instrument's slot
//! and limits, the reference price, the worst-case totals) in the [`Check`]
//! for the controls after it.
//!
//! The crate header's "Order of checks" list is tested against this table
//! (`tests::documented_order_matches_the_table`), so the two cannot drift.

use bulkhead_abi::{OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_model::{HalfTicks, Lots, Money, Ticks};

use super::{Exposure, Leg, OrderRef, RiskEngine, Totals, TradingState, increases, money_at, to_i64, totals};
use crate::decision::Decision;
use crate::firm::StpMode;
use crate::policy::InstrumentLimits;

/// One pre-trade control: its DESIGN.md §4 id, what it checks, and every
/// reason it can refuse with (in the order it tries them).
#[derive(Clone, Copy)]
pub struct Control {
    /// `R1` … `R14`, or `SBX` for the sanity check.
    pub id: &'static str,
    /// What it checks, as the crate header lists it.
    pub name: &'static str,
    /// The refusal reasons it can give.
    pub reasons: &'static [Reason],
    /// Which side of a split run applies it ([`RiskPart`]).
    pub part: Part,
    pub(super) check: CheckFn,
}

/// Where a control runs when risk is split between strategy nodes and a
/// venue gateway (issue 18): a node sees only its own strategies, so the
/// controls that need every strategy's view (R5 firm rates, R12 firm
/// aggregates, R7 self-trade prevention) run at the gateway; the checks that
/// only resolve what later controls read (R1's limits, the sanity check, R3's
/// reference) run on both sides (they decide the same on both: same policy,
/// same market data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Strategy,
    Firm,
    Both,
}

/// Which controls this risk engine applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RiskPart {
    /// Every control (one process).
    #[default]
    Whole,
    /// A strategy node: every control but the firm-wide ones.
    Node,
    /// A venue gateway: only the firm-wide controls (and the resolvers).
    Gateway,
}

impl RiskPart {
    pub(super) fn runs(self, part: Part) -> bool {
        match (self, part) {
            (RiskPart::Whole, _) | (_, Part::Both) => true,
            (RiskPart::Node, p) => p == Part::Strategy,
            (RiskPart::Gateway, p) => p == Part::Firm,
        }
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("id", &self.id)
            .field("part", &self.part)
            .field("name", &self.name)
            .field("reasons", &self.reasons)
            .finish()
    }
}

type CheckFn = fn(&mut RiskEngine, &mut Check<'_>) -> Result<(), Decision>;

/// The controls of [`RiskEngine::check_order`], in the order they are applied.
pub const CONTROLS: &[Control] = &[
    Control {
        id: "R5",
        name: "strategy message rate, then order rate",
        reasons: &[Reason::MessageRateThrottle, Reason::OrderRateThrottle],
        part: Part::Strategy,
        check: r5_strategy_rates,
    },
    Control {
        id: "R5",
        name: "firm message rate, then firm order rate",
        reasons: &[Reason::FirmMessageRateThrottle, Reason::FirmOrderRateThrottle],
        part: Part::Firm,
        check: r5_firm_rates,
    },
    Control {
        id: "R11",
        name: "halted: global, then strategy, then instrument",
        reasons: &[Reason::GlobalHalted, Reason::StrategyHalted, Reason::InstrumentHalted],
        part: Part::Both,
        check: r11_halted,
    },
    Control {
        id: "R1",
        name: "allowlist: instrument, side, order type, time in force",
        reasons: &[
            Reason::InstrumentNotAllowed,
            Reason::SideNotAllowed,
            Reason::OrderTypeNotAllowed,
            Reason::TimeInForceNotAllowed,
        ],
        part: Part::Both,
        check: r1_allowlist,
    },
    Control {
        id: "SBX",
        name: "sanity: qty > 0, limit price > 0",
        reasons: &[Reason::InvalidOrder],
        part: Part::Both,
        check: sanity,
    },
    Control {
        id: "R3",
        name: "a reference price exists for the instrument",
        reasons: &[Reason::NoReferencePrice],
        part: Part::Both,
        check: r3_reference,
    },
    Control {
        id: "R13",
        name: "stale reference, then price-jump cooldown",
        reasons: &[Reason::StaleReference, Reason::PriceJump],
        part: Part::Strategy,
        check: r13_reasonability,
    },
    Control {
        id: "R2",
        name: "order quantity, then order notional",
        reasons: &[Reason::MaxOrderQty, Reason::MaxOrderNotional],
        part: Part::Strategy,
        check: r2_size,
    },
    Control { id: "R3", name: "price collar", reasons: &[Reason::PriceCollar], part: Part::Strategy, check: r3_collar },
    Control {
        id: "R6",
        name: "duplicate order",
        reasons: &[Reason::DuplicateOrder],
        part: Part::Strategy,
        check: r6_duplicate,
    },
    Control {
        id: "R11",
        name: "reducing only",
        reasons: &[Reason::ReducingOnly],
        part: Part::Strategy,
        check: r11_reducing,
    },
    Control {
        id: "R4",
        name: "max position",
        reasons: &[Reason::MaxPosition],
        part: Part::Strategy,
        check: r4_position,
    },
    Control {
        id: "R4",
        name: "gross notional, then net notional",
        reasons: &[Reason::NoReferencePrice, Reason::MaxGrossNotional, Reason::MaxNetNotional],
        part: Part::Strategy,
        check: r4_notional,
    },
    Control {
        id: "R10",
        name: "initial margin",
        reasons: &[Reason::InitialMargin],
        part: Part::Strategy,
        check: r10_margin,
    },
    Control {
        id: "R9",
        name: "delta, vega, notional per expiry",
        reasons: &[
            Reason::NoReferencePrice,
            Reason::NoGreeks,
            Reason::MaxPortfolioDelta,
            Reason::MaxPortfolioVega,
            Reason::MaxExpiryNotional,
        ],
        part: Part::Strategy,
        check: r9_greeks,
    },
    Control {
        id: "R5",
        name: "max open orders",
        reasons: &[Reason::MaxOpenOrders],
        part: Part::Strategy,
        check: r5_open_orders,
    },
    Control {
        id: "R12",
        name: "firm position, firm gross, firm net",
        reasons: &[
            Reason::FirmMaxPosition,
            Reason::NoReferencePrice,
            Reason::FirmGrossNotional,
            Reason::FirmNetNotional,
        ],
        part: Part::Firm,
        check: r12_firm,
    },
    Control {
        id: "R7",
        name: "self-trade prevention",
        reasons: &[Reason::SelfTradePrevented],
        part: Part::Firm,
        check: r7_self_trade,
    },
];

/// What the reference check resolved.
#[derive(Clone, Copy)]
struct AtReference {
    /// Reference price.
    ref2: HalfTicks,
    /// The strategy's exposure in the instrument before the order.
    e: Exposure,
    /// The order only reduces: opposite side of the position and, with every
    /// same-side open order filled too, never past flat.
    reduces: bool,
}

/// One order being checked, and what the controls so far resolved.
pub(super) struct Check<'a> {
    sid: usize,
    ts: u64,
    req: &'a OrderRequest,
    /// `req.price` and `req.qty` in their units.
    price: Ticks,
    qty: Lots,
    cancels: Option<&'a mut Vec<OrderRef>>,
    /// The instrument's engine slot (`None`: not in the universe).
    slot: Option<usize>,
    /// From R1 on: the strategy's limits in the instrument.
    lim: Option<InstrumentLimits>,
    /// From the R3 reference check on.
    at: Option<AtReference>,
    /// Worst-case totals of the strategy (R4 notional, R10), computed once.
    totals: Option<Totals>,
}

impl<'a> Check<'a> {
    pub(super) fn new(
        engine: &RiskEngine,
        sid: usize,
        ts: u64,
        req: &'a OrderRequest,
        cancels: Option<&'a mut Vec<OrderRef>>,
    ) -> Self {
        let (price, qty) = (Ticks::new(req.price), Lots::new(req.qty));
        let slot = engine.slot(req.instrument);
        Check { sid, ts, req, price, qty, cancels, slot, lim: None, at: None, totals: None }
    }

    fn refuse(&self, reason: Reason, limit: i64, requested: i64, current: i64) -> Decision {
        Decision::reject(reason, self.req.instrument, limit, requested, current)
    }

    /// Slot and limits, which R1 resolved. Fails closed (R1's refusal) if a
    /// control that needs them were ever ordered before R1.
    fn resolved(&self) -> Result<(usize, InstrumentLimits), Decision> {
        match (self.slot, self.lim) {
            (Some(s), Some(l)) => Ok((s, l)),
            _ => Err(self.refuse(Reason::InstrumentNotAllowed, 0, self.req.instrument as i64, 0)),
        }
    }

    /// What the reference check resolved; fails closed like [`Check::resolved`].
    fn at(&self) -> Result<AtReference, Decision> {
        self.at.ok_or_else(|| self.refuse(Reason::NoReferencePrice, 0, 0, 0))
    }

    fn is_limit(&self) -> bool {
        self.req.order_type == OrderType::Limit
    }

    /// The order as one leg of the worst-case sums, in `slot`.
    fn leg(&self, slot: usize) -> Leg {
        Leg { slot, side: self.req.side, qty: self.qty }
    }
}

/// R5: both of the strategy's buckets are charged on every check.
fn r5_strategy_rates(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let book = &mut eng.strategies[c.sid];
    let msg_ok = book.messages.try_take(c.ts);
    let ord_ok = book.orders.try_take(c.ts);
    if !msg_ok {
        return Err(c.refuse(Reason::MessageRateThrottle, book.messages.rate() as i64, 1, 0));
    }
    if !ord_ok {
        return Err(c.refuse(Reason::OrderRateThrottle, book.orders.rate() as i64, 1, 0));
    }
    Ok(())
}

/// R5 firm-wide throttles, charged only for checks the strategy's own buckets
/// let through (a throttled strategy cannot starve the others).
fn r5_firm_rates(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let Some(f) = &mut eng.firm else { return Ok(()) };
    let fm = f.messages.as_mut().is_none_or(|b| b.try_take(c.ts));
    let fo = f.orders.as_mut().is_none_or(|b| b.try_take(c.ts));
    if !fm {
        let rate = f.messages.as_ref().map_or(0, |b| b.rate());
        return Err(c.refuse(Reason::FirmMessageRateThrottle, rate as i64, 1, 0));
    }
    if !fo {
        let rate = f.orders.as_ref().map_or(0, |b| b.rate());
        return Err(c.refuse(Reason::FirmOrderRateThrottle, rate as i64, 1, 0));
    }
    Ok(())
}

/// R11 halted: global, strategy, instrument.
fn r11_halted(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    if eng.global == TradingState::Halted {
        return Err(c.refuse(Reason::GlobalHalted, 0, 0, 0));
    }
    if eng.strategies[c.sid].state == TradingState::Halted {
        return Err(c.refuse(Reason::StrategyHalted, 0, 0, 0));
    }
    if let Some(s) = c.slot
        && eng.instrument_state[s] == TradingState::Halted
    {
        return Err(c.refuse(Reason::InstrumentHalted, 0, 0, 0));
    }
    Ok(())
}

/// R1 allowlist; resolves the strategy's limits in the instrument.
fn r1_allowlist(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let book = &eng.strategies[c.sid];
    let policy = &book.policy;
    let req = c.req;
    c.lim = c.slot.and_then(|s| book.limits[s]);
    if c.lim.is_none() {
        return Err(c.refuse(Reason::InstrumentNotAllowed, 0, req.instrument as i64, 0));
    }
    if !policy.side_allowed(req.side) {
        return Err(c.refuse(Reason::SideNotAllowed, 0, req.side as i64, 0));
    }
    if !policy.order_type_allowed(req.order_type) {
        return Err(c.refuse(Reason::OrderTypeNotAllowed, 0, req.order_type as i64, 0));
    }
    if !policy.tif_allowed(req.tif) {
        return Err(c.refuse(Reason::TimeInForceNotAllowed, 0, req.tif as i64, 0));
    }
    Ok(())
}

/// Sanity (defence in depth; the ABI decoder already enforces it).
fn sanity(_: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    if !c.qty.is_positive() || (c.is_limit() && !c.price.is_positive()) {
        return Err(c.refuse(Reason::InvalidOrder, 0, c.qty.get(), 0));
    }
    Ok(())
}

/// R3: a reference price must exist; resolves it, the exposure and whether
/// the order only reduces.
fn r3_reference(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let (slot, _) = c.resolved()?;
    let book = &eng.strategies[c.sid];
    let Some(ref2) = eng.refs[slot].half_ticks(book.policy.collar_reference) else {
        return Err(c.refuse(Reason::NoReferencePrice, 0, 0, 0));
    };
    let e = book.exposure[slot];
    let reduces = match c.req.side {
        Side::Buy => e.position.is_negative() && e.long_wc(c.qty) <= 0,
        Side::Sell => e.position.is_positive() && e.short_wc(c.qty) >= 0,
    };
    c.at = Some(AtReference { ref2, e, reduces });
    Ok(())
}

/// R13 market-data reasonability (orders that only reduce pass).
fn r13_reasonability(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let (slot, _) = c.resolved()?;
    let at = c.at()?;
    let Some(f) = &eng.firm else { return Ok(()) };
    if at.reduces {
        return Ok(());
    }
    let reference = eng.strategies[c.sid].policy.collar_reference;
    let refs = &eng.refs[slot];
    if let Some(max_age) = f.policy.max_reference_age_ns {
        let age = c.ts.saturating_sub(refs.updated_at(reference));
        if age > max_age {
            return Err(c.refuse(Reason::StaleReference, max_age as i64, age as i64, 0));
        }
    }
    if let Some(max_bps) = f.policy.max_jump_bps {
        let (until, bps) = refs.jump(reference);
        if c.ts < until {
            return Err(c.refuse(Reason::PriceJump, max_bps, bps, (until - c.ts) as i64));
        }
    }
    Ok(())
}

/// R2 size: quantity, then notional (limit price; market at reference).
fn r2_size(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let (slot, lim) = c.resolved()?;
    let at = c.at()?;
    if c.qty > lim.max_order_qty {
        return Err(c.refuse(Reason::MaxOrderQty, lim.max_order_qty.get(), c.qty.get(), 0));
    }
    let tlv = eng.instruments[slot].tick_lot_value;
    let at_price = if c.is_limit() { c.price.half_ticks() } else { at.ref2 };
    let notional = money_at(i128::from(c.qty.get()), at_price, tlv);
    if notional > i128::from(lim.max_order_notional.get()) {
        return Err(c.refuse(Reason::MaxOrderNotional, lim.max_order_notional.get(), to_i64(notional), 0));
    }
    Ok(())
}

/// R3 collar (limit orders): |price − ref| × 10000 ≤ bps × ref, in half-ticks.
/// The refusal's `current` is the reference in half-ticks
/// ([`Decision::collar_reference`]).
fn r3_collar(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let at = c.at()?;
    if !c.is_limit() {
        return Ok(());
    }
    let bps = eng.strategies[c.sid].policy.price_collar_bps;
    let dev2 = (c.price.half_ticks() - at.ref2).abs();
    if dev2.get() * 10_000 > i128::from(bps) * at.ref2.get() {
        return Err(Decision::collar(c.req.instrument, bps, c.price, at.ref2));
    }
    Ok(())
}

/// R6 duplicate: same instrument, side, type, price and qty as an order
/// opened less than `duplicate_window` ago.
fn r6_duplicate(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let book = &eng.strategies[c.sid];
    let Some(w) = book.policy.duplicate_window_ns else { return Ok(()) };
    let req = c.req;
    for r in book.recent.iter().rev() {
        let age = c.ts.saturating_sub(r.ts);
        if age < w
            && r.instrument == req.instrument
            && r.side == req.side
            && r.order_type == req.order_type
            && r.qty == c.qty
            && (!c.is_limit() || r.price == c.price)
        {
            return Err(c.refuse(Reason::DuplicateOrder, w as i64, age as i64, 0));
        }
    }
    Ok(())
}

/// R11 reducing (global, strategy or instrument): only orders that reduce.
fn r11_reducing(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let (slot, _) = c.resolved()?;
    let at = c.at()?;
    let reducing = eng.global == TradingState::Reducing
        || eng.strategies[c.sid].state == TradingState::Reducing
        || eng.instrument_state[slot] == TradingState::Reducing;
    if reducing && !at.reduces {
        let e = at.e;
        let same_side = match c.req.side {
            Side::Buy => e.open_buy,
            Side::Sell => e.open_sell,
        };
        return Err(c.refuse(
            Reason::ReducingOnly,
            e.position.saturating_abs().get(),
            c.qty.saturating_add(same_side).get(),
            e.position.get(),
        ));
    }
    Ok(())
}

/// R4 max position (worst case: position + open orders + this order).
fn r4_position(_: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let (_, lim) = c.resolved()?;
    let e = c.at()?.e;
    let before = e.abs_wc(None, Lots::ZERO);
    let after = e.abs_wc(Some(c.req.side), c.qty);
    if after > i128::from(lim.max_position.get()) && after > before {
        return Err(c.refuse(Reason::MaxPosition, lim.max_position.get(), to_i64(after), to_i64(before)));
    }
    Ok(())
}

/// Worst-case gross / net notional (and margin, with a capital) of the
/// strategy at reference prices, before and after the order; computed once.
fn strategy_totals(eng: &RiskEngine, c: &mut Check<'_>) -> Result<Totals, Decision> {
    if let Some(t) = c.totals {
        return Ok(t);
    }
    let (slot, _) = c.resolved()?;
    let book = &eng.strategies[c.sid];
    let policy = &book.policy;
    let margin = policy.capital.map(|_| book.margin_bps.as_slice());
    let t = totals(eng, &book.exposure, policy.collar_reference, c.leg(slot), margin)
        .map_err(|id| Decision::reject(Reason::NoReferencePrice, id, 0, 0, 0))?;
    c.totals = Some(t);
    Ok(t)
}

/// R4 gross and net notional of the strategy, worst case, at reference
/// prices (needs a reference for every instrument it is exposed in).
fn r4_notional(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let t = strategy_totals(eng, c)?;
    let policy = &eng.strategies[c.sid].policy;
    let (max_gross, max_net) = (policy.max_gross_notional.get(), policy.max_net_notional.get());
    if t.gross_a > i128::from(max_gross) && increases(t.gross_a, t.gross_b) {
        return Err(c.refuse(Reason::MaxGrossNotional, max_gross, to_i64(t.gross_a), to_i64(t.gross_b)));
    }
    if t.net_a > i128::from(max_net) && increases(t.net_a, t.net_b) {
        return Err(c.refuse(Reason::MaxNetNotional, max_net, to_i64(t.net_a), to_i64(t.net_b)));
    }
    Ok(())
}

/// R10 initial margin of the same worst case within capital.
fn r10_margin(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let Some(cap) = eng.strategies[c.sid].policy.capital.map(Money::get) else { return Ok(()) };
    let t = strategy_totals(eng, c)?;
    if t.margin_a > i128::from(cap) && increases(t.margin_a, t.margin_b) {
        return Err(c.refuse(Reason::InitialMargin, cap, to_i64(t.margin_a), to_i64(t.margin_b)));
    }
    Ok(())
}

/// R9 options: portfolio delta and vega, notional per expiry.
fn r9_greeks(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let (slot, _) = c.resolved()?;
    let policy = &eng.strategies[c.sid].policy;
    if (policy.max_delta.is_some()
        || policy.max_vega.is_some()
        || (policy.max_expiry_notional.is_some() && eng.instruments[slot].expiry.is_some()))
        && let Some(d) = eng.r9(c.sid, c.leg(slot), c.ts)
    {
        return Err(d);
    }
    Ok(())
}

/// R5 max open orders.
fn r5_open_orders(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let book = &eng.strategies[c.sid];
    let open = book.open.len() as i64;
    let max = book.policy.max_open_orders as i64;
    if open >= max {
        return Err(c.refuse(Reason::MaxOpenOrders, max, open + 1, open));
    }
    Ok(())
}

/// R12 firm-wide aggregates (worst case over every strategy).
fn r12_firm(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let (slot, _) = c.resolved()?;
    let Some(f) = &eng.firm else { return Ok(()) };
    let req = c.req;
    let fe = eng.firm_exposure[slot];
    if let Some(max) = f.max_position[slot].map(Lots::get) {
        let before = fe.abs_wc(None, Lots::ZERO);
        let after = fe.abs_wc(Some(req.side), c.qty);
        if after > i128::from(max) && after > before {
            return Err(c.refuse(Reason::FirmMaxPosition, max, to_i64(after), to_i64(before)));
        }
    }
    if f.policy.max_gross_notional.is_none() && f.policy.max_net_notional.is_none() {
        return Ok(());
    }
    let t = totals(eng, &eng.firm_exposure, f.policy.reference, c.leg(slot), None)
        .map_err(|id| Decision::reject(Reason::NoReferencePrice, id, 0, 0, 0))?;
    if let Some(max) = f.policy.max_gross_notional.map(Money::get)
        && t.gross_a > i128::from(max)
        && increases(t.gross_a, t.gross_b)
    {
        return Err(c.refuse(Reason::FirmGrossNotional, max, to_i64(t.gross_a), to_i64(t.gross_b)));
    }
    if let Some(max) = f.policy.max_net_notional.map(Money::get)
        && t.net_a > i128::from(max)
        && increases(t.net_a, t.net_b)
    {
        return Err(c.refuse(Reason::FirmNetNotional, max, to_i64(t.net_a), to_i64(t.net_b)));
    }
    Ok(())
}

/// R7 self-trade prevention against resting limit orders of every strategy
/// (this one included), last, so resting orders are only ever cancelled for
/// an order that passed everything else. Post-only orders never take, so
/// they are exempt (the venue rejects them if they would cross).
fn r7_self_trade(eng: &mut RiskEngine, c: &mut Check<'_>) -> Result<(), Decision> {
    let (slot, _) = c.resolved()?;
    let Some(mode) = eng.firm.as_ref().and_then(|f| f.policy.stp_mode) else { return Ok(()) };
    let req = c.req;
    if req.tif == TimeInForce::PostOnly {
        return Ok(());
    }
    let px = match (c.is_limit(), req.side) {
        (true, _) => c.price,
        (false, Side::Buy) => Ticks::MAX,
        (false, Side::Sell) => Ticks::MIN,
    };
    let rb = &mut eng.rest[slot];
    let (count, best) = match req.side {
        Side::Buy => {
            let mut it = rb.sells.iter().take_while(|k| k.price <= px);
            let best = it.next().map(|k| k.price);
            (best.map_or(0, |_| 1 + it.count()), best)
        }
        Side::Sell => {
            let mut it = rb.buys.iter().rev().take_while(|k| k.price >= px);
            let best = it.next().map(|k| k.price);
            (best.map_or(0, |_| 1 + it.count()), best)
        }
    };
    let Some(best) = best else { return Ok(()) };
    let reject = c.refuse(Reason::SelfTradePrevented, count as i64, req.price, best.get());
    let out = match (mode, c.cancels.as_deref_mut()) {
        (StpMode::CancelNewest, _) | (_, None) => return Err(reject),
        (_, Some(out)) => out,
    };
    let side_set = match req.side {
        Side::Buy => &mut rb.sells,
        Side::Sell => &mut rb.buys,
    };
    for _ in 0..count {
        let k = match req.side {
            Side::Buy => side_set.pop_first(),
            Side::Sell => side_set.pop_last(),
        };
        if let Some(k) = k {
            out.push(OrderRef { strategy: k.strategy, order_id: k.id });
            if let Some(o) = eng.strategies.get_mut(k.strategy as usize).and_then(|b| b.open.get_mut(&k.id)) {
                o.rest = None;
            }
        }
    }
    if mode == StpMode::CancelBoth { Err(reject) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::CONTROLS;

    /// The numbered list under "Order of checks" in the crate header, as
    /// (id, name) pairs: lines `N. **ID** name — explanation`.
    fn documented_order() -> Vec<(String, String)> {
        let header = include_str!("../lib.rs");
        let start = header.find("## Order of checks").expect("the crate header has an `Order of checks` section");
        let section = &header[start..];
        let end = section[3..].find("\n//! ##").map_or(section.len(), |e| e + 3);
        let mut out = Vec::new();
        for line in section[..end].lines() {
            let l = line.trim_start_matches("//!").trim();
            let Some((n, rest)) = l.split_once(". **") else { continue };
            if n.parse::<usize>().is_err() {
                continue;
            }
            let (id, rest) = rest.split_once("** ").expect("`N. **ID** name`");
            let name = rest.split(" — ").next().unwrap().trim();
            out.push((id.to_string(), name.to_string()));
        }
        out
    }

    #[test]
    fn documented_order_matches_the_table() {
        let doc = documented_order();
        let table: Vec<(String, String)> = CONTROLS.iter().map(|c| (c.id.to_string(), c.name.to_string())).collect();
        assert_eq!(doc, table, "the crate header's `Order of checks` and `CONTROLS` disagree");
    }

    /// Every control id is a row of the crate header's control table (or
    /// `SBX`), every reason a control can give is named there, and every
    /// control DESIGN.md §4 owes (R1…R14) that refuses orders is in the table.
    #[test]
    fn controls_table_names_every_reason() {
        let header = include_str!("../lib.rs");
        for c in CONTROLS {
            if c.id != "SBX" {
                assert!(header.contains(&format!("//! | {} |", c.id)), "{} has no row in the crate header", c.id);
            }
            for r in c.reasons {
                assert!(header.contains(r.name()), "{} ({}) is not named in the crate header", r.name(), c.id);
            }
        }
        // R8 and R14 act on fills and prices, not on an order: they move the
        // trading state, which R11 then applies.
        for id in 1..=14 {
            let id = format!("R{id}");
            if id == "R8" || id == "R14" {
                assert!(!CONTROLS.iter().any(|c| c.id == id));
                continue;
            }
            assert!(CONTROLS.iter().any(|c| c.id == id), "{id} is not in CONTROLS");
        }
        let arch = include_str!("../../../../ARCHITECTURE.md");
        assert!(arch.contains("pre-trade checks R1–R14") && arch.contains("`CONTROLS`"), "ARCHITECTURE.md");
    }

    /// Each reason belongs to the controls that can give it, and no two
    /// controls claim the same refusal (except `R3_NO_REFERENCE_PRICE`,
    /// which every control that values another instrument can give).
    #[test]
    fn reasons_are_not_shared() {
        let mut seen = std::collections::BTreeMap::new();
        for (i, c) in CONTROLS.iter().enumerate() {
            for r in c.reasons {
                if *r == bulkhead_abi::Reason::NoReferencePrice {
                    continue;
                }
                assert!(seen.insert(r.code(), i).is_none(), "{} is claimed twice", r.name());
            }
        }
    }
}
