//! Reader tests against the shipped sample files and malformed inputs.

use crate::samples::{self, sample_instrument, sample_options};
use crate::writers::{self, BinanceStyle, BinanceWriter, TardisWriter};
use crate::*;
use bulkhead_abi::{Event, EventKind, Side};
use std::io::Read;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    samples::examples_data_dir().join(name)
}

fn insts() -> Vec<bulkhead_model::Instrument> {
    vec![sample_instrument()]
}

fn drain(mut s: impl MarketEventSource) -> Result<Vec<MarketEvent>, DataError> {
    let mut v = Vec::new();
    while let Some(e) = s.next_market_event()? {
        v.push(e);
    }
    Ok(v)
}

fn events(v: &[MarketEvent]) -> Vec<Event> {
    v.iter()
        .map(|e| match e {
            MarketEvent::Trade(e) | MarketEvent::Quote(e) => *e,
            other => panic!("not a trade/quote: {other:?}"),
        })
        .collect()
}

fn trunc(mut e: Event, unit_ns: u64) -> Event {
    e.ts_ns = e.ts_ns / unit_ns * unit_ns;
    e
}

#[test]
fn sample_files_are_up_to_date() {
    let regen = std::env::var_os("BULKHEAD_REGEN_SAMPLES").is_some();
    if regen {
        samples::write_samples(&samples::examples_data_dir()).unwrap();
    }
    let mut total = 0;
    for (name, want) in samples::sample_files().unwrap() {
        let have = std::fs::read(data(name)).unwrap_or_else(|e| {
            panic!("{name}: {e} (regenerate: BULKHEAD_REGEN_SAMPLES=1 cargo test -p bulkhead-data)")
        });
        total += have.len();
        if name.ends_with(".gz") {
            // compare content: compressed bytes may differ across flate2 versions
            let unzip = |b: &[u8]| {
                let mut s = Vec::new();
                flate2::read::MultiGzDecoder::new(b).read_to_end(&mut s).unwrap();
                s
            };
            assert_eq!(unzip(&have), unzip(&want), "{name} is stale: BULKHEAD_REGEN_SAMPLES=1 cargo test");
        } else {
            assert!(have == want, "{name} is stale: BULKHEAD_REGEN_SAMPLES=1 cargo test -p bulkhead-data");
        }
    }
    assert!(total < 200_000, "samples too big: {total} bytes");
}

#[test]
fn tardis_trades_sample_round_trips() {
    let path = data(samples::TARDIS_TRADES);
    let got = events(&drain(TardisTradesReader::open(&path, &insts(), &sample_options()).unwrap()).unwrap());
    let (trades, _) = samples::sample_trades_and_quotes();
    assert!(got.len() > 200, "{}", got.len());
    assert_eq!(got.len(), trades.len());
    assert_eq!(got[0], trunc(trades[0], 1000));
    assert_eq!(got.last(), trades.last().map(|e| trunc(*e, 1000)).as_ref());
    assert_eq!(got[0].id, samples::FIRST_TRADE_ID);
    assert_eq!(got[0].kind, EventKind::Trade);
    assert!(got.iter().all(|e| e.price > 640_000 && e.price < 660_000));
    // write back → same bytes
    let mut w = TardisWriter::new(samples::EXCHANGE, samples::FILE_SYMBOL, &sample_instrument(), samples::LATENCY_US);
    let mut out = format!("{}\n", writers::TARDIS_TRADES_HEADER).into_bytes();
    for e in &got {
        w.trade(&mut out, e).unwrap();
    }
    assert!(out == std::fs::read(&path).unwrap());
    // also usable directly as a MarketSource
    let mut r = TardisTradesReader::open(&path, &insts(), &sample_options()).unwrap();
    assert_eq!(MarketSource::next_event(&mut r).unwrap(), Some(got[0]));
}

#[test]
fn tardis_exchange_time_option() {
    let path = data(samples::TARDIS_TRADES);
    let opts = ReaderOptions { time: TimeField::Exchange, ..sample_options() };
    let got = events(&drain(TardisTradesReader::open(&path, &insts(), &opts).unwrap()).unwrap());
    let (trades, _) = samples::sample_trades_and_quotes();
    assert_eq!(got[0].ts_ns, trades[0].ts_ns / 1000 * 1000 - samples::LATENCY_US * 1000);
}

