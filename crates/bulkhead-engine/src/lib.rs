//! # bulkhead-engine — the core loop and the run it drives
//!
//! Owns: the event loop (market data → strategies → risk → venue → fills →
//! strategies), strategy-scoped order ids, timers, cancel-on-fault
//! quarantine, the meaning of journal records ([`records`]: one typed
//! `Record` per kind, encoded and decoded in one place), the run config
//! ([`config`]) and the final report ([`report`]).
//!
//! Must never: let an order reach the venue without a risk decision, or let
//! anything take effect before the record that decides it is appended to the
//! journal; read the wall clock or iterate a hash map in a way that decides
//! anything (same inputs → byte-identical journal).
//!
//! ## Market data (`open_source`)
//! Every source yields ABI events, each journalled as `MARKET` (so replay and
//! resume feed exactly the same stream). L2 files (`tardis_incremental_book_l2`,
//! `tardis_book_snapshot25`) yield each book change as `BookLevel` /
//! `BookClear` followed by the message's top of book as `Quote`: the venue
//! applies levels as depth (queue positions behind displayed size, see
//! `bulkhead-venue`) and the quote as top of book. Strategies get the quotes;
//! levels too only with `[data] strategy_book_levels = true` (default off).
//! `tardis_derivative_ticker` yields `Ticker` events: funding rate and index
//! always go to the venue, the data's mark only if the venue's `mark =
//! "external"`; strategies do not receive them. A venue with `mark =
//! "index_plus_basis"` or `"external"` and no ticker source is refused at
//! load (`venue.mark`). Risk's R3 `collar_reference = "mark"` is the venue's
//! mark at the moment of the check (the mid while there is none).
//! `format = "parquet"` reads a catalogue written by [`import_catalogue`]
//! (`bulkhead data import`): the very events the source formats yield,
//! stored normalised, so a run over an import journals exactly what the run
//! over its source data journals (only `CONFIG` / `RUN_START`, which carry
//! the config text, differ).
//! `[[settlements]]` gives dated instruments their settlement price; a run
//! whose data ends before such an expiry runs the venue clock on to it in
//! `finish` (funding and other expiries due on the way happen too).
//!
//! ## Ordering within one market event (deterministic)
//! 1. journal `MARKET`; update risk reference prices; the venue matches resting
//!    orders against the event (fill model in `bulkhead-venue`); responses are
//!    journalled and queued to their owners;
//! 2. for each running strategy in config order: due timers are queued; the
//!    strategy receives its queued events then the market event (an event
//!    not delivered to strategies — a ticker, or a level by default — still
//!    flushes what is queued for them) (batches of at
//!    most `MAX_BATCH`); each host call is risk-checked and journalled at once;
//!    accepted orders and cancels go to the venue right after the callback
//!    returns, in call order, and the venue's responses are journalled and
//!    queued for the owner's next callback;
//! 3. a callback that faults is contained: the fault is journalled, what it
//!    asked for in that callback is dropped, the strategy is HALTED in risk,
//!    its open orders are cancelled at the venue, and the others carry on with
//!    the same event.
//!
//! ## Hot deploy and restart (operator commands)
//! [`Engine::check_redeploy`] decides, changing nothing, whether a deploy or
//! restart can be carried out: the strategy runs wasm (a native strategy
//! cannot be restarted or redeployed) and the module fits the strategy's
//! limits and the runtime's pool. Together with loading the module (compile,
//! import and export rules), that is everything that can be known without
//! running guest code, and the control plane does all of it before it
//! journals the command: a refused deploy or restart journals nothing and
//! leaves the running instance alone.
//!
//! Once accepted (through [`Engine::execute`]), the swap is applied whole: open orders
//! cancelled, `MODULE` journalled, a fresh instance started. Starting runs
//! guest code (a `start` function, the ABI check, `init`); if that faults,
//! the deploy is **not** undone — the new module is the strategy's module —
//! and the fault is an ordinary one: journalled (`FAULT`), the strategy
//! HALTED, cancel-on-fault, and the supervisor applies the strategy's
//! restart policy to the new module (backoff and restart, or quarantined).
//! `redeploy` returns the resulting [`Status`] so the operator is told.
//! Undoing would need the old instance kept alive past a journalled swap,
//! and a replay would then have to re-decide the rollback; keeping the
//! journalled fault is the simpler truth.
//!
//! ## Observer feed (control plane)
//! [`Engine::enable_observer`] turns on a bounded queue of [`Observed`]
//! events and per-fsync journal timings, drained with
//! [`Engine::drain_observed`] / [`Engine::drain_fsync_ns`]. The events are
//! the journal's own records, the one typed [`records::Record`] that
//! `journal show` renders, carried as [`records::RecordBuf`]
//! ([`Observed::Journalled`]): the journal sink pushes every record it
//! writes of the kinds an observer wants — `ORDER` (every risk decision on
//! an order), `INVALID`, `VENUE` rejects and fills, `FAULT`, `STATE` — so
//! nothing journalled can be missed or observed differently. Beside them
//! only what is not in the journal: the supervisor taking a strategy down
//! ([`Observed::Supervisor`]) and the instrument a risk decision is about.
//! Off by default: then each journal record costs one branch on a bool and
//! nothing is allocated (backtests and the demo pay nothing). It only copies
//! what was journalled; it never changes a decision or a journal byte.
//!
//! ## Durability, crash recovery, replay
//! - Whatever the policy, an action's deciding records precede the venue
//!   records it causes in the journal, and under any fsync policy but
//!   `never` an operator command is fsynced before it takes effect (and
//!   before its reply). When a venue sees an action is the run's
//!   [`ReleaseGate`] (`run.release_gate`):
//!   - `ordered` (default; the in-process simulated venue): actions reach
//!     it when decided. The venue is part of the deterministic run, so the
//!     journal is the same under every fsync policy, and a crash loses only
//!     a tail that `--resume` re-derives from the config, the data and the
//!     durable commands. Group commit (`every:N[:Mms]`) fsyncs on the
//!     journal's syncer thread while the engine works on; the tail a crash
//!     can lose is bounded (`bulkhead_journal::MAX_GROUPS_IN_FLIGHT` groups,
//!     at least `MIN_RECORDS_IN_FLIGHT` records).
//!   - `durable` (venues outside the process): an action reaches the venue
//!     only once its deciding records are fsynced. The actions all
//!     strategies decide during one market event wait together and are
//!     released at its end after one fsync, in decision order; a strategy
//!     quarantined or cancelled meanwhile loses its waiting orders
//!     (reported to it as cancelled). Cancels the engine starts itself (risk
//!     outcomes R8/R14, cancel-on-fault, kill switch / mass cancel, end of
//!     run) are made durable and released at once. Every release point is
//!     audited ([`Engine::undurable_releases`] stays 0) and each wait is
//!     measured ([`Engine::release_waits_ns`]).
//!
//!   [`Engine::tick_durability`] enforces group commit's `M` ms bound while
//!   the loop idles (the control plane's paced loop calls it while it waits).
//! - A run started with [`JournalMode::Resume`] on an existing journal cuts a
//!   torn tail, then re-derives every journalled record from the same config
//!   and data (refusing at the first one that differs) before it appends.
//!   Operator commands are not in the config or the data: each journalled
//!   `COMMAND` is re-applied at the event boundary where it was journalled
//!   ([`commands`], the same code [`replay`] uses); a hot deploy's module is
//!   read from the journal directory ([`Engine::journal_deploy`] stores it
//!   there, content-addressed, before journalling the command). While the
//!   prefix is being reproduced the run loop's `control` callback is not
//!   called (no new commands, no pacing). The run is deterministic, so this
//!   restores positions, open orders, trading states and the strategies'
//!   own memory exactly as they were.
//! - The journal begins with the config files verbatim (`CONFIG`) and the
//!   modules' hashes (`MODULE`), so [`replay`] can rebuild a run from the
//!   journal alone and compare every decision; [`decode`] renders any
//!   record ([`records::Record::decode`], then names and text).

