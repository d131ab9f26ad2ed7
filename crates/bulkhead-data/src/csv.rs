//! Streaming reader and writer for Bulkhead CSV (see the crate docs).

use crate::MarketSource;
use bulkhead_abi::{Event, EventKind, Side};
use bulkhead_model::Instrument;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: field `{field}`: {problem}")]
    Line { path: PathBuf, line: u64, field: &'static str, problem: String },
    /// A bad row of a columnar (Parquet catalogue) file: 0-based row index.
    #[error("{path}: row {row}: field `{field}`: {problem}")]
    Row { path: PathBuf, row: u64, field: &'static str, problem: String },
    /// A reader could not be set up (e.g. no symbol for a file without a symbol column).
    #[error("{path}: {problem}")]
    Setup { path: PathBuf, problem: String },
}

/// Streams events from a Bulkhead CSV file, one line at a time.
pub struct CsvReader {
    path: PathBuf,
    reader: BufReader<File>,
    instruments: Vec<Instrument>,
    line: u64,
    buf: String,
    last_ts: u64,
}

impl CsvReader {
    pub fn open(path: &Path, instruments: &[Instrument]) -> Result<CsvReader, DataError> {
        let file = File::open(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
        Ok(CsvReader {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, file),
            instruments: instruments.to_vec(),
            line: 0,
            buf: String::new(),
            last_ts: 0,
        })
    }

    fn err(&self, field: &'static str, problem: impl Into<String>) -> DataError {
        DataError::Line { path: self.path.clone(), line: self.line, field, problem: problem.into() }
    }

    fn parse_line(&self, line: &str) -> Result<Event, DataError> {
        let mut it = line.split(',').map(str::trim);
        let mut field =
            |name: &'static str| it.next().filter(|s| !s.is_empty()).ok_or_else(|| self.err(name, "missing"));
        let ts: u64 = field("ts_ns")?.parse().map_err(|_| self.err("ts_ns", "not a non-negative integer"))?;
        let kind = field("type")?;
        let symbol = field("symbol")?;
        let inst = self
            .instruments
            .iter()
            .find(|i| i.symbol == symbol)
            .ok_or_else(|| self.err("symbol", format!("unknown instrument `{symbol}`")))?;
        let price = |name: &'static str, s: &str| {
            let v = inst.price_to_ticks(s).map_err(|e| self.err(name, e.to_string()))?;
            if v <= 0 { Err(self.err(name, "must be > 0")) } else { Ok(v) }
        };
        let qty = |name: &'static str, s: &str| {
            let v = inst.qty_to_lots(s).map_err(|e| self.err(name, e.to_string()))?;
            if v <= 0 { Err(self.err(name, "must be > 0")) } else { Ok(v) }
        };
        let ev = match kind {
            "T" => {
                let mut e = Event::new(EventKind::Trade, inst.id, ts);
                e.price = price("price", field("price")?)?;
                e.qty = qty("qty", field("qty")?)?;
                e.side = Some(match field("side")? {
                    "buy" | "b" | "B" => Side::Buy,
                    "sell" | "s" | "S" => Side::Sell,
                    other => return Err(self.err("side", format!("`{other}` is not buy or sell"))),
                });
                e
            }
            "Q" => {
                let mut e = Event::new(EventKind::Quote, inst.id, ts);
                e.price = price("bid_px", field("bid_px")?)?;
                e.qty = qty("bid_qty", field("bid_qty")?)?;
                e.a = price("ask_px", field("ask_px")?)?;
                e.b = qty("ask_qty", field("ask_qty")?)?;
                if e.a <= e.price {
                    return Err(self.err("ask_px", "ask must be above bid"));
                }
                e
            }
            other => return Err(self.err("type", format!("`{other}` is not T (trade) or Q (quote)"))),
        };
        if it.next().is_some() {
            return Err(self.err("line", "too many fields"));
        }
        Ok(ev)
    }
}

