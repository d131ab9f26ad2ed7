//! The columnar market-data catalogue: Parquet files of already-normalised
//! [`Event`]s, read back without any decimal parsing.
//!
//! ## Layout (catalogue version 1)
//! One Parquet file holds one time-ordered event stream (what a run's data
//! section yields: one file, several merged files, or the generator). One
//! row per [`Event`], one `REQUIRED` column per field, in this order:
//!
//! | column | Parquet type | `Event` field |
//! |---|---|---|
//! | `kind` | `int32 (INTEGER(16,false))` | [`EventKind`] number (1 trade, 2 quote, 8 book level, 9 book clear, 10 ticker) |
//! | `side` | `int32 (INTEGER(8,false))` | 0 none, 1 buy / bid, 2 sell / ask |
//! | `flags` | `int32 (INTEGER(8,false))` | per kind (snapshot, ticker fields present) |
//! | `instrument` | `int32 (INTEGER(32,false))` | instrument id of the file's `bulkhead.instruments` table |
//! | `ts_ns` | `int64 (INTEGER(64,false))` | event time, ns since the epoch (non-decreasing) |
//! | `id`, `tag` | `int64 (INTEGER(64,false))` | per kind (trade id, next funding time) |
//! | `price`, `qty`, `a`, `b` | `int64` | integer ticks / lots / 1e-12 rates, per kind |
//!
//! The meaning of every field per kind is `bulkhead_abi::EventKind`'s.
//! Row groups of [`ROW_GROUP_ROWS`] rows, Snappy pages; `ts_ns` and `id`
//! are delta-encoded, the rest dictionary-encoded where that pays.
//!
//! Key-value metadata (UTF-8 text):
//! - `bulkhead.catalogue`: layout version (`1`);
//! - `bulkhead.instruments`: one line per instrument, tab separated:
//!   `id`, `symbol`, `tick_size`, `lot_size` (decimals) — the grid the
//!   integers are on;
//! - `bulkhead.sources`: one line per source, `format` tab `file`;
//! - `bulkhead.events`, `bulkhead.first_ts_ns`, `bulkhead.last_ts_ns`;
//! - `bulkhead.kinds`: the event kinds present (`trade,quote,…`).
//!
//! A reader maps the file's instruments onto the run's by symbol and
//! refuses a file whose grid differs. It streams: one batch of
//! [`BATCH_ROWS`] rows of each column at a time (pages are decoded as they
//! are reached), never a whole row group or file. What a file can make it
//! allocate is bounded: footer metadata ≤ [`MAX_METADATA_BYTES`], row
//! groups ≤ [`MAX_ROW_GROUP_ROWS`] rows, column chunks ≤
//! [`MAX_CHUNK_BYTES`] and inside the file. A bad file is a
//! [`DataError::Setup`] naming the file and what is wrong, a bad row a
//! [`DataError::Row`] naming the file, the row index (0-based) and the
//! column.

use crate::{DataError, MarketSource};
use bulkhead_abi::{Event, EventKind, Side};
use bulkhead_model::{Decimal, Instrument};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, Type as PhysicalType};
use parquet::column::page::PageReader;
use parquet::column::reader::ColumnReaderImpl;
use parquet::data_type::{Int32Type, Int64Type};
use parquet::file::metadata::{KeyValue, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, SchemaDescriptor};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Layout version written to `bulkhead.catalogue`.
pub const CATALOGUE_VERSION: &str = "1";
/// Rows per row group the writer makes.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows the reader decodes per column at a time.
pub const BATCH_ROWS: usize = 4096;
/// Largest footer (Thrift metadata) a reader accepts.
pub const MAX_METADATA_BYTES: u64 = 16 << 20;
/// Largest row group (rows) a reader accepts.
pub const MAX_ROW_GROUP_ROWS: i64 = 16 << 20;
/// Largest column chunk (compressed or not) a reader accepts, and the
/// largest single read it makes.
pub const MAX_CHUNK_BYTES: u64 = 256 << 20;

