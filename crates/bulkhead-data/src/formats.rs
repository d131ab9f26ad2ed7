//! Streaming readers for third-party CSV formats (plain or gzipped).
//!
//! | reader | columns |
//! |---|---|
//! | [`TardisTradesReader`] | `exchange,symbol,timestamp,local_timestamp,id,side,price,amount` |
//! | [`TardisQuotesReader`] | `exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount` |
//! | [`TardisBookSnapshotReader`] | `exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,…` (any depth: 4 columns per level) |
//! | [`TardisIncrementalL2Reader`] | `exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount` |
//! | [`TardisDerivativeTickerReader`] | `exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price` |
//! | [`BinanceAggTradesReader`] | `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,is_best_match]`, header optional |
//!
//! Tardis timestamps are microseconds since the epoch; event time is
//! `local_timestamp` (arrival time, the order Tardis files are sorted in)
//! unless [`ReaderOptions::time`] says otherwise. Binance `transact_time` is
//! milliseconds, or microseconds when it has 16 digits (spot files since 2025).
//!
//! Every price and amount must sit exactly on the instrument's grid. A bad
//! line is a [`DataError::Line`] naming file, line number and field; with
//! [`ReaderOptions::skip_bad_lines`] it is skipped and counted instead
//! ([`Reader::bad_lines`]). Timestamps must not go backwards within a file.

#![allow(private_bounds)]

use crate::input::{LineReader, open_input, wrap_input};
use crate::num::{Grid, parse_u64, show};
use crate::{BookDelta, BookSide, DataError, MarketEvent, MarketEventSource, MarketSource};
use bulkhead_abi::{Event, EventKind, Side};
use bulkhead_model::Instrument;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Which Tardis timestamp becomes the event time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeField {
    /// `local_timestamp`: when the message arrived (files are sorted by it).
    #[default]
    Local,
    /// `timestamp`: the exchange's own time (may go backwards in real data).
    Exchange,
}

/// Reader settings shared by every format.
#[derive(Clone, Debug, Default)]
pub struct ReaderOptions {
    /// Skip (and count) malformed lines instead of failing on the first one.
    pub skip_bad_lines: bool,
    /// File symbol → instrument symbol. Keys may be `exchange:symbol` (tried
    /// first) or plain `symbol`. Unmapped symbols must equal an instrument's.
    pub symbol_map: HashMap<String, String>,
    /// Tardis only: which timestamp is the event time.
    pub time: TimeField,
    /// Binance aggTrades only (the files have no symbol column): the file
    /// symbol. Default: the file name up to its first `-`
    /// (`BTCUSDT-aggTrades-2024-01-01.csv` → `BTCUSDT`).
    pub symbol: Option<String>,
}

impl ReaderOptions {
    /// Options with one `file symbol → instrument symbol` mapping.
    pub fn map_symbol(mut self, file_symbol: &str, instrument_symbol: &str) -> ReaderOptions {
        self.symbol_map.insert(file_symbol.to_string(), instrument_symbol.to_string());
        self
    }
}

/// A problem with one field of the current line.
pub(crate) struct FieldError {
    field: &'static str,
    problem: String,
}

fn ferr(field: &'static str, problem: impl Into<String>) -> FieldError {
    FieldError { field, problem: problem.into() }
}

/// Per-file state the format parsers share: instruments, symbol resolution,
/// time order.
pub(crate) struct Cx {
    instruments: Vec<Instrument>,
    grids: Vec<(Grid, Grid)>,
    map: HashMap<String, String>,
    time: TimeField,
    /// Cache of the last `exchange,symbol` key resolved and its index.
    last_key: Vec<u8>,
    last_idx: usize,
    last_ts: u64,
    ts_field: &'static str,
}

impl Cx {
    fn new(instruments: &[Instrument], opts: &ReaderOptions, ts_field: &'static str) -> Cx {
        Cx {
            instruments: instruments.to_vec(),
            grids: instruments.iter().map(|i| (Grid::new(i.tick_size), Grid::new(i.lot_size))).collect(),
            map: opts.symbol_map.clone(),
            time: opts.time,
            last_key: Vec::new(),
            last_idx: usize::MAX,
            last_ts: 0,
            ts_field,
        }
    }

    /// Instrument index for `key` (`exchange,symbol` bytes, used as cache key)
    /// with the given exchange and symbol.
    #[inline]
    fn resolve(&mut self, key: &[u8], exchange: &[u8], symbol: &[u8]) -> Result<usize, FieldError> {
        if self.last_idx != usize::MAX && key == &self.last_key[..] {
            return Ok(self.last_idx);
        }
        self.resolve_slow(key, exchange, symbol)
    }

