//! The core loop: market data → strategies → risk → venue → fills → strategies.

mod commands;

use crate::records::{self, Payload};
use crate::venues::Venues;
use bulkhead_abi::{
    Breach, Event, EventKind, HostApi, HostBudget, MAX_BATCH, OpenOrderRecord, OrderRequest, PositionRecord, Reason,
    ResultCode, Side,
};
use bulkhead_data::{DataError, MarketSource};
use bulkhead_journal::{JournalError, JournalReader, JournalSummary, JournalWriter};
use bulkhead_model::{Instrument, Lots, Money, Ticks};
use bulkhead_risk::{Policy, RiskEngine, Scope, TradingState};
use bulkhead_sandbox::{Limits, Sandbox, SandboxRuntime, StrategyModule};
use bulkhead_venue::{FeeSchedule, Level, Quote, VenueConfig, VenueEvent, VenueNotice};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Strategy-visible order ids are scoped: the venue sees
/// `(sid + 1) << ID_BITS | local`, the strategy only `local`.
const ID_BITS: u32 = 40;
const LOCAL_MASK: u64 = (1 << ID_BITS) - 1;
/// Pending timers a strategy may hold.
pub const MAX_TIMERS: usize = 64;

fn global_id(sid: u32, local: u64) -> u64 {
    ((sid as u64 + 1) << ID_BITS) | (local & LOCAL_MASK)
}
fn split_id(global: u64) -> (u32, u64) {
    (((global >> ID_BITS) - 1) as u32, global & LOCAL_MASK)
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("market data: {0}")]
    Data(#[from] DataError),
    #[error("strategy `{name}`: {message}")]
    Strategy { name: String, message: String },
    #[error(
        "cannot resume: journal record #{seq} is {journalled} but this run produces {now} there (different config, modules or data?)"
    )]
    ResumeDiverged { seq: u64, journalled: String, now: String },
}

/// A strategy compiled natively (benchmarks): same callbacks as the wasm
/// exports, driven through the same [`HostApi`].
pub trait NativeStrategy {
    fn init(&mut self, host: &mut dyn HostApi, now_ns: u64, config: &[u8]) -> i32;
    fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32;
}

enum Runner {
    Wasm(Box<Sandbox>),
    Native(Box<dyn NativeStrategy>),
    /// Failed to start: nothing to run.
    None,
}

/// Per-strategy counters for the final report.
#[derive(Clone, Debug, Default)]
pub struct StrategyStats {
    pub events: u64,
    pub callbacks: u64,
    pub submitted: u64,
    /// Orders the venue accepted.
    pub accepted: u64,
    /// Rejections by reason code (risk and venue).
    pub rejected: BTreeMap<u16, u64>,
    pub cancels_requested: u64,
    pub fills: u64,
    pub logs: u64,
    pub invalid_records: u64,
    pub faults: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Running,
    /// Faulted; restarts at `restart_at_ns` (event time) under its restart policy.
    Backoff {
        kind: String,
        message: String,
        at_ns: u64,
        restart_at_ns: u64,
        attempt: u32,
    },
    /// Faulted and stays down (no restart policy, or its budget is spent).
    Quarantined {
        kind: String,
        message: String,
        at_ns: u64,
    },
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Backoff { .. } => "backoff",
            Status::Quarantined { .. } => "quarantined",
        }
    }
}

/// Supervisor policy for one strategy: restart after a fault up to
/// `max_restarts` times, waiting `backoff_ms` of event time before the first
/// restart and doubling it before each next one. `max_restarts = 0` (the
/// default) means never: a faulted strategy stays quarantined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    pub max_restarts: u32,
    pub backoff_ms: u64,
}

/// One operator-facing state change of a strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub at_ns: u64,
    pub state: &'static str,
    pub reason: String,
}