#[test]
fn tardis_quotes_sample_round_trips() {
    let path = data(samples::TARDIS_QUOTES);
    let got = events(&drain(TardisQuotesReader::open(&path, &insts(), &sample_options()).unwrap()).unwrap());
    let (_, quotes) = samples::sample_trades_and_quotes();
    assert!(got.len() > 300);
    let want: Vec<Event> = quotes.iter().map(|e| trunc(*e, 1000)).collect();
    assert_eq!(got, want);
    let mut w = TardisWriter::new(samples::EXCHANGE, samples::FILE_SYMBOL, &sample_instrument(), samples::LATENCY_US);
    let mut out = format!("{}\n", writers::TARDIS_QUOTES_HEADER).into_bytes();
    for e in &got {
        w.quote(&mut out, e).unwrap();
    }
    assert!(out == std::fs::read(&path).unwrap());
}

#[test]
fn tardis_derivative_ticker_sample_round_trips_plain_and_gz() {
    let path = data(samples::TARDIS_DERIVATIVE_TICKER);
    let got: Vec<Event> = drain(TardisDerivativeTickerReader::open(&path, &insts(), &sample_options()).unwrap())
        .unwrap()
        .into_iter()
        .map(|e| match e {
            MarketEvent::Ticker(e) => e,
            other => panic!("not a ticker: {other:?}"),
        })
        .collect();
    assert_eq!(got, samples::sample_tickers());
    // hand-checked: first row 0.0001 = 10^8 × 1e-12, mark 65000.0, index 64999.0
    assert_eq!((got[0].qty, got[0].price, got[0].a), (100_000_000, 650_000, 649_990));
    assert_eq!(got[5].flags & bulkhead_abi::TICKER_INDEX, 0);
    let mut w = TardisWriter::new(samples::EXCHANGE, samples::FILE_SYMBOL, &sample_instrument(), samples::LATENCY_US);
    let mut out = format!("{}\n", writers::TARDIS_DERIVATIVE_TICKER_HEADER).into_bytes();
    for e in &got {
        w.derivative_ticker(&mut out, e).unwrap();
    }
    assert!(out == std::fs::read(&path).unwrap());
    // gzipped: the same events
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("t.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &out).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let again = drain(TardisDerivativeTickerReader::open(&gz, &insts(), &sample_options()).unwrap()).unwrap();
    assert_eq!(again.len(), got.len());
    // as a MarketSource (what the engine reads)
    let mut r = TardisDerivativeTickerReader::open(&path, &insts(), &sample_options()).unwrap();
    let mut n = 0;
    while let Some(e) = MarketSource::next_event(&mut r).unwrap() {
        assert_eq!(e.kind, EventKind::Ticker);
        n += 1;
    }
    assert_eq!(n, 20);
}

#[test]
fn quote_source_with_levels_emits_levels_then_the_batch_quote() {
    // two levels at t=1 (one message), a snapshot at t=2
    let evs = vec![
        MarketEvent::BookDelta(BookDelta {
            ts_ns: 1,
            instrument: 0,
            side: BookSide::Bid,
            price: 100,
            qty: 5,
            is_snapshot: false,
        }),
        MarketEvent::BookDelta(BookDelta {
            ts_ns: 1,
            instrument: 0,
            side: BookSide::Ask,
            price: 101,
            qty: 7,
            is_snapshot: false,
        }),
        MarketEvent::BookSnapshotStart { ts_ns: 2, instrument: 0 },
        MarketEvent::BookDelta(BookDelta {
            ts_ns: 2,
            instrument: 0,
            side: BookSide::Bid,
            price: 99,
            qty: 3,
            is_snapshot: true,
        }),
        MarketEvent::BookDelta(BookDelta {
            ts_ns: 2,
            instrument: 0,
            side: BookSide::Ask,
            price: 101,
            qty: 7,
            is_snapshot: true,
        }),
    ];
    struct V(std::vec::IntoIter<MarketEvent>);
    impl MarketEventSource for V {
        fn next_market_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
            Ok(self.0.next())
        }
    }
    let mut q = QuoteSource::with_levels(V(evs.into_iter()));
    let mut got = Vec::new();
    while let Some(e) = q.next_quote_or_trade().unwrap() {
        got.push((e.kind, e.ts_ns, e.side, e.price, e.qty, e.a, e.b, e.flags));
    }
    use EventKind::*;
    let b = Some(Side::Buy);
    let s = Some(Side::Sell);
    let f = bulkhead_abi::EVENT_FLAG_SNAPSHOT;
    assert_eq!(
        got,
        vec![
            (BookLevel, 1, b, 100, 5, 0, 0, 0),
            (BookLevel, 1, s, 101, 7, 0, 0, 0),
            (Quote, 1, None, 100, 5, 101, 7, 0),
            (BookClear, 2, None, 0, 0, 0, 0, 0),
            (BookLevel, 2, b, 99, 3, 0, 0, f),
            (BookLevel, 2, s, 101, 7, 0, 0, f),
            (Quote, 2, None, 99, 3, 101, 7, 0),
        ]
    );
}

