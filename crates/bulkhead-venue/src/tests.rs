//! Data-driven matching tests: each case replays steps on a fresh venue and
//! compares the events of its **last** step with the expected list.

#![allow(clippy::cast_possible_truncation, reason = "test fixtures: small indices and float references")]
use super::*;
use bulkhead_model::{InstrumentKind, InstrumentSpec};

const B: Side = Side::Buy;
const S: Side = Side::Sell;
const MAKER_PPM: i64 = -100;
const TAKER_PPM: i64 = 500;
pub(crate) const FEES: FeeSchedule = FeeSchedule { maker_ppm: MAKER_PPM, taker_ppm: TAKER_PPM };

/// tick 0.01 × lot 1 = 1_000_000 money units, so fee = px × qty × ppm exactly.
pub(crate) fn venue() -> SimVenue {
    let mk = |id, sym: &str| {
        Instrument::from_spec(
            id,
            &InstrumentSpec {
                symbol: sym.into(),
                kind: InstrumentKind::Spot,
                tick_size: "0.01".into(),
                lot_size: "1".into(),
                multiplier: "1".into(),
                ..Default::default()
            },
        )
        .unwrap()
    };
    SimVenue::new(vec![mk(0, "AAA"), mk(1, "BBB")], FEES)
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Quo(i64, i64, i64, i64),
    Trd(i64, i64, Side),
    Sub(NewOrder),
    Cxl(u64),
    CxlAcc(u32, Option<u32>),
}
use Step::*;

fn lim(id: u64, account: u32, side: Side, price: i64, qty: i64) -> NewOrder {
    NewOrder {
        order_id: id,
        account,
        instrument: 0,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        price,
        qty,
        reduce_only: false,
    }
}
fn mkt(id: u64, account: u32, side: Side, qty: i64) -> NewOrder {
    NewOrder { order_type: OrderType::Market, tif: TimeInForce::Ioc, price: 0, ..lim(id, account, side, 1, qty) }
}
trait Mods: Sized {
    fn tif(self, t: TimeInForce) -> Self;
    fn ioc(self) -> Self {
        self.tif(TimeInForce::Ioc)
    }
    fn fok(self) -> Self {
        self.tif(TimeInForce::Fok)
    }
    fn post(self) -> Self {
        self.tif(TimeInForce::PostOnly)
    }
    fn ro(self) -> Self;
    fn inst(self, i: u32) -> Self;
}
impl Mods for NewOrder {
    fn tif(mut self, t: TimeInForce) -> Self {
        self.tif = t;
        self
    }
    fn ro(mut self) -> Self {
        self.reduce_only = true;
        self
    }
    fn inst(mut self, i: u32) -> Self {
        self.instrument = i;
        self
    }
}

fn acc(id: u64, a: u32) -> VenueEvent {
    VenueEvent::Accepted { order_id: id, account: a, instrument: 0 }
}
fn rej(id: u64, a: u32, reason: Reason) -> VenueEvent {
    VenueEvent::Rejected { order_id: id, account: a, instrument: 0, reason }
}
fn cx(id: u64, a: u32, remaining: i64, reason: Reason) -> VenueEvent {
    VenueEvent::Cancelled { order_id: id, account: a, instrument: 0, remaining: Lots::new(remaining), reason }
}
fn fill(id: u64, a: u32, side: Side, price: i64, qty: i64, maker: bool, remaining: i64) -> VenueEvent {
    let fee = price * qty * if maker { MAKER_PPM } else { TAKER_PPM };
    let (price, qty, fee, remaining) = (Ticks::new(price), Lots::new(qty), Money::new(fee), Lots::new(remaining));
    VenueEvent::Fill { order_id: id, account: a, instrument: 0, side, price, qty, fee, maker, remaining }
}
/// Taker fill.
fn tk(id: u64, a: u32, side: Side, price: i64, qty: i64, remaining: i64) -> VenueEvent {
    fill(id, a, side, price, qty, false, remaining)
}
/// Maker fill.
fn mk(id: u64, a: u32, side: Side, price: i64, qty: i64, remaining: i64) -> VenueEvent {
    fill(id, a, side, price, qty, true, remaining)
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
    expect: Vec<VenueEvent>,
}

fn case(name: &'static str, steps: Vec<Step>, expect: Vec<VenueEvent>) -> Case {
    Case { name, steps, expect }
}

fn run_steps(v: &mut SimVenue, steps: &[Step]) -> Vec<VenueEvent> {
    let mut out = Vec::new();
    for (n, s) in steps.iter().enumerate() {
        out.clear();
        match *s {
            Quo(bp, bq, ap, aq) => v.on_quote(n as u64, 0, quote(bp, bq, ap, aq), &mut out),
            Trd(p, q, side) => v.on_trade(n as u64, 0, Ticks::new(p), Lots::new(q), side, &mut out),
            Sub(o) => v.submit_order(n as u64, &o, &mut out),
            Cxl(id) => {
                v.cancel(n as u64, id, Reason::CancelledByStrategy, &mut out);
            }
            CxlAcc(a, i) => {
                v.cancel_account(n as u64, a, i, Reason::CancelledByKillSwitch, &mut out);
            }
        }
    }
    out
}

fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let mut v = venue();
        let got = run_steps(&mut v, &c.steps);
        if got != c.expect {
            failures.push(format!("case `{}`:\n  expected {:#?}\n  got      {:#?}", c.name, c.expect, got));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// The default market: bid 99 × 10, ask 101 × 10.
const Q0: Step = Quo(99, 10, 101, 10);

#[test]
fn validation() {
    use Reason::*;
    check(vec![
        case(
            "unknown instrument",
            vec![Sub(lim(1, 1, B, 100, 5).inst(7))],
            vec![VenueEvent::Rejected { order_id: 1, account: 1, instrument: 7, reason: UnknownInstrument }],
        ),
        case("zero qty", vec![Q0, Sub(lim(1, 1, B, 100, 0))], vec![rej(1, 1, BadPriceOrQty)]),
        case("negative qty", vec![Q0, Sub(lim(1, 1, B, 100, -3))], vec![rej(1, 1, BadPriceOrQty)]),
        case("zero limit price", vec![Q0, Sub(lim(1, 1, B, 0, 5))], vec![rej(1, 1, BadPriceOrQty)]),
        case("market price is ignored", vec![Q0, Sub(mkt(1, 1, B, 2))], vec![acc(1, 1), tk(1, 1, B, 101, 2, 0)]),
        case(
            "duplicate open order id",
            vec![Q0, Sub(lim(1, 1, B, 98, 5)), Sub(lim(1, 2, S, 105, 5))],
            vec![rej(1, 2, InvalidOrder)],
        ),
        case("market without any liquidity", vec![Sub(mkt(1, 1, B, 5))], vec![rej(1, 1, NoLiquidity)]),
        case(
            "market: opposite quote side empty and nothing resting",
            vec![Quo(99, 10, 0, 0), Sub(mkt(1, 1, B, 5))],
            vec![rej(1, 1, NoLiquidity)],
        ),
        case(
            "market: displayed size consumed and nothing resting",
            vec![Quo(99, 10, 101, 3), Sub(mkt(1, 1, B, 3)), Sub(mkt(2, 1, B, 1))],
            vec![rej(2, 1, NoLiquidity)],
        ),
        case("market post-only", vec![Q0, Sub(mkt(1, 1, B, 5).post())], vec![rej(1, 1, PostOnlyWouldCross)]),
    ]);
}

#[test]
fn price_time_priority_and_levels() {
    use Reason::*;
    check(vec![
        case(
            "best price first, then time within a price",
            vec![
                Quo(99, 10, 105, 10),
                Sub(lim(1, 2, S, 101, 3)),
                Sub(lim(2, 3, S, 100, 3)),
                Sub(lim(3, 4, S, 100, 2)),
                Sub(lim(10, 1, B, 101, 7).ioc()),
            ],
            vec![
                acc(10, 1),
                tk(10, 1, B, 100, 3, 4),
                mk(2, 3, S, 100, 3, 0),
                tk(10, 1, B, 100, 2, 2),
                mk(3, 4, S, 100, 2, 0),
                tk(10, 1, B, 101, 2, 0),
                mk(1, 2, S, 101, 2, 1),
            ],
        ),
        case(
            "market displayed size comes before resting orders at the same price",
            vec![Quo(99, 10, 101, 5), Sub(lim(1, 2, S, 101, 5)), Sub(lim(10, 1, B, 101, 7))],
            vec![acc(10, 1), tk(10, 1, B, 101, 5, 2), tk(10, 1, B, 101, 2, 0), mk(1, 2, S, 101, 2, 3)],
        ),
        case(
            "resting order better than the quote comes first",
            vec![Q0, Sub(lim(1, 2, S, 100, 2)), Sub(lim(10, 1, B, 101, 4))],
            vec![acc(10, 1), tk(10, 1, B, 100, 2, 2), mk(1, 2, S, 100, 2, 0), tk(10, 1, B, 101, 2, 0)],
        ),
        case(
            "sell aggressor walks bids downwards",
            vec![
                Quo(97, 4, 101, 10),
                Sub(lim(1, 2, B, 99, 2)),
                Sub(lim(2, 3, B, 98, 2)),
                Sub(lim(10, 1, S, 97, 7).ioc()),
            ],
            vec![
                acc(10, 1),
                tk(10, 1, S, 99, 2, 5),
                mk(1, 2, B, 99, 2, 0),
                tk(10, 1, S, 98, 2, 3),
                mk(2, 3, B, 98, 2, 0),
                tk(10, 1, S, 97, 3, 0),
            ],
        ),
        case(
            "partial fill across levels, GTC remainder rests silently",
            vec![Quo(99, 10, 101, 5), Sub(lim(1, 2, S, 102, 3)), Sub(lim(10, 1, B, 102, 10))],
            vec![acc(10, 1), tk(10, 1, B, 101, 5, 5), tk(10, 1, B, 102, 3, 2), mk(1, 2, S, 102, 3, 0)],
        ),
        case(
            "limit stops the walk",
            vec![Quo(99, 10, 101, 5), Sub(lim(1, 2, S, 103, 3)), Sub(lim(10, 1, B, 102, 10).ioc())],
            vec![acc(10, 1), tk(10, 1, B, 101, 5, 5), cx(10, 1, 5, IocRemainder)],
        ),
        case(
            "consumed displayed size is gone until the next quote",
            vec![Quo(99, 10, 101, 5), Sub(lim(1, 1, B, 101, 5).ioc()), Sub(lim(2, 1, B, 101, 3).ioc())],
            vec![acc(2, 1), cx(2, 1, 3, IocRemainder)],
        ),
        case(
            "the next quote refreshes displayed size",
            vec![
                Quo(99, 10, 101, 5),
                Sub(lim(1, 1, B, 101, 5).ioc()),
                Quo(99, 10, 101, 5),
                Sub(lim(2, 1, B, 101, 3).ioc()),
            ],
            vec![acc(2, 1), tk(2, 1, B, 101, 3, 0)],
        ),
    ]);
}

#[test]
fn time_in_force() {
    use Reason::*;
    check(vec![
        case("GTC not crossing rests", vec![Q0, Sub(lim(1, 1, B, 100, 5))], vec![acc(1, 1)]),
        case(
            "IOC partial then remainder cancelled",
            vec![Quo(99, 10, 101, 5), Sub(lim(1, 1, B, 101, 8).ioc())],
            vec![acc(1, 1), tk(1, 1, B, 101, 5, 3), cx(1, 1, 3, IocRemainder)],
        ),
        case(
            "IOC not crossing: accepted then cancelled",
            vec![Q0, Sub(lim(1, 1, B, 100, 5).ioc())],
            vec![acc(1, 1), cx(1, 1, 5, IocRemainder)],
        ),
        case(
            "FOK short of liquidity is killed and nothing fills",
            vec![Quo(99, 10, 101, 5), Sub(lim(1, 2, S, 102, 2)), Sub(lim(10, 1, B, 102, 8).fok())],
            vec![acc(10, 1), cx(10, 1, 8, FokNotFilled)],
        ),
        case(
            "FOK kill leaves the book untouched",
            vec![
                Quo(99, 10, 101, 5),
                Sub(lim(1, 2, S, 102, 2)),
                Sub(lim(10, 1, B, 102, 8).fok()),
                Sub(lim(11, 1, B, 102, 7).fok()),
            ],
            vec![acc(11, 1), tk(11, 1, B, 101, 5, 2), tk(11, 1, B, 102, 2, 0), mk(1, 2, S, 102, 2, 0)],
        ),
        case(
            "FOK counts nothing past a self-trade",
            vec![
                Quo(99, 10, 101, 5),
                Sub(lim(1, 1, S, 102, 5)),
                Sub(lim(2, 3, S, 102, 5)),
                Sub(lim(10, 1, B, 102, 8).fok()),
            ],
            vec![acc(10, 1), cx(10, 1, 8, FokNotFilled)],
        ),
        case(
            "FOK counts reduce-only makers only up to their position (killed)",
            vec![
                Quo(99, 10, 105, 10),
                Sub(lim(1, 2, B, 105, 3).ioc()),
                Sub(lim(2, 2, S, 103, 2).ro()),
                Sub(lim(3, 2, S, 104, 2).ro()),
                Sub(lim(10, 1, B, 104, 4).fok()),
            ],
            vec![acc(10, 1), cx(10, 1, 4, FokNotFilled)],
        ),
        case(
            "FOK counts reduce-only makers only up to their position (filled)",
            vec![
                Quo(99, 10, 105, 10),
                Sub(lim(1, 2, B, 105, 3).ioc()),
                Sub(lim(2, 2, S, 103, 2).ro()),
                Sub(lim(3, 2, S, 104, 2).ro()),
                Sub(lim(10, 1, B, 104, 3).fok()),
            ],
            vec![
                acc(10, 1),
                tk(10, 1, B, 103, 2, 1),
                mk(2, 2, S, 103, 2, 0),
                tk(10, 1, B, 104, 1, 0),
                mk(3, 2, S, 104, 1, 1),
                cx(3, 2, 1, ReduceOnlyWouldIncrease),
            ],
        ),
        case("post-only rests", vec![Q0, Sub(lim(1, 1, B, 100, 5).post())], vec![acc(1, 1)]),
        case(
            "post-only crossing the quote is rejected",
            vec![Q0, Sub(lim(1, 1, B, 101, 5).post())],
            vec![rej(1, 1, PostOnlyWouldCross)],
        ),
        case(
            "post-only crossing a consumed quote is still rejected",
            vec![Quo(99, 10, 101, 5), Sub(mkt(1, 2, B, 5)), Sub(lim(2, 1, B, 101, 5).post())],
            vec![rej(2, 1, PostOnlyWouldCross)],
        ),
        case(
            "post-only crossing a resting order is rejected",
            vec![Q0, Sub(lim(1, 2, S, 100, 5)), Sub(lim(2, 1, B, 100, 5).post())],
            vec![rej(2, 1, PostOnlyWouldCross)],
        ),
        case(
            "post-only sell at the bid is rejected",
            vec![Q0, Sub(lim(1, 1, S, 99, 5).post())],
            vec![rej(1, 1, PostOnlyWouldCross)],
        ),
    ]);
}

#[test]
fn market_orders() {
    use Reason::*;
    check(vec![
        case(
            "market IOC sweeps then cancels the rest",
            vec![Quo(99, 10, 101, 5), Sub(lim(1, 2, S, 102, 3)), Sub(mkt(10, 1, B, 10))],
            vec![
                acc(10, 1),
                tk(10, 1, B, 101, 5, 5),
                tk(10, 1, B, 102, 3, 2),
                mk(1, 2, S, 102, 3, 0),
                cx(10, 1, 2, IocRemainder),
            ],
        ),
        case(
            "market FOK fills all",
            vec![Quo(99, 10, 101, 5), Sub(lim(1, 2, S, 102, 3)), Sub(mkt(10, 1, B, 8).fok())],
            vec![acc(10, 1), tk(10, 1, B, 101, 5, 3), tk(10, 1, B, 102, 3, 0), mk(1, 2, S, 102, 3, 0)],
        ),
        case(
            "market FOK short is killed",
            vec![Quo(99, 10, 101, 5), Sub(mkt(10, 1, B, 6).fok())],
            vec![acc(10, 1), cx(10, 1, 6, FokNotFilled)],
        ),
        case(
            "market sell against resting bids only (no quote)",
            vec![Sub(lim(1, 2, B, 100, 5)), Sub(mkt(10, 1, S, 3))],
            vec![acc(10, 1), tk(10, 1, S, 100, 3, 0), mk(1, 2, B, 100, 3, 2)],
        ),
        case(
            "market GTC behaves as IOC",
            vec![Quo(99, 10, 101, 2), Sub(mkt(10, 1, B, 3).tif(TimeInForce::Gtc))],
            vec![acc(10, 1), tk(10, 1, B, 101, 2, 1), cx(10, 1, 1, IocRemainder)],
        ),
        case(
            "market against own resting order only is a self-trade",
            vec![Sub(lim(1, 1, S, 100, 5)), Sub(mkt(10, 1, B, 3))],
            vec![acc(10, 1), cx(10, 1, 3, SelfTrade)],
        ),
    ]);
}

#[test]
fn reduce_only() {
    use Reason::*;
    check(vec![
        case(
            "flat: reduce-only buy rejected",
            vec![Q0, Sub(lim(1, 1, B, 100, 1).ro())],
            vec![rej(1, 1, ReduceOnlyWouldIncrease)],
        ),
        case(
            "long: reduce-only buy rejected",
            vec![Q0, Sub(lim(1, 1, B, 101, 5).ioc()), Sub(lim(2, 1, B, 100, 1).ro())],
            vec![rej(2, 1, ReduceOnlyWouldIncrease)],
        ),
        case(
            "long 5: reduce-only sell 6 would flip",
            vec![Q0, Sub(lim(1, 1, B, 101, 5).ioc()), Sub(mkt(2, 1, S, 6).ro())],
            vec![rej(2, 1, ReduceOnlyWouldIncrease)],
        ),
        case(
            "long 5: reduce-only market sell 5 fills",
            vec![Q0, Sub(lim(1, 1, B, 101, 5).ioc()), Sub(mkt(2, 1, S, 5).ro())],
            vec![acc(2, 1), tk(2, 1, S, 99, 5, 0)],
        ),
        case(
            "resting reduce-only cancelled when the position is gone at fill time",
            vec![
                Q0,
                Sub(lim(1, 1, B, 101, 3).ioc()),
                Sub(lim(2, 1, S, 102, 3).ro()),
                Sub(mkt(3, 1, S, 3)),
                Trd(103, 5, B),
            ],
            vec![cx(2, 1, 3, ReduceOnlyWouldIncrease)],
        ),
        case(
            "resting reduce-only capped at the position, remainder cancelled",
            vec![
                Q0,
                Sub(lim(1, 1, B, 101, 3).ioc()),
                Sub(lim(2, 1, S, 102, 3).ro()),
                Sub(mkt(3, 1, S, 1)),
                Trd(103, 5, B),
            ],
            vec![mk(2, 1, S, 102, 2, 1), cx(2, 1, 1, ReduceOnlyWouldIncrease)],
        ),
    ]);
}

#[test]
fn self_trade_prevention() {
    use Reason::*;
    check(vec![
        case(
            "own order first in queue: whole aggressor cancelled",
            vec![Q0, Sub(lim(1, 1, S, 100, 5)), Sub(lim(2, 2, S, 100, 3)), Sub(lim(10, 1, B, 100, 10))],
            vec![acc(10, 1), cx(10, 1, 10, SelfTrade)],
        ),
        case(
            "other account first, then own: fill then cancel newest",
            vec![Q0, Sub(lim(1, 2, S, 100, 3)), Sub(lim(2, 1, S, 100, 5)), Sub(lim(10, 1, B, 100, 10))],
            vec![acc(10, 1), tk(10, 1, B, 100, 3, 7), mk(1, 2, S, 100, 3, 0), cx(10, 1, 7, SelfTrade)],
        ),
        case(
            "self-trade leaves the resting order untouched",
            vec![Q0, Sub(lim(1, 1, S, 100, 5)), Sub(lim(10, 1, B, 100, 10)), Sub(lim(11, 2, B, 100, 1))],
            vec![acc(11, 2), tk(11, 2, B, 100, 1, 0), mk(1, 1, S, 100, 1, 4)],
        ),
        case(
            "market at a better price is taken before the own order",
            vec![Quo(99, 10, 101, 2), Sub(lim(1, 1, S, 102, 5)), Sub(lim(10, 1, B, 103, 10))],
            vec![acc(10, 1), tk(10, 1, B, 101, 2, 8), cx(10, 1, 8, SelfTrade)],
        ),
    ]);
}

#[test]
fn passive_fills_from_trades() {
    check(vec![
        case(
            "buy above the print fills first",
            vec![Q0, Sub(lim(1, 1, B, 100, 5)), Trd(99, 3, S)],
            vec![mk(1, 1, B, 100, 3, 2)],
        ),
        case(
            "buy-aggressor print does not hit resting buys",
            vec![Q0, Sub(lim(1, 1, B, 100, 5)), Trd(99, 3, B)],
            vec![],
        ),
        case(
            "print worse than a resting sell's price does not fill it",
            vec![Q0, Sub(lim(1, 1, S, 100, 5)), Trd(99, 3, B)],
            vec![],
        ),
        case(
            "sell below the print fills",
            vec![Q0, Sub(lim(1, 1, S, 100, 5)), Trd(101, 9, B)],
            vec![mk(1, 1, S, 100, 5, 0)],
        ),
        case(
            "order better than displayed best has no queue",
            vec![Q0, Sub(lim(1, 1, B, 100, 5)), Trd(100, 2, S)],
            vec![mk(1, 1, B, 100, 2, 3)],
        ),
        case(
            "queue at the displayed bid is not exhausted",
            vec![Quo(100, 10, 102, 10), Sub(lim(1, 1, B, 100, 5)), Trd(100, 8, S)],
            vec![],
        ),
        case(
            "queue advances across trades",
            vec![Quo(100, 10, 102, 10), Sub(lim(1, 1, B, 100, 5)), Trd(100, 8, S), Trd(100, 6, S)],
            vec![mk(1, 1, B, 100, 4, 1)],
        ),
        case(
            "queue exhausted within one print",
            vec![Quo(100, 10, 102, 10), Sub(lim(1, 1, B, 100, 5)), Trd(100, 12, S)],
            vec![mk(1, 1, B, 100, 2, 3)],
        ),
        case(
            "one budget shared in price-time order",
            vec![
                Quo(100, 10, 102, 10),
                Sub(lim(1, 1, B, 101, 3)),
                Sub(lim(2, 2, B, 100, 5)),
                Sub(lim(3, 3, B, 100, 5)),
                Trd(100, 15, S),
            ],
            vec![mk(1, 1, B, 101, 3, 0), mk(2, 2, B, 100, 2, 3)],
        ),
        case(
            "later order at the same price waits behind the earlier one",
            vec![
                Quo(100, 10, 102, 10),
                Sub(lim(2, 2, B, 100, 5)),
                Sub(lim(3, 3, B, 100, 5)),
                Trd(100, 10, S),
                Trd(100, 7, S),
            ],
            vec![mk(2, 2, B, 100, 5, 0), mk(3, 3, B, 100, 2, 3)],
        ),
        case(
            "quote at our price caps the queue",
            vec![Quo(100, 10, 102, 10), Sub(lim(1, 1, B, 100, 5)), Quo(100, 3, 102, 10), Trd(100, 4, S)],
            vec![mk(1, 1, B, 100, 1, 4)],
        ),
        case(
            "a larger quote does not grow the queue",
            vec![Quo(100, 3, 102, 10), Sub(lim(1, 1, B, 100, 5)), Quo(100, 30, 102, 10), Trd(100, 4, S)],
            vec![mk(1, 1, B, 100, 1, 4)],
        ),
        case(
            "a print through our price clears the queue",
            vec![Quo(100, 10, 102, 10), Sub(lim(1, 1, B, 100, 5)), Trd(99, 2, S), Trd(100, 1, S)],
            vec![mk(1, 1, B, 100, 1, 2)],
        ),
        case(
            "sell side queue at the ask",
            vec![Quo(98, 10, 100, 4), Sub(lim(1, 1, S, 100, 5)), Trd(100, 6, B)],
            vec![mk(1, 1, S, 100, 2, 3)],
        ),
    ]);
}

#[test]
fn passive_fills_from_quotes() {
    check(vec![
        case(
            "ask moving onto our bid fills up to displayed size",
            vec![Q0, Sub(lim(1, 1, B, 100, 5)), Quo(98, 10, 100, 3)],
            vec![mk(1, 1, B, 100, 3, 2)],
        ),
        case(
            "ask moving through our bid fills at our price",
            vec![Q0, Sub(lim(1, 1, B, 100, 5)), Quo(98, 10, 100, 3), Quo(97, 10, 99, 10)],
            vec![mk(1, 1, B, 100, 2, 0)],
        ),
        case(
            "bid moving onto our ask fills the sell",
            vec![Q0, Sub(lim(1, 1, S, 100, 5)), Quo(100, 4, 102, 10)],
            vec![mk(1, 1, S, 100, 4, 1)],
        ),
        case(
            "quote-crossing fills consume displayed size for takers",
            vec![Q0, Sub(lim(1, 1, B, 100, 5)), Quo(98, 10, 100, 6), Sub(lim(2, 2, B, 100, 3).ioc())],
            vec![acc(2, 2), tk(2, 2, B, 100, 1, 2), cx(2, 2, 2, Reason::IocRemainder)],
        ),
    ]);
}

#[test]
fn quote_crossing_shares_budget() {
    check(vec![case(
        "best price first, then time",
        vec![
            Quo(99, 10, 102, 10),
            Sub(lim(1, 1, B, 100, 5)),
            Sub(lim(2, 2, B, 101, 2)),
            Sub(lim(3, 3, B, 100, 5)),
            Quo(98, 10, 100, 7),
        ],
        vec![mk(2, 2, B, 101, 2, 0), mk(1, 1, B, 100, 5, 0)],
    )]);
}

#[test]
fn cancels() {
    use Reason::*;
    let ev = |id, a, i, rem| VenueEvent::Cancelled {
        order_id: id,
        account: a,
        instrument: i,
        remaining: Lots::new(rem),
        reason: CancelledByKillSwitch,
    };
    let setup = || {
        vec![
            Q0,
            Sub(lim(1, 1, B, 98, 5)),
            Sub(lim(2, 1, B, 98, 6).inst(1)),
            Sub(lim(3, 1, S, 103, 7)),
            Sub(lim(4, 2, S, 104, 8)),
        ]
    };
    let with = |mut v: Vec<Step>, s: Step| {
        v.push(s);
        v
    };
    check(vec![
        case("cancel open order", vec![Q0, Sub(lim(1, 1, B, 98, 5)), Cxl(1)], vec![cx(1, 1, 5, CancelledByStrategy)]),
        case("cancel unknown order emits nothing", vec![Q0, Cxl(9)], vec![]),
        case(
            "cancel after partial fill reports the remainder",
            vec![Q0, Sub(lim(1, 1, B, 100, 5)), Trd(99, 2, S), Cxl(1)],
            vec![cx(1, 1, 3, CancelledByStrategy)],
        ),
        case("cancel twice", vec![Q0, Sub(lim(1, 1, B, 98, 5)), Cxl(1), Cxl(1)], vec![]),
        case("cancel filled-out order", vec![Q0, Sub(lim(1, 1, B, 100, 5)), Trd(99, 9, S), Cxl(1)], vec![]),
        case("cancel_account one instrument", with(setup(), CxlAcc(1, Some(0))), vec![ev(1, 1, 0, 5), ev(3, 1, 0, 7)]),
        case(
            "cancel_account all instruments in id order",
            with(setup(), CxlAcc(1, None)),
            vec![ev(1, 1, 0, 5), ev(2, 1, 1, 6), ev(3, 1, 0, 7)],
        ),
        case("cancel_account other account", with(setup(), CxlAcc(2, None)), vec![ev(4, 2, 0, 8)]),
        case("cancel_account nothing open", with(setup(), CxlAcc(3, None)), vec![]),
    ]);
}

#[test]
fn cancel_return_values_and_open_orders() {
    let mut v = venue();
    let mut out = Vec::new();
    v.on_quote(0, 0, quote(99, 10, 101, 10), &mut out);
    for o in [lim(5, 1, B, 98, 5), lim(3, 1, S, 103, 2), lim(4, 2, S, 104, 1), lim(7, 1, B, 97, 1).inst(1)] {
        v.submit_order(0, &o, &mut out);
    }
    let ids: Vec<u64> = v.open_orders(1).map(|o| o.order_id).collect();
    assert_eq!(ids, [3, 5, 7]);
    let o = v.open_orders(1).next().unwrap();
    assert_eq!((o.instrument, o.side, o.price, o.qty, o.remaining), (0, S, 103, 2, 2));
    assert!(v.cancel(0, 5, Reason::CancelledByStrategy, &mut out));
    assert!(!v.cancel(0, 5, Reason::CancelledByStrategy, &mut out));
    assert!(!v.cancel(0, 999, Reason::CancelledByStrategy, &mut out));
    assert_eq!(v.cancel_account(0, 1, Some(1), Reason::CancelledAtEnd, &mut out), 1);
    assert_eq!(v.cancel_account(0, 1, None, Reason::CancelledAtEnd, &mut out), 1);
    assert_eq!(v.cancel_account(0, 1, None, Reason::CancelledAtEnd, &mut out), 0);
    assert_eq!(v.open_orders(1).count(), 0);
    assert_eq!(v.open_orders(2).count(), 1);
}

#[test]
fn queue_position_recorded_at_rest_time() {
    let mut v = venue();
    let mut out = Vec::new();
    v.on_quote(0, 0, quote(100, 10, 102, 4), &mut out);
    v.submit_order(0, &lim(1, 1, B, 100, 5), &mut out); // at the bid: 10 ahead
    v.submit_order(0, &lim(2, 1, B, 101, 5), &mut out); // better than the bid: first
    v.submit_order(0, &lim(3, 1, B, 99, 5), &mut out); // behind the best: unknown, 0
    v.submit_order(0, &lim(4, 2, S, 102, 5), &mut out); // at the ask: 4 ahead
    let q: Vec<i64> = v.open_orders(1).chain(v.open_orders(2)).map(|o| o.queue_ahead).collect();
    assert_eq!(q, [10, 0, 0, 4]);
    assert_eq!(v.best_quote(0), Some(quote(100, 10, 102, 4)));
    assert_eq!(v.best_quote(1), None);
    assert_eq!(v.instrument(1).unwrap().symbol, "BBB");
    assert!(v.instrument(2).is_none());
}

#[test]
fn fees_maker_rebate_and_positions() {
    let mut v = venue();
    let mut out = Vec::new();
    v.on_quote(0, 0, quote(99, 10, 101, 10), &mut out);
    v.submit_order(0, &lim(1, 2, S, 100, 10), &mut out);
    out.clear();
    v.submit_order(0, &lim(2, 1, B, 100, 10), &mut out);
    // notional = 100 ticks × 10 lots × 0.01 = 10 quote = 1_000_000_000 money units
    assert_eq!(
        out,
        [
            acc(2, 1),
            VenueEvent::Fill {
                order_id: 2,
                account: 1,
                instrument: 0,
                side: B,
                price: Ticks::new(100),
                qty: Lots::new(10),
                fee: Money::new(500_000),
                maker: false,
                remaining: Lots::ZERO
            },
            VenueEvent::Fill {
                order_id: 1,
                account: 2,
                instrument: 0,
                side: S,
                price: Ticks::new(100),
                qty: Lots::new(10),
                fee: Money::new(-100_000),
                maker: true,
                remaining: Lots::ZERO
            },
        ]
    );
    let p1 = v.position(1, 0);
    let p2 = v.position(2, 0);
    assert_eq!((p1.qty, p1.fees, p1.avg_price()), (10, 500_000, 100));
    assert_eq!((p2.qty, p2.fees, p2.avg_price()), (-10, -100_000, 100));
    // Close acc 1 at 101 by selling into a resting buy of acc 3 → +10 ticks × 0.01 × ... realised.
    v.submit_order(0, &lim(3, 3, B, 101, 10).post(), &mut out); // rejected: crosses? no, ask is 101 → would cross
    assert_eq!(out.last(), Some(&rej(3, 3, Reason::PostOnlyWouldCross)));
    v.on_quote(0, 0, quote(99, 10, 103, 10), &mut out);
    v.submit_order(0, &lim(4, 3, B, 102, 10).post(), &mut out);
    out.clear();
    v.submit_order(0, &mkt(5, 1, S, 10), &mut out);
    assert_eq!(out, [acc(5, 1), tk(5, 1, S, 102, 10, 0), mk(4, 3, B, 102, 10, 0)]);
    let p1 = v.position(1, 0);
    assert_eq!(p1.qty, 0);
    assert_eq!(p1.realised, 2 * 10 * 1_000_000);
    assert_eq!(p1.fees, 500_000 + 102 * 10 * TAKER_PPM);
    assert_eq!(v.position(9, 0), Position::default());
}

#[test]
fn fee_schedule_deserializes_strictly() {
    // No format crate is a dependency here; exercise the derive via serde's value deserializer.
    use serde::de::value::{Error, MapDeserializer};
    let ok: Result<FeeSchedule, Error> =
        serde::Deserialize::deserialize(MapDeserializer::new([("maker_ppm", -100i64), ("taker_ppm", 500)].into_iter()));
    assert_eq!(ok.unwrap(), FeeSchedule { maker_ppm: -100, taker_ppm: 500 });
    let bad: Result<FeeSchedule, Error> = serde::Deserialize::deserialize(MapDeserializer::new(
        [("maker_ppm", -100i64), ("taker_ppm", 500), ("extra", 1)].into_iter(),
    ));
    assert!(bad.is_err());
}

/// The public path: risk checks and reserves the order, the venue takes the
/// approval (and only an approval) with exactly the checked fields; a
/// refused order yields nothing a venue would take.
#[test]
fn submit_takes_only_a_risk_approval() {
    use bulkhead_abi::OrderRequest;
    use bulkhead_risk::{Policy, RiskEngine};
    let instruments: Vec<Instrument> = ["AAA", "BBB"]
        .iter()
        .enumerate()
        .map(|(id, sym)| {
            let spec = InstrumentSpec {
                symbol: (*sym).into(),
                kind: InstrumentKind::Spot,
                tick_size: "0.01".into(),
                lot_size: "1".into(),
                multiplier: "1".into(),
                ..Default::default()
            };
            Instrument::from_spec(id as u32, &spec).unwrap()
        })
        .collect();
    let policy = Policy::from_toml(
        r#"
instruments = ["AAA"]
sides = ["buy", "sell"]
order_types = ["limit", "market"]
time_in_force = ["gtc", "ioc"]
max_order_qty = "10"
max_order_notional = "100"
price_collar_bps = 500
collar_reference = "mid"
max_position = "10"
max_gross_notional = "1000"
max_net_notional = "1000"
max_open_orders = 10
max_orders_per_sec = 100
max_messages_per_sec = 100
"#,
        "venue-test.toml",
        &instruments,
    )
    .unwrap();
    let mut risk = RiskEngine::new(instruments);
    let sid = risk.add_strategy(policy);
    risk.on_quote_at(0, 0, bulkhead_model::Ticks::new(99), bulkhead_model::Ticks::new(101));
    let mut v = venue();
    let mut out = Vec::new();
    v.on_quote(0, 0, quote(99, 10, 101, 10), &mut out);
    let req = OrderRequest {
        instrument: 0,
        side: B,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        price: 98,
        qty: 4,
        tag: 7,
    };
    // refused by R2 (11 lots > 10): no approval, nothing to submit
    let refused = risk.check_and_open(sid, 1, 41, &OrderRequest { qty: 11, ..req });
    assert_eq!(refused.as_ref().map_err(|d| d.reason()).err(), Some(Reason::MaxOrderQty));
    let approved = risk.check_and_open(sid, 1, 42, &req).expect("within every limit");
    assert_eq!((approved.strategy(), approved.order_id(), *approved.order()), (sid, 42, req));
    v.submit(1, approved, &mut out);
    assert!(out.contains(&VenueEvent::Accepted { order_id: 42, account: sid, instrument: 0 }), "{out:?}");
    let o = v.open_orders(sid).next().unwrap();
    assert_eq!((o.order_id, o.instrument, o.side, o.price, o.qty), (42, 0, B, 98, 4));
    assert_eq!(risk.open_orders(sid), 1, "the approval was reserved in risk");
}

/// A quote from raw ticks and lots (test shorthand).
pub(crate) fn quote(bid_px: i64, bid_qty: i64, ask_px: i64, ask_qty: i64) -> Quote {
    Quote::new(Ticks::new(bid_px), Lots::new(bid_qty), Ticks::new(ask_px), Lots::new(ask_qty))
}

/// An L2 level from raw ticks and lots (test shorthand).
pub(crate) fn level(side: Side, price: i64, qty: i64) -> Level {
    Level { side, price: Ticks::new(price), qty: Lots::new(qty) }
}
