//! The engine side of the control plane: applies operator commands to a
//! running [`Engine`] at event boundaries (journalled first), publishes
//! snapshots, and paces paper runs. Runs on the engine's thread; the HTTP
//! side never touches trading state.

use crate::{
    Command, CommandError, ControlHandle, EngineStatus, InstrumentSnapshot, JournalStatus, LatencyHistogram,
    OrderCounts, OrderSnapshot, Pnl, PositionSnapshot, Resources, SIGNATURE_HEADER, Scope, Snapshot, StrategySnapshot,
    TradingState,
};
use bulkhead_abi::Reason;
use bulkhead_engine::{Engine, Status};
use bulkhead_model::Instrument;
use bulkhead_provenance::{ProvenanceError, TrustedKeys};
use bulkhead_risk::{LimitError, Scope as RiskScope, TradingState as RiskState};
use bulkhead_sandbox::SandboxRuntime;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Publish a snapshot at least every this many events …
const PUBLISH_EVERY_EVENTS: u64 = 10_000;
/// … or this much wall time.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Drives one engine from one [`ControlHandle`].
pub struct EngineControl {
    handle: ControlHandle,
    runtime: Arc<SandboxRuntime>,
    /// Replay speed for paper mode: `Some(1.0)` = real time, `Some(10.0)` =
    /// ten times faster, `None` = as fast as possible.
    pace: Option<f64>,
    wall_start: Option<(Instant, u64)>,
    last_publish: (u64, Instant),
    fsync: String,
    phase: &'static str,
    /// The run only runs signed modules (`run.trusted_keys`): an unsigned
    /// module may not come in through the API either.
    /// `run.trusted_keys`: hot deploys must be signed by one of these.
    trusted: Option<TrustedKeys>,
}

impl EngineControl {
    pub fn new(handle: ControlHandle, runtime: Arc<SandboxRuntime>, pace: Option<f64>, fsync: &str) -> Self {
        EngineControl {
            handle,
            runtime,
            pace: pace.filter(|p| *p > 0.0),
            wall_start: None,
            last_publish: (0, Instant::now()),
            fsync: fsync.to_string(),
            phase: "running",
            trusted: None,
        }
    }

    /// The run requires signed modules (`run.trusted_keys`): a hot deploy
    /// must carry a signature (`X-Bulkhead-Signature`) that verifies against
    /// these keys, or it is refused before anything is journalled.
    pub fn require_signed_modules(&mut self, trusted: Option<TrustedKeys>) {
        self.trusted = trusted;
    }

    /// Call before each market event with that event's time.
    pub fn before_event(&mut self, engine: &mut Engine, next_ts: u64) {
        self.drain_commands(engine);
        if let Some(pace) = self.pace {
            let (start, first_ts) = *self.wall_start.get_or_insert((Instant::now(), next_ts));
            let due = Duration::from_secs_f64(next_ts.saturating_sub(first_ts) as f64 / 1e9 / pace);
            while start.elapsed() < due {
                // Stay responsive to operators while waiting for the market.
                std::thread::sleep((due - start.elapsed()).min(Duration::from_millis(20)));
                self.drain_commands(engine);
                self.maybe_publish(engine);
                // Group commit's M ms bound while no record is appended.
                engine.tick_durability();
            }
        }
        self.maybe_publish(engine);
    }

    /// The run is over: publish the final state and keep answering commands
    /// (they get a conflict) until the caller drops this.
    pub fn finished(&mut self, engine: &mut Engine) {
        self.phase = "finished";
        self.drain_commands(engine);
        engine.tick_durability();
        self.publish(engine);
    }

    fn maybe_publish(&mut self, engine: &Engine) {
        let (events, at) = self.last_publish;
        if engine.events().saturating_sub(events) >= PUBLISH_EVERY_EVENTS || at.elapsed() >= PUBLISH_EVERY {
            self.publish(engine);
        }
    }

    fn drain_commands(&mut self, engine: &mut Engine) {
        let mut any = false;
        while let Some((cmd, actor, reply)) = self.handle.try_recv() {
            any = true;
            let result = self.apply(engine, &cmd, &cmd.journal_line(&actor));
            reply.send(result);
        }
        if any {
            self.publish(engine);
        }
    }

    fn scope(engine: &Engine, scope: &Scope) -> Result<RiskScope, CommandError> {
        match scope {
            Scope::Global => Ok(RiskScope::Global),
            Scope::Strategy(name) => engine
                .strategy_id(name)
                .map(RiskScope::Strategy)
                .ok_or_else(|| CommandError::not_found("strategy", name)),
            Scope::Instrument(sym) => engine
                .instrument_id(sym)
                .map(RiskScope::Instrument)
                .ok_or_else(|| CommandError::not_found("instrument", sym)),
        }
    }

