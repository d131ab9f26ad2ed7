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

/// The most points a [`PnlHistory`] keeps (see there for how it
/// downsamples).
pub const MAX_PNL_POINTS: usize = 1024;

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
            TradingState::Active => bulkhead_risk::TradingState::Active.name(),
            TradingState::Reducing => bulkhead_risk::TradingState::Reducing.name(),
            TradingState::Halted => bulkhead_risk::TradingState::Halted.name(),
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
    /// Recent surveillance alerts (`ALERT` records), oldest first, at most
    /// [`MAX_RECENT`]; older ones are dropped and counted in
    /// [`Snapshot::alerts_dropped`].
    #[serde(serialize_with = "shared")]
    pub alerts: Vec<Arc<AlertRecord>>,
    /// Alerts dropped from the ring (oldest first) since the run started.
    pub alerts_dropped: u64,
    /// Every alert seen since the run started, by (strategy, rule, action):
    /// `bulkhead_alerts_total`. Not bounded by the ring (at most
    /// strategies × 12 rules × 4 actions keys).
    #[serde(skip)]
    pub alert_counts: Arc<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// Recent smart-contract intents (`CHAIN` records folded into one row
    /// per intent, see [`crate::chain`]), oldest first, at most
    /// [`MAX_RECENT`]; older ones are dropped and counted in
    /// [`Snapshot::chain_intents_dropped`].
    #[serde(serialize_with = "shared")]
    pub chain_intents: Vec<Arc<crate::ChainIntentRecord>>,
    pub chain_intents_dropped: u64,
    /// Every intent's final outcome since the run started, by (strategy,
    /// outcome, reason): `bulkhead_chain_intents_total`. Not bounded by the
    /// table (at most strategies × 8 outcomes × 18 reasons keys).
    #[serde(skip)]
    pub chain_counts: Arc<crate::ChainCounts>,
    pub journal: JournalStatus,
    /// Net PnL over event time since the run's first event, downsampled to
    /// at most [`MAX_PNL_POINTS`] points (what the dashboard's chart starts
    /// from; `GET /api/v1/pnl/history`).
    #[serde(serialize_with = "shared_one")]
    pub pnl_history: Arc<PnlHistory>,
}

fn shared_one<T: Serialize, S: serde::Serializer>(v: &Arc<T>, s: S) -> Result<S::Ok, S::Error> {
    (**v).serialize(s)
}

/// Net PnL (realised + unrealised − fees, money units) of the firm and of
/// each strategy over event time, from the run's first event on: a derived,
/// bounded view of the snapshots the engine publishes, one sample per
/// publish.
///
/// Bound: at most `max_points` ([`MAX_PNL_POINTS`]) points. The first point
/// is the run's first event and the last is always the newest sample; in
/// between, every `stride`-th sample is kept. When a new point would make
/// the series longer than the bound, every other kept point is dropped
/// (the first stays) and `stride` doubles, so the points stay roughly evenly
/// spread over the run however long it lasts. A sample at an event time not
/// after the newest point's replaces that point's values (a finished or
/// waiting engine publishes the same event time again and again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PnlHistory {
    /// Event time (ns) of the first point: the run's first market event
    /// (None before it).
    pub start_ns: Option<u64>,
    pub max_points: usize,
    /// Samples per kept point: 1, 2, 4, … (doubles at each halving).
    pub stride: u64,
    /// Event time of each point, ns after `start_ns` (exact as a JSON
    /// number for runs shorter than 104 days of event time).
    pub offsets_ns: Vec<u64>,
    /// One series per column: `firm`, then each strategy in config order;
    /// `values[i]` belongs to `offsets_ns[i]`.
    pub series: Vec<PnlSeries>,
    /// Samples since the last kept point.
    #[serde(skip)]
    since_kept: u64,
    /// The last point is the newest sample, not (yet) a kept one.
    #[serde(skip)]
    provisional: bool,
}

/// Keep elements 0, 2, 4, …
fn every_other<T>(v: &mut Vec<T>) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        i % 2 == 1
    });
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PnlSeries {
    /// `firm` or a strategy name.
    pub name: String,
    /// Net PnL in money units ([`MONEY_SCALE`]).
    pub values: Vec<i64>,
}

impl Default for PnlHistory {
    fn default() -> Self {
        PnlHistory::new(MAX_PNL_POINTS)
    }
}

