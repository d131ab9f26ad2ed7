//! bench-runner — issue 8: run `bh-bench-ema` through the whole Bulkhead
//! pipeline (risk, simulated venue, journal) over a Bulkhead CSV file, either
//! as N sandboxed copies (wasm, one sandbox each) or once natively (same
//! code linked as an rlib, same host API), and print one JSON object.
//!
//! ```text
//! bench-runner --data FILE --mode sandboxed|native|parse|import [--strategies N]
//!              [--wasm bench/out/bench_ema.wasm] [--policy bench/policy.toml]
//!              [--config "key = value; ..."] [--events MAX]
//!              [--fsync never|always|every:N|every:N:Mms] [--release-gate ordered|durable]
//!              [--verify] [--surveillance FILE]
//! ```
//! `--surveillance FILE` (issue 16): run the `[surveillance]` tables of FILE
//! (firm-policy form: defaults for every strategy plus the firm-wide
//! wash-trade rule) on every strategy; the JSON then counts the alerts.
//! `--fsync` / `--release-gate` (issue 15): the journal's fsync policy (the
//! journal lives under the current directory, on a real disk) and when the
//! venue sees actions; the JSON then has the fsync count and, for `durable`,
//! the p50 / p99 wait of released actions. `--verify` times
//! `bulkhead_journal::verify` over the run's journal (best of three).
//! `parse` only reads the data (no engine): the fixed cost included in the others.
//! `--data` is Bulkhead CSV or, ending in `.parquet`, a Parquet catalogue
//! (issue 15); `--mode import` writes the CSV's catalogue beside it.
//!
//! Timing covers reading + parsing the CSV and running every event through the
//! engine, then `finish` (cancel what is open, close the journal); setup
//! (compiling the module, instantiating the sandboxes) is reported separately.
//! Peak RSS is the process's VmHWM from /proc/self/status.

use bh_bench_ema::BenchEma;
use bulkhead_abi::{Event, HostApi};
use bulkhead_data::{CatalogueReader, CatalogueWriter, CsvReader, MarketSource};
use bulkhead_engine::{Engine, NativeStrategy, ReleaseGate, StrategyKind, StrategySetup};
use bulkhead_journal::{FsyncPolicy, JournalParams, JournalWriter};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec};
use bulkhead_risk::Policy;
use bulkhead_sandbox::{Limits, RuntimeConfig, SandboxRuntime};
use bulkhead_sdk::NativeRunner;
use bulkhead_venue::FeeSchedule;
use std::path::PathBuf;
use std::time::Instant;

/// Same fees as examples/demo.toml and the Nautilus run: maker −1 bp, taker 5 bp.
const FEES: FeeSchedule = FeeSchedule { maker_ppm: -100, taker_ppm: 500 };

struct Native(NativeRunner<BenchEma>);

impl NativeStrategy for Native {
    fn init(&mut self, host: &mut dyn HostApi, now_ns: u64, config: &[u8]) -> i32 {
        self.0.init(host, now_ns, config)
    }
    fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32 {
        self.0.on_events(host, events)
    }
}

fn instruments() -> Vec<Instrument> {
    vec![
        Instrument::from_spec(
            0,
            &InstrumentSpec {
                symbol: "BTC-USDT-PERP".into(),
                kind: InstrumentKind::Perpetual,
                tick_size: "0.1".into(),
                lot_size: "0.001".into(),
                multiplier: "1".into(),
                ..InstrumentSpec::default()
            },
        )
        .expect("instrument"),
    ]
}

/// User + system CPU seconds of the whole process (all threads), from
/// /proc/self/stat (clock ticks of 1/100 s on Linux).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Args {
    data: PathBuf,
    mode: String,
    strategies: usize,
    wasm: PathBuf,
    policy: PathBuf,
    config: String,
    max_events: u64,
    fsync: FsyncPolicy,
    gate: ReleaseGate,
    verify: bool,
    /// Each strategy's linear-memory limit, MiB (`None`: the default, 64).
    memory_mib: Option<u64>,
    /// A firm policy whose `[surveillance]` tables run on every strategy.
    surveillance: Option<PathBuf>,
}

