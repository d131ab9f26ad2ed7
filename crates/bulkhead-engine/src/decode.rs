//! Checked decoding of the engine's journal records (layouts in
//! [`crate::records`]) into a readable, serialisable form, for
//! `bulkhead journal show`, replay reports and audits.
//!
//! A journal handed to these tools may come from anywhere: a payload that does
//! not match its kind's layout is a [`DecodeError`] naming the kind, the field
//! and the byte offset, never a panic.

use bulkhead_abi::{Event, EventKind, OrderRequest, OrderType, Reason, Side, TimeInForce};
use serde::Serialize;

use crate::records;

/// A payload that does not match its kind's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} record: {field} at byte {offset}: {problem}")]
pub struct DecodeError {
    pub kind: &'static str,
    pub field: &'static str,
    pub offset: usize,
    pub problem: String,
}

/// An ABI event as journalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventView {
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<&'static str>,
    pub instrument: u32,
    pub ts_ns: u64,
    pub id: u64,
    pub tag: u64,
    pub price: i64,
    pub qty: i64,
    pub a: i64,
    pub b: i64,
    pub maker: bool,
}

/// An order request as journalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    pub instrument: u32,
    pub side: &'static str,
    pub order_type: &'static str,
    pub tif: &'static str,
    pub reduce_only: bool,
    pub price: i64,
    pub qty: i64,
    pub tag: u64,
}

/// One journal record, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Decoded {
    RunStart {
        text: String,
    },
    Module {
        sid: u32,
        module_blake3: String,
        /// ed25519 public key of the module's signer (hex), if signed.
        #[serde(skip_serializing_if = "Option::is_none")]
        signer_key: Option<String>,
        name: String,
    },
    Market(EventView),
    Order {
        sid: u32,
        id: u64,
        reason: u16,
        reason_name: &'static str,
        limit: i64,
        requested: i64,
        current: i64,
        order: OrderView,
    },
    Cancel {
        sid: u32,
        /// 0 = cancel all.
        id: u64,
        reason: u16,
        reason_name: &'static str,
        /// -1 = all instruments (or unknown order).
        instrument: i32,
    },
    Venue {
        sid: u32,
        #[serde(flatten)]
        event: EventView,
    },
    Fault {
        sid: u32,
        fault: String,
        message: String,
    },
    State {
        scope: &'static str,
        target: u32,
        state: &'static str,
        cause: String,
    },
    Log {
        sid: u32,
        level: i32,
        message: String,
    },
    Timer {
        sid: u32,
        at_ns: u64,
        token: u64,
        result: i32,
    },
    Invalid {
        sid: u32,
        error: String,
    },
    RunEnd {
        text: String,
    },
    Notice {
        #[serde(skip_serializing_if = "Option::is_none")]
        sid: Option<u32>,
        notice: &'static str,
        instrument: u32,
        qty: i64,
        price: i64,
        amount: i64,
        fee: i64,
    },
    Command {
        text: String,
    },
    Config {
        name: String,
        text: String,
    },
    Unknown {
        kind: u16,
        len: usize,
    },
}

impl Decoded {
    /// The strategy the record is about, if any.
    pub fn sid(&self) -> Option<u32> {
        match self {
            Decoded::Module { sid, .. }
            | Decoded::Order { sid, .. }
            | Decoded::Cancel { sid, .. }
            | Decoded::Venue { sid, .. }
            | Decoded::Fault { sid, .. }
            | Decoded::Log { sid, .. }
            | Decoded::Timer { sid, .. }
            | Decoded::Invalid { sid, .. } => Some(*sid),
            Decoded::State { scope: "strategy", target, .. } => Some(*target),
            Decoded::Notice { sid, .. } => *sid,
            _ => None,
        }
    }

