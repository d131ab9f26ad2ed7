//! The gateway's two message formats (little-endian), checked field by
//! field: a message is hostile input until [`decode_step`] /
//! [`decode_answer`] accept it; a refusal names the field and the offset.
//!
//! ## A node's step (`bulkhead.gw.<gw>.ord.<node>`, stream `GWO_<gw>`)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `BHGO0001` |
//! | 8 | 8 | `step` |
//! | 16 | 4 | `flags`: bit 0 = LAST (the node's data has ended); other bits 0 |
//! | 20 | 2 | `node_len` (1 ..= 32) |
//! | 22 | 2 | `hosted` count (≤ [`MAX_HOSTED`]) |
//! | 24 | 4 | `actions` count (≤ [`MAX_ACTIONS`]) |
//! | 28 | node_len | node name |
//! | … | 4 × hosted | the strategy ids the node hosts |
//! | … | 56 × actions | actions: kind u8 (1 submit, 2 cancel, 3 cancel all), 0 u8, reason u16, sid u32, order id u64, instrument u32 (cancel all of every instrument: `u32::MAX`), 0 u32, the 32-byte ABI `OrderRequest` (zero but for a submit) |
//!
//! ## The gateway's answer (`bulkhead.gw.<gw>.exe.<node>`, stream `GWE_<gw>`)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `BHGE0001` |
//! | 8 | 8 | `step` |
//! | 16 | 4 | `flags`: bit 0 = FINAL (the gateway's end of run); other bits 0 |
//! | 20 | 4 | `actions` count: responses to the step's actions |
//! | 24 | 4 | `market` count: the venue's reaction to the next market event |
//! | 28 | 4 | 0 |
//! | 32 | 64 × (actions + market) | events: ts u64, kind u8 (1 accepted, 2 rejected, 3 fill, 4 cancelled), side u8 (1 buy, 2 sell), maker u8, 0 u8, reason u16, 0 u16, account u32, instrument u32, order id u64, price i64, qty i64, fee i64, remaining i64 |

use bulkhead_abi::{ORDER_REQUEST_SIZE, OrderRequest, Reason, Side};
use bulkhead_engine::order_owner;
use bulkhead_engine::remote::{RemoteAction, RemoteEvent, StepAnswer};
use bulkhead_model::{Lots, Money, Ticks};
use bulkhead_venue::VenueEvent;

const STEP_MAGIC: &[u8; 8] = b"BHGO0001";
const ANSWER_MAGIC: &[u8; 8] = b"BHGE0001";
const STEP_HEAD: usize = 28;
const ANSWER_HEAD: usize = 32;
pub const ACTION_LEN: usize = 24 + ORDER_REQUEST_SIZE;
pub const EVENT_LEN: usize = 64;
/// Most strategies one node hosts.
pub const MAX_HOSTED: usize = 4096;
/// Most actions in one step of one node (a strategy's per-event host-call
/// budget times the strategies bounds it far below this).
pub const MAX_ACTIONS: usize = 1 << 16;
/// Most events in one answer.
pub const MAX_EVENTS: usize = 1 << 18;
pub const FLAG_LAST: u32 = 1;
pub const FLAG_FINAL: u32 = 1;

/// Why a message was refused: the field and its byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field} at offset {offset}: {problem}")]
pub struct WireError {
    pub field: &'static str,
    pub offset: usize,
    pub problem: String,
}

fn bad(field: &'static str, offset: usize, problem: impl Into<String>) -> WireError {
    WireError { field, offset, problem: problem.into() }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    u64_at(b, at) as i64
}

/// One node's step as the gateway receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStep {
    pub step: u64,
    pub last: bool,
    pub node: String,
    pub hosted: Vec<u32>,
    pub actions: Vec<RemoteAction>,
}

