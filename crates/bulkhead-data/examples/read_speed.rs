//! Reader throughput, Bulkhead CSV against its Parquet catalogue import:
//! `cargo run --release -p bulkhead-data --example read_speed -- FILE.csv FILE.parquet [SYMBOL TICK LOT]`
//! (default instrument: the demo's BTC-USDT-PERP, tick 0.1, lot 0.001).
//! Reads each file three times and prints the best ns/event and events/s.

use bulkhead_data::{CatalogueReader, CsvReader, MarketSource};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec};
use std::path::Path;
use std::time::Instant;

fn drain(src: &mut dyn MarketSource) -> (u64, i64) {
    let (mut n, mut sum) = (0u64, 0i64);
    while let Some(e) = src.next_event().expect("read") {
        n += 1;
        sum = sum.wrapping_add(e.price);
    }
    (n, sum)
}

fn best(name: &str, open: &dyn Fn() -> Box<dyn MarketSource>) -> (u64, i64) {
    let mut best = f64::MAX;
    let mut out = (0, 0);
    for _ in 0..3 {
        let t = Instant::now();
        let mut src = open();
        out = drain(src.as_mut());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{name:8} {:>9} events  {:6.1} ns/event  {:>11.0} events/s",
        out.0,
        best * 1e9 / out.0 as f64,
        out.0 as f64 / best
    );
    out
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (csv, pq) = (Path::new(&a[1]).to_path_buf(), Path::new(&a[2]).to_path_buf());
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let spec = InstrumentSpec {
        symbol: arg(3, "BTC-USDT-PERP"),
        kind: InstrumentKind::Perpetual,
        tick_size: arg(4, "0.1"),
        lot_size: arg(5, "0.001"),
        multiplier: "1".into(),
        ..Default::default()
    };
    let inst = vec![Instrument::from_spec(0, &spec).expect("instrument")];
    let i2 = inst.clone();
    let c = best("csv", &move || Box::new(CsvReader::open(&csv, &inst).expect("open csv")));
    let p = best("parquet", &move || Box::new(CatalogueReader::open(&pq, &i2).expect("open parquet")));
    assert_eq!(c, p, "the two files hold different events");
}
