//! # bh-amm-arb — the simulated perpetual against a constant-product pool on a real chain
//!
//! Keeps the pool's price as it last traded (USDC per WETH, from the
//! `ChainMined` event of its own swaps; `amm_price` from the config until
//! then). On a quote of the perpetual whose mid is more than
//! `threshold_bps` above that price, the pool is cheap: it swaps
//! `trade_usdc` USDC for WETH on the pool and sells `hedge_lots` of the
//! perpetual (IOC at the bid); more than `threshold_bps` below, the reverse.
//! Every swap names its own `amountOutMin` (the pool's 0.3 % fee and
//! `slippage_bps` under the output at that price) and a deadline `deadline_s` after the chain's latest
//! block; the recipient is always its own account (the host fills it in).
//! One intent at a time, at most one per `cooldown_events` market events.
//! At `init` it approves the pool for `approve_usdc` / `approve_weth`.
//! It never sees a key, an address or the node: only intents and their
//! chain events.
//!
//! ## Config (`key = value` lines; defaults in brackets)
//! - `instrument` [0], `ticks_per_usdc` [100] — perpetual price grid
//! - `amm_price` [2000] — USDC per WETH before the first swap
//! - `threshold_bps` [20], `slippage_bps` [50], `deadline_s` [120]
//! - `trade_usdc` [1000000000] — USDC base units (6 decimals) per swap
//! - `hedge_lots` [1], `cooldown_events` [500]
//! - `approve_usdc` [100000000000], `approve_weth` [50000000000000000000]
#![cfg_attr(target_arch = "wasm32", no_std)]

use bulkhead_sdk::{
    ChainStatus, ChainUpdate, Config, Ctx, LOG_ERROR, LOG_WARN, Order, Quote, Side, Strategy, TimeInForce, log,
};

/// 10^12: WETH (18 decimals) per USDC (6 decimals) base unit, at price 1.
const SCALE: u128 = 1_000_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub instrument: u32,
    pub ticks_per_usdc: i64,
    pub amm_price: u128,
    pub threshold_bps: u128,
    pub slippage_bps: u128,
    pub deadline_s: u64,
    pub trade_usdc: u128,
    pub hedge_lots: i64,
    pub cooldown_events: u64,
    pub approve_usdc: u128,
    pub approve_weth: u128,
}

impl Params {
    /// `Err(key)` names the first invalid key.
    pub fn from_config(c: &Config) -> Result<Params, &'static str> {
        let int = |k: &'static str, def: u64, min: u64| -> Result<u64, &'static str> {
            match c.get_str(k) {
                None => Ok(def),
                Some(_) => c.get_u64(k).filter(|v| *v >= min).ok_or(k),
            }
        };
        let big = |k: &'static str, def: u128| -> Result<u128, &'static str> {
            match c.get_str(k) {
                None => Ok(def),
                Some(s) => s.trim().parse::<u128>().ok().filter(|v| *v > 0).ok_or(k),
            }
        };
        let p = Params {
            instrument: u32::try_from(int("instrument", 0, 0)?).map_err(|_| "instrument")?,
            ticks_per_usdc: i64::try_from(int("ticks_per_usdc", 100, 1)?).map_err(|_| "ticks_per_usdc")?,
            amm_price: u128::from(int("amm_price", 2000, 1)?),
            threshold_bps: u128::from(int("threshold_bps", 20, 0)?),
            slippage_bps: u128::from(int("slippage_bps", 50, 0)?),
            deadline_s: int("deadline_s", 120, 1)?,
            trade_usdc: big("trade_usdc", 1_000_000_000)?,
            hedge_lots: i64::try_from(int("hedge_lots", 1, 1)?).map_err(|_| "hedge_lots")?,
            cooldown_events: int("cooldown_events", 500, 0)?,
            approve_usdc: big("approve_usdc", 100_000_000_000)?,
            approve_weth: big("approve_weth", 50_000_000_000_000_000_000)?,
        };
        if p.slippage_bps >= 10_000 {
            return Err("slippage_bps");
        }
        Ok(p)
    }
}

/// What the swap in flight does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leg {
    /// USDC in, WETH out (pool cheap).
    BuyWeth,
    /// WETH in, USDC out (pool rich).
    SellWeth,
}

