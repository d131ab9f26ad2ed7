//! Several venues in one run (issue 5): two perpetuals on two venues with
//! different fees and order-entry latency, market data from two files merged
//! in time order, one sandboxed taker/quoter (bench_ema.wasm) per instrument.

use bulkhead_abi::{Event, EventKind};
use bulkhead_data::{Generator, GeneratorSpec, write_event};
use bulkhead_engine::{LoadedConfig, records, run_config};
use bulkhead_journal::JournalReader;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

const INSTRUMENTS: &str = r#"
[[instruments]]
symbol = "BTC-USDT-PERP"
kind = "perpetual"
tick_size = "0.1"
lot_size = "0.001"

[[instruments]]
symbol = "ETH-USDT-PERP"
kind = "perpetual"
tick_size = "0.1"
lot_size = "0.001"
"#;

/// Write `events` generated events of instrument `id` as Bulkhead CSV.
fn data_file(dir: &Path, cfg_instruments: &[bulkhead_model::Instrument], id: u32, seed: u64, start: i64) -> PathBuf {
    let inst = &cfg_instruments[id as usize];
    let path = dir.join(format!("{}.csv", inst.symbol));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(w, "ts_ns,type,symbol,f1,f2,f3,f4").unwrap();
    let spec = GeneratorSpec { seed, events: 6_000, instrument: id, start_price: start, ..GeneratorSpec::default() };
    for e in Generator::new(spec) {
        write_event(&mut w, inst, &e).unwrap();
    }
    w.flush().unwrap();
    path
}

