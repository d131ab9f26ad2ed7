//! The engine side of the control plane: applies operator commands to a
//! running [`Engine`] at event boundaries (journalled first), publishes
//! snapshots, and paces paper runs. Runs on the engine's thread; the HTTP
//! side never touches trading state.
//!
//! At every event boundary it also drains the engine's observer feed
//! (turned on at the first boundary, so what strategies did in `init`
//! before the control plane attached is in the journal and the strategy
//! states but not in the rings). The feed carries the journalled records
//! themselves, which this reads back as the journal's one typed
//! [`Record`] (the type `journal show` renders): risk decisions (`ORDER`,
//! their message rebuilt from the record's reason and numbers), venue
//! rejects (`VENUE`) and undecodable order records (`INVALID`) go to the
//! decision ring, faults (`FAULT`) to the fault ring, alerts (`ALERT`) to
//! the alert ring, smart-contract intent steps (`CHAIN`) to the intent
//! table ([`crate::chain`]), and rejects, fills,
//! faults, state changes (`STATE`) and the supervisor's verdicts (not a
//! record) to the live stream (only while someone listens). Journal fsync
//! timings feed the fsync histogram.
//!
//! A hot deploy never compiles on the engine thread: the engine checks the
//! target (404 / 409 at once), then hands signature verification and the
//! compile (`SandboxRuntime::load`: static module limits, then a compile
//! under its wall-clock budget) to a worker thread and goes on trading. At
//! the first event boundary after the worker is done, the compiled module
//! is checked against the strategy's limits, its bytes stored and the
//! command journalled, and the strategy swapped — or the deploy is refused
//! with nothing journalled. One deploy compiles at a time (a second gets a
//! 409 until the first is answered).

use crate::{
    AlertOrderRef, AlertRecord, Command, CommandError, ControlHandle, DecisionKind, DecisionRecord, EngineStatus,
    FaultRecord, Histogram, InstrumentSnapshot, JournalStatus, LatencyHistogram, LiveEvent, MAX_DECISIONS, MAX_RECENT,
    OrderCounts, OrderSnapshot, Pnl, PnlHistory, PositionSnapshot, Resources, SIGNATURE_HEADER, Scope, Snapshot,
    StrategySnapshot, TradingState,
};
use bulkhead_abi::{EVENT_FLAG_MAKER, Event, EventKind, Reason, Side};
use bulkhead_engine::command::{ModuleRef, SignerRef};
use bulkhead_engine::records::Record;
use bulkhead_engine::{Actor, Command as EngineCommand, Engine, Observed, Outcome, Status};
use bulkhead_journal::FsyncPolicy;
use bulkhead_model::Instrument;
use bulkhead_provenance::Signer;
use bulkhead_provenance::{ProvenanceError, TrustedKeys};
use bulkhead_risk::{Scope as RiskScope, TradingState as RiskState};
use bulkhead_sandbox::{SandboxRuntime, StrategyModule};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Publish a snapshot at least every this many events …
const PUBLISH_EVERY_EVENTS: u64 = 10_000;
/// … or this much wall time.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// The engine's observer feed holds at most this many events between two
/// drains (one drain per market event, so only a burst inside one event —
/// e.g. a mass cancel of many orders — could come near it).
const OBSERVE_CAP: usize = 65_536;

/// Paper mode's hook, called at each step of the wait between events.
type WaitHook = Box<dyn FnMut(&Engine) + Send>;

/// Drives one engine from one [`ControlHandle`].
pub struct EngineControl {
    handle: ControlHandle,
    runtime: Arc<SandboxRuntime>,
    /// Replay speed for paper mode: `Some(1.0)` = real time, `Some(10.0)` =
    /// ten times faster, `None` = as fast as possible.
    pace: Option<f64>,
    wall_start: Option<(Instant, u64)>,
    last_publish: (u64, Instant),
    fsync: FsyncPolicy,
    phase: &'static str,
    /// The run only runs signed modules (`run.trusted_keys`): an unsigned
    /// module may not come in through the API either.
    /// `run.trusted_keys`: hot deploys must be signed by one of these.
    trusted: Option<TrustedKeys>,
    /// Paper mode: how late the last event started against the schedule.
    lag_ns: u64,
    /// The engine's observer feed is on (enabled at the first event boundary).
    observing: bool,
    observed: Vec<Observed>,
    observed_dropped: u64,
    fsync_ns: Vec<u64>,
    fsync_hist: Arc<Histogram>,
    /// The newest [`MAX_DECISIONS`] decisions and [`MAX_RECENT`] faults,
    /// oldest first: what `/api/v1/decisions` and `/api/v1/faults` serve.
    decisions: VecDeque<Arc<DecisionRecord>>,
    faults: VecDeque<Arc<FaultRecord>>,
    /// The newest [`MAX_RECENT`] alerts (`/api/v1/alerts`), how many older
    /// ones were dropped, and every alert counted by (strategy, rule,
    /// action) for `/metrics`.
    alerts: VecDeque<Arc<AlertRecord>>,
    /// Armed dead-man switches by the operator (token name) who armed them.
    deadman: std::collections::BTreeMap<String, crate::deadman::Deadman>,
    alerts_dropped: u64,
    alert_counts: Arc<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// The newest [`MAX_RECENT`] smart-contract intents
    /// (`/api/v1/chain/intents`) and every final outcome counted by
    /// (strategy, outcome, reason) for `/metrics`.
    chain: crate::ChainIntents,
    /// The hot deploy whose module is compiling off the engine thread.
    deploy: Option<PendingDeploy>,
    /// Set on shutdown: paper mode stops waiting for the next event.
    stop: Option<Arc<AtomicBool>>,
    /// Paper mode: called at each step of the wait (see [`EngineControl::while_waiting`]).
    while_waiting: Option<WaitHook>,
    /// Event time of the run's first market event (set by the first
    /// [`EngineControl::before_event`]).
    run_start_ns: Option<u64>,
    /// Net PnL over event time, one sample per publish, bounded
    /// ([`crate::MAX_PNL_POINTS`]): derived from the published snapshots.
    pnl_history: PnlHistory,
}

