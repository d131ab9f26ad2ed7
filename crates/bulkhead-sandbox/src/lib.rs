//! # bulkhead-sandbox — the wasmtime host for strategies
//!
//! Owns: loading a strategy module (compile, then refuse any import outside
//! module `bulkhead` or with the wrong signature, and any missing or mistyped
//! export), applying per-strategy limits (memory, table elements, fuel and
//! wall clock per callback, wasm stack, host calls per callback, log bytes per
//! second of event time), instantiating each strategy in its own
//! [`wasmtime::Store`], calling its callbacks, and turning traps and breaches
//! into typed [`Fault`]s.
//!
//! Must never: make risk decisions. The host imports only bounds-check guest
//! pointers, decode and validate guest records with `bulkhead-abi`, and forward
//! them to a [`HostApi`] supplied by the caller; whether an order may trade is
//! decided elsewhere. It must also never panic or allocate on guest-controlled
//! data on the hot path: every pointer/length is checked with overflow-safe
//! `u64` arithmetic and every breach comes back as a value.
//!
//! ## Limits and how each is enforced
//! | limit | mechanism | fault |
//! |---|---|---|
//! | memory bytes | [`wasmtime::ResourceLimiter`] (also checks the initial memory) | [`Fault::MemoryLimit`] |
//! | table elements | same limiter | [`Fault::TableLimit`] |
//! | fuel per callback | `Config::consume_fuel`, fuel reset before every call | [`Fault::FuelExhausted`] |
//! | wall clock per callback | epoch interruption, 1 ms ticker thread | [`Fault::Deadline`] |
//! | wasm stack | `Config::max_wasm_stack` — **engine-wide**, see [`SandboxRuntime::with_max_stack`] | [`Fault::StackOverflow`] |
//! | host calls per callback | counter in the store | [`Fault::HostCallBudget`] |
//! | log bytes / s of event time | token bucket in the store | [`Fault::LogRate`] |
//!
//! Before allocating, [`SandboxRuntime::instantiate`] also refuses a module
//! whose *initial* memory or table already exceeds the strategy's limits
//! ([`Fault::MemoryLimit`] / [`Fault::TableLimit`]) and limits larger than the
//! runtime's pool slots ([`Fault::Instantiate`]).
//!
//! ## Instances, cache and accounting
//! - [`RuntimeConfig`]: wasmtime's pooling allocator sized for N strategies
//!   (default 1 000 × 64 MiB slots, 64 KiB guards: ~62.6 GiB of *virtual*
//!   reservation, nothing resident until touched) or the on-demand allocator.
//!   A pool that is full is a [`Fault::Instantiate`]; a dropped [`Sandbox`]
//!   frees its slot. [`RuntimeConfig::sized_for`] shrinks the slots to the
//!   largest memory and table limits of the strategies that will run (what
//!   `bulkhead run` does): denser slots, cheaper calls across many instances.
//! - Precompiled-module cache ([`RuntimeConfig::cache_dir`]): an artifact is
//!   used only for the exact module bytes, engine settings and wasmtime
//!   version it was built from, and only with a valid keyed MAC (key outside
//!   the directory, 0600); entries are opened no-follow, regular files owned
//!   by us and size-bounded; an unsafe directory is refused, never repaired.
//!   The threat model is in the `cache` module's header.
//! - Before compiling, a `wasmparser` pass checks the module against
//!   [`ModuleLimits`]; compilation runs on a worker under a wall-clock budget.
//! - [`SandboxStats`]: fuel (total / last / max per call), callback wall time
//!   histogram (p50 / p99 / max, fixed log-linear buckets, no allocation),
//!   instantiation time, peak memory, host calls (admitted / refused), log
//!   bytes, invalid records. Wall time is sampled — about one callback in
//!   [`WALL_SAMPLE_EVERY`] is timed, always the first — with the TSC where
//!   the CPU has an invariant one (`Instant` otherwise): two clock reads per
//!   call cost more than the rest of an empty call. Everything else counts
//!   every call; no limit depends on the wall-time stats.
//!
//! A `start` function, `bulkhead_abi_version`, `bulkhead_buffer` and
//! `bulkhead_init` each run under the same fuel, deadline and memory limits
//! as a callback. After a fault a [`Sandbox`] is frozen: every later
//! `on_events` returns the same fault without entering the guest.

mod cache;
mod clock;
mod error;
mod host;
mod stats;
mod validate;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use bulkhead_abi::HostApi;
use bulkhead_abi::{
    ABI_VERSION, EVENT_SIZE, EXPORT_MEMORY, EXPORTS, Event, IMPORT_MODULE, IMPORTS, ImportSig, MAX_BATCH,
    MAX_CONFIG_LEN,
};
pub use cache::{CacheStats, MAX_ENTRY_BYTES as MAX_CACHE_ENTRY_BYTES};
pub use clock::WALL_SAMPLE_EVERY;
pub use error::{BUDGET_KINDS, FAULT_KINDS, Fault, LoadError, SandboxError};
pub use host::LogBucket;
pub use host::MAX_OPEN_ORDERS_QUERY;
use host::{Limiter, StoreData};
pub use stats::{SandboxStats, WALL_HIST_BUCKETS, WallHistogram};
pub use validate::{ModuleCounts, ModuleLimits};
use wasmtime::{
    Config, Engine, ExternType, FuncType, InstanceAllocationStrategy, Linker, Memory, Module, PoolingAllocationConfig,
    Store, Trap, TypedFunc,
};

