//! L2 order book builder and the top-of-book adapter that turns book data
//! into the ABI's `Quote` events.

use crate::{BookDelta, DataError, MarketEvent, MarketEventSource, MarketSource};
use bulkhead_abi::{Event, EventKind};
use std::collections::VecDeque;

/// Side of an order book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BookSide {
    Bid,
    Ask,
}

impl BookSide {
    pub fn name(self) -> &'static str {
        match self {
            BookSide::Bid => "bid",
            BookSide::Ask => "ask",
        }
    }
}

/// One price level: price in ticks, total quantity in lots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub price: i64,
    pub qty: i64,
}

/// One side as a sorted `Vec` with the best level at the end, keyed so that
/// "better" is always "larger": bids by price, asks by -price. Updates cluster
/// near the touch, so inserts and removals there move few elements.
#[derive(Clone, Debug, Default)]
struct Ladder {
    /// (key, qty), ascending by key.
    levels: Vec<(i64, i64)>,
}

impl Ladder {
    /// Index of `key`, or where to insert it.
    #[inline]
    fn find(&self, key: i64) -> Result<usize, usize> {
        let l = &self.levels;
        let n = l.len();
        // Most updates are within a few levels of the touch: scan those first.
        let mut i = n;
        let stop = n.saturating_sub(8);
        while i > stop {
            let k = l[i - 1].0;
            if k == key {
                return Ok(i - 1);
            }
            if k < key {
                return Err(i);
            }
            i -= 1;
        }
        l[..stop].binary_search_by(|&(k, _)| k.cmp(&key))
    }

    #[inline]
    fn set(&mut self, key: i64, qty: i64) {
        match self.find(key) {
            Ok(i) => {
                if qty == 0 {
                    self.levels.remove(i);
                } else {
                    self.levels[i].1 = qty;
                }
            }
            Err(i) => {
                if qty != 0 {
                    self.levels.insert(i, (key, qty));
                }
            }
        }
    }
}

/// An L2 book built from deltas and snapshots (prices in ticks, qty in lots).
#[derive(Clone, Debug, Default)]
pub struct L2Book {
    bids: Ladder,
    asks: Ladder,
}

impl L2Book {
    pub fn new() -> L2Book {
        L2Book::default()
    }

    /// Remove every level (a snapshot is about to replace the book).
    pub fn clear(&mut self) {
        self.bids.levels.clear();
        self.asks.levels.clear();
    }

    /// Set the quantity at `price` on `side`; `qty == 0` removes the level.
    /// Negative quantities are treated as removal.
    #[inline]
    pub fn set(&mut self, side: BookSide, price: i64, qty: i64) {
        let qty = qty.max(0);
        match side {
            BookSide::Bid => self.bids.set(price, qty),
            BookSide::Ask => self.asks.set(-price, qty),
        }
    }

    /// Apply one market event; returns `true` if it was book data (delta or
    /// snapshot start) for this book. Trades and quotes are ignored.
    #[inline]
    pub fn apply(&mut self, ev: &MarketEvent) -> bool {
        match ev {
            MarketEvent::BookDelta(d) => {
                self.apply_delta(d);
                true
            }
            MarketEvent::BookSnapshotStart { .. } => {
                self.clear();
                true
            }
            _ => false,
        }
    }

    #[inline]
    pub fn apply_delta(&mut self, d: &BookDelta) {
        self.set(d.side, d.price, d.qty)
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.level(BookSide::Bid, 0)
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.level(BookSide::Ask, 0)
    }

    /// The `i`-th level from the touch (0 = best).
    pub fn level(&self, side: BookSide, i: usize) -> Option<Level> {
        let l = match side {
            BookSide::Bid => &self.bids.levels,
            BookSide::Ask => &self.asks.levels,
        };
        let &(k, qty) = l.get(l.len().checked_sub(i + 1)?)?;
        Some(Level { price: if side == BookSide::Bid { k } else { -k }, qty })
    }

    /// Number of levels on `side`.
    pub fn depth(&self, side: BookSide) -> usize {
        match side {
            BookSide::Bid => self.bids.levels.len(),
            BookSide::Ask => self.asks.levels.len(),
        }
    }

