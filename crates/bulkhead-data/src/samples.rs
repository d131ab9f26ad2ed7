//! The sample files shipped in `examples/data/`, generated deterministically
//! (`cargo run -p bulkhead-data --example regen_samples`; a test checks the
//! shipped files are current).
//!
//! All are BTC-USDT perpetual data (tick 0.1, lot 0.001, prices near 65000)
//! under the file symbol `BTCUSDT` on exchange `binance-futures`; read them
//! with [`sample_options`] (which maps `BTCUSDT` → `BTC-USDT-PERP`).

use crate::writers::{self, BinanceStyle, BinanceWriter, TardisWriter};
use crate::{Generator, GeneratorSpec, L2Book, L2Generator, L2GeneratorSpec, MarketEvent, ReaderOptions};
use bulkhead_abi::{Event, EventKind};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const TARDIS_TRADES: &str = "tardis_trades_BTCUSDT.csv";
pub const TARDIS_QUOTES: &str = "tardis_quotes_BTCUSDT.csv";
pub const TARDIS_BOOK_SNAPSHOT_25: &str = "tardis_book_snapshot_25_BTCUSDT.csv";
pub const TARDIS_INCREMENTAL_L2: &str = "tardis_incremental_book_L2_BTCUSDT.csv";
pub const TARDIS_INCREMENTAL_L2_GZ: &str = "tardis_incremental_book_L2_BTCUSDT.csv.gz";
pub const TARDIS_DERIVATIVE_TICKER: &str = "tardis_derivative_ticker_BTCUSDT.csv";
pub const BINANCE_AGG_TRADES: &str = "BTCUSDT-aggTrades-2024-01-01.csv";
pub const BINANCE_AGG_TRADES_NO_HEADER: &str = "BTCUSDT-aggTrades-spot-2024-01-01.csv";

pub const EXCHANGE: &str = "binance-futures";
pub const FILE_SYMBOL: &str = "BTCUSDT";
/// `timestamp` is this many µs before `local_timestamp` in the Tardis samples.
pub const LATENCY_US: u64 = 1_500;
/// First trade id in the trade samples.
pub const FIRST_TRADE_ID: u64 = 4_000_000_000;

/// The samples' instrument: `BTC-USDT-PERP`, id 0, tick 0.1, lot 0.001.
pub fn sample_instrument() -> Instrument {
    Instrument::from_spec(
        0,
        &InstrumentSpec {
            symbol: "BTC-USDT-PERP".into(),
            kind: InstrumentKind::Perpetual,
            tick_size: "0.1".into(),
            lot_size: "0.001".into(),
            multiplier: "1".into(),
            ..Default::default()
        },
    )
    .expect("valid instrument")
}

/// Reader options for the samples: `BTCUSDT` → `BTC-USDT-PERP`.
pub fn sample_options() -> ReaderOptions {
    ReaderOptions::default().map_symbol(FILE_SYMBOL, "BTC-USDT-PERP")
}

/// Trades and quotes behind the Tardis trades/quotes samples.
pub fn sample_trades_and_quotes() -> (Vec<Event>, Vec<Event>) {
    let mut trades = Vec::new();
    let mut quotes = Vec::new();
    for e in Generator::new(GeneratorSpec { seed: 11, events: 550, mean_gap_ns: 20_000_000, ..Default::default() }) {
        if e.kind == EventKind::Trade {
            let mut e = e;
            e.id = FIRST_TRADE_ID + trades.len() as u64;
            trades.push(e);
        } else {
            quotes.push(e);
        }
    }
    (trades, quotes)
}

/// Trades behind the Binance samples.
pub fn sample_binance_trades() -> Vec<Event> {
    let spec = GeneratorSpec { seed: 12, events: 600, mean_gap_ns: 20_000_000, ..Default::default() };
    Generator::new(spec)
        .filter(|e| e.kind == EventKind::Trade)
        .enumerate()
        .map(|(i, mut e)| {
            e.id = FIRST_TRADE_ID + i as u64;
            e
        })
        .collect()
}

/// Spec of the incremental L2 sample (two snapshots and 300 updates).
pub fn sample_l2_spec() -> L2GeneratorSpec {
    L2GeneratorSpec { seed: 13, updates: 300, depth: 20, snapshot_every: 160, ..Default::default() }
}