pub mod command;
pub mod config;
pub mod decode;
pub mod engine;
pub mod records;
pub mod remote;
pub mod replay;
pub mod replica;
pub mod report;
pub mod venues;

pub use command::{Actor, Command, CommandError, Journalled, Outcome, Role};
pub use config::{ConfigError, ConfigFiles, DataPlan, FsFiles, LoadedConfig, ReleaseGate};
pub use engine::{
    ChainLatency, ChainLink, ChainParams, ChainReport, ChainStats, Engine, EngineError, NativeStrategy, Observed,
    RestartPolicy, RunReport, StateChange, Status, StrategyKind, StrategyReport, StrategySetup, order_owner,
    venue_order_id,
};

use bulkhead_data::{CsvReader, Generator, MarketSource};
use bulkhead_journal::{JournalParams, JournalWriter};
use bulkhead_sandbox::SandboxRuntime;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The chain could not be set up (keys file, accounts).
    #[error("{0}")]
    Chain(String),
    #[error("{0}")]
    Load(#[from] bulkhead_sandbox::LoadError),
    #[error("sandbox runtime: {0}")]
    Runtime(String),
    #[error("{path}: {source}")]
    JournalDir { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Journal(#[from] bulkhead_journal::JournalError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Data(#[from] bulkhead_data::DataError),
    /// A split run's role does not fit the config.
    #[error("{0}")]
    Split(String),
}

/// Open the market-data source a config names.
pub fn open_source(cfg: &LoadedConfig) -> Result<Box<dyn MarketSource>, RunError> {
    use bulkhead_data::{
        BinanceAggTradesReader, MergedSource, QuoteSource, ReaderOptions, TardisBookSnapshotReader,
        TardisDerivativeTickerReader, TardisIncrementalL2Reader, TardisQuotesReader, TardisTradesReader,
    };
    use config::FileFormat as F;
    Ok(match &cfg.data {
        DataPlan::File(p) => Box::new(CsvReader::open(p, &cfg.instruments)?),
        DataPlan::Generator(spec) => Box::new(Generator::new(*spec)),
        DataPlan::Files(files) => {
            let mut sources: Vec<Box<dyn MarketSource>> = Vec::new();
            for (path, format, symbol, map) in files {
                let mut opts =
                    ReaderOptions { skip_bad_lines: cfg.raw.data.skip_bad_lines, ..ReaderOptions::default() };
                opts.symbol = symbol.clone();
                for (from, to) in map {
                    opts = opts.map_symbol(from, to);
                }
                let i = &cfg.instruments;
                sources.push(match format {
                    F::Bulkhead => Box::new(CsvReader::open(path, i)?),
                    F::TardisTrades => Box::new(TardisTradesReader::open(path, i, &opts)?),
                    F::TardisQuotes => Box::new(TardisQuotesReader::open(path, i, &opts)?),
                    F::BinanceAggTrades => Box::new(BinanceAggTradesReader::open(path, i, &opts)?),
                    // Book data reaches the venue level by level (queue
                    // positions, depth), followed by each message's top of
                    // book as a `Quote` (what strategies see by default).
                    F::TardisBookSnapshot25 => {
                        Box::new(QuoteSource::with_levels(TardisBookSnapshotReader::open(path, i, &opts)?))
                    }
                    F::TardisIncrementalBookL2 => {
                        Box::new(QuoteSource::with_levels(TardisIncrementalL2Reader::open(path, i, &opts)?))
                    }
                    F::TardisDerivativeTicker => Box::new(TardisDerivativeTickerReader::open(path, i, &opts)?),
                    // Already the events the formats above yield: no book
                    // to rebuild, nothing to parse.
                    F::Parquet => Box::new(bulkhead_data::CatalogueReader::open(path, i)?),
                });
            }
            if sources.len() == 1 { sources.remove(0) } else { Box::new(MergedSource::new(sources)) }
        }
    })
}

/// Where a config's market data comes from, as `(format, file)` pairs for a
/// catalogue's `bulkhead.sources` metadata.
pub fn data_sources(cfg: &LoadedConfig) -> Vec<(String, String)> {
    match &cfg.data {
        DataPlan::File(p) => vec![("bulkhead".into(), p.display().to_string())],
        DataPlan::Files(fs) => fs.iter().map(|f| (f.1.name().to_string(), f.0.display().to_string())).collect(),
        DataPlan::Generator(g) => vec![(
            "generator".into(),
            format!(
                "seed={} events={} instrument={} start_price={} start_ts_ns={} mean_gap_ns={} trade_per_mille={}",
                g.seed, g.events, g.instrument, g.start_price, g.start_ts_ns, g.mean_gap_ns, g.trade_per_mille
            ),
        )],
    }
}

/// Import a config's market data (`[data]`: one file, several merged, or
/// the generator) into a Parquet catalogue at `out`: exactly the events
/// [`open_source`] yields, so a run over the catalogue (`format =
/// "parquet"`) sees the same stream without parsing. `progress` gets the
/// events written so far (every 65 536).
pub fn import_catalogue(
    cfg: &LoadedConfig,
    out: &std::path::Path,
    progress: &mut dyn FnMut(u64),
) -> Result<bulkhead_data::CatalogueInfo, RunError> {
    let mut source = open_source(cfg)?;
    let mut w = bulkhead_data::CatalogueWriter::create(out, &cfg.instruments, &data_sources(cfg))?;
    let mut n = 0u64;
    while let Some(e) = source.next_event()? {
        w.write(&e)?;
        n += 1;
        if n.is_multiple_of(65_536) {
            progress(n);
        }
    }
    progress(n);
    Ok(w.finish()?)
}

/// A run ready to go: the engine with every strategy added, the runtime
/// (for restarts and hot deploys) and the market-data source.
pub struct PreparedRun {
    pub engine: Engine,
    pub runtime: std::sync::Arc<SandboxRuntime>,
    pub source: Box<dyn MarketSource>,
    /// Set when an existing journal was resumed: what recovery found.
    pub recovery: Option<bulkhead_journal::RecoveryReport>,
}

/// What to do with the config's journal directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalMode {
    /// Start a new journal (refused if one exists, unless the config says
    /// `overwrite_journal`).
    Create,
    /// Continue an interrupted run: cut a torn tail, re-derive the journalled
    /// prefix from the same config and data, then append. Starts a new
    /// journal if there is none.
    Resume,
}

/// Load and check every module first (a bad module stops the run before
/// anything is journalled), open the journal and the data, add strategies.
pub fn prepare_run(cfg: &LoadedConfig) -> Result<PreparedRun, RunError> {
    prepare_run_with(cfg, JournalMode::Create)
}

fn journal_exists(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| {
        d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(bulkhead_journal::SEGMENT_EXT)))
    })
}