impl MarketSource for CsvReader {
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_line(&mut self.buf)
                .map_err(|source| DataError::Io { path: self.path.clone(), source })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let line = self.buf.trim();
            if line.is_empty() || line.starts_with('#') || (self.line == 1 && line.starts_with("ts_ns")) {
                continue;
            }
            let line = line.split('#').next().unwrap_or("").trim();
            let ev = self.parse_line(line)?;
            if ev.ts_ns < self.last_ts {
                return Err(self.err("ts_ns", format!("goes backwards ({} after {})", ev.ts_ns, self.last_ts)));
            }
            self.last_ts = ev.ts_ns;
            return Ok(Some(ev));
        }
    }
    fn len_hint(&self) -> Option<u64> {
        None
    }
}

/// Write one market event as a Bulkhead CSV line.
pub fn write_event(w: &mut impl Write, inst: &Instrument, e: &Event) -> std::io::Result<()> {
    match e.kind {
        EventKind::Trade => writeln!(
            w,
            "{},T,{},{},{},{}",
            e.ts_ns,
            inst.symbol,
            inst.format_price(e.price),
            inst.format_qty(e.qty),
            e.side.map_or("buy", |s| s.name())
        ),
        EventKind::Quote => writeln!(
            w,
            "{},Q,{},{},{},{},{}",
            e.ts_ns,
            inst.symbol,
            inst.format_price(e.price),
            inst.format_qty(e.qty),
            inst.format_price(e.a),
            inst.format_qty(e.b)
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Generator, GeneratorSpec};
    use bulkhead_model::{InstrumentKind, InstrumentSpec};

    fn btc() -> Vec<Instrument> {
        vec![
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
            .unwrap(),
        ]
    }

    fn read_all(path: &Path) -> Result<Vec<Event>, DataError> {
        let mut r = CsvReader::open(path, &btc())?;
        let mut v = Vec::new();
        while let Some(e) = r.next_event()? {
            v.push(e);
        }
        Ok(v)
    }

    #[test]
    fn generator_output_round_trips_through_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let events: Vec<Event> = Generator::new(GeneratorSpec { events: 5_000, ..Default::default() }).collect();
        let mut f = std::io::BufWriter::new(File::create(&path).unwrap());
        writeln!(f, "ts_ns,type,symbol,f1,f2,f3,f4").unwrap();
        for e in &events {
            write_event(&mut f, &btc()[0], e).unwrap();
        }
        drop(f);
        assert_eq!(read_all(&path).unwrap(), events);
    }

    #[test]
    fn bad_lines_name_file_line_and_field() {
        let cases = [
            ("1,T,BTC-USDT-PERP,65000.05,0.001,buy", "price"),
            ("1,T,BTC-USDT-PERP,65000.0,0.0001,buy", "qty"),
            ("1,T,BTC-USDT-PERP,65000.0,0.001,up", "side"),
            ("1,X,BTC-USDT-PERP,65000.0,0.001,buy", "type"),
            ("1,T,ETH-USDT,65000.0,0.001,buy", "symbol"),
            ("x,T,BTC-USDT-PERP,65000.0,0.001,buy", "ts_ns"),
            ("1,Q,BTC-USDT-PERP,65000.0,0.001,64999.0,1", "ask_px"),
            ("1,Q,BTC-USDT-PERP,65000.0,0.001", "ask_px"),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (line, field) in cases {
            let path = dir.path().join("bad.csv");
            std::fs::write(&path, format!("ts_ns,type,symbol,f1,f2,f3,f4\n2,T,BTC-USDT-PERP,1,1,buy\n{line}\n"))
                .unwrap();
            let err = read_all(&path).unwrap_err();
            match &err {
                DataError::Line { line: 3, field: f, .. } => assert_eq!(*f, field, "{line}: {err}"),
                other => panic!("{line}: unexpected {other}"),
            }
            assert!(err.to_string().starts_with(&format!("{}:3: field `{field}`", path.display())), "{err}");
        }
    }

    #[test]
    fn time_going_backwards_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "5,T,BTC-USDT-PERP,1,1,buy\n4,T,BTC-USDT-PERP,1,1,buy\n").unwrap();
        assert!(read_all(&path).unwrap_err().to_string().contains(":2: field `ts_ns`"));
    }
}
