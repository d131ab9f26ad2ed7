//! The host side of a strategy's callback: what the sandbox (or a native
//! strategy) calls into. [`HostCtx`] implements the ABI's [`HostApi`] over
//! one strategy's engine-side [`Book`] (scoped order ids, open orders,
//! timers, inbox, budgets), risk, the journal sink and the venues (read
//! only). Each host call asks risk, journals its record, and queues what it
//! decided as an [`Action`] that the engine releases to the venue after the
//! callback returns, once the records deciding it are durable.

use super::journal::JournalSink;
use super::{MAX_TIMERS, StrategyStats, global_id};
use crate::records::{self, Record};
use crate::venues::Venues;
use bulkhead_abi::{
    Breach, Event, EventKind, HostApi, HostBudget, OpenOrderRecord, OrderRequest, PositionRecord, Reason, ResultCode,
    Side,
};
use bulkhead_model::Ticks;
use bulkhead_risk::RiskEngine;
use bulkhead_sandbox::Limits;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug)]
pub(super) struct OpenInfo {
    pub(super) instrument: u32,
    pub(super) side: Side,
    pub(super) price: i64,
    pub(super) remaining: i64,
    pub(super) tag: u64,
}

/// Engine-side bookkeeping for one strategy (what its host calls see).
pub(super) struct Book {
    pub(super) sid: u32,
    pub(super) next_local: u64,
    pub(super) open: BTreeMap<u64, OpenInfo>,
    pub(super) timers: Vec<(u64, u64)>,
    pub(super) inbox: Vec<Event>,
    pub(super) stats: StrategyStats,
    /// The budgets the engine keeps for this strategy (see [`Budgets`]).
    pub(super) budgets: Budgets,
    /// Set when a budget the engine keeps is spent: the guest is trapped at
    /// once (the sandbox polls [`HostApi::breach`]), or, when it happens
    /// between guest calls, the strategy is quarantined before its next one.
    pub(super) breach: Option<Breach>,
    /// Event time of its last host call (cancel-on-disconnect liveness).
    pub(super) last_call_ns: u64,
}

/// Per-strategy budgets the engine keeps (the sandbox keeps fuel, host calls
/// and guest calls per market event). All run on event time and on what the
/// strategy asks for, so a breach is deterministic.
pub(super) struct Budgets {
    pub(super) inbox_cap: usize,
    pub(super) journal_per_event: u64,
    /// Journal bytes caused in the current market event.
    pub(super) journal_event: u64,
    /// Journal bytes per second of event time: the sandbox's own
    /// event-time byte bucket (the one behind its log-rate limit).
    pub(super) journal_rate: bulkhead_sandbox::LogBucket,
}

impl Budgets {
    pub(super) fn new(limits: &Limits, now_ns: u64) -> Self {
        Budgets {
            inbox_cap: limits.inbox_events as usize,
            journal_per_event: limits.journal_bytes_per_event,
            journal_event: 0,
            journal_rate: bulkhead_sandbox::LogBucket::new(limits.journal_bytes_per_sec, now_ns),
        }
    }
}

impl Book {
    /// Queue an event for the strategy's next delivery. A full inbox drops
    /// it and sets an `inbox_overflow` breach (the strategy is quarantined;
    /// nothing it was owed matters any more). Never allocates past the cap.
    pub(super) fn push_inbox(&mut self, ev: Event) {
        if self.inbox.len() < self.budgets.inbox_cap {
            self.inbox.push(ev);
            return;
        }
        let limit = self.budgets.inbox_cap as u64;
        match &mut self.breach {
            Some(b) if b.budget == HostBudget::InboxEvents => b.used = b.used.saturating_add(1),
            Some(_) => {}
            None => self.breach = Some(Breach { budget: HostBudget::InboxEvents, used: limit + 1, limit }),
        }
    }

    /// Charge `bytes` of journal the strategy's host call is about to cause.
    /// `false` (and a breach) if that would spend a budget: the caller then
    /// journals and does nothing.
    pub(super) fn charge_journal(&mut self, payload: usize) -> bool {
        if self.breach.is_some() {
            return false;
        }
        let bytes = (payload + bulkhead_journal::RECORD_OVERHEAD) as u64;
        let b = &mut self.budgets;
        let event = b.journal_event.saturating_add(bytes);
        if event > b.journal_per_event {
            let limit = b.journal_per_event;
            self.breach = Some(Breach { budget: HostBudget::JournalBytesPerEvent, used: event, limit });
            return false;
        }
        if !b.journal_rate.take(bytes) {
            let limit = b.journal_rate.rate_per_sec();
            self.breach = Some(Breach { budget: HostBudget::JournalBytesPerSec, used: limit + bytes, limit });
            return false;
        }
        b.journal_event = event;
        true
    }
}

