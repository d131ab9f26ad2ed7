//! The rules' state and evaluation. One [`Surveillance`] per run; the engine
//! calls its `on_*` hooks as things happen (event time) and drains the
//! alerts they raise with [`Surveillance::take_alerts`].

use std::collections::VecDeque;
use std::sync::Arc;

use crate::policy::{FirmSurveillance, OnUnevaluable, Rules, WashTrade};
use crate::window::{Buckets, Stamps};
use crate::{Alert, AlertAction, FillSeen, MAX_EVIDENCE, OrderRef, OrderSeen, Rule};
use bulkhead_model::{Instrument, Position, Side};

/// Large open orders tracked per strategy for spoofing / layering; past it
/// the oldest is forgotten (it can no longer count as a quick cancel).
pub const MAX_LARGE_OPEN: usize = 1024;
/// Recent fills kept per instrument for the firm-wide wash-trade rule.
pub const MAX_WASH_FILLS: usize = 4096;
/// Layered bursts kept per instrument and side (the evidence of the latest).
const LAYER_KEEP: usize = 64;
/// Distinct price levels counted for layering (its `min_levels` is at most 64).
const MAX_LEVELS: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Large {
    id: u64,
    instrument: u32,
    side: Side,
    price: i64,
    placed: u64,
    filled: bool,
}

#[derive(Clone, Copy, Debug)]
struct Quick {
    ts: u64,
    id: u64,
    /// Distinct prices the strategy's large orders on that side rested at
    /// when this one was cancelled (itself included).
    levels: u32,
}

#[derive(Clone, Copy, Debug)]
struct Aggressive {
    ts: u64,
    id: u64,
    /// bid + ask when it filled.
    mid2: i64,
}

#[derive(Clone, Debug)]
struct Ignition {
    until: u64,
    instrument: u32,
    side: Side,
    move_ticks: i64,
    orders: Vec<OrderRef>,
}

#[derive(Clone, Copy, Debug)]
struct WashFill {
    ts: u64,
    sid: u32,
    id: u64,
    side: Side,
    price: i64,
    qty: i64,
    maker: bool,
}

/// Per-strategy state of every rule it runs.
#[derive(Debug)]
struct Watch {
    /// Shared so a hook can hold the rules while it updates the state.
    rules: Arc<Rules>,
    muted_until: [u64; Rule::ALL.len()],
    unevaluable_said: [bool; Rule::ALL.len()],
    large: VecDeque<Large>,
    /// Quick cancels of large orders by instrument × 2 + side: the last
    /// `spoofing.min_cancels` of them (enough to judge the count).
    spoof_q: Vec<VecDeque<Quick>>,
    /// Quick cancels that left at least `layering.min_levels` levels, by
    /// instrument × 2 + side: the last [`LAYER_KEEP`].
    layer_q: Vec<VecDeque<Quick>>,
    /// The burst of cancels in progress (same time, instrument and side) and
    /// the most levels it saw.
    burst: Option<(u64, u32, Side, u32)>,
    /// Last fill (ts, id) by instrument and side.
    last_fill: Vec<[Option<(u64, u64)>; 2]>,
    messages: Option<Buckets>,
    fills_seen: Option<Buckets>,
    /// Taker fills by instrument × 2 + side: the last `min_aggressive_fills`
    /// within the window.
    aggressive: Vec<VecDeque<Aggressive>>,
    ignition: Option<Ignition>,
    fill_times: Option<Stamps>,
    net: Vec<Buckets>,
    positions: Vec<Position>,
    pnl_high: Option<Buckets>,
    /// By instrument, then side.
    repeated: Vec<[Stamps; 2]>,
}

/// The surveillance of one run.
#[derive(Debug)]
pub struct Surveillance {
    instruments: Vec<Instrument>,
    firm: FirmSurveillance,
    watch: Vec<Watch>,
    /// bid + ask of the last two-sided quote, by instrument.
    mid2: Vec<Option<i64>>,
    last_trade: Vec<Option<i64>>,
    /// Recent fills by instrument × 2 + side.
    wash: Vec<VecDeque<WashFill>>,
    wash_muted_until: u64,
    pending: Vec<Alert>,
    enabled: bool,
    liveness: bool,
}