/// What a deploy's compile worker hands back: the compiled module and the
/// verified signer, or the refusal.
type Compiled = Result<(StrategyModule, Option<Signer>), CommandError>;

/// A deploy accepted for compilation, waiting for its worker.
struct PendingDeploy {
    strategy: String,
    /// Who asked for it.
    actor: Actor,
    module_bytes: Vec<u8>,
    had_signature: bool,
    reply: crate::Reply,
    result: mpsc::Receiver<Compiled>,
}

/// Paper-mode pacing, pure (no clock): an event `since_first_ns` of event
/// time after the run's first event is due `since_first_ns / pace` of wall
/// time after the run started. Given the wall time `elapsed` since the
/// start, returns how long to wait before the event and how late it is (one
/// of the two is zero). Total over every input: no panic for any elapsed
/// time, event time or pace (a due time past `Duration::MAX`, from a tiny
/// pace or a NaN, saturates to `Duration::MAX`: wait in slices, forever).
pub fn pacing(elapsed: Duration, since_first_ns: u64, pace: f64) -> (Duration, Duration) {
    let due = Duration::try_from_secs_f64(since_first_ns as f64 / 1e9 / pace).unwrap_or(Duration::MAX);
    (due.saturating_sub(elapsed), elapsed.saturating_sub(due))
}

impl EngineControl {
    pub fn new(handle: ControlHandle, runtime: Arc<SandboxRuntime>, pace: Option<f64>, fsync: FsyncPolicy) -> Self {
        let fsync_hist = handle.metrics().journal_fsync();
        EngineControl {
            lag_ns: 0,
            observing: false,
            observed: Vec::new(),
            observed_dropped: 0,
            fsync_ns: Vec::new(),
            fsync_hist,
            decisions: VecDeque::new(),
            faults: VecDeque::new(),
            alerts: VecDeque::new(),
            deadman: Default::default(),
            alerts_dropped: 0,
            alert_counts: Arc::default(),
            chain: crate::ChainIntents::new(MAX_RECENT),
            deploy: None,
            run_start_ns: None,
            pnl_history: PnlHistory::default(),
            handle,
            runtime,
            pace: pace.filter(|p| *p > 0.0),
            wall_start: None,
            last_publish: (0, Instant::now()),
            fsync,
            phase: "running",
            trusted: None,
            stop: None,
            while_waiting: None,
        }
    }

    /// The run requires signed modules (`run.trusted_keys`): a hot deploy
    /// must carry a signature (`X-Bulkhead-Signature`) that verifies against
    /// these keys, or it is refused before anything is journalled.
    pub fn require_signed_modules(&mut self, trusted: Option<TrustedKeys>) {
        self.trusted = trusted;
    }