#[test]
fn tardis_incremental_l2_sample_round_trips_plain_and_gz() {
    let plain = drain(
        TardisIncrementalL2Reader::open(&data(samples::TARDIS_INCREMENTAL_L2), &insts(), &sample_options()).unwrap(),
    )
    .unwrap();
    let gz = drain(
        TardisIncrementalL2Reader::open(&data(samples::TARDIS_INCREMENTAL_L2_GZ), &insts(), &sample_options()).unwrap(),
    )
    .unwrap();
    assert_eq!(plain, gz);
    // gzip is also recognised by magic bytes alone
    let bytes = std::fs::read(data(samples::TARDIS_INCREMENTAL_L2_GZ)).unwrap();
    let r = TardisIncrementalL2Reader::from_reader(
        Path::new("mem"),
        std::io::Cursor::new(bytes),
        &insts(),
        &sample_options(),
    )
    .unwrap();
    assert_eq!(drain(r).unwrap(), plain);
    // exactly the generator's events (which are µs-aligned)
    let want: Vec<MarketEvent> = L2Generator::new(samples::sample_l2_spec()).collect();
    assert_eq!(plain, want);
    let starts = plain.iter().filter(|e| matches!(e, MarketEvent::BookSnapshotStart { .. })).count();
    assert_eq!(starts, 2);
    assert!(matches!(plain[0], MarketEvent::BookSnapshotStart { instrument: 0, .. }));
    let updates = plain.iter().filter(|e| matches!(e, MarketEvent::BookDelta(d) if !d.is_snapshot)).count();
    assert_eq!(updates as u64, samples::sample_l2_spec().updates);
    // write back → same bytes
    let mut w = TardisWriter::new(samples::EXCHANGE, samples::FILE_SYMBOL, &sample_instrument(), samples::LATENCY_US);
    let mut out = format!("{}\n", writers::TARDIS_L2_HEADER).into_bytes();
    for e in &plain {
        if let MarketEvent::BookDelta(d) = e {
            w.l2_delta(&mut out, d).unwrap();
        }
    }
    assert!(out == std::fs::read(data(samples::TARDIS_INCREMENTAL_L2)).unwrap());
}

#[test]
fn l2_sample_through_quote_source_matches_book() {
    let r =
        TardisIncrementalL2Reader::open(&data(samples::TARDIS_INCREMENTAL_L2), &insts(), &sample_options()).unwrap();
    let mut q = QuoteSource::new(r);
    let mut quotes = Vec::new();
    while let Some(e) = q.next_event().unwrap() {
        assert_eq!(e.kind, EventKind::Quote);
        assert!(e.a > e.price && e.qty > 0 && e.b > 0);
        quotes.push(e);
    }
    assert!(quotes.len() > 50, "{}", quotes.len());
    assert!(
        quotes.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns
            && (w[0].price, w[0].qty, w[0].a, w[0].b) != (w[1].price, w[1].qty, w[1].a, w[1].b))
    );
    let mut g = L2Generator::new(samples::sample_l2_spec());
    g.by_ref().for_each(drop);
    let last = quotes.last().unwrap();
    let book = q.book(0).unwrap();
    assert_eq!((last.price, last.qty), (book.best_bid().unwrap().price, book.best_bid().unwrap().qty));
    assert_eq!(book.best_ask(), g.book().best_ask());
    assert_eq!(book.levels(BookSide::Bid).collect::<Vec<_>>(), g.book().levels(BookSide::Bid).collect::<Vec<_>>());
}