    /// Is this a decision a strategy made or received (what replay compares)?
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            Decoded::Order { .. }
                | Decoded::Cancel { .. }
                | Decoded::Venue { .. }
                | Decoded::Fault { .. }
                | Decoded::Timer { .. }
                | Decoded::Invalid { .. }
                | Decoded::State { .. }
        )
    }

    /// The risk engine's own words for a refused order, with the numbers in
    /// the instrument's decimal units (e.g. `R2_MAX_ORDER_QTY: order qty 0.6
    /// exceeds limit 0.5 (BTC-USDT-PERP)`): what a compliance reader wants
    /// beside the raw integers. `None` for anything but a rejected order.
    /// `instruments` is the run's universe ([`instruments_from_run_config`]).
    pub fn risk_message(&self, instruments: &[bulkhead_model::Instrument]) -> Option<String> {
        let Decoded::Order { reason, limit, requested, current, order, .. } = self else { return None };
        let reason = Reason::from_code(*reason).filter(|r| *r != Reason::Accepted)?;
        let d = bulkhead_risk::Outcome {
            reason,
            limit: *limit,
            requested: *requested,
            current: *current,
            instrument: order.instrument,
        };
        Some(d.message(instruments))
    }

    /// One line of human-readable text (no time or sequence number).
    pub fn summary(&self, names: &dyn Fn(u32) -> String) -> String {
        match self {
            Decoded::RunStart { text } | Decoded::RunEnd { text } | Decoded::Command { text } => {
                text.trim_end().replace('\n', " | ")
            }
            Decoded::Module { sid, module_blake3, signer_key, name } => format!(
                "strategy {sid} `{name}` module blake3={module_blake3} signer={}",
                signer_key.as_deref().unwrap_or("unsigned")
            ),
            Decoded::Market(e) => format!("{} {}", e.event, event_text(e)),
            Decoded::Order { sid, id, reason_name, limit, requested, current, order, reason } => {
                let head = format!(
                    "{} order #{id} {} {} {} {}@{} qty {}{}",
                    names(*sid),
                    order.side,
                    order.order_type,
                    order.tif,
                    order.instrument,
                    order.price,
                    order.qty,
                    if order.reduce_only { " reduce-only" } else { "" }
                );
                if *reason == 0 {
                    format!("{head}: accepted")
                } else {
                    format!("{head}: REJECTED {reason_name} (limit {limit}, requested {requested}, current {current})")
                }
            }
            Decoded::Cancel { sid, id, reason_name, instrument, reason } => {
                let what = if *id == 0 { "cancel all".to_string() } else { format!("cancel #{id}") };
                let inst = if *instrument < 0 { String::new() } else { format!(" instrument {instrument}") };
                let outcome = if *reason == 0 { "passed".to_string() } else { format!("REFUSED {reason_name}") };
                format!("{} {what}{inst}: {outcome}", names(*sid))
            }
            Decoded::Venue { sid, event } => format!("{} {} {}", names(*sid), event.event, event_text(event)),
            Decoded::Fault { sid, fault, message } => format!("{} FAULT {fault}: {message}", names(*sid)),
            Decoded::State { scope, target, state, cause } => {
                let who = match *scope {
                    "strategy" => names(*target),
                    "instrument" => format!("instrument {target}"),
                    _ => "global".to_string(),
                };
                format!("{who} -> {state}: {cause}")
            }
            Decoded::Log { sid, level, message } => format!("{} log[{level}] {message}", names(*sid)),
            Decoded::Timer { sid, at_ns, token, result } => {
                format!("{} timer token {token} at {at_ns} -> {result}", names(*sid))
            }
            Decoded::Invalid { sid, error } => format!("{} INVALID {error}", names(*sid)),
            Decoded::Notice { sid, notice, instrument, qty, price, amount, fee } => format!(
                "{}{notice} instrument {instrument} qty {qty} price {price} amount {amount} fee {fee}",
                sid.map(|s| format!("{} ", names(s))).unwrap_or_default()
            ),
            Decoded::Config { name, text } => format!("config `{name}` ({} bytes)", text.len()),
            Decoded::Unknown { kind, len } => format!("kind {kind} ({len} bytes)"),
        }
    }
}

