//! The `bulkhead` host imports, per-store host state, and the resource limiter.
//!
//! Every function here treats guest memory as hostile: pointers and lengths
//! are widened to `u64` and checked with `checked_add` against the memory's
//! *current* size before a single byte is read or written. A bad pointer, a
//! blown host-call budget or a log flood becomes a typed [`Fault`] returned as
//! the host function's error, which traps the guest; [`crate::classify`] maps
//! it back by downcasting.

use std::ops::Range;
use std::ptr::NonNull;

use bulkhead_abi::{
    EXPORT_MEMORY, HostApi, IMPORT_MODULE, OPEN_ORDER_SIZE, OpenOrderRecord, OrderRequest, POSITION_SIZE,
    PositionRecord, Reason, ResultCode, Side,
};
use wasmtime::{Caller, Engine, Extern, Linker, Memory, ResourceLimiter};

use crate::clock::{CallClock, CallSampler};
use crate::{Fault, SandboxError, SandboxStats};

/// Largest `max` honoured by the `open_orders` import (records per call).
pub const MAX_OPEN_ORDERS_QUERY: usize = 1024;

/// The borrowed `&mut dyn HostApi` of the call in progress, lifetime erased.
///
/// SAFETY argument: the pointer is set by [`crate::Sandbox`] immediately
/// before it enters the guest (instantiate / a callback), from a `&mut dyn
/// HostApi` that the caller keeps borrowed for the whole of that call, and is
/// cleared (by a drop guard, so also on unwind) before the call returns. It
/// is dereferenced only inside the host functions below, which wasmtime runs
/// synchronously on the same thread, inside that call (we use no async and no
/// fibers). Host functions never hold two references derived from it at
/// once, and the host cannot re-enter the sandbox because the `Sandbox` is
/// itself mutably borrowed for the call.
pub(crate) struct HostSlot(pub(crate) Option<NonNull<dyn HostApi>>);

// SAFETY: the slot is only `Some` during a synchronous call on the thread that
// owns the borrow (see above); between calls it is `None`, so moving the store
// to another thread never moves a live pointer.
unsafe impl Send for HostSlot {}

/// Erase the lifetime of a host borrow so it can sit in the store data.
pub(crate) fn erase_host<'a>(host: &'a mut (dyn HostApi + 'a)) -> NonNull<dyn HostApi> {
    let p: NonNull<dyn HostApi + 'a> = NonNull::from(host);
    // SAFETY: only the trait object's lifetime bound changes; the pointer's
    // layout is identical. Validity is upheld by the `HostSlot` protocol.
    unsafe { std::mem::transmute::<NonNull<dyn HostApi + 'a>, NonNull<dyn HostApi + 'static>>(p) }
}

/// Deterministic token bucket of bytes over *event time* (the log-rate
/// limit here; the engine's journal-rate budget uses the same type).
///
/// Kept in byte·nanoseconds (u128) so that refills of a few nanoseconds are
/// never rounded away. Capacity = one second's worth of bytes.
pub struct LogBucket {
    pub(crate) rate_per_sec: u64,
    scaled: u128,
    pub(crate) last_ns: u64,
}

const NS_PER_SEC: u128 = 1_000_000_000;

impl LogBucket {
    pub fn new(rate_per_sec: u64, now_ns: u64) -> Self {
        LogBucket { rate_per_sec, scaled: rate_per_sec as u128 * NS_PER_SEC, last_ns: now_ns }
    }

    /// Add tokens for event time elapsed since the last refill. Time going
    /// backwards adds nothing.
    pub fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let dt = (now_ns - self.last_ns) as u128;
            let cap = self.rate_per_sec as u128 * NS_PER_SEC;
            self.scaled = self.scaled.saturating_add(dt.saturating_mul(self.rate_per_sec as u128)).min(cap);
            self.last_ns = now_ns;
        }
    }

    /// Bytes per second it refills at (its depth is one second of them).
    pub fn rate_per_sec(&self) -> u64 {
        self.rate_per_sec
    }

    /// Take `n` bytes; false if the bucket does not hold them.
    pub fn take(&mut self, n: u64) -> bool {
        let need = n as u128 * NS_PER_SEC;
        if need <= self.scaled {
            self.scaled -= need;
            true
        } else {
            false
        }
    }
}

/// Caps memory and table growth, counts peak memory, allows one instance,
/// one memory and one table per store.
pub(crate) struct Limiter {
    pub(crate) memory_limit: u64,
    pub(crate) table_limit: u64,
    pub(crate) peak_memory: u64,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let desired_u = desired as u64;
        if desired_u > self.memory_limit {
            return Err(Fault::MemoryLimit { requested: desired_u, limit: self.memory_limit }.into());
        }
        if maximum.is_some_and(|m| desired > m) {
            // Past the module's own declared maximum: ordinary `memory.grow`
            // failure (-1), not a breach of our limit.
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired_u);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let desired_u = desired as u64;
        if desired_u > self.table_limit {
            return Err(Fault::TableLimit { requested: desired_u, limit: self.table_limit }.into());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        1
    }
    fn memories(&self) -> usize {
        1
    }
}

