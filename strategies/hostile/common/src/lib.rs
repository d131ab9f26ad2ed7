//! # hostile-common — shared scaffolding for the hostile catalogue
//!
//! Every hostile strategy behaves for a while, then misbehaves:
//! - on the first two-sided quote of its instrument it *parks* one small
//!   post-only bid far below the market (`park_bps` under the mid, 5% by
//!   default, so it never fills). That order is what the host must cancel
//!   when the strategy faults (cancel-on-fault is observable in the journal);
//! - it counts market events (quotes and trades); from the `at`-th on, every
//!   market event calls [`Hostile::misbehave`].
//!
//! ## Config keys shared by every case (defaults in brackets)
//! - `instrument` [0]
//! - `at` [200] — 1-based market event index at which misbehaviour starts
//! - `park` [true] — park the far bid first
//! - `park_bps` [500] — distance of the parked bid below the mid
#![no_std]

pub use bulkhead_sdk;
use bulkhead_sdk::{Config, Ctx, Order, Quote, Side, log};

/// Tag on the parked bid.
pub const TAG_PARK: u64 = 0xBAD0;
/// Tag on orders placed while misbehaving.
pub const TAG_HOSTILE: u64 = 0xBAD1;

/// State shared by every hostile case.
#[derive(Debug)]
pub struct Base {
    pub instrument: u32,
    pub at: u64,
    pub park: bool,
    pub park_bps: i64,
    /// Market events seen.
    pub events: u64,
    /// Id of the parked bid once placed.
    pub parked: Option<u64>,
    /// Last two-sided quote of our instrument.
    pub quote: Option<Quote>,
}

impl Default for Base {
    fn default() -> Self {
        Base { instrument: 0, at: 200, park: true, park_bps: 500, events: 0, parked: None, quote: None }
    }
}

impl Base {
    /// Read the shared keys.
    pub fn configure(&mut self, c: &Config) {
        let d = Base::default();
        self.instrument = c.get_u64("instrument").and_then(|v| u32::try_from(v).ok()).unwrap_or(d.instrument);
        self.at = c.u64_or("at", d.at).max(1);
        self.park = c.get_bool("park").unwrap_or(d.park);
        self.park_bps = c.get_i64("park_bps").filter(|v| (1..10_000).contains(v)).unwrap_or(d.park_bps);
    }

    /// Mid of the last two-sided quote.
    pub fn mid(&self) -> Option<i64> {
        self.quote.and_then(|q| q.mid())
    }

    /// `bps` basis points below the mid (at least 1 tick).
    pub fn below_mid(&self, bps: i64) -> Option<i64> {
        self.mid().map(|m| (m - m * bps / 10_000).max(1))
    }

    /// `bps` basis points above the mid.
    pub fn above_mid(&self, bps: i64) -> Option<i64> {
        self.mid().map(|m| m + m * bps / 10_000)
    }

    /// Remember the quote and park the far bid if not done yet.
    pub fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        if q.instrument != self.instrument || !q.is_two_sided() {
            return;
        }
        self.quote = Some(*q);
        if self.park && self.parked.is_none() {
            let Some(px) = self.below_mid(self.park_bps) else { return };
            let o = Order::limit(Side::Buy, self.instrument, px, 1).post_only().tag(TAG_PARK);
            match ctx.place(o) {
                Ok(id) => self.parked = Some(id),
                Err(r) => {
                    log!(ctx, "hostile: parked bid refused: {}", r.name());
                    self.park = false;
                }
            }
        }
    }

    /// Count one market event; true from the `at`-th on.
    pub fn tick(&mut self) -> bool {
        self.events += 1;
        self.events >= self.at
    }

    /// Market events since misbehaviour began (0 on the first).
    pub fn since(&self) -> u64 {
        self.events.saturating_sub(self.at)
    }
}

/// A hostile case: shared [`Base`] plus its own misbehaviour.
pub trait Hostile: Default {
    fn base(&mut self) -> &mut Base;
    /// Read case-specific config keys.
    fn configure(&mut self, _ctx: &mut Ctx, _c: &Config) {}
    /// Called on every market event from the `at`-th on.
    fn misbehave(&mut self, ctx: &mut Ctx);
}

/// Implement `bulkhead_sdk::Strategy` for a [`Hostile`] type and export it.
#[macro_export]
macro_rules! hostile_strategy {
    ($ty:ty) => {
        impl $crate::bulkhead_sdk::Strategy for $ty {
            fn init(&mut self, ctx: &mut $crate::bulkhead_sdk::Ctx, config: &[u8]) {
                let c = $crate::bulkhead_sdk::Config::parse(config);
                $crate::Hostile::base(self).configure(&c);
                $crate::Hostile::configure(self, ctx, &c);
            }
            fn on_quote(&mut self, ctx: &mut $crate::bulkhead_sdk::Ctx, q: &$crate::bulkhead_sdk::Quote) {
                $crate::Hostile::base(self).on_quote(ctx, q);
                if $crate::Hostile::base(self).tick() {
                    $crate::Hostile::misbehave(self, ctx);
                }
            }
            fn on_trade(&mut self, ctx: &mut $crate::bulkhead_sdk::Ctx, _t: &$crate::bulkhead_sdk::Trade) {
                if $crate::Hostile::base(self).tick() {
                    $crate::Hostile::misbehave(self, ctx);
                }
            }
        }
        $crate::bulkhead_sdk::export_strategy!($ty);
    };
}

/// Burn `iters` iterations of an opaque loop (fuel- and time-consuming, never
/// optimised away). Returns a value so the caller can keep it alive.
#[inline(never)]
pub fn spin(iters: u64) -> u64 {
    let mut n: u64 = 0;
    let mut i = 0;
    while i < iters {
        n = core::hint::black_box(n.wrapping_add(i));
        i += 1;
    }
    n
}
