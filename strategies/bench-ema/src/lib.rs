//! # bh-bench-ema — the benchmark strategy of issue 8
//!
//! An integer EMA-crossover **taker** plus a one-level **quoter**, kept simple
//! and fully specified so that `bench/nautilus_ema.py` replicates it exactly
//! for NautilusTrader. Everything below is integer arithmetic on ticks
//! (0.1 USDT), lots (0.001 BTC) and nanoseconds of event time.
//!
//! ## State
//! `fast`, `slow` (i64, price × 2^16), `trades` (count), `regime` ∈ {−1, 0, +1},
//! `last_take_ns` (none at start), `position` (lots, from fills), and one
//! optional resting order per side `bid`/`ask` = (order id, price).
//!
//! ## Taker — on every trade of `instrument` with price > 0
//! ```text
//! x = price << 16
//! if trades == 0 { fast = x; slow = x }
//! else { fast += (x - fast) >> fast_shift;  slow += (x - slow) >> slow_shift }   // >> is arithmetic (floor)
//! trades += 1
//! if trades < warmup_trades: stop
//! sign = signum(fast - slow);  if sign == 0 or sign == regime: stop
//! prev = regime; regime = sign
//! if prev == 0: stop                                  // first regime after warm-up: no trade
//! if last_take_ns is set and now < last_take_ns + cooldown_ns: stop   // crossing dropped
//! if |position + sign * take_lots| > max_position_lots: stop
//! last_take_ns = now
//! send MARKET IOC, side = buy if sign > 0 else sell, qty = take_lots
//! ```
//!
//! ## Quoter — on every two-sided quote of `instrument` (bid > 0, ask > bid)
//! ```text
//! want_bid = bid_px - quote_offset_ticks   if position + quote_lots <= max_position_lots and want_bid > 0, else none
//! want_ask = ask_px + quote_offset_ticks   if position - quote_lots >= -max_position_lots, else none
//! for side in (buy, sell):                 // bid first, then ask
//!     if a resting order (id, px) exists on that side:
//!         if want is some and |want - px| < requote_ticks: keep it, next side
//!         cancel it; forget it (whatever the cancel returns)
//!     if want is some: send POST-ONLY (GTC) limit, qty = quote_lots, price = want; remember (id, want)
//! ```
//! The quoter does not react to fills; it requotes on the next quote.
//!
//! ## Order events
//! - fill: `position += ±qty`; if it is a side's resting order and nothing
//!   remains, forget it;
//! - cancelled / rejected: forget the side whose resting order it was.
//!
//! ## Config (`key = value`; defaults in brackets)
//! `instrument` [0], `fast_shift` [4] (α = 1/16), `slow_shift` [7] (α = 1/128),
//! `warmup_trades` [128], `take_lots` [1], `quote_lots` [1],
//! `quote_offset_ticks` [1], `requote_ticks` [3], `max_position_lots` [5],
//! `cooldown_ns` [500000000]. `fast_shift < slow_shift ≤ 30`; sizes ≥ 1.
//! An invalid value makes `init` fail (non-zero result) with a log line naming it.
#![cfg_attr(target_arch = "wasm32", no_std)]

use bulkhead_sdk::{Config, Ctx, Fill, LOG_ERROR, Order, OrderUpdate, Quote, Reason, Side, Strategy, Trade, log};

/// Fixed-point shift of the EMAs.
pub const EMA_SHIFT: u32 = 16;
/// Prices at or above this are ignored (keeps `price << EMA_SHIFT` far from overflow).
pub const MAX_PRICE: i64 = 1 << 40;
/// Tags on our orders.
pub const TAG_TAKE: u64 = 0x54414b45; // "TAKE"
pub const TAG_BID: u64 = 0x424944; // "BID"
pub const TAG_ASK: u64 = 0x41534b; // "ASK"

/// Parameters (see the crate docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub instrument: u32,
    pub fast_shift: u32,
    pub slow_shift: u32,
    pub warmup_trades: u64,
    pub take_lots: i64,
    pub quote_lots: i64,
    pub quote_offset_ticks: i64,
    pub requote_ticks: i64,
    pub max_position_lots: i64,
    pub cooldown_ns: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            instrument: 0,
            fast_shift: 4,
            slow_shift: 7,
            warmup_trades: 128,
            take_lots: 1,
            quote_lots: 1,
            quote_offset_ticks: 1,
            requote_ticks: 3,
            max_position_lots: 5,
            cooldown_ns: 500_000_000,
        }
    }
}

