//! Deterministic replay: re-derive every decision of a journalled run.
//!
//! The journal holds everything a run was made of: the config files
//! (`CONFIG` records, verbatim), the modules' blake3 hashes (`MODULE`), every
//! market event as it entered the engine (`MARKET`) and every operator
//! command at the point it took effect (`COMMAND`). [`replay`] rebuilds the
//! run from those alone, finds each strategy's module in a directory **by
//! hash**, feeds the journalled market events and commands to a fresh engine
//! (journalling to a scratch directory), and compares the two journals
//! record by record and, per strategy, decision by decision.
//!
//! A module whose hash is not in the directory but whose file name is (the
//! same `momentum.wasm`, rebuilt) is replayed anyway and reported as
//! **changed**; its differing decisions are then the point of the report.
//!
//! Not deterministic by design, and reported as such when they differ: wall
//! clock deadline faults (`deadline`), which depend on the machine's load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulkhead_abi::Event;
use bulkhead_data::{DataError, MarketSource};
use bulkhead_journal::{JournalError, JournalReader, Record};

use crate::command::{Command, Journalled};
use crate::config::{ConfigError, ConfigFiles, LoadedConfig};
use crate::decode::{self, Decoded};
use crate::{JournalMode, RunError, records};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("journal {}: {source}", dir.display())]
    Journal { dir: PathBuf, source: JournalError },
    #[error("journal {}: {problem}", dir.display())]
    Incomplete { dir: PathBuf, problem: String },
    #[error("modules directory {}: {source}", dir.display())]
    ModulesDir { dir: PathBuf, source: std::io::Error },
    #[error(
        "strategy `{strategy}`: no module in {} has blake3 {hash} (and none is named `{file}`)",
        dir.display()
    )]
    ModuleMissing { strategy: String, hash: String, file: String, dir: PathBuf },
    #[error("rebuilding the config from the journal: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("scratch directory: {0}")]
    Scratch(std::io::Error),
}

/// How a strategy's module was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleMatch {
    pub strategy: String,
    /// blake3 recorded in the journal.
    pub journal_hash: String,
    /// The file replayed.
    pub path: PathBuf,
    /// Its blake3 (differs from `journal_hash` when `changed`).
    pub hash: String,
    /// Found by name, not by hash: the module is not the one that ran.
    pub changed: bool,
}

/// One strategy's decisions compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyComparison {
    pub strategy: String,
    pub journalled: u64,
    pub replayed: u64,
    /// First differing decision: index among this strategy's decisions, then
    /// the journalled and the replayed one (`None` = there is none).
    pub first_difference: Option<(u64, Option<String>, Option<String>)>,
    /// How many decisions differ at the same index (plus the length difference).
    pub differing: u64,
}

/// What [`replay`] found.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub modules: Vec<ModuleMatch>,
    pub market_events: u64,
    pub commands: u64,
    /// Commands that could not be re-applied (text, why).
    pub commands_skipped: Vec<(String, String)>,
    /// Records after the run's header (config and modules) in each journal.
    pub records_journalled: u64,
    pub records_replayed: u64,
    /// First record (sequence number in the original) that differs.
    pub first_record_difference: Option<u64>,
    pub strategies: Vec<StrategyComparison>,
    /// Wall-clock deadline faults in either journal (not deterministic by design).
    pub deadline_faults: u64,
}

impl ReplayReport {
    /// Every decision reproduced and no module changed.
    pub fn identical(&self) -> bool {
        self.first_record_difference.is_none()
            && self.records_journalled == self.records_replayed
            && self.strategies.iter().all(|s| s.first_difference.is_none())
            && self.modules.iter().all(|m| !m.changed)
    }
}

fn open(dir: &Path) -> Result<JournalReader, ReplayError> {
    JournalReader::open(dir).map_err(|source| ReplayError::Journal { dir: dir.into(), source })
}

/// The journal's market events, streamed (nothing else is read).
struct JournalMarket {
    reader: JournalReader,
    len: u64,
    dir: PathBuf,
}