/// Per-strategy limits. Defaults are those of DESIGN.md §3.
#[derive(Clone, Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory cap, bytes (initial size included).
    pub memory_bytes: u64,
    /// Fuel for one guest call (callback, `start`, init).
    pub fuel_per_callback: u64,
    /// Wall-clock budget for one guest call, µs (epoch interruption; the
    /// effective resolution is the 1 ms epoch tick, rounded up, plus one tick).
    pub deadline_us: u64,
    /// Wasm stack the strategy needs. Wasmtime applies the stack limit per
    /// engine, not per store: the runtime's stack (see
    /// [`SandboxRuntime::with_max_stack`]) is what is enforced, and
    /// instantiation fails if a strategy asks for more than the runtime has.
    pub stack_bytes: usize,
    /// Host imports a strategy may call in one guest call.
    pub host_calls_per_callback: u32,
    /// Log bytes per second of event time (token bucket, one second deep).
    pub log_bytes_per_sec: u64,
    /// Maximum elements of the (single) table.
    pub table_elements: u32,
    /// Fuel for everything one market event causes, over all the guest
    /// calls it takes to deliver (each call also stays within
    /// `fuel_per_callback`). See [`Sandbox::begin_event`].
    pub fuel_per_event: u64,
    /// Host calls per market event, over all its guest calls.
    pub host_calls_per_event: u32,
    /// Guest calls (`bulkhead_on_events` batches) per market event.
    pub callbacks_per_event: u32,
    /// Enforced by the engine: events that may wait for the strategy
    /// (rejects, order updates, fills, timers) between two deliveries; one
    /// more is an `inbox_overflow` fault.
    pub inbox_events: u32,
    /// Enforced by the engine: journal bytes the strategy's host calls may
    /// cause in one market event (order decisions, invalid records, cancels,
    /// timers, logs).
    pub journal_bytes_per_event: u64,
    /// Enforced by the engine: journal bytes the strategy may cause per
    /// second of event time (token bucket, one second deep).
    pub journal_bytes_per_sec: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * 1024 * 1024,
            fuel_per_callback: 10_000_000,
            deadline_us: 5_000,
            stack_bytes: 512 * 1024,
            host_calls_per_callback: 10_000,
            log_bytes_per_sec: 65_536,
            table_elements: 10_000,
            fuel_per_event: 20_000_000,
            host_calls_per_event: 20_000,
            callbacks_per_event: 32,
            inbox_events: 4_096,
            journal_bytes_per_event: 256 * 1024,
            journal_bytes_per_sec: 4 * 1024 * 1024,
        }
    }
}

/// How often the epoch ticker advances the engine's epoch.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Background thread that increments the engine epoch every [`EPOCH_TICK`].
/// It stops when the last owner (the runtime or a live sandbox) drops it.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Result<Ticker, SandboxError> {
        let (tx, rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("bulkhead-epoch".into())
            .spawn(move || {
                // Disconnected (sender dropped) ends the loop; a timeout is a tick.
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| SandboxError::Ticker { message: e.to_string() })?;
        Ok(Ticker { stop: Some(tx), handle: Some(handle) })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// How the runtime allocates instances and where it caches compiled modules.
///
/// The default is a pooling allocator for [`RuntimeConfig::max_instances`] =
/// 1 000 concurrent strategies, each with a 64 MiB linear-memory slot and a
/// 10 000-element table, and no module cache.
///
/// ## Memory: address space versus RSS
/// The pool *reserves* `max_instances × (memory_bytes_per_instance +
/// memory_guard_bytes)` of virtual address space up front (default:
/// 1 000 × (64 MiB + 64 KiB) ≈ 62.6 GiB of the 128 TiB user address space),
/// mapped `PROT_NONE`: it is neither resident nor committed. Only pages a
/// strategy actually touches become resident, and they are returned to the
/// kernel when the instance is dropped (beyond
/// [`RuntimeConfig::memory_keep_resident_bytes`]). The bound on *RSS* is the
/// sum of the strategies' [`Limits::memory_bytes`]: with 1 000 strategies at
/// the 64 MiB default the worst case (every one grown to its cap) is 62.5 GiB,
/// more than a 24 GiB machine has. [`RuntimeConfig::worst_case_memory_bytes`]
/// gives that number so operators can lower per-strategy limits.
///
/// Because a 64 MiB slot is smaller than the 4 GiB a 32-bit memory can
/// address, compiled code performs explicit bounds checks (a compare and
/// branch per access that the guard region cannot absorb); that is the price
/// of fitting 1 000 instances in a modest reservation.
#[derive(Clone, Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Concurrent instances the pooling allocator provides. `0` selects
    /// wasmtime's on-demand allocator (mmap per instance, no pool).
    pub max_instances: u32,
    /// Linear-memory slot per instance (the most any strategy's
    /// [`Limits::memory_bytes`] may be), bytes; also the per-memory virtual
    /// reservation.
    pub memory_bytes_per_instance: u64,
    /// Unmapped guard after each linear memory, bytes.
    pub memory_guard_bytes: u64,
    /// Table slot per instance (the most any strategy's
    /// [`Limits::table_elements`] may be).
    pub table_elements_per_instance: u32,
    /// Engine-wide wasm stack limit, bytes (the most any strategy's
    /// [`Limits::stack_bytes`] may be).
    pub max_stack_bytes: usize,
    /// Bytes of each freed linear memory kept resident (reset with `memset`
    /// instead of `madvise`) to make re-instantiation cheaper. Costs RSS.
    pub memory_keep_resident_bytes: u64,
    /// Precompiled-module cache directory; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// The cache's MAC key file; `None` = `<cache_dir>.key` (a sibling of
    /// the directory, never inside it). Created (32 random bytes, mode 0600)
    /// at first use.
    pub cache_key_file: Option<PathBuf>,
    /// Static limits every module is checked against before it is compiled,
    /// and the compile's wall-clock budget.
    pub module_limits: ModuleLimits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: 1000,
            memory_bytes_per_instance: Limits::default().memory_bytes,
            memory_guard_bytes: 64 * 1024,
            table_elements_per_instance: Limits::default().table_elements,
            max_stack_bytes: Limits::default().stack_bytes,
            memory_keep_resident_bytes: 0,
            cache_dir: None,
            cache_key_file: None,
            module_limits: ModuleLimits::default(),
        }
    }
}

