//! # bulkhead — the command-line binary
//!
//! Owns: argument parsing, the progress bar, printing reports, exit codes.
//! Must never: contain logic the crates should own (it only wires them up).
//! User errors print one clear line naming the file and field and exit 2;
//! no panics, no backtraces.

mod cluster_view;
mod journal_cmd;
mod lease_run;
mod split_run;

use anyhow::{Context, Result};
use bulkhead_data::{Generator, GeneratorSpec, write_event};
use bulkhead_engine::{JournalMode, LoadedConfig, report};
use bulkhead_server::engine_control::EngineControl;
use bulkhead_server::{Role, ServerOptions, TlsFiles, TokenStore};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use journal_cmd::JournalCmd;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// `bulkhead node` is the same command (a strategy node of a split run
    /// with `--cluster C --gateway G --strategies …`).
    #[command(visible_alias = "node")]
    Run {
        config: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Serve the control plane (API, metrics, dashboard) on this address.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Token file for the control plane (see `bulkhead token add`).
        #[arg(long, requires = "listen")]
        tokens: Option<PathBuf>,
        /// Paper mode: pace replayed data at N× real time (1 = real time).
        #[arg(long)]
        pace: Option<f64>,
        /// Keep serving the final state after the run ends, until SIGTERM or Ctrl-C.
        #[arg(long, requires = "listen")]
        linger: bool,
        /// Serve the control plane over HTTPS (rustls) with this certificate
        /// chain (PEM, leaf first); needs --tls-key.
        #[arg(long, requires_all = ["listen", "tls_key"])]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Continue an interrupted run: cut a torn journal tail, re-derive the
        /// journalled records from the same config and data (refusing if they
        /// differ), then append. Starts afresh if there is no journal.
        #[arg(long)]
        resume: bool,
        /// Print `acked SEQ` on stdout whenever more journal records are
        /// durable under the fsync policy (records below SEQ survive a crash);
        /// also with --listen and --pace (then while waiting for the market too).
        #[arg(long)]
        ack_lines: bool,
        /// Mirror the journal live to this node's JetStream stream (a file with a
        /// `[cluster]` table: servers, node name, ack timeout). Orders are then released
        /// only once JetStream acknowledged their deciding records; while it does not,
        /// new orders are refused with CLUSTER_UNAVAILABLE. Exit code 3 when the run
        /// completed but the mirror is incomplete.
        #[arg(long)]
        cluster: Option<PathBuf>,
        /// With --cluster: hold the shard's lease (the cluster config's node
        /// name) for the run: wait out a dead holder's expiry, fetch the
        /// journal from the stream when resuming without one, renew while
        /// running; a lost lease stops the run (failover, see README).
        #[arg(long, requires = "cluster")]
        lease: bool,
        /// The lease holder's name (default `<host>-<pid>`).
        #[arg(long, requires = "lease")]
        holder: Option<String>,
        /// How long a lease lasts without renewal (renewed every third).
        #[arg(long, requires = "lease", default_value_t = 5000)]
        lease_ttl_ms: u64,
        /// With --cluster: read the market data from feed NAME (stream
        /// `MD_<NAME>`, published by `bulkhead feed`) instead of the config's
        /// `[data]`, waiting for batches still being published (journalled as
        /// the config file `data_feed`).
        #[arg(long, requires = "cluster")]
        feed: Option<String>,
        /// With --cluster: be a node of a split run whose venue is gateway NAME
        /// (`bulkhead gateway`): orders go to it through JetStream, firm-wide
        /// checks (R5 firm, R7, R12) happen there, in lockstep per market event.
        #[arg(long, requires = "cluster")]
        gateway: Option<String>,
        /// With --gateway: the strategies this node hosts (comma-separated
        /// names; default all). The others run on other nodes.
        #[arg(long, requires = "gateway")]
        strategies: Option<String>,
        /// With --gateway: how long a step may wait for the gateway's answer.
        #[arg(long, requires = "gateway", default_value_t = 60_000)]
        gateway_timeout_ms: u64,
        /// Write the journal here instead of the config's `[run] journal`.
        #[arg(long)]
        journal_dir: Option<PathBuf>,
    },
    /// The gateway of a split run (scale-out on NATS): owns the venue and
    /// the firm-wide checks (R5 firm rates, R7 self-trade prevention, R12
    /// firm aggregates) for nodes started with `run --gateway NAME`; applies
    /// their orders in lockstep, strategy by strategy in config order.
    Gateway {
        /// The run config every node runs (instruments, venue, firm policy, data).
        config: PathBuf,
        /// The `[cluster]` config (servers, replicas, timeouts).
        #[arg(long)]
        cluster: PathBuf,
        /// The gateway's name (streams `GWO_<NAME>`, `GWE_<NAME>`).
        #[arg(long)]
        name: String,
        /// Every node of the run (their cluster node names, comma-separated).
        #[arg(long)]
        nodes: String,
        /// A node that sent a step and then none for this long is gone.
        #[arg(long, default_value_t = 5000)]
        heartbeat_ms: u64,
        /// What happens to a gone node's open orders: `cancel` (and its
        /// strategies halted here, the run goes on) or `wait` (for it or a standby).
        #[arg(long, default_value = "cancel")]
        on_disconnect: String,
        /// Write the gateway's journal here instead of the config's `[run] journal`.
        #[arg(long)]
        journal_dir: Option<PathBuf>,
    },
    /// Make an ed25519 signing key: NAME.key (secret, mode 0600) and NAME.pub.
    Keygen {
        name: String,
        /// Directory to write the two files into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Sign a strategy module: writes MODULE.sig (ed25519 over its blake3 hash).
    Sign {
        module: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
    /// Control-plane API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Journal tools.
    Journal {
        #[command(subcommand)]
        cmd: JournalCmd,
    },
    /// Market-data files: the columnar (Parquet) catalogue.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// The `feed` role (scale-out on NATS): publish a run config's market
    /// data (`[data]`: a file, several merged, or the generator) in order to
    /// the JetStream stream `MD_<NAME>`, then an end marker. Resumes where the
    /// stream ends; a complete feed is left as it is.
    Feed {
        /// A run config: its `[[instruments]]` and `[data]`.
        config: PathBuf,
        /// The feed's name (stream `MD_<NAME>`, subject `bulkhead.md.<NAME>`).
        #[arg(long)]
        name: String,
        /// The `[cluster]` config (servers, replicas, timeouts).
        #[arg(long)]
        cluster: PathBuf,
    },
    /// The control plane over a whole cluster (`cluster serve`).
    Cluster {
        #[command(subcommand)]
        cmd: cluster_view::ClusterCmd,
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
enum DataCmd {
    /// Import market data into a Parquet catalogue of normalised events
    /// (integer ticks and lots: a run reads it with `format = "parquet"`,
    /// no parsing). Takes the instruments and, unless --file is given, the
    /// `[data]` section (a file, several merged, or the generator) of a run
    /// config.
    Import {
        /// A run config: its `[[instruments]]` (and its `[data]`).
        #[arg(long)]
        config: PathBuf,
        /// The catalogue to write (replaced if it exists).
        #[arg(long)]
        out: PathBuf,
        /// Import this file instead of the config's `[data]`.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Format of --file: bulkhead | tardis_trades | tardis_quotes | tardis_book_snapshot25 |
        /// tardis_incremental_book_l2 | tardis_derivative_ticker | binance_agg_trades.
        #[arg(long, default_value = "bulkhead", requires = "file")]
        format: String,
        /// Instrument symbol of --file when it has no symbol column (Binance aggTrades).
        #[arg(long, requires = "file")]
        symbol: Option<String>,
        /// File symbol → instrument symbol for --file, e.g. `BTCUSDT=BTC-USDT-PERP` (repeatable).
        #[arg(long = "symbol-map", requires = "file")]
        symbol_map: Vec<String>,
    },
    /// Print what a catalogue says about itself: instruments, sources, events, kinds.
    Info { file: PathBuf },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token, store its hash in FILE, print the token once.
    Add {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        name: String,
        /// viewer | operator | admin
        #[arg(long)]
        role: String,
    },
    /// List the tokens in FILE: name, role, created (never hashes).
    List {
        #[arg(long)]
        file: PathBuf,
    },
    /// Remove a token from FILE (refuses to remove the last admin). A
    /// running server keeps its own copy: revoke there with
    /// `DELETE /api/v1/tokens/NAME` to have it take effect at once.
    Revoke {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("BULKHEAD_LOG").unwrap_or_else(|_| "error".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, each said once. Library errors
/// often show their source in their own message *and* return it as
/// `source()` (`#[error("journal: {0}")] Journal(#[from] JournalError)`,
/// `#[error("I/O error on {path}: {source}")]`): printing the chain
/// (`{:#}`) would repeat it ("No space left on device" three times on one
/// line). A cause whose text the line already holds is skipped.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// A graceful stop: SIGTERM (systemd, Kubernetes) and SIGINT (Ctrl-C) set
/// `requested` (and say which in `signal`); the run loop then stops taking
/// events and commands at the next event boundary, and the run ends as if
/// its data had ended there (see [`run`]). A second signal while stopping
/// exits at once with 128 + its number, as an impatient operator expects.
struct Shutdown {
    requested: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Shutdown {
    fn install() -> Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let requested = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicUsize::new(0));
        for sig in [SIGTERM, SIGINT] {
            // Handlers run in registration order: the first signal finds the flag clear.
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, requested.clone())
                .context("installing a signal handler")?;
            signal_hook::flag::register(sig, requested.clone()).context("installing a signal handler")?;
            signal_hook::flag::register_usize(sig, signal.clone(), sig as usize)
                .context("installing a signal handler")?;
        }
        Ok(Shutdown { requested, signal })
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    fn name(&self) -> &'static str {
        match self.signal.load(Ordering::Relaxed) as i32 {
            signal_hook::consts::SIGTERM => "SIGTERM",
            signal_hook::consts::SIGINT => "SIGINT",
            _ => "a signal",
        }
    }
}

/// The market data of a run, cut short once `stopped` is set: the engine
/// loop then ends as at the end of the data (the event in hand is finished).
struct Stoppable<'a> {
    inner: &'a mut dyn bulkhead_data::MarketSource,
    stopped: &'a AtomicBool,
}

impl bulkhead_data::MarketSource for Stoppable<'_> {
    fn next_event(&mut self) -> Result<Option<bulkhead_abi::Event>, bulkhead_data::DataError> {
        if self.stopped.load(Ordering::Relaxed) {
            return Ok(None);
        }
        self.inner.next_event()
    }
    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }
}

/// `bulkhead feed`: the config's market data to a JetStream feed.
fn feed(config: &Path, name: &str, cluster: &Path) -> Result<ExitCode> {
    let cfg = LoadedConfig::load(config)?;
    let cluster = bulkhead_cluster::ClusterConfig::load(cluster)?;
    let mut source = bulkhead_engine::open_source(&cfg)?;
    let started = Instant::now();
    let r = bulkhead_cluster::feed::publish_feed(&cluster, name, source.as_mut())?;
    println!(
        "feed {name}: {} events in stream {} ({} already there, {} batches sent) in {:.2} s",
        r.events,
        bulkhead_cluster::feed::md_stream(name),
        r.skipped,
        r.batches,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The chain path's wall-clock latency (live runs with intents only).
fn print_chain_latency(l: &bulkhead_engine::ChainLatency) {
    use bulkhead_engine::ChainLatency as L;
    let (Some(d50), Some(d99)) = (L::quantile(&l.decide_ns, 0.5), L::quantile(&l.decide_ns, 0.99)) else { return };
    let secs = l.span_ns as f64 / 1e9;
    print!(
        "chain latency: intent -> decision p50 {} p99 {} ({} intents, {:.0}/s over {:.2} s)",
        report::format_ns(d50),
        report::format_ns(d99),
        l.decide_ns.len(),
        l.decide_ns.len() as f64 / secs.max(1e-9),
        secs
    );
    if let (Some(m50), Some(m99)) = (L::quantile(&l.settle_ns, 0.5), L::quantile(&l.settle_ns, 0.99)) {
        print!(
            "; intent -> mined p50 {} p99 {} ({} mined, {:.0}/s)",
            report::format_ns(m50),
            report::format_ns(m99),
            l.settle_ns.len(),
            l.settle_ns.len() as f64 / secs.max(1e-9)
        );
    }
    println!();
}

/// `--ack-lines`: print `acked SEQ` when the journal's durable point moves.
#[derive(Clone)]
struct Acks {
    on: bool,
    acked: Arc<AtomicU64>,
}

impl Acks {
    fn new(on: bool) -> Self {
        Acks { on, acked: Arc::new(AtomicU64::new(u64::MAX)) }
    }
    fn check(&self, engine: &bulkhead_engine::Engine) {
        let seq = engine.journal_durable_seq();
        if self.on && self.acked.swap(seq, Ordering::Relaxed) != seq {
            // A supervisor reading these must see them now, not at exit.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "acked {seq}").and_then(|()| out.flush());
        }
    }
    fn finished(&self, report: &bulkhead_engine::RunReport) {
        if self.on {
            println!("acked {}", report.journal.records);
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Run {
            config,
            quiet,
            listen,
            tokens,
            pace,
            linger,
            tls_cert,
            tls_key,
            resume,
            ack_lines,
            cluster,
            lease,
            holder,
            lease_ttl_ms,
            feed,
            gateway,
            strategies,
            gateway_timeout_ms,
            journal_dir,
        } => {
            let mode = if resume { JournalMode::Resume } else { JournalMode::Create };
            let tls = tls_cert.zip(tls_key).map(|(cert, key)| TlsFiles { cert, key });
            if lease && !(100..=600_000).contains(&lease_ttl_ms) {
                anyhow::bail!("--lease-ttl-ms: {lease_ttl_ms} must be in 100..=600000");
            }
            let lease = lease.then(|| (holder.unwrap_or_else(lease_run::default_holder), lease_ttl_ms));
            let node = match gateway {
                Some(gateway) => Some(split_run::NodeOpts {
                    gateway,
                    strategies: strategies.map(|s| split_run::names("--strategies", &s)).transpose()?,
                    timeout: std::time::Duration::from_millis(gateway_timeout_ms),
                }),
                None => None,
            };
            let serve = Serve { listen, tokens, tls, cluster, lease, feed, node, journal_dir };
            run(config, quiet, serve, pace, linger, mode, ack_lines)
        }
        Cmd::Keygen { name, dir } => {
            let (sk, pk) = bulkhead_provenance::keygen(&name)?;
            let (skp, pkp) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
            sk.write(&skp)?;
            pk.write(&pkp)?;
            println!("secret key: {}\npublic key: {} (fingerprint {})", skp.display(), pkp.display(), pk.fingerprint());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Sign { module, key } => {
            let key = bulkhead_provenance::SigningKeyFile::read(&key)?;
            let sig = bulkhead_provenance::sign_module_file(&module, &key)?;
            println!("signed {} -> {}", module.display(), sig.display());
            // What a hot deploy to a run with trusted keys sends along.
            let line = bulkhead_provenance::ModuleSignature::read(&sig)?.to_line();
            println!("hot deploy header: {}: {line}", bulkhead_server::SIGNATURE_HEADER);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Token { cmd } => token_cmd(cmd),
        Cmd::Journal { cmd } => journal_cmd::dispatch(cmd),
        Cmd::Feed { config, name, cluster } => feed(&config, &name, &cluster),
        Cmd::Gateway { config, cluster, name, nodes, heartbeat_ms, on_disconnect, journal_dir } => {
            split_run::gateway(split_run::GatewayArgs {
                config,
                cluster,
                name,
                nodes,
                heartbeat_ms,
                on_disconnect,
                journal_dir,
            })
        }
        Cmd::Cluster { cmd } => cluster_view::dispatch(cmd),
        Cmd::Data { cmd } => data_cmd(cmd),
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

fn token_cmd(cmd: TokenCmd) -> Result<ExitCode> {
    match cmd {
        TokenCmd::Add { file, name, role } => {
            let mut store = if file.exists() { TokenStore::load(&file)? } else { TokenStore::default() };
            let role =
                Role::parse(&role).with_context(|| format!("--role: `{role}` is not viewer, operator or admin"))?;
            let (plain, entry) = TokenStore::generate(&name, role)?;
            store.add(entry)?;
            store.save(&file)?;
            println!("{plain}");
            eprintln!("token `{name}` ({}) added to {}; it is shown only now", role.as_str(), file.display());
            Ok(ExitCode::SUCCESS)
        }
        TokenCmd::List { file } => {
            let store = TokenStore::load(&file)?;
            println!("{:<24} {:<9} created", "name", "role");
            for e in store.entries() {
                println!("{:<24} {:<9} {}", e.name, e.role.as_str(), e.created.as_deref().unwrap_or("-"));
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCmd::Revoke { file, name } => {
            let mut store = TokenStore::load(&file)?;
            let role = store
                .get(&name)
                .map(|e| e.role)
                .with_context(|| format!("--name: no token `{name}` in {}", file.display()))?;
            if role == Role::Admin && store.entries().filter(|e| e.role == Role::Admin).count() == 1 {
                anyhow::bail!(
                    "--name: `{name}` is the last admin token in {}; add another admin first",
                    file.display()
                );
            }
            store.remove(&name);
            store.save(&file)?;
            eprintln!("token `{name}` ({}) removed from {}", role.as_str(), file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn data_cmd(cmd: DataCmd) -> Result<ExitCode> {
    match cmd {
        DataCmd::Import { config, out, file, format, symbol, symbol_map } => {
            let mut cfg = LoadedConfig::load(&config)?;
            if let Some(file) = file {
                use bulkhead_engine::config::FileFormat;
                let fmt = FileFormat::from_name(&format).with_context(|| {
                    let names: Vec<&str> = FileFormat::ALL.iter().map(|f| f.name()).collect();
                    format!("--format: `{format}` is not one of {}", names.join(", "))
                })?;
                if fmt == FileFormat::Parquet {
                    anyhow::bail!("--format: `parquet` is already a catalogue (copy the file)");
                }
                let mut map = std::collections::BTreeMap::new();
                for m in &symbol_map {
                    let (from, to) = m
                        .split_once('=')
                        .with_context(|| format!("--symbol-map: `{m}` is not FILE_SYMBOL=INSTRUMENT_SYMBOL"))?;
                    map.insert(from.to_string(), to.to_string());
                }
                if !file.is_file() {
                    anyhow::bail!("--file: {} does not exist", file.display());
                }
                cfg.data = bulkhead_engine::DataPlan::Files(vec![(file, fmt, symbol, map)]);
            }
            let started = Instant::now();
            let info = bulkhead_engine::import_catalogue(&cfg, &out, &mut |_| {})?;
            let secs = started.elapsed().as_secs_f64();
            let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            println!(
                "wrote {} events ({}) in {} row groups to {} ({size} bytes) in {secs:.2} s",
                info.events,
                info.kinds.join(", "),
                info.row_groups,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        DataCmd::Info { file } => {
            let info = bulkhead_data::catalogue::read_info(&file)?;
            println!("catalogue: {}", file.display());
            println!("events: {} in {} row groups", info.events, info.row_groups);
            println!("time: {} .. {} ns", info.first_ts_ns, info.last_ts_ns);
            println!("kinds: {}", info.kinds.join(", "));
            for i in &info.instruments {
                println!("instrument {}: {} tick {} lot {}", i.id, i.symbol, i.tick_size, i.lot_size);
            }
            for (f, s) in &info.sources {
                println!("source: {f} {s}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where and how `run` serves the control plane.
struct Serve {
    listen: Option<std::net::SocketAddr>,
    tokens: Option<PathBuf>,
    tls: Option<TlsFiles>,
    /// `--cluster FILE`: mirror the journal live.
    cluster: Option<PathBuf>,
    /// `--lease`: holder name and TTL (ms).
    lease: Option<(String, u64)>,
    /// `--feed NAME`: market data from a JetStream feed.
    feed: Option<String>,
    /// `--gateway NAME`: a node of a split run.
    node: Option<split_run::NodeOpts>,
    /// `--journal-dir`.
    journal_dir: Option<PathBuf>,
}

/// How long a feed reader waits for the next batch before it calls the feed stalled.
const FEED_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// `--feed NAME`: the run's market data from feed NAME's stream instead of
/// the config's `[data]`; the journal says so (config file `data_feed`).
fn use_feed(
    serve: &Serve,
    engine: &mut bulkhead_engine::Engine,
    source: &mut Box<dyn bulkhead_data::MarketSource>,
) -> Result<()> {
    let (Some(name), Some(path)) = (&serve.feed, &serve.cluster) else { return Ok(()) };
    let ccfg = bulkhead_cluster::ClusterConfig::load(path)?;
    let stream = bulkhead_cluster::feed::md_stream(name);
    *source = Box::new(
        bulkhead_cluster::feed::FeedSource::open(&ccfg, name, FEED_IDLE).with_context(|| format!("--feed {name}"))?,
    );
    engine.journal_config_file("data_feed", format!("feed = \"{name}\"\nstream = \"{stream}\"\n").as_bytes())?;
    Ok(())
}

/// `--cluster`: the mirror's end kept by the run (finished after the journal).
struct Mirror {
    handle: bulkhead_cluster::ReplicaHandle,
    within: std::time::Duration,
}

/// Exit code of a run that completed with an incomplete journal mirror.
const EXIT_MIRROR_INCOMPLETE: u8 = 3;

/// Start the live mirror of the prepared run's journal (`--cluster`).
fn start_mirror(
    path: Option<&PathBuf>,
    cfg: &LoadedConfig,
    engine: &mut bulkhead_engine::Engine,
) -> Result<Option<Mirror>> {
    let Some(path) = path else { return Ok(None) };
    if cfg.raw.run.release_gate != bulkhead_engine::ReleaseGate::Durable {
        // The journal (and its replay) must say the gate the run had.
        anyhow::bail!(
            "--cluster: {} must set `release_gate = \"durable\"` in [run] (orders wait for the mirror's ack)",
            cfg.path.display()
        );
    }
    let ccfg = bulkhead_cluster::ClusterConfig::load(path)?;
    // A new journal (not a resumed prefix): its stream must be empty.
    let fresh = engine.resume_progress() == (0, false);
    let (handle, live) = bulkhead_cluster::start_replica(&ccfg, &cfg.journal_dir, fresh)?;
    engine.set_replicator(Box::new(live))?;
    let within = ccfg.failover.max(ccfg.ack_timeout).max(ccfg.request_timeout);
    Ok(Some(Mirror { handle, within }))
}

/// After the run: complete the mirror and say how it ended; the exit code.
fn finish_mirror(mirror: Option<Mirror>, report: &bulkhead_engine::RunReport) -> ExitCode {
    let Some(m) = mirror else { return ExitCode::SUCCESS };
    if let Some(c) = &report.cluster {
        println!(
            "cluster: orders refused with CLUSTER_UNAVAILABLE: {}{}",
            c.refused,
            c.first_outage.as_ref().map_or(String::new(), |w| format!(" (first outage: {w})"))
        );
    }
    let o = m.handle.finish(report.journal.records, m.within);
    match &o.incomplete {
        None => {
            println!(
                "cluster mirror: {} holds all {} records{}",
                o.stream,
                o.records,
                if o.caught_up > 0 {
                    format!(" ({} pushed from the journal files at the end)", o.caught_up)
                } else {
                    String::new()
                }
            );
            ExitCode::SUCCESS
        }
        Some(why) => {
            println!(
                "cluster mirror: {} INCOMPLETE: {} of {} records acknowledged: {why}",
                o.stream, o.acked, o.records
            );
            eprintln!(
                "warning: the journal mirror is incomplete (the local journal is complete); finish it with \
                 `bulkhead journal push --cluster`"
            );
            ExitCode::from(EXIT_MIRROR_INCOMPLETE)
        }
    }
}

fn run(
    config: PathBuf,
    quiet: bool,
    serve: Serve,
    pace: Option<f64>,
    linger: bool,
    mode: JournalMode,
    ack_lines: bool,
) -> Result<ExitCode> {
    if let Some(p) = pace
        && !(p.is_finite() && p > 0.0)
    {
        anyhow::bail!("--pace: `{p}` is not a positive number (1 = real time, 10 = ten times faster)");
    }
    let mut cfg = LoadedConfig::load(&config)?;
    if let Some(d) = &serve.journal_dir {
        cfg.journal_dir = d.clone();
    }
    let shutdown = Shutdown::install()?;
    // Held for the whole run (released when dropped).
    let _lease = match (&serve.cluster, &serve.lease) {
        (Some(path), Some((holder, ttl_ms))) => {
            let ccfg = bulkhead_cluster::ClusterConfig::load(path)?;
            let ttl = std::time::Duration::from_millis(*ttl_ms);
            let resume = mode == JournalMode::Resume;
            Some(lease_run::take(&ccfg, holder, ttl, &cfg.journal_dir, resume, shutdown.requested.clone())?)
        }
        _ => None,
    };
    let acks = Acks::new(ack_lines);
    if serve.listen.is_some() || pace.is_some() {
        return run_live(&cfg, quiet, serve, pace, linger, mode, &shutdown, &acks);
    }
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let (prepared, link) = prepare(&cfg, mode, &serve)?;
    let bulkhead_engine::PreparedRun { mut engine, mut source, runtime, .. } = prepared;
    use_feed(&serve, &mut engine, &mut source)?;
    let mirror = start_mirror(mirror_path(&serve, &cfg), &cfg, &mut engine)?;
    let mut ctl_link = cluster_view::node_link(serve.cluster.as_ref())?;
    bar.set_length(source.len_hint().unwrap_or(0));
    let stopped = AtomicBool::new(false);
    let mut data = Stoppable { inner: source.as_mut(), stopped: &stopped };
    // `control` is called at each event boundary once a resumed run has
    // reproduced its journal (a stop during re-derivation waits for that).
    engine.run_controlled(&mut data, &mut |n| bar.set_position(n), &mut |e, _| {
        if let Some(l) = ctl_link.as_mut() {
            l.at_boundary(e);
        }
        if shutdown.requested() {
            stopped.store(true, Ordering::Relaxed);
        }
        acks.check(e);
    })?;
    cluster_view::finish_link(ctl_link, &engine);
    let report = engine.finish()?;
    acks.finished(&report);
    bar.finish_and_clear();
    stop_note(&shutdown, &stopped, &report);
    print_report(&report, started, &cfg);
    print_module_cache(&cfg, &runtime);
    if let Some(l) = &link {
        split_run::print_link(l);
    }
    Ok(finish_mirror(mirror, &report))
}

/// The cluster config to mirror the journal with: `--cluster`, except for a
/// node of a split run whose config does not gate releases on durability
/// (its orders are stored in the gateway's stream; its journal stays local).
fn mirror_path<'a>(serve: &'a Serve, cfg: &LoadedConfig) -> Option<&'a PathBuf> {
    let gated = cfg.raw.run.release_gate == bulkhead_engine::ReleaseGate::Durable;
    serve.cluster.as_ref().filter(|_| serve.node.is_none() || gated)
}

type LinkStats = Arc<std::sync::Mutex<bulkhead_cluster::gateway::LinkStats>>;

/// Open the run (resuming if asked; a node of a split run with `--gateway`)
/// and say what recovery did.
fn prepare(
    cfg: &LoadedConfig,
    mode: JournalMode,
    serve: &Serve,
) -> Result<(bulkhead_engine::PreparedRun, Option<LinkStats>)> {
    let (prepared, link) = match (&serve.node, &serve.cluster) {
        (Some(node), Some(cluster)) => {
            let (role, stats) = split_run::node_role(cfg, cluster, node)?;
            (bulkhead_engine::prepare_split_run(cfg, mode, role), Some(stats))
        }
        _ => (bulkhead_engine::prepare_run_with(cfg, mode), None),
    };
    let prepared = prepared.map_err(|e| {
        let refused = matches!(&e, bulkhead_engine::RunError::Journal(bulkhead_journal::JournalError::Corrupt(_)));
        let e = anyhow::Error::from(e);
        if mode == JournalMode::Resume && refused {
            e.context(format!(
                "cannot resume {}: only a torn tail at the end of the last segment may be cut, and this is damage \
                 inside the journal; nothing was changed (see `bulkhead journal verify`)",
                cfg.journal_dir.display()
            ))
        } else {
            e
        }
    })?;
    if let Some(r) = &prepared.recovery {
        eprintln!(
            "resuming {}: {} records kept{}",
            cfg.journal_dir.display(),
            r.records,
            r.torn_tail
                .as_ref()
                .map_or(String::new(), |t| format!(", torn tail of {} bytes cut ({t})", r.dropped_bytes))
        );
    }
    Ok((prepared, link))
}

/// After a graceful stop: one line on stderr saying so.
fn stop_note(shutdown: &Shutdown, stopped: &AtomicBool, report: &bulkhead_engine::RunReport) {
    if stopped.load(Ordering::Relaxed) {
        eprintln!(
            "stopped by {} after {} events: open orders cancelled, run_end journalled, journal durable ({} records)",
            shutdown.name(),
            report.events,
            report.journal.records
        );
    }
}

/// One line on the precompiled-module cache when the config names one; a
/// refused cache directory / key or refused entries also go to stderr.
fn print_module_cache(cfg: &LoadedConfig, runtime: &bulkhead_sandbox::SandboxRuntime) {
    let Some(dir) = &cfg.module_cache else { return };
    match runtime.cache_stats() {
        Some(c) => {
            println!(
                "module cache: {}: {} loaded from cache, {} compiled, {} written, {} refused",
                dir.display(),
                c.hits,
                c.misses + c.rejected,
                c.writes,
                c.rejected
            );
            if c.rejected > 0 {
                eprintln!(
                    "warning: module cache: {} entries refused and compiled from the module bytes instead (last: {})",
                    c.rejected,
                    runtime.cache_last_refusal().unwrap_or_default()
                );
            }
        }
        None => {
            let why = runtime.cache_refused().unwrap_or("see the log");
            println!("module cache: {}: unusable, every module compiled ({why})", dir.display());
            eprintln!("warning: {why}");
        }
    }
}

fn print_report(report: &bulkhead_engine::RunReport, started: Instant, cfg: &LoadedConfig) {
    let secs = started.elapsed().as_secs_f64();
    print!("{}", report::render(report));
    println!(
        "wall time: {:.2} s, {:.0} events/s ({} strategies), journal: {}",
        secs,
        report.events as f64 / secs.max(1e-9),
        report.strategies.len(),
        cfg.journal_dir.display()
    );
    if let Some(c) = &report.chain {
        let refused: Vec<String> = c
            .stats
            .refused
            .iter()
            .map(|(code, n)| format!("{}={n}", bulkhead_abi::Reason::from_code(*code).map_or("?", |r| r.name())))
            .collect();
        println!(
            "chain intents: {} (signed {}, mined {}, reverted {}, deviations {}); refused: {}",
            c.stats.intents,
            c.stats.signed,
            c.stats.mined,
            c.stats.reverted,
            c.stats.deviations,
            if refused.is_empty() { "none".to_string() } else { refused.join(" ") }
        );
        if let Some(why) = &c.unavailable {
            println!("chain: node unavailable ({why}): every intent was refused with CHAIN_UNAVAILABLE");
        }
        print_chain_latency(&c.stats.latency);
    }
    let waits = match (report.release_wait_quantile(0.5), report.release_wait_quantile(0.99)) {
        (Some(p50), Some(p99)) => format!(
            "orders waited for the durable gate{}: p50 {}, p99 {} ({} released)",
            if report.cluster.is_some() { " (journal and JetStream ack)" } else { "" },
            report::format_ns(p50),
            report::format_ns(p99),
            report.release_waits_ns.len()
        ),
        _ => String::new(),
    };
    if report.fsyncs.count > 0 {
        let f = report.fsyncs;
        print!(
            "journal fsyncs: {} (mean {}, max {})",
            f.count,
            report::format_ns(f.total_ns / f.count),
            report::format_ns(f.max_ns)
        );
        if waits.is_empty() { println!() } else { println!("; {waits}") }
    } else if !waits.is_empty() {
        println!("{waits}");
    }
}

/// A run with the control plane and/or paper pacing.
#[allow(clippy::too_many_arguments)]
fn run_live(
    cfg: &LoadedConfig,
    quiet: bool,
    serve: Serve,
    pace: Option<f64>,
    linger: bool,
    mode: JournalMode,
    shutdown: &Shutdown,
    acks: &Acks,
) -> Result<ExitCode> {
    let (prepared, link) = prepare(cfg, mode, &serve)?;
    let bulkhead_engine::PreparedRun { mut engine, runtime, mut source, .. } = prepared;
    use_feed(&serve, &mut engine, &mut source)?;
    let mirror = start_mirror(mirror_path(&serve, cfg), cfg, &mut engine)?;
    let mut ctl_link = cluster_view::node_link(serve.cluster.as_ref())?;
    let (handle, guard) = match serve.listen {
        Some(addr) => {
            let path = serve
                .tokens
                .context("--tokens FILE is required with --listen (create one with `bulkhead token add`)")?;
            let store = TokenStore::load(&path)?;
            let scheme = if serve.tls.is_some() { "https" } else { "http" };
            let options = ServerOptions { tls: serve.tls, tokens_file: Some(path), ..ServerOptions::default() };
            let (h, g) = bulkhead_server::start(addr, store, options)?;
            eprintln!("control plane on {scheme}://{}/ (dashboard), API under /api/v1", g.local_addr());
            if scheme == "http" && !g.local_addr().ip().is_loopback() {
                eprintln!(
                    "warning: the control plane is plain HTTP on a non-loopback address ({}): tokens, commands \
                     and trading data cross the network unencrypted; use --tls-cert/--tls-key, or listen on 127.0.0.1",
                    g.local_addr()
                );
            }
            (h, Some(g))
        }
        None => (bulkhead_server::channel(&ServerOptions::default()).0, None),
    };
    let cache_runtime = runtime.clone();
    let mut control = EngineControl::new(handle, runtime, pace, cfg.fsync());
    control.require_signed_modules(cfg.trusted_keys.clone());
    control.stop_waiting_on(shutdown.requested.clone());
    let waiting_acks = acks.clone();
    control.while_waiting(Box::new(move |e| waiting_acks.check(e)));
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(source.len_hint().unwrap_or(0)) };
    let started = Instant::now();
    let stopped = AtomicBool::new(false);
    let mut data = Stoppable { inner: source.as_mut(), stopped: &stopped };
    engine.run_controlled(&mut data, &mut |n| bar.set_position(n), &mut |e, ts| {
        // Stopping: no more commands or pacing; this event is the last.
        if !shutdown.requested() {
            control.before_event(e, ts);
        }
        if let Some(l) = ctl_link.as_mut() {
            l.at_boundary(e);
        }
        if shutdown.requested() {
            stopped.store(true, Ordering::Relaxed);
        }
        acks.check(e);
    })?;
    bar.finish_and_clear();
    // Publishes the final state; commands from now on are refused (the run is over).
    control.finished(&mut engine);
    if linger && guard.is_some() && !shutdown.requested() {
        eprintln!("run finished; serving the final state until SIGTERM or Ctrl-C");
        while !shutdown.requested() {
            std::thread::sleep(std::time::Duration::from_millis(100));
            control.finished(&mut engine);
            acks.check(&engine);
        }
    }
    cluster_view::finish_link(ctl_link, &engine);
    let report = engine.finish()?;
    acks.finished(&report);
    stop_note(shutdown, &stopped, &report);
    print_report(&report, started, cfg);
    print_module_cache(cfg, &cache_runtime);
    if let Some(l) = &link {
        split_run::print_link(l);
    }
    drop(guard);
    Ok(finish_mirror(mirror, &report))
}
