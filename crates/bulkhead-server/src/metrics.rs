//! Prometheus text exposition (format 0.0.4), written by hand.
//!
//! Everything is rendered from the latest [`Snapshot`] (the engine keeps the
//! cumulative counts; the server holds none), including the per-strategy
//! callback-latency histogram: the sandbox times a sample of the callbacks
//! (about one in [`bulkhead_sandbox::WALL_SAMPLE_EVERY`], always the first:
//! its `_count` is the timed callbacks, not all of them) in its own
//! log-linear histogram and the snapshot carries a copy
//! ([`crate::LatencyHistogram`]), re-bucketed here to
//! [`CALLBACK_BUCKETS_NS`]. It covers the running sandbox instance, so a
//! restart or redeploy resets it (Prometheus treats that as a counter
//! reset). The one exception is the journal fsync histogram, fed through
//! [`Metrics::journal_fsync`] (the built-in `EngineControl` feeds it from the
//! journal writer's own per-fsync timings, from the first event on).
//!
//! Families (all prefixed `bulkhead_`; `strategy`, `instrument` labels):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `bulkhead_strategy_state` | gauge 0 active 1 reducing 2 halted 3 quarantined | strategy |
//! | `bulkhead_strategy_events_total` | counter | strategy |
//! | `bulkhead_strategy_callbacks_total` | counter | strategy |
//! | `bulkhead_strategy_orders_submitted_total` | counter | strategy |
//! | `bulkhead_strategy_orders_total` | counter | strategy, outcome=accepted\|rejected, reason (`none` when accepted) |
//! | `bulkhead_strategy_cancels_total` | counter | strategy |
//! | `bulkhead_strategy_fills_total` | counter | strategy |
//! | `bulkhead_strategy_fuel_used_total` | counter | strategy |
//! | `bulkhead_strategy_host_calls_total` | counter | strategy |
//! | `bulkhead_strategy_memory_peak_bytes` | gauge | strategy |
//! | `bulkhead_strategy_faults_total` | counter | strategy |
//! | `bulkhead_strategy_open_orders` | gauge | strategy |
//! | `bulkhead_alerts_total` | counter (every `ALERT` since the run started) | strategy, rule, action |
//! | `bulkhead_chain_intents_total` | counter (every smart-contract intent that ended since the run started; see [`crate::ChainOutcome`]) | strategy, outcome=rejected\|refused\|discarded\|mined\|reverted\|failed\|unconfirmed, reason (`ACCEPTED` for a mined intent as simulated, else a `CHAIN_*` code name) |
//! | `bulkhead_strategy_pnl` | gauge (quote currency) | strategy, component=realised\|unrealised\|fees |
//! | `bulkhead_strategy_callback_duration_seconds` | histogram (from the sandbox's own measurements, see above) | strategy |
//! | `bulkhead_position_lots` | gauge | strategy, instrument |
//! | `bulkhead_instrument_state` | gauge | instrument |
//! | `bulkhead_global_state` | gauge | |
//! | `bulkhead_events_processed_total` | counter | |
//! | `bulkhead_event_lag_seconds` | gauge (paper mode; 0 unpaced) | |
//! | `bulkhead_journal_records_total` | counter | |
//! | `bulkhead_journal_bytes` | gauge | |
//! | `bulkhead_journal_fsyncs_total` | counter (the engine's journal writer) | |
//! | `bulkhead_journal_fsync_seconds_total` | counter | |
//! | `bulkhead_journal_fsync_max_seconds` | gauge | |
//! | `bulkhead_journal_fsync_duration_seconds` | histogram (fed through [`Metrics::journal_fsync`]; `EngineControl` feeds every fsync the journal times) | |
//! | `bulkhead_snapshot_seq` | gauge | |
//! | `bulkhead_snapshot_age_seconds` | gauge | |
//! | `bulkhead_commands_total` | counter | command, outcome=ok\|refused\|error |
//! | `bulkhead_stream_subscribers` | gauge | |
//! | `bulkhead_stream_dropped_total` | counter | |
//! | `bulkhead_http_connections` | gauge | pool=general\|reserve |
//! | `bulkhead_http_connections_closed_total` | counter | reason=refused\|evicted |
//! | `bulkhead_http_accept_errors_total` | counter | |

