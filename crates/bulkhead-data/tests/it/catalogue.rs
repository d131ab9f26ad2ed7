//! The Parquet catalogue: every format `bulkhead run` reads, imported and
//! read back event for event; hostile files refused with the file, the row
//! and the field named, never a panic. Real files in a tempdir.

use bulkhead_abi::{Event, EventKind};
use bulkhead_data::catalogue::{self, CatalogueWriter, read_info};
use bulkhead_data::samples::{self, examples_data_dir, sample_instrument, sample_options};
use bulkhead_data::{
    BinanceAggTradesReader, CatalogueReader, CsvReader, DataError, Generator, GeneratorSpec, MarketSource, QuoteSource,
    TardisBookSnapshotReader, TardisDerivativeTickerReader, TardisIncrementalL2Reader, TardisQuotesReader,
    TardisTradesReader,
};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec};
use parquet::data_type::{Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn drain(src: &mut dyn MarketSource) -> Result<Vec<Event>, DataError> {
    let mut v = Vec::new();
    while let Some(e) = src.next_event()? {
        v.push(e);
    }
    Ok(v)
}

fn insts() -> Vec<Instrument> {
    vec![sample_instrument()]
}

fn inst(id: u32, symbol: &str, tick: &str, lot: &str) -> Instrument {
    let spec = InstrumentSpec {
        symbol: symbol.into(),
        kind: InstrumentKind::Perpetual,
        tick_size: tick.into(),
        lot_size: lot.into(),
        multiplier: "1".into(),
        ..Default::default()
    };
    Instrument::from_spec(id, &spec).unwrap()
}

fn write(path: &Path, instruments: &[Instrument], events: &[Event]) -> catalogue::CatalogueInfo {
    let mut w = CatalogueWriter::create(path, instruments, &[("test".into(), "mem".into())]).unwrap();
    for e in events {
        w.write(e).unwrap();
    }
    w.finish().unwrap()
}

fn read(path: &Path, instruments: &[Instrument]) -> Result<Vec<Event>, DataError> {
    drain(&mut CatalogueReader::open(path, instruments)?)
}

/// The events a run would get from each sample file (book data as levels
/// plus top of book, as `bulkhead-engine`'s `open_source` reads it).
fn sample_streams() -> Vec<(&'static str, Vec<Event>)> {
    let d = examples_data_dir();
    let (i, o) = (&insts(), &sample_options());
    let p = |n: &str| d.join(n);
    let mut v: Vec<(&'static str, Vec<Event>)> = vec![
        ("bulkhead csv", drain(&mut CsvReader::open(&p("btcusdt-perp-sample.csv"), i).unwrap()).unwrap()),
        ("tardis trades", drain(&mut TardisTradesReader::open(&p(samples::TARDIS_TRADES), i, o).unwrap()).unwrap()),
        ("tardis quotes", drain(&mut TardisQuotesReader::open(&p(samples::TARDIS_QUOTES), i, o).unwrap()).unwrap()),
        (
            "tardis book_snapshot_25",
            drain(&mut QuoteSource::with_levels(
                TardisBookSnapshotReader::open(&p(samples::TARDIS_BOOK_SNAPSHOT_25), i, o).unwrap(),
            ))
            .unwrap(),
        ),
        (
            "tardis incremental_book_L2",
            drain(&mut QuoteSource::with_levels(
                TardisIncrementalL2Reader::open(&p(samples::TARDIS_INCREMENTAL_L2), i, o).unwrap(),
            ))
            .unwrap(),
        ),
        (
            "tardis incremental_book_L2 gzipped",
            drain(&mut QuoteSource::with_levels(
                TardisIncrementalL2Reader::open(&p(samples::TARDIS_INCREMENTAL_L2_GZ), i, o).unwrap(),
            ))
            .unwrap(),
        ),
        (
            "tardis derivative_ticker",
            drain(&mut TardisDerivativeTickerReader::open(&p(samples::TARDIS_DERIVATIVE_TICKER), i, o).unwrap())
                .unwrap(),
        ),
        (
            "binance aggTrades",
            drain(&mut BinanceAggTradesReader::open(&p(samples::BINANCE_AGG_TRADES), i, o).unwrap()).unwrap(),
        ),
        (
            "binance aggTrades (no header)",
            drain(&mut BinanceAggTradesReader::open(&p(samples::BINANCE_AGG_TRADES_NO_HEADER), i, o).unwrap()).unwrap(),
        ),
    ];
    // more than one row group, and a partial last one
    let n = catalogue::ROW_GROUP_ROWS as u64 * 2 + 123;
    v.push(("generator", Generator::new(GeneratorSpec { events: n, ..Default::default() }).collect()));
    v
}

#[test]
fn every_format_round_trips_event_for_event() {
    let dir = tempfile::tempdir().unwrap();
    for (name, events) in sample_streams() {
        assert!(!events.is_empty(), "{name}");
        let path = dir.path().join(format!("{}.parquet", name.replace(' ', "_")));
        let info = write(&path, &insts(), &events);
        assert_eq!(info.events, events.len() as u64, "{name}");
        let back = read(&path, &insts()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, events, "{name}");
        let meta = read_info(&path).unwrap();
        assert_eq!(meta.events, events.len() as u64);
        assert_eq!(meta.first_ts_ns, events[0].ts_ns);
        assert_eq!(meta.last_ts_ns, events.last().unwrap().ts_ns);
        assert_eq!(meta.instruments[0].symbol, "BTC-USDT-PERP");
        assert_eq!(meta.sources, vec![("test".to_string(), "mem".to_string())]);
        for k in [EventKind::Trade, EventKind::Quote, EventKind::BookLevel, EventKind::Ticker] {
            assert_eq!(meta.has_kind(k), events.iter().any(|e| e.kind == k), "{name}: {k:?}");
        }
        assert!(!dir.path().join(format!("{}.parquet.partial", name.replace(' ', "_"))).exists());
    }
}

#[test]
fn instruments_are_mapped_by_symbol_and_the_grid_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    let events: Vec<Event> = Generator::new(GeneratorSpec { events: 100, ..Default::default() }).collect();
    write(&path, &insts(), &events);
    // the run lists another instrument first: ids are remapped by symbol
    let run = vec![inst(0, "ETH-USDT-PERP", "0.01", "0.01"), inst(1, "BTC-USDT-PERP", "0.10", "0.001")];
    let back = read(&path, &run).unwrap();
    assert!(back.iter().all(|e| e.instrument == 1));
    assert_eq!(
        back.iter().map(|e| (e.ts_ns, e.price)).collect::<Vec<_>>(),
        events.iter().map(|e| (e.ts_ns, e.price)).collect::<Vec<_>>()
    );

    let err = |run: Vec<Instrument>| CatalogueReader::open(&path, &run).err().unwrap().to_string();
    let e = err(vec![inst(0, "ETH-USDT-PERP", "0.01", "0.01")]);
    assert!(e.contains("instruments[0].symbol") && e.contains("BTC-USDT-PERP") && e.contains("x.parquet"), "{e}");
    let e = err(vec![inst(0, "BTC-USDT-PERP", "0.5", "0.001")]);
    assert!(e.contains("instruments[0].tick_size") && e.contains("0.1") && e.contains("0.5"), "{e}");
    let e = err(vec![inst(0, "BTC-USDT-PERP", "0.1", "0.01")]);
    assert!(e.contains("instruments[0].lot_size"), "{e}");
}

