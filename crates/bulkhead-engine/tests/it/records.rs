//! The journal record layouts (`bulkhead_engine::records`): every `Record`
//! encodes to bytes that decode to the same `Record`, the decoder is total on
//! arbitrary bytes, and whatever it accepts re-encodes to the same bytes.

use bulkhead_abi::{Event, EventKind, OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_engine::records::{self, EncodeError, NoticeKind, Record, RecordBuf};
use bulkhead_risk::{Scope, TradingState};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn event() -> impl Strategy<Value = Event> {
    (
        (1u16..=10).prop_map(|k| EventKind::from_u16(k).expect("kind")),
        prop_oneof![Just(None), Just(Some(Side::Buy)), Just(Some(Side::Sell))],
        any::<u8>(),
        any::<u32>(),
        any::<u64>(),
        any::<(u64, u64)>(),
        any::<(i64, i64, i64, i64)>(),
    )
        .prop_map(|(kind, side, flags, instrument, ts_ns, (id, tag), (price, qty, a, b))| {
            let mut e = Event::new(kind, instrument, ts_ns);
            (e.side, e.flags, e.id, e.tag, e.price, e.qty, e.a, e.b) = (side, flags, id, tag, price, qty, a, b);
            e
        })
}

/// Requests the ABI accepts (a market order keeps any price, as a native
/// strategy may journal one).
fn order() -> impl Strategy<Value = OrderRequest> {
    (any::<u32>(), any::<bool>(), 0u8..6, any::<bool>(), any::<i64>(), 1i64..=i64::MAX, any::<u64>()).prop_map(
        |(instrument, buy, t, reduce_only, price, qty, tag)| {
            let (order_type, tif) = match t {
                0 => (OrderType::Limit, TimeInForce::Gtc),
                1 => (OrderType::Limit, TimeInForce::Ioc),
                2 => (OrderType::Limit, TimeInForce::Fok),
                3 => (OrderType::Limit, TimeInForce::PostOnly),
                4 => (OrderType::Market, TimeInForce::Ioc),
                _ => (OrderType::Market, TimeInForce::Fok),
            };
            let price = if order_type == OrderType::Limit { price.checked_abs().unwrap_or(1).max(1) } else { price };
            OrderRequest {
                instrument,
                side: if buy { Side::Buy } else { Side::Sell },
                order_type,
                tif,
                reduce_only,
                price,
                qty,
                tag,
            }
        },
    )
}

fn reason() -> impl Strategy<Value = Reason> {
    proptest::sample::select(Reason::ALL)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..80)
}

/// The owned parts of one record; `record()` borrows them.
#[derive(Clone, Debug)]
struct Owned {
    kind: u8,
    sid: u32,
    n: (u64, u64),
    i: (i64, i64, i64, i32),
    a: Vec<u8>,
    b: Vec<u8>,
    key: ([u8; 32], [u8; 32]),
    event: Event,
    order: OrderRequest,
    reason: Reason,
    scope: Scope,
    state: TradingState,
    notice: NoticeKind,
}

impl Owned {
    fn record(&self) -> Record<'_> {
        let Owned { sid, n: (x, y), i: (p, q, r, s), .. } = *self;
        let (a, b) = (&self.a[..], &self.b[..]);
        match self.kind {
            0 => Record::RunStart { text: a },
            1 => Record::Module { sid, module: self.key.0, signer: self.key.1, name: a },
            2 => Record::Market(self.event),
            3 => {
                Record::Order { sid, id: x, reason: self.reason, limit: p, requested: q, current: r, order: self.order }
            }
            4 => Record::Cancel { sid, id: x, reason: self.reason, instrument: s },
            5 => Record::Venue { sid, event: self.event },
            6 => Record::Fault { sid, kind: a, message: b },
            7 => Record::State { scope: self.scope, state: self.state, cause: a },
            8 => Record::Log { sid, level: s, message: a },
            9 => Record::Timer { sid, at_ns: x, token: y, result: s },
            10 => Record::Invalid { sid, error: a },
            11 => Record::RunEnd { text: a },
            12 => Record::Notice {
                sid,
                notice: self.notice,
                instrument: x as u32,
                qty: p,
                price: q,
                amount: r,
                fee: i64::from(s),
            },
            13 => Record::Command { text: a },
            14 => Record::Config { name: a, bytes: b },
            16 => Record::Chain {
                sid,
                id: x,
                step: records::ChainStep::ALL[y as usize % records::ChainStep::ALL.len()],
                reason: self.reason,
                body: b,
                text: a,
            },
            _ => Record::Alert {
                rule: bulkhead_surveillance::Rule::ALL[x as usize % bulkhead_surveillance::Rule::ALL.len()],
                action: bulkhead_surveillance::AlertAction::ALL[y as usize % 4],
                sid,
                other: s as u32,
                instrument: x as u32,
                window_ns: y,
                observed: p,
                threshold: q,
                orders: &b[..b.len() / records::ALERT_ORDER_LEN * records::ALERT_ORDER_LEN],
                text: a,
            },
        }
    }
}

