//! The engine's market-data path (issue 5): L2 books reach the venue level
//! by level, derivative tickers feed marks, index and funding, R3 "mark"
//! means the venue's mark, and a configured settlement price settles a
//! future. Data-driven: Tardis CSV written here, read through the real
//! config loader and `open_source`, journalled and read back; every figure
//! is computed by hand in the comments. Native scripted strategies, so no
//! wasm build is needed.

use crate::containment_support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bulkhead_abi::{Event, EventKind, HostApi, OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_engine::{
    Engine, LoadedConfig, NativeStrategy, StrategyKind, StrategySetup, apply_run_settings, open_source, records,
};
use bulkhead_journal::{JournalParams, JournalWriter};
use containment_support::{Rec, read_journal, repo};

/// Submits `plan[i].1` at the first market event at or after `plan[i].0`
/// (ns); records every event it is handed and every submit result.
struct Script {
    plan: Vec<(u64, OrderRequest)>,
    seen: Arc<Mutex<Vec<Event>>>,
    results: Arc<Mutex<Vec<i64>>>,
}

impl NativeStrategy for Script {
    fn init(&mut self, _host: &mut dyn HostApi, _now_ns: u64, _config: &[u8]) -> i32 {
        0
    }
    fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32 {
        for e in events {
            self.seen.lock().unwrap().push(*e);
            let market = matches!(e.kind, EventKind::Quote | EventKind::Trade);
            while market && self.plan.first().is_some_and(|(at, _)| e.ts_ns >= *at) {
                let (_, req) = self.plan.remove(0);
                let r = host.submit_order(&req);
                self.results.lock().unwrap().push(r);
            }
        }
        0
    }
}

fn limit(side: Side, price: i64, qty: i64) -> OrderRequest {
    OrderRequest {
        instrument: 0,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        price,
        qty,
        tag: 0,
    }
}

fn market(side: Side, qty: i64) -> OrderRequest {
    OrderRequest { order_type: OrderType::Market, tif: TimeInForce::Ioc, price: 0, ..limit(side, 0, qty) }
}

const PERP: &str = "[[instruments]]\nsymbol = \"BTC-USDT-PERP\"\nkind = \"perpetual\"\n\
                    tick_size = \"0.1\"\nlot_size = \"0.001\"\nfunding_interval_ns = 60000000000\n";

const L2_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount";
const TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";
const QUOTES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount";
const TICKER_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,\
                             predicted_funding_rate,open_interest,last_price,index_price,mark_price";

/// A permissive policy (bench/policy.toml) with `extra` lines replacing its keys.
fn policy(extra: &[(&str, &str)]) -> String {
    let mut t: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo().join("bench/policy.toml")).unwrap()).unwrap();
    for (k, v) in extra {
        t.insert((*k).into(), toml::from_str::<toml::Table>(&format!("x = {v}")).unwrap()["x"].clone());
    }
    toml::to_string(&t).unwrap()
}