impl PnlHistory {
    /// An empty history of at most `max_points` (≥ 2) points.
    pub fn new(max_points: usize) -> PnlHistory {
        PnlHistory {
            start_ns: None,
            max_points: max_points.max(2),
            stride: 1,
            offsets_ns: Vec::new(),
            series: Vec::new(),
            since_kept: 0,
            provisional: false,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.offsets_ns.len()
    }
    pub fn is_empty(&self) -> bool {
        self.offsets_ns.is_empty()
    }

    /// Add the PnL of `snap` at event time `ts_ns`.
    pub fn sample_snapshot(&mut self, ts_ns: u64, snap: &Snapshot) {
        let net = |p: &Pnl| p.realised.saturating_add(p.unrealised).saturating_sub(p.fees);
        let names = std::iter::once("firm").chain(snap.strategies.iter().map(|s| s.name.as_str()));
        let values = std::iter::once(net(&snap.pnl)).chain(snap.strategies.iter().map(|s| net(&s.pnl)));
        self.sample(ts_ns, names.zip(values));
    }

    /// Add one sample: (series name, net PnL) pairs. The set of series is
    /// fixed by the first sample; a sample with other names starts the
    /// history afresh (it belongs to another run).
    pub fn sample<'a>(&mut self, ts_ns: u64, columns: impl Iterator<Item = (&'a str, i64)> + Clone) {
        let same = self.series.len() == columns.clone().count()
            && self.series.iter().zip(columns.clone()).all(|(s, (n, _))| s.name == n);
        if !same {
            *self = PnlHistory::new(self.max_points);
            self.series = columns.clone().map(|(n, _)| PnlSeries { name: n.to_string(), values: Vec::new() }).collect();
        }
        let start = *self.start_ns.get_or_insert(ts_ns);
        let offset = ts_ns.saturating_sub(start);
        if let Some(&last) = self.offsets_ns.last()
            && offset <= last
        {
            for (s, (_, v)) in self.series.iter_mut().zip(columns) {
                if let Some(x) = s.values.last_mut() {
                    *x = v;
                }
            }
            return;
        }
        if self.provisional {
            self.pop();
        }
        self.since_kept += 1;
        let keep = self.offsets_ns.is_empty() || self.since_kept >= self.stride;
        if keep {
            self.since_kept = 0;
        }
        self.offsets_ns.push(offset);
        for (s, (_, v)) in self.series.iter_mut().zip(columns) {
            s.values.push(v);
        }
        self.provisional = !keep;
        if self.offsets_ns.len() > self.max_points {
            self.halve();
        }
    }

    fn pop(&mut self) {
        self.offsets_ns.pop();
        for s in &mut self.series {
            s.values.pop();
        }
    }

    /// Keep the first kept point and every other one after it; the newest
    /// sample (if provisional) stays last.
    fn halve(&mut self) {
        let tail = if self.provisional {
            let off = self.offsets_ns.last().copied().unwrap_or(0);
            let vals: Vec<i64> = self.series.iter().map(|s| s.values.last().copied().unwrap_or(0)).collect();
            self.pop();
            Some((off, vals))
        } else {
            None
        };
        let kept = self.offsets_ns.len();
        // The last kept point is dropped when `kept` is even: the next one
        // is due `stride` samples earlier than it would have been.
        if kept.is_multiple_of(2) {
            self.since_kept += self.stride;
        }
        every_other(&mut self.offsets_ns);
        for s in &mut self.series {
            every_other(&mut s.values);
        }
        self.stride = self.stride.saturating_mul(2);
        if let Some((off, vals)) = tail {
            self.offsets_ns.push(off);
            for (s, v) in self.series.iter_mut().zip(vals) {
                s.values.push(v);
            }
        }
    }
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
    /// feed dropped before the control plane drained it, or that did not
    /// decode as a journal record (0 normally).
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
    /// Surveillance alerts raised about this strategy (`Engine::alerts`).
    pub alerts: u64,
    /// Disabled by a surveillance rule (RTS 6 Art. 15): only an operator's
    /// journalled `resume` lifts it (`Engine::is_disabled`).
    pub disabled: bool,
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
    /// Wall time of the timed callbacks of the running sandbox (a sample:
    /// see `bulkhead_sandbox::SandboxStats`), as the engine measured it (rendered by `/metrics`; not in the JSON API, which has
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
    /// Average entry price of the open lots, decimal text (None when flat).
    pub avg_price: Option<String>,
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