    /// Quantity at `price` on `side` (0 if no level).
    pub fn qty_at(&self, side: BookSide, price: i64) -> i64 {
        let (l, key) = match side {
            BookSide::Bid => (&self.bids, price),
            BookSide::Ask => (&self.asks, -price),
        };
        l.find(key).map_or(0, |i| l.levels[i].1)
    }

    /// Levels of `side` from the touch outwards.
    pub fn levels(&self, side: BookSide) -> impl Iterator<Item = Level> + '_ {
        let (l, sign) = match side {
            BookSide::Bid => (&self.bids.levels, 1),
            BookSide::Ask => (&self.asks.levels, -1),
        };
        l.iter().rev().map(move |&(k, qty)| Level { price: k * sign, qty })
    }

    /// Best bid at or above best ask.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// Top of book as an ABI `Quote` event (`price`/`qty` = bid, `a`/`b` =
    /// ask), if both sides are present and the book is not crossed.
    pub fn top_quote(&self, instrument: u32, ts_ns: u64) -> Option<Event> {
        let (b, a) = (self.best_bid()?, self.best_ask()?);
        if b.price >= a.price {
            return None;
        }
        let mut e = Event::new(EventKind::Quote, instrument, ts_ns);
        e.price = b.price;
        e.qty = b.qty;
        e.a = a.price;
        e.b = a.qty;
        Some(e)
    }
}

struct InstrumentBook {
    instrument: u32,
    book: L2Book,
    /// (bid px, bid qty, ask px, ask qty) last emitted
    last: Option<(i64, i64, i64, i64)>,
    dirty: bool,
}

/// Adapts a [`MarketEventSource`] carrying book data into a [`MarketSource`]
/// of trades and top-of-book quotes, so the engine and strategies work
/// unchanged.
///
/// Book events that share a timestamp are one exchange message: they are all
/// applied, then one `Quote` per touched instrument is emitted (stamped with
/// that timestamp) if its top of book changed — price or quantity on either
/// side. A book with an empty side or a crossed book emits nothing until it is
/// sane again. Trades and quotes from the inner source pass through in order.
pub struct QuoteSource<S> {
    inner: S,
    books: Vec<InstrumentBook>,
    last_book: usize,
    batch_ts: u64,
    any_dirty: bool,
    pending: Option<MarketEvent>,
    out: VecDeque<Event>,
    done: bool,
    book_events: u64,
    crossed: u64,
    /// Also emit every book change as `BookLevel` / `BookClear` events.
    levels: bool,
}

impl<S: MarketEventSource> QuoteSource<S> {
    pub fn new(inner: S) -> QuoteSource<S> {
        QuoteSource {
            inner,
            books: Vec::new(),
            last_book: 0,
            batch_ts: 0,
            any_dirty: false,
            pending: None,
            out: VecDeque::new(),
            done: false,
            book_events: 0,
            crossed: 0,
            levels: false,
        }
    }

    /// As [`QuoteSource::new`], and every book change also comes out, as it
    /// is read, as an ABI `BookLevel` event (`side` Buy = bid / Sell = ask,
    /// `price`, `qty` = new size, 0 = removed; `flags` has
    /// `EVENT_FLAG_SNAPSHOT` for snapshot rows) or `BookClear` (a snapshot
    /// starts). The batch's `Quote` (same rules as without levels) follows
    /// its last level, so a consumer can apply the levels as depth and the
    /// quote as the new top of book.
    pub fn with_levels(inner: S) -> QuoteSource<S> {
        QuoteSource { levels: true, ..QuoteSource::new(inner) }
    }

    /// The current book of `instrument`, if any book data was seen for it.
    pub fn book(&self, instrument: u32) -> Option<&L2Book> {
        self.books.iter().find(|b| b.instrument == instrument).map(|b| &b.book)
    }

    /// Book events (deltas and snapshot starts) applied so far.
    pub fn book_events(&self) -> u64 {
        self.book_events
    }

