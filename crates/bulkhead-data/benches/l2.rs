//! L2 reader + book builder throughput (in memory, so disk and page cache are
//! out of the picture). The ≥ 10M-update file run is `examples/l2_replay.rs`.
//!
//! `cargo bench -p bulkhead-data --bench l2`

use bulkhead_data::samples::{FILE_SYMBOL, sample_instrument, sample_options};
use bulkhead_data::writers::{TARDIS_L2_HEADER, TardisWriter};
use bulkhead_data::{
    L2Book, L2Generator, L2GeneratorSpec, MarketEvent, MarketSource, QuoteSource, TardisIncrementalL2Reader,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

const UPDATES: u64 = 500_000;

fn events() -> Vec<MarketEvent> {
    L2Generator::new(L2GeneratorSpec { updates: UPDATES, depth: 500, ..Default::default() }).collect()
}

fn csv(evs: &[MarketEvent]) -> &'static [u8] {
    let mut out = format!("{TARDIS_L2_HEADER}\n").into_bytes();
    let mut w = TardisWriter::new("binance-futures", FILE_SYMBOL, &sample_instrument(), 1_500);
    for e in evs {
        if let MarketEvent::BookDelta(d) = e {
            w.l2_delta(&mut out, d).unwrap();
        }
    }
    Box::leak(out.into_boxed_slice())
}

fn bench(c: &mut Criterion) {
    let evs = events();
    let bytes = csv(&evs);
    let instruments = vec![sample_instrument()];
    let n = evs.len() as u64;
    let mut g = c.benchmark_group("l2");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);

    g.bench_function("book_apply", |b| {
        b.iter(|| {
            let mut book = L2Book::new();
            for e in &evs {
                book.apply(e);
            }
            black_box(book.best_bid())
        })
    });

    g.bench_function("reader_parse", |b| {
        b.iter(|| {
            let mut r =
                TardisIncrementalL2Reader::from_reader(Path::new("mem"), bytes, &instruments, &sample_options())
                    .unwrap();
            let mut k = 0u64;
            while let Some(e) = r.next_market_event().unwrap() {
                k += black_box(&e).ts_ns() & 1;
            }
            k
        })
    });

    g.bench_function("reader_plus_book", |b| {
        b.iter(|| {
            let mut r =
                TardisIncrementalL2Reader::from_reader(Path::new("mem"), bytes, &instruments, &sample_options())
                    .unwrap();
            let mut book = L2Book::new();
            while let Some(e) = r.next_market_event().unwrap() {
                book.apply(&e);
            }
            black_box(book.best_ask())
        })
    });

    g.bench_function("reader_book_quotes", |b| {
        b.iter(|| {
            let r = TardisIncrementalL2Reader::from_reader(Path::new("mem"), bytes, &instruments, &sample_options())
                .unwrap();
            let mut q = QuoteSource::new(r);
            let mut k = 0u64;
            while let Some(e) = q.next_event().unwrap() {
                k += e.price as u64 & 1;
            }
            k
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