    #[cold]
    fn resolve_slow(&mut self, key: &[u8], exchange: &[u8], symbol: &[u8]) -> Result<usize, FieldError> {
        let sym = std::str::from_utf8(symbol).map_err(|_| ferr("symbol", "not UTF-8"))?;
        if sym.is_empty() {
            return Err(ferr("symbol", "missing"));
        }
        let ex = String::from_utf8_lossy(exchange);
        let target = self.map.get(&format!("{ex}:{sym}")).or_else(|| self.map.get(sym)).map_or(sym, |s| s.as_str());
        let idx = self.instruments.iter().position(|i| i.symbol == target).ok_or_else(|| {
            if target == sym {
                ferr("symbol", format!("unknown instrument `{sym}` (add it to the symbol map?)"))
            } else {
                ferr("symbol", format!("`{sym}` maps to unknown instrument `{target}`"))
            }
        })?;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.last_idx = idx;
        Ok(idx)
    }

    /// Tardis `timestamp` and `local_timestamp` (µs) → event time (ns).
    #[inline(always)]
    fn tardis_ts(&self, ts: &[u8], local: &[u8]) -> Result<u64, FieldError> {
        let t = parse_u64(ts).map_err(|p| ferr("timestamp", p))?;
        let l = parse_u64(local).map_err(|p| ferr("local_timestamp", p))?;
        let (v, f) = match self.time {
            TimeField::Local => (l, "local_timestamp"),
            TimeField::Exchange => (t, "timestamp"),
        };
        v.checked_mul(1000).ok_or_else(|| ferr(f, "out of range"))
    }

    /// Check time order; call last, once the line is otherwise valid.
    #[inline]
    fn check_ts(&self, ts: u64) -> Result<(), FieldError> {
        if ts < self.last_ts {
            return Err(ferr(self.ts_field, format!("goes backwards ({} ns after {} ns)", ts, self.last_ts)));
        }
        Ok(())
    }

    #[inline(always)]
    fn price(&self, idx: usize, field: &'static str, s: &[u8]) -> Result<i64, FieldError> {
        if s.is_empty() {
            return Err(ferr(field, "missing"));
        }
        self.grids[idx].0.parse(s).map_err(|p| ferr(field, p))
    }

    #[inline(always)]
    fn qty(&self, idx: usize, field: &'static str, s: &[u8]) -> Result<i64, FieldError> {
        if s.is_empty() {
            return Err(ferr(field, "missing"));
        }
        self.grids[idx].1.parse(s).map_err(|p| ferr(field, p))
    }
}

