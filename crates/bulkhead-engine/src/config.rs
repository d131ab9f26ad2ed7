//! The run configuration file (`bulkhead run CONFIG`), loaded and checked up
//! front: every path exists, every policy parses, every instrument's grid is
//! exact. Errors name the file and the field.

use bulkhead_data::GeneratorSpec;
use bulkhead_model::{Instrument, InstrumentSpec};
use bulkhead_risk::Policy;
use bulkhead_sandbox::Limits;
use bulkhead_venue::FeeSchedule;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: field `{field}`: {message}")]
    Field { path: PathBuf, field: String, message: String },
    #[error("{0}")]
    Policy(String),
    #[error("{0}")]
    Provenance(#[from] bulkhead_provenance::ProvenanceError),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub run: RunSection,
    /// The first venue: it owns every instrument no `[[venues]]` entry lists.
    pub venue: VenueSection,
    /// More venues in the same run, each owning the instruments it lists.
    #[serde(default)]
    pub venues: Vec<VenueSection>,
    pub instruments: Vec<InstrumentSpec>,
    pub data: DataSection,
    pub strategies: Vec<StrategySection>,
    /// Per-expiry option volatility (Black-76): the venue's option marks and
    /// R9 greeks of every option with that expiry.
    #[serde(default)]
    pub option_vols: Vec<OptionVolSection>,
    /// Settlement prices of dated instruments, used at expiry instead of
    /// the mark then (so a future without quotes still settles).
    #[serde(default)]
    pub settlements: Vec<SettlementSection>,
    /// `[chain]`: the EVM node, contracts by name and the keys file
    /// (`bulkhead_chain::config`), plus `mode = "lockstep" | "async"`.
    #[serde(default)]
    pub chain: Option<toml::Value>,
}

/// `[[settlements]] symbol = "BTC-27DEC24", price = "64000.5"`: the
/// instrument (a future or option with an `expiry`) settles at `price` (a
/// decimal on its tick grid; for an option the payoff per unit) when its
/// expiry is reached, even if the market data ends earlier (the run's
/// clock then runs on to the expiry at the end). Without it an instrument
/// settles at its mark at expiry (the data's mark with `mark = "external"`
/// and a `tardis_derivative_ticker` source), or waits if it has none.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementSection {
    pub symbol: String,
    pub price: String,
}

/// `[[option_vols]] expiry = NS, vol = "0.55"`: the volatility of every
/// option instrument whose `expiry` (ns since the epoch, as in
/// `[[instruments]]`) is `expiry`. Used for the venue's option marks and for
/// R9 delta / vega limits, where it takes precedence over a policy's
/// `option_vol`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionVolSection {
    /// Expiry in ns since the epoch; at least one option must expire then.
    pub expiry: u64,
    /// Annualised volatility as a decimal string ("0.55" = 55 %), > 0 and
    /// ≤ 10, at most 4 decimals.
    pub vol: String,
}

/// When an action a strategy (or the engine) decides reaches a venue,
/// relative to the journal's durability (`run.release_gate`).
///
/// Whatever the gate, every action's deciding records precede, in the
/// journal, the venue records it causes, and an operator command is durable
/// before it takes effect or is acknowledged (as are `acked SEQ` lines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseGate {
    /// The venue is the in-process simulated exchange, part of the
    /// deterministic run: an action reaches it when decided, without
    /// waiting for an fsync. The journal is the same under every fsync
    /// policy; the fsync policy only bounds how much of its tail a crash
    /// can lose (group commit: at most
    /// [`bulkhead_journal::MAX_GROUPS_IN_FLIGHT`] groups), and `--resume`
    /// re-derives exactly that tail from the config, the data and the
    /// durable operator commands. Nothing leaves the process undurable that
    /// the run cannot re-derive.
    #[default]
    Ordered,
    /// Journal first, across the process edge: an action reaches the venue
    /// only once its deciding records are durable. The actions all
    /// strategies decide during one market event wait together and are
    /// released at the event's end after one fsync (group commit across
    /// strategies), in the order they were decided; actions the engine
    /// starts itself (cancel on fault, kill switch, risk outcomes, end of
    /// run) are made durable and released at once. For venues outside the
    /// process. Against the simulated venue it changes when orders meet the
    /// market (at the event's end, after every strategy's callback), so its
    /// journal differs from an `ordered` run's, but not between fsync
    /// policies.
    Durable,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Journal directory (relative to the config file).
    pub journal: PathBuf,
    /// `never` (backtests), `always`, or `every:N` records.
    #[serde(default = "never")]
    pub fsync: String,
    /// When a venue sees an action (see [`ReleaseGate`]): `ordered` (the
    /// default; the in-process simulated venue) or `durable`.
    #[serde(default)]
    pub release_gate: ReleaseGate,
    /// Replace an existing journal directory instead of refusing.
    #[serde(default)]
    pub overwrite_journal: bool,
    /// Journal directory `0750` and files `0640` (readable by the owner's
    /// group, e.g. for an audit copy) instead of `0700` / `0600`.
    #[serde(default)]
    pub journal_group_readable: bool,
    /// Firm-wide risk policy (R5 firm throttles, R7 STP mode, R12, R13).
    pub firm_policy: Option<PathBuf>,
    /// Trusted public keys: when set, every module must carry a valid
    /// `MODULE.wasm.sig` from one of them (`bulkhead sign`), or the run is refused.
    pub trusted_keys: Option<PathBuf>,
    /// Precompiled-module cache directory (relative to the config file;
    /// created mode 0700 if missing). Absent = compile every module at load.
    /// A cache never changes what runs: see `bulkhead-sandbox`'s `cache` module.
    pub module_cache: Option<PathBuf>,
    /// `[run.module_limits]`: what a module may contain (size, functions,
    /// locals, segments, …) and its compile budget, checked before it is
    /// compiled (`bulkhead_sandbox::ModuleLimits`; defaults if absent).
    #[serde(default)]
    pub module_limits: bulkhead_sandbox::ModuleLimits,
}

