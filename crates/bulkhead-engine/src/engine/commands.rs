//! Carrying out operator commands: [`Engine::execute`], the one path by
//! which the live control plane, `run --resume` and `journal replay` change
//! a running engine on an operator's behalf.
//!
//! Every command goes **validate → journal → apply**:
//! 1. validate everything that can be known without changing anything (the
//!    named strategy / instrument exists, the state allows it, a limit value
//!    passes the policy and firm checks, a deployed module loads and fits
//!    the strategy's limits); a refusal journals nothing and changes nothing;
//! 2. journal the `COMMAND` record (the command's text form, see
//!    [`crate::command`]) and make it durable (a deploy stores its module's
//!    bytes beside the segments first);
//! 3. apply it.
//!
//! The effects (`operator_state`, `mass_cancel`, `apply_limit`, `redeploy`)
//! and the journalling are private to this module: nothing else can change
//! trading state for an operator without the record in front of it.
//!
//! Resume and replay parse each journalled `COMMAND` record back into a
//! [`Journalled`](crate::command::Journalled) command and execute it at the
//! event boundary where it was journalled; because the text form
//! round-trips, the record written again is byte-identical.

use bulkhead_abi::Reason;
use bulkhead_risk::{LimitError, Scope as RiskScope, TradingState};
use bulkhead_sandbox::StrategyModule;

use super::{Engine, EngineError, StateChange, Status, push_history};
use crate::command::{Actor, Command, CommandError, ModuleRef, Outcome, Scope, record_line};
use crate::records::Record;

/// A hot-deployed module handed to [`Engine::provide_module`], waiting for
/// the `Deploy` command that names it.
pub(super) struct ProvidedModule {
    bytes: Vec<u8>,
    blake3: [u8; 32],
    compiled: Option<StrategyModule>,
}

fn journal_error(e: EngineError) -> CommandError {
    CommandError::Internal(format!("journal: {e}"))
}

impl Engine {
    /// Execute one operator command sent by `actor`: validate it, journal
    /// it (`COMMAND`), then apply it (see the module header). `Err` is a
    /// refusal (nothing journalled, nothing changed) unless it is
    /// [`CommandError::Internal`] or a deploy / restart whose swap failed
    /// after the record (cannot happen once validated; reported as
    /// [`CommandError::Conflict`]).
    ///
    /// A `Deploy`'s module bytes come from [`Engine::provide_module`] (the
    /// control plane, with the module already compiled off the engine
    /// thread; replay, from its modules directory) or else from this
    /// engine's journal directory (`blobs/<blake3>`, how resume finds them),
    /// and are compiled here if they were not.
    pub fn execute(&mut self, command: &Command, actor: &Actor) -> Result<Outcome, CommandError> {
        let line = record_line(command, actor);
        match command {
            Command::Halt(s) | Command::Reduce(s) | Command::Resume(s) => {
                let scope = self.resolve(s)?;
                let state = match command {
                    Command::Halt(_) => TradingState::Halted,
                    Command::Reduce(_) => TradingState::Reducing,
                    _ => TradingState::Active,
                };
                if let (RiskScope::Strategy(sid), TradingState::Active) = (scope, state)
                    && self.slots.get(sid as usize).is_some_and(|slot| slot.status != Status::Running)
                {
                    return Err(CommandError::Conflict(format!(
                        "strategy `{s}` is quarantined after a fault; restart it instead"
                    )));
                }
                self.journal_command(&line).map_err(journal_error)?;
                let cancelled = self.operator_state(scope, state, &line);
                Ok(Outcome::State { state, cancelled })
            }
            Command::MassCancel(s) => {
                let scope = self.resolve(s)?;
                self.journal_command(&line).map_err(journal_error)?;
                Ok(Outcome::Cancelled(self.mass_cancel(scope, Reason::CancelledByKillSwitch)))
            }
            Command::Restart { strategy } => {
                let sid = self.strategy(strategy)?;
                self.check_redeploy(sid, None).map_err(CommandError::Conflict)?;
                self.journal_command(&line).map_err(journal_error)?;
                let status = self.redeploy(sid, None, &line).map_err(CommandError::Conflict)?;
                let module_blake3 = self.slots[sid as usize].module_hash.unwrap_or_default();
                Ok(Outcome::Started { module_blake3, status })
            }
            Command::Deploy { strategy, module, signer } => {
                let sid = self.strategy(strategy)?;
                // A native strategy cannot take a module (nor can an engine without a runtime).
                self.check_redeploy(sid, None).map_err(CommandError::Conflict)?;
                let (bytes, compiled) = self.deployed_module(strategy, module)?;
                self.check_redeploy(sid, Some(&compiled)).map_err(|e| CommandError::invalid("module", e))?;
                // The module's bytes go into the journal directory first (resume and replay load it).
                self.journal_deploy(&line, &bytes).map_err(journal_error)?;
                let status = self
                    .redeploy(sid, Some((compiled, signer.as_ref().map(|s| s.key))), &line)
                    .map_err(CommandError::Conflict)?;
                Ok(Outcome::Started { module_blake3: module.blake3, status })
            }
            Command::SetLimit { strategy, field, value } => {
                let sid = self.strategy(strategy)?;
                // Validate the whole change first (as the policy file would be,
                // and against the firm policy); nothing changes if it fails.
                let change = self.risk.check_limit(sid, field, value).map_err(|e| match e {
                    LimitError::UnknownStrategy(_) => CommandError::not_found("strategy", strategy),
                    e @ LimitError::UnknownField { .. } => CommandError::invalid("field", e.to_string()),
                    e @ LimitError::Invalid { .. } => CommandError::invalid("value", e.to_string()),
                })?;
                let outcome = Outcome::Limit {
                    field: change.field().to_string(),
                    before: change.before().to_string(),
                    after: change.after().to_string(),
                };
                self.journal_command(&line).map_err(journal_error)?;
                self.apply_limit(change);
                Ok(outcome)
            }
            Command::CancelOnDisconnect { scope: s, session, halt } => {
                let scope = self.resolve(s)?;
                self.journal_command(&line).map_err(journal_error)?;
                let cancelled = self.disconnected(scope, session, *halt, &line);
                Ok(Outcome::Cancelled(cancelled))
            }
            // API token changes touch no trading state: the control plane
            // applies them once the record is journalled.
            Command::Tokens(_) => {
                self.journal_command(&line).map_err(journal_error)?;
                Ok(Outcome::Journalled)
            }
        }
    }