fn event_text(e: &EventView) -> String {
    let side = e.side.map(|s| format!("{s} ")).unwrap_or_default();
    match e.event {
        "quote" => format!("instrument {} bid {}x{} ask {}x{}", e.instrument, e.price, e.qty, e.a, e.b),
        "trade" => format!("instrument {} {side}{}@{}", e.instrument, e.qty, e.price),
        "fill" => format!(
            "#{} {side}{}@{} fee {} remaining {}{}",
            e.id,
            e.qty,
            e.price,
            e.a,
            e.b,
            if e.maker { " maker" } else { " taker" }
        ),
        "order_rejected" | "order_cancelled" => {
            let r = u16::try_from(e.a).ok().and_then(Reason::from_code).map_or("?", Reason::name);
            format!("#{} {side}{}@{} {r}", e.id, e.qty, e.price)
        }
        "timer" => format!("token {}", e.id),
        _ => format!("#{} {side}{}@{}", e.id, e.qty, e.price),
    }
}

/// Stable lowercase names of the record kinds, for filters.
pub const KIND_NAMES: &[&str] = &[
    "run_start",
    "module",
    "market",
    "order",
    "cancel",
    "venue",
    "fault",
    "state",
    "log",
    "timer",
    "invalid",
    "run_end",
    "notice",
    "command",
    "config",
];

struct Cur<'a> {
    kind: &'static str,
    p: &'a [u8],
}