const SCHEMA: &str = "message bulkhead_event {
  required int32 kind (INTEGER(16,false));
  required int32 side (INTEGER(8,false));
  required int32 flags (INTEGER(8,false));
  required int32 instrument (INTEGER(32,false));
  required int64 ts_ns (INTEGER(64,false));
  required int64 id (INTEGER(64,false));
  required int64 tag (INTEGER(64,false));
  required int64 price;
  required int64 qty;
  required int64 a;
  required int64 b;
}";

/// Column names in file order: four `int32` then seven `int64`.
pub const COLUMNS: [&str; 11] = ["kind", "side", "flags", "instrument", "ts_ns", "id", "tag", "price", "qty", "a", "b"];
const N32: usize = 4;
const N64: usize = 7;

const KEY_VERSION: &str = "bulkhead.catalogue";
const KEY_INSTRUMENTS: &str = "bulkhead.instruments";
const KEY_SOURCES: &str = "bulkhead.sources";
const KEY_EVENTS: &str = "bulkhead.events";
const KEY_FIRST_TS: &str = "bulkhead.first_ts_ns";
const KEY_LAST_TS: &str = "bulkhead.last_ts_ns";
const KEY_KINDS: &str = "bulkhead.kinds";

/// Market event kinds a catalogue may hold, with their metadata names.
const KINDS: [(EventKind, &str); 5] = [
    (EventKind::Trade, "trade"),
    (EventKind::Quote, "quote"),
    (EventKind::BookLevel, "book_level"),
    (EventKind::BookClear, "book_clear"),
    (EventKind::Ticker, "ticker"),
];

fn kind_bit(k: EventKind) -> Option<u8> {
    KINDS.iter().position(|(x, _)| *x == k).and_then(|i| u8::try_from(i).ok()).map(|i| 1 << i)
}

fn setup(path: &Path, problem: impl Into<String>) -> DataError {
    DataError::Setup { path: path.to_path_buf(), problem: problem.into() }
}

fn pq(path: &Path, what: &str, e: parquet::errors::ParquetError) -> DataError {
    setup(path, format!("{what}: {e}"))
}

/// One instrument of a catalogue's `bulkhead.instruments` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogueInstrument {
    pub id: u32,
    pub symbol: String,
    pub tick_size: Decimal,
    pub lot_size: Decimal,
}

/// What a catalogue file says about itself (its key-value metadata).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogueInfo {
    pub instruments: Vec<CatalogueInstrument>,
    /// `(format, file)` of each source it was imported from.
    pub sources: Vec<(String, String)>,
    pub events: u64,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    /// Event kind names present (`trade`, `quote`, `book_level`, `book_clear`, `ticker`).
    pub kinds: Vec<String>,
    pub row_groups: usize,
}

impl CatalogueInfo {
    /// Does the file hold events of this kind?
    pub fn has_kind(&self, k: EventKind) -> bool {
        KINDS.iter().any(|(x, n)| *x == k && self.kinds.iter().any(|have| have == n))
    }
}

// ---------------------------------------------------------------- writer

/// Writes a catalogue file: events in, one row each, row group by row group.
/// The file appears under its name only when [`CatalogueWriter::finish`]
/// succeeds (it is written to `NAME.partial` and renamed).
pub struct CatalogueWriter {
    path: PathBuf,
    partial: PathBuf,
    writer: Option<SerializedFileWriter<BufWriter<File>>>,
    instruments: Vec<CatalogueInstrument>,
    c32: [Vec<i32>; N32],
    c64: [Vec<i64>; N64],
    events: u64,
    first_ts: u64,
    last_ts: u64,
    kinds: u8,
}

fn check_symbol(path: &Path, s: &str) -> Result<(), DataError> {
    if s.is_empty() || s.contains(['\t', '\n', '\r']) {
        return Err(setup(
            path,
            format!("instrument symbol `{}` cannot be stored (empty, tab or newline)", s.escape_debug()),
        ));
    }
    Ok(())
}