    /// Stop waiting for the market (paper mode) as soon as `flag` is set: a
    /// shutdown signal must not wait for the next event's due time.
    pub fn stop_waiting_on(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    /// Paper mode: call `f` at each step of the wait for the market, after
    /// the idle fsync check (e.g. to report what became durable meanwhile).
    pub fn while_waiting(&mut self, f: Box<dyn FnMut(&Engine) + Send>) {
        self.while_waiting = Some(f);
    }

    /// Call before each market event with that event's time.
    pub fn before_event(&mut self, engine: &mut Engine, next_ts: u64) {
        self.observe(engine);
        self.drain_commands(engine);
        if self.run_start_ns.is_none() {
            // The PnL chart starts here: the PnL before the first event, at
            // the first event's time.
            self.run_start_ns = Some(next_ts);
            self.publish(engine);
        }
        if let Some(pace) = self.pace {
            let (start, first_ts) = *self.wall_start.get_or_insert((Instant::now(), next_ts));
            let since_first = next_ts.saturating_sub(first_ts);
            loop {
                // One clock read per step: the wait and the lag come from the same instant.
                let (wait, lag) = pacing(start.elapsed(), since_first, pace);
                if wait.is_zero() || self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                    self.lag_ns = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX);
                    break;
                }
                // Stay responsive to operators while waiting for the market.
                std::thread::sleep(wait.min(Duration::from_millis(20)));
                self.drain_commands(engine);
                self.maybe_publish(engine);
                // Group commit's M ms bound while no record is appended.
                engine.tick_durability();
                if let Some(f) = self.while_waiting.as_mut() {
                    f(engine);
                }
            }
        }
        self.maybe_publish(engine);
    }

    /// The run is over: publish the final state and keep answering commands
    /// (they get a conflict) until the caller drops this.
    pub fn finished(&mut self, engine: &mut Engine) {
        self.phase = "finished";
        self.lag_ns = 0;
        // Group commit fsyncs on the journal's syncer thread: make what was
        // journalled durable before the final figures are read.
        engine.make_journal_durable();
        self.observe(engine);
        self.drain_commands(engine);
        engine.tick_durability();
        self.publish(engine);
    }

    /// Take what the engine observed since the last call: keep decisions
    /// and faults in the rings, send fills, rejects, faults and state
    /// changes to the live stream, feed the fsync histogram. Turns the
    /// engine's observer feed on the first time.
    fn observe(&mut self, engine: &mut Engine) {
        if !self.observing {
            engine.enable_observer(OBSERVE_CAP);
            self.observing = true;
        }
        let dropped = engine.drain_observed(&mut self.observed);
        if dropped > 0 {
            self.observed_dropped += dropped;
            tracing::warn!(dropped, "control plane: the engine's observer feed overflowed");
            // The rings miss them and so does every live subscriber: say so
            // on the stream, in order, before what the feed did keep.
            self.handle.emit(LiveEvent::Lagged { dropped });
        }
        engine.drain_fsync_ns(&mut self.fsync_ns);
        for ns in self.fsync_ns.drain(..) {
            self.fsync_hist.observe_ns(ns);
        }
        if self.observed.is_empty() {
            return;
        }
        let stream = self.handle.has_subscribers();
        let mut observed = std::mem::take(&mut self.observed);
        for o in observed.drain(..) {
            self.record(engine, o, stream);
        }
        self.observed = observed;
    }

    /// One observed event into the rings and onto the stream. A journalled
    /// record is read back as the journal's own typed [`Record`]; one that
    /// does not decode (an engine never writes one; a native strategy's
    /// malformed order request could) is skipped, counted with the dropped
    /// and warned about.
    fn record(&mut self, engine: &Engine, o: Observed, stream: bool) {
        match o {
            Observed::Journalled { seq, ts_ns, record, decision_instrument } => match record.record() {
                Ok(rec) => self.journalled(engine, seq, ts_ns, &rec, decision_instrument, stream),
                Err(e) => {
                    self.observed_dropped += 1;
                    tracing::warn!(seq, error = %e, "control plane: an observed record does not decode; skipped");
                }
            },
            Observed::Supervisor { ts_ns, sid, status, reason } => {
                if stream {
                    self.handle.emit(LiveEvent::StateChange {
                        seq: None,
                        ts_ns,
                        scope: Scope::Strategy(strategy_name(engine, sid)),
                        state: TradingState::Quarantined,
                        cause: format!("{status}: {reason}"),
                    });
                }
            }
        }
    }

    /// An `ALERT` record into the alert ring (oldest dropped and counted),
    /// the per-(strategy, rule, action) counts and, live, onto the stream.
    fn push_alert(&mut self, engine: &Engine, seq: u64, ts_ns: u64, rec: &Record<'_>, stream: bool) {
        let Record::Alert { rule, action, sid, other, instrument, window_ns, observed, threshold, orders, text } = *rec
        else {
            return;
        };
        let name = |sid: u32| strategy_name(engine, sid);
        let none = bulkhead_engine::records::NO_ACCOUNT;
        let instruments = engine.instruments();
        let seen_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let a = Arc::new(AlertRecord {
            seq,
            ts_ns,
            seen_unix_ms,
            rule: rule.name(),
            action: action.name(),
            strategy: if sid == none { String::new() } else { name(sid) },
            other_strategy: (other != none).then(|| name(other)),
            instrument: (instrument != none).then(|| {
                instruments.get(instrument as usize).map_or_else(|| format!("#{instrument}"), |i| i.symbol.clone())
            }),
            window_ns,
            observed,
            threshold,
            orders: bulkhead_engine::records::alert_orders(orders)
                .map(|(sid, id)| AlertOrderRef { strategy: name(sid), id })
                .collect(),
            text: String::from_utf8_lossy(text).into_owned(),
        });
        *Arc::make_mut(&mut self.alert_counts).entry((a.strategy.clone(), a.rule, a.action)).or_insert(0) += 1;
        if stream {
            self.handle.emit(LiveEvent::Alert((*a).clone()));
        }
        if self.alerts.len() >= MAX_RECENT {
            self.alerts.pop_front();
            self.alerts_dropped += 1;
        }
        self.alerts.push_back(a);
    }

    /// A journalled record ([`Observed::Journalled`]) as the API shows it:
    /// `ORDER`, `INVALID` and `VENUE` rejects into the decision ring, `FAULT`
    /// into the fault ring, `ALERT` into the alert ring, `CHAIN` into the
    /// intent table, rejects, fills, faults and `STATE` onto the stream.
    fn journalled(
        &mut self,
        engine: &Engine,
        seq: u64,
        ts_ns: u64,
        rec: &Record<'_>,
        decision_instrument: u32,
        stream: bool,
    ) {
        let name = |sid: u32| strategy_name(engine, sid);
        let instruments = engine.instruments();
        let symbol = |i: u32| instruments.get(i as usize).map(|x| x.symbol.clone());
        match *rec {
            Record::Order { .. } => {
                if let Some(d) = decision_of_order(engine, seq, ts_ns, rec, decision_instrument) {
                    let reject = d.kind == DecisionKind::Reject;
                    self.push_decision(d, stream && reject);
                }
            }
            Record::Invalid { sid, error } => {
                let r = Reason::InvalidOrder;
                let rec = DecisionRecord {
                    seq,
                    ts_ns,
                    strategy: name(sid),
                    instrument: None,
                    source: "host",
                    order_id: None,
                    side: None,
                    price: None,
                    qty: None,
                    kind: DecisionKind::Reject,
                    reason: r.name().to_string(),
                    reason_code: r.code(),
                    limit: 0,
                    requested: 0,
                    current: 0,
                    detail: String::new(),
                    message: format!("{}: {}", r.name(), String::from_utf8_lossy(error)),
                };
                self.push_decision(rec, stream);
            }
            Record::Venue { sid, event } if event.kind == EventKind::OrderRejected => {
                self.push_decision(decision_of_venue_reject(engine, seq, ts_ns, sid, &event), stream);
            }
            Record::Venue { sid, event } if stream && event.kind == EventKind::Fill => {
                let instrument = event.instrument;
                let inst = instruments.get(instrument as usize);
                let fmt_q = |l: i64| inst.map_or_else(|| l.to_string(), |i| i.format_qty(l));
                self.handle.emit(LiveEvent::Fill {
                    seq,
                    ts_ns,
                    strategy: name(sid),
                    instrument: symbol(instrument).unwrap_or_default(),
                    order_id: event.id,
                    side: event.side.unwrap_or(Side::Buy).name().into(),
                    price: inst.map_or_else(|| event.price.to_string(), |i| i.format_price(event.price)),
                    qty: fmt_q(event.qty),
                    fee: event.a,
                    maker: event.flags & EVENT_FLAG_MAKER != 0,
                    remaining: fmt_q(event.b),
                });
            }
            Record::Fault { sid, kind, message } => {
                let rec = FaultRecord {
                    seq,
                    ts_ns,
                    strategy: name(sid),
                    kind: String::from_utf8_lossy(kind).into_owned(),
                    message: String::from_utf8_lossy(message).into_owned(),
                };
                if stream {
                    self.handle.emit(LiveEvent::Fault {
                        seq,
                        ts_ns,
                        strategy: rec.strategy.clone(),
                        kind: rec.kind.clone(),
                        message: rec.message.clone(),
                    });
                }
                if self.faults.len() >= MAX_RECENT {
                    self.faults.pop_front();
                }
                self.faults.push_back(Arc::new(rec));
            }
            Record::Alert { .. } => self.push_alert(engine, seq, ts_ns, rec, stream),
            Record::Chain { .. } => self.chain.apply(seq, ts_ns, rec, |sid| strategy_name(engine, sid)),
            Record::State { scope, state, cause } if stream => {
                let scope = match scope {
                    RiskScope::Global => Scope::Global,
                    RiskScope::Strategy(sid) => Scope::Strategy(name(sid)),
                    RiskScope::Instrument(i) => Scope::Instrument(symbol(i).unwrap_or_else(|| format!("#{i}"))),
                };
                self.handle.emit(LiveEvent::StateChange {
                    seq: Some(seq),
                    ts_ns,
                    scope,
                    state: to_state(state),
                    cause: String::from_utf8_lossy(cause).into_owned(),
                });
            }
            // Fills and state changes with no one listening; the engine
            // sends no other kinds (`Observer::wants`).
            _ => {}
        }
    }

    fn push_decision(&mut self, rec: DecisionRecord, emit: bool) {
        if emit {
            self.handle.emit(LiveEvent::Reject {
                seq: rec.seq,
                ts_ns: rec.ts_ns,
                strategy: rec.strategy.clone(),
                instrument: rec.instrument.clone(),
                order_id: rec.order_id,
                source: rec.source,
                reason: rec.reason.clone(),
                reason_code: rec.reason_code,
                message: rec.message.clone(),
            });
        }
        if self.decisions.len() >= MAX_DECISIONS {
            self.decisions.pop_front();
        }
        self.decisions.push_back(Arc::new(rec));
    }

    fn maybe_publish(&mut self, engine: &Engine) {
        let (events, at) = self.last_publish;
        if engine.events().saturating_sub(events) >= PUBLISH_EVERY_EVENTS || at.elapsed() >= PUBLISH_EVERY {
            self.publish(engine);
        }
    }

    /// The armed dead-man switches (`crate::deadman`).
    pub(crate) fn deadman_switches(&mut self) -> &mut std::collections::BTreeMap<String, crate::deadman::Deadman> {
        &mut self.deadman
    }

    /// True while a hot deploy's module is compiling off the engine thread.
    pub fn deploy_compiling(&self) -> bool {
        self.deploy.is_some()
    }

    fn drain_commands(&mut self, engine: &mut Engine) {
        self.finish_deploy(engine);
        self.check_deadman(engine);
        while let Some((cmd, actor, reply)) = self.handle.try_recv() {
            let Some(command) = cmd.to_engine() else {
                if let Command::Deadman(change) = cmd {
                    reply.send(self.deadman_change(change, &actor));
                } else if let Command::Deploy { strategy, module_bytes, signature } = cmd {
                    match self.start_deploy(engine, strategy, module_bytes, signature, actor) {
                        Ok(pending) => self.deploy = Some(pending.with_reply(reply)),
                        Err(e) => reply.send(Err(e)),
                    }
                }
                continue;
            };
            // Validate, journal, apply: the engine's one command path.
            let result = engine.execute(&command, &actor).map(|outcome| answer(&command, &outcome));
            // What the command did (state changes, cancels, a deployed
            // module's faults) is in the rings and the snapshot before the
            // caller hears back.
            self.observe(engine);
            self.publish(engine);
            reply.send(result);
        }
    }

    /// Check a deploy's target on the engine thread (nothing is journalled),
    /// then verify the signature and compile the module on a worker thread.
    fn start_deploy(
        &mut self,
        engine: &Engine,
        name: String,
        module_bytes: Vec<u8>,
        signature: Option<bulkhead_provenance::ModuleSignature>,
        actor: Actor,
    ) -> Result<StartedDeploy, CommandError> {
        let sid = engine.strategy_id(&name).ok_or_else(|| CommandError::not_found("strategy", &name))?;
        if let Some(p) = &self.deploy {
            return Err(CommandError::Conflict(format!(
                "a deploy of `{}` is still compiling; retry once it has been answered",
                p.strategy
            )));
        }
        // A native strategy cannot take a module.
        engine.check_redeploy(sid, None).map_err(CommandError::Conflict)?;
        let (tx, rx) = mpsc::sync_channel(1);
        let (runtime, trusted) = (Arc::clone(&self.runtime), self.trusted.clone());
        let (bytes, label, strategy) = (module_bytes.clone(), format!("{name} (deployed)"), name.clone());
        let had_signature = signature.is_some();
        std::thread::Builder::new()
            .name("bulkhead-deploy".into())
            .spawn(move || {
                let compiled = (|| {
                    let signer = match &trusted {
                        Some(trusted) => Some(
                            bulkhead_provenance::verify_module(&label, &bytes, signature.as_ref(), trusted)
                                .map_err(|e| signature_error(&strategy, e))?,
                        ),
                        None => None,
                    };
                    // Static limits, then a compile under its budget; a module
                    // that breaks the import / export rules is refused too.
                    let module =
                        runtime.load(&label, &bytes).map_err(|e| CommandError::invalid("module", e.to_string()))?;
                    Ok((module, signer))
                })();
                let _ = tx.send(compiled);
            })
            .map_err(|e| CommandError::Internal(format!("could not start the deploy compile worker: {e}")))?;
        Ok(StartedDeploy { strategy: name, actor, module_bytes, had_signature, result: rx })
    }

    /// At an event boundary: if the pending deploy's worker is done, refuse
    /// it or journal and apply it, and answer its caller.
    fn finish_deploy(&mut self, engine: &mut Engine) {
        let Some(p) = &self.deploy else { return };
        let compiled = match p.result.try_recv() {
            Ok(c) => c,
            Err(mpsc::TryRecvError::Empty) => return,
            Err(mpsc::TryRecvError::Disconnected) => {
                Err(CommandError::Internal("the deploy compile worker stopped without an answer".into()))
            }
        };
        let Some(p) = self.deploy.take() else { return };
        let result = compiled.and_then(|(module, signer)| self.apply_deploy(engine, &p, module, signer));
        self.observe(engine);
        self.publish(engine);
        p.reply.send(result);
    }

    /// Hand the compiled module to the engine and execute the deploy:
    /// refused (nothing journalled) if it cannot fit the strategy's limits;
    /// otherwise its bytes are stored, the command journalled and the
    /// strategy swapped.
    fn apply_deploy(
        &mut self,
        engine: &mut Engine,
        p: &PendingDeploy,
        module: StrategyModule,
        signer: Option<Signer>,
    ) -> Result<String, CommandError> {
        let name = &p.strategy;
        let command = EngineCommand::Deploy {
            strategy: name.clone(),
            module: ModuleRef::of(&p.module_bytes),
            // The journalled command names the key the signature was
            // verified against (replay records the same signer).
            signer: signer.as_ref().map(|s| SignerRef { name: s.name.clone(), key: s.public_key }),
        };
        let signed = match &signer {
            Some(s) => format!(", signed by {} ({})", s.name, s.fingerprint),
            None if p.had_signature => ", unsigned: this run has no trusted keys to check the signature".into(),
            None => String::new(),
        };
        engine.provide_module(p.module_bytes.clone(), Some(module));
        let outcome = engine.execute(&command, &p.actor)?;
        Ok(match outcome {
            Outcome::Started { module_blake3, status } => {
                format!(
                    "strategy `{name}` now runs module {}{signed}{}",
                    hex::encode(module_blake3),
                    start_note(&status)
                )
            }
            other => answer(&command, &other),
        })
    }

    /// Build and publish a snapshot of the engine now.
    pub fn publish(&mut self, engine: &Engine) {
        self.last_publish = (engine.events(), Instant::now());
        let mut snap = snapshot(engine, self.phase, self.pace, self.fsync);
        snap.engine.event_lag_ns = self.lag_ns;
        snap.engine.observed_dropped = self.observed_dropped;
        snap.decisions = self.decisions.iter().cloned().collect();
        snap.faults = self.faults.iter().cloned().collect();
        snap.alerts = self.alerts.iter().cloned().collect();
        snap.alerts_dropped = self.alerts_dropped;
        snap.alert_counts = Arc::clone(&self.alert_counts);
        snap.chain_intents = self.chain.rows().cloned().collect();
        snap.chain_intents_dropped = self.chain.dropped();
        snap.chain_counts = self.chain.counts();
        if let Some(start) = self.run_start_ns {
            // Before the first event is processed the engine's clock has not
            // reached the run's start yet: that sample belongs to the start.
            self.pnl_history.sample_snapshot(snap.event_time_ns.max(start), &snap);
            snap.pnl_history = Arc::new(self.pnl_history.clone());
        }
        self.handle.publish(snap);
    }
}

