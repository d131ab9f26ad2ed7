//! The readable, serialisable rendering of the engine's journal records, for
//! `bulkhead journal show`, replay reports and audits.
//!
//! [`Decoded`] is a rendering of [`Record`] (names for codes, hex for hashes,
//! text for bytes); the layouts and their checked decoder are
//! [`crate::records`] alone. A journal handed to these tools may come from
//! anywhere: a payload that does not match its kind's layout is a
//! [`DecodeError`] naming the kind, the field and the byte offset, never a
//! panic.

use bulkhead_abi::{Event, EventKind, OrderRequest, Reason, Side};
use serde::Serialize;

use crate::records::{self, Record};
pub use crate::records::{DecodeError, KIND_NAMES};

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
    /// A surveillance alert: the rule, the action, who, the window, the
    /// figure against its threshold, the orders, and the text.
    Alert {
        rule: &'static str,
        action: &'static str,
        sid: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        other: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        instrument: Option<u32>,
        window_ns: u64,
        observed: i64,
        threshold: i64,
        orders: Vec<AlertOrder>,
        text: String,
    },
    /// One step of a smart-contract intent.
    Chain {
        sid: u32,
        id: u64,
        step: &'static str,
        reason: u16,
        reason_name: &'static str,
        /// The step's body, hex (intent record, simulation, receipt, tx hash).
        body: String,
        text: String,
    },
    Unknown {
        kind: u16,
        len: usize,
    },
}

/// One order an alert names as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AlertOrder {
    pub sid: u32,
    pub id: u64,
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
            | Decoded::Invalid { sid, .. }
            | Decoded::Alert { sid, .. }
            | Decoded::Chain { sid, .. } => Some(*sid),
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
                | Decoded::Alert { .. }
                | Decoded::Chain { .. }
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
            Decoded::Alert { rule, action, sid, other, text, .. } => format!(
                "{}{} ALERT {rule} -> {action}: {text}",
                names(*sid),
                other.map(|o| format!(" + {}", names(o))).unwrap_or_default()
            ),
            Decoded::Chain { sid, id, step, reason, reason_name, text, .. } => {
                let outcome = if *reason == 0 { String::new() } else { format!(" {reason_name}") };
                format!("{} chain intent #{id} {step}{outcome}: {text}", names(*sid))
            }
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
            EventKind::ChainRejected => "chain_rejected",
            EventKind::ChainSimulated => "chain_simulated",
            EventKind::ChainMined => "chain_mined",
            EventKind::ChainReverted => "chain_reverted",
        },
        side: e.side.map(Side::name),
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
        side: r.side.name(),
        order_type: r.order_type.name(),
        tif: r.tif.name(),
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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl From<&Record<'_>> for Decoded {
    fn from(r: &Record<'_>) -> Decoded {
        match *r {
            Record::RunStart { text: t } => Decoded::RunStart { text: text(t) },
            Record::RunEnd { text: t } => Decoded::RunEnd { text: text(t) },
            Record::Command { text: t } => Decoded::Command { text: text(t) },
            Record::Module { sid, module, signer, name } => Decoded::Module {
                sid,
                module_blake3: hex::encode(module),
                signer_key: (signer != [0; 32]).then(|| hex::encode(signer)),
                name: text(name),
            },
            Record::Market(e) => Decoded::Market(event_view(&e)),
            Record::Order { sid, id, reason, limit, requested, current, order } => Decoded::Order {
                sid,
                id,
                reason: reason.code(),
                reason_name: reason.name(),
                limit,
                requested,
                current,
                order: order_view(&order),
            },
            Record::Cancel { sid, id, reason, instrument } => {
                Decoded::Cancel { sid, id, reason: reason.code(), reason_name: reason.name(), instrument }
            }
            Record::Venue { sid, event } => Decoded::Venue { sid, event: event_view(&event) },
            Record::Fault { sid, kind, message } => Decoded::Fault { sid, fault: text(kind), message: text(message) },
            Record::State { scope, state, cause } => {
                let target = match scope {
                    bulkhead_risk::Scope::Strategy(t) | bulkhead_risk::Scope::Instrument(t) => t,
                    bulkhead_risk::Scope::Global => 0,
                };
                Decoded::State { scope: records::scope_name(scope), target, state: state.name(), cause: text(cause) }
            }
            Record::Log { sid, level, message } => Decoded::Log { sid, level, message: text(message) },
            Record::Timer { sid, at_ns, token, result } => Decoded::Timer { sid, at_ns, token, result },
            Record::Invalid { sid, error } => Decoded::Invalid { sid, error: text(error) },
            Record::Notice { sid, notice, instrument, qty, price, amount, fee } => Decoded::Notice {
                sid: (sid != records::NO_ACCOUNT).then_some(sid),
                notice: notice.name(),
                instrument,
                qty,
                price,
                amount,
                fee,
            },
            Record::Config { name, bytes } => Decoded::Config { name: text(name), text: text(bytes) },
            Record::Alert { rule, action, sid, other, instrument, window_ns, observed, threshold, orders, text: t } => {
                Decoded::Alert {
                    rule: rule.name(),
                    action: action.name(),
                    sid,
                    other: (other != records::NO_ACCOUNT).then_some(other),
                    instrument: (instrument != records::NO_ACCOUNT).then_some(instrument),
                    window_ns,
                    observed,
                    threshold,
                    orders: records::alert_orders(orders).map(|(sid, id)| AlertOrder { sid, id }).collect(),
                    text: text(t),
                }
            }
            Record::Chain { sid, id, step, reason, body, text: t } => Decoded::Chain {
                sid,
                id,
                step: step.name(),
                reason: reason.code(),
                reason_name: reason.name(),
                body: hex::encode(body),
                text: text(t),
            },
        }
    }
}

/// Decode one record's payload by its kind ([`Record::decode`]) and render
/// it; a kind this engine does not write renders as [`Decoded::Unknown`].
pub fn decode(kind: u16, payload: &[u8]) -> Result<Decoded, DecodeError> {
    if records::kind_name(kind) == "unknown" {
        return Ok(Decoded::Unknown { kind, len: payload.len() });
    }
    Record::decode(kind, payload).map(|r| Decoded::from(&r))
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
        assert_eq!((e.kind, e.field, e.offset), ("order", "order id", 4), "{e}");
        let e = decode(records::TIMER, &[0; records::TIMER_LEN + 1]).unwrap_err();
        assert_eq!((e.kind, e.field, e.offset), ("timer", "end", records::TIMER_LEN), "{e}");
        let e = decode(records::STATE, &[7, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(e.field, "scope", "{e}");
    }

    #[test]
    fn a_rejected_order_reads_with_its_reason_and_numbers() {
        use bulkhead_abi::{OrderType, TimeInForce};
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
        let rec = Record::Order {
            sid: 1,
            id: 5,
            reason: Reason::MaxOrderQty,
            limit: 10,
            requested: 12,
            current: 0,
            order: req,
        };
        let mut p = Vec::new();
        rec.encode_to_vec(&mut p).unwrap();
        let d = decode(records::ORDER, &p).unwrap();
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