impl CatalogueWriter {
    /// Create `path` for events on `instruments`, imported from `sources`
    /// (`(format, file)` pairs, recorded in the metadata).
    pub fn create(
        path: &Path,
        instruments: &[Instrument],
        sources: &[(String, String)],
    ) -> Result<CatalogueWriter, DataError> {
        for i in instruments {
            check_symbol(path, &i.symbol)?;
        }
        for (f, s) in sources {
            if f.contains(['\t', '\n']) || s.contains('\n') {
                return Err(setup(path, format!("source `{f}` `{s}` cannot be stored (tab or newline)")));
            }
        }
        let schema = Arc::new(parquet::schema::parser::parse_message_type(SCHEMA).map_err(|e| pq(path, "schema", e))?);
        let delta = |b: parquet::file::properties::WriterPropertiesBuilder, col: &str| {
            b.set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED)
                .set_column_dictionary_enabled(ColumnPath::from(col), false)
        };
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("bulkhead {} (catalogue {CATALOGUE_VERSION})", env!("CARGO_PKG_VERSION")));
        let props = Arc::new(delta(delta(props, "ts_ns"), "id").build());
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).map_err(|source| DataError::Io { path: partial.clone(), source })?;
        let writer = SerializedFileWriter::new(BufWriter::with_capacity(1 << 20, file), schema, props)
            .map_err(|e| pq(path, "create", e))?;
        let mut w = CatalogueWriter {
            path: path.to_path_buf(),
            partial,
            writer: Some(writer),
            instruments: instruments
                .iter()
                .map(|i| CatalogueInstrument {
                    id: i.id,
                    symbol: i.symbol.clone(),
                    tick_size: i.tick_size,
                    lot_size: i.lot_size,
                })
                .collect(),
            c32: Default::default(),
            c64: Default::default(),
            events: 0,
            first_ts: 0,
            last_ts: 0,
            kinds: 0,
        };
        let lines = |v: Vec<String>| v.join("\n");
        let inst = lines(
            w.instruments.iter().map(|i| format!("{}\t{}\t{}\t{}", i.id, i.symbol, i.tick_size, i.lot_size)).collect(),
        );
        let src = lines(sources.iter().map(|(f, s)| format!("{f}\t{s}")).collect());
        w.kv(KEY_VERSION, CATALOGUE_VERSION.into());
        w.kv(KEY_INSTRUMENTS, inst);
        w.kv(KEY_SOURCES, src);
        Ok(w)
    }

    fn kv(&mut self, k: &str, v: String) {
        if let Some(w) = &mut self.writer {
            w.append_key_value_metadata(KeyValue::new(k.to_string(), v));
        }
    }

    /// Append one event (a market kind, on one of the instruments, not
    /// earlier than the previous one).
    pub fn write(&mut self, e: &Event) -> Result<(), DataError> {
        let row = self.events;
        let bad =
            |field: &'static str, problem: String| DataError::Row { path: self.path.clone(), row, field, problem };
        let bit = kind_bit(e.kind).ok_or_else(|| bad("kind", format!("{:?} is not a market event", e.kind)))?;
        if !self.instruments.iter().any(|i| i.id == e.instrument) {
            return Err(bad("instrument", format!("unknown instrument id {}", e.instrument)));
        }
        if e.ts_ns < self.last_ts {
            return Err(bad("ts_ns", format!("goes backwards ({} after {})", e.ts_ns, self.last_ts)));
        }
        if self.events == 0 {
            self.first_ts = e.ts_ns;
        }
        self.last_ts = e.ts_ns;
        self.kinds |= bit;
        let [kind, side, flags, inst] = &mut self.c32;
        kind.push(i32::from(e.kind as u16));
        side.push(i32::from(e.side.map_or(0, |s| s as u8)));
        flags.push(i32::from(e.flags));
        inst.push(e.instrument.cast_signed());
        let [ts, id, tag, price, qty, a, b] = &mut self.c64;
        ts.push(e.ts_ns.cast_signed());
        id.push(e.id.cast_signed());
        tag.push(e.tag.cast_signed());
        price.push(e.price);
        qty.push(e.qty);
        a.push(e.a);
        b.push(e.b);
        self.events += 1;
        if self.c32[0].len() >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DataError> {
        if self.c32[0].is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let w = self.writer.as_mut().ok_or_else(|| setup(&path, "writer already closed"))?;
        let err = |e| pq(&path, "write", e);
        let mut rg = w.next_row_group().map_err(err)?;
        for v in &self.c32 {
            let mut col = rg.next_column().map_err(err)?.ok_or_else(|| setup(&path, "schema has too few columns"))?;
            col.typed::<Int32Type>().write_batch(v, None, None).map_err(err)?;
            col.close().map_err(err)?;
        }
        for v in &self.c64 {
            let mut col = rg.next_column().map_err(err)?.ok_or_else(|| setup(&path, "schema has too few columns"))?;
            col.typed::<Int64Type>().write_batch(v, None, None).map_err(err)?;
            col.close().map_err(err)?;
        }
        rg.close().map_err(err)?;
        self.c32.iter_mut().for_each(Vec::clear);
        self.c64.iter_mut().for_each(Vec::clear);
        Ok(())
    }

    /// Write the last row group and the footer, then move the file into
    /// place. Returns what the file now says about itself.
    pub fn finish(mut self) -> Result<CatalogueInfo, DataError> {
        self.flush()?;
        let kinds: Vec<String> = KINDS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.kinds & (1 << i) != 0)
            .map(|(_, (_, n))| n.to_string())
            .collect();
        self.kv(KEY_EVENTS, self.events.to_string());
        self.kv(KEY_FIRST_TS, self.first_ts.to_string());
        self.kv(KEY_LAST_TS, self.last_ts.to_string());
        self.kv(KEY_KINDS, kinds.join(","));
        let w = self.writer.take().ok_or_else(|| setup(&self.path, "writer already closed"))?;
        let meta = w.close().map_err(|e| pq(&self.path, "close", e))?;
        std::fs::rename(&self.partial, &self.path)
            .map_err(|source| DataError::Io { path: self.path.clone(), source })?;
        let row_groups = meta.num_row_groups();
        Ok(CatalogueInfo {
            instruments: self.instruments.clone(),
            sources: Vec::new(),
            events: self.events,
            first_ts_ns: self.first_ts,
            last_ts_ns: self.last_ts,
            kinds,
            row_groups,
        })
    }
}

