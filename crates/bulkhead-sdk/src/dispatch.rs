//! Event dispatch shared by the wasm exports and [`NativeRunner`], so a
//! strategy executes the same code sandboxed or native.

use bulkhead_abi::{
    DecodeError, Event, EventKind, HostApi, LOG_WARN, OpenOrderRecord, OrderRequest, PositionRecord, Reason,
};

use crate::events::{BookLevel, ChainUpdate, Fill, OrderUpdate, Quote, Trade};
use crate::{Ctx, Strategy};

/// Export result: the config length or event count does not fit the buffer.
pub const ERR_BAD_LENGTH: i32 = 1;
/// Export result: `bulkhead_on_events` was called before `bulkhead_init`.
pub const ERR_NOT_INITIALIZED: i32 = 2;

/// Run `init`; returns the export result (0 unless the strategy called [`Ctx::fail`]).
pub(crate) fn run_init<S: Strategy>(s: &mut S, host: &mut dyn HostApi, now_ns: u64, config: &[u8]) -> i32 {
    let mut ctx = Ctx::new(host, now_ns);
    s.init(&mut ctx, config);
    ctx.status()
}

/// Dispatch a batch. Malformed records are skipped (and reported once per
/// batch through the log); records of an event kind newer than this SDK are
/// skipped silently; the rest of the batch is still delivered.
pub(crate) fn run_events<S, I>(s: &mut S, host: &mut dyn HostApi, events: I) -> i32
where
    S: Strategy,
    I: Iterator<Item = Result<Event, DecodeError>>,
{
    let mut ctx = Ctx::new(host, 0);
    let mut bad = 0u32;
    for ev in events {
        match ev {
            Ok(e) => {
                ctx.set_now(e.ts_ns);
                if !dispatch(s, &mut ctx, &e) {
                    bad += 1;
                }
            }
            // A kind newer than this SDK: skipped silently (ABI versioning rule).
            Err(e) if e.is_unknown_kind() => {}
            Err(_) => bad += 1,
        }
    }
    if bad > 0 {
        crate::log!(ctx, level = LOG_WARN, "bulkhead-sdk: skipped {} malformed event record(s)", bad);
    }
    ctx.status()
}

/// Route one event to its callback. Returns false for a record that is
/// well-formed on the wire but unusable (a fill without a side).
#[inline]
pub(crate) fn dispatch<S: Strategy>(s: &mut S, ctx: &mut Ctx, e: &Event) -> bool {
    match e.kind {
        EventKind::Trade => s.on_trade(ctx, &Trade::from_event(e)),
        EventKind::Quote => s.on_quote(ctx, &Quote::from_event(e)),
        EventKind::OrderAccepted => s.on_accepted(ctx, &OrderUpdate::from_event(e, false)),
        EventKind::OrderRejected => {
            let o = OrderUpdate::from_event(e, true);
            s.on_rejected(ctx, &o, o.reason())
        }
        EventKind::OrderCancelled => s.on_cancelled(ctx, &OrderUpdate::from_event(e, true)),
        EventKind::Fill => match Fill::from_event(e) {
            Some(f) => s.on_fill(ctx, &f),
            None => return false,
        },
        EventKind::Timer => s.on_timer(ctx, e.id),
        EventKind::BookLevel | EventKind::BookClear => s.on_book_level(ctx, &BookLevel::from_event(e)),
        // Not delivered to strategies in this version; ignored if it comes.
        EventKind::Ticker => {}
        EventKind::ChainRejected | EventKind::ChainSimulated | EventKind::ChainMined | EventKind::ChainReverted => {
            s.on_chain(ctx, &ChainUpdate::from_event(e))
        }
    }
    true
}

/// Runs a strategy natively (no sandbox) against any [`HostApi`], through the
/// same dispatch code as the wasm exports. Order requests are re-validated
/// exactly as the sandbox does (encode → decode; an invalid record reaches the
/// host as [`HostApi::invalid_record`] and the strategy gets
/// `Err(Reason::InvalidOrder)`), so native and sandboxed runs decide alike.
///
/// One difference is inherent to the ABI: `bulkhead_init` carries no time, so a
/// sandboxed strategy sees `now_ns() == 0` in `init`, while here it sees the
/// `now_ns` passed to [`NativeRunner::init`]. Pass 0 for identical behaviour.
pub struct NativeRunner<S: Strategy> {
    strategy: S,
}