impl RuntimeConfig {
    /// Pool slots shrunk to the strategies that will run: each linear-memory
    /// slot (and the memory reservation) becomes the largest
    /// [`Limits::memory_bytes`] among `limits`, rounded up to whole 64 KiB
    /// wasm pages, and each table slot the largest
    /// [`Limits::table_elements`] — never larger than they were, so a
    /// strategy asking for more than the slots hold is refused as before.
    /// Denser slots keep a many-strategy run's guest calls close together in
    /// memory: round-robin over 1 000 instances, an empty call costs ~144 ns
    /// with 1 MiB slots against ~235 ns with the default 64 MiB (`cargo bench
    /// -p bulkhead-sandbox --bench crossing`). No strategy can use more than
    /// its own limit either way, so what runs is unchanged. With no limits
    /// the config is returned as it is.
    #[must_use]
    pub fn sized_for<'a>(mut self, limits: impl IntoIterator<Item = &'a Limits>) -> RuntimeConfig {
        const PAGE: u64 = 64 * 1024;
        let (mut memory, mut table) = (None::<u64>, None::<u32>);
        for l in limits {
            memory = Some(memory.map_or(l.memory_bytes, |m| m.max(l.memory_bytes)));
            table = Some(table.map_or(l.table_elements, |t| t.max(l.table_elements)));
        }
        if let Some(m) = memory {
            let pages = m.max(PAGE).div_ceil(PAGE).saturating_mul(PAGE);
            self.memory_bytes_per_instance = self.memory_bytes_per_instance.min(pages);
        }
        if let Some(t) = table {
            self.table_elements_per_instance = self.table_elements_per_instance.min(t);
        }
        self
    }

    /// Virtual address space the linear-memory pool reserves (not RSS).
    pub fn reserved_address_space_bytes(&self) -> u64 {
        (self.max_instances as u64)
            .saturating_mul(self.memory_bytes_per_instance.saturating_add(self.memory_guard_bytes))
    }

    /// RSS bound for linear memory if every slot is live and grown to the
    /// slot size. Compare with the machine's memory.
    pub fn worst_case_memory_bytes(&self) -> u64 {
        (self.max_instances as u64).saturating_mul(self.memory_bytes_per_instance)
    }
}

/// One per process: the wasmtime engine (fuel and epoch interruption on,
/// pooling allocator unless configured otherwise), the linker with the
/// `bulkhead` imports, the optional module cache, and the epoch ticker thread.
pub struct SandboxRuntime {
    engine: Engine,
    linker: Linker<StoreData>,
    max_stack: usize,
    config: RuntimeConfig,
    cache: Option<cache::ModuleCache>,
    /// Why the configured cache is not used (directory or key refused).
    cache_refused: Option<String>,
    fallback: OnceLock<Result<Engine, String>>,
    ticker: Arc<Ticker>,
    /// Compile workers running (including ones abandoned over budget).
    compiling: Arc<AtomicUsize>,
}

/// At most this many compile workers run at once; a load beyond it is
/// refused ([`LoadError::CompileBusy`]). Only compilations abandoned over
/// their budget can pile up (a load waits for its own worker otherwise), and
/// each of those is bounded by [`ModuleLimits`].
pub const MAX_COMPILE_WORKERS: usize = 4;

/// Engine settings shared by the pooled engine and the fallback engine.
fn base_config(config: &RuntimeConfig) -> Config {
    let mut cfg = Config::new();
    cfg.consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.max_stack_bytes)
        // Replay must reproduce decisions bit for bit, on any host CPU:
        // NaNs produced by float arithmetic are canonical, and relaxed SIMD
        // (on by default in wasmtime 48) takes its deterministic,
        // spec-classified lowering instead of the host's fastest one.
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true);
    cfg
}

/// A compiled, validated strategy module. Instantiate it with the runtime that
/// loaded it. Cloning is cheap (the compiled code is shared).
#[derive(Clone)]
pub struct StrategyModule {
    pub name: String,
    /// blake3 of the module bytes.
    pub hash: [u8; 32],
    module: Module,
    from_cache: bool,
    /// Set when the module does not fit the pooling allocator's slots: it was
    /// compiled by the fallback engine for validation only and every
    /// instantiation fails (with the limit it breaks, or this message).
    unfit: Option<String>,
}

impl std::fmt::Debug for StrategyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyModule")
            .field("name", &self.name)
            .field("hash", &self.hash)
            .field("from_cache", &self.from_cache)
            .finish_non_exhaustive()
    }
}

impl StrategyModule {
    /// Whether the compiled code came from the precompiled-module cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }
}

impl SandboxRuntime {
    /// A runtime with [`RuntimeConfig::default`]: pooling allocator for 1 000
    /// instances of up to 64 MiB, 512 KiB wasm stack, no module cache.
    pub fn new() -> Result<Self, SandboxError> {
        Self::with_config(RuntimeConfig::default())
    }

    /// A runtime with an explicit engine-wide wasm stack limit. Wasmtime has
    /// no per-store stack limit, so pass the largest `stack_bytes` of the
    /// strategies this runtime will host.
    pub fn with_max_stack(stack_bytes: usize) -> Result<Self, SandboxError> {
        Self::with_config(RuntimeConfig { max_stack_bytes: stack_bytes, ..RuntimeConfig::default() })
    }