/// Everything a strategy's store owns. One per [`crate::Sandbox`]; nothing
/// here is shared between strategies.
pub(crate) struct StoreData {
    pub(crate) host: HostSlot,
    /// The exported memory, once instantiation has produced it.
    pub(crate) memory: Option<Memory>,
    pub(crate) limiter: Limiter,
    /// Host calls made in the current callback.
    pub(crate) host_calls: u32,
    pub(crate) host_call_limit: u32,
    /// What is left of the current market event's budgets.
    pub(crate) event: EventBudget,
    /// Fuel the current call was armed with.
    pub(crate) armed_fuel: u64,
    /// The current call's fuel is the rest of the event's budget (smaller
    /// than a callback's): running out of it is an `event_fuel` breach.
    pub(crate) event_fuel_binds: bool,
    pub(crate) log: LogBucket,
    /// The latest event time a callback was delivered at: the log bucket is
    /// refilled to it when the guest logs (refilling lazily adds the same
    /// tokens as refilling at every callback: the bucket only ever fills,
    /// up to its cap, with the time elapsed).
    pub(crate) log_now_ns: u64,
    /// Reused buffer for `open_orders` (never reallocated after creation).
    pub(crate) scratch: Vec<OpenOrderRecord>,
    pub(crate) stats: SandboxStats,
    /// Times guest calls (see [`CallClock`]).
    pub(crate) clock: CallClock,
    /// Which callbacks are timed.
    pub(crate) sampler: CallSampler,
    /// The fault a host function or the limiter raised in this call, kept in
    /// case the error's payload cannot be downcast.
    pub(crate) pending: Option<Fault>,
}

/// The budgets that hold per market event, over every guest call it takes
/// ([`crate::Sandbox::begin_event`] starts a fresh one).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventBudget {
    pub(crate) fuel_left: u64,
    pub(crate) host_calls: u32,
    pub(crate) host_call_limit: u32,
    pub(crate) callbacks: u32,
}

impl EventBudget {
    pub(crate) fn new(limits: &crate::Limits) -> Self {
        EventBudget {
            fuel_left: limits.fuel_per_event,
            host_calls: 0,
            host_call_limit: limits.host_calls_per_event,
            callbacks: 0,
        }
    }
}

impl StoreData {
    pub(crate) fn new(limiter: Limiter, limits: &crate::Limits, log: LogBucket) -> Self {
        let blank = OpenOrderRecord { id: 0, tag: 0, instrument: 0, side: Side::Buy, price: 0, remaining_qty: 0 };
        StoreData {
            host: HostSlot(None),
            memory: None,
            limiter,
            host_calls: 0,
            host_call_limit: limits.host_calls_per_callback,
            event: EventBudget::new(limits),
            armed_fuel: 0,
            event_fuel_binds: false,
            log_now_ns: log.last_ns,
            log,
            scratch: vec![blank; MAX_OPEN_ORDERS_QUERY],
            stats: SandboxStats::default(),
            clock: CallClock::get(),
            sampler: CallSampler::default(),
            pending: None,
        }
    }

    fn fail(&mut self, fault: Fault) -> wasmtime::Error {
        self.pending = Some(fault.clone());
        wasmtime::Error::new(fault)
    }

    /// The host of the call in progress.
    ///
    /// The returned lifetime is not tied to `self` so that the store data
    /// (stats, scratch) can be used alongside; callers take it once per host
    /// function and drop it before returning.
    fn host<'x>(&mut self) -> wasmtime::Result<&'x mut dyn HostApi> {
        match self.host.0 {
            // SAFETY: see `HostSlot`: `Some` only while the borrow it came from
            // is live and we are inside the synchronous call it was lent for.
            Some(mut p) => Ok(unsafe { p.as_mut() }),
            None => Err(self.fail(Fault::Trap { code: "host call outside of a callback".into() })),
        }
    }
}

/// Count a host call against the per-callback and per-market-event budgets.
fn enter(caller: &mut Caller<'_, StoreData>) -> wasmtime::Result<()> {
    let d = caller.data_mut();
    d.host_calls = d.host_calls.saturating_add(1);
    d.event.host_calls = d.event.host_calls.saturating_add(1);
    if d.host_calls > d.host_call_limit {
        d.stats.host_calls_refused = d.stats.host_calls_refused.saturating_add(1);
        let limit = d.host_call_limit;
        return Err(d.fail(Fault::HostCallBudget { limit }));
    }
    if d.event.host_calls > d.event.host_call_limit {
        d.stats.host_calls_refused = d.stats.host_calls_refused.saturating_add(1);
        let (used, limit) = (d.event.host_calls as u64, d.event.host_call_limit as u64);
        return Err(d.fail(Fault::Budget {
            kind: "event_host_calls",
            unit: "host calls per market event",
            used,
            limit,
        }));
    }
    d.stats.host_calls = d.stats.host_calls.saturating_add(1);
    Ok(())
}