/// Splits a line on commas, naming the field that is missing.
struct Fields<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> Fields<'a> {
    #[inline]
    fn new(line: &'a [u8]) -> Fields<'a> {
        Fields { rest: line, done: false }
    }

    #[inline(always)]
    fn next(&mut self, name: &'static str) -> Result<&'a [u8], FieldError> {
        if self.done {
            return Err(ferr(name, "missing"));
        }
        let r = self.rest;
        let mut i = 0;
        while i < r.len() {
            if r[i] == b',' {
                self.rest = &r[i + 1..];
                return Ok(&r[..i]);
            }
            i += 1;
        }
        self.done = true;
        self.rest = &[];
        Ok(r)
    }

    #[inline]
    fn finish(&self) -> Result<(), FieldError> {
        if self.done { Ok(()) } else { Err(ferr("line", "too many fields")) }
    }
}

pub(crate) type Parsed = Result<(u64, Option<MarketEvent>), FieldError>;

/// One file format: header recognition and line parsing.
pub(crate) trait Format {
    /// Name of the timestamp field checked for order.
    fn ts_field(&self, time: TimeField) -> &'static str;
    /// Is the first non-empty line a header? Err if it looks like a header
    /// of some other format.
    fn header(&mut self, line: &[u8]) -> Result<bool, FieldError>;
    /// Parse one data line: returns its event time and its last event (if
    /// any); earlier events of the same line are pushed to `out` in order.
    fn parse(&mut self, cx: &mut Cx, line: &[u8], out: &mut VecDeque<MarketEvent>) -> Parsed;
}

/// A streaming reader of one file format (see the module docs). Use the
/// aliases: [`TardisTradesReader`], [`TardisQuotesReader`],
/// [`TardisBookSnapshotReader`], [`TardisIncrementalL2Reader`],
/// [`BinanceAggTradesReader`].
pub struct Reader<F> {
    lines: LineReader,
    cx: Cx,
    fmt: F,
    out: VecDeque<MarketEvent>,
    skip_bad_lines: bool,
    bad_lines: u64,
    seen_first: bool,
}

impl<F: Format> Reader<F> {
    fn build(
        path: PathBuf,
        src: Box<dyn Read + Send>,
        instruments: &[Instrument],
        opts: &ReaderOptions,
        fmt: F,
    ) -> Reader<F> {
        let cx = Cx::new(instruments, opts, fmt.ts_field(opts.time));
        Reader {
            lines: LineReader::new(path, src),
            cx,
            fmt,
            out: VecDeque::with_capacity(64),
            skip_bad_lines: opts.skip_bad_lines,
            bad_lines: 0,
            seen_first: false,
        }
    }

    /// Malformed lines skipped so far (only with `skip_bad_lines`).
    pub fn bad_lines(&self) -> u64 {
        self.bad_lines
    }

    /// Number of the line last read (1-based, header included).
    pub fn line(&self) -> u64 {
        self.lines.line
    }

    pub fn path(&self) -> &Path {
        &self.lines.path
    }

    /// Next event, `Ok(None)` at the end of the file.
    #[inline]
    pub fn next_market_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        loop {
            if let Some(e) = self.out.pop_front() {
                return Ok(Some(e));
            }
            let Some(line) = self.lines.next_line()? else { return Ok(None) };
            if line.is_empty() {
                continue;
            }
            let r = if self.seen_first {
                self.fmt.parse(&mut self.cx, line, &mut self.out)
            } else {
                self.seen_first = true;
                match self.fmt.header(line) {
                    Ok(true) => continue,
                    Ok(false) => self.fmt.parse(&mut self.cx, line, &mut self.out),
                    Err(e) => Err(e),
                }
            };
            match r {
                Ok((ts, ev)) => {
                    self.cx.last_ts = ts;
                    if let Some(ev) = ev {
                        if self.out.is_empty() {
                            return Ok(Some(ev));
                        }
                        self.out.push_back(ev);
                    }
                }
                Err(e) => {
                    self.out.clear();
                    // a broken header is never skipped: every line would be misread
                    if self.skip_bad_lines && e.field != "header" {
                        self.bad_lines += 1;
                        continue;
                    }
                    return Err(DataError::Line {
                        path: self.lines.path.clone(),
                        line: self.lines.line,
                        field: e.field,
                        problem: e.problem,
                    });
                }
            }
        }
    }
}

impl<F: Format> MarketEventSource for Reader<F> {
    #[inline]
    fn next_market_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        Reader::next_market_event(self)
    }
    fn bad_lines(&self) -> u64 {
        self.bad_lines
    }
}

macro_rules! event_source {
    ($t:ty) => {
        impl MarketSource for Reader<$t> {
            fn next_event(&mut self) -> Result<Option<Event>, DataError> {
                Ok(self.next_market_event()?.and_then(|e| match e {
                    MarketEvent::Trade(e) | MarketEvent::Quote(e) | MarketEvent::Ticker(e) => Some(e),
                    _ => None,
                }))
            }
            fn len_hint(&self) -> Option<u64> {
                None
            }
        }
    };
}

macro_rules! constructors {
    ($fmt:ident, $ctor:expr) => {
        impl Reader<$fmt> {
            /// Open a file (gzip detected by `.gz` extension or magic bytes).
            pub fn open(path: &Path, instruments: &[Instrument], opts: &ReaderOptions) -> Result<Self, DataError> {
                let src = open_input(path)?;
                #[allow(clippy::redundant_closure_call)]
                let fmt = ($ctor)(path, opts)?;
                Ok(Reader::build(path.to_path_buf(), src, instruments, opts, fmt))
            }
            /// Read from any byte stream (gzip detected by magic bytes);
            /// `name` labels errors.
            pub fn from_reader(
                name: &Path,
                r: impl Read + Send + 'static,
                instruments: &[Instrument],
                opts: &ReaderOptions,
            ) -> Result<Self, DataError> {
                let src = wrap_input(r, false).map_err(|source| DataError::Io { path: name.to_path_buf(), source })?;
                #[allow(clippy::redundant_closure_call)]
                let fmt = ($ctor)(name, opts)?;
                Ok(Reader::build(name.to_path_buf(), src, instruments, opts, fmt))
            }
        }
    };
}

/// Tardis `trades`.
pub type TardisTradesReader = Reader<TardisTrades>;
/// Tardis `quotes` (best bid/ask).
pub type TardisQuotesReader = Reader<TardisQuotes>;
/// Tardis `book_snapshot_25` (or any `book_snapshot_N`).
pub type TardisBookSnapshotReader = Reader<TardisBookSnapshot>;
/// Tardis `incremental_book_L2`.
pub type TardisIncrementalL2Reader = Reader<TardisIncrementalL2>;
/// Tardis `derivative_ticker` (mark, index, funding rate).
pub type TardisDerivativeTickerReader = Reader<TardisDerivativeTicker>;
/// Binance `aggTrades`.
pub type BinanceAggTradesReader = Reader<BinanceAggTrades>;