/// Books behind the `book_snapshot_25` sample: (event time, book) pairs.
pub fn sample_book_snapshots() -> Vec<(u64, L2Book)> {
    let spec = L2GeneratorSpec { seed: 14, updates: 2_000, depth: 30, ..Default::default() };
    let mut book = L2Book::new();
    let mut out = Vec::new();
    let mut n = 0;
    for e in L2Generator::new(spec) {
        book.apply(&e);
        if let MarketEvent::BookDelta(d) = e
            && !d.is_snapshot
        {
            n += 1;
            if n % 20 == 0 {
                out.push((d.ts_ns, book.clone()));
            }
        }
    }
    out
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    enc.finish()
}

/// `Ticker` events behind the derivative_ticker sample: one a second for
/// 20 s from the trade samples' start, mark and index near 65000, funding
/// rate stepping from 0.0001 down by 0.000003 a second (last: 0.000043),
/// predicted rate 0.000001 below it, the next 8-hourly funding time; the
/// sixth row has no index price.
pub fn sample_tickers() -> Vec<Event> {
    use bulkhead_abi::{TICKER_FUNDING, TICKER_INDEX, TICKER_MARK, TICKER_PREDICTED};
    let start = GeneratorSpec::default().start_ts_ns;
    let funding_ts = (start / 28_800_000_000_000 + 1) * 28_800_000_000_000;
    (0..20i64)
        .map(|k| {
            let mut e = Event::new(EventKind::Ticker, 0, start + k as u64 * 1_000_000_000);
            e.price = 650_000 + 3 * k; // mark, ticks of 0.1
            e.a = 649_990 + 2 * k; // index
            e.qty = 100_000_000 - 3_000_000 * k; // 0.0001 − k × 0.000003, in 1e-12
            e.b = e.qty - 1_000_000;
            e.id = funding_ts;
            e.flags = TICKER_MARK | TICKER_INDEX | TICKER_FUNDING | TICKER_PREDICTED;
            if k == 5 {
                // a row without an index price (seen on some venues)
                e.a = 0;
                e.flags &= !TICKER_INDEX;
            }
            e
        })
        .collect()
}

/// The sample files as (file name, bytes).
pub fn sample_files() -> io::Result<Vec<(&'static str, Vec<u8>)>> {
    let inst = sample_instrument();
    let mut tw = TardisWriter::new(EXCHANGE, FILE_SYMBOL, &inst, LATENCY_US);
    let (trades, quotes) = sample_trades_and_quotes();

    let mut t = format!("{}\n", writers::TARDIS_TRADES_HEADER).into_bytes();
    for e in &trades {
        tw.trade(&mut t, e)?;
    }
    let mut q = format!("{}\n", writers::TARDIS_QUOTES_HEADER).into_bytes();
    for e in &quotes {
        tw.quote(&mut q, e)?;
    }
    let mut l2 = format!("{}\n", writers::TARDIS_L2_HEADER).into_bytes();
    for e in L2Generator::new(sample_l2_spec()) {
        if let MarketEvent::BookDelta(d) = e {
            tw.l2_delta(&mut l2, &d)?;
        }
    }
    let mut snap = format!("{}\n", writers::tardis_book_snapshot_header(25)).into_bytes();
    for (ts, book) in sample_book_snapshots() {
        tw.book_snapshot(&mut snap, ts, &book, 25)?;
    }
    let bt = sample_binance_trades();
    let mut fut = Vec::new();
    let mut bw = BinanceWriter::new(&inst, BinanceStyle::Futures);
    bw.header(&mut fut)?;
    for e in &bt {
        bw.trade(&mut fut, e)?;
    }
    let mut spot = Vec::new();
    let mut bw = BinanceWriter::new(&inst, BinanceStyle::Spot);
    for e in &bt {
        bw.trade(&mut spot, e)?;
    }
    let l2gz = gzip(&l2)?;
    let mut tick = format!("{}\n", writers::TARDIS_DERIVATIVE_TICKER_HEADER).into_bytes();
    for e in sample_tickers() {
        tw.derivative_ticker(&mut tick, &e)?;
    }
    Ok(vec![
        (TARDIS_TRADES, t),
        (TARDIS_QUOTES, q),
        (TARDIS_BOOK_SNAPSHOT_25, snap),
        (TARDIS_INCREMENTAL_L2, l2),
        (TARDIS_INCREMENTAL_L2_GZ, l2gz),
        (TARDIS_DERIVATIVE_TICKER, tick),
        (BINANCE_AGG_TRADES, fut),
        (BINANCE_AGG_TRADES_NO_HEADER, spot),
    ])
}

/// Write every sample file into `dir`.
pub fn write_samples(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut paths = Vec::new();
    for (name, bytes) in sample_files()? {
        let p = dir.join(name);
        std::fs::write(&p, bytes)?;
        paths.push(p);
    }
    Ok(paths)
}

/// `examples/data/` of this workspace.
pub fn examples_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data")
}
