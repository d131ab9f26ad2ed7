//! # bh-momentum — integer EMA crossover on trade prices
//!
//! Keeps a fast and a slow exponential moving average of trade prices of its
//! instrument in fixed point (price × 2^16, integer arithmetic only, no floats):
//!
//! ```text
//! ema += (price·2^16 − ema) · 2 / (period + 1)
//! ```
//!
//! Both EMAs are seeded with the first trade price; no signal is taken before
//! `slow` trades have been seen. When the fast EMA crosses above the slow one,
//! the target position becomes `+target_lots`; when it crosses below,
//! `−target_lots` (the regime found at the end of warm-up is recorded without
//! trading — only a crossing trades). While the position (tracked from fills,
//! seeded from the host at `init`) differs from the target and no order is in
//! flight, it sends one IOC order for the difference — a market order, or, if
//! `aggress_ticks > 0`, a limit IOC at the last trade price ± `aggress_ticks`
//! — at most once per `cooldown_ns` of event time (a refused order also waits
//! out the cooldown). Fills, IOC-remainder cancels and rejects clear the
//! in-flight order.
//!
//! ## Config (`key = value` lines; defaults in brackets)
//! - `instrument` [0]
//! - `fast` [8] — fast EMA period in trades (≥ 1, < `slow`)
//! - `slow` [32] — slow EMA period in trades
//! - `target_lots` [10] — absolute target position (> 0)
//! - `cooldown_ns` [1000000000] — minimum event time between orders
//! - `aggress_ticks` [0] — 0 = market IOC; > 0 = limit IOC this far through the last price
//!
//! An invalid value makes `init` fail (non-zero result) with a log line naming it.
#![cfg_attr(target_arch = "wasm32", no_std)]

use bulkhead_sdk::{Config, Ctx, Fill, LOG_ERROR, LOG_WARN, Order, OrderUpdate, Reason, Side, Strategy, Trade, log};

/// Fixed-point shift of the EMAs.
pub const EMA_SHIFT: u32 = 16;
/// Prices at or above this are ignored (keeps `price << EMA_SHIFT` far from overflow).
pub const MAX_PRICE: i64 = 1 << 40;
/// Tag on our orders.
pub const TAG: u64 = 0x4d4f4d; // "MOM"

/// Parameters (see the crate docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub instrument: u32,
    pub fast: i64,
    pub slow: i64,
    pub target_lots: i64,
    pub cooldown_ns: u64,
    pub aggress_ticks: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params { instrument: 0, fast: 8, slow: 32, target_lots: 10, cooldown_ns: 1_000_000_000, aggress_ticks: 0 }
    }
}

impl Params {
    /// Read from config; `Err(key)` names the first invalid key.
    pub fn from_config(c: &Config) -> Result<Params, &'static str> {
        let d = Params::default();
        let int = |k: &'static str, def: i64, min: i64| -> Result<i64, &'static str> {
            match c.get_str(k) {
                None => Ok(def),
                Some(_) => c.get_i64(k).filter(|v| *v >= min).ok_or(k),
            }
        };
        let p = Params {
            instrument: u32::try_from(int("instrument", 0, 0)?).map_err(|_| "instrument")?,
            fast: int("fast", d.fast, 1)?,
            slow: int("slow", d.slow, 2)?,
            target_lots: int("target_lots", d.target_lots, 1)?,
            cooldown_ns: int("cooldown_ns", d.cooldown_ns as i64, 0)? as u64,
            aggress_ticks: int("aggress_ticks", d.aggress_ticks, 0)?,
        };
        if p.fast >= p.slow {
            return Err("fast");
        }
        Ok(p)
    }
}

/// One fixed-point EMA step.
#[inline]
pub fn ema_step(ema: i64, price: i64, period: i64) -> i64 {
    ema + ((price << EMA_SHIFT) - ema) * 2 / (period + 1)
}

/// The momentum strategy (public so native benchmarks can link it as an rlib).
#[derive(Debug, Default)]
pub struct Momentum {
    params: Params,
    ema_fast: i64,
    ema_slow: i64,
    trades: u64,
    regime: i8,
    target: i64,
    position: i64,
    last_price: i64,
    /// (order id, signed open quantity)
    inflight: Option<(u64, i64)>,
    last_order_ns: Option<u64>,
    /// Orders submitted successfully.
    pub orders_sent: u64,
}

impl Momentum {
    /// Current parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// (fast, slow) EMAs in fixed point (price × 2^[`EMA_SHIFT`]).
    pub fn emas(&self) -> (i64, i64) {
        (self.ema_fast, self.ema_slow)
    }
    /// Position in lots as tracked from fills.
    pub fn position(&self) -> i64 {
        self.position
    }
    /// Target position in lots.
    pub fn target(&self) -> i64 {
        self.target
    }
    /// Our IOC order in flight: (id, signed open qty).
    pub fn inflight(&self) -> Option<(u64, i64)> {
        self.inflight
    }

