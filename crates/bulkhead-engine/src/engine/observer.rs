//! The observer feed: an opt-in, bounded copy of what was journalled
//! (decisions, invalid records, venue rejects, fills, faults, state changes,
//! the supervisor), drained by the control plane at event boundaries for its
//! API rings and live stream. Off by default; on or off, the journal is
//! byte-identical.

use super::Engine;
use bulkhead_abi::{OrderRequest, Side};
use bulkhead_risk::{Scope, TradingState};

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
pub(super) struct Observer {
    pub(super) on: bool,
    pub(super) cap: usize,
    pub(super) queue: std::collections::VecDeque<Observed>,
    pub(super) dropped: u64,
}

impl Observer {
    pub(super) fn push(&mut self, o: Observed) {
        if self.queue.len() >= self.cap {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(o);
    }
}

impl Engine {
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
}