    /// A runtime with an explicit allocation / cache configuration.
    pub fn with_config(config: RuntimeConfig) -> Result<Self, SandboxError> {
        let engine_err = |e: wasmtime::Error| SandboxError::Engine { message: format!("{e:#}") };
        let mut cfg = base_config(&config);
        if config.max_instances > 0 {
            let slot = usize::try_from(config.memory_bytes_per_instance).map_err(|_| SandboxError::Engine {
                message: format!("memory_bytes_per_instance {} does not fit usize", config.memory_bytes_per_instance),
            })?;
            let mut pool = PoolingAllocationConfig::new();
            pool.total_core_instances(config.max_instances)
                .total_memories(config.max_instances)
                .total_tables(config.max_instances)
                .max_memories_per_module(1)
                .max_tables_per_module(1)
                .max_memory_size(slot)
                .table_elements(config.table_elements_per_instance as usize)
                .linear_memory_keep_resident(config.memory_keep_resident_bytes as usize)
                .table_keep_resident(0);
            cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
                // Each slot reserves exactly its maximum size plus a small
                // guard (see RuntimeConfig docs); memories never move.
                .memory_reservation(config.memory_bytes_per_instance)
                .memory_guard_size(config.memory_guard_bytes)
                .guard_before_linear_memory(false)
                .memory_may_move(false);
        }
        let engine = Engine::new(&cfg).map_err(engine_err)?;
        // Calibrate the call clock now (once per process) rather than in
        // the first instantiation.
        let _ = clock::CallClock::get();
        let linker = host::build_linker(&engine)?;
        let (cache, cache_refused) = match config.cache_dir.as_deref() {
            None => (None, None),
            Some(dir) => match cache::ModuleCache::open(dir, config.cache_key_file.as_deref(), &engine) {
                Ok(c) => (Some(c), None),
                Err(why) => {
                    tracing::warn!(dir = %dir.display(), why, "module cache not used");
                    (None, Some(why))
                }
            },
        };
        let ticker = Arc::new(Ticker::start(engine.clone())?);
        Ok(SandboxRuntime {
            engine,
            linker,
            max_stack: config.max_stack_bytes,
            config,
            cache,
            cache_refused,
            fallback: OnceLock::new(),
            ticker,
            compiling: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// On-demand engine used only to compile (never instantiate) a module the
    /// pool cannot hold, so that it still gets validated at load and its
    /// instantiation fails with the same typed fault as without a pool.
    fn fallback_engine(&self) -> Result<&Engine, String> {
        self.fallback
            .get_or_init(|| Engine::new(&base_config(&self.config)).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Cache counters, or `None` when no usable cache directory is configured.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    /// The cache directory in use, if any.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache.as_ref().map(|c| c.dir())
    }

    /// Why a configured cache is not used (its directory or key file was
    /// refused: the message names it), `None` if it is used or none is
    /// configured.
    pub fn cache_refused(&self) -> Option<&str> {
        self.cache_refused.as_deref()
    }

    /// The reason the last cache entry was refused, if any was.
    pub fn cache_last_refusal(&self) -> Option<String> {
        self.cache.as_ref().and_then(|c| c.last_refusal())
    }

    /// Check `bytes` against this runtime's [`ModuleLimits`] without
    /// compiling (what [`SandboxRuntime::load`] does first).
    pub fn check_module(&self, name: &str, bytes: &[u8]) -> Result<ModuleCounts, LoadError> {
        validate::check_module(name, bytes, &self.config.module_limits)
    }

    /// Compile `bytes` with `engine` on a worker thread, waiting at most
    /// until `deadline`. Over the deadline the worker is abandoned (it
    /// finishes in the background, bounded by the static limits, and its
    /// result is dropped) and the load is refused.
    fn compile_bounded(
        &self,
        name: &str,
        engine: &Engine,
        bytes: &Arc<[u8]>,
        deadline: Instant,
    ) -> Result<wasmtime::Result<Module>, LoadError> {
        let budget_ms = self.config.module_limits.compile_timeout_ms;
        let running = self.compiling.fetch_add(1, Ordering::AcqRel);
        struct Release(Arc<AtomicUsize>);
        impl Drop for Release {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let release = Release(Arc::clone(&self.compiling));
        if running >= MAX_COMPILE_WORKERS {
            return Err(LoadError::CompileBusy { name: name.to_string(), running, limit: MAX_COMPILE_WORKERS });
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let (engine, bytes) = (engine.clone(), Arc::clone(bytes));
        std::thread::Builder::new()
            .name("bulkhead-compile".into())
            .spawn(move || {
                let _release = release;
                let _ = tx.send(Module::from_binary(&engine, &bytes));
            })
            .map_err(|e| LoadError::Compile {
                name: name.to_string(),
                message: format!("could not start a compile worker: {e}"),
            })?;
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(r) => Ok(r),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(module = name, budget_ms, "compilation over budget; refused");
                Err(LoadError::CompileTimeout { name: name.to_string(), budget_ms })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(LoadError::Compile { name: name.to_string(), message: "the compile worker panicked".to_string() })
            }
        }
    }

    /// Check, compile and validate. `name` is used in error messages.
    ///
    /// Only binary wasm is accepted (no WAT text). First the module is
    /// checked against [`RuntimeConfig::module_limits`] without compiling
    /// ([`LoadError::OverLimit`] names the item and the limit); then it is
    /// compiled on a worker thread under
    /// [`ModuleLimits::compile_timeout_ms`] ([`LoadError::CompileTimeout`]).
    /// With a cache directory configured, a verified precompiled artifact
    /// (see the `cache` module) is used instead of compiling; the same
    /// checks and import/export validation run either way.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<StrategyModule, LoadError> {
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm {
                name: name.to_string(),
                message: "missing the `\\0asm` magic header".to_string(),
            });
        }
        let started = Instant::now();
        validate::check_module(name, bytes, &self.config.module_limits)?;
        let deadline = started + Duration::from_millis(self.config.module_limits.compile_timeout_ms);
        let hash = *blake3::hash(bytes).as_bytes();
        let cached = match &self.cache {
            Some(c) => match c.get(&self.engine, &hash) {
                cache::Lookup::Hit(m) => Some(m),
                cache::Lookup::Miss => None,
            },
            None => None,
        };
        let from_cache = cached.is_some();
        let compile_err = |e: wasmtime::Error| LoadError::Compile { name: name.to_string(), message: format!("{e:#}") };
        let module = match cached {
            Some(m) => {
                validate(name, &m)?;
                m
            }
            None => {
                let shared: Arc<[u8]> = Arc::from(bytes);
                match self.compile_bounded(name, &self.engine, &shared, deadline)? {
                    Ok(m) => {
                        validate(name, &m)?;
                        if let Some(c) = &self.cache {
                            c.put(&hash, &m);
                        }
                        m
                    }
                    Err(e) if self.config.max_instances > 0 => {
                        // Either invalid wasm or valid wasm the pool cannot hold
                        // (initial memory/table over the slot, oversized
                        // instance): the on-demand engine tells which.
                        let pool_error = format!("{e:#}");
                        let fallback = self
                            .fallback_engine()
                            .map_err(|message| LoadError::Compile { name: name.to_string(), message })?;
                        let m = self.compile_bounded(name, fallback, &shared, deadline)?.map_err(compile_err)?;
                        validate(name, &m)?;
                        tracing::debug!(module = name, error = %pool_error, "module does not fit the instance pool");
                        return Ok(StrategyModule {
                            name: name.to_string(),
                            hash,
                            module: m,
                            from_cache,
                            unfit: Some(pool_error),
                        });
                    }
                    Err(e) => return Err(compile_err(e)),
                }
            }
        };
        tracing::debug!(module = name, hash = %blake3::Hash::from(hash).to_hex(), from_cache, "strategy module loaded");
        Ok(StrategyModule { name: name.to_string(), hash, module, from_cache, unfit: None })
    }

    /// What [`SandboxRuntime::instantiate`] checks before it allocates or
    /// runs any guest code: the stack, the pool slot, the module's initial
    /// memory and tables against `limits`. Lets a caller refuse a module
    /// (e.g. a hot deploy) before it commits to anything.
    pub fn check_fits(&self, module: &StrategyModule, limits: &Limits) -> Result<(), Fault> {
        self.precheck(module, limits)
    }

    /// Refuse, before allocating anything, what the pool or the strategy's
    /// limits cannot hold.
    fn precheck(&self, module: &StrategyModule, limits: &Limits) -> Result<(), Fault> {
        if limits.stack_bytes > self.max_stack {
            return Err(Fault::Instantiate {
                message: format!(
                    "strategy asks for {} bytes of wasm stack but this runtime provides {} (see SandboxRuntime::with_max_stack)",
                    limits.stack_bytes, self.max_stack
                ),
            });
        }
        let pooled = self.config.max_instances > 0;
        if pooled && limits.memory_bytes > self.config.memory_bytes_per_instance {
            return Err(Fault::Instantiate {
                message: format!(
                    "strategy asks for {} bytes of linear memory but this runtime's pool slots hold {} (RuntimeConfig::memory_bytes_per_instance)",
                    limits.memory_bytes, self.config.memory_bytes_per_instance
                ),
            });
        }
        if pooled && limits.table_elements > self.config.table_elements_per_instance {
            return Err(Fault::Instantiate {
                message: format!(
                    "strategy asks for tables of {} elements but this runtime's pool slots hold {} (RuntimeConfig::table_elements_per_instance)",
                    limits.table_elements, self.config.table_elements_per_instance
                ),
            });
        }
        let req = module.module.resources_required();
        if req.num_memories > 1 || req.num_tables > 1 {
            return Err(Fault::Instantiate {
                message: format!(
                    "module defines {} memories and {} tables; at most one of each is allowed",
                    req.num_memories, req.num_tables
                ),
            });
        }
        if let Some(pages) = req.max_initial_memory_size {
            let requested = pages.saturating_mul(65_536);
            if requested > limits.memory_bytes {
                return Err(Fault::MemoryLimit { requested, limit: limits.memory_bytes });
            }
        }
        if let Some(elems) = req.max_initial_table_size
            && elems > limits.table_elements as u64
        {
            return Err(Fault::TableLimit { requested: elems, limit: limits.table_elements as u64 });
        }
        if let Some(why) = &module.unfit {
            return Err(Fault::Instantiate {
                message: format!("module does not fit this runtime's instance pool: {why}"),
            });
        }
        Ok(())
    }

    /// Instantiate under `limits` (a `start` function also runs under the
    /// fuel/deadline/memory limits), check `bulkhead_abi_version() ==
    /// ABI_VERSION`, obtain the guest buffer via `bulkhead_buffer(cap)` with
    /// `cap = max(config.len(), MAX_BATCH * EVENT_SIZE)`, copy `config` in and
    /// call `bulkhead_init(config.len())`.
    pub fn instantiate(
        &self,
        module: &StrategyModule,
        limits: &Limits,
        config: &[u8],
        now_ns: u64,
        host: &mut dyn HostApi,
    ) -> Result<Sandbox, Fault> {
        let instantiate_began = Instant::now();
        self.precheck(module, limits)?;
        // The stack in force is the engine's (at least what was asked for):
        // a stack-overflow fault reports that figure.
        let limits = &Limits { stack_bytes: self.max_stack, ..limits.clone() };
        if config.len() > MAX_CONFIG_LEN {
            return Err(Fault::Instantiate {
                message: format!("config is {} bytes, over the maximum of {MAX_CONFIG_LEN}", config.len()),
            });
        }
        let data = StoreData::new(
            Limiter { memory_limit: limits.memory_bytes, table_limit: limits.table_elements as u64, peak_memory: 0 },
            limits,
            LogBucket::new(limits.log_bytes_per_sec, now_ns),
        );
        let mut store = Store::new(&self.engine, data);
        store.limiter(|d| &mut d.limiter);
        store.epoch_deadline_trap();

        let instance_fault = |e: wasmtime::Error, store: &Store<StoreData>| {
            classify(&e, store, limits, |e| Fault::Instantiate { message: format!("{e:#}") })
        };

        // Instantiation (and any `start` function) under the limits.
        let began = Some(store.data().clock.start());
        arm(&mut store, limits, false)?;
        let linker = &self.linker;
        let inst = with_host(&mut store, host, |s| linker.instantiate(&mut *s, &module.module));
        account(&mut store, began, false);
        let instance = inst.map_err(|e| instance_fault(e, &store))?;

        let missing =
            |what: &str| Fault::Instantiate { message: format!("export `{what}` unavailable: validated at load") };
        let memory = instance.get_memory(&mut store, EXPORT_MEMORY).ok_or_else(|| missing(EXPORT_MEMORY))?;
        store.data_mut().memory = Some(memory);
        let typed = |store: &mut Store<StoreData>, name: &str| {
            instance.get_typed_func::<i32, i32>(&mut *store, name).map_err(|_| missing(name))
        };
        let abi_version = instance
            .get_typed_func::<(), i32>(&mut store, "bulkhead_abi_version")
            .map_err(|_| missing("bulkhead_abi_version"))?;
        let buffer_fn = typed(&mut store, "bulkhead_buffer")?;
        let init_fn = typed(&mut store, "bulkhead_init")?;
        let on_events_fn = typed(&mut store, "bulkhead_on_events")?;

        let mut sandbox = Sandbox {
            store,
            limits: limits.clone(),
            on_events_fn,
            memory,
            buf_ptr: 0,
            fault: None,
            events_marked: false,
            _ticker: Arc::clone(&self.ticker),
        };

        let found = sandbox.call(host, "bulkhead_abi_version", |s| abi_version.call(s, ()))?;
        if found != ABI_VERSION {
            return Err(Fault::AbiVersion { found, expected: ABI_VERSION });
        }

        let cap = config.len().max(MAX_BATCH * EVENT_SIZE);
        // cap <= max(MAX_CONFIG_LEN, MAX_BATCH * EVENT_SIZE), far below i32::MAX.
        let ptr = sandbox.call(host, "bulkhead_buffer", |s| buffer_fn.call(s, cap as i32))?;
        let ptr = ptr as u32 as u64;
        let mem = sandbox.memory.data_mut(&mut sandbox.store);
        let range = host::check_range("bulkhead_buffer", ptr, cap as u64, mem.len()).map_err(|_| {
            tracing::warn!(ptr, cap, memory_size = mem.len(), "strategy buffer out of bounds");
            Fault::MissingBuffer
        })?;
        mem[range.start..range.start + config.len()].copy_from_slice(config);
        sandbox.buf_ptr = ptr;

        let code = sandbox.call(host, "bulkhead_init", |s| init_fn.call(s, config.len() as i32))?;
        if code != 0 {
            return Err(Fault::GuestError { callback: "bulkhead_init", code });
        }
        sandbox.store.data_mut().stats.instantiate_ns =
            instantiate_began.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        Ok(sandbox)
    }
}

/// One instantiated strategy. Owns its own wasmtime `Store`: strategies share
/// nothing but the engine (compiled code and the epoch counter).
pub struct Sandbox {
    store: Store<StoreData>,
    limits: Limits,
    on_events_fn: TypedFunc<i32, i32>,
    memory: Memory,
    /// Guest buffer (validated at instantiation, re-checked before each use).
    buf_ptr: u64,
    /// First fault raised; the sandbox is frozen once set.
    fault: Option<Fault>,
    /// The caller marks market events ([`Sandbox::begin_event`]).
    events_marked: bool,
    /// Keeps the epoch ticker alive as long as any sandbox is alive.
    _ticker: Arc<Ticker>,
}

impl Sandbox {
    /// Write events into the guest buffer (bounds-checked against the current
    /// memory size each time) and call `bulkhead_on_events(count)`. Fuel is
    /// reset to the budget and the epoch deadline re-armed before every call.
    ///
    /// More than [`MAX_BATCH`] events are delivered as consecutive batches
    /// (one guest call each); an empty slice does not enter the guest. Does
    /// not allocate unless a fault is raised.
    pub fn on_events(&mut self, events: &[Event], now_ns: u64, host: &mut dyn HostApi) -> Result<(), Fault> {
        if let Some(f) = &self.fault {
            return Err(f.clone());
        }
        // The log bucket is refilled when the guest logs (`host::log`), up
        // to the latest event time seen: the same tokens as refilling here.
        let d = self.store.data_mut();
        d.log_now_ns = d.log_now_ns.max(now_ns);
        if !self.events_marked {
            self.store.data_mut().event = host::EventBudget::new(&self.limits);
        }
        for batch in events.chunks(MAX_BATCH) {
            self.write_events(batch)?;
            let d = self.store.data_mut();
            d.event.callbacks = d.event.callbacks.saturating_add(1);
            if d.event.callbacks > self.limits.callbacks_per_event {
                let (used, limit) = (d.event.callbacks as u64, self.limits.callbacks_per_event as u64);
                return Err(self.freeze(Fault::Budget {
                    kind: "event_callbacks",
                    unit: "guest calls per market event",
                    used,
                    limit,
                }));
            }
            if d.event.fuel_left == 0 {
                let limit = self.limits.fuel_per_event;
                return Err(self.freeze(Fault::Budget {
                    kind: "event_fuel",
                    unit: "fuel per market event",
                    used: limit.saturating_add(1),
                    limit,
                }));
            }
            let st = &mut self.store.data_mut().stats;
            st.callbacks = st.callbacks.saturating_add(1);
            // Borrow the typed function beside the store rather than clone
            // it: a clone re-registers its type (atomic refcounts), ~17 % of
            // an empty crossing.
            let (on_events, n) = (&self.on_events_fn, batch.len() as i32);
            let r = enter(&mut self.store, &self.limits, host, "bulkhead_on_events", true, |s| on_events.call(s, n));
            let code = r.map_err(|fault| self.freeze(fault))?;
            if code != 0 {
                return Err(self.freeze(Fault::GuestError { callback: "bulkhead_on_events", code }));
            }
        }
        Ok(())
    }