fn tardis_ts_field(time: TimeField) -> &'static str {
    match time {
        TimeField::Local => "local_timestamp",
        TimeField::Exchange => "timestamp",
    }
}

fn tardis_header(line: &[u8], expected: &str) -> Result<bool, FieldError> {
    if !line.starts_with(b"exchange") {
        return Ok(false);
    }
    if line == expected.as_bytes() {
        Ok(true)
    } else {
        Err(ferr("header", format!("expected `{expected}`, found `{}`", show(line))))
    }
}

/// Leading `exchange,symbol` of a Tardis line: (key, exchange, symbol).
type InstrumentFields<'a> = (&'a [u8], &'a [u8], &'a [u8]);

#[inline]
fn tardis_instrument<'a>(f: &mut Fields<'a>, line: &'a [u8]) -> Result<InstrumentFields<'a>, FieldError> {
    let ex = f.next("exchange")?;
    let sym = f.next("symbol")?;
    Ok((&line[..(ex.len() + 1 + sym.len()).min(line.len())], ex, sym))
}

// ---------------------------------------------------------------- trades

#[doc(hidden)]
pub struct TardisTrades;
constructors!(TardisTrades, |_: &Path, _: &ReaderOptions| Ok::<_, DataError>(TardisTrades));
event_source!(TardisTrades);

const TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";

impl Format for TardisTrades {
    fn ts_field(&self, time: TimeField) -> &'static str {
        tardis_ts_field(time)
    }
    fn header(&mut self, line: &[u8]) -> Result<bool, FieldError> {
        tardis_header(line, TRADES_HEADER)
    }
    fn parse(&mut self, cx: &mut Cx, line: &[u8], _out: &mut VecDeque<MarketEvent>) -> Parsed {
        let mut f = Fields::new(line);
        let (key, ex, sym) = tardis_instrument(&mut f, line)?;
        let idx = cx.resolve(key, ex, sym)?;
        let ts = cx.tardis_ts(f.next("timestamp")?, f.next("local_timestamp")?)?;
        let id = f.next("id")?;
        let side = match f.next("side")? {
            b"buy" => Some(Side::Buy),
            b"sell" => Some(Side::Sell),
            b"unknown" | b"" => None,
            other => return Err(ferr("side", format!("`{}` is not buy, sell or unknown", show(other)))),
        };
        let price = cx.price(idx, "price", f.next("price")?)?;
        let qty = cx.qty(idx, "amount", f.next("amount")?)?;
        f.finish()?;
        if price <= 0 {
            return Err(ferr("price", "must be > 0"));
        }
        if qty <= 0 {
            return Err(ferr("amount", "must be > 0"));
        }
        cx.check_ts(ts)?;
        let mut e = Event::new(EventKind::Trade, cx.instruments[idx].id, ts);
        e.side = side;
        e.price = price;
        e.qty = qty;
        // numeric trade ids are kept; other id schemes (UUIDs, …) become 0
        e.id = parse_u64(id).unwrap_or(0);
        Ok((ts, Some(MarketEvent::Trade(e))))
    }
}

// ---------------------------------------------------------------- quotes

#[doc(hidden)]
pub struct TardisQuotes;
constructors!(TardisQuotes, |_: &Path, _: &ReaderOptions| Ok::<_, DataError>(TardisQuotes));
event_source!(TardisQuotes);

const QUOTES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount";

impl Format for TardisQuotes {
    fn ts_field(&self, time: TimeField) -> &'static str {
        tardis_ts_field(time)
    }
    fn header(&mut self, line: &[u8]) -> Result<bool, FieldError> {
        tardis_header(line, QUOTES_HEADER)
    }
    /// A line with an empty (or zero-amount) side is a valid one-sided book
    /// and yields no event; a crossed quote is an error.
    fn parse(&mut self, cx: &mut Cx, line: &[u8], _out: &mut VecDeque<MarketEvent>) -> Parsed {
        let mut f = Fields::new(line);
        let (key, ex, sym) = tardis_instrument(&mut f, line)?;
        let idx = cx.resolve(key, ex, sym)?;
        let ts = cx.tardis_ts(f.next("timestamp")?, f.next("local_timestamp")?)?;
        let fields = [f.next("ask_amount")?, f.next("ask_price")?, f.next("bid_price")?, f.next("bid_amount")?];
        f.finish()?;
        cx.check_ts(ts)?;
        if fields.iter().any(|s| s.is_empty()) {
            return Ok((ts, None));
        }
        let ask_qty = cx.qty(idx, "ask_amount", fields[0])?;
        let ask = cx.price(idx, "ask_price", fields[1])?;
        let bid = cx.price(idx, "bid_price", fields[2])?;
        let bid_qty = cx.qty(idx, "bid_amount", fields[3])?;
        if ask_qty == 0 || bid_qty == 0 {
            return Ok((ts, None));
        }
        if bid <= 0 {
            return Err(ferr("bid_price", "must be > 0"));
        }
        if ask <= bid {
            return Err(ferr("ask_price", "ask must be above bid"));
        }
        let mut e = Event::new(EventKind::Quote, cx.instruments[idx].id, ts);
        e.price = bid;
        e.qty = bid_qty;
        e.a = ask;
        e.b = ask_qty;
        Ok((ts, Some(MarketEvent::Quote(e))))
    }
}

