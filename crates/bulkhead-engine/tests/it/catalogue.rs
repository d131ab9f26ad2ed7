//! Determinism of the Parquet catalogue: a run over the import of its data
//! journals byte for byte what the run over the data itself journals (the
//! demo's market written as Bulkhead CSV, and the Tardis L2 + trades
//! samples). The configs differ only in their data plan (set in memory),
//! so even the `CONFIG` and `RUN_START` records are the same: every journal
//! segment must be identical. Real wasm strategies (the demo's); needs
//! `scripts/build-strategies.sh` to have run.

use bulkhead_data::samples::{self, examples_data_dir};
use bulkhead_data::{Generator, write_event};
use bulkhead_engine::config::FileFormat;
use bulkhead_engine::{DataPlan, LoadedConfig, import_catalogue, run_config};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

fn demo_config(journal: PathBuf) -> LoadedConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo.toml");
    let mut cfg = LoadedConfig::load(&path).unwrap_or_else(|e| panic!("{e} (did scripts/build-strategies.sh run?)"));
    cfg.journal_dir = journal;
    cfg.raw.run.overwrite_journal = false;
    cfg
}

fn journal_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| (p.file_name().unwrap().into(), std::fs::read(&p).unwrap())).collect()
}

/// Run `data` and its catalogue import; both journals, and the report's
/// event count.
fn run_both(tmp: &Path, data: DataPlan) -> u64 {
    let mut direct = demo_config(tmp.join("direct"));
    direct.data = data;
    let pq = tmp.join("data.parquet");
    let info = import_catalogue(&direct, &pq, &mut |_| {}).unwrap();
    let a = run_config(&direct, &mut |_, _| {}).unwrap();
    let mut columnar = demo_config(tmp.join("columnar"));
    columnar.data = DataPlan::Files(vec![(pq, FileFormat::Parquet, None, BTreeMap::new())]);
    let b = run_config(&columnar, &mut |_, _| {}).unwrap();
    assert_eq!(a.events, info.events);
    assert_eq!(a.events, b.events);
    let (ja, jb) = (journal_bytes(&direct.journal_dir), journal_bytes(&columnar.journal_dir));
    assert_eq!(ja.len(), jb.len());
    for ((na, ba), (nb, bb)) in ja.iter().zip(&jb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "journal segment {} differs ({} vs {} bytes)", na.display(), ba.len(), bb.len());
    }
    a.events
}

#[test]
fn demo_data_journals_the_same_from_csv_and_from_its_parquet_import() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_config(tmp.path().join("unused"));
    let DataPlan::Generator(mut spec) = cfg.data else { panic!("the demo uses the generator") };
    spec.events = 60_000;
    // what `bulkhead gen-data` writes
    let csv = tmp.path().join("demo.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    writeln!(w, "ts_ns,type,symbol,f1,f2,f3,f4").unwrap();
    for e in Generator::new(spec) {
        write_event(&mut w, &cfg.instruments[0], &e).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    assert_eq!(run_both(tmp.path(), DataPlan::File(csv)), 60_000);
}

#[test]
fn tardis_l2_and_trades_journal_the_same_from_csv_and_from_their_parquet_import() {
    let tmp = tempfile::tempdir().unwrap();
    let d = examples_data_dir();
    let map: BTreeMap<String, String> = [("BTCUSDT".to_string(), "BTC-USDT-PERP".to_string())].into();
    let files = vec![
        (d.join(samples::TARDIS_INCREMENTAL_L2_GZ), FileFormat::TardisIncrementalBookL2, None, map.clone()),
        (d.join(samples::TARDIS_TRADES), FileFormat::TardisTrades, None, map.clone()),
        (d.join(samples::TARDIS_DERIVATIVE_TICKER), FileFormat::TardisDerivativeTicker, None, map),
    ];
    let n = run_both(tmp.path(), DataPlan::Files(files));
    assert!(n > 300, "{n}");
}