/// As [`prepare_run`], choosing how the journal is opened.
pub fn prepare_run_with(cfg: &LoadedConfig, mode: JournalMode) -> Result<PreparedRun, RunError> {
    prepare_run_native(cfg, mode, &mut |_| None)
}

/// As [`prepare_run_with`], but each strategy for which `native` returns a
/// strategy runs natively (in process, unsandboxed: the same SDK dispatch
/// code outside wasm) instead of its module. For the sandboxed-vs-native
/// oracle of the simulator and benchmarks; the module is still loaded and
/// named in the journal's `RUN_START` record, so the records differ from a
/// sandboxed run only where the sandbox itself is observable (fuel, faults).
pub fn prepare_run_native(
    cfg: &LoadedConfig,
    mode: JournalMode,
    native: &mut dyn FnMut(&str) -> Option<Box<dyn NativeStrategy>>,
) -> Result<PreparedRun, RunError> {
    let source = open_source(cfg)?;
    let (engine, runtime, recovery) = prepare_engine(cfg, mode, native, remote::SplitRole::Whole)?;
    Ok(PreparedRun { engine, runtime, source, recovery })
}

/// What in a config would make the venue send notices (settlement at
/// expiry, funding, liquidation) a split run does not forward yet.
fn split_unsupported(cfg: &LoadedConfig) -> Option<String> {
    use bulkhead_model::InstrumentKind as K;
    if let Some(i) = cfg.instruments.iter().find(|i| matches!(i.kind, K::Future | K::Option)) {
        return Some(format!("instrument `{}` expires", i.symbol));
    }
    if let Some(s) = cfg.strategies.iter().find(|s| s.collateral.is_some()) {
        return Some(format!("strategy `{}` has collateral (liquidation)", s.name));
    }
    if let DataPlan::Files(files) = &cfg.data
        && files.iter().any(|f| f.1 == config::FileFormat::TardisDerivativeTicker)
    {
        return Some("the data has a derivative ticker (funding)".to_string());
    }
    None
}