fn policy(dir: &Path, symbol: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("bench/policy.toml"))
        .unwrap()
        .replace("instruments = [\"BTC-USDT-PERP\"]", &format!("instruments = [\"{symbol}\"]"));
    let p = dir.join(format!("{symbol}.policy.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn config(dir: &Path, venues: &str) -> PathBuf {
    // Instruments first (the data files need them), then the whole config.
    let probe = dir.join("probe.toml");
    let wasm = root().join("strategies/wasm/bench_ema.wasm");
    let strategies = |p0: &Path, p1: &Path| {
        format!(
            r#"
[[strategies]]
name = "btc"
module = "{w}"
policy = "{p0}"
limits = {{ deadline_us = 500_000 }}
[strategies.config]
instrument = 0

[[strategies]]
name = "eth"
module = "{w}"
policy = "{p1}"
limits = {{ deadline_us = 500_000 }}
[strategies.config]
instrument = 1
"#,
            w = wasm.display(),
            p0 = p0.display(),
            p1 = p1.display()
        )
    };
    let p0 = policy(dir, "BTC-USDT-PERP");
    let p1 = policy(dir, "ETH-USDT-PERP");
    let head = format!("[run]\njournal = \"journal\"\n\n{venues}\n{INSTRUMENTS}");
    let probe_head = format!("[run]\njournal = \"journal\"\n\n{}\n{INSTRUMENTS}", SINGLE_VENUE);
    std::fs::write(
        &probe,
        format!(
            "{probe_head}\n[data.generator]\nsymbol = \"BTC-USDT-PERP\"\nseed = 1\nevents = 1\nstart_price = \"1\"\n{}",
            strategies(&p0, &p1)
        ),
    )
    .unwrap();
    let instruments = LoadedConfig::load(&probe).unwrap().instruments;
    let btc = data_file(dir, &instruments, 0, 7, 650_000);
    let eth = data_file(dir, &instruments, 1, 8, 35_000);
    let path = dir.join("run.toml");
    std::fs::write(
        &path,
        format!(
            "{head}\n[[data.sources]]\nfile = \"{}\"\n\n[[data.sources]]\nfile = \"{}\"\n{}",
            btc.display(),
            eth.display(),
            strategies(&p0, &p1)
        ),
    )
    .unwrap();
    path
}

const SINGLE_VENUE: &str = "[venue]\nname = \"sim\"\nmaker_fee_ppm = 0\ntaker_fee_ppm = 0\n";

const TWO_VENUES: &str = r#"
[venue]
name = "binance"
maker_fee_ppm = -100
taker_fee_ppm = 500

[[venues]]
name = "okx"
maker_fee_ppm = 0
taker_fee_ppm = 300
order_latency_ns = 1_000_000
instruments = ["ETH-USDT-PERP"]
"#;

fn u32_at(p: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(p[at..at + 4].try_into().unwrap())
}
fn u64_at(p: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(p[at..at + 8].try_into().unwrap())
}

#[test]
fn two_venues_keep_their_own_fees_and_latency_and_data_merges_in_time_order() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = LoadedConfig::load(&config(tmp.path(), TWO_VENUES)).unwrap();
    assert_eq!(cfg.venues.len(), 2);
    assert_eq!((cfg.venues[0].1.clone(), cfg.venues[1].1.clone()), (vec![0], vec![1]));
    let report = run_config(&cfg, &mut |_, _| {}).unwrap();
    assert_eq!(report.events, 12_000);

    let mut last_ts = 0;
    let mut market = [0u64; 2];
    let mut order_ts: BTreeMap<(u32, u64), u64> = BTreeMap::new();
    let mut fee_ppm: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
    let mut accept_delay: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for r in JournalReader::open(&cfg.journal_dir).unwrap() {
        let r = r.unwrap();
        match r.kind {
            records::MARKET => {
                let e = Event::decode(&r.payload).unwrap();
                assert!(e.ts_ns >= last_ts, "market data out of time order at record #{}", r.seq);
                last_ts = e.ts_ns;
                market[e.instrument as usize] += 1;
            }
            records::ORDER if u16::from_le_bytes([r.payload[12], r.payload[13]]) == 0 => {
                order_ts.insert((u32_at(&r.payload, 0), u64_at(&r.payload, 4)), r.ts_ns);
            }
            records::VENUE => {
                let sid = u32_at(&r.payload, 0);
                let e = Event::decode(&r.payload[4..]).unwrap();
                match e.kind {
                    EventKind::OrderAccepted => {
                        accept_delay[sid as usize].push(r.ts_ns - order_ts[&(sid, e.id)]);
                    }
                    EventKind::Fill if e.flags & bulkhead_abi::EVENT_FLAG_MAKER == 0 => {
                        // fee (1e-8 quote) = price·0.1 × qty·0.001 × ppm/1e6 × 1e8
                        fee_ppm[sid as usize].push(e.a * 100 / (e.price * e.qty));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert_eq!(market, [6_000, 6_000]);
    for (sid, want) in [(0usize, 500i64), (1, 300)] {
        assert!(!fee_ppm[sid].is_empty(), "strategy {sid} took liquidity");
        assert!(
            fee_ppm[sid].iter().all(|&f| (f - want).abs() <= 1),
            "strategy {sid}: taker fees {:?}",
            &fee_ppm[sid][..5]
        );
    }
    // binance: no latency, accepted at the decision's time; okx: 1 ms later or more.
    assert!(!accept_delay[0].is_empty() && accept_delay[0].iter().all(|&d| d == 0), "{:?}", &accept_delay[0][..5]);
    assert!(
        !accept_delay[1].is_empty() && accept_delay[1].iter().all(|&d| d >= 1_000_000),
        "{:?}",
        &accept_delay[1][..5]
    );

    // Deterministic: the same config again gives the same journal.
    let again = tempfile::tempdir().unwrap();
    let cfg2 = LoadedConfig::load(&config(again.path(), TWO_VENUES)).unwrap();
    let report2 = run_config(&cfg2, &mut |_, _| {}).unwrap();
    assert_eq!(
        report.strategies.iter().map(|s| s.stats.fills).collect::<Vec<_>>(),
        report2.strategies.iter().map(|s| s.stats.fills).collect::<Vec<_>>()
    );
}

#[test]
fn venue_config_errors_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            TWO_VENUES.replace("instruments = [\"ETH-USDT-PERP\"]", "instruments = [\"DOGE\"]"),
            "venues[0].instruments[0]",
            "unknown instrument `DOGE`",
        ),
        (
            TWO_VENUES
                .replace("instruments = [\"ETH-USDT-PERP\"]", "instruments = [\"ETH-USDT-PERP\", \"ETH-USDT-PERP\"]"),
            "venues[0].instruments[1]",
            "already traded on venue `okx`",
        ),
        (TWO_VENUES.replace("name = \"okx\"", "name = \"binance\""), "venues[0].name", "duplicate venue name"),
        (TWO_VENUES.replace("instruments = [\"ETH-USDT-PERP\"]", ""), "venues[0].instruments", "list the symbols"),
    ];
    for (venues, field, msg) in cases {
        let dir = tempfile::tempdir_in(tmp.path()).unwrap();
        let e = match LoadedConfig::load(&config(dir.path(), &venues)) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{field}: accepted"),
        };
        assert!(e.contains(field) && e.contains(msg), "{field}: {e}");
    }
}

/// With `collateral`, a strategy's account is margined: a position its
/// collateral cannot carry is liquidated by the venue, journalled as a
/// NOTICE, and the venue's and risk's books agree afterwards.
#[test]
fn an_undercollateralised_account_is_liquidated_and_journalled() {
    let tmp = tempfile::tempdir().unwrap();
    let path = config(
        tmp.path(),
        &TWO_VENUES.replace("taker_fee_ppm = 500", "taker_fee_ppm = 500\nliquidation_fee_ppm = 5000"),
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen(
            "lot_size = \"0.001\"",
            "lot_size = \"0.001\"\ninitial_margin_bps = 500\nmaintenance_margin_bps = 505",
            1,
        )
        // 3.27 USDT opens one lot at 5 % initial margin (0.001 BTC ≈ 65 USDT →
        // 3.25 USDT), and maintenance (5.05 % ≈ 3.28 USDT) is then above the
        // equity: the test needs a liquidation, not a realistic margin table.
        .replace("name = \"btc\"", "name = \"btc\"\ncollateral = \"3.27\"");
    std::fs::write(&path, text).unwrap();
    let cfg = LoadedConfig::load(&path).unwrap();
    assert_eq!(cfg.strategies[0].collateral, Some(327_000_000));
    let report = run_config(&cfg, &mut |_, _| {}).unwrap();
    let mut liquidations = Vec::new();
    for r in JournalReader::open(&cfg.journal_dir).unwrap() {
        let r = r.unwrap();
        if r.kind == records::NOTICE {
            let d = bulkhead_engine::decode::decode(r.kind, &r.payload).unwrap();
            if let bulkhead_engine::decode::Decoded::Notice { sid, notice: "liquidation", qty, fee, .. } = d {
                liquidations.push((sid, qty, fee));
            }
        }
    }
    assert!(!liquidations.is_empty(), "no liquidation journalled: {:?}", report.strategies[0].stats);
    assert!(liquidations.iter().all(|&(sid, qty, fee)| sid == Some(0) && qty > 0 && fee > 0), "{liquidations:?}");
    // The eth strategy (no collateral) is never margined.
    assert!(report.strategies[1].stats.fills > 0);
    // Bad collateral names the field.
    let bad = std::fs::read_to_string(&path).unwrap().replace("collateral = \"3.27\"", "collateral = \"-3\"");
    std::fs::write(&path, bad).unwrap();
    let e = LoadedConfig::load(&path).err().expect("negative collateral refused").to_string();
    assert!(e.contains("strategies[0].collateral"), "{e}");
}