impl<'a> Cur<'a> {
    fn bytes(&self, field: &'static str, at: usize, n: usize) -> Result<&'a [u8], DecodeError> {
        self.p.get(at..at.saturating_add(n)).ok_or_else(|| DecodeError {
            kind: self.kind,
            field,
            offset: at,
            problem: format!("needs {n} bytes, payload is {} bytes", self.p.len()),
        })
    }
    fn rest(&self, field: &'static str, at: usize) -> Result<&'a [u8], DecodeError> {
        self.bytes(field, at, self.p.len().saturating_sub(at))
    }
    fn text(&self, field: &'static str, at: usize) -> Result<String, DecodeError> {
        Ok(String::from_utf8_lossy(self.rest(field, at)?).into_owned())
    }
    fn u8(&self, field: &'static str, at: usize) -> Result<u8, DecodeError> {
        Ok(self.bytes(field, at, 1)?[0])
    }
    fn u16(&self, field: &'static str, at: usize) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.bytes(field, at, 2)?.try_into().expect("2 bytes")))
    }
    fn u32(&self, field: &'static str, at: usize) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.bytes(field, at, 4)?.try_into().expect("4 bytes")))
    }
    fn i32(&self, field: &'static str, at: usize) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.bytes(field, at, 4)?.try_into().expect("4 bytes")))
    }
    fn u64(&self, field: &'static str, at: usize) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.bytes(field, at, 8)?.try_into().expect("8 bytes")))
    }
    fn i64(&self, field: &'static str, at: usize) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.bytes(field, at, 8)?.try_into().expect("8 bytes")))
    }
    fn event(&self, field: &'static str, at: usize) -> Result<EventView, DecodeError> {
        let b = self.bytes(field, at, bulkhead_abi::EVENT_SIZE)?;
        let e = Event::decode(b).map_err(|e| self.bad(field, at, format!("{e:?}")))?;
        Ok(event_view(&e))
    }
    fn bad(&self, field: &'static str, offset: usize, problem: String) -> DecodeError {
        DecodeError { kind: self.kind, field, offset, problem }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

pub fn event_view(e: &Event) -> EventView {
    EventView {
        event: match e.kind {
            EventKind::Trade => "trade",
            EventKind::Quote => "quote",
            EventKind::OrderAccepted => "order_accepted",
            EventKind::OrderRejected => "order_rejected",
            EventKind::OrderCancelled => "order_cancelled",
            EventKind::Fill => "fill",
            EventKind::Timer => "timer",
            EventKind::BookLevel => "book_level",
            EventKind::BookClear => "book_clear",
            EventKind::Ticker => "ticker",
        },
        side: e.side.map(side_name),
        instrument: e.instrument,
        ts_ns: e.ts_ns,
        id: e.id,
        tag: e.tag,
        price: e.price,
        qty: e.qty,
        a: e.a,
        b: e.b,
        maker: e.flags & bulkhead_abi::EVENT_FLAG_MAKER != 0,
    }
}

fn order_view(r: &OrderRequest) -> OrderView {
    OrderView {
        instrument: r.instrument,
        side: side_name(r.side),
        order_type: match r.order_type {
            OrderType::Limit => "limit",
            OrderType::Market => "market",
        },
        tif: match r.tif {
            TimeInForce::Gtc => "gtc",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
            TimeInForce::PostOnly => "post_only",
        },
        reduce_only: r.reduce_only,
        price: r.price,
        qty: r.qty,
        tag: r.tag,
    }
}

/// The instruments of a journalled run, from its `run_config` CONFIG record
/// (the config file verbatim): what [`Decoded::risk_message`] needs to speak
/// in decimal units. An error names what did not parse.
pub fn instruments_from_run_config(text: &str) -> Result<Vec<bulkhead_model::Instrument>, String> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        instruments: Vec<bulkhead_model::InstrumentSpec>,
    }
    let only: Only = toml::from_str(text).map_err(|e| format!("run_config: {}", e.message()))?;
    let mut out = Vec::with_capacity(only.instruments.len());
    for (i, spec) in only.instruments.iter().enumerate() {
        out.push(bulkhead_model::Instrument::from_spec(i as u32, spec).map_err(|e| format!("instruments[{i}]: {e}"))?);
    }
    bulkhead_model::link_underlyings(&mut out).map_err(|e| format!("instruments: {e}"))?;
    Ok(out)
}

fn reason_name(code: u16) -> &'static str {
    Reason::from_code(code).map_or("UNKNOWN_REASON", Reason::name)
}

/// Decode one record's payload by its kind.
pub fn decode(kind: u16, payload: &[u8]) -> Result<Decoded, DecodeError> {
    let c = Cur { kind: records::kind_name(kind), p: payload };
    Ok(match kind {
        records::RUN_START => Decoded::RunStart { text: c.text("text", 0)? },
        records::RUN_END => Decoded::RunEnd { text: c.text("text", 0)? },
        records::COMMAND => Decoded::Command { text: c.text("text", 0)? },
        records::MODULE => {
            let sid = c.u32("sid", 0)?;
            let module_blake3 = hex(c.bytes("module hash", 4, 32)?);
            let signer = c.bytes("signer key", 36, 32)?;
            let signer_key = if signer.iter().all(|&b| b == 0) { None } else { Some(hex(signer)) };
            Decoded::Module { sid, module_blake3, signer_key, name: c.text("name", 68)? }
        }
        records::MARKET => Decoded::Market(c.event("event", 0)?),
        records::ORDER => {
            let reason = c.u16("reason", 12)?;
            let req = OrderRequest::decode(c.bytes("order request", 40, bulkhead_abi::ORDER_REQUEST_SIZE)?)
                .map_err(|e| c.bad("order request", 40, format!("{e:?}")))?;
            Decoded::Order {
                sid: c.u32("sid", 0)?,
                id: c.u64("order id", 4)?,
                reason,
                reason_name: reason_name(reason),
                limit: c.i64("limit", 16)?,
                requested: c.i64("requested", 24)?,
                current: c.i64("current", 32)?,
                order: order_view(&req),
            }
        }
        records::CANCEL => {
            let reason = c.u16("reason", 12)?;
            Decoded::Cancel {
                sid: c.u32("sid", 0)?,
                id: c.u64("order id", 4)?,
                reason,
                reason_name: reason_name(reason),
                instrument: c.i32("instrument", 14)?,
            }
        }
        records::VENUE => Decoded::Venue { sid: c.u32("sid", 0)?, event: c.event("event", 4)? },
        records::FAULT => {
            let n = usize::from(c.u16("fault kind length", 4)?);
            let k = c.bytes("fault kind", 6, n)?;
            Decoded::Fault {
                sid: c.u32("sid", 0)?,
                fault: String::from_utf8_lossy(k).into_owned(),
                message: c.text("message", 6 + n)?,
            }
        }
        records::STATE => Decoded::State {
            scope: match c.u8("scope", 0)? {
                0 => "strategy",
                1 => "instrument",
                2 => "global",
                s => return Err(c.bad("scope", 0, format!("{s} is not 0, 1 or 2"))),
            },
            target: c.u32("target", 1)?,
            state: match c.u8("state", 5)? {
                0 => "active",
                1 => "reducing",
                2 => "halted",
                s => return Err(c.bad("state", 5, format!("{s} is not 0, 1 or 2"))),
            },
            cause: c.text("cause", 6)?,
        },
        records::LOG => {
            Decoded::Log { sid: c.u32("sid", 0)?, level: c.i32("level", 4)?, message: c.text("message", 8)? }
        }
        records::TIMER => Decoded::Timer {
            sid: c.u32("sid", 0)?,
            at_ns: c.u64("at_ns", 4)?,
            token: c.u64("token", 12)?,
            result: c.i32("result", 20)?,
        },
        records::INVALID => Decoded::Invalid { sid: c.u32("sid", 0)?, error: c.text("error", 4)? },
        records::NOTICE => {
            let sid = c.u32("sid", 0)?;
            Decoded::Notice {
                sid: (sid != u32::MAX).then_some(sid),
                notice: match c.u8("notice", 4)? {
                    1 => "funding",
                    2 => "liquidation",
                    3 => "settlement",
                    4 => "instrument_settled",
                    n => return Err(c.bad("notice", 4, format!("{n} is not a notice code"))),
                },
                instrument: c.u32("instrument", 5)?,
                qty: c.i64("qty", 9)?,
                price: c.i64("price", 17)?,
                amount: c.i64("amount", 25)?,
                fee: c.i64("fee", 33)?,
            }
        }
        records::CONFIG => {
            let n = usize::from(c.u16("name length", 0)?);
            let name = String::from_utf8_lossy(c.bytes("name", 2, n)?).into_owned();
            Decoded::Config { name, text: c.text("text", 2 + n)? }
        }
        k => Decoded::Unknown { kind: k, len: payload.len() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal from outside is hostile: every kind, every length, arbitrary
    /// bytes decode to a value or a `DecodeError`, never a panic; short
    /// payloads name the field they lack.
    #[test]
    fn arbitrary_payloads_never_panic() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut buf = vec![0u8; 300];
        for kind in 0..20u16 {
            for len in 0..buf.len() {
                for _ in 0..4 {
                    for b in buf.iter_mut().take(len) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        *b = x as u8;
                    }
                    let _ = decode(kind, &buf[..len]);
                }
            }
        }
        let e = decode(records::ORDER, &[0; 10]).unwrap_err();
        assert_eq!((e.kind, e.field, e.offset), ("order", "reason", 12), "{e}");
        let e = decode(records::STATE, &[7, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(e.field, "scope", "{e}");
    }

    #[test]
    fn a_rejected_order_reads_with_its_reason_and_numbers() {
        use crate::records::Payload;
        let req = OrderRequest {
            instrument: 0,
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            price: 650_000,
            qty: 12,
            tag: 7,
        };
        let mut p = Payload::<72>::new();
        p.u32(1).u64(5).u16(Reason::MaxOrderQty.code()).u16(0).i64(10).i64(12).i64(0).order(&req);
        let d = decode(records::ORDER, p.bytes()).unwrap();
        let text = d.summary(&|s| format!("s{s}"));
        assert!(
            text.contains("s1 order #5 buy limit gtc") && text.contains("R2_MAX_ORDER_QTY (limit 10, requested 12"),
            "{text}"
        );
        assert_eq!(d.sid(), Some(1));
        let instruments = instruments_from_run_config(
            "[run]\nname = \"x\"\n[[instruments]]\nsymbol = \"BTC-USDT-PERP\"\nkind = \"perpetual\"\n\
             tick_size = \"0.1\"\nlot_size = \"0.001\"\n",
        )
        .unwrap();
        assert_eq!(
            d.risk_message(&instruments).as_deref(),
            Some("R2_MAX_ORDER_QTY: order qty 0.012 exceeds limit 0.01 (BTC-USDT-PERP)")
        );
        let e = instruments_from_run_config("[[instruments]]\nsymbol = 3\n").unwrap_err();
        assert!(e.starts_with("run_config: "), "{e}");
    }
}