    /// Start the budgets that hold per market event: fuel, host calls and
    /// guest calls over every `on_events` call until the next
    /// `begin_event`. The engine calls it once per market event, before it
    /// delivers anything that event caused. A caller that never calls it
    /// (a benchmark, a test) gets a fresh event budget with every
    /// `on_events` call: each call is then its own market event.
    pub fn begin_event(&mut self) {
        self.events_marked = true;
        self.store.data_mut().event = host::EventBudget::new(&self.limits);
    }

    pub fn stats(&self) -> &SandboxStats {
        &self.store.data().stats
    }

    /// The fault that froze this sandbox, if any.
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// The limits this sandbox runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn write_events(&mut self, batch: &[Event]) -> Result<(), Fault> {
        let mem = self.memory.data_mut(&mut self.store);
        let len = (batch.len() * EVENT_SIZE) as u64;
        let Ok(range) = host::check_range("bulkhead_on_events", self.buf_ptr, len, mem.len()) else {
            return Err(self.freeze(Fault::MissingBuffer));
        };
        let (slots, _) = mem[range].as_chunks_mut::<EVENT_SIZE>();
        for (slot, ev) in slots.iter_mut().zip(batch) {
            ev.encode_into(slot);
        }
        Ok(())
    }

    fn freeze(&mut self, fault: Fault) -> Fault {
        tracing::warn!(kind = fault.kind(), %fault, "strategy faulted");
        self.fault = Some(fault.clone());
        fault
    }

