//! `bulkhead data import` / `data info` and a run over the catalogue:
//! same market records and decisions as the run over the CSV itself; bad
//! catalogues are one clear line naming the file.

use crate::common;

use common::{assert_user_error, bulkhead, demo_variant, root};
use std::path::Path;

/// Every journal record but the config ones (`RUN_START` carries the
/// config's hash, `CONFIG` its text: the two configs differ by design).
fn records(dir: &Path) -> Vec<(u16, u64, Vec<u8>)> {
    bulkhead_journal::JournalReader::open(dir)
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|r| r.kind != bulkhead_engine::records::RUN_START && r.kind != bulkhead_engine::records::CONFIG)
        .map(|r| (r.kind, r.ts_ns, r.payload))
        .collect()
}

fn with_data(dir: &Path, name: &str, data: &str) -> std::path::PathBuf {
    let cfg = demo_variant(dir, |t| {
        let start = t.find("[data.generator]").unwrap();
        let end = start + t[start..].find("\n\n").unwrap();
        format!("{}{data}{}", &t[..start], &t[end..]).replace("out/demo.journal", &format!("out/{name}.journal"))
    });
    let path = dir.join(format!("{name}.toml"));
    std::fs::rename(cfg, &path).unwrap();
    path
}

#[test]
fn import_then_run_matches_the_csv_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = d.join("md.csv");
    let (code, _, err) = bulkhead(&["gen-data", "--out", csv.to_str().unwrap(), "--events", "5000"]);
    assert_eq!(code, 0, "{err}");
    let csv_cfg = with_data(d, "csv", &format!("[data]\nfile = \"{}\"", csv.display()));
    let pq = d.join("md.parquet");
    let (code, out, err) =
        bulkhead(&["data", "import", "--config", csv_cfg.to_str().unwrap(), "--out", pq.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote 5000 events"), "{out}");
    let (code, out, err) = bulkhead(&["data", "info", pq.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("BTC-USDT-PERP tick 0.1 lot 0.001") && out.contains("source: bulkhead"), "{out}");
    let pq_cfg = with_data(d, "pq", &format!("[data]\nfile = \"{}\"\nformat = \"parquet\"", pq.display()));
    for cfg in [&csv_cfg, &pq_cfg] {
        let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("events: 5000"), "{out}");
    }
    let (a, b) = (records(&d.join("out/csv.journal")), records(&d.join("out/pq.journal")));
    assert!(a.len() > 5000);
    assert!(a == b, "journals differ");
}

#[test]
fn a_single_tardis_file_imports_with_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = demo_variant(d, |t| t);
    let pq = d.join("l2.parquet");
    let l2 = root().join("examples/data/tardis_incremental_book_L2_BTCUSDT.csv.gz");
    let (code, out, err) = bulkhead(&[
        "data",
        "import",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        pq.to_str().unwrap(),
        "--file",
        l2.to_str().unwrap(),
        "--format",
        "tardis_incremental_book_l2",
        "--symbol-map",
        "BTCUSDT=BTC-USDT-PERP",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("book_level") && out.contains("quote"), "{out}");
    let (code, _, err) = bulkhead(&[
        "data",
        "import",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        pq.to_str().unwrap(),
        "--file",
        l2.to_str().unwrap(),
        "--format",
        "tardis_l3",
    ]);
    assert_user_error(code, &err, &["--format", "tardis_l3"]);
}

#[test]
fn bad_catalogues_are_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = d.join("bad.parquet");
    std::fs::write(&bad, b"PAR1 this is not really parquet").unwrap();
    let cfg = with_data(d, "bad", &format!("[data]\nfile = \"{}\"\nformat = \"parquet\"", bad.display()));
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_user_error(code, &err, &["bad.parquet"]);
    let (code, _, err) = bulkhead(&["data", "info", bad.to_str().unwrap()]);
    assert_user_error(code, &err, &["bad.parquet", "PAR1"]);
    // a catalogue on another grid
    let csv = root().join("examples/data/btcusdt-perp-sample.csv");
    let ok_cfg = with_data(d, "ok", &format!("[data]\nfile = \"{}\"", csv.display()));
    let pq = d.join("s.parquet");
    let (code, _, err) =
        bulkhead(&["data", "import", "--config", ok_cfg.to_str().unwrap(), "--out", pq.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let cfg = with_data(d, "grid", &format!("[data]\nfile = \"{}\"\nformat = \"parquet\"", pq.display()));
    let text = std::fs::read_to_string(&cfg).unwrap().replace("tick_size = \"0.1\"", "tick_size = \"0.5\"");
    std::fs::write(&cfg, text).unwrap();
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_user_error(code, &err, &["s.parquet", "instruments[0].tick_size"]);
}
