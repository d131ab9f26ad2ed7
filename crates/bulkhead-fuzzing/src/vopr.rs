//! A deterministic whole-run simulator (TigerBeetle's VOPR idea, issue 14
//! item 8). One seed decides everything: the market (the generator's seed
//! and length), the well-behaved strategies' parameters, whether a scripted
//! attacker runs beside them (and its script), a schedule of operator
//! commands (halt, reduce, resume, mass cancel, limit changes, at random
//! event boundaries), and a crash: a cut of the journal at a random record,
//! at its boundary or torn inside it. [`check`] runs the case and asserts:
//!
//! 1. the uninterrupted run completes and its journal verifies;
//! 2. resuming from the cut journal (re-deriving the prefix, re-applying the
//!    journalled commands, issuing the rest live) gives a journal
//!    byte-identical to the uninterrupted one;
//! 3. the same case with market-maker and momentum run natively (the SDK's
//!    `NativeRunner`, no sandbox) journals exactly the same decisions for them;
//! 4. no order was accepted past its strategy's policy (R1 sides / types /
//!    TIFs / instruments, R2 size) or while an operator had its strategy
//!    (or everything) halted;
//! 5. the attacker, if any, stayed inside its budgets ([`oracles::check_attacked`]).

use std::path::Path;

use bulkhead_abi::{Event, HostApi, OrderRequest};
use bulkhead_engine::command::{Actor, Command as Op, Journalled, Role, Scope};
use bulkhead_engine::{JournalMode, LoadedConfig, NativeStrategy, PreparedRun, RunReport, records};
use bulkhead_journal::Record;
use bulkhead_sdk::NativeRunner;

use crate::generators::{Script, SplitMix};
use crate::oracles::{self, Bounds, decisions};
use crate::scenario::{self, Run, WELL_BEHAVED};

/// One operator command and who sent it, issued at the boundary after `at`
/// market events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub at: u64,
    pub op: Journalled,
}

/// Where the crash cuts the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Fraction of the records kept, in 1/1000.
    pub permille: u32,
    /// Cut inside the record (a torn tail) rather than at its start.
    pub torn: bool,
}