    /// One guest call (see [`enter`]); a fault freezes the sandbox.
    fn call<R>(
        &mut self,
        host: &mut dyn HostApi,
        what: &'static str,
        f: impl FnOnce(&mut Store<StoreData>) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        enter(&mut self.store, &self.limits, host, what, false, f).map_err(|fault| self.freeze(fault))
    }
}

/// One guest call under fresh fuel / deadline / host-call budget, with the
/// host lent for its duration; traps become typed faults. `callback` marks
/// `bulkhead_on_events` (market-event fuel, the wall-time histogram).
fn enter<R>(
    store: &mut Store<StoreData>,
    limits: &Limits,
    host: &mut dyn HostApi,
    what: &'static str,
    callback: bool,
    f: impl FnOnce(&mut Store<StoreData>) -> wasmtime::Result<R>,
) -> Result<R, Fault> {
    // Instantiation's calls are all timed; callbacks about one in
    // WALL_SAMPLE_EVERY (see the `clock` module).
    let timed = !callback || store.data_mut().sampler.take();
    let began = if timed { Some(store.data().clock.start()) } else { None };
    arm(store, limits, callback)?;
    let r = with_host(store, host, f);
    account(store, began, callback);
    r.map_err(|e| classify(&e, store, limits, |e| Fault::Trap { code: format!("{what}: {e:#}") }))
}