/// A node's step `step` (`last`: its data has ended) as sent: borrowed, so
/// a node encodes without copying its hosted set and actions first.
pub fn encode_step(step: u64, last: bool, node: &str, hosted: &[u32], actions: &[RemoteAction]) -> Vec<u8> {
    let mut b = Vec::with_capacity(STEP_HEAD + node.len() + 4 * hosted.len() + ACTION_LEN * actions.len());
    b.extend_from_slice(STEP_MAGIC);
    b.extend_from_slice(&step.to_le_bytes());
    b.extend_from_slice(&(if last { FLAG_LAST } else { 0 }).to_le_bytes());
    b.extend_from_slice(&(node.len() as u16).to_le_bytes());
    b.extend_from_slice(&(hosted.len() as u16).to_le_bytes());
    b.extend_from_slice(&(actions.len() as u32).to_le_bytes());
    b.extend_from_slice(node.as_bytes());
    for h in hosted {
        b.extend_from_slice(&h.to_le_bytes());
    }
    for a in actions {
        let (kind, reason, sid, id, inst, order) = match *a {
            RemoteAction::Submit { sid, order_id, order } => {
                (1u8, 0u16, sid, order_id, order.instrument, order.encode())
            }
            RemoteAction::Cancel { sid, order_id, instrument, reason } => {
                (2, reason.code(), sid, order_id, instrument, [0; ORDER_REQUEST_SIZE])
            }
            RemoteAction::CancelAll { sid, instrument, reason } => {
                (3, reason.code(), sid, 0, instrument.unwrap_or(u32::MAX), [0; ORDER_REQUEST_SIZE])
            }
        };
        b.extend_from_slice(&[kind, 0]);
        b.extend_from_slice(&reason.to_le_bytes());
        b.extend_from_slice(&sid.to_le_bytes());
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&inst.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&order);
    }
    b
}

/// Decode a node's step. `strategies` / `instruments`: the run's counts
/// (ids at or above them are refused); every action must belong to a
/// strategy the message says its node hosts.
pub fn decode_step(b: &[u8], strategies: usize, instruments: usize) -> Result<NodeStep, WireError> {
    if b.len() < STEP_HEAD {
        return Err(bad("header", 0, format!("{} bytes, a step has at least {STEP_HEAD}", b.len())));
    }
    if &b[..8] != STEP_MAGIC {
        return Err(bad("magic", 0, "not BHGO0001"));
    }
    let step = u64_at(b, 8);
    let flags = u32_at(b, 16);
    if flags & !FLAG_LAST != 0 {
        return Err(bad("flags", 16, format!("unknown bits {flags:#x}")));
    }
    let node_len = usize::from(u16_at(b, 20));
    let hosted_n = usize::from(u16_at(b, 22));
    let actions_n = u32_at(b, 24) as usize;
    if node_len == 0 || node_len > 32 {
        return Err(bad("node_len", 20, format!("{node_len} is not 1..=32")));
    }
    if hosted_n > MAX_HOSTED {
        return Err(bad("hosted", 22, format!("{hosted_n} > {MAX_HOSTED}")));
    }
    if actions_n > MAX_ACTIONS {
        return Err(bad("actions", 24, format!("{actions_n} > {MAX_ACTIONS}")));
    }
    let want = STEP_HEAD + node_len + 4 * hosted_n + ACTION_LEN * actions_n;
    if b.len() != want {
        return Err(bad("length", 0, format!("{} bytes, the counts say {want}", b.len())));
    }
    let node = std::str::from_utf8(&b[STEP_HEAD..STEP_HEAD + node_len])
        .ok()
        .filter(|n| crate::config::check_node_name("node", n).is_ok())
        .ok_or_else(|| bad("node", STEP_HEAD, "not a node name"))?
        .to_string();
    let mut at = STEP_HEAD + node_len;
    let mut hosted = Vec::with_capacity(hosted_n);
    for _ in 0..hosted_n {
        let sid = u32_at(b, at);
        if sid as usize >= strategies {
            return Err(bad("hosted", at, format!("strategy {sid}: the run has {strategies}")));
        }
        hosted.push(sid);
        at += 4;
    }
    let mut actions = Vec::with_capacity(actions_n);
    for _ in 0..actions_n {
        actions.push(decode_action(&b[at..at + ACTION_LEN], at, &hosted, instruments)?);
        at += ACTION_LEN;
    }
    Ok(NodeStep { step, last: flags & FLAG_LAST != 0, node, hosted, actions })
}