/// Write the data files and a run config (`venue_extra` under `[venue]`,
/// `body` after the instruments) into `dir` and load it.
fn load(dir: &Path, venue_extra: &str, body: &str, files: &[(&str, String)], pol: &str) -> LoadedConfig {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("policy.toml"), pol).unwrap();
    std::fs::write(dir.join("dummy.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let text = format!(
        "[run]\njournal = \"journal\"\n\n[venue]\nname = \"sim\"\nmaker_fee_ppm = 0\ntaker_fee_ppm = 0\n{venue_extra}\n\
         {PERP}\n{body}\n\n[[strategies]]\nname = \"s\"\nmodule = \"dummy.wasm\"\npolicy = \"policy.toml\"\n"
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    LoadedConfig::load(&path).unwrap()
}

fn source(file: &str, format: &str) -> String {
    format!(
        "[[data.sources]]\nfile = \"{file}\"\nformat = \"{format}\"\n\
         symbol_map = {{ BTCUSDT = \"BTC-USDT-PERP\", BTCFUT = \"BTC-FUT\" }}\n"
    )
}

struct Outcome {
    journal: Vec<(u64, Rec)>,
    seen: Vec<Event>,
    results: Vec<i64>,
}

/// Run `cfg` as `bulkhead run` would (same source, venues and run settings,
/// `apply_run_settings`), with the scripted native strategy.
fn run(cfg: &LoadedConfig, plan: Vec<(u64, OrderRequest)>) -> Outcome {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let journal = JournalWriter::create(&cfg.journal_dir, JournalParams::default()).unwrap();
    let mut engine = Engine::with_venues(cfg.instruments.clone(), cfg.venues.clone(), journal, None, "test").unwrap();
    apply_run_settings(&mut engine, cfg);
    let script = Script { plan, seen: seen.clone(), results: results.clone() };
    engine
        .add_strategy(StrategySetup {
            name: "s",
            policy: cfg.strategies[0].policy.clone(),
            config: b"",
            kind: StrategyKind::Native(Box::new(script)),
            signer: None,
            surveillance: Default::default(),
        })
        .unwrap();
    let mut src = open_source(cfg).unwrap();
    engine.run(src.as_mut(), &mut |_| {}).unwrap();
    engine.finish().unwrap();
    let journal = read_journal(&cfg.journal_dir);
    // Every record, the new market kinds included, decodes.
    for r in bulkhead_journal::JournalReader::open(&cfg.journal_dir).unwrap() {
        let r = r.unwrap();
        bulkhead_engine::decode::decode(r.kind, &r.payload).unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let results = results.lock().unwrap().clone();
    Outcome { journal, seen, results }
}

fn fills(j: &[(u64, Rec)]) -> Vec<(u64, i64, i64, bool)> {
    j.iter()
        .filter_map(|(ts, r)| match r {
            Rec::Venue { ev, .. } if ev.kind == EventKind::Fill => {
                Some((*ts, ev.price, ev.qty, ev.flags & bulkhead_abi::EVENT_FLAG_MAKER != 0))
            }
            _ => None,
        })
        .collect()
}

/// NOTICE records: (ts, sid, notice, instrument, qty, price, amount).
fn notices(j: &[(u64, Rec)]) -> Vec<(u64, u32, u8, u32, i64, i64, i64)> {
    let u32_at = |p: &[u8], o: usize| u32::from_le_bytes(p[o..o + 4].try_into().unwrap());
    let i64_at = |p: &[u8], o: usize| i64::from_le_bytes(p[o..o + 8].try_into().unwrap());
    j.iter()
        .filter_map(|(ts, r)| match r {
            Rec::Other(k, p) if *k == records::NOTICE => {
                Some((*ts, u32_at(p, 0), p[4], u32_at(p, 5), i64_at(p, 9), i64_at(p, 17), i64_at(p, 25)))
            }
            _ => None,
        })
        .collect()
}

fn s(ns: u64) -> u64 {
    ns * 1_000_000_000
}

// ---------------------------------------------------------------- L2 queue

/// Book: bids 65000.0 × 2.000 and 64999.9 × 1.000, ask 65000.1 × 1.500.
/// The strategy bids 0.500 at 64999.9, one level below the best bid.
fn l2_files() -> Vec<(&'static str, String)> {
    let l2 = format!(
        "{L2_HEADER}\n\
         x,BTCUSDT,1000000,1000000,true,bid,65000.0,2.000\n\
         x,BTCUSDT,1000000,1000000,true,bid,64999.9,1.000\n\
         x,BTCUSDT,1000000,1000000,true,ask,65000.1,1.500\n\
         x,BTCUSDT,3000000,3000000,false,bid,65000.0,0\n\
         x,BTCUSDT,5000000,5000000,false,bid,64999.9,0.600\n\
         x,BTCUSDT,6000000,6000000,false,bid,64999.9,0.300\n"
    );
    let trades = format!(
        "{TRADES_HEADER}\n\
         x,BTCUSDT,4000000,4000000,1,sell,64999.9,0.400\n\
         x,BTCUSDT,7000000,7000000,2,sell,64999.9,0.500\n"
    );
    vec![("l2.csv", l2), ("trades.csv", trades)]
}

/// Queue position behind displayed L2 size, by hand (lots of 0.001):
/// - 1 s: the bid rests at 64999.9 behind the 1000 lots displayed there
///   (queue_ahead 1000). Top of book only would have said 0: the level is
///   not the best bid, so its depth was unknown.
/// - 3 s: 65000.0 is removed; 64999.9 becomes the best bid (1000 shown).
/// - 4 s: a 400-lot sell prints at 64999.9: it erodes the queue to 600, and
///   fills nothing (400 < 1000 ahead).
/// - 5 s: the level shows 600: the 400 decrease is the print, no cancel.
/// - 6 s: the level shows 300: 300 lots cancelled, spread proportionally
///   over the queue: 600 − 300 × 600 / 600 = 300 ahead.
/// - 7 s: a 500-lot sell prints: 300 erode the queue, the other 200 fill
///   the strategy's bid (maker, at 64999.9); 300 of its 500 stay open.
#[test]
fn resting_order_queues_behind_displayed_l2_size_and_advances_on_prints_and_cancels() {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!("{}{}", source("l2.csv", "tardis_incremental_book_l2"), source("trades.csv", "tardis_trades"));
    let cfg = load(tmp.path(), "", &body, &l2_files(), &policy(&[]));
    let out = run(&cfg, vec![(s(1), limit(Side::Buy, 649_999, 500))]);
    assert!(out.results[0] > 0, "accepted by risk: {:?}", out.results);
    assert_eq!(fills(&out.journal), vec![(s(7), 649_999, 200, true)]);
    // The levels are journalled as MARKET records (replay / resume feed them again) …
    let kinds: Vec<EventKind> = out
        .journal
        .iter()
        .filter_map(|(_, r)| match r {
            Rec::Market(e) if matches!(e.kind, EventKind::BookLevel | EventKind::BookClear) => Some(e.kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds.len(), 7, "one clear and six levels: {kinds:?}");
    // … but by default the strategy sees only quotes and trades.
    assert!(out.seen.iter().all(|e| !matches!(e.kind, EventKind::BookLevel | EventKind::BookClear)));
    let quotes: Vec<(u64, i64, i64)> =
        out.seen.iter().filter(|e| e.kind == EventKind::Quote).map(|e| (e.ts_ns, e.price, e.qty)).collect();
    assert_eq!(quotes, vec![(s(1), 650_000, 2000), (s(3), 649_999, 1000), (s(5), 649_999, 600), (s(6), 649_999, 300)]);

    // Opted in: the strategy also gets the levels; the venue decides the same.
    let tmp2 = tempfile::tempdir().unwrap();
    let body2 = format!("[data]\nstrategy_book_levels = true\n{body}");
    let cfg2 = load(tmp2.path(), "", &body2, &l2_files(), &policy(&[]));
    let out2 = run(&cfg2, vec![(s(1), limit(Side::Buy, 649_999, 500))]);
    assert_eq!(fills(&out2.journal), fills(&out.journal));
    let levels = out2.seen.iter().filter(|e| e.kind == EventKind::BookLevel).count();
    assert_eq!(levels, 6);

    // The old top-of-book-only model, for contrast: the same bid had nothing
    // ahead and the 400-lot print at 4 s filled it at once.
    use bulkhead_data::{
        MarketSource, MergedSource, QuoteSource, ReaderOptions, TardisIncrementalL2Reader, TardisTradesReader,
    };
    let opts = ReaderOptions::default().map_symbol("BTCUSDT", "BTC-USDT-PERP");
    let i = &cfg.instruments;
    let mut old = MergedSource::new(vec![
        Box::new(QuoteSource::new(TardisIncrementalL2Reader::open(&tmp.path().join("l2.csv"), i, &opts).unwrap()))
            as Box<dyn MarketSource>,
        Box::new(TardisTradesReader::open(&tmp.path().join("trades.csv"), i, &opts).unwrap()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let journal = JournalWriter::create(&dir.path().join("j"), JournalParams::default()).unwrap();
    let mut engine = Engine::with_venues(cfg.instruments.clone(), cfg.venues.clone(), journal, None, "old").unwrap();
    let script = Script {
        plan: vec![(s(1), limit(Side::Buy, 649_999, 500))],
        seen: Default::default(),
        results: Default::default(),
    };
    engine
        .add_strategy(StrategySetup {
            name: "s",
            policy: cfg.strategies[0].policy.clone(),
            config: b"",
            kind: StrategyKind::Native(Box::new(script)),
            signer: None,
            surveillance: Default::default(),
        })
        .unwrap();
    engine.run(&mut old, &mut |_| {}).unwrap();
    engine.finish().unwrap();
    assert_eq!(fills(&read_journal(&dir.path().join("j")))[0], (s(4), 649_999, 400, true));
}

// ---------------------------------------------------------------- funding / marks

fn ticker_files(quotes: &str) -> Vec<(&'static str, String)> {
    let ticker = format!(
        "{TICKER_HEADER}\n\
         x,BTCUSDT,10500000,10500000,60000000,0.0001,0.0001,,,64990.0,65000.0\n\
         x,BTCUSDT,30000000,30000000,60000000,-0.00005,,,,65090.0,65100.0\n"
    );
    vec![("quotes.csv", format!("{QUOTES_HEADER}\n{quotes}")), ("ticker.csv", ticker)]
}

/// Funding from a derivative_ticker file, by hand: the strategy buys 1.000
/// BTC at 10 s. The ticker sets mark 65000.0 and rate 0.0001 at 10.5 s, then
/// mark 65100.0 and rate −0.00005 at 30 s. Funding time 60 s (every 60 s
/// since the epoch) uses the latest: the long receives 65100 USDT × 1.000 ×
/// 0.00005 = 3.255 USDT = 325 500 000 money units (1e-8), journalled as a
/// NOTICE (notice 1 = funding) with qty 1000 lots and mark 651000 ticks, at
/// the time of the market event that moved the clock past 60 s (61 s).
#[test]
fn funding_from_a_derivative_ticker_file_is_journalled() {
    let tmp = tempfile::tempdir().unwrap();
    let quotes = "x,BTCUSDT,10000000,10000000,5.000,65000.1,65000.0,5.000\n\
                  x,BTCUSDT,61000000,61000000,5.000,65100.1,65100.0,5.000\n";
    let body = format!("{}{}", source("quotes.csv", "tardis_quotes"), source("ticker.csv", "tardis_derivative_ticker"));
    let cfg = load(tmp.path(), "mark = \"external\"", &body, &ticker_files(quotes), &policy(&[]));
    let out = run(&cfg, vec![(s(10), market(Side::Buy, 1000))]);
    assert_eq!(fills(&out.journal), vec![(s(10), 650_001, 1000, false)]);
    assert_eq!(notices(&out.journal), vec![(s(61), 0, 1, 0, 1000, 651_000, 325_500_000)]);
    // Tickers feed the venue; strategies do not see them.
    assert!(out.seen.iter().all(|e| e.kind != EventKind::Ticker));
    let tickers =
        out.journal.iter().filter(|(_, r)| matches!(r, Rec::Market(e) if e.kind == EventKind::Ticker)).count();
    assert_eq!(tickers, 2);
}

/// R3 with `collar_reference = "mark"` and a 100 bps collar uses the
/// venue's mark (65000.0 from the ticker at 10.5 s), not the mid of the
/// quotes (64000.0 / 64010.0 → 64005.0). Band: 65000 ± 650 → a sell at
/// 64349.9 is 650.1 away (refused), at 64350.1 it is 649.9 away (accepted).
/// Before the first ticker the venue has no mark and the reference falls
/// back to the mid: the same 64349.9 sell at 10 s is 344.9 from 64005 (accepted).
#[test]
fn r3_collar_with_reference_mark_uses_the_venue_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let quotes = "x,BTCUSDT,10000000,10000000,5.000,64010.0,64000.0,5.000\n\
                  x,BTCUSDT,11000000,11000000,5.000,64010.0,64000.0,5.000\n\
                  x,BTCUSDT,12000000,12000000,5.000,64010.0,64000.0,5.000\n";
    let body = format!("{}{}", source("quotes.csv", "tardis_quotes"), source("ticker.csv", "tardis_derivative_ticker"));
    let pol = policy(&[("price_collar_bps", "100"), ("collar_reference", "\"mark\"")]);
    let cfg = load(tmp.path(), "mark = \"external\"", &body, &ticker_files(quotes), &pol);
    let out = run(
        &cfg,
        vec![
            (s(10), limit(Side::Sell, 643_499, 1)),
            (s(11), limit(Side::Sell, 643_499, 1)),
            (s(12), limit(Side::Sell, 643_501, 1)),
        ],
    );
    let decisions: Vec<(u64, u16)> = out
        .journal
        .iter()
        .filter_map(|(ts, r)| match r {
            Rec::Order { reason, .. } => Some((*ts, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        decisions,
        vec![(s(10), Reason::Accepted.code()), (s(11), Reason::PriceCollar.code()), (s(12), Reason::Accepted.code())]
    );
    assert_eq!(out.results[1], -(Reason::PriceCollar.code() as i64));
}

// ---------------------------------------------------------------- settlement

/// A dated future (expiry 100 s) with `[[settlements]] price = "64000.5"`.
/// The strategy buys 1.000 at 65000.1 at 10 s; the data ends there. At the
/// end of the run the clock runs on to the expiry and the future settles at
/// 64000.5 (not the stale mid 65000.0): PnL (64000.5 − 65000.1) × 1.000 =
/// −999.6 USDT = −99 960 000 000 money units; NOTICE 3 (settlement) then 4
/// (instrument settled), both at 100 s.
#[test]
fn a_future_settles_at_the_configured_price() {
    let tmp = tempfile::tempdir().unwrap();
    let fut = "[[instruments]]\nsymbol = \"BTC-FUT\"\nkind = \"future\"\ntick_size = \"0.1\"\n\
               lot_size = \"0.001\"\nexpiry = 100000000000\n";
    let quotes = format!("{QUOTES_HEADER}\nx,BTCFUT,10000000,10000000,5.000,65000.1,65000.0,5.000\n");
    let body = format!(
        "{fut}\n[[settlements]]\nsymbol = \"BTC-FUT\"\nprice = \"64000.5\"\n{}",
        source("quotes.csv", "tardis_quotes")
    );
    let pol = policy(&[("instruments", "[\"BTC-USDT-PERP\", \"BTC-FUT\"]")]);
    let cfg = load(tmp.path(), "", &body, &[("quotes.csv", quotes)], &pol);
    assert_eq!(cfg.settlements, vec![(1, 640_005)]);
    let buy = OrderRequest { instrument: 1, ..market(Side::Buy, 1000) };
    let out = run(&cfg, vec![(s(10), buy)]);
    assert_eq!(fills(&out.journal), vec![(s(10), 650_001, 1000, false)]);
    assert_eq!(
        notices(&out.journal),
        vec![(s(100), 0, 3, 1, 1000, 640_005, -99_960_000_000), (s(100), u32::MAX, 4, 1, 0, 640_005, 0)]
    );
}

// ---------------------------------------------------------------- config refusals

fn load_err(dir: &Path, venue_extra: &str, body: &str) -> String {
    std::fs::write(dir.join("policy.toml"), policy(&[])).unwrap();
    std::fs::write(dir.join("dummy.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.join("q.csv"), format!("{QUOTES_HEADER}\n")).unwrap();
    let text = format!(
        "[run]\njournal = \"journal\"\n\n[venue]\nname = \"sim\"\nmaker_fee_ppm = 0\ntaker_fee_ppm = 0\n{venue_extra}\n\
         {PERP}\n{body}\n\n[[strategies]]\nname = \"s\"\nmodule = \"dummy.wasm\"\npolicy = \"policy.toml\"\n"
    );
    let path: PathBuf = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    match LoadedConfig::load(&path) {
        Ok(_) => panic!("config accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_mark_source_without_its_data_or_a_bad_settlement_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let q = source("q.csv", "tardis_quotes");
    for mark in ["external", "index_plus_basis"] {
        let e = load_err(tmp.path(), &format!("mark = \"{mark}\""), &q);
        assert!(e.contains("field `venue.mark`") && e.contains("tardis_derivative_ticker"), "{e}");
    }
    let e = load_err(tmp.path(), "", &format!("[[settlements]]\nsymbol = \"BTC-USDT-PERP\"\nprice = \"1\"\n{q}"));
    assert!(e.contains("field `settlements[0].symbol`") && e.contains("no expiry"), "{e}");
}
