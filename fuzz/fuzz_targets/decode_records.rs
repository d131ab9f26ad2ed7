//! Every guest-record decoder and the journal-record decoder are total, and
//! encode∘decode is the identity on what they accept.
#![no_main]

use bulkhead_abi::{Event, OpenOrderRecord, OrderRequest, PositionRecord};
use bulkhead_engine::decode::Decoded;
use bulkhead_engine::records::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Journal records: the first two bytes pick the kind (folded onto the
    // engine's kinds and a few unknown ones), the rest is the payload.
    if let [k0, k1, payload @ ..] = data {
        let kind = u16::from_le_bytes([*k0, *k1]) % 18;
        if let Ok(rec) = Record::decode(kind, payload) {
            assert_eq!(rec.kind(), kind);
            assert_eq!(rec.encoded_len(), payload.len());
            let mut out = Vec::new();
            rec.encode_to_vec(&mut out).expect("a decoded record encodes");
            assert_eq!(out, payload, "encode(decode(payload)) == payload");
            let _ = Decoded::from(&rec);
        }
        let _ = bulkhead_engine::decode::decode(kind, payload);
    }
    if let Ok(o) = OrderRequest::decode(data) {
        assert_eq!(OrderRequest::decode(&o.encode()), Ok(o));
        assert_eq!(data.len(), 32);
    }
    if let Ok(e) = Event::decode(data) {
        assert_eq!(&e.encode()[..], &data[..64]);
    }
    if let Ok(p) = PositionRecord::decode(data) {
        assert_eq!(&p.encode()[..], &data[..48]);
    }
    if let Ok(o) = OpenOrderRecord::decode(data) {
        assert_eq!(OpenOrderRecord::decode(&o.encode()), Ok(o));
    }
});