/// A deploy whose worker was started, before its reply slot is attached.
struct StartedDeploy {
    strategy: String,
    actor: Actor,
    module_bytes: Vec<u8>,
    had_signature: bool,
    result: mpsc::Receiver<Compiled>,
}

impl StartedDeploy {
    fn with_reply(self, reply: crate::Reply) -> PendingDeploy {
        let StartedDeploy { strategy, actor, module_bytes, had_signature, result } = self;
        PendingDeploy { strategy, actor, module_bytes, had_signature, reply, result }
    }
}

/// How the fresh instance of a restart or deploy started: nothing to add
/// if it runs; otherwise its start fault and what the supervisor does next
/// (the command itself was accepted and applied).
fn start_note(status: &Status) -> String {
    match status {
        Status::Running => String::new(),
        Status::Backoff { kind, message, restart_at_ns, attempt, .. } => format!(
            "; but the new instance faulted while starting ({kind}: {message}): journalled, open orders cancelled, \
             the supervisor restarts it at ts {restart_at_ns} (attempt {attempt})"
        ),
        Status::Quarantined { kind, message, .. } => format!(
            "; but the new instance faulted while starting ({kind}: {message}): journalled, open orders cancelled, \
             quarantined (its restart policy allows no further restart)"
        ),
    }
}