const fn side_ix(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

fn evidence(it: impl IntoIterator<Item = OrderRef>) -> Vec<OrderRef> {
    it.into_iter().take(MAX_EVIDENCE).collect()
}

fn ms(ns: u64) -> String {
    format!("{} ms", ns / 1_000_000)
}

impl Surveillance {
    /// A run's surveillance: the firm's table and the instruments; add each
    /// strategy with [`Surveillance::add_strategy`].
    pub fn new(instruments: Vec<Instrument>, firm: FirmSurveillance) -> Surveillance {
        let n = instruments.len();
        let enabled = firm != FirmSurveillance::default();
        Surveillance {
            instruments,
            firm,
            watch: Vec::new(),
            mid2: vec![None; n],
            last_trade: vec![None; n],
            wash: (0..n * 2).map(|_| VecDeque::new()).collect(),
            wash_muted_until: 0,
            pending: Vec::new(),
            enabled,
            liveness: false,
        }
    }

    /// Nothing watched (the engine skips its hooks).
    pub fn disabled() -> Surveillance {
        Surveillance::new(Vec::new(), FirmSurveillance::default())
    }

    /// Whether any rule runs: the engine calls the hooks only then.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The strategy with index `sid` (added in order) and its own rules; the
    /// firm's defaults fill in the rules it does not set.
    pub fn add_strategy(&mut self, sid: u32, own: &Rules) {
        let rules = own.or(&self.firm.defaults);
        let n = self.instruments.len();
        while self.watch.len() <= sid as usize {
            self.watch.push(Watch::new(Rules::default(), n));
        }
        if !rules.is_empty() {
            self.enabled = true;
        }
        self.liveness |= rules.cancel_on_disconnect.is_some();
        self.watch[sid as usize] = Watch::new(rules, n);
    }

    /// The rules a strategy runs (its own over the firm's defaults).
    pub fn rules(&self, sid: u32) -> Option<&Rules> {
        self.watch.get(sid as usize).map(|w| &*w.rules)
    }

    pub fn has_alerts(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The alerts raised since the last call, in the order they fired.
    pub fn take_alerts(&mut self) -> std::vec::Drain<'_, Alert> {
        self.pending.drain(..)
    }

    pub fn on_quote(&mut self, instrument: u32, bid: i64, ask: i64) {
        if let Some(m) = self.mid2.get_mut(instrument as usize)
            && bid > 0
            && ask >= bid
        {
            *m = Some(bid.saturating_add(ask));
        }
    }

    pub fn on_trade(&mut self, instrument: u32, price: i64) {
        if let Some(t) = self.last_trade.get_mut(instrument as usize)
            && price > 0
        {
            *t = Some(price);
        }
    }

    /// An order risk decided on (a message, whatever the decision).
    pub fn on_order(&mut self, ts: u64, o: &OrderSeen) {
        let Some(w) = self.watch.get_mut(o.sid as usize) else { return };
        w.message(ts, o.sid, &mut self.pending);
        if !o.accepted || o.price <= 0 {
            return;
        }
        let i = o.instrument as usize;
        let large = w.rules.spoofing.as_ref().and_then(|r| r.min_qty.get(i)).is_some_and(|&m| o.qty >= m)
            || w.rules.layering.as_ref().and_then(|r| r.min_qty.get(i)).is_some_and(|&m| o.qty >= m);
        if large {
            if w.large.len() >= MAX_LARGE_OPEN {
                w.large.pop_front();
            }
            w.large.push_back(Large {
                id: o.id,
                instrument: o.instrument,
                side: o.side,
                price: o.price,
                placed: ts,
                filled: false,
            });
        }
    }

    /// A cancel the strategy asked for (a message, whatever came of it).
    pub fn on_cancel_request(&mut self, ts: u64, sid: u32) {
        if let Some(w) = self.watch.get_mut(sid as usize) {
            w.message(ts, sid, &mut self.pending);
        }
    }

    /// An order left the book: cancelled (`by_strategy`: at the strategy's
    /// own request), rejected by the venue, or expired.
    pub fn on_order_closed(&mut self, ts: u64, sid: u32, id: u64, by_strategy: bool) {
        let Some(w) = self.watch.get_mut(sid as usize) else { return };
        let Some(k) = w.large.iter().position(|l| l.id == id) else { return };
        let Some(l) = w.large.remove(k) else { return };
        if !by_strategy || l.filled {
            return;
        }
        let lifetime = ts.saturating_sub(l.placed);
        let quick = w.rules.spoofing.as_ref().is_some_and(|r| lifetime <= r.max_lifetime_ns)
            || w.rules.layering.as_ref().is_some_and(|r| lifetime <= r.max_lifetime_ns);
        if !quick {
            return;
        }
        // Distinct prices its large orders on that side rest at with it.
        let mut prices = [0i64; MAX_LEVELS];
        let mut levels = 0usize;
        let same = w.large.iter().filter(|x| x.instrument == l.instrument && x.side == l.side && !x.filled);
        for px in same.map(|x| x.price).chain([l.price]) {
            if levels < MAX_LEVELS && !prices[..levels].contains(&px) {
                prices[levels] = px;
                levels += 1;
            }
        }
        let mut levels = u32::try_from(levels).unwrap_or(u32::MAX);
        // Levels cancelled earlier in the same burst still count as resting with it.
        match &mut w.burst {
            Some((bts, inst, side, most)) if *bts == ts && *inst == l.instrument && *side == l.side => {
                *most = (*most).max(levels);
                levels = *most;
            }
            b => *b = Some((ts, l.instrument, l.side, levels)),
        }
        let k = l.instrument as usize * 2 + side_ix(l.side);
        let q = Quick { ts, id, levels };
        if let (Some(r), Some(d)) = (w.rules.spoofing.as_ref(), w.spoof_q.get_mut(k)) {
            if d.len() >= r.min_cancels as usize {
                d.pop_front();
            }
            d.push_back(q);
        }
        if let (Some(r), Some(d)) = (w.rules.layering.as_ref(), w.layer_q.get_mut(k))
            && levels >= r.min_levels
        {
            if d.len() >= LAYER_KEEP {
                d.pop_front();
            }
            d.push_back(q);
        }
        w.spoof_check(ts, sid, l.instrument, l.side, &mut self.pending);
    }

    /// Cancel-on-disconnect: `sid` last made a host call at `last_call_ns`
    /// and has `open` orders. Raises the alert (the engine cancels the
    /// orders) and returns true when its liveness is lost.
    pub fn on_liveness(&mut self, ts: u64, sid: u32, last_call_ns: u64, open: usize) -> bool {
        let Some(w) = self.watch.get_mut(sid as usize) else { return false };
        let Some(r) = w.rules.cancel_on_disconnect.as_ref() else { return false };
        let silent = ts.saturating_sub(last_call_ns);
        let r = r.clone();
        if open == 0 || silent < r.max_silence_ns {
            return false;
        }
        let a = Alert {
            rule: Rule::CancelOnDisconnect,
            action: r.action,
            ts_ns: ts,
            sid,
            other: None,
            instrument: None,
            window_ns: r.max_silence_ns,
            observed: silent.try_into().unwrap_or(i64::MAX),
            threshold: r.max_silence_ns.try_into().unwrap_or(i64::MAX),
            orders: Vec::new(),
            text: format!(
                "no host call for {} with {open} open orders (max_silence {}): liveness lost, orders cancelled",
                ms(silent),
                ms(r.max_silence_ns)
            ),
        };
        w.raise(a, 1, &mut self.pending)
    }

    /// Whether any strategy runs cancel-on-disconnect (the engine checks
    /// liveness at each market event only then).
    pub fn watches_liveness(&self) -> bool {
        self.liveness
    }

    /// A fill of one of a strategy's orders.
    pub fn on_fill(&mut self, ts: u64, f: &FillSeen) {
        let i = f.instrument as usize;
        if i >= self.instruments.len() {
            return;
        }
        if let Some(wash) = self.firm.wash_trade {
            self.wash_check(ts, f, &wash);
        }
        let Some(w) = self.watch.get_mut(f.sid as usize) else { return };
        if let Some(l) = w.large.iter_mut().find(|l| l.id == f.id) {
            l.filled = true;
        }
        if f.remaining <= 0 {
            w.large.retain(|l| l.id != f.id);
        }
        w.last_fill[i][side_ix(f.side)] = Some((ts, f.id));
        if let Some(b) = w.fills_seen.as_mut() {
            b.add(ts, 1);
        }
        w.spoof_check(ts, f.sid, f.instrument, f.side.opposite(), &mut self.pending);
        let mid2 = self.mid2[i];
        w.ignition_check(ts, f, mid2, &mut self.pending);
        let marks = Marks { mid2: &self.mid2, last_trade: &self.last_trade, instrument: i, fill_price: f.price };
        w.runaway_check(ts, f, &self.instruments, &marks, &mut self.pending);
        w.repeated_check(ts, f, &mut self.pending);
    }

    /// Firm-wide: a fill that meets an opposite fill of another strategy of
    /// the firm in the same instrument, same quantity, close in price and time.
    fn wash_check(&mut self, ts: u64, f: &FillSeen, rule: &WashTrade) {
        let i = f.instrument as usize * 2;
        for q in &mut self.wash[i..i + 2] {
            while q.front().is_some_and(|x| ts.saturating_sub(x.ts) >= rule.window_ns) {
                q.pop_front();
            }
        }
        // Only a fill on the other side can be the other half of a wash, and
        // one of the two took while the other rested: two strategies both
        // resting at one price and both filled by the market traded with
        // the market, not with each other.
        let hit = self.wash[i + side_ix(f.side.opposite())].iter().rev().find(|x| {
            x.qty == f.qty && x.sid != f.sid && x.maker != f.maker && (x.price - f.price).abs() <= rule.price_ticks
        });
        if let Some(x) = hit.copied()
            && ts >= self.wash_muted_until
        {
            self.wash_muted_until = ts.saturating_add(rule.window_ns);
            let inst = &self.instruments[f.instrument as usize];
            // The alert (and its action) is about the one that took: it
            // crossed an order of the firm's; the resting side is named.
            let (taker, maker) = if f.maker { ((x.sid, x.id), (f.sid, f.id)) } else { ((f.sid, f.id), (x.sid, x.id)) };
            self.pending.push(Alert {
                rule: Rule::WashTrade,
                action: rule.action,
                ts_ns: ts,
                sid: taker.0,
                other: Some(maker.0),
                instrument: Some(f.instrument),
                window_ns: rule.window_ns,
                observed: ts.saturating_sub(x.ts).try_into().unwrap_or(i64::MAX),
                threshold: rule.window_ns.try_into().unwrap_or(i64::MAX),
                orders: vec![OrderRef { sid: taker.0, id: taker.1 }, OrderRef { sid: maker.0, id: maker.1 }],
                text: format!(
                    "strategy {} {} {} {} at {} met strategy {}'s {} at {} within {} ns (window {}): both sides are the firm's",
                    f.sid,
                    side_name(f.side),
                    inst.format_qty(f.qty),
                    inst.symbol,
                    inst.format_price(f.price),
                    x.sid,
                    side_name(x.side),
                    inst.format_price(x.price),
                    ts.saturating_sub(x.ts),
                    ms(rule.window_ns)
                ),
            });
        }
        let q = &mut self.wash[i + side_ix(f.side)];
        if q.len() >= MAX_WASH_FILLS {
            q.pop_front();
        }
        q.push_back(WashFill { ts, sid: f.sid, id: f.id, side: f.side, price: f.price, qty: f.qty, maker: f.maker });
    }
}

/// Where runaway's PnL is valued: the mid, else the last trade, else (for
/// the instrument just filled) the fill price; 0 = not valued.
struct Marks<'a> {
    mid2: &'a [Option<i64>],
    last_trade: &'a [Option<i64>],
    instrument: usize,
    fill_price: i64,
}