pub(super) enum Action {
    /// An order risk approved and reserved: the only thing a venue takes.
    Submit(bulkhead_risk::Approved),
    /// Venue order id, instrument.
    Cancel(u64, u32),
    /// Cancel a (possibly other strategy's) order for a risk cause (R7):
    /// venue order id, instrument, reason.
    CancelFor(u64, u32, Reason),
    CancelAll(u32, Option<u32>),
}

/// One order through risk, for a strategy's `submit_order` and for a
/// gateway applying a node's order alike: the venue's mark for R3 (risk
/// falls back to the mid without one), the check and — if it passes — the
/// reservation under its venue id (only an approval from risk can reach the
/// venue), R7 cancel-oldest / cancel-both's resting orders queued first,
/// the `ORDER` record; an accepted order is open in `open` and queued.
#[allow(clippy::too_many_arguments)]
pub(super) fn decide_order(
    risk: &mut RiskEngine,
    stp: &mut Vec<bulkhead_risk::OrderRef>,
    journal: &mut JournalSink,
    actions: &mut Vec<Action>,
    venue: &Venues,
    open: &mut BTreeMap<u64, OpenInfo>,
    (now, sid, local): (u64, u32, u64),
    req: &OrderRequest,
) -> bulkhead_risk::Outcome {
    risk.set_mark(req.instrument, venue.mark(req.instrument).map(Ticks::new));
    let mut cancels = std::mem::take(stp);
    cancels.clear();
    let res = risk.check_and_open_stp(sid, now, global_id(sid, local), req, &mut cancels);
    let d = bulkhead_risk::Outcome::from(&res);
    for o in cancels.drain(..) {
        actions.push(Action::CancelFor(o.order_id, req.instrument, Reason::CancelledBySelfTradePrevention));
    }
    *stp = cancels;
    let rec = Record::Order {
        sid,
        id: local,
        reason: d.reason,
        limit: d.limit,
        requested: d.requested,
        current: d.current,
        order: *req,
    };
    journal.record_decided(&rec, d.instrument);
    if let Ok(approved) = res {
        let info =
            OpenInfo { instrument: req.instrument, side: req.side, price: req.price, remaining: req.qty, tag: req.tag };
        open.insert(local, info);
        actions.push(Action::Submit(approved));
    }
    d
}

/// The host side of one strategy's callback.
pub(super) struct HostCtx<'a> {
    pub(super) stp: &'a mut Vec<bulkhead_risk::OrderRef>,
    pub(super) book: &'a mut Book,
    pub(super) risk: &'a mut RiskEngine,
    pub(super) journal: &'a mut JournalSink,
    pub(super) actions: &'a mut Vec<Action>,
    pub(super) venue: &'a Venues,
    pub(super) now: u64,
    pub(super) surv: &'a mut bulkhead_surveillance::Surveillance,
    pub(super) chain: &'a mut super::chain::ChainHub,
}