use crate::snapshot::{MONEY_SCALE, Snapshot};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Bucket upper bounds for strategy callback wall time, ns (1 µs … 100 ms).
pub const CALLBACK_BUCKETS_NS: &[u64] = &[
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
];
/// Bucket upper bounds for journal fsync latency, ns (10 µs … 1 s).
pub const FSYNC_BUCKETS_NS: &[u64] = &[
    10_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
];

/// A fixed-bucket latency histogram. `observe_ns` is lock-free and
/// allocation-free (a short scan plus three relaxed atomic adds), safe to
/// call from the engine's hot loop.
#[derive(Debug)]
pub struct Histogram {
    bounds_ns: &'static [u64],
    /// Non-cumulative counts; the last slot is +Inf.
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds_ns: &'static [u64]) -> Histogram {
        Histogram {
            bounds_ns,
            counts: (0..=bounds_ns.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
    pub fn observe_ns(&self, ns: u64) {
        let i = self.bounds_ns.iter().position(|&b| ns <= b).unwrap_or(self.bounds_ns.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
    pub fn observe(&self, d: std::time::Duration) {
        self.observe_ns(d.as_nanos().min(u64::MAX as u128) as u64);
    }
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = Vec::with_capacity(self.counts.len());
        let mut c = 0u64;
        for n in self.counts.iter() {
            c += n.load(Relaxed);
            cum.push(c);
        }
        render_buckets(out, name, labels, self.bounds_ns, &cum, self.sum_ns.load(Relaxed));
    }
}

/// One histogram series: `cumulative` has one count per bound plus the
/// total (+Inf). `_count` is the +Inf bucket by construction.
fn render_buckets(out: &mut String, name: &str, labels: &str, bounds_ns: &[u64], cumulative: &[u64], sum_ns: u64) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (b, cum) in bounds_ns.iter().zip(cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cum}", fmt_f64(*b as f64 / 1e9));
    }
    let total = cumulative.get(bounds_ns.len()).copied().unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
    let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
    let _ = writeln!(out, "{name}_sum{braces} {}", fmt_f64(sum_ns as f64 / 1e9));
    let _ = writeln!(out, "{name}_count{braces} {total}");
}

/// The fsync histogram an engine may feed, plus the server's own counters
/// (commands answered, stream messages dropped) — none of it trading state.
#[derive(Debug)]
pub struct Metrics {
    fsync: Arc<Histogram>,
    commands: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    pub(crate) stream_dropped: AtomicU64,
    /// Open connections in the general pool / the operator reserve.
    pub(crate) http_general: AtomicU64,
    pub(crate) http_reserve: AtomicU64,
    /// Connections closed at once: every reserve slot carried an operator
    /// command in flight (or the reserve is 0).
    pub(crate) http_refused: AtomicU64,
    /// Reserve connections closed to make room before they showed an
    /// operator command.
    pub(crate) http_evicted: AtomicU64,
    /// `accept` failures other than a reset connection (EMFILE, ENFILE, …).
    pub(crate) http_accept_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            fsync: Arc::new(Histogram::new(FSYNC_BUCKETS_NS)),
            commands: Mutex::new(BTreeMap::new()),
            stream_dropped: AtomicU64::new(0),
            http_general: AtomicU64::new(0),
            http_reserve: AtomicU64::new(0),
            http_refused: AtomicU64::new(0),
            http_evicted: AtomicU64::new(0),
            http_accept_errors: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// The journal fsync-latency histogram.
    pub fn journal_fsync(&self) -> Arc<Histogram> {
        self.fsync.clone()
    }
    pub(crate) fn command_answered(&self, kind: &'static str, outcome: &'static str) {
        let mut m = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((kind, outcome)).or_default() += 1;
    }
}

/// Escape a label value (backslash, double quote, newline).
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

fn money(v: i64) -> String {
    fmt_f64(v as f64 / MONEY_SCALE as f64)
}

struct Out {
    s: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.s, "# HELP {name} {help}");
        let _ = writeln!(self.s, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.s.push_str(name);
        if !labels.is_empty() {
            self.s.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.s.push(',');
                }
                let _ = write!(self.s, "{k}=\"{}\"", escape_label(v));
            }
            self.s.push('}');
        }
        let _ = writeln!(self.s, " {value}");
    }
}