/// A whole-run case.
#[derive(Clone, Debug)]
pub struct Case {
    pub seed: u64,
    pub events: u64,
    pub market_seed: u64,
    /// `[strategies.config]` overrides of market-maker and momentum.
    pub market_maker: Vec<(&'static str, i64)>,
    pub momentum: Vec<(&'static str, i64)>,
    pub attacker: Option<Script>,
    pub commands: Vec<Command>,
    pub cut: Cut,
}

impl Case {
    /// The case of `seed` (`events` market events).
    pub fn generate(seed: u64, events: u64) -> Case {
        let mut r = SplitMix::new(seed ^ 0x5E_ED0F_7E57);
        let market_seed = r.next_u64() >> 1;
        let range = |r: &mut SplitMix, lo: i64, hi: i64| lo + r.below((hi - lo + 1) as u64) as i64;
        let market_maker = vec![
            ("half_spread_ticks", range(&mut r, 1, 6)),
            ("size_lots", range(&mut r, 1, 20)),
            ("skew_ticks_per_lot", range(&mut r, 0, 2)),
            ("requote_ticks", range(&mut r, 1, 8)),
            ("max_position_lots", range(&mut r, 20, 300)),
        ];
        let slow = range(&mut r, 50, 300);
        let momentum = vec![
            ("fast", range(&mut r, 5, slow / 2)),
            ("slow", slow),
            ("target_lots", range(&mut r, 5, 80)),
            ("cooldown_ns", range(&mut r, 100_000_000, 3_000_000_000)),
        ];
        let attacker = (r.below(2) == 0).then(|| Script::generate(r.next_u64()));
        let strategies = ["market-maker", "momentum"];
        let mut commands = Vec::new();
        for _ in 0..r.below(7) {
            let at = 1 + r.below(events.max(2) - 1);
            let scope = match r.below(4) {
                0 => Scope::Global,
                _ => Scope::Strategy(strategies[r.below(2) as usize].to_string()),
            };
            let operator = Actor { name: "vopr".into(), role: Role::Operator };
            let op = match r.below(6) {
                0 | 1 => Journalled { command: Op::Halt(scope), actor: operator },
                2 => Journalled { command: Op::Reduce(scope), actor: operator },
                3 => Journalled { command: Op::Resume(scope), actor: operator },
                4 => Journalled { command: Op::MassCancel(scope), actor: operator },
                _ => {
                    let qty = ["0.005", "0.01", "0.02", "0.05"][r.below(4) as usize];
                    let command = Op::SetLimit {
                        strategy: strategies[r.below(2) as usize].to_string(),
                        field: "max_order_qty".into(),
                        value: qty.into(),
                    };
                    Journalled { command, actor: Actor { name: "vopr".into(), role: Role::Admin } }
                }
            };
            commands.push(Command { at, op });
        }
        commands.sort_by_key(|c| c.at);
        let cut = Cut { permille: r.below(1000) as u32, torn: r.below(2) == 0 };
        Case { seed, events, market_seed, market_maker, momentum, attacker, commands, cut }
    }

    /// The run config of this case.
    pub fn config_text(&self) -> Result<String, String> {
        let mut t = scenario::demo_config_table(self.events)?;
        let generator = t
            .get_mut("data")
            .and_then(|d| d.get_mut("generator"))
            .and_then(|g| g.as_table_mut())
            .ok_or("demo.toml: no [data.generator]")?;
        generator.insert("seed".into(), toml::Value::Integer(self.market_seed as i64));
        let strategies = t.get_mut("strategies").and_then(|v| v.as_array_mut()).ok_or("demo.toml: no strategies")?;
        for s in strategies.iter_mut() {
            let Some(s) = s.as_table_mut() else { continue };
            let over = match s.get("name").and_then(|n| n.as_str()) {
                Some("market-maker") => &self.market_maker,
                Some("momentum") => &self.momentum,
                _ => continue,
            };
            if let Some(c) = s.get_mut("config").and_then(|c| c.as_table_mut()) {
                for (k, v) in over {
                    c.insert((*k).into(), toml::Value::Integer(*v));
                }
            }
        }
        let mut text = toml::to_string(&t).map_err(|e| e.to_string())?;
        if let Some(a) = &self.attacker {
            text.push_str(&scenario::attacker_toml(a, scenario::ATTACKER_LIMITS));
        }
        Ok(text)
    }
}

/// The SDK's native dispatch as an engine strategy.
struct Native<S: bulkhead_sdk::Strategy>(NativeRunner<S>);

impl<S: bulkhead_sdk::Strategy> NativeStrategy for Native<S> {
    fn init(&mut self, host: &mut dyn HostApi, now_ns: u64, config: &[u8]) -> i32 {
        self.0.init(host, now_ns, config)
    }
    fn on_events(&mut self, host: &mut dyn HostApi, events: &[Event]) -> i32 {
        self.0.on_events(host, events)
    }
}

fn native(name: &str) -> Option<Box<dyn NativeStrategy>> {
    match name {
        "market-maker" => Some(Box::new(Native(NativeRunner::new(bh_market_maker::MarketMaker::default())))),
        "momentum" => Some(Box::new(Native(NativeRunner::new(bh_momentum::Momentum::default())))),
        _ => None,
    }
}

/// Run `cfg` to the end, issuing `commands` at their boundaries except those
/// already journalled (`skip` of them, for a resumed run).
fn run(
    cfg: &LoadedConfig,
    mode: JournalMode,
    natives: bool,
    commands: &[Command],
    skip: usize,
) -> Result<RunReport, String> {
    let mut pick = |name: &str| if natives { native(name) } else { None };
    let PreparedRun { mut engine, mut source, .. } =
        bulkhead_engine::prepare_run_native(cfg, mode, &mut pick).map_err(|e| format!("prepare: {e}"))?;
    let mut next = skip;
    let mut failed = None;
    engine
        .run_controlled(source.as_mut(), &mut |_| {}, &mut |e, _| {
            while let Some(c) = commands.get(next).filter(|c| c.at <= e.events()) {
                next += 1;
                // A refused command (e.g. resuming a quarantined strategy)
                // journals nothing: fine. A failure after journalling is not.
                let before = e.journal_position();
                if let Err(err) = e.execute(&c.op.command, &c.op.actor)
                    && e.journal_position() != before
                {
                    failed.get_or_insert(format!("command `{}` failed after journalling: {err}", c.op));
                }
            }
        })
        .map_err(|e| format!("run: {e}"))?;
    if let Some(f) = failed {
        return Err(f);
    }
    engine.finish().map_err(|e| format!("finish: {e}"))
}

fn segments(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == bulkhead_journal::SEGMENT_EXT.trim_start_matches('.')) {
            let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            v.push((p.file_name().unwrap_or_default().to_string_lossy().into_owned(), bytes));
        }
    }
    v.sort();
    Ok(v)
}

