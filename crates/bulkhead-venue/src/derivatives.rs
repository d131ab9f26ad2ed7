//! Clock, latency, marks, funding, margin, liquidation and expiry settlement.

use bulkhead_model::{Decimal, InstrumentKind, Lots, Money, Ticks, black76, fee};

use crate::{Pending, Reason, Side, SimVenue, VenueEvent, VenueNotice};

/// What the clock has to do next.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// Expiry of instrument (options after the others at the same time).
    Expiry(bool, u32),
    Funding(u32),
    Arrival,
}

impl SimVenue {
    /// Total decision-to-book delay: `md_latency_ns + order_latency_ns`.
    pub(crate) fn latency(&self) -> u64 {
        self.config.md_latency_ns.saturating_add(self.config.order_latency_ns)
    }

    pub(crate) fn enqueue(&mut self, arrival: u64, p: Pending) {
        // Stable: after every action with arrival <= this one.
        let at = self.pending.iter().rposition(|(t, _)| *t <= arrival).map_or(0, |k| k + 1);
        self.pending.insert(at, (arrival, p));
    }

    /// Advance the venue clock to `ts_ns`: process, in time order, every
    /// expiry, funding time and order-entry arrival at or before `ts_ns`
    /// (ties: expiries, then funding, then arrivals in submission order), then
    /// run the margin check. A `ts_ns` earlier than the clock does nothing.
    pub fn advance(&mut self, ts_ns: u64, out: &mut Vec<VenueEvent>) {
        self.advance_to(ts_ns, None, out);
        self.check_margin(out);
    }

    pub(crate) fn advance_to(&mut self, ts: u64, skip_expiry: Option<u32>, out: &mut Vec<VenueEvent>) {
        if !self.started {
            self.started = true;
            self.now = ts;
        }
        if ts < self.now {
            return;
        }
        loop {
            let mut best: Option<(u64, Due)> = None;
            let mut consider = |t: u64, d: Due| {
                if t <= ts && best.is_none_or(|b| (t, d) < b) {
                    best = Some((t, d));
                }
            };
            for (k, inst) in (0u32..).zip(self.instruments.iter()) {
                let st = &self.state[k as usize];
                if let Some(e) = inst.expiry
                    && !st.expired
                    && skip_expiry != Some(k)
                {
                    consider(e, Due::Expiry(inst.kind == InstrumentKind::Option, k));
                }
                if let Some(periods) = self.now.checked_div(inst.funding_interval_ns) {
                    let next = if st.next_funding == 0 {
                        (periods + 1).saturating_mul(inst.funding_interval_ns)
                    } else {
                        st.next_funding
                    };
                    self.state[k as usize].next_funding = next;
                    consider(next, Due::Funding(k));
                }
            }
            if let Some(&(t, _)) = self.pending.front() {
                consider(t, Due::Arrival);
            }
            let Some((t, due)) = best else { break };
            self.now = self.now.max(t);
            match due {
                Due::Expiry(_, k) => {
                    self.state[k as usize].expired = true;
                    if let Some(px) = self.auto_settlement_price(k) {
                        self.do_settle(t, k, px, out);
                    } else {
                        // No mark: trading stops, settlement waits for `settle`.
                        self.cancel_instrument(k, out);
                    }
                }
                Due::Funding(k) => {
                    let st = &mut self.state[k as usize];
                    st.next_funding = st.next_funding.saturating_add(self.instruments[k as usize].funding_interval_ns);
                    self.apply_funding(t, k);
                    self.check_margin(out);
                }
                Due::Arrival => {
                    let (_, p) = self.pending.pop_front().expect("front exists");
                    match p {
                        Pending::Submit(o) => self.submit_now(&o, out),
                        Pending::Cancel(id, r) => {
                            self.cancel_resting(id, r, out);
                        }
                        Pending::CancelAccount(a, i, r) => {
                            self.cancel_account_now(a, i, r, out);
                        }
                    }
                }
            }
        }
        self.now = ts;
    }

    // ---- marks ------------------------------------------------------------