impl Params {
    /// Read from config; `Err(key)` names the first invalid key.
    pub fn from_config(c: &Config) -> Result<Params, &'static str> {
        let d = Params::default();
        let int = |k: &'static str, def: i64, min: i64, max: i64| -> Result<i64, &'static str> {
            match c.get_str(k) {
                None => Ok(def),
                Some(_) => c.get_i64(k).filter(|v| (min..=max).contains(v)).ok_or(k),
            }
        };
        let p = Params {
            instrument: int("instrument", 0, 0, u32::MAX as i64)? as u32,
            fast_shift: int("fast_shift", d.fast_shift as i64, 0, 30)? as u32,
            slow_shift: int("slow_shift", d.slow_shift as i64, 1, 30)? as u32,
            warmup_trades: int("warmup_trades", d.warmup_trades as i64, 1, i64::MAX)? as u64,
            take_lots: int("take_lots", d.take_lots, 1, 1 << 40)?,
            quote_lots: int("quote_lots", d.quote_lots, 1, 1 << 40)?,
            quote_offset_ticks: int("quote_offset_ticks", d.quote_offset_ticks, 0, 1 << 40)?,
            requote_ticks: int("requote_ticks", d.requote_ticks, 1, 1 << 40)?,
            max_position_lots: int("max_position_lots", d.max_position_lots, 1, 1 << 40)?,
            cooldown_ns: int("cooldown_ns", d.cooldown_ns as i64, 0, i64::MAX)? as u64,
        };
        if p.fast_shift >= p.slow_shift {
            return Err("fast_shift");
        }
        Ok(p)
    }
}

/// One fixed-point EMA step: `ema + ((price << 16) - ema) >> shift` (floor).
#[inline]
pub fn ema_step(ema: i64, price: i64, shift: u32) -> i64 {
    ema + (((price << EMA_SHIFT) - ema) >> shift)
}

/// What the strategy did (read by tests and the native benchmark).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Market orders sent (accepted by the host).
    pub takes: u64,
    /// Post-only quotes sent (accepted by the host).
    pub quotes: u64,
    /// Cancels requested.
    pub cancels: u64,
    /// Orders the host refused synchronously.
    pub refused: u64,
    /// Fill events received.
    pub fills: u64,
}

/// The benchmark strategy (public so native runs can link it as an rlib).
#[derive(Debug, Default)]
pub struct BenchEma {
    params: Params,
    fast: i64,
    slow: i64,
    trades: u64,
    regime: i8,
    last_take_ns: Option<u64>,
    position: i64,
    /// Resting quote per side: [bid, ask] = (order id, price).
    quotes: [Option<(u64, i64)>; 2],
    /// What it did.
    pub counters: Counters,
}