#[test]
fn tardis_book_snapshot_sample_round_trips() {
    let path = data(samples::TARDIS_BOOK_SNAPSHOT_25);
    let got = drain(TardisBookSnapshotReader::open(&path, &insts(), &sample_options()).unwrap()).unwrap();
    let want = samples::sample_book_snapshots();
    assert_eq!(want.len(), 100);
    // rebuild each snapshot's book and compare with the source's top 25 levels
    let mut books: Vec<(u64, L2Book)> = Vec::new();
    for e in &got {
        match e {
            MarketEvent::BookSnapshotStart { ts_ns, .. } => books.push((*ts_ns, L2Book::new())),
            MarketEvent::BookDelta(d) => {
                assert!(d.is_snapshot);
                books.last_mut().unwrap().1.apply_delta(d);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(books.len(), want.len());
    for ((ts, b), (wts, wb)) in books.iter().zip(&want) {
        assert_eq!(*ts, wts / 1000 * 1000);
        for side in [BookSide::Bid, BookSide::Ask] {
            assert_eq!(b.depth(side), wb.depth(side).min(25));
            assert_eq!(b.levels(side).collect::<Vec<_>>(), wb.levels(side).take(25).collect::<Vec<_>>());
        }
    }
    let mut w = TardisWriter::new(samples::EXCHANGE, samples::FILE_SYMBOL, &sample_instrument(), samples::LATENCY_US);
    let mut out = format!("{}\n", writers::tardis_book_snapshot_header(25)).into_bytes();
    for (ts, b) in &books {
        w.book_snapshot(&mut out, *ts, b, 25).unwrap();
    }
    assert!(out == std::fs::read(&path).unwrap());
    // as quotes: one per snapshot whose top changed
    let mut q = QuoteSource::new(TardisBookSnapshotReader::open(&path, &insts(), &sample_options()).unwrap());
    let first = q.next_event().unwrap().unwrap();
    let (b0, a0) = (want[0].1.best_bid().unwrap(), want[0].1.best_ask().unwrap());
    assert_eq!((first.price, first.qty, first.a, first.b), (b0.price, b0.qty, a0.price, a0.qty));
}

#[test]
fn binance_samples_round_trip_with_and_without_header() {
    let want = samples::sample_binance_trades();
    assert!(want.len() > 200);
    let opts = sample_options();
    for (name, style, unit) in [
        (samples::BINANCE_AGG_TRADES, BinanceStyle::Futures, 1_000_000),
        (samples::BINANCE_AGG_TRADES_NO_HEADER, BinanceStyle::Spot, 1_000),
    ] {
        let path = data(name);
        let got = events(&drain(BinanceAggTradesReader::open(&path, &insts(), &opts).unwrap()).unwrap());
        let w: Vec<Event> = want.iter().map(|e| trunc(*e, unit)).collect();
        assert_eq!(got, w, "{name}");
        assert!(got.iter().any(|e| e.side == Some(Side::Sell)) && got.iter().any(|e| e.side == Some(Side::Buy)));
        let mut bw = BinanceWriter::new(&sample_instrument(), style);
        let mut out = Vec::new();
        bw.header(&mut out).unwrap();
        for e in &got {
            bw.trade(&mut out, e).unwrap();
        }
        assert!(out == std::fs::read(&path).unwrap(), "{name}");
    }
    // explicit symbol instead of the file name
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trades.csv");
    std::fs::copy(data(samples::BINANCE_AGG_TRADES), &p).unwrap();
    assert!(matches!(BinanceAggTradesReader::open(&p, &insts(), &opts), Err(DataError::Setup { .. })));
    let o = ReaderOptions { symbol: Some("BTCUSDT".into()), ..sample_options() };
    assert_eq!(drain(BinanceAggTradesReader::open(&p, &insts(), &o).unwrap()).unwrap().len(), want.len());
}

/// (format, header, good line, bad line, expected field)
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
fn malformed_cases() -> Vec<(&'static str, &'static str, &'static str, &'static str, &'static str)> {
    let th = writers::TARDIS_TRADES_HEADER;
    let qh = writers::TARDIS_QUOTES_HEADER;
    let lh = writers::TARDIS_L2_HEADER;
    let bh = writers::BINANCE_AGG_TRADES_HEADER;
    let dh = writers::TARDIS_DERIVATIVE_TICKER_HEADER;
    let sh = "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,asks[1].price,asks[1].amount,bids[1].price,bids[1].amount";
    vec![
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,BTCUSDT,10,20,1,buy,65000.15,0.001", "price"),
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,BTCUSDT,10,20,1,buy,65000.1,0.0015", "amount"),
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,BTCUSDT,10,20,1,up,65000.1,0.001", "side"),
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,ETHUSDT,10,20,1,buy,65000.1,0.001", "symbol"),
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,BTCUSDT,1o,20,1,buy,65000.1,0.001", "timestamp"),
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,BTCUSDT,10,19,1,buy,65000.1,0.001", "local_timestamp"),
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,BTCUSDT,10,20,1,buy,65000.1", "amount"),
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,BTCUSDT,10,20,1,buy,65000.1,0.001,9", "line"),
        ("trades", th, "x,BTCUSDT,10,20,1,buy,65000.1,0.001", "x,BTCUSDT,10,20,1,buy,0,0.001", "price"),
        ("quotes", qh, "x,BTCUSDT,10,20,1,65000.2,65000.1,2", "x,BTCUSDT,10,20,1,65000.1,65000.1,2", "ask_price"),
        ("quotes", qh, "x,BTCUSDT,10,20,1,65000.2,65000.1,2", "x,BTCUSDT,10,20,1,65000.2,65000.1,2x", "bid_amount"),
        ("l2", lh, "x,BTCUSDT,10,20,true,bid,65000.1,2", "x,BTCUSDT,10,20,maybe,bid,65000.1,2", "is_snapshot"),
        ("l2", lh, "x,BTCUSDT,10,20,true,bid,65000.1,2", "x,BTCUSDT,10,20,false,buy,65000.1,2", "side"),
        ("l2", lh, "x,BTCUSDT,10,20,true,bid,65000.1,2", "x,BTCUSDT,10,20,false,bid,65000.12,2", "price"),
        ("l2", lh, "x,BTCUSDT,10,20,true,bid,65000.1,2", "x,BTCUSDT,10,20,false,bid,65000.1,", "amount"),
        (
            "snap",
            sh,
            "x,BTCUSDT,10,20,65000.2,1,65000.1,1,65000.3,1,65000,1",
            "x,BTCUSDT,10,20,65000.2,1,65000.1,1,65000.3,1,65000.05,1",
            "bids[1].price",
        ),
        (
            "snap",
            sh,
            "x,BTCUSDT,10,20,65000.2,1,65000.1,1,65000.3,1,65000,1",
            "x,BTCUSDT,10,20,65000.2,1,65000.1,1,65000.1,1,65000,1",
            "asks[1].price",
        ),
        (
            "snap",
            sh,
            "x,BTCUSDT,10,20,65000.2,1,65000.1,1,65000.3,1,65000,1",
            "x,BTCUSDT,10,20,65000.2,1,65000.1,1,65000.3",
            "asks[1].amount",
        ),
        (
            "binance",
            bh,
            "1,65000.1,0.001,1,1,1700000000000,true",
            "2,65000.1,0.001,1,1,1700000000000,yes",
            "is_buyer_maker",
        ),
        (
            "binance",
            bh,
            "1,65000.1,0.001,1,1,1700000000000,true",
            "2,65000.1,0.0001,1,1,1700000000000,true",
            "quantity",
        ),
        (
            "binance",
            bh,
            "1,65000.1,0.001,1,1,1700000000000,true",
            "2,65000.1,0.001,1,1,1699999999999,true",
            "transact_time",
        ),
        (
            "binance",
            "",
            "1,65000.1,0.001,1,1,1700000000000,true",
            "x,65000.1,0.001,1,1,1700000000000,true",
            "agg_trade_id",
        ),
        (
            "binance",
            "",
            "1,65000.1,0.001,1,1,1700000000000,true,True",
            "2,65000.1,0.001,1,1,1700000000000,true,Maybe",
            "is_best_match",
        ),
        (
            "ticker",
            dh,
            "x,BTCUSDT,10,20,28800000000,0.0001,,,,65000.1,65000.2",
            "x,BTCUSDT,10,20,28800000000,0.0001,,,,65000.1,abc",
            "mark_price",
        ),
        (
            "ticker",
            dh,
            "x,BTCUSDT,10,20,28800000000,0.0001,,,,65000.1,65000.2",
            "x,BTCUSDT,10,20,28800000000,1.5,,,,65000.1,65000.2",
            "funding_rate",
        ),
        (
            "ticker",
            dh,
            "x,BTCUSDT,10,20,28800000000,0.0001,,,,65000.1,65000.2",
            "x,BTCUSDT,10,20,soon,0.0001,,,,65000.1,65000.2",
            "funding_timestamp",
        ),
        (
            "ticker",
            dh,
            "x,BTCUSDT,10,20,28800000000,0.0001,,,,65000.1,65000.2",
            "x,BTCUSDT,10,20,28800000000,0.0001,,,,-1,65000.2",
            "index_price",
        ),
    ]
}

fn open_any(fmt: &str, path: &Path, opts: &ReaderOptions) -> Box<dyn MarketEventSource> {
    let i = insts();
    match fmt {
        "trades" => Box::new(TardisTradesReader::open(path, &i, opts).unwrap()),
        "quotes" => Box::new(TardisQuotesReader::open(path, &i, opts).unwrap()),
        "l2" => Box::new(TardisIncrementalL2Reader::open(path, &i, opts).unwrap()),
        "snap" => Box::new(TardisBookSnapshotReader::open(path, &i, opts).unwrap()),
        "binance" => Box::new(BinanceAggTradesReader::open(path, &i, opts).unwrap()),
        "ticker" => Box::new(TardisDerivativeTickerReader::open(path, &i, opts).unwrap()),
        _ => unreachable!(),
    }
}

#[test]
fn malformed_lines_name_file_line_and_field_or_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    for (fmt, header, good, bad, field) in malformed_cases() {
        let path = dir.path().join("BTCUSDT-bad.csv");
        let h = if header.is_empty() { String::new() } else { format!("{header}\n") };
        // header, good, (blank), bad, good
        std::fs::write(&path, format!("{h}{good}\n\n{bad}\n{good}\n")).unwrap();
        let bad_line = if header.is_empty() { 3 } else { 4 };
        let err = drain(open_any(fmt, &path, &sample_options())).unwrap_err();
        match &err {
            DataError::Line { line, field: f, .. } => {
                assert_eq!((*line, *f), (bad_line, field), "{fmt}: {bad}: {err}")
            }
            other => panic!("{fmt}: {bad}: unexpected {other}"),
        }
        assert!(err.to_string().starts_with(&format!("{}:{bad_line}: field `{field}`", path.display())), "{err}");
        // skipped and counted
        let opts = ReaderOptions { skip_bad_lines: true, ..sample_options() };
        let mut r = open_any(fmt, &path, &opts);
        let mut n = 0;
        while r.next_market_event().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(r.bad_lines(), 1, "{fmt}: {bad}");
        assert!(n >= 2, "{fmt}: both good lines read");
    }
}

#[test]
fn wrong_header_is_an_error_even_when_skipping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, format!("{}\nx,BTCUSDT,1,2,1,buy,1,1\n", writers::TARDIS_L2_HEADER)).unwrap();
    let opts = ReaderOptions { skip_bad_lines: true, ..sample_options() };
    let err = drain(TardisTradesReader::open(&path, &insts(), &opts).unwrap()).unwrap_err();
    assert!(err.to_string().contains(":1: field `header`"), "{err}");
}