    fn rebalance(&mut self, ctx: &mut Ctx) {
        if self.inflight.is_some() {
            return;
        }
        let delta = self.target - self.position;
        if delta == 0 || self.last_price <= 0 {
            return;
        }
        if let Some(t) = self.last_order_ns
            && ctx.now_ns() < t.saturating_add(self.params.cooldown_ns)
        {
            return;
        }
        let p = self.params;
        let side = if delta > 0 { Side::Buy } else { Side::Sell };
        let qty = delta.abs();
        let order = if p.aggress_ticks > 0 {
            let px = self.last_price + side.sign() * p.aggress_ticks;
            Order::limit(side, p.instrument, px.max(1), qty).ioc()
        } else {
            Order::market(side, p.instrument, qty)
        };
        self.last_order_ns = Some(ctx.now_ns());
        match ctx.place(order.tag(TAG)) {
            Ok(id) => {
                self.orders_sent += 1;
                self.inflight = Some((id, side.sign() * qty));
            }
            Err(r) => log!(ctx, level = LOG_WARN, "momentum: {} {} refused: {}", side.name(), qty, r.name()),
        }
    }
}

impl Strategy for Momentum {
    fn init(&mut self, ctx: &mut Ctx, config: &[u8]) {
        match Params::from_config(&Config::parse(config)) {
            Ok(p) => self.params = p,
            Err(key) => {
                log!(ctx, level = LOG_ERROR, "momentum: invalid config value for `{}`", key);
                ctx.fail(1);
                return;
            }
        }
        if let Ok(pos) = ctx.try_position(self.params.instrument) {
            self.position = pos.qty;
            self.target = pos.qty;
        }
        let p = self.params;
        log!(
            ctx,
            "momentum: instrument={} fast={} slow={} target={} cooldown_ns={} aggress={}",
            p.instrument,
            p.fast,
            p.slow,
            p.target_lots,
            p.cooldown_ns,
            p.aggress_ticks
        );
    }

    fn on_trade(&mut self, ctx: &mut Ctx, t: &Trade) {
        if t.instrument != self.params.instrument || t.price <= 0 || t.price >= MAX_PRICE {
            return;
        }
        self.last_price = t.price;
        if self.trades == 0 {
            self.ema_fast = t.price << EMA_SHIFT;
            self.ema_slow = self.ema_fast;
        } else {
            self.ema_fast = ema_step(self.ema_fast, t.price, self.params.fast);
            self.ema_slow = ema_step(self.ema_slow, t.price, self.params.slow);
        }
        self.trades += 1;
        if self.trades >= self.params.slow as u64 {
            let sign = match self.ema_fast.cmp(&self.ema_slow) {
                core::cmp::Ordering::Greater => 1,
                core::cmp::Ordering::Less => -1,
                core::cmp::Ordering::Equal => 0,
            };
            if sign != 0 && sign != self.regime {
                if self.regime != 0 {
                    self.target = sign as i64 * self.params.target_lots;
                    log!(ctx, "momentum: cross {} → target {}", if sign > 0 { "up" } else { "down" }, self.target);
                }
                self.regime = sign;
            }
        }
        self.rebalance(ctx);
    }

    fn on_fill(&mut self, _ctx: &mut Ctx, f: &Fill) {
        if f.instrument != self.params.instrument {
            return;
        }
        self.position += f.signed_qty();
        if let Some((id, _)) = self.inflight
            && id == f.id
        {
            self.inflight = (f.remaining > 0).then(|| (id, f.side.sign() * f.remaining));
        }
    }

    fn on_cancelled(&mut self, _ctx: &mut Ctx, o: &OrderUpdate) {
        if self.inflight.is_some_and(|(id, _)| id == o.id) {
            self.inflight = None;
        }
    }

    fn on_rejected(&mut self, ctx: &mut Ctx, o: &OrderUpdate, _reason: Option<Reason>) {
        if self.inflight.is_some_and(|(id, _)| id == o.id) {
            self.inflight = None;
            log!(ctx, level = LOG_WARN, "momentum: order {} rejected ({})", o.id, o.reason_code);
        }
    }
}

bulkhead_sdk::export_strategy!(Momentum);

#[cfg(test)]
mod tests {
    use bulkhead_sdk::testing::{self, RecordingHost};
    use bulkhead_sdk::{Event, EventKind, NativeRunner, OrderType, TimeInForce};

    use super::*;

    const CFG: &str = "fast = 2\nslow = 4\ntarget_lots = 3\ncooldown_ns = 100\n";

    fn runner(cfg: &str) -> (NativeRunner<Momentum>, RecordingHost) {
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(Momentum::default());
        assert_eq!(r.init(&mut host, 0, cfg.as_bytes()), 0);
        host.clear();
        (r, host)
    }