// ---------------------------------------------------------------- book_snapshot_N

#[doc(hidden)]
pub struct TardisBookSnapshot;
constructors!(TardisBookSnapshot, |_: &Path, _: &ReaderOptions| Ok::<_, DataError>(TardisBookSnapshot));

/// Field names `asks[i].price`, `asks[i].amount`, `bids[i].price`,
/// `bids[i].amount` for levels 0..1000, built once.
fn level_names() -> &'static [[&'static str; 4]] {
    static NAMES: OnceLock<Vec<[&'static str; 4]>> = OnceLock::new();
    NAMES.get_or_init(|| {
        (0..1000)
            .map(|i| {
                [
                    &*Box::leak(format!("asks[{i}].price").into_boxed_str()),
                    &*Box::leak(format!("asks[{i}].amount").into_boxed_str()),
                    &*Box::leak(format!("bids[{i}].price").into_boxed_str()),
                    &*Box::leak(format!("bids[{i}].amount").into_boxed_str()),
                ]
            })
            .collect()
    })
}

impl Format for TardisBookSnapshot {
    fn ts_field(&self, time: TimeField) -> &'static str {
        tardis_ts_field(time)
    }
    fn header(&mut self, line: &[u8]) -> Result<bool, FieldError> {
        if !line.starts_with(b"exchange") {
            return Ok(false);
        }
        let expected_start = "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price";
        if line.starts_with(expected_start.as_bytes()) {
            Ok(true)
        } else {
            Err(ferr("header", format!("expected `{expected_start},…`, found `{}`", show(line))))
        }
    }
    /// Emits `BookSnapshotStart` then one `is_snapshot` delta per non-empty
    /// level (asks then bids, from the touch outwards). Levels must be
    /// strictly ordered; empty cells (a shallow book) are allowed.
    fn parse(&mut self, cx: &mut Cx, line: &[u8], out: &mut VecDeque<MarketEvent>) -> Parsed {
        let mut f = Fields::new(line);
        let (key, ex, sym) = tardis_instrument(&mut f, line)?;
        let idx = cx.resolve(key, ex, sym)?;
        let ts = cx.tardis_ts(f.next("timestamp")?, f.next("local_timestamp")?)?;
        let instrument = cx.instruments[idx].id;
        out.push_back(MarketEvent::BookSnapshotStart { ts_ns: ts, instrument });
        let names = level_names();
        let mut level = 0;
        let (mut last_ask, mut last_bid) = (i64::MIN, i64::MAX);
        let mut bids = Vec::new();
        while !f.done {
            let n = names.get(level).ok_or_else(|| ferr("line", "more than 1000 levels"))?;
            let cells = [f.next(n[0])?, f.next(n[1])?, f.next(n[2])?, f.next(n[3])?];
            for (k, side) in [(0, BookSide::Ask), (2, BookSide::Bid)] {
                let (p, q) = (cells[k], cells[k + 1]);
                if p.is_empty() && q.is_empty() {
                    continue;
                }
                let price = cx.price(idx, n[k], p)?;
                let qty = cx.qty(idx, n[k + 1], q)?;
                if price <= 0 {
                    return Err(ferr(n[k], "must be > 0"));
                }
                let d = BookDelta { ts_ns: ts, instrument, side, price, qty, is_snapshot: true };
                if side == BookSide::Ask {
                    if price <= last_ask {
                        return Err(ferr(n[k], "asks must be increasing"));
                    }
                    last_ask = price;
                    out.push_back(MarketEvent::BookDelta(d));
                } else {
                    if price >= last_bid {
                        return Err(ferr(n[k], "bids must be decreasing"));
                    }
                    last_bid = price;
                    bids.push(MarketEvent::BookDelta(d));
                }
            }
            level += 1;
        }
        out.extend(bids);
        cx.check_ts(ts)?;
        Ok((ts, out.pop_back()))
    }
}

