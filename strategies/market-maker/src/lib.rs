//! # bh-market-maker — a simple inventory-skewed two-sided quoter
//!
//! On every two-sided [`Quote`] of its instrument it computes a desired bid and
//! ask around the mid:
//!
//! ```text
//! skew = skew_ticks_per_lot * position
//! bid  = floor(mid) - half_spread_ticks - skew     (never at/above the best ask)
//! ask  = ceil(mid)  + half_spread_ticks - skew     (never at/below the best bid)
//! ```
//!
//! so a long position lowers both quotes (sell more eagerly, buy less eagerly)
//! and a short one raises them. Each side holds at most one post-only order of
//! `size_lots` (post-only = GTC that rests as maker or is rejected). When a
//! side's desired price moves by `requote_ticks` or more, it cancels the
//! resting order and immediately posts a new one. It stops quoting the bid
//! while `position >= max_position_lots` and the ask while
//! `position <= -max_position_lots` (cancelling a resting order on that side).
//!
//! Orders are tracked from events: a reject, a cancel or a fill with nothing
//! remaining frees the side; every fill updates the position (which is also
//! read from the host at `init`) and triggers a requote with the new skew. After
//! a synchronous or asynchronous reject the side waits `reject_backoff_ns`
//! (event time) before posting again, so a halted or throttled strategy does
//! not spam.
//!
//! ## Config (`key = value` lines; defaults in brackets)
//! - `instrument` [0]
//! - `half_spread_ticks` [10] — ticks from the mid to each quote (≥ 0)
//! - `size_lots` [10] — quantity of each quote (> 0)
//! - `skew_ticks_per_lot` [1] — quote shift per lot of inventory (≥ 0)
//! - `requote_ticks` [2] — minimum desired-price move that triggers a requote (≥ 1)
//! - `max_position_lots` [100] — stop adding to a side at this |position| (> 0)
//! - `reject_backoff_ns` [100000000] — pause after a reject (≥ 0)
//!
//! An invalid value makes `init` fail (non-zero result) with a log line naming it.
#![cfg_attr(target_arch = "wasm32", no_std)]

use bulkhead_sdk::{
    Config, Ctx, Fill, LOG_ERROR, LOG_WARN, Order, OrderUpdate, Quote, Reason, ResultCode, Side, Strategy, log,
};

/// Tag on bid orders.
pub const TAG_BID: u64 = 1;
/// Tag on ask orders.
pub const TAG_ASK: u64 = 2;

/// Parameters (see the crate docs for meaning and defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub instrument: u32,
    pub half_spread_ticks: i64,
    pub size_lots: i64,
    pub skew_ticks_per_lot: i64,
    pub requote_ticks: i64,
    pub max_position_lots: i64,
    pub reject_backoff_ns: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            instrument: 0,
            half_spread_ticks: 10,
            size_lots: 10,
            skew_ticks_per_lot: 1,
            requote_ticks: 2,
            max_position_lots: 100,
            reject_backoff_ns: 100_000_000,
        }
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
        Ok(Params {
            instrument: u32::try_from(int("instrument", d.instrument as i64, 0)?).map_err(|_| "instrument")?,
            half_spread_ticks: int("half_spread_ticks", d.half_spread_ticks, 0)?,
            size_lots: int("size_lots", d.size_lots, 1)?,
            skew_ticks_per_lot: int("skew_ticks_per_lot", d.skew_ticks_per_lot, 0)?,
            requote_ticks: int("requote_ticks", d.requote_ticks, 1)?,
            max_position_lots: int("max_position_lots", d.max_position_lots, 1)?,
            reject_backoff_ns: int("reject_backoff_ns", d.reject_backoff_ns as i64, 0)? as u64,
        })
    }
}

/// One of our resting (or in-flight) quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resting {
    pub id: u64,
    pub price: i64,
    pub accepted: bool,
}

/// The market maker's state.
#[derive(Debug, Default)]
pub struct MarketMaker {
    params: Params,
    position: i64,
    quotes: [Option<Resting>; 2],
    backoff_until: [u64; 2],
    last_quote: Option<Quote>,
    /// Orders submitted successfully (for tests / benchmarks).
    pub orders_sent: u64,
    /// Cancels requested.
    pub cancels_sent: u64,
}

