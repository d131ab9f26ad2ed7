//! What the engine publishes: a read-only [`Snapshot`] of everything the
//! API shows, and [`LiveEvent`]s for the stream.
//!
//! All of these are plain data the engine builds from its own state; the
//! server only serializes them. Money is in integer money units
//! ([`MONEY_SCALE`] per unit of the quote currency, as in
//! `bulkhead_model::MONEY_SCALE`); quantities and prices are given twice: as
//! integer lots / ticks (for machines) and as decimal text formatted by the
//! engine with the instrument's scale (for people).

use crate::command::{Actor, Scope};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Money units per 1.0 of the quote currency (`bulkhead_model::MONEY_SCALE`).
pub const MONEY_SCALE: i64 = 100_000_000;

/// The most entries kept in [`Snapshot::faults`] (and the most
/// `/api/v1/faults?limit=` takes); [`crate::ControlHandle::publish`] keeps
/// only the newest this many.
pub const MAX_RECENT: usize = 1000;

/// The most entries kept in [`Snapshot::decisions`] (and the most
/// `/api/v1/decisions?limit=` takes).
pub const MAX_DECISIONS: usize = 10_000;

/// Serialize shared records as the records themselves.
fn shared<T: Serialize, S: serde::Serializer>(v: &[Arc<T>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| &**x))
}

/// A trading state (R11), plus the supervisor's quarantine for a strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    #[default]
    Active,
    Reducing,
    Halted,
    /// A strategy stopped by a fault (cancel-on-fault done; restart to clear).
    Quarantined,
}

impl TradingState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::Reducing => "reducing",
            TradingState::Halted => "halted",
            TradingState::Quarantined => "quarantined",
        }
    }
    /// Prometheus gauge value: 0 active, 1 reducing, 2 halted, 3 quarantined.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Everything the control plane shows, as of one moment of the engine.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    /// Set by [`crate::ControlHandle::publish`]: 1, 2, 3, … per publish.
    pub seq: u64,
    /// Wall clock (ms since the Unix epoch) when published; stamped by the
    /// server so the engine never reads a clock.
    pub published_unix_ms: u64,
    /// Event time of the last event the engine processed (ns).
    pub event_time_ns: u64,
    pub engine: EngineStatus,
    /// Trading state of the whole firm (global kill switch).
    pub global_state: TradingState,
    /// Instruments by symbol, in config order.
    pub instruments: Vec<InstrumentSnapshot>,
    /// Strategies in config order.
    pub strategies: Vec<StrategySnapshot>,
    /// Every (strategy, instrument) with a position or fills.
    pub positions: Vec<PositionSnapshot>,
    pub orders: Vec<OrderSnapshot>,
    /// Firm-wide totals.
    pub pnl: Pnl,
    /// Recent decisions on orders (risk, plus venue rejects and invalid
    /// order records), oldest first, at most [`MAX_DECISIONS`]. Shared with
    /// the engine-side ring, so publishing does not copy the records.
    #[serde(serialize_with = "shared")]
    pub decisions: Vec<Arc<DecisionRecord>>,
    /// Recent faults, oldest first, at most [`MAX_RECENT`].
    #[serde(serialize_with = "shared")]
    pub faults: Vec<Arc<FaultRecord>>,
    pub journal: JournalStatus,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EngineStatus {
    /// "starting", "running", "paused", "finished", "failed".
    pub phase: String,
    pub events_processed: u64,
    /// Paper mode (`pace` set): how far the engine is behind its pacing
    /// schedule when it starts an event — wall time since the first event
    /// minus (event time since the first event ÷ pace), ns, never negative.
    /// 0 when not paced: a flat-out replay has no schedule to be behind.
    pub event_lag_ns: u64,
    /// Observed events (decisions, fills, faults, …) the engine's bounded
    /// feed dropped before the control plane drained it (0 normally).
    pub observed_dropped: u64,
    /// Paper-mode pace (1.0 = real time), None when replaying flat out.
    pub pace: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct InstrumentSnapshot {
    pub symbol: String,
    pub state: TradingState,
    /// Last mid / reference price, decimal text (None before any quote).
    pub reference_price: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct StrategySnapshot {
    pub name: String,
    pub state: TradingState,
    /// Why it is in that state (e.g. "fault: fuel_exhausted", "halt by alice").
    pub state_cause: Option<String>,
    /// blake3 of the running wasm module, hex (None for native strategies).
    pub module_hash: Option<String>,
    /// The policy limits in force, by field name as in the policy file, as
    /// decimal text. These names are what `POST …/limits` accepts.
    pub limits: BTreeMap<String, String>,
    pub resources: Resources,
    pub orders: OrderCounts,
    pub pnl: Pnl,
    /// Wall time of each callback of the running sandbox, as the engine
    /// measured it (rendered by `/metrics`; not in the JSON API, which has
    /// `resources.callback_p50_ns` / `callback_p99_ns`).
    #[serde(skip)]
    pub callback_latency: LatencyHistogram,
}

/// A latency distribution in the engine's own buckets: what
/// `bulkhead_sandbox::WallHistogram` records (log-linear buckets ≤ 12.5 %
/// wide), copied out so the server can render it without touching the
/// engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Non-empty buckets in increasing order: (inclusive upper bound, ns;
    /// samples in the bucket — not cumulative).
    pub buckets: Vec<(u64, u64)>,
    /// Sum of all samples, ns (exact).
    pub sum_ns: u64,
    /// Number of samples (= Σ bucket counts).
    pub count: u64,
}

impl LatencyHistogram {
    pub fn from_wall(h: &bulkhead_sandbox::WallHistogram) -> LatencyHistogram {
        LatencyHistogram { buckets: h.buckets().collect(), sum_ns: h.sum(), count: h.count() }
    }

    /// Cumulative counts at each of `bounds_ns` (ascending), then the total.
    /// A sample counts under the first bound at or above the upper edge of
    /// its recording bucket, so the result never understates a latency
    /// (it may overstate one by the bucket width, at most 12.5 %).
    pub fn cumulative(&self, bounds_ns: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; bounds_ns.len() + 1];
        for &(hi, n) in &self.buckets {
            let i = bounds_ns.iter().position(|&b| hi <= b).unwrap_or(bounds_ns.len());
            out[i] += n;
        }
        for i in 1..out.len() {
            out[i] += out[i - 1];
        }
        out
    }
}