#[test]
fn unknown_and_mapped_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "deribit,BTC-PERPETUAL,1,2,7,sell,65000.5,0.01\nx,BTC-USDT-PERP,1,3,8,buy,65000.5,0.01\n")
        .unwrap();
    let opts = ReaderOptions::default().map_symbol("deribit:BTC-PERPETUAL", "BTC-USDT-PERP");
    let got = events(&drain(TardisTradesReader::open(&path, &insts(), &opts).unwrap()).unwrap());
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].id, got[0].side, got[0].price, got[0].qty, got[0].ts_ns),
        (7, Some(Side::Sell), 650_005, 10, 2000)
    );
    let opts = ReaderOptions::default().map_symbol("BTC-PERPETUAL", "NOPE");
    let err = drain(TardisTradesReader::open(&path, &insts(), &opts).unwrap()).unwrap_err();
    assert!(err.to_string().contains("maps to unknown instrument `NOPE`"), "{err}");
}

#[test]
fn one_sided_quotes_and_unknown_trade_side() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.csv");
    std::fs::write(&path, "x,BTCUSDT,1,2,,,65000.1,2\nx,BTCUSDT,1,3,1.5,65000.2,65000.1,0.002\n").unwrap();
    let got = events(&drain(TardisQuotesReader::open(&path, &insts(), &sample_options()).unwrap()).unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].price, got[0].qty, got[0].a, got[0].b), (650_001, 2, 650_002, 1500));
    std::fs::write(&path, "x,BTCUSDT,1,2,abc-def,unknown,65000.1,1e-3\n").unwrap();
    let got = events(&drain(TardisTradesReader::open(&path, &insts(), &sample_options()).unwrap()).unwrap());
    assert_eq!((got[0].side, got[0].id, got[0].qty), (None, 0, 1));
}