/// One notable thing the engine did, for an observer such as the control
/// plane ([`Engine::enable_observer`]). `seq` is the journal sequence number
/// of the record that decided it. Plain data read from what was journalled:
/// observing changes nothing the engine decides or writes.
#[derive(Clone, Debug)]
pub enum Observed {
    /// A pre-trade risk decision on an order (`ORDER` record), accepted or
    /// not. `decision.message(engine.instruments())` is the human text.
    Order { seq: u64, ts_ns: u64, sid: u32, order_id: u64, order: OrderRequest, decision: bulkhead_risk::Outcome },
    /// An order record the sandbox could not decode (`INVALID`): refused
    /// with `InvalidOrder`.
    Invalid { seq: u64, ts_ns: u64, sid: u32, error: String },
    /// The venue refused an order risk had accepted (`VENUE`).
    VenueReject { seq: u64, ts_ns: u64, sid: u32, order_id: u64, instrument: u32, reason: u16 },
    /// A fill (`VENUE`); `remaining` is what is left of the order.
    Fill {
        seq: u64,
        ts_ns: u64,
        sid: u32,
        order_id: u64,
        instrument: u32,
        side: Side,
        price: i64,
        qty: i64,
        fee: i64,
        maker: bool,
        remaining: i64,
    },
    /// A strategy faulted (`FAULT`) and was contained.
    Fault { seq: u64, ts_ns: u64, sid: u32, kind: String, message: String },
    /// A trading state changed (`STATE`): operator, risk (R8, R14) or supervisor.
    State { seq: u64, ts_ns: u64, scope: Scope, state: TradingState, cause: String },
    /// The supervisor took a faulted strategy down: `status` is `backoff`
    /// (a restart is due) or `quarantined` (it stays down). Follows the
    /// `Fault` and the `State` (halted) it comes with; not a record of its own.
    Supervisor { ts_ns: u64, sid: u32, status: &'static str, reason: String },
}

/// The opt-in feed behind [`Engine::enable_observer`]: a bounded queue
/// (oldest dropped, counted) that exists only when enabled. Disabled, each
/// observation point costs one branch on `on`.
#[derive(Default)]
struct Observer {
    on: bool,
    cap: usize,
    queue: std::collections::VecDeque<Observed>,
    dropped: u64,
}

impl Observer {
    fn push(&mut self, o: Observed) {
        if self.queue.len() >= self.cap {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(o);
    }
}

/// What the supervisor needs to bring a wasm strategy back.
struct RestartState {
    module: StrategyModule,
    limits: Limits,
    config: Vec<u8>,
    policy: RestartPolicy,
    restarts: u32,
}

#[derive(Clone, Copy, Debug)]
struct OpenInfo {
    instrument: u32,
    side: Side,
    price: i64,
    remaining: i64,
    tag: u64,
}

/// Engine-side bookkeeping for one strategy (what its host calls see).
struct Book {
    sid: u32,
    next_local: u64,
    open: BTreeMap<u64, OpenInfo>,
    timers: Vec<(u64, u64)>,
    inbox: Vec<Event>,
    stats: StrategyStats,
    /// The budgets the engine keeps for this strategy (see [`Budgets`]).
    budgets: Budgets,
    /// Set when a budget the engine keeps is spent: the guest is trapped at
    /// once (the sandbox polls [`HostApi::breach`]), or, when it happens
    /// between guest calls, the strategy is quarantined before its next one.
    breach: Option<Breach>,
}

/// Per-strategy budgets the engine keeps (the sandbox keeps fuel, host calls
/// and guest calls per market event). All run on event time and on what the
/// strategy asks for, so a breach is deterministic.
struct Budgets {
    inbox_cap: usize,
    journal_per_event: u64,
    /// Journal bytes caused in the current market event.
    journal_event: u64,
    /// Journal bytes per second of event time: the sandbox's own
    /// event-time byte bucket (the one behind its log-rate limit).
    journal_rate: bulkhead_sandbox::LogBucket,
}

impl Budgets {
    fn new(limits: &Limits, now_ns: u64) -> Self {
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
    fn push_inbox(&mut self, ev: Event) {
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
    fn charge_journal(&mut self, payload: usize) -> bool {
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

struct Slot {
    name: String,
    module_hash: Option<[u8; 32]>,
    runner: Runner,
    book: Book,
    status: Status,
    restart: Option<RestartState>,
    history: Vec<StateChange>,
    /// Resources used by instances the supervisor replaced.
    retired_fuel: u64,
    retired_peak: u64,
    /// Every counter of the instances replaced so far, merged.
    retired: bulkhead_sandbox::SandboxStats,
    /// Verified signer's ed25519 key of the running module (zero = unsigned).
    signer: [u8; 32],
}

enum Action {
    /// An order risk approved and reserved: the only thing a venue takes.
    Submit(bulkhead_risk::Approved),
    /// Venue order id, instrument.
    Cancel(u64, u32),
    /// Cancel a (possibly other strategy's) order for a risk cause (R7):
    /// venue order id, instrument, reason.
    CancelFor(u64, u32, Reason),
    CancelAll(u32, Option<u32>),
}

/// Journal writer with an error latch: host calls cannot return I/O errors to
/// a guest, so the first failure is kept and the run stops after the callback.
///
/// Two more jobs:
/// - **Durability gate** ([`JournalSink::make_durable`]): under any fsync
///   policy but `never`, the records that decide an action are fsynced
///   before the action is released to the venue (group commit).
/// - **Resume**: while `prefix` holds records of an earlier, interrupted run
///   of the same config, every record this run would write must equal the
///   next one of the prefix (kind, time, payload) and is not written again;
///   when the prefix is exhausted, appending continues. Because the run is
///   deterministic, this rebuilds positions, open orders, trading states and
///   the strategies' own memory exactly as they were at the crash. Operator
///   commands are the one input not in the config or the data: the engine
///   peeks for `COMMAND` records at each event boundary and re-executes them
///   ([`Engine::execute`]).
pub struct JournalSink {
    w: JournalWriter,
    error: Option<EngineError>,
    ts: u64,
    scratch: Vec<u8>,
    gate: bool,
    prefix: Option<JournalReader>,
    /// The prefix's next record, read ahead by `peek`.
    peeked: Option<bulkhead_journal::Record>,
    resumed: u64,
    /// Inside a guest call ([`JournalSink::hold`]): records wait here, in
    /// memory, until [`JournalSink::release`] after the call returns.
    holding: bool,
    /// Held records: kind, event time, payload range in `held_bytes`.
    held: Vec<(u16, u64, u32, u32)>,
    held_bytes: Vec<u8>,
    /// Sequence number of the next record written (or matched, resuming).
    next_seq: u64,
}

impl JournalSink {
    fn new(w: JournalWriter, prefix: Option<JournalReader>) -> Self {
        let gate = w.fsync_policy() != bulkhead_journal::FsyncPolicy::Never;
        let next_seq = if prefix.is_some() { 0 } else { w.next_seq() };
        JournalSink {
            w,
            error: None,
            ts: 0,
            scratch: Vec::new(),
            gate,
            prefix,
            peeked: None,
            resumed: 0,
            holding: false,
            held: Vec::new(),
            held_bytes: Vec::new(),
            next_seq,
        }
    }

    /// A guest call starts: until [`JournalSink::release`], records are kept
    /// in memory (no write, no fsync, no read of a resumed prefix), so disk
    /// latency is never charged to the guest's deadline. How much a guest
    /// can make wait here is bounded by its journal-bytes budget per market
    /// event.
    fn hold(&mut self) {
        self.holding = true;
    }

    /// The guest call returned: write the held records in order (appended,
    /// or compared with the prefix when resuming) under the fsync policy.
    /// Durability is then awaited at the release gate, before any of it
    /// reaches a venue.
    fn release(&mut self) {
        self.holding = false;
        if self.held.is_empty() {
            return;
        }
        let mut held = std::mem::take(&mut self.held);
        let mut bytes = std::mem::take(&mut self.held_bytes);
        let ts = self.ts;
        for &(kind, at, start, len) in &held {
            self.ts = at;
            let seq = self.write(kind, &bytes[start as usize..start as usize + len as usize]);
            debug_assert!(seq == u64::MAX || seq + 1 == self.next_seq);
        }
        self.ts = ts;
        held.clear();
        bytes.clear();
        self.held = held;
        self.held_bytes = bytes;
    }
    /// While resuming: the next journalled record this run must reproduce.
    /// `None` once the prefix is exhausted, which ends the resume (or after
    /// an error).
    fn peek(&mut self) -> Option<&bulkhead_journal::Record> {
        if self.error.is_some() {
            return None;
        }
        if self.peeked.is_none() {
            match self.prefix.as_mut()?.next() {
                Some(Ok(rec)) => self.peeked = Some(rec),
                Some(Err(e)) => {
                    self.error = Some(e.into());
                    return None;
                }
                None => {
                    self.prefix = None;
                    tracing::info!(records = self.resumed, "resume: journal prefix reproduced; appending");
                    return None;
                }
            }
        }
        self.peeked.as_ref()
    }
    /// Still inside the journalled prefix of a resumed run?
    fn resuming(&mut self) -> bool {
        self.peek().is_some()
    }
    /// Returns the record's sequence number (`u64::MAX` once the journal has
    /// failed). While held, the number it will have once released.
    fn write(&mut self, kind: u16, payload: &[u8]) -> u64 {
        if self.error.is_some() {
            return u64::MAX;
        }
        if self.holding {
            let seq = self.next_seq + self.held.len() as u64;
            // Payloads are far below 4 GiB (MAX_PAYLOAD); the held total is
            // bounded by the guest's journal budget per market event.
            self.held.push((kind, self.ts, self.held_bytes.len() as u32, payload.len() as u32));
            self.held_bytes.extend_from_slice(payload);
            return seq;
        }
        let seq = self.write_now(kind, payload);
        if seq != u64::MAX {
            self.next_seq = seq + 1;
        }
        seq
    }

    fn write_now(&mut self, kind: u16, payload: &[u8]) -> u64 {
        if let Some(prefix) = &mut self.prefix {
            let next = match self.peeked.take() {
                Some(rec) => Some(Ok(rec)),
                None => prefix.next(),
            };
            match next {
                Some(Ok(rec)) => {
                    if rec.kind != kind || rec.ts_ns != self.ts || rec.payload != payload {
                        self.error = Some(EngineError::ResumeDiverged {
                            seq: rec.seq,
                            journalled: format!("{} at {} ns", records::kind_name(rec.kind), rec.ts_ns),
                            now: format!("{} at {} ns", records::kind_name(kind), self.ts),
                        });
                    } else {
                        self.resumed += 1;
                    }
                    return rec.seq;
                }
                Some(Err(e)) => {
                    self.error = Some(e.into());
                    return u64::MAX;
                }
                None => {
                    self.prefix = None;
                    tracing::info!(records = self.resumed, "resume: journal prefix reproduced; appending");
                }
            }
        }
        match self.w.append(kind, self.ts, payload) {
            Ok(seq) => seq,
            Err(e) => {
                self.error = Some(e.into());
                u64::MAX
            }
        }
    }
    /// Header bytes then a variable-length tail, via the reusable scratch buffer.
    fn write_var(&mut self, kind: u16, head: &[u8], tail: &[u8]) -> u64 {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(head);
        buf.extend_from_slice(tail);
        let seq = self.write(kind, &buf);
        self.scratch = buf;
        seq
    }
    /// Make what was written so far durable if the policy asks for it.
    /// `false` if the journal has failed: then nothing may be released.
    fn make_durable(&mut self) -> bool {
        debug_assert!(!self.holding, "durability is awaited outside guest calls");
        if self.error.is_none()
            && self.gate
            && let Err(e) = self.w.sync()
        {
            self.error = Some(e.into());
        }
        self.error.is_none()
    }
    fn check(&mut self) -> Result<(), EngineError> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
    /// At the end of a resumed run: records left in the prefix are records
    /// this run did not reproduce.
    fn check_prefix_consumed(&mut self) -> Result<(), EngineError> {
        if let Some(rec) = self.peek() {
            let (seq, kind, ts) = (rec.seq, rec.kind, rec.ts_ns);
            return Err(EngineError::ResumeDiverged {
                seq,
                journalled: format!("{} at {ts} ns", records::kind_name(kind)),
                now: "the end of the run".into(),
            });
        }
        self.prefix = None;
        self.check()
    }
}

/// The host side of one strategy's callback.
struct HostCtx<'a> {
    stp: &'a mut Vec<bulkhead_risk::OrderRef>,
    book: &'a mut Book,
    risk: &'a mut RiskEngine,
    journal: &'a mut JournalSink,
    actions: &'a mut Vec<Action>,
    venue: &'a Venues,
    observer: &'a mut Observer,
    now: u64,
}

impl HostApi for HostCtx<'_> {
    fn submit_order(&mut self, req: &OrderRequest) -> i64 {
        // Journal first: an order whose decision cannot be journalled is
        // neither checked nor sent (the guest is trapped with the breach).
        if !self.book.charge_journal(records::ORDER_PAYLOAD) {
            return -(Reason::InvalidOrder.code() as i64);
        }
        let sid = self.book.sid;
        let local = self.book.next_local;
        self.book.next_local += 1;
        self.book.stats.submitted += 1;
        let mut stp = std::mem::take(self.stp);
        stp.clear();
        // R3 "mark" = the venue's mark now (risk falls back to the mid without one).
        self.risk.set_mark(req.instrument, self.venue.mark(req.instrument).map(Ticks::new));
        let gid = global_id(sid, local);
        // Checked and, if it passes, reserved under its venue id: only an
        // approval from risk can reach the venue.
        let res = self.risk.check_and_open_stp(sid, self.now, gid, req, &mut stp);
        let d = bulkhead_risk::Outcome::from(&res);
        // R7 cancel-oldest / cancel-both: the resting orders go first.
        for o in stp.drain(..) {
            self.actions.push(Action::CancelFor(o.order_id, req.instrument, Reason::CancelledBySelfTradePrevention));
        }
        *self.stp = stp;
        let mut p = Payload::<{ records::ORDER_PAYLOAD }>::new();
        p.u32(sid).u64(local).u16(d.reason.code()).u16(0).i64(d.limit).i64(d.requested).i64(d.current).order(req);
        let seq = self.journal.write(records::ORDER, p.bytes());
        if self.observer.on {
            self.observer.push(Observed::Order {
                seq,
                ts_ns: self.now,
                sid,
                order_id: local,
                order: *req,
                decision: d,
            });
        }
        if let Ok(approved) = res {
            self.book.open.insert(
                local,
                OpenInfo {
                    instrument: req.instrument,
                    side: req.side,
                    price: req.price,
                    remaining: req.qty,
                    tag: req.tag,
                },
            );
            self.actions.push(Action::Submit(approved));
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
        if !self.book.charge_journal(CANCEL_PAYLOAD) {
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
        let mut p = Payload::<CANCEL_PAYLOAD>::new();
        p.u32(sid).u64(id).u16(reason.code()).i32(known.map_or(-1, |i| i as i32));
        self.journal.write(records::CANCEL, p.bytes());
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
        if !self.book.charge_journal(CANCEL_PAYLOAD) {
            return -(ResultCode::Rejected as i32);
        }
        let sid = self.book.sid;
        self.book.stats.cancels_requested += 1;
        let d = bulkhead_risk::Outcome::from(&self.risk.check_cancel(sid, self.now));
        let mut p = Payload::<CANCEL_PAYLOAD>::new();
        p.u32(sid).u64(0).u16(d.reason.code()).i32(instrument.map_or(-1, |i| i as i32));
        self.journal.write(records::CANCEL, p.bytes());
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
        if !self.book.charge_journal(TIMER_PAYLOAD) {
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
        let mut p = Payload::<TIMER_PAYLOAD>::new();
        p.u32(self.book.sid).u64(at_ns).u64(token).i32(rc as i32);
        self.journal.write(records::TIMER, p.bytes());
        rc as i32
    }

    fn log(&mut self, level: i32, msg: &[u8]) -> i32 {
        if !self.book.charge_journal(8 + msg.len()) {
            return ResultCode::Rejected as i32;
        }
        self.book.stats.logs += 1;
        let mut p = Payload::<8>::new();
        p.u32(self.book.sid).i32(level);
        self.journal.write_var(records::LOG, p.bytes(), msg);
        ResultCode::Ok as i32
    }

    fn invalid_record(&mut self, err: bulkhead_abi::DecodeError) {
        self.book.stats.invalid_records += 1;
        *self.book.stats.rejected.entry(Reason::InvalidOrder.code()).or_default() += 1;
        let error = err.to_string();
        if !self.book.charge_journal(4 + error.len()) {
            return;
        }
        let mut p = Payload::<4>::new();
        p.u32(self.book.sid);
        let seq = self.journal.write_var(records::INVALID, p.bytes(), error.as_bytes());
        if self.observer.on {
            self.observer.push(Observed::Invalid { seq, ts_ns: self.now, sid: self.book.sid, error });
        }
    }

    fn breach(&self) -> Option<Breach> {
        self.book.breach
    }
}

/// `CANCEL` payload: sid, id, reason, instrument.
const CANCEL_PAYLOAD: usize = 18;
/// `TIMER` payload: sid, at, token, result.
const TIMER_PAYLOAD: usize = 24;

/// State changes kept per strategy for the report and the control plane;
/// the oldest go first (an operator or a risk control can cause any number
/// over a long run).
pub const MAX_HISTORY: usize = 1_000;

fn push_history(history: &mut Vec<StateChange>, change: StateChange) {
    if history.len() >= MAX_HISTORY {
        history.drain(..history.len() + 1 - MAX_HISTORY);
    }
    history.push(change);
}

/// A host-kept budget breach as a fault (kind, message), as the sandbox
/// reports it for a wasm strategy.
fn breach_fault(b: Breach) -> (String, String) {
    let f = bulkhead_sandbox::Fault::from(b);
    (f.kind().to_string(), f.to_string())
}

pub fn trading_state_name(s: TradingState) -> &'static str {
    match s {
        TradingState::Active => "active",
        TradingState::Reducing => "reducing",
        TradingState::Halted => "halted",
    }
}

/// What a strategy gets to run with.
pub struct StrategySetup<'a> {
    pub name: &'a str,
    pub policy: Policy,
    pub config: &'a [u8],
    pub kind: StrategyKind<'a>,
    /// ed25519 public key of the module's verified signer (journalled in
    /// `MODULE`); `None` = unsigned or not verified.
    pub signer: Option<[u8; 32]>,
}

pub enum StrategyKind<'a> {
    Wasm { runtime: &'a SandboxRuntime, module: &'a StrategyModule, limits: &'a Limits },
    Native(Box<dyn NativeStrategy>),
}

/// One run: instruments, their venues, the strategies, the journal.
pub struct Engine {
    instruments: Vec<Instrument>,
    risk: RiskEngine,
    venue: Venues,
    journal: JournalSink,
    slots: Vec<Slot>,
    actions: Vec<Action>,
    venue_out: Vec<VenueEvent>,
    notices: Vec<VenueNotice>,
    stp: Vec<bulkhead_risk::OrderRef>,
    batch: Vec<Event>,
    last_mid: Vec<Option<i64>>,
    /// Strategies also receive `BookLevel` / `BookClear` events.
    strategy_book_levels: bool,
    /// Instruments with a configured settlement price and their expiry
    /// (`finish` advances the venues to it if the data ends earlier).
    settle_at_expiry: Vec<u64>,
    events: u64,
    now: u64,
    /// Needed only to restart wasm strategies (supervisor).
    runtime: Option<Arc<SandboxRuntime>>,
    /// Audit of the durability gate: venue actions released while a record
    /// deciding them was not yet durable under the fsync policy (must stay 0).
    undurable_releases: u64,
    /// Opt-in feed of notable events (control plane); off by default.
    observer: Observer,
    /// A hot-deployed module waiting for its `Deploy` command
    /// ([`Engine::provide_module`]).
    provided: Option<commands::ProvidedModule>,
}

impl Engine {
    /// `run_info` is journalled first (config and policy hashes, …).
    pub fn new(
        instruments: Vec<Instrument>,
        fees: FeeSchedule,
        journal: JournalWriter,
        run_info: &str,
    ) -> Result<Engine, EngineError> {
        Self::with_venue(instruments, VenueConfig { fees, ..VenueConfig::default() }, journal, run_info)
    }

    /// As [`Engine::new`] with a full venue configuration (latency, STP mode, marks…).
    pub fn with_venue(
        instruments: Vec<Instrument>,
        venue: VenueConfig,
        journal: JournalWriter,
        run_info: &str,
    ) -> Result<Engine, EngineError> {
        let venues = Venues::single(&instruments, venue);
        Self::build(instruments, venues, JournalSink::new(journal, None), run_info)
    }

    /// A run over several venues: each venue's config and the instrument
    /// ids it owns (see [`Venues`]). `prefix`: as in [`Engine::resume`].
    pub fn with_venues(
        instruments: Vec<Instrument>,
        venues: Vec<(VenueConfig, Vec<u32>)>,
        journal: JournalWriter,
        prefix: Option<JournalReader>,
        run_info: &str,
    ) -> Result<Engine, EngineError> {
        let venues = Venues::new(&instruments, venues);
        Self::build(instruments, venues, JournalSink::new(journal, prefix), run_info)
    }

    /// As [`Engine::with_venue`], resuming an interrupted run: `journal` was
    /// opened with `JournalWriter::open_append` (torn tail cut) and `prefix`
    /// reads the records it holds. Feed the same source from its start: the
    /// engine re-derives every journalled record (and refuses with
    /// [`EngineError::ResumeDiverged`] if one differs), then appends.
    pub fn resume(
        instruments: Vec<Instrument>,
        venue: VenueConfig,
        journal: JournalWriter,
        prefix: JournalReader,
        run_info: &str,
    ) -> Result<Engine, EngineError> {
        let venues = Venues::single(&instruments, venue);
        Self::build(instruments, venues, JournalSink::new(journal, Some(prefix)), run_info)
    }

    fn build(
        instruments: Vec<Instrument>,
        venue: Venues,
        mut journal: JournalSink,
        run_info: &str,
    ) -> Result<Engine, EngineError> {
        journal.write(records::RUN_START, run_info.as_bytes());
        journal.check()?;
        Ok(Engine {
            risk: RiskEngine::new(instruments.clone()),
            venue,
            last_mid: vec![None; instruments.len()],
            strategy_book_levels: false,
            settle_at_expiry: Vec::new(),
            instruments,
            journal,
            slots: Vec::new(),
            actions: Vec::new(),
            venue_out: Vec::new(),
            notices: Vec::new(),
            stp: Vec::new(),
            batch: Vec::with_capacity(MAX_BATCH),
            events: 0,
            now: 0,
            runtime: None,
            undurable_releases: 0,
            observer: Observer::default(),
            provided: None,
        })
    }

    /// Give the engine the runtime its wasm strategies were instantiated
    /// with, so the supervisor can restart them.
    pub fn set_runtime(&mut self, runtime: Arc<SandboxRuntime>) {
        self.runtime = Some(runtime);
    }

    /// R9 / option marks: the volatility (bps of vol, 5500 = 55 %) of every
    /// option expiring at `expiry_ns`, for the venue's Black-76 marks and for
    /// risk's greeks (over a policy's `option_vol`). From `[[option_vols]]`.
    pub fn set_expiry_vol(&mut self, expiry_ns: u64, vol_bps: i64) {
        self.venue.set_vol(expiry_ns, vol_bps as f64 / 10_000.0);
        for inst in self.instruments.iter().filter(|i| i.option.is_some() && i.expiry == Some(expiry_ns)) {
            self.risk.set_implied_vol(inst.id, vol_bps);
        }
    }

    /// Whether strategies also receive the L2 `BookLevel` / `BookClear`
    /// market events (`[data] strategy_book_levels`; default: no, they see
    /// the top of book as `Quote`s). Set before the first event.
    pub fn set_strategy_book_levels(&mut self, on: bool) {
        self.strategy_book_levels = on;
    }

    /// Settle `instrument` at `price` ticks when its expiry is reached
    /// (instead of its mark then); with an expiry after the last market
    /// event, [`Engine::finish`] advances the clock to it. Journalled as the
    /// venue's `SETTLEMENT` notices when it happens.
    pub fn set_settlement_price(&mut self, instrument: u32, price: i64) {
        self.venue.set_settlement_price(instrument, price);
        if let Some(e) = self.instruments.get(instrument as usize).and_then(|i| i.expiry) {
            self.settle_at_expiry.push(e);
        }
    }

    /// Firm-wide limits across all strategies (R5 firm throttles, R7, R12, R13).
    pub fn set_firm_policy(&mut self, policy: bulkhead_risk::FirmPolicy) {
        self.risk.set_firm_policy(policy);
    }

    /// Set a strategy's restart policy (default: never restart).
    pub fn set_restart_policy(&mut self, sid: u32, policy: RestartPolicy) {
        if let Some(r) = self.slots.get_mut(sid as usize).and_then(|s| s.restart.as_mut()) {
            r.policy = policy;
        }
    }

    /// Add a strategy; a strategy that faults while starting is quarantined
    /// at once (journalled), the run goes on. Returns its id.
    pub fn add_strategy(&mut self, setup: StrategySetup<'_>) -> Result<u32, EngineError> {
        let sid = self.risk.add_strategy(setup.policy);
        debug_assert_eq!(sid as usize, self.slots.len());
        let budget_limits = match &setup.kind {
            StrategyKind::Wasm { limits, .. } => (*limits).clone(),
            StrategyKind::Native(_) => Limits::default(),
        };
        let mut book = Book {
            sid,
            next_local: 1,
            open: BTreeMap::new(),
            timers: Vec::new(),
            inbox: Vec::new(),
            stats: StrategyStats::default(),
            budgets: Budgets::new(&budget_limits, self.now),
            breach: None,
        };
        let (module_hash, restart) = match &setup.kind {
            StrategyKind::Wasm { module, limits, .. } => (
                Some(module.hash),
                Some(RestartState {
                    module: (*module).clone(),
                    limits: (*limits).clone(),
                    config: setup.config.to_vec(),
                    policy: RestartPolicy::default(),
                    restarts: 0,
                }),
            ),
            StrategyKind::Native(_) => (None, None),
        };
        let signer = setup.signer.unwrap_or([0; 32]);
        let mut p = Payload::<{ records::MODULE_HEAD }>::new();
        p.u32(sid).put(&module_hash.unwrap_or([0; 32])).put(&signer);
        self.journal.write_var(records::MODULE, p.bytes(), setup.name.as_bytes());
        let mut ctx = HostCtx {
            stp: &mut self.stp,
            book: &mut book,
            risk: &mut self.risk,
            journal: &mut self.journal,
            actions: &mut self.actions,
            venue: &self.venue,
            observer: &mut self.observer,
            now: self.now,
        };
        ctx.journal.hold();
        let (runner, fault) = match setup.kind {
            StrategyKind::Wasm { runtime, module, limits } => {
                match runtime.instantiate(module, limits, setup.config, self.now, &mut ctx) {
                    Ok(sb) => (Runner::Wasm(Box::new(sb)), None),
                    Err(f) => (Runner::None, Some((f.kind().to_string(), f.to_string()))),
                }
            }
            StrategyKind::Native(mut n) => {
                let rc = n.init(&mut ctx, self.now, setup.config);
                match (rc, ctx.book.breach) {
                    (_, Some(b)) => (Runner::None, Some(breach_fault(b))),
                    (0, None) => (Runner::Native(n), None),
                    (rc, None) => (Runner::None, Some(("guest_error".into(), format!("init returned {rc}")))),
                }
            }
        };
        ctx.journal.release();
        let history = vec![StateChange { at_ns: self.now, state: "running", reason: "started".into() }];
        self.slots.push(Slot {
            name: setup.name.to_string(),
            module_hash,
            runner,
            book,
            status: Status::Running,
            restart,
            history,
            retired_fuel: 0,
            retired_peak: 0,
            retired: Default::default(),
            signer,
        });
        if let Some((kind, msg)) = fault {
            self.quarantine(sid, &kind, msg);
        } else {
            self.process_actions();
        }
        self.journal.check()?;
        Ok(sid)
    }

    /// Run the whole source; `progress` is called with the event count now and then.
    pub fn run(&mut self, source: &mut dyn MarketSource, progress: &mut dyn FnMut(u64)) -> Result<(), EngineError> {
        self.run_controlled(source, progress, &mut |_, _| {})
    }

    /// As [`Engine::run`], calling `control` before every event (with that
    /// event's time) so an operator's commands apply at event boundaries and
    /// a paper run can pace itself. `control` must be cheap when idle.
    pub fn run_controlled(
        &mut self,
        source: &mut dyn MarketSource,
        progress: &mut dyn FnMut(u64),
        control: &mut dyn FnMut(&mut Engine, u64),
    ) -> Result<(), EngineError> {
        while let Some(ev) = source.next_event()? {
            // Resuming: the journalled commands are the operator's; `control`
            // (new commands, pacing) starts once the prefix is reproduced.
            self.reapply_journalled_commands()?;
            if !self.journal.resuming() {
                control(self, ev.ts_ns);
            }
            self.on_market(ev)?;
            if self.events & 0x3fff == 0 {
                progress(self.events);
            }
        }
        // Commands journalled after the last event.
        self.reapply_journalled_commands()?;
        progress(self.events);
        Ok(())
    }

    /// Give a strategy's account collateral on every venue: it is then
    /// margined and liquidated below maintenance margin.
    pub fn set_collateral(&mut self, sid: u32, money: i64) {
        self.venue.set_collateral(sid, money);
    }

    /// Journal a file the run was configured from (`records::CONFIG`).
    pub fn journal_config_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), EngineError> {
        let n = u16::try_from(name.len()).unwrap_or(u16::MAX);
        self.journal.write_var(
            records::CONFIG,
            &n.to_le_bytes(),
            &[&name.as_bytes()[..usize::from(n)], bytes].concat(),
        );
        self.journal.check()
    }

    /// Group commit's time bound while the run loop waits (paced runs): if
    /// the oldest unsynced record is older than the policy's `M` ms, fsync
    /// now. Cheap when nothing is pending; a no-op under other policies.
    /// `false` if the journal has failed: the error stays latched and the
    /// run stops at the next event's journal check.
    pub fn tick_durability(&mut self) -> bool {
        if self.journal.error.is_none()
            && let Err(e) = self.journal.w.tick()
        {
            self.journal.error = Some(e.into());
        }
        self.journal.error.is_none()
    }

    /// Resuming: re-execute every `COMMAND` record that comes next in the
    /// journalled prefix, exactly as the operator's command was executed in
    /// the interrupted run (same event boundary, same [`Engine::execute`]
    /// as live and replay). A deployed module is loaded from the journal's
    /// blobs.
    fn reapply_journalled_commands(&mut self) -> Result<(), EngineError> {
        while let Some(rec) = self.journal.peek() {
            if rec.kind != records::COMMAND {
                break;
            }
            let seq = rec.seq;
            let text = String::from_utf8_lossy(&rec.payload).into_owned();
            let outcome = match text.parse::<crate::command::Journalled>() {
                Ok(j) => self.execute(&j.command, &j.actor).map(drop).map_err(|e| e.to_string()),
                Err(e) => Err(format!("unreadable command: {e}")),
            };
            self.journal.check()?;
            if self.journal.peeked.as_ref().is_some_and(|r| r.seq == seq) {
                // Refused before it was journalled: the run cannot go on as it did.
                return Err(EngineError::ResumeDiverged {
                    seq,
                    journalled: format!("command `{text}`"),
                    now: format!("a command that cannot be re-applied ({})", outcome.err().unwrap_or_default()),
                });
            }
            if let Err(why) = outcome {
                // It was journalled and then failed, as it did in the run.
                tracing::info!(command = %text, %why, "resume: journalled command failed again, as in the run");
            }
        }
        self.journal.check()
    }

    /// Venue actions released while a record deciding them was not yet
    /// durable under the fsync policy. The durability gate keeps this at 0;
    /// it is counted at every release point so tests can prove it.
    pub fn undurable_releases(&self) -> u64 {
        self.undurable_releases
    }

    /// The sandbox runtime attached with [`Engine::set_runtime`] (load a
    /// hot-deployed module with it).
    pub fn sandbox_runtime(&self) -> Option<Arc<SandboxRuntime>> {
        self.runtime.clone()
    }

    /// Count a release that would break the gate: records before
    /// `decided` (the sequence number after the deciding records) must be
    /// durable when the action reaches the venue.
    fn audit_release(&mut self, decided: u64) {
        if self.journal.gate && self.journal.prefix.is_none() && self.journal.w.durable_seq() < decided {
            self.undurable_releases += 1;
        }
    }

    /// Cancel a strategy's open orders at the venue for a cause journalled
    /// just before (risk outcome, fault, kill switch, end of run): the
    /// deciding records are made durable first (the durability gate).
    fn cancel_account_gated(&mut self, sid: u32, instrument: Option<u32>, reason: Reason) -> usize {
        if !self.journal.make_durable() {
            // Not durably decided: nothing is released; the run stops at
            // the caller's journal check.
            return 0;
        }
        self.audit_release(self.journal.w.next_seq());
        let n = self.venue.cancel_account(self.now, sid, instrument, reason, &mut self.venue_out);
        self.route_venue_events();
        n
    }

    /// The risk engine, read-only (policies and limits in force, for the
    /// control plane; validate limit changes with `RiskEngine::check_limit`).
    pub fn risk(&self) -> &RiskEngine {
        &self.risk
    }

    pub fn strategy_id(&self, name: &str) -> Option<u32> {
        self.slots.iter().position(|s| s.name == name).map(|i| i as u32)
    }
    pub fn strategy_name(&self, sid: u32) -> Option<&str> {
        self.slots.get(sid as usize).map(|s| s.name.as_str())
    }
    pub fn strategy_count(&self) -> usize {
        self.slots.len()
    }
    pub fn instrument_id(&self, symbol: &str) -> Option<u32> {
        self.instruments.iter().find(|i| i.symbol == symbol).map(|i| i.id)
    }
    pub fn trading_state(&self, scope: Scope) -> TradingState {
        self.risk.state(scope)
    }
    /// The report of one strategy as of now (for the control plane).
    pub fn strategy_report(&self, sid: u32) -> Option<StrategyReport> {
        ((sid as usize) < self.slots.len()).then(|| self.report(sid as usize))
    }
    /// A strategy's open orders: (id, instrument, side, price, remaining).
    pub fn open_orders(&self, sid: u32) -> Vec<(u64, u32, Side, i64, i64)> {
        self.slots.get(sid as usize).map_or_else(Vec::new, |s| {
            s.book.open.iter().map(|(id, o)| (*id, o.instrument, o.side, o.price, o.remaining)).collect()
        })
    }
    pub fn now_ns(&self) -> u64 {
        self.now
    }
    pub fn last_mid(&self, instrument: u32) -> Option<i64> {
        self.last_mid.get(instrument as usize).copied().flatten()
    }
    /// A strategy's venue position in one instrument (flat if it never
    /// traded it): for the control plane's positions table.
    pub fn position(&self, sid: u32, instrument: u32) -> bulkhead_model::Position {
        self.venue.position(sid, instrument)
    }
    pub fn journal_position(&self) -> (u64, [u8; 32]) {
        (self.journal.w.next_seq(), self.journal.w.last_hash())
    }

    /// Records below this sequence number are fsynced (acknowledged).
    pub fn journal_durable_seq(&self) -> u64 {
        self.journal.w.durable_seq()
    }

    /// fsync count and latency of the journal so far.
    pub fn journal_fsync_stats(&self) -> bulkhead_journal::FsyncStats {
        self.journal.w.fsync_stats()
    }

    /// Bytes and segment files of the journal so far.
    pub fn journal_size(&self) -> (u64, u32) {
        (self.journal.w.bytes(), self.journal.w.segments())
    }

    /// Start the opt-in feed of notable events for an observer (the control
    /// plane): every risk decision on an order, invalid order records, venue
    /// rejects, fills, faults, trading-state changes and the supervisor
    /// taking a strategy down ([`Observed`]), plus the wall time of each
    /// journal fsync. At most `cap` of each are held between two drains (the
    /// oldest are dropped and counted). Off by default — a backtest pays one
    /// branch per observation point — and it never changes what is decided
    /// or journalled. Calling it again only changes `cap`.
    pub fn enable_observer(&mut self, cap: usize) {
        let cap = cap.max(1);
        if !self.observer.on {
            self.observer.queue = std::collections::VecDeque::with_capacity(cap.min(4096));
            self.journal.w.record_fsync_samples(cap);
        }
        self.observer.on = true;
        self.observer.cap = cap;
    }

    /// Move what was observed since the last call into `out`, oldest first;
    /// returns how many were dropped because the feed was full.
    pub fn drain_observed(&mut self, out: &mut Vec<Observed>) -> u64 {
        out.extend(self.observer.queue.drain(..));
        std::mem::take(&mut self.observer.dropped)
    }

    /// Move the journal fsync times (ns) measured since the last call into
    /// `out` (only once [`Engine::enable_observer`] was called); returns how
    /// many were dropped because the buffer was full.
    pub fn drain_fsync_ns(&mut self, out: &mut Vec<u64>) -> u64 {
        self.journal.w.take_fsync_samples(out)
    }

    /// On a resumed run: how many journalled records have been reproduced so
    /// far, and whether the engine is still inside the old prefix.
    pub fn resume_progress(&self) -> (u64, bool) {
        (self.journal.resumed, self.journal.prefix.is_some())
    }

    /// Feed one market event through the whole pipeline.
    pub fn on_market(&mut self, ev: Event) -> Result<(), EngineError> {
        self.events += 1;
        self.now = ev.ts_ns;
        self.journal.ts = ev.ts_ns;
        let mut p = Payload::<{ bulkhead_abi::EVENT_SIZE }>::new();
        p.event(&ev);
        self.journal.write(records::MARKET, p.bytes());
        let inst = ev.instrument;
        if (inst as usize) < self.instruments.len() {
            match ev.kind {
                EventKind::Quote => {
                    self.risk.on_quote_at(inst, ev.ts_ns, Ticks::new(ev.price), Ticks::new(ev.a));
                    self.last_mid[inst as usize] = Some((ev.price + ev.a) / 2);
                    let q = Quote::new(Ticks::new(ev.price), Lots::new(ev.qty), Ticks::new(ev.a), Lots::new(ev.b));
                    self.venue.on_quote(ev.ts_ns, inst, q, &mut self.venue_out);
                }
                EventKind::Trade => {
                    self.risk.on_trade_at(inst, ev.ts_ns, Ticks::new(ev.price));
                    let side = ev.side.unwrap_or(Side::Buy);
                    let (price, qty) = (Ticks::new(ev.price), Lots::new(ev.qty));
                    self.venue.on_trade(ev.ts_ns, inst, price, qty, side, &mut self.venue_out);
                }
                EventKind::BookLevel => {
                    if let Some(side) = ev.side {
                        let level = Level { side, price: Ticks::new(ev.price), qty: Lots::new(ev.qty) };
                        self.venue.on_depth(ev.ts_ns, inst, level, &mut self.venue_out);
                    }
                }
                EventKind::BookClear => self.venue.on_book_clear(ev.ts_ns, inst, &mut self.venue_out),
                EventKind::Ticker => self.on_ticker(&ev),
                _ => {}
            }
            self.route_venue_events();
        }
        let deliver = match ev.kind {
            EventKind::BookLevel | EventKind::BookClear => self.strategy_book_levels,
            EventKind::Ticker => false,
            _ => true,
        };
        for i in 0..self.slots.len() {
            if let Status::Backoff { restart_at_ns, .. } = self.slots[i].status
                && restart_at_ns <= self.now
            {
                self.restart(i as u32);
            }
            if self.slots[i].status != Status::Running {
                continue;
            }
            self.fire_timers(i);
            if deliver {
                self.deliver(i, Some(ev))?;
            } else if !self.slots[i].book.inbox.is_empty() {
                // Not for strategies, but what it caused (liquidation, expiry) is.
                self.deliver(i, None)?;
            }
        }
        self.journal.check()?;
        Ok(())
    }

    /// A derivative ticker: funding rate and index always reach the venue;
    /// the data's mark only when the venue's mark source is `external`.
    fn on_ticker(&mut self, ev: &Event) {
        use bulkhead_abi::{FUNDING_RATE_SCALE, TICKER_FUNDING, TICKER_INDEX, TICKER_MARK};
        let inst = ev.instrument;
        if ev.flags & TICKER_FUNDING != 0 {
            self.venue.set_funding_rate(inst, bulkhead_model::Decimal { mantissa: ev.qty, scale: FUNDING_RATE_SCALE });
        }
        if ev.flags & TICKER_INDEX != 0 && ev.a > 0 {
            self.venue.set_index(ev.ts_ns, inst, ev.a, &mut self.venue_out);
        }
        if ev.flags & TICKER_MARK != 0
            && ev.price > 0
            && self.venue.of(inst).config().mark == bulkhead_venue::MarkSource::External
        {
            self.venue.set_mark(ev.ts_ns, inst, ev.price, &mut self.venue_out);
        }
    }

    fn fire_timers(&mut self, i: usize) {
        let now = self.now;
        let book = &mut self.slots[i].book;
        if book.timers.iter().all(|&(at, _)| at > now) {
            return;
        }
        // fire in (time, set order) order
        book.timers.sort_by_key(|&(at, _)| at);
        let due = book.timers.iter().take_while(|&&(at, _)| at <= now).count();
        for i in 0..due {
            let (at, token) = book.timers[i];
            let mut e = Event::new(EventKind::Timer, 0, at);
            e.id = token;
            book.push_inbox(e);
        }
        book.timers.drain(..due);
    }

    /// Deliver the strategy's pending events plus `ev` in batches, all
    /// under one market event's budgets (the sandbox's fuel, host calls and
    /// guest calls; the engine's journal bytes). What the strategy causes
    /// while this runs (rejects, order updates) waits in its bounded inbox
    /// for the next market event. A breach quarantines the strategy.
    fn deliver(&mut self, i: usize, ev: Option<Event>) -> Result<(), EngineError> {
        let slot = &mut self.slots[i];
        if let Some(b) = slot.book.breach {
            // Spent between guest calls (inbox overflow while routing).
            let (kind, msg) = breach_fault(b);
            self.quarantine(i as u32, &kind, msg);
            return self.journal.check();
        }
        slot.book.budgets.journal_event = 0;
        slot.book.budgets.journal_rate.refill(self.now);
        if let Runner::Wasm(sb) = &mut slot.runner {
            sb.begin_event();
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        batch.append(&mut self.slots[i].book.inbox);
        batch.extend(ev);
        let mut result = Ok(());
        for chunk in batch.chunks(MAX_BATCH) {
            let slot = &mut self.slots[i];
            if let Some(b) = slot.book.breach {
                let (kind, msg) = breach_fault(b);
                self.quarantine(i as u32, &kind, msg);
                break;
            }
            slot.book.stats.events += chunk.len() as u64;
            slot.book.stats.callbacks += 1;
            let mut ctx = HostCtx {
                stp: &mut self.stp,
                book: &mut slot.book,
                risk: &mut self.risk,
                journal: &mut self.journal,
                actions: &mut self.actions,
                venue: &self.venue,
                observer: &mut self.observer,
                now: self.now,
            };
            // Host calls journal to memory only: no disk I/O is charged to
            // the guest's deadline; the records follow once it returns.
            ctx.journal.hold();
            let outcome = match &mut slot.runner {
                Runner::Wasm(sb) => {
                    sb.on_events(chunk, self.now, &mut ctx).map_err(|f| (f.kind().to_string(), f.to_string()))
                }
                Runner::Native(n) => match (n.on_events(&mut ctx, chunk), ctx.book.breach) {
                    (_, Some(b)) => Err(breach_fault(b)),
                    (0, None) => Ok(()),
                    (rc, None) => Err(("guest_error".to_string(), format!("on_events returned {rc}"))),
                },
                Runner::None => Ok(()),
            };
            ctx.journal.release();
            if let Err((kind, msg)) = outcome {
                self.quarantine(i as u32, &kind, msg);
                break;
            }
            self.process_actions();
            if let Err(e) = self.journal.check() {
                result = Err(e);
                break;
            }
        }
        self.batch = batch;
        result
    }

    fn process_actions(&mut self) {
        if self.actions.is_empty() {
            return;
        }
        if !self.journal.make_durable() {
            // The records deciding these actions are not (durably) in the
            // journal: nothing may reach the venue. The run stops at the
            // caller's journal check.
            self.actions.clear();
            return;
        }
        let decided = self.journal.w.next_seq();
        for action in std::mem::take(&mut self.actions) {
            self.audit_release(decided);
            match action {
                Action::Submit(o) => self.venue.submit(self.now, o, &mut self.venue_out),
                Action::Cancel(gid, inst) => {
                    self.venue.cancel(self.now, inst, gid, Reason::CancelledByStrategy, &mut self.venue_out);
                }
                Action::CancelFor(gid, inst, reason) => {
                    self.venue.cancel(self.now, inst, gid, reason, &mut self.venue_out);
                }
                Action::CancelAll(sid, inst) => {
                    self.venue.cancel_account(self.now, sid, inst, Reason::CancelledByStrategy, &mut self.venue_out);
                }
            }
            self.route_venue_events();
        }
    }

    /// Journal venue responses, update risk and the strategy's book, and queue
    /// them for delivery to their owner.
    fn route_venue_events(&mut self) {
        for ve in self.venue_out.drain(..) {
            let (gid, ev) = match ve {
                VenueEvent::Accepted { order_id, instrument, .. } => {
                    (order_id, Event::new(EventKind::OrderAccepted, instrument, self.now))
                }
                VenueEvent::Rejected { order_id, instrument, reason, .. } => {
                    let mut e = Event::new(EventKind::OrderRejected, instrument, self.now);
                    e.a = reason.code() as i64;
                    (order_id, e)
                }
                VenueEvent::Cancelled { order_id, instrument, remaining, reason, .. } => {
                    let mut e = Event::new(EventKind::OrderCancelled, instrument, self.now);
                    e.qty = remaining.get();
                    e.a = reason.code() as i64;
                    (order_id, e)
                }
                VenueEvent::Fill { order_id, instrument, side, price, qty, fee, maker, remaining, .. } => {
                    let mut e = Event::new(EventKind::Fill, instrument, self.now);
                    e.side = Some(side);
                    e.price = price.get();
                    e.qty = qty.get();
                    e.a = fee.get();
                    e.b = remaining.get();
                    e.flags = if maker { bulkhead_abi::EVENT_FLAG_MAKER } else { 0 };
                    (order_id, e)
                }
            };
            let (sid, local) = split_id(gid);
            let Some(slot) = self.slots.get_mut(sid as usize) else { continue };
            let mut ev = ev;
            ev.id = local;
            let book = &mut slot.book;
            let info = book.open.get(&local).copied();
            if let Some(o) = info {
                ev.tag = o.tag;
                if ev.side.is_none() {
                    ev.side = Some(o.side);
                }
                if ev.kind != EventKind::Fill && ev.kind != EventKind::OrderCancelled {
                    ev.price = o.price;
                    ev.qty = o.remaining;
                }
            }
            match ev.kind {
                EventKind::OrderAccepted => book.stats.accepted += 1,
                EventKind::OrderRejected => {
                    *book.stats.rejected.entry(ev.a as u16).or_default() += 1;
                    book.open.remove(&local);
                    self.risk.order_closed(sid, gid);
                }
                EventKind::OrderCancelled => {
                    book.open.remove(&local);
                    self.risk.order_closed(sid, gid);
                }
                EventKind::Fill => {
                    book.stats.fills += 1;
                    self.risk.order_filled_at(sid, gid, self.now, Ticks::new(ev.price), Lots::new(ev.qty));
                    self.risk.on_fee(sid, Money::new(ev.a));
                    if ev.b <= 0 {
                        book.open.remove(&local);
                    } else if let Some(o) = book.open.get_mut(&local) {
                        o.remaining = ev.b;
                    }
                }
                _ => {}
            }
            let mut p = Payload::<{ records::VENUE_PAYLOAD }>::new();
            p.u32(sid).event(&ev);
            let seq = self.journal.write(records::VENUE, p.bytes());
            if self.observer.on {
                let (ts_ns, order_id, instrument) = (self.now, ev.id, ev.instrument);
                match ev.kind {
                    EventKind::OrderRejected => self.observer.push(Observed::VenueReject {
                        seq,
                        ts_ns,
                        sid,
                        order_id,
                        instrument,
                        reason: ev.a as u16,
                    }),
                    EventKind::Fill => self.observer.push(Observed::Fill {
                        seq,
                        ts_ns,
                        sid,
                        order_id,
                        instrument,
                        side: ev.side.unwrap_or(Side::Buy),
                        price: ev.price,
                        qty: ev.qty,
                        fee: ev.a,
                        maker: ev.flags & bulkhead_abi::EVENT_FLAG_MAKER != 0,
                        remaining: ev.b,
                    }),
                    _ => {}
                }
            }
            if slot.status == Status::Running {
                book.push_inbox(ev);
            }
        }
        self.journal_notices();
        self.apply_risk_outcomes();
    }

    /// Journal risk's own state transitions (R8 loss limits, R14 market-maker
    /// protection) with their causes, and carry out the cancels it asks for.
    fn apply_risk_outcomes(&mut self) {
        if !self.risk.has_pending() {
            return;
        }
        let transitions: Vec<bulkhead_risk::Transition> = self.risk.take_transitions().collect();
        for t in transitions {
            let text = format!("{} ({}): {}", t.cause.reason.name(), t.cause.reason.code(), t.cause.text);
            self.journal_state(t.scope, t.to, &text);
            if let Scope::Strategy(sid) = t.scope
                && let Some(slot) = self.slots.get_mut(sid as usize)
            {
                push_history(
                    &mut slot.history,
                    StateChange { at_ns: self.now, state: trading_state_name(t.to), reason: text },
                );
            }
        }
        let actions: Vec<bulkhead_risk::RiskAction> = self.risk.take_actions().collect();
        for a in actions {
            let bulkhead_risk::RiskAction::CancelAll { strategy, reason } = a;
            self.cancel_account_gated(strategy, None, reason);
        }
    }

    /// Journal funding, liquidation and settlement notices from the venue,
    /// and make risk's view of the positions follow (R4, R8, R10 and R12
    /// judge the real book).
    fn journal_notices(&mut self) {
        self.venue.take_notices(&mut self.notices);
        if self.notices.is_empty() {
            return;
        }
        for n in std::mem::take(&mut self.notices) {
            // `held`: the strategy's signed position the venue closed.
            let (sid, code, inst, qty, price, amount, fee, held) = match n {
                VenueNotice::Funding { account, instrument, qty, mark, amount, .. } => {
                    (account, 1u8, instrument, qty, mark, amount, 0, None)
                }
                VenueNotice::Liquidation { account, instrument, side, qty, price, fee, pnl, .. } => {
                    tracing::warn!(account, instrument, qty, "position liquidated");
                    (account, 2, instrument, qty, price, pnl, fee, Some(-side.sign() * qty))
                }
                VenueNotice::Settlement { account, instrument, qty, price, pnl, .. } => {
                    (account, 3, instrument, qty, price, pnl, 0, Some(qty))
                }
                VenueNotice::InstrumentSettled { instrument, price, .. } => {
                    (u32::MAX, 4, instrument, 0, price, 0, 0, None)
                }
            };
            let mut p = Payload::<{ records::NOTICE_PAYLOAD }>::new();
            p.u32(sid).u8(code).u32(inst).i64(qty).i64(price).i64(amount).i64(fee);
            self.journal.write(records::NOTICE, p.bytes());
            match (code, held) {
                (1, _) => self.risk.position_changed_by_venue(sid, inst, self.now, None, Money::new(amount)),
                (_, Some(h)) => {
                    let close = Some((Lots::new(h), Ticks::new(price)));
                    self.risk.position_changed_by_venue(sid, inst, self.now, close, Money::ZERO);
                    if fee != 0 {
                        self.risk.on_fee(sid, Money::new(fee));
                    }
                }
                _ => {}
            }
        }
        self.apply_risk_outcomes();
    }

    /// Contain a fault: journal it, halt the strategy in risk, drop what its
    /// faulting callback asked for, cancel its open orders at the venue.
    fn quarantine(&mut self, sid: u32, kind: &str, message: String) {
        let mut p = Payload::<6>::new();
        p.u32(sid).u16(kind.len() as u16);
        let mut text = kind.as_bytes().to_vec();
        text.extend_from_slice(message.as_bytes());
        let seq = self.journal.write_var(records::FAULT, p.bytes(), &text);
        if self.observer.on {
            let (kind, message) = (kind.to_string(), message.clone());
            self.observer.push(Observed::Fault { seq, ts_ns: self.now, sid, kind, message });
        }
        tracing::warn!(strategy = %self.slots[sid as usize].name, kind, %message, "strategy quarantined");
        // Orders decided inside the faulting callback never reach the venue.
        for action in std::mem::take(&mut self.actions) {
            if let Action::Submit(o) = action {
                self.venue_out.push(VenueEvent::Cancelled {
                    order_id: o.order_id(),
                    account: o.strategy(),
                    instrument: o.order().instrument,
                    remaining: Lots::new(o.order().qty),
                    reason: Reason::CancelledOnFault,
                });
            }
        }
        self.set_state(Scope::Strategy(sid), TradingState::Halted, &format!("fault: {kind}"));
        let now = self.now;
        let can_restart = self.runtime.is_some();
        let slot = &mut self.slots[sid as usize];
        slot.book.stats.faults += 1;
        let budget = slot.restart.as_ref().filter(|r| can_restart && r.restarts < r.policy.max_restarts);
        slot.status = match budget {
            Some(r) => {
                let backoff_ns = r.policy.backoff_ms.saturating_mul(1_000_000).saturating_mul(1 << r.restarts.min(20));
                let restart_at_ns = now.saturating_add(backoff_ns.max(1));
                push_history(
                    &mut slot.history,
                    StateChange {
                        at_ns: now,
                        state: "backoff",
                        reason: format!(
                            "{message}; restart {} of {} at ts {restart_at_ns}",
                            r.restarts + 1,
                            r.policy.max_restarts
                        ),
                    },
                );
                Status::Backoff { kind: kind.to_string(), message, at_ns: now, restart_at_ns, attempt: r.restarts + 1 }
            }
            None => {
                let why = match &slot.restart {
                    Some(r) if r.policy.max_restarts > 0 => {
                        format!("{message}; restart budget of {} spent, stays down", r.policy.max_restarts)
                    }
                    _ => format!("{message}; no restart policy, stays down"),
                };
                push_history(&mut slot.history, StateChange { at_ns: now, state: "quarantined", reason: why });
                Status::Quarantined { kind: kind.to_string(), message, at_ns: now }
            }
        };
        slot.book.inbox.clear();
        slot.book.timers.clear();
        slot.book.breach = None;
        if self.observer.on
            && let Some(last) = slot.history.last()
        {
            let (status, reason) = (slot.status.name(), last.reason.clone());
            self.observer.push(Observed::Supervisor { ts_ns: now, sid, status, reason });
        }
        self.cancel_account_gated(sid, None, Reason::CancelledOnFault);
    }

    /// Bring a strategy in backoff back with a fresh instance of its module.
    fn restart(&mut self, sid: u32) {
        let Some(runtime) = self.runtime.clone() else { return };
        let i = sid as usize;
        let Some(r) = self.slots[i].restart.as_mut() else { return };
        r.restarts += 1;
        let attempt = r.restarts;
        let max = r.policy.max_restarts;
        let (module, limits, config) = (r.module.clone(), r.limits.clone(), r.config.clone());
        self.set_state(Scope::Strategy(sid), TradingState::Active, &format!("supervisor: restart {attempt} of {max}"));
        let slot = &mut self.slots[i];
        let mut ctx = HostCtx {
            stp: &mut self.stp,
            book: &mut slot.book,
            risk: &mut self.risk,
            journal: &mut self.journal,
            actions: &mut self.actions,
            venue: &self.venue,
            observer: &mut self.observer,
            now: self.now,
        };
        ctx.journal.hold();
        let started = runtime.instantiate(&module, &limits, &config, self.now, &mut ctx);
        ctx.journal.release();
        match started {
            Ok(sb) => {
                if let Runner::Wasm(old) = std::mem::replace(&mut slot.runner, Runner::Wasm(Box::new(sb))) {
                    slot.retired_fuel += old.stats().fuel_used;
                    slot.retired_peak = slot.retired_peak.max(old.stats().peak_memory_bytes);
                    slot.retired.merge(old.stats());
                }
                slot.status = Status::Running;
                push_history(
                    &mut slot.history,
                    StateChange {
                        at_ns: self.now,
                        state: "running",
                        reason: format!("restarted by supervisor ({attempt} of {max})"),
                    },
                );
                self.process_actions();
            }
            Err(f) => self.quarantine(sid, f.kind(), f.to_string()),
        }
    }

    /// Change a trading state (R11) and journal who or what caused it.
    fn set_state(&mut self, scope: Scope, state: TradingState, cause: &str) {
        self.risk.set_state(scope, state);
        self.journal_state(scope, state, cause);
    }

    fn journal_state(&mut self, scope: Scope, state: TradingState, cause: &str) {
        let (code, target) = match scope {
            Scope::Strategy(s) => (0u8, s),
            Scope::Instrument(i) => (1, i),
            Scope::Global => (2, 0),
        };
        let st = match state {
            TradingState::Active => 0u8,
            TradingState::Reducing => 1,
            TradingState::Halted => 2,
        };
        let mut p = Payload::<6>::new();
        p.u8(code).u32(target).u8(st);
        let seq = self.journal.write_var(records::STATE, p.bytes(), cause.as_bytes());
        if self.observer.on {
            self.observer.push(Observed::State { seq, ts_ns: self.now, scope, state, cause: cause.to_string() });
        }
    }

    /// Cancel what is still open, close the journal, and report.
    pub fn finish(mut self) -> Result<RunReport, EngineError> {
        // Resuming: commands journalled after the last event come first.
        self.reapply_journalled_commands()?;
        // Let orders still in flight (venue latency) arrive before the final cancel.
        // What happens at the end is journalled at the time it happens.
        let (order_latency, md_latency) = self.venue.max_latency_ns();
        let mut flush_at = self.now.saturating_add(order_latency).saturating_add(md_latency);
        // A configured settlement happens even if the data ends before expiry.
        if let Some(&e) = self.settle_at_expiry.iter().max() {
            flush_at = flush_at.max(e);
        }
        self.venue.advance(flush_at, &mut self.venue_out);
        (self.now, self.journal.ts) = (flush_at, flush_at);
        self.route_venue_events();
        for sid in 0..self.slots.len() as u32 {
            self.cancel_account_gated(sid, None, Reason::CancelledAtEnd);
        }
        let end = flush_at.saturating_add(order_latency);
        self.venue.advance(end, &mut self.venue_out);
        (self.now, self.journal.ts) = (end, end);
        self.route_venue_events();
        let strategies: Vec<StrategyReport> = (0..self.slots.len()).map(|i| self.report(i)).collect();
        let summary = format!(
            "events={} strategies={} orders={} fills={}",
            self.events,
            strategies.len(),
            strategies.iter().map(|s| s.stats.submitted).sum::<u64>(),
            strategies.iter().map(|s| s.stats.fills).sum::<u64>()
        );
        self.journal.write(records::RUN_END, summary.as_bytes());
        self.journal.check()?;
        self.journal.check_prefix_consumed()?;
        let journal = self.journal.w.finish()?;
        Ok(RunReport { events: self.events, strategies, journal, instruments: self.instruments })
    }

    fn report(&self, i: usize) -> StrategyReport {
        let slot = &self.slots[i];
        let sid = i as u32;
        let mut positions = Vec::new();
        let (mut realised, mut unrealised, mut fees) = (0i64, 0i64, 0i64);
        for inst in &self.instruments {
            let p = self.venue.position(sid, inst.id);
            realised = realised.saturating_add(p.realised);
            fees = fees.saturating_add(p.fees);
            if let Some(mid) = self.last_mid[inst.id as usize] {
                unrealised = unrealised.saturating_add(p.unrealised(inst, mid));
            }
            if p.qty != 0 || p.fills > 0 {
                positions.push((inst.id, p.qty));
            }
        }
        // Every instance this strategy has had (the supervisor may have replaced some).
        let sb = match &slot.runner {
            Runner::Wasm(sb) => {
                let mut all = slot.retired.clone();
                all.merge(sb.stats());
                Some(all)
            }
            _ => None,
        };
        StrategyReport {
            name: slot.name.clone(),
            module_hash: slot.module_hash,
            status: slot.status.clone(),
            stats: slot.book.stats.clone(),
            history: slot.history.clone(),
            restarts: slot.restart.as_ref().map_or(0, |r| r.restarts),
            positions,
            realised,
            unrealised,
            fees,
            fuel_used: sb.as_ref().map_or(slot.retired_fuel, |s| s.fuel_used),
            peak_memory_bytes: sb.as_ref().map_or(slot.retired_peak, |s| s.peak_memory_bytes),
            sandbox: sb,
        }
    }

    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }
    pub fn events(&self) -> u64 {
        self.events
    }
    pub fn status(&self, sid: u32) -> Option<&Status> {
        self.slots.get(sid as usize).map(|s| &s.status)
    }
}

/// What a strategy did in a run.
#[derive(Clone, Debug)]
pub struct StrategyReport {
    pub name: String,
    pub module_hash: Option<[u8; 32]>,
    pub status: Status,
    pub stats: StrategyStats,
    /// Every state change with its operator-facing reason.
    pub history: Vec<StateChange>,
    pub restarts: u32,
    /// (instrument id, signed lots) for every instrument traded.
    pub positions: Vec<(u32, i64)>,
    pub realised: i64,
    pub unrealised: i64,
    pub fees: i64,
    pub fuel_used: u64,
    pub peak_memory_bytes: u64,
    /// Sandbox counters (wall-time histogram, host calls, log bytes, …)
    /// merged over every instance the strategy has had; `None` for native.
    pub sandbox: Option<bulkhead_sandbox::SandboxStats>,
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub events: u64,
    pub strategies: Vec<StrategyReport>,
    pub journal: JournalSummary,
    pub instruments: Vec<Instrument>,
}