impl HostApi for HostCtx<'_> {
    fn submit_order(&mut self, req: &OrderRequest) -> i64 {
        // Journal first: an order whose decision cannot be journalled is
        // neither checked nor sent (the guest is trapped with the breach).
        if !self.book.charge_journal(records::ORDER_LEN) {
            return -(Reason::InvalidOrder.code() as i64);
        }
        let sid = self.book.sid;
        let local = self.book.next_local;
        self.book.next_local += 1;
        self.book.stats.submitted += 1;
        let at = (self.now, sid, local);
        let d = decide_order(self.risk, self.stp, self.journal, self.actions, self.venue, &mut self.book.open, at, req);
        self.book.last_call_ns = self.now;
        if self.surv.enabled() {
            let seen = bulkhead_surveillance::OrderSeen {
                sid,
                id: local,
                instrument: req.instrument,
                side: req.side,
                price: if req.order_type == bulkhead_abi::OrderType::Limit { req.price } else { 0 },
                qty: req.qty,
                accepted: d.accepted(),
            };
            self.surv.on_order(self.now, &seen);
        }
        if d.accepted() {
            local as i64
        } else {
            *self.book.stats.rejected.entry(d.reason.code()).or_default() += 1;
            let mut e = Event::new(EventKind::OrderRejected, req.instrument, self.now);
            e.side = Some(req.side);
            e.id = local;
            e.tag = req.tag;
            e.price = req.price;
            e.qty = req.qty;
            e.a = d.reason.code() as i64;
            self.book.push_inbox(e);
            -(d.reason.code() as i64)
        }
    }

    fn cancel_order(&mut self, id: u64) -> i32 {
        if !self.book.charge_journal(records::CANCEL_LEN) {
            return ResultCode::Rejected as i32;
        }
        let sid = self.book.sid;
        self.book.stats.cancels_requested += 1;
        // The message throttle is charged before the id is looked up: a
        // strategy guessing ids it does not own spends its own budget.
        let d = bulkhead_risk::Outcome::from(&self.risk.check_cancel(sid, self.now));
        let known = self.book.open.get(&id).map(|o| o.instrument);
        let reason = if !d.accepted() {
            d.reason
        } else if known.is_none() {
            Reason::InvalidOrder
        } else {
            d.reason
        };
        let instrument = known.map_or(-1, |i| i as i32);
        self.journal.record(&Record::Cancel { sid, id, reason, instrument });
        self.book.last_call_ns = self.now;
        if self.surv.enabled() {
            self.surv.on_cancel_request(self.now, sid);
        }
        if !d.accepted() {
            *self.book.stats.rejected.entry(d.reason.code()).or_default() += 1;
            return ResultCode::Rejected as i32;
        }
        let Some(instrument) = known else {
            return ResultCode::UnknownOrder as i32;
        };
        self.actions.push(Action::Cancel(global_id(sid, id), instrument));
        ResultCode::Ok as i32
    }

    fn cancel_all(&mut self, instrument: Option<u32>) -> i32 {
        if !self.book.charge_journal(records::CANCEL_LEN) {
            return -(ResultCode::Rejected as i32);
        }
        let sid = self.book.sid;
        self.book.stats.cancels_requested += 1;
        let d = bulkhead_risk::Outcome::from(&self.risk.check_cancel(sid, self.now));
        let target = instrument.map_or(-1, |i| i as i32);
        self.journal.record(&Record::Cancel { sid, id: 0, reason: d.reason, instrument: target });
        self.book.last_call_ns = self.now;
        if self.surv.enabled() {
            self.surv.on_cancel_request(self.now, sid);
        }
        if !d.accepted() {
            *self.book.stats.rejected.entry(d.reason.code()).or_default() += 1;
            return -(ResultCode::Rejected as i32);
        }
        let n = self.book.open.values().filter(|o| instrument.is_none_or(|i| o.instrument == i)).count();
        self.actions.push(Action::CancelAll(sid, instrument));
        n as i32
    }

    fn position(&mut self, instrument: u32, out: &mut PositionRecord) -> i32 {
        if self.venue.instrument(instrument).is_none() {
            return ResultCode::UnknownInstrument as i32;
        }
        let p = self.venue.position(self.book.sid, instrument);
        let (mut buy, mut sell) = (0i64, 0i64);
        for o in self.book.open.values().filter(|o| o.instrument == instrument) {
            match o.side {
                Side::Buy => buy = buy.saturating_add(o.remaining),
                Side::Sell => sell = sell.saturating_add(o.remaining),
            }
        }
        *out = PositionRecord {
            qty: p.qty,
            avg_price: p.avg_price(),
            realised_pnl: p.realised,
            fees: p.fees,
            open_buy_qty: buy,
            open_sell_qty: sell,
        };
        ResultCode::Ok as i32
    }

    fn open_orders(&mut self, out: &mut [OpenOrderRecord]) -> i32 {
        for (slot, (id, o)) in out.iter_mut().zip(self.book.open.iter()) {
            *slot = OpenOrderRecord {
                id: *id,
                tag: o.tag,
                instrument: o.instrument,
                side: o.side,
                price: o.price,
                remaining_qty: o.remaining,
            };
        }
        self.book.open.len().min(i32::MAX as usize) as i32
    }

    fn set_timer(&mut self, at_ns: u64, token: u64) -> i32 {
        if !self.book.charge_journal(records::TIMER_LEN) {
            return ResultCode::Rejected as i32;
        }
        let rc = if at_ns <= self.now {
            ResultCode::TimerInPast
        } else if self.book.timers.len() >= MAX_TIMERS {
            ResultCode::TooManyTimers
        } else {
            self.book.timers.push((at_ns, token));
            ResultCode::Ok
        };
        self.journal.record(&Record::Timer { sid: self.book.sid, at_ns, token, result: rc as i32 });
        self.book.last_call_ns = self.now;
        rc as i32
    }

    fn log(&mut self, level: i32, msg: &[u8]) -> i32 {
        let rec = Record::Log { sid: self.book.sid, level, message: msg };
        if !self.book.charge_journal(rec.encoded_len()) {
            return ResultCode::Rejected as i32;
        }
        self.book.stats.logs += 1;
        self.journal.record(&rec);
        ResultCode::Ok as i32
    }

    fn chain_call(&mut self, intent: &bulkhead_abi::ChainIntent) -> i64 {
        super::chain::chain_call(self, intent)
    }

    fn invalid_record(&mut self, err: bulkhead_abi::DecodeError) {
        self.book.stats.invalid_records += 1;
        *self.book.stats.rejected.entry(Reason::InvalidOrder.code()).or_default() += 1;
        let error = err.to_string();
        let rec = Record::Invalid { sid: self.book.sid, error: error.as_bytes() };
        if !self.book.charge_journal(rec.encoded_len()) {
            return;
        }
        self.journal.record(&rec);
    }

    fn breach(&self) -> Option<Breach> {
        self.book.breach
    }
}