impl Drop for CatalogueWriter {
    fn drop(&mut self) {
        // not finished: leave no half-written file behind
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

// ---------------------------------------------------------------- bounded file access

/// A file as Parquet's [`ChunkReader`], refusing any single read larger
/// than [`MAX_CHUNK_BYTES`] or past the end of the file (a hostile page
/// header cannot make us allocate what it claims).
struct BoundedFile {
    file: File,
    len: u64,
}

impl Length for BoundedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for BoundedFile {
    type T = BufReader<std::io::Take<File>>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        if start > self.len {
            return Err(parquet::errors::ParquetError::EOF(format!("offset {start} past the end ({})", self.len)));
        }
        let mut f = self.file.try_clone()?;
        f.seek(SeekFrom::Start(start))?;
        Ok(BufReader::with_capacity(8 * 1024, f.take(self.len - start)))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let len = length as u64;
        if len > MAX_CHUNK_BYTES || start.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "refusing to read {length} bytes at offset {start} (file is {} bytes, limit {MAX_CHUNK_BYTES})",
                self.len
            )));
        }
        let mut f = self.file.try_clone()?;
        f.seek(SeekFrom::Start(start))?;
        let mut buf = vec![0; length];
        f.read_exact(&mut buf)?;
        Ok(Bytes::from(buf))
    }
}