/// As [`prepare_run_with`], for one process of a split run ([`remote`]): a
/// node runs the strategies its role hosts (the others keep their ids and
/// policies, and never run here); the gateway runs none.
pub fn prepare_split_run(
    cfg: &LoadedConfig,
    mode: JournalMode,
    role: remote::SplitRole,
) -> Result<PreparedRun, RunError> {
    if let remote::SplitRole::Node { hosted, .. } = &role
        && let Some(h) = hosted.iter().find(|h| !cfg.strategies.iter().any(|s| &s.name == *h))
    {
        return Err(RunError::Split(format!("--strategies: the config has no strategy `{h}`")));
    }
    if !matches!(role, remote::SplitRole::Whole)
        && let Some(why) = split_unsupported(cfg)
    {
        return Err(RunError::Split(format!(
            "{why}: a split run does not carry the venue's settlement, funding and liquidation notices to the nodes yet"
        )));
    }
    let source = open_source(cfg)?;
    let describe = role.describe();
    let (mut engine, runtime, recovery) = prepare_engine(cfg, mode, &mut |_| None, role)?;
    if let Some(text) = describe {
        engine.journal_config_file(remote::SPLIT_FILE, text.as_bytes())?;
    }
    Ok(PreparedRun { engine, runtime, source, recovery })
}