#[test]
fn the_writer_refuses_what_a_reader_would() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.parquet");
    let mut w = CatalogueWriter::create(&path, &insts(), &[]).unwrap();
    let mut e = Event::new(EventKind::Trade, 0, 10);
    w.write(&e).unwrap();
    e.ts_ns = 9;
    let err = w.write(&e).unwrap_err().to_string();
    assert!(err.contains("row 1: field `ts_ns`"), "{err}");
    let err = w.write(&Event::new(EventKind::Trade, 7, 10)).unwrap_err().to_string();
    assert!(err.contains("field `instrument`"), "{err}");
    let err = w.write(&Event::new(EventKind::Fill, 0, 10)).unwrap_err().to_string();
    assert!(err.contains("field `kind`"), "{err}");
    drop(w);
    // an unfinished import leaves nothing behind
    assert!(!path.exists());
    assert!(!dir.path().join("w.parquet.partial").exists());
}

// ---------------------------------------------------------------- hostile files

fn good_file(dir: &Path) -> (PathBuf, Vec<Event>) {
    let path = dir.join("good.parquet");
    let n = catalogue::ROW_GROUP_ROWS as u64 + 500;
    let events: Vec<Event> = Generator::new(GeneratorSpec { events: n, ..Default::default() }).collect();
    write(&path, &insts(), &events);
    (path, events)
}

fn must_fail(path: &Path, what: &str) -> String {
    let r = std::panic::catch_unwind(|| read(path, &insts()));
    let err = match r {
        Ok(Ok(v)) => panic!("{what}: read {} events from a bad file", v.len()),
        Ok(Err(e)) => e.to_string(),
        Err(_) => panic!("{what}: panicked"),
    };
    assert!(err.contains(&path.display().to_string()), "{what}: error does not name the file: {err}");
    err
}

