//! # bulkhead-sdk — the guest library strategies are written against
//!
//! Owns: the [`Strategy`] trait and the typed event views it receives
//! ([`Trade`], [`Quote`], [`OrderUpdate`], [`Fill`]); [`Ctx`], the safe wrapper
//! over the host calls (orders, cancels, position, open orders, timers, logs);
//! the [`export_strategy!`] macro that turns a `Strategy` into the wasm exports
//! of ABI version 1; [`NativeRunner`], which runs the very same dispatch code
//! natively against any [`HostApi`] (benchmarks, tests); and [`Config`], a
//! tiny allocation-free `key = value` parser.
//!
//! Must never: know the host beyond `bulkhead-abi` — every host interaction goes
//! through [`HostApi`], implemented on wasm32 by [`WasmHost`] over the imports of
//! module `bulkhead` and nothing else; allocate on the hot path.
//!
//! The crate is `no_std` and allocation-free, so a strategy module contains no
//! allocator and stays small (tens of KiB). A strategy that wants `alloc` on
//! wasm32 must bring a `#[global_allocator]`, or enable feature `std` (which
//! also hands panic handling to std).
//!
//! ```ignore
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use bulkhead_sdk::{Ctx, Quote, Strategy};
//! #[derive(Default)]
//! pub struct Mine;
//! impl Strategy for Mine {
//!     fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) { /* ... */ }
//! }
//! bulkhead_sdk::export_strategy!(Mine);
//! ```
#![no_std]
#![deny(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

mod config;
mod ctx;
mod dispatch;
mod events;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use bulkhead_abi as abi;
pub use bulkhead_abi::{
    Event, EventKind, HostApi, LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARN, OpenOrderRecord, OrderRequest, OrderType,
    PositionRecord, Reason, ResultCode, Side, TimeInForce,
};
pub use config::Config;
pub use ctx::{ChainCall, Ctx, EMPTY_OPEN_ORDER, LogBuf, Order, OrderId, SEL_APPROVE, SEL_SWAP, SEL_TRANSFER};
pub use dispatch::{ERR_BAD_LENGTH, ERR_NOT_INITIALIZED, NativeRunner};
pub use events::{BookLevel, ChainStatus, ChainUpdate, Fill, OrderUpdate, Quote, Trade};
#[cfg(target_arch = "wasm32")]
pub use wasm::WasmHost;

/// A trading strategy. Every callback has a default that does nothing, so a
/// strategy implements only what it needs. Callbacks run one at a time, in
/// event order; `ctx.now_ns()` is the time of the event being handled.
pub trait Strategy {
    /// Called once before any event with the strategy's config bytes.
    fn init(&mut self, ctx: &mut Ctx, config: &[u8]) {
        let _ = (ctx, config);
    }
    /// A trade printed in the market.
    fn on_trade(&mut self, ctx: &mut Ctx, t: &Trade) {
        let _ = (ctx, t);
    }
    /// Best bid / ask changed.
    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        let _ = (ctx, q);
    }
    /// One of our orders reached the book.
    fn on_accepted(&mut self, ctx: &mut Ctx, o: &OrderUpdate) {
        let _ = (ctx, o);
    }
    /// One of our orders was refused. `reason` is `None` only for a code this
    /// SDK version does not know; the raw code is in `o.reason_code`.
    fn on_rejected(&mut self, ctx: &mut Ctx, o: &OrderUpdate, reason: Option<Reason>) {
        let _ = (ctx, o, reason);
    }
    /// One of our orders left the book unfilled (`o.qty` = cancelled qty,
    /// `o.reason_code` = why).
    fn on_cancelled(&mut self, ctx: &mut Ctx, o: &OrderUpdate) {
        let _ = (ctx, o);
    }
    /// One of our orders (partly) filled.
    fn on_fill(&mut self, ctx: &mut Ctx, f: &Fill) {
        let _ = (ctx, f);
    }
    /// A timer set with [`Ctx::set_timer`] fired.
    fn on_timer(&mut self, ctx: &mut Ctx, token: u64) {
        let _ = (ctx, token);
    }
    /// One L2 level changed, or (`l.clear`) the book was cleared before a
    /// snapshot. Delivered only when the run sets `[data]
    /// strategy_book_levels = true`; top-of-book changes always come as
    /// [`Strategy::on_quote`].
    fn on_book_level(&mut self, ctx: &mut Ctx, l: &BookLevel) {
        let _ = (ctx, l);
    }
    /// What became of one of our smart-contract intents
    /// ([`Ctx::chain_call`]): rejected, simulated, mined or reverted.
    fn on_chain(&mut self, ctx: &mut Ctx, u: &ChainUpdate) {
        let _ = (ctx, u);
    }
}

/// Format into a fixed stack buffer (no allocation) and log it at
/// [`LOG_INFO`] (or the given level). Over-long messages are truncated.
///
/// `log!(ctx, "mid {}", mid);` or `log!(ctx, level = LOG_WARN, "rejected {}", code);`
#[macro_export]
macro_rules! log {
    ($ctx:expr, level = $lvl:expr, $($arg:tt)+) => {{
        let mut __b = $crate::LogBuf::new();
        let _ = ::core::fmt::Write::write_fmt(&mut __b, ::core::format_args!($($arg)+));
        $ctx.log_bytes($lvl, __b.as_bytes());
    }};
    ($ctx:expr, $($arg:tt)+) => {
        $crate::log!($ctx, level = $crate::LOG_INFO, $($arg)+)
    };
}

/// Export a [`Strategy`] (`Type: Strategy + Default`) as a Bulkhead wasm
/// module: generates, on wasm32 only, `bulkhead_abi_version`,
/// `bulkhead_buffer`, `bulkhead_init` and `bulkhead_on_events`. Use it once per
/// cdylib. On other targets it expands to nothing.
#[macro_export]
macro_rules! export_strategy {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            static __BULKHEAD_STATE: $crate::__private::Slot<$ty> = $crate::__private::Slot::new();

            #[unsafe(no_mangle)]
            pub extern "C" fn bulkhead_abi_version() -> i32 {
                $crate::abi::ABI_VERSION
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn bulkhead_buffer(len: i32) -> i32 {
                $crate::__private::buffer(len)
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn bulkhead_init(len: i32) -> i32 {
                // SAFETY: wasm32 is single-threaded and the host never re-enters
                // the guest from inside a host call.
                unsafe { $crate::__private::init(&__BULKHEAD_STATE, len) }
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn bulkhead_on_events(count: i32) -> i32 {
                // SAFETY: as above.
                unsafe { $crate::__private::on_events(&__BULKHEAD_STATE, count) }
            }
        };
    };
}

#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::wasm::{Slot, buffer, init, on_events};
}

#[cfg(all(target_arch = "wasm32", not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // A panic is a trap: the host quarantines the strategy and cancels its orders.
    core::arch::wasm32::unreachable()
}