/// After the host handled a call: if it has cut the strategy off (a budget
/// it keeps is spent), trap the guest with that breach.
fn checked<T>(d: &mut StoreData, host: &dyn HostApi, v: T) -> wasmtime::Result<T> {
    match host.breach() {
        None => Ok(v),
        Some(b) => Err(d.fail(Fault::from(b))),
    }
}

fn memory(caller: &mut Caller<'_, StoreData>) -> wasmtime::Result<Memory> {
    if let Some(m) = caller.data().memory {
        return Ok(m);
    }
    // During a `start` function the sandbox has not stored the memory yet.
    match caller.get_export(EXPORT_MEMORY) {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(caller.data_mut().fail(Fault::Trap { code: "strategy has no exported memory".into() })),
    }
}

/// Overflow-safe bounds check of a guest (ptr, len) against the current memory.
pub(crate) fn check_range(call: &'static str, ptr: u64, len: u64, memory_size: usize) -> Result<Range<usize>, Fault> {
    let memory_size = memory_size as u64;
    match ptr.checked_add(len) {
        // Both fit in usize: end <= memory_size, which came from a usize.
        Some(end) if end <= memory_size => Ok(ptr as usize..end as usize),
        _ => Err(Fault::BadPointer { call, ptr, len, memory_size }),
    }
}

/// Guest i32 pointers and lengths are unsigned 32-bit values.
fn u(v: i32) -> u64 {
    v as u32 as u64
}

fn submit_order(mut caller: Caller<'_, StoreData>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    enter(&mut caller)?;
    let mem = memory(&mut caller)?;
    let (bytes, d) = mem.data_and_store_mut(&mut caller);
    let range = check_range("submit_order", u(ptr), u(len), bytes.len()).map_err(|f| d.fail(f))?;
    let host = d.host()?;
    let rc = match OrderRequest::decode(&bytes[range]) {
        Ok(req) => host.submit_order(&req),
        Err(e) => {
            d.stats.invalid_records = d.stats.invalid_records.saturating_add(1);
            tracing::debug!(error = %e, "strategy submitted an invalid order record");
            host.invalid_record(e);
            -(Reason::InvalidOrder.code() as i64)
        }
    };
    checked(d, host, rc)
}

fn chain_call(mut caller: Caller<'_, StoreData>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    enter(&mut caller)?;
    let mem = memory(&mut caller)?;
    let (bytes, d) = mem.data_and_store_mut(&mut caller);
    let range = check_range("chain_call", u(ptr), u(len), bytes.len()).map_err(|f| d.fail(f))?;
    let host = d.host()?;
    // The record is at most CHAIN_INTENT_MAX_SIZE bytes: a longer one is
    // refused by `decode` on its length, before anything is copied.
    let rc = match bulkhead_abi::ChainIntent::decode(&bytes[range]) {
        Ok(intent) => host.chain_call(&intent),
        Err(e) => {
            d.stats.invalid_records = d.stats.invalid_records.saturating_add(1);
            tracing::debug!(error = %e, "strategy passed an invalid chain intent record");
            host.invalid_record(e);
            -(Reason::ChainMalformed.code() as i64)
        }
    };
    checked(d, host, rc)
}

fn cancel_order(mut caller: Caller<'_, StoreData>, id: i64) -> wasmtime::Result<i32> {
    enter(&mut caller)?;
    let d = caller.data_mut();
    let host = d.host()?;
    let rc = host.cancel_order(id as u64);
    checked(d, host, rc)
}

fn cancel_all(mut caller: Caller<'_, StoreData>, instrument: i32) -> wasmtime::Result<i32> {
    enter(&mut caller)?;
    let d = caller.data_mut();
    let host = d.host()?;
    let which = if instrument == -1 { None } else { Some(instrument as u32) };
    let rc = host.cancel_all(which);
    checked(d, host, rc)
}

fn position(mut caller: Caller<'_, StoreData>, instrument: i32, out_ptr: i32) -> wasmtime::Result<i32> {
    enter(&mut caller)?;
    let mem = memory(&mut caller)?;
    let (bytes, d) = mem.data_and_store_mut(&mut caller);
    let range = check_range("position", u(out_ptr), POSITION_SIZE as u64, bytes.len()).map_err(|f| d.fail(f))?;
    let host = d.host()?;
    let mut rec = PositionRecord::default();
    let rc = host.position(instrument as u32, &mut rec);
    bytes[range].copy_from_slice(&rec.encode());
    Ok(rc)
}