    /// Batches after which a book was crossed (no quote emitted).
    pub fn crossed_batches(&self) -> u64 {
        self.crossed
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    #[inline]
    fn book_mut(&mut self, instrument: u32) -> &mut InstrumentBook {
        if self.books.get(self.last_book).is_none_or(|b| b.instrument != instrument) {
            self.last_book = match self.books.iter().position(|b| b.instrument == instrument) {
                Some(i) => i,
                None => {
                    self.books.push(InstrumentBook { instrument, book: L2Book::new(), last: None, dirty: false });
                    self.books.len() - 1
                }
            };
        }
        &mut self.books[self.last_book]
    }

    fn flush(&mut self) {
        for b in self.books.iter_mut().filter(|b| b.dirty) {
            b.dirty = false;
            match b.book.top_quote(b.instrument, self.batch_ts) {
                Some(q) => {
                    let top = (q.price, q.qty, q.a, q.b);
                    if b.last != Some(top) {
                        b.last = Some(top);
                        self.out.push_back(q);
                    }
                }
                None => {
                    if b.book.is_crossed() {
                        self.crossed += 1;
                    }
                }
            }
        }
        self.any_dirty = false;
    }

    /// Next trade or quote.
    pub fn next_quote_or_trade(&mut self) -> Result<Option<Event>, DataError> {
        loop {
            if let Some(e) = self.out.pop_front() {
                return Ok(Some(e));
            }
            if self.done {
                return Ok(None);
            }
            let ev = match self.pending.take() {
                Some(ev) => ev,
                None => match self.inner.next_market_event()? {
                    Some(ev) => ev,
                    None => {
                        self.done = true;
                        self.flush();
                        continue;
                    }
                },
            };
            if self.any_dirty && ev.ts_ns() != self.batch_ts {
                self.flush();
                self.pending = Some(ev);
                continue;
            }
            match ev {
                MarketEvent::Trade(e) | MarketEvent::Quote(e) | MarketEvent::Ticker(e) => return Ok(Some(e)),
                MarketEvent::BookDelta(d) => {
                    if self.levels {
                        let mut e = Event::new(EventKind::BookLevel, d.instrument, d.ts_ns);
                        e.side = Some(match d.side {
                            BookSide::Bid => bulkhead_abi::Side::Buy,
                            BookSide::Ask => bulkhead_abi::Side::Sell,
                        });
                        e.price = d.price;
                        e.qty = d.qty.max(0);
                        e.flags = if d.is_snapshot { bulkhead_abi::EVENT_FLAG_SNAPSHOT } else { 0 };
                        self.out.push_back(e);
                    }
                    let b = self.book_mut(d.instrument);
                    b.book.apply_delta(&d);
                    b.dirty = true;
                    self.any_dirty = true;
                    self.batch_ts = d.ts_ns;
                    self.book_events += 1;
                }
                MarketEvent::BookSnapshotStart { ts_ns, instrument } => {
                    if self.levels {
                        self.out.push_back(Event::new(EventKind::BookClear, instrument, ts_ns));
                    }
                    let b = self.book_mut(instrument);
                    b.book.clear();
                    b.dirty = true;
                    self.any_dirty = true;
                    self.batch_ts = ts_ns;
                    self.book_events += 1;
                }
            }
        }
    }
}

impl<S: MarketEventSource> MarketSource for QuoteSource<S> {
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        self.next_quote_or_trade()
    }
    fn len_hint(&self) -> Option<u64> {
        None
    }
}