    /// Hand over the bytes of a module a `Deploy` command will name (by
    /// blake3), and the module compiled from them if that was done already
    /// (the control plane compiles off the engine thread). Changes nothing
    /// until [`Engine::execute`] runs that deploy; a later call replaces it.
    pub fn provide_module(&mut self, bytes: Vec<u8>, compiled: Option<StrategyModule>) {
        let blake3 = *blake3::hash(&bytes).as_bytes();
        self.provided = Some(ProvidedModule { bytes, blake3, compiled });
    }

    /// A deploy's module: bytes and compiled module, checked against what
    /// the command names.
    fn deployed_module(&mut self, strategy: &str, m: &ModuleRef) -> Result<(Vec<u8>, StrategyModule), CommandError> {
        let (bytes, compiled) = match self.provided.take() {
            Some(p) if p.blake3 == m.blake3 => (p.bytes, p.compiled),
            other => {
                self.provided = other;
                let bytes = bulkhead_journal::read_blob(self.journal.w.dir(), &m.blake3)
                    .ok()
                    .flatten()
                    .filter(|b| blake3::hash(b).as_bytes() == &m.blake3)
                    .ok_or_else(|| {
                        CommandError::invalid(
                            "module_blake3",
                            format!(
                                "no module with blake3 {} (not provided, not in the journal's blobs)",
                                hex::encode(m.blake3)
                            ),
                        )
                    })?;
                (bytes, None)
            }
        };
        if bytes.len() as u64 != m.len {
            return Err(CommandError::invalid(
                "module_len",
                format!("the module with blake3 {} is {} bytes, not {}", hex::encode(m.blake3), bytes.len(), m.len),
            ));
        }
        let compiled = match compiled {
            Some(c) if c.hash == m.blake3 => c,
            Some(c) => {
                return Err(CommandError::Internal(format!(
                    "the compiled module has blake3 {}, its bytes {}",
                    hex::encode(c.hash),
                    hex::encode(m.blake3)
                )));
            }
            None => {
                let runtime = self
                    .runtime
                    .clone()
                    .ok_or_else(|| CommandError::Conflict("no sandbox runtime attached to this engine".into()))?;
                runtime
                    .load(&format!("{strategy} (deployed)"), &bytes)
                    .map_err(|e| CommandError::invalid("module", format!("module {}: {e}", hex::encode(m.blake3))))?
            }
        };
        Ok((bytes, compiled))
    }