const fn idx(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

impl BenchEma {
    /// Current parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// (fast, slow) EMAs in fixed point.
    pub fn emas(&self) -> (i64, i64) {
        (self.fast, self.slow)
    }
    /// Position in lots as tracked from fills.
    pub fn position(&self) -> i64 {
        self.position
    }
    /// Resting quote on `side`: (id, price).
    pub fn resting(&self, side: Side) -> Option<(u64, i64)> {
        self.quotes[idx(side)]
    }

    fn requote_side(&mut self, ctx: &mut Ctx, side: Side, want: Option<i64>) {
        let i = idx(side);
        if let Some((id, px)) = self.quotes[i] {
            if let Some(w) = want
                && (w - px).abs() < self.params.requote_ticks
            {
                return;
            }
            let _ = ctx.cancel(id);
            self.counters.cancels += 1;
            self.quotes[i] = None;
        }
        let Some(px) = want else { return };
        let p = &self.params;
        let tag = if side == Side::Buy { TAG_BID } else { TAG_ASK };
        match ctx.place(Order::limit(side, p.instrument, px, p.quote_lots).post_only().tag(tag)) {
            Ok(id) => {
                self.counters.quotes += 1;
                self.quotes[i] = Some((id, px));
            }
            Err(_) => self.counters.refused += 1,
        }
    }

    fn forget(&mut self, id: u64) {
        for q in &mut self.quotes {
            if q.is_some_and(|(qid, _)| qid == id) {
                *q = None;
            }
        }
    }
}

impl Strategy for BenchEma {
    fn init(&mut self, ctx: &mut Ctx, config: &[u8]) {
        match Params::from_config(&Config::parse(config)) {
            Ok(p) => self.params = p,
            Err(key) => {
                log!(ctx, level = LOG_ERROR, "bench-ema: invalid config value for `{}`", key);
                ctx.fail(1);
            }
        }
    }

    fn on_trade(&mut self, ctx: &mut Ctx, t: &Trade) {
        if t.instrument != self.params.instrument || t.price <= 0 || t.price >= MAX_PRICE {
            return;
        }
        let p = self.params;
        if self.trades == 0 {
            self.fast = t.price << EMA_SHIFT;
            self.slow = self.fast;
        } else {
            self.fast = ema_step(self.fast, t.price, p.fast_shift);
            self.slow = ema_step(self.slow, t.price, p.slow_shift);
        }
        self.trades += 1;
        if self.trades < p.warmup_trades {
            return;
        }
        let sign: i8 = match self.fast.cmp(&self.slow) {
            core::cmp::Ordering::Greater => 1,
            core::cmp::Ordering::Less => -1,
            core::cmp::Ordering::Equal => 0,
        };
        if sign == 0 || sign == self.regime {
            return;
        }
        let prev = self.regime;
        self.regime = sign;
        if prev == 0 {
            return;
        }
        let now = ctx.now_ns();
        if let Some(t0) = self.last_take_ns
            && now < t0.saturating_add(p.cooldown_ns)
        {
            return;
        }
        let qty = sign as i64 * p.take_lots;
        if (self.position + qty).abs() > p.max_position_lots {
            return;
        }
        self.last_take_ns = Some(now);
        let side = if sign > 0 { Side::Buy } else { Side::Sell };
        match ctx.place(Order::market(side, p.instrument, p.take_lots).tag(TAG_TAKE)) {
            Ok(_) => self.counters.takes += 1,
            Err(_) => self.counters.refused += 1,
        }
    }

    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        if q.instrument != self.params.instrument || q.bid_px <= 0 || q.ask_px <= q.bid_px {
            return;
        }
        let p = self.params;
        let bid = q.bid_px - p.quote_offset_ticks;
        let want_bid = (self.position + p.quote_lots <= p.max_position_lots && bid > 0).then_some(bid);
        let want_ask =
            (self.position - p.quote_lots >= -p.max_position_lots).then_some(q.ask_px + p.quote_offset_ticks);
        self.requote_side(ctx, Side::Buy, want_bid);
        self.requote_side(ctx, Side::Sell, want_ask);
    }

    fn on_fill(&mut self, _ctx: &mut Ctx, f: &Fill) {
        if f.instrument != self.params.instrument {
            return;
        }
        self.counters.fills += 1;
        self.position += f.signed_qty();
        if f.remaining <= 0 {
            self.forget(f.id);
        }
    }

    fn on_cancelled(&mut self, _ctx: &mut Ctx, o: &OrderUpdate) {
        self.forget(o.id);
    }

    fn on_rejected(&mut self, _ctx: &mut Ctx, o: &OrderUpdate, _reason: Option<Reason>) {
        self.forget(o.id);
    }
}

bulkhead_sdk::export_strategy!(BenchEma);

#[cfg(test)]
mod tests {
    use bulkhead_sdk::testing::{self, RecordingHost};
    use bulkhead_sdk::{NativeRunner, OrderType, TimeInForce};

    use super::*;

    const CFG: &str = "fast_shift = 1\nslow_shift = 3\nwarmup_trades = 3\ntake_lots = 2\nmax_position_lots = 4\n\
                       cooldown_ns = 100\nquote_offset_ticks = 2\nrequote_ticks = 3\n";

    fn runner(cfg: &str) -> (NativeRunner<BenchEma>, RecordingHost) {
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(BenchEma::default());
        assert_eq!(r.init(&mut host, 0, cfg.as_bytes()), 0);
        host.clear();
        (r, host)
    }

    #[test]
    fn config_validation() {
        assert_eq!(Params::from_config(&Config::parse(b"")), Ok(Params::default()));
        assert_eq!(Params::from_config(&Config::parse(b"fast_shift = 7")), Err("fast_shift"));
        assert_eq!(Params::from_config(&Config::parse(b"take_lots = 0")), Err("take_lots"));
        let mut host = RecordingHost::new();
        assert_eq!(NativeRunner::new(BenchEma::default()).init(&mut host, 0, b"slow_shift = x"), 1);
    }