impl<S: Strategy> NativeRunner<S> {
    /// Wrap a strategy.
    pub fn new(strategy: S) -> Self {
        NativeRunner { strategy }
    }

    /// Equivalent of `bulkhead_init`. Returns 0 on success.
    pub fn init(&mut self, host: &mut dyn HostApi, now_ns: u64, config: &[u8]) -> i32 {
        let mut h = NativeHost(host);
        run_init(&mut self.strategy, &mut h, now_ns, config)
    }

    /// Equivalent of `bulkhead_on_events`. Returns 0 on success.
    pub fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32 {
        let mut h = NativeHost(host);
        run_events(&mut self.strategy, &mut h, events.iter().map(|e| Ok(*e)))
    }

    /// Like [`NativeRunner::on_events`] but from raw 64-byte wire records
    /// (decoded exactly as the wasm export decodes its buffer).
    pub fn on_event_bytes(&mut self, host: &mut dyn HostApi, records: &[u8]) -> i32 {
        let mut h = NativeHost(host);
        run_events(&mut self.strategy, &mut h, records.chunks_exact(bulkhead_abi::EVENT_SIZE).map(Event::decode))
    }

    /// The strategy.
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// The strategy, mutably.
    pub fn strategy_mut(&mut self) -> &mut S {
        &mut self.strategy
    }

    /// Unwrap.
    pub fn into_inner(self) -> S {
        self.strategy
    }
}

/// Applies the sandbox's order validation in front of a native host.
struct NativeHost<'a>(&'a mut dyn HostApi);

