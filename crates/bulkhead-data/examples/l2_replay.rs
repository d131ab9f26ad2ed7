//! L2 replay benchmark: generate ≥ 10 million Tardis `incremental_book_L2`
//! updates into a file, then replay it through the reader + book builder
//! (and separately through the top-of-book `QuoteSource` adapter).
//!
//! `cargo run --release -p bulkhead-data --example l2_replay [-- FILE [UPDATES]]`
//! (default: a temp dir, 10,000,000 updates). An existing FILE is reused.

use bulkhead_data::samples::{FILE_SYMBOL, sample_instrument, sample_options};
use bulkhead_data::writers::{TARDIS_L2_HEADER, TardisWriter};
use bulkhead_data::{
    L2Book, L2Generator, L2GeneratorSpec, MarketEvent, MarketSource, QuoteSource, TardisIncrementalL2Reader,
};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

fn vm_hwm_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time this thread has run, in seconds (from the scheduler's own
/// accounting, so it is meaningful on a loaded, shared machine).
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _tmp;
    let path = match args.first() {
        Some(p) => PathBuf::from(p),
        None => {
            _tmp = tempfile::tempdir()?;
            _tmp.path().join("binance-futures_incremental_book_L2_BTCUSDT.csv")
        }
    };
    let updates: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(10_000_000);
    let inst = sample_instrument();
    let instruments = vec![inst.clone()];

    if !path.exists() {
        let t = Instant::now();
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        writeln!(w, "{TARDIS_L2_HEADER}")?;
        let mut tw = TardisWriter::new("binance-futures", FILE_SYMBOL, &inst, 1_500);
        let spec = L2GeneratorSpec { updates, depth: 500, snapshot_every: 2_000_000, ..Default::default() };
        let mut rows = 0u64;
        for e in L2Generator::new(spec) {
            if let MarketEvent::BookDelta(d) = e {
                tw.l2_delta(&mut w, &d)?;
                rows += 1;
            }
        }
        w.flush()?;
        let dt = t.elapsed().as_secs_f64();
        println!("generated {rows} rows in {dt:.2} s → {}", path.display());
    }
    let bytes = std::fs::metadata(&path)?.len();
    println!("file: {} ({:.1} MB)", path.display(), bytes as f64 / 1e6);
    println!("peak RSS after generation: {} kB", vm_hwm_kb().unwrap_or(0));

    // 1) reader + book builder
    let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
    let mut summary = String::new();
    for run in 0..3 {
        let t = Instant::now();
        let c = cpu_s();
        let mut r = TardisIncrementalL2Reader::open(&path, &instruments, &sample_options())?;
        let mut book = L2Book::new();
        let (mut deltas, mut starts) = (0u64, 0u64);
        let mut checksum = 0i64;
        while let Some(e) = r.next_market_event()? {
            match e {
                MarketEvent::BookDelta(d) => {
                    book.apply_delta(&d);
                    deltas += 1;
                }
                MarketEvent::BookSnapshotStart { .. } => {
                    book.clear();
                    starts += 1;
                }
                _ => {}
            }
            checksum = checksum.wrapping_add(book.best_bid().map_or(0, |l| l.price));
        }
        let dt = t.elapsed().as_secs_f64();
        let dc = cpu_s() - c;
        best = best.min(dt);
        best_cpu = best_cpu.min(dc);
        summary = format!(
            "reader+book: {deltas} updates ({starts} snapshots, checksum {checksum}), best of {}:\n  wall {best:.3} s → {:.2} M updates/s ({:.0} MB/s)\n  cpu  {best_cpu:.3} s → {:.2} M updates/s ({:.0} MB/s) on one core",
            run + 1,
            deltas as f64 / best / 1e6,
            bytes as f64 / best / 1e6,
            deltas as f64 / best_cpu / 1e6,
            bytes as f64 / best_cpu / 1e6
        );
    }
    println!("{summary}");

    // 2) reader + book + top-of-book quotes (what the engine consumes)
    let t = Instant::now();
    let c = cpu_s();
    let mut q = QuoteSource::new(TardisIncrementalL2Reader::open(&path, &instruments, &sample_options())?);
    let mut quotes = 0u64;
    while q.next_event()?.is_some() {
        quotes += 1;
    }
    let dt = t.elapsed().as_secs_f64();
    let dc = cpu_s() - c;
    println!(
        "reader+book+QuoteSource: {} book events → {quotes} quotes:\n  wall {dt:.3} s → {:.2} M updates/s\n  cpu  {dc:.3} s → {:.2} M updates/s",
        q.book_events(),
        q.book_events() as f64 / dt / 1e6,
        q.book_events() as f64 / dc / 1e6
    );
    println!("peak RSS (VmHWM): {} kB", vm_hwm_kb().unwrap_or(0));
    Ok(())
}