// ---------------------------------------------------------------- incremental_book_L2

#[doc(hidden)]
pub struct TardisIncrementalL2 {
    /// Per instrument index: was the previous row a snapshot row?
    in_snapshot: Vec<bool>,
}
constructors!(TardisIncrementalL2, |_: &Path, _: &ReaderOptions| Ok::<_, DataError>(TardisIncrementalL2 {
    in_snapshot: Vec::new()
}));

const L2_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount";

impl Format for TardisIncrementalL2 {
    fn ts_field(&self, time: TimeField) -> &'static str {
        tardis_ts_field(time)
    }
    fn header(&mut self, line: &[u8]) -> Result<bool, FieldError> {
        tardis_header(line, L2_HEADER)
    }
    /// A run of `is_snapshot=true` rows after a `false` row (or at the start)
    /// is a new snapshot: a `BookSnapshotStart` precedes its first row.
    #[inline]
    fn parse(&mut self, cx: &mut Cx, line: &[u8], out: &mut VecDeque<MarketEvent>) -> Parsed {
        let mut f = Fields::new(line);
        let (key, ex, sym) = tardis_instrument(&mut f, line)?;
        let idx = cx.resolve(key, ex, sym)?;
        let ts = cx.tardis_ts(f.next("timestamp")?, f.next("local_timestamp")?)?;
        let is_snapshot = match f.next("is_snapshot")? {
            b"false" => false,
            b"true" => true,
            other => return Err(ferr("is_snapshot", format!("`{}` is not true or false", show(other)))),
        };
        let side = match f.next("side")? {
            b"bid" => BookSide::Bid,
            b"ask" => BookSide::Ask,
            other => return Err(ferr("side", format!("`{}` is not bid or ask", show(other)))),
        };
        let price = cx.price(idx, "price", f.next("price")?)?;
        let qty = cx.qty(idx, "amount", f.next("amount")?)?;
        f.finish()?;
        if price <= 0 {
            return Err(ferr("price", "must be > 0"));
        }
        cx.check_ts(ts)?;
        if idx >= self.in_snapshot.len() {
            self.in_snapshot.resize(idx + 1, false);
        }
        let instrument = cx.instruments[idx].id;
        if is_snapshot && !self.in_snapshot[idx] {
            out.push_back(MarketEvent::BookSnapshotStart { ts_ns: ts, instrument });
        }
        self.in_snapshot[idx] = is_snapshot;
        Ok((ts, Some(MarketEvent::BookDelta(BookDelta { ts_ns: ts, instrument, side, price, qty, is_snapshot }))))
    }
}

// ---------------------------------------------------------------- Binance aggTrades

#[doc(hidden)]
pub struct BinanceAggTrades {
    key: Vec<u8>,
}
constructors!(BinanceAggTrades, |path: &Path, opts: &ReaderOptions| binance_symbol(path, opts)
    .map(|key| BinanceAggTrades { key }));
event_source!(BinanceAggTrades);