impl Marks<'_> {
    fn of(&self, j: usize) -> i64 {
        match (self.mid2.get(j).copied().flatten(), self.last_trade.get(j).copied().flatten()) {
            (Some(m), _) => m / 2,
            (None, Some(t)) => t,
            (None, None) if j == self.instrument => self.fill_price,
            (None, None) => 0,
        }
    }
}

const fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

impl Watch {
    fn new(rules: Rules, instruments: usize) -> Watch {
        let qs = rules.quote_stuffing.as_ref();
        let runaway = rules.runaway.as_ref();
        Watch {
            muted_until: [0; Rule::ALL.len()],
            unevaluable_said: [false; Rule::ALL.len()],
            large: VecDeque::new(),
            spoof_q: match rules.spoofing {
                Some(_) => (0..instruments * 2).map(|_| VecDeque::new()).collect(),
                None => Vec::new(),
            },
            layer_q: match rules.layering {
                Some(_) => (0..instruments * 2).map(|_| VecDeque::new()).collect(),
                None => Vec::new(),
            },
            burst: None,
            last_fill: vec![[None; 2]; instruments],
            messages: qs.map(|r| Buckets::sum(r.window_ns)),
            fills_seen: qs.map(|r| Buckets::sum(r.window_ns)),
            aggressive: match rules.momentum_ignition {
                Some(_) => (0..instruments * 2).map(|_| VecDeque::new()).collect(),
                None => Vec::new(),
            },
            ignition: None,
            fill_times: runaway.and_then(|r| r.max_fills).map(|n| Stamps::new(n.saturating_add(1))),
            net: match runaway {
                Some(r) if !r.max_position_change.is_empty() => {
                    (0..instruments).map(|_| Buckets::sum(r.window_ns)).collect()
                }
                _ => Vec::new(),
            },
            positions: vec![Position::default(); instruments],
            pnl_high: runaway.filter(|r| r.max_loss.is_some()).map(|r| Buckets::max(r.window_ns)),
            repeated: match &rules.repeated_execution {
                Some(r) => (0..instruments).map(|_| [Stamps::new(r.fills), Stamps::new(r.fills)]).collect(),
                None => Vec::new(),
            },
            rules: Arc::new(rules),
        }
    }