/// Copy the journal in `from` to `to`, cut at record `at` (torn: 13 bytes into it).
fn cut_copy(from: &Path, to: &Path, records: &[Record], at: usize, torn: bool) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    let (seg, off) =
        records.get(at).map_or((u32::MAX, u64::MAX), |r| (r.segment, r.offset + if torn { 13 } else { 0 }));
    for (i, (name, bytes)) in segments(from)?.into_iter().enumerate() {
        let i = i as u32;
        if i > seg {
            break;
        }
        let keep = if i == seg { bytes.len().min(off as usize) } else { bytes.len() };
        std::fs::write(to.join(&name), &bytes[..keep]).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What one case did, for the report line.
#[derive(Debug, Default)]
pub struct Summary {
    pub records: usize,
    pub cut_at: usize,
    pub commands: usize,
    pub accepted: u64,
    pub attacker_fault: Option<String>,
}

/// Run `case` in `dir` and apply every oracle. `Err` lists what broke.
pub fn check(case: &Case, dir: &Path) -> Result<Summary, String> {
    let text = case.config_text()?;
    let mk = |sub: &str| -> Result<LoadedConfig, String> {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        scenario::write_config(&d, &text)
    };
    // 1. The uninterrupted sandboxed run.
    let a = mk("sandboxed")?;
    let report = run(&a, JournalMode::Create, false, &case.commands, 0)?;
    let records = scenario::read_journal(&a.journal_dir)?;
    let mut s = Summary { records: records.len(), commands: case.commands.len(), ..Summary::default() };

    // 2. Crash and resume.
    let b = mk("resumed")?;
    let at = (records.len() as u64 * u64::from(case.cut.permille) / 1000) as usize;
    s.cut_at = at;
    cut_copy(&a.journal_dir, &b.journal_dir, &records, at, case.cut.torn)?;
    let journalled = records[..at].iter().filter(|r| r.kind == records::COMMAND).count();
    run(&b, JournalMode::Resume, false, &case.commands, journalled)?;
    if segments(&b.journal_dir)? != segments(&a.journal_dir)? {
        let rb = scenario::read_journal(&b.journal_dir)?;
        let first = records.iter().zip(&rb).position(|(x, y)| x.link != y.link).unwrap_or(records.len().min(rb.len()));
        return Err(format!(
            "resumed after a cut at record {at}{} differs from the uninterrupted journal from record {first} ({} vs {} records)",
            if case.cut.torn { " (torn)" } else { "" },
            records.len(),
            rb.len()
        ));
    }

    // 3. Sandboxed and native decide the same.
    let n = mk("native")?;
    run(&n, JournalMode::Create, true, &case.commands, 0)?;
    let native_records = scenario::read_journal(&n.journal_dir)?;
    for (sid, name) in WELL_BEHAVED {
        let x = decisions(&records, sid);
        let y = decisions(&native_records, sid);
        if x != y {
            let i = x.iter().zip(&y).position(|(p, q)| p != q).unwrap_or(x.len().min(y.len()));
            return Err(format!(
                "{name}: sandboxed and native decisions differ at #{i} of {}/{}: {:?} vs {:?}",
                x.len(),
                y.len(),
                x.get(i).map(|d| (records::kind_name(d.0), d.1)),
                y.get(i).map(|d| (records::kind_name(d.0), d.1))
            ));
        }
    }

    // 4. Nothing past policy or through a halt.
    let policies: Vec<_> = a.strategies.iter().map(|st| st.policy.clone()).collect();
    s.accepted = audit(&records, &a, &policies)?;

    // 5. The attacker stayed inside its budgets.
    if case.attacker.is_some() {
        let run = Run { report, records, journal_dir: a.journal_dir.clone() };
        let m = oracles::check_attacked(&run, case.events, &Bounds::default())?;
        s.attacker_fault = m.fault;
    }
    Ok(s)
}

/// Every accepted ORDER: allowed by its strategy's policy (R1, R2) and not
/// while an operator halt covered the strategy. Returns the accepted count.
fn audit(records: &[Record], cfg: &LoadedConfig, policies: &[bulkhead_risk::Policy]) -> Result<u64, String> {
    let names: Vec<&str> = cfg.strategies.iter().map(|s| s.name.as_str()).collect();
    let mut halted_global = false;
    let mut halted = vec![false; names.len()];
    // R2 size per strategy: the policy file's, then what set_limit made it.
    let mut max_qty: Vec<Option<i64>> = vec![None; names.len()];
    let mut accepted = 0;
    let mut bad = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match r.kind {
            records::COMMAND => {
                let text = String::from_utf8_lossy(&r.payload);
                let Ok(Journalled { command, .. }) = text.parse::<Journalled>() else {
                    bad.push(format!("record {i}: COMMAND does not parse: {text}"));
                    continue;
                };
                if let Op::SetLimit { strategy, field, value } = &command
                    && field == "max_order_qty"
                    && let Some(k) = names.iter().position(|x| x == strategy)
                    && let Some(lots) = cfg.instruments.first().and_then(|inst| inst.qty_to_lots(value).ok())
                {
                    max_qty[k] = Some(lots);
                }
                let (scope, h) = match &command {
                    Op::Halt(s) => (s, true),
                    Op::Resume(s) | Op::Reduce(s) => (s, false),
                    _ => continue,
                };
                match scope {
                    Scope::Global => halted_global = h,
                    Scope::Strategy(n) => {
                        if let Some(k) = names.iter().position(|x| x == n) {
                            halted[k] = h;
                        }
                    }
                    Scope::Instrument(_) => {}
                }
            }
            records::ORDER => {
                let p = &r.payload;
                let sid = oracles::strategy_of(r).unwrap_or(u32::MAX) as usize;
                if p.get(12..14) != Some(&[0, 0]) {
                    continue;
                }
                accepted += 1;
                let Some(Ok(req)) = p.get(40..72).map(OrderRequest::decode) else {
                    bad.push(format!("record {i}: accepted ORDER without a valid request"));
                    continue;
                };
                let Some(policy) = policies.get(sid) else {
                    bad.push(format!("record {i}: ORDER of unknown strategy {sid}"));
                    continue;
                };
                if halted_global || halted[sid] {
                    bad.push(format!("record {i}: {} accepted an order while halted", names[sid]));
                }
                match policy.limits(req.instrument) {
                    None => bad.push(format!("record {i}: instrument {} not in the policy", req.instrument)),
                    Some(lim) => {
                        let max = max_qty[sid].unwrap_or(lim.max_order_qty.get());
                        if req.qty > max {
                            bad.push(format!("record {i}: {} qty {} over max_order_qty {max}", names[sid], req.qty));
                        }
                    }
                }
                if !policy.side_allowed(req.side)
                    || !policy.order_type_allowed(req.order_type)
                    || !policy.tif_allowed(req.tif)
                {
                    bad.push(format!("record {i}: side/type/tif not allowed: {req:?}"));
                }
            }
            _ => {}
        }
    }
    if bad.is_empty() { Ok(accepted) } else { Err(bad.join("\n")) }
}