// ---------------------------------------------------------------- reader

/// Parse and bound the footer of `path`.
fn read_footer(path: &Path) -> Result<(Arc<BoundedFile>, ParquetMetaData), DataError> {
    let io = |source| DataError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut head = [0u8; 4];
    let mut tail = [0u8; 8];
    if len < 12 {
        return Err(setup(path, format!("not a Parquet file ({len} bytes; truncated?)")));
    }
    file.read_exact(&mut head).map_err(io)?;
    file.seek(SeekFrom::Start(len - 8)).map_err(io)?;
    file.read_exact(&mut tail).map_err(io)?;
    if &head != b"PAR1" {
        return Err(setup(path, "not a Parquet file (no `PAR1` magic at the start)"));
    }
    if &tail[4..] != b"PAR1" {
        return Err(setup(path, "not a complete Parquet file (no `PAR1` footer magic at the end: truncated?)"));
    }
    let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if meta_len > MAX_METADATA_BYTES || meta_len + 12 > len {
        return Err(setup(
            path,
            format!("footer metadata of {meta_len} bytes does not fit (file {len} bytes, limit {MAX_METADATA_BYTES})"),
        ));
    }
    let file = Arc::new(BoundedFile { file, len });
    let meta =
        ParquetMetaDataReader::new().parse_and_finish(file.as_ref()).map_err(|e| pq(path, "footer metadata", e))?;
    Ok((file, meta))
}

/// Check the schema is the catalogue's: every column, name, physical type,
/// required, in order.
fn check_schema(path: &Path, schema: &SchemaDescriptor) -> Result<(), DataError> {
    let cols = schema.columns();
    for (i, name) in COLUMNS.iter().enumerate() {
        let Some(c) = cols.get(i) else {
            return Err(setup(path, format!("wrong schema: missing column `{name}` (column {i})")));
        };
        if c.path().parts().len() != 1 || c.name() != *name {
            return Err(setup(path, format!("wrong schema: column {i} is `{}`, expected `{name}`", c.path().string())));
        }
        let want = if i < N32 { PhysicalType::INT32 } else { PhysicalType::INT64 };
        if c.physical_type() != want {
            return Err(setup(
                path,
                format!("wrong schema: column `{name}` has type {}, expected {want}", c.physical_type()),
            ));
        }
        if c.max_def_level() != 0 || c.max_rep_level() != 0 {
            return Err(setup(
                path,
                format!("wrong schema: column `{name}` must be required (not optional or repeated)"),
            ));
        }
    }
    if cols.len() > COLUMNS.len() {
        return Err(setup(path, format!("wrong schema: unexpected column `{}`", cols[COLUMNS.len()].path().string())));
    }
    Ok(())
}

fn parse_decimal(path: &Path, field: String, s: &str) -> Result<Decimal, DataError> {
    Decimal::parse(s).map_err(|e| setup(path, format!("metadata `{field}`: {e}")))
}