impl HostApi for NativeHost<'_> {
    fn submit_order(&mut self, req: &OrderRequest) -> i64 {
        match OrderRequest::decode(&req.encode()) {
            Ok(r) => self.0.submit_order(&r),
            Err(e) => {
                self.0.invalid_record(e);
                -(Reason::InvalidOrder.code() as i64)
            }
        }
    }
    fn cancel_order(&mut self, id: u64) -> i32 {
        self.0.cancel_order(id)
    }
    fn cancel_all(&mut self, instrument: Option<u32>) -> i32 {
        self.0.cancel_all(instrument)
    }
    fn position(&mut self, instrument: u32, out: &mut PositionRecord) -> i32 {
        self.0.position(instrument, out)
    }
    fn open_orders(&mut self, out: &mut [OpenOrderRecord]) -> i32 {
        self.0.open_orders(out)
    }
    fn set_timer(&mut self, at_ns: u64, token: u64) -> i32 {
        self.0.set_timer(at_ns, token)
    }
    fn log(&mut self, level: i32, msg: &[u8]) -> i32 {
        self.0.log(level, msg)
    }
    fn invalid_record(&mut self, err: DecodeError) {
        self.0.invalid_record(err)
    }
    fn chain_call(&mut self, intent: &bulkhead_abi::ChainIntent) -> i64 {
        let mut b = [0u8; bulkhead_abi::CHAIN_INTENT_MAX_SIZE];
        let n = intent.encode_into(&mut b);
        match bulkhead_abi::ChainIntent::decode(&b[..n]) {
            Ok(i) => self.0.chain_call(&i),
            Err(e) => {
                self.0.invalid_record(e);
                -(Reason::ChainMalformed.code() as i64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    use bulkhead_abi::{EVENT_SIZE, EventKind, LOG_WARN, OrderType, ResultCode, Side, TimeInForce};

    use super::*;
    use crate::testing::{self, Call, RecordingHost};
    use crate::{Order, log};

    #[derive(Default)]
    struct Rec {
        seen: Vec<String>,
        config: Vec<u8>,
    }

    impl Strategy for Rec {
        fn init(&mut self, ctx: &mut Ctx, config: &[u8]) {
            self.config = config.to_vec();
            self.seen.push(format!("init@{}", ctx.now_ns()));
            if config == b"fail" {
                ctx.fail(7);
            }
        }
        fn on_trade(&mut self, ctx: &mut Ctx, t: &Trade) {
            self.seen.push(format!("trade@{} {} {} {:?}", ctx.now_ns(), t.price, t.qty, t.aggressor));
        }
        fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
            self.seen.push(format!("quote@{} {}x{} {}x{}", ctx.now_ns(), q.bid_px, q.bid_qty, q.ask_px, q.ask_qty));
        }
        fn on_accepted(&mut self, _: &mut Ctx, o: &OrderUpdate) {
            self.seen.push(format!("accepted {} tag{} {:?} {} {}", o.id, o.tag, o.side, o.price, o.qty));
        }
        fn on_rejected(&mut self, _: &mut Ctx, o: &OrderUpdate, r: Option<Reason>) {
            self.seen.push(format!("rejected {} {:?} {}", o.id, r, o.reason_code));
        }
        fn on_cancelled(&mut self, _: &mut Ctx, o: &OrderUpdate) {
            self.seen.push(format!("cancelled {} {} {:?}", o.id, o.qty, o.reason()));
        }
        fn on_fill(&mut self, _: &mut Ctx, f: &Fill) {
            self.seen.push(format!(
                "fill {} {} {} fee{} rem{} maker{}",
                f.id,
                f.price,
                f.signed_qty(),
                f.fee,
                f.remaining,
                f.maker
            ));
        }
        fn on_timer(&mut self, ctx: &mut Ctx, token: u64) {
            self.seen.push(format!("timer@{} {}", ctx.now_ns(), token));
        }
    }

    fn req() -> OrderRequest {
        Order::limit(Side::Buy, 0, 650_000, 3).post_only().tag(9).request()
    }

    #[test]
    fn routes_every_kind_with_typed_fields_and_event_time() {
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(Rec::default());
        assert_eq!(r.init(&mut host, 5, b"a = 1"), 0);
        let mut rejected = testing::order_update(EventKind::OrderRejected, 40, 2, &req(), Some(Reason::MaxPosition));
        rejected.a = 4242; // unknown code
        let evs = [
            testing::trade(0, 10, 650_001, 2, Some(Side::Sell)),
            testing::quote(0, 20, 649_990, 5, 650_010, 6),
            testing::order_update(EventKind::OrderAccepted, 30, 1, &req(), None),
            testing::order_update(EventKind::OrderRejected, 40, 2, &req(), Some(Reason::MaxPosition)),
            rejected,
            testing::order_update(EventKind::OrderCancelled, 50, 1, &req(), Some(Reason::CancelledByStrategy)),
            testing::fill(60, 3, &Order::limit(Side::Sell, 0, 650_000, 3).request(), 650_002, 1, 2, true),
            testing::timer(70, 77),
        ];
        assert_eq!(r.on_events(&mut host, &evs), 0);
        let s = r.into_inner();
        assert_eq!(s.config, b"a = 1");
        assert_eq!(
            s.seen,
            [
                "init@5",
                "trade@10 650001 2 Some(Sell)",
                "quote@20 649990x5 650010x6",
                "accepted 1 tag9 Some(Buy) 650000 3",
                "rejected 2 Some(MaxPosition) 401",
                "rejected 2 None 4242",
                "cancelled 1 3 Some(CancelledByStrategy)",
                "fill 3 650002 -1 fee0 rem2 makertrue",
                "timer@70 77",
            ]
        );
        assert!(host.calls.is_empty(), "dispatch itself makes no host calls: {:?}", host.calls);
    }

    #[test]
    fn init_failure_code_is_returned() {
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(Rec::default());
        assert_eq!(r.init(&mut host, 0, b"fail"), 7);
    }

    #[test]
    fn malformed_records_are_skipped_and_reported_once() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&testing::trade(0, 1, 100, 1, None).encode());
        let mut bad_kind = testing::trade(0, 2, 100, 1, None).encode();
        bad_kind[0] = 99;
        bytes.extend_from_slice(&bad_kind);
        let mut bad_side = testing::trade(0, 3, 100, 1, None).encode();
        bad_side[2] = 7;
        bytes.extend_from_slice(&bad_side);
        let mut sideless_fill = testing::fill(4, 1, &req(), 100, 1, 0, false);
        sideless_fill.side = None;
        bytes.extend_from_slice(&sideless_fill.encode());
        bytes.extend_from_slice(&testing::timer(5, 1).encode());
        bytes.extend_from_slice(&[0u8; EVENT_SIZE - 1]); // trailing partial record: ignored
        let mut host = RecordingHost::new();
        let mut r = NativeRunner::new(Rec::default());
        assert_eq!(r.on_event_bytes(&mut host, &bytes), 0);
        assert_eq!(r.strategy().seen, ["trade@1 100 1 None", "timer@5 1"]);
        // The unknown kind (99) is skipped silently: the ABI lets hosts add kinds.
        assert_eq!(host.calls, [Call::Log(LOG_WARN, "bulkhead-sdk: skipped 2 malformed event record(s)".into())]);
    }

    /// A strategy that exercises every Ctx wrapper when a timer fires.
    #[derive(Default)]
    struct Caller {
        results: Vec<String>,
    }

    impl Strategy for Caller {
        fn on_timer(&mut self, ctx: &mut Ctx, _token: u64) {
            let r = &mut self.results;
            r.push(format!("{:?}", ctx.buy_limit(1, 100, 2, TimeInForce::Gtc)));
            r.push(format!("{:?}", ctx.place(Order::market(Side::Sell, 1, 2).reduce_only().tag(5))));
            r.push(format!("{:?}", ctx.buy_limit(1, 0, 2, TimeInForce::Gtc))); // invalid: price 0
            r.push(format!("{:?}", ctx.submit(&Order::market(Side::Buy, 1, 1).post_only().request()))); // invalid
            r.push(format!("{:?}", ctx.cancel(1)));
            r.push(format!("{:?}", ctx.cancel_all(None)));
            r.push(format!("{:?}", ctx.position(1).qty));
            let mut out = [crate::EMPTY_OPEN_ORDER; 1];
            r.push(format!("{} {}", ctx.open_orders(&mut out), out[0].id));
            r.push(format!("{:?}", ctx.set_timer(ctx.now_ns() + 10, 3)));
            log!(ctx, "x{}", "é".repeat(200)); // truncated at 256 bytes, char boundary
            ctx.log("plain");
        }
    }

    #[test]
    fn ctx_wrappers_map_host_results() {
        let mut host = RecordingHost::new();
        host.cancel_result = ResultCode::UnknownOrder as i32;
        host.position.qty = -4;
        host.open.push(OpenOrderRecord { id: 11, tag: 0, instrument: 1, side: Side::Buy, price: 5, remaining_qty: 1 });
        host.open.push(OpenOrderRecord { id: 12, tag: 0, instrument: 1, side: Side::Buy, price: 5, remaining_qty: 1 });
        let mut r = NativeRunner::new(Caller::default());
        assert_eq!(r.on_events(&mut host, &[testing::timer(1000, 0)]), 0);
        assert_eq!(
            r.strategy().results,
            [
                "Ok(1)",
                "Ok(2)",
                "Err(InvalidOrder)",
                "Err(InvalidOrder)",
                "Err(UnknownOrder)",
                "Ok(0)",
                "-4",
                "2 11",
                "Ok(())"
            ]
        );
        let sub = host.submitted();
        assert_eq!(sub.len(), 2);
        assert_eq!(sub[1].1.order_type, OrderType::Market);
        assert!(sub[1].1.reduce_only && sub[1].1.tag == 5);
        let invalid = host.calls.iter().filter(|c| matches!(c, Call::Invalid(_))).count();
        assert_eq!(invalid, 2, "invalid records reach the host's invalid_record, not submit_order");
        assert!(host.calls.contains(&Call::SetTimer(1010, 3)));
        let logs = host.logs();
        assert_eq!(logs[0].len(), 255, "1 + 127 two-byte chars");
        assert_eq!(logs[1], "plain");
        // A host reject comes back as the typed reason.
        host.reject_with = Some(Reason::OrderRateThrottle);
        let mut r = NativeRunner::new(Caller::default());
        r.on_events(&mut host, &[testing::timer(1, 0)]);
        assert_eq!(r.strategy().results[0], "Err(OrderRateThrottle)");
    }
}