#[test]
fn garbage_and_truncated_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = good_file(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let p = dir.path().join("bad.parquet");
    std::fs::write(&p, b"").unwrap();
    assert!(must_fail(&p, "empty").contains("not a Parquet file"));
    std::fs::write(&p, b"ts_ns,type,symbol\n1,T,BTC-USDT-PERP,1,1,buy\n").unwrap();
    assert!(must_fail(&p, "csv").contains("not a Parquet file"));
    let garbage: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&p, &garbage).unwrap();
    must_fail(&p, "garbage");
    // truncated anywhere: the footer is gone
    for cut in [bytes.len() - 1, bytes.len() - 9, bytes.len() / 2, 5] {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = must_fail(&p, &format!("cut at {cut}"));
        assert!(e.contains("truncated") || e.contains("not a Parquet file"), "{e}");
    }
    // a footer claiming more metadata than the file has
    let mut b = bytes.clone();
    let n = b.len();
    b[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&p, &b).unwrap();
    assert!(must_fail(&p, "huge metadata").contains("does not fit"));
    // the middle of the file overwritten: data pages are garbage
    let mut b = bytes.clone();
    for (i, x) in b[1000..n / 2].iter_mut().enumerate() {
        *x = (i * 7 + 3) as u8;
    }
    std::fs::write(&p, &b).unwrap();
    must_fail(&p, "scribbled pages");
    // a file that lost its data but kept its footer: chunks point outside it
    let footer_len = u32::from_le_bytes(b[n - 8..n - 4].try_into().unwrap()) as usize + 8;
    let mut b = bytes[..4].to_vec();
    b.extend_from_slice(&bytes[n - footer_len..]);
    std::fs::write(&p, &b).unwrap();
    assert!(must_fail(&p, "footer only").contains("outside"));
}

/// A Parquet file with `schema`, one row group of the given columns (all
/// `int32` / `int64` required), and catalogue metadata `kv`.
fn raw_file(path: &Path, schema: &str, cols: &[Col], kv: &[(&str, String)]) {
    let schema = Arc::new(parquet::schema::parser::parse_message_type(schema).unwrap());
    let mut w =
        SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, Arc::new(WriterProperties::default()))
            .unwrap();
    let mut rg = w.next_row_group().unwrap();
    for c in cols {
        let mut col = rg.next_column().unwrap().unwrap();
        match c {
            Col::I32(v) => col.typed::<Int32Type>().write_batch(v, None, None).unwrap(),
            Col::I64(v) => col.typed::<Int64Type>().write_batch(v, None, None).unwrap(),
        };
        col.close().unwrap();
    }
    rg.close().unwrap();
    for (k, v) in kv {
        w.append_key_value_metadata(KeyValue::new(k.to_string(), v.clone()));
    }
    w.close().unwrap();
}

enum Col {
    I32(Vec<i32>),
    I64(Vec<i64>),
}

const SCHEMA: &str = "message m { required int32 kind; required int32 side; required int32 flags; \
    required int32 instrument; required int64 ts_ns; required int64 id; required int64 tag; \
    required int64 price; required int64 qty; required int64 a; required int64 b; }";

fn kv(rows: usize) -> Vec<(&'static str, String)> {
    vec![
        ("bulkhead.catalogue", "1".into()),
        ("bulkhead.instruments", "0\tBTC-USDT-PERP\t0.1\t0.001".into()),
        ("bulkhead.sources", "test\tmem".into()),
        ("bulkhead.events", rows.to_string()),
        ("bulkhead.first_ts_ns", "0".into()),
        ("bulkhead.last_ts_ns", "0".into()),
        ("bulkhead.kinds", "trade".into()),
    ]
}

/// Three trades at ts 10, 20, 30 with `edit` applied to the columns.
fn rows(edit: impl FnOnce(&mut [Vec<i32>; 4], &mut [Vec<i64>; 7])) -> Vec<Col> {
    let mut c32 = [vec![1; 3], vec![1; 3], vec![0; 3], vec![0; 3]];
    let mut c64 = [vec![10, 20, 30], vec![0; 3], vec![0; 3], vec![650_000; 3], vec![5; 3], vec![0; 3], vec![0; 3]];
    edit(&mut c32, &mut c64);
    c32.into_iter().map(Col::I32).chain(c64.into_iter().map(Col::I64)).collect()
}