/// The answer to an executed command, as the API words it.
fn answer(command: &EngineCommand, outcome: &Outcome) -> String {
    match (command, outcome) {
        (
            EngineCommand::Halt(s) | EngineCommand::Reduce(s) | EngineCommand::Resume(s),
            Outcome::State { state, cancelled },
        ) => format!("{s}: {}{}", state.name(), cancel_note(*cancelled)),
        (EngineCommand::MassCancel(s), Outcome::Cancelled(n)) => format!("{s}: {n} open orders cancelled"),
        (EngineCommand::Restart { strategy }, Outcome::Started { status, .. }) => {
            format!("strategy `{strategy}` restarted{}", start_note(status))
        }
        (EngineCommand::SetLimit { strategy, .. }, Outcome::Limit { field, before, after }) => {
            format!("strategy `{strategy}`: {field} {before} -> {after}")
        }
        (c, _) => format!("{} journalled", c.kind()),
    }
}

/// A hot deploy's signature failed verification: no signature is a
/// conflict with the run's rule (409); a signature that does not verify is
/// a bad value of the header that carried it (422).
fn signature_error(strategy: &str, e: ProvenanceError) -> CommandError {
    match e {
        ProvenanceError::Unsigned { .. } => CommandError::Conflict(format!(
            "strategy `{strategy}`: this run only runs signed modules (run.trusted_keys); send the module's \
             signature in the {SIGNATURE_HEADER} header (its .sig file on one line: `tr '\\n' ' ' < MODULE.wasm.sig`)"
        )),
        e => CommandError::invalid(SIGNATURE_HEADER, format!("strategy `{strategy}`: {e} ({})", e.kind())),
    }
}