/// Render the exposition text for a snapshot plus the live histograms.
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
pub fn render(snap: &Snapshot, metrics: &Metrics, now_unix_ms: u64, subscribers: usize) -> String {
    let mut o = Out { s: String::with_capacity(8192) };
    let strategies = &snap.strategies;

    macro_rules! per_strategy {
        ($name:expr, $kind:expr, $help:expr, |$s:ident| $v:expr) => {{
            o.family($name, $kind, $help);
            for $s in strategies {
                o.sample($name, &[("strategy", &$s.name)], $v);
            }
        }};
    }

    per_strategy!(
        "bulkhead_strategy_state",
        "gauge",
        "Trading state: 0 active, 1 reducing, 2 halted, 3 quarantined.",
        |s| s.state.code()
    );
    per_strategy!("bulkhead_strategy_events_total", "counter", "Events delivered to the strategy.", |s| s
        .resources
        .events);
    per_strategy!("bulkhead_strategy_callbacks_total", "counter", "Strategy callbacks run.", |s| s.resources.callbacks);
    per_strategy!("bulkhead_strategy_orders_submitted_total", "counter", "Orders the strategy submitted.", |s| s
        .orders
        .submitted);
    o.family(
        "bulkhead_strategy_orders_total",
        "counter",
        "Orders by outcome (accepted by the venue, or rejected by risk or venue) and reason.",
    );
    for s in strategies {
        o.sample(
            "bulkhead_strategy_orders_total",
            &[("strategy", &s.name), ("outcome", "accepted"), ("reason", "none")],
            s.orders.accepted,
        );
        for (reason, n) in &s.orders.rejected {
            o.sample(
                "bulkhead_strategy_orders_total",
                &[("strategy", &s.name), ("outcome", "rejected"), ("reason", reason)],
                n,
            );
        }
    }
    per_strategy!("bulkhead_strategy_cancels_total", "counter", "Cancels the strategy requested.", |s| s
        .orders
        .cancels);
    per_strategy!("bulkhead_strategy_fills_total", "counter", "Fills received.", |s| s.orders.fills);
    per_strategy!("bulkhead_strategy_fuel_used_total", "counter", "Wasm fuel consumed.", |s| s.resources.fuel_used);
    per_strategy!("bulkhead_strategy_host_calls_total", "counter", "Host calls made.", |s| s.resources.host_calls);
    per_strategy!("bulkhead_strategy_memory_peak_bytes", "gauge", "Peak linear memory of the sandbox.", |s| s
        .resources
        .peak_memory_bytes);
    per_strategy!("bulkhead_strategy_faults_total", "counter", "Faults (traps, timeouts, limit breaches).", |s| s
        .resources
        .faults);
    o.family("bulkhead_alerts_total", "counter", "Surveillance alerts journalled, by rule and action.");
    for ((strategy, rule, action), n) in snap.alert_counts.iter() {
        o.sample("bulkhead_alerts_total", &[("strategy", strategy), ("rule", rule), ("action", action)], n);
    }
    o.family(
        "bulkhead_chain_intents_total",
        "counter",
        "Smart-contract intents that ended, by outcome and reason (CHAIN records).",
    );
    for ((strategy, outcome, reason), n) in snap.chain_counts.iter() {
        o.sample(
            "bulkhead_chain_intents_total",
            &[("strategy", strategy), ("outcome", outcome), ("reason", reason)],
            n,
        );
    }
    o.family("bulkhead_strategy_open_orders", "gauge", "Open orders at the venue.");
    for s in strategies {
        let n = snap.orders.iter().filter(|o| o.strategy == s.name).count();
        o.sample("bulkhead_strategy_open_orders", &[("strategy", &s.name)], n);
    }
    o.family("bulkhead_strategy_pnl", "gauge", "PnL in quote currency by component.");
    for s in strategies {
        for (c, v) in [("realised", s.pnl.realised), ("unrealised", s.pnl.unrealised), ("fees", s.pnl.fees)] {
            o.sample("bulkhead_strategy_pnl", &[("strategy", &s.name), ("component", c)], money(v));
        }
    }
    {
        let name = "bulkhead_strategy_callback_duration_seconds";
        o.family(
            name,
            "histogram",
            "Wall time of one strategy callback, sampled (about one in 16 is timed; running sandbox instance).",
        );
        for s in strategies {
            let h = &s.callback_latency;
            let labels = format!("strategy=\"{}\"", escape_label(&s.name));
            render_buckets(&mut o.s, name, &labels, CALLBACK_BUCKETS_NS, &h.cumulative(CALLBACK_BUCKETS_NS), h.sum_ns);
        }
    }
    o.family("bulkhead_position_lots", "gauge", "Signed position in lots.");
    for p in &snap.positions {
        o.sample("bulkhead_position_lots", &[("strategy", &p.strategy), ("instrument", &p.instrument)], p.lots);
    }
    o.family("bulkhead_instrument_state", "gauge", "Instrument trading state: 0 active, 1 reducing, 2 halted.");
    for i in &snap.instruments {
        o.sample("bulkhead_instrument_state", &[("instrument", &i.symbol)], i.state.code());
    }
    o.family("bulkhead_global_state", "gauge", "Firm-wide trading state: 0 active, 1 reducing, 2 halted.");
    o.sample("bulkhead_global_state", &[], snap.global_state.code());
    o.family("bulkhead_events_processed_total", "counter", "Market events processed by the engine.");
    o.sample("bulkhead_events_processed_total", &[], snap.engine.events_processed);
    o.family(
        "bulkhead_event_lag_seconds",
        "gauge",
        "Paper mode: how far the engine is behind its pacing schedule (wall time since the first event minus paced event time) when it starts an event. 0 in an unpaced replay, which has no schedule to be behind.",
    );
    o.sample("bulkhead_event_lag_seconds", &[], fmt_f64(snap.engine.event_lag_ns as f64 / 1e9));
    o.family("bulkhead_journal_records_total", "counter", "Records appended to the journal.");
    o.sample("bulkhead_journal_records_total", &[], snap.journal.records);
    o.family("bulkhead_journal_bytes", "gauge", "Bytes in the journal's segment files.");
    o.sample("bulkhead_journal_bytes", &[], snap.journal.bytes);
    o.family("bulkhead_journal_fsyncs_total", "counter", "Journal segment fsyncs.");
    o.sample("bulkhead_journal_fsyncs_total", &[], snap.journal.fsyncs);
    o.family("bulkhead_journal_fsync_seconds_total", "counter", "Wall time spent in journal segment fsyncs.");
    o.sample("bulkhead_journal_fsync_seconds_total", &[], fmt_f64(snap.journal.fsync_total_ns as f64 / 1e9));
    o.family("bulkhead_journal_fsync_max_seconds", "gauge", "Slowest journal segment fsync so far.");
    o.sample("bulkhead_journal_fsync_max_seconds", &[], fmt_f64(snap.journal.fsync_max_ns as f64 / 1e9));
    {
        let name = "bulkhead_journal_fsync_duration_seconds";
        o.family(name, "histogram", "Latency of one journal fsync, as the journal writer timed it.");
        metrics.fsync.render(&mut o.s, name, "");
    }
    o.family("bulkhead_snapshot_seq", "gauge", "Sequence number of the latest published snapshot.");
    o.sample("bulkhead_snapshot_seq", &[], snap.seq);
    o.family("bulkhead_snapshot_age_seconds", "gauge", "Seconds since the engine last published a snapshot.");
    let age = if snap.seq == 0 { 0.0 } else { now_unix_ms.saturating_sub(snap.published_unix_ms) as f64 / 1e3 };
    o.sample("bulkhead_snapshot_age_seconds", &[], fmt_f64(age));
    {
        o.family("bulkhead_commands_total", "counter", "Operator commands answered, by command and outcome.");
        let m = metrics.commands.lock().unwrap_or_else(|e| e.into_inner());
        for ((cmd, outcome), n) in m.iter() {
            o.sample("bulkhead_commands_total", &[("command", cmd), ("outcome", outcome)], n);
        }
    }
    o.family("bulkhead_stream_subscribers", "gauge", "Live-stream subscribers connected.");
    o.sample("bulkhead_stream_subscribers", &[], subscribers);
    o.family("bulkhead_stream_dropped_total", "counter", "Live events dropped for slow subscribers.");
    o.sample("bulkhead_stream_dropped_total", &[], metrics.stream_dropped.load(Relaxed));
    o.family("bulkhead_http_connections", "gauge", "Open HTTP connections by pool (general, operator reserve).");
    o.sample("bulkhead_http_connections", &[("pool", "general")], metrics.http_general.load(Relaxed));
    o.sample("bulkhead_http_connections", &[("pool", "reserve")], metrics.http_reserve.load(Relaxed));
    o.family(
        "bulkhead_http_connections_closed_total",
        "counter",
        "Connections closed by the limits: refused (reserve full of operator commands) or evicted (reserve connection without an operator command, to make room).",
    );
    o.sample("bulkhead_http_connections_closed_total", &[("reason", "refused")], metrics.http_refused.load(Relaxed));
    o.sample("bulkhead_http_connections_closed_total", &[("reason", "evicted")], metrics.http_evicted.load(Relaxed));
    o.family("bulkhead_http_accept_errors_total", "counter", "Failed accepts (out of file descriptors, buffers).");
    o.sample("bulkhead_http_accept_errors_total", &[], metrics.http_accept_errors.load(Relaxed));
    o.s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(CALLBACK_BUCKETS_NS);
        h.observe_ns(500);
        h.observe_ns(3_000);
        h.observe_ns(10_000_000_000);
        let mut s = String::new();
        h.render(&mut s, "x", "strategy=\"a\"");
        assert!(s.contains("x_bucket{strategy=\"a\",le=\"0.000001\"} 1\n"), "{s}");
        assert!(s.contains("x_bucket{strategy=\"a\",le=\"0.000005\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{strategy=\"a\",le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_count{strategy=\"a\"} 3\n"), "{s}");
    }

    #[test]
    fn engine_histograms_rebucket_conservatively() {
        let mut w = bulkhead_sandbox::WallHistogram::default();
        for ns in [900, 1_000, 3_000, 3_000, 200_000_000] {
            w.record(ns);
        }
        let h = crate::LatencyHistogram::from_wall(&w);
        assert_eq!((h.count, h.sum_ns), (5, 200_007_900));
        let c = h.cumulative(CALLBACK_BUCKETS_NS);
        assert_eq!(c.len(), CALLBACK_BUCKETS_NS.len() + 1);
        // 900 ns is recorded in 896..=959: under 1 µs. 1000 ns is in
        // 960..=1023, so it counts under 2.5 µs (never understated).
        assert_eq!(&c[..3], &[1, 2, 4]);
        assert!(c.windows(2).all(|p| p[0] <= p[1]));
        assert_eq!(c[CALLBACK_BUCKETS_NS.len() - 1], 4, "200 ms is over the last bound");
        assert_eq!(c[CALLBACK_BUCKETS_NS.len()], 5);
        let mut s = String::new();
        render_buckets(&mut s, "x", "strategy=\"a\"", CALLBACK_BUCKETS_NS, &c, h.sum_ns);
        assert!(s.contains("x_bucket{strategy=\"a\",le=\"0.0000025\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{strategy=\"a\",le=\"+Inf\"} 5\n"), "{s}");
        assert!(s.contains("x_sum{strategy=\"a\"} 0.2000079\n"), "{s}");
        assert!(s.contains("x_count{strategy=\"a\"} 5\n"), "{s}");
    }

    /// The exact figures a scrape shows for a hand-built snapshot: one
    /// strategy with one 5 µs callback, a journal with known fsync totals,
    /// one 150 µs fsync fed through the histogram. Times are in seconds.
    #[test]
    fn a_snapshot_renders_to_exact_samples() {
        use crate::snapshot::{LatencyHistogram, OrderCounts, Pnl, Resources, StrategySnapshot};
        let mut snap = Snapshot { seq: 3, ..Snapshot::default() };
        let mut wall = bulkhead_sandbox::WallHistogram::default();
        wall.record(5_000);
        let mut rejected = BTreeMap::new();
        rejected.insert("R2_MAX_ORDER_QTY".to_string(), 2);
        snap.strategies.push(StrategySnapshot {
            name: "beta".into(),
            resources: Resources { fuel_used: 123_456, peak_memory_bytes: 1 << 20, ..Resources::default() },
            orders: OrderCounts { submitted: 10, accepted: 8, rejected, cancels: 2, fills: 5 },
            pnl: Pnl { realised: 150 * MONEY_SCALE / 100, unrealised: 0, fees: 0 },
            callback_latency: LatencyHistogram::from_wall(&wall),
            ..StrategySnapshot::default()
        });
        let mut chain = crate::ChainCounts::new();
        chain.insert(("beta".into(), "rejected", "CHAIN_APPROVAL"), 3);
        snap.chain_counts = std::sync::Arc::new(chain);
        snap.journal.fsyncs = 4;
        snap.journal.fsync_total_ns = 600_000;
        snap.journal.fsync_max_ns = 250_000;
        let metrics = Metrics::default();
        metrics.journal_fsync().observe_ns(150_000);
        metrics.command_answered("mass_cancel", "ok");
        let text = render(&snap, &metrics, 0, 0);
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "no line `{line}` in\n{text}");
        let o = "bulkhead_strategy_orders_total";
        has(&format!("{o}{{strategy=\"beta\",outcome=\"accepted\",reason=\"none\"}} 8"));
        has(&format!("{o}{{strategy=\"beta\",outcome=\"rejected\",reason=\"R2_MAX_ORDER_QTY\"}} 2"));
        has("bulkhead_strategy_orders_submitted_total{strategy=\"beta\"} 10");
        has("bulkhead_strategy_fuel_used_total{strategy=\"beta\"} 123456");
        has("bulkhead_strategy_memory_peak_bytes{strategy=\"beta\"} 1048576");
        has("bulkhead_strategy_pnl{strategy=\"beta\",component=\"realised\"} 1.5");
        // One 5 µs callback, recorded in the sandbox bucket 4608..=5119 ns:
        // it counts from the 10 µs bucket on (never understated).
        let n = "bulkhead_strategy_callback_duration_seconds";
        has(&format!("{n}_bucket{{strategy=\"beta\",le=\"0.0000025\"}} 0"));
        has(&format!("{n}_bucket{{strategy=\"beta\",le=\"0.000005\"}} 0"));
        has(&format!("{n}_bucket{{strategy=\"beta\",le=\"0.00001\"}} 1"));
        has(&format!("{n}_bucket{{strategy=\"beta\",le=\"+Inf\"}} 1"));
        has(&format!("{n}_sum{{strategy=\"beta\"}} 0.000005"));
        has(&format!("{n}_count{{strategy=\"beta\"}} 1"));
        let n = "bulkhead_journal_fsync_duration_seconds";
        has(&format!("{n}_bucket{{le=\"0.0001\"}} 0"));
        has(&format!("{n}_bucket{{le=\"0.00025\"}} 1"));
        has(&format!("{n}_sum 0.00015"));
        has(&format!("{n}_count 1"));
        has("bulkhead_journal_fsyncs_total 4");
        has("bulkhead_journal_fsync_seconds_total 0.0006");
        has("bulkhead_journal_fsync_max_seconds 0.00025");
        has("# TYPE bulkhead_journal_fsync_max_seconds gauge");
        has("bulkhead_commands_total{command=\"mass_cancel\",outcome=\"ok\"} 1");
        has("# TYPE bulkhead_chain_intents_total counter");
        has("bulkhead_chain_intents_total{strategy=\"beta\",outcome=\"rejected\",reason=\"CHAIN_APPROVAL\"} 3");
    }

    #[test]
    fn label_escaping() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