    /// Raise `alert` unless its rule is muted for this strategy; a rule that
    /// fired is muted for `mute_ns` (its window).
    fn muted(&self, rule: Rule, ts: u64) -> bool {
        ts < self.muted_until[rule.index()]
    }

    fn raise(&mut self, alert: Alert, mute_ns: u64, out: &mut Vec<Alert>) -> bool {
        let k = alert.rule.index();
        if alert.ts_ns < self.muted_until[k] {
            return false;
        }
        self.muted_until[k] = alert.ts_ns.saturating_add(mute_ns.max(1));
        out.push(alert);
        true
    }

    fn message(&mut self, ts: u64, sid: u32, out: &mut Vec<Alert>) {
        let rules = Arc::clone(&self.rules);
        let Some(rule) = rules.quote_stuffing.as_ref() else { return };
        let (Some(msgs), Some(fills)) = (self.messages.as_mut(), self.fills_seen.as_mut()) else { return };
        msgs.add(ts, 1);
        let n = msgs.total(ts).max(0).unsigned_abs();
        let f = fills.total(ts).max(0).unsigned_abs();
        let alert = |rule_id: Rule, observed: u64, threshold: u64, text: String| Alert {
            rule: rule_id,
            action: rule.action,
            ts_ns: ts,
            sid,
            other: None,
            instrument: None,
            window_ns: rule.window_ns,
            observed: clamp(observed),
            threshold: clamp(threshold),
            orders: Vec::new(),
            text,
        };
        if let Some(max) = rule.max_messages
            && n > max
            && !self.muted(Rule::QuoteStuffing, ts)
        {
            let text = format!("{n} messages within {} exceed max_messages {max} ({f} fills)", ms(rule.window_ns));
            self.raise(alert(Rule::QuoteStuffing, n, max, text), rule.window_ns, out);
        }
        if let Some(max) = rule.max_order_to_trade
            && n >= rule.min_messages
            && n / f.max(1) > max
            && !self.muted(Rule::OrderToTrade, ts)
        {
            let ratio = n / f.max(1);
            let text = format!(
                "order-to-trade {ratio} ({n} messages, {f} fills within {}) exceeds max_order_to_trade {max}",
                ms(rule.window_ns)
            );
            self.raise(alert(Rule::OrderToTrade, ratio, max, text), rule.window_ns, out);
        }
    }