/// The key-value metadata, parsed.
fn parse_info(path: &Path, meta: &ParquetMetaData) -> Result<CatalogueInfo, DataError> {
    let kv = meta.file_metadata().key_value_metadata();
    let get = |k: &str| -> Result<&str, DataError> {
        kv.and_then(|kv| kv.iter().find(|e| e.key == k))
            .and_then(|e| e.value.as_deref())
            .ok_or_else(|| setup(path, format!("not a Bulkhead catalogue: no `{k}` metadata")))
    };
    let version = get(KEY_VERSION)?;
    if version != CATALOGUE_VERSION {
        return Err(setup(
            path,
            format!("catalogue version `{version}` is not supported (expected {CATALOGUE_VERSION})"),
        ));
    }
    let num = |k: &str| -> Result<u64, DataError> {
        get(k)?.parse().map_err(|_| setup(path, format!("metadata `{k}` is not a number")))
    };
    let mut instruments = Vec::new();
    for (i, line) in get(KEY_INSTRUMENTS)?.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let [id, symbol, tick, lot] = f[..] else {
            return Err(setup(path, format!("metadata `instruments[{i}]`: expected id, symbol, tick_size, lot_size")));
        };
        let id = id.parse().map_err(|_| setup(path, format!("metadata `instruments[{i}].id`: `{id}` is not an id")))?;
        instruments.push(CatalogueInstrument {
            id,
            symbol: symbol.to_string(),
            tick_size: parse_decimal(path, format!("instruments[{i}].tick_size"), tick)?,
            lot_size: parse_decimal(path, format!("instruments[{i}].lot_size"), lot)?,
        });
    }
    let sources = get(KEY_SOURCES)?
        .lines()
        .map(|l| l.split_once('\t').map_or((String::new(), l.to_string()), |(f, s)| (f.to_string(), s.to_string())))
        .collect();
    Ok(CatalogueInfo {
        instruments,
        sources,
        events: num(KEY_EVENTS)?,
        first_ts_ns: num(KEY_FIRST_TS)?,
        last_ts_ns: num(KEY_LAST_TS)?,
        kinds: get(KEY_KINDS)?.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        row_groups: meta.num_row_groups(),
    })
}

/// Bound every row group and column chunk, and check the row counts agree.
fn check_bounds(path: &Path, meta: &ParquetMetaData, file_len: u64, events: u64) -> Result<(), DataError> {
    let mut rows: u64 = 0;
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let n = rg.num_rows();
        if !(0..=MAX_ROW_GROUP_ROWS).contains(&n) {
            return Err(setup(path, format!("row group {g}: {n} rows (limit {MAX_ROW_GROUP_ROWS})")));
        }
        rows += n.unsigned_abs();
        for (c, col) in rg.columns().iter().enumerate() {
            let (start, len) = col.byte_range();
            let within = start.checked_add(len).is_some_and(|end| end <= file_len);
            let unc = u64::try_from(col.uncompressed_size()).unwrap_or(u64::MAX);
            if !within || len > MAX_CHUNK_BYTES || unc > MAX_CHUNK_BYTES {
                return Err(setup(
                    path,
                    format!(
                        "row group {g}, column `{}`: chunk at {start} of {len} bytes ({unc} uncompressed) is outside \
                         the file or over the {MAX_CHUNK_BYTES}-byte limit (truncated or hostile file?)",
                        COLUMNS.get(c).unwrap_or(&"?")
                    ),
                ));
            }
        }
    }
    if rows != events {
        return Err(setup(path, format!("metadata `{KEY_EVENTS}` says {events} events, the row groups hold {rows}")));
    }
    Ok(())
}

fn same_value(a: Decimal, b: Decimal) -> bool {
    let scale = |d: Decimal, to: u32| {
        10i128.checked_pow(to.saturating_sub(d.scale)).and_then(|m| i128::from(d.mantissa).checked_mul(m))
    };
    let s = a.scale.max(b.scale);
    scale(a, s).is_some() && scale(a, s) == scale(b, s)
}

/// Read a catalogue file's metadata only (checks the footer, the schema
/// and the bounds; reads no rows).
pub fn read_info(path: &Path) -> Result<CatalogueInfo, DataError> {
    let (file, meta) = read_footer(path)?;
    check_schema(path, meta.file_metadata().schema_descr())?;
    let info = parse_info(path, &meta)?;
    check_bounds(path, &meta, file.len, info.events)?;
    Ok(info)
}

/// The typed column readers of the current row group.
struct Group {
    c32: Vec<ColumnReaderImpl<Int32Type>>,
    c64: Vec<ColumnReaderImpl<Int64Type>>,
    rows_left: u64,
}

