//! The scenario every generated case runs in: the demo
//! (`examples/demo.toml`: market-maker and momentum on the synthetic
//! BTC-USDT perpetual, firm policy, module cache off) without its
//! misbehaving strategy, shortened, plus — when given — the scripted attacker
//! appended last, with its own policy (`examples/policies/hostile_scripted.toml`).

use std::path::{Path, PathBuf};

use bulkhead_engine::{LoadedConfig, RunReport, run_config};
use bulkhead_journal::{JournalReader, Record};

use crate::generators::Script;

/// Name of the attacker in the run (strategy id [`ATTACKER_SID`]).
pub const ATTACKER: &str = "attacker";
/// Strategy ids in config order.
pub const SID_MARKET_MAKER: u32 = 0;
pub const SID_MOMENTUM: u32 = 1;
pub const ATTACKER_SID: u32 = 2;
/// The well-behaved strategies, by id and name.
pub const WELL_BEHAVED: [(u32, &str); 2] = [(SID_MARKET_MAKER, "market-maker"), (SID_MOMENTUM, "momentum")];

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The scripted attacker's module, built by `scripts/build-strategies.sh`.
pub fn attacker_module() -> PathBuf {
    repo().join("strategies/wasm/hostile/scripted.wasm")
}

/// Limits of the attacker: the defaults (every per-event budget on), with
/// a generous wall-clock deadline so that the deterministic budgets, not the
/// scheduler, are what stop it.
pub const ATTACKER_LIMITS: &str = "deadline_us = 200_000";

/// The demo config (paths made absolute) without its misbehaving strategy,
/// `events` market events long, journalling to `journal` beside the config
/// (so the same case in another directory has the same config text, which
/// `--resume` requires), followed by `extra` (TOML appended verbatim, e.g. a
/// `[[strategies]]` table).
pub fn demo_config_text(events: u64, extra: &str) -> Result<String, String> {
    let mut out = toml::to_string(&demo_config_table(events)?).map_err(|e| e.to_string())?;
    out.push_str(extra);
    Ok(out)
}

/// [`demo_config_text`] as a table, to edit before writing.
pub fn demo_config_table(events: u64) -> Result<toml::Table, String> {
    let examples = repo().join("examples");
    let demo = examples.join("demo.toml");
    let text = std::fs::read_to_string(&demo).map_err(|e| format!("{}: {e}", demo.display()))?;
    let mut t: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", demo.display()))?;
    let table = |t: &mut toml::Table, k: &str| -> Result<toml::Table, String> {
        t.get(k).and_then(|v| v.as_table()).cloned().ok_or_else(|| format!("demo.toml: no [{k}]"))
    };
    let mut run = table(&mut t, "run")?;
    run.insert("journal".into(), toml::Value::String("journal".into()));
    run.insert("overwrite_journal".into(), toml::Value::Boolean(false));
    run.remove("module_cache");
    absolutize(&mut run, &examples);
    t.insert("run".into(), toml::Value::Table(run));
    let mut data = table(&mut t, "data")?;
    let mut generator = data.get("generator").and_then(|v| v.as_table()).cloned().ok_or("demo.toml: no generator")?;
    generator.insert("events".into(), toml::Value::Integer(i64::try_from(events).map_err(|e| e.to_string())?));
    data.insert("generator".into(), toml::Value::Table(generator));
    t.insert("data".into(), toml::Value::Table(data));
    let strategies = t.get_mut("strategies").and_then(|v| v.as_array_mut()).ok_or("demo.toml: no strategies")?;
    strategies.retain(|s| s.get("name").and_then(|n| n.as_str()) != Some("misbehaving"));
    for s in strategies.iter_mut() {
        if let Some(s) = s.as_table_mut() {
            absolutize(s, &examples);
        }
    }
    Ok(t)
}

/// Make every string value of `t` that names an existing file under `base`
/// absolute, so the config can live in a temporary directory.
fn absolutize(t: &mut toml::Table, base: &Path) {
    for (_, v) in t.iter_mut() {
        if let toml::Value::String(s) = v
            && !s.is_empty()
            && base.join(s.as_str()).is_file()
        {
            *s = base.join(s.as_str()).display().to_string();
        }
    }
}

/// The `[[strategies]]` table of the scripted attacker running `script`.
pub fn attacker_toml(script: &Script, limits: &str) -> String {
    let policy = repo().join("examples/policies/hostile_scripted.toml");
    format!(
        "\n[[strategies]]\nname = \"{ATTACKER}\"\nmodule = \"{}\"\npolicy = \"{}\"\nlimits = {{ {limits} }}\n[strategies.config]\n{}",
        attacker_module().display(),
        policy.display(),
        script.config_lines()
    )
}

/// Write `text` to `dir/config.toml` and load it.
pub fn write_config(dir: &Path, text: &str) -> Result<LoadedConfig, String> {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    LoadedConfig::load(&path).map_err(|e| format!("config: {e} (did scripts/build-strategies.sh run?)"))
}

/// Every journal record in `dir`, after `journal verify`.
pub fn read_journal(dir: &Path) -> Result<Vec<Record>, String> {
    bulkhead_journal::verify(dir).map_err(|e| format!("journal verify: {e}"))?;
    JournalReader::open(dir)
        .map_err(|e| format!("journal open: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("journal read: {e}"))
}

/// A finished run: its report and every journal record (verified).
#[derive(Debug)]
pub struct Run {
    pub report: RunReport,
    pub records: Vec<Record>,
    pub journal_dir: PathBuf,
}

/// Run the scenario in `dir` with the attacker playing `script` (or without
/// an attacker), then verify and read the journal. `Err` is a failed
/// promise: the run did not complete or the journal does not verify.
pub fn run(dir: &Path, events: u64, attacker: Option<&Script>) -> Result<Run, String> {
    let extra = attacker.map(|s| attacker_toml(s, ATTACKER_LIMITS)).unwrap_or_default();
    let cfg = write_config(dir, &demo_config_text(events, &extra)?)?;
    let report = run_config(&cfg, &mut |_, _| {}).map_err(|e| format!("the run must complete: {e}"))?;
    let records = read_journal(&cfg.journal_dir)?;
    Ok(Run { report, records, journal_dir: cfg.journal_dir })
}