fn binance_symbol(path: &Path, opts: &ReaderOptions) -> Result<Vec<u8>, DataError> {
    if let Some(s) = &opts.symbol {
        return Ok(s.as_bytes().to_vec());
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.split_once('-') {
        Some((sym, _)) if !sym.is_empty() => Ok(sym.as_bytes().to_vec()),
        _ => Err(DataError::Setup {
            path: path.to_path_buf(),
            problem: "no symbol: set ReaderOptions::symbol or name the file SYMBOL-aggTrades-….csv".into(),
        }),
    }
}

const AGG_HEADER: &str = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker";

fn parse_bool(s: &[u8]) -> Option<bool> {
    match s {
        b"true" | b"True" | b"TRUE" => Some(true),
        b"false" | b"False" | b"FALSE" => Some(false),
        _ => None,
    }
}

impl Format for BinanceAggTrades {
    fn ts_field(&self, _: TimeField) -> &'static str {
        "transact_time"
    }
    fn header(&mut self, line: &[u8]) -> Result<bool, FieldError> {
        if line.first().is_some_and(u8::is_ascii_digit) {
            return Ok(false);
        }
        if line.starts_with(AGG_HEADER.as_bytes()) {
            Ok(true)
        } else {
            Err(ferr("header", format!("expected `{AGG_HEADER}[,is_best_match]`, found `{}`", show(line))))
        }
    }
    fn parse(&mut self, cx: &mut Cx, line: &[u8], _out: &mut VecDeque<MarketEvent>) -> Parsed {
        let idx = cx.resolve(&self.key, b"binance", &self.key)?;
        let mut f = Fields::new(line);
        let id = parse_u64(f.next("agg_trade_id")?).map_err(|p| ferr("agg_trade_id", p))?;
        let price = cx.price(idx, "price", f.next("price")?)?;
        let qty = cx.qty(idx, "quantity", f.next("quantity")?)?;
        let first = parse_u64(f.next("first_trade_id")?).map_err(|p| ferr("first_trade_id", p))?;
        let last = parse_u64(f.next("last_trade_id")?).map_err(|p| ferr("last_trade_id", p))?;
        let t = parse_u64(f.next("transact_time")?).map_err(|p| ferr("transact_time", p))?;
        let maker = f.next("is_buyer_maker")?;
        let maker = parse_bool(maker)
            .ok_or_else(|| ferr("is_buyer_maker", format!("`{}` is not true or false", show(maker))))?;
        if !f.done {
            let m = f.next("is_best_match")?;
            parse_bool(m).ok_or_else(|| ferr("is_best_match", format!("`{}` is not true or false", show(m))))?;
        }
        f.finish()?;
        if price <= 0 {
            return Err(ferr("price", "must be > 0"));
        }
        if qty <= 0 {
            return Err(ferr("quantity", "must be > 0"));
        }
        if last < first {
            return Err(ferr("last_trade_id", "below first_trade_id"));
        }
        // ms (13 digits) until 2286; µs (16 digits) in spot files since 2025
        let ts = if t < 100_000_000_000_000 {
            t * 1_000_000
        } else if t < 100_000_000_000_000_000 {
            t * 1_000
        } else {
            return Err(ferr("transact_time", "neither milliseconds nor microseconds"));
        };
        cx.check_ts(ts)?;
        let mut e = Event::new(EventKind::Trade, cx.instruments[idx].id, ts);
        // the buyer was the maker → the seller hit the bid
        e.side = Some(if maker { Side::Sell } else { Side::Buy });
        e.price = price;
        e.qty = qty;
        e.id = id;
        Ok((ts, Some(MarketEvent::Trade(e))))
    }
}

// ---------------------------------------------------------------- derivative_ticker

#[doc(hidden)]
pub struct TardisDerivativeTicker;
constructors!(TardisDerivativeTicker, |_: &Path, _: &ReaderOptions| Ok::<_, DataError>(TardisDerivativeTicker));
event_source!(TardisDerivativeTicker);

const TICKER_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,\
                             predicted_funding_rate,open_interest,last_price,index_price,mark_price";

/// A decimal (`-0.000125`, `1.5e-5`, `43251.37`) as `(mantissa, exponent)`:
/// value = mantissa × 10^exponent.
fn parse_real(s: &[u8]) -> Result<(i128, i32), String> {
    let bad = || format!("`{}` is not a decimal number", show(s));
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (num, exp) = match body.iter().position(|&c| c == b'e' || c == b'E') {
        Some(k) => {
            let e = std::str::from_utf8(&body[k + 1..]).ok().and_then(|t| t.parse::<i32>().ok()).ok_or_else(bad)?;
            (&body[..k], e)
        }
        None => (body, 0),
    };
    let (int, frac) = match num.iter().position(|&c| c == b'.') {
        Some(k) => (&num[..k], &num[k + 1..]),
        None => (num, &num[num.len()..]),
    };
    if int.is_empty() && frac.is_empty()
        || !int.iter().chain(frac).all(u8::is_ascii_digit)
        || !(-60..=60).contains(&exp)
    {
        return Err(bad());
    }
    let mut m: i128 = 0;
    for &c in int.iter().chain(frac) {
        m = m
            .checked_mul(10)
            .and_then(|m| m.checked_add((c - b'0') as i128))
            .ok_or_else(|| format!("`{}` has too many digits", show(s)))?;
    }
    Ok((if neg { -m } else { m }, exp - frac.len() as i32))
}

/// `m × 10^e / unit` with `unit = um × 10^-us`, rounded to nearest (half
/// away from zero) when `round`, else truncated toward zero.
fn scale_to(m: i128, e: i32, um: i128, us: i32, round: bool) -> Option<i64> {
    // value / unit = m × 10^(e + us) / um
    let p = e + us;
    let (num, den) = if p >= 0 {
        (m.checked_mul(10i128.checked_pow(p as u32)?)?, um)
    } else {
        (m, um.checked_mul(10i128.checked_pow((-p) as u32)?)?)
    };
    let q = num / den;
    let r = num % den;
    let q = if round && 2 * r.abs() >= den { q + num.signum() } else { q };
    i64::try_from(q).ok()
}

