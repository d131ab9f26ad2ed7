//! The core loop: market data → strategies → risk → venue → fills → strategies.
//!
//! This file holds [`Engine`] itself: strategies and their slots, the market
//! event pipeline, delivery to strategies, venue routing, containment and
//! the supervisor, the report. Beside it:
//! - `host`: the host side of a strategy's callback ([`HostApi`] over one
//!   strategy's book, risk, the journal and the venues);
//! - `journal`: the journal sink, the one writer of records (hold / release
//!   around guest calls, durability gate, resume against a prefix, and the
//!   feeding of the observer), and the engine's journal-facing methods;
//! - `observer`: the opt-in observer feed ([`Observed`]): the journalled
//!   records an observer wants, pushed by the journal sink as it writes them;
//! - `commands`: operator commands (validate → journal → apply).

mod chain;
mod commands;
mod host;
mod journal;
mod observer;
mod remote;
pub use remote::{order_owner, venue_order_id};
mod surveil;

pub use chain::{ChainLatency, ChainLink, ChainParams, ChainStats, MAX_LATENCY_SAMPLES, MAX_LIVE_INTENTS};
pub use observer::Observed;

use crate::records::{self, Record};
use crate::venues::Venues;
use bulkhead_abi::{Breach, Event, EventKind, HostApi, MAX_BATCH, Reason, Side};
use bulkhead_data::{DataError, MarketSource};
use bulkhead_journal::{JournalError, JournalReader, JournalSummary, JournalWriter};
use bulkhead_model::{Instrument, Lots, Money, Ticks};
use bulkhead_risk::{Policy, RiskEngine, Scope, TradingState};
use bulkhead_sandbox::{Limits, Sandbox, SandboxRuntime, StrategyModule};
use bulkhead_venue::{FeeSchedule, Level, Quote, VenueConfig, VenueEvent, VenueNotice};
use host::{Action, Book, Budgets, HostCtx};
use journal::JournalSink;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Strategy-visible order ids are scoped: the venue sees
/// `(sid + 1) << ID_BITS | local`, the strategy only `local`.
const ID_BITS: u32 = 40;
const LOCAL_MASK: u64 = (1 << ID_BITS) - 1;
/// Pending timers a strategy may hold.
pub const MAX_TIMERS: usize = 64;
/// Release waits kept for the run report (`ReleaseGate::Durable`).
pub const RELEASE_SAMPLES: usize = 1 << 20;

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
    #[error("journal record: {0}")]
    Record(#[from] records::EncodeError),
    #[error("strategy `{name}`: {message}")]
    Strategy { name: String, message: String },
    #[error(
        "cannot resume: journal record #{seq} is {journalled} but this run produces {now} there (different config, modules or data?)"
    )]
    ResumeDiverged { seq: u64, journalled: String, now: String },
    /// A split run's node lost its gateway (no answer, or a bad one).
    #[error("gateway: {0}")]
    Gateway(String),
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

/// What the supervisor needs to bring a wasm strategy back.
struct RestartState {
    module: StrategyModule,
    limits: Limits,
    config: Vec<u8>,
    policy: RestartPolicy,
    restarts: u32,
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
    /// Its own surveillance table (the firm's defaults fill in the rest).
    surveillance: bulkhead_surveillance::Rules,
    /// Surveillance alerts about it.
    alerts: u64,
    /// Disabled by the repeated-execution throttle: only an operator's
    /// `resume` lifts it (the supervisor's restarts do not).
    disabled: bool,
    /// Hosted by another process of a split run: never called here.
    elsewhere: bool,
}

/// Feed surveillance one venue response routed to strategy `sid` (`ev` as
/// the strategy receives it: scoped id, side filled in).
fn surveil_venue_event(surv: &mut bulkhead_surveillance::Surveillance, now: u64, sid: u32, ev: &Event) {
    match ev.kind {
        EventKind::Fill => surv.on_fill(
            now,
            &bulkhead_surveillance::FillSeen {
                sid,
                id: ev.id,
                instrument: ev.instrument,
                side: ev.side.unwrap_or(Side::Buy),
                price: ev.price,
                qty: ev.qty,
                maker: ev.flags & bulkhead_abi::EVENT_FLAG_MAKER != 0,
                fee: ev.a,
                remaining: ev.b,
            },
        ),
        EventKind::OrderCancelled => {
            let by_strategy = ev.a == i64::from(Reason::CancelledByStrategy.code());
            surv.on_order_closed(now, sid, ev.id, by_strategy);
        }
        EventKind::OrderRejected => surv.on_order_closed(now, sid, ev.id, false),
        _ => {}
    }
}

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

