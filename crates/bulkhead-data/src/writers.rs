//! Writers for the third-party formats the readers in [`crate::formats`]
//! accept — used for the sample files, the benchmark and round-trip tests.

use crate::num::{Grid, push_u64};
use crate::{BookDelta, BookSide, L2Book};
use bulkhead_abi::{Event, Side};
use bulkhead_model::Instrument;
use std::io::{self, Write};

pub const TARDIS_TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";
pub const TARDIS_QUOTES_HEADER: &str =
    "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount";
pub const TARDIS_L2_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount";
pub const TARDIS_DERIVATIVE_TICKER_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,funding_timestamp,\
                                                   funding_rate,predicted_funding_rate,open_interest,last_price,\
                                                   index_price,mark_price";
pub const BINANCE_AGG_TRADES_HEADER: &str =
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker";

/// Header of a Tardis `book_snapshot_{depth}` file.
pub fn tardis_book_snapshot_header(depth: usize) -> String {
    let mut s = String::from("exchange,symbol,timestamp,local_timestamp");
    for i in 0..depth {
        s += &format!(",asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount");
    }
    s
}

/// Writes Tardis CSV rows for one instrument. Event time (ns) is written as
/// `local_timestamp` (µs, truncated); `timestamp` is `latency_us` earlier.
pub struct TardisWriter {
    prefix: Vec<u8>,
    price: Grid,
    qty: Grid,
    latency_us: u64,
    buf: Vec<u8>,
}

impl TardisWriter {
    pub fn new(exchange: &str, symbol: &str, inst: &Instrument, latency_us: u64) -> TardisWriter {
        TardisWriter {
            prefix: format!("{exchange},{symbol},").into_bytes(),
            price: Grid::new(inst.tick_size),
            qty: Grid::new(inst.lot_size),
            latency_us,
            buf: Vec::with_capacity(4096),
        }
    }

    fn start(&mut self, ts_ns: u64) {
        let local = ts_ns / 1000;
        self.buf.clear();
        self.buf.extend_from_slice(&self.prefix);
        push_u64(&mut self.buf, local.saturating_sub(self.latency_us));
        self.buf.push(b',');
        push_u64(&mut self.buf, local);
    }

    fn px(&mut self, ticks: i64) {
        self.buf.push(b',');
        self.price.format(ticks, &mut self.buf);
    }

    fn qt(&mut self, lots: i64) {
        self.buf.push(b',');
        self.qty.format(lots, &mut self.buf);
    }

    fn end(&mut self, w: &mut impl Write) -> io::Result<()> {
        self.buf.push(b'\n');
        w.write_all(&self.buf)
    }

    /// `trades` row: id from `e.id`, side `buy`/`sell`/`unknown`.
    pub fn trade(&mut self, w: &mut impl Write, e: &Event) -> io::Result<()> {
        self.start(e.ts_ns);
        self.buf.push(b',');
        push_u64(&mut self.buf, e.id);
        self.buf.extend_from_slice(match e.side {
            Some(Side::Buy) => b",buy",
            Some(Side::Sell) => b",sell",
            None => b",unknown",
        });
        self.px(e.price);
        self.qt(e.qty);
        self.end(w)
    }

    /// `quotes` row from a `Quote` event.
    pub fn quote(&mut self, w: &mut impl Write, e: &Event) -> io::Result<()> {
        self.start(e.ts_ns);
        self.qt(e.b);
        self.px(e.a);
        self.px(e.price);
        self.qt(e.qty);
        self.end(w)
    }