type Prepared = (Engine, std::sync::Arc<SandboxRuntime>, Option<bulkhead_journal::RecoveryReport>);

/// The engine of a run with every strategy added; the market data is the caller's.
pub(crate) fn prepare_engine(
    cfg: &LoadedConfig,
    mode: JournalMode,
    native: &mut dyn FnMut(&str) -> Option<Box<dyn NativeStrategy>>,
    role: remote::SplitRole,
) -> Result<Prepared, RunError> {
    // Pool slots as large as the largest strategy's limits, no larger
    // (dense slots: cheaper guest calls when many strategies run).
    let runtime_config = bulkhead_sandbox::RuntimeConfig {
        cache_dir: cfg.module_cache.clone(),
        module_limits: cfg.raw.run.module_limits.clone(),
        ..Default::default()
    }
    .sized_for(cfg.strategies.iter().map(|s| &s.limits));
    let runtime =
        std::sync::Arc::new(SandboxRuntime::with_config(runtime_config).map_err(|e| RunError::Runtime(e.to_string()))?);
    let mut modules = Vec::new();
    for s in &cfg.strategies {
        let name = s.module_path.display().to_string();
        modules.push(runtime.load(&name, &s.module_bytes)?);
    }
    let resume = mode == JournalMode::Resume && journal_exists(&cfg.journal_dir);
    if !resume && cfg.raw.run.overwrite_journal && cfg.journal_dir.exists() {
        std::fs::remove_dir_all(&cfg.journal_dir)
            .map_err(|source| RunError::JournalDir { path: cfg.journal_dir.clone(), source })?;
    }
    let params = JournalParams {
        fsync: cfg.fsync(),
        group_readable: cfg.raw.run.journal_group_readable,
        ..JournalParams::default()
    };
    let (writer, recovery) = if resume {
        let (w, report) = JournalWriter::open_append(&cfg.journal_dir, params)?;
        if let Some(torn) = &report.torn_tail {
            tracing::warn!(dropped_bytes = report.dropped_bytes, problem = %torn, "resume: torn journal tail cut");
        }
        (w, Some(report))
    } else {
        (JournalWriter::create(&cfg.journal_dir, params)?, None)
    };
    let mut info =
        format!("bulkhead run v{}\nconfig blake3={}\n", env!("CARGO_PKG_VERSION"), hex::encode(cfg.config_hash));
    for (s, m) in cfg.strategies.iter().zip(&modules) {
        info.push_str(&format!(
            "strategy {} module blake3={} policy blake3={} signer={}\n",
            s.name,
            hex::encode(m.hash),
            hex::encode(s.policy_hash),
            s.signer.as_ref().map_or_else(|| "unsigned".to_string(), |g| format!("{} ({})", g.name, g.fingerprint))
        ));
    }
    let prefix = match recovery {
        Some(_) => Some(bulkhead_journal::JournalReader::open(&cfg.journal_dir)?),
        None => None,
    };
    let mut engine = Engine::with_venues(cfg.instruments.clone(), cfg.venues.clone(), writer, prefix, &info)?;
    for (name, bytes) in &cfg.files {
        engine.journal_config_file(name, bytes)?;
    }
    engine.set_runtime(runtime.clone());
    // Before any strategy can place an order (its `init` may).
    apply_run_settings(&mut engine, cfg);
    if let Some(chain) = &cfg.chain {
        if resume {
            return Err(RunError::Chain("--resume of a run with [chain] is not supported: start a new journal".into()));
        }
        engine.set_chain(chain_params(cfg, chain)?);
    }
    let hosts: Vec<bool> = cfg.strategies.iter().map(|s| role.hosts(&s.name)).collect();
    engine.set_split(role);
    for ((s, m), here) in cfg.strategies.iter().zip(&modules).zip(hosts) {
        let kind = match native(&s.name) {
            _ if !here => StrategyKind::Elsewhere { module_hash: m.hash },
            Some(n) => StrategyKind::Native(n),
            None => StrategyKind::Wasm { runtime: &runtime, module: m, limits: &s.limits },
        };
        let sid = engine.add_strategy(StrategySetup {
            name: &s.name,
            policy: s.policy.clone(),
            config: &s.config_bytes,
            kind,
            signer: s.signer.as_ref().map(|g| g.public_key),
            surveillance: s.surveillance.clone(),
        })?;
        engine.set_restart_policy(sid, s.restart);
        if let Some(c) = s.collateral {
            engine.set_collateral(sid, c);
        }
    }
    Ok((engine, runtime, recovery))
}