    /// Spoofing / layering on `side` of `instrument`: enough quick cancels of
    /// large orders there in the window, and a fill on the other side.
    fn spoof_check(&mut self, ts: u64, sid: u32, instrument: u32, side: Side, out: &mut Vec<Alert>) {
        let i = instrument as usize;
        let k = i * 2 + side_ix(side);
        let rules = Arc::clone(&self.rules);
        if let (Some(r), Some(d)) = (rules.spoofing.as_ref(), self.spoof_q.get(k))
            && d.len() >= r.min_cancels as usize
            && d.front().is_some_and(|q| ts.saturating_sub(q.ts) < r.window_ns)
            && !self.muted(Rule::Spoofing, ts)
        {
            let fill = self.last_fill.get(i).and_then(|f| f[side_ix(side.opposite())]);
            let n = r.min_cancels;
            if let Some((fts, fid)) = fill
                && ts.saturating_sub(fts) < r.window_ns
            {
                let mut orders = evidence(d.iter().map(|q| OrderRef { sid, id: q.id }));
                orders.truncate(MAX_EVIDENCE - 1);
                orders.push(OrderRef { sid, id: fid });
                let text = format!(
                    "{n} large {} orders cancelled unfilled within {} of placing, within {}, while trading on the other side (order {fid}); min_cancels {}",
                    side_name(side),
                    ms(r.max_lifetime_ns),
                    ms(r.window_ns),
                    r.min_cancels
                );
                let a = Alert {
                    rule: Rule::Spoofing,
                    action: r.action,
                    ts_ns: ts,
                    sid,
                    other: None,
                    instrument: Some(instrument),
                    window_ns: r.window_ns,
                    observed: i64::from(n),
                    threshold: i64::from(r.min_cancels),
                    orders,
                    text,
                };
                self.raise(a, r.window_ns, out);
            }
        }
        if let (Some(r), Some(d)) = (rules.layering.as_ref(), self.layer_q.get(k))
            && d.back().is_some_and(|q| ts.saturating_sub(q.ts) < r.window_ns)
            && !self.muted(Rule::Layering, ts)
        {
            let fill = self.last_fill.get(i).and_then(|f| f[side_ix(side.opposite())]);
            let best = d.iter().filter(|q| ts.saturating_sub(q.ts) < r.window_ns).max_by_key(|q| q.levels).copied();
            if let (Some((fts, fid)), Some(q)) = (fill, best)
                && q.levels >= r.min_levels
                && ts.saturating_sub(fts) < r.window_ns
            {
                // The layers: cancelled in that burst, or still resting beside them.
                let burst = d.iter().filter(|x| x.ts == q.ts);
                let resting = self.large.iter().filter(|l| l.instrument == instrument && l.side == side && !l.filled);
                let ids = burst.map(|x| x.id).chain(resting.map(|l| l.id));
                let mut orders = evidence(ids.map(|id| OrderRef { sid, id }));
                orders.truncate(MAX_EVIDENCE - 1);
                orders.push(OrderRef { sid, id: fid });
                let text = format!(
                    "large {} orders resting at {} price levels at once, cancelled within {} of placing, while trading on the other side (order {fid}) within {}; min_levels {}",
                    side_name(side),
                    q.levels,
                    ms(r.max_lifetime_ns),
                    ms(r.window_ns),
                    r.min_levels
                );
                let a = Alert {
                    rule: Rule::Layering,
                    action: r.action,
                    ts_ns: ts,
                    sid,
                    other: None,
                    instrument: Some(instrument),
                    window_ns: r.window_ns,
                    observed: i64::from(q.levels),
                    threshold: i64::from(r.min_levels),
                    orders,
                    text,
                };
                self.raise(a, r.window_ns, out);
            }
        }
    }

