//! # bulkhead-data — market data in: a deterministic generator and file readers
//!
//! Owns: turning market data (synthetic or from files) into a stream of
//! fixed-layout [`bulkhead_abi::Event`] records (trades, best bid/ask
//! quotes, L2 levels, derivative tickers) in integer ticks and lots, in
//! timestamp order.
//!
//! Must never: read the wall clock or any unseeded randomness (the same seed
//! gives the same events, byte for byte), load a whole file into memory, or
//! panic on a malformed line — every bad line is an error naming the file,
//! the line and the field.
//!
//! ## Bulkhead CSV (v1)
//! One event per line, comma separated, `#` starts a comment line, an optional
//! header line starting with `ts_ns` is skipped:
//! ```text
//! ts_ns,type,symbol,f1,f2,f3,f4
//! 1700000000000000000,Q,BTC-USDT-PERP,64999.9,1.25,65000.0,0.8   # bid px, bid qty, ask px, ask qty
//! 1700000000000100000,T,BTC-USDT-PERP,65000.0,0.01,buy            # price, qty, aggressor side
//! ```
//! Prices and quantities are decimal strings that must sit exactly on the
//! instrument's tick and lot grid. Timestamps must not go backwards.

//!
//! ## Third-party formats
//! [`formats`] streams Tardis-style CSV (`trades`, `quotes`, `book_snapshot_25`,
//! `incremental_book_L2`, `derivative_ticker`) and Binance `aggTrades` CSV,
//! plain or gzipped, as [`MarketEvent`]s. Book-level data goes through an
//! [`L2Book`] and comes out as top-of-book quotes via [`QuoteSource`] (with
//! [`QuoteSource::with_levels`] also as ABI `BookLevel` / `BookClear`
//! events, each message's levels before its quote: what the engine feeds
//! the venue). Derivative tickers become ABI `Ticker` events (mark, index,
//! funding rate; marks rounded to the nearest tick, rates to 1e-12).
//! [`MergedSource`] merges several
//! sources in timestamp order. [`l2gen`] generates realistic incremental L2
//! data deterministically, and [`samples`] writes the files in `examples/data/`.
//!
//! ## Columnar catalogue (Parquet)
//! [`catalogue`] stores an already-normalised event stream (what any of the
//! readers above yields, book data as levels plus quotes) as Parquet: one
//! row per [`Event`], one integer column per field, the instruments'
//! symbols and tick/lot grid in the key-value metadata. [`CatalogueWriter`]
//! writes it (`bulkhead data import --config RUN.toml --out FILE.parquet`);
//! [`CatalogueReader`] streams it back one batch of rows at a time, with no
//! decimal parsing, refusing a file whose instruments are not the run's, and
//! bounding what a hostile file can make it allocate. Same rules as the CSV
//! readers: never the whole file in memory, no wall clock, a bad row is an
//! error naming the file, the row and the field.

pub mod book;
pub mod catalogue;
pub mod csv;
pub mod formats;
pub mod generator;
mod input;
pub mod l2gen;
pub mod merge;
mod num;
pub mod samples;
pub mod writers;

#[cfg(test)]
mod tests;

pub use book::{BookSide, L2Book, Level, QuoteSource};
pub use catalogue::{CatalogueInfo, CatalogueReader, CatalogueWriter};
pub use csv::{CsvReader, DataError, write_event};
pub use formats::{
    BinanceAggTradesReader, ReaderOptions, TardisBookSnapshotReader, TardisDerivativeTickerReader,
    TardisIncrementalL2Reader, TardisQuotesReader, TardisTradesReader, TimeField,
};
pub use generator::{Generator, GeneratorSpec};
pub use l2gen::{L2Generator, L2GeneratorSpec};
pub use merge::MergedSource;

use bulkhead_abi::Event;

/// One change to an L2 order book level, in ticks and lots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookDelta {
    pub ts_ns: u64,
    pub instrument: u32,
    pub side: BookSide,
    pub price: i64,
    /// New total quantity at the level; 0 removes the level.
    pub qty: i64,
    /// Part of a snapshot (the book was cleared by a preceding
    /// [`MarketEvent::BookSnapshotStart`]).
    pub is_snapshot: bool,
}

/// A host-side market event: the ABI's trades and quotes plus book-level data
/// that never crosses the sandbox boundary (strategies see top-of-book quotes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarketEvent {
    /// `EventKind::Trade` record.
    Trade(Event),
    /// `EventKind::Quote` record (best bid/ask).
    Quote(Event),
    /// Set or remove one level.
    BookDelta(BookDelta),
    /// A snapshot follows: clear the instrument's book before applying the
    /// snapshot's (`is_snapshot = true`) deltas.
    BookSnapshotStart { ts_ns: u64, instrument: u32 },
    /// `EventKind::Ticker` record (mark, index, funding rate).
    Ticker(Event),
}

impl MarketEvent {
    pub fn ts_ns(&self) -> u64 {
        match self {
            MarketEvent::Trade(e) | MarketEvent::Quote(e) | MarketEvent::Ticker(e) => e.ts_ns,
            MarketEvent::BookDelta(d) => d.ts_ns,
            MarketEvent::BookSnapshotStart { ts_ns, .. } => *ts_ns,
        }
    }
    pub fn instrument(&self) -> u32 {
        match self {
            MarketEvent::Trade(e) | MarketEvent::Quote(e) | MarketEvent::Ticker(e) => e.instrument,
            MarketEvent::BookDelta(d) => d.instrument,
            MarketEvent::BookSnapshotStart { instrument, .. } => *instrument,
        }
    }
}

/// A source of [`MarketEvent`]s in timestamp order (file readers).
pub trait MarketEventSource {
    /// Next event, `Ok(None)` at the end.
    fn next_market_event(&mut self) -> Result<Option<MarketEvent>, DataError>;
    /// Malformed lines skipped so far (only with `skip_bad_lines`).
    fn bad_lines(&self) -> u64 {
        0
    }
}

impl<T: MarketEventSource + ?Sized> MarketEventSource for Box<T> {
    fn next_market_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        (**self).next_market_event()
    }
    fn bad_lines(&self) -> u64 {
        (**self).bad_lines()
    }
}

impl<T: MarketSource + ?Sized> MarketSource for Box<T> {
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        (**self).next_event()
    }
    fn len_hint(&self) -> Option<u64> {
        (**self).len_hint()
    }
}

/// A source of market events in timestamp order.
pub trait MarketSource {
    /// Next event, `Ok(None)` at the end.
    fn next_event(&mut self) -> Result<Option<Event>, DataError>;
    /// Total events if known up front (for progress bars).
    fn len_hint(&self) -> Option<u64>;
}