#[test]
fn l2_snapshot_flip_starts_a_new_snapshot_per_instrument() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l2.csv");
    std::fs::write(
        &path,
        "x,BTCUSDT,1,1,true,bid,100,1\nx,BTCUSDT,1,1,true,ask,101,1\nx,BTCUSDT,2,2,false,bid,100,0\n\
         x,BTCUSDT,3,3,true,bid,99,1\nx,BTCUSDT,3,3,true,ask,100,2\n",
    )
    .unwrap();
    let got = drain(TardisIncrementalL2Reader::open(&path, &insts(), &sample_options()).unwrap()).unwrap();
    let starts: Vec<u64> = got
        .iter()
        .filter_map(|e| if let MarketEvent::BookSnapshotStart { ts_ns, .. } = e { Some(*ts_ns) } else { None })
        .collect();
    assert_eq!(starts, vec![1000, 3000]);
    let mut q = QuoteSource::new(TardisIncrementalL2Reader::open(&path, &insts(), &sample_options()).unwrap());
    let mut v = Vec::new();
    while let Some(e) = q.next_event().unwrap() {
        v.push((e.ts_ns, e.price, e.a, e.b));
    }
    // ts 2: bid side empty → no quote; ts 3: the new snapshot replaced the book
    assert_eq!(v, vec![(1000, 1000, 1010, 1000), (3000, 990, 1000, 2000)]);
}

#[test]
fn merged_file_sources_are_deterministic() {
    let i = insts();
    let o = sample_options();
    let open = || -> Vec<Box<dyn MarketSource>> {
        vec![
            Box::new(TardisTradesReader::open(&data(samples::TARDIS_TRADES), &i, &o).unwrap()),
            Box::new(QuoteSource::new(
                TardisIncrementalL2Reader::open(&data(samples::TARDIS_INCREMENTAL_L2_GZ), &i, &o).unwrap(),
            )),
            Box::new(BinanceAggTradesReader::open(&data(samples::BINANCE_AGG_TRADES), &i, &o).unwrap()),
        ]
    };
    let run = || {
        let mut m = MergedSource::new(open());
        let mut v = Vec::new();
        while let Some(e) = m.next_event().unwrap() {
            v.push(e);
        }
        v
    };
    let a = run();
    assert!(a.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    let total: usize = open().into_iter().map(|mut s| std::iter::from_fn(|| s.next_event().unwrap()).count()).sum();
    assert_eq!(a.len(), total);
    assert_eq!(a, run());
}