const fn idx(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

impl MarketMaker {
    /// Current parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Position in lots as tracked from fills.
    pub fn position(&self) -> i64 {
        self.position
    }
    /// Our order on `side`, if any.
    pub fn resting(&self, side: Side) -> Option<Resting> {
        self.quotes[idx(side)]
    }

    /// Desired (bid, ask) for a two-sided quote given the current inventory;
    /// `None` for a side that must not be quoted.
    pub fn desired(&self, q: &Quote) -> (Option<i64>, Option<i64>) {
        if !q.is_two_sided() {
            return (None, None);
        }
        let p = &self.params;
        let sum = q.bid_px + q.ask_px;
        let skew = p.skew_ticks_per_lot.saturating_mul(self.position);
        let bid = (sum.div_euclid(2) - p.half_spread_ticks).saturating_sub(skew).min(q.ask_px - 1);
        let ask = ((sum + 1).div_euclid(2) + p.half_spread_ticks).saturating_sub(skew).max(q.bid_px + 1);
        let bid = (self.position < p.max_position_lots && bid > 0).then_some(bid);
        let ask = (self.position > -p.max_position_lots && ask > 0).then_some(ask);
        (bid, ask)
    }

    fn requote(&mut self, ctx: &mut Ctx) {
        let Some(q) = self.last_quote else { return };
        let (bid, ask) = self.desired(&q);
        self.requote_side(ctx, Side::Buy, bid);
        self.requote_side(ctx, Side::Sell, ask);
    }

    fn requote_side(&mut self, ctx: &mut Ctx, side: Side, desired: Option<i64>) {
        let i = idx(side);
        if let Some(r) = self.quotes[i] {
            if let Some(px) = desired
                && (px - r.price).abs() < self.params.requote_ticks
            {
                return; // close enough: keep our place in the queue
            }
            match ctx.cancel(r.id) {
                // UnknownOrder: it already left the book (event still in flight).
                Ok(()) | Err(ResultCode::UnknownOrder) => {
                    self.cancels_sent += 1;
                    self.quotes[i] = None;
                }
                Err(e) => {
                    log!(ctx, level = LOG_WARN, "mm: cancel {} failed: {:?}", r.id, e);
                    return;
                }
            }
        }
        let Some(px) = desired else { return };
        if ctx.now_ns() < self.backoff_until[i] {
            return;
        }
        let p = &self.params;
        let tag = if side == Side::Buy { TAG_BID } else { TAG_ASK };
        match ctx.place(Order::limit(side, p.instrument, px, p.size_lots).post_only().tag(tag)) {
            Ok(id) => {
                self.orders_sent += 1;
                self.quotes[i] = Some(Resting { id, price: px, accepted: false });
            }
            Err(reason) => self.back_off(ctx, side, reason.code()),
        }
    }

    fn back_off(&mut self, ctx: &mut Ctx, side: Side, code: u16) {
        self.backoff_until[idx(side)] = ctx.now_ns().saturating_add(self.params.reject_backoff_ns);
        let name = Reason::from_code(code).map_or("unknown", |r| r.name());
        log!(ctx, level = LOG_WARN, "mm: {} rejected: {} ({})", side.name(), name, code);
    }

    /// The side whose slot holds order `id`, if any.
    fn slot_of(&self, id: u64) -> Option<usize> {
        self.quotes.iter().position(|q| q.is_some_and(|r| r.id == id))
    }
}

impl Strategy for MarketMaker {
    fn init(&mut self, ctx: &mut Ctx, config: &[u8]) {
        match Params::from_config(&Config::parse(config)) {
            Ok(p) => self.params = p,
            Err(key) => {
                log!(ctx, level = LOG_ERROR, "mm: invalid config value for `{}`", key);
                ctx.fail(1);
                return;
            }
        }
        if let Ok(pos) = ctx.try_position(self.params.instrument) {
            self.position = pos.qty;
        }
        let p = self.params;
        log!(
            ctx,
            "mm: instrument={} half_spread={} size={} skew/lot={} requote={} max_pos={} position={}",
            p.instrument,
            p.half_spread_ticks,
            p.size_lots,
            p.skew_ticks_per_lot,
            p.requote_ticks,
            p.max_position_lots,
            self.position
        );
    }

    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        if q.instrument != self.params.instrument || !q.is_two_sided() {
            return;
        }
        self.last_quote = Some(*q);
        self.requote(ctx);
    }

    fn on_accepted(&mut self, _ctx: &mut Ctx, o: &OrderUpdate) {
        if let Some(i) = self.slot_of(o.id)
            && let Some(r) = self.quotes[i].as_mut()
        {
            r.accepted = true;
        }
    }

    fn on_rejected(&mut self, ctx: &mut Ctx, o: &OrderUpdate, _reason: Option<Reason>) {
        if let Some(i) = self.slot_of(o.id) {
            self.quotes[i] = None;
            let side = if i == 0 { Side::Buy } else { Side::Sell };
            self.back_off(ctx, side, o.reason_code);
        }
    }

    fn on_cancelled(&mut self, _ctx: &mut Ctx, o: &OrderUpdate) {
        // Cancels we asked for were already forgotten; this catches the others
        // (kill switch, end of session, …). We requote on the next quote.
        if let Some(i) = self.slot_of(o.id) {
            self.quotes[i] = None;
        }
    }

    fn on_fill(&mut self, ctx: &mut Ctx, f: &Fill) {
        if f.instrument != self.params.instrument {
            return;
        }
        self.position += f.signed_qty();
        if f.remaining <= 0
            && let Some(i) = self.slot_of(f.id)
        {
            self.quotes[i] = None;
        }
        self.requote(ctx);
    }
}