impl MarketSource for JournalMarket {
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        for rec in self.reader.by_ref() {
            let rec = rec.map_err(|e| DataError::Setup { path: self.dir.clone(), problem: e.to_string() })?;
            if rec.kind == records::MARKET {
                return Event::decode(&rec.payload).map(Some).map_err(|e| DataError::Setup {
                    path: self.dir.clone(),
                    problem: format!("record #{}: market event: {e:?}", rec.seq),
                });
            }
        }
        Ok(None)
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.len)
    }
}

/// The run's files from the journal; modules from a directory.
struct JournalFiles<'a> {
    files: &'a BTreeMap<String, Vec<u8>>,
    modules: &'a BTreeMap<String, (PathBuf, Vec<u8>)>,
}

impl ConfigFiles for JournalFiles<'_> {
    fn read(&mut self, role: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
        self.files.get(role).cloned().ok_or_else(|| ConfigError::Io {
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("the journal has no `{role}` record")),
        })
    }
    fn module(
        &mut self,
        name: &str,
        path: &Path,
        _trusted: Option<&bulkhead_provenance::TrustedKeys>,
    ) -> Result<(Vec<u8>, Option<bulkhead_provenance::Signer>), ConfigError> {
        match self.modules.get(name) {
            Some((_, bytes)) => Ok((bytes.clone(), None)),
            None => Err(ConfigError::Io {
                path: path.into(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no module found for this strategy"),
            }),
        }
    }
    fn needs_data(&self) -> bool {
        false
    }
    fn needs_trusted_keys(&self) -> bool {
        false
    }
}

/// What the first pass over the journal collects.
#[derive(Default)]
struct Header {
    files: BTreeMap<String, Vec<u8>>,
    /// sid → (name, blake3)
    modules: BTreeMap<u32, (String, [u8; 32])>,
    market: u64,
    /// (market events before it, text)
    commands: Vec<(u64, String)>,
    /// What the chain node reported, as journalled: (market events before
    /// it, the answer to re-feed).
    chain_inputs: Vec<(u64, bulkhead_chain::worker::Done)>,
    /// sid → (account name, address), from `CHAIN` step `account`.
    chain_accounts: BTreeMap<u32, (String, bulkhead_chain::types::Address)>,
}

/// A journalled `CHAIN` input step as the answer the worker gave.
fn chain_done(
    sid: u32,
    id: u64,
    step: records::ChainStep,
    reason: bulkhead_abi::Reason,
    body: &[u8],
    text: &[u8],
) -> Result<Option<bulkhead_chain::worker::Done>, String> {
    use bulkhead_chain::codec;
    use bulkhead_chain::worker::{Done, Failure};
    use records::ChainStep;
    Ok(Some(match step {
        ChainStep::Simulated => {
            Done::Simulated { sid, id, result: Ok(codec::decode_sim(body).map_err(|e| e.to_string())?) }
        }
        ChainStep::Mined => Done::Mined { sid, id, result: Ok(codec::decode_mined(body).map_err(|e| e.to_string())?) },
        ChainStep::Signed => {
            if body.len() != 40 {
                return Err(format!("signed step: body is {} bytes, not 40", body.len()));
            }
            let hash = bulkhead_chain::types::B256::from_slice(&body[..32]);
            let mut n = [0u8; 8];
            n.copy_from_slice(&body[32..]);
            Done::Signed { sid, id, result: Ok((hash, u64::from_le_bytes(n))) }
        }
        ChainStep::Failed => {
            let failed = body.first().copied().and_then(ChainStep::from_code);
            let text = String::from_utf8_lossy(text);
            let name = failed.map_or("?", ChainStep::name);
            let message = text.strip_prefix(&format!("{name} failed: ")).unwrap_or(&text).to_string();
            let f = Failure { unavailable: reason == bulkhead_abi::Reason::ChainUnavailable, message };
            match failed {
                Some(ChainStep::Simulated) => Done::Simulated { sid, id, result: Err(f) },
                Some(ChainStep::Signed) => Done::Signed { sid, id, result: Err(f) },
                Some(ChainStep::Mined) => Done::Mined { sid, id, result: Err(f) },
                _ => return Err(format!("failed step names step {:?}", body.first())),
            }
        }
        _ => return Ok(None),
    }))
}