/// The chain link and every strategy's chain policy and account: keys from
/// the keys file (never journalled; only each account's address is), or the
/// journalled accounts when replaying.
fn chain_params(cfg: &LoadedConfig, chain: &crate::config::ChainSetup) -> Result<engine::ChainParams, RunError> {
    use bulkhead_chain::policy::ChainPolicy;
    let keys = match &chain.replay_accounts {
        Some(_) => None,
        None => Some(
            bulkhead_chain::keys::KeyFile::load(&chain.config.keys_file)
                .map_err(|e| RunError::Chain(format!("chain.keys_file: {e}")))?,
        ),
    };
    let mut strategies = Vec::new();
    for (sid, s) in cfg.strategies.iter().enumerate() {
        let Some(table) = &s.chain_policy else {
            strategies.push(None);
            continue;
        };
        let policy = ChainPolicy::from_toml(table, &chain.book)
            .map_err(|e| RunError::Chain(format!("strategy `{}` policy [chain]: {e}", s.name)))?;
        let account = match (&chain.replay_accounts, &keys) {
            (Some(accounts), _) => accounts.get(sid).cloned().flatten().map(|(_, a)| a),
            (None, Some(k)) => k.address(policy.account()),
            (None, None) => None,
        };
        let Some(address) = account else {
            return Err(RunError::Chain(format!(
                "strategy `{}` policy [chain].account: no account `{}` in the keys file",
                s.name,
                policy.account()
            )));
        };
        let name = policy.account().to_string();
        strategies.push(Some((policy, name, address)));
    }
    let link = match (keys, &chain.replay_accounts) {
        (Some(k), None) => match bulkhead_chain::worker::ChainWorker::spawn(&chain.config, k, chain.book.clone()) {
            Ok(w) => engine::ChainLink::Node(w),
            Err(f) => engine::ChainLink::Down(f.message),
        },
        _ => engine::ChainLink::Replay,
    };
    let wait = std::time::Duration::from_millis(
        chain.config.rpc_timeout_ms.saturating_mul(3).saturating_add(chain.config.receipt_timeout_ms),
    );
    Ok(engine::ChainParams {
        book: chain.book.clone(),
        link,
        lockstep: chain.lockstep,
        wait,
        deviation_bps: chain.config.deviation_bps,
        strategies,
    })
}

/// The run-wide settings of a config that an engine needs before its first
/// strategy is added: firm policy, per-expiry option vols, whether
/// strategies get L2 levels, settlement prices. `bulkhead run` applies them
/// here; so does anything else that builds an engine from a config.
pub fn apply_run_settings(engine: &mut Engine, cfg: &LoadedConfig) {
    if let Some(firm) = &cfg.firm_policy {
        engine.set_firm_policy(firm.clone());
    }
    engine.set_surveillance(cfg.firm_surveillance.clone());
    for &(expiry_ns, vol_bps) in &cfg.option_vols {
        engine.set_expiry_vol(expiry_ns, vol_bps);
    }
    engine.set_strategy_book_levels(cfg.raw.data.strategy_book_levels);
    engine.set_release_gate(cfg.raw.run.release_gate);
    for &(instrument, price) in &cfg.settlements {
        engine.set_settlement_price(instrument, price);
    }
}

/// Run a loaded config to the end and report.
pub fn run_config(cfg: &LoadedConfig, progress: &mut dyn FnMut(u64, Option<u64>)) -> Result<RunReport, RunError> {
    let PreparedRun { mut engine, mut source, .. } = prepare_run(cfg)?;
    let total = source.len_hint();
    engine.run(source.as_mut(), &mut |n| progress(n, total))?;
    Ok(engine.finish()?)
}