    /// Say once that `rule` cannot be evaluated; refuse (halt) by default.
    fn unevaluable(&mut self, ts: u64, sid: u32, rule: Rule, instrument: u32, what: &str, out: &mut Vec<Alert>) {
        let k = rule.index();
        if self.unevaluable_said[k] {
            return;
        }
        self.unevaluable_said[k] = true;
        let action = match self.rules.on_unevaluable.unwrap_or_default() {
            OnUnevaluable::Refuse => AlertAction::Halt,
            OnUnevaluable::Alert => AlertAction::Alert,
        };
        out.push(Alert {
            rule: Rule::Unevaluable,
            action,
            ts_ns: ts,
            sid,
            other: None,
            instrument: Some(instrument),
            window_ns: 0,
            observed: i64::from(rule.code()),
            threshold: 0,
            orders: Vec::new(),
            text: format!("rule {} cannot be evaluated: {what}", rule.name()),
        });
    }

    fn ignition_check(&mut self, ts: u64, f: &FillSeen, mid2: Option<i64>, out: &mut Vec<Alert>) {
        let rules = Arc::clone(&self.rules);
        let Some(r) = rules.momentum_ignition.as_ref() else { return };
        let Some(mid2) = mid2 else {
            let what = format!("no two-sided quote for instrument {} to measure the move", f.instrument);
            self.unevaluable(ts, f.sid, Rule::MomentumIgnition, f.instrument, &what, out);
            return;
        };
        if let Some(ig) = self.ignition.take() {
            if ts > ig.until {
                // expired
            } else if f.maker && f.instrument == ig.instrument && f.side == ig.side.opposite() {
                let mut orders = ig.orders.clone();
                orders.truncate(MAX_EVIDENCE - 1);
                orders.push(OrderRef { sid: f.sid, id: f.id });
                let n = orders.len() - 1;
                let text = format!(
                    "{n} aggressive {} fills within {} while the mid moved {} ticks their way, then a passive {} fill (order {}) within {}; min_aggressive_fills {}, min_move_ticks {}",
                    side_name(ig.side),
                    ms(r.window_ns),
                    ig.move_ticks,
                    side_name(f.side),
                    f.id,
                    ms(r.follow_ns),
                    r.min_aggressive_fills,
                    r.min_move_ticks
                );
                let a = Alert {
                    rule: Rule::MomentumIgnition,
                    action: r.action,
                    ts_ns: ts,
                    sid: f.sid,
                    other: None,
                    instrument: Some(f.instrument),
                    window_ns: r.window_ns.saturating_add(r.follow_ns),
                    observed: ig.move_ticks,
                    threshold: r.min_move_ticks,
                    orders,
                    text,
                };
                self.raise(a, r.window_ns, out);
                return;
            } else {
                self.ignition = Some(ig);
            }
        }
        if f.maker {
            return;
        }
        let Some(q) = self.aggressive.get_mut(f.instrument as usize * 2 + side_ix(f.side)) else { return };
        while q.front().is_some_and(|a| ts.saturating_sub(a.ts) >= r.window_ns) {
            q.pop_front();
        }
        if q.len() >= r.min_aggressive_fills as usize {
            q.pop_front();
        }
        q.push_back(Aggressive { ts, id: f.id, mid2 });
        if q.len() < r.min_aggressive_fills as usize {
            return;
        }
        let Some(first) = q.front().map(|a| a.mid2).filter(|&m| m > 0) else { return };
        // bid + ask moves 2 per tick of the mid.
        let moved2 = (mid2 - first).saturating_mul(f.side.sign());
        let ticks = moved2 / 2;
        if moved2 >= r.min_move_ticks.saturating_mul(2) {
            if let Some(ig) = self.ignition.as_mut()
                && ig.instrument == f.instrument
                && ig.side == f.side
            {
                // The same run goes on: it stays a candidate a while longer.
                ig.until = ts.saturating_add(r.follow_ns);
                ig.move_ticks = ig.move_ticks.max(ticks);
                return;
            }
            let orders = evidence(q.iter().map(|a| OrderRef { sid: f.sid, id: a.id }));
            self.ignition = Some(Ignition {
                until: ts.saturating_add(r.follow_ns),
                instrument: f.instrument,
                side: f.side,
                move_ticks: ticks,
                orders,
            });
        }
    }