fn decode_action(r: &[u8], at: usize, hosted: &[u32], instruments: usize) -> Result<RemoteAction, WireError> {
    let (kind, reason, sid, id, inst) = (r[0], u16_at(r, 2), u32_at(r, 4), u64_at(r, 8), u32_at(r, 16));
    if r[1] != 0 || u32_at(r, 20) != 0 {
        return Err(bad("action.padding", at, "not zero"));
    }
    if !hosted.contains(&sid) {
        return Err(bad("action.sid", at + 4, format!("strategy {sid} is not hosted by this node")));
    }
    let instrument_ok = |i: u32| (i as usize) < instruments;
    match kind {
        1 => {
            let order = OrderRequest::decode(&r[24..]).map_err(|e| bad("action.order", at + 24, e.to_string()))?;
            if order_owner(id) != Some(sid) {
                return Err(bad("action.order_id", at + 8, format!("{id:#x} is not an order id of strategy {sid}")));
            }
            if order.instrument != inst || !instrument_ok(inst) {
                return Err(bad("action.instrument", at + 16, format!("{inst} (order says {})", order.instrument)));
            }
            Ok(RemoteAction::Submit { sid, order_id: id, order })
        }
        2 | 3 => {
            let reason = Reason::from_code(reason).ok_or_else(|| bad("action.reason", at + 2, format!("{reason}")))?;
            if r[24..].iter().any(|&x| x != 0) {
                return Err(bad("action.order", at + 24, "not zero for a cancel"));
            }
            if kind == 2 {
                if order_owner(id) != Some(sid) {
                    return Err(bad(
                        "action.order_id",
                        at + 8,
                        format!("{id:#x} is not an order id of strategy {sid}"),
                    ));
                }
                if !instrument_ok(inst) {
                    return Err(bad("action.instrument", at + 16, format!("{inst}")));
                }
                return Ok(RemoteAction::Cancel { sid, order_id: id, instrument: inst, reason });
            }
            let instrument = (inst != u32::MAX).then_some(inst);
            if id != 0 || instrument.is_some_and(|i| !instrument_ok(i)) {
                return Err(bad("action.instrument", at + 16, format!("{inst}")));
            }
            Ok(RemoteAction::CancelAll { sid, instrument, reason })
        }
        k => Err(bad("action.kind", at, format!("{k} is not 1, 2 or 3"))),
    }
}