/// Sandbox resource use, cumulative since the strategy (re)started.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Resources {
    pub events: u64,
    pub callbacks: u64,
    pub fuel_used: u64,
    pub peak_memory_bytes: u64,
    pub callback_p50_ns: u64,
    pub callback_p99_ns: u64,
    pub host_calls: u64,
    pub log_bytes: u64,
    pub faults: u64,
}

/// Order counts, cumulative for the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OrderCounts {
    pub submitted: u64,
    /// Accepted by the venue.
    pub accepted: u64,
    /// Rejections (risk and venue) by reason name, e.g. `R2_MAX_ORDER_QTY`.
    pub rejected: BTreeMap<String, u64>,
    pub cancels: u64,
    pub fills: u64,
}

/// Profit and loss in money units ([`MONEY_SCALE`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pnl {
    pub realised: i64,
    pub unrealised: i64,
    pub fees: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PositionSnapshot {
    pub strategy: String,
    pub instrument: String,
    pub lots: i64,
    /// Signed quantity, decimal text.
    pub qty: String,
    /// Average entry price, decimal text.
    pub avg_price: String,
    pub pnl: Pnl,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct OrderSnapshot {
    pub strategy: String,
    /// The strategy-scoped order id.
    pub id: u64,
    pub instrument: String,
    /// "buy" | "sell".
    pub side: String,
    pub price: String,
    pub remaining: String,
    pub tag: u64,
}

/// Outcome of one pre-trade risk check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Accept,
    Reject,
}