    /// Current mark price of `instrument` in its ticks (see crate docs "Marks").
    pub fn mark(&self, instrument: u32) -> Option<i64> {
        let k = instrument as usize;
        let inst = self.instruments.get(k)?;
        let st = &self.state[k];
        if let Some(p) = st.settled {
            return Some(p);
        }
        if let Some(p) = st.ext_mark {
            return Some(p);
        }
        if inst.kind == InstrumentKind::Option {
            return self.option_mark(instrument);
        }
        match self.config.mark {
            crate::MarkSource::Mid => {
                let b = &self.books[k];
                match b.quote.map(|q| (q.px(Side::Buy), q.px(Side::Sell))) {
                    Some((Some(bid), Some(ask))) => Some((bid + ask) / 2),
                    Some((Some(p), None)) | Some((None, Some(p))) => Some(p),
                    _ => b.last_trade,
                }
            }
            crate::MarkSource::IndexPlusBasis => st.index.map(|i| i + st.basis),
            crate::MarkSource::External => None,
        }
    }

    /// Black-76 mark of an option in its ticks (rounded to nearest), from the
    /// underlying's mark, the expiry's vol and the venue's rate.
    /// Platform-independent: Black-76 uses `bulkhead_model::detmath`.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a rounded, finite mark: `as` saturates the astronomically large"
    )]
    pub fn option_mark(&self, instrument: u32) -> Option<i64> {
        let inst = self.instruments.get(instrument as usize)?;
        let o = inst.option?;
        let u = inst.underlying?;
        let f = self.mark(u)?;
        let expiry = inst.expiry?;
        let vol = self.vols.get(&expiry).copied().or(self.config.default_vol)?;
        let fwd = self.instruments[u as usize].price_f64(f);
        let k = inst.price_f64(o.strike);
        let t = black76::years_between(self.now, expiry);
        let p = black76::price(o.option_type, fwd, k, t, vol, self.config.rate);
        let ticks = (p / inst.tick_size.to_f64()).round();
        ticks.is_finite().then_some(ticks as i64)
    }

    /// Set the volatility used for options expiring at `expiry_ns` (0.6 = 60 %).
    pub fn set_vol(&mut self, expiry_ns: u64, vol: f64) {
        self.vols.insert(expiry_ns, vol);
    }

    /// Index price for `MarkSource::IndexPlusBasis` marks.
    pub fn set_index(&mut self, ts_ns: u64, instrument: u32, price: i64, out: &mut Vec<VenueEvent>) {
        self.advance_to(ts_ns, None, out);
        if let Some(st) = self.state.get_mut(instrument as usize) {
            st.index = Some(price);
        }
        self.check_margin(out);
    }

    /// Basis in ticks added to the index (`MarkSource::IndexPlusBasis`).
    pub fn set_basis(&mut self, instrument: u32, ticks: i64) {
        if let Some(st) = self.state.get_mut(instrument as usize) {
            st.basis = ticks;
        }
    }

    /// Mark price from data (e.g. a feed's mark price); overrides every other
    /// source for this instrument from now on. `None` removes the override.
    pub fn set_mark(&mut self, ts_ns: u64, instrument: u32, price: Option<i64>, out: &mut Vec<VenueEvent>) {
        self.advance_to(ts_ns, None, out);
        if let Some(st) = self.state.get_mut(instrument as usize) {
            st.ext_mark = price;
        }
        self.check_margin(out);
    }

    /// Funding rate per interval from now on (e.g. from data), as a decimal
    /// fraction of mark notional; positive: longs pay shorts.
    pub fn set_funding_rate(&mut self, instrument: u32, rate: Decimal) {
        if let Some(st) = self.state.get_mut(instrument as usize) {
            st.funding_rate = rate;
        }
    }

    /// Current funding rate of `instrument`.
    pub fn funding_rate(&self, instrument: u32) -> Option<Decimal> {
        self.state.get(instrument as usize).map(|s| s.funding_rate)
    }

    // ---- funding ----------------------------------------------------------

    fn apply_funding(&mut self, ts: u64, instrument: u32) {
        let Some(mark) = self.mark(instrument) else { return };
        let rate = self.state[instrument as usize].funding_rate;
        if rate.mantissa == 0 {
            return;
        }
        let inst = &self.instruments[instrument as usize];
        for (&(account, ins), pos) in self.positions.iter_mut() {
            if ins != instrument || pos.qty == 0 {
                continue;
            }
            let notional = i128::from(inst.notional(Ticks::new(mark), Lots::new(pos.qty)).get());
            let raw = notional * i128::from(rate.mantissa) / 10i128.pow(rate.scale);
            let amount = Money::saturating_from_i128(-i128::from(pos.qty.signum()) * raw).get();
            pos.apply_funding(amount);
            self.notices.push(VenueNotice::Funding {
                ts_ns: ts,
                account,
                instrument,
                qty: pos.qty,
                mark,
                rate,
                amount,
            });
        }
    }

    // ---- fees -------------------------------------------------------------

    /// Fee of a fill. Options (Deribit convention): `ppm` of the underlying
    /// notional (underlying mark × qty × multiplier), capped in absolute value
    /// at `option_fee_cap_ppm` of the premium notional; without an underlying
    /// mark, `ppm` of the premium notional. Others: `ppm` of the notional.
    pub(crate) fn fill_fee(&self, instrument: u32, price: i64, qty: i64, ppm: i64) -> i64 {
        let inst = &self.instruments[instrument as usize];
        let (price, qty) = (Ticks::new(price), Lots::new(qty));
        let premium = fee(inst.notional(price, qty), ppm);
        if inst.kind != InstrumentKind::Option {
            return premium.get();
        }
        let Some(u) = inst.underlying else { return premium.get() };
        let Some(umark) = self.mark(u) else { return premium.get() };
        let s = Ticks::new(inst.convert_price(&self.instruments[u as usize], umark));
        let base = fee(inst.notional(s, qty), ppm);
        let cap = fee(inst.notional(price, qty), self.config.option_fee_cap_ppm).abs();
        base.abs().min(cap).saturating_mul_int(base.signum()).get()
    }

    // ---- margin -----------------------------------------------------------

    /// Set an account's collateral (money units of the venue's settlement
    /// currency). Only accounts with collateral are margined and liquidated.
    pub fn set_collateral(&mut self, account: u32, money: i64) {
        self.collateral.insert(account, money);
    }

    pub fn collateral(&self, account: u32) -> Option<i64> {
        self.collateral.get(&account).copied()
    }

    /// `(equity, initial, maintenance)` of a collateralised account:
    /// equity = collateral + Σ (realised − fees + unrealised at mark);
    /// margins = Σ mark notional × bps / 10 000 (positions without a mark count 0).
    pub fn account_margin(&self, account: u32) -> Option<(i64, i64, i64)> {
        let c = *self.collateral.get(&account)?;
        let mut eq = i128::from(c);
        let (mut im, mut mm) = (0i128, 0i128);
        for (&(_, k), pos) in self.positions.range((account, 0)..=(account, u32::MAX)) {
            eq += i128::from(pos.realised) - i128::from(pos.fees);
            if pos.qty == 0 {
                continue;
            }
            let inst = &self.instruments[k as usize];
            if let Some(m) = self.mark(k) {
                eq += i128::from(pos.unrealised(inst, m));
                let n = inst.notional(Ticks::new(m), Lots::new(pos.qty));
                im += n.bps_wide(inst.initial_margin_bps);
                mm += n.bps_wide(inst.maintenance_margin_bps);
            }
        }
        let c = |v: i128| Money::saturating_from_i128(v).get();
        Some((c(eq), c(im), c(mm)))
    }

    /// Initial-margin check at order entry (crate docs, validation 5c).
    pub(crate) fn initial_margin_ok(&self, o: &crate::NewOrder) -> bool {
        let Some((eq, im, _)) = self.account_margin(o.account) else { return true };
        let inst = &self.instruments[o.instrument as usize];
        if o.reduce_only || inst.initial_margin_bps == 0 {
            return true;
        }
        let pos = self.position(o.account, o.instrument).qty;
        if crate::reducible(pos, o.side) >= o.qty {
            return true; // only reduces
        }
        let px = if o.order_type == crate::OrderType::Market {
            let b = &self.books[o.instrument as usize];
            match b.quote.and_then(|q| q.px(o.side.opposite())).or_else(|| self.mark(o.instrument)) {
                Some(p) => p,
                None => return true, // nothing to value it at; no-liquidity check decides
            }
        } else {
            o.price
        };
        let add = inst.notional(Ticks::new(px), Lots::new(o.qty)).bps_wide(inst.initial_margin_bps);
        i128::from(eq) >= i128::from(im) + add
    }

    /// Liquidate every collateralised account whose equity is below its
    /// maintenance margin (maintenance > 0).
    pub(crate) fn check_margin(&mut self, out: &mut Vec<VenueEvent>) {
        if self.collateral.is_empty() {
            return;
        }
        let mut accts = std::mem::take(&mut self.accts);
        accts.clear();
        accts.extend(self.collateral.keys().copied());
        for &a in &accts {
            if let Some((eq, _, mm)) = self.account_margin(a)
                && mm > 0
                && eq < mm
            {
                self.liquidate(a, eq, mm, out);
            }
        }
        self.accts = accts;
    }

    fn liquidate(&mut self, account: u32, equity: i64, maintenance: i64, out: &mut Vec<VenueEvent>) {
        self.cancel_account_now(account, None, Reason::CancelledByLiquidation, out);
        let ts = self.now;
        for k in (0u32..).take(self.instruments.len()) {
            let Some(pos) = self.positions.get(&(account, k)).copied() else { continue };
            if pos.qty == 0 {
                continue;
            }
            let Some(mark) = self.mark(k) else { continue };
            let inst = &self.instruments[k as usize];
            let side = if pos.qty > 0 { Side::Sell } else { Side::Buy };
            let qty = pos.qty.abs();
            let f = fee(inst.notional(Ticks::new(mark), Lots::new(qty)), self.config.liquidation_fee_ppm).get();
            let p = self.positions.get_mut(&(account, k)).expect("exists");
            let before = p.realised;
            p.apply_fill_with_fee(inst, side, mark, qty, f);
            let pnl = p.realised - before;
            self.notices.push(VenueNotice::Liquidation {
                ts_ns: ts,
                account,
                instrument: k,
                side,
                qty,
                price: mark,
                fee: f,
                pnl,
                equity,
                maintenance,
            });
        }
    }

    // ---- expiry -----------------------------------------------------------

    fn auto_settlement_price(&self, k: u32) -> Option<i64> {
        if let Some(p) = self.state[k as usize].settle_at {
            return Some(p);
        }
        let inst = &self.instruments[k as usize];
        if inst.kind == InstrumentKind::Option {
            let u = inst.underlying?;
            let up = self.mark(u)?; // a settled underlying's mark is its settlement price
            Some(inst.intrinsic(&self.instruments[u as usize], up))
        } else {
            self.mark(k)
        }
    }

    /// The price `instrument` settles at when its expiry is reached (its own
    /// ticks; an option: the payoff per unit), instead of its mark then. So
    /// a dated future without quotes or mark still settles at expiry.
    pub fn set_settlement_price(&mut self, instrument: u32, price: i64) {
        if let Some(st) = self.state.get_mut(instrument as usize) {
            st.settle_at = Some(price);
        }
    }

    /// Settle `instrument` at `price` (its own ticks; for an option: the
    /// payoff per unit, see `Instrument::intrinsic`). Advances the clock to
    /// `ts_ns` first (without auto-settling this instrument), cancels its open
    /// orders (`CancelledAtExpiry`), closes every position at `price` (no fee)
    /// and emits `Settlement` then `InstrumentSettled` notices. Orders for it
    /// are rejected (`InstrumentExpired`) from then on. Returns false if it
    /// was already settled or is unknown.
    pub fn settle(&mut self, ts_ns: u64, instrument: u32, price: i64, out: &mut Vec<VenueEvent>) -> bool {
        if instrument as usize >= self.instruments.len() || self.state[instrument as usize].settled.is_some() {
            return false;
        }
        self.advance_to(ts_ns, Some(instrument), out);
        self.state[instrument as usize].expired = true;
        self.do_settle(self.now, instrument, price, out);
        self.check_margin(out);
        true
    }

    fn cancel_instrument(&mut self, k: u32, out: &mut Vec<VenueEvent>) {
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(self.orders.values().filter(|o| o.instrument == k).map(|o| o.order_id));
        for &id in &ids {
            self.cancel_resting(id, Reason::CancelledAtExpiry, out);
        }
        self.ids = ids;
    }

    fn do_settle(&mut self, ts: u64, k: u32, price: i64, out: &mut Vec<VenueEvent>) {
        if self.state[k as usize].settled.is_some() {
            return;
        }
        self.cancel_instrument(k, out);
        self.state[k as usize].settled = Some(price);
        let inst = &self.instruments[k as usize];
        for (&(account, ins), pos) in self.positions.iter_mut() {
            if ins != k || pos.qty == 0 {
                continue;
            }
            let qty = pos.qty;
            let pnl = pos.settle(inst, price);
            self.notices.push(VenueNotice::Settlement { ts_ns: ts, account, instrument: k, qty, price, pnl });
        }
        self.notices.push(VenueNotice::InstrumentSettled { ts_ns: ts, instrument: k, price });
    }
}