bulkhead_sdk::export_strategy!(MarketMaker);

#[cfg(test)]
mod tests {
    use bulkhead_sdk::testing::{self, Call, RecordingHost};
    use bulkhead_sdk::{EventKind, NativeRunner, TimeInForce};

    use super::*;

    fn runner(cfg: &str) -> (NativeRunner<MarketMaker>, RecordingHost) {
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(MarketMaker::default());
        assert_eq!(r.init(&mut host, 0, cfg.as_bytes()), 0);
        host.clear();
        (r, host)
    }

    const CFG: &str =
        "half_spread_ticks = 5\nsize_lots = 2\nskew_ticks_per_lot = 1\nrequote_ticks = 3\nmax_position_lots = 4\n";

    #[test]
    fn config_defaults_and_validation() {
        assert_eq!(Params::from_config(&Config::parse(b"")), Ok(Params::default()));
        assert_eq!(Params::from_config(&Config::parse(b"size_lots = 0")), Err("size_lots"));
        assert_eq!(Params::from_config(&Config::parse(b"requote_ticks = x")), Err("requote_ticks"));
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(MarketMaker::default());
        assert_eq!(r.init(&mut host, 0, b"half_spread_ticks = -1"), 1);
        assert!(host.logs()[0].contains("half_spread_ticks"));
    }

    #[test]
    fn quotes_both_sides_post_only_around_mid() {
        let (mut r, mut host) = runner(CFG);
        r.on_events(&mut host, &[testing::quote(0, 1, 649_990, 5, 650_010, 5)]);
        let sub = host.submitted();
        assert_eq!(sub.len(), 2);
        let (bid, ask) = (sub[0].1, sub[1].1);
        assert_eq!(
            (bid.side, bid.price, bid.qty, bid.tif, bid.tag),
            (Side::Buy, 649_995, 2, TimeInForce::PostOnly, TAG_BID)
        );
        assert_eq!(
            (ask.side, ask.price, ask.qty, ask.tif, ask.tag),
            (Side::Sell, 650_005, 2, TimeInForce::PostOnly, TAG_ASK)
        );
        // Other instruments and one-sided books are ignored.
        host.clear();
        r.on_events(&mut host, &[testing::quote(1, 2, 1, 1, 2, 1), testing::quote(0, 3, 0, 0, 650_010, 5)]);
        assert!(host.calls.is_empty());
    }

    #[test]
    fn requotes_only_on_a_big_enough_move() {
        let (mut r, mut host) = runner(CFG);
        r.on_events(&mut host, &[testing::quote(0, 1, 649_990, 5, 650_010, 5)]);
        let ids: Vec<u64> = host.submitted().iter().map(|s| s.0).collect();
        host.clear();
        // mid +2: below requote_ticks = 3 → nothing.
        r.on_events(&mut host, &[testing::quote(0, 2, 649_992, 5, 650_012, 5)]);
        assert!(host.calls.is_empty(), "{:?}", host.calls);
        // mid +3: both sides cancel + resubmit.
        r.on_events(&mut host, &[testing::quote(0, 3, 649_993, 5, 650_013, 5)]);
        assert_eq!(host.cancels(), ids);
        let prices: Vec<i64> = host.submitted().iter().map(|s| s.1.price).collect();
        assert_eq!(prices, [649_998, 650_008]);
        assert_eq!(r.strategy().resting(Side::Buy).unwrap().price, 649_998);
    }