    fn trades(start_ts: u64, prices: &[i64]) -> Vec<Event> {
        prices.iter().enumerate().map(|(i, &p)| testing::trade(0, start_ts + i as u64, p, 1, None)).collect()
    }

    #[test]
    fn config_validation() {
        assert_eq!(Params::from_config(&Config::parse(b"")), Ok(Params::default()));
        assert_eq!(Params::from_config(&Config::parse(b"fast = 40")), Err("fast"));
        assert_eq!(Params::from_config(&Config::parse(b"target_lots = 0")), Err("target_lots"));
        let mut host = RecordingHost::new();
        assert_eq!(NativeRunner::new(Momentum::default()).init(&mut host, 0, b"slow = abc"), 1);
    }

    #[test]
    fn ema_is_integer_and_converges() {
        let mut e = 100 << EMA_SHIFT;
        for _ in 0..200 {
            e = ema_step(e, 200, 9);
        }
        assert!((e >> EMA_SHIFT) >= 199 && (e >> EMA_SHIFT) <= 200, "{}", e >> EMA_SHIFT);
        assert_eq!(ema_step(100 << EMA_SHIFT, 100, 9), 100 << EMA_SHIFT);
    }

    #[test]
    fn crossing_up_then_down_trades_toward_target() {
        let (mut r, mut host) = runner(CFG);
        // Falling prices through warm-up: regime "down" recorded, no trade.
        r.on_events(&mut host, &trades(0, &[110, 108, 106, 104, 102]));
        assert!(host.submitted().is_empty());
        assert_eq!(r.strategy().target(), 0);
        // Sharp rise: fast crosses above slow → buy 3 at market.
        r.on_events(&mut host, &trades(10, &[120, 130]));
        let sub = host.submitted();
        assert_eq!(sub.len(), 1, "{:?}", host.calls);
        let (id, req) = sub[0];
        assert_eq!(
            (req.side, req.order_type, req.tif, req.qty, req.tag),
            (Side::Buy, OrderType::Market, TimeInForce::Ioc, 3, TAG)
        );
        // Partial fill then IOC remainder cancel clears the in-flight order.
        r.on_events(&mut host, &[testing::fill(12, id, &req, 130, 2, 1, false)]);
        assert_eq!(r.strategy().inflight(), Some((id, 1)));
        r.on_events(
            &mut host,
            &[testing::order_update(EventKind::OrderCancelled, 13, id, &req, Some(Reason::IocRemainder))],
        );
        assert_eq!((r.strategy().position(), r.strategy().inflight()), (2, None));
        // Still short of target but inside the cooldown (100 ns after ts 11): no order.
        host.clear();
        r.on_events(&mut host, &trades(50, &[131]));
        assert!(host.submitted().is_empty());
        // After the cooldown the remaining 1 lot is bought.
        r.on_events(&mut host, &trades(200, &[132]));
        let sub = host.submitted();
        assert_eq!((sub.len(), sub[0].1.side, sub[0].1.qty), (1, Side::Buy, 1));
        let (id, req) = sub[0];
        r.on_events(&mut host, &[testing::fill(201, id, &req, 132, 1, 0, false)]);
        assert_eq!((r.strategy().position(), r.strategy().inflight()), (3, None));
        // Crash: fast crosses below → sell 6 to reach -3.
        host.clear();
        r.on_events(&mut host, &trades(400, &[100, 90, 80]));
        let sub = host.submitted();
        assert_eq!(sub.len(), 1);
        assert_eq!((sub[0].1.side, sub[0].1.qty), (Side::Sell, 6));
        assert_eq!(r.strategy().target(), -3);
    }

    #[test]
    fn aggressive_limit_ioc_and_reject_handling() {
        let (mut r, mut host) = runner(&format!("{CFG}aggress_ticks = 5\n"));
        r.on_events(&mut host, &trades(0, &[110, 108, 106, 104, 102, 120, 130]));
        let (id, req) = host.submitted()[0];
        assert_eq!((req.order_type, req.tif, req.price), (OrderType::Limit, TimeInForce::Ioc, 125)); // crossed on the 120 print
        r.on_events(
            &mut host,
            &[testing::order_update(EventKind::OrderRejected, 7, id, &req, Some(Reason::PriceCollar))],
        );
        assert_eq!(r.strategy().inflight(), None);
        // Synchronous refusal: logged, cooldown respected (one attempt per cooldown).
        host.clear();
        host.reject_with = Some(Reason::MaxPosition);
        r.on_events(&mut host, &trades(200, &[131, 132, 133]));
        let attempts = host.calls.iter().filter(|c| matches!(c, testing::Call::Submit(..))).count();
        assert_eq!(attempts, 1);
        assert!(host.logs().iter().any(|l| l.contains("R4_MAX_POSITION")));
    }
}