    #[test]
    fn ema_shift_floors_like_python() {
        // (-3) >> 1 == -2 in Rust and in Python.
        assert_eq!(ema_step(3, 0, 1), 3 + (-3 >> 1));
        assert_eq!(ema_step(3, 0, 1), 1);
        assert_eq!(ema_step(100 << EMA_SHIFT, 100, 4), 100 << EMA_SHIFT);
    }

    #[test]
    fn crossings_take_with_cooldown_and_position_cap() {
        let (mut r, mut host) = runner(CFG);
        let t = |ts: u64, px: i64| testing::trade(0, ts, px, 1, None);
        // falling: regime −1 recorded at warm-up end, no trade
        r.on_events(&mut host, &[t(1, 110), t(2, 105), t(3, 100)]);
        assert!(host.submitted().is_empty());
        // sharp rise: cross up → market buy 2
        r.on_events(&mut host, &[t(10, 130)]);
        let sub = host.submitted();
        assert_eq!(sub.len(), 1);
        assert_eq!(
            (sub[0].1.side, sub[0].1.order_type, sub[0].1.tif, sub[0].1.qty),
            (Side::Buy, OrderType::Market, TimeInForce::Ioc, 2)
        );
        let (id, req) = sub[0];
        r.on_events(&mut host, &[testing::fill(11, id, &req, 130, 2, 0, false)]);
        assert_eq!(r.strategy().position(), 2);
        host.clear();
        // cross down inside the cooldown (ts 50 < 10 + 100): dropped
        r.on_events(&mut host, &[t(50, 60)]);
        assert!(host.submitted().is_empty());
        // cross up after the cooldown: +2 → 4 ≤ 4, taken
        r.on_events(&mut host, &[t(200, 200)]);
        assert_eq!(host.submitted().len(), 1);
        let (id, req) = host.submitted()[0];
        r.on_events(&mut host, &[testing::fill(201, id, &req, 200, 2, 0, false)]);
        host.clear();
        // down then up again: the sell is taken (4 → 2), the buy too (2 → 4)
        r.on_events(&mut host, &[t(400, 50)]);
        let (id, req) = host.submitted()[0];
        assert_eq!(req.side, Side::Sell);
        // without the sell's fill the next buy would breach the cap (4 + 2 > 4)
        r.on_events(&mut host, &[testing::fill(401, id, &req, 50, 2, 0, false)]);
        r.on_events(&mut host, &[t(600, 300)]);
        assert_eq!(host.submitted().len(), 2);
        assert_eq!(host.submitted()[1].1.side, Side::Buy);
    }

    #[test]
    fn quoter_keeps_moves_requotes_and_caps() {
        let (mut r, mut host) = runner(CFG);
        r.on_events(&mut host, &[testing::quote(0, 1, 1000, 5, 1002, 5)]);
        let sub = host.submitted();
        assert_eq!(sub.len(), 2);
        assert_eq!(
            (sub[0].1.side, sub[0].1.price, sub[0].1.tif, sub[0].1.qty),
            (Side::Buy, 998, TimeInForce::PostOnly, 1)
        );
        assert_eq!((sub[1].1.side, sub[1].1.price), (Side::Sell, 1004));
        let (bid_id, bid_req) = sub[0];
        host.clear();
        // moves of 2 < 3: kept
        r.on_events(&mut host, &[testing::quote(0, 2, 1002, 5, 1004, 5)]);
        assert!(host.calls.is_empty());
        // bid moves 3: cancel + new bid; ask (1007 vs 1004) too
        r.on_events(&mut host, &[testing::quote(0, 3, 1003, 5, 1005, 5)]);
        assert_eq!(host.cancels().len(), 2);
        assert_eq!(host.submitted().iter().map(|s| s.1.price).collect::<Vec<_>>(), [1001, 1007]);
        // a fill of an old (already forgotten) bid still counts in the position
        r.on_events(&mut host, &[testing::fill(4, bid_id, &bid_req, 998, 1, 0, true)]);
        assert_eq!(r.strategy().position(), 1);
        // at +4 the bid is withdrawn
        let mut big = bid_req;
        big.qty = 3;
        r.on_events(&mut host, &[testing::fill(5, bid_id, &big, 998, 3, 0, true)]);
        host.clear();
        r.on_events(&mut host, &[testing::quote(0, 6, 1003, 5, 1005, 5)]);
        assert_eq!(host.cancels().len(), 1);
        assert!(r.strategy().resting(Side::Buy).is_none());
        assert!(r.strategy().resting(Side::Sell).is_some());
    }
}