    /// `derivative_ticker` row from a `Ticker` event (absent fields empty;
    /// rates written with 12 decimals; `open_interest` and `last_price`
    /// empty).
    pub fn derivative_ticker(&mut self, w: &mut impl Write, e: &Event) -> io::Result<()> {
        use bulkhead_abi::{TICKER_FUNDING, TICKER_INDEX, TICKER_MARK, TICKER_PREDICTED};
        self.start(e.ts_ns);
        self.buf.push(b',');
        if e.id > 0 {
            push_u64(&mut self.buf, e.id / 1000);
        }
        let rate = Grid::new(bulkhead_model::Decimal { mantissa: 1, scale: bulkhead_abi::FUNDING_RATE_SCALE });
        for (flag, v) in [(TICKER_FUNDING, e.qty), (TICKER_PREDICTED, e.b)] {
            self.buf.push(b',');
            if e.flags & flag != 0 {
                rate.format(v, &mut self.buf);
            }
        }
        self.buf.extend_from_slice(b",,");
        for (flag, v) in [(TICKER_INDEX, e.a), (TICKER_MARK, e.price)] {
            self.buf.push(b',');
            if e.flags & flag != 0 {
                self.price.format(v, &mut self.buf);
            }
        }
        self.end(w)
    }

    /// `incremental_book_L2` row.
    pub fn l2_delta(&mut self, w: &mut impl Write, d: &BookDelta) -> io::Result<()> {
        self.start(d.ts_ns);
        self.buf.extend_from_slice(if d.is_snapshot { b",true" } else { b",false" });
        self.buf.extend_from_slice(if d.side == BookSide::Bid { b",bid" } else { b",ask" });
        self.px(d.price);
        self.qt(d.qty);
        self.end(w)
    }

    /// `book_snapshot_{depth}` row: the top `depth` levels of `book`, empty
    /// cells where a side is shallower.
    pub fn book_snapshot(&mut self, w: &mut impl Write, ts_ns: u64, book: &L2Book, depth: usize) -> io::Result<()> {
        self.start(ts_ns);
        for i in 0..depth {
            for side in [BookSide::Ask, BookSide::Bid] {
                match book.level(side, i) {
                    Some(l) => {
                        self.px(l.price);
                        self.qt(l.qty);
                    }
                    None => self.buf.extend_from_slice(b",,"),
                }
            }
        }
        self.end(w)
    }
}

/// Binance `aggTrades` file flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinanceStyle {
    /// USDⓈ-M futures: header line, 7 columns, `true`/`false`, ms timestamps.
    Futures,
    /// Spot (2025+): no header, 8 columns (`is_best_match`), `True`/`False`,
    /// µs timestamps.
    Spot,
}

/// Writes Binance `aggTrades` rows; one aggregate trade per event
/// (`first_trade_id = last_trade_id = e.id`).
pub struct BinanceWriter {
    style: BinanceStyle,
    price: Grid,
    qty: Grid,
    buf: Vec<u8>,
}

impl BinanceWriter {
    pub fn new(inst: &Instrument, style: BinanceStyle) -> BinanceWriter {
        BinanceWriter { style, price: Grid::new(inst.tick_size), qty: Grid::new(inst.lot_size), buf: Vec::new() }
    }

    /// The header line (with newline) for this style, or nothing.
    pub fn header(&self, w: &mut impl Write) -> io::Result<()> {
        match self.style {
            BinanceStyle::Futures => writeln!(w, "{BINANCE_AGG_TRADES_HEADER}"),
            BinanceStyle::Spot => Ok(()),
        }
    }

    pub fn trade(&mut self, w: &mut impl Write, e: &Event) -> io::Result<()> {
        let b = &mut self.buf;
        b.clear();
        push_u64(b, e.id);
        b.push(b',');
        self.price.format(e.price, b);
        b.push(b',');
        self.qty.format(e.qty, b);
        for _ in 0..2 {
            b.push(b',');
            push_u64(b, e.id);
        }
        b.push(b',');
        let maker = e.side == Some(Side::Sell);
        match self.style {
            BinanceStyle::Futures => {
                push_u64(b, e.ts_ns / 1_000_000);
                b.extend_from_slice(if maker { b",true" } else { b",false" });
            }
            BinanceStyle::Spot => {
                push_u64(b, e.ts_ns / 1_000);
                b.extend_from_slice(if maker { b",True,True" } else { b",False,True" });
            }
        }
        b.push(b'\n');
        w.write_all(b)
    }
}
