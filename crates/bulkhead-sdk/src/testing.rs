//! Test helpers (feature `testing`): a [`RecordingHost`] that records every
//! host call, and event constructors.

use std::string::String;
use std::vec::Vec;

use bulkhead_abi::{
    DecodeError, EVENT_FLAG_MAKER, Event, EventKind, HostApi, OpenOrderRecord, OrderRequest, PositionRecord, Reason,
    Side,
};

/// One recorded host call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `submit_order` (the request) and what the host returned.
    Submit(OrderRequest, i64),
    /// `cancel_order`.
    Cancel(u64),
    /// `cancel_all`.
    CancelAll(Option<u32>),
    /// `position`.
    Position(u32),
    /// `open_orders` with the slice length.
    OpenOrders(usize),
    /// `set_timer`.
    SetTimer(u64, u64),
    /// `log` (lossy UTF-8).
    Log(i32, String),
    /// `invalid_record`.
    Invalid(DecodeError),
}

/// A [`HostApi`] that accepts everything (ids 1, 2, 3, …) and records every call.
/// Tweak the public fields to script answers.
#[derive(Debug)]
pub struct RecordingHost {
    /// Every call, in order.
    pub calls: Vec<Call>,
    /// Next order id handed out.
    pub next_id: u64,
    /// If set, `submit_order` refuses with this reason.
    pub reject_with: Option<Reason>,
    /// Returned by `cancel_order`.
    pub cancel_result: i32,
    /// Returned (with code 0) by `position`.
    pub position: PositionRecord,
    /// Returned by `open_orders`.
    pub open: Vec<OpenOrderRecord>,
}

impl Default for RecordingHost {
    fn default() -> Self {
        RecordingHost {
            calls: Vec::new(),
            next_id: 1,
            reject_with: None,
            cancel_result: 0,
            position: PositionRecord::default(),
            open: Vec::new(),
        }
    }
}

impl RecordingHost {
    /// A fresh host.
    pub fn new() -> Self {
        Self::default()
    }
    /// Orders accepted by `submit_order` (with their ids), in order.
    pub fn submitted(&self) -> Vec<(u64, OrderRequest)> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Submit(r, id) if *id > 0 => Some((*id as u64, *r)),
                _ => None,
            })
            .collect()
    }
    /// Ids passed to `cancel_order`, in order.
    pub fn cancels(&self) -> Vec<u64> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Cancel(id) => Some(*id),
                _ => None,
            })
            .collect()
    }
    /// Logged messages.
    pub fn logs(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Log(_, m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }
    /// Forget recorded calls.
    pub fn clear(&mut self) {
        self.calls.clear();
    }
}

impl HostApi for RecordingHost {
    fn submit_order(&mut self, req: &OrderRequest) -> i64 {
        let r = match self.reject_with {
            Some(reason) => -(reason.code() as i64),
            None => {
                let id = self.next_id;
                self.next_id += 1;
                id as i64
            }
        };
        self.calls.push(Call::Submit(*req, r));
        r
    }
    fn cancel_order(&mut self, id: u64) -> i32 {
        self.calls.push(Call::Cancel(id));
        self.cancel_result
    }
    fn cancel_all(&mut self, instrument: Option<u32>) -> i32 {
        self.calls.push(Call::CancelAll(instrument));
        0
    }
    fn position(&mut self, instrument: u32, out: &mut PositionRecord) -> i32 {
        self.calls.push(Call::Position(instrument));
        *out = self.position;
        0
    }
    fn open_orders(&mut self, out: &mut [OpenOrderRecord]) -> i32 {
        self.calls.push(Call::OpenOrders(out.len()));
        for (o, r) in out.iter_mut().zip(&self.open) {
            *o = *r;
        }
        self.open.len() as i32
    }
    fn set_timer(&mut self, at_ns: u64, token: u64) -> i32 {
        self.calls.push(Call::SetTimer(at_ns, token));
        0
    }
    fn log(&mut self, level: i32, msg: &[u8]) -> i32 {
        self.calls.push(Call::Log(level, String::from_utf8_lossy(msg).into_owned()));
        0
    }
    fn invalid_record(&mut self, err: DecodeError) {
        self.calls.push(Call::Invalid(err));
    }
}

/// A trade event.
pub fn trade(instrument: u32, ts_ns: u64, price: i64, qty: i64, aggressor: Option<Side>) -> Event {
    let mut e = Event::new(EventKind::Trade, instrument, ts_ns);
    e.price = price;
    e.qty = qty;
    e.side = aggressor;
    e
}

/// A quote event.
pub fn quote(instrument: u32, ts_ns: u64, bid_px: i64, bid_qty: i64, ask_px: i64, ask_qty: i64) -> Event {
    let mut e = Event::new(EventKind::Quote, instrument, ts_ns);
    e.price = bid_px;
    e.qty = bid_qty;
    e.a = ask_px;
    e.b = ask_qty;
    e
}

/// An order-update event (accepted / rejected / cancelled) echoing `req`.
pub fn order_update(kind: EventKind, ts_ns: u64, id: u64, req: &OrderRequest, reason: Option<Reason>) -> Event {
    let mut e = Event::new(kind, req.instrument, ts_ns);
    e.id = id;
    e.tag = req.tag;
    e.side = Some(req.side);
    e.price = req.price;
    e.qty = req.qty;
    e.a = reason.map_or(0, |r| r.code() as i64);
    e
}

/// A fill event of `qty` at `price` on order `id` (built from `req`).
pub fn fill(ts_ns: u64, id: u64, req: &OrderRequest, price: i64, qty: i64, remaining: i64, maker: bool) -> Event {
    let mut e = Event::new(EventKind::Fill, req.instrument, ts_ns);
    e.id = id;
    e.tag = req.tag;
    e.side = Some(req.side);
    e.price = price;
    e.qty = qty;
    e.b = remaining;
    e.flags = if maker { EVENT_FLAG_MAKER } else { 0 };
    e
}

/// A timer event.
pub fn timer(ts_ns: u64, token: u64) -> Event {
    let mut e = Event::new(EventKind::Timer, 0, ts_ns);
    e.id = token;
    e
}