/// What a strategy gets to run with.
pub struct StrategySetup<'a> {
    pub name: &'a str,
    pub policy: Policy,
    pub config: &'a [u8],
    pub kind: StrategyKind<'a>,
    /// ed25519 public key of the module's verified signer (journalled in
    /// `MODULE`); `None` = unsigned or not verified.
    pub signer: Option<[u8; 32]>,
    /// The `[surveillance]` table of its policy file (none = the firm's defaults only).
    pub surveillance: bulkhead_surveillance::Rules,
}

pub enum StrategyKind<'a> {
    Wasm {
        runtime: &'a SandboxRuntime,
        module: &'a StrategyModule,
        limits: &'a Limits,
    },
    Native(Box<dyn NativeStrategy>),
    /// Hosted by another process of a split run ([`crate::remote`]): its id,
    /// policy and module hash are this run's, it never runs here.
    Elsewhere {
        module_hash: [u8; 32],
    },
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
    /// `ReleaseGate::Durable`: actions decided during the current market
    /// event, released together at its end once durable.
    gate_durable: bool,
    /// Each with the time its callback returned.
    queued: Vec<(Action, std::time::Instant)>,
    /// How long released actions waited (ns; at most [`RELEASE_SAMPLES`]).
    release_wait_ns: Vec<u64>,
    /// A hot-deployed module waiting for its `Deploy` command
    /// ([`Engine::provide_module`]).
    provided: Option<commands::ProvidedModule>,
    /// Surveillance rules (off unless a policy sets one: no cost then).
    surv: bulkhead_surveillance::Surveillance,
    /// Scratch for an alert's evidence bytes.
    alert_buf: Vec<u8>,
    /// Smart-contract intents: policies, accounts, the link to the node.
    chain: chain::ChainHub,
    /// Journal mirror figures ([`Engine::set_replicator`]).
    cluster: crate::replica::ClusterReport,
    /// A split run's node or gateway side ([`crate::remote`]).
    split: remote::Split,
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
        journal.record(&Record::RunStart { text: run_info.as_bytes() });
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
            gate_durable: false,
            queued: Vec::new(),
            release_wait_ns: Vec::new(),
            provided: None,
            surv: bulkhead_surveillance::Surveillance::disabled(),
            alert_buf: Vec::new(),
            chain: chain::ChainHub::default(),
            cluster: crate::replica::ClusterReport::default(),
            split: remote::Split::default(),
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
            StrategyKind::Native(_) | StrategyKind::Elsewhere { .. } => Limits::default(),
        };
        let elsewhere = matches!(setup.kind, StrategyKind::Elsewhere { .. });
        let mut book = Book {
            sid,
            next_local: 1,
            open: BTreeMap::new(),
            timers: Vec::new(),
            inbox: Vec::new(),
            stats: StrategyStats::default(),
            budgets: Budgets::new(&budget_limits, self.now),
            breach: None,
            last_call_ns: self.now,
        };
        // Before `init`: a strategy may place orders there.
        self.surv.add_strategy(sid, &setup.surveillance);
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
            StrategyKind::Elsewhere { module_hash } => (Some(*module_hash), None),
        };
        let signer = setup.signer.unwrap_or([0; 32]);
        let module = module_hash.unwrap_or([0; 32]);
        self.journal.record(&Record::Module { sid, module, signer, name: setup.name.as_bytes() });
        let mut ctx = HostCtx {
            stp: &mut self.stp,
            book: &mut book,
            risk: &mut self.risk,
            journal: &mut self.journal,
            actions: &mut self.actions,
            venue: &self.venue,
            now: self.now,
            surv: &mut self.surv,
            chain: &mut self.chain,
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
            StrategyKind::Elsewhere { .. } => (Runner::None, None),
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
            surveillance: setup.surveillance,
            alerts: 0,
            disabled: false,
            elsewhere,
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
                self.poll_chain();
                control(self, ev.ts_ns);
            }
            self.on_market(ev)?;
            if self.events & 0x3fff == 0 {
                progress(self.events);
            }
        }
        // What the node finishes for the last event's intents.
        if !self.journal.resuming() {
            self.poll_chain();
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

    /// The sandbox runtime attached with [`Engine::set_runtime`] (load a
    /// hot-deployed module with it).
    pub fn sandbox_runtime(&self) -> Option<Arc<SandboxRuntime>> {
        self.runtime.clone()
    }

    /// Cancel a strategy's open orders at the venue for a cause journalled
    /// just before (risk outcome, fault, kill switch, end of run): the
    /// deciding records are made durable first (the durability gate).
    fn cancel_account_gated(&mut self, sid: u32, instrument: Option<u32>, reason: Reason) -> usize {
        if self.split.is_node() && self.slots.get(sid as usize).is_some_and(|s| s.elsewhere) {
            // Another node's strategy: nothing of it is here, and the
            // gateway takes no action of it from this node.
            return 0;
        }
        self.drop_queued(sid, instrument, reason);
        if self.gate_durable && !self.journal.make_durable() {
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

    /// Feed one market event through the whole pipeline.
    pub fn on_market(&mut self, ev: Event) -> Result<(), EngineError> {
        if self.split.is_node() {
            self.exchange_step(false)?;
        }
        self.events += 1;
        self.now = ev.ts_ns;
        self.journal.ts = ev.ts_ns;
        self.journal.record(&Record::Market(ev));
        let inst = ev.instrument;
        if (inst as usize) < self.instruments.len() {
            match ev.kind {
                EventKind::Quote => {
                    self.risk.on_quote_at(inst, ev.ts_ns, Ticks::new(ev.price), Ticks::new(ev.a));
                    if self.surv.enabled() {
                        self.surv.on_quote(inst, ev.price, ev.a);
                    }
                    self.last_mid[inst as usize] = Some((ev.price + ev.a) / 2);
                    let q = Quote::new(Ticks::new(ev.price), Lots::new(ev.qty), Ticks::new(ev.a), Lots::new(ev.b));
                    self.venue.on_quote(ev.ts_ns, inst, q, &mut self.venue_out);
                }
                EventKind::Trade => {
                    self.risk.on_trade_at(inst, ev.ts_ns, Ticks::new(ev.price));
                    if self.surv.enabled() {
                        self.surv.on_trade(inst, ev.price);
                    }
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
            // R14 frozen times end on event time (journalled by the route's apply_risk_outcomes).
            self.risk.on_time(ev.ts_ns);
            if self.split.is_node() {
                // The gateway's venue reacted to this event (its answer to the step).
                self.venue_out.clear();
                self.take_market_answer();
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
            if self.slots[i].status != Status::Running || self.slots[i].elsewhere {
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
        if !self.queued.is_empty() {
            self.release_queued();
        }
        if self.chain.active() {
            self.chain.flush();
        }
        if self.surv.enabled() {
            self.check_liveness();
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
                now: self.now,
                surv: &mut self.surv,
                chain: &mut self.chain,
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
            if self.gate_durable {
                self.queue_actions();
            } else {
                self.process_actions();
            }
            self.apply_alerts();
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
        if self.gate_durable && !self.journal.make_durable() {
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
                    let owner = (split_id(gid).0, inst);
                    self.venue.cancel(self.now, owner, gid, Reason::CancelledByStrategy, &mut self.venue_out);
                }
                Action::CancelFor(gid, inst, reason) => {
                    self.venue.cancel(self.now, (split_id(gid).0, inst), gid, reason, &mut self.venue_out);
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
            if self.split.gateway {
                self.split.out.push(crate::remote::RemoteEvent { ts_ns: self.now, event: ve });
            } else if self.venue.is_remote() {
                self.venue.apply_remote(&ve);
            }
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
            if self.surv.enabled() {
                surveil_venue_event(&mut self.surv, self.now, sid, &ev);
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
            self.journal.record(&Record::Venue { sid, event: ev });
            if slot.status == Status::Running && !slot.elsewhere {
                book.push_inbox(ev);
            }
        }
        self.journal_notices();
        self.apply_risk_outcomes();
        self.apply_alerts();
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
                push_history(&mut slot.history, StateChange { at_ns: self.now, state: t.to.name(), reason: text });
            }
        }
        let actions: Vec<bulkhead_risk::RiskAction> = self.risk.take_actions().collect();
        for a in actions {
            let bulkhead_risk::RiskAction::CancelAll { strategy, reason } = a;
            self.cancel_account_gated(strategy, None, reason);
        }
    }

    /// Contain a fault: journal it, halt the strategy in risk, drop what its
    /// faulting callback asked for, cancel its open orders at the venue.
    fn quarantine(&mut self, sid: u32, kind: &str, message: String) {
        self.journal.record(&Record::Fault { sid, kind: kind.as_bytes(), message: message.as_bytes() });
        tracing::warn!(strategy = %self.slots[sid as usize].name, kind, %message, "strategy quarantined");
        // Orders decided inside the faulting callback, or earlier in this
        // event and still waiting for the durable gate, never reach the venue.
        self.drop_queued(sid, None, Reason::CancelledOnFault);
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
        if self.journal.observer.on
            && let Some(last) = slot.history.last()
        {
            let (status, reason) = (slot.status.name(), last.reason.clone());
            self.journal.observer.push(Observed::Supervisor { ts_ns: now, sid, status, reason });
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
        if self.slots[i].disabled {
            // Disabled by the throttle: the new instance runs, halted, until an operator resumes it.
        } else {
            self.set_state(
                Scope::Strategy(sid),
                TradingState::Active,
                &format!("supervisor: restart {attempt} of {max}"),
            );
        }
        let slot = &mut self.slots[i];
        let mut ctx = HostCtx {
            stp: &mut self.stp,
            book: &mut slot.book,
            risk: &mut self.risk,
            journal: &mut self.journal,
            actions: &mut self.actions,
            venue: &self.venue,
            now: self.now,
            surv: &mut self.surv,
            chain: &mut self.chain,
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

    /// Cancel what is still open, close the journal, and report.
    /// The end of the run before its report: commands journalled after the
    /// last event, orders in flight, configured settlements, every open
    /// order cancelled. A node of a split run has the gateway do it (its
    /// last exchange brings the gateway's end of run); a gateway calls it
    /// itself to hand the nodes their share before [`Engine::finish`].
    pub fn wind_down(&mut self) -> Result<(), EngineError> {
        if self.split.wound_down {
            return Ok(());
        }
        self.split.wound_down = true;
        // Resuming: commands journalled after the last event come first.
        self.reapply_journalled_commands()?;
        if self.split.is_node() {
            return self.exchange_step(true);
        }
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
        Ok(())
    }

    pub fn finish(mut self) -> Result<RunReport, EngineError> {
        self.wind_down()?;
        let strategies: Vec<StrategyReport> = (0..self.slots.len()).map(|i| self.report(i)).collect();
        let summary = format!(
            "events={} strategies={} orders={} fills={}",
            self.events,
            strategies.len(),
            strategies.iter().map(|s| s.stats.submitted).sum::<u64>(),
            strategies.iter().map(|s| s.stats.fills).sum::<u64>()
        );
        self.journal.record(&Record::RunEnd { text: summary.as_bytes() });
        self.journal.check()?;
        self.journal.check_prefix_consumed()?;
        let chain = self.chain.active().then(|| ChainReport {
            stats: self.chain.stats.clone(),
            unavailable: self.chain_unavailable().map(str::to_string),
        });
        let fsyncs = self.journal.w.fsync_stats();
        let cluster = self.cluster_report();
        let journal = self.journal.w.finish()?;
        let mut release_waits_ns = std::mem::take(&mut self.release_wait_ns);
        release_waits_ns.sort_unstable();
        Ok(RunReport {
            events: self.events,
            strategies,
            journal,
            instruments: self.instruments,
            fsyncs,
            release_waits_ns,
            chain,
            cluster,
        })
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
    /// The journal's fsyncs over the run (wall clock; informational).
    pub fsyncs: bulkhead_journal::FsyncStats,
    /// `release_gate = "durable"`: how long released actions waited for the
    /// gate (ns), sorted; empty otherwise.
    pub release_waits_ns: Vec<u64>,
    /// Smart-contract intents, when the run has a `[chain]`.
    pub chain: Option<ChainReport>,
    /// The journal mirror, when the run has one (`--cluster`).
    pub cluster: Option<crate::replica::ClusterReport>,
}

/// What became of the run's smart-contract intents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub stats: ChainStats,
    /// Why the node could not be reached at the start, if it could not.
    pub unavailable: Option<String>,
}

impl RunReport {
    /// The `q`-quantile (0..=1) of the release waits, if any (nearest rank).
    pub fn release_wait_quantile(&self, q: f64) -> Option<u64> {
        let n = self.release_waits_ns.len();
        let last = n.checked_sub(1)?;
        // In range: q is clamped to 0..=1 and the product to the last index.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to 0..=last")]
        let i = ((q.clamp(0.0, 1.0) * last as f64).round() as usize).min(last);
        self.release_waits_ns.get(i).copied()
    }
}