fn usage(msg: &str) -> ! {
    eprintln!("bench-runner: {msg}");
    eprintln!(
        "usage: bench-runner --data FILE --mode sandboxed|native|parse|import [--strategies N] [--wasm FILE] \
         [--policy FILE] [--config 'k = v; k = v'] [--events MAX] [--fsync POLICY] \
         [--release-gate ordered|durable] [--verify] [--memory-mib N] [--surveillance FILE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let bench = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut a = Args {
        data: PathBuf::new(),
        mode: "sandboxed".into(),
        strategies: 1,
        wasm: bench.join("out/bench_ema.wasm"),
        policy: bench.join("policy.toml"),
        config: String::new(),
        max_events: u64::MAX,
        fsync: FsyncPolicy::Never,
        gate: ReleaseGate::Ordered,
        verify: false,
        memory_mib: None,
        surveillance: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--data" => a.data = val().into(),
            "--mode" => a.mode = val(),
            "--strategies" => a.strategies = val().parse().unwrap_or_else(|_| usage("--strategies: not a number")),
            "--wasm" => a.wasm = val().into(),
            "--policy" => a.policy = val().into(),
            "--config" => a.config = val().replace(';', "\n"),
            "--surveillance" => a.surveillance = Some(val().into()),
            "--events" => a.max_events = val().parse().unwrap_or_else(|_| usage("--events: not a number")),
            "--verify" => a.verify = true,
            "--fsync" => a.fsync = val().parse().unwrap_or_else(|e| usage(&format!("--fsync: {e}"))),
            "--release-gate" => {
                a.gate = match val().as_str() {
                    "ordered" => ReleaseGate::Ordered,
                    "durable" => ReleaseGate::Durable,
                    other => usage(&format!("--release-gate: `{other}` is not ordered or durable")),
                }
            }
            "--memory-mib" => {
                a.memory_mib = Some(val().parse().unwrap_or_else(|_| usage("--memory-mib: not a number")))
            }
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    if a.data.as_os_str().is_empty() {
        usage("--data is required");
    }
    if !matches!(a.mode.as_str(), "sandboxed" | "native" | "parse" | "import") {
        usage("--mode must be sandboxed, native, parse or import");
    }
    if a.mode == "native" && a.strategies != 1 {
        usage("--mode native runs exactly one strategy");
    }
    a
}

fn main() {
    let args = parse_args();
    let insts = instruments();
    // Bulkhead CSV, or a Parquet catalogue (issue 15: no decimal parsing).
    let mut source: Box<dyn MarketSource> = if args.data.extension().is_some_and(|e| e == "parquet") {
        Box::new(CatalogueReader::open(&args.data, &insts).unwrap_or_else(|e| usage(&e.to_string())))
    } else {
        Box::new(CsvReader::open(&args.data, &insts).unwrap_or_else(|e| usage(&e.to_string())))
    };

    if args.mode == "import" {
        // The CSV as a Parquet catalogue beside it (`FILE.parquet`).
        let out = args.data.with_extension("parquet");
        let src = [("bulkhead".to_string(), args.data.display().to_string())];
        let mut w = CatalogueWriter::create(&out, &insts, &src).unwrap_or_else(|e| usage(&e.to_string()));
        while let Some(ev) = source.next_event().unwrap_or_else(|e| usage(&e.to_string())) {
            w.write(&ev).unwrap_or_else(|e| usage(&e.to_string()));
        }
        let info = w.finish().unwrap_or_else(|e| usage(&e.to_string()));
        eprintln!("wrote {} ({} events)", out.display(), info.events);
        return;
    }

    if args.mode == "parse" {
        let (t0, c0) = (Instant::now(), cpu_s());
        let mut n = 0u64;
        while n < args.max_events {
            match source.next_event() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break,
                Err(e) => usage(&e.to_string()),
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_s() - c0;
        println!(
            "{{\"engine\":\"bulkhead\",\"mode\":\"parse\",\"strategies\":0,\"events\":{n},\"wall_s\":{wall:.4},\
             \"cpu_s\":{cpu:.2},\"events_per_s\":{:.1},\"peak_rss_kib\":{}}}",
            n as f64 / wall,
            peak_rss_kib()
        );
        return;
    }

    let policy_text =
        std::fs::read_to_string(&args.policy).unwrap_or_else(|e| usage(&format!("{}: {e}", args.policy.display())));
    let policy = Policy::from_toml(&policy_text, &args.policy.display().to_string(), &insts)
        .unwrap_or_else(|e| usage(&e.to_string()));
    let tmp = tempfile::tempdir().expect("temp dir");
    // The journal on the disk the bench runs on (not a tmpfs /tmp): fsyncs are real.
    let tmp = tempfile::tempdir_in(std::env::current_dir().expect("cwd")).unwrap_or(tmp);
    let params = JournalParams { fsync: args.fsync, ..JournalParams::default() };
    let journal = JournalWriter::create(&tmp.path().join("bench.journal"), params).expect("journal");

    let t_setup = Instant::now();
    let mut limits = Limits { deadline_us: 1_000_000, ..Limits::default() };
    if let Some(mib) = args.memory_mib {
        limits.memory_bytes = mib << 20;
    }
    // Pool slots sized to the strategies' limits, as `bulkhead run` sizes them.
    let runtime = SandboxRuntime::with_config(RuntimeConfig::default().sized_for([&limits])).expect("sandbox runtime");
    let module = if args.mode == "sandboxed" {
        let bytes = std::fs::read(&args.wasm).unwrap_or_else(|e| usage(&format!("{}: {e}", args.wasm.display())));
        Some(runtime.load("bench_ema.wasm", &bytes).unwrap_or_else(|e| usage(&e.to_string())))
    } else {
        None
    };
    let mut engine = Engine::new(insts.clone(), FEES, journal, "bench-runner issue 8").expect("engine");
    engine.set_release_gate(args.gate);
    if let Some(path) = &args.surveillance {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| usage(&format!("{}: {e}", path.display())));
        let firm = bulkhead_surveillance::FirmSurveillance::from_toml(&text, &path.display().to_string(), &insts)
            .unwrap_or_else(|e| usage(&e.to_string()));
        engine.set_surveillance(firm);
    }
    let config = args.config.as_bytes();
    for i in 0..args.strategies {
        let kind = match &module {
            Some(m) => StrategyKind::Wasm { runtime: &runtime, module: m, limits: &limits },
            None => StrategyKind::Native(Box::new(Native(NativeRunner::new(BenchEma::default())))),
        };
        let name = format!("bench-ema-{i}");
        engine
            .add_strategy(StrategySetup {
                name: &name,
                policy: policy.clone(),
                config,
                kind,
                signer: None,
                surveillance: Default::default(),
            })
            .expect("add strategy");
    }
    let setup_s = t_setup.elapsed().as_secs_f64();
    let rss_after_setup = peak_rss_kib();

    let (t0, c0) = (Instant::now(), cpu_s());
    let mut n = 0u64;
    while n < args.max_events {
        match source.next_event() {
            Ok(Some(ev)) => {
                engine.on_market(ev).expect("engine");
                n += 1;
            }
            Ok(None) => break,
            Err(e) => usage(&e.to_string()),
        }
    }
    let engine_alerts: Vec<u64> = (0..args.strategies as u32).map(|sid| engine.alerts(sid)).collect();
    let report = engine.finish().expect("finish");
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_s() - c0;
    // `journal verify` over what the run wrote (page cache warm: it was just
    // written), best of three.
    let verify_s = if args.verify {
        let dir = tmp.path().join("bench.journal");
        (0..3)
            .map(|_| {
                let t = Instant::now();
                let r = bulkhead_journal::verify(&dir).expect("verify");
                assert_eq!(r.records, report.journal.records, "verify counted other records");
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    } else {
        0.0
    };

    let s0 = &report.strategies[0];
    let pos = |s: &bulkhead_engine::StrategyReport| s.positions.iter().map(|p| p.1).sum::<i64>();
    let orders: u64 = report.strategies.iter().map(|s| s.stats.submitted).sum();
    let fills: u64 = report.strategies.iter().map(|s| s.stats.fills).sum();
    let rejected: u64 = report.strategies.iter().map(|s| s.stats.rejected.values().sum::<u64>()).sum();
    let alerts: u64 =
        (0..args.strategies as u32).map(|sid| engine_alerts.get(sid as usize).copied().unwrap_or(0)).sum();
    let quarantined = report.strategies.iter().filter(|s| s.status != bulkhead_engine::Status::Running).count();
    let net: i64 = report.strategies.iter().map(pos).sum();
    let min_pos = report.strategies.iter().map(pos).min().unwrap_or(0);
    let max_pos = report.strategies.iter().map(pos).max().unwrap_or(0);
    println!(
        "{{\"engine\":\"bulkhead\",\"mode\":\"{}\",\"strategies\":{},\"events\":{},\"wall_s\":{:.4},\"cpu_s\":{:.2},\
         \"events_per_s\":{:.1},\"strategy_events_per_s\":{:.1},\"setup_s\":{:.4},\"peak_rss_kib\":{},\
         \"rss_after_setup_kib\":{},\"journal_bytes\":{},\"orders\":{},\"fills\":{},\"rejected\":{},\
         \"quarantined\":{},\"position_lots\":{},\"orders_0\":{},\"fills_0\":{},\"position_lots_0\":{},\
         \"position_lots_min\":{},\"position_lots_max\":{},\"realised_0\":{},\"fees_0\":{},\
         \"fsync\":\"{}\",\"release_gate\":\"{}\",\"fsyncs\":{},\"release_wait_p50_ns\":{},\
         \"release_wait_p99_ns\":{},\"released_waits\":{},\"verify_s\":{:.4},\"surveillance\":{},\"alerts\":{}}}",
        args.mode,
        args.strategies,
        n,
        wall,
        cpu,
        n as f64 / wall,
        (n * args.strategies as u64) as f64 / wall,
        setup_s,
        peak_rss_kib(),
        rss_after_setup,
        report.journal.bytes,
        orders,
        fills,
        rejected,
        quarantined,
        net,
        s0.stats.submitted,
        s0.stats.fills,
        pos(s0),
        min_pos,
        max_pos,
        s0.realised,
        s0.fees,
        args.fsync,
        if args.gate == ReleaseGate::Durable { "durable" } else { "ordered" },
        report.fsyncs.count,
        report.release_wait_quantile(0.5).unwrap_or(0),
        report.release_wait_quantile(0.99).unwrap_or(0),
        report.release_waits_ns.len(),
        verify_s,
        args.surveillance.is_some(),
        alerts,
    );
}