    fn strategy(&self, name: &str) -> Result<u32, CommandError> {
        self.strategy_id(name).ok_or_else(|| CommandError::not_found("strategy", name))
    }

    /// A command's scope (by name) as risk's scope (by id).
    fn resolve(&self, scope: &Scope) -> Result<RiskScope, CommandError> {
        match scope {
            Scope::Global => Ok(RiskScope::Global),
            Scope::Strategy(name) => self.strategy(name).map(RiskScope::Strategy),
            Scope::Instrument(sym) => self
                .instrument_id(sym)
                .map(RiskScope::Instrument)
                .ok_or_else(|| CommandError::not_found("instrument", sym)),
        }
    }

    /// Journal an operator command (before it takes effect) and make it durable.
    fn journal_command(&mut self, line: &str) -> Result<(), EngineError> {
        self.journal.record(&Record::Command { text: line.as_bytes() });
        self.journal.make_durable();
        self.journal.check()
    }

    /// Journal a hot-deploy command (as `journal_command`) after storing
    /// the module's bytes in the journal directory, content-addressed by
    /// blake3 (`blobs/<hex>`, durable first), so resume and replay can load
    /// the module the command names (`module_blake3=`).
    fn journal_deploy(&mut self, line: &str, module_bytes: &[u8]) -> Result<(), EngineError> {
        self.journal.check()?;
        self.journal.w.store_blob(module_bytes)?;
        self.journal_command(line)
    }

    /// Put a limit change from `RiskEngine::check_limit` into force, then
    /// journal and carry out any state change it causes at once (a
    /// tightened R8 loss limit).
    fn apply_limit(&mut self, change: bulkhead_risk::LimitChange) {
        self.risk.apply_limit(change);
        self.apply_risk_outcomes();
    }

    /// Cancel every open order in `scope` at the venue (kill switch / mass cancel).
    fn mass_cancel(&mut self, scope: RiskScope, reason: Reason) -> usize {
        let mut n = 0;
        for sid in 0..self.slots.len() as u32 {
            let inst = match scope {
                RiskScope::Strategy(s) if s != sid => continue,
                RiskScope::Instrument(i) => Some(i),
                _ => None,
            };
            n += self.cancel_account_gated(sid, inst, reason);
        }
        n
    }

    /// A dead-man switch lost its heartbeat: journal the `ALERT`, cancel the
    /// scope's orders, and halt it if the switch asked for that.
    fn disconnected(&mut self, scope: RiskScope, session: &str, halt: bool, cause: &str) -> usize {
        use bulkhead_surveillance::{AlertAction, Rule};
        let sid = match scope {
            RiskScope::Strategy(s) => s,
            _ => crate::records::NO_ACCOUNT,
        };
        let instrument = match scope {
            RiskScope::Instrument(i) => i,
            _ => crate::records::NO_ACCOUNT,
        };
        let what = if halt { "orders cancelled and the scope halted" } else { "orders cancelled" };
        let text = format!("dead-man switch `{session}` lost its heartbeat: {what}");
        self.journal.record(&Record::Alert {
            rule: Rule::CancelOnDisconnect,
            action: if halt { AlertAction::Halt } else { AlertAction::Alert },
            sid,
            other: crate::records::NO_ACCOUNT,
            instrument,
            window_ns: 0,
            observed: 0,
            threshold: 0,
            orders: &[],
            text: text.as_bytes(),
        });
        let n = self.mass_cancel(scope, Reason::CancelledOnDisconnect);
        if halt {
            self.operator_state(scope, TradingState::Halted, cause);
        }
        n
    }

