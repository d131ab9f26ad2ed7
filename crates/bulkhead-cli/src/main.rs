//! # bulkhead — the command-line binary
//!
//! Owns: argument parsing, the progress bar, printing reports, exit codes.
//! Must never: contain logic the crates should own (it only wires them up).
//! User errors print one clear line naming the file and field and exit 2;
//! no panics, no backtraces.

use anyhow::{Context, Result};
use bulkhead_data::{Generator, GeneratorSpec, write_event};
use bulkhead_engine::{LoadedConfig, report};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "bulkhead", version, about = "Sandboxed trading strategies behind a pre-trade risk engine")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run (backtest) a config: strategies, policies, venue, market data.
    Run {
        config: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Journal tools.
    Journal {
        #[command(subcommand)]
        cmd: JournalCmd,
    },
    /// Write the deterministic synthetic market as Bulkhead CSV.
    GenData {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value = "BTC-USDT-PERP")]
        symbol: String,
        /// Starting price (decimal).
        #[arg(long, default_value = "65000")]
        start_price: String,
        #[arg(long, default_value = "0.1")]
        tick_size: String,
        #[arg(long, default_value = "0.001")]
        lot_size: String,
    },
}

#[derive(Subcommand)]
enum JournalCmd {
    /// Check every hash-chain link; print OK or the first bad record.
    Verify { path: PathBuf },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BULKHEAD_LOG").unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Run { config, quiet } => run(config, quiet),
        Cmd::Journal { cmd: JournalCmd::Verify { path } } => match bulkhead_journal::verify(&path) {
            Ok(r) => {
                println!(
                    "OK: {} records in {} segment(s), {} bytes, last hash {}",
                    r.records,
                    r.segments,
                    r.bytes,
                    r.last_hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("BAD: {e}");
                Ok(ExitCode::from(1))
            }
        },
        Cmd::GenData { out, events, seed, symbol, start_price, tick_size, lot_size } => {
            let spec: bulkhead_model::InstrumentSpec = toml::from_str(&format!(
                "symbol = {symbol:?}\nkind = \"perpetual\"\ntick_size = {tick_size:?}\nlot_size = {lot_size:?}\n"
            ))?;
            let inst = bulkhead_model::Instrument::from_spec(0, &spec)?;
            let start = inst.price_to_ticks(&start_price).context("--start-price")?;
            let spec = GeneratorSpec { seed, events, start_price: start, ..GeneratorSpec::default() };
            let file = std::fs::File::create(&out).with_context(|| format!("{}", out.display()))?;
            let mut w = std::io::BufWriter::new(file);
            writeln!(w, "ts_ns,type,symbol,f1,f2,f3,f4")?;
            for e in Generator::new(spec) {
                write_event(&mut w, &inst, &e)?;
            }
            w.flush()?;
            println!("wrote {events} events to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run(config: PathBuf, quiet: bool) -> Result<ExitCode> {
    let cfg = LoadedConfig::load(&config)?;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} events ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let report = bulkhead_engine::run_config(&cfg, &mut |n, total| {
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(n);
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    print!("{}", report::render(&report));
    println!(
        "wall time: {:.2} s, {:.0} events/s ({} strategies), journal: {}",
        secs,
        report.events as f64 / secs.max(1e-9),
        report.strategies.len(),
        cfg.journal_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