/// Epoch ticks for a deadline: round up to whole ticks, plus one because the
/// current tick is already partly elapsed.
fn deadline_ticks(deadline_us: u64) -> u64 {
    let tick_us = EPOCH_TICK.as_micros() as u64;
    deadline_us.div_ceil(tick_us).max(1).saturating_add(1)
}

/// Reset per-call budgets before entering the guest. A callback
/// (`bulkhead_on_events`) gets the smaller of its per-call fuel and what is
/// left of the market event's fuel.
///
/// Invariant: the guest is never entered without its fuel armed. `set_fuel`
/// only fails when fuel metering is off, and [`SandboxRuntime`] always turns
/// it on; if it ever fails the call is refused (a fault that quarantines the
/// strategy) rather than run unmetered.
fn arm(store: &mut Store<StoreData>, limits: &Limits, callback: bool) -> Result<(), Fault> {
    let fuel =
        if callback { limits.fuel_per_callback.min(store.data().event.fuel_left) } else { limits.fuel_per_callback };
    if let Err(e) = store.set_fuel(fuel) {
        debug_assert!(false, "fuel metering is always on: {e}");
        tracing::error!(error = %e, "could not arm fuel: the guest is not entered");
        return Err(Fault::Trap { code: format!("host could not arm the fuel budget ({e}); guest not entered") });
    }
    store.set_epoch_deadline(deadline_ticks(limits.deadline_us));
    let d = store.data_mut();
    d.armed_fuel = fuel;
    d.event_fuel_binds = callback && fuel < limits.fuel_per_callback;
    d.host_calls = 0;
    d.pending = None;
    Ok(())
}

/// Fold one call's fuel, wall time (if it was timed: `began`) and peak
/// memory into the stats (and a callback's fuel into the market event's
/// budget); a timed `bulkhead_on_events` call (`callback`) also goes into
/// the wall-time histogram. No allocation.
fn account(store: &mut Store<StoreData>, began: Option<u64>, callback: bool) {
    let left = store.get_fuel().unwrap_or(0);
    let d = store.data_mut();
    let used = d.armed_fuel.saturating_sub(left);
    if callback {
        d.event.fuel_left = d.event.fuel_left.saturating_sub(used);
    }
    let s = &mut d.stats;
    s.fuel_used = s.fuel_used.saturating_add(used);
    s.fuel_used_last = used;
    s.fuel_used_max = s.fuel_used_max.max(used);
    if let Some(began) = began {
        let wall = d.clock.elapsed_ns(began);
        s.wall_ns_total = s.wall_ns_total.saturating_add(wall);
        s.wall_ns_max = s.wall_ns_max.max(wall);
        if callback {
            s.wall.record(wall);
        }
    }
    s.peak_memory_bytes = s.peak_memory_bytes.max(d.limiter.peak_memory);
}

/// Lend `host` to the store for the duration of `f`, and take it back even if
/// `f` unwinds. See [`host::HostSlot`] for the safety argument.
fn with_host<R>(store: &mut Store<StoreData>, host: &mut dyn HostApi, f: impl FnOnce(&mut Store<StoreData>) -> R) -> R {
    struct Reclaim<'s>(&'s mut Store<StoreData>);
    impl Drop for Reclaim<'_> {
        fn drop(&mut self) {
            self.0.data_mut().host.0 = None;
        }
    }
    store.data_mut().host.0 = Some(host::erase_host(host));
    let guard = Reclaim(store);
    f(&mut *guard.0)
}