pub fn encode_answer(step: u64, fin: bool, a: &StepAnswer) -> Vec<u8> {
    let mut b = Vec::with_capacity(ANSWER_HEAD + EVENT_LEN * (a.actions.len() + a.market.len()));
    b.extend_from_slice(ANSWER_MAGIC);
    b.extend_from_slice(&step.to_le_bytes());
    b.extend_from_slice(&(if fin { FLAG_FINAL } else { 0 }).to_le_bytes());
    b.extend_from_slice(&(a.actions.len() as u32).to_le_bytes());
    b.extend_from_slice(&(a.market.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for e in a.actions.iter().chain(&a.market) {
        encode_event(e, &mut b);
    }
    b
}

fn encode_event(e: &RemoteEvent, b: &mut Vec<u8>) {
    let (kind, side, maker, reason, account, instrument, id, price, qty, fee, remaining) = match e.event {
        VenueEvent::Accepted { order_id, account, instrument } => {
            (1u8, 0u8, 0u8, 0u16, account, instrument, order_id, 0, 0, 0, 0)
        }
        VenueEvent::Rejected { order_id, account, instrument, reason } => {
            (2, 0, 0, reason.code(), account, instrument, order_id, 0, 0, 0, 0)
        }
        VenueEvent::Fill { order_id, account, instrument, side, price, qty, fee, maker, remaining } => (
            3,
            side_code(side),
            u8::from(maker),
            0,
            account,
            instrument,
            order_id,
            price.get(),
            qty.get(),
            fee.get(),
            remaining.get(),
        ),
        VenueEvent::Cancelled { order_id, account, instrument, remaining, reason } => {
            (4, 0, 0, reason.code(), account, instrument, order_id, 0, 0, 0, remaining.get())
        }
    };
    b.extend_from_slice(&e.ts_ns.to_le_bytes());
    b.extend_from_slice(&[kind, side, maker, 0]);
    b.extend_from_slice(&reason.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&account.to_le_bytes());
    b.extend_from_slice(&instrument.to_le_bytes());
    b.extend_from_slice(&id.to_le_bytes());
    for v in [price, qty, fee, remaining] {
        b.extend_from_slice(&v.to_le_bytes());
    }
}

fn side_code(s: Side) -> u8 {
    match s {
        Side::Buy => 1,
        Side::Sell => 2,
    }
}

/// A decoded answer: its step, whether it is the gateway's last, the events.
pub type Answer = (u64, bool, StepAnswer);

/// Decode the gateway's answer. Every event must be about an order of a
/// strategy in `hosted` (a node never takes another node's responses) and
/// an instrument below `instruments`.
pub fn decode_answer(b: &[u8], hosted: &[u32], instruments: usize) -> Result<Answer, WireError> {
    if b.len() < ANSWER_HEAD {
        return Err(bad("header", 0, format!("{} bytes, an answer has at least {ANSWER_HEAD}", b.len())));
    }
    if &b[..8] != ANSWER_MAGIC {
        return Err(bad("magic", 0, "not BHGE0001"));
    }
    let step = u64_at(b, 8);
    let flags = u32_at(b, 16);
    if flags & !FLAG_FINAL != 0 {
        return Err(bad("flags", 16, format!("unknown bits {flags:#x}")));
    }
    let (na, nm) = (u32_at(b, 20) as usize, u32_at(b, 24) as usize);
    if na.saturating_add(nm) > MAX_EVENTS {
        return Err(bad("actions", 20, format!("{na} + {nm} events > {MAX_EVENTS}")));
    }
    if u32_at(b, 28) != 0 {
        return Err(bad("reserved", 28, "not zero"));
    }
    let want = ANSWER_HEAD + EVENT_LEN * (na + nm);
    if b.len() != want {
        return Err(bad("length", 0, format!("{} bytes, the counts say {want}", b.len())));
    }
    let mut events = Vec::with_capacity(na + nm);
    for k in 0..na + nm {
        let at = ANSWER_HEAD + k * EVENT_LEN;
        events.push(decode_event(&b[at..at + EVENT_LEN], at, hosted, instruments)?);
    }
    let market = events.split_off(na);
    Ok((step, flags & FLAG_FINAL != 0, StepAnswer { actions: events, market }))
}

fn decode_event(r: &[u8], at: usize, hosted: &[u32], instruments: usize) -> Result<RemoteEvent, WireError> {
    let ts_ns = u64_at(r, 0);
    let (kind, side, maker) = (r[8], r[9], r[10]);
    let (reason, account, instrument, order_id) = (u16_at(r, 12), u32_at(r, 16), u32_at(r, 20), u64_at(r, 24));
    let (price, qty, fee, remaining) = (i64_at(r, 32), i64_at(r, 40), i64_at(r, 48), i64_at(r, 56));
    if r[11] != 0 || u16_at(r, 14) != 0 {
        return Err(bad("event.padding", at + 11, "not zero"));
    }
    if !hosted.contains(&account) || order_owner(order_id) != Some(account) {
        return Err(bad(
            "event.account",
            at + 16,
            format!("order {order_id:#x} of account {account}: not this node's"),
        ));
    }
    if instrument as usize >= instruments {
        return Err(bad("event.instrument", at + 20, format!("{instrument}")));
    }
    let reason_of = || Reason::from_code(reason).ok_or_else(|| bad("event.reason", at + 12, format!("{reason}")));
    let event = match kind {
        1 => VenueEvent::Accepted { order_id, account, instrument },
        2 => VenueEvent::Rejected { order_id, account, instrument, reason: reason_of()? },
        3 => {
            let side = match side {
                1 => Side::Buy,
                2 => Side::Sell,
                s => return Err(bad("event.side", at + 9, format!("{s}"))),
            };
            if maker > 1 || qty <= 0 || remaining < 0 {
                return Err(bad("event.fill", at + 10, format!("maker {maker}, qty {qty}, remaining {remaining}")));
            }
            VenueEvent::Fill {
                order_id,
                account,
                instrument,
                side,
                price: Ticks::new(price),
                qty: Lots::new(qty),
                fee: Money::new(fee),
                maker: maker == 1,
                remaining: Lots::new(remaining),
            }
        }
        4 => VenueEvent::Cancelled {
            order_id,
            account,
            instrument,
            remaining: Lots::new(remaining),
            reason: reason_of()?,
        },
        k => return Err(bad("event.kind", at + 8, format!("{k} is not 1..=4"))),
    };
    Ok(RemoteEvent { ts_ns, event })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_abi::{OrderType, TimeInForce};

    fn sample() -> (NodeStep, StepAnswer) {
        let order = OrderRequest {
            instrument: 1,
            side: Side::Sell,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            price: 123,
            qty: 4,
            tag: 9,
        };
        let id = bulkhead_engine::venue_order_id(3, 17);
        let step = NodeStep {
            step: 42,
            last: true,
            node: "node-a".into(),
            hosted: vec![3, 5],
            actions: vec![
                RemoteAction::Submit { sid: 3, order_id: id, order },
                RemoteAction::Cancel { sid: 3, order_id: id, instrument: 1, reason: Reason::CancelledByStrategy },
                RemoteAction::CancelAll { sid: 5, instrument: None, reason: Reason::CancelledOnFault },
            ],
        };
        let fill = VenueEvent::Fill {
            order_id: id,
            account: 3,
            instrument: 1,
            side: Side::Sell,
            price: Ticks::new(123),
            qty: Lots::new(2),
            fee: Money::new(-5),
            maker: true,
            remaining: Lots::new(2),
        };
        let answer = StepAnswer {
            actions: vec![RemoteEvent {
                ts_ns: 7,
                event: VenueEvent::Accepted { order_id: id, account: 3, instrument: 1 },
            }],
            market: vec![RemoteEvent { ts_ns: 8, event: fill }],
        };
        (step, answer)
    }

    fn encode(s: &NodeStep) -> Vec<u8> {
        encode_step(s.step, s.last, &s.node, &s.hosted, &s.actions)
    }

    #[test]
    fn steps_and_answers_round_trip() {
        let (step, answer) = sample();
        assert_eq!(decode_step(&encode(&step), 8, 2).unwrap(), step);
        assert_eq!(decode_answer(&encode_answer(42, true, &answer), &[3], 2).unwrap(), (42, true, answer));
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused_or_decoded_never_a_panic() {
        let (step, answer) = sample();
        for b in [encode(&step), encode_answer(42, false, &answer)] {
            for n in 0..b.len() {
                assert!(decode_step(&b[..n], 8, 2).is_err() && decode_answer(&b[..n], &[3], 2).is_err());
            }
            for i in 0..b.len() {
                for bit in 0..8 {
                    let mut c = b.clone();
                    c[i] ^= 1 << bit;
                    let _ = decode_step(&c, 8, 2);
                    let _ = decode_answer(&c, &[3], 2);
                }
            }
        }
        // Another node's strategies, an unknown instrument: refused, named.
        let e = decode_answer(&encode_answer(1, false, &answer), &[4], 2).unwrap_err();
        assert_eq!(e.field, "event.account");
        let e = decode_step(&encode(&step), 8, 1).unwrap_err();
        assert_eq!(e.field, "action.instrument");
        let e = decode_step(&encode(&step), 4, 2).unwrap_err();
        assert_eq!(e.field, "hosted");
    }
}