fn never() -> String {
    "never".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSection {
    pub name: String,
    pub maker_fee_ppm: i64,
    pub taker_fee_ppm: i64,
    /// Order-entry latency: an order decided at t reaches the book at t + this.
    #[serde(default)]
    pub order_latency_ns: u64,
    /// Market-data latency added on top (see `bulkhead-venue`).
    #[serde(default)]
    pub md_latency_ns: u64,
    /// Same-account self-trade prevention: cancel_newest | cancel_oldest | cancel_both.
    #[serde(default)]
    pub stp: bulkhead_venue::StpMode,
    /// Where non-option marks come from: mid | index_plus_basis | external.
    #[serde(default)]
    pub mark: bulkhead_venue::MarkSource,
    /// Fee on liquidation closes, ppm of the closed notional.
    pub liquidation_fee_ppm: Option<i64>,
    /// Option fee cap, ppm of the premium notional.
    pub option_fee_cap_ppm: Option<i64>,
    /// Continuously compounded rate for Black-76 option marks.
    pub rate: Option<f64>,
    /// Volatility for option expiries without `[[option_vols]]`.
    pub default_vol: Option<f64>,
    /// Symbols this venue trades (required in `[[venues]]`; in `[venue]`,
    /// optional: it also gets every instrument no other venue lists).
    #[serde(default)]
    pub instruments: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// A market-data file (relative to the config file) …
    pub file: Option<PathBuf>,
    /// … in this format (default `bulkhead`; see [`FileFormat`]) …
    #[serde(default)]
    pub format: FileFormat,
    /// … or several files, merged in timestamp order …
    #[serde(default)]
    pub sources: Vec<SourceSection>,
    /// … or the deterministic generator.
    pub generator: Option<GeneratorSection>,
    /// Skip and count malformed lines instead of stopping (not for `bulkhead`).
    #[serde(default)]
    pub skip_bad_lines: bool,
    /// L2 formats: strategies also receive each book level change
    /// (`BookLevel` / `BookClear` events, `Strategy::on_book_level`), not
    /// only the top of book as quotes. Default off: the venue always gets
    /// the levels; strategies see what they saw before.
    #[serde(default)]
    pub strategy_book_levels: bool,
}

/// One market-data file of a multi-file run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    pub file: PathBuf,
    #[serde(default)]
    pub format: FileFormat,
    /// Instrument symbol for formats without a symbol column (Binance aggTrades).
    pub symbol: Option<String>,
    /// File symbol → instrument symbol, e.g. `{ BTCUSDT = "BTC-USDT-PERP" }`.
    #[serde(default)]
    pub symbol_map: std::collections::BTreeMap<String, String>,
}

/// Market-data file formats `bulkhead run` reads (plain or gzipped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Bulkhead CSV (see `bulkhead-data`).
    #[default]
    Bulkhead,
    TardisTrades,
    TardisQuotes,
    TardisBookSnapshot25,
    TardisIncrementalBookL2,
    /// Tardis `derivative_ticker`: mark, index and funding rate for the venue.
    TardisDerivativeTicker,
    BinanceAggTrades,
    /// A columnar catalogue written by `bulkhead data import` (see
    /// `bulkhead_data::catalogue`): normalised events, no parsing; its
    /// instrument table must match the run's instruments.
    Parquet,
}