fn owned() -> impl Strategy<Value = Owned> {
    (
        (0u8..17, any::<u32>(), any::<(u64, u64)>(), any::<(i64, i64, i64, i32)>(), bytes(), bytes()),
        (any::<([u8; 32], [u8; 32])>(), event(), order(), reason()),
        (
            prop_oneof![
                any::<u32>().prop_map(Scope::Strategy),
                any::<u32>().prop_map(Scope::Instrument),
                Just(Scope::Global)
            ],
            proptest::sample::select(&TradingState::ALL[..]),
            proptest::sample::select(&NoticeKind::ALL[..]),
        ),
    )
        .prop_map(|((kind, sid, n, i, a, b), (key, event, order, reason), (scope, state, notice))| Owned {
            kind,
            sid,
            n,
            i,
            a,
            b,
            key,
            event,
            order,
            reason,
            scope,
            state,
            notice,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// decode(encode(r)) == r, the length is `encoded_len`, and a buffer one
    /// byte short is a capacity error, not a truncated record.
    #[test]
    fn every_record_round_trips(o in owned()) {
        let rec = o.record();
        let mut buf = Vec::new();
        rec.encode_to_vec(&mut buf).unwrap();
        prop_assert_eq!(buf.len(), rec.encoded_len());
        prop_assert_eq!(Record::decode(rec.kind(), &buf), Ok(rec));
        let mut fixed = [0u8; 512];
        prop_assert_eq!(rec.encode(&mut fixed), Ok(buf.len()));
        prop_assert_eq!(&fixed[..buf.len()], &buf[..]);
        let short = buf.len().saturating_sub(1);
        if !buf.is_empty() {
            let capacity_error = matches!(rec.encode(&mut fixed[..short]), Err(EncodeError::Capacity { .. }));
            prop_assert!(capacity_error);
        }
        // The rendering `journal show` prints reads the same record.
        prop_assert!(bulkhead_engine::decode::decode(rec.kind(), &buf).is_ok());
        // So does the owned copy the observer feed carries (inline or on the heap).
        let owned = RecordBuf::new(rec.kind(), &buf);
        prop_assert_eq!((owned.kind(), owned.payload()), (rec.kind(), &buf[..]));
        prop_assert_eq!(owned.record(), Ok(rec));
        prop_assert_eq!(RecordBuf::encode(&rec), Ok(owned));
    }

    /// Arbitrary bytes under any kind decode to a record or an error, never a
    /// panic; what decodes re-encodes to exactly the same bytes.
    #[test]
    fn arbitrary_payloads_decode_or_err_and_round_trip(kind in 0u16..20, payload in proptest::collection::vec(any::<u8>(), 0..160)) {
        match Record::decode(kind, &payload) {
            Ok(rec) => {
                let mut buf = Vec::new();
                rec.encode_to_vec(&mut buf).unwrap();
                prop_assert_eq!(&buf, &payload);
            }
            Err(e) => prop_assert_eq!(e.kind, records::kind_name(kind)),
        }
        let _ = bulkhead_engine::decode::decode(kind, &payload);
    }
}

/// Near-valid payloads (a valid record with one byte changed, or cut, or
/// lengthened) exercise the decoder's checks more than random bytes do.
#[test]
fn mutated_records_decode_or_err_and_round_trip() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut buf = Vec::new();
    for _ in 0..500 {
        let o = owned().new_tree(&mut runner).unwrap().current();
        let rec = o.record();
        rec.encode_to_vec(&mut buf).unwrap();
        for at in 0..buf.len().min(120) {
            for variant in [buf[at] ^ 0xff, 0, 7] {
                let mut p = buf.clone();
                p[at] = variant;
                if let Ok(r) = Record::decode(rec.kind(), &p) {
                    let mut again = Vec::new();
                    r.encode_to_vec(&mut again).unwrap();
                    assert_eq!(again, p, "{r:?}");
                }
            }
            let _ = Record::decode(rec.kind(), &buf[..at]);
        }
        let mut longer = buf.clone();
        longer.push(0);
        if let Ok(r) = Record::decode(rec.kind(), &longer) {
            assert!(r.encoded_len() == longer.len(), "a fixed layout took a trailing byte: {r:?}");
        }
    }
}

/// A length field that cannot hold a variable part is an error, not a
/// truncation (the old writer cut the name and wrote a wrong length).
#[test]
fn a_name_longer_than_its_length_field_is_refused() {
    let long = vec![b'n'; records::MAX_SHORT_TEXT + 1];
    let mut buf = Vec::new();
    let e = Record::Config { name: &long, bytes: b"x" }.encode_to_vec(&mut buf).unwrap_err();
    assert!(matches!(e, EncodeError::TooLong { field: "config name", .. }), "{e}");
    assert!(buf.is_empty());
    let e = Record::Fault { sid: 0, kind: &long, message: b"" }.encode_to_vec(&mut buf).unwrap_err();
    assert!(matches!(e, EncodeError::TooLong { field: "fault kind", .. }), "{e}");
    let ok = &long[..records::MAX_SHORT_TEXT];
    Record::Config { name: ok, bytes: b"x" }.encode_to_vec(&mut buf).unwrap();
    assert_eq!(Record::decode(records::CONFIG, &buf), Ok(Record::Config { name: ok, bytes: b"x" }));
}

/// The fixed layouts' sizes, as the journal format documents them.
#[test]
fn layout_sizes_are_the_documented_ones() {
    assert_eq!(
        [records::MODULE_HEAD, records::ORDER_LEN, records::CANCEL_LEN, records::VENUE_LEN, records::TIMER_LEN],
        [68, 72, 18, 68, 24]
    );
    assert_eq!([records::NOTICE_LEN, records::FAULT_HEAD, records::STATE_HEAD, records::LOG_HEAD], [41, 6, 6, 8]);
    for (i, name) in records::KIND_NAMES.iter().enumerate() {
        assert_eq!(records::kind_name(i as u16 + 1), *name);
    }
    assert_eq!(records::kind_name(0), "unknown");
    assert_eq!([records::ALERT_HEAD, records::ALERT_ORDER_LEN], [42, 12]);
    assert_eq!(records::kind_name(16), "alert");
    assert_eq!(records::CHAIN_HEAD, 18);
    assert_eq!(records::kind_name(17), "chain");
    assert_eq!(records::kind_name(18), "unknown");
}