    #[test]
    fn fills_skew_quotes_and_cap_position() {
        let (mut r, mut host) = runner(CFG);
        r.on_events(&mut host, &[testing::quote(0, 1, 649_990, 5, 650_010, 5)]);
        let (bid_id, bid_req) = host.submitted()[0];
        host.clear();
        // Bid fills fully: position +2, skew 2 ticks down. The bid slot is
        // freed, so a new bid is posted at 649_993; the ask moves 2 < 3: kept.
        r.on_events(&mut host, &[testing::fill(2, bid_id, &bid_req, 649_995, 2, 0, true)]);
        assert_eq!(r.strategy().position(), 2);
        let sub = host.submitted();
        assert_eq!(sub.len(), 1);
        assert_eq!((sub[0].1.side, sub[0].1.price), (Side::Buy, 649_993));
        assert!(host.cancels().is_empty());
        let (bid2, req2) = sub[0];
        host.clear();
        // Another full fill: position 4 = max → stop bidding; ask moves 4 ticks → requote.
        r.on_events(&mut host, &[testing::fill(3, bid2, &req2, 649_993, 2, 0, true)]);
        assert_eq!(r.strategy().position(), 4);
        let sub = host.submitted();
        assert_eq!(sub.len(), 1);
        assert_eq!((sub[0].1.side, sub[0].1.price), (Side::Sell, 650_001));
        assert!(r.strategy().resting(Side::Buy).is_none());
        // Further quotes keep the bid off.
        host.clear();
        r.on_events(&mut host, &[testing::quote(0, 4, 649_980, 5, 650_000, 5)]);
        assert!(host.submitted().iter().all(|s| s.1.side == Side::Sell));
    }

    #[test]
    fn tracks_rejects_cancels_and_backs_off() {
        let (mut r, mut host) = runner(CFG);
        r.on_events(&mut host, &[testing::quote(0, 1_000, 649_990, 5, 650_010, 5)]);
        let sub = host.submitted();
        host.clear();
        // Async reject of the bid and an external cancel of the ask.
        r.on_events(
            &mut host,
            &[
                testing::order_update(EventKind::OrderAccepted, 1_001, sub[1].0, &sub[1].1, None),
                testing::order_update(
                    EventKind::OrderRejected,
                    1_002,
                    sub[0].0,
                    &sub[0].1,
                    Some(Reason::PostOnlyWouldCross),
                ),
                testing::order_update(
                    EventKind::OrderCancelled,
                    1_003,
                    sub[1].0,
                    &sub[1].1,
                    Some(Reason::CancelledByKillSwitch),
                ),
            ],
        );
        assert!(r.strategy().resting(Side::Buy).is_none() && r.strategy().resting(Side::Sell).is_none());
        assert!(host.logs().iter().any(|l| l.contains("VENUE_POST_ONLY_WOULD_CROSS")));
        host.clear();
        // Within the bid's backoff only the ask is re-posted.
        r.on_events(&mut host, &[testing::quote(0, 2_000, 649_990, 5, 650_010, 5)]);
        let sides: Vec<Side> = host.submitted().iter().map(|s| s.1.side).collect();
        assert_eq!(sides, [Side::Sell]);
        // Synchronous refusals back off too: no spam while halted.
        host.clear();
        host.reject_with = Some(Reason::StrategyHalted);
        let t = 2_000 + Params::default().reject_backoff_ns;
        r.on_events(
            &mut host,
            &[testing::quote(0, t, 649_990, 5, 650_010, 5), testing::quote(0, t + 1, 649_990, 5, 650_010, 5)],
        );
        let submits = host.calls.iter().filter(|c| matches!(c, Call::Submit(..))).count();
        assert_eq!(submits, 1);
    }

    #[test]
    fn reads_initial_position_from_host() {
        let mut host = RecordingHost::new();
        host.position.qty = -4;
        let mut r = NativeRunner::new(MarketMaker::default());
        r.init(&mut host, 0, CFG.as_bytes());
        host.clear();
        r.on_events(&mut host, &[testing::quote(0, 1, 649_990, 5, 650_010, 5)]);
        let sub = host.submitted();
        assert_eq!(sub.len(), 1, "at -max only the bid is quoted");
        assert_eq!((sub[0].1.side, sub[0].1.price), (Side::Buy, 649_999)); // 649_995 + 4 skew
    }
}