fn scan(dir: &Path) -> Result<Header, ReplayError> {
    let mut h = Header::default();
    for rec in open(dir)? {
        let rec = rec.map_err(|source| ReplayError::Journal { dir: dir.into(), source })?;
        match rec.kind {
            records::MARKET => h.market += 1,
            records::CONFIG | records::MODULE | records::COMMAND | records::CHAIN => {
                let bad = |e: decode::DecodeError| ReplayError::Incomplete {
                    dir: dir.into(),
                    problem: format!("record #{}: {e}", rec.seq),
                };
                let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                match records::Record::decode(rec.kind, &rec.payload).map_err(bad)? {
                    records::Record::Config { name, bytes } => {
                        h.files.insert(lossy(name), bytes.to_vec());
                    }
                    records::Record::Module { sid, module, name, .. } => {
                        // A redeploy journals the module again; the first is what started.
                        h.modules.entry(sid).or_insert((lossy(name), module));
                    }
                    records::Record::Command { text } => h.commands.push((h.market, lossy(text))),
                    records::Record::Chain { sid, step: records::ChainStep::Account, body, text, .. }
                        if body.len() == 20 =>
                    {
                        let a = bulkhead_chain::types::Address::from_slice(body);
                        h.chain_accounts.insert(sid, (lossy(text), a));
                    }
                    records::Record::Chain { sid, id, step, reason, body, text } => {
                        let done = chain_done(sid, id, step, reason, body, text).map_err(|p| {
                            ReplayError::Incomplete { dir: dir.into(), problem: format!("record #{}: {p}", rec.seq) }
                        })?;
                        if let Some(d) = done {
                            h.chain_inputs.push((h.market, d));
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(h)
}

/// A module file: its path, blake3 and bytes.
type IndexedModule = (PathBuf, [u8; 32], Vec<u8>);

/// Every `*.wasm` in `dir` (not recursive), by blake3.
fn index_modules(dir: &Path) -> Result<Vec<IndexedModule>, ReplayError> {
    let err = |source| ReplayError::ModulesDir { dir: dir.into(), source };
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    entries.sort();
    for p in entries {
        let bytes = std::fs::read(&p).map_err(err)?;
        out.push((p, *blake3::hash(&bytes).as_bytes(), bytes));
    }
    Ok(out)
}

/// Per strategy, (seq, digest) of each decision record in journal order.
type DecisionDigests = BTreeMap<u32, Vec<(u64, u64)>>;

/// A digest per decision record, per strategy, in journal order.
fn decisions(dir: &Path) -> Result<(DecisionDigests, u64), ReplayError> {
    let mut out: DecisionDigests = BTreeMap::new();
    let mut deadline = 0;
    for rec in open(dir)? {
        let rec = rec.map_err(|source| ReplayError::Journal { dir: dir.into(), source })?;
        if !matches!(
            rec.kind,
            records::ORDER
                | records::CANCEL
                | records::VENUE
                | records::FAULT
                | records::TIMER
                | records::INVALID
                | records::CHAIN
        ) {
            continue;
        }
        let Ok(d) = decode::decode(rec.kind, &rec.payload) else { continue };
        if let Decoded::Fault { fault, .. } = &d
            && fault == "deadline"
        {
            deadline += 1;
        }
        if let Some(sid) = d.sid() {
            out.entry(sid).or_default().push((rec.seq, digest(&rec)));
        }
    }
    Ok((out, deadline))
}

fn digest(r: &Record) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&r.kind.to_le_bytes());
    h.update(&r.ts_ns.to_le_bytes());
    h.update(&r.payload);
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

fn describe(dir: &Path, seq: u64, names: &dyn Fn(u32) -> String) -> Option<String> {
    let rec = open(dir).ok()?.filter_map(Result::ok).find(|r| r.seq == seq)?;
    let text = match decode::decode(rec.kind, &rec.payload) {
        Ok(d) => d.summary(names),
        Err(e) => e.to_string(),
    };
    Some(format!("#{seq} at {} ns: {text}", rec.ts_ns))
}

/// Is this record part of the run's header (start text, config, modules)?
fn is_header(kind: u16) -> bool {
    matches!(kind, records::RUN_START | records::CONFIG | records::MODULE)
}

/// Replay the journal in `journal_dir` with the modules in `modules_dir`.
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
pub fn replay(journal_dir: &Path, modules_dir: &Path) -> Result<ReplayReport, ReplayError> {
    bulkhead_journal::verify(journal_dir)
        .map_err(|e| ReplayError::Journal { dir: journal_dir.into(), source: JournalError::Corrupt(e) })?;
    let header = scan(journal_dir)?;
    let incomplete = |problem: String| ReplayError::Incomplete { dir: journal_dir.into(), problem };
    let config_text = header.files.get("run_config").ok_or_else(|| {
        incomplete("no `run_config` CONFIG record (journals written before replay support cannot be replayed)".into())
    })?;
    if let Some(split) = header.files.get(crate::remote::SPLIT_FILE) {
        // A split run's venue answers came from the gateway (node) or its
        // orders from the nodes (gateway): neither is in this journal as input.
        return Err(incomplete(format!(
            "a split run's journal ({}): its venue is another process's, so it cannot be replayed alone;              `journal verify` checks it, and the gateway re-derives its journal from the order stream",
            String::from_utf8_lossy(split).trim().replace('\n', ", ")
        )));
    }
    let config_text = String::from_utf8(config_text.clone()).map_err(|e| incomplete(format!("run_config: {e}")))?;
    let raw: crate::config::RunConfig =
        toml::from_str(&config_text).map_err(|e| incomplete(format!("run_config does not parse: {e}")))?;

    // Modules: by hash, else by the file name the config gave.
    let available = index_modules(modules_dir)?;
    let mut chosen: BTreeMap<String, (PathBuf, Vec<u8>)> = BTreeMap::new();
    let mut matches = Vec::new();
    for (sid, (name, hash)) in &header.modules {
        let file = raw
            .strategies
            .get(*sid as usize)
            .and_then(|s| s.module.file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (path, found, bytes, changed) = match available.iter().find(|(_, h, _)| h == hash) {
            Some((p, h, b)) => (p, h, b, false),
            None => match available.iter().find(|(p, _, _)| p.file_name().is_some_and(|f| f.to_string_lossy() == file))
            {
                Some((p, h, b)) => (p, h, b, true),
                None => {
                    return Err(ReplayError::ModuleMissing {
                        strategy: name.clone(),
                        hash: hex::encode(hash),
                        file,
                        dir: modules_dir.into(),
                    });
                }
            },
        };
        chosen.insert(name.clone(), (path.clone(), bytes.clone()));
        matches.push(ModuleMatch {
            strategy: name.clone(),
            journal_hash: hex::encode(hash),
            path: path.clone(),
            hash: hex::encode(found),
            changed,
        });
    }

    let scratch = tempfile::Builder::new().prefix("bulkhead-replay-").tempdir().map_err(ReplayError::Scratch)?;
    // The config's own path anchors nothing that is read (files come from
    // the journal, modules from `modules_dir`, data from MARKET records).
    let anchor = scratch.path().join("journalled-config.toml");
    let mut files = JournalFiles { files: &header.files, modules: &chosen };
    let mut cfg = LoadedConfig::from_text_with(&anchor, &config_text, &mut files)?;
    cfg.journal_dir = scratch.path().join("journal");
    cfg.fsync = bulkhead_journal::FsyncPolicy::Never;
    cfg.raw.run.overwrite_journal = false;
    if let Some(chain) = &mut cfg.chain {
        let accounts = (0..cfg.strategies.len() as u32).map(|sid| header.chain_accounts.get(&sid).cloned()).collect();
        chain.replay_accounts = Some(accounts);
    }

    let (mut engine, _runtime, _) =
        crate::prepare_engine(&cfg, JournalMode::Create, &mut |_| None, crate::remote::SplitRole::Whole)?;
    // A deployed module: from the modules directory by hash, else the one
    // the run stored in the journal directory when it was deployed.
    let lookup = |h: &[u8; 32]| -> Option<Vec<u8>> {
        available
            .iter()
            .find(|(_, x, _)| x == h)
            .map(|(_, _, b)| b.clone())
            .or_else(|| bulkhead_journal::read_blob(journal_dir, h).ok().flatten())
    };
    let mut source = JournalMarket { reader: open(journal_dir)?, len: header.market, dir: journal_dir.into() };
    let mut pending = header.commands.iter().peekable();
    let mut chain_inputs = header.chain_inputs.into_iter().peekable();
    let mut skipped = Vec::new();
    let mut seen = 0u64;
    // The same `Engine::execute` as the live run and resume; a deploy's
    // module is provided from the lookup above.
    let mut execute = |engine: &mut crate::Engine, text: &String| {
        let outcome = text.parse::<Journalled>().map_err(|e| format!("unreadable command: {e}")).and_then(|j| {
            if let Command::Deploy { module, .. } = &j.command
                && let Some(bytes) = lookup(&module.blake3)
            {
                engine.provide_module(bytes, None);
            }
            engine.execute(&j.command, &j.actor).map_err(|e| e.to_string())
        });
        if let Err(why) = outcome {
            skipped.push((text.clone(), why));
        }
    };
    engine
        .run_controlled(&mut source, &mut |_| {}, &mut |engine, _ts| {
            // The node's answers first, as the live run took them (before commands).
            while let Some((at, _)) = chain_inputs.peek() {
                if *at != seen {
                    break;
                }
                if let Some((_, d)) = chain_inputs.next() {
                    engine.chain_input(d);
                }
            }
            while let Some((at, text)) = pending.peek() {
                if *at != seen {
                    break;
                }
                execute(engine, text);
                pending.next();
            }
            seen += 1;
        })
        .map_err(RunError::from)?;
    // Answers and commands after the last market event (before the end of the run).
    for (_, d) in chain_inputs {
        engine.chain_input(d);
    }
    for (_, text) in pending {
        execute(&mut engine, text);
    }
    engine.finish().map_err(RunError::from)?;
    let replayed_dir = cfg.journal_dir.clone();

    // Record by record, after the header.
    let body = |dir: &Path| -> Result<Vec<(u64, u64)>, ReplayError> {
        let mut v = Vec::new();
        for rec in open(dir)? {
            let rec = rec.map_err(|source| ReplayError::Journal { dir: dir.into(), source })?;
            if !is_header(rec.kind) {
                v.push((rec.seq, digest(&rec)));
            }
        }
        Ok(v)
    };
    let a = body(journal_dir)?;
    let b = body(&replayed_dir)?;
    let first_record_difference = a
        .iter()
        .zip(&b)
        .find(|(x, y)| x.1 != y.1)
        .map(|(x, _)| x.0)
        .or_else(|| (a.len() != b.len()).then(|| a.get(b.len()).map_or(u64::MAX, |x| x.0)));

    let (da, dead_a) = decisions(journal_dir)?;
    let (db, dead_b) = decisions(&replayed_dir)?;
    let names: BTreeMap<u32, String> = header.modules.iter().map(|(s, (n, _))| (*s, n.clone())).collect();
    let name_of = |sid: u32| names.get(&sid).cloned().unwrap_or_else(|| format!("strategy {sid}"));
    let mut strategies = Vec::new();
    for (sid, name) in &names {
        let empty = Vec::new();
        let x = da.get(sid).unwrap_or(&empty);
        let y = db.get(sid).unwrap_or(&empty);
        let mut differing = x.iter().zip(y).filter(|(p, q)| p.1 != q.1).count() as u64;
        differing += x.len().abs_diff(y.len()) as u64;
        let first =
            x.iter().zip(y).position(|(p, q)| p.1 != q.1).or((x.len() != y.len()).then(|| x.len().min(y.len())));
        let first_difference = first.map(|i| {
            (
                i as u64,
                x.get(i).and_then(|(seq, _)| describe(journal_dir, *seq, &name_of)),
                y.get(i).and_then(|(seq, _)| describe(&replayed_dir, *seq, &name_of)),
            )
        });
        strategies.push(StrategyComparison {
            strategy: name.clone(),
            journalled: x.len() as u64,
            replayed: y.len() as u64,
            first_difference,
            differing,
        });
    }
    Ok(ReplayReport {
        modules: matches,
        market_events: header.market,
        commands: header.commands.len() as u64,
        commands_skipped: skipped,
        records_journalled: a.len() as u64,
        records_replayed: b.len() as u64,
        first_record_difference,
        strategies,
        deadline_faults: dead_a + dead_b,
    })
}