fn cancel_note(n: usize) -> String {
    if n == 0 { String::new() } else { format!(", {n} open orders cancelled") }
}

/// A strategy's name, or `#sid` for one the engine does not know.
fn strategy_name(engine: &Engine, sid: u32) -> String {
    engine.strategy_name(sid).map_or_else(|| format!("#{sid}"), str::to_string)
}

fn to_state(s: RiskState) -> TradingState {
    match s {
        RiskState::Active => TradingState::Active,
        RiskState::Reducing => TradingState::Reducing,
        RiskState::Halted => TradingState::Halted,
    }
}

/// The engine as the control plane shows it.
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
pub fn snapshot(engine: &Engine, phase: &str, pace: Option<f64>, fsync: FsyncPolicy) -> Snapshot {
    let instruments: &[Instrument] = engine.instruments();
    let mut snap = Snapshot {
        event_time_ns: engine.now_ns(),
        engine: EngineStatus {
            phase: phase.into(),
            events_processed: engine.events(),
            event_lag_ns: 0,
            observed_dropped: 0,
            pace,
        },
        global_state: to_state(engine.trading_state(RiskScope::Global)),
        ..Snapshot::default()
    };
    for inst in instruments {
        snap.instruments.push(InstrumentSnapshot {
            symbol: inst.symbol.clone(),
            state: to_state(engine.trading_state(RiskScope::Instrument(inst.id))),
            reference_price: engine.last_mid(inst.id).map(|p| inst.format_price(p)),
        });
    }
    for sid in 0..engine.strategy_count() as u32 {
        let Some(r) = engine.strategy_report(sid) else { continue };
        let state = match &r.status {
            Status::Running => to_state(engine.trading_state(RiskScope::Strategy(sid))),
            _ => TradingState::Quarantined,
        };
        let pnl = Pnl { realised: r.realised, unrealised: r.unrealised, fees: r.fees };
        snap.pnl.realised += r.realised;
        snap.pnl.unrealised += r.unrealised;
        snap.pnl.fees += r.fees;
        let sb = r.sandbox.clone().unwrap_or_default();
        snap.strategies.push(StrategySnapshot {
            limits: engine.risk().limit_values(sid).into_iter().collect(),
            name: r.name.clone(),
            state,
            alerts: engine.alerts(sid),
            disabled: engine.is_disabled(sid),
            state_cause: r.history.last().map(|c| c.reason.clone()),
            module_hash: r.module_hash.map(hex::encode),
            resources: Resources {
                events: r.stats.events,
                callbacks: r.stats.callbacks,
                fuel_used: r.fuel_used,
                peak_memory_bytes: r.peak_memory_bytes,
                host_calls: sb.host_calls,
                log_bytes: sb.log_bytes,
                callback_p50_ns: sb.wall_p50_ns(),
                callback_p99_ns: sb.wall_p99_ns(),
                faults: r.stats.faults,
            },
            orders: OrderCounts {
                submitted: r.stats.submitted,
                accepted: r.stats.accepted,
                rejected: r
                    .stats
                    .rejected
                    .iter()
                    .map(|(c, n)| (Reason::from_code(*c).map_or_else(|| c.to_string(), |x| x.name().into()), *n))
                    .collect(),
                cancels: r.stats.cancels_requested,
                fills: r.stats.fills,
            },
            pnl,
            callback_latency: LatencyHistogram::from_wall(&sb.wall),
        });
        for (inst_id, lots) in &r.positions {
            let inst = &instruments[*inst_id as usize];
            // This position's own figures (the strategy's totals are in
            // `pnl` above): the venue's position in this instrument.
            let p = engine.position(sid, *inst_id);
            snap.positions.push(PositionSnapshot {
                strategy: r.name.clone(),
                instrument: inst.symbol.clone(),
                lots: *lots,
                qty: inst.format_qty(*lots),
                avg_price: (p.qty != 0).then(|| inst.format_price(p.avg_price_of(inst))),
                pnl: Pnl {
                    realised: p.realised,
                    unrealised: engine.last_mid(*inst_id).map_or(0, |mid| p.unrealised(inst, mid)),
                    fees: p.fees,
                },
            });
        }
        for (id, inst_id, side, price, remaining) in engine.open_orders(sid) {
            let inst = &instruments[inst_id as usize];
            snap.orders.push(OrderSnapshot {
                strategy: r.name.clone(),
                id,
                instrument: inst.symbol.clone(),
                side: side.name().into(),
                price: inst.format_price(price),
                remaining: inst.format_qty(remaining),
                ..OrderSnapshot::default()
            });
        }
    }
    let (records, last_hash) = engine.journal_position();
    let f = engine.journal_fsync_stats();
    let (bytes, segments) = engine.journal_size();
    snap.journal = JournalStatus {
        records,
        bytes,
        segments,
        last_hash: hex::encode(last_hash),
        fsync: fsync.to_string(),
        fsyncs: f.count,
        fsync_total_ns: f.total_ns,
        fsync_max_ns: f.max_ns,
        mirror: engine.cluster_report().map(|c| crate::snapshot::MirrorStatus {
            stream: c.health.target,
            offered: c.health.offered,
            acked: c.health.acked,
            available: c.health.unavailable.is_none(),
            reason: c.health.unavailable,
            refused: c.refused,
        }),
    };
    snap
}