/// Streams a catalogue file as [`Event`]s (a [`MarketSource`]).
pub struct CatalogueReader {
    path: PathBuf,
    file: Arc<BoundedFile>,
    meta: Arc<ParquetMetaData>,
    info: CatalogueInfo,
    /// File instrument id → run instrument id (by symbol).
    map: Vec<(u32, u32)>,
    next_group: usize,
    group: Option<Group>,
    b32: [Vec<i32>; N32],
    b64: [Vec<i64>; N64],
    pos: usize,
    len: usize,
    /// Global index of row `pos` of the batch.
    row: u64,
    last_ts: u64,
}

impl CatalogueReader {
    /// Open `path` for a run on `instruments`: every instrument of the file
    /// must be one of the run's (by symbol) on the same tick and lot grid.
    pub fn open(path: &Path, instruments: &[Instrument]) -> Result<CatalogueReader, DataError> {
        let (file, meta) = read_footer(path)?;
        check_schema(path, meta.file_metadata().schema_descr())?;
        let info = parse_info(path, &meta)?;
        check_bounds(path, &meta, file.len, info.events)?;
        let mut map = Vec::new();
        for (i, fi) in info.instruments.iter().enumerate() {
            let run = instruments.iter().find(|r| r.symbol == fi.symbol).ok_or_else(|| {
                setup(
                    path,
                    format!(
                        "instrument metadata `instruments[{i}].symbol`: `{}` is not an instrument of the run",
                        fi.symbol
                    ),
                )
            })?;
            for (name, file_v, run_v) in
                [("tick_size", fi.tick_size, run.tick_size), ("lot_size", fi.lot_size, run.lot_size)]
            {
                if !same_value(file_v, run_v) {
                    return Err(setup(
                        path,
                        format!(
                            "instrument metadata `instruments[{i}].{name}`: the file has {file_v} for `{}`, the run {run_v} \
                             (re-import the data on the run's grid)",
                            fi.symbol
                        ),
                    ));
                }
            }
            if map.iter().any(|&(f, _)| f == fi.id) {
                return Err(setup(path, format!("instrument metadata `instruments[{i}].id`: duplicate id {}", fi.id)));
            }
            map.push((fi.id, run.id));
        }
        Ok(CatalogueReader {
            path: path.to_path_buf(),
            file,
            meta: Arc::new(meta),
            info,
            map,
            next_group: 0,
            group: None,
            b32: Default::default(),
            b64: Default::default(),
            pos: 0,
            len: 0,
            row: 0,
            last_ts: 0,
        })
    }

    /// What the file says about itself.
    pub fn info(&self) -> &CatalogueInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows decoded and held in memory (at most [`BATCH_ROWS`] per column).
    pub fn buffered_rows(&self) -> usize {
        self.b64[0].len()
    }

    fn row_err(&self, row: u64, field: &'static str, problem: impl Into<String>) -> DataError {
        DataError::Row { path: self.path.clone(), row, field, problem: problem.into() }
    }

    fn open_group(&mut self, g: usize) -> Result<Group, DataError> {
        let rg = self.meta.row_group(g);
        let rows = rg.num_rows().unsigned_abs();
        let total = usize::try_from(rows).unwrap_or(usize::MAX);
        let mut c32 = Vec::with_capacity(N32);
        let mut c64 = Vec::with_capacity(N64);
        for (c, col) in rg.columns().iter().enumerate() {
            let pages: Box<dyn PageReader> = Box::new(
                SerializedPageReader::new(Arc::clone(&self.file), col, total, None)
                    .map_err(|e| self.row_err(self.row, COLUMNS[c], format!("row group {g}: {e}")))?,
            );
            let descr = self.meta.file_metadata().schema_descr().column(c);
            if c < N32 {
                c32.push(ColumnReaderImpl::<Int32Type>::new(descr, pages));
            } else {
                c64.push(ColumnReaderImpl::<Int64Type>::new(descr, pages));
            }
        }
        Ok(Group { c32, c64, rows_left: rows })
    }