impl Format for TardisDerivativeTicker {
    fn ts_field(&self, time: TimeField) -> &'static str {
        tardis_ts_field(time)
    }
    fn header(&mut self, line: &[u8]) -> Result<bool, FieldError> {
        tardis_header(line, TICKER_HEADER)
    }
    /// Empty fields are absent values. Mark and index prices are rounded to
    /// the nearest tick (exchanges compute them off the tick grid); funding
    /// rates are kept to 12 decimals (truncated toward zero). A line with no
    /// mark, index or funding rate yields no event.
    fn parse(&mut self, cx: &mut Cx, line: &[u8], _out: &mut VecDeque<MarketEvent>) -> Parsed {
        use bulkhead_abi::{FUNDING_RATE_SCALE, TICKER_FUNDING, TICKER_INDEX, TICKER_MARK, TICKER_PREDICTED};
        let mut f = Fields::new(line);
        let (key, ex, sym) = tardis_instrument(&mut f, line)?;
        let idx = cx.resolve(key, ex, sym)?;
        let ts = cx.tardis_ts(f.next("timestamp")?, f.next("local_timestamp")?)?;
        let funding_ts = f.next("funding_timestamp")?;
        let funding_ts = if funding_ts.is_empty() {
            0
        } else {
            parse_u64(funding_ts)
                .ok()
                .and_then(|t| t.checked_mul(1000))
                .ok_or_else(|| ferr("funding_timestamp", format!("`{}` is not a µs timestamp", show(funding_ts))))?
        };
        let rate = |field: &'static str, v: &[u8]| -> Result<Option<i64>, FieldError> {
            if v.is_empty() {
                return Ok(None);
            }
            let (m, e) = parse_real(v).map_err(|p| ferr(field, p))?;
            let r = scale_to(m, e, 1, FUNDING_RATE_SCALE as i32, false).ok_or_else(|| ferr(field, "out of range"))?;
            if r.unsigned_abs() > 10u64.pow(FUNDING_RATE_SCALE) {
                return Err(ferr(field, format!("`{}` is not a rate within ±1", show(v))));
            }
            Ok(Some(r))
        };
        let funding = rate("funding_rate", f.next("funding_rate")?)?;
        let predicted = rate("predicted_funding_rate", f.next("predicted_funding_rate")?)?;
        let oi = f.next("open_interest")?;
        if !oi.is_empty() {
            parse_real(oi).map_err(|p| ferr("open_interest", p))?;
        }
        let tick = cx.instruments[idx].tick_size;
        let price = |field: &'static str, v: &[u8]| -> Result<Option<i64>, FieldError> {
            if v.is_empty() {
                return Ok(None);
            }
            let (m, e) = parse_real(v).map_err(|p| ferr(field, p))?;
            let t = scale_to(m, e, tick.mantissa as i128, tick.scale as i32, true)
                .ok_or_else(|| ferr(field, "out of range"))?;
            if t <= 0 {
                return Err(ferr(field, "must be > 0"));
            }
            Ok(Some(t))
        };
        let _last = price("last_price", f.next("last_price")?)?;
        let index = price("index_price", f.next("index_price")?)?;
        let mark = price("mark_price", f.next("mark_price")?)?;
        f.finish()?;
        cx.check_ts(ts)?;
        if funding.is_none() && index.is_none() && mark.is_none() {
            return Ok((ts, None));
        }
        let mut e = Event::new(EventKind::Ticker, cx.instruments[idx].id, ts);
        e.id = funding_ts;
        let mut flags = 0;
        if let Some(m) = mark {
            e.price = m;
            flags |= TICKER_MARK;
        }
        if let Some(i) = index {
            e.a = i;
            flags |= TICKER_INDEX;
        }
        if let Some(r) = funding {
            e.qty = r;
            flags |= TICKER_FUNDING;
        }
        if let Some(r) = predicted {
            e.b = r;
            flags |= TICKER_PREDICTED;
        }
        e.flags = flags;
        Ok((ts, Some(MarketEvent::Ticker(e))))
    }
}

#[cfg(test)]
mod ticker_num_tests {
    use super::*;

    #[test]
    fn reals_scale_exactly() {
        let r = |s: &str| parse_real(s.as_bytes()).unwrap();
        assert_eq!(scale_to(r("0.0001").0, r("0.0001").1, 1, 12, false), Some(100_000_000));
        assert_eq!(scale_to(r("-1.5e-5").0, r("-1.5e-5").1, 1, 12, false), Some(-15_000_000));
        // 43251.37 on a 0.5 tick: 86502.74 ticks → 86503
        assert_eq!(scale_to(r("43251.37").0, r("43251.37").1, 5, 1, true), Some(86_503));
        assert_eq!(scale_to(r("43251.2").0, r("43251.2").1, 5, 1, true), Some(86_502));
        assert!(parse_real(b"1.2.3").is_err());
        assert!(parse_real(b"e5").is_err());
    }
}