impl FileFormat {
    pub const ALL: [FileFormat; 8] = [
        FileFormat::Bulkhead,
        FileFormat::TardisTrades,
        FileFormat::TardisQuotes,
        FileFormat::TardisBookSnapshot25,
        FileFormat::TardisIncrementalBookL2,
        FileFormat::TardisDerivativeTicker,
        FileFormat::BinanceAggTrades,
        FileFormat::Parquet,
    ];

    /// The format a config names `name`.
    pub fn from_name(name: &str) -> Option<FileFormat> {
        FileFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The name a config uses (`format = "..."`).
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Bulkhead => "bulkhead",
            FileFormat::TardisTrades => "tardis_trades",
            FileFormat::TardisQuotes => "tardis_quotes",
            FileFormat::TardisBookSnapshot25 => "tardis_book_snapshot25",
            FileFormat::TardisIncrementalBookL2 => "tardis_incremental_book_l2",
            FileFormat::TardisDerivativeTicker => "tardis_derivative_ticker",
            FileFormat::BinanceAggTrades => "binance_agg_trades",
            FileFormat::Parquet => "parquet",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSection {
    pub symbol: String,
    pub seed: u64,
    pub events: u64,
    /// Decimal price the walk starts at.
    pub start_price: String,
    #[serde(default = "default_gap")]
    pub mean_gap_ns: u64,
    #[serde(default = "default_trades")]
    pub trade_per_mille: u32,
    #[serde(default = "default_start")]
    pub start_ts_ns: u64,
}

fn default_gap() -> u64 {
    GeneratorSpec::default().mean_gap_ns
}
fn default_trades() -> u32 {
    GeneratorSpec::default().trade_per_mille
}
fn default_start() -> u64 {
    GeneratorSpec::default().start_ts_ns
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySection {
    pub name: String,
    /// Path to the `.wasm` module (relative to the config file).
    pub module: PathBuf,
    /// Path to the risk policy TOML (relative to the config file).
    pub policy: PathBuf,
    /// Handed to the strategy's `init` as `key = value` lines.
    #[serde(default)]
    pub config: toml::Table,
    #[serde(default)]
    pub limits: Limits,
    /// Supervisor: `{ max_restarts = N, backoff_ms = M }`; default never.
    #[serde(default)]
    pub restart: crate::engine::RestartPolicy,
    /// Collateral (decimal money of the settlement currency) the strategy's
    /// account holds on each venue. With it the venue margins the account
    /// and liquidates positions below maintenance margin; without, never.
    pub collateral: Option<String>,
}

/// A config with everything it refers to read, parsed and checked.
pub struct LoadedConfig {
    pub path: PathBuf,
    pub raw: RunConfig,
    pub config_hash: [u8; 32],
    pub instruments: Vec<Instrument>,
    pub journal_dir: PathBuf,
    pub data: DataPlan,
    pub strategies: Vec<LoadedStrategy>,
    pub firm_policy: Option<bulkhead_risk::FirmPolicy>,
    /// The firm policy's `[surveillance]` table (defaults and firm-wide rules).
    pub firm_surveillance: bulkhead_surveillance::FirmSurveillance,
    /// `run.module_cache`, resolved against the config file's directory.
    pub module_cache: Option<PathBuf>,
    /// Each venue's config and the instrument ids it owns (`[venue]` first,
    /// then `[[venues]]` in file order).
    pub venues: Vec<(bulkhead_venue::VenueConfig, Vec<u32>)>,
    /// `(expiry ns, vol in bps of vol)` from `[[option_vols]]`, in file order.
    pub option_vols: Vec<(u64, i64)>,
    /// `(instrument id, price ticks)` from `[[settlements]]`, in file order.
    pub settlements: Vec<(u32, i64)>,
    /// The files this config was built from, verbatim, under the names the
    /// journal's `CONFIG` records use (`run_config`, `firm_policy`,
    /// `policy:<strategy>`).
    pub files: Vec<(String, Vec<u8>)>,
    /// `run.trusted_keys`, read, when the modules were verified against it
    /// (a hot deploy in this run must verify against the same keys). `None`
    /// for an unsigned run and when the config was rebuilt from a journal.
    pub trusted_keys: Option<bulkhead_provenance::TrustedKeys>,
    /// `run.fsync`, parsed once at load (the text in `raw` is what the
    /// journalled config says; this is what the run uses).
    pub fsync: bulkhead_journal::FsyncPolicy,
    /// `[chain]`, checked (the keys file is read only when the run starts).
    pub chain: Option<ChainSetup>,
}

/// A run's `[chain]` section, checked.
#[derive(Clone, Debug)]
pub struct ChainSetup {
    pub config: bulkhead_chain::config::ChainConfig,
    pub book: bulkhead_chain::ContractBook,
    /// `mode = "lockstep"` (default): at every event boundary the engine
    /// waits for the node to finish what is in flight, so a backtest sees
    /// chain results at the same events every time; `"async"`: it takes
    /// what is ready and goes on (live and paper runs).
    pub lockstep: bool,
    /// Replaying a journal: each strategy's account (name, address) as
    /// journalled; no keys are read and no node is contacted.
    pub replay_accounts: Option<Vec<Option<(String, bulkhead_chain::types::Address)>>>,
}

impl ChainSetup {
    fn from_toml(v: &toml::Value, base: &Path, path: &Path) -> Result<ChainSetup, ConfigError> {
        let field = |field: String, message: String| ConfigError::Field { path: path.into(), field, message };
        let mut v = v.clone();
        let lockstep = match v.as_table_mut().and_then(|t| t.remove("mode")) {
            None => true,
            Some(toml::Value::String(m)) if m == "lockstep" => true,
            Some(toml::Value::String(m)) if m == "async" => false,
            Some(other) => {
                return Err(field("chain.mode".into(), format!("`{other}` is not \"lockstep\" or \"async\"")));
            }
        };
        let config = bulkhead_chain::config::ChainConfig::from_toml(&v, base)
            .map_err(|e| field("chain".into(), e.to_string()))?;
        let book = config.book();
        Ok(ChainSetup { config, book, lockstep, replay_accounts: None })
    }
}

/// A policy file's `[chain]` table, checked against the run's contracts; a
/// policy with one in a run without `[chain]` is refused (it would never apply).
fn chain_policy_table(
    policy_text: &str,
    policy_path: &Path,
    chain: Option<&ChainSetup>,
) -> Result<Option<toml::Value>, ConfigError> {
    let doc: toml::Table = toml::from_str(policy_text)
        .map_err(|e| ConfigError::Parse { path: policy_path.into(), message: e.message().to_string() })?;
    let Some(table) = doc.get("chain") else { return Ok(None) };
    let Some(setup) = chain else {
        return Err(ConfigError::Field {
            path: policy_path.into(),
            field: "chain".into(),
            message: "the policy scopes chain intents but the run config has no [chain] section".into(),
        });
    };
    bulkhead_chain::policy::ChainPolicy::from_toml(table, &setup.book).map_err(|e| ConfigError::Field {
        path: policy_path.into(),
        field: "chain".into(),
        message: e.to_string(),
    })?;
    Ok(Some(table.clone()))
}

/// Where [`LoadedConfig::from_raw_with`] gets the files a config names: the
/// file system ([`FsFiles`]), or a journal's `CONFIG` records for replay.
pub trait ConfigFiles {
    /// The bytes of the file a config names. `role` says which
    /// (`firm_policy`, `policy:<strategy>`); `path` is where the config says it is.
    fn read(&mut self, role: &str, path: &Path) -> Result<Vec<u8>, ConfigError>;
    /// Strategy `name`'s module bytes, verified against `trusted` if given.
    fn module(
        &mut self,
        name: &str,
        path: &Path,
        trusted: Option<&bulkhead_provenance::TrustedKeys>,
    ) -> Result<(Vec<u8>, Option<bulkhead_provenance::Signer>), ConfigError>;
    /// Whether market-data files must exist (not when replaying a journal).
    fn needs_data(&self) -> bool {
        true
    }
    /// Whether `run.trusted_keys` is read and enforced.
    fn needs_trusted_keys(&self) -> bool {
        true
    }
}

/// The file system, paths relative to the config file.
pub struct FsFiles;

impl ConfigFiles for FsFiles {
    fn read(&mut self, _role: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
        read(path)
    }
    fn module(
        &mut self,
        _name: &str,
        path: &Path,
        trusted: Option<&bulkhead_provenance::TrustedKeys>,
    ) -> Result<(Vec<u8>, Option<bulkhead_provenance::Signer>), ConfigError> {
        Ok(match trusted {
            Some(t) => {
                let (bytes, signer) = bulkhead_provenance::verify_module_file(path, t)?;
                (bytes, Some(signer))
            }
            None => (read(path)?, None),
        })
    }
}

/// One market-data file of a run: (path, format, symbol, symbol map).
pub type DataFileSpec = (PathBuf, FileFormat, Option<String>, std::collections::BTreeMap<String, String>);

pub enum DataPlan {
    File(PathBuf),
    /// One entry per file; merged in time order.
    Files(Vec<DataFileSpec>),
    Generator(GeneratorSpec),
}

pub struct LoadedStrategy {
    pub name: String,
    pub module_path: PathBuf,
    pub module_bytes: Vec<u8>,
    pub policy: Policy,
    /// The policy file's `[surveillance]` table.
    pub surveillance: bulkhead_surveillance::Rules,
    pub policy_hash: [u8; 32],
    pub config_bytes: Vec<u8>,
    pub limits: Limits,
    pub restart: crate::engine::RestartPolicy,
    /// Who signed the module (when the config requires signatures).
    pub signer: Option<bulkhead_provenance::Signer>,
    /// Collateral in money units (1e-8), if margined.
    pub collateral: Option<i64>,
    /// The policy file's `[chain]` table (checked at load against the
    /// run's contracts; parsed again for each engine).
    pub chain_policy: Option<toml::Value>,
}

fn venue_config(v: &VenueSection) -> bulkhead_venue::VenueConfig {
    let d = bulkhead_venue::VenueConfig::default();
    bulkhead_venue::VenueConfig {
        name: v.name.clone(),
        fees: FeeSchedule { maker_ppm: v.maker_fee_ppm, taker_ppm: v.taker_fee_ppm },
        stp: v.stp,
        order_latency_ns: v.order_latency_ns,
        md_latency_ns: v.md_latency_ns,
        mark: v.mark,
        liquidation_fee_ppm: v.liquidation_fee_ppm.unwrap_or(d.liquidation_fee_ppm),
        option_fee_cap_ppm: v.option_fee_cap_ppm.unwrap_or(d.option_fee_cap_ppm),
        rate: v.rate.unwrap_or(d.rate),
        default_vol: v.default_vol.or(d.default_vol),
    }
}

fn check_venue_numbers(v: &VenueSection, at: &str) -> Result<(), (String, String)> {
    let ppm = |x: Option<i64>, name: &str| match x {
        Some(p) if !(0..=1_000_000).contains(&p) => {
            Err((format!("{at}.{name}"), format!("{p} is not 0..=1000000 ppm")))
        }
        _ => Ok(()),
    };
    ppm(v.liquidation_fee_ppm, "liquidation_fee_ppm")?;
    ppm(v.option_fee_cap_ppm, "option_fee_cap_ppm")?;
    if v.rate.is_some_and(|r| !r.is_finite() || r.abs() > 1.0) {
        return Err((format!("{at}.rate"), "must be a finite rate within ±1 (100 %)".into()));
    }
    if v.default_vol.is_some_and(|x| !x.is_finite() || x <= 0.0 || x > 10.0) {
        return Err((format!("{at}.default_vol"), "must be > 0 and at most 10 (1000 %)".into()));
    }
    Ok(())
}

/// Which venue owns which instrument: `[[venues]]` own what they list,
/// `[venue]` the rest. Errors name the field.
type VenuePlan = Vec<(bulkhead_venue::VenueConfig, Vec<u32>)>;
fn venue_plan(raw: &RunConfig, instruments: &[Instrument]) -> Result<VenuePlan, (String, String)> {
    let all: Vec<(&VenueSection, String)> = std::iter::once((&raw.venue, "venue".to_string()))
        .chain(raw.venues.iter().enumerate().map(|(i, v)| (v, format!("venues[{i}]"))))
        .collect();
    let mut owner: Vec<Option<usize>> = vec![None; instruments.len()];
    for (k, (v, at)) in all.iter().enumerate() {
        check_venue_numbers(v, at)?;
        if all[..k].iter().any(|(w, _)| w.name == v.name) {
            return Err((format!("{at}.name"), format!("duplicate venue name `{}`", v.name)));
        }
        if k > 0 && v.instruments.is_empty() {
            return Err((format!("{at}.instruments"), "list the symbols this venue trades".into()));
        }
        for (j, sym) in v.instruments.iter().enumerate() {
            let f = format!("{at}.instruments[{j}]");
            let Some(id) = instruments.iter().position(|i| &i.symbol == sym) else {
                return Err((f, format!("unknown instrument `{sym}`")));
            };
            if let Some(o) = owner[id] {
                return Err((f, format!("`{sym}` is already traded on venue `{}`", all[o].0.name)));
            }
            owner[id] = Some(k);
        }
    }
    let owner: Vec<usize> = owner.into_iter().map(|o| o.unwrap_or(0)).collect();
    // An option is marked from its underlying's prices, which only its own venue sees.
    for (id, inst) in instruments.iter().enumerate() {
        if let Some(u) = inst.underlying
            && owner[u as usize] != owner[id]
        {
            return Err((
                format!("instruments[{id}].underlying"),
                format!(
                    "`{}` trades on venue `{}` but its underlying `{}` on `{}`: put them on the same venue",
                    inst.symbol, all[owner[id]].0.name, instruments[u as usize].symbol, all[owner[u as usize]].0.name
                ),
            ));
        }
    }
    Ok(all
        .iter()
        .enumerate()
        .map(|(k, (v, _))| {
            let ids = (0..instruments.len() as u32).filter(|&i| owner[i as usize] == k).collect();
            (venue_config(v), ids)
        })
        .collect())
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })
}

/// Render a TOML table as the `key = value` lines strategies receive.
pub fn config_lines(t: &toml::Table) -> String {
    let mut s = String::new();
    for (k, v) in t {
        let v = match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

impl LoadedConfig {
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let bytes = read(path)?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|e| ConfigError::Parse { path: path.into(), message: format!("not UTF-8: {e}") })?;
        let raw: RunConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: bulkhead_risk::describe_toml_error(&text, &e),
        })?;
        let mut cfg = Self::from_raw(path, raw, blake3::hash(&bytes).into())?;
        cfg.files.insert(0, ("run_config".into(), bytes));
        Ok(cfg)
    }

    /// Parse a run config's text (`path` names it in errors and anchors its
    /// relative paths) and load what it names through `files`.
    pub fn from_text_with(path: &Path, text: &str, files: &mut dyn ConfigFiles) -> Result<LoadedConfig, ConfigError> {
        let raw: RunConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: bulkhead_risk::describe_toml_error(text, &e),
        })?;
        let mut cfg = Self::from_raw_with(path, raw, blake3::hash(text.as_bytes()).into(), files)?;
        cfg.files.insert(0, ("run_config".into(), text.as_bytes().to_vec()));
        Ok(cfg)
    }

    pub fn from_raw(path: &Path, raw: RunConfig, config_hash: [u8; 32]) -> Result<LoadedConfig, ConfigError> {
        Self::from_raw_with(path, raw, config_hash, &mut FsFiles)
    }

    #[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
    pub fn from_raw_with(
        path: &Path,
        raw: RunConfig,
        config_hash: [u8; 32],
        fs: &mut dyn ConfigFiles,
    ) -> Result<LoadedConfig, ConfigError> {
        let mut journal_files: Vec<(String, Vec<u8>)> = Vec::new();
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let field = |field: String, message: String| ConfigError::Field { path: path.into(), field, message };
        if raw.instruments.is_empty() {
            return Err(field("instruments".into(), "at least one instrument is required".into()));
        }
        let mut instruments = Vec::new();
        for (i, spec) in raw.instruments.iter().enumerate() {
            if instruments.iter().any(|x: &Instrument| x.symbol == spec.symbol) {
                return Err(field(format!("instruments[{i}].symbol"), format!("duplicate symbol `{}`", spec.symbol)));
            }
            instruments.push(
                Instrument::from_spec(i as u32, spec).map_err(|e| field(format!("instruments[{i}]"), e.to_string()))?,
            );
        }
        // Options need their underlying's id (R9 greeks in risk; venue marks).
        if let Err(e) = bulkhead_model::link_underlyings(&mut instruments) {
            let unknown = |s: &InstrumentSpec| {
                s.underlying.as_ref().is_some_and(|u| u == &s.symbol || !raw.instruments.iter().any(|x| &x.symbol == u))
            };
            let i = raw.instruments.iter().position(unknown).unwrap_or(0);
            return Err(field(format!("instruments[{i}].underlying"), e.to_string()));
        }
        let venues = venue_plan(&raw, &instruments).map_err(|(f, m)| field(f, m))?;
        let mut option_vols: Vec<(u64, i64)> = Vec::new();
        for (i, ov) in raw.option_vols.iter().enumerate() {
            let f = |name: &str| format!("option_vols[{i}].{name}");
            if !instruments.iter().any(|x| x.option.is_some() && x.expiry == Some(ov.expiry)) {
                return Err(field(f("expiry"), format!("no option instrument expires at {}", ov.expiry)));
            }
            if option_vols.iter().any(|&(e, _)| e == ov.expiry) {
                return Err(field(f("expiry"), format!("duplicate expiry {}", ov.expiry)));
            }
            let bps = bulkhead_model::Decimal::parse(&ov.vol)
                .and_then(|d| d.to_units(bulkhead_model::Decimal { mantissa: 1, scale: 4 }))
                .map_err(|e| field(f("vol"), format!("{e} (a decimal with at most 4 places, e.g. \"0.55\")")))?;
            if !(1..=100_000).contains(&bps) {
                return Err(field(f("vol"), format!("`{}` must be > 0 and at most 10 (1000 %)", ov.vol)));
            }
            option_vols.push((ov.expiry, bps));
        }
        let fsync = raw.run.fsync.parse().map_err(|e| field("run.fsync".into(), format!("{e}")))?;
        let mut sources: Vec<SourceSection> = raw.data.sources.clone();
        if let Some(f) = &raw.data.file {
            sources.insert(
                0,
                SourceSection {
                    file: f.clone(),
                    format: raw.data.format,
                    symbol: None,
                    symbol_map: Default::default(),
                },
            );
        }
        let data = match (sources.is_empty(), &raw.data.generator) {
            (false, None) => {
                let mut files = Vec::new();
                for (i, src) in sources.into_iter().enumerate() {
                    let p = base.join(&src.file);
                    if fs.needs_data() && !p.is_file() {
                        let name = if raw.data.file.is_some() && i == 0 {
                            "data.file".to_string()
                        } else {
                            format!("data.sources[{}].file", i - raw.data.file.is_some() as usize)
                        };
                        return Err(field(name, format!("{} does not exist", p.display())));
                    }
                    files.push((p, src.format, src.symbol, src.symbol_map));
                }
                if files.len() == 1 && files[0].1 == FileFormat::Bulkhead {
                    DataPlan::File(files.remove(0).0)
                } else {
                    DataPlan::Files(files)
                }
            }
            (true, Some(g)) => {
                let inst = instruments.iter().find(|i| i.symbol == g.symbol).ok_or_else(|| {
                    field("data.generator.symbol".into(), format!("unknown instrument `{}`", g.symbol))
                })?;
                let start_price = inst
                    .price_to_ticks(&g.start_price)
                    .map_err(|e| field("data.generator.start_price".into(), e.to_string()))?;
                if start_price <= 0 {
                    return Err(field("data.generator.start_price".into(), "must be > 0".into()));
                }
                if g.trade_per_mille > 1000 {
                    return Err(field("data.generator.trade_per_mille".into(), "must be 0..=1000".into()));
                }
                DataPlan::Generator(GeneratorSpec {
                    seed: g.seed,
                    events: g.events,
                    instrument: inst.id,
                    start_price,
                    start_ts_ns: g.start_ts_ns,
                    mean_gap_ns: g.mean_gap_ns,
                    trade_per_mille: g.trade_per_mille,
                })
            }
            _ => return Err(field("data".into(), "give `file` and/or `sources`, or `generator` (not both)".into())),
        };
        let mut settlements: Vec<(u32, i64)> = Vec::new();
        for (i, st) in raw.settlements.iter().enumerate() {
            let f = |name: &str| format!("settlements[{i}].{name}");
            let inst = instruments
                .iter()
                .find(|x| x.symbol == st.symbol)
                .ok_or_else(|| field(f("symbol"), format!("unknown instrument `{}`", st.symbol)))?;
            if inst.expiry.is_none() {
                return Err(field(
                    f("symbol"),
                    format!("`{}` has no expiry: only dated instruments settle", st.symbol),
                ));
            }
            if settlements.iter().any(|&(id, _)| id == inst.id) {
                return Err(field(f("symbol"), format!("duplicate settlement for `{}`", st.symbol)));
            }
            let px = inst.price_to_ticks(&st.price).map_err(|e| field(f("price"), e.to_string()))?;
            if px < 0 {
                return Err(field(f("price"), "must be ≥ 0".into()));
            }
            settlements.push((inst.id, px));
        }
        // A mark source that needs data needs a ticker source to feed it.
        let fs_needs_data = fs.needs_data();
        // (A catalogue counts if its metadata says it holds tickers; when
        // replaying, data files are not read and the journal decides.)
        let has_ticker = matches!(&data, DataPlan::Files(fs) if fs.iter().any(|f| match f.1 {
            FileFormat::TardisDerivativeTicker => true,
            FileFormat::Parquet if fs_needs_data => bulkhead_data::catalogue::read_info(&f.0)
                .is_ok_and(|i| i.has_kind(bulkhead_abi::EventKind::Ticker)),
            FileFormat::Parquet => true,
            _ => false,
        }));
        for (k, (vcfg, owned)) in venues.iter().enumerate() {
            use bulkhead_venue::MarkSource;
            let at = if k == 0 { "venue.mark".to_string() } else { format!("venues[{}].mark", k - 1) };
            let needs = owned.iter().any(|&id| instruments[id as usize].option.is_none());
            let name = match vcfg.mark {
                MarkSource::Mid => continue,
                MarkSource::IndexPlusBasis => "index_plus_basis",
                MarkSource::External => "external",
            };
            if needs && !has_ticker {
                return Err(field(
                    at,
                    format!(
                        "`{name}` needs index / mark prices from the data: add a `[[data.sources]]` with \
                         format = \"tardis_derivative_ticker\" (or use mark = \"mid\")"
                    ),
                ));
            }
        }
        let trusted = match &raw.run.trusted_keys {
            Some(k) if fs.needs_trusted_keys() => Some(bulkhead_provenance::TrustedKeys::read(&base.join(k))?),
            _ => None,
        };
        let chain = match &raw.chain {
            None => None,
            Some(v) => Some(ChainSetup::from_toml(v, &base, path)?),
        };
        let mut strategies = Vec::new();
        for (i, s) in raw.strategies.iter().enumerate() {
            if strategies.iter().any(|x: &LoadedStrategy| x.name == s.name) {
                return Err(field(format!("strategies[{i}].name"), format!("duplicate name `{}`", s.name)));
            }
            let module_path = base.join(&s.module);
            let (module_bytes, signer) = fs.module(&s.name, &module_path, trusted.as_ref())?;
            let policy_path = base.join(&s.policy);
            let role = format!("policy:{}", s.name);
            let policy_bytes = fs.read(&role, &policy_path)?;
            journal_files.push((role, policy_bytes.clone()));
            let policy_text = String::from_utf8(policy_bytes.clone())
                .map_err(|e| ConfigError::Parse { path: policy_path.clone(), message: format!("not UTF-8: {e}") })?;
            let policy = Policy::from_toml(&policy_text, &policy_path.display().to_string(), &instruments)
                .map_err(|e| ConfigError::Policy(e.to_string()))?;
            let surveillance = bulkhead_surveillance::Rules::from_policy_toml(
                &policy_text,
                &policy_path.display().to_string(),
                &instruments,
            )
            .map_err(|e| ConfigError::Policy(e.to_string()))?;
            let chain_policy = chain_policy_table(&policy_text, &policy_path, chain.as_ref())?;
            let config_bytes = config_lines(&s.config).into_bytes();
            if config_bytes.len() > bulkhead_abi::MAX_CONFIG_LEN {
                return Err(field(format!("strategies[{i}].config"), "larger than 64 KiB".into()));
            }
            strategies.push(LoadedStrategy {
                name: s.name.clone(),
                module_path,
                module_bytes,
                policy,
                surveillance,
                chain_policy,
                policy_hash: blake3::hash(&policy_bytes).into(),
                config_bytes,
                limits: s.limits.clone(),
                restart: s.restart,
                signer,
                collateral: match &s.collateral {
                    None => None,
                    Some(c) => Some(
                        bulkhead_model::Decimal::parse(c)
                            .and_then(|d| d.to_units(bulkhead_model::Decimal { mantissa: 1, scale: 8 }))
                            .ok()
                            .filter(|&m| m >= 0)
                            .ok_or_else(|| {
                                field(
                                    format!("strategies[{i}].collateral"),
                                    format!("`{c}` is not a non-negative decimal with at most 8 places"),
                                )
                            })?,
                    ),
                },
            });
        }
        let mut firm_surveillance = bulkhead_surveillance::FirmSurveillance::default();
        let firm_policy = match &raw.run.firm_policy {
            None => None,
            Some(f) => {
                let p = base.join(f);
                let bytes = fs.read("firm_policy", &p)?;
                journal_files.push(("firm_policy".into(), bytes.clone()));
                let text = String::from_utf8(bytes)
                    .map_err(|e| ConfigError::Parse { path: p.clone(), message: format!("not UTF-8: {e}") })?;
                firm_surveillance =
                    bulkhead_surveillance::FirmSurveillance::from_toml(&text, &p.display().to_string(), &instruments)
                        .map_err(|e| ConfigError::Policy(e.to_string()))?;
                Some(
                    bulkhead_risk::FirmPolicy::from_toml(&text, &p.display().to_string(), &instruments)
                        .map_err(|e| ConfigError::Policy(e.to_string()))?,
                )
            }
        };
        if strategies.is_empty() {
            return Err(field("strategies".into(), "at least one strategy is required".into()));
        }
        Ok(LoadedConfig {
            path: path.to_path_buf(),
            journal_dir: base.join(&raw.run.journal),
            module_cache: raw.run.module_cache.as_ref().map(|d| base.join(d)),
            option_vols,
            settlements,
            venues,
            raw,
            config_hash,
            instruments,
            data,
            strategies,
            firm_policy,
            firm_surveillance,
            files: journal_files,
            chain,
            trusted_keys: trusted,
            fsync,
        })
    }

    /// `run.fsync`, as parsed when the config was loaded.
    pub fn fsync(&self) -> bulkhead_journal::FsyncPolicy {
        self.fsync
    }

    pub fn fees(&self) -> FeeSchedule {
        FeeSchedule { maker_ppm: self.raw.venue.maker_fee_ppm, taker_ppm: self.raw.venue.taker_fee_ppm }
    }

    /// The first venue's config (`[venue]`).
    pub fn venue_config(&self) -> bulkhead_venue::VenueConfig {
        venue_config(&self.raw.venue)
    }
}