impl DecisionKind {
    pub fn parse(s: &str) -> Option<DecisionKind> {
        match s {
            "accept" => Some(DecisionKind::Accept),
            "reject" => Some(DecisionKind::Reject),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DecisionRecord {
    /// Journal sequence number of the decision record (`ORDER`, or `VENUE`
    /// / `INVALID` for the other sources).
    pub seq: u64,
    pub ts_ns: u64,
    pub strategy: String,
    pub instrument: Option<String>,
    /// Who decided: `risk` (pre-trade check), `venue` (the venue refused an
    /// order risk accepted), `host` (an order record that did not decode).
    pub source: &'static str,
    /// The strategy-scoped order id (None for an undecodable record).
    pub order_id: Option<u64>,
    /// The order as submitted, decimal text (risk decisions only).
    pub side: Option<String>,
    pub price: Option<String>,
    pub qty: Option<String>,
    pub kind: DecisionKind,
    /// Reason name (`ACCEPTED` on accept), e.g. `R3_PRICE_COLLAR`.
    pub reason: String,
    pub reason_code: u16,
    /// Limit / requested / current as the risk engine reported them (units
    /// per reason: `bulkhead_risk::Decision`); 0 for the other sources.
    pub limit: i64,
    pub requested: i64,
    pub current: i64,
    /// The same three figures as text: `limit=… requested=… current=…`.
    pub detail: String,
    /// Human text with the figures in decimal units, e.g.
    /// `R2_MAX_ORDER_QTY: order qty 0.6 exceeds limit 0.5 (BTC-USDT-PERP)`.
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FaultRecord {
    /// Journal sequence number of the `FAULT` record.
    pub seq: u64,
    pub ts_ns: u64,
    pub strategy: String,
    /// Fault kind, e.g. `fuel_exhausted`, `trap`, `memory_limit`.
    pub kind: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct JournalStatus {
    pub records: u64,
    pub bytes: u64,
    pub segments: u32,
    /// Hash of the last record, hex.
    pub last_hash: String,
    /// "none" | "batch" | "always" — whatever the run config says.
    pub fsync: String,
    /// Segment fsyncs so far, their total and their largest wall time (ns),
    /// as the journal writer measured them.
    pub fsyncs: u64,
    pub fsync_total_ns: u64,
    pub fsync_max_ns: u64,
}

/// One thing that just happened, for the live stream. Sent as an SSE event
/// whose `event:` is the `type` field.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    Fill {
        /// Journal sequence number of the `VENUE` record.
        seq: u64,
        ts_ns: u64,
        strategy: String,
        instrument: String,
        order_id: u64,
        side: String,
        price: String,
        qty: String,
        fee: i64,
        maker: bool,
        /// What is left of the order, decimal text.
        remaining: String,
    },
    /// An order refused by risk, the venue or the host (as in
    /// [`DecisionRecord::source`]).
    Reject {
        seq: u64,
        ts_ns: u64,
        strategy: String,
        instrument: Option<String>,
        order_id: Option<u64>,
        source: &'static str,
        reason: String,
        reason_code: u16,
        message: String,
    },
    Fault {
        seq: u64,
        ts_ns: u64,
        strategy: String,
        kind: String,
        message: String,
    },
    /// A trading state changed (R11: operator, R8 / R14 risk, supervisor
    /// restarts), or the supervisor took a faulted strategy down (`state`
    /// `quarantined`, also while it waits for a restart; `seq` null: not a
    /// record of its own).
    StateChange {
        seq: Option<u64>,
        ts_ns: u64,
        #[serde(flatten)]
        scope: Scope,
        state: TradingState,
        cause: String,
    },
    /// Emitted by the server after the engine answered an operator command.
    Command {
        actor: Actor,
        command: String,
        ok: bool,
        message: String,
    },
    /// This subscriber missed `dropped` events: it read too slowly and the
    /// server's per-subscriber buffer overflowed, or (for every subscriber)
    /// the engine's observer feed overflowed inside one event. The stream
    /// never drops an event without saying so.
    Lagged { dropped: u64 },
}