/// One `ALERT` record as the API shows it (`GET /api/v1/alerts`).
#[derive(Clone, Debug, Serialize)]
pub struct AlertRecord {
    /// Journal sequence number of the `ALERT` record.
    pub seq: u64,
    /// Event time of the record (ns).
    pub ts_ns: u64,
    /// Wall clock (Unix ms) when the control plane drained it from the
    /// engine: what the alert-latency measurement compares against.
    pub seen_unix_ms: u64,
    /// Rule name, e.g. `quote_stuffing` (`bulkhead_surveillance::Rule::name`).
    pub rule: &'static str,
    /// `alert` | `reduce` | `halt` | `disable`.
    pub action: &'static str,
    /// The strategy the alert is about (`""` for none).
    pub strategy: String,
    /// The other strategy (wash trades), if any.
    pub other_strategy: Option<String>,
    pub instrument: Option<String>,
    pub window_ns: u64,
    pub observed: i64,
    pub threshold: i64,
    /// Evidence: the orders of the window (strategy name, strategy-scoped id).
    pub orders: Vec<AlertOrderRef>,
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct AlertOrderRef {
    pub strategy: String,
    pub id: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct JournalStatus {
    pub records: u64,
    pub bytes: u64,
    pub segments: u32,
    /// The journal's last seal, hex (journal format 2: a seal covers each
    /// block of about 64 KiB, so it lags the newest records until the next
    /// seal, at the latest at the end of the run).
    pub last_hash: String,
    /// "none" | "batch" | "always" — whatever the run config says.
    pub fsync: String,
    /// Segment fsyncs so far, their total and their largest wall time (ns),
    /// as the journal writer measured them.
    pub fsyncs: u64,
    pub fsync_total_ns: u64,
    pub fsync_max_ns: u64,
    /// The live journal mirror (`bulkhead run --cluster`), `None` without one.
    pub mirror: Option<MirrorStatus>,
}

/// The journal's live mirror to JetStream: the node's cluster health.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MirrorStatus {
    /// The stream, e.g. `BHJ_n1`.
    pub stream: String,
    /// Records offered to the mirror / acknowledged by JetStream.
    pub offered: u64,
    pub acked: u64,
    /// `false` while new orders are refused with `CLUSTER_UNAVAILABLE`.
    pub available: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    /// Orders refused with `CLUSTER_UNAVAILABLE` so far.
    pub refused: u64,
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
    /// A surveillance rule fired (an `ALERT` record, as in
    /// `GET /api/v1/alerts`).
    Alert(AlertRecord),
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
    Lagged {
        dropped: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(v: i64) -> impl Iterator<Item = (&'static str, i64)> + Clone {
        [("firm", v), ("a", v / 2)].into_iter()
    }

    #[test]
    fn pnl_history_stays_bounded_keeps_the_start_and_the_newest_sample_and_spreads_evenly() {
        let mut h = PnlHistory::new(64);
        let start = 1_700_000_000_000_000_000u64;
        let n = 100_000u64;
        for i in 0..n {
            h.sample(start + i * 1_000_000, cols(i as i64));
            assert!(h.len() <= 64, "{} points after {i} samples", h.len());
            assert_eq!(h.offsets_ns.last(), Some(&(i * 1_000_000)), "the newest sample is the last point");
            assert_eq!(h.series[0].values.last(), Some(&(i as i64)));
            assert_eq!(h.series[1].values.last(), Some(&(i as i64 / 2)));
        }
        assert_eq!(h.start_ns, Some(start));
        assert_eq!(h.offsets_ns[0], 0, "the run's first event stays the first point");
        assert!(h.len() >= 32, "{} points: halving keeps at least half", h.len());
        assert!(h.offsets_ns.windows(2).all(|w| w[0] < w[1]), "event time increases");
        // Kept points are `stride` samples apart (the newest may be closer).
        let gaps: Vec<u64> = h.offsets_ns.windows(2).map(|w| w[1] - w[0]).collect();
        let step = h.stride * 1_000_000;
        assert!(gaps[..gaps.len() - 1].iter().all(|&g| g == step), "stride {}: {gaps:?}", h.stride);
        assert!(*gaps.last().unwrap() <= step);
        for s in &h.series {
            assert_eq!(s.values.len(), h.len());
        }
    }

    #[test]
    fn pnl_history_replaces_the_newest_point_at_the_same_event_time() {
        let mut h = PnlHistory::new(8);
        h.sample(100, cols(1));
        h.sample(100, cols(5));
        h.sample(200, cols(7));
        h.sample(200, cols(9));
        h.sample(150, cols(11)); // never earlier than the newest point
        assert_eq!(h.offsets_ns, [0, 100]);
        assert_eq!(h.series[0].values, [5, 11]);
        assert_eq!(h.series[1].values, [2, 5]);
        // Other series: another run; start afresh.
        h.sample(300, [("firm", 1)].into_iter());
        assert_eq!((h.start_ns, h.len(), h.series.len()), (Some(300), 1, 1));
    }
}