/// A venue's refusal of an order risk had accepted (a `VENUE` record of an
/// `OrderRejected` event) as the decision ring shows it.
fn decision_of_venue_reject(engine: &Engine, seq: u64, ts_ns: u64, sid: u32, event: &Event) -> DecisionRecord {
    let name = |sid: u32| strategy_name(engine, sid);
    let symbol = |i: u32| engine.instruments().get(i as usize).map(|x| x.symbol.clone());
    let (order_id, instrument, reason) = (event.id, event.instrument, event.a as u16);
    let rname = Reason::from_code(reason).map_or_else(|| reason.to_string(), |r| r.name().to_string());
    let sym = symbol(instrument);
    let message = format!("{rname}: the venue rejected order {order_id} ({})", sym.as_deref().unwrap_or("?"));
    DecisionRecord {
        seq,
        ts_ns,
        strategy: name(sid),
        instrument: sym,
        source: "venue",
        order_id: Some(order_id),
        side: None,
        price: None,
        qty: None,
        kind: DecisionKind::Reject,
        reason: rname,
        reason_code: reason,
        limit: 0,
        requested: 0,
        current: 0,
        detail: String::new(),
        message,
    }
}

/// An `ORDER` record (risk's decision on an order) as the decision ring
/// shows it; `None` for a record that is not an `ORDER`.
fn decision_of_order(
    engine: &Engine,
    seq: u64,
    ts_ns: u64,
    rec: &Record<'_>,
    decision_instrument: u32,
) -> Option<DecisionRecord> {
    let Record::Order { sid, id: order_id, order, .. } = *rec else { return None };
    let name = |sid: u32| strategy_name(engine, sid);
    let instruments = engine.instruments();
    let symbol = |i: u32| instruments.get(i as usize).map(|x| x.symbol.clone());
    let d = Observed::decision(rec, decision_instrument)?;
    let inst = instruments.get(order.instrument as usize);
    let (side, qty, price) = match inst {
        Some(i) => (order.side.name().to_string(), i.format_qty(order.qty), i.format_price(order.price)),
        None => (order.side.name().to_string(), format!("{} lots", order.qty), format!("{} ticks", order.price)),
    };
    let sym = symbol(order.instrument);
    let accepted = d.accepted();
    let message = if accepted {
        format!("{}: {side} {qty} {} @ {price}", d.reason.name(), sym.as_deref().unwrap_or("?"))
    } else {
        d.message(instruments)
    };
    Some(DecisionRecord {
        seq,
        ts_ns,
        strategy: name(sid),
        instrument: sym,
        source: "risk",
        order_id: Some(order_id),
        side: Some(side),
        price: Some(price),
        qty: Some(qty),
        kind: if accepted { DecisionKind::Accept } else { DecisionKind::Reject },
        reason: d.reason.name().to_string(),
        reason_code: d.reason.code(),
        limit: d.limit,
        requested: d.requested,
        current: d.current,
        detail: format!("limit={} requested={} current={}", d.limit, d.requested, d.current),
        message,
    })
}