    /// Decode the next batch of every column; false at the end of the file.
    fn next_batch(&mut self) -> Result<bool, DataError> {
        loop {
            if self.group.as_ref().is_none_or(|g| g.rows_left == 0) {
                if self.next_group >= self.meta.num_row_groups() {
                    return Ok(false);
                }
                let g = self.next_group;
                self.next_group += 1;
                self.group = Some(self.open_group(g)?);
                continue;
            }
            let Some(group) = self.group.as_mut() else { return Ok(false) };
            let want = usize::try_from(group.rows_left).unwrap_or(usize::MAX).min(BATCH_ROWS);
            let row = self.row;
            let path = &self.path;
            let fail =
                |c: usize, problem: String| DataError::Row { path: path.clone(), row, field: COLUMNS[c], problem };
            for (c, (r, buf)) in group.c32.iter_mut().zip(self.b32.iter_mut()).enumerate() {
                buf.clear();
                let (n, _, _) = r.read_records(want, None, None, buf).map_err(|e| fail(c, e.to_string()))?;
                if n != want || buf.len() != want {
                    return Err(fail(c, format!("column ends early: {n} of {want} rows decoded (truncated file?)")));
                }
            }
            for (c, (r, buf)) in group.c64.iter_mut().zip(self.b64.iter_mut()).enumerate() {
                buf.clear();
                let (n, _, _) = r.read_records(want, None, None, buf).map_err(|e| fail(c + N32, e.to_string()))?;
                if n != want || buf.len() != want {
                    return Err(fail(
                        c + N32,
                        format!("column ends early: {n} of {want} rows decoded (truncated file?)"),
                    ));
                }
            }
            group.rows_left -= want as u64;
            self.pos = 0;
            self.len = want;
            return Ok(true);
        }
    }

    /// Row `i` of the batch as an event, checked.
    #[inline]
    fn decode(&self, i: usize) -> Result<Event, DataError> {
        let row = self.row;
        let [kind, side, flags, inst] = &self.b32;
        let [ts, id, tag, price, qty, a, b] = &self.b64;
        let k = u16::try_from(kind[i]).ok().and_then(EventKind::from_u16).filter(|k| kind_bit(*k).is_some());
        let Some(k) = k else {
            return Err(self.row_err(row, "kind", format!("{} is not a market event kind (1, 2, 8, 9, 10)", kind[i])));
        };
        let s = match side[i] {
            0 => None,
            v => Some(
                u8::try_from(v)
                    .ok()
                    .and_then(Side::from_u8)
                    .ok_or_else(|| self.row_err(row, "side", format!("{v} is not 0 (none), 1 (buy) or 2 (sell)")))?,
            ),
        };
        let f =
            u8::try_from(flags[i]).map_err(|_| self.row_err(row, "flags", format!("{} is not a byte", flags[i])))?;
        let file_inst = inst[i].cast_unsigned();
        let instrument = match self.map.iter().find(|&&(f, _)| f == file_inst) {
            Some(&(_, r)) => r,
            None => {
                return Err(self.row_err(
                    row,
                    "instrument",
                    format!("instrument id {file_inst} is not in the file's instrument table"),
                ));
            }
        };
        let t = ts[i].cast_unsigned();
        if t < self.last_ts {
            return Err(self.row_err(row, "ts_ns", format!("goes backwards ({t} after {})", self.last_ts)));
        }
        Ok(Event {
            kind: k,
            side: s,
            flags: f,
            instrument,
            ts_ns: t,
            id: id[i].cast_unsigned(),
            tag: tag[i].cast_unsigned(),
            price: price[i],
            qty: qty[i],
            a: a[i],
            b: b[i],
        })
    }
}

impl MarketSource for CatalogueReader {
    #[inline]
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        if self.pos == self.len && !self.next_batch()? {
            return Ok(None);
        }
        let e = self.decode(self.pos)?;
        self.pos += 1;
        self.row += 1;
        self.last_ts = e.ts_ns;
        Ok(Some(e))
    }

    fn len_hint(&self) -> Option<u64> {
        Some(self.info.events)
    }
}