impl<S: MarketEventSource> MarketEventSource for QuoteSource<S> {
    /// Yields the adapted stream (trades, tickers and quotes; with levels
    /// also the book changes).
    fn next_market_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        Ok(self.next_quote_or_trade()?.map(|e| match e.kind {
            EventKind::Trade => MarketEvent::Trade(e),
            EventKind::Ticker => MarketEvent::Ticker(e),
            EventKind::BookLevel => MarketEvent::BookDelta(BookDelta {
                ts_ns: e.ts_ns,
                instrument: e.instrument,
                side: if e.side == Some(bulkhead_abi::Side::Sell) { BookSide::Ask } else { BookSide::Bid },
                price: e.price,
                qty: e.qty,
                is_snapshot: e.flags & bulkhead_abi::EVENT_FLAG_SNAPSHOT != 0,
            }),
            EventKind::BookClear => MarketEvent::BookSnapshotStart { ts_ns: e.ts_ns, instrument: e.instrument },
            _ => MarketEvent::Quote(e),
        }))
    }
    fn bad_lines(&self) -> u64 {
        self.inner.bad_lines()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Brute-force reference: one map per side.
    #[derive(Default)]
    struct RefBook {
        bids: BTreeMap<i64, i64>,
        asks: BTreeMap<i64, i64>,
    }

    impl RefBook {
        fn set(&mut self, side: BookSide, price: i64, qty: i64) {
            let m = if side == BookSide::Bid { &mut self.bids } else { &mut self.asks };
            if qty <= 0 {
                m.remove(&price);
            } else {
                m.insert(price, qty);
            }
        }
        fn bids(&self) -> Vec<Level> {
            self.bids.iter().rev().map(|(&price, &qty)| Level { price, qty }).collect()
        }
        fn asks(&self) -> Vec<Level> {
            self.asks.iter().map(|(&price, &qty)| Level { price, qty }).collect()
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set(bool, i64, i64),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            40 => (any::<bool>(), 90i64..110, 1i64..5).prop_map(|(b, p, q)| Op::Set(b, p, q)),
            20 => (any::<bool>(), 90i64..110).prop_map(|(b, p)| Op::Set(b, p, 0)),
            10 => (any::<bool>(), 0i64..1000, 0i64..3).prop_map(|(b, p, q)| Op::Set(b, p, q)),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn matches_brute_force_reference(ops in proptest::collection::vec(op(), 0..400)) {
            let mut book = L2Book::new();
            let mut r = RefBook::default();
            for op in ops {
                match op {
                    Op::Set(b, p, q) => {
                        let side = if b { BookSide::Bid } else { BookSide::Ask };
                        book.set(side, p, q);
                        r.set(side, p, q);
                        prop_assert_eq!(book.qty_at(side, p), q);
                    }
                    Op::Clear => { book.clear(); r = RefBook::default(); }
                }
                prop_assert_eq!(book.best_bid(), r.bids().first().copied());
                prop_assert_eq!(book.best_ask(), r.asks().first().copied());
            }
            prop_assert_eq!(book.levels(BookSide::Bid).collect::<Vec<_>>(), r.bids());
            prop_assert_eq!(book.levels(BookSide::Ask).collect::<Vec<_>>(), r.asks());
            prop_assert_eq!(book.depth(BookSide::Bid), r.bids.len());
            for (i, l) in r.asks().iter().enumerate() {
                prop_assert_eq!(book.level(BookSide::Ask, i), Some(*l));
            }
        }
    }

    struct VecSource(std::vec::IntoIter<MarketEvent>);
    impl MarketEventSource for VecSource {
        fn next_market_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
            Ok(self.0.next())
        }
    }

    fn delta(ts_ns: u64, side: BookSide, price: i64, qty: i64) -> MarketEvent {
        MarketEvent::BookDelta(BookDelta { ts_ns, instrument: 0, side, price, qty, is_snapshot: false })
    }

    #[test]
    fn quote_source_emits_on_top_changes_per_timestamp_batch() {
        use BookSide::*;
        let mut trade = Event::new(EventKind::Trade, 0, 3);
        trade.price = 100;
        trade.qty = 1;
        let evs = vec![
            MarketEvent::BookSnapshotStart { ts_ns: 1, instrument: 0 },
            delta(1, Bid, 99, 5),
            delta(1, Bid, 98, 5),
            delta(1, Ask, 101, 5),
            delta(2, Bid, 97, 1), // deep level: no top change, no quote
            MarketEvent::Trade(trade),
            delta(3, Bid, 100, 2), // improves bid
            delta(4, Ask, 100, 1), // crosses: no quote
            delta(4, Ask, 100, 0), // same message uncrosses: top unchanged → no quote
            delta(5, Ask, 101, 4), // ask qty change
            delta(6, Ask, 101, 0), // one-sided: no quote
        ];
        let mut src = QuoteSource::new(VecSource(evs.into_iter()));
        let mut got = Vec::new();
        while let Some(e) = src.next_event().unwrap() {
            got.push((e.kind, e.ts_ns, e.price, e.qty, e.a, e.b));
        }
        assert_eq!(
            got,
            vec![
                (EventKind::Quote, 1, 99, 5, 101, 5),
                (EventKind::Trade, 3, 100, 1, 0, 0),
                (EventKind::Quote, 3, 100, 2, 101, 5),
                (EventKind::Quote, 5, 100, 2, 101, 4),
            ]
        );
        assert_eq!(src.book_events(), 10);
        assert_eq!(src.book(0).unwrap().depth(Ask), 0);
    }
}
