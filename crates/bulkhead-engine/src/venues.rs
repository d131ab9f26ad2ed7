//! Several simulated venues in one run, each owning a set of instruments.
//!
//! Instrument ids are global to the run; every venue is built with the whole
//! instrument list (so ids, option underlyings and marks resolve the same
//! way everywhere) but only ever sees the market data, orders and cancels of
//! the instruments it owns. Each venue keeps its own fees, latency, STP mode,
//! book, queue positions and account positions; risk stays firm-wide.
//!
//! Routing is by instrument, never by trying venues in turn, so the order in
//! which venues see things is fixed by the input: same inputs, same journal.
//!
//! On a strategy node of a split run ([`Venues::set_remote`]) the venues are
//! the gateway's: orders and cancels go to an outbox the engine hands its
//! [`crate::remote::VenueLink`], positions are those the gateway's fills
//! built, and the local venues see only market data (their marks are the
//! gateway's: same data, same mark rules) and never hold an order.

use std::collections::BTreeMap;

use bulkhead_abi::Reason;
use bulkhead_model::{Instrument, Lots, Position, Ticks};
use bulkhead_venue::{Approved, Level, Quote, SimVenue, VenueConfig, VenueEvent, VenueNotice};

use crate::remote::RemoteAction;

pub struct Venues {
    list: Vec<SimVenue>,
    /// instrument id → index into `list`.
    by_instrument: Vec<usize>,
    /// A node of a split run: the venue is the gateway's.
    remote: Option<Remote>,
}

#[derive(Default)]
struct Remote {
    /// Actions since the last exchange with the gateway, in decision order.
    outbox: Vec<RemoteAction>,
    /// (account, instrument) → position from the gateway's fills.
    positions: BTreeMap<(u32, u32), Position>,
}

impl Venues {
    /// `venues`: each venue's config and the instrument ids it owns. Every
    /// instrument must be owned by exactly one venue (the run config checks
    /// this and names the field); an instrument no venue lists goes to the first.
    pub fn new(instruments: &[Instrument], venues: Vec<(VenueConfig, Vec<u32>)>) -> Self {
        let mut by_instrument = vec![0usize; instruments.len()];
        let mut list = Vec::with_capacity(venues.len().max(1));
        for (k, (config, owned)) in venues.into_iter().enumerate() {
            for id in owned {
                if let Some(slot) = by_instrument.get_mut(id as usize) {
                    *slot = k;
                }
            }
            list.push(SimVenue::with_config(instruments.to_vec(), config));
        }
        if list.is_empty() {
            list.push(SimVenue::with_config(instruments.to_vec(), VenueConfig::default()));
        }
        Venues { list, by_instrument, remote: None }
    }

    /// One venue owning every instrument.
    pub fn single(instruments: &[Instrument], config: VenueConfig) -> Self {
        Self::new(instruments, vec![(config, (0..instruments.len() as u32).collect())])
    }

    fn index(&self, instrument: u32) -> usize {
        self.by_instrument.get(instrument as usize).copied().unwrap_or(0)
    }

    /// The venue that owns `instrument` (the first for an unknown id: it
    /// refuses unknown instruments itself).
    pub fn of(&self, instrument: u32) -> &SimVenue {
        &self.list[self.index(instrument)]
    }

    fn of_mut(&mut self, instrument: u32) -> &mut SimVenue {
        let i = self.index(instrument);
        &mut self.list[i]
    }

    pub fn all(&self) -> &[SimVenue] {
        &self.list
    }

    pub fn instrument(&self, id: u32) -> Option<&Instrument> {
        self.of(id).instrument(id)
    }

    pub fn position(&self, account: u32, instrument: u32) -> Position {
        match &self.remote {
            Some(r) => r.positions.get(&(account, instrument)).copied().unwrap_or_default(),
            None => self.of(instrument).position(account, instrument),
        }
    }

    /// Make these the gateway's venues (a node of a split run).
    pub fn set_remote(&mut self) {
        self.remote = Some(Remote::default());
    }

    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The actions waiting for the next exchange with the gateway.
    pub fn take_outbox(&mut self) -> Vec<RemoteAction> {
        self.remote.as_mut().map(|r| std::mem::take(&mut r.outbox)).unwrap_or_default()
    }

    /// A response from the gateway: its fills build the node's positions.
    pub fn apply_remote(&mut self, ev: &VenueEvent) {
        let VenueEvent::Fill { account, instrument, side, price, qty, fee, .. } = *ev else { return };
        let Some(inst) = self.instrument(instrument).cloned() else { return };
        if let Some(r) = &mut self.remote {
            r.positions.entry((account, instrument)).or_default().apply_fill_with_fee(
                &inst,
                side,
                price.get(),
                qty.get(),
                fee.get(),
            );
        }
    }