    fn runaway_check(
        &mut self,
        ts: u64,
        f: &FillSeen,
        instruments: &[Instrument],
        marks: &Marks,
        out: &mut Vec<Alert>,
    ) {
        let rules = Arc::clone(&self.rules);
        let Some(r) = rules.runaway.as_ref() else { return };
        let i = f.instrument as usize;
        let alert = |rule: Rule, instrument: Option<u32>, observed: i64, threshold: i64, text: String| Alert {
            rule,
            action: r.action,
            ts_ns: ts,
            sid: f.sid,
            other: None,
            instrument,
            window_ns: r.window_ns,
            observed,
            threshold,
            orders: vec![OrderRef { sid: f.sid, id: f.id }],
            text,
        };
        if let (Some(max), Some(st)) = (r.max_fills, self.fill_times.as_mut())
            && st.push(ts).is_some_and(|oldest| ts.saturating_sub(oldest) < r.window_ns)
        {
            st.clear();
            let text = format!("more than {max} fills within {} (max_fills {max})", ms(r.window_ns));
            self.raise(alert(Rule::RunawayFills, None, i64::from(max) + 1, i64::from(max), text), r.window_ns, out);
        }
        if let (Some(&max), Some(b)) = (r.max_position_change.get(i), self.net.get_mut(i)) {
            b.add(ts, f.qty.saturating_mul(f.side.sign()));
            let change = b.total(ts).saturating_abs();
            if change > max && !self.muted(Rule::RunawayPosition, ts) {
                let inst = &instruments[i];
                let text = format!(
                    "net fills of {} {} within {} exceed max_position_change {}",
                    inst.format_qty(change),
                    inst.symbol,
                    ms(r.window_ns),
                    inst.format_qty(max)
                );
                self.raise(alert(Rule::RunawayPosition, Some(f.instrument), change, max, text), r.window_ns, out);
            }
        }
        if let (Some(max), Some(p)) = (r.max_loss, self.positions.get_mut(i)) {
            p.apply_fill_with_fee(&instruments[i], f.side, f.price, f.qty, f.fee);
            let pnl = self
                .positions
                .iter()
                .zip(instruments)
                .enumerate()
                .map(|(j, (p, inst))| {
                    let m = marks.of(j);
                    p.realised.saturating_sub(p.fees).saturating_add(if m > 0 { p.unrealised(inst, m) } else { 0 })
                })
                .fold(0i64, i64::saturating_add);
            let Some(hw) = self.pnl_high.as_mut() else { return };
            hw.add(ts, pnl);
            let high = hw.peak(ts).unwrap_or(pnl);
            let loss = high.saturating_sub(pnl);
            if loss > max && !self.muted(Rule::RunawayLoss, ts) {
                let text = format!(
                    "PnL fell {loss} from its high within {} (max_loss {max}, money units of 1e-8)",
                    ms(r.window_ns)
                );
                self.raise(alert(Rule::RunawayLoss, None, loss, max, text), r.window_ns, out);
            }
        }
    }