/// Map a wasmtime error from a guest call to a typed fault.
fn classify(
    e: &wasmtime::Error,
    store: &Store<StoreData>,
    limits: &Limits,
    other: impl FnOnce(&wasmtime::Error) -> Fault,
) -> Fault {
    if let Some(f) = e.downcast_ref::<Fault>() {
        return f.clone();
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return match *t {
            Trap::OutOfFuel if store.data().event_fuel_binds => Fault::Budget {
                kind: "event_fuel",
                unit: "fuel per market event",
                used: limits.fuel_per_event.saturating_add(1),
                limit: limits.fuel_per_event,
            },
            Trap::OutOfFuel => Fault::FuelExhausted { limit: limits.fuel_per_callback },
            Trap::Interrupt => Fault::Deadline { limit_us: limits.deadline_us },
            Trap::StackOverflow => Fault::StackOverflow { limit_bytes: limits.stack_bytes },
            Trap::UnreachableCodeReached => Fault::Trap { code: "unreachable".to_string() },
            t => {
                // Display is "wasm trap: <description>"; keep the description.
                let text = t.to_string();
                let code = text.strip_prefix("wasm trap: ").unwrap_or(&text);
                Fault::Trap { code: code.to_string() }
            }
        };
    }
    if let Some(f) = &store.data().pending {
        return f.clone();
    }
    other(e)
}

// ---------------------------------------------------------------- validation

fn sig_string(params: &[bulkhead_abi::ValType], results: &[bulkhead_abi::ValType]) -> String {
    fn name(v: &bulkhead_abi::ValType) -> &'static str {
        match v {
            bulkhead_abi::ValType::I32 => "i32",
            bulkhead_abi::ValType::I64 => "i64",
        }
    }
    let p: Vec<&str> = params.iter().map(name).collect();
    let r: Vec<&str> = results.iter().map(name).collect();
    format!("({}) -> ({})", p.join(", "), r.join(", "))
}

fn func_sig_string(ft: &FuncType) -> String {
    let p: Vec<String> = ft.params().map(|v| v.to_string()).collect();
    let r: Vec<String> = ft.results().map(|v| v.to_string()).collect();
    format!("({}) -> ({})", p.join(", "), r.join(", "))
}

fn matches_sig(ft: &FuncType, sig: &ImportSig) -> bool {
    fn same(w: wasmtime::ValType, a: &bulkhead_abi::ValType) -> bool {
        matches!(
            (w, a),
            (wasmtime::ValType::I32, bulkhead_abi::ValType::I32) | (wasmtime::ValType::I64, bulkhead_abi::ValType::I64)
        )
    }
    ft.params().len() == sig.params.len()
        && ft.results().len() == sig.results.len()
        && ft.params().zip(sig.params).all(|(w, a)| same(w, a))
        && ft.results().zip(sig.results).all(|(w, a)| same(w, a))
}

fn extern_kind(t: &ExternType) -> String {
    match t {
        ExternType::Func(ft) => format!("a function {}", func_sig_string(ft)),
        ExternType::Memory(_) => "a memory".to_string(),
        ExternType::Table(_) => "a table".to_string(),
        ExternType::Global(_) => "a global".to_string(),
        ExternType::Tag(_) => "a tag".to_string(),
    }
}

fn validate(name: &str, module: &Module) -> Result<(), LoadError> {
    for imp in module.imports() {
        let forbidden = || LoadError::ForbiddenImport {
            name: name.to_string(),
            module: imp.module().to_string(),
            field: imp.name().to_string(),
        };
        if imp.module() != IMPORT_MODULE {
            return Err(forbidden());
        }
        let Some(sig) = IMPORTS.iter().find(|s| s.name == imp.name()) else {
            return Err(forbidden());
        };
        let ExternType::Func(ft) = imp.ty() else {
            return Err(forbidden());
        };
        if !matches_sig(&ft, sig) {
            return Err(LoadError::WrongSignature {
                name: name.to_string(),
                field: imp.name().to_string(),
                expected: sig_string(sig.params, sig.results),
                found: func_sig_string(&ft),
            });
        }
    }
    for sig in EXPORTS {
        let Some(ty) = module.get_export(sig.name) else {
            return Err(LoadError::MissingExport { name: name.to_string(), export: sig.name.to_string() });
        };
        let expected = format!("a function {}", sig_string(sig.params, sig.results));
        match &ty {
            ExternType::Func(ft) if matches_sig(ft, sig) => {}
            other => {
                return Err(LoadError::WrongExportType {
                    name: name.to_string(),
                    export: sig.name.to_string(),
                    expected,
                    found: extern_kind(other),
                });
            }
        }
    }
    let expected_mem = "a 32-bit, non-shared memory".to_string();
    match module.get_export(EXPORT_MEMORY) {
        None => Err(LoadError::MissingExport { name: name.to_string(), export: EXPORT_MEMORY.to_string() }),
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => Ok(()),
        Some(ExternType::Memory(_)) => Err(LoadError::WrongExportType {
            name: name.to_string(),
            export: EXPORT_MEMORY.to_string(),
            expected: expected_mem,
            found: "a 64-bit or shared memory".to_string(),
        }),
        Some(other) => Err(LoadError::WrongExportType {
            name: name.to_string(),
            export: EXPORT_MEMORY.to_string(),
            expected: expected_mem,
            found: extern_kind(&other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_to_ticks_plus_one() {
        assert_eq!(deadline_ticks(5_000), 6);
        assert_eq!(deadline_ticks(1), 2);
        assert_eq!(deadline_ticks(0), 2);
        assert_eq!(deadline_ticks(20_000), 21);
    }

    #[test]
    fn limits_deserialize_with_defaults() {
        // serde is exercised through the derive; Default is the spec table.
        let l = Limits::default();
        assert_eq!(l.memory_bytes, 64 << 20);
        assert_eq!(l.fuel_per_callback, 10_000_000);
        assert_eq!(l.stack_bytes, 512 << 10);
    }
}