    /// Validate, journal, apply. Nothing is applied if validation fails.
    fn apply(&mut self, engine: &mut Engine, cmd: &Command, line: &str) -> Result<String, CommandError> {
        let journal = |engine: &mut Engine| {
            engine.journal_command(line).map_err(|e| CommandError::Internal(format!("journal: {e}")))
        };
        let strategy = |engine: &Engine, name: &str| {
            engine.strategy_id(name).ok_or_else(|| CommandError::not_found("strategy", name))
        };
        match cmd {
            Command::Halt(s) | Command::Reduce(s) | Command::Resume(s) => {
                let scope = Self::scope(engine, s)?;
                let state = match cmd {
                    Command::Halt(_) => RiskState::Halted,
                    Command::Reduce(_) => RiskState::Reducing,
                    _ => RiskState::Active,
                };
                if let (RiskScope::Strategy(sid), RiskState::Active) = (scope, state)
                    && engine.strategy_report(sid).is_some_and(|r| r.status != Status::Running)
                {
                    return Err(CommandError::Conflict(format!(
                        "strategy `{s}` is quarantined after a fault; restart it instead"
                    )));
                }
                journal(engine)?;
                let cancelled = engine.operator_state(scope, state, line);
                Ok(format!("{s}: {}{}", state_name(state), cancel_note(cancelled)))
            }
            Command::MassCancel(s) => {
                let scope = Self::scope(engine, s)?;
                journal(engine)?;
                let n = engine.mass_cancel(scope, Reason::CancelledByKillSwitch);
                Ok(format!("{s}: {n} open orders cancelled"))
            }
            Command::Restart { strategy: name } => {
                let sid = strategy(engine, name)?;
                journal(engine)?;
                engine.redeploy(sid, None, line).map_err(CommandError::Conflict)?;
                Ok(format!("strategy `{name}` restarted"))
            }
            Command::Deploy { strategy: name, module_bytes, signature } => {
                let sid = strategy(engine, name)?;
                let label = format!("{name} (deployed)");
                let signer = match &self.trusted {
                    Some(trusted) => Some(
                        bulkhead_provenance::verify_module(&label, module_bytes, signature.as_ref(), trusted)
                            .map_err(|e| signature_error(name, e))?,
                    ),
                    None => None,
                };
                let module =
                    self.runtime.load(&label, module_bytes).map_err(|e| CommandError::invalid("module", e.to_string()))?;
                let hash = hex(&module.hash);
                // The journalled command names the key the signature was
                // verified against (replay records the same signer).
                let (line, signed) = match &signer {
                    Some(s) => (
                        format!("{line} signer={} signer_key={}", s.name, hex(&s.public_key)),
                        format!(", signed by {} ({})", s.name, s.fingerprint),
                    ),
                    None if signature.is_some() => {
                        (line.to_string(), ", unsigned: this run has no trusted keys to check the signature".into())
                    }
                    None => (line.to_string(), String::new()),
                };
                // The module's bytes go into the journal directory first (resume and replay load it).
                engine
                    .journal_deploy(&line, module_bytes)
                    .map_err(|e| CommandError::Internal(format!("journal: {e}")))?;
                engine.redeploy(sid, Some((module, signer.map(|s| s.public_key))), &line).map_err(CommandError::Conflict)?;
                Ok(format!("strategy `{name}` now runs module {hash}{signed}"))
            }
            Command::SetLimit { strategy: name, field, value } => {
                let sid = strategy(engine, name)?;
                // Validate the whole change first (as the policy file would be,
                // and against the firm policy); nothing changes if it fails.
                let change = engine.risk().check_limit(sid, field, value).map_err(|e| limit_error(name, e))?;
                let msg = format!("strategy `{name}`: {} {} -> {}", change.field(), change.before(), change.after());
                journal(engine)?;
                engine.apply_limit(change);
                Ok(msg)
            }
            // The server owns the token set; the engine only journals the
            // change (with the admin's name) before the server applies it.
            Command::Tokens(_) => {
                journal(engine)?;
                Ok(format!("{} journalled", cmd.kind()))
            }
        }
    }

    /// Build and publish a snapshot of the engine now.
    pub fn publish(&mut self, engine: &Engine) {
        self.last_publish = (engine.events(), Instant::now());
        self.handle.publish(snapshot(engine, self.phase, self.pace, &self.fsync));
    }
}

/// A refused limit change as the API reports it: an unknown field names
/// `field`; a refused value names `value`, and the message names the policy
/// field and the rule (range, lot, firm cap).
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

fn limit_error(strategy: &str, e: LimitError) -> CommandError {
    match e {
        LimitError::UnknownStrategy(_) => CommandError::not_found("strategy", strategy),
        e @ LimitError::UnknownField { .. } => CommandError::invalid("field", e.to_string()),
        e @ LimitError::Invalid { .. } => CommandError::invalid("value", e.to_string()),
    }
}

fn cancel_note(n: usize) -> String {
    if n == 0 { String::new() } else { format!(", {n} open orders cancelled") }
}

fn state_name(s: RiskState) -> &'static str {
    bulkhead_engine::engine::trading_state_name(s)
}

fn to_state(s: RiskState) -> TradingState {
    match s {
        RiskState::Active => TradingState::Active,
        RiskState::Reducing => TradingState::Reducing,
        RiskState::Halted => TradingState::Halted,
    }
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The engine as the control plane shows it.
pub fn snapshot(engine: &Engine, phase: &str, pace: Option<f64>, fsync: &str) -> Snapshot {
    let instruments: &[Instrument] = engine.instruments();
    let mut snap = Snapshot {
        event_time_ns: engine.now_ns(),
        engine: EngineStatus { phase: phase.into(), events_processed: engine.events(), event_lag_ns: 0, pace },
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
            state_cause: r.history.last().map(|c| c.reason.clone()),
            module_hash: r.module_hash.map(|h| hex(&h)),
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
            snap.positions.push(PositionSnapshot {
                strategy: r.name.clone(),
                instrument: inst.symbol.clone(),
                lots: *lots,
                qty: inst.format_qty(*lots),
                pnl,
                ..PositionSnapshot::default()
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
    snap.journal = JournalStatus {
        records,
        last_hash: hex(&last_hash),
        fsync: fsync.into(),
        fsyncs: f.count,
        fsync_total_ns: f.total_ns,
        fsync_max_ns: f.max_ns,
        ..JournalStatus::default()
    };
    snap
}