    /// RTS 6 Art. 15: `fills` fills on one instrument and side within the
    /// window disable the strategy until an operator re-enables it.
    fn repeated_check(&mut self, ts: u64, f: &FillSeen, out: &mut Vec<Alert>) {
        let rules = Arc::clone(&self.rules);
        let Some(r) = rules.repeated_execution.as_ref() else { return };
        let Some(st) = self.repeated.get_mut(f.instrument as usize).map(|s| &mut s[side_ix(f.side)]) else { return };
        let Some(oldest) = st.push(ts) else { return };
        if ts.saturating_sub(oldest) >= r.window_ns {
            return;
        }
        st.clear();
        let text = format!(
            "{} {} fills on instrument {} within {} (fills {}): disabled until an operator re-enables it",
            r.fills,
            side_name(f.side),
            f.instrument,
            ms(r.window_ns),
            r.fills
        );
        let a = Alert {
            rule: Rule::RepeatedExecution,
            action: AlertAction::Disable,
            ts_ns: ts,
            sid: f.sid,
            other: None,
            instrument: Some(f.instrument),
            window_ns: r.window_ns,
            observed: i64::from(r.fills),
            threshold: i64::from(r.fills),
            orders: vec![OrderRef { sid: f.sid, id: f.id }],
            text,
        };
        self.raise(a, r.window_ns, out);
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