fn open_orders(mut caller: Caller<'_, StoreData>, out_ptr: i32, max: i32) -> wasmtime::Result<i32> {
    enter(&mut caller)?;
    if max < 0 {
        return Ok(-(ResultCode::InvalidRecord as i32));
    }
    let max = (max as usize).min(MAX_OPEN_ORDERS_QUERY);
    let mem = memory(&mut caller)?;
    let (bytes, d) = mem.data_and_store_mut(&mut caller);
    let len = (max * OPEN_ORDER_SIZE) as u64;
    let range = check_range("open_orders", u(out_ptr), len, bytes.len()).map_err(|f| d.fail(f))?;
    let host = d.host()?;
    let scratch = &mut d.scratch[..max];
    let total = host.open_orders(scratch);
    let n = usize::try_from(total).unwrap_or(0).min(max);
    let (out, _) = bytes[range].as_chunks_mut::<OPEN_ORDER_SIZE>();
    for (slot, rec) in out.iter_mut().zip(&scratch[..n]) {
        *slot = rec.encode();
    }
    Ok(total)
}

fn set_timer(mut caller: Caller<'_, StoreData>, at_ns: i64, token: i64) -> wasmtime::Result<i32> {
    enter(&mut caller)?;
    let d = caller.data_mut();
    let host = d.host()?;
    let rc = host.set_timer(at_ns as u64, token as u64);
    checked(d, host, rc)
}

fn log(mut caller: Caller<'_, StoreData>, level: i32, ptr: i32, len: i32) -> wasmtime::Result<i32> {
    enter(&mut caller)?;
    let mem = memory(&mut caller)?;
    let (bytes, d) = mem.data_and_store_mut(&mut caller);
    let range = check_range("log", u(ptr), u(len), bytes.len()).map_err(|f| d.fail(f))?;
    d.log.refill(d.log_now_ns);
    if !d.log.take(u(len)) {
        let limit_per_sec = d.log.rate_per_sec;
        return Err(d.fail(Fault::LogRate { limit_per_sec }));
    }
    d.stats.log_bytes = d.stats.log_bytes.saturating_add(u(len));
    let host = d.host()?;
    let rc = host.log(level, &bytes[range]);
    checked(d, host, rc)
}

/// Register every import of [`bulkhead_abi::IMPORTS`].
pub(crate) fn build_linker(engine: &Engine) -> Result<Linker<StoreData>, SandboxError> {
    fn err(name: &'static str) -> impl FnOnce(wasmtime::Error) -> SandboxError {
        move |e| SandboxError::Linker { name, message: format!("{e:#}") }
    }
    let mut l = Linker::new(engine);
    l.func_wrap(IMPORT_MODULE, "submit_order", submit_order).map_err(err("submit_order"))?;
    l.func_wrap(IMPORT_MODULE, "cancel_order", cancel_order).map_err(err("cancel_order"))?;
    l.func_wrap(IMPORT_MODULE, "cancel_all", cancel_all).map_err(err("cancel_all"))?;
    l.func_wrap(IMPORT_MODULE, "position", position).map_err(err("position"))?;
    l.func_wrap(IMPORT_MODULE, "open_orders", open_orders).map_err(err("open_orders"))?;
    l.func_wrap(IMPORT_MODULE, "set_timer", set_timer).map_err(err("set_timer"))?;
    l.func_wrap(IMPORT_MODULE, "log", log).map_err(err("log"))?;
    l.func_wrap(IMPORT_MODULE, "chain_call", chain_call).map_err(err("chain_call"))?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_range_is_overflow_safe() {
        assert_eq!(check_range("x", 0, 32, 64), Ok(0..32));
        assert_eq!(check_range("x", 32, 32, 64), Ok(32..64));
        assert!(check_range("x", 33, 32, 64).is_err());
        assert!(check_range("x", u64::MAX, 2, 64).is_err());
        assert!(check_range("x", 0xFFFF_FFF0, 0xFFFF_FFFF, 1 << 16).is_err());
    }

    #[test]
    fn log_bucket_refills_over_event_time_without_rounding_loss() {
        let mut b = LogBucket::new(1000, 0);
        assert!(b.take(1000));
        assert!(!b.take(1));
        // 1000 refills of 1 µs each = 1 ms = 1 byte.
        for i in 1..=1000u64 {
            b.refill(i * 1000);
        }
        assert!(b.take(1));
        assert!(!b.take(1));
        b.refill(10_000_000_000);
        assert!(b.take(1000));
        assert!(!b.take(1));
        // Time going backwards adds nothing.
        b.refill(5);
        assert!(!b.take(1));
    }
}