#[derive(Default)]
pub struct AmmArb {
    p: Option<Params>,
    /// USDC per WETH the pool last traded at.
    amm_price: u128,
    in_flight: Option<(u64, Leg)>,
    events: u64,
    last_at: u64,
    pub swaps: u64,
    pub refused: u64,
}

impl AmmArb {
    fn swap(&mut self, ctx: &mut Ctx, p: &Params, leg: Leg, bid: i64, ask: i64) {
        let weth_for_trade = p.trade_usdc.saturating_mul(SCALE) / self.amm_price.max(1);
        // The pool keeps 0.3 % of what comes in; then our own slippage bound.
        let keep = (10_000 - p.slippage_bps) * 997 / 1000;
        let (token_in, amount_in, min_out) = match leg {
            Leg::BuyWeth => ("usdc", p.trade_usdc, weth_for_trade.saturating_mul(keep) / 10_000),
            Leg::SellWeth => ("weth", weth_for_trade, p.trade_usdc.saturating_mul(keep) / 10_000),
        };
        match ctx.swap("pool", token_in, amount_in, min_out, p.deadline_s) {
            Ok(id) => {
                self.in_flight = Some((id, leg));
                self.last_at = self.events;
                // Hedge on the perpetual: sell what the pool sold us, or buy it back.
                let (side, px) = if leg == Leg::BuyWeth { (Side::Sell, bid) } else { (Side::Buy, ask) };
                let _ = ctx.place(Order::limit(side, p.instrument, px, p.hedge_lots).tif(TimeInForce::Ioc));
            }
            Err(r) => {
                self.refused += 1;
                self.last_at = self.events;
                log!(ctx, level = LOG_WARN, "amm-arb: swap refused: {}", r.name());
            }
        }
    }
}

impl Strategy for AmmArb {
    fn init(&mut self, ctx: &mut Ctx, config: &[u8]) {
        match Params::from_config(&Config::parse(config)) {
            Ok(p) => {
                self.amm_price = p.amm_price;
                for (token, amount) in [("usdc", p.approve_usdc), ("weth", p.approve_weth)] {
                    if let Err(r) = ctx.approve(token, "pool", amount) {
                        log!(ctx, level = LOG_WARN, "amm-arb: approve {} refused: {}", token, r.name());
                    }
                }
                self.p = Some(p);
            }
            Err(key) => {
                log!(ctx, level = LOG_ERROR, "amm-arb: invalid config key `{}`", key);
                ctx.fail(1);
            }
        }
    }

    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        let Some(p) = self.p else { return };
        if q.instrument != p.instrument || !q.is_two_sided() {
            return;
        }
        self.events += 1;
        if self.in_flight.is_some() || self.events < self.last_at.saturating_add(p.cooldown_events) {
            return;
        }
        let Some(mid) = q.mid() else { return };
        let Ok(mid) = u128::try_from(mid / p.ticks_per_usdc) else { return };
        let band = self.amm_price.saturating_mul(p.threshold_bps) / 10_000;
        if mid > self.amm_price.saturating_add(band) {
            self.swap(ctx, &p, Leg::BuyWeth, q.bid_px, q.ask_px);
        } else if mid.saturating_add(band) < self.amm_price {
            self.swap(ctx, &p, Leg::SellWeth, q.bid_px, q.ask_px);
        }
    }

    fn on_chain(&mut self, ctx: &mut Ctx, u: &ChainUpdate) {
        let Some((id, leg)) = self.in_flight else { return };
        if u.intent != id {
            return;
        }
        match u.status {
            ChainStatus::Simulated => {}
            ChainStatus::Mined => {
                self.swaps += 1;
                self.in_flight = None;
                let (usdc, weth) = match leg {
                    Leg::BuyWeth => (u.outflow, u.inflow),
                    Leg::SellWeth => (u.inflow, u.outflow),
                };
                if usdc > 0 && weth > 0 {
                    self.amm_price = (usdc as u128).saturating_mul(SCALE) / weth as u128;
                }
                log!(ctx, "amm-arb: swap {} mined, pool at {} USDC/WETH", id, self.amm_price);
            }
            ChainStatus::Rejected | ChainStatus::Reverted => {
                self.refused += 1;
                self.in_flight = None;
                log!(ctx, level = LOG_WARN, "amm-arb: swap {} {:?}: reason {}", id, u.status, u.reason_code);
            }
        }
    }
}

bulkhead_sdk::export_strategy!(AmmArb);
