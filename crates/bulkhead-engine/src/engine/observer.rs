//! The observer feed: an opt-in, bounded copy of what was journalled, as
//! the journal's own typed records ([`RecordBuf`], read back as
//! [`crate::records::Record`]), drained by the control plane at event
//! boundaries for its API rings and live stream. The journal sink pushes
//! each record it writes of the kinds an observer wants
//! ([`Observer::wants`]: decisions, invalid order records, venue rejects and
//! fills, faults, state changes), so what is observed is what was journalled
//! by construction. Besides the records, only what the journal does not
//! carry: the supervisor's verdict ([`Observed::Supervisor`]) and the
//! instrument a risk decision is about. Off by default; on or off, the
//! journal is byte-identical.

use super::Engine;
use crate::records::{Record, RecordBuf};
use bulkhead_abi::EventKind;

/// One notable thing the engine did, for an observer such as the control
/// plane ([`Engine::enable_observer`]). Plain data read from what was
/// journalled: observing changes nothing the engine decides or writes.
#[derive(Clone, Debug)]
pub enum Observed {
    /// A record as journalled: `seq` is its journal sequence number, `ts_ns`
    /// its event time, `record` its kind and payload
    /// ([`RecordBuf::record`] decodes it). Only the kinds of
    /// [`Observer::wants`]: `ORDER` (every risk decision on an order,
    /// accepted or not), `INVALID` (an order record the sandbox could not
    /// decode, refused with `InvalidOrder`), `VENUE` rejects and fills,
    /// `FAULT`, `STATE`, `ALERT` and `CHAIN` (every step of a
    /// smart-contract intent).
    Journalled {
        seq: u64,
        ts_ns: u64,
        record: RecordBuf,
        /// For an `ORDER` record: the instrument risk's decision is about
        /// ([`bulkhead_risk::Outcome::instrument`], which its message names).
        /// Not in the record, which carries the order's instrument: the two
        /// differ when e.g. the reference price or the volatility of another
        /// instrument in the book is missing. [`bulkhead_risk::NO_INSTRUMENT`]
        /// for an accept, a decision about no one instrument, and every
        /// other record.
        decision_instrument: u32,
    },
    /// The supervisor took a faulted strategy down: `status` is `backoff`
    /// (a restart is due) or `quarantined` (it stays down). Follows the
    /// `FAULT` and the `STATE` (halted) it comes with; not a record of its
    /// own (the journal has the fault, the halt and, later, the restart's
    /// `STATE` and `MODULE`).
    Supervisor { ts_ns: u64, sid: u32, status: &'static str, reason: String },
}

impl Observed {
    /// The risk decision of an observed `ORDER` record, rebuilt from the
    /// record's reason and numbers and [`Observed::Journalled`]'s
    /// `decision_instrument`: the [`bulkhead_risk::Outcome`] the engine
    /// journalled (`.message(instruments)` is its human text). `None` for
    /// anything else.
    pub fn decision(record: &Record<'_>, decision_instrument: u32) -> Option<bulkhead_risk::Outcome> {
        match *record {
            Record::Order { reason, limit, requested, current, .. } => {
                Some(bulkhead_risk::Outcome { reason, limit, requested, current, instrument: decision_instrument })
            }
            _ => None,
        }
    }
}

/// The opt-in feed behind [`Engine::enable_observer`]: a bounded queue
/// (oldest dropped, counted) that exists only when enabled. It lives in the
/// journal sink, which pushes the records it writes; disabled, each record
/// costs one branch on `on`.
#[derive(Default)]
pub(super) struct Observer {
    pub(super) on: bool,
    pub(super) cap: usize,
    pub(super) queue: std::collections::VecDeque<Observed>,
    pub(super) dropped: u64,
}

impl Observer {
    /// The records an observer is sent: `ORDER`, `INVALID`, `VENUE` rejects
    /// and fills (not accepts or cancels), `FAULT`, `STATE`, `ALERT`,
    /// `CHAIN`.
    pub(super) fn wants(rec: &Record<'_>) -> bool {
        match rec {
            Record::Order { .. }
            | Record::Invalid { .. }
            | Record::Fault { .. }
            | Record::State { .. }
            | Record::Alert { .. }
            | Record::Chain { .. } => true,
            Record::Venue { event, .. } => matches!(event.kind, EventKind::OrderRejected | EventKind::Fill),
            _ => false,
        }
    }

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
    /// plane): the journalled records of every risk decision on an order,
    /// invalid order records, venue rejects, fills, faults, trading-state
    /// changes, alerts and smart-contract intent steps, and the supervisor taking a strategy down ([`Observed`]),
    /// plus the wall time of each journal fsync. At most `cap` of each are
    /// held between two drains (the oldest are dropped and counted). Off by
    /// default — a backtest pays one branch per journal record — and it
    /// never changes what is decided or journalled. Calling it again only
    /// changes `cap`.
    pub fn enable_observer(&mut self, cap: usize) {
        let cap = cap.max(1);
        if !self.journal.observer.on {
            self.journal.observer.queue = std::collections::VecDeque::with_capacity(cap.min(4096));
            self.journal.w.record_fsync_samples(cap);
        }
        self.journal.observer.on = true;
        self.journal.observer.cap = cap;
    }

    /// Move what was observed since the last call into `out`, oldest first;
    /// returns how many were dropped because the feed was full.
    pub fn drain_observed(&mut self, out: &mut Vec<Observed>) -> u64 {
        out.extend(self.journal.observer.queue.drain(..));
        std::mem::take(&mut self.journal.observer.dropped)
    }
}