#[test]
fn a_hand_made_file_reads_like_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ok.parquet");
    raw_file(&p, SCHEMA, &rows(|_, _| {}), &kv(3));
    let ev = read(&p, &insts()).unwrap();
    assert_eq!(ev.len(), 3);
    assert_eq!((ev[2].kind, ev[2].ts_ns, ev[2].price, ev[2].qty), (EventKind::Trade, 30, 650_000, 5));
}

#[test]
fn bad_rows_name_the_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rows.parquet");
    type Edit = Box<dyn FnOnce(&mut [Vec<i32>; 4], &mut [Vec<i64>; 7])>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|_, c| c[0][2] = 5), "row 2: field `ts_ns`: goes backwards"),
        (Box::new(|c, _| c[0][1] = 6), "row 1: field `kind`"),
        (Box::new(|c, _| c[0][0] = 77), "row 0: field `kind`"),
        (Box::new(|c, _| c[0][1] = -1), "row 1: field `kind`"),
        (Box::new(|c, _| c[1][2] = 3), "row 2: field `side`"),
        (Box::new(|c, _| c[2][1] = 256), "row 1: field `flags`"),
        (Box::new(|c, _| c[3][2] = 4), "row 2: field `instrument`"),
    ];
    for (edit, want) in cases {
        raw_file(&p, SCHEMA, &rows(edit), &kv(3));
        let e = must_fail(&p, want);
        assert!(e.contains(want), "want {want}, got {e}");
    }
}

#[test]
fn wrong_schemas_and_metadata_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("schema.parquet");
    // a column missing
    let mut cols = rows(|_, _| {});
    cols.pop();
    raw_file(&p, &SCHEMA.replace("required int64 b; ", ""), &cols, &kv(3));
    assert!(must_fail(&p, "missing").contains("missing column `b`"));
    // a column of the wrong type
    let cols = rows(|_, _| {});
    let mut cols: Vec<Col> = cols;
    cols[7] = Col::I32(vec![1; 3]);
    raw_file(&p, &SCHEMA.replace("int64 price", "int32 price"), &cols, &kv(3));
    let e = must_fail(&p, "type");
    assert!(e.contains("column `price` has type INT32, expected INT64"), "{e}");
    // renamed
    raw_file(&p, &SCHEMA.replace("int64 qty", "int64 quantity"), &rows(|_, _| {}), &kv(3));
    assert!(must_fail(&p, "renamed").contains("expected `qty`"));
    // an extra column
    let mut cols = rows(|_, _| {});
    cols.push(Col::I64(vec![0; 3]));
    raw_file(&p, &SCHEMA.replace("}", "required int64 extra; }"), &cols, &kv(3));
    let e = must_fail(&p, "extra");
    assert!(e.contains("unexpected column `extra`"), "{e}");
    // not ours: no catalogue metadata
    raw_file(&p, SCHEMA, &rows(|_, _| {}), &[]);
    assert!(must_fail(&p, "no kv").contains("not a Bulkhead catalogue"));
    // metadata row count disagrees with the row groups
    raw_file(&p, SCHEMA, &rows(|_, _| {}), &kv(4));
    assert!(must_fail(&p, "count").contains("says 4 events"));
    // an unknown instrument in the table
    let mut m = kv(3);
    m[1].1 = "0\tDOGE-PERP\t0.1\t0.001".into();
    raw_file(&p, SCHEMA, &rows(|_, _| {}), &m);
    assert!(must_fail(&p, "unknown instrument").contains("`instruments[0].symbol`: `DOGE-PERP`"));
    // a broken instrument line
    m[1].1 = "0\tBTC-USDT-PERP\tabc\t0.001".into();
    raw_file(&p, SCHEMA, &rows(|_, _| {}), &m);
    assert!(must_fail(&p, "bad tick").contains("instruments[0].tick_size"));
    // a newer layout
    let mut m = kv(3);
    m[0].1 = "2".into();
    raw_file(&p, SCHEMA, &rows(|_, _| {}), &m);
    assert!(must_fail(&p, "version").contains("version `2`"));
}

#[test]
fn reading_streams_in_batches() {
    // The reader holds one batch per column, not a row group: its buffers
    // never exceed BATCH_ROWS values whatever the row group size.
    let dir = tempfile::tempdir().unwrap();
    let (good, events) = good_file(dir.path());
    let mut r = CatalogueReader::open(&good, &insts()).unwrap();
    assert_eq!(r.len_hint(), Some(events.len() as u64));
    let mut n = 0;
    while let Some(e) = r.next_event().unwrap() {
        assert_eq!(e, events[n]);
        n += 1;
        assert!(r.buffered_rows() <= catalogue::BATCH_ROWS);
    }
    assert_eq!(n, events.len());
}
