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
    pub venue: VenueSection,
    pub instruments: Vec<InstrumentSpec>,
    pub data: DataSection,
    pub strategies: Vec<StrategySection>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Journal directory (relative to the config file).
    pub journal: PathBuf,
    /// `never` (backtests), `always`, or `every:N` records.
    #[serde(default = "never")]
    pub fsync: String,
    /// Replace an existing journal directory instead of refusing.
    #[serde(default)]
    pub overwrite_journal: bool,
    /// Firm-wide risk policy (R5 firm throttles, R7 STP mode, R12, R13).
    pub firm_policy: Option<PathBuf>,
    /// Trusted public keys: when set, every module must carry a valid
    /// `MODULE.wasm.sig` from one of them (`bulkhead sign`), or the run is refused.
    pub trusted_keys: Option<PathBuf>,
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
    BinanceAggTrades,
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
}

pub enum DataPlan {
    File(PathBuf),
    /// (path, format, symbol, symbol map) per file; merged in time order.
    Files(Vec<(PathBuf, FileFormat, Option<String>, std::collections::BTreeMap<String, String>)>),
    Generator(GeneratorSpec),
}

pub struct LoadedStrategy {
    pub name: String,
    pub module_path: PathBuf,
    pub module_bytes: Vec<u8>,
    pub policy: Policy,
    pub policy_hash: [u8; 32],
    pub config_bytes: Vec<u8>,
    pub limits: Limits,
    pub restart: crate::engine::RestartPolicy,
    /// Who signed the module (when the config requires signatures).
    pub signer: Option<bulkhead_provenance::Signer>,
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
        Self::from_raw(path, raw, blake3::hash(&bytes).into())
    }

    pub fn from_raw(path: &Path, raw: RunConfig, config_hash: [u8; 32]) -> Result<LoadedConfig, ConfigError> {
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
        match raw.run.fsync.as_str() {
            "never" | "always" => {}
            s if s.strip_prefix("every:").is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0)) => {}
            other => {
                return Err(field("run.fsync".into(), format!("`{other}` is not never, always or every:N")));
            }
        }
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
                    if !p.is_file() {
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
        let trusted = match &raw.run.trusted_keys {
            Some(k) => Some(bulkhead_provenance::TrustedKeys::read(&base.join(k))?),
            None => None,
        };
        let mut strategies = Vec::new();
        for (i, s) in raw.strategies.iter().enumerate() {
            if strategies.iter().any(|x: &LoadedStrategy| x.name == s.name) {
                return Err(field(format!("strategies[{i}].name"), format!("duplicate name `{}`", s.name)));
            }
            let module_path = base.join(&s.module);
            let (module_bytes, signer) = match &trusted {
                Some(t) => {
                    let (bytes, signer) = bulkhead_provenance::verify_module_file(&module_path, t)?;
                    (bytes, Some(signer))
                }
                None => (read(&module_path)?, None),
            };
            let policy_path = base.join(&s.policy);
            let policy_bytes = read(&policy_path)?;
            let policy_text = String::from_utf8(policy_bytes.clone())
                .map_err(|e| ConfigError::Parse { path: policy_path.clone(), message: format!("not UTF-8: {e}") })?;
            let policy = Policy::from_toml(&policy_text, &policy_path.display().to_string(), &instruments)
                .map_err(|e| ConfigError::Policy(e.to_string()))?;
            let config_bytes = config_lines(&s.config).into_bytes();
            if config_bytes.len() > bulkhead_abi::MAX_CONFIG_LEN {
                return Err(field(format!("strategies[{i}].config"), "larger than 64 KiB".into()));
            }
            strategies.push(LoadedStrategy {
                name: s.name.clone(),
                module_path,
                module_bytes,
                policy,
                policy_hash: blake3::hash(&policy_bytes).into(),
                config_bytes,
                limits: s.limits.clone(),
                restart: s.restart,
                signer,
            });
        }
        let firm_policy = match &raw.run.firm_policy {
            None => None,
            Some(f) => {
                let p = base.join(f);
                let text = String::from_utf8(read(&p)?)
                    .map_err(|e| ConfigError::Parse { path: p.clone(), message: format!("not UTF-8: {e}") })?;
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
            raw,
            config_hash,
            instruments,
            data,
            strategies,
            firm_policy,
        })
    }

    pub fn fsync(&self) -> bulkhead_journal::FsyncPolicy {
        use bulkhead_journal::FsyncPolicy;
        match self.raw.run.fsync.as_str() {
            "always" => FsyncPolicy::Always,
            s => match s.strip_prefix("every:").and_then(|n| n.parse().ok()) {
                Some(n) => FsyncPolicy::EveryN(n),
                None => FsyncPolicy::Never,
            },
        }
    }

    pub fn fees(&self) -> FeeSchedule {
        FeeSchedule { maker_ppm: self.raw.venue.maker_fee_ppm, taker_ppm: self.raw.venue.taker_fee_ppm }
    }

    pub fn venue_config(&self) -> bulkhead_venue::VenueConfig {
        let v = &self.raw.venue;
        bulkhead_venue::VenueConfig {
            name: v.name.clone(),
            fees: self.fees(),
            stp: v.stp,
            order_latency_ns: v.order_latency_ns,
            md_latency_ns: v.md_latency_ns,
            ..bulkhead_venue::VenueConfig::default()
        }
    }
}
