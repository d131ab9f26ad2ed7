//! Every guest-record decoder is total, and encode∘decode is the identity
//! on what it accepts.
#![no_main]

use bulkhead_abi::{Event, OpenOrderRecord, OrderRequest, PositionRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