    /// Operator kill switch / state change: set the trading state of `scope`
    /// (journalled with `cause`) and, when halting, cancel its open orders.
    fn operator_state(&mut self, scope: RiskScope, state: TradingState, cause: &str) -> usize {
        self.set_state(scope, state, cause);
        if let RiskScope::Strategy(sid) = scope
            && let Some(slot) = self.slots.get_mut(sid as usize)
        {
            // A named operator's resume is what re-enables a strategy the
            // repeated-execution throttle disabled (RTS 6 Art. 15).
            if state == TradingState::Active {
                slot.disabled = false;
            }
            push_history(&mut slot.history, StateChange { at_ns: self.now, state: state.name(), reason: cause.into() });
        }
        if state == TradingState::Halted { self.mass_cancel(scope, Reason::CancelledByKillSwitch) } else { 0 }
    }

    /// Check, changing nothing, that a deploy of `sid` — with `module`, or
    /// its current module for a restart — can be carried out: a runtime is
    /// attached, the strategy runs wasm (a native strategy cannot be
    /// restarted or redeployed), and the module fits the strategy's limits
    /// and the runtime's pool (initial memory and tables, stack, pool slot:
    /// everything decided without running guest code). [`Engine::execute`]
    /// calls this before it journals a deploy or restart; the control plane
    /// also calls it before it starts compiling a deploy.
    pub fn check_redeploy(&self, sid: u32, module: Option<&StrategyModule>) -> Result<(), String> {
        let Some(runtime) = self.runtime.as_ref() else {
            return Err("no sandbox runtime attached to this engine".into());
        };
        let Some(slot) = self.slots.get(sid as usize) else {
            return Err(format!("no strategy #{sid}"));
        };
        let Some(r) = slot.restart.as_ref() else {
            return Err(format!(
                "strategy `{}` is a native strategy: only wasm strategies can be restarted or redeployed",
                slot.name
            ));
        };
        let m = module.unwrap_or(&r.module);
        runtime.check_fits(m, &r.limits).map_err(|f| {
            format!("module `{}` cannot run under strategy `{}`'s limits: {f} ({})", m.name, slot.name, f.kind())
        })
    }

    /// Replace a strategy's module (hot deploy) or restart it with the same
    /// one: its open orders are cancelled, a fresh instance starts with its
    /// config, nothing else is touched. A deployed module's `signer` is the
    /// ed25519 key its signature was verified against (journalled in the
    /// `MODULE` record; `None` = unsigned); a restart keeps the current one.
    ///
    /// `Err` only for what [`Engine::check_redeploy`] refuses, before
    /// anything changes. Once accepted, the swap is done and journalled
    /// (`MODULE`) and the fresh instance runs its `start` function, ABI
    /// check and `init` like any start; if that faults, the fault is a
    /// normal journalled fault (`FAULT`, strategy HALTED, cancel-on-fault)
    /// and the supervisor applies the strategy's restart policy to the new
    /// module. The returned status tells which: `Running`, `Backoff` or
    /// `Quarantined` (with the fault's kind and message).
    fn redeploy(
        &mut self,
        sid: u32,
        module: Option<(StrategyModule, Option<[u8; 32]>)>,
        cause: &str,
    ) -> Result<Status, String> {
        self.check_redeploy(sid, module.as_ref().map(|(m, _)| m))?;
        let i = sid as usize;
        if let Some((m, signer)) = module
            && let Some(r) = self.slots[i].restart.as_mut()
        {
            r.module = m;
            self.slots[i].module_hash = Some(r.module.hash);
            self.slots[i].signer = signer.unwrap_or([0; 32]);
        }
        self.mass_cancel(RiskScope::Strategy(sid), Reason::CancelledByKillSwitch);
        let hash = self.slots[i].module_hash.unwrap_or([0; 32]);
        let slot = &self.slots[i];
        let rec = Record::Module { sid, module: hash, signer: slot.signer, name: slot.name.as_bytes() };
        self.journal.record(&rec);
        self.slots[i].status = Status::Backoff {
            kind: "operator".into(),
            message: cause.into(),
            at_ns: self.now,
            restart_at_ns: self.now,
            attempt: 0,
        };
        self.restart(sid);
        if let Some(r) = self.slots[i].restart.as_mut() {
            // an operator restart does not spend the fault budget
            r.restarts = r.restarts.saturating_sub(1);
        }
        Ok(self.slots[i].status.clone())
    }
}