    /// The account's collateral on every venue (each margins it on its own).
    pub fn set_collateral(&mut self, account: u32, money: i64) {
        for v in &mut self.list {
            v.set_collateral(account, money);
        }
    }

    pub fn set_vol(&mut self, expiry_ns: u64, vol: f64) {
        for v in &mut self.list {
            v.set_vol(expiry_ns, vol);
        }
    }

    pub fn on_quote(&mut self, ts_ns: u64, instrument: u32, quote: Quote, out: &mut Vec<VenueEvent>) {
        self.of_mut(instrument).on_quote(ts_ns, instrument, quote, out);
    }

    pub fn on_trade(
        &mut self,
        ts_ns: u64,
        instrument: u32,
        price: Ticks,
        qty: Lots,
        side: bulkhead_abi::Side,
        out: &mut Vec<VenueEvent>,
    ) {
        self.of_mut(instrument).on_trade(ts_ns, instrument, price, qty, side, out);
    }

    /// One L2 level (depth and queue positions only; the top of book comes as a quote).
    pub fn on_depth(&mut self, ts_ns: u64, instrument: u32, level: Level, out: &mut Vec<VenueEvent>) {
        self.of_mut(instrument).on_depth(ts_ns, instrument, level, out);
    }

    pub fn on_book_clear(&mut self, ts_ns: u64, instrument: u32, out: &mut Vec<VenueEvent>) {
        self.of_mut(instrument).on_book_clear(ts_ns, instrument, out);
    }

    /// The owning venue's mark of `instrument`.
    pub fn mark(&self, instrument: u32) -> Option<i64> {
        self.of(instrument).mark(instrument)
    }

    pub fn set_index(&mut self, ts_ns: u64, instrument: u32, price: i64, out: &mut Vec<VenueEvent>) {
        self.of_mut(instrument).set_index(ts_ns, instrument, price, out);
    }

    pub fn set_mark(&mut self, ts_ns: u64, instrument: u32, price: i64, out: &mut Vec<VenueEvent>) {
        self.of_mut(instrument).set_mark(ts_ns, instrument, Some(price), out);
    }

    pub fn set_funding_rate(&mut self, instrument: u32, rate: bulkhead_model::Decimal) {
        self.of_mut(instrument).set_funding_rate(instrument, rate);
    }

    pub fn set_settlement_price(&mut self, instrument: u32, price: i64) {
        self.of_mut(instrument).set_settlement_price(instrument, price);
    }

    pub fn submit(&mut self, ts_ns: u64, order: Approved, out: &mut Vec<VenueEvent>) {
        if let Some(r) = &mut self.remote {
            let (sid, order_id, order) = (order.strategy(), order.order_id(), *order.order());
            r.outbox.push(RemoteAction::Submit { sid, order_id, order });
            return;
        }
        self.of_mut(order.order().instrument).submit(ts_ns, order, out);
    }

    /// `sid`: the order's owner (the gateway checks it owns `order_id`).
    pub fn cancel(
        &mut self,
        ts_ns: u64,
        (sid, instrument): (u32, u32),
        order_id: u64,
        reason: Reason,
        out: &mut Vec<VenueEvent>,
    ) {
        if let Some(r) = &mut self.remote {
            r.outbox.push(RemoteAction::Cancel { sid, order_id, instrument, reason });
            return;
        }
        self.of_mut(instrument).cancel(ts_ns, order_id, reason, out);
    }

    /// One account's orders, on one instrument's venue or (`None`) on every
    /// venue in configuration order. Returns how many.
    pub fn cancel_account(
        &mut self,
        ts_ns: u64,
        account: u32,
        instrument: Option<u32>,
        reason: Reason,
        out: &mut Vec<VenueEvent>,
    ) -> usize {
        if let Some(r) = &mut self.remote {
            r.outbox.push(RemoteAction::CancelAll { sid: account, instrument, reason });
            return 0;
        }
        match instrument {
            Some(i) => self.of_mut(i).cancel_account(ts_ns, account, Some(i), reason, out),
            None => self.list.iter_mut().map(|v| v.cancel_account(ts_ns, account, None, reason, out)).sum(),
        }
    }

    pub fn take_notices(&mut self, out: &mut Vec<VenueNotice>) {
        for v in &mut self.list {
            v.take_notices(out);
        }
    }

    pub fn advance(&mut self, ts_ns: u64, out: &mut Vec<VenueEvent>) {
        if self.remote.is_some() {
            return;
        }
        for v in &mut self.list {
            v.advance(ts_ns, out);
        }
    }

    /// The longest order-entry plus market-data latency of any venue.
    pub fn max_latency_ns(&self) -> (u64, u64) {
        let o = self.list.iter().map(|v| v.config().order_latency_ns).max().unwrap_or(0);
        let m = self.list.iter().map(|v| v.config().md_latency_ns).max().unwrap_or(0);
        (o, m)
    }
}