#[cfg(test)]
mod pacing_tests {
    use super::pacing;
    use proptest::prelude::*;
    use std::time::Duration;

    /// The old code read the clock twice (`elapsed < due`, then
    /// `due - elapsed`) and panicked when the second read had passed `due`.
    /// `pacing` reads it once: whatever `elapsed` is, it answers.
    #[test]
    fn the_instant_the_event_falls_due_and_after() {
        let due = Duration::from_millis(1500);
        for (elapsed, wait, lag) in [
            (Duration::ZERO, due, Duration::ZERO),
            (Duration::from_nanos(1_499_999_999), Duration::from_nanos(1), Duration::ZERO),
            (due, Duration::ZERO, Duration::ZERO),
            (Duration::from_nanos(1_500_000_001), Duration::ZERO, Duration::from_nanos(1)),
            (Duration::MAX, Duration::ZERO, Duration::MAX.checked_sub(due).unwrap()),
        ] {
            assert_eq!(pacing(elapsed, 3_000_000_000, 2.0), (wait, lag), "elapsed {elapsed:?}");
        }
    }

    #[test]
    fn absurd_paces_and_times_do_not_panic() {
        for pace in [f64::MIN_POSITIVE, 1e-300, 1e-9, 1.0, 1e300, f64::INFINITY, f64::NAN] {
            for since in [0, 1, u64::MAX] {
                for elapsed in [Duration::ZERO, Duration::from_secs(1), Duration::MAX] {
                    let (wait, lag) = pacing(elapsed, since, pace);
                    assert!(wait.is_zero() || lag.is_zero());
                }
            }
        }
        // A pace so slow the due time is past Duration::MAX: wait (in slices) forever.
        assert_eq!(
            pacing(Duration::from_secs(1), u64::MAX, 1e-300).0,
            Duration::MAX.checked_sub(Duration::from_secs(1)).unwrap()
        );
    }

    proptest! {
        #[test]
        fn wait_and_lag_are_the_two_sides_of_due(
            secs in any::<u64>(), nanos in 0u32..1_000_000_000, since in any::<u64>(), pace in any::<f64>()
        ) {
            let elapsed = Duration::new(secs, nanos);
            let (wait, lag) = pacing(elapsed, since, pace);
            prop_assert!(wait.is_zero() || lag.is_zero());
            if pace.is_finite() && pace > 0.0
                && let Ok(due) = Duration::try_from_secs_f64(since as f64 / 1e9 / pace) {
                    match due.checked_sub(elapsed) {
                        Some(w) => prop_assert_eq!((wait, lag), (w, Duration::ZERO)),
                        None => prop_assert_eq!((wait, lag), (Duration::ZERO, elapsed.checked_sub(due).unwrap())),
                    }
                }
        }
    }
}
