//! # bulkhead-data — market data in: a deterministic generator and file readers
//!
//! Owns: turning market data (synthetic or from files) into a stream of
//! fixed-layout [`bulkhead_abi::Event`] records (trades and best bid/ask
//! quotes) in integer ticks and lots, in timestamp order.
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

pub mod csv;
pub mod generator;

pub use csv::{CsvReader, DataError, write_event};
pub use generator::{Generator, GeneratorSpec};

use bulkhead_abi::Event;

/// A source of market events in timestamp order.
pub trait MarketSource {
    /// Next event, `Ok(None)` at the end.
    fn next_event(&mut self) -> Result<Option<Event>, DataError>;
    /// Total events if known up front (for progress bars).
    fn len_hint(&self) -> Option<u64>;
}
